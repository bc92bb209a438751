"""Redshift's part in an UNLOAD, played by the tests (and the unload benchmark): Parquet parts
and a `MANIFEST VERBOSE` manifest written under a prefix as UNLOAD writes them, and the
statement's string literals read back as Redshift reads them.

What UNLOAD writes (docs.aws.amazon.com/redshift/latest/dg/r_UNLOAD.html): one or more files
per slice, named `<prefix><slice:04d>_part_<nn:02d>.parquet`, Snappy-compressed Parquet, and
`<prefix>manifest`: {"entries": [{"url", "meta": {"content_length", "record_count"}}],
"schema": {"elements": [{"name", "type": {"base", ...}}]}, "meta": {...}, "author": {...}}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

UNLOAD = re.compile(r"^unload \(", re.I)


def read_literal(text: str, start: int) -> tuple[str, int]:
    """The Redshift string literal opening at text[start] (a quote): its value and the index
    after it. Redshift reads `''` as a quote and a backslash as an escape of the next character."""
    assert text[start] == "'", text[start:]
    value, i = [], start + 1
    while True:
        char = text[i]
        if char == "\\":
            value.append(text[i + 1])
            i += 2
        elif char == "'" and text[i + 1 : i + 2] == "'":
            value.append("'")
            i += 2
        elif char == "'":
            return "".join(value), i + 1
        else:
            value.append(char)
            i += 1


def parse_unload(statement: str) -> dict[str, Any]:
    """The query, the prefix, the role and the options of an UNLOAD statement."""
    assert UNLOAD.match(statement), statement
    query, i = read_literal(statement, len("unload ("))
    assert statement[i : i + 5] == ") to ", statement[i:]
    to, i = read_literal(statement, i + 5)
    assert statement[i : i + 10] == " iam_role ", statement[i:]
    role, i = read_literal(statement, i + 10)
    return {"query": query, "to": to, "iam_role": role, "options": statement[i:].strip()}


def write_unload(
    fs: Any,
    prefix: str,
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    elements: list[dict[str, Any]],
    *,
    rows_per_file: int,
    slices: int = 2,
) -> dict[str, Any]:
    """Write `batches` under `prefix` (a URL ending in /) as UNLOAD ... FORMAT AS PARQUET
    MANIFEST VERBOSE PARALLEL ON does: files of at most `rows_per_file` rows dealt to
    `slices` slices in turn, each streamed (never a whole file in memory), then the manifest.
    Returns the manifest."""
    entries = []
    writer = handle = None
    rows_in_file = 0
    count = 0

    def close() -> None:
        nonlocal writer, handle
        if writer is not None:
            writer.close()
            handle.close()
            url = entries[-1]["url"]
            entries[-1]["meta"]["content_length"] = fs.size(url)
            writer = handle = None

    for batch in _pieces(batches, rows_per_file):
        if writer is None or rows_in_file + batch.num_rows > rows_per_file:
            close()
            slice_, part = count % slices, count // slices
            url = f"{prefix}{slice_:04d}_part_{part:02d}.parquet"
            count += 1
            handle = fs.open(url, "wb")
            writer = pq.ParquetWriter(handle, schema, compression="snappy")
            entries.append({"url": url, "meta": {"content_length": 0, "record_count": 0}})
            rows_in_file = 0
        writer.write_batch(batch)
        rows_in_file += batch.num_rows
        entries[-1]["meta"]["record_count"] += batch.num_rows
    close()
    manifest = {
        "entries": entries,
        "schema": {"elements": elements},
        "meta": {
            "content_length": sum(e["meta"]["content_length"] for e in entries),
            "record_count": sum(e["meta"]["record_count"] for e in entries),
        },
        "author": {"name": "Amazon Redshift", "version": "1.0.0"},
    }
    fs.pipe_file(f"{prefix}manifest", json.dumps(manifest).encode())
    return manifest


def _pieces(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for offset in range(0, batch.num_rows, rows):
            yield batch.slice(offset, rows)
