"""The real Dagster daemon, with the code location's own server: it ticks a schedule from
config (a one-minute cron), the run happens and the run_log sensor writes its row into the
warehouse; and on a `refresh: on_change` source, the observe sensor and the automation sensor
(Tributary's own condition, evaluated in the code server) load the table once it changed."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import yaml

from tests.conftest import background_process, local_dagster_home, wait_for
from tributary.config.loader import load_project
from tributary_demo import generate_demo_sources

DAEMON = Path(sys.executable).parent / "dagster-daemon"
SCHEDULE_TAG = "dagster/schedule_name"
SENSOR_TAG = "dagster/sensor_name"


def run_log_rows(warehouse: Path, run_id: str) -> list[tuple]:
    try:  # the daemon's runs and sensors hold the file while they write it
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(
                "select asset_key, status, rows_loaded from _tributary.run_log where run_id = ?",
                [run_id],
            ).fetchall()
    except (duckdb.IOException, duckdb.CatalogException):
        return []


def ops_only_project(config_dir: Path, state_dir: Path, **ops_settings) -> Path:
    """The shipped config with only the ops source (its settings updated), sensors running."""
    for path in (config_dir / "sources").glob("*.yaml"):
        if path.stem != "ops":
            path.unlink()
    shutil.rmtree(config_dir / "exports")
    (config_dir / "teams.yaml").unlink()  # its teams read the schemas and exports removed
    ops = yaml.safe_load((config_dir / "sources" / "ops.yaml").read_text())
    ops.update(ops_settings)
    (config_dir / "sources" / "ops.yaml").write_text(yaml.safe_dump(ops))
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["automation"] = {"default_status": "running"}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    return generate_demo_sources(state_dir / "demo", customers=10, orders=20)["ops"]


@contextmanager
def running_daemon(config_dir: Path, state_dir: Path, tmp_path: Path, monkeypatch):
    """(the daemon's instance, its log file) while `dagster-daemon run` runs the project."""
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
            yield instance, log


def finished_runs(instance: dg.DagsterInstance, **tags: str) -> list[dg.DagsterRun]:
    """Oldest first (Dagster lists the newest first)."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags=tags))
    return [run for run in reversed(runs) if run.is_finished]


def test_daemon_ticks_a_schedule_and_logs_the_run(config_dir, state_dir, tmp_path, monkeypatch):
    # On its schedule only: the loads that observing it would request are not this test's.
    ops_only_project(
        config_dir, state_dir, frequency="* * * * *", timezone="UTC", refresh="schedule"
    )
    project = load_project(config_dir)
    with running_daemon(config_dir, state_dir, tmp_path, monkeypatch) as (instance, log):
        run = wait_for(
            "a run of ops_schedule",
            lambda: next(iter(finished_runs(instance, **{SCHEDULE_TAG: "ops_schedule"})), None),
            timeout=200,
        )
        assert run.status == dg.DagsterRunStatus.SUCCESS, log.read_text()
        assert run.tags["tributary/source"] == "ops"
        # Written by the run_log sensor, which the daemon ticks.
        rows = wait_for(
            "the run's row in _tributary.run_log",
            lambda: run_log_rows(project.warehouse.path, run.run_id),
            timeout=90,
        )
    [(asset_key, status, rows_loaded)] = rows
    assert (asset_key, status) == ("raw/ops/products", "SUCCESS")
    assert rows_loaded > 0


def test_daemon_loads_an_observed_source_once_it_changed(
    config_dir, state_dir, tmp_path, monkeypatch
):
    # Observed every 30 s, and no schedule that could load it in the meantime.
    ops_db = ops_only_project(
        config_dir, state_dir, frequency=None, refresh="on_change", refresh_interval="30s"
    )
    project = load_project(config_dir)
    requested = {SENSOR_TAG: "automation_source_changes"}
    with running_daemon(config_dir, state_dir, tmp_path, monkeypatch) as (instance, log):
        # The first observation is a change (nothing was seen before): one load.
        first = wait_for(
            "the load requested by the first observation",
            lambda: next(iter(finished_runs(instance, **requested)), None),
            timeout=240,
        )
        assert first.status == dg.DagsterRunStatus.SUCCESS, log.read_text()
        # Read once the daemon's next writer (a sensor's tick, a build) lets go of the file.
        assert wait_for(
            "the loaded rows in the warehouse",
            lambda: warehouse_products(project.warehouse.path) == 54 or None,
            timeout=30,
        )

        with sqlite3.connect(ops_db) as con:
            con.execute("insert into product_master values (61, 'SKU-00061', 'New', 9.5, 0)")
        second = wait_for(
            "the load requested by the change",
            lambda: next(iter(finished_runs(instance, **requested)[1:]), None),
            timeout=240,
        )
        assert second.status == dg.DagsterRunStatus.SUCCESS, log.read_text()
        assert wait_for(
            "the new row in the warehouse",
            lambda: warehouse_products(project.warehouse.path) == 55 or None,
            timeout=30,
        )
        # One load per change: nothing else was requested meanwhile.
        assert len(instance.get_runs(filters=dg.RunsFilter(tags=requested))) == 2


def warehouse_products(warehouse: Path) -> int | None:
    try:  # the daemon's runs and sensors hold the file while they write it
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute("select count(*) from raw_ops.products").fetchone()[0]
    except (duckdb.IOException, duckdb.CatalogException):
        return None
