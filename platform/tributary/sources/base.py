"""The one interface every source implements: a table's rows as bounded Arrow batches."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from tributary.config import TableConfig
from tributary.errors import SourceError
from tributary.slices import Slice

__all__ = ["Extract", "SourceError", "SourceReader"]


@dataclass
class Extract:
    """A read in progress: batches stream lazily; counters fill as they do."""

    batches: pa.RecordBatchReader
    counters: Counter = field(default_factory=Counter)
    query: str | None = None


class SourceReader(Protocol):
    def read(
        self,
        table: TableConfig,
        *,
        since: Any | None = None,
        batch_rows: int,
        where: Slice | None = None,
    ) -> Extract:
        """Rows of `table`: only those with cursor >= `since` when it is given, and only
        the slice `where` when it is given."""
        ...
