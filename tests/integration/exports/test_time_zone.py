"""On a machine whose local time zone is not UTC. DuckDB compares a timestamptz with a
timestamp in its session's zone, which defaults to the machine's: a day's partition of a
timestamptz column must still be the UTC day, as PostgreSQL's exports read it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
# Exports two days of `cases` partitioned by happened_at (row 1 at 2024-05-01 10:00 UTC, row 4
# at 2024-05-02 07:00 UTC) and prints each day's ids.
EXPORT_TWO_DAYS = """
import json, sys
from datetime import date
from pathlib import Path
import pyarrow.parquet as pq
from tests.integration.exports.data import cases_warehouse, export_cases
from tributary.exports import ExportStore

work = Path(sys.argv[1])
location = cases_warehouse(work / "warehouse.duckdb")
store = ExportStore(str(work / "store"))
partitioning = {"by": "date", "column": "happened_at", "start_date": "2024-05-01"}
found = {}
for day in (date(2024, 5, 1), date(2024, 5, 2)):
    [publication] = export_cases(location, store, day, partitioning=partitioning).publications
    folder = Path(publication.uri.removeprefix("file://"))
    found[str(day)] = sorted(
        i for f in publication.manifest.files
        for i in pq.read_table(folder / f.path)["id"].to_pylist()
    )
print(json.dumps(found))
"""


def test_a_days_partition_is_the_utc_day_whatever_the_machines_zone(tmp_path) -> None:
    # Before, in Anchorage (UTC-8 in May): May 1 held rows 1 and 4, May 2 none.
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_TWO_DAYS, str(tmp_path)],
        env=dict(os.environ, TZ="America/Anchorage"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"2024-05-01": [1], "2024-05-02": [4]}
