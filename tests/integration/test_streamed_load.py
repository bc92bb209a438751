"""A PostgreSQL load streams the parts of a landing still going on (ingest.LandingStream):
it loads exactly the landed rows, commits nothing before manifest.json is written, and a
failure while extracting or landing rolls the load back."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import BatchesReader
from tributary.config.models import SourceConfig, TableConfig
from tributary.errors import SourceError
from tributary.ingest import ingest_table, load_target
from tributary.landing import LandingStore
from tributary.landing.store import MANIFEST
from tributary.warehouse.base import STATE_SCHEMA
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

pytestmark = pytest.mark.integration

ORDERS = TableConfig(name="orders", primary_key=["id"], cursor="updated_at", mode="incremental")
SOURCE = SourceConfig(
    name="shop", kind="mysql", connection={"url": "mysql://nobody@127.0.0.1/shop"}, tables=[ORDERS]
)
T0 = datetime(2024, 5, 1, 12, 0, 0)


def orders(ids: range, *, minute: int = 0, **extra: pa.Array) -> pa.RecordBatch:
    columns = {
        "id": pa.array(list(ids), pa.int64()),
        "status": pa.array([f"s{i}" for i in ids]),
        "updated_at": pa.array([T0.replace(minute=minute)] * len(ids), pa.timestamp("us")),
        **extra,
    }
    return pa.RecordBatch.from_pydict(columns)


def load(postgres: str, landing: LandingStore, reader: BatchesReader):
    with PostgresWarehouse(postgres) as warehouse:
        assert warehouse.loads_while_landing
        return ingest_table(
            SOURCE, ORDERS, reader=reader, landing=landing, warehouse=warehouse, batch_rows=2
        )


def state(postgres: str) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    with psycopg.connect(postgres) as con:
        return (
            con.execute("select id, status from raw_shop.orders order by id").fetchall(),
            con.execute(f"select value, load_id from {STATE_SCHEMA}.watermarks").fetchall(),
            con.execute(f"select load_id from {STATE_SCHEMA}.loads").fetchall(),
            con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw_shop'"
            ).fetchall(),
        )


def load_folders(root: Path) -> list[Path]:
    return sorted((root / "shop" / "orders").iterdir())


def test_a_failure_while_landing_rolls_the_streamed_load_back(postgres, tmp_path) -> None:
    landing = LandingStore(str(tmp_path / "landing"))
    first = load(postgres, landing, BatchesReader([orders(range(1, 4))])).manifest.load_id
    before = state(postgres)

    # Two parts land (and stream into the staging table) before the source fails.
    failing = BatchesReader(
        [orders(range(1, 3), minute=5), orders(range(3, 6), minute=5)],
        fail=SourceError("the source went away"),
    )
    with pytest.raises(SourceError, match="the source went away"):
        load(postgres, landing, failing)

    assert state(postgres) == before  # rows, watermark, loads; no staging table left
    [second] = [f for f in load_folders(tmp_path / "landing") if f.name != first]
    assert sorted(p.name for p in second.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]  # an interrupted landing: no manifest, so no warehouse will ever load it


def test_the_streamed_load_commits_only_after_the_manifest_is_written(
    postgres, tmp_path, monkeypatch
) -> None:
    landing = LandingStore(str(tmp_path / "landing"))
    seen: list[bool] = []
    execute = PostgresWarehouse.execute

    def record(self, sql, params=()):
        if sql.startswith(f"insert into {STATE_SCHEMA}.loads"):  # the transaction's last write
            [folder] = load_folders(tmp_path / "landing")
            seen.append((folder / MANIFEST).exists())
        return execute(self, sql, params)

    monkeypatch.setattr(PostgresWarehouse, "execute", record)
    result = load(postgres, landing, BatchesReader([orders(range(1, 3)), orders(range(3, 6))]))
    assert seen == [True]
    assert result.outcome.rows_loaded == result.manifest.row_count == 5
    assert state(postgres)[0] == [(i, f"s{i}") for i in range(1, 6)]


def test_the_streamed_load_loads_the_rows_as_landed_when_parquet_converts_them(
    postgres, tmp_path
) -> None:
    """Parquet has no date64 nor timestamp[s]: the load gets the landed types, as a load of the
    landed files (the inbox path) would."""
    landing = LandingStore(str(tmp_path / "landing"))
    extra = {
        "shipped_on": pa.array([date(2024, 5, 2)] * 3, pa.date64()),
        "paid_at": pa.array([T0] * 3, pa.timestamp("s")),
    }
    load(postgres, landing, BatchesReader([orders(range(1, 4), **extra)]))

    [folder] = load_folders(tmp_path / "landing")
    landed = pq.read_schema(folder / "part-00000.parquet")
    with PostgresWarehouse(postgres) as warehouse:
        recorded = warehouse.recorded_schema(load_target(SOURCE, ORDERS))
    assert recorded.field("shipped_on").type == landed.field("shipped_on").type == pa.date32()
    assert recorded.field("paid_at").type == landed.field("paid_at").type == pa.timestamp("ms")


@pytest.mark.parametrize("held_bytes", [None, 1])
def test_the_streamed_load_takes_the_landed_batches_and_reads_back_only_what_it_did_not_hold(
    postgres, tmp_path, monkeypatch, held_bytes
) -> None:
    """The load COPYs the batches the landing wrote without decoding them again from Parquet;
    batches past LandingStream.HELD_BYTES are read from their closed part instead, rows in
    the landed order either way."""
    from tributary.ingest import LandingStream

    if held_bytes is not None:
        monkeypatch.setattr(LandingStream, "HELD_BYTES", held_bytes)
    read_back: list[tuple[str, int]] = []
    part_batches = LandingStore.part_batches

    def recording(self, path, *, skip_rows=0):
        read_back.append((Path(path).name, skip_rows))
        return part_batches(self, path, skip_rows=skip_rows)

    monkeypatch.setattr(LandingStore, "part_batches", recording)
    landing = LandingStore(str(tmp_path / "landing"))
    batches = [orders(range(1, 3)), orders(range(3, 4)), orders(range(4, 6)), orders(range(6, 7))]
    result = load(postgres, landing, BatchesReader(batches))
    assert result.outcome.rows_loaded == result.manifest.row_count == 6
    assert state(postgres)[0] == [(i, f"s{i}") for i in range(1, 7)]
    if held_bytes is None:
        assert read_back == []
    else:  # nothing held: every part read back whole
        assert read_back == [
            (f"part-{n:05d}.parquet", 0) for n in range(len(result.manifest.files))
        ]
