"""Two runs of one export at once, as a schedule tick and an operator's materialization start
them: Dagster queues the second run's step behind the first (a pool per export), so the two
never publish the same partition together.

Before, both ran side by side. Each publication removes the partition's files and copies its
own in; interleaved, one run's parts could outlive the other's manifest (part-00002 of the
first run beside the second run's two parts and its manifest of two): a reader of the folder
then counted rows twice, and nothing failed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.conftest import local_dagster_home, materialize_at_once
from tributary.config.loader import CONFIG_DIR_ENV, STATE_DIR_ENV

pytestmark = pytest.mark.integration

SLEEP_SECONDS = 4  # each run's query takes this long: long enough for the two to meet


def write_project(tmp_path: Path, postgres: str) -> Path:
    config = tmp_path / "assets_config"
    (config / "exports").mkdir(parents=True)
    platform = {
        "warehouse": {"target": "postgres", "connection": {"url": postgres}},
        "exports": {"url": "exports"},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    export = {
        "name": "numbers",
        "query": "select n from generate_series(1, 3000) as n, "
        f"(select pg_sleep({SLEEP_SECONDS})) as slow order by n",
        "depends_on": ["fct_sales"],  # a query export names the models it reads (none here)
        "rows_per_file": 1000,
    }
    (config / "exports" / "numbers.yaml").write_text(yaml.safe_dump(export))
    return config


def step_intervals(instance: dg.DagsterInstance) -> list[tuple[float, float]]:
    """(start, end) of each run's export step."""
    intervals = []
    for run in instance.get_runs():
        times = {
            entry.dagster_event_type: entry.timestamp
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event_type
            in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)
        }
        intervals.append(
            (times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS])
        )
    return sorted(intervals)


def test_two_runs_of_one_export_publish_one_after_the_other(postgres, tmp_path) -> None:
    home = local_dagster_home(tmp_path / "dagster_home")
    state = tmp_path / "state"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        CONFIG_DIR_ENV: str(write_project(tmp_path, postgres)),
        STATE_DIR_ENV: str(state),
    }
    materialize_at_once("export/numbers", env)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (first_start, first_end), (second_start, _) = step_intervals(instance)
    assert first_end - first_start >= SLEEP_SECONDS
    assert second_start >= first_end  # the second waited for the first: no overlap
    [partition] = (state / "exports" / "numbers").glob("dt=*")
    manifest = json.loads((partition / "manifest.json").read_text())
    listed = sorted(file["path"] for file in manifest["files"])
    held = sorted(p.name for p in partition.iterdir() if p.name.startswith("part-"))
    assert held == listed == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert sum(file["rows"] for file in manifest["files"]) == 3000
    assert (partition / "_SUCCESS").exists()
