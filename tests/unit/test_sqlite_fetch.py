"""SQLite read where connectorx cannot type a column (its first value NULL, no declared type
it knows): Python's sqlite3 reads the result, typing every column as connectorx does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from tributary.sources.sql import connectorx_fetch, sqlite_fetch
from tributary.sources.sqlite import sqlite3_fetch, untyped

COLUMNS = (
    "i integer, i4 int4, flag boolean, d date, tm time, ts timestamp, amount decimal(10, 2), "
    "name varchar(10), anything, r real, data blob"
)
FULL_ROW = (
    "(1, 2, 1, '2024-05-01', '12:00:01.5', '2024-05-01 12:00:00.250000', 10.5, 'a', 7, 1.25, "
    "x'00ff')"
)
NULL_ROW = "(2, null, null, null, null, null, null, null, null, null, null)"
QUERIES = [
    "select * from t",
    "select i, cast(amount as varchar) as amount, anything from t",
    "select count(*) as n, max(ts) as newest, max(anything) as most from t",
    "select * from t -- every row;",
]


@pytest.fixture
def shop(tmp_path: Path) -> str:
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as con:
        con.execute(f"create table t ({COLUMNS})")
        con.execute(f"insert into t values {FULL_ROW}, {NULL_ROW}")
    con.close()
    return f"sqlite:///{path}"  # as SqlSource gives it to connectorx


@pytest.mark.parametrize("query", QUERIES)
def test_sqlite3_reads_a_result_as_connectorx_does(shop: str, query: str) -> None:
    """Where connectorx can type the result, sqlite3 reads the same table from it."""
    declared = connectorx_fetch(shop, untyped(query), 1).schema
    expected = connectorx_fetch(shop, query, 1).read_all()
    assert sqlite3_fetch(shop, query, 1, declared).read_all().equals(expected)


def test_a_result_whose_first_row_is_null_is_read_typed_as_connectorx_types_the_others(
    shop: str,
) -> None:
    """The NULL row first: connectorx fails ("Cannot infer type from null"); sqlite_fetch
    reads it with each column's type from the result whose first row holds values."""
    with pytest.raises(RuntimeError, match="Cannot infer type from null"):
        connectorx_fetch(shop, "select * from t order by i desc", 10)
    read = sqlite_fetch(shop, "select * from t order by i desc", 10).read_all()
    assert read.schema == connectorx_fetch(shop, "select * from t", 10).schema
    assert read.column("i").to_pylist() == [2, 1]
    assert read.column("anything").to_pylist() == [None, 7]


def test_a_column_null_in_every_row_is_text_as_in_a_result_without_rows(shop: str) -> None:
    query = "select i, cast(amount as varchar) as amount from t where i = 2"
    read = sqlite_fetch(shop, query, 10).read_all()
    assert read.schema == pa.schema([("i", pa.int64()), ("amount", pa.string())])
    assert read.to_pylist() == [{"i": 2, "amount": None}]


def test_a_value_connectorx_refuses_is_refused_naming_its_column(shop: str) -> None:
    """A timestamp column holding a number: connectorx fails on it; so does the read here,
    rather than take the number for microseconds."""
    with sqlite3.connect(shop.removeprefix("sqlite:///")) as con:
        con.execute("insert into t (i, ts) values (0, 1714564800)")
    query = "select ts, anything from t order by i"  # anything: NULL first
    with pytest.raises(ValueError, match=r"column 'ts' .* holds 1714564800"):
        sqlite_fetch(shop, query, 10).read_all()
