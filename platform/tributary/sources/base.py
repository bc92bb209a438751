"""The one interface every source implements: a table's rows as bounded Arrow batches."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from tributary.config import TableConfig
from tributary.errors import SourceError
from tributary.slices import Slice

__all__ = ["Extract", "Profile", "ProfilingSource", "SourceError", "SourceReader", "Window"]


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


@dataclass(frozen=True)
class Window:
    """The rows one load answers for: its slice (tenant, key range) and, for an incremental
    load, the cursor range it read, from `low` to `high` (both inclusive; None is open)."""

    where: Slice | None = None
    cursor: str | None = None
    low: Any | None = None
    high: Any | None = None


@dataclass(frozen=True)
class Profile:
    """What reconciliation compares on each side: rows in the window, the highest cursor value
    there, and (when asked) an order-independent checksum of some columns."""

    rows: int
    max_cursor: Any | None = None
    checksum: str | None = None


@runtime_checkable
class ProfilingSource(Protocol):
    """A source that can count a window of a table itself, for reconciliation."""

    def profile(self, table: TableConfig, window: Window, *, checksum: list[str]) -> Profile: ...
