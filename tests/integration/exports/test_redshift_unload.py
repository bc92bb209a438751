"""Redshift → GCS through UNLOAD (issue 19), Redshift's part played on the real PostgreSQL
server and the S3 server (tests/integration/redshift_fake.py): the UNLOAD's query runs on
PostgreSQL as Redshift reads it, and its Parquet parts and manifest are written to S3 as UNLOAD
writes them; the export streams them to the GCS emulator and publishes them. A process killed
during the copy leaves the published partition as it was, and a rerun converges."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import signal
import subprocess
import sys
import threading
import uuid
from datetime import date
from pathlib import Path

import gcsfs.retry
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.redshift_unload import parse_unload
from tributary.errors import ExportError
from tributary.exports import ExportStore
from tributary.exports import gcs as gcs_module
from tributary.exports.gcs import gcs_filesystem
from tributary.landing import LandingStore
from tributary.storage import Timeouts, s3_filesystem
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

from .conftest import Relay
from .data import EXPECTED, cases_warehouse, export_cases, export_cases_from_redshift, rows

pytestmark = pytest.mark.integration
DAY = date(2024, 5, 1)
PARTITION = "lake/cases/dt=2024-05-01"
ROOT = Path(__file__).parents[3]


@pytest.fixture
def stores(s3, gcs) -> tuple[LandingStore, ExportStore]:
    endpoint, bucket = s3
    landing = LandingStore(f"s3://{bucket}/landing", fs=s3_filesystem(endpoint_url=endpoint))
    return landing, ExportStore(f"{gcs.url}/lake", fs=gcs.fs)


def objects(gcs, prefix: str) -> dict[str, bytes]:
    gcs.fs.invalidate_cache()
    return {
        path.removeprefix(f"{gcs.name}/"): gcs.fs.cat_file(path)
        for path in gcs.fs.find(f"{gcs.name}/{prefix}")
    }


def scratch(landing: LandingStore) -> list[str]:
    landing.fs.invalidate_cache()
    return landing.fs.find(f"{landing.root}/_unload")


def test_an_export_from_redshift_is_unloaded_to_s3_and_published_on_gcs(
    postgres, stores, gcs
) -> None:
    landing, store = stores
    cases_warehouse(postgres)
    skip = "it's \\ nowhere"  # a quote and a backslash: Redshift literals escape both
    sql = "select * from main.cases where label is distinct from {{ skip }} order by id"

    outcome, connection = export_cases_from_redshift(
        postgres, landing, store, DAY, sql, parameters={"skip": skip}
    )

    [statement] = [s for s in connection.statements if s.startswith("unload (")]
    query = parse_unload(statement)["query"]
    assert "label is distinct from 'it''s \\\\ nowhere'" in query
    published = objects(gcs, PARTITION)
    assert sorted(published) == [
        f"{PARTITION}/_SUCCESS",
        f"{PARTITION}/manifest.json",
        *(f"{PARTITION}/part-0000{i}.parquet" for i in range(4)),
    ]
    manifest = store.read_manifest("cases", "dt=2024-05-01")
    assert manifest == outcome.publications[0].manifest
    assert (manifest.row_count, [f.rows for f in manifest.files]) == (4, [1, 1, 1, 1])
    for exported in manifest.files:
        data = published[f"{PARTITION}/{exported.path}"]
        assert (exported.bytes, exported.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    table = pa.concat_tables(
        pq.read_table(io.BytesIO(published[f"{PARTITION}/{f.path}"])) for f in manifest.files
    )
    assert sorted(rows(table), key=lambda row: row[0]) == EXPECTED
    assert manifest.written_by == "redshift unload" and manifest.compression == "snappy"
    assert manifest.sql == query

    # The same export read through the client (the PostgreSQL warehouse, streamed) types its
    # columns alike: UNLOAD keeps the export type mapping.
    streamed_store = ExportStore(f"{gcs.url}/streamed", fs=gcs.fs)
    with PostgresWarehouse(postgres):
        export_cases(postgres, streamed_store, DAY, sql, parameters={"skip": skip})
    streamed = streamed_store.read_manifest("cases", "dt=2024-05-01")
    assert [(c.name, c.type) for c in manifest.columns] == [
        (c.name, c.type) for c in streamed.columns
    ]
    assert {c.name: c.warehouse_type for c in manifest.columns}["amount"] == "numeric(12,2)"
    assert streamed.row_count == manifest.row_count

    assert scratch(landing) == []  # the scratch prefix went after publication
    assert objects(gcs, "lake/_tmp") == {}


def test_a_kill_during_the_copy_leaves_the_published_partition_and_a_rerun_converges(
    postgres, stores, gcs, s3
) -> None:
    landing, store = stores
    cases_warehouse(postgres)
    export_cases_from_redshift(postgres, landing, store, DAY)
    before = objects(gcs, PARTITION)
    assert f"{PARTITION}/_SUCCESS" in before and len(before) == 6

    with PostgresWarehouse(postgres) as wh:
        wh.execute("delete from main.cases where id in (1, 3)")
        wh.execute("update main.cases set label = 'changed' where id = 2")
    killed = subprocess.run(
        [sys.executable, "-m", "tests.integration.exports.crash_unload", postgres, s3[0],
         landing.url, f"{gcs.url}/lake"],
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]

    assert objects(gcs, PARTITION) == before  # untouched, still sealed
    # Parts are copied a few at a time: the kill came when the first was in; the other (two
    # rows are left, one a part) may be too. Nothing was published.
    staged = {p.rsplit("/", 1)[-1] for p in objects(gcs, "lake/_tmp/cases")}
    assert staged and staged <= {"part-00000.parquet", "part-00001.parquet"}
    left = [p.rsplit("/", 1)[-1] for p in scratch(landing)]
    assert sorted(left) == ["0000_part_00.parquet", "0001_part_00.parquet", "manifest"]

    rerun, _ = export_cases_from_redshift(postgres, landing, store, DAY)
    assert sorted(objects(gcs, PARTITION)) == [
        f"{PARTITION}/_SUCCESS",
        f"{PARTITION}/manifest.json",
        f"{PARTITION}/part-00000.parquet",
        f"{PARTITION}/part-00001.parquet",
    ]
    manifest = store.read_manifest("cases", "dt=2024-05-01")
    assert manifest == rerun.publications[0].manifest and manifest.row_count == 2
    labels = pa.concat_tables(
        pq.read_table(io.BytesIO(gcs.fs.cat_file(f"{gcs.name}/{PARTITION}/{f.path}")))
        for f in manifest.files
    ).column("label")
    assert sorted(labels.to_pylist()) == ["", "changed"]
    assert objects(gcs, "lake/_tmp") == {}  # the dead attempts are cleared, on both sides
    assert scratch(landing) == []


def test_super_and_varbyte_keep_the_export_type_mapping(postgres, stores, gcs) -> None:
    landing, store = stores
    cases_warehouse(postgres)  # the fake's SUPER is PostgreSQL's jsonb, VARBYTE its bytea
    sql = (
        "select id, jsonb_build_object('id', id, 'label', label) as doc, "
        "decode(lpad(to_hex(id), 4, '0'), 'hex') as blob from main.cases order by id"
    )
    export_cases_from_redshift(postgres, landing, store, DAY, sql, rows_per_file=10)

    manifest = store.read_manifest("cases", "dt=2024-05-01")
    columns = {c.name: c for c in manifest.columns}
    assert (columns["doc"].type, columns["doc"].warehouse_type) == ("string", "super")
    assert "JSON" in columns["doc"].note
    assert (columns["blob"].type, columns["blob"].warehouse_type, columns["blob"].note) == (
        "binary", "varbyte", None,
    )  # fmt: skip
    [part] = manifest.files
    table = pq.read_table(io.BytesIO(gcs.fs.cat_file(f"{gcs.name}/{PARTITION}/{part.path}")))
    assert table.column("blob").to_pylist() == [bytes([0, i]) for i in (1, 2, 3, 4)]
    assert json.loads(table.column("doc")[0].as_py()) == {"id": 1, "label": EXPECTED[0][6]}


def test_a_days_partition_is_the_utc_day_whatever_the_users_zone(postgres, stores) -> None:
    """Redshift compares a timestamptz with a date in the session's zone, the user's default
    (`alter user ... set timezone`): played here by a connection whose zone is Anchorage's.
    Row 1 is at 2024-05-01 10:00 UTC, row 4 at 2024-05-02 07:00 UTC."""
    landing, store = stores
    cases_warehouse(postgres)
    in_anchorage = f"{postgres}?options=-c%20TimeZone%3DAmerica/Anchorage"
    partitioning = {"by": "date", "column": "happened_at", "start_date": "2024-05-01"}
    found = {}
    for day in (date(2024, 5, 1), date(2024, 5, 2)):
        outcome, _ = export_cases_from_redshift(
            in_anchorage, landing, store, day, partitioning=partitioning
        )
        [publication] = outcome.publications
        folder = store.partition_dir("cases", f"dt={day}")
        found[str(day)] = sorted(
            id_
            for f in publication.manifest.files
            for id_ in pq.read_table(io.BytesIO(store.fs.cat_file(f"{folder}/{f.path}")))[
                "id"
            ].to_pylist()
        )
    # Before, in Anchorage: May 1 held rows 1 and 4, May 2 none.
    assert found == {"2024-05-01": [1], "2024-05-02": [4]}


def test_the_export_store_gone_mid_copy_fails_naming_it_and_a_rerun_converges(
    postgres, s3, gcs_emulator, monkeypatch
) -> None:
    """The export store goes away while the first part's upload request is under way (its
    connections reset, new ones refused: a relay in front of the emulator), and comes back on
    the same port: the run fails naming the export store, the published partition is as it
    was, and a rerun converges. Before, the run ended with aiohttp's own ClientConnectorError,
    which named a host and port only."""
    relay = Relay(upstream=int(gcs_emulator.rsplit(":", 1)[1]))
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{relay.port}")
        fs = gcs_filesystem(timeouts=Timeouts(connect=1, read=5))
        bucket = f"gone-{uuid.uuid4().hex[:8]}"
        fs.mkdir(bucket)
        store = ExportStore(f"gs://{bucket}/exports", fs=fs)
        landing = LandingStore(f"s3://{s3[1]}/landing", fs=s3_filesystem(endpoint_url=s3[0]))
        cases_warehouse(postgres)
        export_cases_from_redshift(postgres, landing, store, DAY)
        partition = f"{bucket}/exports/cases/dt=2024-05-01"

        def published() -> dict[str, bytes]:
            fs.invalidate_cache()
            return {path: fs.cat_file(path) for path in fs.find(partition)}

        before = published()
        assert len(before) == 6

        read = gcs_module._RequestBody._next
        gone = threading.Event()

        def go_mid_request(body):  # the session is open, the request under way
            if not gone.is_set():
                gone.set()
                relay.down()
            return read(body)

        sleep = asyncio.sleep

        async def quick(seconds):  # gcsfs's backoff (1, 2, 4 ... s) and the upload's, / 50
            await sleep(seconds / 50)

        with monkeypatch.context() as patched:
            patched.setattr(gcs_module._RequestBody, "_next", go_mid_request)
            patched.setattr(gcsfs.retry.asyncio, "sleep", quick)
            with pytest.raises(ExportError) as raised:
                export_cases_from_redshift(postgres, landing, store, DAY)
        assert gone.is_set()
        assert str(raised.value).startswith(
            f"the export store gs://{bucket}/exports could not be reached: Cannot connect to "
            f"host 127.0.0.1:{relay.port}"
        )
        relay.up()
        assert published() == before  # untouched, still sealed
        assert scratch(landing) == []  # the run removed its scratch prefix
        rerun, _ = export_cases_from_redshift(postgres, landing, store, DAY)
        after = published()
        assert sorted(after) == sorted(before)
        for exported in rerun.publications[0].manifest.files:
            data = after[f"{partition}/{exported.path}"]
            assert (exported.bytes, exported.sha256) == (
                len(data), hashlib.sha256(data).hexdigest(),
            )  # fmt: skip
        fs.invalidate_cache()
        assert fs.find(f"{bucket}/exports/_tmp") == []
    finally:
        relay.down()
