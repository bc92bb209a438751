"""Export files: Arrow batches streamed into Parquet or CSV, counted and checksummed as they go.

A file is written through the store's file system as the batches arrive, so memory holds one
batch (and the encoder's buffers), never a whole file.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tributary.errors import ExportError, RepeatedColumns
from tributary.names import repeated

FileKind = Literal["parquet", "csv"]
# Timestamps with a zone are written in UTC; in CSV as RFC 3339 (2024-05-01T10:00:00.123456Z)
# and those without as ISO 8601 (2024-05-01T10:00:00.123456).
UTC = "UTC"


@dataclass(frozen=True)
class FileFormat:
    kind: FileKind = "parquet"
    compression: str = "zstd"  # parquet: zstd, snappy, gzip, none; csv: none, gzip
    header: bool = True  # csv
    delimiter: str = ","  # csv

    @property
    def suffix(self) -> str:
        if self.kind == "csv":
            return ".csv.gz" if self.compression == "gzip" else ".csv"
        return ".parquet"


def normalize(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch as it is exported: timestamps with a zone in UTC (the same instants)."""
    if not any(_zoned(field.type) for field in batch.schema):
        return batch
    return batch.cast(export_schema(batch.schema))


def export_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            field.with_type(pa.timestamp(field.type.unit, tz=UTC)) if _zoned(field.type) else field
            for field in schema
        ],
        metadata=schema.metadata,
    )


def _zoned(kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind) and kind.tz is not None


def refuse_repeated_names(names: Sequence[str]) -> None:
    if twice := repeated(names):
        raise RepeatedColumns(
            f"the result has two columns named {twice} (names are compared ignoring case, as "
            "Spark and BigQuery read them); give each its own name in the query"
        )


class ChecksumWriter(io.RawIOBase):
    """A write-only file that passes bytes on to `sink`, counting them and hashing them (with no
    sink: only counts and hashes them)."""

    def __init__(self, sink: BinaryIO | None) -> None:
        self._sink = sink
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        if self._sink is not None:
            self._sink.write(view)
        self.sha256.update(view)
        self.bytes += len(view)
        return len(view)

    def tell(self) -> int:
        return self.bytes


class FileWriter:
    """Writes batches of one schema into one file in the chosen format."""

    def __init__(self, sink: ChecksumWriter, schema: pa.Schema, file_format: FileFormat) -> None:
        refuse_repeated_names(schema.names)
        for field in schema:
            if not _holds(file_format.kind, field.type):
                raise ExportError(
                    f"column '{field.name}' is {field.type}, which {file_format.kind} files "
                    "cannot hold; cast it in the model or the export's query (an interval to "
                    "seconds, a list or struct to JSON text)"
                )
        self.format = file_format
        self.rows = 0
        # The schema the file holds, as its readers see it: set once the file is closed.
        self.written_schema: pa.Schema | None = None
        self._schema = schema
        self._closers = []
        if file_format.kind == "parquet":
            compression = None if file_format.compression == "none" else file_format.compression
            self._parquet = pq.ParquetWriter(sink, schema, compression=compression)
            self._csv = None
        else:
            stream = pa.PythonFile(sink, mode="w")
            if file_format.compression == "gzip":
                stream = pa.CompressedOutputStream(stream, "gzip")
                self._closers.append(stream)
            self._csv = pacsv.CSVWriter(
                stream,
                _csv_schema(schema),
                write_options=pacsv.WriteOptions(
                    include_header=file_format.header,
                    delimiter=file_format.delimiter,
                    # RFC 4180: CRLF line ends; every text value quoted, quotes doubled. A NULL
                    # is an empty field, an empty string is "".
                    quoting_style="needed",
                    eol="\r\n",
                ),
            )
            self._parquet = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self._parquet is not None:
            self._parquet.write_batch(batch)
        else:
            self._csv.write_batch(_csv_batch(batch))
        self.rows += batch.num_rows

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            # From the footer just written: Parquet has no seconds (timestamp[s] is written in
            # milliseconds) and names a list's item 'element', whatever the result called it.
            self.written_schema = self._parquet.writer.metadata.schema.to_arrow_schema()
        else:
            self._csv.close()
            # CSV is text: the types to read it back with are the result's (zones in UTC).
            self.written_schema = self._schema
        for stream in self._closers:
            stream.close()


def _holds(kind: FileKind, column_type: pa.DataType) -> bool:
    if pa.types.is_interval(column_type) or pa.types.is_union(column_type):
        return False
    return kind != "csv" or not pa.types.is_nested(column_type)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([field.with_type(_csv_type(field.type)) for field in schema])


def _csv_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(kind) or _is_binary(kind) or _in_e_notation(kind):
        return pa.string()
    return kind


def _in_e_notation(kind: pa.DataType) -> bool:
    """A decimal Arrow may print in E notation: of a scale from 7 up (0E-10, 5.000E-7). Those
    of smaller scales it prints plainly with every digit of the scale (0.00, -0.000001), as
    numbers, unquoted; the others are written as text (decimal_text), quoted: Arrow's CSV
    writer quotes every text value and has no other way to put text in a file."""
    return pa.types.is_decimal(kind) and kind.scale > 6


def _is_binary(kind: pa.DataType) -> bool:
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def _is_date_or_time(kind: pa.DataType) -> bool:
    return pa.types.is_date32(kind) or pa.types.is_time(kind)


def _csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text for timestamps (ISO 8601; RFC 3339 in UTC with a zone), binary as base64 and
    decimals in positional notation; dates and times as Arrow writes them, once it is known
    that it can."""
    if not any(_csv_type(f.type) != f.type or _is_date_or_time(f.type) for f in batch.schema):
        return batch
    arrays = []
    for array, field in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_timestamp(array.type):
            array = _timestamp_text(array, field.name)
        elif _is_binary(array.type):
            array = pa.array(
                [None if v is None else base64.b64encode(v).decode() for v in array.to_pylist()],
                pa.string(),
            )
        elif _in_e_notation(array.type):
            array = decimal_text(array)
        elif _is_date_or_time(array.type):
            _check_printable(array, field.name)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


# A decimal's unscaled integer, read as a decimal of scale 0 of the same width (which Arrow
# prints as plain digits, never in E notation).
UNSCALED = {32: pa.decimal32(9, 0), 64: pa.decimal64(18, 0), 128: pa.decimal128(38, 0),
            256: pa.decimal256(76, 0)}  # fmt: skip


def decimal_text(array: pa.Array) -> pa.Array:
    """Decimals in positional notation with every digit of the scale (0.0000000000,
    -0.0000005000, 12.30), where Arrow prints E notation from a scale of 7 up (0E-10, 5.000E-7)
    and decimal128 and decimal256 differently. Vectorized: the unscaled integer's digits, the
    point put in."""
    scale = array.type.scale
    unscaled = pa.Array.from_buffers(
        UNSCALED[array.type.bit_width], len(array), array.buffers(), offset=array.offset
    )
    digits = pc.cast(unscaled, pa.string())
    if scale <= 0:
        return pc.binary_join_element_wise(digits, "0" * -scale, "") if scale else digits
    negative = pc.starts_with(digits, "-")
    magnitude = pc.utf8_lpad(pc.utf8_ltrim(digits, "-"), width=scale + 1, padding="0")
    text = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(magnitude, 0, -scale),
        pc.utf8_slice_codeunits(magnitude, -scale),
        ".",
    )
    return pc.if_else(negative, pc.binary_join_element_wise("-", text, ""), text)


# Arrow writes "<value out of range: ...>" into the file for a value past the calendar it
# prints: DuckDB's infinities (the storage's extremes), time 24:00:00 (the end of the day, which
# DuckDB, PostgreSQL and Redshift allow), years far past 9999. Timestamps are text already, so
# their infinities are spelled as DuckDB and PostgreSQL print them; any other such value stops
# the export, naming its column.
UNPRINTABLE = "out of range: "
DAYS_PRINTED = (-719_162, 2_932_896)  # date32 of 0001-01-01 and 9999-12-31
DAY = {"s": 86_400, "ms": 86_400 * 10**3, "us": 86_400 * 10**6, "ns": 86_400 * 10**9}


def _timestamp_text(array: pa.Array, name: str) -> pa.Array:
    text = _iso_text(array)
    storage = array.view(pa.int64())
    if _within(storage, [day * DAY[array.type.unit] for day in DAYS_PRINTED]):
        return text  # the common case, with no value to look for
    for value, word in ((2**63 - 1, "infinity"), (-(2**63 - 1), "-infinity")):
        text = pc.if_else(pc.equal(storage, value), word, text)
    _refuse_unprintable(text, storage, array.type, name)
    return text


def _check_printable(array: pa.Array, name: str) -> None:
    storage = array.view(pa.int32() if array.type.bit_width == 32 else pa.int64())
    printed = (0, DAY[array.type.unit] - 1) if pa.types.is_time(array.type) else DAYS_PRINTED
    if not _within(storage, printed):  # else without formatting the column twice
        _refuse_unprintable(pc.cast(array, pa.string()), storage, array.type, name)


def _within(storage: pa.Array, bounds: Sequence[int]) -> bool:
    """Whether every value lies within [bounds[0], bounds[1]] (an all-NULL array does)."""
    low, high = (value.as_py() for value in pc.min_max(storage).values())
    return low is None or (bounds[0] <= low and high <= bounds[1])


def _refuse_unprintable(text: pa.Array, storage: pa.Array, kind: pa.DataType, name: str) -> None:
    unprintable = pc.fill_null(pc.match_substring(text, UNPRINTABLE), False)
    if not pc.any(unprintable).as_py():
        return
    value = pc.filter(storage, unprintable)[0].as_py()
    if pa.types.is_time(kind) and value == DAY[kind.unit]:
        what = "24:00:00"
    elif abs(value) == 2 ** (kind.bit_width - 1) - 1:
        what = "infinity" if value > 0 else "-infinity"
    else:
        what = f"past the calendar CSV text is written in (stored as {value})"
    raise ExportError(
        f"column '{name}' holds a {kind} value {what}, which CSV cannot spell; cast it in the "
        "model or the export's query, or export Parquet"
    )


def _iso_text(array: pa.Array) -> pa.Array:
    # Formatting in a time zone costs ~20x more than formatting plain values: the (UTC)
    # values are formatted as they are, and a zone's values get the "Z" they are in.
    text = pc.replace_substring(
        pc.cast(array.cast(pa.timestamp(array.type.unit)), pa.string()),
        " ",
        "T",
        max_replacements=1,
    )
    return pc.binary_join_element_wise(text, "Z", "") if array.type.tz else text
