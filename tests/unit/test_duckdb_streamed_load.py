"""A full DuckDB load writes the parts into the raw table while they land
(ingest.LandingStream, DuckDBWarehouse.copy_straight_in): it loads exactly the landed rows,
keeps one row per key, and a failure while extracting or landing is raised as itself and
leaves the previous rows, watermark and load log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import BatchesReader
from tributary.arrow import StrictlyRising
from tributary.config.models import SourceConfig, TableConfig
from tributary.errors import SourceError
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.warehouse.base import STATE_SCHEMA
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

ORDERS = TableConfig(name="orders", primary_key=["id"], mode="full")
SOURCE = SourceConfig(
    name="shop", kind="mysql", connection={"url": "mysql://nobody@127.0.0.1/shop"}, tables=[ORDERS]
)
T0 = datetime(2024, 5, 1, 12, 0, 0)


def orders(ids: list[int], status: str = "s") -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "id": pa.array(ids, pa.int64()),
            "status": pa.array([f"{status}{i}" for i in ids]),
            "updated_at": pa.array([T0] * len(ids), pa.timestamp("us")),
        }
    )


def load(path: Path, reader: BatchesReader):
    with DuckDBWarehouse(path / "warehouse.duckdb") as warehouse:
        assert warehouse.loads_while_landing
        return ingest_table(
            SOURCE,
            ORDERS,
            reader=reader,
            landing=LandingStore(str(path / "landing")),
            warehouse=warehouse,
            batch_rows=2,
        )


def state(path: Path) -> tuple[list, list, list]:
    with DuckDBWarehouse(path / "warehouse.duckdb") as warehouse:
        return (
            warehouse.query('select id, status from "raw_shop"."orders" order by id'),
            warehouse.query(f"select load_id from {STATE_SCHEMA}.loads order by load_id"),
            warehouse.query(
                "select table_name from information_schema.tables where table_schema = 'raw_shop'"
            ),
        )


def test_a_failure_while_landing_is_raised_as_itself_and_rolls_back(tmp_path: Path) -> None:
    load(tmp_path, BatchesReader([orders([1, 2, 3])]))
    before = state(tmp_path)
    failing = BatchesReader(
        [orders([1, 2], "new"), orders([3, 4, 5], "new")], fail=SourceError("the source went away")
    )
    with pytest.raises(SourceError, match="the source went away"):
        load(tmp_path, failing)
    assert state(tmp_path) == before
    assert before[0] == [(1, "s1"), (2, "s2"), (3, "s3")]


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        # Rising keys: no aggregate needed; every row stays.
        ([orders([1, 2]), orders([3]), orders([7, 9])], [1, 2, 3, 7, 9]),
        # Unordered but unique keys: the aggregate finds no key twice.
        ([orders([5, 2]), orders([9, 1])], [1, 2, 5, 9]),
        # A key landed twice, in another part: the one read last stays.
        ([orders([1, 2], "old"), orders([3, 1], "new")], [1, 2, 3]),
    ],
)
def test_a_streamed_full_load_keeps_one_row_per_key(tmp_path: Path, batches, expected) -> None:
    load(tmp_path, BatchesReader([orders([100, 101])]))  # replaced, in the existing table
    outcome = load(tmp_path, BatchesReader(batches)).outcome
    rows, loads, tables = state(tmp_path)
    assert [key for key, _ in rows] == expected
    assert outcome.rows_in_table == len(expected)
    assert len(loads) == 2 and tables == [("orders",)]
    if expected == [1, 2, 3]:
        assert dict(rows)[1] == "new1"


def test_strictly_rising_keys() -> None:
    def seen(*columns: list) -> bool:
        rising = StrictlyRising("id")
        for values in columns:
            rising.see(pa.record_batch({"id": values}))
        return rising.holds

    assert seen([1, 2], [], [3], [10, 11])
    assert not seen([1, 2], [2, 3])  # across batches
    assert not seen([1, 1])
    assert not seen([2, 1])
    assert not seen([1, None, 3])
    assert seen(["a", "b"], ["c"])
    assert not seen([1.0, float("nan")])
    assert not seen([[1], [2]])  # lists cannot be ordered
    # rising in nanoseconds, but a warehouse keeps microseconds: the two may be one key there
    assert not seen(pa.array([1_000, 1_001], pa.timestamp("ns")))
    assert not seen(pa.array([1_000, 2_000], pa.duration("ns")))
    assert seen(pa.array([1, 2], pa.timestamp("us")))
