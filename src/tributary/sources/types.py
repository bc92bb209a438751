"""The type policy of relational sources, applied to each Arrow batch as it streams.

- DECIMAL / NUMERIC / NUMBER are read as text and cast to their declared precision and scale
  (connectorx would hand back Decimal(38,10) and fails on wider values): never float.
- Timestamps with an offset are normalised to UTC.
- MySQL DATE/DATETIME/TIMESTAMP are read as text: zero dates ('0000-00-00', '2024-00-10')
  become NULL and are counted; MySQL TIMESTAMP is read in UTC (the session runs at +00:00).
- MySQL TIME (a duration, -838:59:59 to 838:59:59) is read as text and becomes a time of day,
  00:00:00 to 24:00:00; a value outside a day fails the read, naming the column.
- MySQL bit(1) becomes boolean, a wider bit(n) an integer (bit(64) unsigned): read as unsigned.
- MySQL tinyint(1) becomes boolean (a value other than 0 and 1 fails the read); its spatial
  types their well-known text (POINT(1 2)).
- PostgreSQL types connectorx cannot read (interval, time with time zone, xml, bit strings,
  geometric and extension types) are read as their text (inet as printed, without the /32
  its cast to text adds); money as a decimal; time as
  microseconds, so that the end of the day (24:00) stays itself (connectorx makes it 00:00).
- PostgreSQL arrays the driver cannot read (timestamptz[], uuid[], ...) are read as their text
  and cast to lists of their elements' types (timestamps, dates; text for the rest); an array
  of bytea, json, time, money or oid is refused, naming its column.
- JSON columns (MySQL json, PostgreSQL json/jsonb) are marked as Arrow JSON, so that a
  warehouse can give them its JSON type (Redshift SUPER, PostgreSQL jsonb, DuckDB JSON);
  PostgreSQL's are read as their text, numbers as written.
- Text stays text whatever its length; binary stays bytes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import Enum

import pyarrow as pa
import pyarrow.compute as pc

from tributary.arrow import first_uncastable
from tributary.errors import SourceError

DECIMAL_TYPES = {"decimal", "numeric", "number", "money", "smallmoney"}
# The catalogs' number types (information_schema's data_type, Oracle's and SQL Server's names;
# SQLite's declared type is read by its affinity rule instead).
NUMBER_TYPES = {
    "tinyint", "smallint", "mediumint", "int", "integer", "bigint",
    "float", "real", "double", "double precision", "binary_float", "binary_double",
} | (DECIMAL_TYPES - {"money", "smallmoney"})  # fmt: skip
SQLITE_NUMBER_AFFINITY = ("int", "real", "floa", "doub", "numeric", "decimal")


def is_arrow_number(kind: pa.DataType) -> bool:
    """An integer, floating-point or decimal Arrow type: a number as read."""
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


MYSQL_BACKENDS = {"mysql", "mariadb"}
MYSQL_TEMPORAL = {"date": pa.date32(), "datetime": pa.timestamp("us"), "timestamp": None}
ZERO_DATE = r"^(0000|\d{4}-00|\d{4}-\d{2}-00)"
# MySQL's TIME is a duration, -838:59:59 to 838:59:59 (the driver fails on any value outside a
# day, naming no column): read as its text, [-]H+:MM:SS[.ffffff].
MYSQL_TIME = "time"
MYSQL_TIME_TEXT = (
    r"^(?P<sign>-?)(?P<hours>\d+):(?P<minutes>\d\d):(?P<seconds>\d\d)(?:\.(?P<fraction>\d{1,6}))?$"
)
MICROSECONDS_A_DAY = 86_400_000_000
# MySQL's bit(n), which the driver reads as bytes: bit(1) is used as a flag (dlt and Airbyte
# make it a boolean), a wider one holds a number of n bits.
MYSQL_BIT = "bit"
# Unconstrained NUMERIC (no declared precision): the widest exact decimal Arrow tools share.
DEFAULT_DECIMAL = (38, 10)
ZERO_DATES_COUNTER = "zero_dates_nulled"
JSON_TYPES = {"json", "jsonb"}
# PostgreSQL's types (information_schema's data_type) that connectorx reads itself; on any
# other it panics, so those are read as text (numeric, money and time have their own forms).
# json and jsonb it reads, but parses and writes again, its numbers as doubles: as text.
POSTGRES_NATIVE = {
    "smallint", "integer", "bigint", "real", "double precision", "boolean", "oid",
    "text", "character varying", "character", "bytea", "uuid",
    "date", "timestamp without time zone", "timestamp with time zone", "array",
}  # fmt: skip
POSTGRES_TIME = "time without time zone"
# inet's cast to text always adds the netmask ('10.0.0.1' becomes '10.0.0.1/32'): it is read
# with abbrev(), which gives what PostgreSQL prints.
POSTGRES_INET = "inet"
# MySQL's spatial types, which connectorx cannot read: read as their well-known text.
MYSQL_GEOMETRY = {
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
    "multipolygon", "geometrycollection", "geomcollection",
}  # fmt: skip
# A PostgreSQL numeric array as format_type declares it: numeric[], numeric(20,15)[].
DECIMAL_ARRAY = re.compile(r"^numeric(?:\((\d+)(?:,(\d+))?\))?\[\]$")
# A length or precision in format_type's name of a type: varchar(5), timestamp(3) with time zone.
TYPMOD = re.compile(r"\(\d+(?:,\d+)?\)")
# The elements of PostgreSQL arrays (format_type's names, without a typmod) that connectorx
# reads itself; on any other array it panics ("not implemented: _timestamptz"), naming no
# column. Those are read as text arrays (numeric's have their own form, DECIMAL_ARRAY).
POSTGRES_NATIVE_ELEMENTS = {
    "smallint", "integer", "bigint", "real", "double precision", "boolean", "text",
    "character varying",
}  # fmt: skip
# Elements read as their text, then cast to what a column of their type is read as.
POSTGRES_TEXT_ELEMENTS = {
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
    "date": pa.date32(),
    "uuid": pa.string(),
    "character": pa.string(),
    "inet": pa.string(),  # as printed, as a column's is (abbrev: 10.0.0.1, not 10.0.0.1/32)
}
# Elements whose text is not what a column of their type is read as (bytes, JSON, a time of
# day, a number): an array of them is refused, naming its column. Any other element is read as
# a column of its type is, as its text (as printed: the array's text, parsed).
POSTGRES_REFUSED_ELEMENTS = (
    (POSTGRES_NATIVE | JSON_TYPES | {"money", POSTGRES_TIME})
    - POSTGRES_NATIVE_ELEMENTS
    - set(POSTGRES_TEXT_ELEMENTS)
    - {"numeric", "array"}
)
DECLARED = re.compile(r"^\s*([a-z ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")


class ReadAs(Enum):
    """How a column is selected where the driver's own reading would fail or mislead."""

    TEXT = "text"
    DECIMAL_TEXT = "decimal text"  # cast to the database's decimal first (money)
    TEXT_ARRAY = "text array"  # a numeric array's values as text (the driver rounds them)
    MICROSECONDS = "microseconds"  # a time of day as microseconds since midnight
    WELL_KNOWN_TEXT = "well-known text"  # a geometry as WKT: POINT(1 2)
    PRINTED_ADDRESS = "printed address"  # inet as PostgreSQL prints it: 10.0.0.1, ::1
    UNSIGNED = "unsigned"  # a MySQL bit(n) as its unsigned integer


@dataclass(frozen=True)
class SourceColumn:
    name: str
    data_type: str  # the base type, lower case: decimal, tinyint, datetime, ...
    column_type: str  # the full declared type where the database says it: tinyint(1)
    precision: int | None = None
    scale: int | None = None

    @classmethod
    def from_catalog(
        cls,
        name: str,
        data_type: str | None,
        column_type: str | None,
        precision: int | None,
        scale: int | None,
    ) -> SourceColumn:
        """A catalog row; where it gives no precision (-1), the declared type does."""
        column_type = (column_type or "").strip()
        if precision == -1:
            declared = DECLARED.match(column_type)
            data_type = declared.group(1) if declared else column_type
            precision = int(declared.group(2)) if declared and declared.group(2) else None
            scale = int(declared.group(3)) if declared and declared.group(3) else None
        return cls(name, (data_type or "").strip(), column_type, precision, scale)

    def read_as(self, backend: str) -> ReadAs | None:
        """How the column is selected, or None: as it is (so is a custom query's column of no
        decimal type, whose type only its driver knows)."""
        if not self.data_type:
            return None
        if backend == "postgresql":
            if self.data_type == "money":
                return ReadAs.DECIMAL_TEXT
            if self.data_type == POSTGRES_TIME:
                return ReadAs.MICROSECONDS
            if self.data_type == POSTGRES_INET:
                return ReadAs.PRINTED_ADDRESS
            if self.text_array is not None:
                return ReadAs.TEXT_ARRAY
            if self.data_type not in POSTGRES_NATIVE and not self.is_decimal:
                return ReadAs.TEXT
        if backend in MYSQL_BACKENDS and self.data_type in MYSQL_GEOMETRY:
            return ReadAs.WELL_KNOWN_TEXT
        if backend in MYSQL_BACKENDS and self.data_type == MYSQL_BIT:
            return ReadAs.UNSIGNED
        if self.is_decimal:
            return ReadAs.TEXT
        if backend in MYSQL_BACKENDS and (
            self.data_type in MYSQL_TEMPORAL or self.data_type == MYSQL_TIME
        ):
            return ReadAs.TEXT
        return None

    def zero_dates_null(self, backend: str) -> bool:
        """Whether the type policy reads the column's zero dates as NULL (a MySQL date or
        time: year, month or day 0)."""
        return backend in MYSQL_BACKENDS and self.data_type in MYSQL_TEMPORAL

    @property
    def declared(self) -> str:
        """The type as declared, for messages: decimal(12,3), numeric(10, 2), numeric."""
        if "(" in self.column_type or self.precision is None:
            return self.column_type or self.data_type
        return f"{self.data_type}({self.precision}, {self.scale or 0})"

    def holds_numbers(self, backend: str) -> bool:
        """Whether each value is a number as read: an integer, decimal or floating-point type
        (on SQLite, a declared type its affinity rule reads as a number). MySQL's tinyint(1) is
        read as boolean."""
        if backend in MYSQL_BACKENDS and self.read_as_boolean:
            return False
        if backend == "sqlite":
            return any(name in self.data_type for name in SQLITE_NUMBER_AFFINITY)
        return self.data_type in NUMBER_TYPES

    @property
    def read_as_boolean(self) -> bool:
        """MySQL's boolean, tinyint(1) (on a MySQL source only)."""
        return self.column_type.startswith("tinyint(1)")

    @property
    def bit_type(self) -> pa.DataType:
        """A MySQL bit(n)'s type: boolean for bit(1), else an integer of its n bits (the
        driver types a cast to unsigned by its display width, uint32 or uint64)."""
        if self.precision == 1:
            return pa.bool_()
        return pa.int64() if (self.precision or 64) < 64 else pa.uint64()

    @property
    def is_decimal(self) -> bool:
        # Oracle NUMBER with no precision is an integer or float as the driver types it.
        return self.data_type in DECIMAL_TYPES and not (
            self.data_type == "number" and self.precision is None
        )

    @property
    def decimal_type(self) -> pa.DataType:
        return _decimal_type(self.precision, self.scale)

    @property
    def array_element(self) -> str | None:
        """A PostgreSQL array's element type, as format_type names it without a length or
        precision (timestamp with time zone, character varying); None for another column."""
        if self.data_type != "array" or not self.column_type.endswith("[]"):
            return None
        return TYPMOD.sub("", self.column_type.removesuffix("[]")).strip()

    @property
    def text_array(self) -> pa.DataType | None:
        """The list type of a PostgreSQL array read as its elements' text (the driver cannot
        read it, or rounds it: numeric), or None: read as it is, or refused
        (unreadable_array)."""
        if self.decimal_array is not None:
            return self.decimal_array
        element = self.array_element
        if element is None or element in POSTGRES_NATIVE_ELEMENTS:
            return None
        if element in POSTGRES_REFUSED_ELEMENTS:
            return None
        return pa.large_list(POSTGRES_TEXT_ELEMENTS.get(element, pa.string()))

    @property
    def unreadable_array(self) -> str | None:
        """Why a PostgreSQL array cannot be read (the driver cannot read it, and its elements'
        text is not what a column of their type is read as), with the way out; else None."""
        if self.array_element not in POSTGRES_REFUSED_ELEMENTS:
            return None
        return (
            f"column '{self.name}' ({self.column_type}) is an array the driver cannot read, of "
            "a type its text would not stand for; read the table through a `query:` that casts "
            f"it (cast({self.name} as text[]), its elements' text) or leaves it out"
        )

    @property
    def decimal_array(self) -> pa.DataType | None:
        """A PostgreSQL numeric array's type, its values as exact as a numeric column's (the
        driver reads them as decimal(38, 10), rounding past 10 places): else None."""
        declared = DECIMAL_ARRAY.match(self.column_type) if self.data_type == "array" else None
        if declared is None:
            return None
        precision, scale = (int(d) if d else None for d in declared.groups())
        return pa.large_list(_decimal_type(precision, scale))


def _decimal_type(precision: int | None, scale: int | None) -> pa.DataType:
    """The exact decimal of a declared precision and scale; decimal(38, 10) for none."""
    if precision is None:
        precision, scale = DEFAULT_DECIMAL
    scale = scale or 0
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


def normalize(
    batch: pa.RecordBatch, columns: dict[str, SourceColumn], backend: str, counters: Counter
) -> pa.RecordBatch:
    arrays, fields = [], []
    for field, array in zip(batch.schema, batch.columns, strict=True):
        column = columns.get(field.name)
        array = _normalize_array(array, column, backend, counters)
        arrays.append(array)
        fields.append(pa.field(field.name, array.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _mysql_temporal(array: pa.Array, column: SourceColumn, counters: Counter) -> pa.Array:
    """MySQL's date and time text as Arrow, its zero dates (year, month or day 0) as NULL."""
    data_type = column.data_type
    arrow_type = MYSQL_TEMPORAL[data_type] or pa.timestamp("us")
    # Most batches hold no zero date: Arrow's cast refuses a month or day 0, so a batch whose
    # cast succeeds and where no year is 0000 needs no match per value (a third of the cost).
    if not pc.any(pc.starts_with(array, "0000")).as_py():
        try:
            return _as_read(pc.cast(array, arrow_type), data_type)
        except pa.ArrowInvalid:
            pass
    zero = pc.fill_null(pc.match_substring_regex(array, ZERO_DATE), False)
    counters[ZERO_DATES_COUNTER] += pc.sum(zero).as_py() or 0
    valid = pc.if_else(zero, pa.scalar(None, pa.string()), array)
    try:
        return _as_read(pc.cast(valid, arrow_type), data_type)
    except pa.ArrowInvalid:  # a day no calendar has ('2024-02-31', under ALLOW_INVALID_DATES)
        value = first_uncastable(valid, arrow_type)
        raise SourceError(
            f"column '{column.name}' ({column.column_type}) holds '{value}', which is no "
            f"{data_type}; read the table through a `query:` that mends it (for example "
            f"nullif({column.name}, '{value}'))"
        ) from None


def _mysql_time(array: pa.Array, column: SourceColumn) -> pa.Array:
    """MySQL's TIME text as a time of day, 00:00:00 to 24:00:00 (the end of a day, as a
    PostgreSQL time holds it). A longer or negative duration fails the read, naming the column
    and the value: no time of day holds it, and a wrapped or clipped one would say another."""
    parts = pc.extract_regex(array, MYSQL_TIME_TEXT)
    hours, minutes, seconds = (
        pc.cast(pc.struct_field(parts, part), pa.int64())
        for part in ("hours", "minutes", "seconds")
    )
    fraction = pc.cast(pc.utf8_rpad(pc.struct_field(parts, "fraction"), 6, "0"), pa.int64())
    whole = pc.add(pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60), seconds)
    micros = pc.add(pc.multiply(whole, 1_000_000), fraction)
    negative = pc.and_(pc.equal(pc.struct_field(parts, "sign"), "-"), pc.greater(micros, 0))
    outside = pc.or_kleene(
        pc.or_(negative, pc.greater(micros, MICROSECONDS_A_DAY)),
        pc.and_(pc.is_valid(array), pc.is_null(parts)),  # a text of no form the server writes
    )
    if pc.any(outside).as_py():
        value = pc.filter(array, outside)[0].as_py()
        raise SourceError(
            f"column '{column.name}' ({column.column_type}) holds '{value}', a duration no time "
            "of day is (MySQL's time runs from -838:59:59 to 838:59:59; a time of day from "
            f"00:00:00 to 24:00:00); read the table through a `query:` that casts it: "
            f"time_to_sec({column.name}) (its seconds, a number) or cast({column.name} as char) "
            "(its text)"
        )
    return pc.cast(micros, pa.time64("us"))


def _as_read(array: pa.Array, data_type: str) -> pa.Array:
    if data_type == "timestamp":  # read at session time zone +00:00
        return pc.assume_timezone(array, "UTC")
    return array


def _normalize_array(
    array: pa.Array, column: SourceColumn | None, backend: str, counters: Counter
) -> pa.Array:
    if column is not None and column.is_decimal:
        return _decimal(array, column, column.decimal_type)
    if column is not None and column.decimal_array is not None:
        return _decimal(array, column, column.decimal_array)
    if column is not None and backend == "postgresql" and column.text_array is not None:
        return _text_array(array, column, column.text_array)
    if column is not None and column.read_as(backend) is ReadAs.MICROSECONDS:
        return pc.cast(array, pa.time64("us"))
    if column is not None and column.data_type in JSON_TYPES and pa.types.is_string(array.type):
        return pa.ExtensionArray.from_storage(pa.json_(), array)
    if column is not None and column.zero_dates_null(backend):
        return _mysql_temporal(array, column, counters)
    if column is not None and backend in MYSQL_BACKENDS:
        if column.data_type == MYSQL_TIME:
            return _mysql_time(array, column)
        if column.read_as_boolean:
            return _flag(array, column)
        if column.data_type == MYSQL_BIT:
            return pc.cast(array, column.bit_type)
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        return array.cast(pa.timestamp(array.type.unit, tz="UTC"))
    return array


def _decimal(array: pa.Array, column: SourceColumn, target: pa.DataType) -> pa.Array:
    """Decimal text (or a list of it) as the column's decimal type; a value it cannot hold
    exactly fails the read, naming the column and the value (rounding it would be a silent
    change)."""
    try:
        return pc.cast(array, target)
    except pa.ArrowInvalid as error:
        if pa.types.is_large_list(target):
            array, target = pc.list_flatten(array), target.value_type
        value = first_uncastable(array, target)
        if "Rescaling" in str(error):
            problem = f"more decimal places than {target.scale}"
        elif "precision" in str(error):
            problem = f"more digits than {target.precision}"
        else:
            problem = "no decimal form"
        implied = (
            ""
            if column.precision is not None or "(" in column.column_type
            else f", as a {column.data_type.replace('array', 'numeric')} with no declared "
            "precision is read"
        )
        raise SourceError(
            f"column '{column.name}' ({column.declared}) holds {value or 'a value'!r}: {problem} "
            f"(read as {target}{implied}); declare the column's precision at the source, or "
            "read the table through a `query:` that casts or filters the column"
        ) from None


def _text_array(array: pa.Array, column: SourceColumn, target: pa.DataType) -> pa.Array:
    """A PostgreSQL array's elements' text as the list of their type; a value Arrow cannot hold
    (a timestamp's infinity, a date before Christ) fails the read, naming the column and the
    value."""
    try:
        return pc.cast(array, target)
    except pa.ArrowInvalid:
        value = first_uncastable(pc.list_flatten(array), target.value_type)
        raise SourceError(
            f"column '{column.name}' ({column.column_type}) holds {value or 'a value'!r}, which "
            f"is no {target.value_type} as an array element is read; read the table through a "
            f"`query:` that casts it (cast({column.name} as text[]), its elements' text)"
        ) from None


def _flag(array: pa.Array, column: SourceColumn) -> pa.Array:
    """MySQL's boolean, tinyint(1), as a boolean. It holds -128..127: a value other than 0 and
    1 (a tri-state 2) fails the read, naming the column, as true it would lose what it says."""
    low, high = (value.as_py() for value in pc.min_max(array).values())
    if low is not None and (low < 0 or high > 1):
        value = low if low < 0 else high
        raise SourceError(
            f"column '{column.name}' ({column.column_type}) holds {value}, which a boolean cannot "
            f"hold; read the table through a `query:` that casts it (cast({column.name} as "
            "signed))"
        )
    return pc.cast(array, pa.bool_())
