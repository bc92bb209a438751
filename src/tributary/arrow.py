"""Small helpers over Arrow record batch streams."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# A PostgreSQL source's -infinity and infinity, as its driver (connectorx, through chrono)
# hands them over: its calendar's first and last day (262144 BC and 262142), in days and in
# microseconds since 1970. The warehouses write them as their own infinities.
DRIVER_INFINITY_DAYS = (-96_465_292, 95_026_236)
DRIVER_INFINITY_MICROS = (-8_334_601_228_800_000_000, 8_210_266_876_799_999_999)
# -infinity and infinity as DuckDB stores them, and as Arrow gets them from DuckDB (and from a
# PostgreSQL warehouse's read): the storage's extremes, in days or in microseconds.
WAREHOUSE_INFINITY_DAYS = (-(2**31 - 1), 2**31 - 1)
WAREHOUSE_INFINITY_MICROS = (-(2**63 - 1), 2**63 - 1)


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


class StrictlyRising:
    """Whether a column's values, over the batches seen, rose strictly from row to row: if
    so, no value came twice (nor NULL), here or in the warehouse. Costs one vectorised
    comparison per batch; a type Arrow cannot order, a NULL, or a nanosecond time (which
    warehouses round to microseconds, so that distinct values may meet) settles it as False."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.holds = True
        self._last: pa.Scalar | None = None

    def see(self, batch: pa.RecordBatch) -> None:
        if not self.holds or not batch.num_rows:
            return
        values = batch.column(self.column)
        if getattr(values.type, "unit", None) == "ns":
            self.holds = False
            return
        try:
            self.holds = not values.null_count and (
                (self._last is None or pc.greater(values[0], self._last).as_py())
                and (len(values) < 2 or pc.all(pc.greater(values[1:], values[:-1])).as_py())
            )
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
            self.holds = False
        self._last = values[-1]

    def watching(self, batches: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """The same batches, each seen on its way through."""

        def seen() -> Iterator[pa.RecordBatch]:
            for batch in batches:
                self.see(batch)
                yield batch

        return pa.RecordBatchReader.from_batches(batches.schema, seen())

    @classmethod
    def of_key(cls, key: Sequence[str]) -> StrictlyRising | None:
        """The watch of a one-column key; a key of several columns is not watched."""
        return cls(key[0]) if len(key) == 1 else None


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


def first_uncastable(text: pa.Array, target: pa.DataType) -> str | None:
    """The first value of a text array that does not cast to `target` (to name it in an
    error once a cast of the whole array has failed; each value is tried alone)."""
    for value in text.to_pylist():
        if value is None:
            continue
        try:
            pc.cast(pa.array([value]), target)
        except pa.ArrowInvalid:
            return value
    return None


def checksum(batches: Iterable[pa.RecordBatch]) -> tuple[int, str]:
    """(rows, checksum) of a stream of rows, independent of their order and of how a driver
    typed them: each row's values in a canonical form are hashed, and the hashes summed
    modulo 2**64. The same rows read from a source database and from the warehouse (1.50 as
    decimal(10,2) or numeric(38,10), a timestamp with or without its UTC zone) agree.

    Each value is written as its kind, its text's length and its text, a NULL as N alone: no
    value reads as another (a NULL as the text \\N, a boolean true as the text 't', a value
    holding what separated values before), wherever the two sides hold them."""
    rows, total = 0, 0
    for batch in batches:
        columns = [_values(column) for column in batch.columns]
        for values in zip(*columns, strict=True):
            text = "".join(_canonical(value) for value in values)
            digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
            total = (total + int.from_bytes(digest, "big")) % 2**64
        rows += batch.num_rows
    return rows, f"{total:016x}"


class _Endless(str):
    """-infinity or infinity of a date or timestamp column (Python's dates cannot hold it)."""


def infinities(column: pa.Array) -> tuple[pa.BooleanArray, pa.BooleanArray] | None:
    """Where a date or timestamp column holds -infinity and where infinity, as the source
    driver or a warehouse hands them over; None if it holds neither (or is of another type)."""
    kind = column.type
    if pa.types.is_date32(kind):
        storage, ends = column.view(pa.int32()), (DRIVER_INFINITY_DAYS, WAREHOUSE_INFINITY_DAYS)
    elif pa.types.is_timestamp(kind) and kind.unit == "us":
        storage = column.view(pa.int64())
        ends = (DRIVER_INFINITY_MICROS, WAREHOUSE_INFINITY_MICROS)
    else:
        return None
    low = pc.fill_null(pc.is_in(storage, pa.array([end[0] for end in ends], storage.type)), False)
    high = pc.fill_null(pc.is_in(storage, pa.array([end[1] for end in ends], storage.type)), False)
    return (low, high) if pc.any(pc.or_(low, high)).as_py() else None


def _values(column: pa.Array) -> list[Any]:
    """A column's values as Python's; a date's or timestamp's infinity as _Endless (to_pylist
    would fail: Python's years end in 9999), so that the source's and the warehouse's agree."""
    found = infinities(column)
    if found is None:
        return column.to_pylist()
    low, high = found
    kind = column.type
    endless = pc.or_(low, high)
    values = pc.if_else(endless, pa.nulls(len(column), kind), column).to_pylist()
    for i in pc.indices_nonzero(low).to_pylist():
        values[i] = _Endless("-infinity")
    for i in pc.indices_nonzero(high).to_pylist():
        values[i] = _Endless("infinity")
    return values


def _canonical(value: Any) -> str:
    """A value as <kind><length>:<text>, or N for NULL; one kind for the numbers (an integer
    read as a float or a decimal is the same number)."""
    if value is None:
        return "N"
    kind, text = _kind_and_text(value)
    return f"{kind}{len(text)}:{text}"


def _kind_and_text(value: Any) -> tuple[str, str]:
    if isinstance(value, _Endless):
        return "e", str(value)
    if isinstance(value, bool):
        return "b", "t" if value else "f"
    if isinstance(value, Decimal):
        return "n", format(value.normalize(), "f") if value else "0"
    if isinstance(value, float) and value.is_integer():
        return "n", str(int(value))
    if isinstance(value, int | float):
        return "n", str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return "T", value.isoformat()
    if isinstance(value, date):
        return "d", value.isoformat()
    if isinstance(value, bytes):
        return "x", value.hex()
    if isinstance(value, str):
        return "s", value
    return "o", str(value)
