"""Streaming a PostgreSQL query out as Arrow batches: COPY ... TO STDOUT as CSV, parsed by
pyarrow's streaming CSV reader with an explicit schema taken from the query's columns.

The types are decided by the column descriptions, never guessed from values: numeric(p, s)
stays decimal(p, s) (unconstrained numeric becomes decimal(38, 10), as in the source type
policy, and a value it cannot hold exactly fails naming the column: never rounded), timestamptz
is UTC, bytea is binary, NULL and '' stay apart.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tributary.arrow import WAREHOUSE_INFINITY_DAYS, WAREHOUSE_INFINITY_MICROS, first_uncastable
from tributary.errors import RepeatedColumns, WarehouseError
from tributary.names import repeated
from tributary.warehouse.base import quote_ident

# pg_type OIDs of the types with an Arrow counterpart; everything else is read as text.
_BY_OID: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    26: pa.int64(),  # oid
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
NUMERIC, BYTEA = 1700, 17
UNCONSTRAINED = pa.decimal128(38, 10)
BLOCK_BYTES = 8 << 20  # CSV bytes parsed per batch: memory stays flat whatever the result size
# A line put before the COPY's first row and skipped by Arrow's reader (ReadOptions.skip_rows):
# Arrow drops a byte order mark (U+FEFF) at the very start of its input, and PostgreSQL does not
# quote a text value that begins with one, so a first value '\ufeffnote' was read as 'note' (and
# one of only a BOM as NULL). Ours, not COPY's HEADER: Arrow skips lines by counting newlines,
# which a column name may hold.
LEAD_LINE = b"tributary\n"
# How Arrow's CSV reader names the column a value failed in (by position).
FAILED_COLUMN = re.compile(r"^In CSV column #(\d+): Row #\d+: ")


def column_type(column: psycopg.Column) -> pa.DataType:
    if column.type_code == NUMERIC:
        if column.precision is None:
            return UNCONSTRAINED
        precision, scale = column.precision, column.scale or 0
        if scale < 0:  # numeric(p, -s) (PostgreSQL 15) holds integers of up to p + s digits
            precision, scale = precision - scale, 0
        kind = pa.decimal128 if precision <= 38 else pa.decimal256
        return kind(precision, scale)
    if column.type_code == BYTEA:
        return pa.binary()
    return _BY_OID.get(column.type_code, pa.string())


@contextmanager
def read_with_copy(
    con: psycopg.Connection, sql: str, *, batch_rows: int
) -> Iterator[pa.RecordBatchReader]:
    """Stream `sql`'s result in batches of at most `batch_rows` rows, in one read-only
    transaction. The connection's session fixes how values are written as text (UTC, ISO
    dates, hex bytea, UTF-8: the warehouse's SESSION_SETTINGS)."""
    with con.transaction():
        con.execute("set transaction read only")
        with con.cursor() as cursor:
            cursor.execute(f"select * from ({sql}) as export_rows limit 0")
            columns = list(cursor.description or [])
        if twice := repeated([c.name for c in columns]):
            raise RepeatedColumns(
                f"the query returns two columns named {twice}; give each its own name"
            )
        schema = pa.schema([(c.name, column_type(c)) for c in columns])
        unconstrained = {c.name for c in columns if c.type_code == NUMERIC and c.precision is None}
        with con.cursor().copy(f"copy ({sql}) to stdout (format csv)") as copy:
            source = _CopyStream(copy)
            batches = _batches(source, schema, batch_rows, unconstrained)
            yield pa.RecordBatchReader.from_batches(schema, batches)
            source.drain()  # a reader left early: finish the COPY so the transaction can end


def _read_as_text(field: pa.Field, unconstrained: set[str]) -> bool:
    """Columns Arrow's CSV reader cannot convert itself (bytea, wide decimals, dates and
    timestamps, which may hold `infinity`), and unconstrained numerics, whose values must fit
    decimal(38, 10) exactly: read as text, converted after."""
    kind = field.type
    return (
        pa.types.is_binary(kind)
        or pa.types.is_decimal256(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_date32(kind)
        or field.name in unconstrained
    )


def _from_text(text: pa.Array, field: pa.Field) -> pa.Array:
    kind = field.type
    if pa.types.is_timestamp(kind) or pa.types.is_date32(kind):
        return _calendar_from_text(text, field)
    if pa.types.is_binary(kind):  # PostgreSQL's bytea output: \x0a1b...
        digits = pc.utf8_slice_codeunits(text, 2)
        return pa.array([None if v is None else bytes.fromhex(v) for v in digits.to_pylist()], kind)
    try:
        return pc.cast(text, kind)  # refuses a value it would round or cannot hold
    except pa.ArrowInvalid:
        value = first_uncastable(text, kind)
        raise WarehouseError(
            f"column '{field.name}' (numeric) holds {value}, which {_decimal_name(kind)} "
            f"cannot hold exactly; {_numeric_hint(quote_ident(field.name), str(value))}"
        ) from None


def _numeric_hint(column: str, value: str) -> str:
    """How to read a numeric value that decimal(38, 10) cannot hold: a cast that holds it (its
    integer digits, and at least 10 decimals or as many as it has), where one can."""
    whole, _, fraction = value.lstrip("+-").partition(".")
    whole = whole.lstrip("0")
    if not (whole + fraction).isdigit():  # NaN
        return f"no decimal holds it: replace it in the query (e.g. nullif({column}, 'NaN'))"
    if len(whole) + len(fraction) > 38:
        return "no decimal of 38 digits holds it: round() it in the query, or cast it to text"
    scale = min(38 - len(whole), max(len(fraction), 10))
    return (
        "cast it in the query to the precision and scale it needs "
        f"(e.g. {column}::numeric(38, {scale}), or round() it)"
    )


def _calendar_from_text(text: pa.Array, field: pa.Field) -> pa.Array:
    """A date or timestamp column from its text, `infinity` and `-infinity` as DuckDB holds
    them (the storage's extremes), which Arrow's CSV reader refused: a checksum, an export
    reads them as they read a DuckDB warehouse's."""
    kind = field.type
    low, high = (pc.fill_null(pc.equal(text, word), False) for word in ("-infinity", "infinity"))
    endless = pc.or_(low, high)
    try:
        finite = pc.cast(pc.if_else(endless, pa.scalar(None, text.type), text), kind)
    except pa.ArrowInvalid:
        value = first_uncastable(pc.if_else(endless, pa.scalar(None, text.type), text), kind)
        raise WarehouseError(
            f"column '{field.name}' ({kind}) holds a value Arrow cannot read: '{value}'; "
            "cast it in the query"
        ) from None
    if not pc.any(endless).as_py():
        return finite
    storage_type, ends = (
        (pa.int32(), WAREHOUSE_INFINITY_DAYS)
        if pa.types.is_date32(kind)
        else (pa.int64(), WAREHOUSE_INFINITY_MICROS)
    )
    storage = finite.view(storage_type)
    storage = pc.if_else(low, pa.scalar(ends[0], storage_type), storage)
    storage = pc.if_else(high, pa.scalar(ends[1], storage_type), storage)
    return storage.view(kind)


def _decimal_name(kind: pa.DataType) -> str:
    return f"decimal({kind.precision}, {kind.scale})"


def _batches(
    source: _CopyStream, schema: pa.Schema, batch_rows: int, unconstrained: set[str]
) -> Iterator[pa.RecordBatch]:
    stream = io.BufferedReader(source, buffer_size=1 << 20)
    if not len(schema) or not stream.peek(1):  # no rows: Arrow's reader refuses empty CSV
        return
    try:
        yield from _parsed(_Led(stream), schema, batch_rows, unconstrained)
    except pa.ArrowInvalid as error:
        raise _named(error, schema) from None


def _named(error: pa.ArrowInvalid, schema: pa.Schema) -> Exception:
    """Arrow's error for a value it cannot read as its column's type (PostgreSQL's infinity,
    24:00:00, a numeric NaN), naming the column rather than its position."""
    found = FAILED_COLUMN.match(str(error))
    if found is None:
        return error
    field = schema.field(int(found.group(1)))
    return WarehouseError(
        f"column '{field.name}' ({field.type}) holds a value Arrow cannot read: "
        f"{str(error)[found.end() :]}; cast it in the query"
    )


def _parsed(
    stream: io.RawIOBase, schema: pa.Schema, batch_rows: int, unconstrained: set[str]
) -> Iterator[pa.RecordBatch]:
    as_text = [_read_as_text(f, unconstrained) for f in schema]
    parsed = pa.schema(
        [f.with_type(pa.string()) if text else f for f, text in zip(schema, as_text, strict=True)]
    )
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(
            column_names=schema.names,
            skip_rows=1,  # LEAD_LINE
            block_size=BLOCK_BYTES,
            use_threads=False,
        ),
        # a one-column row holding NULL is an empty line: a row, not a line to skip
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types=parsed,
            null_values=[""],  # only an unquoted empty field is NULL; "" is an empty string
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    for parsed_batch in reader:
        batch = pa.RecordBatch.from_arrays(
            [
                _from_text(array, field) if text else array
                for array, field, text in zip(parsed_batch.columns, schema, as_text, strict=True)
            ],
            schema=schema,
        )
        for offset in range(0, batch.num_rows, batch_rows):
            yield batch.slice(offset, batch_rows)


class _Led(io.RawIOBase):
    """LEAD_LINE, then the stream."""

    def __init__(self, stream: io.BufferedReader) -> None:
        self._stream = stream
        self._lead = memoryview(LEAD_LINE)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._lead:
            return self._stream.readinto(buffer)
        size = min(len(buffer), len(self._lead))
        buffer[:size] = self._lead[:size]
        self._lead = self._lead[size:]
        if not self._lead and size < len(buffer):  # and the stream's first bytes after it
            size += self._stream.readinto(memoryview(buffer)[size:])
        return size


class _CopyStream(io.RawIOBase):
    """The COPY's data as a readable file."""

    def __init__(self, copy: psycopg.Copy) -> None:
        self._copy = copy
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            if self._done:
                return 0
            chunk = self._copy.read()
            if not chunk:
                self._done = True
                return 0
            self._pending = memoryview(bytes(chunk))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def drain(self) -> None:
        while not self._done:
            self._done = not self._copy.read()
