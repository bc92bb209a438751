"""Dagster objects only, each a thin layer over the plain-Python modules beside defs/."""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from tributary.config.loader import ProjectConfig
from tributary.defs.access import build_access_defs
from tributary.defs.automation import build_automation_defs, default_status
from tributary.defs.export import build_export_defs
from tributary.defs.ingest import build_ingest_defs
from tributary.defs.metadata import state_table_spec
from tributary.defs.observe import SOURCE_CHANGES_KEY, build_observation_defs
from tributary.defs.preflight import build_preflight_job
from tributary.defs.resources import (
    ExportStoreResource,
    LandingStoreResource,
    WarehouseResource,
)
from tributary.defs.run_log import RUN_LOG_KEY, build_run_log_sensors
from tributary.defs.sources import SourcesResource
from tributary.defs.tenants import TENANTS_KEY
from tributary.defs.transform import (
    build_transform_defs,
    dbt_project,
    load_manifest,
    model_refs,
)


@contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Python's cycle collector off for a while, back as it was after (even on an error).

    Building and resolving the definitions allocates several objects per table that all live
    as long as the definitions; each full collection meanwhile walks every object of the
    process (dagster's and dbt's modules included) and frees nothing: with 1000 tables that
    was half the time to load them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_definitions(
    project: ProjectConfig,
    *,
    sources: SourcesResource | None = None,
    for_the_process: bool = False,
) -> dg.Definitions:
    """The code location's definitions, resolved (the repository, its asset graph, jobs and
    schedules): Dagster caches the resolution on the Definitions, which a code server makes
    right after loading them anyway; here it happens while garbage collection is paused.

    `sources`: how sources are opened, when not as configured (SourcesResource): the demo's
    definitions (the dev-only package under demo/) give theirs.

    `for_the_process`: the definitions live as long as the process (the code location's entry
    point: a code server, a run), so every object alive then, the imports included, is left
    out of later collections (`gc.freeze`): they would walk it all again and free nothing.
    Not for a process that goes on making and dropping definitions (tests)."""
    with garbage_collection_paused():
        defs = _build_definitions(project, sources or SourcesResource())
        defs.get_repository_def()
        if for_the_process:
            _freeze_for_the_process()
    return defs


def _freeze_for_the_process() -> None:
    gc.freeze()
    # Unfrozen at exit, so that the interpreter's last collection still finalizes them
    # (DuckDB's bindings report leaked objects otherwise).
    atexit.unregister(gc.unfreeze)
    atexit.register(gc.unfreeze)


def _build_definitions(project: ProjectConfig, sources: SourcesResource) -> dg.Definitions:
    dbt = dbt_project(project)
    manifest = load_manifest(dbt)
    resources = {
        "warehouse": WarehouseResource.from_project(project),
        "landing": LandingStoreResource.from_project(project),
        "export_store": ExportStoreResource.from_project(project),
        "sources": sources,
    }
    target = project.platform.warehouse.target
    state_tables = [
        state_table_spec(
            RUN_LOG_KEY,
            target,
            "Each run's outcome per asset (_tributary.run_log), written by the run_log sensors",
        ),
        state_table_spec(
            TENANTS_KEY,
            target,
            "The tenant registry's last reading (_tributary.tenants: active, inactive, "
            "removed), written by tenant_registry_sensor",
        ),
        state_table_spec(
            SOURCE_CHANGES_KEY,
            target,
            "When each observed source table last changed (_tributary.source_changes), "
            "written by the observe_<source> sensors",
        ),
    ]
    refs = model_refs(manifest, dbt)
    return dg.Definitions.merge(
        build_ingest_defs(project),
        build_transform_defs(manifest, dbt),
        build_export_defs(project, refs),
        build_access_defs(project, refs),
        build_automation_defs(project),
        build_observation_defs(project, default_status(project)[1]),
        dg.Definitions(
            assets=state_tables,
            jobs=[build_preflight_job(project)],
            sensors=build_run_log_sensors(default_status(project)[1]),
            resources=resources,
            # A warehouse with one writer process at a time (DuckDB) runs a run's steps in one.
            executor=dg.in_process_executor
            if project.warehouse.single_writer
            else dg.multiprocess_executor,
        ),
    )
