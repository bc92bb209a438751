"""A table's configuration edited between its loads: the object or query it reads, the
database, a tenant's settings, its primary key. Each such load reads the table (or its
tenant's partition) whole: read from the old watermark, it lost the rows the new read holds
behind it, every check passing. A load whose key changed replaces the rows: merged on the new
key, rows kept on the old one stayed beside their new versions, or the duplicate repair
deleted a row the source holds. Against a real MariaDB, on DuckDB, PostgreSQL and Redshift's
stand-in."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tributary.config.models import SourceConfig, TableConfig, Tenant
from tributary.ingest import ingest_table, load_target
from tributary.reconcile import reconcile
from tributary.slices import slice_for
from tributary.sources import SqlSource

from .conftest import run_sql

T0 = datetime(2024, 5, 1, 12, 0, 0)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def source_config(url, table: TableConfig) -> SourceConfig:
    return SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[table]
    )


def load(url, table: TableConfig, loads, where=None):
    warehouse, landing = loads
    return ingest_table(source_config(url, table), table, reader=SqlSource(url), landing=landing,
                        warehouse=warehouse, batch_rows=2, where=where)  # fmt: skip


def raw(loads, columns: str = "id, status") -> list[tuple]:
    warehouse, _ = loads
    return [
        tuple(r) for r in warehouse.query(f"select {columns} from raw_shop.orders order by 1, 2")
    ]


def source_rows(con, sql: str) -> list[tuple]:
    with con.cursor() as cursor:
        cursor.execute(sql)
        return sorted(tuple(r) for r in cursor.fetchall())


ORDERS = dict(name="orders", primary_key=["id"], cursor="updated_at", mode="incremental")
TENANTS = [Tenant(id=7, alias="acme")]


@pytest.fixture
def two_objects(mariadb):
    """orders_a, and orders_b: the rows a table pointed at it should hold, one of them older
    than orders_a's newest (the watermark) and one corrected a minute after its first."""
    url, con = mariadb
    for name in ("orders_a", "orders_b"):
        run_sql(con, f"create table {name} (id int primary key, region varchar(4), "
                     "status varchar(20), updated_at datetime)")  # fmt: skip
    run_sql(con, "insert into orders_a values (1, 'eu', 'a', %s), (2, 'eu', 'a', %s)",
            params=(at(0), at(10)))  # fmt: skip
    run_sql(con, "insert into orders_b values (0, 'eu', 'b', %s), (1, 'eu', 'b', %s), "
                 "(2, 'eu', 'a', %s), (3, 'eu', 'b', %s)",
            params=(at(-30), at(1), at(10), at(20)))  # fmt: skip
    return url, con


def test_a_table_pointed_at_another_object_holds_that_objects_rows(two_objects, loads):
    url, con = two_objects
    load(url, TableConfig(object="orders_a", **ORDERS), loads)
    second = load(url, TableConfig(object="orders_b", **ORDERS), loads)
    assert raw(loads) == source_rows(con, "select id, status from orders_b")
    assert second.since is None
    assert second.manifest.mode == "incremental"  # merged: rows only the old object held stay
    assert "object orders_a" in second.whole_because
    assert "object orders_b" in second.whole_because
    # the edit is recorded: the next load reads from its watermark again
    run_sql(con, "insert into orders_b values (4, 'eu', 'b', %s)", params=(at(30),))
    third = load(url, TableConfig(object="orders_b", **ORDERS), loads)
    assert third.whole_because is None
    assert third.since == at(20)
    assert raw(loads) == source_rows(con, "select id, status from orders_b")


def test_a_query_whose_filter_is_edited_holds_what_it_now_returns(two_objects, loads):
    url, con = two_objects
    filtered = TableConfig(query="select * from orders_b where status <> 'a'", **ORDERS)
    load(url, filtered, loads)
    widened = filtered.model_copy(update={"query": "select * from orders_b"})
    load(url, widened, loads)
    assert raw(loads) == source_rows(con, "select id, status from orders_b")
    # Narrowed, it reads whole too; the rows it no longer returns stay, as incremental loads
    # delete nothing (a full_refresh run drops them).
    narrowed = filtered.model_copy(update={"query": "select * from orders_b where id > 0"})
    assert load(url, narrowed, loads).since is None
    assert raw(loads) == source_rows(con, "select id, status from orders_b")
    # Spacing is not an edit: the load reads from its watermark.
    spaced = narrowed.model_copy(update={"query": "select *\n  from orders_b\n where id > 0"})
    assert load(url, spaced, loads).whole_because is None


def test_a_table_moved_to_another_database_holds_that_databases_rows(two_objects, loads):
    url, con = two_objects
    other = url.set(database=f"{url.database}_moved")
    run_sql(con, f"create database {other.database}")
    try:
        run_sql(con, f"create table {other.database}.orders_a as select * from orders_b")
        load(url, TableConfig(object="orders_a", **ORDERS), loads)
        second = load(other, TableConfig(object="orders_a", **ORDERS), loads)
        assert raw(loads) == source_rows(con, "select id, status from orders_b")
        assert f"/{other.database} " in second.whole_because
        assert "root" not in second.whole_because  # no user, no password
    finally:
        run_sql(con, f"drop database {other.database}")


@pytest.fixture
def regional_orders(mariadb):
    url, con = mariadb
    run_sql(con, "create table orders (id int, region varchar(4), status varchar(20), "
                 "updated_at datetime, primary key (id, region))")  # fmt: skip
    run_sql(con, "insert into orders values (1, 'eu', 'a', %s), (2, 'eu', 'c', %s)",
            params=(at(0), at(10)))  # fmt: skip
    return url, con


def test_a_key_widened_holds_the_sources_rows(regional_orders, loads):
    """[id] -> [id, region]: a row that moved region was kept beside its new one."""
    url, con = regional_orders
    load(url, TableConfig(**ORDERS), loads)
    run_sql(con, "update orders set region = 'us', updated_at = %s where id = 1", params=(at(20),))
    second = load(url, TableConfig(**{**ORDERS, "primary_key": ["id", "region"]}), loads)
    assert second.manifest.mode == "full"
    assert "merged on (id), and its primary_key is (id, region) now" in second.whole_because
    columns = "id, region, status"
    assert raw(loads, columns) == source_rows(con, f"select {columns} from orders")


def test_a_key_narrowed_to_one_the_source_holds_twice_fails_its_check(regional_orders, loads):
    """[id, region] -> [id] where the source holds id 1 twice: the duplicate repair deleted
    one of them, the source's duplicate never read again, every check passing. Read whole, the
    load counts it, and its reconciliation names it."""
    url, con = regional_orders
    run_sql(con, "insert into orders values (1, 'us', 'b', %s)", params=(at(5),))
    load(url, TableConfig(**{**ORDERS, "primary_key": ["id", "region"]}), loads)
    run_sql(con, "update orders set status = 'd', updated_at = %s where id = 2", params=(at(21),))
    narrowed = TableConfig(**ORDERS)
    second = load(url, narrowed, loads)
    assert second.manifest.mode == "full"
    assert second.outcome.repeated_keys.keys == 1
    warehouse, _ = loads
    check = reconcile(narrowed, second, source=SqlSource(url), warehouse=warehouse,
                      target=load_target(source_config(url, narrowed), narrowed))  # fmt: skip
    assert not check.passed
    assert "id=1 (2 rows)" in check.description


def test_a_tenants_widened_setting_loads_its_older_rows(mariadb, loads):
    """days_back 1 -> 40: the tenant's rows between 1 and 40 days back, behind its watermark,
    are read."""
    url, con = mariadb
    run_sql(con, "create table orders (id int primary key, company_id int, status varchar(20), "
                 "updated_at datetime)")  # fmt: skip
    now = datetime.now().replace(microsecond=0)
    run_sql(con, "insert into orders values (1, 7, 'old', %s), (2, 7, 'new', %s)",
            params=(now - timedelta(days=30), now - timedelta(hours=1)))  # fmt: skip
    query = (
        "select * from orders where company_id = :tenant_id "
        "and updated_at >= now() - interval :days_back day"
    )
    table = TableConfig(query=query, tenant_column="company_id", settings={"days_back": 1},
                        **ORDERS)  # fmt: skip
    load(url, table, loads, where=slice_for(table, "7", TENANTS, source="shop"))
    assert raw(loads) == [(2, "new")]
    widened = table.model_copy(update={"settings": {"days_back": 40}})
    load(url, widened, loads, where=slice_for(widened, "7", TENANTS, source="shop"))
    assert raw(loads) == [(1, "old"), (2, "new")]


def test_a_watermark_recorded_before_origins_is_read_from_then_given_one(two_objects, loads):
    """A warehouse of the release before: _tributary.watermarks without `origin` and
    `merge_key`. They are added; a watermark of neither is read from, and the load records
    both."""
    url, _ = two_objects
    warehouse, _ = loads
    table = TableConfig(object="orders_a", **ORDERS)
    load(url, table, loads)
    for column in ("origin", "merge_key"):
        warehouse.execute(f"alter table _tributary.watermarks drop column {column}")
    warehouse.ensure_state()
    recorded = "select origin, merge_key from _tributary.watermarks"
    assert [tuple(r) for r in warehouse.query(recorded)] == [(None, None)]
    second = load(url, table, loads)
    assert second.whole_because is None
    assert second.since == at(10)
    assert [tuple(r) for r in warehouse.query(recorded)] == [
        (f"mysql://127.0.0.1:3306/{url.database} object orders_a", "id")
    ]
