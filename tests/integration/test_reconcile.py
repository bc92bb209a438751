"""Reconciliation, key uniqueness and freshness against real servers: MariaDB sources loaded
into PostgreSQL and DuckDB, each check failing for exactly what it guards."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from tributary.config.loader import load_project
from tributary.config.models import SourceConfig, TableConfig, Tenant
from tributary.defs import build_definitions
from tributary.ingest import ingest_table, load_target
from tributary.landing import LandingStore
from tributary.reconcile import duplicate_keys, freshness, reconcile
from tributary.slices import slice_for
from tributary.sources import SqlSource
from tributary.warehouse import ReconcileFailure
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

from ..conftest import CONFIG_DIR
from .conftest import COPY_ROLE, as_loaded, run_sql

T0 = datetime(2024, 5, 1, 12, 0, 0)
ORDERS = TableConfig(
    name="orders",
    primary_key=["id"],
    cursor="updated_at",
    mode="incremental",
    lookback="1m",
    checks={"checksum": ["id", "amount"]},
)


def shop(url, table: TableConfig) -> SourceConfig:
    return SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[table]
    )


def load_and_reconcile(url, table: TableConfig, warehouse, landing: Path):
    source, reader = shop(url, table), SqlSource(url)
    load = ingest_table(
        source,
        table,
        reader=reader,
        landing=LandingStore(str(landing)),
        warehouse=warehouse,
        batch_rows=2,
    )
    outcome = reconcile(
        table, load, source=reader, warehouse=warehouse, target=load_target(source, table)
    )
    return load, outcome


@pytest.fixture
def orders(mariadb):
    url, con = mariadb
    run_sql(
        con,
        "create table orders (id int primary key, amount decimal(10, 2), updated_at datetime(6))",
        "insert into orders values (1, 10.00, '2024-05-01 12:00:00'), "
        "(2, 20.50, '2024-05-01 12:00:00'), (3, 30.25, '2024-05-01 11:00:00')",
    )
    return url, con


def test_incremental_window_count_max_cursor_and_checksum(orders, postgres, tmp_path) -> None:
    url, con = orders
    with PostgresWarehouse(postgres) as warehouse:
        _, outcome = load_and_reconcile(url, ORDERS, warehouse, tmp_path)
        assert outcome.passed, outcome.description
        assert outcome.metadata["source_rows"] == outcome.metadata["warehouse_rows"] == 3
        assert outcome.metadata["warehouse_max_cursor"] == "2024-05-01T12:00:00"
        assert outcome.metadata["source_checksum"] == outcome.metadata["warehouse_checksum"]

        # The second load reads from watermark - 1 minute: its window holds the two rows at
        # 12:00 re-read, and the new one; the 11:00 row is outside it.
        run_sql(con, "insert into orders values (4, 40.00, '2024-05-01 12:00:30')")
        second, outcome = load_and_reconcile(url, ORDERS, warehouse, tmp_path)
        assert outcome.passed, outcome.description
        assert second.since == T0 - timedelta(minutes=1)
        assert outcome.metadata["window"] == (
            "updated_at 2024-05-01T11:59:00 to 2024-05-01T12:00:30"
        )
        assert outcome.metadata["source_rows"] == outcome.metadata["warehouse_rows"] == 3

        # A value changed in the warehouse behind the loader's back: counts and the max
        # cursor still agree, the checksum does not.
        with psycopg.connect(postgres, autocommit=True) as pg:
            pg.execute("update raw_shop.orders set amount = 20.51 where id = 2")
        tampered = reconcile(
            ORDERS,
            second,
            source=SqlSource(url),
            warehouse=warehouse,
            target=load_target(shop(url, ORDERS), ORDERS),
        )
        assert not tampered.passed
        assert tampered.description.endswith("the checksum of id, amount differs")

        # A row lost in the warehouse: one missing, and the highest cursor is not there.
        with psycopg.connect(postgres, autocommit=True) as pg:
            pg.execute("delete from raw_shop.orders where id = 4")
        lost = reconcile(
            ORDERS,
            second,
            source=SqlSource(url),
            warehouse=warehouse,
            target=load_target(shop(url, ORDERS), ORDERS),
        )
        assert not lost.passed
        assert "the source holds 3 rows, the warehouse 2 (1 missing)" in lost.description
        assert (
            "the highest updated_at is 2024-05-01T12:00:30 in the source, "
            "2024-05-01T12:00:00 in the warehouse" in lost.description
        )


def test_the_checksum_tells_a_null_from_the_text_of_one(mariadb, warehouse, tmp_path) -> None:
    """The checksum wrote a NULL as the text \\N: a warehouse that held NULL where the source
    held the text '\\N' (what a text-format COPY makes of it), or the two swapped between
    rows, passed reconciliation."""
    url, con = mariadb
    with con.cursor() as cursor:
        cursor.execute("create table notes (id int primary key, note varchar(20))")
        cursor.executemany(
            "insert into notes values (%s, %s)",
            [(1, "\\N"), (2, "NULL"), (3, ""), (4, None), (5, "a\x1fb"), (6, "t")],
        )
    table = TableConfig(name="notes", primary_key=["id"], checks={"checksum": ["id", "note"]})
    load, outcome = load_and_reconcile(url, table, warehouse, tmp_path)
    assert outcome.passed, outcome.description
    assert warehouse.query("select note from raw_shop.notes where id in (1, 4) order by id") == [
        ("\\N",),
        (None,),
    ]

    def reconciled():
        target = load_target(shop(url, table), table)
        return reconcile(table, load, source=SqlSource(url), warehouse=warehouse, target=target)

    warehouse.execute("update raw_shop.notes set note = null where id = 1")
    warehouse.execute("update raw_shop.notes set note = '\\N' where id = 4")
    swapped = reconciled()
    assert not swapped.passed
    assert swapped.description.endswith("the checksum of id, note differs")
    warehouse.execute("update raw_shop.notes set note = null where id = 4")
    assert not reconciled().passed


def sqlite_sql(path: Path, *statements: str) -> None:
    """Statements run on the SQLite file at `path`, committed."""
    with sqlite3.connect(path) as con:
        for statement in statements:
            con.execute(statement)
    con.close()


def test_a_sqlite_window_without_rows_or_with_a_column_null_in_all_of_them(
    warehouse, tmp_path
) -> None:
    """connectorx types a SQLite column without a declared type it knows (an expression: the
    profile's max(cursor), a decimal read as text) by the first row's value: an empty window
    (whose max is NULL) failed reconciliation and a window whose first row held a NULL decimal
    failed the load, both with "Cannot infer type from null for SQLite"."""
    path = tmp_path / "shop.sqlite"
    url = make_url(f"sqlite:///{path}")

    sqlite_sql(
        path,
        "create table orders (id integer primary key, amount decimal(10, 2), note varchar(20), "
        "updated_at timestamp)",
    )
    table = TableConfig(
        name="orders",
        primary_key=["id"],
        cursor="updated_at",
        mode="incremental",
        checks={"checksum": ["id", "amount", "note"]},
    )
    source = SourceConfig(name="shop", kind="sqlite", connection={"url": str(url)}, tables=[table])

    def load_and_reconcile_sqlite():
        reader = SqlSource(url)
        load = ingest_table(
            source,
            table,
            reader=reader,
            landing=LandingStore(str(tmp_path / "landing")),
            warehouse=warehouse,
            batch_rows=2,
        )
        target = load_target(source, table)
        return reconcile(table, load, source=reader, warehouse=warehouse, target=target)

    empty = load_and_reconcile_sqlite()  # the table holds no row yet
    assert empty.passed, empty.description
    assert empty.metadata["source_rows"] == empty.metadata["warehouse_rows"] == 0
    sqlite_sql(path, "insert into orders values (5, 10.00, 'a', '2024-05-01 12:00:00.000000')")
    assert load_and_reconcile_sqlite().passed
    # New rows whose amount and note are NULL, with lower ids: SQLite reads them first.
    sqlite_sql(
        path,
        "insert into orders values (1, null, null, '2024-05-01 13:00:00.000000'), "
        "(2, null, null, '2024-05-01 13:00:01.000000')",
    )
    nulls = load_and_reconcile_sqlite()
    assert nulls.passed, nulls.description
    assert nulls.metadata["source_rows"] == nulls.metadata["warehouse_rows"] == 3
    assert warehouse.query("select id, amount, note from raw_shop.orders order by id") == [
        (1, None, None),
        (2, None, None),
        (5, Decimal("10.00"), "a"),
    ]


@pytest.mark.parametrize(
    ("declared", "at", "earlier", "same_later"),
    [
        # SQLite's own CURRENT_TIMESTAMP: 'YYYY-MM-DD HH:MM:SS', whole seconds
        ("timestamp", "current_timestamp", "datetime('now', '-1 hour')",
         "(select updated_at from orders where id = 1)"),
        ("datetime", "'2024-05-01 12:00:01'", "'2024-05-01 08:00:00'", "'2024-05-01 12:00:01'"),
        ("timestamp", "'2024-05-01T12:00:01'", "'2024-05-01T08:00:00'", "'2024-05-01T12:00:01'"),
        ("timestamp", "'2024-05-01 12:00:01.5'", "'2024-05-01 12:00:01.25'",
         "'2024-05-01 12:00:01.50'"),
        # connectorx keeps a nanosecond timestamp's microseconds
        ("timestamp", "'2024-05-01 12:00:01.123456789'", "'2024-05-01 12:00:01.123455999'",
         "'2024-05-01 12:00:01.123456'"),
        # one column written by a default and by an application's isoformat()
        ("timestamp", "'2024-05-01 12:00:01'", "'2024-05-01T08:00:00'", "'2024-05-01T12:00:01'"),
    ],
    ids=["current_timestamp", "datetime", "T", "fraction", "nanoseconds", "mixed"],
)  # fmt: skip
# A custom query's column of a declared type is read (and windowed) as the table's: its
# highest value was the highest text, '2024-05-01T08:00:00' of the mixed column, and
# reconciliation failed at the first load, "the highest updated_at is 2024-05-01T08:00:00 in
# the source, 2024-05-01T12:00:01 in the warehouse".
@pytest.mark.parametrize("query", [None, "select id, updated_at from orders"], ids=["", "query"])
def test_a_sqlite_text_timestamp_cursor_rereads_its_watermark(
    warehouse, tmp_path, declared, at, earlier, same_later, query
) -> None:
    """SQLite keeps a timestamp as text ('YYYY-MM-DD HH:MM:SS', its CURRENT_TIMESTAMP, or with
    a 'T', or any number of fractional digits), and the watermark was compared as the text
    '2024-05-01 12:00:01.000000': '2024-05-01 12:00:01' is less, so the rows at the watermark
    were not re-read, a row committed later in the same second was never loaded, and
    reconciliation failed at every later load blaming rows deleted in the source; a 'T' or
    more than 6 digits fell outside every window's upper bound, and of a column holding both
    forms the highest text ('2024-05-01T08:00:00') was not the highest time."""
    path = tmp_path / "shop.sqlite"
    url = make_url(f"sqlite:///{path}")

    sqlite_sql(path, f"create table orders (id integer primary key, updated_at {declared})")
    sqlite_sql(
        path, f"insert into orders values (1, {at})", f"insert into orders values (3, {earlier})"
    )
    table = TableConfig(
        name="orders", primary_key=["id"], cursor="updated_at", mode="incremental", query=query
    )
    source = SourceConfig(name="shop", kind="sqlite", connection={"url": str(url)}, tables=[table])

    def load_and_reconcile_sqlite():
        reader = SqlSource(url)
        load = ingest_table(source, table, reader=reader,
                            landing=LandingStore(str(tmp_path / "landing")),
                            warehouse=warehouse, batch_rows=2)  # fmt: skip
        target = load_target(source, table)
        outcome = reconcile(table, load, source=reader, warehouse=warehouse, target=target)
        return load.manifest.row_count, outcome

    landed, first = load_and_reconcile_sqlite()
    assert (landed, first.passed) == (2, True), first.description
    # Committed after the load, with the watermark's own value.
    sqlite_sql(path, f"insert into orders values (2, {same_later})")
    landed, boundary = load_and_reconcile_sqlite()
    assert (landed, boundary.passed) == (2, True), boundary.description  # rows 1 and 2
    assert warehouse.query("select id from raw_shop.orders order by id") == [(1,), (2,), (3,)]
    landed, again = load_and_reconcile_sqlite()
    assert (landed, again.passed) == (2, True), again.description


def test_duplicate_keys_are_caught(mariadb, tmp_path) -> None:
    url, con = mariadb
    # A view over a table without a key: the configured primary key is not unique.
    run_sql(
        con,
        "create table items_raw (sku varchar(10), qty int)",
        "insert into items_raw values ('a', 1), ('b', 2), ('b', 3), ('c', 4), ('c', 5), ('c', 6)",
        "create view items as select * from items_raw",
    )
    table = TableConfig(name="items", primary_key=["sku"])
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        _, outcome = load_and_reconcile(url, table, warehouse, tmp_path / "landing")
        target = load_target(shop(url, table), table)
        # The source's duplicates are named; the raw table keeps one row per key.
        assert not outcome.passed
        assert "the source holds 6 rows, the warehouse 3 (3 missing)" in outcome.description
        assert outcome.metadata["source_duplicate_keys"] == "sku='c' (3 rows); sku='b' (2 rows)"
        assert duplicate_keys(warehouse, target).passed

        # A raw table written before loads kept one row per key.
        warehouse.execute("insert into raw_shop.items select * from raw_shop.items")
        warehouse.execute("insert into raw_shop.items select * from raw_shop.items where sku = 'c'")
        unique = duplicate_keys(warehouse, target)
    assert not unique.passed
    assert unique.metadata["duplicated_keys"] == 3
    assert unique.metadata["surplus_rows"] == 5
    assert "3 primary key(s) appear more than once, e.g. sku='c' (4 rows); sku='a' (2 rows)" in (
        unique.description
    )


def test_duplicate_source_keys_block_the_run(mariadb, state_dir, tmp_path) -> None:
    url, con = mariadb
    run_sql(
        con,
        "create table items (sku varchar(10), qty int)",
        "insert into items values ('a', 1), ('a', 2)",
    )
    config_dir = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, config_dir)
    for path in (config_dir / "sources").glob("*.yaml"):
        path.unlink()
    (config_dir / "sources" / "shop.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "shop",
                "kind": "mysql",
                "connection": {"url": url.render_as_string()},
                "tables": [{"name": "items", "primary_key": ["sku"]}],
            }
        )
    )
    for path in (*(config_dir / "exports").glob("*.yaml"), config_dir / "teams.yaml"):
        path.unlink()
    defs = build_definitions(load_project(config_dir))
    key = dg.AssetKey(["raw", "shop", "items"])
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[key], raise_on_error=False
    )
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["unique_primary_key"].passed  # the raw table keeps one row per key
    reconciliation = evaluations["reconciliation"]
    assert not reconciliation.passed
    assert reconciliation.metadata["source_duplicate_keys"].value == "sku='a' (2 rows)"
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "blocking asset check failed" in failure.step_failure_data.error.message


def test_freshness_of_the_last_load_and_of_the_data(orders, tmp_path) -> None:
    url, _ = orders
    target = load_target(shop(url, ORDERS), ORDERS)
    hour = timedelta(hours=1)
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        never = freshness(warehouse, target, max_load_age=hour, scopes=[""], now=datetime.now(UTC))
        assert not never.passed
        assert never.description == "raw_shop.orders: never loaded: (whole table)"

        load_and_reconcile(url, ORDERS, warehouse, tmp_path / "landing")
        now = datetime.now(UTC)
        fresh = freshness(warehouse, target, max_load_age=hour, scopes=[""], now=now)
        assert fresh.passed, fresh.description

        later = now + timedelta(hours=2)
        stale = freshness(warehouse, target, max_load_age=hour, scopes=[""], now=later)
        assert not stale.passed
        assert "last loaded 2h ago (limit 1h)" in stale.description

        # loaded just now, but the newest row is from 2024: the data itself is stale
        old_data = freshness(
            warehouse,
            target,
            max_load_age=hour,
            max_data_age=timedelta(days=2),
            cursor="updated_at",
            scopes=[""],
            now=now,
        )
        assert not old_data.passed
        assert "last loaded" not in old_data.description
        assert "newest updated_at is" in old_data.description
        assert old_data.metadata["newest_cursor"] == "2024-05-01T12:00:00+00:00"

        # The source's timestamps without a zone are Tokyo's: the newest row (12:00 there,
        # 03:00 UTC) is 2 hours old at 05:00 UTC. Read as UTC it was 7 hours in the future,
        # and the data passed however stale.
        at_five = datetime(2024, 5, 1, 5, tzinfo=UTC)
        in_tokyo = dict(max_load_age=timedelta(days=9999), max_data_age=hour,
                        cursor="updated_at", scopes=[""], now=at_five)  # fmt: skip
        assert freshness(warehouse, target, **in_tokyo).passed  # the default reads them as UTC
        tokyo = freshness(warehouse, target, data_timezone="Asia/Tokyo", **in_tokyo)
        assert not tokyo.passed
        assert tokyo.metadata["newest_cursor"] == "2024-05-01T03:00:00+00:00"
        assert "newest updated_at is 2h old (limit 1h)" in tokyo.description

        # a partition never loaded makes a partitioned table stale
        partitions = freshness(warehouse, target, max_load_age=hour, scopes=["", "acme"], now=now)
        assert not partitions.passed and partitions.description.endswith("never loaded: acme")


def test_the_data_age_of_a_date_cursor(mariadb, warehouse, tmp_path) -> None:
    """A date cursor's newest day was never judged: a table whose newest row was from 2020
    passed `max_data_age: 1d` a year on, its day only shown in the metadata. A day's data is
    as old as the end of that day, in the source's data_timezone."""
    url, con = mariadb
    run_sql(
        con,
        "create table daily (id int primary key, day date, v int)",
        "insert into daily values (1, '2024-05-01', 1), (2, '2024-05-02', 2)",
    )
    table = TableConfig(name="daily", primary_key=["id"], cursor="day", mode="incremental",
                        checks={"max_data_age": "1d"})  # fmt: skip
    load_and_reconcile(url, table, warehouse, tmp_path / "landing")
    target = load_target(shop(url, table), table)

    def judged(now: datetime, zone: str = "UTC"):
        return freshness(warehouse, target, max_load_age=timedelta(days=9999),
                         max_data_age=timedelta(days=1), cursor="day", scopes=[""], now=now,
                         data_timezone=zone)  # fmt: skip

    # The 2nd of May is over at midnight: a day later it is a day old, and no more.
    fresh = judged(datetime(2024, 5, 3, 23, 0, tzinfo=UTC))
    assert fresh.passed, fresh.description
    assert fresh.metadata["newest_cursor"] == "2024-05-02"
    assert fresh.metadata["data_age_seconds"] == 23 * 3600
    stale = judged(datetime(2024, 5, 4, 1, 0, tzinfo=UTC))
    assert not stale.passed
    assert stale.description == "raw_shop.daily: newest day is 1d old (limit 1d)"
    assert stale.metadata["data_age_seconds"] == 25 * 3600
    # Tokyo's 2nd of May ended at 15:00 UTC: at 16:00 UTC on the 3rd it is 25 hours old.
    assert judged(datetime(2024, 5, 3, 16, 0, tzinfo=UTC)).passed
    tokyo = judged(datetime(2024, 5, 3, 16, 0, tzinfo=UTC), "Asia/Tokyo")
    assert not tokyo.passed
    assert tokyo.metadata["data_age_seconds"] == 25 * 3600
    # A table that holds no cursor value has no data to call fresh (it passed).
    warehouse.execute("delete from raw_shop.daily")
    empty = judged(datetime(2024, 5, 3, 23, 0, tzinfo=UTC))
    assert empty.description == "raw_shop.daily: the table holds no day value"


def test_the_data_age_of_a_cursor_that_tells_no_time_fails_saying_so(
    mariadb, warehouse, tmp_path
) -> None:
    """An integer (or text) cursor tells no time: `max_data_age` on it passed whatever the
    data's age, silently. The check now fails, naming the table, the column and its type."""
    url, con = mariadb
    run_sql(
        con,
        "create table events (id int primary key, seq bigint)",
        "insert into events values (1, 10), (2, 20)",
    )
    table = TableConfig(name="events", primary_key=["id"], cursor="seq", mode="incremental",
                        checks={"max_data_age": "1d"})  # fmt: skip
    load_and_reconcile(url, table, warehouse, tmp_path / "landing")
    outcome = freshness(
        warehouse,
        load_target(shop(url, table), table),
        max_load_age=timedelta(days=1),
        max_data_age=timedelta(days=1),
        cursor="seq",
        scopes=[""],
        now=datetime.now(UTC),
    )
    assert not outcome.passed
    assert outcome.description == (
        "raw_shop.events: checks.max_data_age cannot judge the cursor seq (int64): only a "
        "timestamp or date tells how old the data is; remove checks.max_data_age from table "
        "events (its loads' age is checked all the same)"
    )


def test_the_data_age_of_each_tenant(mariadb, warehouse, tmp_path) -> None:
    """The data age of a tenant-scoped table was its newest cursor over all tenants: a tenant
    whose data stopped in 2020 passed `max_data_age: 1h` while another's was a minute old.
    Each active tenant's rows are judged, as each one's loads are."""
    url, con = mariadb
    run_sql(
        con,
        "create table events (id int primary key, tenant varchar(10), updated_at datetime)",
        "insert into events values (1, '1', '2020-01-01 00:00:00'), "
        "(2, '2', '2024-05-01 11:59:00'), (3, '3', '2024-05-01 10:30:00')",
    )
    table = TableConfig(name="events", primary_key=["id"], cursor="updated_at",
                        mode="incremental", tenant_column="tenant",
                        checks={"max_data_age": "1h"})  # fmt: skip
    tenants = [Tenant(id=i, alias=f"t{i}") for i in (1, 2, 3, 4)]
    source, reader = shop(url, table), SqlSource(url)
    for key in ("1", "2", "3", "4"):  # tenant 4 has no rows yet
        ingest_table(source, table, reader=reader, landing=LandingStore(str(tmp_path)),
                     warehouse=warehouse, batch_rows=10,
                     where=slice_for(table, key, tenants, source="shop"))  # fmt: skip

    def judged(scopes: list[str]):
        return freshness(warehouse, load_target(source, table), max_load_age=timedelta(days=1),
                         max_data_age=timedelta(hours=1), cursor="updated_at", scopes=scopes,
                         now=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))  # fmt: skip

    assert judged(["2"]).passed
    stale = judged(["1", "2", "3", "4"])
    assert not stale.passed
    assert stale.description == (
        "raw_shop.events: newest updated_at over 1h old for tenants 1 (1582.5d), 3 (1.5h); "
        "tenant 4 holds no updated_at value"
    )
    assert stale.metadata["stale_tenants"] == "1, 3"
    assert stale.metadata["tenants_without_data"] == "4"
    assert stale.metadata["newest_cursor"] == "2020-01-01T00:00:00+00:00"  # the stalest's


# --- a failure is remembered until its rows are compared again ---------------------------
def checked_load(url, table: TableConfig, loads, *, full_refresh=False, where=None):
    """A load into `loads`' warehouse, and its reconciliation as the raw asset runs it."""
    warehouse, landing = loads
    source, reader = shop(url, table), SqlSource(url)
    load = ingest_table(source, table, reader=reader, landing=landing, warehouse=warehouse,
                        batch_rows=2, full_refresh=full_refresh, where=where)  # fmt: skip
    target = load.target.spelled_as([name for name, _ in load.outcome.columns])
    return load, reconcile(table, load, source=reader, warehouse=warehouse, target=target)


def lost_as_loaded(warehouse, row: str) -> None:
    """A row of raw_shop.orders (`row`: its predicate) lost behind the loader's back as its
    last load wrote it: the count that load recorded beside its watermark lacks it, so the
    next load reads from the watermark (a row deleted later, by hand, makes it read whole)."""
    warehouse.execute(f"delete from raw_shop.orders where {row}")
    as_loaded(warehouse, "orders")


def remembered(warehouse) -> list[tuple]:
    return [
        tuple(row)
        for row in warehouse.query(
            "select scope, value, load_id from _tributary.reconcile_failures order by scope"
        )
    ]


PLAIN = TableConfig(name="orders", primary_key=["id"], cursor="updated_at", mode="incremental")


def orders_at(con, *times: datetime) -> None:
    """The source's orders table, a row (ids from 1) at each of `times`."""
    run_sql(con, "create table orders (id int primary key, updated_at datetime(6))")
    for key, at in enumerate(times, start=1):
        run_sql(con, "insert into orders values (%s, %s)", params=(key, at))


def test_a_row_deleted_at_the_watermark_fails_every_check_until_a_full_refresh(
    mariadb, loads
) -> None:
    """The row at the watermark hard-deleted in the source: the next loads' checks failed
    (their window starts there), and the first load whose window had moved past it passed,
    though the raw table still held it: the export gate, reading the latest evaluation,
    published it. The failure stays until a check compares those rows again and finds them
    right."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0, T0 + timedelta(seconds=1))
    assert checked_load(url, PLAIN, loads)[1].passed
    run_sql(con, "delete from orders where id = 2")
    deleted, failed = checked_load(url, PLAIN, loads)
    assert not failed.passed and "(1 extra)" in failed.description
    # A count of one row too many may be two deleted rows and a row lost (a probe with a busy
    # writer saw "146 extra", deletes alone named, 699 rows being stale): it says so.
    assert "the count is net: rows it lacks or holds at an older value" in failed.description
    assert remembered(warehouse) == [("", "2024-05-01T12:00:01", deleted.manifest.load_id)]

    for n in (3, 4):  # new rows move the window past the deleted one's
        run_sql(con, "insert into orders values (%s, %s)", params=(n, T0 + timedelta(seconds=n)))
        load, check = checked_load(url, PLAIN, loads)
        assert not check.passed, check.description
        # compared from where the failure was found, up to this load's highest cursor
        assert check.metadata["window"] == (
            f"updated_at 2024-05-01T12:00:01 to 2024-05-01T12:00:0{n}"
        )
        assert f"the source holds {n - 2} row" in check.description
        assert f"the warehouse {n - 1} (1 extra)" in check.description
        assert f"first found by the check of load {deleted.manifest.load_id}" in check.description
        assert "full_refresh: true" in check.description
    assert load.since == T0 + timedelta(seconds=3)  # its own window alone would pass
    assert check.metadata["load_window"] == "updated_at 2024-05-01T12:00:03 to 2024-05-01T12:00:04"
    assert remembered(warehouse) == [("", "2024-05-01T12:00:01", deleted.manifest.load_id)]

    _, check = checked_load(url, PLAIN, loads, full_refresh=True)
    assert check.passed, check.description
    assert remembered(warehouse) == []
    run_sql(con, "insert into orders values (5, %s)", params=(T0 + timedelta(seconds=5),))
    assert checked_load(url, PLAIN, loads)[1].passed


def test_a_row_missing_from_a_window_fails_until_it_is_loaded(mariadb, loads) -> None:
    """A row missing from the warehouse inside a load's window (lost behind the loader's
    back, or committed into the window after its read): the next load's window started past
    it, and its check passed, the row never read again. Now each check compares from where
    the failure was found, and passes once the row is back (the source touched it, and a
    load merged it)."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0, T0 + timedelta(minutes=1))
    assert checked_load(url, PLAIN, loads)[1].passed
    run_sql(con, "insert into orders values (3, %s)", params=(T0 + timedelta(minutes=2),))
    second, _ = checked_load(url, PLAIN, loads)
    lost_as_loaded(warehouse, "id = 2")
    target = second.target.spelled_as([name for name, _ in second.outcome.columns])
    lost = reconcile(PLAIN, second, source=SqlSource(url), warehouse=warehouse, target=target)
    assert not lost.passed and "(1 missing)" in lost.description
    assert remembered(warehouse) == [("", "2024-05-01T12:01:00", second.manifest.load_id)]

    run_sql(con, "insert into orders values (4, %s)", params=(T0 + timedelta(minutes=3),))
    third, check = checked_load(url, PLAIN, loads)
    assert third.since == T0 + timedelta(minutes=2)
    assert not check.passed
    assert "the source holds 3 rows, the warehouse 2 (1 missing)" in check.description
    assert remembered(warehouse) == [("", "2024-05-01T12:01:00", second.manifest.load_id)]

    touched = T0 + timedelta(minutes=4)
    run_sql(con, "update orders set updated_at = %s where id = 2", params=(touched,))
    _, check = checked_load(url, PLAIN, loads)
    assert check.passed, check.description
    assert check.metadata["window"] == "updated_at 2024-05-01T12:01:00 to 2024-05-01T12:04:00"
    assert remembered(warehouse) == []
    run_sql(con, "insert into orders values (5, %s)", params=(T0 + timedelta(minutes=5),))
    _, check = checked_load(url, PLAIN, loads)
    assert check.passed
    assert check.metadata["window"] == "updated_at 2024-05-01T12:04:00 to 2024-05-01T12:05:00"


def test_a_failure_is_remembered_per_tenant(mariadb, warehouse, tmp_path) -> None:
    """A tenant's failure fails that tenant's later checks only; the others' pass."""
    url, con = mariadb
    run_sql(con, "create table orders (id int primary key, tenant varchar(10), "
                 "updated_at datetime(6))")  # fmt: skip
    run_sql(con, "insert into orders values (1, 'a', %s), (2, 'b', %s)", params=(T0, T0))
    table = TableConfig(name="orders", primary_key=["id"], cursor="updated_at",
                        mode="incremental", tenant_column="tenant")  # fmt: skip
    tenants = [Tenant(id="a", alias="ta"), Tenant(id="b", alias="tb")]
    loads = (warehouse, LandingStore(str(tmp_path / "landing")))

    def tenant_load(key: str):
        where = slice_for(table, key, tenants, source="shop")
        return checked_load(url, table, loads, where=where)[1]

    assert tenant_load("a").passed and tenant_load("b").passed
    run_sql(con, "delete from orders where id = 1")
    assert not tenant_load("a").passed
    run_sql(con, "insert into orders values (3, 'a', %s), (4, 'b', %s)",
            params=(T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)))  # fmt: skip
    later = tenant_load("a")
    assert not later.passed and "(1 extra)" in later.description
    assert tenant_load("b").passed
    assert [scope for scope, *_ in remembered(warehouse)] == ["a"]


class Uncounted:
    """A source that reads but cannot count itself (as Salesforce): its loads are compared
    with their landed files."""

    def __init__(self, url) -> None:
        self.reader = SqlSource(url)

    def read(self, table, **kwargs):
        return self.reader.read(table, **kwargs)


def test_a_failure_compared_with_landed_files_stands_until_a_full_refresh(mariadb, loads) -> None:
    """Landed files hold the load's own rows only: a later check cannot reach back to the
    failed window, so it fails while the failure stands, saying so and the way out."""
    url, con = mariadb
    warehouse, landing = loads
    source = shop(url, PLAIN)

    def uncounted_load(*, full_refresh=False):
        reader = Uncounted(url)
        load = ingest_table(source, PLAIN, reader=reader, landing=landing, warehouse=warehouse,
                            batch_rows=2, full_refresh=full_refresh)  # fmt: skip
        target = load.target.spelled_as([name for name, _ in load.outcome.columns])
        return load, reconcile(PLAIN, load, source=reader, warehouse=warehouse, target=target)

    orders_at(con, T0, T0 + timedelta(seconds=1))
    assert uncounted_load()[1].passed
    run_sql(con, "insert into orders values (3, %s)", params=(T0 + timedelta(seconds=2),))
    second, _ = uncounted_load()
    lost_as_loaded(warehouse, "id = 2")
    target = second.target.spelled_as([name for name, _ in second.outcome.columns])
    lost = reconcile(PLAIN, second, source=Uncounted(url), warehouse=warehouse, target=target)
    assert not lost.passed and "the landed files hold 2 rows, the warehouse 1" in lost.description

    run_sql(con, "insert into orders values (4, %s)", params=(T0 + timedelta(seconds=4),))
    _, check = uncounted_load()
    assert not check.passed
    assert check.metadata["window"] == "updated_at 2024-05-01T12:00:02 to 2024-05-01T12:00:04"
    assert check.description.startswith(
        "raw_shop.orders: 2 rows in updated_at 2024-05-01T12:00:02 to 2024-05-01T12:00:04 "
        "match the landed files, but the rows from 2024-05-01T12:00:01 do not yet: first found "
        f"by the check of load {second.manifest.load_id} (at "
    )
    assert check.description.endswith(
        "no check has compared them since (the landed files hold this load's rows only); the "
        "check fails until one finds those rows right: a run with `full_refresh: true` reads "
        "the table whole"
    )
    assert check.metadata["first_failed_load"] == second.manifest.load_id

    _, refreshed = uncounted_load(full_refresh=True)
    assert refreshed.passed, refreshed.description
    assert remembered(warehouse) == []


def test_a_late_check_of_an_older_load_keeps_a_newer_loads_failure(mariadb, loads) -> None:
    """Two runs overlap: the first's load commits, then the second's; the second's check
    finds a row missing, and the first's check, late, ran over its own window, which reached
    the failure's lower end only: it passed and forgot the failure, the row lost for good.
    Now the late check compares the failed window whole, and the failure stays."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0)
    assert checked_load(url, PLAIN, loads)[1].passed
    run_sql(con, "insert into orders values (2, %s)", params=(T0 + timedelta(minutes=1),))
    first, _ = checked_load(url, PLAIN, loads)  # its check comes late, below
    run_sql(con, "insert into orders values (3, %s), (4, %s)",
            params=(T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)))  # fmt: skip
    second, _ = checked_load(url, PLAIN, loads)
    lost_as_loaded(warehouse, "id = 3")  # lost in its window
    target = second.target.spelled_as([name for name, _ in second.outcome.columns])
    lost = reconcile(PLAIN, second, source=SqlSource(url), warehouse=warehouse, target=target)
    assert not lost.passed and "(1 missing)" in lost.description
    assert remembered(warehouse) == [("", "2024-05-01T12:01:00", second.manifest.load_id)]

    late = reconcile(PLAIN, first, source=SqlSource(url), warehouse=warehouse, target=target)
    assert not late.passed, late.description
    assert late.metadata["window"] == "updated_at 2024-05-01T12:00:00 to 2024-05-01T12:03:00"
    assert late.metadata["load_window"] == "updated_at 2024-05-01T12:00:00 to 2024-05-01T12:01:00"
    assert "(1 missing)" in late.description
    # found from further back: remembered from there, up to the newer failure's end
    assert remembered(warehouse) == [("", "2024-05-01T12:00:00", first.manifest.load_id)]

    run_sql(con, "insert into orders values (5, %s)", params=(T0 + timedelta(minutes=4),))
    _, check = checked_load(url, PLAIN, loads)
    assert not check.passed and "(1 missing)" in check.description
    run_sql(
        con, "update orders set updated_at = %s where id = 3", params=(T0 + timedelta(minutes=5),)
    )
    _, check = checked_load(url, PLAIN, loads)
    assert check.passed, check.description
    assert remembered(warehouse) == []


def test_a_late_passing_check_forgets_only_the_failure_it_read(mariadb, loads) -> None:
    """A check that read a failure, compared its window and found it right, forgets it; one
    written by another check meanwhile (its rows not compared) stays."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0, T0 + timedelta(minutes=1))
    first, check = checked_load(url, PLAIN, loads)
    assert check.passed
    target = first.target.spelled_as([name for name, _ in first.outcome.columns])
    read = ReconcileFailure("updated_at", T0, "w", "one missing", "read-by-the-check",
                            datetime.now(UTC), T0 + timedelta(minutes=1))  # fmt: skip
    newer = replace(read, load_id="written-meanwhile")
    warehouse.record_reconcile_failure(target, newer, whole=False)
    warehouse.record_reconcile_failure(target, None, whole=False, read=read)
    assert remembered(warehouse) == [("", "2024-05-01T12:00:00", "written-meanwhile")]
    warehouse.record_reconcile_failure(target, None, whole=False, read=newer)
    assert remembered(warehouse) == []


@pytest.fixture(params=["postgres", "redshift"])
def two_runs(request, tmp_path):
    """Two warehouses on one PostgreSQL database (Redshift's played by it), as two runs'
    checks hold two connections. DuckDB has one writer process per file: nothing races."""
    from tests.integration.redshift_fake import RecordingRedshift
    from tributary.warehouse.redshift.warehouse import RedshiftWarehouse

    postgres = request.getfixturevalue("postgres")
    if request.param == "postgres":
        with PostgresWarehouse(postgres) as one, PostgresWarehouse(postgres) as other:
            yield one, other
    else:
        first, second = (RecordingRedshift(postgres, None, iam_role=COPY_ROLE) for _ in "ab")
        with (
            RedshiftWarehouse(lambda: first, iam_role=COPY_ROLE) as one,
            RedshiftWarehouse(lambda: second, iam_role=COPY_ROLE) as other,
        ):
            yield one, other


def test_two_checks_recording_a_failure_at_once(two_runs) -> None:
    """Two checks of one scope recording a failure at once: the second's insert met the
    first's uncommitted row (UniqueViolation on reconcile_failures_pkey, a raw driver error),
    and the earlier failure point could be lost. Now they take turns under the table's lock,
    and the failure kept reaches from the earlier point to the later end."""
    one, other = two_runs
    source = SourceConfig(name="shop", kind="mysql", connection={"url": "mysql://x@h/db"},
                          tables=[PLAIN])  # fmt: skip
    target = load_target(source, PLAIN)
    for warehouse in two_runs:
        warehouse.ensure_state()
    one.execute("create schema raw_shop")
    one.execute("create table raw_shop.orders (id int primary key, updated_at timestamp)")
    early = ReconcileFailure("updated_at", T0 - timedelta(hours=1), "w", "1 extra", "B",
                             datetime.now(UTC), T0)  # fmt: skip
    late = replace(early, since=T0, until=T0 + timedelta(hours=1), load_id="A")
    inserted, released = threading.Event(), threading.Event()
    execute = one.execute

    def held_open(sql, *args, **kwargs):  # the first check pauses before its commit
        result = execute(sql, *args, **kwargs)
        if sql.startswith("insert into _tributary.reconcile_failures"):
            inserted.set()
            released.wait(10)
        return result

    one.execute = held_open
    first = threading.Thread(target=one.record_reconcile_failure, args=(target, late),
                             kwargs={"whole": False})  # fmt: skip
    first.start()
    assert inserted.wait(10)
    threading.Timer(1.0, released.set).start()  # the second check's record waits meanwhile
    other.record_reconcile_failure(target, early, whole=False)
    first.join(10)
    held = other.reconcile_failure(target)
    assert held is not None
    assert (held.load_id, held.since, held.until) == ("B", T0 - timedelta(hours=1),
                                                      T0 + timedelta(hours=1))  # fmt: skip


# --- a load whose check never ran owes its window a comparison --------------------------
def unchecked_load(url, table: TableConfig, loads, **kwargs):
    """A load that commits, and whose run is killed (or whose reply is lost, and Dagster
    retries it) before its reconciliation runs."""
    warehouse, landing = loads
    return ingest_table(shop(url, table), table, reader=SqlSource(url), landing=landing,
                        warehouse=warehouse, batch_rows=2, **kwargs)  # fmt: skip


def test_a_load_whose_check_never_ran_is_compared_by_the_next_check(mariadb, loads) -> None:
    """A run killed after its load committed, before the load's check: the next load reads
    from the new watermark, and its check compared its own window only, so a row committed
    late into the killed load's window (or lost there in the warehouse) passed every later
    check. Now the load's own transaction records its window as owed a comparison; its check
    forgets it, and while it stands the next check reaches back to it."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0, T0 + timedelta(minutes=1))
    assert checked_load(url, PLAIN, loads)[1].passed
    assert remembered(warehouse) == []  # the load's check forgot what its load owed

    run_sql(con, "insert into orders values (3, %s)", params=(T0 + timedelta(minutes=2),))
    killed = unchecked_load(url, PLAIN, loads)
    assert killed.since == T0 + timedelta(minutes=1)
    assert remembered(warehouse) == [("", "2024-05-01T12:01:00", killed.manifest.load_id)]
    # what the export gate reads: the load's rows are in the warehouse, not checked
    [unchecked] = warehouse.owed_loads([("shop", "orders"), ("shop", "other")])
    assert (unchecked.source, unchecked.table, unchecked.scope, unchecked.load_id) == (
        "shop", "orders", "", killed.manifest.load_id)  # fmt: skip
    assert abs(unchecked.committed_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert warehouse.owed_loads([("shop", "other")]) == []
    # committed late at the source, with a cursor value inside the killed load's window
    run_sql(con, "insert into orders values (4, %s)", params=(T0 + timedelta(seconds=90),))

    run_sql(con, "insert into orders values (5, %s)", params=(T0 + timedelta(minutes=3),))
    load, check = checked_load(url, PLAIN, loads)
    assert load.since == T0 + timedelta(minutes=2)  # its own window alone would pass
    assert not check.passed, check.description
    assert check.metadata["window"] == "updated_at 2024-05-01T12:01:00 to 2024-05-01T12:03:00"
    assert check.metadata["load_window"] == "updated_at 2024-05-01T12:02:00 to 2024-05-01T12:03:00"
    assert "the source holds 4 rows, the warehouse 3 (1 missing)" in check.description
    assert (
        f"the window reaches back over load {killed.manifest.load_id}'s window (updated_at "
        "2024-05-01T12:01:00 to 2024-05-01T12:02:00), committed at " in check.description
    )
    assert check.description.endswith(": its check did not run")
    assert check.metadata["unchecked_load"] == killed.manifest.load_id
    # now a failure this check found, remembered from the unchecked window's start
    assert remembered(warehouse) == [("", "2024-05-01T12:01:00", load.manifest.load_id)]
    assert warehouse.reconcile_failure(load.target).owed is False
    assert warehouse.owed_loads([("shop", "orders")]) == []  # checked, and failed

    run_sql(con, "insert into orders values (6, %s)", params=(T0 + timedelta(minutes=4),))
    _, check = checked_load(url, PLAIN, loads)
    assert not check.passed and "(1 missing)" in check.description
    # the source touches the row: a load merges it, and the window is found right
    run_sql(con, "update orders set updated_at = %s where id = 4",
            params=(T0 + timedelta(minutes=5),))  # fmt: skip
    _, check = checked_load(url, PLAIN, loads)
    assert check.passed, check.description
    assert check.metadata["window"] == "updated_at 2024-05-01T12:01:00 to 2024-05-01T12:05:00"
    assert remembered(warehouse) == []
    run_sql(con, "insert into orders values (7, %s)", params=(T0 + timedelta(minutes=6),))
    _, check = checked_load(url, PLAIN, loads)
    assert check.passed
    assert check.metadata["window"] == "updated_at 2024-05-01T12:05:00 to 2024-05-01T12:06:00"


def test_a_retried_load_and_a_deleted_row_in_an_unchecked_window(mariadb, loads) -> None:
    """A step whose load committed but whose reply was lost is retried: the retry reads from
    the new watermark. Both loads' windows are owed until one check compares them; a row
    deleted at the source inside the first keeps the checks failing until a full_refresh."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0)
    assert checked_load(url, PLAIN, loads)[1].passed
    run_sql(con, "insert into orders values (2, %s), (3, %s)",
            params=(T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)))  # fmt: skip
    lost_reply = unchecked_load(url, PLAIN, loads)
    run_sql(con, "delete from orders where id = 2")
    run_sql(con, "insert into orders values (4, %s)", params=(T0 + timedelta(minutes=3),))
    retried = unchecked_load(url, PLAIN, loads)  # killed too: two windows owed, held as one
    [(_, since, owed_by)] = remembered(warehouse)
    assert (since, owed_by) == ("2024-05-01T12:00:00", lost_reply.manifest.load_id)
    assert warehouse.reconcile_failure(retried.target).until == T0 + timedelta(minutes=3)

    run_sql(con, "insert into orders values (5, %s)", params=(T0 + timedelta(minutes=4),))
    _, check = checked_load(url, PLAIN, loads)
    assert not check.passed and "(1 extra)" in check.description
    assert check.metadata["window"] == "updated_at 2024-05-01T12:00:00 to 2024-05-01T12:04:00"
    _, check = checked_load(url, PLAIN, loads, full_refresh=True)
    assert check.passed, check.description
    assert remembered(warehouse) == []


def test_a_load_that_fails_owes_nothing(mariadb, loads) -> None:
    """The owed comparison is written in the load's transaction: a load that fails after
    writing it (its connection lost before the commit) rolls it back with its rows."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0)
    first, check = checked_load(url, PLAIN, loads)
    assert check.passed
    run_sql(con, "insert into orders values (2, %s)", params=(T0 + timedelta(minutes=1),))
    execute = warehouse.execute

    def dropped_after_owing(sql, *args, **kwargs):
        execute(sql, *args, **kwargs)
        if sql.startswith("insert into _tributary.reconcile_failures"):
            raise RuntimeError("the connection dropped before the commit")

    warehouse.execute = dropped_after_owing
    with pytest.raises(RuntimeError, match="dropped before the commit"):
        unchecked_load(url, PLAIN, loads)
    warehouse.execute = execute
    assert remembered(warehouse) == []
    assert warehouse.watermark(first.target) == T0
    assert rows_of(warehouse) == [(1,)]


def rows_of(warehouse) -> list[tuple]:
    return [tuple(row) for row in warehouse.query("select id from raw_shop.orders order by id")]


def test_an_unchecked_load_compared_with_landed_files_fails_until_a_full_refresh(
    mariadb, loads
) -> None:
    """A source that cannot count itself: a later check cannot reach back to a window whose
    check never ran, and says so, until a check compares the table whole."""
    url, con = mariadb
    warehouse, landing = loads
    source = shop(url, PLAIN)

    def uncounted_load(*, check=True, full_refresh=False):
        reader = Uncounted(url)
        load = ingest_table(source, PLAIN, reader=reader, landing=landing, warehouse=warehouse,
                            batch_rows=2, full_refresh=full_refresh)  # fmt: skip
        if not check:
            return load, None
        target = load.target.spelled_as([name for name, _ in load.outcome.columns])
        return load, reconcile(PLAIN, load, source=reader, warehouse=warehouse, target=target)

    orders_at(con, T0, T0 + timedelta(seconds=1))
    assert uncounted_load()[1].passed
    assert remembered(warehouse) == []
    run_sql(con, "insert into orders values (3, %s)", params=(T0 + timedelta(seconds=2),))
    killed, _ = uncounted_load(check=False)
    run_sql(con, "insert into orders values (4, %s)", params=(T0 + timedelta(seconds=4),))
    _, check = uncounted_load()
    assert not check.passed
    assert check.description.startswith(
        "raw_shop.orders: 2 rows in updated_at 2024-05-01T12:00:02 to 2024-05-01T12:00:04 "
        "match the landed files, but the rows from 2024-05-01T12:00:01 were never compared: "
        f"load {killed.manifest.load_id}'s window (updated_at 2024-05-01T12:00:01 to "
        "2024-05-01T12:00:02), committed at "
    )
    assert "no check has compared them since" in check.description
    assert "`full_refresh: true`" in check.description
    assert check.metadata["unchecked_load"] == killed.manifest.load_id
    _, refreshed = uncounted_load(full_refresh=True)
    assert refreshed.passed, refreshed.description
    assert remembered(warehouse) == []


def test_an_unchecked_full_refresh_and_an_unchecked_tenant_load(mariadb, warehouse, tmp_path):
    """What a load owes is its scope's, as a failure is: another tenant's checks pass. A whole
    load's window (a full_refresh's) is owed up to the highest cursor value it landed, so the
    next incremental check reaches back to the first row and, finding it right, forgets it."""
    url, con = mariadb
    run_sql(con, "create table orders (id int primary key, tenant varchar(10), "
                 "updated_at datetime(6))")  # fmt: skip
    run_sql(con, "insert into orders values (1, 'a', %s), (2, 'b', %s)", params=(T0, T0))
    table = TableConfig(name="orders", primary_key=["id"], cursor="updated_at",
                        mode="incremental", tenant_column="tenant")  # fmt: skip
    tenants = [Tenant(id="a", alias="ta"), Tenant(id="b", alias="tb")]
    loads = (warehouse, LandingStore(str(tmp_path / "landing")))

    def where(key: str):
        return slice_for(table, key, tenants, source="shop")

    assert checked_load(url, table, loads, where=where("a"))[1].passed
    assert checked_load(url, table, loads, where=where("b"))[1].passed
    refreshed = unchecked_load(url, table, loads, where=where("a"), full_refresh=True)
    owed = warehouse.reconcile_failure(refreshed.target)
    assert owed is not None and owed.owed
    assert (owed.since, owed.until, owed.window) == (None, T0, "partition a")
    assert [scope for scope, *_ in remembered(warehouse)] == ["a"]

    run_sql(con, "insert into orders values (3, 'a', %s), (4, 'b', %s)",
            params=(T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)))  # fmt: skip
    _, other = checked_load(url, table, loads, where=where("b"))
    assert other.passed and "unchecked_load" not in other.metadata
    assert [scope for scope, *_ in remembered(warehouse)] == ["a"]
    _, check = checked_load(url, table, loads, where=where("a"))
    assert check.passed, check.description
    assert check.metadata["window"] == "partition a, updated_at … to 2024-05-01T12:01:00"
    assert check.metadata["unchecked_load"] == refreshed.manifest.load_id
    assert remembered(warehouse) == []


def test_a_warehouse_whose_failures_table_predates_owed_windows(mariadb, loads) -> None:
    """A warehouse that ran the release before owed windows holds
    _tributary.reconcile_failures without its `kind` column, and a failure recorded then:
    `create table if not exists` left the table as it was, and every load's insert of its owed
    window failed. The state's columns are added where missing; the old record is a failure."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0, T0 + timedelta(minutes=1))
    checked_load(url, PLAIN, loads)
    warehouse.execute("delete from _tributary.reconcile_failures")
    warehouse.execute("alter table _tributary.reconcile_failures drop column kind")
    warehouse.execute(
        "insert into _tributary.reconcile_failures values ('shop', 'orders', '', 'updated_at', "
        "'timestamp', '2024-05-01T12:01:00', 'timestamp', '2024-05-01T12:01:00', "
        "'updated_at from 2024-05-01T12:01:00', '1 missing', '20240501T120100Z-old', "
        "'2024-05-01 12:01:00+00')"
    )
    assert warehouse.owed_loads([("shop", "orders")]) == []  # as the export gate reads it
    warehouse.ensure_state()

    run_sql(con, "insert into orders values (3, %s)", params=(T0 + timedelta(minutes=2),))
    _, check = checked_load(url, PLAIN, loads)
    assert check.passed, check.description  # reached back to 12:01, and found the rows right
    assert check.metadata["window"] == "updated_at 2024-05-01T12:01:00 to 2024-05-01T12:02:00"
    assert remembered(warehouse) == []


def test_a_load_of_a_row_from_the_future_owes_no_comparison_after_its_check(mariadb, loads) -> None:
    """A row stamped 2099: the watermark stops at the source's clock, and so does the window
    the check compares in the source. The window the load's commit records as owed ended at
    2099, which no check's window could hold whole: it stood after the check passed, and every
    later check reached back to it."""
    url, con = mariadb
    warehouse, _ = loads
    orders_at(con, T0, datetime(2099, 1, 1))
    _, check = checked_load(url, PLAIN, loads)
    assert check.passed, check.description
    assert remembered(warehouse) == []
    run_sql(con, "insert into orders values (3, %s)", params=(T0 + timedelta(minutes=1),))
    _, check = checked_load(url, PLAIN, loads)
    assert check.passed, check.description
    assert "unchecked_load" not in check.metadata
    assert remembered(warehouse) == []
