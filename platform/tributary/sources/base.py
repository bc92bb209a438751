"""The one interface every source implements: a table's rows as bounded Arrow batches."""

from __future__ import annotations

from typing import Any, Protocol

import pyarrow as pa

from tributary.config import TableConfig


class SourceReader(Protocol):
    def read(
        self, table: TableConfig, *, since: Any | None, batch_rows: int
    ) -> pa.RecordBatchReader:
        """Rows of `table`; only those with cursor >= `since` when it is given."""
        ...


class SourceError(RuntimeError):
    """A source could not be read. Messages never carry credentials."""
