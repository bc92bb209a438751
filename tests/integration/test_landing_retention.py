"""The landing store's retention: after a committed load, a table's old folders go, on a
local folder and on S3 (moto); the newest committed load, anything newer, the watermark's
load and the inbox stay. Through the real load path too (SQLite -> DuckDB)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from sqlalchemy.engine import make_url

from tributary.config.loader import load_project
from tributary.config.models import SourceConfig, TableConfig
from tributary.defs import build_definitions
from tributary.defs.ingest import raw_asset_key
from tributary.ingest import ingest_table
from tributary.landing import LandingStore, LoadReferences, Retention
from tributary.sources import SqlSource
from tributary.storage import s3_filesystem
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse
from tributary_demo import generate_demo_sources

NOW = datetime(2024, 6, 30, 12, 0, 0, tzinfo=UTC)


def load_id(day: int, hour: int = 0, tag: str = "0000") -> str:
    return f"202406{day:02d}T{hour:02d}0000Z-{tag:0>8}"


@pytest.fixture(params=["local", "s3"])
def store_url(request, tmp_path: Path) -> tuple[str, object]:
    """(URL, file system or None) of an empty landing store, local or on moto S3."""
    if request.param == "local":
        return str(tmp_path / "landing"), None
    endpoint, bucket = request.getfixturevalue("s3")
    return f"s3://{bucket}/landing", s3_filesystem(endpoint_url=endpoint)


def make_folder(store: LandingStore, source: str, table: str, name: str, *, manifest: bool):
    folder = store.load_dir(source, table, name)
    store.fs.makedirs(folder, exist_ok=True)
    store.fs.pipe(f"{folder}/part-00000.parquet", b"parquet bytes")
    if manifest:
        store.fs.pipe(f"{folder}/manifest.json", b"{}")


def folders(store: LandingStore, source: str = "shop", table: str = "orders") -> list[str]:
    table_dir = f"{store.root}/{source}/{table}"
    store.fs.invalidate_cache()
    if not store.fs.exists(table_dir):
        return []
    return sorted(path.rstrip("/").rsplit("/", 1)[-1] for path in store.fs.ls(table_dir))


def test_days_keep_young_newest_and_watermark_folders(store_url) -> None:
    url, fs = store_url
    store = LandingStore(url, fs=fs, retention=Retention(days=7))
    old_committed = load_id(1)
    watermark = load_id(5)  # old, but its watermark still points at it
    killed = load_id(10)  # parts, no manifest: a killed run
    failed = load_id(12)  # landed, never committed: its load failed
    young_committed = load_id(26)
    young_killed = load_id(29)  # younger than the grace: may be a run still landing
    newest = load_id(30, 10)
    landing_now = load_id(30, 11)  # newer than the newest committed load
    for name, manifest in [
        (old_committed, True), (watermark, True), (killed, False), (failed, True),
        (young_committed, True), (young_killed, False), (newest, True), (landing_now, False),
        ("notes", False),
    ]:  # fmt: skip
        make_folder(store, "shop", "orders", name, manifest=manifest)
    make_folder(store, "shop", "customers", load_id(1), manifest=True)
    make_folder(store.inbox(), "shop", "orders", load_id(1), manifest=True)
    references = LoadReferences(
        committed={name: "" for name in (old_committed, watermark, young_committed, newest)},
        watermarks=frozenset({watermark}),
    )

    cleanup = store.apply_retention("shop", "orders", lambda: references, now=NOW)

    assert cleanup.error is None
    assert cleanup.removed == (old_committed, killed, failed)
    assert folders(store) == sorted(
        [watermark, young_committed, young_killed, newest, landing_now, "notes"]
    )
    # Other tables and the inbox are not this pass's business.
    assert folders(store, table="customers") == [load_id(1)]
    assert folders(store.inbox()) == [load_id(1)]


def test_loads_keep_the_newest_of_each_partition(store_url) -> None:
    url, fs = store_url
    store = LandingStore(url, fs=fs, retention=Retention(days=None, loads=2))
    tenant_a = [load_id(day, tag="a") for day in (1, 2, 3, 29)]
    tenant_b = [load_id(4, tag="b")]  # old, but the newest of its partition
    for name in tenant_a + tenant_b:
        make_folder(store, "shop", "orders", name, manifest=True)
    references = LoadReferences(
        committed={**dict.fromkeys(tenant_a, "tenant=a"), **dict.fromkeys(tenant_b, "tenant=b")}
    )

    cleanup = store.apply_retention("shop", "orders", lambda: references, now=NOW)

    # Younger than 7 days or not, only the count rule holds when `loads` is set alone.
    assert cleanup.removed == (tenant_a[0], tenant_a[1])
    assert folders(store) == sorted([tenant_a[2], tenant_a[3], *tenant_b])


def test_days_and_loads_keep_what_either_keeps(tmp_path) -> None:
    store = LandingStore(str(tmp_path), retention=Retention(days=7, loads=2))
    loads = [load_id(day) for day in (1, 2, 3, 27, 28, 29)]
    for name in loads:
        make_folder(store, "shop", "orders", name, manifest=True)

    cleanup = store.apply_retention(
        "shop", "orders", lambda: LoadReferences(committed=dict.fromkeys(loads, "")), now=NOW
    )

    assert cleanup.removed == tuple(loads[:3])


def test_the_only_committed_load_stays_however_old(tmp_path) -> None:
    store = LandingStore(str(tmp_path), retention=Retention(days=1))
    make_folder(store, "shop", "orders", load_id(1), manifest=True)
    make_folder(store, "shop", "orders", load_id(2), manifest=False)  # newer: may be landing

    cleanup = store.apply_retention(
        "shop", "orders", lambda: LoadReferences(committed={load_id(1): ""}), now=NOW
    )

    assert cleanup.removed == ()
    assert folders(store) == [load_id(1), load_id(2)]


def test_a_failing_cleanup_is_reported_not_raised(tmp_path) -> None:
    store = LandingStore(str(tmp_path), retention=Retention(days=1))
    make_folder(store, "shop", "orders", load_id(1), manifest=True)

    def broken() -> LoadReferences:
        raise RuntimeError("warehouse went away")

    cleanup = store.apply_retention("shop", "orders", broken, now=NOW)

    assert cleanup == type(cleanup)(removed=(), error="RuntimeError: warehouse went away")


def test_a_delete_failing_midway_reports_what_went(tmp_path, monkeypatch) -> None:
    store = LandingStore(str(tmp_path), retention=Retention(loads=1))
    loads = [load_id(day) for day in (1, 2, 3)]
    for name in loads:
        make_folder(store, "shop", "orders", name, manifest=True)
    remove = store.fs.rm

    def rm_once_then_fail(path, **kwargs):
        if path.endswith(loads[1]):
            raise PermissionError("access denied")
        remove(path, **kwargs)

    # The local file system is one cached instance: monkeypatch puts its rm back.
    monkeypatch.setattr(store.fs, "rm", rm_once_then_fail)
    references = LoadReferences(committed=dict.fromkeys(loads, ""))
    cleanup = store.apply_retention("shop", "orders", lambda: references, now=NOW)

    assert cleanup.removed == (loads[0],)
    assert cleanup.error == "PermissionError: access denied"
    assert folders(store) == loads[1:]


# --- through the real load path ----------------------------------------------------------

ORDERS = TableConfig(name="orders", primary_key=["id"], cursor="updated_at", mode="incremental")


def test_loads_two_keeps_the_last_two_and_the_watermarks_load(tmp_path) -> None:
    database = tmp_path / "shop.sqlite"
    with sqlite3.connect(database) as con:
        con.execute("create table orders (id integer primary key, updated_at text)")
    url = make_url(f"sqlite:///{database}")
    source = SourceConfig(name="shop", kind="sqlite", connection={"url": str(url)}, tables=[ORDERS])
    store = LandingStore(str(tmp_path / "landing"), retention=Retention(days=None, loads=2))
    killed = "20240101T000000Z-deadbeef"  # a killed run's parts, months old
    make_folder(store, "shop", "orders", killed, manifest=False)

    loads = []
    with DuckDBWarehouse(str(tmp_path / "warehouse.duckdb")) as warehouse:
        for number in range(1, 5):
            if number <= 2:  # new rows in loads 1 and 2 only: the watermark stays at load 2
                with sqlite3.connect(database) as con:
                    con.execute(
                        "insert into orders values (?, ?)", (number, f"2024-05-0{number} 00:00:00")
                    )
            loads.append(
                ingest_table(
                    source,
                    ORDERS,
                    reader=SqlSource(url),
                    landing=store,
                    warehouse=warehouse,
                    batch_rows=10,
                )
            )
        [(watermark_load,)] = warehouse.query("select load_id from _tributary.watermarks")

    ids = [load.manifest.load_id for load in loads]
    assert watermark_load == ids[1]
    assert [load.landing_cleanup.removed for load in loads] == [
        (killed,),  # older than the grace and than load 1, committed just before the pass
        (),  # loads 1 and 2 are the newest two
        (ids[0],),
        (),  # load 2 is no longer among the newest two, but the watermark names it
    ]
    assert folders(store) == sorted(ids[1:])


def test_raw_asset_reports_removed_folders_on_s3(s3, config_dir, state_dir) -> None:
    """platform.yaml's landing.retention reaches the store, and the count the metadata."""
    endpoint, bucket = s3
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["landing"] = {
        "url": f"s3://{bucket}/landing",
        "endpoint_url": endpoint,
        "retention": {"loads": 1},
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    generate_demo_sources(state_dir / "demo", customers=20, orders=50)
    project = load_project(config_dir)
    store = LandingStore(f"s3://{bucket}/landing", fs=s3_filesystem(endpoint_url=endpoint))
    make_folder(store, "ops", "products", "20240101T000000Z-deadbeef", manifest=False)
    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()

    removed = []
    for _ in range(2):
        result = job.execute_in_process(
            instance=instance, asset_selection=[raw_asset_key("ops", "products")]
        )
        assert result.success
        [event] = result.get_asset_materialization_events()
        removed.append(event.materialization.metadata["landing_folders_removed"].value)

    # First load: the killed run's folder; second: the first load's folder.
    assert removed == [1, 1]
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        # the last committed (two load ids of one second do not sort by time)
        [(newest,)] = con.execute(
            "select load_id from _tributary.loads order by finished_at desc limit 1"
        ).fetchall()
    assert folders(store, "ops", "products") == [newest]
