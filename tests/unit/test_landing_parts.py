"""The landing joins batches into Parquet parts of at most `part_rows` rows (a row group per
batch), and hands each part on once it is closed, for a load to read while landing goes on."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from tributary.landing import LandingStore

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def batches(count: int, rows: int, **extra) -> list[pa.RecordBatch]:
    return [
        pa.RecordBatch.from_pydict(
            {"id": list(range(n * rows, (n + 1) * rows)), **{k: v * rows for k, v in extra.items()}}
        )
        for n in range(count)
    ]


def land(store: LandingStore, stream, **options):
    return store.land(
        stream, source="s", table="t", load_id="L1", mode="full", extracted_at=NOW, **options
    )


def test_parts_take_batches_up_to_part_rows(tmp_path) -> None:
    store = LandingStore(str(tmp_path))
    folder = tmp_path / "s" / "t" / "L1"
    handed: list[tuple[str, int]] = []

    def read_now(path: str) -> None:  # the part is complete when handed on
        handed.append((path, pq.ParquetFile(path).metadata.num_rows))

    manifest = land(store, batches(5, 2), part_rows=5, on_part=read_now)
    assert [f.rows for f in manifest.files] == [4, 4, 2]
    assert manifest.row_count == 10
    assert handed == [(f"{folder}/{f.path}", f.rows) for f in manifest.files]
    assert pq.ParquetFile(folder / "part-00000.parquet").metadata.num_row_groups == 2
    rows = pa.Table.from_batches(store.batches(manifest))
    assert rows.column("id").to_pylist() == list(range(10))


def test_without_part_rows_each_batch_is_a_part(tmp_path) -> None:
    manifest = land(LandingStore(str(tmp_path)), batches(3, 2))
    assert [f.rows for f in manifest.files] == [2, 2, 2]


def test_a_part_is_read_from_a_row_on(tmp_path) -> None:
    # What a streamed load did not take as batches: the rest of the part, from its first
    # row not yet loaded (a row group boundary, or within one).
    store = LandingStore(str(tmp_path))
    manifest = land(store, batches(3, 4), part_rows=12)
    path = f"{tmp_path}/s/t/L1/{manifest.files[0].path}"
    for skip, first in ((0, 0), (4, 4), (6, 6), (12, None)):
        ids = [
            i for b in store.part_batches(path, skip_rows=skip) for i in b.column("id").to_pylist()
        ]
        assert ids == ([] if first is None else list(range(first, 12)))


def test_the_landed_schema_is_what_parquet_reads_back() -> None:
    schema = pa.schema({"d": pa.date64(), "t": pa.timestamp("s"), "s": pa.string()})
    landed = LandingStore.landed_schema(schema)
    assert landed.types == [pa.date32(), pa.timestamp("ms"), pa.string()]


def test_a_manifest_that_states_other_files_than_it_lists_is_found_out(tmp_path) -> None:
    store = LandingStore(str(tmp_path))
    manifest = land(store, batches(2, 3), part_rows=3)
    assert store.inspect(manifest).differences == []
    [first, second] = manifest.files
    hand_written = manifest.model_copy(
        update={"row_count": 7, "files": [first, second.model_copy(update={"bytes": 1})]}
    )
    assert store.inspect(hand_written).differences == [
        f"{second.path} is {second.bytes} bytes, its manifest states 1",
        "its manifest states 7 row(s) in all, its files 6",
    ]
    # An outside tool's empty extract: no file to read its columns from (was an IndexError).
    assert store.inspect(manifest.model_copy(update={"row_count": 0, "files": []})).differences == [
        "it lists no files; an empty extract is one Parquet file of no rows"
    ]


def test_parts_whose_columns_differ_in_order_are_found_out(tmp_path) -> None:
    """DuckDB reads parts' columns by name, Redshift's COPY by position: two text columns
    swapped in one part would be loaded swapped on Redshift alone."""
    store = LandingStore(str(tmp_path))
    manifest = land(store, batches(2, 3, name=["a"], city=["b"]), part_rows=3)
    [first, second] = manifest.files
    swapped = pq.read_table(tmp_path / "s" / "t" / "L1" / second.path).select([0, 2, 1])
    pq.write_table(swapped, tmp_path / "s" / "t" / "L1" / second.path)
    size = (tmp_path / "s" / "t" / "L1" / second.path).stat().st_size
    rewritten = manifest.model_copy(
        update={"files": [first, second.model_copy(update={"bytes": size})]}
    )
    assert store.inspect(rewritten).differences == [
        f"{second.path} holds the columns (id, city, name), {first.path} (id, name, city)"
    ]
