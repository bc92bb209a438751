"""refresh: on_change without a server: the probe's SQL per dialect (SQL Server and Oracle
cannot run here: compiled and asserted), the configuration's errors, and the graph: an
observable source asset upstream of each observed raw table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.unit.test_config import load_error
from tributary.config.loader import load_project
from tributary.config.models import TableConfig
from tributary.defs import build_definitions
from tributary.defs.observe import source_asset_key
from tributary.errors import SourceError
from tributary.sources import SqlSource

WITH_CURSOR = TableConfig(
    name="orders", cursor="updated_at", primary_key=["id"], mode="incremental"
)
WITHOUT = TableConfig(name="customers", object="sales.customers", primary_key=["id"])


def one_line(sql: str) -> str:
    return " ".join(sql.split())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mssql://etl@erp/erp",
         "SELECT 'orders' AS probe_table, convert(varchar(100), max(updated_at), 126) AS "
         "probe_version FROM orders union all select 'customers' as probe_table, case when "
         "objectproperty(object_id(quotename(coalesce('sales', schema_name())) + '.' + "
         "quotename('customers')), 'IsView') = 1 then '!view' else "
         "concat(convert(varchar(30), max(u.last_user_update), "
         "126), '/', (select sum(p.rows) from sys.partitions p where p.index_id in (0, 1) and "
         "p.object_id = object_id(quotename(coalesce('sales', schema_name())) + '.' + "
         "quotename('customers')))) end "
         "as probe_version from sys.dm_db_index_usage_stats u where u.database_id = db_id() "
         "and u.object_id = object_id(quotename(coalesce('sales', schema_name())) + '.' + "
         "quotename('customers'))"),
        ("oracle://etl@erp/erp",
         "SELECT 'orders' AS probe_table, CAST(max(updated_at) AS VARCHAR2(4000 CHAR)) AS "
         "probe_version FROM orders union all select 'customers' as probe_table, case when "
         "o.object_type = 'VIEW' then '!view' else m.inserts || '/' || m.updates || '/' || "
         "m.deletes || '/' || m.truncated || '/' || to_char(m.timestamp, "
         "'YYYY-MM-DD\"T\"HH24:MI:SS') end as probe_version from all_objects o left join "
         "all_tab_modifications m on m.table_owner = o.owner and m.table_name = o.object_name "
         "and m.partition_name is null where o.owner = coalesce(upper('sales'), user) and "
         "o.object_name = upper('customers') and o.object_type in ('TABLE', 'VIEW')"),
        ("postgresql://etl@app/app",
         "SELECT 'orders' AS probe_table, CAST(max(updated_at) AS VARCHAR) AS "
         "probe_version FROM orders union all select 'customers' as probe_table, case "
         "c.relkind when 'v' then '!view' when 'f' then '!foreign table' else ( select "
         "cast(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del) as varchar) || '/' || "
         "string_agg(cast(k.relfilenode as varchar), ',' order by k.oid) from pg_class k join "
         "pg_stat_user_tables s on s.relid = k.oid where k.oid = c.oid and c.relkind <> 'p' or "
         "k.oid in ( select t.relid from pg_partition_tree(c.oid) t where t.isleaf) ) end as "
         "probe_version from pg_class c join pg_namespace n on n.oid = c.relnamespace where "
         "n.nspname = coalesce('sales', current_schema()) and c.relname = 'customers' and "
         "c.relkind in ('r', 'p', 'm', 'v', 'f')"),
        ("sqlite:///app.sqlite",
         "SELECT 'orders' AS probe_table, CAST(max(updated_at) AS VARCHAR) AS "
         "probe_version FROM orders union all SELECT 'customers' AS probe_table, "
         "CAST(count(*) AS VARCHAR) AS probe_version FROM sales.customers"),
    ],
)  # fmt: skip
def test_one_probe_query_per_source_per_dialect(url: str, expected: str) -> None:
    assert one_line(SqlSource(make_url(url)).probe_query([WITH_CURSOR, WITHOUT])) == expected


def test_a_probe_that_fails_raises_the_sources_error_without_credentials() -> None:
    def refuse(connection: str, query: str, batch_rows: int):
        raise RuntimeError(f"Access denied at {connection}")

    source = SqlSource(make_url("mysql://etl:s3cret@app/app"), fetch=refuse)
    with pytest.raises(SourceError, match="probing tables for changes failed") as raised:
        source.probe([WITH_CURSOR])
    assert "Access denied" in str(raised.value) and "s3cret" not in str(raised.value)


def test_a_sqlite_table_without_rows_probes_as_no_version(tmp_path: Path) -> None:
    """Its highest cursor is NULL, which connectorx cannot type on SQLite (an expression has
    no declared type there): the probe failed, "Cannot infer type from null for SQLite"."""
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("create table orders (id integer primary key, updated_at timestamp)")
        con.execute("create table customers (id integer primary key, name text)")
    con.close()
    source = SqlSource(make_url(f"sqlite:///{path}"))
    customers = TableConfig(name="customers", primary_key=["id"])
    assert source.probe([WITH_CURSOR, customers]) == {"orders": None, "customers": "0"}


@pytest.mark.parametrize("query", [None, "select id, updated_at from orders"], ids=["", "query"])
def test_a_sqlite_timestamp_cursor_probes_its_latest_instant(tmp_path: Path, query) -> None:
    """SQLite keeps a timestamp as text, '2024-05-01 13:00:00' (its CURRENT_TIMESTAMP) or
    '2024-05-01T12:00:00', and a 'T' sorts after a space: the version was the highest text,
    which a later row of the other form on the same day did not move, so the change was never
    seen and the row, which the load would read, was never loaded."""
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("create table orders (id integer primary key, updated_at timestamp)")
        con.execute("insert into orders values (1, '2024-05-01T12:00:00')")
    con.close()
    source = SqlSource(make_url(f"sqlite:///{path}"))
    orders = TableConfig(
        name="orders", cursor="updated_at", primary_key=["id"], mode="incremental", query=query
    )
    before = source.probe([orders])
    with sqlite3.connect(path) as con:
        con.execute("insert into orders values (2, '2024-05-01 13:00:00')")
    con.close()
    after = source.probe([orders])
    assert before != after, after
    assert after == {"orders": "2024-05-01 13:00:00"}


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_an_observed_table_reads_an_observable_source_asset(config_dir: Path) -> None:
    edit(config_dir / "sources" / "erp.yaml", lambda d: d.update(refresh="on_change"))
    defs = build_definitions(load_project(config_dir))
    graph = defs.resolve_asset_graph()
    raw = graph.get(dg.AssetKey(["raw", "erp", "customers"]))
    assert raw.parent_keys == {source_asset_key("erp", "customers")}
    assert raw.automation_condition.get_label() == "source changed"
    assert graph.get(source_asset_key("erp", "customers")).is_observable
    sensors = {s.name for s in defs.sensors}
    assert {"observe_erp", "automation_source_changes"} <= sensors
    assert "observe_app" not in sensors  # app keeps its schedule only


@pytest.mark.parametrize(
    ("source", "change", "message"),
    [
        ("app", lambda d: d.update(refresh="on_change") or d["tables"][1].update(
            tenant_column="company_id"),
         "refresh: on_change loads whole tables; users (partitioned) must say "
         "'refresh: schedule'"),
        ("erp", lambda d: d.update(refresh="on_change", refresh_interval="10s"),
         "refresh_interval: expected 30s or more"),
        # A query's version was its row count: an update never moved it, and never loaded.
        ("app", lambda d: d.update(refresh="on_change") or d["tables"][0].update(
            query="select * from companies"),
         "refresh: on_change sees a query's changes through its cursor; tables[0] "
         "(companies): a query without a cursor, whose row count an update does not move, "
         "must give a cursor or say 'refresh: schedule'"),
    ],
)  # fmt: skip
def test_refresh_errors_name_the_file(config_dir: Path, source, change, message) -> None:
    edit(config_dir / "sources" / f"{source}.yaml", change)
    error = load_error(config_dir)
    assert f"sources/{source}.yaml" in error and message in error
