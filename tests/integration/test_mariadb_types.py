"""The type policy against a real MariaDB server: exact values for every case."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pyarrow as pa
import pytest

from tributary.config.models import SourceConfig, TableConfig
from tributary.errors import SchemaDriftError, SourceError
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.sources import SqlSource
from tributary.sources.types import ZERO_DATES_COUNTER

from .conftest import run_sql

LONG_TEXT = "ü" * 40_000  # 80,000 bytes: over 64 KB
EMOJI = "héllo 🎉 naïve 日本"


def test_every_type_case_keeps_its_exact_value(mariadb) -> None:
    url, con = mariadb
    run_sql(
        con,
        """create table typecheck (
            id int primary key,
            amount decimal(12, 3),
            wide decimal(40, 5),
            flag tinyint(1),
            small tinyint,
            d date,
            dt datetime(6),
            ts timestamp(3) null default null,
            body longtext,
            label varchar(50),
            payload blob,
            ratio double,
            spot point
        ) default charset = utf8mb4""",
    )
    run_sql(
        con,
        "insert into typecheck values (1, 12.345, 123456789012345678901234567890123.12345, 1, 5,"
        " '0000-00-00', '0000-00-00 00:00:00', null, %s, %s, x'00ff10', 1.5,"
        " ST_GeomFromText('POINT(1 2)'))",
        params=(LONG_TEXT, EMOJI),
    )
    run_sql(
        con,
        "set time_zone = '+02:00'",  # the writer's zone must not shift TIMESTAMP values
        "insert into typecheck values (2, -0.001, 0, 0, -3, '2024-02-29',"
        " '2024-02-29 13:14:15.123456', '2024-03-01 02:00:00.5', 'short', '', x'', null, null)",
    )
    extract = SqlSource(url).read(TableConfig(name="typecheck"), batch_rows=1000)
    table = pa.Table.from_batches(list(extract.batches), schema=extract.batches.schema)
    types = dict(zip(table.schema.names, table.schema.types, strict=True))
    assert types["amount"] == pa.decimal128(12, 3)
    assert types["wide"] == pa.decimal256(40, 5)
    assert types["flag"] == pa.bool_()
    assert types["d"] == pa.date32()
    assert types["dt"] == pa.timestamp("us")
    assert types["ts"] == pa.timestamp("us", tz="UTC")
    assert pa.types.is_large_binary(types["payload"]) or pa.types.is_binary(types["payload"])

    first, second = sorted(table.to_pylist(), key=lambda row: row["id"])
    assert first["amount"] == Decimal("12.345")
    assert first["wide"] == Decimal("123456789012345678901234567890123.12345")
    assert second["amount"] == Decimal("-0.001")
    assert (first["flag"], second["flag"]) == (True, False)
    assert (first["small"], second["small"]) == (5, -3)
    assert (first["d"], first["dt"]) == (None, None)  # zero dates
    assert second["d"] == date(2024, 2, 29)
    assert second["dt"] == datetime(2024, 2, 29, 13, 14, 15, 123456)
    assert second["ts"] == datetime(2024, 3, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert first["body"] == LONG_TEXT and len(first["body"].encode()) > 65_536
    assert first["label"] == EMOJI and second["label"] == ""
    assert first["payload"] == b"\x00\xff\x10" and second["payload"] == b""
    assert first["ratio"] == 1.5 and second["ratio"] is None
    # connectorx stops at a geometry ("not implemented: MYSQL_TYPE_GEOMETRY"): its WKT instead
    assert (first["spot"], second["spot"]) == ("POINT(1 2)", None)
    assert extract.counters[ZERO_DATES_COUNTER] == 2


@pytest.mark.parametrize(
    ("declared", "value"), [("date", "2024-02-31"), ("datetime", "2023-04-31 10:00:00")]
)
def test_a_day_no_calendar_has_names_its_column(mariadb, declared, value) -> None:
    # MySQL's ALLOW_INVALID_DATES stores days such as 31 February. Before: Arrow's bare "Failed
    # to parse string: '2024-02-31' as a scalar of type date32[day]", naming no column.
    url, con = mariadb
    run_sql(con, "set session sql_mode = 'ALLOW_INVALID_DATES'")
    run_sql(con, f"create table days (id int primary key, d {declared})")
    run_sql(con, f"insert into days values (1, '2024-02-28'), (2, '{value}'), (3, null)")
    extract = SqlSource(url).read(TableConfig(name="days"), batch_rows=1000)
    expected = f"column 'd' ({declared}) holds '{value}', which is no {declared}; "
    with pytest.raises(SourceError, match=re.escape(expected) + r".*nullif\(d, "):
        extract.batches.read_all()


def test_a_tinyint_1_holding_more_than_a_flag_names_its_column(mariadb) -> None:
    # tinyint(1) is MySQL's boolean, but holds -128..127: before, a tri-state 2 became true.
    url, con = mariadb
    run_sql(con, "create table tasks (id int primary key, state tinyint(1))")
    run_sql(con, "insert into tasks values (1, 0), (2, 1), (3, 2), (4, null)")
    extract = SqlSource(url).read(TableConfig(name="tasks"), batch_rows=1000)
    with pytest.raises(SourceError, match=r"column 'state' \(tinyint\(1\)\) holds 2, "):
        extract.batches.read_all()


def test_a_time_of_day_arrives_as_itself_the_end_of_the_day_included(
    mariadb, warehouse, tmp_path
) -> None:
    # MySQL's time is a duration; read as text and parsed, a value within a day keeps its
    # microseconds, and 24:00:00 (the end of a day, as a PostgreSQL time) stays itself.
    url, con = mariadb
    run_sql(con, "create table hours (id int primary key, opens time, closes time(6))")
    run_sql(
        con,
        "insert into hours values (1, '08:30:00', '24:00:00'), (2, '00:00:00', "
        "'23:59:59.999999'), (3, null, '12:00:00.5')",
    )
    table = TableConfig(name="hours", primary_key=["id"])
    source = SourceConfig(name="shop", kind="mysql", connection={"url": url.render_as_string()},
                          tables=[table])  # fmt: skip
    ingest_table(source, table, reader=SqlSource(url), warehouse=warehouse, batch_rows=2,
                 landing=LandingStore(str(tmp_path / "landing")))  # fmt: skip
    rows = warehouse.query(
        "select id, opens, cast(closes as varchar) from raw_shop.hours order by id"
    )
    assert [tuple(row) for row in rows] == [
        (1, time(8, 30), "24:00:00"),
        (2, time(0, 0), "23:59:59.999999"),
        (3, None, "12:00:00.5"),
    ]


@pytest.mark.parametrize(
    ("declared", "value", "printed"),
    [
        ("time", "-01:00:00", "-01:00:00"),
        ("time", "24:00:01", "24:00:01"),
        ("time", "838:59:59", "838:59:59"),
        ("time(6)", "-00:00:00.5", "-00:00:00.500000"),
        ("time(6)", "24:00:00.000001", "24:00:00.000001"),
    ],
)
def test_a_time_outside_a_day_names_its_table_and_column(mariadb, declared, value, printed):
    # MySQL's time holds -838:59:59 to 838:59:59. Before: the driver's "Couldn't convert the
    # value `Time("'-001:00:00'")`", naming neither the column nor what to do.
    url, con = mariadb
    run_sql(con, f"create table shifts (id int primary key, overtime {declared})")
    run_sql(con, f"insert into shifts values (1, '01:00:00'), (2, '{value}'), (3, null)")
    extract = SqlSource(url).read(TableConfig(name="shifts"), batch_rows=1000)
    expected = (
        f"table 'shifts': column 'overtime' ({declared}) holds '{printed}', a duration no time "
        "of day is (MySQL's time runs from -838:59:59 to 838:59:59; a time of day from 00:00:00 "
        "to 24:00:00); read the table through a `query:` that casts it: time_to_sec(overtime) "
        "(its seconds, a number) or cast(overtime as char) (its text)"
    )
    with pytest.raises(SourceError, match=re.escape(expected)):
        extract.batches.read_all()
    # the way out the message gives reads the table
    query = "select id, time_to_sec(overtime) as overtime from shifts"
    rows = SqlSource(url).read(TableConfig(name="shifts", query=query), batch_rows=1000)
    seconds = {row["id"]: row["overtime"] for row in rows.batches.read_all().to_pylist()}
    assert seconds[1] == 3600 and seconds[3] is None


def _load_shop(url, table: TableConfig, warehouse, tmp_path) -> None:
    source = SourceConfig(name="shop", kind="mysql", connection={"url": url.render_as_string()},
                          tables=[table])  # fmt: skip
    ingest_table(source, table, reader=SqlSource(url), warehouse=warehouse, batch_rows=2,
                 landing=LandingStore(str(tmp_path / "landing")))  # fmt: skip


def test_a_bit_1_arrives_as_a_boolean_and_a_wider_bit_as_an_integer(mariadb, warehouse, tmp_path):
    # Before: every bit(n) landed as bytes (b'\x01'), which no filter `where active` reads.
    url, con = mariadb
    run_sql(
        con, "create table flags (id int primary key, active bit(1), mask bit(8), wide bit(64))"
    )
    run_sql(
        con,
        "insert into flags values (1, 1, b'10000001', 18446744073709551615), (2, 0, 0, 1),"
        " (3, null, null, null)",
    )
    extract = SqlSource(url).read(TableConfig(name="flags"), batch_rows=1000)
    types = dict(zip(extract.batches.schema.names, extract.batches.schema.types, strict=True))
    assert (types["active"], types["mask"], types["wide"]) == (pa.bool_(), pa.int64(), pa.uint64())
    _load_shop(url, TableConfig(name="flags", primary_key=["id"]), warehouse, tmp_path)
    rows = warehouse.query("select id, active, mask, wide from raw_shop.flags order by id")
    assert [tuple(row) for row in rows] == [
        (1, True, 129, 18446744073709551615),
        (2, False, 0, 1),
        (3, None, None, None),
    ]
    assert [tuple(row) for row in warehouse.query(
        "select id from raw_shop.flags where active"
    )] == [(1,)]  # fmt: skip


def test_a_raw_table_holding_a_bit_as_bytes_fails_naming_the_column(mariadb, warehouse, tmp_path):
    # A raw table loaded before bit(1) was read as boolean holds it as bytes: the load stops
    # naming the column and the way out, and the table keeps its values (no NULLs).
    url, con = mariadb
    run_sql(con, "create table flags (id int primary key, active bit(1))")
    run_sql(con, "insert into flags values (1, 1), (2, 0)")
    # a custom query's columns keep the driver's types: bytes, as every bit was read before
    as_bytes = TableConfig(name="flags", primary_key=["id"], query="select id, active from flags")
    _load_shop(url, as_bytes, warehouse, tmp_path)
    expected = (
        "table 'flags', column 'active': the source type changed from large_binary to bool, "
        "a change of type Tributary does not make to a loaded column (it changes a column's "
        "type only by the widenings it knows: int to bigint or double, decimal(10,2) to "
        "decimal(12,2), date to timestamp, ...), whatever the values loaded so far; the table "
        "was left as it was. Tributary reads a MySQL bit(1) "
        "column as boolean and a wider bit(n) as an integer (before, as bytes): drop the raw "
        "table (drop table raw_shop.flags, and the views on it), then load it whole again"
    )
    with pytest.raises(SchemaDriftError, match=re.escape(expected)):
        _load_shop(url, TableConfig(name="flags", primary_key=["id"]), warehouse, tmp_path)
    rows = warehouse.query("select id, active from raw_shop.flags order by id")
    assert [(row[0], bytes(row[1])) for row in rows] == [(1, b"\x01"), (2, b"\x00")]
