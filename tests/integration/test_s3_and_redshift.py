"""The landing store on a real S3 server (moto), and the Redshift warehouse's SQL.

Redshift cannot run here: its implementation runs against a connection seam that records
every statement and executes all but COPY (and UNLOAD) on the real PostgreSQL server
(tests/integration/redshift_fake.py). COPY is carried out the way Redshift does it, from
exactly the files that the load's copy.manifest names on S3, so the tables left behind are the
ones Redshift would hold.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import dagster as dg
import duckdb
import psycopg
import pyarrow as pa
import pytest
import yaml

from tests.integration.redshift_fake import RecordingRedshift
from tributary.config.loader import load_project
from tributary.defs import build_definitions
from tributary.defs.ingest import raw_asset_key
from tributary.ingest import with_load_columns
from tributary.landing import COPY_MANIFEST, LandingStore
from tributary.storage import s3_filesystem
from tributary.warehouse import LoadTarget, SourceRead
from tributary.warehouse.redshift.warehouse import RedshiftWarehouse
from tributary_demo import generate_demo_sources

IAM_ROLE = "arn:aws:iam::123456789012:role/tributary-copy"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

INCREMENTAL = LoadTarget(
    source="crm", table="customers", mode="incremental", primary_key=("id",), cursor="updated_at"
)
CUSTOMERS = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("balance", pa.decimal128(12, 2)),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


@pytest.fixture
def landing(s3) -> LandingStore:
    endpoint, bucket = s3
    return LandingStore(f"s3://{bucket}/landing", fs=s3_filesystem(endpoint_url=endpoint))


@pytest.fixture
def redshift(postgres, landing):
    connection = RecordingRedshift(postgres, landing.fs, iam_role=IAM_ROLE)
    warehouse = RedshiftWarehouse(lambda: connection, iam_role=IAM_ROLE)
    yield warehouse, connection
    warehouse.close()


def land(landing: LandingStore, rows: list[dict], *, load_id: str, mode: str, cursor=None):
    batches = pa.RecordBatchReader.from_batches(
        CUSTOMERS,
        [
            pa.RecordBatch.from_pylist(rows[i : i + 2], schema=CUSTOMERS)
            for i in range(0, len(rows), 2)
        ],
    )
    return landing.land(
        with_load_columns(batches, load_id=load_id, extracted_at=T0),
        source="crm",
        table="customers",
        load_id=load_id,
        mode=mode,
        extracted_at=T0,
        cursor=cursor,
    )


def load(warehouse, landing: LandingStore, target: LoadTarget, manifest):
    folder = landing.load_dir(manifest.source, manifest.table, manifest.load_id)
    return warehouse.load(
        target,
        manifest,
        landing.batches(manifest),
        landing_path=landing.uri(folder),
        started_at=T0,
        read=SourceRead(seen=warehouse.newest_commit(target)),
    )


def customer(id_: int, name: str, balance: str, minute: int) -> dict:
    return {
        "id": id_,
        "name": name,
        "balance": Decimal(balance),
        "updated_at": T0.replace(minute=minute),
    }


def table_rows(conninfo: str) -> list[tuple]:
    with psycopg.connect(conninfo) as con:
        return con.execute(
            'select id, name, balance, updated_at, _load_id from "raw_crm"."customers" order by id'
        ).fetchall()


def test_landing_on_s3_round_trips_parts_and_manifests(landing, s3):
    _, bucket = s3
    rows = [
        customer(1, "Zoë 🚀", "10.50", 1),
        customer(2, 'O\'Brien, "Jr"', "-0.01", 2),
        {"id": 3, "name": None, "balance": None, "updated_at": None},
    ]
    manifest = land(landing, rows, load_id="20240501T120000Z-0000aaaa", mode="full")
    folder = f"{bucket}/landing/crm/customers/20240501T120000Z-0000aaaa"

    assert sorted(landing.fs.ls(folder)) == [
        f"{folder}/copy.manifest",
        f"{folder}/manifest.json",
        f"{folder}/part-00000.parquet",
        f"{folder}/part-00001.parquet",
    ]
    assert landing.read_manifest(folder) == manifest
    assert [f.rows for f in manifest.files] == [2, 1] and manifest.row_count == 3
    landed = landing.batches(manifest).read_all()
    assert landed.select(CUSTOMERS.names).to_pylist() == rows
    assert landed.column("_load_id").to_pylist() == ["20240501T120000Z-0000aaaa"] * 3
    with landing.fs.open(f"{folder}/{COPY_MANIFEST}") as handle:
        entries = json.load(handle)["entries"]
    assert entries == [
        {
            "url": f"s3://{folder}/{f.path}",
            "mandatory": True,
            "meta": {"content_length": landing.fs.size(f"{folder}/{f.path}")},
        }
        for f in manifest.files
    ]


def test_a_landing_bucket_that_does_not_exist_fails_the_load_and_is_not_created(s3):
    """s3fs's makedirs creates a missing bucket: a mistyped bucket name became a new bucket,
    where the loads landed, and nothing said so (a probe, 2026-12-07)."""
    endpoint, _ = s3
    fs = s3_filesystem(endpoint_url=endpoint)
    landing = LandingStore("s3://tributary-mistyped/landing", fs=fs)
    with pytest.raises(FileNotFoundError, match="tributary-mistyped"):
        land(landing, [customer(1, "Ada", "1.00", 1)], load_id="20240501T120000Z-0000aaaa",
             mode="full")  # fmt: skip
    assert not fs.exists("tributary-mistyped")


def test_redshift_full_loads_copy_then_swap_by_rename(redshift, landing, postgres):
    warehouse, connection = redshift
    target = LoadTarget(source="crm", table="customers", mode="full", primary_key=("id",))
    first = land(
        landing,
        [customer(1, "Ada", "1.00", 1), customer(2, "Bo", "2.00", 2)],
        load_id="20240501T120000Z-0000aaaa",
        mode="full",
    )
    load(warehouse, landing, target, first)
    assert [row[:2] for row in table_rows(postgres)] == [(1, "Ada"), (2, "Bo")]

    second = land(
        landing,
        [customer(2, "Bo 🚀", "2.50", 3), customer(3, "Cy", "3.00", 4)],
        load_id="20240501T130000Z-0000bbbb",
        mode="full",
    )
    outcome = load(warehouse, landing, target, second)

    manifest_url = (
        f"{landing.uri(landing.load_dir('crm', 'customers', second.load_id))}/copy.manifest"
    )
    columns = (
        '"id", "name", "balance", "updated_at", "_load_id", "_extracted_at", "_deleted", '
        '"_load_row"'
    )
    exists = "select 1 from information_schema.tables where table_schema = %s and table_name = %s"
    assert connection.transaction_log() == [
        "begin",
        exists,
        'lock "raw_crm"."customers"',  # loads of one table wait for each other
        # a load of the table committed while this one read: this one writes nothing
        "select max(finished_at) from _tributary.loads "
        "where source = %s and table_name = %s and scope = %s",
        exists,
        "select arrow_schema from _tributary.table_schemas where source = %s and table_name = %s",
        'create table "raw_crm"."customers__load_0000bbbb" ("id" bigint, "name" varchar(65535), '
        '"balance" numeric(12, 2), "updated_at" timestamptz, "_load_id" varchar(65535), '
        '"_extracted_at" timestamptz, "_deleted" boolean, "_load_row" bigint)',
        f'copy "raw_crm"."customers__load_0000bbbb" from \'{manifest_url}\' '
        f"iam_role '{IAM_ROLE}' format as parquet manifest",
        # no key is staged twice: the staged rows are the rows to write
        'select count(*) from (select 1 from "raw_crm"."customers__load_0000bbbb" '
        'group by "id" having count(*) > 1 limit 1) as twice',
        'create table "raw_crm"."customers__swap_0000bbbb" (like "raw_crm"."customers")',
        f'insert into "raw_crm"."customers__swap_0000bbbb" ({columns}) '
        f'select {columns} from "raw_crm"."customers__load_0000bbbb"',
        'alter table "raw_crm"."customers" rename to "customers__old_0000bbbb"',
        'alter table "raw_crm"."customers__swap_0000bbbb" rename to "customers"',
        'drop table "raw_crm"."customers__old_0000bbbb"',
        'drop table "raw_crm"."customers__load_0000bbbb"',
        # columns earlier loads lacked (none: nothing to write)
        "select column_names, cursor_column, value_type, value, load_id "
        "from _tributary.column_gaps where source = %s and table_name = %s and scope = %s",
        "delete from _tributary.table_schemas where source = %s and table_name = %s",
        "insert into _tributary.table_schemas values (%s, %s, %s, %s)",
        'select count(*) from "raw_crm"."customers"',
        "insert into _tributary.loads values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        "commit",
    ]
    assert not any(s.startswith(("truncate", "alter table append")) for s in connection.statements)
    assert table_rows(postgres) == [
        (2, "Bo 🚀", Decimal("2.50"), T0.replace(minute=3), second.load_id),
        (3, "Cy", Decimal("3.00"), T0.replace(minute=4), second.load_id),
    ]
    assert outcome.rows_in_table == 2
    with psycopg.connect(postgres) as con:  # no scratch table is left behind
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw_crm'"
        ).fetchall()
    assert tables == [("customers",)]


def test_redshift_incremental_loads_merge_the_latest_row_per_key(redshift, landing, postgres):
    warehouse, connection = redshift
    target = INCREMENTAL
    first = land(
        landing,
        [customer(1, "Ada", "1.00", 1), customer(2, "Bo", "2.00", 2)],
        load_id="20240501T120000Z-0000aaaa",
        mode="incremental",
        cursor="updated_at",
    )
    load(warehouse, landing, target, first)
    # The second load re-reads key 2 (lookback) and holds two versions of key 3.
    second = land(
        landing,
        [
            customer(2, "Bo", "2.00", 2),
            customer(3, "Cy", "3.00", 3),
            customer(3, "Cy 🚀", "3.30", 4),
            customer(1, "Ada L.", "1.10", 5),
        ],
        load_id="20240501T130000Z-0000bbbb",
        mode="incremental",
        cursor="updated_at",
    )
    outcome = load(warehouse, landing, target, second)

    log = connection.transaction_log()
    assert log[1:3] == [
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        'lock "raw_crm"."customers"',
    ]
    columns = (
        '"id", "name", "balance", "updated_at", "_load_id", "_extracted_at", "_deleted", '
        '"_load_row"'
    )
    merge_start = log.index(
        f'create table "raw_crm"."customers__latest_0000bbbb" as select {columns} from '
        '(select *, row_number() over (partition by "id" order by "updated_at" desc nulls last, '
        '"_load_id" desc, "_load_row" desc) '
        'as _tributary_rank from "raw_crm"."customers__load_0000bbbb") as ranked '
        "where _tributary_rank = 1"
    )
    assert log[merge_start + 1 : merge_start + 5] == [
        'merge into "raw_crm"."customers" using "raw_crm"."customers__latest_0000bbbb" as source '
        'on "customers"."id" = source."id" when matched then update set '
        '"name" = source."name", "balance" = source."balance", '
        '"updated_at" = source."updated_at", "_load_id" = source."_load_id", '
        '"_extracted_at" = source."_extracted_at", "_deleted" = source."_deleted", '
        '"_load_row" = source."_load_row" '
        f'when not matched then insert ({columns}) values (source."id", source."name", '
        'source."balance", source."updated_at", source."_load_id", source."_extracted_at", '
        'source."_deleted", source."_load_row")',
        'drop table "raw_crm"."customers__latest_0000bbbb"',
        # keys held twice by an older table would be repaired here
        'select count(*) from (select "id" from "raw_crm"."customers" group by "id" '
        "having count(*) > 1) as duplicated",
        'drop table "raw_crm"."customers__load_0000bbbb"',
    ]
    assert f"insert into _tributary.watermarks values ({', '.join(['%s'] * 11)})" in log
    assert log[-1] == "commit"
    assert table_rows(postgres) == [
        (1, "Ada L.", Decimal("1.10"), T0.replace(minute=5), second.load_id),
        (2, "Bo", Decimal("2.00"), T0.replace(minute=2), second.load_id),
        (3, "Cy 🚀", Decimal("3.30"), T0.replace(minute=4), second.load_id),
    ]
    assert outcome.watermark == T0.replace(minute=5)
    assert warehouse.watermark(target) == T0.replace(minute=5)


def test_redshift_failed_load_keeps_previous_table_and_watermark(redshift, landing, postgres):
    warehouse, connection = redshift
    target = INCREMENTAL
    first = land(
        landing,
        [customer(1, "Ada", "1.00", 1)],
        load_id="20240501T120000Z-0000aaaa",
        mode="incremental",
        cursor="updated_at",
    )
    load(warehouse, landing, target, first)
    before = table_rows(postgres)
    second = land(
        landing,
        [
            customer(1, "Ada L.", "1.10", 5),
            customer(2, "Bo", "2.00", 5),
            customer(3, "Cy", "3.00", 6),
        ],
        load_id="20240501T130000Z-0000bbbb",
        mode="incremental",
        cursor="updated_at",
    )
    # A part disappears between landing and COPY: the COPY fails inside the transaction.
    folder = landing.load_dir("crm", "customers", second.load_id)
    landing.fs.rm(f"{folder}/part-00001.parquet")
    with pytest.raises(FileNotFoundError):
        load(warehouse, landing, target, second)
    assert connection.statements[-1] == "rollback"
    assert table_rows(postgres) == before
    assert warehouse.watermark(target) == T0.replace(minute=1)
    with psycopg.connect(postgres) as con:  # the staging table went with the transaction
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw_crm'"
        ).fetchall()
    assert tables == [("customers",)]


def test_raw_asset_lands_on_s3_configured_in_platform_yaml(s3, config_dir, state_dir):
    endpoint, bucket = s3
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["landing"] = {"url": f"s3://{bucket}/landing", "endpoint_url": endpoint}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    generate_demo_sources(state_dir / "demo", customers=20, orders=50)
    project = load_project(config_dir)
    products = raw_asset_key("ops", "products")

    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[products]
    )

    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    landing_path = metadata["landing_path"].value
    assert landing_path.startswith(f"s3://{bucket}/landing/ops/products/")
    landing = LandingStore(f"s3://{bucket}/landing", fs=s3_filesystem(endpoint_url=endpoint))
    manifest = landing.read_manifest(landing_path.removeprefix("s3://"))
    assert manifest.row_count == metadata["rows_loaded"].value > 0
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        [(rows,)] = con.execute("select count(*) from raw_ops.products").fetchall()
    assert rows == manifest.row_count


def test_inbox_on_s3_waits_for_a_drops_parts_and_loads_a_new_drop_under_an_old_id(landing):
    """On S3 (the production inbox): a manifest synced before its part was requested, and a
    second drop under the same load id (DMS's LOAD00000001) was never requested. s3fs keeps the
    listings it made, which could hide what arrived since."""
    inbox = landing.inbox()
    manifest = land(inbox, [customer(1, "Ada", "1.00", 0)], load_id="LOAD00000001", mode="full")
    folder = inbox.load_dir("crm", "customers", "LOAD00000001")
    part = f"{folder}/{manifest.files[0].path}"
    content = inbox.fs.cat_file(part)
    inbox.fs.rm(part)

    waiting = inbox.pending({})
    assert (waiting.drops, waiting.problems) == ([], [
        f"{inbox.uri(folder)}: waiting for its parts ({manifest.files[0].path} is not there); "
        "it is loaded once they are all there"
    ])  # fmt: skip
    inbox.fs.pipe_file(part, content)
    scan = inbox.pending(waiting.seen)
    [drop] = scan.drops
    scan.remember(drop)
    assert inbox.pending(scan.seen).drops == []

    land(inbox, [customer(2, "Bo", "2.00", 1)], load_id="LOAD00000001", mode="full")
    [again] = inbox.pending(scan.seen).drops
    assert again.load_id == "LOAD00000001"
    assert again.fingerprint != drop.fingerprint
    assert again.manifest.files[0].bytes == inbox.fs.size(part)
