"""The PostgreSQL warehouse stages rows with a binary COPY encoded from Arrow: every column type
it maps must arrive exactly as the text COPY (the reference, PostgreSQL's own parsing) stores it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

from tributary.warehouse.postgres import binary as pg_binary
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

UTC = dt.UTC
EDGES = [  # (Arrow type, values): extremes, zero, negatives, NULL
    (pa.bool_(), [True, False, None, True]),
    (pa.int8(), [-128, 127, None, 0]),
    (pa.int16(), [-32768, 32767, None, 0]),
    (pa.int32(), [-(2**31), 2**31 - 1, None, 0]),
    (pa.int64(), [-(2**63), 2**63 - 1, None, 0]),
    (pa.uint8(), [255, 0, None, 1]),
    (pa.uint16(), [65535, 0, None, 1]),
    (pa.uint32(), [2**32 - 1, 0, None, 1]),
    (pa.uint64(), [2**64 - 1, 0, None, 10**19]),
    (pa.float16(), [1.5, -0.0, None, 65504.0]),
    (pa.float32(), [3.4e38, -1.25, None, float("inf")]),
    (pa.float64(), [float("nan"), float("-inf"), None, 0.1]),
    (
        pa.decimal128(38, 10),
        ["9" * 28 + ".9999999999", "-" + "9" * 28 + ".9999999999", None, "-0.0000000001"],
    ),
    (pa.decimal128(38, 0), ["9" * 38, "-" + "9" * 38, None, "0"]),
    (pa.decimal128(20, 5), ["123456789012345.12345", "-0.00001", None, "-10000.00000"]),
    (pa.decimal128(18, 6), ["999999999999.999999", "-0.000001", None, "1.5"]),
    (pa.decimal128(12, 2), ["9999999999.99", "-9999999999.99", None, "0.01"]),
    (pa.decimal128(4, 4), ["0.9999", "-0.0001", None, "0"]),
    (pa.decimal128(9, 0), ["999999999", "-10000", None, "10000"]),
    (pa.decimal64(10, 3), ["9999999.999", "-1.001", None, "0"]),
    (pa.date32(), [dt.date(1, 1, 1), dt.date(9999, 12, 31), None, dt.date(1999, 12, 31)]),
    (pa.date64(), [dt.date(1969, 7, 20), dt.date(2000, 1, 1), None, dt.date(2038, 1, 19)]),
    (
        pa.timestamp("us"),
        [
            dt.datetime(1, 1, 1),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            None,
            dt.datetime(1999, 12, 31, 23, 59, 59, 1),
        ],
    ),
    (
        pa.timestamp("ms"),
        [
            dt.datetime(1960, 1, 1, 0, 0, 0, 1000),
            dt.datetime(2000, 1, 1),
            None,
            dt.datetime(2024, 2, 29, 12),
        ],
    ),
    (
        pa.timestamp("s"),
        [dt.datetime(1900, 3, 1), dt.datetime(2100, 1, 1), None, dt.datetime(1970, 1, 1)],
    ),
    (
        pa.timestamp("us", tz="UTC"),
        [
            dt.datetime(1950, 6, 1, 1, 2, 3, 4, UTC),
            dt.datetime(2000, 1, 1, tzinfo=UTC),
            None,
            dt.datetime(2030, 1, 1, tzinfo=UTC),
        ],
    ),
    (
        pa.timestamp("ms", tz="Europe/Paris"),
        [
            dt.datetime(2024, 7, 1, 12, tzinfo=UTC),
            dt.datetime(1999, 12, 31, 23, tzinfo=UTC),
            None,
            dt.datetime(2024, 1, 1, tzinfo=UTC),
        ],
    ),
    (pa.time64("us"), [dt.time(0, 0), dt.time(23, 59, 59, 999999), None, dt.time(12, 0, 0, 1)]),
    (pa.time32("ms"), [dt.time(0, 0, 0, 1000), dt.time(23, 59, 59, 999000), None, dt.time(1)]),
    (pa.time32("s"), [dt.time(0, 0, 1), dt.time(23, 59, 59), None, dt.time(12)]),
    (pa.string(), ["", 'Zoë 😀 "quoted", comma\nnewline\\', None, "NULL"]),
    (pa.large_string(), ["\\N", "a" * 1000, None, ""]),
    (pa.binary(), [b"", b"\x00\xff\\x", None, b"NULL"]),
    (pa.large_binary(), [b"\x00" * 3, b"abc", None, b""]),
    (pa.json_(), ['{"b": [1, 2.50], "a": "ñ"}', "[]", None, "null"]),
    (pa.null(), [None, None, None, None]),
]


def _column(arrow_type: pa.DataType, values: list) -> pa.Array:
    if pa.types.is_decimal(arrow_type):
        values = [None if v is None else Decimal(v) for v in values]
    if isinstance(arrow_type, pa.JsonType):
        return pa.ExtensionArray.from_storage(arrow_type, pa.array(values, pa.string()))
    if arrow_type == pa.float16():
        import numpy as np

        return pa.array(np.array([np.nan if v is None else v for v in values], np.float16),
                        mask=np.array([v is None for v in values]))  # fmt: skip
    return pa.array(values, arrow_type)


def _batch() -> pa.RecordBatch:
    columns = {f"c{i}": _column(t, values) for i, (t, values) in enumerate(EDGES)}
    return pa.RecordBatch.from_pydict(columns)


def _stage(postgres: str, table: str, batches: list[pa.RecordBatch]) -> None:
    schema = batches[0].schema
    with PostgresWarehouse(postgres) as warehouse, warehouse.transaction():
        reader = pa.RecordBatchReader.from_batches(schema, batches)
        warehouse.create_staging(table, schema, reader, "")


def test_binary_copy_stores_every_type_as_the_text_copy_does(postgres, monkeypatch) -> None:
    batch = _batch()
    assert pg_binary.binary_copy_supported(batch.schema)
    # Sliced batches (a non-zero offset into each buffer) and a batch of no rows, as readers give
    batches = [batch.slice(0, 1), batch.slice(1), batch.slice(4)]
    _stage(postgres, "public.by_binary", batches)
    monkeypatch.setattr(pg_binary, "binary_copy_supported", lambda schema: False)
    _stage(postgres, "public.by_text", batches)
    with psycopg.connect(postgres) as con:
        count = "select count(*) from (select * from {} except all select * from {}) x"
        assert con.execute(count.format("by_binary", "by_text")).fetchone() == (0,)
        assert con.execute(count.format("by_text", "by_binary")).fetchone() == (0,)
        assert con.execute("select count(*) from by_binary").fetchone() == (4,)
        rows = con.execute(
            "select c8, c12, c13, c22 from by_binary order by c1 nulls last"
        ).fetchall()
    nines, widest = "9" * 28 + ".9999999999", "9" * 38
    first, last = (
        dt.datetime(1999, 12, 31, 23, 59, 59, 1),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    )
    assert rows == [  # ordered by the int8 column: -128, 0, 127, NULL
        (Decimal(2**64 - 1), Decimal(nines), Decimal(widest), dt.datetime(1, 1, 1)),
        (Decimal(10**19), Decimal("-0.0000000001"), Decimal(0), first),
        (Decimal(0), Decimal("-" + nines), Decimal("-" + widest), last),
        (None, None, None, None),
    ]


def test_nanosecond_times_keep_the_text_copy(postgres) -> None:
    # PostgreSQL keeps microseconds and rounds finer text itself; the binary encoder leaves
    # those columns to it rather than choose a rounding of its own.
    batch = pa.RecordBatch.from_pydict(
        {"at": pa.array([1_000_000_001_500, None], pa.timestamp("ns")), "n": [1, 2]}
    )
    assert not pg_binary.binary_copy_supported(batch.schema)
    _stage(postgres, "public.ns", [batch])
    with psycopg.connect(postgres) as con:
        rows = con.execute("select at, n from ns order by n").fetchall()
    assert rows == [(dt.datetime(1970, 1, 1, 0, 16, 40, 2), 1), (None, 2)]


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_a_timestamp_beyond_int64_microseconds_is_refused_not_wrapped(postgres, unit) -> None:
    seconds = 2**62 // 1_000_000 * 10  # fits int64 in seconds, overflows in microseconds
    batch = pa.RecordBatch.from_pydict(
        {"at": pa.array([seconds * (1000 if unit == "ms" else 1)], pa.timestamp(unit))}
    )
    with pytest.raises((pa.ArrowInvalid, psycopg.errors.DataError)):
        _stage(postgres, "public.far", [batch])


def test_a_decimal_wider_than_its_type_is_refused_not_cut(postgres) -> None:
    # Arrow does not check a decimal's values against its precision; the text COPY would have
    # PostgreSQL refuse one that does not fit, and so must the binary encoder.
    wide = pa.array([Decimal("1234567890" * 3 + "123456.12")], pa.decimal128(38, 2))
    for narrow in (pa.decimal128(6, 2), pa.decimal128(30, 2), pa.decimal128(35, 2)):
        batch = pa.RecordBatch.from_arrays([wide.view(narrow)], names=["amount"])
        with pytest.raises((ValueError, psycopg.errors.NumericValueOutOfRange)):
            _stage(postgres, "public.wide", [batch])


@pytest.mark.parametrize(
    ("stored", "arrow_type", "value"),
    [(pa.int32(), pa.date32(), -(2**31)), (pa.int64(), pa.timestamp("us"), -(2**63) + 1)],
)
def test_a_date_beyond_postgresql_is_refused_not_wrapped(postgres, stored, arrow_type, value):
    # Shifted to PostgreSQL's epoch (2000-01-01), these would wrap round to a plausible date.
    batch = pa.RecordBatch.from_arrays(
        [pa.array([value, None], stored).view(arrow_type)], names=["at"]
    )
    with pytest.raises((ValueError, psycopg.errors.DataError)):
        _stage(postgres, "public.far", [batch])


def test_rows_whose_fields_all_have_one_width_are_stored_as_the_text_copy_does(
    postgres, monkeypatch
):
    # No NULL and strings of one length: every field is written through the encoder's
    # fixed-width matrix, not its variable-length join; decimals with a scale of 16 or more
    # carry digits past 2**63 once aligned on base-10000 digits.
    batch = pa.RecordBatch.from_pydict(
        {
            "n": pa.array([1, 2, 3], pa.int64()),
            "load_id": pa.array(["load-a", "load-b", "ñ-ok"], pa.string()),
            "empty": pa.array(["", "", ""], pa.string()),
            "tiny": pa.array(
                [Decimal("9.99999999999999999"), Decimal("-0.00000000000000001"), Decimal(0)],
                pa.decimal128(18, 17),
            ),
            "money": pa.array(
                [Decimal("99999999.99"), Decimal("-0.01"), Decimal("12.30")], pa.decimal128(10, 2)
            ),
            "at": pa.array(
                [dt.datetime(2024, 1, 1), dt.datetime(1970, 1, 1), dt.datetime(1, 1, 1)],
                pa.timestamp("us"),
            ),
            "flag": pa.array([True, False, True]),
            "nothing": pa.nulls(3),
        }
    )
    _stage(postgres, "public.one_width_binary", [batch, batch.slice(1)])
    monkeypatch.setattr(pg_binary, "binary_copy_supported", lambda schema: False)
    _stage(postgres, "public.one_width_text", [batch, batch.slice(1)])
    with psycopg.connect(postgres) as con:
        count = "select count(*) from (select * from {} except all select * from {}) x"
        assert con.execute(count.format("one_width_binary", "one_width_text")).fetchone() == (0,)
        assert con.execute(count.format("one_width_text", "one_width_binary")).fetchone() == (0,)
        rows = con.execute("select tiny, load_id from one_width_binary order by n, tiny").fetchall()
    assert rows[0] == (Decimal("9.99999999999999999"), "load-a")
    assert len(rows) == 5
