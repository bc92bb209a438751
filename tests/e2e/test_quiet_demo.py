"""`make demo`'s steps, twice, as a newcomer runs them on a fresh clone: the manifest is
prepared (`make manifest`), then `python -m tributary_demo run`. The console stays short and
quiet, Dagster's log goes whole to a file, and dbt reuses the prepared parse in every run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from tributary.config.loader import PROJECT_ROOT

MOST_LINES = 60


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_demo_prints_a_page_and_logs_the_rest(tmp_path: Path) -> None:
    dbt_project = tmp_path / "dbt_project"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project", dbt_project, ignore=shutil.ignore_patterns("target", "logs")
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    state = tmp_path / "state"
    env = {
        **os.environ,
        "TRIBUTARY_STATE_DIR": str(state),
        "TRIBUTARY_DBT_PROJECT_DIR": str(dbt_project),
        "DAGSTER_HOME": str(home),
    }
    run([sys.executable, "-m", "tributary.defs.prepare_dbt"], env)  # make manifest

    for attempt in (1, 2):
        shown = run([sys.executable, "-m", "tributary_demo", "run"], env)
        lines = shown.splitlines()
        assert len(lines) <= MOST_LINES, shown
        assert not [line for line in lines if "Warning" in line or "DEBUG" in line], shown
        assert "  ok      dbt_models" in shown and "FAILED" not in shown
        log = (state / "demo.log").read_text()
        assert "RUN_SUCCESS" in log  # the whole log is in the file...
        assert log.count("\n") > 3 * len(lines)  # ...which says much more
        # dbt reuses the parse `make manifest` prepared, in the first run as in the second
        assert "Unable to do partial parsing" not in log, f"run {attempt}"

    # nothing the demo builds is left unexplained: the run log has the demo's runs
    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as con:
        statuses = con.execute("select distinct status from marts.ops_load_status").fetchall()
    assert statuses == [("SUCCESS",)]
