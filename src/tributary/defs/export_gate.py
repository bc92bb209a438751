"""The export gate's facts, read from the Dagster instance: for every asset upstream of an
export (transitively, back to the raw tables), the latest evaluation of each of its blocking
checks, and for each dbt model whether its latest planned build ended without building it.
tributary.exports.gate decides and words the refusal."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from tributary.defs.automation import PARTITION_TAG, TRANSFORMS
from tributary.exports.gate import FailedCheck, UnbuiltModel

# A run that ended so has not built what it planned; one queued or running has not failed.
ENDED_UNBUILT = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def upstream_failures(
    context: dg.AssetExecutionContext, key: dg.AssetKey
) -> tuple[list[FailedCheck], list[UnbuiltModel]]:
    # The whole graph: a run of a selection executes a job subset to it, whose source graph is
    # the code location's (the step context holds no repository definition in process).
    graph = context.job_def.asset_layer.asset_graph.source_asset_graph
    upstream = dg.AssetSelection.assets(key).upstream(include_self=False).resolve(graph)
    models = TRANSFORMS.resolve(graph) & upstream
    blocking = sorted(
        (
            check
            for asset in upstream
            for check in graph.get(asset).check_keys
            if graph.get_check_spec(check).blocking
        ),
        key=lambda check: check.to_user_string(),
    )
    # A partitioned asset's checks, with the partitions it has now: one no longer there (a
    # tenant made inactive, or gone from the registry) can never be loaded again, and gates
    # nothing.
    partitioned = {
        check: set(partitions.get_partition_keys(dynamic_partitions_store=context.instance))
        for check in blocking
        if (partitions := graph.get(check.asset_key).partitions_def) is not None
    }
    return (
        failed_checks(context.instance, blocking, context.run_id, partitioned),
        unbuilt_models(context.instance, sorted(models, key=lambda k: k.to_user_string())),
    )


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


# Evaluations read back of a check on a partitioned asset, for each partition's latest.
PARTITION_HISTORY = 500


def latest_per_partition(
    instance: dg.DagsterInstance, check: dg.AssetCheckKey
) -> dict[str | None, AssetCheckExecutionRecord]:
    """A check on a partitioned asset: the latest completed evaluation of each partition (by
    its run's partition), among the check's last PARTITION_HISTORY. Dagster keeps one latest
    evaluation per check whatever the partition: one tenant's later passing load hid another
    tenant's failed one."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        check, limit=PARTITION_HISTORY, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
    )
    runs = instance.get_runs(filters=dg.RunsFilter(run_ids=list({r.run_id for r in history})))
    partition_of = {run.run_id: run.tags.get(PARTITION_TAG) for run in runs}
    latest: dict[str | None, AssetCheckExecutionRecord] = {}
    for record in history:  # newest first
        latest.setdefault(record.partition or partition_of.get(record.run_id), record)
    return latest


def failed_checks(
    instance: dg.DagsterInstance,
    checks: list[dg.AssetCheckKey],
    current_run: str,
    partitioned: Mapping[dg.AssetCheckKey, set[str]] | None = None,
) -> list[FailedCheck]:
    """The blocking checks whose latest evaluation failed; of a check on a partitioned asset
    (`partitioned`, with the asset's partitions now), each partition's latest."""
    partitioned = partitioned or {}
    evaluated = [
        (check, record, None)
        for check, record in latest_evaluations(
            instance, [c for c in checks if c not in partitioned]
        ).items()
    ]
    for check in sorted(partitioned, key=lambda c: c.to_user_string()):
        for partition, record in latest_per_partition(instance, check).items():
            if partition is None or partition in partitioned[check]:
                evaluated.append((check, record, partition))
    failed = []
    for check, record, partition in evaluated:
        evaluation = record.evaluation
        # This run's own checks gate within it already (a failed one stops this step).
        if record.run_id == current_run or evaluation is None or evaluation.passed:
            continue
        # A failed WARN-severity check does not block, in a run or here.
        if evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        failed.append(
            FailedCheck(
                asset=check.asset_key.to_user_string(),
                check=check.name,
                run_id=record.run_id,
                at=datetime.fromtimestamp(record.create_timestamp, UTC),
                description=evaluation.description,
                partition=partition,
            )
        )
    return failed


def unbuilt_models(instance: dg.DagsterInstance, models: list[dg.AssetKey]) -> list[UnbuiltModel]:
    records = {
        record.asset_entry.asset_key: record for record in instance.get_asset_records(models)
    }
    unbuilt = []
    for model in models:
        planned = instance.get_latest_planned_materialization_info(model)
        if planned is None:
            continue
        entry = records[model].asset_entry if model in records else None
        built = entry.last_materialization_record if entry else None
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
