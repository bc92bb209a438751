"""Small helpers over Arrow record batch streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa


def nonempty_batches(batches: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The non-empty batches; a single empty one when there are none, so that whatever is
    written from the stream still carries its schema."""
    produced = False
    for batch in batches:
        if batch.num_rows:
            produced = True
            yield batch
    if not produced:
        yield pa.RecordBatch.from_pylist([], schema=batches.schema)


def reader_from_cursor(cursor: Any, batch_rows: int) -> pa.RecordBatchReader:
    """A DB-API cursor's result (already executed) as Arrow batches of `batch_rows` rows.
    The schema is inferred from the first batch, so a column that is NULL throughout it
    types as null."""
    names = [column[0] for column in cursor.description]

    def to_batch(rows: list[tuple], schema: pa.Schema | None = None) -> pa.RecordBatch:
        return pa.RecordBatch.from_pylist(
            [dict(zip(names, row, strict=True)) for row in rows], schema=schema
        )

    first = cursor.fetchmany(batch_rows)
    schema = to_batch(first).schema if first else pa.schema([(n, pa.null()) for n in names])

    def batches() -> Iterator[pa.RecordBatch]:
        rows = first
        while rows:
            yield to_batch(rows, schema)
            rows = cursor.fetchmany(batch_rows)

    return pa.RecordBatchReader.from_batches(schema, batches())
