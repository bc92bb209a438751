"""A DuckDB load of parts landed on this machine reads the Parquet files itself (a view over
`read_parquet`, written once into the raw table) instead of the Arrow batches, with the
column types and values the Arrow path gives, in one transaction, within a bounded buffer
pool; anything else (no local parts) still loads from the batches."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tributary.landing import LandingStore, Manifest
from tributary.warehouse import LoadTarget, SourceRead
from tributary.warehouse.duckdb.warehouse import (
    LOAD_MEMORY_LIMIT,
    LOAD_THREADS,
    DuckDBWarehouse,
    local_parts,
    stream_memory_limit,
)

EXTRACTED = datetime(2024, 5, 1, tzinfo=UTC)
TARGET = LoadTarget("shop", "orders", "full", primary_key=("id",))
ROWS = 150_000  # more than one DuckDB row group (122,880 rows)
PART_ROWS = 50_000


def big_batches(rows: int, start: int = 0) -> list[pa.RecordBatch]:
    batches = []
    for low in range(start, start + rows, PART_ROWS):
        ids = pa.array(range(low, min(start + rows, low + PART_ROWS)), pa.int64())
        batches.append(pa.record_batch({"id": ids, "amount": ids.cast(pa.float64())}))
    return batches


def typed_batch() -> pa.RecordBatch:
    """Types whose Parquet form differs from the Arrow one, or that DuckDB reads otherwise."""
    return pa.record_batch(
        {
            "id": pa.array([1, 2], pa.int64()),
            "at_s": pa.array([datetime(2024, 5, 1, 12), None], pa.timestamp("s")),
            "at_ns_utc": pa.array([1_714_564_800_123_456_789, None], pa.timestamp("ns", "UTC")),
            "on": pa.array([date(2024, 5, 1), None], pa.date32()),
            "amount": pa.array([Decimal("12345678901234.5678"), None], pa.decimal128(20, 4)),
            "small": pa.array([-3, None], pa.int8()),
            "unsigned": pa.array([2**64 - 1, None], pa.uint64()),
            "text": pa.array(["Zoë", None], pa.large_string()),
            "doc": pa.array(['{"a": [1, 2]}', None], pa.json_()),
            "raw": pa.array([b"\x00\xff", None], pa.binary()),
            "nothing": pa.array([None, None], pa.null()),
            "flag": pa.array([True, None], pa.bool_()),
        }
    )


def land(tmp_path: Path, batches: list[pa.RecordBatch], load_id: str) -> tuple[Manifest, str]:
    store = LandingStore(str(tmp_path / "landing"))
    manifest = store.land(
        iter(batches),
        source="shop",
        table="orders",
        load_id=load_id,
        mode="full",
        extracted_at=EXTRACTED,
    )
    folder = store.load_dir("shop", "orders", load_id)
    return manifest, store.uri(folder)


def unreadable(schema: pa.Schema) -> pa.RecordBatchReader:
    """Batches a load of local parts must never read."""

    def batches():
        raise AssertionError("the load read the Arrow batches of local parts")
        yield  # pragma: no cover

    return pa.RecordBatchReader.from_batches(schema, batches())


def load(warehouse: DuckDBWarehouse, manifest: Manifest, batches, landing_path: str):
    return warehouse.load(
        TARGET,
        manifest,
        batches,
        landing_path=landing_path,
        started_at=datetime.now(UTC),
        read=SourceRead(),
    )


def test_local_parts_are_read_by_duckdb_not_through_arrow(tmp_path: Path) -> None:
    manifest, uri = land(tmp_path, big_batches(ROWS), "20240501T120000Z-aaaaaaaa")
    assert uri.startswith("file://")
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        outcome = load(warehouse, manifest, unreadable(big_batches(1)[0].schema), uri)
        assert outcome.rows_in_table == ROWS
        # Scans, row by row, in the loading session (see test_duckdb_load_visibility.py).
        assert warehouse.query(
            'select count(*), max(id), sum(amount), count(distinct id) from "raw_shop"."orders" '
            "where id >= 0"
        ) == [(ROWS, ROWS - 1, sum(range(ROWS)), ROWS)]
        # The staging view is gone, and the raw table is a table.
        assert warehouse.query(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'raw_shop'"
        ) == [("orders", "BASE TABLE")]


def test_types_and_values_are_those_of_the_arrow_path(tmp_path: Path) -> None:
    manifest, uri = land(tmp_path, [typed_batch()], "20240501T120000Z-bbbbbbbb")
    store = LandingStore(str(tmp_path / "landing"))
    results = {}
    for path, given in (
        ("parquet", manifest),
        ("arrow", manifest.model_copy(update={"files": []})),
    ):
        with DuckDBWarehouse(tmp_path / f"{path}.duckdb") as warehouse:
            outcome = load(warehouse, given, store.batches(manifest), uri)
            rows = warehouse.query('select * from "raw_shop"."orders" order by id')
            results[path] = (outcome.columns, rows)
    assert results["parquet"] == results["arrow"]
    columns, rows = results["parquet"]
    # Parquet keeps timestamp[s] as milliseconds; DuckDB would read it as microseconds.
    assert dict(columns)["at_s"] == "TIMESTAMP_MS"
    assert dict(columns)["at_ns_utc"] == "TIMESTAMPTZ_NS"
    assert dict(columns)["doc"] == "JSON"
    first = dict(zip([name for name, _ in columns], rows[0], strict=True))
    assert first["amount"] == Decimal("12345678901234.5678")
    assert first["unsigned"] == 2**64 - 1
    assert json.loads(first["doc"]) == {"a": [1, 2]}


def test_a_key_landed_twice_keeps_its_latest_version(tmp_path: Path) -> None:
    first = pa.record_batch({"id": [1, 2], "v": ["old", "two"], "_load_row": [0, 1]})
    second = pa.record_batch({"id": [1], "v": ["new"], "_load_row": [2]})
    manifest, uri = land(tmp_path, [first, second], "20240501T120000Z-cccccccc")
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        load(warehouse, manifest, unreadable(first.schema), uri)
        rows = warehouse.query('select id, v from "raw_shop"."orders" order by id')
    assert rows == [(1, "new"), (2, "two")]


def test_a_part_that_cannot_be_read_leaves_the_previous_load(tmp_path: Path) -> None:
    manifest, uri = land(tmp_path, big_batches(100), "20240501T120000Z-dddddddd")
    broken, broken_uri = land(tmp_path, big_batches(ROWS, 1000), "20240501T130000Z-eeeeeeee")
    part = Path(broken_uri.removeprefix("file://")) / broken.files[-1].path
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        load(warehouse, manifest, unreadable(big_batches(1)[0].schema), uri)
        with pytest.raises(duckdb.Error, match=r"(?i)parquet"):
            load(warehouse, broken, unreadable(big_batches(1)[0].schema), broken_uri)
        assert warehouse.query('select count(*), max(id) from "raw_shop"."orders"') == [(100, 99)]
        assert warehouse.query("select load_id from _tributary.loads") == [(manifest.load_id,)]
        assert warehouse.query(
            "select count(*) from information_schema.tables where table_schema = 'raw_shop'"
        ) == [(1,)]


def test_an_empty_load_replaces_the_table_with_no_rows(tmp_path: Path) -> None:
    manifest, uri = land(tmp_path, big_batches(100), "20240501T120000Z-ffffffff")
    empty = pa.RecordBatch.from_pylist([], schema=big_batches(1)[0].schema)
    nothing, nothing_uri = land(tmp_path, [empty], "20240501T130000Z-00000000")
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        load(warehouse, manifest, unreadable(empty.schema), uri)
        outcome = load(warehouse, nothing, unreadable(empty.schema), nothing_uri)
        assert outcome.rows_in_table == 0
        assert warehouse.query('select count(*) from "raw_shop"."orders"') == [(0,)]


def test_only_local_parts_that_are_all_there_are_read_as_files(tmp_path: Path) -> None:
    manifest, uri = land(tmp_path, big_batches(10), "20240501T120000Z-11111111")
    folder = uri.removeprefix("file://")
    assert local_parts(manifest, uri) == [f"{folder}/{manifest.files[0].path}"]
    assert local_parts(manifest, folder) == [f"{folder}/{manifest.files[0].path}"]
    assert local_parts(manifest, "s3://bucket/shop/orders/x") is None
    assert local_parts(manifest.model_copy(update={"files": []}), uri) is None
    assert local_parts(manifest, str(tmp_path / "elsewhere")) is None
    # read_parquet would expand a glob character: such a path goes through Arrow.
    assert local_parts(manifest, str(tmp_path / "a[1]")) is None


def test_a_load_without_memory_limit_runs_with_the_load_default(tmp_path: Path) -> None:
    manifest, uri = land(tmp_path, big_batches(10), "20240501T120000Z-22222222")
    again, again_uri = land(tmp_path, big_batches(10), "20240501T120000Z-33333333")
    seen = []

    settings = "select current_setting('memory_limit'), current_setting('threads')"

    writing = []  # the settings while the rows are written into the raw table

    class Watching(DuckDBWarehouse):
        def copy_straight_in(self, *args, **kwargs):
            seen.append(self.query(settings)[0])
            done = super().copy_straight_in(*args, **kwargs)
            seen.append(self.query(settings)[0])
            return done

        def execute(self, sql, params=()):
            if "read_parquet" in sql and sql.startswith(("create table", "insert into")):
                writing.append(self.query(settings)[0])
            super().execute(sql, params)

    with Watching(tmp_path / "warehouse.duckdb") as warehouse:
        [before] = warehouse.query(settings)
        load(warehouse, manifest, unreadable(big_batches(1)[0].schema), uri)  # creates
        load(warehouse, again, unreadable(big_batches(1)[0].schema), again_uri)  # inserts
        [after] = warehouse.query(settings)
    assert (LOAD_MEMORY_LIMIT, LOAD_THREADS) == ("128MB", 1)
    # The load runs with 128 MB (1000^2 bytes, in MiB) and one thread; its insert of the
    # table's 2 columns (and the load's own 3) with the smallest pool, 32 MB.
    assert seen == [("122.0 MiB", 1)] * 4
    assert writing == [("30.5 MiB", 1)] * 2
    assert after == before != seen[0]  # reads and dbt keep DuckDB's defaults

    with Watching(tmp_path / "limited.duckdb", memory_limit="300MB") as warehouse:
        [(_, threads)] = warehouse.query(settings)
        load(warehouse, manifest, unreadable(big_batches(1)[0].schema), uri)
    # A configured limit holds for loads too, their inserts included, with DuckDB's threads.
    assert seen[-1] == ("286.1 MiB", threads)
    assert writing[-1] == ("286.1 MiB", threads)


def test_a_full_loads_pool_grows_with_its_columns_up_to_the_loads() -> None:
    assert stream_memory_limit(1) == stream_memory_limit(16) == "32MB"
    assert stream_memory_limit(40) == "80MB"
    assert stream_memory_limit(64) == stream_memory_limit(500) == LOAD_MEMORY_LIMIT
