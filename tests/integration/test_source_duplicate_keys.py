"""A source without a key constraint (a view, a table without a primary key) may hold a key
more than once; the warehouse keeps one row per key. Before, reconciliation looked for the
source's duplicate keys only when the warehouse held fewer rows than the source: rows deleted
in the source (which an incremental table keeps) made up for the rows the duplicates cost, the
counts matched, and the check passed, naming neither. Now the load counts the keys it read
more than once, and reconciliation names them whenever it did, whatever the counts. MariaDB ->
each warehouse that runs here (DuckDB, PostgreSQL, and Redshift on its stand-in)."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from tributary.config.models import SourceConfig, TableConfig
from tributary.defs.checks import load_check_results
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.reconcile import reconcile
from tributary.sources import SqlSource
from tributary.warehouse import KeyRepeats

from .conftest import run_sql

EVENTS = TableConfig(name="events", primary_key=["id"], cursor="ts", mode="incremental")
ITEMS = TableConfig(name="items", primary_key=["id"])  # a full load


def load(url, warehouse, landing, table: TableConfig, reader=None):
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[table]
    )
    return ingest_table(source, table, reader=reader or SqlSource(url), landing=landing,
                        warehouse=warehouse, batch_rows=2)  # fmt: skip


def reconciliation(url, warehouse, table: TableConfig, loaded):
    checks = load_check_results(table, loaded, reader=SqlSource(url), warehouse=warehouse)
    return next(check for check in checks if check.check_name == "reconciliation")


def raw_ids(warehouse, table: str) -> list[int]:
    return [row[0] for row in warehouse.query(f"select id from raw_shop.{table} order by id")]


def test_duplicate_keys_and_deletes_in_one_window_do_not_cancel_out(mariadb, loads) -> None:
    url, con = mariadb
    warehouse, landing = loads
    run_sql(
        con,
        "create table events (id int, note varchar(5), ts datetime)",
        "insert into events values (1, 'a', '2024-01-01'), (2, 'b', '2024-01-02'), "
        "(4, 'd', '2024-01-02')",
    )
    first = load(url, warehouse, landing, EVENTS)
    assert first.outcome.repeated_keys == KeyRepeats()
    assert reconciliation(url, warehouse, EVENTS, first).passed

    # In the next window (from 2024-01-02): ids 2 and 4 hard-deleted (two rows the warehouse
    # keeps), id 3 written three times (two rows the warehouse does not keep). 3 rows to 3.
    run_sql(
        con,
        "delete from events where id in (2, 4)",
        "insert into events values (3, 'c1', '2024-01-03'), (3, 'c2', '2024-01-03'), "
        "(3, 'c3', '2024-01-03')",
    )
    second = load(url, warehouse, landing, EVENTS)
    assert second.outcome.repeated_keys == KeyRepeats(keys=1, rows=2)
    assert raw_ids(warehouse, "events") == [1, 2, 3, 4]

    check = reconciliation(url, warehouse, EVENTS, second)
    assert not check.passed
    assert check.metadata["source_rows"].value == check.metadata["warehouse_rows"].value == 3
    assert check.metadata["source_duplicate_keys"].value == "id=3 (3 rows)"
    assert check.metadata["duplicate_keys_read"].value == 1
    description = check.description
    # Both things that are wrong: the rows deleted in the source, and its duplicate keys.
    assert "the source holds 3 rows and the warehouse as many, but the load read 2 rows " in (
        description
    )
    assert "rows deleted in the source stay in an incremental table" in description
    assert "the source holds primary keys more than once (id=3 (3 rows))" in description


def test_a_full_load_names_the_keys_it_read_twice_whatever_the_counts(mariadb, loads) -> None:
    """A full load keeps one row per key too (PostgreSQL and DuckDB write its rows straight
    into the raw table, then keep one per key written twice): rows deleted in the source
    between its read and the check hid the rows its duplicates cost as well."""
    url, con = mariadb
    warehouse, landing = loads
    run_sql(
        con,
        "create table items (id int, note varchar(5))",
        "insert into items values (1, 'a'), (2, 'b'), (3, 'c1'), (3, 'c2'), (3, 'c3')",
    )
    loaded = load(url, warehouse, landing, ITEMS)
    assert loaded.outcome.repeated_keys == KeyRepeats(keys=1, rows=2)
    assert raw_ids(warehouse, "items") == [1, 2, 3]

    run_sql(con, "delete from items where id in (1, 2)")  # after the read: 3 rows to 3
    check = reconciliation(url, warehouse, ITEMS, loaded)
    assert not check.passed
    assert check.metadata["source_duplicate_keys"].value == "id=3 (3 rows)"
    assert "the source holds primary keys more than once (id=3 (3 rows))" in check.description
    assert "rows deleted in the source stay" not in check.description  # a full load's do not

    # Without duplicates, a full load reports none, and its reconciliation passes.
    run_sql(con, "delete from items where note <> 'c3'", "insert into items values (1, 'a')")
    again = load(url, warehouse, landing, ITEMS)
    assert again.outcome.repeated_keys == KeyRepeats()
    assert reconciliation(url, warehouse, ITEMS, again).passed


class ReadTwice(SqlSource):
    """A read that meets its last row twice: a scan without a snapshot (SQL Server's READ
    COMMITTED), which a row updated while it ran moved ahead of."""

    def read(self, *args, **kwargs):
        extract = super().read(*args, **kwargs)
        rows = extract.batches.read_all()
        rows = pa.concat_tables([rows, rows.slice(rows.num_rows - 1)])
        return replace(
            extract, batches=pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())
        )


class CountsOnly:
    """A source that counts a window (ProfilingSource) but cannot name its duplicate keys."""

    def __init__(self, source: SqlSource) -> None:
        self.source = source

    def profile(self, *args, **kwargs):
        return self.source.profile(*args, **kwargs)


def test_a_key_read_twice_is_named_by_the_load_when_the_source_cannot(
    mariadb, warehouse, tmp_path
) -> None:
    url, con = mariadb
    run_sql(
        con,
        "create table events (id int, note varchar(5), ts datetime)",
        "insert into events values (1, 'a', '2024-01-01'), (2, 'b', '2024-01-02')",
    )
    loaded = load(url, warehouse, LandingStore(str(tmp_path / "landing")), EVENTS,
                  reader=ReadTwice(url))  # fmt: skip
    assert loaded.outcome.repeated_keys == KeyRepeats(keys=1, rows=1)
    target = loaded.target.spelled_as([name for name, _ in loaded.outcome.columns])

    # The source holds each key once: the warehouse's one row of id 2 is right.
    held_once = reconcile(EVENTS, loaded, source=SqlSource(url), warehouse=warehouse,
                          target=target)  # fmt: skip
    assert held_once.passed, held_once.description
    assert "duplicate_keys_read" not in held_once.metadata

    # A source that can only count: the load's own count of the keys it read twice fails it.
    counted = reconcile(EVENTS, loaded, source=CountsOnly(SqlSource(url)), warehouse=warehouse,
                        target=target)  # fmt: skip
    assert not counted.passed
    assert counted.metadata["duplicate_keys_read"] == 1
    assert "source_duplicate_keys" not in counted.metadata
    assert (
        "the load read 1 primary key(s) more than once: the warehouse keeps one row per key"
        in counted.description
    )
