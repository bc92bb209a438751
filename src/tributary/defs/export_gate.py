"""The export gate's facts, read from the Dagster instance: for every asset upstream of an
export (transitively, back to the raw tables), the latest evaluation of each of its blocking
checks; for each dbt model whether its latest planned build ended without building it; and
for each dbt model that holds rows (not a view), whether its latest build was made while a
blocking check upstream of it stood failed (of an incremental model, any build since its last
full refresh: its dbt step records on each build those of its builds, builds_held_by). And,
from the warehouse, the loads of the raw tables upstream that committed and are not checked
yet (unchecked_loads), which Dagster learns of only with their checks.
tributary.exports.gate decides and words the refusal."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)
from dagster._utils.schedules import cron_string_iterator  # the schedules' own cron reading
from dagster_dbt.metadata_set import DbtMetadataSet  # not exported at the top; what the specs carry

from tributary.defs.automation import PARTITION_TAG, TRANSFORMS, LoadSchedule
from tributary.defs.checks import RECONCILIATION
from tributary.defs.ingest import raw_table_of
from tributary.exports.gate import (
    BehindDay,
    FailedCheck,
    LoadsBehindDay,
    RecordedFailure,
    StaleBuild,
    UnbuiltModel,
    UncheckedBuild,
    UncheckedLoad,
    UnloadedPartition,
    UnseenUpdate,
    Upstream,
)
from tributary.warehouse.base import Warehouse, raw_schema

# dagster-dbt's metadata on a model's spec: dbt's `materialized` (DbtMetadataSet's field).
MATERIALIZED = f"{DbtMetadataSet.namespace()}/materialization_type"
LIVE = {"view", "ephemeral"}
# A build of it adds the rows past the newest it holds: what one build lacked, the next lacks.
INCREMENTAL = "incremental"

# What the dbt step records on each model's materialization: whether dbt built it whole
# (`--full-refresh`); and, of an incremental model built plainly, the builds of it since its last
# full refresh made while a blocking check upstream stood failed (StaleBuild.to_record), whose
# rejected rows it still lacks.
FULL_REFRESH = "full_refresh"
HELD_BUILDS = "builds_on_failed_checks"

# A run that ended so has not built what it planned; one queued or running has not failed.
ENDED_UNBUILT = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def upstream_failures(context: dg.AssetExecutionContext, key: dg.AssetKey) -> Upstream:
    graph, partitioned, failed = _failed_blocking_checks(context, key)
    upstream = dg.AssetSelection.assets(key).upstream(include_self=False).resolve(graph)
    models = sorted(TRANSFORMS.resolve(graph) & upstream, key=lambda k: k.to_user_string())
    tables = holding_rows(graph, models)
    over = {model: checks_above(graph, model) for model in tables}
    # Of an incremental model, the op whose full_refresh config builds it whole.
    whole_by = {
        model: graph.assets_def_for_key(model).node_def.name
        for model in tables
        if graph.get(model).metadata.get(MATERIALIZED) == INCREMENTAL
    }
    checks = []
    for check, found in failed:
        rebuild = [m for m in tables if check in over[m]]
        whole = [m for m in rebuild if m in whole_by]
        checks.append(
            replace(
                found,
                load_op=graph.assets_def_for_key(check.asset_key).node_def.name
                if check.name == RECONCILIATION
                else None,
                rebuild=tuple(m.to_user_string() for m in rebuild),
                rebuild_whole=tuple(m.to_user_string() for m in whole),
                dbt_op=whole_by[whole[0]] if whole else None,
            )
        )
    built = latest_builds(context.instance, models)
    stale = []
    judged = stale_builds(context.instance, over, built, partitioned)
    for model in tables:
        builds = judged.get(model, [])
        if model in whole_by and model in built:
            builds = carry(held_builds(built[model]), builds)
        stale += [replace(build, dbt_op=whole_by.get(model)) for build in builds]
    return Upstream(
        checks=checks,
        unbuilt=unbuilt_models(context.instance, models, built),
        stale=stale,
        untested=untested_builds(context.instance, graph, models, built, context.run_id),
        unseen=unseen_updates(context.instance, graph, key),
    )


def failed_above(
    context: dg.AssetExecutionContext, key: dg.AssetKey, warehouse: Warehouse
) -> list[FailedCheck]:
    """The blocking checks upstream of `key` whose latest evaluation (of each partition the
    asset has now, or gone with its rows still held: held_gone_failures) failed, in an earlier
    run: this run's own gate within it."""
    _, _, failed = _failed_blocking_checks(context, key)
    return held_gone_failures([found for _, found in failed], warehouse)


def _failed_blocking_checks(context: dg.AssetExecutionContext, key: dg.AssetKey):
    """The graph, the partitions each blocking check upstream of `key` judges now, and those
    checks whose latest evaluation failed in an earlier run (failed_checks)."""
    graph = source_graph(context)
    blocking = sorted(checks_above(graph, key), key=lambda check: check.to_user_string())
    partitioned = partitions_now(context.instance, graph, blocking)
    return (
        graph,
        partitioned,
        failed_checks(context.instance, blocking, context.run_id, partitioned),
    )


def unchecked_loads(
    context: dg.AssetExecutionContext, key: dg.AssetKey, warehouse: Warehouse
) -> list[UncheckedLoad]:
    """The loads of the raw tables upstream of `key` that committed and whose reconciliation
    has not compared them (Warehouse.owed_loads): read in the warehouse, in the session the
    export's query runs in next, since Dagster learns of a load only with its check. Of a
    partitioned table, those of the partitions it has now (one gone is never loaded again)."""
    found = []
    for asset, load in _current_scopes(context, key, warehouse.owed_loads):
        found.append(UncheckedLoad(asset, load.scope or None, load.load_id, load.committed_at))
    return found


def recorded_failures(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    warehouse: Warehouse,
    known: Sequence[FailedCheck],
) -> list[RecordedFailure]:
    """The reconciliation failures of the raw tables upstream of `key` that the warehouse
    records and `known` (the failed checks Dagster's latest evaluations show) does not: of the
    partitions each table has now. Before, with the raw asset's materializations wiped, or on
    another Dagster instance, the export published the rejected rows, green."""
    shown = {(check.asset, check.partition) for check in known if check.check == RECONCILIATION}
    found = []
    for asset, failure in _current_scopes(context, key, warehouse.standing_failures):
        partition = failure.scope or None
        if (asset, partition) not in shown:
            found.append(
                RecordedFailure(
                    asset, partition, failure.load_id, failure.failed_at, failure.description
                )
            )
    return found


def _current_scopes(context: dg.AssetExecutionContext, key: dg.AssetKey, read) -> Iterator:
    """(asset, record) of each record `read` returns of the raw tables upstream of `key`
    (given their (source, table) pairs), of a scope the table has now: a partitioned table's
    current partitions (one gone is never loaded again), an unpartitioned one's whole."""
    graph = source_graph(context)
    reconciled = [check for check in checks_above(graph, key) if check.name == RECONCILIATION]
    partitioned = partitions_now(context.instance, graph, reconciled)
    by_table = {raw_table_of(check.asset_key): check for check in reconciled}
    for record in read(by_table):
        check = by_table[(record.source, record.table)]
        if record.scope in partitioned.get(check, {""}):
            yield check.asset_key.to_user_string(), record


def unloaded_partitions(
    context: dg.AssetExecutionContext, key: dg.AssetKey, partition: str | None
) -> list[UnloadedPartition]:
    """The partitions of the assets upstream that no load has written: of a per-tenant
    export's `partition` (a tenant), that one, of each asset partitioned by tenant; of any
    other export (`partition` None: it reads every partition), each partition the asset has
    now (a tenant, a key range). Dagster's materialization of a raw table's partition is its
    load's, recorded once it committed: a load that failed, or has not run, has none. Before,
    an export of every tenant's rows published those of the tenants loaded so far, as
    complete, green."""
    graph = source_graph(context)
    upstream = dg.AssetSelection.assets(key).upstream(include_self=False).resolve(graph)
    found = []
    for asset in sorted(upstream, key=lambda k: k.to_user_string()):
        partitions = graph.get(asset).partitions_def
        if partitions is None:
            continue
        has = partitions.get_partition_keys(dynamic_partitions_store=context.instance)
        if partition is not None and partition not in has:
            continue  # partitioned otherwise (key ranges): the export reads all of it
        wanted = has if partition is None else [partition]
        loaded = context.instance.get_materialized_partitions(asset)
        found += [UnloadedPartition(asset.to_user_string(), p) for p in wanted if p not in loaded]
    return found


def models_behind_day(
    context: dg.AssetExecutionContext, key: dg.AssetKey, day: date
) -> list[BehindDay]:
    """Of a date-partitioned export's `day` (a UTC day), the models upstream that hold rows and
    were last built before the day ended, while an asset upstream of them has been updated
    since (models_built_before)."""
    ended = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return models_built_before(context, key, day, ended)


def models_built_before(
    context: dg.AssetExecutionContext, key: dg.AssetKey, day: date, ended: datetime
) -> list[BehindDay]:
    """The models upstream of `key` that hold rows (not views: those read live), last built
    before `ended` (or never), of which an asset upstream (a raw table, a model, a seed) was
    updated at or after it: the rows of `day` it holds are not all there."""
    graph = source_graph(context)
    upstream = dg.AssetSelection.assets(key).upstream(include_self=False).resolve(graph)
    models = sorted(TRANSFORMS.resolve(graph) & upstream, key=lambda k: k.to_user_string())
    # Every model's inputs are upstream of the export too: one read of the instance for all.
    updated = updated_at(context.instance, upstream)
    found = []
    for model in holding_rows(graph, models):
        if (built_at := updated.get(model)) is not None and built_at >= ended:
            continue
        reads = dg.AssetSelection.assets(model).upstream(include_self=False).resolve(graph)
        since = {a: updated[a] for a in reads if a in updated and updated[a] >= ended}
        if since:
            asset = max(since, key=since.__getitem__)
            found.append(
                BehindDay(
                    model.to_user_string(), day, built_at, asset.to_user_string(), since[asset]
                )
            )
    return found


def loads_behind_day(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    day: date,
    schedules: Mapping[dg.AssetKey, LoadSchedule],
) -> list[LoadsBehindDay]:
    """Of a date-partitioned export's `day` (a UTC day), the raw tables upstream that no load
    has committed since the day ended, though their schedule fell due since (loads_due_since)."""
    ended = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return loads_due_since(context, key, day, ended, datetime.now(UTC), schedules)


def loads_due_since(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    day: date,
    ended: datetime,
    now: datetime,
    schedules: Mapping[dg.AssetKey, LoadSchedule],
) -> list[LoadsBehindDay]:
    """The raw tables upstream of `key` (directly, through views or through models) whose
    schedule ticked at or after `ended` and no later than `now`, and which no load has
    committed since `ended` (of one partitioned by tenant or key range: a partition it has now).
    A table without a schedule (refreshed on change only, or loaded from the inbox) is not
    judged. Nor is the latest complete day: a run of it ticks with the loads at midnight, and
    the eager export publishes that day again once they land (FOLLOWS_LOADS); an earlier day
    is not published again."""
    if now < ended + timedelta(days=1):
        return []
    graph = source_graph(context)
    upstream = dg.AssetSelection.assets(key).upstream(include_self=False).resolve(graph)
    found = []
    for raw in sorted(upstream & schedules.keys(), key=lambda k: k.to_user_string()):
        schedule = schedules[raw]
        ticks = cron_string_iterator(ended.timestamp(), schedule.cron, schedule.source.timezone)
        if (due := next(ticks)) > now:
            continue
        owed = owed_since(context.instance, graph, raw, ended)
        if owed:
            loaded = updated_at(context.instance, [raw]).get(raw)
            partitions = tuple(sorted(p for p in owed if p is not None))
            found.append(
                LoadsBehindDay(raw.to_user_string(), day, schedule.name, due, loaded, partitions)
            )
    return found


def owed_since(
    instance: dg.DagsterInstance, graph, raw: dg.AssetKey, ended: datetime
) -> list[str | None]:
    """What of `raw` no load has committed since `ended`: [None] for a table not partitioned,
    the partitions it has now for one that is; [] when every load since did."""
    since = dg.AssetRecordsFilter(asset_key=raw, after_timestamp=ended.timestamp())
    first = instance.fetch_materializations(since, limit=1, ascending=True).records
    partitions = graph.get(raw).partitions_def
    if partitions is None:
        return [] if first else [None]
    has = partitions.get_partition_keys(dynamic_partitions_store=instance)
    loaded = (
        instance.get_materialized_partitions(raw, after_cursor=first[0].storage_id - 1)
        if first
        else set()
    )
    return [partition for partition in has if partition not in loaded]


def holding_rows(graph, models: Sequence[dg.AssetKey]) -> list[dg.AssetKey]:
    """The models that hold rows, in their order: a view (or an ephemeral model) reads what is
    upstream live."""
    return [model for model in models if graph.get(model).metadata.get(MATERIALIZED) not in LIVE]


def updated_at(
    instance: dg.DagsterInstance, assets: Collection[dg.AssetKey]
) -> dict[dg.AssetKey, datetime]:
    """When each asset was last materialized (a load committed, a model built; of a
    partitioned one, its newest partition's); one never materialized is left out."""
    return {
        asset: datetime.fromtimestamp(record.timestamp, UTC)
        for asset, record in latest_builds(instance, assets).items()
    }


def source_graph(context: dg.AssetExecutionContext):
    # The whole graph: a run of a selection executes a job subset to it, whose source graph is
    # the code location's (the step context holds no repository definition in process).
    return context.job_def.asset_layer.asset_graph.source_asset_graph


def checks_above(graph, key: dg.AssetKey) -> set[dg.AssetCheckKey]:
    """The blocking checks of every asset upstream of `key`, transitively."""
    upstream = dg.AssetSelection.assets(key).upstream(include_self=False).resolve(graph)
    return {
        check
        for asset in upstream
        for check in graph.get(asset).check_keys
        if graph.get_check_spec(check).blocking
    }


def partitions_now(
    instance: dg.DagsterInstance, graph, checks: Collection[dg.AssetCheckKey]
) -> dict[dg.AssetCheckKey, set[str]]:
    """A partitioned asset's checks, with the partitions it has now: one no longer there (a
    tenant made inactive, or removed from tenants.yaml) can never be loaded again; its failure
    gates only while the raw table holds its rows (failed_checks, held_gone_failures)."""
    return {
        check: set(partitions.get_partition_keys(dynamic_partitions_store=instance))
        for check in checks
        if (partitions := graph.get(check.asset_key).partitions_def) is not None
    }


def latest_builds(
    instance: dg.DagsterInstance, models: Collection[dg.AssetKey]
) -> dict[dg.AssetKey, dg.EventLogRecord]:
    """Each model's latest materialization (those never built are left out). A dbt model is
    built whole (no partitions): its latest materialization is the build its table holds."""
    return {
        record.asset_entry.asset_key: record.asset_entry.last_materialization_record
        for record in instance.get_asset_records(list(models))
        if record.asset_entry.last_materialization_record is not None
    }


def held_builds(build: dg.EventLogRecord) -> list[StaleBuild]:
    """The builds an incremental model's build recorded as still held (HELD_BUILDS)."""
    materialization = build.asset_materialization
    held = materialization.metadata.get(HELD_BUILDS) if materialization else None
    return [StaleBuild.from_record(record) for record in held.value] if held else []


def carry(held: list[StaleBuild], builds: list[StaleBuild]) -> list[StaleBuild]:
    """`held`, and each of `builds` made while a check failed that none of `held` names: a model
    built plainly while one failure stood keeps its first build on it, not one per build."""
    named = {(c.asset, c.check, c.run_id, c.partition) for b in held for c in b.failed_then}
    return held + [
        build
        for build in builds
        if any((c.asset, c.check, c.run_id, c.partition) not in named for c in build.failed_then)
    ]


def builds_held_by(
    context: dg.AssetExecutionContext,
    models: Collection[dg.AssetKey],
    whole: Collection[dg.AssetKey],
) -> dict[dg.AssetKey, list[StaleBuild]]:
    """Of each incremental model a dbt step is about to build (`models`; `whole`, those it
    builds with a full refresh, which hold nothing of before): the builds of it since its last
    full refresh made while a blocking check upstream of it stood failed. Its latest build is
    judged as the export gate judges it, and the builds that one recorded are carried: a plain
    build adds the rows past the newest the model holds, so it lacks what they lacked, however
    the checks are evaluated after. The new build's materialization records them
    (HELD_BUILDS), for the gate; models holding none are left out."""
    plain = [model for model in models if model not in whole]
    if not plain:
        return {}
    graph = source_graph(context)
    over = {model: checks_above(graph, model) for model in plain}
    partitioned = partitions_now(context.instance, graph, set().union(*over.values()))
    built = latest_builds(context.instance, plain)
    judged = stale_builds(context.instance, over, built, partitioned)
    held = {
        model: carry(held_builds(build), judged.get(model, [])) for model, build in built.items()
    }
    return {model: builds for model, builds in held.items() if builds}


def latest_evaluations(
    instance: dg.DagsterInstance, checks: list[dg.AssetCheckKey]
) -> dict[dg.AssetCheckKey, AssetCheckExecutionRecord]:
    """Each check's latest completed evaluation (checks never evaluated are left out). A
    latest record still planned (its run queued, running, or ended before the check ran) is
    no evaluation: the one before it stands."""
    storage = instance.event_log_storage
    latest = dict(storage.get_latest_asset_check_execution_by_key(checks))
    for check, record in list(latest.items()):
        if record.status == AssetCheckExecutionRecordStatus.PLANNED:
            history = storage.get_asset_check_execution_history(
                check, limit=1, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
            )
            if history:
                latest[check] = history[0]
            else:
                del latest[check]
    return latest


# Evaluations of a check read back at a time, newest first.
HISTORY_PAGE = 500


def completed_evaluations(
    instance: dg.DagsterInstance, check: dg.AssetCheckKey, partitioned: bool
) -> Iterator[tuple[str | None, AssetCheckExecutionRecord]]:
    """The check's completed evaluations, newest first, with their partitions (of a partitioned
    asset's check; else None), read HISTORY_PAGE at a time as they are consumed, back to the
    first: the caller stops when it has what it looks for, however many came after.

    Relies on Dagster's internal check-execution history (event_log_storage.
    get_asset_check_execution_history, its cursor an execution record's id, newest first) and
    the records' evaluation events, as latest_evaluations does. Dagster records no partition
    with the evaluation of a check on a partitioned asset (its AssetCheckSpec has none), so no
    query of it gives each partition's latest."""
    storage = instance.event_log_storage
    cursor = None
    while True:
        page = storage.get_asset_check_execution_history(
            check,
            limit=HISTORY_PAGE,
            cursor=cursor,
            status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
        )
        yield from with_partitions(instance, page) if partitioned else [(None, r) for r in page]
        if len(page) < HISTORY_PAGE:
            return
        cursor = page[-1].id


def latest_per_partition(
    instance: dg.DagsterInstance, check: dg.AssetCheckKey
) -> dict[str | None, AssetCheckExecutionRecord]:
    """A check on a partitioned asset: the latest completed evaluation of each partition (by
    its run's partition), read back until each partition ever materialized (those it has now,
    and those it no longer has: failed_checks) has its own.
    Dagster keeps one latest evaluation per check whatever the partition: one tenant's later
    passing load hid another tenant's failed one; and before, only the check's last 500 were
    read, so that a tenant's failure followed by 500 other loads gated nothing."""
    wanted = partitions_materialized(instance, check, before=None)
    latest: dict[str | None, AssetCheckExecutionRecord] = {}
    for partition, record in completed_evaluations(instance, check, partitioned=True):
        latest.setdefault(partition, record)
        if wanted <= latest.keys():
            break
    return latest


def partitions_materialized(
    instance: dg.DagsterInstance, check: dg.AssetCheckKey, before: int | None
) -> set[str]:
    """The partitions of the check's asset materialized (before the event `before`), the only
    ones it can have evaluated: a load's checks are evaluated with its materialization. What
    bounds the history read: a partition never loaded (a tenant just added, or whose loads
    fail before they write) has no evaluation to look for back to the first."""
    return instance.get_materialized_partitions(check.asset_key, before_cursor=before)


def with_partitions(
    instance: dg.DagsterInstance, records: Sequence[AssetCheckExecutionRecord]
) -> list[tuple[str | None, AssetCheckExecutionRecord]]:
    """Each evaluation with its partition: the record's own, or its run's (one query)."""
    if all(record.partition for record in records):
        return [(record.partition, record) for record in records]
    runs = instance.get_runs(filters=dg.RunsFilter(run_ids=list({r.run_id for r in records})))
    partition_of = {run.run_id: run.tags.get(PARTITION_TAG) for run in runs}
    return [(record.partition or partition_of.get(record.run_id), record) for record in records]


def evaluated_at(record: AssetCheckExecutionRecord) -> float:
    # The record is created when its run plans the check; its event is then the evaluation.
    return record.event.timestamp if record.event else record.create_timestamp


def evaluations_back_to(
    instance: dg.DagsterInstance,
    check: dg.AssetCheckKey,
    since: dg.EventLogRecord,
    partitions: set[str] | None,
) -> list[tuple[str | None, AssetCheckExecutionRecord]]:
    """The check's completed evaluations, newest first, with their partitions, read back until
    each partition (of `partitions`, a partitioned asset's now, those materialized before the
    event `since`; else the one whole asset) has one made before `since`, or the history ends.
    Before, at most 2,000 were read, and a model built on a rejected partition further back
    was not seen."""
    wanted = (
        {None}
        if partitions is None
        else partitions & partitions_materialized(instance, check, since.storage_id)
    )
    read: list[tuple[str | None, AssetCheckExecutionRecord]] = []
    before: set[str | None] = set()
    for partition, record in completed_evaluations(instance, check, partitions is not None):
        read.append((partition, record))
        if evaluated_at(record) < since.timestamp:
            before.add(partition)
            if wanted <= before:
                break
    return read


def stale_builds(
    instance: dg.DagsterInstance,
    over: Mapping[dg.AssetKey, set[dg.AssetCheckKey]],
    built: Mapping[dg.AssetKey, dg.EventLogRecord],
    partitioned: Mapping[dg.AssetCheckKey, set[str]],
) -> dict[dg.AssetKey, list[StaleBuild]]:
    """The models (`over`: each with the blocking checks upstream of it) whose build (`built`,
    each model's latest) was made while one of those checks stood failed: its latest evaluation
    then (of any partition the asset has now) failed. Such a build holds the rows the check
    rejected until the model is rebuilt, however the check is evaluated after."""
    built = {model: build for model, build in built.items() if model in over}
    checks = sorted({c for m in built for c in over[m]}, key=lambda c: c.to_user_string())
    history = {
        check: evaluations_back_to(
            instance,
            check,
            since=min((built[m] for m in built if check in over[m]), key=lambda b: b.storage_id),
            partitions=partitioned.get(check),
        )
        for check in checks
    }
    stale = {}
    for model in sorted(built, key=lambda k: k.to_user_string()):
        at = built[model].timestamp
        failed_then = []
        for check in sorted(over[model], key=lambda c: c.to_user_string()):
            standing: dict[str | None, AssetCheckExecutionRecord] = {}
            for partition, record in history[check]:
                if evaluated_at(record) < at:
                    standing.setdefault(partition, record)
            current = partitioned.get(check)
            for partition, record in sorted(standing.items(), key=lambda p: p[0] or ""):
                if current is not None and partition is not None and partition not in current:
                    continue
                if found := failure(check, record, partition):
                    failed_then.append(found)
        if failed_then:
            stale[model] = [
                StaleBuild(
                    asset=model.to_user_string(),
                    run_id=built[model].run_id,
                    built_at=datetime.fromtimestamp(at, UTC),
                    failed_then=tuple(failed_then),
                )
            ]
    return stale


def failed_checks(
    instance: dg.DagsterInstance,
    checks: list[dg.AssetCheckKey],
    current_run: str,
    partitioned: Mapping[dg.AssetCheckKey, set[str]] | None = None,
) -> list[tuple[dg.AssetCheckKey, FailedCheck]]:
    """The blocking checks whose latest evaluation failed; of a check on a partitioned asset
    (`partitioned`, with the asset's partitions now), each partition's latest, those of a
    partition it no longer has marked `gone` (held_gone_failures keeps those whose rows stay)."""
    partitioned = partitioned or {}
    evaluated = [
        (check, record, None)
        for check, record in latest_evaluations(
            instance, [c for c in checks if c not in partitioned]
        ).items()
    ]
    for check in sorted(partitioned, key=lambda c: c.to_user_string()):
        for partition, record in latest_per_partition(instance, check).items():
            evaluated.append((check, record, partition))
    failed = []
    for check, record, partition in evaluated:
        # This run's own checks gate within it already (a failed one stops this step).
        if record.run_id != current_run and (found := failure(check, record, partition)):
            gone = partition is not None and partition not in partitioned.get(check, ())
            failed.append((check, replace(found, gone=gone)))
    return failed


def held_gone_failures(checks: list[FailedCheck], warehouse: Warehouse) -> list[FailedCheck]:
    """`checks`, less the failures of partitions that can no longer be loaded whose rows the
    raw table no longer holds: a partition the asset no longer has (a tenant made inactive in
    tenants.yaml), or a tenant the registry no longer lists (its partition is kept, and its
    load refused). Such a tenant keeps its rows, which its failed check rejected: an export of
    every tenant's rows published them, green; and a removed tenant's failure refused every
    export for good, naming a load that fails. Read in the export's warehouse session, as
    unchecked_loads."""
    removed = warehouse.removed_tenants() if any(c.partition for c in checks) else set()
    kept = []
    for check in checks:
        if not check.gone and check.partition not in removed:
            kept.append(check)
            continue
        source, table = raw_table_of(dg.AssetKey.from_user_string(check.asset))
        if warehouse.tenant_ids_held([(source, table)], {check.partition}.__contains__):
            kept.append(replace(check, gone=True, held_in=f"{raw_schema(source)}.{table}"))
    return kept


def failure(
    check: dg.AssetCheckKey, record: AssetCheckExecutionRecord, partition: str | None
) -> FailedCheck | None:
    """The evaluation, if it failed and blocks: a failed WARN-severity check does not block,
    in a run or here."""
    evaluation = record.evaluation
    if evaluation is None or evaluation.passed:
        return None
    if evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return None
    return FailedCheck(
        asset=check.asset_key.to_user_string(),
        check=check.name,
        run_id=record.run_id,
        at=datetime.fromtimestamp(record.create_timestamp, UTC),
        description=evaluation.description,
        partition=partition,
    )


def unseen_updates(instance: dg.DagsterInstance, graph, key: dg.AssetKey) -> list[UnseenUpdate]:
    """The views `key` reads live (its inputs that are views, and theirs, down to a table)
    whose blocking checks last evaluated them before an input they read through was
    materialized again. A view's test judges the rows it showed then; its rows change with
    every load beneath it. Before, an export reading a staging view after a load published
    rows that failed the view's test, green, until dbt next built the view. A table model
    holds its build: a view beneath it is judged by that build's own gate (stale_builds)."""
    found = []
    for view in sorted(read_through(graph, key, views=True), key=lambda k: k.to_user_string()):
        blocking = [c for c in graph.get(view).check_keys if graph.get_check_spec(c).blocking]
        evaluations = latest_evaluations(instance, blocking)
        if not evaluations:
            continue
        inputs = read_through(graph, view)
        updated = latest_builds(instance, inputs)
        for check in sorted(evaluations, key=lambda c: c.to_user_string()):
            at = evaluated_at(evaluations[check])
            newer = [(k, build) for k, build in updated.items() if build.timestamp > at]
            if not newer:
                continue
            newest, build = max(newer, key=lambda pair: pair[1].timestamp)
            found.append(
                UnseenUpdate(
                    asset=view.to_user_string(),
                    check=check.name,
                    evaluated_at=datetime.fromtimestamp(at, UTC),
                    input=newest.to_user_string(),
                    run_id=build.run_id,
                    updated_at=datetime.fromtimestamp(build.timestamp, UTC),
                )
            )
    return found


def read_through(graph, key: dg.AssetKey, *, views: bool = False) -> set[dg.AssetKey]:
    """What `key` reads live: its inputs, and through each input that is a view, that view's.
    The assets holding rows among them (raw tables, table models), or with `views` the views."""
    found, stack = set(), list(graph.get(key).parent_keys)
    while stack:
        parent = stack.pop()
        if parent in found:
            continue
        found.add(parent)
        if is_view(graph, parent):
            stack.extend(graph.get(parent).parent_keys)
    return {parent for parent in found if is_view(graph, parent) == views}


def is_view(graph, key: dg.AssetKey) -> bool:
    return graph.get(key).metadata.get(MATERIALIZED) in LIVE


# How many of a check's latest execution records are searched for the one of a build's run.
RECORDS_SEARCHED = 20


def untested_builds(
    instance: dg.DagsterInstance,
    graph,
    models: list[dg.AssetKey],
    built: Mapping[dg.AssetKey, dg.EventLogRecord],
    current_run: str,
) -> list[UncheckedBuild]:
    """The models whose latest build's run planned a blocking check of it that it has not
    evaluated (its execution record for that run is still planned): the run was terminated
    between dbt's build of the model and its test, or is still running it. latest_evaluations
    passes over such a record to the evaluation before, of an earlier build: the export
    published the new build unchecked, green."""
    storage = instance.event_log_storage
    found = []
    for model in models:
        build = built.get(model)
        if build is None or build.run_id == current_run:  # this run gates its own
            continue
        blocking = (c for c in graph.get(model).check_keys if graph.get_check_spec(c).blocking)
        for check in sorted(blocking, key=lambda c: c.to_user_string()):
            records = storage.get_asset_check_execution_history(check, limit=RECORDS_SEARCHED)
            planned = next((r for r in records if r.run_id == build.run_id), None)
            if planned is None or planned.status != AssetCheckExecutionRecordStatus.PLANNED:
                continue
            run = instance.get_run_by_id(build.run_id)
            found.append(
                UncheckedBuild(
                    asset=model.to_user_string(),
                    check=check.name,
                    run_id=build.run_id,
                    built_at=datetime.fromtimestamp(build.timestamp, UTC),
                    status=run.status.value if run else "unknown",
                )
            )
    return found


def unbuilt_models(
    instance: dg.DagsterInstance,
    models: list[dg.AssetKey],
    latest: Mapping[dg.AssetKey, dg.EventLogRecord],
) -> list[UnbuiltModel]:
    unbuilt = []
    for model in models:
        planned = instance.get_latest_planned_materialization_info(model)
        if planned is None:
            continue
        built = latest.get(model)
        if built is not None and built.storage_id > planned.storage_id:
            continue
        run = instance.get_run_record_by_id(planned.run_id)
        if run is None or run.dagster_run.status not in ENDED_UNBUILT:
            continue
        unbuilt.append(
            UnbuiltModel(
                asset=model.to_user_string(),
                run_id=planned.run_id,
                status=run.dagster_run.status.value,
                ended_at=datetime.fromtimestamp(run.end_time, UTC) if run.end_time else None,
                built_by=built.run_id if built else None,
                built_at=datetime.fromtimestamp(built.timestamp, UTC) if built else None,
            )
        )
    return unbuilt
