"""A table partitioned by ranges of a column other than its primary key: a source row whose
column changes moves to another range. Before, a load of its new range wrote it there and
left its old copy in the old range (the raw table held (1, 5) and (1, 12) for the one source
row), and both the range's reconciliation and its unique_primary_key check passed, each
looking at its own range only, until the old range was loaded again. Now the range's load
removes the old copy in its transaction: the table holds one row per key, and the check looks
at the whole table where a key's copies may lie in two ranges. MariaDB -> each warehouse that
runs here (DuckDB, PostgreSQL, and Redshift on its stand-in)."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from tributary.config.models import SourceConfig, TableConfig
from tributary.defs.checks import load_check_results
from tributary.ingest import ingest_table
from tributary.reconcile import duplicate_keys
from tributary.slices import partition_keys, slice_for
from tributary.sources import SqlSource

from .conftest import run_sql

ACCOUNTS = TableConfig(
    name="accounts",
    primary_key=["id"],
    key_ranges={"column": "region", "size": 10, "upper_bound": 20},
)
LOW, HIGH = partition_keys(ACCOUNTS, [])  # regions below 10, and from 10 up


def load(url, warehouse, landing, key: str, table: TableConfig = ACCOUNTS, reader=None):
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[table]
    )
    return ingest_table(source, table, reader=reader or SqlSource(url), landing=landing,
                        warehouse=warehouse, batch_rows=2,
                        where=slice_for(table, key, []))  # fmt: skip


def source_rows(con) -> list[tuple]:
    with con.cursor() as cursor:
        cursor.execute("select id, region, name from accounts")
        return sorted(cursor.fetchall())


def raw_rows(warehouse) -> list[tuple]:
    return sorted(tuple(row) for row in warehouse.query("select id, region, name from "
                                                        "raw_shop.accounts"))  # fmt: skip


def accounts(con) -> None:
    run_sql(con, "create table accounts (id int primary key, region int, name varchar(10))",
            "insert into accounts values (1, 5, 'a'), (2, 15, 'b'), (3, 7, 'c')")  # fmt: skip


def test_a_row_that_moves_range_leaves_no_copy_in_its_old_one(mariadb, loads) -> None:
    url, con = mariadb
    warehouse, landing = loads
    accounts(con)
    for key in (LOW, HIGH):
        load(url, warehouse, landing, key)
    assert raw_rows(warehouse) == source_rows(con)

    run_sql(con, "update accounts set region = 12, name = 'moved' where id = 1")
    moved = load(url, warehouse, landing, HIGH)  # its new range alone, as a run of it does

    assert source_rows(con) == [(1, 12, "moved"), (2, 15, "b"), (3, 7, "c")]
    assert raw_rows(warehouse) == source_rows(con)
    assert moved.outcome.rows_in_table == 3
    assert moved.outcome.duplicate_keys_repaired == 1  # the key found in its old range too
    checks = load_check_results(ACCOUNTS, moved, reader=SqlSource(url), warehouse=warehouse)
    assert [(c.check_name, c.passed) for c in checks[:2]] == [
        ("reconciliation", True),
        ("unique_primary_key", True),
    ]

    # Its old range loaded again, and a row moving back down: still one row per key.
    load(url, warehouse, landing, LOW)
    run_sql(con, "update accounts set region = 2 where id = 2")
    load(url, warehouse, landing, LOW)
    assert raw_rows(warehouse) == source_rows(con) == [
        (1, 12, "moved"), (2, 2, "b"), (3, 7, "c"),
    ]  # fmt: skip


class ReadThenWait(SqlSource):
    """A source whose read is done (its rows in memory) before `meanwhile` runs: a load that
    read a range before another range's load read it, and commits after that one."""

    def __init__(self, url, meanwhile) -> None:
        super().__init__(url)
        self.meanwhile = meanwhile

    def read(self, *args, **kwargs):
        extract = super().read(*args, **kwargs)
        rows = extract.batches.read_all()
        self.meanwhile()
        batches = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())
        return replace(extract, batches=batches)


def test_a_range_read_before_the_row_moved_keeps_not_its_old_copy(mariadb, loads) -> None:
    """Two ranges loading at once (a backfill's runs): the old range's load read the row
    before it moved, the new range's after, and committed first. The old range's copy,
    written last, is the older: the newer read's stays, not the last written."""
    url, con = mariadb
    warehouse, landing = loads
    accounts(con)
    for key in (LOW, HIGH):
        load(url, warehouse, landing, key)

    def move_and_load_the_new_range() -> None:
        run_sql(con, "update accounts set region = 12, name = 'moved' where id = 1")
        load(url, warehouse, landing, HIGH)

    late = load(url, warehouse, landing, LOW,
                reader=ReadThenWait(url, move_and_load_the_new_range))  # fmt: skip

    assert late.manifest.row_count == 2  # it read id 1 in region 5
    assert raw_rows(warehouse) == source_rows(con) == [
        (1, 12, "moved"), (2, 15, "b"), (3, 7, "c"),
    ]  # fmt: skip


def test_the_uniqueness_check_of_a_range_sees_a_key_held_in_another_range(mariadb, loads) -> None:
    """A raw table written before a range's load removed a moved row's old copy still holds
    it: each range's check now finds it, and the next range's load repairs it."""
    url, con = mariadb
    warehouse, landing = loads
    accounts(con)
    low = load(url, warehouse, landing, LOW)
    high = load(url, warehouse, landing, HIGH)
    warehouse.execute(
        "insert into raw_shop.accounts (id, region, name, _load_id, _extracted_at, _deleted, "
        "_load_row) select id, 12, 'stale', '20000101T000000Z-old', _extracted_at, _deleted, "
        "_load_row from raw_shop.accounts where id = 1"
    )
    for loaded in (low, high):
        unique = duplicate_keys(warehouse, loaded.target)
        assert not unique.passed
        assert unique.metadata["duplicated_keys"] == 1 and unique.metadata["surplus_rows"] == 1

    load(url, warehouse, landing, LOW)
    assert raw_rows(warehouse) == source_rows(con)
    assert duplicate_keys(warehouse, high.target).passed


def test_ranges_of_the_key_itself_keep_their_check_to_the_range(mariadb, loads) -> None:
    """Where the range column is part of the key, a key's rows lie in one range: a range's
    check and repair stay within it (a key held twice elsewhere is that range's to report)."""
    url, con = mariadb
    warehouse, landing = loads
    accounts(con)
    by_id = ACCOUNTS.model_copy(
        update={"key_ranges": ACCOUNTS.key_ranges.model_copy(update={"column": "id"})}
    )
    low, high = (load(url, warehouse, landing, key, by_id) for key in partition_keys(by_id, []))
    warehouse.execute(
        "insert into raw_shop.accounts (id, region, name) values (12, 1, 'x'), (12, 2, 'y')"
    )
    assert duplicate_keys(warehouse, low.target).passed
    assert not duplicate_keys(warehouse, high.target).passed
