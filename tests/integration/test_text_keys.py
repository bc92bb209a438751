"""A text primary key matched as its source matches it. MariaDB's default collation ignores
case and trailing spaces: a key updated from 'abc' to 'ABC' (or 'def' to 'def ') is still ONE
row there, and a warehouse comparing keys exactly merged the new spelling beside the old one,
two rows for one source row, with the uniqueness check passing. A case-sensitive column's
'abc' and 'ABC' are two rows, and must stay two. MariaDB -> each warehouse that runs here
(DuckDB, PostgreSQL, and Redshift on its stand-in)."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tributary.config.models import SourceConfig, TableConfig
from tributary.defs.checks import load_check_results
from tributary.ingest import ingest_table
from tributary.reconcile import duplicate_keys
from tributary.sources import SqlSource

from .conftest import as_loaded, run_sql

T0 = datetime(2024, 5, 1, 12, 0, 0)
T1 = T0 + timedelta(hours=1)
ITEMS = TableConfig(
    name="items", primary_key=["code"], cursor="updated_at", mode="incremental", lookback="1m"
)


def load(url, warehouse, landing):
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[ITEMS]
    )
    return ingest_table(
        source, ITEMS, reader=SqlSource(url), landing=landing, warehouse=warehouse, batch_rows=2
    )


def source_rows(con) -> list[tuple]:
    with con.cursor() as cursor:
        cursor.execute("select code, label from items")
        return sorted(cursor.fetchall())


def raw_rows(warehouse) -> list[tuple]:
    return sorted(warehouse.query("select code, label from raw_shop.items"))


def items_table(con, collation: str | None) -> None:
    collate = f" collate {collation}" if collation else ""
    run_sql(
        con,
        f"create table items (code varchar(20){collate} primary key, label varchar(20), "
        "updated_at datetime(6))",
    )


def test_a_key_changed_only_in_case_or_trailing_spaces_stays_one_row(mariadb, loads) -> None:
    url, con = mariadb
    warehouse, landing = loads
    items_table(con, None)  # the database's default: utf8mb4_general_ci
    run_sql(
        con,
        "insert into items values ('abc', 'first', %s), ('def', 'first', %s), "
        "('keep', 'first', %s)",
        params=(T0, T0, T0),
    )
    first = load(url, warehouse, landing)
    assert first.outcome.rows_in_table == 3

    # One key changes only in case, another is deleted and inserted again with a trailing
    # space: to the source, each is the row it was.
    run_sql(con, "update items set code = 'ABC', label = 'second', updated_at = %s "
                 "where code = 'abc'", params=(T1,))  # fmt: skip
    run_sql(con, "delete from items where code = 'def'")
    run_sql(con, "insert into items values ('def ', 'second', %s)", params=(T1,))
    second = load(url, warehouse, landing)

    assert source_rows(con) == [("ABC", "second"), ("def ", "second"), ("keep", "first")]
    assert raw_rows(warehouse) == source_rows(con)
    assert second.outcome.rows_in_table == 3
    # The raw asset's blocking checks (reconciliation, unique_primary_key) pass on the load.
    checks = load_check_results(ITEMS, second, reader=SqlSource(url), warehouse=warehouse)
    assert [(c.check_name, c.passed) for c in checks[:2]] == [
        ("reconciliation", True),
        ("unique_primary_key", True),
    ]
    assert checks[1].metadata["primary_key_matched"].value == (
        "code ignoring case and trailing spaces"
    )

    # A raw table already holding two spellings of a key (loaded before keys were matched as
    # the source matches them): the uniqueness check says so, and the next load repairs it,
    # keeping the version a merge keeps (here the later load's).
    warehouse.execute(
        "insert into raw_shop.items (code, label, updated_at, _load_id, _extracted_at, "
        "_deleted, _load_row) select 'KEEP ', 'stale', updated_at, '20000101T000000Z-old', "
        "_extracted_at, _deleted, _load_row from raw_shop.items where code = 'keep'"
    )
    as_loaded(warehouse, "items")
    unique = duplicate_keys(warehouse, second.target)
    assert not unique.passed
    assert unique.metadata["duplicated_keys"] == 1 and unique.metadata["surplus_rows"] == 1
    third = load(url, warehouse, landing)
    assert third.outcome.duplicate_keys_repaired == 1
    assert raw_rows(warehouse) == source_rows(con)
    assert duplicate_keys(warehouse, third.target).passed


@pytest.mark.parametrize(
    ("collation", "rows", "change", "expected"),
    [
        # Case-sensitive, but PAD SPACE (MariaDB's _bin): 'abc' and 'ABC' are two rows; 'xyz'
        # and 'xyz ' one.
        (
            "utf8mb4_bin",
            ["abc", "ABC", "xyz"],
            ["update items set code = 'xyz ', label = 'second', updated_at = %s "
             "where code = 'xyz'"],
            [("ABC", "first"), ("abc", "first"), ("xyz ", "second")],
        ),
        # NO PAD and case-sensitive: every spelling is its own row.
        (
            "utf8mb4_nopad_bin",
            ["abc", "ABC", "q", "q "],
            ["update items set label = 'second', updated_at = %s where code = 'q '"],
            [("ABC", "first"), ("abc", "first"), ("q", "first"), ("q ", "second")],
        ),
    ],
)  # fmt: skip
def test_keys_a_source_tells_apart_stay_apart(mariadb, loads, collation, rows, change, expected):
    """Folding a key its source compares exactly would delete rows without a word."""
    url, con = mariadb
    warehouse, landing = loads
    items_table(con, collation)
    for code in rows:
        run_sql(con, "insert into items values (%s, 'first', %s)", params=(code, T0))
    load(url, warehouse, landing)
    assert raw_rows(warehouse) == source_rows(con)
    run_sql(con, *change, params=(T1,))
    second = load(url, warehouse, landing)
    assert source_rows(con) == expected
    assert raw_rows(warehouse) == expected
    assert duplicate_keys(warehouse, second.target).passed


# --- PostgreSQL: citext, and non-deterministic ICU collations, ignore case ---------------------
def load_postgres(conninfo: str, warehouse, landing):
    source = SourceConfig(
        name="shop", kind="postgres", connection={"url": conninfo}, tables=[ITEMS]
    )
    return ingest_table(
        source, ITEMS, reader=SqlSource(make_url(conninfo)), landing=landing,
        warehouse=warehouse, batch_rows=2,
    )  # fmt: skip


def postgres_rows(conninfo: str) -> list[tuple]:
    with psycopg.connect(conninfo) as con:
        return sorted(con.execute("select code::text, label from items").fetchall())


@pytest.mark.parametrize(
    ("key_type", "change", "expected"),
    [
        # citext compares lower(a) = lower(b): an e-mail key respelled is the row it was.
        ("citext", "ANN@example.com", [("ANN@example.com", "second"), ("bob", "first")]),
        # A non-deterministic ICU collation at strength 2 ignores case (not accents).
        ('text collate "ci"', "ANN@EXAMPLE.COM", [("ANN@EXAMPLE.COM", "second"),
                                                   ("bob", "first")]),
        # char(n) ignores trailing spaces, as SQL's PAD SPACE rule has it; case counts.
        ("char(20)", "ann@example.com  ", [("ann@example.com", "second"), ("bob", "first")]),
    ],
    ids=["citext", "icu-ci", "char"],
)  # fmt: skip
def test_a_postgres_key_that_ignores_case_stays_one_row(
    postgres, loads, key_type, change, expected
) -> None:
    """Before, PostgreSQL keys were compared exactly: a citext key updated from
    'ann@example.com' to 'ANN@example.com' left both rows in the warehouse (3 rows against the
    source's 2), the uniqueness check passing."""
    warehouse, landing = loads
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute("create extension if not exists citext")
        con.execute("create collation ci (provider = icu, locale = 'und-u-ks-level2', "
                    "deterministic = false)")  # fmt: skip
        con.execute(f"create table items (code {key_type} primary key, label text, "
                    "updated_at timestamp)")  # fmt: skip
        con.execute("insert into items values ('ann@example.com', 'first', %s), "
                    "('bob', 'first', %s)", (T0, T0))  # fmt: skip
    load_postgres(postgres, warehouse, landing)
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute("update items set code = %s, label = 'second', updated_at = %s "
                    "where code = 'ann@example.com'", (change, T1))  # fmt: skip
    second = load_postgres(postgres, warehouse, landing)

    assert postgres_rows(postgres) == expected
    assert [(code.rstrip(), label) for code, label in raw_rows(warehouse)] == expected
    assert duplicate_keys(warehouse, second.target).passed
