"""A warehouse table holding every hard case, with the exact values it must export as."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from tests.integration.redshift_fake import RecordingRedshift
from tributary.config.models import ExportConfig
from tributary.exports import ExportStore, run_export
from tributary.landing import LandingStore
from tributary.warehouse import Warehouse
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse
from tributary.warehouse.postgres.warehouse import PostgresWarehouse
from tributary.warehouse.redshift.warehouse import RedshiftWarehouse

DDL = """create table main.cases (
    id bigint, amount decimal(12, 2), precise decimal(38, 10), happened_at timestamptz,
    local_at timestamp, day date, label varchar, flag boolean, ratio double precision
)"""
# Literal SQL on purpose: a +02 offset, a 38-digit decimal, text with every CSV hazard.
INSERT = """insert into main.cases values
    (1, 12.30, 1234567890123456789012345678.0123456789, '2024-05-01 12:00:00.123456+02',
     '2024-05-01 12:00:00', '2024-05-01', 'Zoë "quoted", comma' || chr(10) || 'new line',
     true, 0.1),
    (2, -0.01, 0.0000000001, '1999-12-31 23:59:59.999999+00', '1999-12-31 23:59:59.5',
     '1999-12-31', '日本語 🚀 e' || chr(769) || ' ''single''', false, -1.5e300),
    (3, null, null, null, null, null, null, null, null),
    (4, 0.00, -99.5, '2024-05-02 00:00:00-07', '2024-05-02 00:00:00', '2024-05-02', '',
     true, 0.0)"""

EXPECTED = [
    (1, Decimal("12.30"), Decimal("1234567890123456789012345678.0123456789"),
     datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, 0),
     date(2024, 5, 1), 'Zoë "quoted", comma\nnew line', True, 0.1),
    (2, Decimal("-0.01"), Decimal("0.0000000001"),
     datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
     datetime(1999, 12, 31, 23, 59, 59, 500000), date(1999, 12, 31),
     "日本語 🚀 e\u0301 'single'", False, -1.5e300),
    (3, None, None, None, None, None, None, None, None),
    (4, Decimal("0.00"), Decimal("-99.5000000000"), datetime(2024, 5, 2, 7, 0, tzinfo=UTC),
     datetime(2024, 5, 2), date(2024, 5, 2), "", True, 0.0),
]  # fmt: skip
COLUMNS = ["id", "amount", "precise", "happened_at", "local_at", "day", "label", "flag", "ratio"]
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("amount", pa.decimal128(12, 2)),
        ("precise", pa.decimal128(38, 10)),
        ("happened_at", pa.timestamp("us", tz="UTC")),
        ("local_at", pa.timestamp("us")),
        ("day", pa.date32()),
        ("label", pa.string()),
        ("flag", pa.bool_()),
        ("ratio", pa.float64()),
    ]
)


def rows(table: pa.Table) -> list[tuple]:
    """A table's rows as tuples, timestamps with a zone compared as UTC instants."""
    return [
        tuple(v.astimezone(UTC) if isinstance(v, datetime) and v.tzinfo else v for v in row)
        for row in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
    ]


def connect(location: Path | str) -> Warehouse:
    """A DuckDB file, or a PostgreSQL database by its conninfo URL."""
    if str(location).startswith("postgresql://"):
        return PostgresWarehouse(str(location))
    return DuckDBWarehouse(location)


def cases_warehouse(location: Path | str) -> Path | str:
    with connect(location) as warehouse:
        warehouse.execute("create schema if not exists main")
        warehouse.execute(DDL)
        warehouse.execute(INSERT)
    return location


def export_cases(
    location: Path | str,
    store: ExportStore,
    day: date,
    sql: str = "select * from main.cases order by id",
    **config,
):
    export = ExportConfig.model_validate(
        {"name": "cases", "query": sql, "depends_on": ["cases"]} | config
    )
    with connect(location) as warehouse:
        return run_export(
            export,
            sql=sql,
            day=day,
            warehouse=warehouse,
            store=store,
            asset="export/cases",
            batch_rows=2,
        )


REDSHIFT_ROLE = "arn:aws:iam::123456789012:role/tributary-unload"


def export_cases_from_redshift(
    conninfo: str,
    landing: LandingStore,
    store: ExportStore,
    day: date,
    sql: str = "select * from main.cases order by id",
    *,
    rows_per_file: int = 1,
    **config,
):
    """Export `cases` from the Redshift warehouse played on PostgreSQL (the cases table) and
    the landing bucket on S3 (tests/integration/redshift_fake.py): UNLOAD, then the copy.
    `rows_per_file` is how many rows the played UNLOAD writes per part. Returns the outcome
    and the fake connection (its statements)."""
    export = ExportConfig.model_validate(
        {"name": "cases", "query": sql, "depends_on": ["cases"]} | config
    )
    connection = RecordingRedshift(
        conninfo, landing.fs, iam_role=REDSHIFT_ROLE, unload_rows_per_file=rows_per_file
    )
    with RedshiftWarehouse(lambda: connection, iam_role=REDSHIFT_ROLE) as warehouse:
        outcome = run_export(
            export,
            sql=sql,
            day=day,
            warehouse=warehouse,
            store=store,
            asset="export/cases",
            batch_rows=2,
            landing=landing,
        )
    return outcome, connection
