"""One table's journey: extract -> land -> load, as plain Python (Dagster wraps it in defs/)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from tributary.arrow import nonempty_batches
from tributary.config import SourceConfig, TableConfig
from tributary.landing import LandingStore, Manifest
from tributary.sources import SourceReader
from tributary.warehouse import LoadOutcome, LoadTarget, Warehouse

LOAD_COLUMNS = ("_load_id", "_extracted_at", "_deleted")


@dataclass(frozen=True)
class TableLoad:
    manifest: Manifest
    outcome: LoadOutcome
    landing_uri: str


def new_load_id(now: datetime) -> str:
    """Sortable by time, unique across concurrent runs."""
    return f"{now:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"


def load_target(source: SourceConfig, table: TableConfig) -> LoadTarget:
    return LoadTarget(
        source=source.name,
        table=table.name,
        mode=table.mode,
        primary_key=tuple(table.primary_key),
        cursor=table.cursor,
    )


def ingest_table(
    source: SourceConfig,
    table: TableConfig,
    *,
    reader: SourceReader,
    landing: LandingStore,
    warehouse: Warehouse,
    batch_rows: int,
) -> TableLoad:
    started_at = datetime.now(UTC)
    load_id = new_load_id(started_at)
    target = load_target(source, table)
    since = warehouse.watermark(source.name, table.name) if table.mode == "incremental" else None
    batches = reader.read(table, since=since, batch_rows=batch_rows)
    manifest = landing.land(
        with_load_columns(batches, load_id=load_id, extracted_at=started_at),
        source=source.name,
        table=table.name,
        load_id=load_id,
        mode=table.mode,
        extracted_at=started_at,
        cursor=table.cursor,
    )
    folder = landing.load_dir(source.name, table.name, load_id)
    outcome = warehouse.load(
        target,
        manifest,
        landing.batches(manifest),
        landing_path=landing.uri(folder),
        started_at=started_at,
    )
    return TableLoad(manifest=manifest, outcome=outcome, landing_uri=landing.uri(folder))


def with_load_columns(
    batches: pa.RecordBatchReader, *, load_id: str, extracted_at: datetime
) -> Iterator[pl.DataFrame]:
    """Each batch with the load metadata every raw row carries."""
    metadata = [
        pl.lit(load_id, dtype=pl.String).alias("_load_id"),
        pl.lit(extracted_at, dtype=pl.Datetime("us", "UTC")).alias("_extracted_at"),
        pl.lit(False, dtype=pl.Boolean).alias("_deleted"),
    ]
    for batch in nonempty_batches(batches):
        yield pl.DataFrame(pl.from_arrow(batch)).with_columns(metadata)
