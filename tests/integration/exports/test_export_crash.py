"""An export killed mid-way (while writing its parts; while publishing them) leaves the
previously published partition as it was, or unsealed; never a _SUCCESS over a broken one.
A rerun then publishes exactly the new result, with no leftover parts."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tributary.exports import ExportStore
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

from .data import cases_warehouse, export_cases

pytestmark = pytest.mark.integration
SCRIPT = "tests.integration.exports.crash_export"
ROOT = Path(__file__).parents[3]
PARTITION = "lake/cases/dt=2024-05-01"


def objects(gcs, prefix: str) -> dict[str, bytes]:
    gcs.fs.invalidate_cache()
    return {
        path.removeprefix(f"{gcs.name}/"): gcs.fs.cat_file(path)
        for path in gcs.fs.find(f"{gcs.name}/{prefix}")
    }


@pytest.mark.parametrize("kill_point", ["writing", "publishing"])
def test_killed_export_leaves_previous_partition_and_rerun_replaces_it(
    gcs, tmp_path, kill_point
) -> None:
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    store = ExportStore(f"{gcs.url}/lake", fs=gcs.fs)
    export_cases(warehouse, store, date(2024, 5, 1), rows_per_file=1)
    before = objects(gcs, PARTITION)
    assert f"{PARTITION}/_SUCCESS" in before and len(before) == 6

    with DuckDBWarehouse(warehouse) as wh:
        wh.execute("delete from main.cases where id in (1, 3)")
        wh.execute("update main.cases set label = 'changed' where id = 2")
    killed = subprocess.run(
        [sys.executable, "-m", SCRIPT, str(warehouse), f"{gcs.url}/lake", kill_point],
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]

    after_kill = objects(gcs, PARTITION)
    if kill_point == "writing":
        assert after_kill == before  # untouched, still sealed
        staged = objects(gcs, "lake/_tmp/cases")
        assert [p.rsplit("/", 1)[-1] for p in staged] == ["part-00000.parquet"]
    else:
        assert f"{PARTITION}/_SUCCESS" not in after_kill
        assert f"{PARTITION}/manifest.json" not in after_kill
        assert sorted(p.rsplit("/", 1)[-1] for p in after_kill) == [
            "part-00000.parquet",
            "part-00001.parquet",
        ]

    rerun = export_cases(warehouse, store, date(2024, 5, 1), rows_per_file=1)
    assert sorted(objects(gcs, PARTITION)) == [
        f"{PARTITION}/_SUCCESS",
        f"{PARTITION}/manifest.json",
        f"{PARTITION}/part-00000.parquet",
        f"{PARTITION}/part-00001.parquet",
    ]
    assert [f.rows for f in rerun.publications[0].manifest.files] == [1, 1]
    assert store.read_manifest("cases", "dt=2024-05-01").row_count == 2
    assert objects(gcs, "lake/_tmp") == {}
