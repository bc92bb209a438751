"""`tributary check`: each problem a run would meet (a wrong table, cursor or key, a bad login,
a source or warehouse that is down) is one line naming the file and the key, before any run;
a good configuration gets one 'ok' line per table and exit code 0; nothing is written.

Sources on the real MariaDB and PostgreSQL servers, the warehouse on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from tributary.cli import main
from tributary.config.loader import load_project
from tributary.config.models import SourceConfig, TableConfig, Tenant
from tributary.connection import secret_forms
from tributary.defs.preflight import build_preflight_job
from tributary.defs.sources import SourcesResource
from tributary.defs.tenants import current_tenants
from tributary.errors import SchemaDriftError, SourceError
from tributary.ingest import ingest_table, load_target
from tributary.landing import LandingStore
from tributary.preflight import drift_problem
from tributary.slices import slice_for
from tributary.sources import SqlSource, open_source
from tributary.tenants import RegistryError, RegistryQueryError, tenant_settings
from tributary.warehouse import TenantRow, Warehouse
from tributary.warehouse.postgres.warehouse import PostgresWarehouse
from tributary.warehouse.redshift.warehouse import RedshiftWarehouse

from ..conftest import free_port
from .conftest import run_sql
from .redshift_fake import RecordingRedshift

PASSWORD = "Wr0ng pw+@/%:#"
TABLE_LINES = ("sources/shop.yaml: tables[", "sources/pg.yaml: tables[")


@pytest.fixture
def shop(mariadb, postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A configuration folder that is right: two MariaDB tables, one PostgreSQL table, the
    warehouse in a fresh PostgreSQL database, local stores. Tests break one piece of it.
    Tests run from tmp_path, so that files are named assets_config/..."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIBUTARY_STATE_DIR", raising=False)
    url, con = mariadb
    run_sql(
        con,
        "create table orders (id int primary key, customer_id int, amount decimal(10,2), "
        "updated_at datetime)",
        "insert into orders values (1, 1, 9.50, '2026-01-01 10:00:00')",
        "create table customers (id int primary key, name varchar(50), version bigint)",
    )
    with psycopg.connect(postgres, autocommit=True) as pg:
        pg.execute("create table events (id bigint primary key, seq bigint, payload text)")
    config = {
        "platform": {
            "warehouse": {"target": "postgres", "connection": {"url": postgres}},
            "landing": {"url": "landing"},
            "exports": {"url": "exports"},
        },
        "shop": {
            "name": "shop",
            "kind": "mysql",
            "connection": {"url": url.render_as_string(hide_password=False)},
            "tables": [
                {
                    "name": "orders",
                    "object": "orders",
                    "primary_key": ["id"],
                    "cursor": "updated_at",
                    "mode": "incremental",
                    "lookback": "1h",
                },
                {"name": "customers", "primary_key": ["id"]},
                {"name": "retired", "enabled": False},  # disabled: not checked
            ],
        },
        "pg": {
            "name": "pg",
            "kind": "postgres",
            "connection": {"url": postgres},
            "tables": [
                {
                    "name": "events",
                    "primary_key": ["id"],
                    "cursor": "seq",
                    "mode": "incremental",
                    "lookback": 100,
                }
            ],
        },
        "dir": tmp_path / "assets_config",
        "warehouse": postgres,
        "shop_con": con,
    }
    return config


def write(config: dict) -> Path:
    folder: Path = config["dir"]
    (folder / "sources").mkdir(parents=True, exist_ok=True)
    (folder / "platform.yaml").write_text(yaml.safe_dump(config["platform"]))
    for name in ("shop", "pg", "admin"):
        if name in config:
            (folder / "sources" / f"{name}.yaml").write_text(yaml.safe_dump(config[name]))
    if "tenants" in config:
        (folder / "tenants.yaml").write_text(yaml.safe_dump(config["tenants"]))
    for export in config.get("exports", []):
        (folder / "exports").mkdir(exist_ok=True)
        (folder / "exports" / f"{export['name']}.yaml").write_text(yaml.safe_dump(export))
    return folder


def check(config: dict, capsys, *args: str) -> tuple[int, list[str]]:
    """Run `tributary check` in this process and return its exit code and lines."""
    folder = write(config)
    started = time.monotonic()
    code = main(["check", "--config-dir", str(folder), *args])
    print(f"[measured] check took {time.monotonic() - started:.2f} s", file=sys.stderr)
    return code, capsys.readouterr().out.splitlines()


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def test_a_good_configuration_is_ok_and_nothing_is_written(shop) -> None:
    folder = write(shop)
    state = folder.parent / ".tributary"
    script = Path(sys.executable).with_name("tributary")
    started = time.monotonic()
    done = subprocess.run(
        [str(script), "check"],
        cwd=folder.parent,
        env={**os.environ, "TRIBUTARY_CONFIG_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(f"[measured] good configuration: {time.monotonic() - started:.2f} s")
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    table_lines = [line for line in lines if any(part in line for part in TABLE_LINES)]
    assert table_lines == [line for line in lines if line.startswith("ok") and "tables[" in line], (
        lines
    )
    assert [line.split(": ")[1] for line in table_lines] == [
        "tables[0] (events)",
        "tables[0] (orders)",
        "tables[1] (customers)",
    ]
    assert "retired" not in done.stdout
    assert any(line.startswith("ok    assets_config/platform.yaml: warehouse") for line in lines)
    assert lines[-1].startswith("preflight: all ok")
    # Nothing written: no state schema in the warehouse, no store folders, no state dir.
    with psycopg.connect(shop["warehouse"]) as pg:
        schemas = {row[0] for row in pg.execute("select nspname from pg_namespace")}
    assert "_tributary" not in schemas and "raw_shop" not in schemas
    assert not state.exists()


def test_a_missing_table_names_file_and_key(shop, capsys) -> None:
    shop["shop"]["tables"][0]["object"] = "ordrs"
    code, lines = check(shop, capsys)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/sources/shop.yaml: tables[0].object: ")
    assert "'ordrs' not found" in line


def test_a_wrong_cursor_names_file_and_key(shop, capsys) -> None:
    shop["shop"]["tables"][0]["cursor"] = "updatd_at"
    code, lines = check(shop, capsys)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/sources/shop.yaml: tables[0].cursor: ")
    assert "column 'updatd_at' not found in 'orders'" in line
    assert "updated_at" in line  # the columns there are listed


def test_a_wrong_key_names_file_and_key(shop, capsys) -> None:
    shop["shop"]["tables"][1]["primary_key"] = ["id", "customer_no"]
    code, lines = check(shop, capsys)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/sources/shop.yaml: tables[1].primary_key[1]: ")
    assert "'customer_no'" in line


def test_a_postgres_column_differing_in_case_is_wrong(shop, capsys) -> None:
    shop["pg"]["tables"][0]["cursor"] = "SEQ"  # PostgreSQL names are case-sensitive
    code, lines = check(shop, capsys, "--source", "pg")
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/sources/pg.yaml: tables[0].cursor: ")
    assert "shop.yaml" not in "\n".join(lines)  # --source checks one source


def test_a_lookback_that_does_not_fit_the_cursor_type(shop, capsys) -> None:
    shop["shop"]["tables"][0]["lookback"] = 100  # a number, for a datetime cursor
    shop["pg"]["tables"][0]["lookback"] = "15m"  # a duration, for a bigint cursor
    code, lines = check(shop, capsys)
    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/sources/pg.yaml: tables[0].lookback: lookback '0:15:00' needs a "
        "date/time cursor; 'seq' is numeric",
        "FAIL  assets_config/sources/shop.yaml: tables[0].lookback: lookback 100 needs a "
        "numeric cursor; 'updated_at' is date/time",
    ]


@pytest.mark.parametrize(
    ("source", "column", "declared", "read_as"),
    [
        ("pg", "tags", "text[]", "large_list<item: string>"),
        ("shop", "active", "tinyint(1)", "bool"),  # MySQL's boolean
        ("shop", "opens", "time", "time64[us]"),
    ],
)
def test_a_cursor_the_load_refuses_is_refused_in_the_loads_words(
    shop, capsys, tmp_path, source, column, declared, read_as
) -> None:
    """tributary check said ok to a cursor the load refuses (an array, a boolean, a time of
    day): only the load said 'a cursor must be an integer, decimal, date, timestamp or text'."""
    table = shop[source]["tables"][0]
    if source == "pg":
        with psycopg.connect(shop["pg"]["connection"]["url"], autocommit=True) as pg:
            pg.execute(f"alter table events add column {column} {declared}")
            pg.execute("insert into events values (1, 1, 'x', '{a}')")
    else:
        run_sql(shop["shop_con"], f"alter table orders add column {column} {declared}")
    table.update(cursor=column, lookback=None)
    code, lines = check(shop, capsys, "--source", source)
    assert code == 1
    problem = (
        f"the cursor '{column}' is {read_as}; a cursor must be an integer, decimal, date, "
        f"timestamp or text column: cast it in a `query:` (SQL Server's rowversion: "
        f"cast({column} as bigint))"
    )
    key = f"assets_config/sources/{source}.yaml: tables[0].cursor"
    assert failures(lines) == [f"FAIL  {key}: {problem}"]
    # the load refuses it in the same words
    config = load_project(shop["dir"]).source(source)
    with pytest.raises(SourceError) as refused:
        ingest_table(config, config.tables[0], reader=open_source(config, state_dir=tmp_path),
                     landing=LandingStore(str(tmp_path / "landing")),
                     warehouse=PostgresWarehouse(shop["warehouse"]), batch_rows=10)  # fmt: skip
    assert str(refused.value) == f"table '{table['name']}': {problem}"


def test_a_text_cursor_of_a_non_binary_collation_is_refused_in_the_loads_words(
    shop, capsys, tmp_path
) -> None:
    """A text cursor the source orders by a collation that ignores case: check said ok, and
    every load re-read rows and failed reconciliation falsely."""
    run_sql(shop["shop_con"], "alter table orders add column code varchar(10)")
    shop["shop"]["tables"][0].update(cursor="code", lookback=None)
    code, lines = check(shop, capsys, "--source", "shop")
    assert code == 1
    [line] = failures(lines)
    assert line.startswith(
        "FAIL  assets_config/sources/shop.yaml: tables[0].cursor: the cursor 'code' is text the "
        "source compares by its collation utf8mb4_general_ci, which does not order text by its "
        "characters' codes"
    )
    problem = line.split("tables[0].cursor: ", 1)[1]
    config = load_project(shop["dir"]).source("shop")
    with pytest.raises(SourceError) as refused:
        ingest_table(config, config.tables[0], reader=open_source(config, state_dir=tmp_path),
                     landing=LandingStore(str(tmp_path / "landing")),
                     warehouse=PostgresWarehouse(shop["warehouse"]), batch_rows=10)  # fmt: skip
    assert str(refused.value) == f"table 'orders': {problem}"

    run_sql(shop["shop_con"], "alter table orders modify code varchar(10) collate utf8mb4_bin")
    code, lines = check(shop, capsys, "--source", "shop")
    assert (code, failures(lines)) == (0, [])


def test_a_type_the_next_load_refuses_is_named_in_the_loads_words(
    shop, capsys, tmp_path, warehouse_config
) -> None:
    """A MySQL bit(1) column an older release loaded as bytes now reads as a boolean: the
    check said all ok, and the next load stopped on the raw table's recorded type."""
    run_sql(
        shop["shop_con"],
        "create table flags (id int primary key, active bit(1), name varchar(20))",
        "insert into flags values (1, b'1', 'on'), (2, b'0', 'off')",
    )
    shop["platform"]["warehouse"] = warehouse_config
    flags = {"name": "flags", "primary_key": ["id"]}
    # loaded as the older release did: a `query:`'s columns keep the driver's bytes
    shop["shop"]["tables"] = [{**flags, "query": "select id, active, name from flags"}]
    write(shop)
    project = load_project(shop["dir"])
    config = project.source("shop")

    def load() -> None:
        with project.warehouse.open(state_dir=project.state_dir) as warehouse:
            ingest_table(config, config.tables[0], reader=open_source(config, state_dir=tmp_path),
                         landing=LandingStore(str(tmp_path / "landing")), warehouse=warehouse,
                         batch_rows=10)  # fmt: skip

    load()
    code, lines = check(shop, capsys, "--source", "shop")
    assert (code, failures(lines)) == (0, []), lines  # the bytes read as bytes: ok
    shop["shop"]["tables"] = [flags, {"name": "orders", "primary_key": ["id"]}]  # orders: new
    code, lines = check(shop, capsys, "--source", "shop")
    assert code == 1
    [line] = failures(lines)
    key = "FAIL  assets_config/sources/shop.yaml: tables[0]: "
    assert line.startswith(key), lines
    assert "column 'active': the source type changed from large_binary to bool" in line
    assert "drop table raw_shop.flags" in line
    assert "ok    assets_config/sources/shop.yaml: tables[1] (orders): " in "\n".join(lines)
    # the load refuses it in the same words
    config = load_project(shop["dir"]).source("shop")
    with pytest.raises(SchemaDriftError) as refused:
        load()
    assert line == key + " ".join(str(refused.value).split())


def test_the_raw_tables_recorded_columns_are_read_on_each_warehouse(
    mariadb, loads, tmp_path
) -> None:
    """What the check judges a read against: the recorded columns of the raw tables that
    exist, and, for a read the raw table took as it is, the load's metadata columns as the load
    brings them (under freeze, any other column would be refused)."""
    url, con = mariadb
    run_sql(
        con,
        "create table flags (id int primary key, active bit(1), name varchar(20))",
        "insert into flags values (1, b'1', 'on')",
    )
    warehouse, landing = loads
    table = TableConfig(name="flags", primary_key=["id"], schema_contract="freeze")
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[table]
    )
    reader = SqlSource(url)
    checking = own_connections(warehouse)
    assert checking.recorded_raw_schemas("shop") == {}
    ingest_table(source, table, reader=reader, landing=landing, warehouse=warehouse, batch_rows=10)
    recorded = checking.recorded_raw_schemas("shop")
    assert recorded == {"flags": warehouse.recorded_schema(load_target(source, table))}
    assert drift_problem(source, table, reader.read_schema(table), recorded["flags"]) is None
    warehouse.execute("drop table raw_shop.flags")  # as a type change's way out says
    assert checking.recorded_raw_schemas("shop") == {}


def own_connections(warehouse: Warehouse) -> Warehouse:
    """The warehouse, opening a connection of its own for each check: the Redshift
    stand-in's factory hands out the load's one connection, which a check's reading closes."""
    if not isinstance(warehouse, RedshiftWarehouse):
        return warehouse
    shared = warehouse._connect()
    return RedshiftWarehouse(
        lambda: RecordingRedshift(shared.conninfo, shared.fs, iam_role=shared.iam_role),
        iam_role=shared.iam_role,
    )


def test_max_data_age_on_a_cursor_that_tells_no_time(shop, capsys) -> None:
    """checks.max_data_age on a bigint cursor was accepted, and its check never judged it."""
    shop["pg"]["tables"][0]["checks"] = {"max_data_age": "1d"}
    code, lines = check(shop, capsys, "--source", "pg")
    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/sources/pg.yaml: tables[0].checks.max_data_age: max_data_age "
        "needs a date/time cursor to tell how old the data is; 'seq' is numeric: remove "
        "checks.max_data_age (the loads' age is checked all the same)"
    ]


def test_a_key_range_column_that_is_no_number_is_named(shop, capsys) -> None:
    """key_ranges on a text column passed the check; then each partition's load failed: on a
    MariaDB source with the warehouse's "operator does not exist: text < integer", after the
    source was read and landed, on a PostgreSQL source with that driver error."""
    ranges = {"size": 100, "upper_bound": 1000}
    shop["shop"]["tables"][1]["key_ranges"] = {"column": "name", **ranges}
    shop["shop"]["tables"].append(
        {
            "name": "customer_names",
            "primary_key": ["id"],
            "key_ranges": {"column": "NAME", **ranges},
            "query": "select id, name from customers",
        }
    )
    shop["shop"]["tables"].append({"name": "orders_by_id", "object": "orders",
                                   "primary_key": ["id"],
                                   "key_ranges": {"column": "ID", **ranges}})  # fmt: skip
    shop["pg"]["tables"].append({"name": "payloads", "object": "events", "primary_key": ["id"],
                                 "key_ranges": {"column": "payload", **ranges}})  # fmt: skip
    code, lines = check(shop, capsys)
    assert code == 1
    why = (
        "expected a numeric column (an integer, decimal or floating-point type): the source "
        "and the warehouse each compare it with the ranges' bounds, and compare other types "
        "differently (MySQL reads text as a number, SQLite the bounds as text) or not at all; "
        "partition by a numeric column, or read the table through a `query:` that selects one"
    )
    assert failures(lines) == [
        "FAIL  assets_config/sources/pg.yaml: tables[1].key_ranges.column: column 'payload' is "
        f"text; {why}",
        "FAIL  assets_config/sources/shop.yaml: tables[1].key_ranges.column: column 'name' is "
        f"varchar(50); {why}",
        "FAIL  assets_config/sources/shop.yaml: tables[3].key_ranges.column: column 'NAME' is "
        f"string (as the query returns it); {why}",
    ]
    assert any(line.startswith("ok    assets_config/sources/shop.yaml: tables[4] (orders_by_id)")
               for line in lines)  # fmt: skip


def test_a_view_refreshed_on_change_without_a_cursor_is_named(shop, capsys) -> None:
    """A view keeps no change counter, so the observe sensor could never see it change:
    tributary check said all ok, and only the sensor's first tick said so."""
    run_sql(shop["shop_con"], "create view v_customers as select id, name from customers")
    shop["shop"]["refresh"] = "on_change"
    shop["shop"]["tables"].append({"name": "v_customers", "primary_key": ["id"]})
    code, lines = check(shop, capsys, "--source", "shop")
    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/sources/shop.yaml: tables[3].refresh: table 'v_customers' reads "
        "v_customers, a view: the catalog keeps no change counter for a view, so refresh: "
        "on_change would never see its rows change; give the table a cursor (the view's "
        "highest value is then its version), or refresh: schedule"
    ]


def test_what_stops_the_definitions_loading_is_named(shop, capsys) -> None:
    """tributary check never built the definitions: a teams.yaml naming an export that does
    not exist (or a test on a dbt source, an export of a model that does not exist) passed it,
    and the code location then failed to load."""
    folder = write(shop)
    (folder / "teams.yaml").write_text(
        yaml.safe_dump({"teams": [{"name": "finance", "members": ["carol"],
                                   "exports": ["no_such_export"]}]})
    )  # fmt: skip
    code, lines = check(shop, capsys, "--source", "pg")
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  definitions: ") and "no_such_export" in line, lines


def test_a_custom_query_is_run_without_rows_and_its_columns_checked(shop, capsys) -> None:
    shop["shop"]["tables"].append(
        {
            "name": "big_orders",
            "query": "select id, amount, updated_at as changed from orders where amount > 5",
            "primary_key": ["id"],
            "cursor": "changed",
            "mode": "incremental",
            "lookback": "1h",
        }
    )
    shop["shop"]["tables"].append({"name": "broken", "query": "select nope from orders"})
    code, lines = check(shop, capsys, "--source", "shop")
    assert code == 1
    assert "ok    assets_config/sources/shop.yaml: tables[3] (big_orders): custom query runs, " in (
        "\n".join(lines)
    )
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/sources/shop.yaml: tables[4].query: ")
    assert "nope" in line


def test_a_bad_password_names_the_connection_never_the_password(shop, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TRIBUTARY_TEST_SHOP_PASSWORD", PASSWORD)
    shop["shop"]["connection"]["password_env"] = "TRIBUTARY_TEST_SHOP_PASSWORD"
    code, lines = check(shop, capsys)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/sources/shop.yaml: connection: source 'shop': ")
    assert "Access denied" in line and "(2 enabled tables not checked)" in line
    assert not any(form in "\n".join(lines) for form in secret_forms(PASSWORD))


def test_a_source_that_is_down(shop, capsys) -> None:
    port = free_port()
    shop["shop"]["connection"]["url"] = f"mysql://reader@127.0.0.1:{port}/shop"
    code, lines = check(shop, capsys)
    assert code == 1
    assert failures(lines) == [
        f"FAIL  assets_config/sources/shop.yaml: connection: source 'shop': cannot connect to "
        f"127.0.0.1:{port} (connection refused after 0.0 s) (2 enabled tables not checked)"
    ]


def test_a_warehouse_that_is_down_through_the_console_script(shop, tmp_path) -> None:
    port = free_port()
    shop["platform"]["warehouse"]["connection"]["url"] = f"postgresql://wh@127.0.0.1:{port}/wh"
    folder = write(shop)
    script = Path(sys.executable).with_name("tributary")
    done = subprocess.run(
        [str(script), "check", "--config-dir", "assets_config"],
        cwd=folder.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert failures(done.stdout.splitlines()) == [
        f"FAIL  assets_config/platform.yaml: warehouse.connection: warehouse: cannot connect to "
        f"127.0.0.1:{port} (connection refused after 0.0 s)"
    ]


def test_a_warehouse_login_that_is_refused(shop, capsys) -> None:
    warehouse = shop["platform"]["warehouse"]["connection"]
    warehouse["url"] = warehouse["url"].replace("postgres@", "no_such_role@")
    code, lines = check(shop, capsys)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/platform.yaml: warehouse.connection: ")
    assert 'role "no_such_role" does not exist' in line


def test_a_warehouse_login_without_privileges_on_its_schemas(shop, role_prefix, capsys) -> None:
    """Read from the catalog, without creating anything: a schema that exists but the login
    may not create tables in, and missing schemas it may not create."""
    role = f"{role_prefix}loader"
    with psycopg.connect(shop["warehouse"], autocommit=True) as pg:
        pg.execute(f"create role {role} login")
        pg.execute("create schema raw_shop")
        pg.execute(f"grant usage on schema raw_shop to {role}")
    warehouse = shop["platform"]["warehouse"]["connection"]
    warehouse["url"] = warehouse["url"].replace("postgres@", f"{role}@")
    code, lines = check(shop, capsys)
    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/platform.yaml: warehouse.connection: schema raw_shop: the login "
        "lacks CREATE on it; warehouse.connection: schema _tributary, raw_pg: does not exist "
        "and the login may not create schemas in this database"
    ]


def test_recorded_columns_the_login_may_not_read_are_named_on_the_table(
    shop, role_prefix, capsys
) -> None:
    """A login that may write the schemas but not read the state table of recorded columns:
    the tables' lines say so (their next loads would fail too), naming no source key."""
    role = f"{role_prefix}loader"
    with psycopg.connect(shop["warehouse"], autocommit=True) as pg:
        pg.execute(f"create role {role} login")
        for schema in ("raw_shop", "_tributary"):
            pg.execute(f"create schema {schema}")
            pg.execute(f"grant usage, create on schema {schema} to {role}")
        pg.execute("create table raw_shop.orders (id int)")
        pg.execute(
            "create table _tributary.table_schemas (source text, table_name text, "
            "arrow_schema text)"
        )
        # seen in the catalog (a privilege on each), the recorded columns not readable
        pg.execute(f"grant select on raw_shop.orders to {role}")
        pg.execute(f"grant insert on _tributary.table_schemas to {role}")
    warehouse = shop["platform"]["warehouse"]["connection"]
    warehouse["url"] = warehouse["url"].replace("postgres@", f"{role}@")
    code, lines = check(shop, capsys, "--source", "shop")
    assert code == 1
    key = "FAIL  assets_config/sources/shop.yaml: tables["
    assert failures(lines) == [
        f"{key}{index}]: its raw table's recorded columns could not be read: reading "
        "_tributary.table_schemas: permission denied for table table_schemas"
        for index in (0, 1)
    ], lines


def test_the_preflight_job_fails_its_run_naming_file_and_key(shop) -> None:
    shop["shop"]["tables"][0]["cursor"] = "updatd_at"
    project = load_project(write(shop))
    result = build_preflight_job(project).execute_in_process(
        resources={"sources": SourcesResource()}, raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert "sources/shop.yaml: tables[0].cursor: column 'updatd_at' not found" in description


def test_an_s3_landing_store_gets_a_probe_it_deletes(shop, s3, capsys) -> None:
    endpoint, bucket = s3
    shop["platform"]["landing"] = {"url": f"s3://{bucket}/landing", "endpoint_url": endpoint}
    code, lines = check(shop, capsys, "--source", "pg")
    assert code == 0, lines
    [line] = [line for line in lines if "landing.url" in line]
    assert line.startswith("ok") and "_preflight/" in line
    from tributary.storage import s3_filesystem

    assert s3_filesystem(endpoint_url=endpoint).find(bucket) == []


@pytest.mark.parametrize("store", ["landing", "exports"])
def test_a_store_folder_that_is_a_file_is_named(shop, tmp_path, capsys, store: str) -> None:
    """A local store's URL naming a file (not a folder) passed as '(will be created) is
    writable': the file's own permissions were read, and every load or export failed."""
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    shop["platform"][store] = {"url": str(path)}
    code, lines = check(shop, capsys, "--source", "pg")
    assert code == 1
    assert failures(lines) == [
        f"FAIL  assets_config/platform.yaml: {store}.url: {path}: a file, not a folder"
    ]


# --- the tenant registry ------------------------------------------------------------------

REGISTRY_QUERY = "select company_id as id, alias, status = 1 as active from companies"


@pytest.fixture(params=["shop", "pg"])
def registry(request, shop) -> dict:
    """shop, its tenants read from a companies table in the MariaDB source (shop) or in the
    PostgreSQL one (pg), which holds a tenant-scoped table too. `sql` runs a statement in
    that database and returns its rows."""
    name = request.param
    if name == "shop":

        def sql(statement: str) -> list[tuple]:
            with shop["shop_con"].cursor() as cursor:
                cursor.execute(statement)
                return list(cursor.fetchall())

    else:

        def sql(statement: str) -> list[tuple]:
            with psycopg.connect(shop["pg"]["connection"]["url"], autocommit=True) as pg:
                cursor = pg.execute(statement)
                return cursor.fetchall() if cursor.description else []

    sql("create table companies (company_id int, code varchar(10), alias varchar(50), status int)")
    sql("insert into companies values (1, '1', 'acme', 1), (2, '2', 'globex', 1), "
        "(3, '3', 'initech', 0)")  # fmt: skip
    sql("create table tenant_orders (id int primary key, company_id int, amount int)")
    shop[name]["tables"].append(
        {
            "name": "tenant_orders",
            "query": "select * from tenant_orders where company_id = :tenant_id",
            "tenant_column": "company_id",
            "primary_key": ["id"],
        }
    )
    shop["tenants"] = {"registry": {"source": name, "query": REGISTRY_QUERY}}
    shop["registry_source"], shop["sql"] = name, sql
    return shop


def registry_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if "tenants.yaml" in line]


def sensor_error(config: dict) -> str:
    """What the sensor's reading of the registry (current_tenants) raises, as a check's line
    would say it."""
    with pytest.raises((RegistryError, RegistryQueryError)) as raised:
        current_tenants(load_project(config["dir"]), SourcesResource())
    return " ".join(str(raised.value).split()).removeprefix("tenants.yaml: ")


def sensor_tenants(config: dict) -> list:
    """The tenants the sensor reads (current_tenants)."""
    return current_tenants(load_project(config["dir"]), SourcesResource())


def test_a_good_registry_is_read_and_nothing_is_written(registry, capsys) -> None:
    code, lines = check(registry, capsys)
    assert code == 0, lines
    assert registry_lines(lines) == [
        "ok    assets_config/tenants.yaml: registry: 3 tenants, 2 active, read from source "
        f"'{registry['registry_source']}'"
    ]
    assert registry["sql"]("select count(*) from companies") == [(3,)]
    with psycopg.connect(registry["warehouse"]) as pg:
        schemas = {row[0] for row in pg.execute("select nspname from pg_namespace")}
    assert "_tributary" not in schemas
    assert not (registry["dir"].parent / ".tributary").exists()
    # Checking another source alone (no tenant-scoped table there) does not read it.
    other = "pg" if registry["registry_source"] == "shop" else "shop"
    code, lines = check(registry, capsys, "--source", other)
    assert code == 0 and registry_lines(lines) == [], lines


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("select company_idd as id, alias, status = 1 as active from companies", "company_idd"),
        ("select company_id as id, alias, status = 1 as active from companys", "companys"),
    ],
    ids=["column", "table"],
)
def test_a_registry_query_that_fails_is_named_before_the_sensor_meets_it(
    registry, capsys, query: str, message: str
) -> None:
    """tributary check never ran the registry's query: a misspelled column or table said all
    ok, and the sensor's every tick (and every tenant's run) failed."""
    registry["tenants"]["registry"]["query"] = query
    code, lines = check(registry, capsys)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/tenants.yaml: registry.query: source ")
    assert "running a query failed" in line and message in line
    assert line == f"FAIL  assets_config/tenants.yaml: {sensor_error(registry)}"


def test_a_registry_whose_source_cannot_be_read_never_shows_its_password(
    registry, capsys, monkeypatch
) -> None:
    """The registry in a source of its own, no table of which is loaded (so no other line
    logs in to it): a wrong database or login passed the check. The password is in no line."""
    monkeypatch.setenv("TRIBUTARY_TEST_ADMIN_PASSWORD", PASSWORD)
    name = registry["registry_source"]
    url = registry[name]["connection"]["url"]
    registry["admin"] = {
        "name": "admin",
        "kind": registry[name]["kind"],
        "enabled": False,
        "connection": {
            "url": url.rsplit("/", 1)[0] + "/no_such_database",
            "password_env": "TRIBUTARY_TEST_ADMIN_PASSWORD",
        },
        "tables": [{"name": "companies", "primary_key": ["company_id"]}],
    }
    registry["tenants"]["registry"]["source"] = "admin"
    code, lines = check(registry, capsys)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith(
        "FAIL  assets_config/tenants.yaml: registry.source: source 'admin': login failed: "
    )
    assert not any(form in "\n".join(lines) for form in secret_forms(PASSWORD))


@pytest.mark.parametrize(
    ("query", "rows", "message"),
    [
        (REGISTRY_QUERY, "(1, '1', 'acme2', 1)", "tenant '1' is listed twice"),
        ("select code as id, alias, status = 1 as active from companies", "(7, '007', 'bond', 1), "
         "(8, '7', 'seven', 1)", "tenants '007' and '7' are one tenant to a number column"),
        (REGISTRY_QUERY, "(null, null, 'nobody', 1)", "the row of tenant 'None': id: "),
        ("select company_id / 2.0 as id, alias, status = 1 as active from companies",
         "(5, '5', 'half', 1)", "the row of tenant '0.5000000000': id: "),
        ("select company_id as id, alias, case when status = 1 then true end as active "
         "from companies", "(4, '4', 'hooli', 1)", "the row of tenant '3': active: "),
        ("select company_id as id, alias, status = 1 as active from companies",
         "(4, '4', 'acme corp', 1)", "the row of tenant '4': alias: "),
        ("select company_id, alias, status = 1 as active from companies", "(4, '4', 'hooli', 1)",
         "expected the columns id, alias, active; missing id (got company_id, alias, active)"),
    ],
    ids=["twice", "007-and-7", "null-id", "not-whole", "null-active", "alias", "no-id-column"],
)  # fmt: skip
def test_registry_rows_the_sensor_refuses_are_named(
    registry, capsys, query: str, rows: str, message: str
) -> None:
    """tributary check never read the registry: rows the sensor refuses (an id twice, '007'
    beside '7', a NULL id or flag, an id neither whole nor text, an alias no folder can
    have, a column missing) said all ok. The check names them as the sensor does."""
    registry["sql"](f"insert into companies values {rows}")
    registry["tenants"]["registry"]["query"] = query
    code, lines = check(registry, capsys)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL  assets_config/tenants.yaml: registry.query: "), line
    assert message in line
    assert line == f"FAIL  assets_config/tenants.yaml: {sensor_error(registry)}"


def test_the_bad_row_of_an_inactive_tenant_is_skipped_and_said(registry, capsys) -> None:
    """A company that does not need BI, without an alias: its row failed the check, the
    sensor, every tenant's run and the schedules. It is skipped, and the check says so."""
    registry["sql"]("insert into companies values (5, '5', null, 0)")
    code, lines = check(registry, capsys)
    assert code == 0, lines
    assert registry_lines(lines) == [
        "ok    assets_config/tenants.yaml: registry: 3 tenants, 2 active, read from source "
        f"'{registry['registry_source']}'; skipped the rows of inactive tenant '5' "
        "(registry.query: the row of tenant '5': alias: Input should be a valid string)"
    ]
    assert [t.key for t in sensor_tenants(registry)] == ["1", "2", "3"]


def load_tenant(config: dict, key: str) -> None:
    """Tenant `key`'s load of the tenant-scoped table (tenant_orders) into the warehouse, as
    its partition's run loads it."""
    project = load_project(write(config))
    [source] = [s for s in project.sources if any(t.tenant_column for t in s.tables)]
    [table] = [t for t in source.tables if t.tenant_column]
    tenants = current_tenants(project, SourcesResource())
    with PostgresWarehouse(config["warehouse"]) as warehouse:
        ingest_table(
            source,
            table,
            reader=open_source(source, state_dir=project.state_dir),
            landing=LandingStore(str(config["dir"].parent / "landing")),
            warehouse=warehouse,
            batch_rows=10,
            where=slice_for(table, key, tenants, source=source.name),
        )


def test_a_respelled_id_is_named_as_its_loads_refuse_it(registry, capsys) -> None:
    """A registry id respelled ('1' padded to '001') whose old id's rows the raw tables hold:
    the check names it as the new id's load refuses it. Once those rows are deleted (the way
    out), it passes, though _tributary.tenants still records '1' (the sensor never forgets a
    tenant): the check read those records, and failed after the way out had been taken."""
    registry["tenants"]["registry"]["query"] = (
        "select code as id, alias, status = 1 as active from companies"
    )
    registry["sql"]("insert into tenant_orders values (1, 1, 10), (2, 1, 20), (3, 2, 5)")
    load_tenant(registry, "1")
    with PostgresWarehouse(registry["warehouse"]) as warehouse:
        warehouse.record_tenants(
            [TenantRow("1", "acme", "active"), TenantRow("2", "globex", "active")]
        )
    registry["sql"]("update companies set code = '001' where company_id = 1")
    code, lines = check(registry, capsys)
    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/tenants.yaml: registry.query: tenant '001' is tenant '1' "
        "respelled: they are one tenant to a number column (both are 1), and the registry no "
        "longer lists '1', whose partition and rows are kept, so the loads of '001' would "
        "load its rows again, each row twice; spell the id as before ('1'), or first delete "
        "the tenants partition '1' (Dagster) and its rows (_tenant_id = '1') from the raw "
        "tables"
    ]
    raw = f"raw_{registry['registry_source']}.tenant_orders"
    with psycopg.connect(registry["warehouse"], autocommit=True) as pg:
        pg.execute(f"delete from {raw} where _tenant_id = '1'")
    code, lines = check(registry, capsys)
    assert code == 0, lines


def test_registry_settings_and_aliases_a_run_refuses_are_named(registry, capsys) -> None:
    """Rows the sensor reads, but a tenant's run or per-tenant export refuses: a setting that
    does not read as its default's type, one the table's query binds that neither the tenant
    nor the table gives, two tenants of one alias (each other's export folder). tributary
    check said all ok; the tenants' runs and exports failed, each on its own."""
    name, sql = registry["registry_source"], registry["sql"]
    sql("create table company_settings (company_id int, name varchar(50), value varchar(50))")
    sql("insert into company_settings values (1, 'min_id', 'sixty'), (1, 'region', 'eu'), "
        "(2, 'min_id', '7')")  # fmt: skip
    sql("insert into companies values (4, '4', 'ACME', 1)")
    registry["tenants"]["registry"]["settings_query"] = (
        "select company_id as tenant_id, name, value from company_settings"
    )
    [table] = [t for t in registry[name]["tables"] if t["name"] == "tenant_orders"]
    table["query"] += " and id > :min_id and :region is not null"
    table["settings"] = {"min_id": 0}
    registry["exports"] = [
        {
            "name": "orders_by_tenant",
            "query": f"select * from raw_{name}.tenant_orders",
            "depends_on": ["ops_load_status"],
            "per_tenant": True,
        }
    ]
    code, lines = check(registry, capsys)
    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/tenants.yaml: "
        "registry.settings_query: tenant 1 (acme): setting 'min_id' is 'sixty'; expected a int, "
        "like the table's default (0); "
        f"registry.settings_query: tenant 2 (globex): no setting 'region', which table "
        f"{name}.tenant_orders's query binds (:region); give the tenant the setting, or the "
        "table a default under 'settings'; "
        f"registry.settings_query: tenant 4 (ACME): no setting 'region', which table "
        f"{name}.tenant_orders's query binds (:region); give the tenant the setting, or the "
        "table a default under 'settings'; "
        "registry.query: tenants 1 and 4 share the alias 'acme' ('ACME'), which names their "
        "export folders and buckets; expected each alias once: their per-tenant exports "
        "(orders_by_tenant) fail"
    ]


def test_registry_setting_names_match_ignoring_case_and_unbound_ones_are_named(
    registry, capsys
) -> None:
    """A setting spelled MIN_ID beside a query binding :min_id was ignored, the table's
    default bound, and the check said all ok; so was one no query binds (a typo). Names are
    matched ignoring case; a name no table binds is a FAIL naming the tenant, the name and
    the names the tables bind."""
    name, sql = registry["registry_source"], registry["sql"]
    sql("create table company_settings (company_id int, name varchar(50), value varchar(50))")
    sql("insert into company_settings values (1, 'MIN_ID', '60'), (2, 'min_id', '7')")
    registry["tenants"]["registry"]["settings_query"] = (
        "select company_id as tenant_id, name, value from company_settings"
    )
    [table] = [t for t in registry[name]["tables"] if t["name"] == "tenant_orders"]
    table["query"] += " and id > :min_id"
    table["settings"] = {"min_id": 0}
    code, lines = check(registry, capsys)
    assert code == 0, lines
    acme = next(t for t in sensor_tenants(registry) if t.key == "1")
    [table] = load_project(registry["dir"]).source(name).tables[-1:]
    assert tenant_settings(table, acme, source=name) == {"min_id": 60}

    sql("insert into company_settings values (2, 'min_idd', '8')")
    code, lines = check(registry, capsys)
    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/tenants.yaml: registry.settings_query: tenant 2 (globex): setting "
        "'min_idd' is bound by no table's query (the tables bind :min_id), so it would be "
        "ignored; correct its name, or leave it out (a registry: select only the names the "
        "tables bind in registry.settings_query)"
    ]


@pytest.mark.parametrize(
    ("query", "listed"),
    [
        (f"{REGISTRY_QUERY} where status = 2", "no tenant (its query returned no rows)"),
        ("select company_id as id, alias, status = 2 as active from companies",
         "3 tenants, none active"),
    ],
    ids=["no-rows", "none-active"],
)  # fmt: skip
def test_a_registry_without_an_active_tenant_names_what_would_never_load(
    registry, capsys, query: str, listed: str
) -> None:
    """A registry query whose filter (`where active`, a status read wrong) leaves no active
    tenant passed tributary check and the sensor alike: no tenant partition is ever added,
    so no tenant-scoped table is ever loaded and no per-tenant export published, without a
    word. The check names the registry and what would never load."""
    name = registry["registry_source"]
    registry["tenants"]["registry"]["query"] = query
    registry["exports"] = [
        {
            "name": "orders_by_tenant",
            "query": f"select * from raw_{name}.tenant_orders",
            "depends_on": ["ops_load_status"],
            "per_tenant": True,
        }
    ]
    position = len(registry[name]["tables"]) - 1
    code, lines = check(registry, capsys)
    assert code == 1
    assert failures(lines) == [
        f"FAIL  assets_config/tenants.yaml: registry.query: the registry lists {listed}; "
        "expected at least one active tenant: without one no tenant partition is added, so "
        f"assets_config/sources/{name}.yaml tables[{position}] (tenant_orders) is never "
        "loaded and the per-tenant exports (orders_by_tenant) never publish"
    ]
    # Nothing scoped by tenant: nothing waits for a tenant, and the registry's reading is ok.
    registry[name]["tables"][position]["enabled"] = False
    registry["exports"][0]["enabled"] = False
    code, lines = check(registry, capsys)
    assert code == 0, lines


def test_a_fixed_list_without_an_active_tenant_names_what_would_never_load(shop, capsys) -> None:
    """A fixed list (tenants.yaml's tenants:) whose every tenant is inactive makes no tenant
    partition: no tenant-scoped table ever loads, and tributary check said all ok, where a
    registry without an active tenant fails it. The fixed list now fails the same way, with
    the same code, naming tenants.yaml's tenants key."""
    shop["shop"]["tables"].append(
        {
            "name": "tenant_orders",
            "query": "select * from orders where customer_id = :tenant_id",
            "tenant_column": "customer_id",
            "primary_key": ["id"],
        }
    )
    shop["tenants"] = {
        "tenants": [
            {"id": 1, "alias": "acme", "active": False},
            {"id": 2, "alias": "globex", "active": False},
        ]
    }
    code, lines = check(shop, capsys)
    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/tenants.yaml: tenants: the list holds 2 tenants, none active; "
        "expected at least one active tenant (active: true): the tenant partitions are the "
        "list's active tenants, so assets_config/sources/shop.yaml tables[3] (tenant_orders) "
        "is never loaded"
    ]
    # One active tenant: the list's line is ok.
    shop["tenants"]["tenants"][1]["active"] = True
    code, lines = check(shop, capsys)
    assert code == 0, lines
    assert registry_lines(lines) == [
        "ok    assets_config/tenants.yaml: tenants: 2 tenants, 1 active (a fixed list)"
    ]
    # Checking another source alone (no tenant-scoped table there) does not check the list.
    code, lines = check(shop, capsys, "--source", "pg")
    assert code == 0 and registry_lines(lines) == [], lines


def test_a_respelled_id_in_a_fixed_list_is_named_as_its_loads_refuse_it(shop, capsys) -> None:
    """tenants.yaml's fixed list, 'ACME' respelled 'acme' after ACME's rows were loaded: the
    check said all ok, and the new id's loads read ACME's rows again (MariaDB's collation
    ignores case), every row twice. The check names it as the load refuses it; a tenant
    removed from the list, a new one, or an id alike none removed pass, and so does the new
    spelling once the old id's rows are deleted."""
    run_sql(
        shop["shop_con"],
        "create table tenant_orders (id int primary key, code varchar(10), amount int)",
        "insert into tenant_orders values (1, 'ACME', 10), (2, 'ACME', 20), (3, '8', 5)",
    )
    shop["shop"]["tables"].append(
        {"name": "tenant_orders", "tenant_column": "code", "primary_key": ["id"]}
    )
    shop["tenants"] = {"tenants": [{"id": "ACME", "alias": "acme"}, {"id": 8, "alias": "globex"}]}
    load_tenant(shop, "ACME")
    shop["tenants"]["tenants"][0]["id"] = "acme"

    code, lines = check(shop, capsys)

    assert code == 1
    assert failures(lines) == [
        "FAIL  assets_config/tenants.yaml: tenants: tenant 'acme' is tenant 'ACME' respelled: "
        "they are one tenant to a source that ignores case and trailing spaces (MySQL's "
        "default collation) and to the check of a tenant's rows, and tenants.yaml no longer "
        "lists 'ACME', whose rows are kept, so the loads of 'acme' would load its rows again, "
        "each row twice; spell the id as before ('ACME'), or first delete its rows "
        "(_tenant_id = 'ACME') from the raw tables"
    ]
    for listed in (
        [{"id": 8, "alias": "globex"}, {"id": 9, "alias": "hooli"}],  # removed, and new
        [{"id": "ACME2", "alias": "acme"}, {"id": 8, "alias": "globex"}],  # alike none
        [{"id": "ACME", "alias": "acme"}, {"id": 8, "alias": "globex"}],  # as before
    ):
        shop["tenants"]["tenants"] = listed
        code, lines = check(shop, capsys)
        assert code == 0, lines
    with psycopg.connect(shop["warehouse"], autocommit=True) as pg:
        pg.execute("delete from raw_shop.tenant_orders where _tenant_id = 'ACME'")
    shop["tenants"]["tenants"][0]["id"] = "acme"
    code, lines = check(shop, capsys)
    assert code == 0, lines


def test_the_tenant_ids_held_are_read_on_each_warehouse(mariadb, loads) -> None:
    """What a tenant's load and the check judge a respelled id against: the ids whose rows
    the tenant-scoped raw tables hold, by their recorded loads. Only the ids asked about are
    looked up; a table not scoped by tenant, or not named, is not; an id whose rows were
    deleted, or whose raw table was dropped, is not held."""
    url, con = mariadb
    warehouse, landing = loads
    run_sql(
        con,
        "create table tenant_orders (id int primary key, code varchar(10))",
        "insert into tenant_orders values (1, 'ACME'), (2, 'ACME'), (3, '8')",
    )
    table = TableConfig(name="tenant_orders", tenant_column="code", primary_key=["id"])
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[table]
    )
    tenants = [Tenant(id="ACME", alias="acme"), Tenant(id=8, alias="globex")]
    checking = own_connections(warehouse)
    scoped = [("shop", "tenant_orders")]
    assert checking.tenant_ids_held(scoped, lambda _: True) == []  # nothing loaded yet
    for tenant in tenants:
        ingest_table(source, table, reader=SqlSource(url), landing=landing, warehouse=warehouse,
                     batch_rows=10, where=slice_for(table, tenant.key, tenants))  # fmt: skip

    assert checking.tenant_ids_held(scoped, lambda _: True) == ["8", "ACME"]
    assert checking.tenant_ids_held(scoped, lambda key: key == "ACME") == ["ACME"]
    assert checking.tenant_ids_held([("shop", "orders")], lambda _: True) == []
    warehouse.execute("delete from raw_shop.tenant_orders where _tenant_id = 'ACME'")
    assert checking.tenant_ids_held(scoped, lambda _: True) == ["8"]
    warehouse.execute("drop table raw_shop.tenant_orders")  # its loads stay recorded
    assert checking.tenant_ids_held(scoped, lambda _: True) == []


# --- export folders --------------------------------------------------------------------------


def test_dated_folders_of_another_dated_partitioning_are_named(shop, capsys) -> None:
    """by: run_date and by: date both name their folders dt=...: the partitioning the newest
    one's manifest records tells them apart, as the export's run does (partitioning_problem)."""
    shop["exports"] = [
        {"name": "orders_daily", "query": "select 1 as n", "depends_on": ["ops_load_status"]}
    ]
    folder = write(shop)
    day = folder.parent / ".tributary" / "exports" / "orders_daily" / "dt=2024-05-01"
    day.mkdir(parents=True)
    manifest = {
        "export": "orders_daily", "partition": "dt=2024-05-01", "asset": "export/orders_daily",
        "format": "parquet", "compression": "zstd", "published_at": "2024-05-02T06:00:00Z",
        "row_count": 0, "bytes": 0, "files": [], "columns": [],
        "partitioning": "date on order_date",
    }  # fmt: skip
    (day / "manifest.json").write_text(json.dumps(manifest))
    assert main(["check", "--config-dir", str(folder)]) == 1
    [failed] = failures(capsys.readouterr().out.splitlines())
    assert failed.startswith("FAIL  assets_config/exports/orders_daily.yaml: partitioning: ")
    assert (
        "holds partitions published partitioned by date on order_date (dt=2024-05-01, the "
        "newest), and the export is partitioned by run_date" in failed
    )


def test_export_folders_of_an_older_partitioning_are_named(shop, capsys) -> None:
    """An export whose partitioning changed (by: column region -> by: date) finds the old
    layout's folders in its store, and its run fails before publishing (check_layout).
    tributary check said all ok: the operator learnt it from the failed run. It now looks,
    with the run's own code, naming the export's file (not named after the export here) and
    the folders; in the shared store, a per_tenant export's <name>/ holds only tenant=
    folders and each of them only its partitioning's."""
    shop["exports"] = [
        {"name": "orders_daily", "query": "select 1 as n", "depends_on": ["ops_load_status"]},
        {
            "name": "orders_by_tenant",
            "query": "select 1 as n, '1' as _tenant_id",
            "depends_on": ["ops_load_status"],
            "per_tenant": True,
        },
    ]
    shop["tenants"] = {"tenants": [{"id": 1, "alias": "acme"}]}
    folder = write(shop)
    # orders_daily is read from a file of another name
    (folder / "exports" / "orders_daily.yaml").rename(folder / "exports" / "daily_v2.yaml")
    store = folder.parent / ".tributary" / "exports"
    for old in (
        "orders_daily/region=EU",
        "orders_daily/region=US",
        "orders_daily/dt=2024-05-01",
        "orders_by_tenant/tenant=acme/region=EU",
        "orders_by_tenant/dt=2024-04-30",
    ):
        (store / old).mkdir(parents=True)
    code = main(["check", "--config-dir", str(folder)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    said = (
        "holds folders of another partitioning ({}); expected only {}=... folders there: a "
        "reader of the export would read their rows beside the new ones (twice, after a "
        "renamed column), and they would count among its partitions. Likely left by an "
        "earlier partitioning of this export: move them elsewhere (or delete them)"
    )
    assert failures(lines) == [
        f"FAIL  assets_config/exports/daily_v2.yaml: partitioning: file://{store}/orders_daily "
        + said.format("region=EU, region=US", "dt"),
        f"FAIL  assets_config/exports/orders_by_tenant.yaml: partitioning: file://{store}/"
        "orders_by_tenant "
        + said.format("dt=2024-04-30", "tenant")
        + f"; partitioning: file://{store}/orders_by_tenant/tenant=acme "
        + said.format("region=EU", "dt"),
    ]

    # Moved away: nothing is said, and the store's line is ok.
    for old in (
        "orders_daily/region=EU",
        "orders_daily/region=US",
        "orders_by_tenant/tenant=acme/region=EU",
        "orders_by_tenant/dt=2024-04-30",
    ):
        (store / old).rmdir()
    code = main(["check", "--config-dir", str(folder)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines


# --- per-tenant export stores -------------------------------------------------------------

TENANTS = [
    {"id": 1, "alias": "acme"},
    {"id": 2, "alias": "globex"},
    {"id": 3, "alias": "initech", "active": False},
]


def per_tenant_export(config: dict, tenant_url: str) -> dict:
    """A per-tenant export publishing each tenant's rows to its own store, `tenant_url`."""
    export = {
        "name": "orders_by_tenant",
        "query": "select * from raw_shop.orders",
        "depends_on": ["ops_load_status"],
        "per_tenant": True,
        "tenant_column": "customer_id",
        "tenant_url": tenant_url,
    }
    config["exports"] = [export]
    return export


def tenant_store_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if "exports/orders_by_tenant.yaml: tenant_url" in line]


def test_each_active_tenants_store_is_checked(shop, tmp_path, capsys) -> None:
    """An export's tenant_url names each tenant's own store. A store that cannot be written
    (here a folder under a file) passed tributary check, and failed at the export's run for
    that tenant. Each active tenant's store is checked as the exports store is (an inactive
    tenant is never exported), one line each, naming the tenant and the URL."""
    stores = tmp_path / "tenant_stores"
    stores.mkdir()
    (stores / "globex").write_text("a file, where globex's folder would be")
    per_tenant_export(shop, str(stores / "{alias}" / "tributary"))
    shop["tenants"] = {"tenants": TENANTS}
    code, lines = check(shop, capsys, "--source", "pg")
    assert code == 1, lines
    file = "assets_config/exports/orders_by_tenant.yaml"
    assert tenant_store_lines(lines) == [
        f"ok    {file}: tenant_url: tenant 1 (acme): {stores}/acme/tributary (will be created) "
        "is writable",
        f"FAIL  {file}: tenant_url: tenant 2 (globex): {stores}/globex/tributary: "
        f"{stores}/globex is not a folder",
    ]
    assert failures(lines) == tenant_store_lines(lines)[1:]
    assert not (stores / "acme").exists()  # nothing written


def test_the_registrys_active_tenants_stores_are_checked(registry, tmp_path, capsys) -> None:
    """With a registry, the tenants are the registry's rows, read once for both checks."""
    stores = tmp_path / "tenant_stores"
    stores.mkdir()
    (stores / "acme").write_text("a file")
    per_tenant_export(registry, str(stores / "{alias}" / "bi"))
    code, lines = check(registry, capsys)
    assert code == 1, lines
    file = "assets_config/exports/orders_by_tenant.yaml"
    assert tenant_store_lines(lines) == [
        f"FAIL  {file}: tenant_url: tenant 1 (acme): {stores}/acme/bi: {stores}/acme is not a "
        "folder",
        f"ok    {file}: tenant_url: tenant 2 (globex): {stores}/globex/bi (will be created) is "
        "writable",
    ]
    assert failures(lines) == tenant_store_lines(lines)[:1]


def test_a_relative_tenant_url_is_a_folder_under_the_state_dir(shop, capsys) -> None:
    """A local exports.url is a folder under the state dir whatever the working folder; a
    relative tenant_url was opened where the run happened to start (the check did the same),
    so each tenant's files landed wherever the run worker began. It is now the exports
    store's rule."""
    per_tenant_export(shop, "tenant_stores/{alias}")
    shop["tenants"] = {"tenants": TENANTS}
    _, lines = check(shop, capsys, "--source", "pg")
    state_dir = load_project(shop["dir"]).state_dir
    file = "assets_config/exports/orders_by_tenant.yaml"
    assert tenant_store_lines(lines) == [
        f"ok    {file}: tenant_url: tenant {n} ({alias}): {state_dir}/tenant_stores/{alias} "
        "(will be created) is writable"
        for n, alias in ((1, "acme"), (2, "globex"))
    ], lines


def test_an_incremental_table_without_lookback_is_warned_of_not_failed(shop, capsys) -> None:
    """A probe (2026-12-07) left 699-1,168 of about 300,000 rows stale, every check green: an
    incremental table without a lookback never reads a row committed late behind its watermark,
    and `tributary check` said ok to it. It works, so it is said, not failed; `lookback: 0`
    says the cursor is set in commit order."""
    del shop["shop"]["tables"][0]["lookback"]  # a datetime cursor
    del shop["pg"]["tables"][0]["lookback"]  # a bigint cursor
    code, lines = check(shop, capsys)
    assert code == 0, lines
    warned = [line for line in lines if line.startswith("warn")]
    assert [line.split(": ")[:2] for line in warned] == [
        ["warn  assets_config/sources/pg.yaml", "tables[0] (events)"],
        ["warn  assets_config/sources/shop.yaml", "tables[0] (orders)"],
    ], lines
    pg, shop_line = warned
    assert "; tables[0].lookback: none: reads start at the watermark" in pg
    assert "(an id drawn before another transaction's commit)" in pg and "or to 0 where" in pg
    assert "(a timestamp set when its transaction began)" in shop_line
    assert "or to 0s where the cursor is set in commit order" in shop_line
    assert lines[-1].startswith("preflight: all ok, 2 with warnings"), lines[-1]

    shop["shop"]["tables"][0]["lookback"] = "0s"
    shop["pg"]["tables"][0]["lookback"] = 0
    code, lines = check(shop, capsys)
    assert code == 0 and not [line for line in lines if line.startswith("warn")], lines
    assert lines[-1].startswith("preflight: all ok (")
