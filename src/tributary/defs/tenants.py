"""Tenants in Dagster: the partitions of tenant-scoped assets, and the tenants a run, a
schedule or tenant_registry_sensor (defs/automation.py) finds now.

A fixed list of tenants makes static partitions (its active tenants). With a registry, the
partitions are dynamic: the sensor adds a partition for each new active tenant and requests
its loads (schedules run a tenant once it has its partition); a deactivated tenant keeps its
partition and history but schedules skip it; a
tenant the registry no longer lists is reported and kept, with its data. Definitions never
read the registry (loading them opens no connection); runs, schedules and the sensor do.
"""

from __future__ import annotations

import dagster as dg

from tributary.config.loader import ProjectConfig
from tributary.config.models import Tenant
from tributary.defs.resources import WarehouseResource
from tributary.defs.sources import SourcesResource
from tributary.tenants import RegistryError, active_keys, read_registry, respelled_held

TENANT_PARTITIONS = dg.DynamicPartitionsDefinition(name="tenants")
TENANTS_KEY = dg.AssetKey(["tributary", "tenants"])
TENANT_TAG = "tributary/tenant"


def tenant_partitions(project: ProjectConfig) -> dg.PartitionsDefinition:
    if project.tenants.registry is not None:
        return TENANT_PARTITIONS
    return dg.StaticPartitionsDefinition(active_keys(list(project.tenants.tenants)))


def current_tenants(
    project: ProjectConfig, sources: SourcesResource, skipped: list[str] | None = None
) -> list[Tenant]:
    """The tenants now: tenants.yaml's list, or the registry's rows read from its source (the
    rows of inactive tenants it skips said in `skipped`, as read_registry says them)."""
    registry = project.tenants.registry
    if registry is None:
        return list(project.tenants.tenants)
    reader = sources.open(project.source(registry.source), state_dir=project.state_dir)
    return read_registry(registry, reader.rows, skipped)


def scheduled_tenants(
    project: ProjectConfig, sources: SourcesResource, context: dg.ScheduleEvaluationContext
) -> list[Tenant]:
    """The tenants a schedule runs: current_tenants, less those without a partition yet. A
    tenant added to the registry since tenant_registry_sensor last read it has none, and a run
    request of a partition Dagster does not have failed the whole tick, every other tenant's
    (and table's) run with it. The sensor adds its partition and requests its loads."""
    tenants = current_tenants(project, sources)
    if project.tenants.registry is None:
        return tenants
    known = set(context.instance.get_dynamic_partitions(TENANT_PARTITIONS.name))
    for key in active_keys([t for t in tenants if t.key not in known]):
        context.log.warning(
            f"tenant {key} has no partition yet: tenant_registry_sensor adds it and requests "
            "its loads when it next reads the registry (if it is running); this tick runs the "
            "other tenants"
        )
    return [t for t in tenants if t.key in known]


def tenants_to_load(
    project: ProjectConfig, sources: SourcesResource, warehouse: WarehouseResource, key: str
) -> list[Tenant]:
    """current_tenants, for the load of tenant `key`'s partition: refused, before anything is
    written, where `key` respells an id the tenants no longer list whose rows the raw tables
    hold (respelled_held), with a registry (whose sensor refuses to add such a partition; one
    added before it refused so) or a fixed list (whose respelled id is a partition of its
    own) alike: its loads would load the old id's rows again. The other tenants' loads go
    on. An id that has loaded before was judged by its first load: one row of
    _tributary.loads read, where the whole judgment reads every tenant scope it records."""
    tenants = current_tenants(project, sources)
    with warehouse.open() as opened:
        problem = (
            None if opened.scope_loaded(key) else respelled_held(opened, project, [key], tenants)
        )
    if problem:
        where = "registry.query" if project.tenants.registry is not None else "tenants"
        raise RegistryError(where, f"{problem}; nothing was loaded")
    return tenants
