"""The PostgreSQL warehouse's read path (what exports stream from): every type exact, types
from the query's columns rather than guessed from values, and a connection left usable."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

from tributary.errors import RepeatedColumns, WarehouseError
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

pytestmark = pytest.mark.integration

DDL = """create table cases (
    id int primary key, small smallint, big bigint, amount numeric(12, 2),
    wide numeric(40, 5), loose numeric, ratio double precision, single real, flag boolean,
    label text, code char(3), day date, local_at timestamp, happened_at timestamptz,
    at_time time, payload bytea, ref uuid, doc jsonb
)"""
# Row 1 is all NULLs: a reader guessing types from the first rows would get them wrong.
INSERT = """insert into cases values
    (1, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
     null, null, null),
    (2, -32768, 9223372036854775807, 12.30, 123456789012345678901234567890123.45678,
     1.1234567890, 'NaN', 1.5, true, 'Zoë "q", x' || chr(10) || 'y 🚀 日本', 'ab',
     '2024-02-29', '2024-05-01 12:00:00.5', '2024-05-01 12:00:00.123456+02', '23:59:59.999999',
     '\\x00ff0a', '4b5f3c1e-8d3a-4c1b-9f00-2c8e1a7b6d50', '{"a": [1, "b"]}'),
    (3, 0, 0, -0.01, 0, -7, '-Infinity', 0, false, '', '', '0001-01-01',
     '1999-12-31 23:59:59', '1999-12-31 23:59:59-08', '00:00:00', '', null, 'null'),
    (4, 1, 1, 0.00, 1, 0, 1e-300, 0, null, 'NULL', 'x', '9999-12-31', null, null, null,
     null, null, null)"""

SCHEMA = pa.schema(
    [
        ("id", pa.int32()), ("small", pa.int16()), ("big", pa.int64()),
        ("amount", pa.decimal128(12, 2)), ("wide", pa.decimal256(40, 5)),
        ("loose", pa.decimal128(38, 10)), ("ratio", pa.float64()), ("single", pa.float32()),
        ("flag", pa.bool_()), ("label", pa.string()), ("code", pa.string()),
        ("day", pa.date32()), ("local_at", pa.timestamp("us")),
        ("happened_at", pa.timestamp("us", tz="UTC")), ("at_time", pa.time64("us")),
        ("payload", pa.binary()), ("ref", pa.string()), ("doc", pa.string()),
    ]
)  # fmt: skip


HOSTILE_SETTINGS = [
    "timezone = 'America/New_York'",
    "datestyle = 'SQL, DMY'",
    "bytea_output = 'escape'",
    "extra_float_digits = 0",
    "intervalstyle = 'sql_standard'",
    "client_encoding = 'LATIN1'",
    "standard_conforming_strings = off",
]


@pytest.fixture
def warehouse(postgres):
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(DDL)
        con.execute(INSERT)
        # the reader must not depend on the database's (or role's) settings: each of these
        # changed a value's text, and so the value read, before the session pinned them
        for setting in HOSTILE_SETTINGS:
            con.execute(f"alter database {con.info.dbname} set {setting}")
    with PostgresWarehouse(postgres) as wh:
        yield wh


def test_every_type_reads_exactly(warehouse) -> None:
    with warehouse.read("select * from cases order by id", batch_rows=10) as reader:
        table = reader.read_all()
    assert table.schema == SCHEMA
    rows = table.to_pylist()
    assert rows[0] == {"id": 1} | {name: None for name in SCHEMA.names[1:]}
    assert rows[1] == {
        "id": 2, "small": -32768, "big": 9223372036854775807, "amount": Decimal("12.30"),
        "wide": Decimal("123456789012345678901234567890123.45678"),
        "loose": Decimal("1.1234567890"), "ratio": rows[1]["ratio"], "single": 1.5,
        "flag": True, "label": 'Zoë "q", x\ny 🚀 日本', "code": "ab ",
        "day": date(2024, 2, 29), "local_at": datetime(2024, 5, 1, 12, 0, 0, 500000),
        "happened_at": datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
        "at_time": time(23, 59, 59, 999999), "payload": b"\x00\xff\n",
        "ref": "4b5f3c1e-8d3a-4c1b-9f00-2c8e1a7b6d50", "doc": '{"a": [1, "b"]}',
    }  # fmt: skip
    assert rows[1]["ratio"] != rows[1]["ratio"]  # NaN
    assert rows[2]["ratio"] == float("-inf")
    assert (rows[2]["label"], rows[2]["code"], rows[2]["payload"]) == ("", "   ", b"")
    assert rows[2]["day"] == date(1, 1, 1)
    assert rows[2]["happened_at"] == datetime(2000, 1, 1, 7, 59, 59, tzinfo=UTC)
    assert rows[2]["doc"] == "null"  # JSON null is text, not SQL NULL
    assert (rows[3]["label"], rows[3]["flag"], rows[3]["ratio"]) == ("NULL", None, 1e-300)


def test_an_empty_result_keeps_the_column_types(warehouse) -> None:
    with warehouse.read("select amount, happened_at from cases where false") as reader:
        table = reader.read_all()
    assert table.num_rows == 0
    assert table.schema == pa.schema(
        [("amount", pa.decimal128(12, 2)), ("happened_at", pa.timestamp("us", tz="UTC"))]
    )


def test_batches_are_bounded_and_the_connection_stays_usable(warehouse) -> None:
    sql = "select g as n, md5(g::text) as h from generate_series(1, 25000) as g"
    with warehouse.read(sql, batch_rows=1000) as reader:
        sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 25000 and max(sizes) <= 1000

    with warehouse.read(sql, batch_rows=1000) as reader:
        first = reader.read_next_batch()  # and leave the rest unread
    assert first.column("n").to_pylist()[:3] == [1, 2, 3]

    with (
        pytest.raises(RuntimeError, match="consumer failed"),
        warehouse.read(sql, batch_rows=1000) as reader,
    ):
        reader.read_next_batch()
        raise RuntimeError("consumer failed")
    assert warehouse.query("select count(*) from cases") == [(4,)]


def test_duplicate_column_names_are_refused(warehouse) -> None:
    with (
        pytest.raises(RepeatedColumns, match="two columns named 'id'"),
        warehouse.read("select id, id from cases"),
    ):
        pass


@pytest.mark.parametrize(
    ("expression", "column_type", "printed"),
    [
        ("time '24:00'", "time64[us]", "'24:00:00'"),
        ("'0044-03-15 BC'::date", "date32[day]", "'0044-03-15 BC'"),
        ("'0044-03-15 12:00 BC'::timestamptz", "timestamp[us, tz=UTC]", "BC'"),
        ("'NaN'::numeric(10, 2)", "decimal128(10, 2)", "'NaN'"),
    ],
)
def test_a_value_arrow_cannot_read_names_its_column(warehouse, expression, column_type, printed):
    # Before: "In CSV column #1: Row #1: CSV conversion error to time64[us]: invalid value
    # '24:00:00'", naming no column.
    expected = f"column 'edge' ({column_type}) holds a value Arrow cannot read: "
    with (
        pytest.raises(WarehouseError, match=re.escape(expected) + f".*{re.escape(printed)}"),
        warehouse.read(f"select 1 as id, {expression} as edge") as reader,
    ):
        reader.read_all()


def test_infinity_reads_as_a_duckdb_warehouse_gives_it(warehouse) -> None:
    # Before: the read failed ("holds a value Arrow cannot read"), and with it the checksum of
    # reconciliation of any column holding infinity. DuckDB hands infinity to Arrow as the
    # storage's extremes; so does this read now (a CSV export spells them `infinity`).
    sql = """select * from (values
        (1, 'infinity'::timestamp, '-infinity'::timestamptz, 'infinity'::date),
        (2, '-infinity', 'infinity', '-infinity'),
        (3, '2024-05-01 10:00', '2024-05-01 10:00+02', '2024-05-01'),
        (4, null, null, null)) as t(id, ends, starts, due) order by id"""
    with warehouse.read(sql) as reader:
        table = reader.read_all()
    assert table.column("ends").type == pa.timestamp("us")
    assert table.column("ends").cast(pa.int64()).to_pylist()[:2] == [2**63 - 1, -(2**63 - 1)]
    assert table.column("starts").cast(pa.int64()).to_pylist()[:2] == [-(2**63 - 1), 2**63 - 1]
    assert table.column("due").cast(pa.int32()).to_pylist()[:2] == [2**31 - 1, -(2**31 - 1)]
    assert table.slice(2).to_pylist() == [
        {"id": 3, "ends": datetime(2024, 5, 1, 10), "starts": datetime(2024, 5, 1, 8, tzinfo=UTC),
         "due": date(2024, 5, 1)},
        {"id": 4, "ends": None, "starts": None, "due": None},
    ]  # fmt: skip


def test_text_output_settings_of_the_database_change_no_value(warehouse) -> None:
    # Before: 0.30000000000000004 read as 0.3 (extra_float_digits = 0), the interval as
    # '+1-2 +3 +4:00:00' (sql_standard), and the literal 'C:\\dir\\' a syntax error
    # (standard_conforming_strings = off).
    sql = r"""select 0.1::float8 + 0.2::float8 as f, 3.4028235e38::real as r,
        (interval '1 year 2 months 3 days 4 hours')::text as span, 'C:\dir\' as path"""
    with warehouse.read(sql) as reader:
        row = reader.read_all().to_pylist()[0]
    assert row == {
        "f": 0.1 + 0.2, "r": float(pa.scalar(3.4028235e38, pa.float32()).as_py()),
        "span": "1 year 2 mons 3 days 04:00:00", "path": "C:\\dir\\",
    }  # fmt: skip


def test_a_one_column_result_keeps_its_null_rows(warehouse) -> None:
    # COPY writes a one-column NULL as an empty line, which a CSV reader skips by default.
    # Before: 2 rows of 5, no error.
    sql = "select label from cases union all select null union all select ''"
    with warehouse.read(sql) as reader:
        labels = reader.read_all().column("label").to_pylist()
    assert sorted(labels, key=repr) == sorted(
        [None, 'Zoë "q", x\ny 🚀 日本', "", "NULL", None, ""], key=repr
    )


@pytest.mark.parametrize(
    ("expression", "printed", "hint"),
    [
        ("1.123456789012345", "1.123456789012345", '"edge"::numeric(38, 15)'),
        ("4e-11::numeric", "0.00000000004", '"edge"::numeric(38, 11)'),
        # 29 integer digits: numeric(38, 16), as the hint said before, holds only 22
        ("1e28::numeric", "10000000000000000000000000000", '"edge"::numeric(38, 9)'),
        ("'NaN'::numeric", "NaN", "nullif(\"edge\", 'NaN')"),
        ("1e40::numeric", "1" + "0" * 40, "round() it in the query, or cast it to text"),
    ],
)
def test_an_unconstrained_numeric_is_never_rounded(warehouse, expression, printed, hint) -> None:
    # Before: read through a cast to numeric(38, 10): 1.123456789012345 became 1.1234567890
    # and 4e-11 became 0 without an error; 1e28 failed with "numeric field overflow".
    with warehouse.read("select 1.5::numeric as fits, 6.65000000000000000::numeric as zeros") as r:
        assert r.read_all().to_pylist() == [{"fits": Decimal("1.5"), "zeros": Decimal("6.65")}]
    expected = f"column 'edge' (numeric) holds {printed}, which decimal(38, 10) cannot hold exactly"
    with (
        pytest.raises(WarehouseError, match=re.escape(expected)) as raised,
        warehouse.read(f"select 1 as id, {expression} as edge") as reader,
    ):
        reader.read_all()
    assert hint in str(raised.value)
    if "::numeric(38, " in hint:  # the cast it names holds the value exactly
        with warehouse.read(f"select {expression}::{hint.split('::')[1]} as edge") as reader:
            assert reader.read_all().column("edge")[0].as_py() == Decimal(printed)


def test_a_negative_scale_numeric_reads_as_the_integers_it_holds(warehouse, tmp_path) -> None:
    # numeric(p, -s) (PostgreSQL 15) rounds to 10^s and holds integers of up to p + s digits.
    # Before: decimal128(5, -2), which the Parquet writer refused with "Scale must be a
    # non-negative integer", naming no column.
    from tributary.exports import ExportStore

    sql = """select 12345.67::numeric(5, -2) as hundreds,
        (-98765432109876543210987654321098765)::numeric(35, -3) as thousands,
        null::numeric(2, -1) as tens"""
    with warehouse.read(sql) as reader:
        table = reader.read_all()
    assert table.schema == pa.schema(
        [("hundreds", pa.decimal128(7, 0)), ("thousands", pa.decimal128(38, 0)),
         ("tens", pa.decimal128(3, 0))]
    )  # fmt: skip
    assert table.to_pylist() == [
        {"hundreds": Decimal(12300), "thousands": Decimal(-98765432109876543210987654321099000),
         "tens": None}
    ]  # fmt: skip
    with warehouse.read(sql) as reader:
        publication = ExportStore(str(tmp_path)).publish(
            reader, export="e", partition="dt=2024-05-01", asset="export/e"
        )
    assert publication.manifest.row_count == 1
