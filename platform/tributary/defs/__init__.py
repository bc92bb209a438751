"""Dagster objects only, each a thin layer over the plain-Python modules beside defs/."""

from __future__ import annotations

import dagster as dg

from tributary.config import ProjectConfig
from tributary.defs.access import build_access_defs
from tributary.defs.automation import build_automation_defs, default_status
from tributary.defs.export import build_export_defs
from tributary.defs.ingest import build_ingest_defs
from tributary.defs.preflight import build_preflight_job
from tributary.defs.resources import (
    ExportStoreResource,
    LandingStoreResource,
    WarehouseResource,
)
from tributary.defs.run_log import RUN_LOG_KEY, build_run_log_sensors
from tributary.defs.transform import (
    build_transform_defs,
    dbt_project,
    load_manifest,
    model_refs,
)


def build_definitions(project: ProjectConfig) -> dg.Definitions:
    dbt = dbt_project(project)
    manifest = load_manifest(dbt)
    resources = {
        "warehouse": WarehouseResource.from_project(project),
        "landing": LandingStoreResource.from_project(project),
        "export_store": ExportStoreResource.from_project(project),
    }
    run_log = dg.AssetSpec(
        RUN_LOG_KEY,
        group_name="tributary",
        kinds={project.platform.warehouse.target},
        description="Each run's outcome per asset (_tributary.run_log), written by the "
        "run_log sensors",
    )
    refs = model_refs(manifest, dbt)
    return dg.Definitions.merge(
        build_ingest_defs(project),
        build_transform_defs(manifest, dbt),
        build_export_defs(project, refs),
        build_access_defs(project, manifest, refs),
        build_automation_defs(project),
        dg.Definitions(
            assets=[run_log],
            jobs=[build_preflight_job(project)],
            sensors=build_run_log_sensors(default_status(project)[1]),
            resources=resources,
            # A DuckDB file has one writer process at a time: run its steps in one process.
            executor=dg.in_process_executor
            if project.platform.warehouse.target == "duckdb"
            else dg.multiprocess_executor,
        ),
    )
