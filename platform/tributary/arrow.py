"""Small helpers over Arrow record batch streams."""

from __future__ import annotations

from collections.abc import Iterator

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
