"""The load metadata every raw row carries, whatever the sizes of the extracted batches."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from tributary.ingest import with_load_columns


def test_each_row_of_every_batch_carries_the_load_columns() -> None:
    schema = pa.schema([("id", pa.int64())])
    sizes = (3, 5, 0, 2, 6)  # growing, shrinking, empty: the columns must fit each batch
    start = [sum(sizes[:i]) for i in range(len(sizes))]
    batches = [
        pa.record_batch([pa.array(range(s, s + n), pa.int64())], schema=schema)
        for s, n in zip(start, sizes, strict=True)
    ]
    at = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)

    out = list(
        with_load_columns(
            pa.RecordBatchReader.from_batches(schema, iter(batches)),
            load_id="20261123T123000Z-abc",
            extracted_at=at,
            tenant=7,
        )
    )

    assert [b.num_rows for b in out] == [3, 5, 2, 6]  # the empty batch is dropped
    table = pa.Table.from_batches(out)
    assert table.schema.names == [
        "id", "_load_id", "_extracted_at", "_deleted", "_tenant_id", "_load_row"
    ]  # fmt: skip
    assert table.schema.field("_extracted_at").type == pa.timestamp("us", tz="UTC")
    assert table.column("id").to_pylist() == list(range(16))
    assert table.column("_load_id").to_pylist() == ["20261123T123000Z-abc"] * 16
    assert table.column("_extracted_at").to_pylist() == [at] * 16
    assert table.column("_deleted").to_pylist() == [False] * 16
    assert table.column("_tenant_id").to_pylist() == ["7"] * 16
    assert table.column("_load_row").to_pylist() == list(range(16))  # the order read


def test_an_empty_read_gets_the_load_columns_too() -> None:
    schema = pa.schema([("id", pa.int64())])
    empty = pa.RecordBatchReader.from_batches(schema, iter([]))
    at = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)

    [batch] = with_load_columns(empty, load_id="20261123T123000Z-abc", extracted_at=at)

    assert batch.num_rows == 0
    assert batch.schema.names == ["id", "_load_id", "_extracted_at", "_deleted", "_load_row"]
