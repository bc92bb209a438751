"""A text value that begins with a byte order mark (U+FEFF, common in text imported from
Windows files) is exported with it, in whichever row and column it is, from every warehouse
the exports read from locally."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tributary.exports import ExportStore

from .data import export_cases

pytestmark = pytest.mark.integration

BOM = "\ufeff"
# note, id: a BOM leading a value, as the whole value, inside it, and in a later row, beside
# NULL and ''. The query, not a table: the same SQL runs on DuckDB and PostgreSQL.
ROWS = [
    (BOM + "BOM-led note", 1),
    (BOM, 2),
    ("in" + BOM + "side", 3),
    (BOM + "second", 4),
    (None, 5),
    ("", 6),
]
VALUES = """select * from (values
    (chr(65279) || 'BOM-led note', 1), (chr(65279), 2), ('in' || chr(65279) || 'side', 3),
    (chr(65279) || 'second', 4), (null, 5), ('', 6)) as t(note, id)"""
# Each row first in turn: the first value of the result is where a BOM was lost.
FIRSTS = {
    "bom_led": (f"{VALUES} order by id", ROWS),
    "only_bom": (f"{VALUES} order by id = 2 desc, id", [ROWS[1], *ROWS[:1], *ROWS[2:]]),
    "plain": (f"{VALUES} order by id = 6 desc, id", [ROWS[5], *ROWS[:5]]),
    "null": (f"{VALUES} order by id = 5 desc, id", [ROWS[4], *ROWS[:4], ROWS[5]]),
}


@pytest.fixture(params=["duckdb", "postgres"])
def location(request, tmp_path) -> Path | str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres")
    return tmp_path / "warehouse.duckdb"


def published(outcome) -> Path:
    [publication] = outcome.publications
    [path] = (f.path for f in publication.manifest.files)
    return Path(publication.uri.removeprefix("file://")) / path


@pytest.mark.parametrize("first", FIRSTS)
def test_a_leading_byte_order_mark_is_exported_in_parquet(location, tmp_path, first) -> None:
    # Before, on PostgreSQL: the first row's '\ufeffBOM-led note' was published as
    # 'BOM-led note' (and a first value of only a BOM as NULL); later rows kept theirs.
    sql, expected = FIRSTS[first]
    outcome = export_cases(location, ExportStore(str(tmp_path / "store")), date(2024, 5, 1), sql)
    table = pq.read_table(published(outcome))
    assert list(zip(*table.to_pydict().values(), strict=True)) == expected


@pytest.mark.parametrize("first", FIRSTS)
def test_a_leading_byte_order_mark_is_exported_in_csv(location, tmp_path, first) -> None:
    sql, expected = FIRSTS[first]
    outcome = export_cases(
        location, ExportStore(str(tmp_path / "store")), date(2024, 5, 1), sql, format="csv"
    )
    text = published(outcome).read_bytes().decode()
    lines = text.split("\r\n")
    assert lines[0] == '"note","id"'
    # text quoted, NULL an empty field: the BOM inside the quotes, where a reader keeps it
    assert lines[1:] == [
        f"{'' if note is None else chr(34) + note + chr(34)},{id_}" for note, id_ in expected
    ] + [""]
    assert list(csv.reader(io.StringIO(text, newline="")))[1:] == [
        [note or "", str(id_)] for note, id_ in expected
    ]


@pytest.mark.parametrize(
    ("sql", "notes"),
    [("select chr(65279) || 'one column' as note", [BOM + "one column"]),
     ("select chr(65279) as note", [BOM]),
     # a NULL first is an empty first line: a row, as before
     ("select note from (values (null, 1), (chr(65279), 2)) as t(note, id) order by id",
      [None, BOM])],
)  # fmt: skip
def test_a_one_column_result_keeps_its_leading_byte_order_mark(location, tmp_path, sql, notes):
    # Before, on PostgreSQL: 'one column' and, for a value of only a BOM, NULL.
    outcome = export_cases(location, ExportStore(str(tmp_path / "store")), date(2024, 5, 1), sql)
    assert pq.read_table(published(outcome)).column("note").to_pylist() == notes
