"""The one interface every source implements: a table's rows as bounded Arrow batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import sqlalchemy as sa

from tributary.config.models import TableConfig
from tributary.errors import SourceError
from tributary.key_match import TextMatch
from tributary.slices import Slice

__all__ = [
    "ClockedSource",
    "ColumnType",
    "Extract",
    "KeyMatchingSource",
    "OriginSource",
    "Profile",
    "ProfilingSource",
    "SourceClock",
    "SourceError",
    "SourceReader",
    "TypedSource",
    "ValueLocatingSource",
    "Window",
    "cursor_conditions",
]


@dataclass
class Extract:
    """A read in progress: batches stream lazily; counters fill as they do."""

    batches: pa.RecordBatchReader
    counters: Counter = field(default_factory=Counter)
    query: str | None = None
    # Whether the rows are one snapshot of the source (a SQL query is). Salesforce's pages and
    # Bulk chunks are read over minutes, each as the org is then: a record changed meanwhile
    # may come back changed while another, changed earlier, was read before its change (or not
    # matched at all). The watermark then goes no further than the read's start (as no
    # watermark goes past the source's clock: ingest.cursor_cap), and a value past it is no
    # sign of a wrong clock.
    snapshot: bool = True
    # A read that is no snapshot: the source's time when it began, where the read itself told
    # it (Salesforce: its describe answer's Date). Without it, this machine's clock bounds the
    # watermark alone, and one ahead of the source's by more than a lookback loses changes.
    began: SourceClock | None = None
    # What the reader knows of its rows that its user may not expect (a MySQL view evaluated
    # in a session at UTC on a server in another zone): the load's run log warns of each.
    notes: list[str] = field(default_factory=list)


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
class SourceClock:
    """The source's own time, asked of it: the instant (with a zone, UTC), and the time
    without a zone its sessions stamp (NOW() in the database's default session zone); and
    that zone's IANA name where the database tells one (PostgreSQL's `TimeZone`, a MySQL
    server's named zone), whose repeated hour a read of its local times steps back over."""

    instant: datetime
    local: datetime
    zone: str | None = None


@runtime_checkable
class ClockedSource(Protocol):
    """A source that can tell its own time: what a watermark may not pass (ingest.cursor_cap)."""

    def clock(self) -> SourceClock | None:
        """The source's time now, or None where it cannot tell."""
        ...


@runtime_checkable
class OriginSource(Protocol):
    """A source that can say what a table's rows are read from."""

    def origin(self, table: TableConfig) -> str:
        """The database (without user, password or options) and the object or query the
        table reads (its spacing aside): a load whose origin is not its watermark's reads the
        table whole (Warehouse.read_start)."""
        ...


@dataclass(frozen=True)
class ColumnType:
    """A column's type as the source declares it (a custom query's, as it returns it), and
    whether each of its values is a number as read."""

    declared: str
    number: bool


@runtime_checkable
class TypedSource(Protocol):
    """A source that can tell a column's type before reading any row."""

    def column_type(self, table: TableConfig, name: str) -> ColumnType | None:
        """`name`'s type in the table (or its query's result); None where it has no such
        column."""
        ...


@runtime_checkable
class KeyMatchingSource(Protocol):
    """A source that can say how it compares a table's key values (key_match.py), and by
    which collation it compares a column's text."""

    def key_match(self, table: TableConfig) -> tuple[TextMatch, ...]:
        """How each primary_key column compares, in its order; empty: all exactly."""
        ...

    def collation(self, table: TableConfig, column: str) -> str | None:
        """The collation the database compares `column`'s text by; None where it has none
        or does not say (not text, a custom query's column, a database whose collations are
        not asked: all but MySQL/MariaDB and SQL Server)."""
        ...


# Columns, and the cursor from which (None: any row) their values are wanted.
WantedValues = tuple[tuple[str, ...], Any | None]


@runtime_checkable
class ValueLocatingSource(Protocol):
    """A source that can say, in one query before a read, where the rows holding a value of
    some columns begin: so that a load re-reads the rows that lack those columns in the raw
    table (ColumnGap) from there, not from the first row."""

    def first_cursor_holding(
        self,
        table: TableConfig,
        wanted: Sequence[WantedValues],
        *,
        before: Any,
        where: Slice | None = None,
    ) -> Any | None:
        """The lowest cursor among the rows of `table` (its slice `where`) whose cursor is at
        most `before` and, for one of `wanted`'s (columns, from), at least `from` with a value
        in one of the columns; None where no row is."""
        ...


@dataclass(frozen=True)
class Window:
    """The rows one load answers for: its slice (tenant, key range) and, for an incremental
    load, the cursor range it read, from `low` to `high` (both inclusive; None is open), with
    the rows whose cursor is NULL when the table includes them (null_cursor: include)."""

    where: Slice | None = None
    cursor: str | None = None
    low: Any | None = None
    high: Any | None = None
    include_null: bool = False


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


Bound = Callable[[sa.ColumnClause, Any], sa.ColumnElement[bool]]
Null = Callable[[sa.ColumnClause], sa.ColumnElement[bool]]


def at_least(cursor: sa.ColumnClause, value: Any) -> sa.ColumnElement[bool]:
    return cursor >= sa.literal(value)


def at_most(cursor: sa.ColumnClause, value: Any) -> sa.ColumnElement[bool]:
    return cursor <= sa.literal(value)


def is_null(cursor: sa.ColumnClause) -> sa.ColumnElement[bool]:
    return cursor.is_(None)


def cursor_conditions(
    cursor: sa.ColumnClause,
    low: Any | None,
    high: Any | None,
    *,
    include_null: bool,
    exclude_null: bool = False,
    lower: Bound = at_least,
    upper: Bound = at_most,
    null: Null = is_null,
) -> list[sa.ColumnElement[bool]]:
    """`cursor` from `low` to `high` (inclusive, None open), as conditions: a read's (with
    `include_null`: an incremental read takes the rows whose cursor is NULL whatever the
    table's null_cursor, which then decides what becomes of them, since no later read could
    find them) or a window's (where they are either included or, with `exclude_null`, left
    out whether or not a bound is given). `lower` and `upper` compare the cursor with a
    bound, as its database must (a SQLite timestamp is text: sources/sqlite.py); `null`
    tells the values the read makes NULL (a MySQL zero date, too: sources/sql.py)."""
    in_range = []
    if low is not None:
        in_range.append(lower(cursor, low))
    if high is not None:
        in_range.append(upper(cursor, high))
    if include_null:
        return [sa.or_(sa.and_(*in_range), null(cursor))] if in_range else []
    if exclude_null and low is None:
        # a value read as NULL may pass `cursor <= high` (a MySQL zero date does)
        return [*in_range, sa.not_(null(cursor))]
    return in_range
