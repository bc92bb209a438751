"""Automation from configuration: a schedule per source (or table) (exports have theirs in
defs/export.py), the
sensors that evaluate declarative automation (dbt models and exports are eager: they update
when what they read has new data, see FOLLOWS_LOADS), and a sensor for loads landed by
outside tools.

`enabled: false` on a source, table or export leaves its assets (and their history) in the
graph but takes them out of every schedule and of automation.
"""

import json
from dataclasses import dataclass

import dagster as dg

from tributary.config.loader import ProjectConfig
from tributary.config.models import SourceConfig, TableConfig, Tenant, cron_for
from tributary.defs.ingest import RawLoadConfig, partitions_for, raw_asset_key
from tributary.defs.resources import LandingStoreResource, WarehouseResource
from tributary.defs.sources import SourcesResource
from tributary.defs.tenants import (
    TENANT_PARTITIONS,
    TENANT_TAG,
    TENANTS_KEY,
    current_tenants,
    scheduled_tenants,
)
from tributary.landing.store import Drop
from tributary.slices import partition_keys
from tributary.tenants import (
    RegistryError,
    active_keys,
    last_reading,
    no_active_tenant,
    reading,
    registry_changes,
    respelled_id,
)
from tributary.warehouse import TenantRow

SOURCE_TAG = "tributary/source"  # deploy/dagster.yaml runs one run per source at a time
PARTITION_TAG = "dagster/partition"  # Dagster's own, on a run of one partition
TRANSFORMS = dg.AssetSelection.kind("dbt")
# What follows a load, the way a DMS completion event used to start the transformations, once
# the load's blocking checks have not failed: a schedule's run loads raw tables only, so the
# run's own check gate never stood between a rejected load and the models built on it. A
# failed check of any partition holds it back (a check never run, a tenant not yet loaded,
# does not), until a later load passes.
BLOCKING_CHECK_FAILED = dg.AutomationCondition.any_checks_match(
    dg.AutomationCondition.check_failed(), blocking_only=True
)
# How far up the lineage a failed blocking check holds a model or an export back: its inputs
# and theirs. A staging model is a view reading its raw table live (dbt_project.yml), so a
# mart joining it reads a rejected load as surely as the view does; held back by its direct
# inputs alone, the mart was requested when another of its inputs updated, and built on the
# rejected rows. Marts are tables: one held back keeps its last good build, so what reads it
# reads no rejected row, and two levels are enough for this layering. Declarative automation
# has no transitive "any ancestor" operand; nested any_deps_match is evaluated per path, and
# its cost grows with each level (a 140-asset graph, three inputs each: 1.4 s a tick with one
# level, 2.2 s with two, 3.6 s with three, 49 s with six). A longer chain of views is still
# refused at publication: every export checks its whole lineage (defs/export_gate.py).
UPSTREAM_LEVELS = 2


def blocking_check_failed_upstream(levels: int) -> dg.AutomationCondition:
    """True for an asset one of whose ancestors, up to `levels` steps up, has a blocking
    check whose latest evaluation failed."""
    condition = BLOCKING_CHECK_FAILED
    for _ in range(levels - 1):
        condition = BLOCKING_CHECK_FAILED | dg.AutomationCondition.any_deps_match(condition)
    return dg.AutomationCondition.any_deps_match(condition)


NO_BLOCKING_CHECK_FAILED = (~blocking_check_failed_upstream(UPSTREAM_LEVELS)).with_label(
    "no_blocking_check_failed"
)
FOLLOWS_LOADS = (dg.AutomationCondition.eager() & NO_BLOCKING_CHECK_FAILED).with_label(
    "eager, no blocking check failed"
)
# A dbt seed reads nothing, so no load makes eager() request it, and eager() does not request
# what was already missing when automation first evaluated it: a seed was never built, and the
# models joining it waited on it for good, without a word. A seed is requested while it is
# missing (not again after its build failed: that run says why) and when its CSV changes (its
# code version is the file's checksum in the manifest).
SEED_CHANGES = (
    (
        (dg.AutomationCondition.missing() & ~dg.AutomationCondition.execution_failed())
        | dg.AutomationCondition.code_version_changed()
    )
    & ~dg.AutomationCondition.in_progress()
).with_label("missing, or its file changed")
# The job every asset is part of (Dagster's implicit asset job). Schedules run in it and name
# their assets in each run request: a schedule with a `target` gets a job of its own, which
# the code server resolves and snapshots for the webserver (a cost of schedules x assets:
# 7 s of the snapshot of 1000 tables and 306 schedules).
ASSET_JOB = "__ASSET_JOB"


def default_status(
    project: ProjectConfig,
) -> tuple[dg.DefaultScheduleStatus, dg.DefaultSensorStatus]:
    running = project.platform.automation.default_status == "running"
    return (
        dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
        dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
    )


def load_requests(
    source: SourceConfig, tables: list[TableConfig], tenants: list[Tenant]
) -> list[dg.RunRequest]:
    """One run for the tables that load whole, and one per partition (active tenant, key
    range) of each partitioned table: a run cannot mix partitioned and unpartitioned assets."""
    tags = {SOURCE_TAG: source.name}
    whole = [
        raw_asset_key(source.name, t.name) for t in tables if partition_keys(t, tenants) is None
    ]
    requests = []
    if whole:
        requests.append(dg.RunRequest(run_key="tables", asset_selection=whole, tags=tags))
    for table in tables:
        for partition in partition_keys(table, tenants) or ():
            requests.append(
                dg.RunRequest(
                    run_key=f"{table.name}:{partition}",
                    asset_selection=[raw_asset_key(source.name, table.name)],
                    partition_key=partition,
                    tags={**tags, TENANT_TAG: partition} if table.tenant_column else tags,
                )
            )
    return requests


# A run created and not yet begun: it reads the source when it starts.
NOT_YET_READING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
]


def run_identity(request: dg.RunRequest) -> tuple[frozenset[dg.AssetKey], str | None]:
    return frozenset(request.asset_selection or ()), request.partition_key


def waiting_runs(
    instance: dg.DagsterInstance, source: SourceConfig
) -> dict[tuple[frozenset[dg.AssetKey], str | None], str]:
    """The source's loads created and not yet begun, by what they load (the assets and the
    partition), with their run ids. A load slower than its schedule (90 s every minute) queued
    one more run of the same tables at each tick, without end; a tick skips those still
    waiting (a run in progress does not hold it back: it may have read before the latest
    changes)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=NOT_YET_READING, tags={SOURCE_TAG: source.name})
    )
    return {
        (frozenset(run.asset_selection or ()), run.tags.get(PARTITION_TAG)): run.run_id
        for run in runs
    }


def tenant_load_requests(project: ProjectConfig, tenant_keys: list[str]) -> list[dg.RunRequest]:
    """For tenant_registry_sensor: per source, one run per tenant loading its partition of
    each enabled tenant-scoped table (they share the tenants' partitions)."""
    requests = []
    for source in project.sources:
        scoped = [t for t in source.tables if t.enabled and t.tenant_column]
        if not source.enabled or not scoped:
            continue
        for key in tenant_keys:
            requests.append(
                dg.RunRequest(
                    asset_selection=[raw_asset_key(source.name, t.name) for t in scoped],
                    partition_key=key,
                    tags={SOURCE_TAG: source.name, TENANT_TAG: key},
                )
            )
    return requests


@dataclass(frozen=True)
class LoadSchedule:
    """One load schedule: its name, its source (whose zone it ticks in), how often it ticks,
    and the tables it loads."""

    name: str
    source: SourceConfig
    frequency: str
    tables: list[TableConfig]

    @property
    def cron(self) -> str:
        return cron_for(self.frequency)


def load_schedule(project: ProjectConfig, plan: LoadSchedule) -> dg.ScheduleDefinition:
    source, tables = plan.source, plan.tables

    @dg.schedule(
        name=plan.name,
        cron_schedule=plan.cron,
        execution_timezone=source.timezone,
        job_name=ASSET_JOB,
        default_status=default_status(project)[0],
        description=f"Loads {', '.join(t.name for t in tables)} from {source.name} "
        f"({plan.frequency})",
    )
    def schedule(context: dg.ScheduleEvaluationContext, sources: SourcesResource):
        # The registry is read only by a schedule that has tenant-scoped tables to run.
        scoped = any(t.tenant_column for t in tables)
        tenants = scheduled_tenants(project, sources, context) if scoped else []
        requests = load_requests(source, tables, tenants)
        waiting = waiting_runs(context.instance, source)
        due = [r for r in requests if run_identity(r) not in waiting]
        if requests and not due:
            return dg.SkipReason(
                f"every load of {source.name} this tick would request is still queued from an "
                f"earlier tick (runs {', '.join(sorted(waiting.values())[:5])}): each reads the "
                "source when it starts, so a second one beside it adds nothing"
            )
        return due

    return schedule


def split_by_partitions(
    project: ProjectConfig, tables: list[TableConfig]
) -> tuple[list[TableConfig], list[TableConfig]]:
    """(tables one schedule can target, the rest). A schedule's job cannot hold assets of two
    partitions definitions (tenants, and key ranges of different sizes), so the first one met
    stays with the unpartitioned tables and a table partitioned otherwise is set apart."""
    together, apart = [], []
    kept = None
    for table in tables:
        partitions = partitions_for(project, table)
        if partitions is not None and kept is None:
            kept = partitions
        (together if partitions is None or partitions == kept else apart).append(table)
    return together, apart


def load_schedule_plan(project: ProjectConfig) -> list[LoadSchedule]:
    """`<source>_schedule` for the source's enabled tables, and `<source>_<table>_schedule`
    for a table with a frequency of its own, or partitioned unlike the source schedule's
    other tables (at the source's frequency)."""
    plan = []
    for source in project.sources:
        if not source.enabled:
            continue
        enabled = [t for t in source.tables if t.enabled]
        # The tables with a schedule of their own, and its frequency.
        own = {t.name: t.frequency for t in enabled if t.frequency}
        shared = [t for t in enabled if t.frequency is None]
        if source.frequency and shared:
            shared, apart = split_by_partitions(project, shared)
            plan.append(LoadSchedule(f"{source.name}_schedule", source, source.frequency, shared))
            own.update((t.name, source.frequency) for t in apart)
        plan += [
            LoadSchedule(f"{source.name}_{t.name}_schedule", source, own[t.name], [t])
            for t in enabled
            if t.name in own
        ]
    return plan


def source_schedules(project: ProjectConfig) -> list[dg.ScheduleDefinition]:
    return [load_schedule(project, plan) for plan in load_schedule_plan(project)]


def table_schedules(project: ProjectConfig) -> dict[dg.AssetKey, LoadSchedule]:
    """The schedule that loads each scheduled raw table (a table refreshed on change only, or
    loaded by drops to the inbox, has none)."""
    return {
        raw_asset_key(schedule.source.name, table.name): schedule
        for schedule in load_schedule_plan(project)
        for table in schedule.tables
    }


def tenant_registry_sensor(project: ProjectConfig) -> dg.SensorDefinition:
    """Records the tenants in `_tributary.tenants` (for ops_load_status) when they change, and
    with a registry keeps the tenants' dynamic partitions in step with it (defs/tenants.py): a
    new active tenant gets its partition and its loads; a deactivated one keeps its partition
    (schedules skip it); one the registry no longer lists is reported and kept. The cursor
    holds the last reading's alias and status of each tenant, removed ones included
    (tenants.reading): a change of either is recorded."""
    registry = project.tenants.registry
    scoped = [
        raw_asset_key(source.name, table.name)
        for source in project.sources
        for table in source.tables
        if table.tenant_column
    ]
    if registry is not None:
        interval = max(30, int(registry.interval.total_seconds()))
        description = (
            f"Keeps the tenant partitions in step with the registry in source "
            f"'{registry.source}': adds new active tenants and requests their loads"
        )
    else:
        interval = 300
        description = "Records tenants.yaml's tenants in _tributary.tenants when they change"

    @dg.sensor(
        name="tenant_registry_sensor",
        asset_selection=dg.AssetSelection.assets(*scoped),
        minimum_interval_seconds=interval,
        default_status=default_status(project)[1],
        description=description,
    )
    def tenant_registry(
        context: dg.SensorEvaluationContext,
        sources: SourcesResource,
        warehouse: WarehouseResource,
    ) -> dg.SensorResult | dg.SkipReason:
        # A registry that cannot be read fails the tick with why (no partition is touched).
        skipped: list[str] = []
        tenants = current_tenants(project, sources, skipped)
        previous = last_reading(json.loads(context.cursor) if context.cursor else {})
        if registry is not None:
            partitions = context.instance.get_dynamic_partitions(TENANT_PARTITIONS.name)
        else:  # static partitions: the list's active tenants, there from the start
            partitions = active_keys(tenants)
        # A respelled id fails the tick, as ids alike within one reading do: its partition
        # would be added and its loads would load the old tenant's rows again.
        if problem := respelled_id(
            [t.key for t in tenants], tenants, partitions, registry=registry is not None
        ):
            raise RegistryError("registry.query", problem)
        changes = registry_changes(tenants, partitions, previous)
        active = sum(t.active for t in tenants)
        context.log.info(f"{len(tenants)} tenants, {active} active; {changes.describe()}")
        # No active tenant (in a registry or a fixed list): nothing scoped by tenant loads.
        # Said in each tick's skip reason and log, as tributary check says it; not failed, as
        # a registry may be empty for a while (its first customer not signed yet).
        problem = no_active_tenant(project, tenants)
        idle = str(problem) if problem is not None else None
        if idle:
            context.log.warning(idle)
        # Said at every tick, as they are at every reading; not failed (they load nothing).
        skips = f"; skipped the rows of {'; '.join(skipped)}" if skipped else ""
        if skips:
            context.log.warning(skips.removeprefix("; "))
        now = reading(tenants, partitions, previous)
        cursor = json.dumps(now, sort_keys=True)
        if context.cursor and now == previous and not changes.added:
            return dg.SkipReason(
                idle or f"no change: {len(tenants)} tenants, {active} active{skips}"
            )
        with warehouse.open() as wh:
            wh.record_tenants(
                [TenantRow(t.key, t.alias, "active" if t.active else "inactive") for t in tenants]
            )
        context.instance.report_runless_asset_event(
            dg.AssetMaterialization(
                TENANTS_KEY,
                description=changes.describe(),
                metadata={
                    "tenants": len(tenants),
                    "active": active,
                    "added": ", ".join(changes.added) or "-",
                    "activated": ", ".join(changes.activated) or "-",
                    "deactivated": ", ".join(changes.deactivated) or "-",
                    "removed": ", ".join(changes.removed) or "-",
                    "renamed": ", ".join(changes.renamed) or "-",
                    "relisted": ", ".join(changes.relisted) or "-",
                },
            )
        )
        if registry is None:
            return dg.SensorResult(cursor=cursor, skip_reason=idle)
        return dg.SensorResult(
            run_requests=tenant_load_requests(project, changes.to_load),
            dynamic_partitions_requests=(
                [TENANT_PARTITIONS.build_add_request(changes.added)] if changes.added else []
            ),
            cursor=cursor,
            # No run is requested without an active tenant: the tick skips, saying why.
            skip_reason=idle,
        )

    return tenant_registry


def scope_mismatch(
    project: ProjectConfig, drop: Drop, table: TableConfig, context: dg.SensorEvaluationContext
) -> str | None:
    """Why an inbox drop's manifest `scope` is no partition of its table, so that no run can
    be asked for it; None where it is one."""
    scope = drop.manifest.scope
    partitions = partitions_for(project, table)
    if partitions is None:
        if not scope:
            return None
        return (
            f"its manifest's scope is {scope!r}, and {drop.name} is not partitioned: leave "
            "scope empty"
        )
    if not scope:
        return (
            f"its manifest has no scope, and {drop.name} is partitioned: name the partition "
            "it replaces"
        )
    if isinstance(partitions, dg.DynamicPartitionsDefinition):
        known = context.instance.has_dynamic_partition(partitions.name, scope)
    else:
        known = scope in partitions.get_partition_keys()
    return None if known else f"its manifest's scope {scope!r} is no partition of {drop.name}"


def inbox_sensor(project: ProjectConfig) -> dg.SensorDefinition:
    """Loads a manifest that an outside tool (a DMS full-load export, a partner drop) wrote
    into `<landing>/_inbox/<source>/<table>/<load_id>/`: exactly those files, once per
    manifest, once its parts are all there. The cursor holds the drops seen per table (those
    still in the inbox): each load id's manifest fingerprint (LandingStore.pending)."""
    tables = {
        f"{source.name}.{table.name}": (source, table)
        for source in project.sources
        if source.enabled
        for table in source.tables
        if table.enabled
    }
    keys = [raw_asset_key(source.name, table.name) for source, table in tables.values()]

    # asset_selection, not target: a target becomes one job, which cannot hold tables of
    # different partitions definitions; each request runs in the implicit asset job instead.
    @dg.sensor(
        name="landing_inbox_sensor",
        asset_selection=dg.AssetSelection.assets(*keys),
        minimum_interval_seconds=60,
        default_status=default_status(project)[1],
        description="Loads manifests that outside tools drop into the landing inbox",
    )
    def landing_inbox(context: dg.SensorEvaluationContext, landing: LandingStoreResource):
        inbox = landing.open().inbox()
        scan = inbox.pending(json.loads(context.cursor or "{}"))
        requests = []
        for drop in scan.drops:
            if drop.name not in tables:
                scan.remember(drop)
                context.log.warning(f"inbox load {drop.load_id}: no enabled table {drop.name}")
                continue
            manifest = drop.manifest
            mismatch = scope_mismatch(project, drop, tables[drop.name][1], context)
            if mismatch:  # not seen: named at each tick until it is mended or removed
                scan.problems.append(f"{inbox.uri(drop.folder)}: {mismatch}")
                continue
            scan.remember(drop)
            key = raw_asset_key(manifest.source, manifest.table)
            requests.append(
                dg.RunRequest(
                    # The drop, not its id alone: Dagster never runs a run key twice.
                    run_key=f"{drop.name}/{drop.record_id}",
                    asset_selection=[key],
                    partition_key=manifest.scope or None,
                    run_config=dg.RunConfig(
                        ops={key.to_python_identifier(): RawLoadConfig(inbox_load_id=drop.load_id)}
                    ),
                    tags={SOURCE_TAG: manifest.source},
                )
            )
        for problem in scan.problems:
            context.log.warning(problem)
        cursor = json.dumps(scan.seen, sort_keys=True)
        if not requests and scan.problems:
            return dg.SensorResult(skip_reason="\n".join(scan.problems), cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return landing_inbox


def build_automation_defs(project: ProjectConfig) -> dg.Definitions:
    sensor_status = default_status(project)[1]
    # One automation sensor per kind of asset, as dagster-open-platform splits them, so that
    # a slow evaluation of one never holds up the other.
    automation_sensors = [
        dg.AutomationConditionSensorDefinition(
            "automation_transforms", target=TRANSFORMS, default_status=sensor_status
        ),
        dg.AutomationConditionSensorDefinition(
            "automation_exports",
            target=dg.AssetSelection.groups("exports"),
            default_status=sensor_status,
        ),
    ]
    tenants = project.tenants
    registry = [tenant_registry_sensor(project)] if tenants.registry or tenants.tenants else []
    return dg.Definitions(
        schedules=source_schedules(project),
        sensors=[inbox_sensor(project), *registry, *automation_sensors],
    )
