"""The real Dagster daemon ticks a schedule from config (a one-minute cron): the run happens,
and the run_log sensor writes its row into the warehouse."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import dagster as dg
import duckdb
import yaml

from tests.conftest import background_process, local_dagster_home, wait_for
from tributary.config.loader import load_project
from tributary_demo import generate_demo_sources

DAEMON = Path(sys.executable).parent / "dagster-daemon"


def run_log_rows(warehouse: Path, run_id: str) -> list[tuple]:
    try:  # the daemon's runs and sensors hold the file while they write it
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(
                "select asset_key, status, rows_loaded from _tributary.run_log where run_id = ?",
                [run_id],
            ).fetchall()
    except (duckdb.IOException, duckdb.CatalogException):
        return []


def test_daemon_ticks_a_schedule_and_logs_the_run(config_dir, state_dir, tmp_path, monkeypatch):
    # Only the ops source, loaded every minute, with schedules and sensors running.
    for path in (config_dir / "sources").glob("*.yaml"):
        if path.stem != "ops":
            path.unlink()
    shutil.rmtree(config_dir / "exports")
    (config_dir / "teams.yaml").unlink()  # its teams read the schemas and exports removed
    ops = yaml.safe_load((config_dir / "sources" / "ops.yaml").read_text())
    # On its schedule only: the loads that observing it would request are not this test's.
    ops.update(frequency="* * * * *", timezone="UTC", refresh="schedule")
    (config_dir / "sources" / "ops.yaml").write_text(yaml.safe_dump(ops))
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["automation"] = {"default_status": "running"}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    generate_demo_sources(state_dir / "demo", customers=10, orders=20)
    project = load_project(config_dir)

    home = local_dagster_home(tmp_path / "dagster_home")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump({"load_from": [{"python_module": "tributary.definitions"}]})
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRIBUTARY_CONFIG_DIR": str(config_dir),
        "TRIBUTARY_STATE_DIR": str(state_dir),
    }
    log = tmp_path / "daemon.log"
    with background_process(
        [str(DAEMON), "run", "-w", str(workspace)], env=env, cwd=tmp_path, log=log
    ):
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:

            def scheduled_run():
                runs = instance.get_runs(
                    filters=dg.RunsFilter(tags={"dagster/schedule_name": "ops_schedule"})
                )
                done = [r for r in runs if r.is_finished]
                return done[0] if done else None

            run = wait_for("a run of ops_schedule", scheduled_run, timeout=200)
            assert run.status == dg.DagsterRunStatus.SUCCESS, log.read_text()
            assert run.tags["tributary/source"] == "ops"

        rows = wait_for(
            "the run's row in _tributary.run_log",
            lambda: run_log_rows(project.warehouse.path, run.run_id),
            timeout=90,
        )
        [(asset_key, status, rows_loaded)] = rows
        assert (asset_key, status) == ("raw/ops/products", "SUCCESS")
        assert rows_loaded > 0
