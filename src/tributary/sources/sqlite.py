"""SQLite results connectorx cannot type, read with Python's sqlite3 instead.

connectorx types a SQLite result column by its declared type where it knows that type, and
otherwise (an expression such as max(cursor) or a cast, a column declared `decimal(10,2)` or
without a type) by the value in the result's first row: a NULL there fails the whole read,
"Cannot infer type from null for SQLite". A window without rows (its max is NULL), an empty
table's probe, a decimal column NULL in the first row read all failed so. Such a result is
read here, each column typed as connectorx types it: by the declared type it knows (its
schema of the result without rows), else by the column's first value that is not NULL, else
as text (connectorx's type for a column of a result without rows).

SQLite has no timestamp type: a column declared TIMESTAMP or DATETIME holds text, which
connectorx reads as a timestamp in two forms, 'YYYY-MM-DD HH:MM:SS' (SQLite's own
CURRENT_TIMESTAMP) and 'YYYY-MM-DDTHH:MM:SS', each with any number of fractional digits or
none, of which it keeps the microseconds. A cursor bound is compared as text with such a
column, so `at_least` and `at_most` write it as the text that sorts right against every one of
those forms (a bound's own text, '... 12:00:01.000000', sorts after '... 12:00:01').
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import sqlalchemy as sa

from tributary.config.models import wrappable
from tributary.sources.types import SourceColumn

# The declared types (as the catalog spells them, lower case) connectorx reads as a timestamp.
TIMESTAMP_TYPES = {"timestamp", "datetime"}
# connectorx's error for a column it cannot type (a RuntimeError).
CANNOT_TYPE_NULL = "Cannot infer type from null"
# A value's storage class (SQLite's typeof) -> the Arrow type connectorx reads it as.
VALUE_TYPES = {
    "integer": pa.int64(),
    "real": pa.float64(),
    "text": pa.string(),
    "blob": pa.binary(),
}


def at_least(column: sa.ColumnClause, value: datetime) -> sa.ColumnElement[bool]:
    """`column`'s text timestamps at or after `value` (naive, as connectorx reads SQLite's):
    those of either form at or past `value`'s shortest text of that form. The shortest text
    of an instant sorts before its every other spelling ('12:00:01' before '12:00:01.0',
    '12:00:01.5' before '12:00:01.50'), and after every earlier instant's; but a 'T' sorts
    after a space, so a day's 'T' texts lie after all its space texts, and are bounded apart.
    Two ranges of the text, which an index on `column` serves."""
    spaced, iso = _shortest(value)
    return sa.or_(sa.and_(column >= spaced, column < iso[:11]), column >= iso)


def at_most(column: sa.ColumnClause, value: datetime) -> sa.ColumnElement[bool]:
    """`column`'s text timestamps at or before `value` as connectorx reads them (to the
    microsecond, more digits cut): those before `value` and a microsecond, in either form."""
    try:
        after = value + timedelta(microseconds=1)
    except OverflowError:  # datetime.max: every timestamp
        return column.is_not(None)
    spaced, iso = _shortest(after)
    return sa.or_(column < spaced, sa.and_(column >= iso[:11], column < iso))


def _shortest(value: datetime) -> tuple[str, str]:
    """`value` as its shortest text of each form: 'YYYY-MM-DD HH:MM:SS' and
    'YYYY-MM-DDTHH:MM:SS', with the fractional digits up to the last one that is not 0."""
    text = value.isoformat(timespec="microseconds").rstrip("0").rstrip(".")
    return text.replace("T", " ", 1), text


def read_as_timestamp(column: SourceColumn | None) -> bool:
    """Whether connectorx reads a column as a timestamp: declared TIMESTAMP or DATETIME."""
    return column is not None and column.column_type in TIMESTAMP_TYPES


def sortable(column: sa.ColumnElement) -> sa.ColumnElement:
    """A column of text timestamps in one form, whose text sorts as their instants do (the
    highest text of a column holding both forms is a 'T' one of the highest day)."""
    return sa.func.replace(column, "T", " ")


def untyped(query: str) -> str:
    """The query without rows: connectorx reads it with the declared types it knows, and
    text for every other column."""
    return f"select * from ({wrappable(query)}) as typed where 0 = 1"


def sqlite3_fetch(
    connection: str, query: str, batch_rows: int, declared: pa.Schema
) -> pa.RecordBatchReader:
    """The query's rows in batches of `batch_rows`, from the SQLite file of `connection` (a
    connectorx URL), typed by `declared` (connectorx's schema of `untyped(query)`) and, for
    its text columns, by their first value that is not NULL."""
    path = unquote(connection.removeprefix("sqlite://"))  # the file connectorx opens
    if path.startswith("//"):  # sqlite:////abs/path: one slash, or the URI names a host
        path = "/" + path.lstrip("/")
    # Batches may be read in another thread than this one (the landing's), one at a time.
    con = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, check_same_thread=False)
    try:
        types = [field.type for field in declared]
        by_value = [i for i, kind in enumerate(types) if pa.types.is_string(kind)]
        if by_value:
            kinds = _first_value_types(con, query, len(types), by_value)
            for i, kind in zip(by_value, kinds, strict=True):
                types[i] = VALUE_TYPES.get(kind, pa.string())
        schema = pa.schema(pa.field(f.name, t) for f, t in zip(declared, types, strict=True))
        cursor = con.execute(query)
    except BaseException:
        con.close()
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            while rows := cursor.fetchmany(batch_rows):
                columns = zip(*rows, strict=True)
                yield pa.RecordBatch.from_arrays(
                    [_array(list(v), f) for v, f in zip(columns, schema, strict=True)],
                    schema=schema,
                )
        finally:
            con.close()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _first_value_types(
    con: sqlite3.Connection, query: str, width: int, columns: list[int]
) -> tuple[str | None, ...]:
    """The storage class of each of `columns`' first value that is not NULL (None: all are)."""
    names = ", ".join(f"c{i}" for i in range(width))
    firsts = ", ".join(
        f"(select typeof(c{i}) from typed where c{i} is not null limit 1)" for i in columns
    )
    return con.execute(f"with typed({names}) as ({wrappable(query)}) select {firsts}").fetchone()


def _array(values: list[Any], field: pa.Field) -> pa.Array:
    """A column's values as its Arrow type, refusing what connectorx refuses: a date or time
    that is not text, a boolean that is not an integer."""
    kind = field.type
    temporal = pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind)
    wanted = str if temporal else int if pa.types.is_boolean(kind) else None
    if wanted is not None:
        wrong = next((v for v in values if v is not None and not isinstance(v, wanted)), None)
        if wrong is not None:
            raise ValueError(f"column '{field.name}' ({kind}) holds {wrong!r}")
    if pa.types.is_time(kind):
        values = [None if v is None else time.fromisoformat(v) for v in values]
    try:
        return pa.array(values, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(values).cast(kind)  # text to a timestamp or date, an integer to a bool
