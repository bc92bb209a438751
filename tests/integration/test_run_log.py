"""The run log in the real warehouse (DuckDB file, PostgreSQL server): the run-status sensors
write a successful and a failed run's outcome, and dbt's ops_load_status shows the latest
status per table."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pytest
import yaml

from tributary.config.loader import ProjectConfig, load_project
from tributary.defs import build_definitions
from tributary.defs.resources import WarehouseResource
from tributary.defs.run_log import RUN_LOG_KEY
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


def log_run(defs: dg.Definitions, project, instance: dg.DagsterInstance, run_id: str) -> None:
    """What the daemon does when a run finishes: the matching run_log sensor evaluates."""
    run = instance.get_run_by_id(run_id)
    event_type = {
        dg.DagsterRunStatus.SUCCESS: dg.DagsterEventType.RUN_SUCCESS,
        dg.DagsterRunStatus.FAILURE: dg.DagsterEventType.RUN_FAILURE,
    }[run.status]
    [record] = instance.get_records_for_run(run_id, of_type=event_type).records
    sensor = defs.resolve_sensor_def(f"run_log_{run.status.value.lower()}")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=record.event_log_entry.dagster_event,
        resources={"warehouse": WarehouseResource.from_project(project)},
    )
    sensor(context)


def test_run_log_records_success_and_failure(project, monkeypatch) -> None:
    defs = build_definitions(project)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        ok = job.execute_in_process(instance=instance, asset_selection=[CUSTOMERS, PRODUCTS])
        assert ok.success
        log_run(defs, project, instance, ok.run_id)

        # The ERP database is replaced by an empty one: the next load of customers fails
        # (a data error, not retried).
        empty = project.state_dir / "empty.sqlite"
        sqlite3.connect(empty).close()
        monkeypatch.setenv("TRIBUTARY_ERP_URL", f"sqlite:///{empty}")
        failed = job.execute_in_process(
            instance=instance, asset_selection=[CUSTOMERS], raise_on_error=False
        )
        assert not failed.success
        log_run(defs, project, instance, failed.run_id)
        log_run(defs, project, instance, failed.run_id)  # a repeated tick changes nothing
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
