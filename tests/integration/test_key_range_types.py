"""key_ranges partition a full load by ranges of a numeric column, and each range is selected
twice: by the source's read (`column >= low and column < high`) and by the warehouse when it
replaces the range. Only numbers compare alike on both sides: a key column of another type
fails the load before anything is read, naming the file, the key, the column's type and what
is expected. Real sources (MariaDB, PostgreSQL, SQLite) into each SQL warehouse.

Before, a text key was compared as a number by MariaDB ('1000' >= 10, 'A-3' as 0) and with
the bounds as text by SQLite ('1000' < '20'), read and landed, and then the warehouse's
partition check failed with a bare "Cannot compare values of type VARCHAR and type
INTEGER_LITERAL" (DuckDB) or "operator does not exist: text < integer" (PostgreSQL); a
PostgreSQL source failed its read with that driver error; MySQL's tinyint(1), loaded as
boolean, partitioned on DuckDB and failed on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from tributary.config.loader import load_project
from tributary.config.models import SourceConfig, TableConfig
from tributary.defs import build_definitions
from tributary.errors import SourceError
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.slices import partition_keys, slice_for
from tributary.sources import SqlSource

from .conftest import run_sql

pytestmark = pytest.mark.integration

KINDS = {"mysql": "mysql", "postgresql": "postgres", "sqlite": "sqlite"}
# (id, key): keys either side of the bounds 10 and 20, below the first, and none
KEYS = [(1, 7), (2, 12), (3, 1000), (4, -3), (5, None), (6, 19), (7, 20)]
EXPECTED = (
    "expected a numeric column (an integer, decimal or floating-point type): the source and "
    "the warehouse each compare it with the ranges' bounds, and compare other types "
    "differently (MySQL reads text as a number, SQLite the bounds as text) or not at all; "
    "partition by a numeric column, or read the table through a `query:` that selects one; "
    "nothing was read"
)


def ranged(column: str = "code", **settings) -> TableConfig:
    return TableConfig(
        name="items",
        primary_key=["id"],
        key_ranges={"column": column, "size": 10, "upper_bound": 20},
        **settings,
    )


def load_ranges(url, table: TableConfig, warehouse, landing: Path, keys=None) -> list[int]:
    """Each partition of the table loaded (or those of `keys`): the rows each read."""
    source = SourceConfig(name="shop", kind=KINDS[url.get_backend_name()],
                          connection={"url": url.render_as_string()}, tables=[table])  # fmt: skip
    return [
        ingest_table(
            source,
            table,
            reader=SqlSource(url),
            landing=LandingStore(str(landing)),
            warehouse=warehouse,
            batch_rows=2,
            where=slice_for(table, key, []),
        ).manifest.row_count
        for key in keys or partition_keys(table, [])
    ]


def refused(url, table: TableConfig, warehouse, tmp_path: Path) -> str:
    """The load's error for the table's first partition; nothing landed, no raw table."""
    with pytest.raises(SourceError) as raised:
        load_ranges(url, table, warehouse, tmp_path / "landing")
    assert not (tmp_path / "landing").exists()
    assert not warehouse.table_exists("raw_shop", "items")
    return str(raised.value)


def pg_create(conninfo: str, declared: str, keys) -> None:
    with psycopg.connect(conninfo, autocommit=True) as con:
        con.execute(f"create table items (id int primary key, code {declared})")
        con.cursor().executemany("insert into items values (%s, %s)", keys)


def sqlite_source(tmp_path: Path, declared: str, keys):
    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as con:
        con.execute(f"create table items (id integer primary key, code {declared})")
        con.executemany("insert into items values (?, ?)", keys)
    return make_url(f"sqlite:///{path}")


@pytest.mark.parametrize(
    ("declared", "shown"),
    [
        ("varchar(12)", "varchar(12)"),
        ("tinyint(1)", "tinyint(1), which is read as boolean"),
        ("date", "date"),
    ],
)
def test_a_mariadb_key_that_is_no_number_fails_before_reading(
    mariadb, warehouse, tmp_path, declared, shown
) -> None:
    url, con = mariadb
    run_sql(con, f"create table items (id int primary key, code {declared})")
    run_sql(con, "insert into items values (1, '7'), (2, '12'), (3, '1')")
    assert refused(url, ranged(), warehouse, tmp_path) == (
        f"source 'shop': tables[0].key_ranges.column: column 'code' is {shown}; {EXPECTED}"
    )


def test_a_mariadb_text_key_that_a_query_selects_is_refused_too(mariadb, warehouse, tmp_path):
    url, con = mariadb
    run_sql(con, "create table items (id int primary key, code varchar(12))")
    table = ranged(query="select id, code from items")
    assert refused(url, table, warehouse, tmp_path) == (
        f"source 'shop': tables[0].key_ranges.column: column 'code' is string (as the query "
        f"returns it); {EXPECTED}"
    )


@pytest.mark.parametrize(
    ("declared", "shown"),
    [
        ("text", "text"),
        ("varchar(12)", "character varying"),
    ],
)
def test_a_postgres_key_that_is_no_number_fails_naming_the_key_not_the_driver(
    postgres, warehouse, tmp_path, declared, shown
) -> None:
    pg_create(postgres, declared, [(1, "7"), (2, "12")])
    assert refused(make_url(postgres), ranged(), warehouse, tmp_path) == (
        f"source 'shop': tables[0].key_ranges.column: column 'code' is {shown}; {EXPECTED}"
    )


def test_a_sqlite_text_key_fails_before_reading(warehouse, tmp_path) -> None:
    url = sqlite_source(tmp_path, "text", [(1, "7"), (2, "12"), (3, "A-3")])
    assert refused(url, ranged(), warehouse, tmp_path) == (
        f"source 'shop': tables[0].key_ranges.column: column 'code' is text; {EXPECTED}"
    )


@pytest.mark.parametrize(
    "declared", ["int", "bigint unsigned", "decimal(12,0)", "decimal(10,2)", "double"]
)
def test_numeric_keys_load_every_row_once_through_a_reload(
    mariadb, warehouse, tmp_path, declared
) -> None:
    url, con = mariadb
    run_sql(con, f"create table items (id int primary key, code {declared} null)")
    keys = [(i, k) for i, k in KEYS if "unsigned" not in declared or k is None or k >= 0]
    con.cursor().executemany("insert into items values (%s, %s)", keys)
    table = ranged(column="CODE")  # MySQL's names ignore case
    first = partition_keys(table, [])[0]
    assert load_ranges(url, table, warehouse, tmp_path / "landing") == [
        sum(k is None or k < 10 for _, k in keys),
        sum(k is not None and k >= 10 for _, k in keys),
    ]
    load_ranges(url, table, warehouse, tmp_path / "landing", keys=[first])  # a rerun
    loaded = [tuple(r) for r in warehouse.query("select id, code from raw_shop.items order by id")]
    assert loaded == keys


@pytest.mark.parametrize(
    "declared", ["bigint", "numeric(12,0)", "numeric(10,2)", "numeric", "double precision"]
)
def test_postgres_numeric_keys_load_every_row_once(postgres, warehouse, tmp_path, declared):
    pg_create(postgres, declared, KEYS)
    url = make_url(postgres)
    assert load_ranges(url, ranged(), warehouse, tmp_path / "landing") == [3, 4]
    loaded = [tuple(r) for r in warehouse.query("select id, code from raw_shop.items order by id")]
    assert loaded == KEYS


@pytest.mark.parametrize("declared", ["integer", "real", "numeric"])
def test_a_sqlite_numeric_key_loads_every_row_once(warehouse, tmp_path, declared) -> None:
    url = sqlite_source(tmp_path, declared, KEYS)
    assert load_ranges(url, ranged(), warehouse, tmp_path / "landing") == [3, 4]
    loaded = [tuple(r) for r in warehouse.query("select id, code from raw_shop.items order by id")]
    assert loaded == KEYS


def test_the_run_names_the_source_file(mariadb, tmp_path, monkeypatch) -> None:
    """Through Dagster, as the schedule runs it: the step's failure names the file."""
    url, con = mariadb
    run_sql(con, "create table items (id int primary key, code varchar(12))")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIBUTARY_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "assets_config"
    (config / "sources").mkdir(parents=True)
    (config / "platform.yaml").write_text("warehouse: {target: duckdb}\n")
    tables = [{"name": "other"}, ranged().model_dump(exclude_defaults=True)]
    source = {"name": "shop", "kind": "mysql", "connection": {"url": url.render_as_string()}}
    (config / "sources" / "erp.yaml").write_text(yaml.safe_dump({**source, "tables": tables}))
    defs = build_definitions(load_project(config))
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(["raw", "shop", "items"])],
        partition_key=partition_keys(ranged(), [])[0],
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    assert message.startswith(
        "tributary.errors.SourceError: assets_config/sources/erp.yaml: "
        "tables[1].key_ranges.column: column 'code' is varchar(12); expected a numeric column"
    ), message
