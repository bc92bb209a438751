"""Loads under ordinary operations, on DuckDB and PostgreSQL against a real MariaDB: an empty
read, rows whose cursor is NULL, columns that vanish from the source, keys the source holds
twice, and a raw table that already holds a key twice."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from sqlalchemy.engine import URL, make_url

from tributary.config.loader import load_project
from tributary.config.models import SourceConfig, TableConfig, Tenant
from tributary.defs import build_definitions
from tributary.errors import (
    NullCursorError,
    NullKeyError,
    SchemaDriftError,
    SourceError,
    WarehouseError,
)
from tributary.ingest import (
    FUTURE_CURSOR_ROWS,
    NULL_CURSOR_EXCLUDED,
    future_cursor_warning,
    ingest_table,
    load_from_inbox,
    load_target,
    with_load_columns,
)
from tributary.landing import LandingStore
from tributary.reconcile import reconcile
from tributary.slices import partition_keys, slice_for
from tributary.sources import SqlSource

from ..conftest import BatchesReader
from .conftest import as_loaded, run_sql

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, 0)


def at(minute: int) -> datetime:
    return T0.replace(minute=minute)


def shop(url, table: TableConfig, **source) -> SourceConfig:
    return SourceConfig(
        name="shop",
        kind="postgres" if url.get_backend_name() == "postgresql" else "mysql",
        connection={"url": url.render_as_string()},
        tables=[table],
        **source,
    )


def load(url, table: TableConfig, warehouse, tmp_path, **source):
    """One load through the whole path, and its reconciliation with the source."""
    return landed_load(url, table, warehouse, LandingStore(str(tmp_path / "landing")), **source)


def landed_load(
    url, table: TableConfig, warehouse, landing, where=None, full_refresh=False, **source
):
    """load, landing in `landing` (Redshift's stand-in COPYs from S3), of the partition
    `where` if given."""
    config = shop(url, table, **source)
    reader = SqlSource(url)
    result = ingest_table(
        config, table, reader=reader, landing=landing, warehouse=warehouse, batch_rows=2,
        where=where, full_refresh=full_refresh,
    )  # fmt: skip
    check = reconcile(
        table,
        result,
        source=reader,
        warehouse=warehouse,
        target=load_target(config, table, where),
    )
    return result, check


def rows(warehouse, sql: str) -> list[tuple]:
    return [tuple(row) for row in warehouse.query(sql)]


def watermark(warehouse) -> list[tuple]:
    return rows(warehouse, "select value, load_id from _tributary.watermarks")


ORDERS = TableConfig(name="orders", primary_key=["id"], cursor="updated_at", mode="incremental")
ITEMS = TableConfig(name="items", primary_key=["id"])


@pytest.fixture
def orders(mariadb):
    url, con = mariadb
    run_sql(
        con, "create table orders (id int primary key, status varchar(20), updated_at datetime)"
    )
    return url, con


# --- 1. an empty read -------------------------------------------------------------------------
def test_an_empty_full_table_replaces_the_raw_table_with_an_empty_one(
    mariadb, warehouse, tmp_path
) -> None:
    url, con = mariadb
    run_sql(con, "create table items (id int primary key, name varchar(10))")
    empty, check = load(url, ITEMS, warehouse, tmp_path)
    assert empty.manifest.row_count == 0 and empty.outcome.rows_in_table == 0
    assert check.passed, check.description
    assert rows(warehouse, "select count(*) from raw_shop.items") == [(0,)]

    run_sql(con, "insert into items values (1, 'a'), (2, 'b')")
    assert load(url, ITEMS, warehouse, tmp_path)[0].outcome.rows_in_table == 2
    run_sql(con, "delete from items")  # the source's truth is now an empty table
    emptied, check = load(url, ITEMS, warehouse, tmp_path)
    assert emptied.outcome.rows_loaded == 0 and emptied.outcome.rows_in_table == 0
    assert check.passed, check.description


def test_an_empty_incremental_read_leaves_table_and_watermark(orders, warehouse, tmp_path) -> None:
    url, con = orders
    for _ in range(2):  # an empty table, loaded twice
        empty, check = load(url, ORDERS, warehouse, tmp_path)
        assert empty.manifest.row_count == 0 and empty.outcome.watermark is None
        assert check.passed, check.description

    run_sql(con, "insert into orders values (1, 'new', %s), (2, 'new', %s)", params=(T0, at(5)))
    load(url, ORDERS, warehouse, tmp_path)
    before = rows(warehouse, "select id, status, updated_at from raw_shop.orders order by id")
    mark = watermark(warehouse)

    # The row at the watermark is deleted: the next read (updated_at >= :05) finds nothing.
    run_sql(con, "delete from orders where id = 2")
    nothing, check = load(url, ORDERS, warehouse, tmp_path)
    assert nothing.manifest.row_count == 0 and nothing.outcome.rows_loaded == 0
    after = rows(warehouse, "select id, status, updated_at from raw_shop.orders order by id")
    assert after == before
    assert watermark(warehouse) == mark
    # No cursor sees a hard delete; reconciliation does, in the window the load read.
    assert not check.passed
    assert "the source holds 0 rows, the warehouse 1 (1 extra)" in check.description
    # and says the way back (before: the count alone, which a rerun failed again)
    assert "a run with `full_refresh: true` reads it whole" in check.description


def test_an_empty_table_materializes_with_zero_rows_and_passing_checks(
    mariadb, tmp_path, monkeypatch
) -> None:
    url, con = mariadb
    run_sql(con, "create table items (id int primary key, name varchar(10))")
    run_sql(con, "create table orders (id int primary key, updated_at datetime)")
    config = tmp_path / "assets_config"
    (config / "sources").mkdir(parents=True)
    (config / "platform.yaml").write_text("warehouse: {target: duckdb}\n")
    tables = [ITEMS.model_dump(exclude_defaults=True), ORDERS.model_dump(exclude_defaults=True)]
    source = {"name": "shop", "kind": "mysql", "connection": {"url": url.render_as_string()}}
    (config / "sources" / "shop.yaml").write_text(yaml.safe_dump({**source, "tables": tables}))
    monkeypatch.setenv("TRIBUTARY_STATE_DIR", str(tmp_path / "state"))
    defs = build_definitions(load_project(config))

    raw = [dg.AssetKey(["raw", "shop", name]) for name in ("items", "orders")]
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=raw
    )
    assert result.success
    for event in result.get_asset_materialization_events():
        assert event.materialization.metadata["rows_loaded"].value == 0
        assert event.materialization.metadata["dagster/row_count"].value == 0
    evaluations = result.get_asset_check_evaluations()
    assert {(e.asset_key.path[-1], e.check_name) for e in evaluations} >= {
        ("items", "reconciliation"),
        ("orders", "reconciliation"),
        ("orders", "unique_primary_key"),
    }
    assert all(e.passed for e in evaluations), [e.description for e in evaluations]


def test_a_key_and_cursor_named_in_upper_case_load_and_check_on_every_warehouse(
    mariadb, tmp_path, monkeypatch, warehouse_config
) -> None:
    """Configured as the source spells them (ID, UPDATED_AT), the columns arrive as id and
    updated_at (an all-upper-case name is case-insensitive in the source, and lower case in
    the raw table). Before, PostgreSQL's merge asked for "ID": the first load failed."""
    url, con = mariadb
    run_sql(
        con, "create table ORDERS (ID int primary key, STATUS varchar(10), UPDATED_AT datetime)"
    )
    run_sql(con, "insert into ORDERS values (1, 'new', %s), (2, 'new', %s)", params=(T0, T0))
    config = tmp_path / "assets_config"
    (config / "sources").mkdir(parents=True)
    (config / "platform.yaml").write_text(yaml.safe_dump({"warehouse": warehouse_config}))
    orders = {"name": "orders", "object": "ORDERS", "primary_key": ["ID"], "cursor": "UPDATED_AT",
              "mode": "incremental", "checks": {"checksum": ["ID", "STATUS"]}}  # fmt: skip
    source = {"name": "shop", "kind": "mysql", "connection": {"url": url.render_as_string()}}
    (config / "sources" / "shop.yaml").write_text(yaml.safe_dump({**source, "tables": [orders]}))
    monkeypatch.setenv("TRIBUTARY_STATE_DIR", str(tmp_path / "state"))
    project = load_project(config)
    defs = build_definitions(project)
    job = defs.resolve_implicit_global_asset_job_def()

    def materialize() -> list[str]:
        result = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey(["raw", "shop", "orders"])],
            raise_on_error=False,
        )
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        evaluations = result.get_asset_check_evaluations()
        failed = [e.description for e in evaluations if not e.passed]
        assert not failed, failed
        return sorted(e.check_name for e in evaluations)

    assert materialize() == ["freshness", "reconciliation", "schema_drift", "unique_primary_key"]
    run_sql(con, "update ORDERS set STATUS = 'paid', UPDATED_AT = %s where ID = 1", params=(at(1),))
    run_sql(con, "insert into ORDERS values (3, 'new', %s)", params=(at(1),))
    materialize()
    with project.warehouse.open() as wh:
        assert rows(wh, "select id, status from raw_shop.orders order by id") == [
            (1, "paid"),
            (2, "new"),
            (3, "new"),
        ]


# --- 3. rows whose cursor is NULL ---------------------------------------------------------------
def test_null_cursor_fails_by_default_naming_table_column_and_rows(
    orders, warehouse, tmp_path
) -> None:
    url, con = orders
    run_sql(
        con,
        "insert into orders values (1, 'new', %s), (2, 'new', null), (3, 'x', null)",
        params=(T0,),
    )
    with pytest.raises(NullCursorError, match=r"table 'orders': 2 row\(s\) have a NULL updated_at"):
        load(url, ORDERS, warehouse, tmp_path)
    assert not warehouse.table_exists("raw_shop", "orders")
    assert watermark(warehouse) == []


def test_null_cursor_include_rereads_and_merges_them(orders, warehouse, tmp_path) -> None:
    url, con = orders
    table = ORDERS.model_copy(update={"null_cursor": "include"})
    run_sql(con, "insert into orders values (1, 'new', %s), (2, 'new', null)", params=(T0,))
    _, check = load(url, table, warehouse, tmp_path)
    assert check.passed, check.description

    # a NULL-cursor row changes and a new one arrives: neither moves the cursor
    run_sql(con, "update orders set status = 'paid' where id = 2")
    run_sql(con, "insert into orders values (3, 'new', null)")
    second, check = load(url, table, warehouse, tmp_path)
    assert check.passed, check.description
    assert rows(warehouse, "select id, status, updated_at from raw_shop.orders order by id") == [
        (1, "new", T0),
        (2, "paid", None),
        (3, "new", None),
    ]
    assert second.outcome.watermark == T0


def test_null_cursor_exclude_skips_and_counts_them(orders, warehouse, tmp_path) -> None:
    url, con = orders
    table = ORDERS.model_copy(update={"null_cursor": "exclude"})
    run_sql(con, "insert into orders values (1, 'new', %s), (2, 'new', null)", params=(T0,))
    result, check = load(url, table, warehouse, tmp_path)
    assert result.manifest.counters[NULL_CURSOR_EXCLUDED] == 1
    assert check.passed, check.description  # the window leaves NULL cursors out on both sides
    assert rows(warehouse, "select id from raw_shop.orders") == [(1,)]


class SourceOrders(NamedTuple):
    url: URL
    sql: Callable[..., list[tuple]]  # runs statements, returns the last one's rows
    nulls: list[str]  # the values its driver reads as a NULL cursor: NULL, MariaDB's zero date
    now: str  # the source's clock, as its sessions stamp a time without a zone


@pytest.fixture(params=["mariadb", "postgres"])
def any_orders(request) -> SourceOrders:
    """An orders table whose updated_at (a time without a zone) may be NULL, in a fresh MariaDB
    or PostgreSQL database."""
    if request.param == "mariadb":
        url, con = request.getfixturevalue("mariadb")

        def sql(*statements: str) -> list[tuple]:
            with con.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                return list(cursor.fetchall())

        nulls, now, kind = ["null", "'0000-00-00 00:00:00'"], "now(6)", "datetime(6)"
    else:
        url = make_url(request.getfixturevalue("postgres"))
        pg = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        request.addfinalizer(pg.close)

        def sql(*statements: str) -> list[tuple]:
            for statement in statements:
                cursor = pg.execute(statement)
            return cursor.fetchall() if cursor.description else []

        nulls, now, kind = ["null"], "localtimestamp", "timestamp"
    sql(f"create table orders (id int primary key, status varchar(20), updated_at {kind} null)")
    return SourceOrders(url, sql, nulls, now)


def null_cursor_rows_after_a_first_load(any_orders, warehouse, landing, table) -> int:
    """A first load of one row; then rows whose cursor the driver reads as NULL, with ids from
    2, and one at 13:00 (id 9). Returns how many read as NULL."""
    url, sql, nulls, _ = any_orders
    sql(f"insert into orders values (1, 'new', '{T0}')")
    _, check = landed_load(url, table, warehouse, landing)
    assert check.passed, check.description
    values = ", ".join(f"({i}, 'new', {value})" for i, value in enumerate(nulls, start=2))
    sql(f"insert into orders values {values}, (9, 'new', '{T0.replace(hour=13)}')")
    return len(nulls)


def test_null_cursor_rows_after_the_first_load_fail_the_next_by_default(any_orders, loads):
    """`cursor >= watermark` never reads a NULL: before, rows whose cursor was NULL (or a
    MariaDB zero date) written after the first load were never seen, and the default `fail`
    never failed: the source held 4 rows, the warehouse 2, every check passing."""
    url = any_orders.url
    warehouse, landing = loads
    nulls = null_cursor_rows_after_a_first_load(any_orders, warehouse, landing, ORDERS)
    mark = watermark(warehouse)

    with pytest.raises(NullCursorError, match=rf"table 'orders': {nulls} row\(s\) have a NULL "):
        landed_load(url, ORDERS, warehouse, landing)
    assert rows(warehouse, "select id from raw_shop.orders") == [(1,)]  # nothing written
    assert watermark(warehouse) == mark


@pytest.mark.parametrize("policy", ["exclude", "include"])
def test_null_cursor_rows_after_the_first_load_follow_the_policy_every_load(
    any_orders, loads, policy
):
    """`exclude` counts them on every load (before: never, as no read found them), `include`
    merges them; reconciliation's window leaves them out or takes them in to match."""
    url = any_orders.url
    warehouse, landing = loads
    table = ORDERS.model_copy(update={"null_cursor": policy})
    nulls = null_cursor_rows_after_a_first_load(any_orders, warehouse, landing, table)

    for _ in range(2):  # the second load reads nothing new
        result, check = landed_load(url, table, warehouse, landing)
        assert check.passed, check.description
        loaded = [(1,), (9,)] + ([(i,) for i in range(2, 2 + nulls)] if policy == "include" else [])
        assert rows(warehouse, "select id from raw_shop.orders order by id") == sorted(loaded)
        excluded = result.manifest.counters.get(NULL_CURSOR_EXCLUDED, 0)
        assert excluded == (nulls if policy == "exclude" else 0)
        assert result.outcome.watermark == T0.replace(hour=13)


def test_a_new_cursor_column_reads_the_table_again_instead_of_the_old_watermark(
    mariadb, warehouse, tmp_path
) -> None:
    """A table first loaded by `created_at`, then (its updates were missed) by `updated_at`.
    Before, the second load read from created_at's watermark: the update of row 1, older than
    it, stayed missed, and reconciliation passed (its window starts at the same watermark)."""
    url, con = mariadb
    run_sql(con, "create table orders (id int primary key, status varchar(20), "
                 "created_at datetime, updated_at datetime)")  # fmt: skip
    run_sql(con, "insert into orders values (1, 'new', %s, %s), (2, 'new', %s, %s)",
            params=(at(0), at(0), at(20), at(20)))  # fmt: skip
    by_created = ORDERS.model_copy(update={"cursor": "created_at"})
    load(url, by_created, warehouse, tmp_path)
    run_sql(con, "update orders set status = 'paid', updated_at = %s where id = 1",
            params=(at(10),))  # fmt: skip

    second, check = load(url, ORDERS, warehouse, tmp_path)  # cursor: updated_at

    assert check.passed, check.description
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
        (1, "paid"),
        (2, "new"),
    ]
    assert second.outcome.watermark == at(20)
    assert rows(warehouse, "select cursor_column, value from _tributary.watermarks") == [
        ("updated_at", at(20).isoformat())
    ]


def test_a_full_refresh_brings_back_what_no_cursor_sees(orders, warehouse, tmp_path) -> None:
    """A row deleted in the source, and a value changed without its cursor (a Salesforce
    formula field; a fix run straight in the database): incremental loads keep the old rows
    and values. A full refresh replaces the table, and the watermark goes on from it."""
    url, con = orders
    run_sql(con, "insert into orders values (1, 'new', %s), (2, 'new', %s), (3, 'new', %s)",
            params=(at(0), at(10), at(20)))  # fmt: skip
    load(url, ORDERS, warehouse, tmp_path)
    run_sql(con, "delete from orders where id = 2")
    run_sql(con, "update orders set status = 'fixed' where id = 1")  # its cursor unchanged
    load(url, ORDERS, warehouse, tmp_path)
    stale = [(1, "new"), (2, "new"), (3, "new")]
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == stale

    config = shop(url, ORDERS)
    refreshed = ingest_table(config, ORDERS, reader=SqlSource(url), warehouse=warehouse,
                             landing=LandingStore(str(tmp_path / "landing")), batch_rows=2,
                             full_refresh=True)  # fmt: skip
    check = reconcile(ORDERS, refreshed, source=SqlSource(url), warehouse=warehouse,
                      target=load_target(config, ORDERS))  # fmt: skip

    assert check.passed, check.description
    assert refreshed.manifest.mode == "full" and refreshed.since is None
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
        (1, "fixed"),
        (3, "new"),
    ]
    assert refreshed.outcome.watermark == at(20)
    run_sql(con, "insert into orders values (4, 'new', %s)", params=(at(30),))
    after, _ = load(url, ORDERS, warehouse, tmp_path)  # incremental again, from the watermark
    assert (after.since, after.manifest.row_count) == (at(20), 2)


def test_a_full_refresh_sets_the_watermark_to_what_it_read(orders, warehouse, tmp_path) -> None:
    """A cursor written wrong in the source (a clock in 2099) set the watermark there. Mended
    in the source, a full refresh read the table whole, but the watermark never went back:
    every incremental load after it read nothing, and new rows were never loaded. Silent."""
    url, con = orders
    run_sql(con, "insert into orders values (1, 'new', %s), (2, 'new', '2099-01-01')",
            params=(at(0),))  # fmt: skip
    load(url, ORDERS, warehouse, tmp_path)
    run_sql(con, "update orders set updated_at = %s where id = 2", params=(at(10),))
    config = shop(url, ORDERS)
    refreshed = ingest_table(config, ORDERS, reader=SqlSource(url), warehouse=warehouse,
                             landing=LandingStore(str(tmp_path / "landing")), batch_rows=2,
                             full_refresh=True)  # fmt: skip
    assert refreshed.outcome.watermark == at(10)
    run_sql(con, "insert into orders values (3, 'new', %s)", params=(at(20),))
    _, check = load(url, ORDERS, warehouse, tmp_path)
    assert check.passed, check.description
    assert rows(warehouse, "select id from raw_shop.orders order by id") == [(1,), (2,), (3,)]


def test_a_cursor_from_the_future_stops_no_later_load(any_orders, loads) -> None:
    """One row stamped 2099 (a server whose clock is wrong, a bad import) set the watermark to
    2099: every later load read `>= 2099` and found nothing new, and reconciliation passed (its
    window held that row alone), the table stuck for good, a full refresh sticking it again
    until the source row was mended. The watermark now stops at the source's clock, read
    before each read; the row past it is read again by every load, counted and warned of."""
    url, sql, _, now = any_orders
    warehouse, landing = loads
    sql(f"insert into orders values (1, 'new', {now}), (2, 'new', '2099-01-01 00:00:00')")
    first, check = landed_load(url, ORDERS, warehouse, landing)
    [(clock,)] = sql(f"select {now}")
    assert check.passed, check.description

    sql(f"update orders set status = 'paid', updated_at = {now} where id = 1",
        f"insert into orders values (3, 'new', {now})")  # fmt: skip
    for full_refresh in (False, True):
        later, check = landed_load(url, ORDERS, warehouse, landing, full_refresh=full_refresh)
        assert check.passed, check.description
        assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
            (1, "paid"),
            (2, "new"),
            (3, "new"),
        ]
        assert later.outcome.watermark <= sql(f"select {now}")[0][0]
        assert later.manifest.counters[FUTURE_CURSOR_ROWS] == 1
    assert first.outcome.watermark <= clock
    assert first.manifest.counters[FUTURE_CURSOR_ROWS] == 1
    warning = future_cursor_warning(later)
    assert warning.startswith(
        "table 'orders': 1 row(s) have a updated_at later than the source's clock ("
    )
    assert "up to 2099-01-01T00:00:00: the watermark stops at the clock" in warning
    assert "fix their updated_at in the source" in warning


def test_a_watermark_recorded_past_the_clock_is_brought_back_by_the_next_load(
    orders, warehouse, tmp_path
) -> None:
    """Recorded before watermarks stopped at the clock: the next load read from there (the row
    from the future alone) and its watermark went back to the clock, past every row changed
    meanwhile, lost for good, every check green. Where the source was read to is not known: the
    next load reads the table whole, saying why, and the load after it reads on."""
    url, con = orders
    run_sql(con, "insert into orders values (1, 'new', now()), (2, 'new', '2099-01-01')")
    load(url, ORDERS, warehouse, tmp_path)
    warehouse.execute("update _tributary.watermarks set value = '2099-01-01T00:00:00'")
    run_sql(con, "update orders set status = 'paid', updated_at = now() where id = 1",
            "insert into orders values (4, 'new', now())")  # fmt: skip
    back, _ = load(url, ORDERS, warehouse, tmp_path)
    assert back.since is None and back.outcome.watermark.year < 2099
    assert "its watermark (2099-01-01 00:00:00) lies past the source's clock" in back.whole_because
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
        (1, "paid"), (2, "new"), (4, "new")]  # fmt: skip
    # a second on: the column holds whole seconds, the clock microseconds
    run_sql(con, "insert into orders values (3, 'new', now() + interval 1 second)")
    _, check = load(url, ORDERS, warehouse, tmp_path)
    assert check.passed, check.description
    assert rows(warehouse, "select id from raw_shop.orders order by id") == [(1,), (2,), (3,), (4,)]


def test_an_inbox_drop_of_a_row_from_the_future_stops_no_later_load(orders, loads) -> None:
    """A (whole) drop holding a row stamped 2099 set the watermark there (a drop has no source
    clock): the next load from the source read from 2099 and took its watermark back to the
    clock, past the rows changed meanwhile, lost for good, every check green. A drop's
    watermark now stops at the time it was extracted, as a load's at the source's clock."""
    url, con = orders
    warehouse, landing = loads
    run_sql(con, "insert into orders values (1, 'new', now()), (2, 'new', now())")
    landed_load(url, ORDERS, warehouse, landing)
    run_sql(con, "update orders set updated_at = '2099-01-01' where id = 1")
    extracted = datetime.now(UTC)
    read = SqlSource(url).read(ORDERS, since=None, batch_rows=2, where=None)
    inbox = landing.inbox()
    inbox.land(
        with_load_columns(read.batches, load_id="drop-1", extracted_at=extracted),
        source="shop", table="orders", load_id="drop-1", mode="full",
        extracted_at=extracted, cursor="updated_at", scope="", counters=read.counters,
        part_rows=2,
    )  # fmt: skip
    dropped = load_from_inbox(shop(url, ORDERS), ORDERS, "drop-1", inbox=inbox, warehouse=warehouse)
    assert dropped.outcome.watermark <= extracted.replace(tzinfo=None) + timedelta(days=1)
    time.sleep(1.1)  # the cursor holds whole seconds: changes made in a later one than the drop

    run_sql(con, "update orders set status = 'paid', updated_at = now() where id = 2",
            "insert into orders values (3, 'new', now())")  # fmt: skip
    _, check = landed_load(url, ORDERS, warehouse, landing)
    assert check.passed, check.description
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
        (1, "new"), (2, "paid"), (3, "new")]  # fmt: skip


def test_a_partial_inbox_drop_leaves_the_watermark_source_loads_read_from(orders, loads) -> None:
    """An incremental drop holds the rows its tool chose, not every row changed up to its
    newest: it moved the watermark to its newest row, so the next load from the source read
    from there and never read a change made at the source before it and not in the drop, every
    check green (reconciliation compares the load's window, which began there too). A drop now
    leaves the watermark where the source's last load put it."""
    url, con = orders
    warehouse, landing = loads
    run_sql(con, "insert into orders values (1, 'new', now()), (2, 'new', now())")
    first, _ = landed_load(url, ORDERS, warehouse, landing)
    time.sleep(1.1)  # the cursor holds whole seconds: each change in a second of its own
    run_sql(con, "update orders set status = 'paid', updated_at = now() where id = 2")
    time.sleep(1.1)
    run_sql(con, "update orders set status = 'shipped', updated_at = now() where id = 1")
    extracted = datetime.now(UTC)
    read = SqlSource(url).read(ORDERS, since=None, batch_rows=2, where=None)
    row_1 = pa.Table.from_batches(list(read.batches)).filter(pc.field("id") == 1)
    inbox = landing.inbox()
    inbox.land(
        with_load_columns(row_1.to_reader(), load_id="drop-1", extracted_at=extracted),
        source="shop", table="orders", load_id="drop-1", mode="incremental",
        extracted_at=extracted, cursor="updated_at", scope="", counters=read.counters,
        part_rows=2,
    )  # fmt: skip
    dropped = load_from_inbox(shop(url, ORDERS), ORDERS, "drop-1", inbox=inbox, warehouse=warehouse)
    assert dropped.outcome.watermark == first.outcome.watermark

    later, check = landed_load(url, ORDERS, warehouse, landing)
    assert check.passed, check.description
    assert later.since == first.outcome.watermark
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
        (1, "shipped"), (2, "paid")]  # fmt: skip


def test_an_inbox_drop_of_a_column_with_no_type_loads_its_nulls(orders, loads) -> None:
    """A partner's drop written by pandas from a column that held only None this time has no
    type (Arrow's null). PostgreSQL and Redshift failed the load with a bare
    `DatatypeMismatch: column "amount" is of type numeric but expression is of type text`; its
    NULLs are now the table's column's type."""
    url, con = orders
    warehouse, landing = loads
    run_sql(con, "alter table orders add column amount decimal(10, 2)",
            "insert into orders values (1, 'new', now(), 5), (2, 'new', now(), 7)")  # fmt: skip
    landed_load(url, ORDERS, warehouse, landing)
    before = warehouse.recorded_schema(load_target(shop(url, ORDERS), ORDERS))
    extracted = datetime.now(UTC)
    dropped = pa.table({"id": pa.array([2, 3], pa.int32()), "status": ["paid", "new"],
                        "updated_at": pa.array([extracted.replace(tzinfo=None)] * 2),
                        "amount": pa.nulls(2)})  # fmt: skip
    inbox = landing.inbox()
    inbox.land(
        with_load_columns(dropped.to_reader(), load_id="drop-1", extracted_at=extracted),
        source="shop", table="orders", load_id="drop-1", mode="incremental",
        extracted_at=extracted, cursor="updated_at", scope="", counters={}, part_rows=2,
    )  # fmt: skip
    load_from_inbox(shop(url, ORDERS), ORDERS, "drop-1", inbox=inbox, warehouse=warehouse)
    assert rows(warehouse, "select id, status, amount from raw_shop.orders order by id") == [
        (1, "new", Decimal("5.00")), (2, "paid", None), (3, "new", None)]  # fmt: skip
    assert warehouse.recorded_schema(load_target(shop(url, ORDERS), ORDERS)) == before


def test_an_inbox_drop_without_the_load_columns_is_refused_naming_them(orders, loads) -> None:
    """A tool's Parquet (DMS's) lacks the columns every raw row carries: it loaded with NULL
    `_load_id`, `_extracted_at` and `_deleted`, and the marts' `where not is_deleted` dropped
    every such row without a word. It is now refused before anything is loaded."""
    url, con = orders
    warehouse, landing = loads
    run_sql(con, "insert into orders values (1, 'new', now())")
    landed_load(url, ORDERS, warehouse, landing)
    extracted = datetime.now(UTC)
    dropped = pa.table({"id": pa.array([1, 2], pa.int32()), "status": ["paid", "new"],
                        "updated_at": pa.array([extracted.replace(tzinfo=None)] * 2)})  # fmt: skip
    inbox = landing.inbox()
    inbox.land(
        dropped.to_reader(), source="shop", table="orders", load_id="dms-1", mode="incremental",
        extracted_at=extracted, cursor="updated_at", scope="", counters={}, part_rows=2,
    )  # fmt: skip
    with pytest.raises(SourceError) as refused:
        load_from_inbox(shop(url, ORDERS), ORDERS, "dms-1", inbox=inbox, warehouse=warehouse)
    assert str(refused.value).startswith(
        "inbox load dms-1: its files lack _load_id, _extracted_at, _deleted, which every raw row "
        "carries"
    )
    assert "nothing was loaded" in str(refused.value)
    assert rows(warehouse, "select id, status from raw_shop.orders") == [(1, "new")]


def test_a_date_or_an_instant_from_the_future_is_capped_too(any_orders, warehouse, tmp_path):
    """A date cursor stops at the source's current date, an instant (timestamptz; MySQL's
    TIMESTAMP, read in UTC, which ends in 2038) at its clock's instant."""
    url, sql, _, _ = any_orders
    pg = url.get_backend_name() == "postgresql"
    clock = "select current_date, " + ("now()" if pg else "utc_timestamp(6)")
    instant, future = ("timestamptz", "2099") if pg else ("timestamp(6) null", "2037")
    sql(f"create table events (id int primary key, day date, at_ {instant})",
        "insert into events values (1, current_date, current_timestamp), "
        f"(2, '2099-01-01', '{future}-01-01 00:00:00')")  # fmt: skip
    for cursor in ("day", "at_"):
        table = TableConfig(name=f"events_by_{cursor}", object="events", primary_key=["id"],
                            cursor=cursor, mode="incremental")  # fmt: skip
        loaded, check = load(url, table, warehouse, tmp_path)
        assert check.passed, check.description
        assert loaded.manifest.counters[FUTURE_CURSOR_ROWS] == 1
        [(today, now)] = sql(clock)
        if cursor == "day":
            assert loaded.outcome.watermark == today
        else:
            assert loaded.outcome.watermark <= now.replace(tzinfo=now.tzinfo or UTC)


def test_a_time_without_a_zone_stops_at_the_time_the_sources_sessions_stamp(
    postgres, warehouse, tmp_path
) -> None:
    """A database whose sessions run at UTC+14 stamps `localtimestamp` 14 hours past UTC: its
    rows are the present there, not the future."""
    url = make_url(postgres)
    with psycopg.connect(postgres, autocommit=True) as pg:
        pg.execute(f"alter database {url.database} set timezone = 'Pacific/Kiritimati'")
    with psycopg.connect(postgres, autocommit=True) as pg:  # a session in the new zone
        pg.execute("create table orders (id int primary key, status text, updated_at timestamp)")
        pg.execute("insert into orders values (1, 'new', localtimestamp)")
        [(stamped,)] = pg.execute("select updated_at from orders").fetchall()
    loaded, check = load(url, ORDERS, warehouse, tmp_path)
    assert check.passed, check.description
    assert loaded.outcome.watermark == stamped
    assert FUTURE_CURSOR_ROWS not in loaded.manifest.counters


def test_a_nul_character_in_text_loads_or_names_its_column(mariadb, warehouse, tmp_path) -> None:
    """MySQL text may hold NUL (0x00); PostgreSQL text cannot. PostgreSQL's own error named
    neither Tributary's table nor a way out."""
    url, con = mariadb
    run_sql(con, "create table items (id int primary key, name varchar(20))")
    run_sql(con, "insert into items values (1, concat('a', char(0), 'b'))")
    if warehouse.kind == "duckdb":
        load(url, ITEMS, warehouse, tmp_path)
        assert rows(warehouse, "select name from raw_shop.items") == [("a\x00b",)]
        return
    with pytest.raises(WarehouseError) as raised:
        load(url, ITEMS, warehouse, tmp_path)
    assert str(raised.value) == (
        "table 'items', column 'name': a text value holds the NUL character (0x00), which "
        "PostgreSQL text cannot hold; remove it in the table's `query:` (for example "
        "replace(name, char(0), ''))"
    )


def test_rows_of_the_hour_a_dst_zone_repeats_are_not_missed(orders, warehouse, tmp_path) -> None:
    """An application writing Berlin's local time into a DATETIME: on 27 October 2024 the
    clocks went from 03:00 back to 02:00. A load after 02:50 (summer time) read from there,
    and the rows written at 02:20 an hour later (winter time) were never read."""
    url, con = orders
    first_pass = [datetime(2024, 10, 27, 2, 10), datetime(2024, 10, 27, 2, 50)]
    run_sql(con, "insert into orders values (1, 'new', %s), (2, 'new', %s)", params=first_pass)
    load(url, ORDERS, warehouse, tmp_path, data_timezone="Europe/Berlin")
    run_sql(
        con, "insert into orders values (3, 'new', %s)", params=(datetime(2024, 10, 27, 2, 20),)
    )

    second, check = load(url, ORDERS, warehouse, tmp_path, data_timezone="Europe/Berlin")

    assert second.since == datetime(2024, 10, 27, 1, 50)  # an hour before the watermark
    assert check.passed, check.description
    assert rows(warehouse, "select id from raw_shop.orders order by id") == [(1,), (2,), (3,)]


def test_rows_of_the_hour_the_databases_own_zone_repeats_are_not_missed(
    postgres, warehouse, tmp_path
) -> None:
    """A PostgreSQL database kept in New York's time (`timezone` set on it: the ordinary setup
    of a database in its owner's city), its `timestamp` column stamped by `localtimestamp`,
    `data_timezone` unset. On 3 November 2024 01:00-01:59 happened twice: after a load up to
    01:50 (summer time), the row stamped 01:20 half an hour later (winter time) was never
    read, every check green. The database names its zone: the read starts an hour earlier."""
    url = make_url(postgres)
    with psycopg.connect(postgres, autocommit=True) as pg:
        pg.execute(f"alter database {url.database} set timezone = 'America/New_York'")
    with psycopg.connect(postgres, autocommit=True) as pg:  # a session in the new zone
        pg.execute("create table orders (id int primary key, status text, updated_at timestamp)")
        for id_, instant in [(1, "2024-11-03 01:10-04"), (2, "2024-11-03 01:50-04")]:
            pg.execute(
                "insert into orders values (%s, 'new', cast(%s::timestamptz as timestamp))",
                (id_, instant),
            )
    load(url, ORDERS, warehouse, tmp_path)
    with psycopg.connect(postgres, autocommit=True) as pg:
        pg.execute("insert into orders values (3, 'new', '2024-11-03 01:20-05'::timestamptz)")

    second, check = load(url, ORDERS, warehouse, tmp_path)

    assert second.since == datetime(2024, 11, 3, 0, 50)  # an hour before the watermark
    assert check.passed, check.description
    assert rows(warehouse, "select id from raw_shop.orders order by id") == [(1,), (2,), (3,)]


# --- 4. columns that vanish from the source ----------------------------------------------------
def test_a_renamed_column_is_reported_missing_under_evolve(mariadb, warehouse, tmp_path) -> None:
    url, con = mariadb
    run_sql(con, "create table items (id int primary key, name varchar(10))")
    run_sql(con, "insert into items values (1, 'a')")
    load(url, ITEMS, warehouse, tmp_path)

    run_sql(
        con, "alter table items rename column name to title", "insert into items values (2, 'b')"
    )
    renamed, check = load(url, ITEMS, warehouse, tmp_path)
    assert renamed.outcome.added_columns == ["title"]
    assert renamed.outcome.missing_columns == ["name"]
    assert check.passed, check.description
    assert rows(warehouse, "select id, name, title from raw_shop.items order by id") == [
        (1, None, "a"),
        (2, None, "b"),
    ]


def test_a_column_name_longer_than_the_warehouse_holds_fails_before_writing(
    mariadb, warehouse, tmp_path
) -> None:
    # MariaDB allows 64 characters; PostgreSQL keeps 63 bytes of a name and cut the rest
    # without a word (a later column sharing those 63 bytes then failed as a bare duplicate).
    long_name = "a" * 60 + "_üü"  # 63 characters, 65 bytes in UTF-8
    url, con = mariadb
    run_sql(con, f"create table items (id int primary key, `{long_name}` int)")
    run_sql(con, "insert into items values (1, 7)")
    if warehouse.kind == "duckdb":  # no limit there
        load(url, ITEMS, warehouse, tmp_path)
        assert rows(warehouse, f'select id, "{long_name}" from raw_shop.items') == [(1, 7)]
        return
    with pytest.raises(WarehouseError) as raised:
        load(url, ITEMS, warehouse, tmp_path)
    assert str(raised.value) == (
        f"table 'items', column '{long_name}': the name is 65 bytes long and the postgres "
        "warehouse keeps 63 of a name; alias it in the table's `query:`"
    )
    assert not warehouse.table_exists("raw_shop", "items")


def test_a_column_renamed_only_in_case_fails_the_load_naming_both(
    mariadb, warehouse, tmp_path
) -> None:
    # Before: DuckDB failed with its bare "Column with name "Title" already exists!" (naming no
    # table), on every later load too; PostgreSQL added a second column, the first one NULL
    # from then on. MariaDB, like DuckDB and Redshift, holds them as one name.
    url, con = mariadb
    run_sql(con, "create table items (id int primary key, title varchar(10))")
    run_sql(con, "insert into items values (1, 'a')")
    load(url, ITEMS, warehouse, tmp_path)

    run_sql(con, "alter table items change title Title varchar(10)", "update items set Title='b'")
    with pytest.raises(SchemaDriftError) as raised:
        load(url, ITEMS, warehouse, tmp_path)
    assert str(raised.value) == (
        "table 'items': the source's column 'Title' is the table's column 'title' in another "
        "case; rename one of them to match (alias it in the table's `query:`, or rename the "
        "raw table's column); the table was left as it was"
    )
    assert rows(warehouse, "select id, title from raw_shop.items") == [(1, "a")]


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_renamed_key_column_fails_the_load_and_leaves_the_table(
    mariadb, warehouse, tmp_path, mode
) -> None:
    # Loaded on, the rows would carry NULL keys: a full load would keep one of them, a merge
    # would match none. The load names the table and the key, and writes nothing.
    url, con = mariadb
    table = ORDERS.model_copy(update={"mode": mode})
    run_sql(
        con, "create table orders (id int primary key, status varchar(20), updated_at datetime)"
    )
    run_sql(con, "insert into orders values (1, 'a', %s), (2, 'b', %s)", params=(T0, T0))
    load(url, table, warehouse, tmp_path)
    before = watermark(warehouse)

    run_sql(con, "alter table orders rename column id to order_id")
    run_sql(con, "insert into orders values (3, 'c', %s)", params=(at(1),))
    with pytest.raises(
        SourceError, match=r"tables\[0\]\.primary_key\[0\]: column 'id' not found in 'orders'"
    ):
        load(url, table, warehouse, tmp_path)
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
        (1, "a"),
        (2, "b"),
    ]
    assert watermark(warehouse) == before


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_rows_without_a_key_fail_the_load_and_leave_the_table(
    mariadb, warehouse, tmp_path, mode
) -> None:
    # A source that does not enforce the configured key (a view, a table without the
    # constraint) sends rows whose key is NULL. Loaded, a full load kept one of them and a
    # merge matched none: each incremental load that re-read one added it again, and the
    # reconciliation of the window passed (4 rows in the source, 4 in the table: one row
    # twice, another missing).
    url, con = mariadb
    table = ORDERS.model_copy(update={"mode": mode})
    run_sql(con, "create table orders (id int, status varchar(20), updated_at datetime)")
    run_sql(con, "insert into orders values (1, 'a', %s), (2, 'b', %s)", params=(T0, T0))
    load(url, table, warehouse, tmp_path)
    before = watermark(warehouse)

    run_sql(
        con,
        "insert into orders values (null, 'c', %s), (null, 'd', %s), (3, 'e', %s)",
        params=(at(1), at(1), at(1)),
    )
    with pytest.raises(NullKeyError, match=r"table 'orders': 2 row\(s\) have a NULL id"):
        load(url, table, warehouse, tmp_path)
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
        (1, "a"),
        (2, "b"),
    ]
    assert watermark(warehouse) == before


def test_a_vanished_column_fails_a_frozen_table_before_it_writes(
    mariadb, warehouse, tmp_path
) -> None:
    url, con = mariadb
    table = ITEMS.model_copy(update={"schema_contract": "freeze"})
    run_sql(con, "create table items (id int primary key, name varchar(10), qty int)")
    run_sql(con, "insert into items values (1, 'a', 5)")
    load(url, table, warehouse, tmp_path)

    run_sql(con, "alter table items drop column qty", "insert into items values (2, 'b')")
    with pytest.raises(SchemaDriftError, match=r"table 'items'.*missing: qty.*freeze"):
        load(url, table, warehouse, tmp_path)
    assert rows(warehouse, "select id, name, qty from raw_shop.items") == [(1, "a", 5)]
    # the source's own setting applies to a table that says nothing
    with pytest.raises(SchemaDriftError, match="missing: qty"):
        load(url, ITEMS, warehouse, tmp_path, schema_contract="freeze")


# --- 9. keys the source holds twice ------------------------------------------------------------
def test_duplicate_source_keys_are_named_and_the_last_read_wins(
    mariadb, warehouse, tmp_path
) -> None:
    url, con = mariadb
    # No primary key constraint in the source: the configured key is not enforced there.
    run_sql(con, "create table orders (id int, status varchar(20), updated_at datetime)")
    run_sql(
        con,
        "insert into orders values (1, 'first', %s), (2, 'new', %s), (1, 'second', %s), "
        "(3, 'early', %s), (3, 'late', %s)",
        params=(T0, T0, T0, T0, at(1)),
    )
    for table in (ORDERS, ORDERS.model_copy(update={"mode": "full", "lookback": None})):
        _, check = load(url, table, warehouse, tmp_path)
        assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
            (1, "second"),  # equal cursors: the row read last
            (2, "new"),
            (3, "late"),  # the higher cursor, though read first or last
        ]
        assert not check.passed
        assert "2 missing" in check.description
        assert "id=1 (2 rows); id=3 (2 rows)" in check.description
        assert check.metadata["source_duplicate_keys"] == "id=1 (2 rows); id=3 (2 rows)"


# --- 2. a raw table that already holds a key twice --------------------------------------------
def test_the_next_merge_repairs_keys_held_twice(orders, warehouse, tmp_path) -> None:
    url, con = orders
    run_sql(
        con,
        "insert into orders values (1, 'new', %s), (2, 'new', %s), (3, 'new', %s)",
        params=(T0, T0, at(1)),
    )
    load(url, ORDERS, warehouse, tmp_path)
    # What two unserialized loads left behind before: every row twice.
    warehouse.execute("insert into raw_shop.orders select * from raw_shop.orders")
    as_loaded(warehouse, "orders")
    assert rows(warehouse, "select count(*) from raw_shop.orders") == [(6,)]

    # The next load reads from :01 on: keys 1 and 2 are not in it, and are repaired too.
    run_sql(con, "insert into orders values (4, 'new', %s)", params=(at(2),))
    repaired, check = load(url, ORDERS, warehouse, tmp_path)
    assert repaired.outcome.duplicate_keys_repaired == 2
    assert rows(warehouse, "select id, status from raw_shop.orders order by id") == [
        (1, "new"),
        (2, "new"),
        (3, "new"),
        (4, "new"),
    ]
    assert check.passed, check.description


# --- a source column named as a load column ---------------------------------------------------
@pytest.mark.parametrize(
    ("column", "said"),
    [
        # Before: the raw table's _load_row held the source's values and Tributary's went to
        # _load_row_1 (DuckDB renames a duplicate), so the merge ordered a key's versions by
        # the source's column.
        ("_load_row int", "a column '_load_row', which is one of the load columns"),
        ("_load_id varchar(10)", "a column '_load_id', which is one of the load columns"),
        # Before: "Failed to parse value: Y", naming no column.
        (
            "_deleted varchar(1)",
            "a column '_deleted' (string): a source's _deleted must be boolean",
        ),
    ],
)
def test_a_source_column_named_as_a_load_column_fails_the_load(
    orders, warehouse, tmp_path, column, said
) -> None:
    url, con = orders
    run_sql(con, f"alter table orders add column {column}")
    run_sql(con, "insert into orders values (1, 'new', %s, '7')", params=(T0,))
    full = TableConfig(name="orders", primary_key=["id"])
    with pytest.raises(SourceError, match=re.escape(f"table 'orders': the source has {said}")):
        load(url, full, warehouse, tmp_path)
    assert not warehouse.table_exists("raw_shop", "orders")


# --- a decimal wider than the warehouse holds --------------------------------------------------
def test_a_decimal_wider_than_38_digits_loads_exactly_or_names_its_column(
    mariadb, warehouse, tmp_path
) -> None:
    # PostgreSQL holds it exactly; DuckDB's DECIMAL stops at 38 digits (and reads a wider
    # Parquet decimal as DOUBLE). Before, DuckDB failed with "Not implemented Error:
    # Unsupported Internal Arrow Type for Decimal d:40,5,256", naming no column.
    url, con = mariadb
    run_sql(con, "create table ledger (id int primary key, wide decimal(40, 5))")
    run_sql(con, "insert into ledger values (1, 123456789012345678901234567890123.12345)")
    table = TableConfig(name="ledger", primary_key=["id"])
    if warehouse.kind == "duckdb":
        with pytest.raises(
            TypeError,
            match=r"table 'ledger', column 'wide': DuckDB DECIMAL "
            r"holds at most 38 digits; the source column is decimal256\(40, 5\)",
        ):
            load(url, table, warehouse, tmp_path)
        assert not warehouse.table_exists("raw_shop", "ledger")
    else:
        load(url, table, warehouse, tmp_path)
        [(value,)] = rows(warehouse, "select wide from raw_shop.ledger")
        assert str(value) == "123456789012345678901234567890123.12345"


# --- a cursor no watermark can hold ------------------------------------------------------------
def test_a_binary_cursor_fails_before_landing_with_the_cast_to_use(mariadb, warehouse, tmp_path):
    # SQL Server's rowversion (binary(8)) is the usual change column there. Before: every part
    # was landed, then "unsupported cursor type bytes", naming neither table nor column.
    url, con = mariadb
    run_sql(con, "create table events (id int primary key, version varbinary(8))")
    run_sql(con, "insert into events values (1, x'0000000000000001')")
    table = TableConfig(name="events", primary_key=["id"], cursor="version", mode="incremental")
    with pytest.raises(
        SourceError, match=r"table 'events': the cursor 'version' is (large_)?binary; "
    ):
        load(url, table, warehouse, tmp_path)
    assert not (tmp_path / "landing" / "shop" / "events").exists()


def test_a_text_cursor_the_source_orders_by_a_non_binary_collation_fails_before_reading(
    mariadb, warehouse, tmp_path
) -> None:
    # utf8mb4_general_ci orders 'C' after 'b'; the watermark (the landing's min_max) and the
    # warehouse order by code points, 'C' before 'b'. Before: the watermark was 'b', the next
    # load re-read 'C' (and every upper-case value) again, and reconciliation failed falsely
    # ("1 extra ... rows deleted").
    url, con = mariadb
    run_sql(con, "create table t (id int primary key, c varchar(10))")  # utf8mb4_general_ci
    run_sql(con, "insert into t values (1, 'a'), (2, 'b'), (3, 'C')")
    table = TableConfig(name="t", primary_key=["id"], cursor="c", mode="incremental")
    with pytest.raises(SourceError) as refused:
        load(url, table, warehouse, tmp_path)
    assert str(refused.value) == f"table 't': {TEXT_CURSOR_PROBLEM}"
    assert not (tmp_path / "landing" / "shop" / "t").exists()

    # The way out the error names: the cursor compared by its characters' codes.
    binary = table.model_copy(update={"query": "select id, c collate utf8mb4_bin as c from t"})
    for _ in range(2):
        result, check = load(url, binary, warehouse, tmp_path)
        assert result.outcome.watermark == "b"
        assert check.passed, check.description
    run_sql(con, "alter table t modify c varchar(10) collate utf8mb4_bin")
    # back from the query to the object: another read than the watermark's, read whole once
    result, check = load(url, table, warehouse, tmp_path)
    assert (result.since, result.outcome.rows_loaded) == (None, 3)
    assert check.passed, check.description
    result, check = load(url, table, warehouse, tmp_path)
    assert (result.since, result.outcome.rows_loaded) == ("b", 1)
    assert check.passed, check.description


TEXT_CURSOR_PROBLEM = (
    "the cursor 'c' is text the source compares by its collation utf8mb4_general_ci, which "
    "does not order text by its characters' codes as the watermark and the warehouse do "
    "('C' comes after 'b' there, before it here): loads would read rows again or skip them, "
    "and reconciliation would fail where nothing is wrong; give the column a binary "
    "collation (utf8mb4_bin; SQL Server: a _BIN2 one), read the table through a `query:` "
    "that selects `c collate utf8mb4_bin as c`, or choose another cursor"
)


def test_a_lookback_that_does_not_fit_the_cursor_fails_the_first_load(orders, warehouse, tmp_path):
    # Before, the first load passed (no watermark to subtract from) and every later one failed.
    url, con = orders
    run_sql(con, "insert into orders values (1, 'new', %s)", params=(at(0),))
    by_number = ORDERS.model_copy(update={"lookback": 5})
    with pytest.raises(SourceError, match="lookback 5 does not fit the cursor 'updated_at'"):
        load(url, by_number, warehouse, tmp_path)
    assert not warehouse.table_exists("raw_shop", "orders")


def test_rows_outside_the_partition_a_load_replaces_fail_it(warehouse, tmp_path) -> None:
    """A partition's load replaces only its rows (its key range, its tenant): a row outside
    it (a partner's drop for tenant 1 holding another's, a reader that ignores the range) was
    written all the same, where no later load of that partition replaces it, beside the
    partition's own copy of it."""
    table = TableConfig(name="events", primary_key=["id"],
                        key_ranges={"column": "id", "size": 10, "upper_bound": 20})  # fmt: skip
    first = partition_keys(table, [])[0]
    rows_read = pa.RecordBatch.from_pydict({"id": [3, 15, 27], "kind": ["a", "b", "c"]})
    source = SourceConfig(name="shop", kind="mysql", connection={"url": "mysql://x@h/d"},
                          tables=[table])  # fmt: skip
    with pytest.raises(WarehouseError) as raised:
        ingest_table(source, table, reader=BatchesReader([rows_read]), warehouse=warehouse,
                     landing=LandingStore(str(tmp_path / "landing")), batch_rows=2,
                     where=slice_for(table, first, []))  # fmt: skip
    assert str(raised.value) == (
        f"table 'events': 2 row(s) lie outside the partition {first} it loads; a partition's "
        "load must read its own rows only; nothing was loaded"
    )
    assert not warehouse.table_exists("raw_shop", "events")


def test_a_dropped_raw_table_is_read_whole_by_its_next_load(mariadb, warehouse, tmp_path) -> None:
    # docs/loads.md's way out of a type change is to drop the raw table and load it whole. A
    # plain load run in between (a schedule's tick) read from the watermark its dropped table
    # had reached: the table came back holding only the rows past it, every check passing.
    url, con = mariadb
    run_sql(
        con, "create table orders (id int primary key, status varchar(20), updated_at datetime)"
    )
    run_sql(con, "insert into orders values (1, 'a', %s), (2, 'b', %s)", params=(at(0), at(1)))
    load(url, ORDERS, warehouse, tmp_path)
    run_sql(con, "insert into orders values (3, 'c', %s)", params=(at(2),))
    load(url, ORDERS, warehouse, tmp_path)

    warehouse.execute("drop table raw_shop.orders")
    run_sql(con, "insert into orders values (4, 'd', %s)", params=(at(3),))
    result, check = load(url, ORDERS, warehouse, tmp_path)

    assert result.since is None
    assert result.whole_because == (
        "raw_shop.orders is gone: its watermark (updated_at 2024-05-01 12:02:00) was not used"
    )
    assert rows(warehouse, "select id from raw_shop.orders order by id") == [(1,), (2,), (3,), (4,)]
    assert check.passed


def test_an_emptied_raw_table_is_read_whole_by_its_next_load(mariadb, loads) -> None:
    # Emptied by hand to reload it (`delete from`, the table kept): a load read from the
    # watermark the table had reached and brought back only the rows past it, the rows behind
    # it gone for good, reconciliation and the key check passing (they look at its window).
    url, con = mariadb
    warehouse, landing = loads
    run_sql(
        con, "create table orders (id int primary key, status varchar(20), updated_at datetime)"
    )
    run_sql(con, "insert into orders values (1, 'a', %s), (2, 'b', %s)", params=(at(0), at(1)))
    landed_load(url, ORDERS, warehouse, landing)

    warehouse.execute("delete from raw_shop.orders")
    run_sql(con, "insert into orders values (3, 'c', %s)", params=(at(2),))
    result, check = landed_load(url, ORDERS, warehouse, landing)

    assert result.since is None
    assert result.whole_because == (
        "raw_shop.orders holds no rows: its watermark (updated_at 2024-05-01 12:01:00) was not used"
    )
    assert rows(warehouse, "select id from raw_shop.orders order by id") == [(1,), (2,), (3,)]
    assert check.passed, check.description
    assert result.outcome.watermark == at(2)
    # The next load reads from the watermark again.
    run_sql(con, "insert into orders values (4, 'd', %s)", params=(at(3),))
    result, check = landed_load(url, ORDERS, warehouse, landing)
    assert (result.since, result.whole_because, result.outcome.rows_loaded) == (at(2), None, 2)
    assert check.passed, check.description


def orders_of(con, ids: range, *, create: bool = False) -> None:
    """Orders `ids` in the source, each stamped at(id); `create`: the table first."""
    if create:
        run_sql(
            con, "create table orders (id int primary key, status varchar(20), updated_at datetime)"
        )
    run_sql(
        con,
        "insert into orders values " + ", ".join(["(%s, 'a', %s)"] * len(ids)),
        params=[value for i in ids for value in (i, at(i))],
    )


def test_raw_rows_deleted_by_hand_are_read_again_by_the_next_load(mariadb, loads) -> None:
    """Rows deleted from a raw table by hand (not all: an emptied table was read whole
    already): the next load read from the watermark, the rows behind it gone for good, every
    check passing (they look at the load's window). Probe: 8 rows held against 11."""
    url, con = mariadb
    warehouse, landing = loads
    orders_of(con, range(1, 5), create=True)
    landed_load(url, ORDERS, warehouse, landing)

    warehouse.execute("delete from raw_shop.orders where id in (2, 3)")
    orders_of(con, range(5, 6))
    result, check = landed_load(url, ORDERS, warehouse, landing)

    assert result.since is None
    assert result.whole_because == (
        "raw_shop.orders holds 2 rows, and its last load left 4: rows were deleted or added "
        "outside Tributary's loads (by hand, or a table restored from a backup): its watermark "
        "(updated_at 2024-05-01 12:04:00) was not used"
    )
    assert rows(warehouse, "select id from raw_shop.orders order by id") == [
        (i,) for i in range(1, 6)
    ]
    assert check.passed, check.description
    orders_of(con, range(6, 7))  # the next load reads from the watermark again
    result, check = landed_load(url, ORDERS, warehouse, landing)
    assert (result.since, result.whole_because) == (at(5), None)


def test_a_raw_table_restored_from_an_older_copy_is_read_whole(mariadb, loads) -> None:
    """A DBA restores a raw table from a backup taken before the last loads: its watermark
    (in _tributary, not restored) skipped the rows the backup lacks, every check passing."""
    url, con = mariadb
    warehouse, landing = loads
    orders_of(con, range(1, 3), create=True)
    landed_load(url, ORDERS, warehouse, landing)
    warehouse.execute("create table raw_shop.orders_backup as select * from raw_shop.orders")
    orders_of(con, range(3, 5))
    landed_load(url, ORDERS, warehouse, landing)

    warehouse.execute("delete from raw_shop.orders")
    warehouse.execute("insert into raw_shop.orders select * from raw_shop.orders_backup")
    warehouse.execute("drop table raw_shop.orders_backup")
    orders_of(con, range(5, 6))
    result, check = landed_load(url, ORDERS, warehouse, landing)

    assert result.whole_because.startswith("raw_shop.orders holds 2 rows, and its last load left 4")
    assert rows(warehouse, "select id from raw_shop.orders order by id") == [
        (i,) for i in range(1, 6)
    ]
    assert check.passed, check.description


def test_an_emptied_tenant_partition_is_read_whole_by_its_next_load(mariadb, loads) -> None:
    # One tenant's rows deleted by hand: that tenant's next load reads all of its rows; the
    # other tenant's reads from its own watermark.
    url, con = mariadb
    warehouse, landing = loads
    run_sql(
        con,
        "create table users (id int primary key, company_id int, email varchar(20), "
        "updated_at datetime)",
    )
    run_sql(con, "insert into users values (1, 1, 'a', %s), (2, 1, 'b', %s), (3, 2, 'c', %s)",
            params=(at(0), at(1), at(1)))  # fmt: skip
    users = TableConfig(
        name="users", primary_key=["id"], cursor="updated_at", mode="incremental",
        query="select id, company_id, email, updated_at from users where company_id = :tenant_id",
        tenant_column="company_id",
    )  # fmt: skip
    tenants = [Tenant(id=1, alias="one"), Tenant(id=2, alias="two")]
    one, two = (slice_for(users, key, tenants) for key in partition_keys(users, tenants))
    for where in (one, two):
        landed_load(url, users, warehouse, landing, where=where)

    warehouse.execute("delete from raw_shop.users where _tenant_id = '1'")
    run_sql(con, "insert into users values (4, 1, 'd', %s), (5, 2, 'e', %s)",
            params=(at(2), at(2)))  # fmt: skip
    first, check = landed_load(url, users, warehouse, landing, where=one)
    assert first.since is None
    assert first.whole_because == (
        f"raw_shop.users holds no rows of partition {one.key}: its watermark (updated_at "
        "2024-05-01 12:01:00) was not used"
    )
    assert check.passed, check.description
    second, check = landed_load(url, users, warehouse, landing, where=two)
    assert (second.since, second.whole_because) == (at(1), None)
    assert check.passed, check.description
    assert rows(warehouse, "select id, _tenant_id from raw_shop.users order by id") == [
        (1, "1"), (2, "1"), (3, "2"), (4, "1"), (5, "2")
    ]  # fmt: skip


def test_a_load_that_reads_whole_says_why_in_its_metadata(orders, tmp_path, monkeypatch) -> None:
    """And one that read a cursor from the future, how many such rows and the highest."""
    url, con = orders
    run_sql(con, "insert into orders values (1, 'a', %s)", params=(at(0),))
    config = tmp_path / "assets_config"
    (config / "sources").mkdir(parents=True)
    (config / "platform.yaml").write_text("warehouse: {target: duckdb}\n")
    source = {"name": "shop", "kind": "mysql", "connection": {"url": url.render_as_string()}}
    tables = [ORDERS.model_dump(exclude_defaults=True)]
    (config / "sources" / "shop.yaml").write_text(yaml.safe_dump({**source, "tables": tables}))
    monkeypatch.setenv("TRIBUTARY_STATE_DIR", str(tmp_path / "state"))
    project = load_project(config)
    defs = build_definitions(project)

    def materialize() -> dict:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey(["raw", "shop", "orders"])],
        )
        assert result.success
        [event] = result.get_asset_materialization_events()
        return event.materialization.metadata

    assert "read_whole_because" not in materialize()
    with project.warehouse.open(state_dir=project.state_dir) as warehouse:
        warehouse.execute("delete from raw_shop.orders")
    metadata = materialize()
    assert metadata["read_from"].value == "-"
    assert metadata["read_whole_because"].value == (
        "raw_shop.orders holds no rows: its watermark (updated_at 2024-05-01 12:00:00) was not used"
    )
    assert metadata["dagster/row_count"].value == 1
    assert "future_cursor_rows" not in metadata
    # and one that read a cursor from the future counts it, with the highest such value
    run_sql(con, "insert into orders values (2, 'b', '2099-01-01')")
    metadata = materialize()
    assert metadata["future_cursor_rows"].value == 1
    assert metadata["future_cursor_max"].value == "2099-01-01T00:00:00"


def test_a_date_cursor_widened_to_datetime_loads_from_midnight_of_its_watermark(
    mariadb, loads
) -> None:
    # date -> datetime is a widening the schema drift makes. Every incremental load after it
    # failed with a bare "TypeError: can't compare datetime.datetime to datetime.date".
    url, con = mariadb
    warehouse, landing = loads
    table = TableConfig(name="orders", primary_key=["id"], cursor="c", mode="incremental")
    run_sql(con, "create table orders (id int primary key, c date)")
    run_sql(con, "insert into orders values (1, '2024-05-01'), (2, '2024-05-02')")
    landed_load(url, table, warehouse, landing)

    run_sql(con, "alter table orders modify c datetime")
    # a row of the watermark's own day, and one after it
    run_sql(con, "insert into orders values (3, '2024-05-02 10:00:00'), (4, '2024-05-03 09:00')")
    widened, check = landed_load(url, table, warehouse, landing)

    # The date watermark is midnight of its day, as the source compared it: no row of that
    # day is skipped.
    assert widened.since == datetime(2024, 5, 2)
    assert widened.outcome.rows_loaded == 3  # 2 (its midnight), 3 and 4
    assert widened.outcome.watermark == datetime(2024, 5, 3, 9)
    assert widened.outcome.widened_columns == ["c"]
    assert check.passed, check.description
    assert rows(warehouse, "select id, c from raw_shop.orders order by id") == [
        (1, datetime(2024, 5, 1)), (2, datetime(2024, 5, 2)),
        (3, datetime(2024, 5, 2, 10)), (4, datetime(2024, 5, 3, 9)),
    ]  # fmt: skip
    run_sql(con, "insert into orders values (5, '2024-05-03 09:30:00')")
    later, check = landed_load(url, table, warehouse, landing)
    assert (later.since, later.outcome.rows_loaded) == (datetime(2024, 5, 3, 9), 2)
    assert check.passed, check.description


def test_a_watermark_the_cursor_cannot_be_compared_with_names_both_types(
    mariadb, warehouse, tmp_path
) -> None:
    # A raw table whose columns were never recorded (written before `_tributary.table_schemas`
    # was kept) takes any type change without a drift check: its cursor, a datetime made a
    # timestamp (read in UTC), holds values no naive watermark compares with.
    url, con = mariadb
    table = TableConfig(name="orders", primary_key=["id"], cursor="c", mode="incremental")
    run_sql(con, "create table orders (id int primary key, c datetime)")
    run_sql(con, "insert into orders values (1, '2024-05-01 12:00:00')")
    load(url, table, warehouse, tmp_path)
    warehouse.execute("delete from _tributary.table_schemas")
    run_sql(con, "alter table orders modify c timestamp")
    run_sql(con, "insert into orders values (2, '2024-05-02 12:00:00')")

    with pytest.raises(WarehouseError) as raised:
        load(url, table, warehouse, tmp_path)
    assert str(raised.value) == (
        "table 'orders': the cursor 'c' is timestamp[us, tz=UTC] now, and its watermark "
        "(2024-05-01 12:00:00) is a timestamp without a zone, recorded while the column was of "
        "another type: the two cannot be compared, so nothing was loaded; a `full_refresh` run "
        "reads the table whole and starts its watermark anew"
    )
    assert rows(warehouse, "select count(*) from raw_shop.orders") == [(1,)]
    landing = LandingStore(str(tmp_path / "landing"))
    refreshed, check = landed_load(url, table, warehouse, landing, full_refresh=True)
    assert refreshed.outcome.watermark == datetime(2024, 5, 2, 12, tzinfo=UTC)
    assert check.passed, check.description
    later, _ = landed_load(url, table, warehouse, landing)
    assert later.since == datetime(2024, 5, 2, 12, tzinfo=UTC)
