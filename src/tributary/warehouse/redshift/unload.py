"""Redshift's UNLOAD for exports: the statement, and the files its manifest lists.

`UNLOAD ('<query>') TO 's3://<prefix>/' IAM_ROLE '...' FORMAT AS PARQUET MANIFEST VERBOSE
PARALLEL ON MAXFILESIZE <n> MB`: every slice writes its share of the result straight to S3, and
the manifest (`<prefix>/manifest`) lists each file with its length and rows, and the columns with
their Redshift types. The client does no row work.

Quoting: Redshift reads a backslash in a string literal as an escape (`\\'` is a quote), so a
literal doubles backslashes as well as quotes; the query is itself such a literal inside UNLOAD.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from tributary.warehouse.unload import Unloaded, UnloadedColumn, UnloadedFile, UnloadFormat

MANIFEST_NAME = "manifest"  # UNLOAD writes <prefix>manifest
# What UNLOAD writes Parquet with: Snappy, always (no other codec is accepted with PARQUET).
PARQUET_COMPRESSION = "snappy"
MIN_FILE_MB, MAX_FILE_MB = 5, 6200  # MAXFILESIZE's bounds (6.2 GB)
DEFAULT_FILE_MB = 256

CSV_NOTES = [
    "unloaded by Redshift as CSV: LF line ends (the local writer: CRLF); a value is quoted only "
    "when it holds the delimiter, a quote, a CR or an LF (the local writer quotes every text "
    "value), so an empty string and NULL may both be an empty field",
]


def redshift_string(value: str) -> str:
    """A Redshift string literal: quotes and backslashes doubled."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def unload_sql(
    query: str,
    *,
    to: str,
    iam_role: str,
    file_format: UnloadFormat,
    max_file_mb: int,
    region: str | None = None,
) -> str:
    """The UNLOAD of `query` (parameters already rendered as literals) into the prefix `to`.
    No ALLOWOVERWRITE: the prefix is a fresh attempt's, and an UNLOAD into files that exist
    fails rather than mixing two results."""
    if file_format.kind == "parquet":
        shape = "format as parquet"
    else:
        shape = "format as csv"
        if file_format.delimiter != ",":
            shape += f" delimiter as {redshift_string(file_format.delimiter)}"
        if file_format.header:
            shape += " header"
        if file_format.gzip:
            shape += " gzip"
    where = f" region {redshift_string(region)}" if region else ""
    return (
        f"unload ({redshift_string(query)}) to {redshift_string(to)} "
        f"iam_role {redshift_string(iam_role)} {shape} manifest verbose parallel on "
        f"maxfilesize {max_file_mb} mb{where}"
    )


# Redshift's type names (as the manifest and pg_catalog spell them) and aliases, to Arrow: the
# export type mapping (docs/exports.md).
SIMPLE_TYPES: dict[str, pa.DataType] = {
    "smallint": pa.int16(),
    "int2": pa.int16(),
    "integer": pa.int32(),
    "int": pa.int32(),
    "int4": pa.int32(),
    "bigint": pa.int64(),
    "int8": pa.int64(),
    "real": pa.float32(),
    "float4": pa.float32(),
    "double precision": pa.float64(),
    "float8": pa.float64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "bool": pa.bool_(),
    "character": pa.string(),
    "char": pa.string(),
    "bpchar": pa.string(),
    "character varying": pa.string(),
    "varchar": pa.string(),
    "nvarchar": pa.string(),
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "time without time zone": pa.time64("us"),
    "time": pa.time64("us"),
    "super": pa.string(),  # JSON text
    "varbyte": pa.binary(),
    "binary varying": pa.binary(),
    "varbinary": pa.binary(),
}
DECIMALS = ("numeric", "decimal")
# Parquet: what UNLOAD writes where it is not the mapping's plain type.
PARQUET_NOTES = {
    "super": "SUPER: JSON text, written by UNLOAD with Parquet's JSON logical type",
}
# CSV: how UNLOAD renders a type, where the local CSV writer renders it otherwise.
CSV_TYPE_NOTES = {
    pa.timestamp("us"): "text as Redshift prints it: 2024-05-01 10:00:00.123456 (a space, not T)",
    pa.timestamp("us", tz="UTC"): "text as Redshift prints it: 2024-05-01 10:00:00.123456+00 "
    "(the local writer: 2024-05-01T10:00:00.123456Z)",
    pa.bool_(): "t / f (the local writer: true / false)",
    pa.binary(): "hexadecimal (the local writer: base64)",
}


def redshift_column(element: dict[str, Any], file_format: UnloadFormat) -> UnloadedColumn:
    """One column of the manifest's schema, typed by the export type mapping."""
    name = element["name"]
    kind = element.get("type", {})
    base = str(kind.get("base", "")).strip().lower()
    note = None
    if base in DECIMALS:
        precision, scale = int(kind.get("precision", 18)), int(kind.get("scale", 0))
        arrow = pa.decimal128(precision, scale)
        shown = f"{base}({precision},{scale})"
    elif base in SIMPLE_TYPES:
        arrow = SIMPLE_TYPES[base]
        length = kind.get("max_length")
        shown = f"{base}({length})" if length else base
        note = PARQUET_NOTES.get(base) if file_format.kind == "parquet" else None
    else:
        # Not in the mapping (GEOMETRY, HLLSKETCH, intervals, TIMETZ): the files hold what
        # UNLOAD writes; say so rather than guess.
        arrow, shown = pa.string(), base or "unknown"
        note = f"{shown}: not in the export type mapping; the files hold what UNLOAD writes"
    if file_format.kind == "csv" and note is None:
        note = CSV_TYPE_NOTES.get(arrow)
    return UnloadedColumn(name=name, type=arrow, warehouse_type=shown, note=note)


def read_unload_manifest(fs: Any, url: str, file_format: UnloadFormat) -> Unloaded:
    """The files and columns an UNLOAD ... MANIFEST VERBOSE wrote, from its manifest at `url`.
    Files without rows are left out (a slice with nothing to unload)."""
    with fs.open(url, "rb") as handle:
        manifest = json.load(handle)
    files = [
        UnloadedFile(
            url=entry["url"],
            bytes=int(entry["meta"]["content_length"]),
            rows=int(entry["meta"]["record_count"]),
        )
        for entry in manifest.get("entries", [])
    ]
    elements = manifest.get("schema", {}).get("elements", [])
    return Unloaded(
        files=[f for f in files if f.rows],
        columns=[redshift_column(element, file_format) for element in elements],
        compression=PARQUET_COMPRESSION
        if file_format.kind == "parquet"
        else ("gzip" if file_format.gzip else "none"),
        notes=list(CSV_NOTES) if file_format.kind == "csv" else [],
    )
