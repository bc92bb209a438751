"""Parquet and CSV exports on the GCS emulator read back exactly: decimals, timestamps with a
zone, unicode, NULLs and empty strings; the manifest tells the truth about every object."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import date

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from google.cloud import storage

from tributary.defs.resources import ExportStoreResource

from .data import COLUMNS, EXPECTED, SCHEMA, cases_warehouse, export_cases, rows

pytestmark = pytest.mark.integration
DAY = date(2024, 5, 1)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    """The cases table in each warehouse the exports read from."""
    if request.param == "postgres":
        return cases_warehouse(request.getfixturevalue("postgres"))
    return cases_warehouse(tmp_path / "warehouse.duckdb")


def store_on(gcs):
    return ExportStoreResource(url=f"{gcs.url}/lake", project="tributary-test")


def object_names(gcs, prefix: str) -> list[str]:
    """What the bucket holds, listed by google-cloud-storage (not the gcsfs that wrote it)."""
    client = storage.Client(project="tributary-test")
    return sorted(blob.name for blob in client.list_blobs(gcs.name, prefix=prefix))


def test_parquet_round_trip_is_exact(gcs, warehouse) -> None:
    outcome = export_cases(warehouse, store_on(gcs).open(), DAY, rows_per_file=3)
    [publication] = outcome.publications
    folder = f"{gcs.name}/lake/cases/dt=2024-05-01"
    assert publication.uri == f"gs://{folder}"
    assert object_names(gcs, "lake/cases/") == [
        "lake/cases/dt=2024-05-01/_SUCCESS",
        "lake/cases/dt=2024-05-01/manifest.json",
        "lake/cases/dt=2024-05-01/part-00000.parquet",
        "lake/cases/dt=2024-05-01/part-00001.parquet",
    ]
    table = pa.concat_tables(
        pq.read_table(io.BytesIO(gcs.fs.cat_file(f"{folder}/part-0000{i}.parquet")))
        for i in range(2)
    )
    assert table.schema == SCHEMA
    assert rows(table) == EXPECTED

    manifest = json.loads(gcs.fs.cat_file(f"{folder}/manifest.json"))
    assert manifest["asset"] == "export/cases"
    assert manifest["partition"] == "dt=2024-05-01"
    assert manifest["row_count"] == 4
    assert [(f["path"], f["rows"]) for f in manifest["files"]] == [
        ("part-00000.parquet", 3),
        ("part-00001.parquet", 1),
    ]
    for exported in manifest["files"]:
        payload = gcs.fs.cat_file(f"{folder}/{exported['path']}")
        assert exported["bytes"] == len(payload)
        assert exported["sha256"] == hashlib.sha256(payload).hexdigest()
    assert manifest["bytes"] == sum(f["bytes"] for f in manifest["files"])
    assert [(c["name"], c["type"]) for c in manifest["columns"]] == [
        (field.name, str(field.type)) for field in SCHEMA
    ]
    assert gcs.fs.cat_file(f"{folder}/_SUCCESS") == b""
    assert object_names(gcs, "lake/_tmp/") == []


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_csv_round_trip_is_exact(gcs, warehouse, compression) -> None:
    export_cases(warehouse, store_on(gcs).open(), DAY, format="csv", compression=compression)
    folder = f"{gcs.name}/lake/cases/dt=2024-05-01"
    suffix = ".csv.gz" if compression == "gzip" else ".csv"
    payload = gcs.fs.cat_file(f"{folder}/part-00000{suffix}")
    text = (gzip.decompress(payload) if compression == "gzip" else payload).decode()

    # RFC 4180: a header, CRLF line ends, text quoted with its quotes doubled; a NULL is an
    # empty field and an empty string is "".
    lines = text.split("\r\n")
    assert lines[0] == ",".join(f'"{c}"' for c in COLUMNS)
    # A decimal of scale 7 or more is written as quoted text, never in E notation.
    assert lines[1].startswith('1,12.30,"1234567890123456789012345678.0123456789",'
                               '"2024-05-01T10:00:00.123456Z","2024-05-01T12:00:00.000000",'
                               '2024-05-01,"Zoë ""quoted"", comma\nnew line",true,0.1')  # fmt: skip
    assert "3,,,,,,,," in text
    assert ',"",true,0' in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == COLUMNS
    assert [row[6] for row in parsed[1:]] == [r[6] or "" for r in EXPECTED]

    table = pacsv.read_csv(
        io.BytesIO(text.encode()),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=SCHEMA,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    assert rows(table) == EXPECTED
    manifest = json.loads(gcs.fs.cat_file(f"{folder}/manifest.json"))
    assert (manifest["format"], manifest["compression"]) == ("csv", compression)
    assert manifest["files"][0]["sha256"] == hashlib.sha256(payload).hexdigest()
