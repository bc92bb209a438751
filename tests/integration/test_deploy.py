"""deploy/dagster.yaml on a real PostgreSQL server: a run's record and events land there."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg
from sqlalchemy.engine import make_url

from tributary.config.loader import PROJECT_ROOT
from tributary.defs import build_definitions
from tributary.defs.ingest import raw_asset_key


def test_production_instance_stores_runs_in_postgres(demo_project, postgres, tmp_path, monkeypatch):
    url = make_url(postgres)
    for name, value in {
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USER": url.username,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": url.database,
    }.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 10
        assert concurrency.pool_config.default_pool_limit == 1  # one load per raw table
        job = build_definitions(demo_project).resolve_implicit_global_asset_job_def()
        products = raw_asset_key("ops", "products")
        result = job.execute_in_process(instance=instance, asset_selection=[products])
        assert result.success

    with psycopg.connect(postgres) as con:
        runs = con.execute("select run_id, status from runs").fetchall()
        materialized = con.execute(
            "select asset_key from event_logs where run_id = %s "
            "and dagster_event_type = 'ASSET_MATERIALIZATION'",
            [result.run_id],
        ).fetchall()
    assert runs == [(result.run_id, "SUCCESS")]
    assert materialized == [(products.to_string(),)]
    assert not Path(home / "history").exists()  # nothing fell back to local SQLite storage
