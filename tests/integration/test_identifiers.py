"""Column names that need quoting (quotes, semicolons, spaces, `?`, `%`) come from the source
and go through extract, land, load, merge and schema drift quoted, on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tributary.config.models import SourceConfig, TableConfig
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.sources import SqlSource
from tributary.warehouse import Warehouse
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

from .conftest import run_sql

# Each of these is a legal MariaDB column name, and each breaks SQL built by pasting names.
WEIRD = ['it"s', "semi;colon", "with space", "what?", "100%", "it's", "x); drop table t; --"]


def mysql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def load(url, table: TableConfig, warehouse: Warehouse, landing: Path):
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[table]
    )
    return ingest_table(
        source,
        table,
        reader=SqlSource(url),
        landing=LandingStore(str(landing)),
        warehouse=warehouse,
        batch_rows=2,
    )


def warehouse_rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    if isinstance(warehouse, PostgresWarehouse):
        with psycopg.connect(warehouse._conninfo) as con:
            return con.execute(sql).fetchall()
    return warehouse.query(sql)


def test_source_column_names_that_need_quoting(mariadb, warehouse, tmp_path) -> None:
    url, con = mariadb
    columns = ", ".join(f"{mysql_ident(name)} varchar(40)" for name in WEIRD)
    run_sql(con, f"create table odd (id int primary key, seq int, {columns})")
    values = ", ".join("%s" for _ in WEIRD)
    insert = f"insert into odd values (%s, %s, {values})"
    run_sql(con, insert, params=(1, 1, *[f"{n} 1" for n in WEIRD]))
    run_sql(con, insert, params=(2, 2, *[f"{n} 2" for n in WEIRD]))
    table = TableConfig(name="odd", primary_key=["id"], cursor="seq", mode="incremental")

    first = load(url, table, warehouse, tmp_path)
    assert first.outcome.rows_in_table == 2
    assert [name for name, _ in first.outcome.columns][2 : 2 + len(WEIRD)] == WEIRD

    # an update merged by key, and a new column with an odd name added by schema drift
    run_sql(con, f"alter table odd add column {mysql_ident('new?col;')} int")
    run_sql(con, f"update odd set seq = 3, {mysql_ident('what?')} = 'changed' where id = 2")
    second = load(url, table, warehouse, tmp_path)
    assert second.outcome.added_columns == ["new?col;"]
    assert second.outcome.rows_in_table == 2

    selected = ", ".join('"' + name.replace('"', '""') + '"' for name in WEIRD)
    rows = warehouse_rows(warehouse, f"select id, {selected} from raw_shop.odd order by id")
    assert rows == [
        (1, *[f"{n} 1" for n in WEIRD]),
        (2, *[("changed" if n == "what?" else f"{n} 2") for n in WEIRD]),
    ]
