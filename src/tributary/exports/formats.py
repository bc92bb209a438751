"""Export files: Arrow batches streamed into Parquet or CSV, counted and checksummed as they go.

A file is written through the store's file system as the batches arrive, so memory holds one
batch (and the encoder's buffers), never a whole file.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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


class ChecksumWriter(io.RawIOBase):
    """A write-only file that passes bytes on to `sink`, counting them and hashing them."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self._sink.write(view)
        self.sha256.update(view)
        self.bytes += len(view)
        return len(view)

    def tell(self) -> int:
        return self.bytes


class FileWriter:
    """Writes batches of one schema into one file in the chosen format."""

    def __init__(self, sink: ChecksumWriter, schema: pa.Schema, file_format: FileFormat) -> None:
        self.format = file_format
        self.rows = 0
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
        else:
            self._csv.close()
        for stream in self._closers:
            stream.close()


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([field.with_type(_csv_type(field.type)) for field in schema])


def _csv_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(kind) or _is_binary(kind):
        return pa.string()
    return kind


def _is_binary(kind: pa.DataType) -> bool:
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def _csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text for timestamps (ISO 8601; RFC 3339 in UTC with a zone), and binary as base64."""
    if not any(pa.types.is_timestamp(f.type) or _is_binary(f.type) for f in batch.schema):
        return batch
    arrays = []
    for array in batch.columns:
        if pa.types.is_timestamp(array.type):
            array = _iso_text(array)
        elif _is_binary(array.type):
            array = pa.array(
                [None if v is None else base64.b64encode(v).decode() for v in array.to_pylist()],
                pa.string(),
            )
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


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
