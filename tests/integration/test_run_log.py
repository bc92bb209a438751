"""The run log in the real warehouse (DuckDB file, PostgreSQL server): the run-status sensors
write a successful and a failed run's outcome, and dbt's ops_load_status shows the latest
status per table; a run that finished while the warehouse was down is written once it is
back."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pytest
import yaml
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import (
    create_run_for_test,
    create_test_daemon_workspace_context,
    freeze_time,
)
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration

from tests.conftest import local_dagster_home
from tributary.config.loader import ProjectConfig, load_project
from tributary.defs import build_definitions
from tributary.defs.resources import WarehouseResource
from tributary.defs.run_log import LOGGED_STATUSES, RUN_LOG_KEY
from tributary.warehouse import RunLogRow, SourceChangeRow, TenantRow
from tributary_demo import generate_demo_sources

CUSTOMERS = dg.AssetKey(["raw", "erp", "customers"])
PRODUCTS = dg.AssetKey(["raw", "ops", "products"])
LOAD_STATUS = dg.AssetKey(["marts", "ops_load_status"])


@pytest.fixture(params=["duckdb", "postgres"])
def project(request, config_dir: Path, state_dir: Path) -> ProjectConfig:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres")
        platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
        platform["warehouse"] = {"target": "postgres", "connection": {"url": url}}
        (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    generate_demo_sources(state_dir / "demo", customers=30, orders=60)
    return load_project(config_dir)


def warehouse_rows(project: ProjectConfig, sql: str) -> list[tuple]:
    if project.platform.warehouse.target == "duckdb":
        with duckdb.connect(project.warehouse.path, read_only=True) as con:
            return con.execute(sql).fetchall()
    with psycopg.connect(project.platform.warehouse.connection.url) as con:
        return con.execute(sql).fetchall()


def source_products(project: ProjectConfig) -> int:
    with sqlite3.connect(project.state_dir / "demo" / "ops.sqlite") as con:
        return con.execute("select count(*) from v_products").fetchone()[0]


class RunLogSensors:
    """The run_log sensors ticked as the daemon ticks them, each from its own cursor; the
    first tick starts them (from the runs finished so far)."""

    def __init__(self, defs: dg.Definitions, project, instance: dg.DagsterInstance) -> None:
        self.defs = defs
        self.instance = instance
        self.resources = {"warehouse": WarehouseResource.from_project(project)}
        self.cursors: dict[str, str | None] = {
            f"run_log_{status.value.lower()}": None for status in LOGGED_STATUSES
        }
        self.tick()

    def tick(self) -> None:
        for name, cursor in self.cursors.items():
            sensor = self.defs.resolve_sensor_def(name)
            with dg.build_sensor_context(
                instance=self.instance,
                cursor=cursor,
                resources=self.resources,
                repository_def=self.defs.get_repository_def(),
            ) as context:
                self.cursors[name] = sensor.evaluate_tick(context).cursor


def test_run_log_records_success_and_failure(project, monkeypatch) -> None:
    defs = build_definitions(project)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        sensors = RunLogSensors(defs, project, instance)
        ok = job.execute_in_process(instance=instance, asset_selection=[CUSTOMERS, PRODUCTS])
        assert ok.success
        sensors.tick()

        # The ERP database is replaced by an empty one: the next load of customers fails
        # (a data error, not retried).
        empty = project.state_dir / "empty.sqlite"
        sqlite3.connect(empty).close()
        monkeypatch.setenv("TRIBUTARY_ERP_URL", f"sqlite:///{empty}")
        failed = job.execute_in_process(
            instance=instance, asset_selection=[CUSTOMERS], raise_on_error=False
        )
        assert not failed.success
        sensors.tick()
        sensors.tick()  # a repeated tick changes nothing
        # the UI shows the run log materialized, by the last run it logged
        logged = instance.get_latest_materialization_event(RUN_LOG_KEY).asset_materialization
        assert logged.metadata["runs"].value == [failed.run_id]

        rows = warehouse_rows(
            project,
            "select run_id, asset_key, partition_key, status, rows_loaded, error, "
            "started_at <= finished_at from _tributary.run_log order by finished_at, asset_key",
        )
        assert [row[:5] for row in rows] == [
            (ok.run_id, "raw/erp/customers", "", "SUCCESS", 30),
            (ok.run_id, "raw/ops/products", "", "SUCCESS", source_products(project)),
            (failed.run_id, "raw/erp/customers", "", "FAILURE", None),
        ]
        assert rows[0][5] is None and rows[1][5] is None
        assert rows[2][5].startswith("raw__erp__customers: ")
        assert rows[2][5] == (
            "raw__erp__customers: tributary.errors.SourceError: "
            "reading table 'customers' failed: no such table: customers"
        )
        assert all(row[6] for row in rows)

        # A tenant's partition, and the registry's reading of its tenant (deactivated since).
        now = datetime.now(UTC)
        with WarehouseResource.from_project(project).open() as wh:
            wh.record_run([RunLogRow("t1", "raw/app/users", "7", "SUCCESS", now, now, 3, None)])
            wh.record_tenants([TenantRow("7", "acme", "inactive")])
            # And when the products' source last changed (an observe sensor's write), twice:
            # the second replaces the first.
            for version, at in (("1", now - timedelta(hours=1)), ("2", now)):
                wh.record_source_changes([SourceChangeRow("ops", "products", version, at)])

        # BI tools read the latest status per table.
        assert job.execute_in_process(instance=instance, asset_selection=[LOAD_STATUS]).success
    status = warehouse_rows(
        project,
        "select load_key, status, run_id, last_success_at is not null, error is null, "
        "tenant_alias, tenant_status, source_changed_at from marts.ops_load_status "
        "order by load_key",
    )
    assert [row[:7] for row in status] == [
        ("raw/app/users/7", "SUCCESS", "t1", True, True, "acme", "inactive"),
        ("raw/erp/customers", "FAILURE", failed.run_id, True, False, None, None),
        ("raw/ops/products", "SUCCESS", ok.run_id, True, True, None, None),
    ]
    changed = [row[7] for row in status]
    assert changed[:2] == [None, None] and abs(changed[2] - now) < timedelta(seconds=1)


class SensorDaemon:
    """The daemon's sensor loop run in this process, one iteration per tick(), over the code
    location `tributary` served by its own code server, as `make dev` and production run it;
    only `sensors` switched on. Each tick is a minute after the last, so every sensor is due."""

    def __init__(self, instance: dg.DagsterInstance, sensors: set[str]) -> None:
        self.instance = instance
        self.sensors = sensors
        self.now = datetime.now(UTC)

    def __enter__(self) -> SensorDaemon:
        target = ModuleTarget(
            module_name="tributary.definitions",
            attribute=None,
            working_directory=None,
            location_name="tributary",
        )
        self._workspace = create_test_daemon_workspace_context(target, self.instance)
        self.context = self._workspace.__enter__()
        entry = self.context.create_request_context().get_code_location_entries()["tributary"]
        assert entry.code_location, entry.load_error
        [self.repository] = entry.code_location.get_repositories().values()
        for sensor in self.repository.get_sensors():
            if sensor.name in self.sensors:
                self.instance.start_sensor(sensor)
            else:
                self.instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
        return self

    def __exit__(self, *exc) -> None:
        self._workspace.__exit__(*exc)

    def tick(self) -> None:
        self.now += timedelta(minutes=1)
        with freeze_time(self.now):
            iteration = execute_sensor_iteration(
                self.context,
                logging.getLogger("sensor-daemon"),
                threadpool_executor=None,
                submit_threadpool_executor=None,
            )
            list(iteration)

    def last_tick(self, name: str):
        sensor = self.repository.get_sensor(name)
        origin = sensor.get_remote_origin_id()
        return self.instance.get_ticks(origin, sensor.selector_id, limit=1)[0]

    def scheduled_run(self, *assets: dg.AssetKey) -> dg.DagsterRun:
        """A run of the code location's asset job, as a schedule or the UI starts one."""
        job = self.repository.get_full_job("__ASSET_JOB")
        return create_run_for_test(
            self.instance,
            job_name=job.name,
            remote_job_origin=job.get_remote_origin(),
            asset_selection=frozenset(assets),
        )


@contextmanager
def sensor_daemon(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sensors: set[str]
) -> Iterator[SensorDaemon]:
    monkeypatch.setenv("TRIBUTARY_CONFIG_DIR", str(config_dir))  # for the code server
    home = local_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance, SensorDaemon(instance, sensors) as daemon:
        yield daemon


@contextmanager
def database_away(url: str) -> Iterator[None]:
    """The warehouse's database out of reach (renamed) for a while: a server outage."""
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"alter database {name} rename to {name}_away")
    try:
        yield
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"alter database {name}_away rename to {name}")


def test_a_run_that_finished_while_the_warehouse_was_down_is_logged_once_it_is_back(
    config_dir: Path, state_dir: Path, postgres: str, tmp_path: Path, monkeypatch
) -> None:
    """A run that failed while the warehouse was down (the outage that failed it) was never
    written: the run_log_failure tick failed, and Dagster's run-status sensor moved its cursor
    past the run all the same, so ops_load_status kept the table's last success."""
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["warehouse"] = {"target": "postgres", "connection": {"url": postgres}}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    project = load_project(config_dir)
    with sensor_daemon(config_dir, tmp_path, monkeypatch, {"run_log_failure"}) as daemon:
        daemon.tick()  # the sensor starts from the runs finished so far
        with database_away(postgres):
            during = daemon.scheduled_run(CUSTOMERS)
            daemon.instance.report_run_failed(during, "the warehouse is down")
            daemon.tick()
            tick = daemon.last_tick("run_log_failure")
            assert tick.status == TickStatus.FAILURE
            assert "connecting to the PostgreSQL warehouse" in str(tick.error)
        after = daemon.scheduled_run(PRODUCTS)
        daemon.instance.report_run_failed(after, "another failure")
        daemon.tick()
        daemon.tick()

    logged = warehouse_rows(
        project, "select run_id, asset_key, status from _tributary.run_log order by asset_key"
    )
    assert logged == [
        (during.run_id, "raw/erp/customers", "FAILURE"),
        (after.run_id, "raw/ops/products", "FAILURE"),
    ]


def test_the_run_log_sensors_resume_after_the_run_status_sensors_they_replace(
    config_dir: Path, state_dir: Path
) -> None:
    """The run_log sensors were Dagster run-status sensors, whose cursor (JSON) is still stored
    for a deployment that upgrades: they go on after the last run it had passed."""
    from dagster._core.definitions.run_status_sensor_definition import RunStatusSensorCursor

    project = load_project(config_dir)
    defs = build_definitions(project)
    with dg.instance_for_test() as instance:
        passed, after = (create_run_for_test(instance, asset_selection={PRODUCTS}) for _ in "12")
        instance.report_run_failed(passed)
        [event] = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, 1).records
        instance.report_run_failed(after)
        legacy = RunStatusSensorCursor(record_id=event.storage_id, record_timestamp=None)
        with dg.build_sensor_context(
            instance=instance,
            cursor=legacy.to_json(),
            resources={"warehouse": WarehouseResource.from_project(project)},
            repository_def=defs.get_repository_def(),
        ) as context:
            defs.resolve_sensor_def("run_log_failure").evaluate_tick(context)
    logged = warehouse_rows(project, "select run_id, status from _tributary.run_log")
    assert logged == [(after.run_id, "FAILURE")]


def test_a_run_whose_record_lags_its_status_event_is_logged_as_the_event_says(
    config_dir: Path, state_dir: Path
) -> None:
    """Dagster stores a run's status event, then updates its run record (status, end time): a
    tick in between logged the run as its record still said (STARTED, no end time) and moved
    past it, so the run was never logged as it finished; ops_load_status then showed a status
    its own test refuses, and on PostgreSQL that row as the table's latest for good. The
    interleaving is driven through the instance's own storages, as the run's process writes."""
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.events.log import EventLogEntry

    project = load_project(config_dir)
    defs = build_definitions(project)
    with dg.instance_for_test() as instance:
        sensors = RunLogSensors(defs, project, instance)
        run = create_run_for_test(instance, job_name="__ASSET_JOB", asset_selection={CUSTOMERS})
        instance.report_dagster_event(
            DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name), run.run_id
        )
        failure = DagsterEvent(DagsterEventType.RUN_FAILURE.value, job_name=run.job_name)
        failed_at = datetime.now(UTC)
        instance.event_log_storage.store_event(
            EventLogEntry(
                error_info=None,
                level=logging.ERROR,
                user_message="the run failed",
                run_id=run.run_id,
                timestamp=failed_at.timestamp(),
                dagster_event=failure,
            )
        )
        sensors.tick()  # between the two writes
        instance.run_storage.handle_run_event(run.run_id, failure, failed_at)
        sensors.tick()
    [(run_id, status, started, finished)] = warehouse_rows(
        project, "select run_id, status, started_at, finished_at from _tributary.run_log"
    )
    assert (run_id, status) == (run.run_id, "FAILURE")
    assert started <= finished and abs(finished - failed_at) < timedelta(milliseconds=1)


def test_runs_started_from_the_cli_are_logged_and_other_code_locations_runs_are_not(
    config_dir: Path, state_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """A run started from the CLI (`dagster asset materialize`, as docs/loads.md has an operator
    run a full_refresh) carries no code location, and the run_log sensors, watching their own
    code location's runs, never logged it, nor a CLI run killed and then marked failed by run
    monitoring: ops_load_status never showed them."""
    generate_demo_sources(state_dir / "demo", customers=30, orders=60)
    project = load_project(config_dir)
    sensors = {"run_log_success", "run_log_failure"}
    with sensor_daemon(config_dir, tmp_path, monkeypatch, sensors) as daemon:
        daemon.tick()
        dagster = Path(sys.executable).parent / "dagster"
        materialize = [dagster, "asset", "materialize", "-m", "tributary.definitions"]
        cli = subprocess.run(
            [*materialize, "--select", "raw/ops/products"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert cli.returncode == 0, cli.stderr[-3000:]
        [materialized] = daemon.instance.get_runs()
        killed = create_run_for_test(
            daemon.instance, job_name="__ASSET_JOB", asset_selection={CUSTOMERS}
        )
        daemon.instance.report_run_failed(killed, "the run's process died")
        # another code location in the same Dagster instance, not this project's run log
        elsewhere = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("crm"), "__repository__")
        theirs = create_run_for_test(
            daemon.instance,
            job_name="__ASSET_JOB",
            remote_job_origin=RemoteJobOrigin(elsewhere, "__ASSET_JOB"),
            asset_selection={dg.AssetKey(["crm", "leads"])},
        )
        daemon.instance.report_run_failed(theirs, "their failure")
        daemon.tick()

    logged = warehouse_rows(
        project,
        "select run_id, asset_key, status, rows_loaded from _tributary.run_log order by asset_key",
    )
    assert logged == [
        (killed.run_id, "raw/erp/customers", "FAILURE", None),
        (materialized.run_id, "raw/ops/products", "SUCCESS", source_products(project)),
    ]


def test_the_latest_run_is_the_last_to_finish_on_every_warehouse(project) -> None:
    """A run logged without a finish time (its run record lacked one) sorted first in
    PostgreSQL's `order by finished_at desc` and last in DuckDB's: on a PostgreSQL warehouse
    ops_load_status showed that run as the table's latest for good, whatever ran after it. A
    run without a finish time ranks by its start; two runs finishing within one second, by
    which finished last."""
    now = datetime.now(UTC).replace(microsecond=0)
    at = {minutes: now - timedelta(minutes=minutes) for minutes in (90, 60, 30)}

    def run(run_id, asset, status, started, finished) -> RunLogRow:
        return RunLogRow(run_id, asset, "", status, started, finished, None, None)

    rows = [
        # customers: a run without a finish time, then one that finished after it started
        run("c1", "raw/erp/customers", "FAILURE", at[90], None),
        run("c2", "raw/erp/customers", "SUCCESS", at[60], at[60] + timedelta(minutes=1)),
        # products: a success, then a failure that started after it and has no finish time
        run("p1", "raw/ops/products", "SUCCESS", at[90], at[60]),
        run("p2", "raw/ops/products", "FAILURE", at[30], None),
        # users: two runs finishing within one second, the second (z) before the first (a)
        run("u-z", "raw/app/users", "FAILURE", at[30], at[30] + timedelta(seconds=0.2)),
        run("u-a", "raw/app/users", "SUCCESS", at[30], at[30] + timedelta(seconds=0.7)),
    ]
    with WarehouseResource.from_project(project).open() as wh:
        wh.record_run(rows)
    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, asset_selection=[LOAD_STATUS]).success
    status = warehouse_rows(
        project, "select load_key, run_id, status from marts.ops_load_status order by load_key"
    )
    assert status == [
        ("raw/app/users", "u-a", "SUCCESS"),
        ("raw/erp/customers", "c2", "SUCCESS"),
        ("raw/ops/products", "p2", "FAILURE"),
    ]
