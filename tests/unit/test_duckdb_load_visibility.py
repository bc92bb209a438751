"""A DuckDB load of more than one row group (122,880 rows) is visible, row by row, to the
session that committed it: the blocking checks run in that session right after the load.

DuckDB 2.0.0 loses the rows of such a load for every later scan in the same database
instance when, in one transaction, the table is created empty with `create table ... as
select ... from <staged> where 1 = 0` and then filled from the same staged table: `count(*)`
(answered from the table's cardinality) says 200,000 while a scan finds none, until the
file is reopened."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tributary.landing import Manifest
from tributary.slices import Slice
from tributary.warehouse import LoadTarget, SourceRead
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

ROWS = 200_000  # two row groups
BATCH_ROWS = 50_000
SCHEMA = pa.schema([("id", pa.int64()), ("amount", pa.float64())])


def landed(rows: int) -> pa.RecordBatchReader:
    def batches():
        for start in range(0, rows, BATCH_ROWS):
            ids = pa.array(range(start, min(rows, start + BATCH_ROWS)), pa.int64())
            yield pa.record_batch([ids, ids.cast(pa.float64())], schema=SCHEMA)

    return pa.RecordBatchReader.from_batches(SCHEMA, batches())


def manifest(mode: str, rows: int) -> Manifest:
    return Manifest(
        load_id=f"20240501T120000Z-{mode[:8]:0<8}",
        source="shop",
        table="big",
        mode=mode,
        extracted_at=datetime(2024, 5, 1, tzinfo=UTC),
        row_count=rows,
        files=[],
        columns=[],
    )


TARGETS = {
    "full": LoadTarget("shop", "big", "full", primary_key=("id",)),
    "incremental": LoadTarget("shop", "big", "incremental", primary_key=("id",), cursor="id"),
    "key range": LoadTarget(
        "shop",
        "big",
        "full",
        primary_key=("id",),
        where=Slice(kind="range", key="0-", source_column="id", table_column="id", low=0),
    ),
}


@pytest.mark.parametrize("kind", list(TARGETS))
def test_a_new_table_of_two_row_groups_is_scanned_whole_by_the_loading_session(
    kind: str, tmp_path: Path
) -> None:
    target = TARGETS[kind]
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        outcome = warehouse.load(
            target,
            manifest(target.mode, ROWS),
            landed(ROWS),
            landing_path=str(tmp_path),
            started_at=datetime.now(UTC),
            read=SourceRead(),
        )
        assert outcome.rows_in_table == ROWS
        # Scans (not the cardinality count(*) alone): what reconciliation and the key check ask.
        scanned = warehouse.query(
            'select count(*), max(id), sum(amount), count(distinct id) from "raw_shop"."big" '
            "where id >= 0"
        )
        assert scanned == [(ROWS, ROWS - 1, sum(range(ROWS)), ROWS)]
