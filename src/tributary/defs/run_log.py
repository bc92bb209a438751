"""The run log: every finished run's outcome per asset, written to `_tributary.run_log` in
the warehouse by the run_log sensors, so BI tools can query load status (`ops_load_status`)."""

import json
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime

import dagster as dg
from dagster._core.event_api import EventLogCursor

from tributary.defs.automation import PARTITION_TAG
from tributary.defs.resources import WarehouseResource
from tributary.warehouse import RunLogRow

RUN_LOG_KEY = dg.AssetKey(["tributary", "run_log"])
ROW_METADATA = ("rows_loaded", "dagster/row_count")
# Each logged status, and the event that says a run reached it.
LOGGED_STATUSES = {
    dg.DagsterRunStatus.SUCCESS: dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterRunStatus.FAILURE: dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterRunStatus.CANCELED: dg.DagsterEventType.RUN_CANCELED,
}
RUNS_PER_TICK = 100


def run_log_rows(
    instance: dg.DagsterInstance, run: dg.DagsterRun, finished_at: float | None = None
) -> list[RunLogRow]:
    """One row per asset the run was to materialize (or did): what it loaded, or why not.
    `finished_at` (a timestamp) where the run record has no end time (yet)."""
    record = instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record and record.end_time is not None else finished_at
    materialized: dict[tuple[str, str], int | None] = {}
    for event in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        materialization = event.event_log_entry.asset_materialization
        metadata = materialization.metadata
        rows = next((metadata[k].value for k in ROW_METADATA if k in metadata), None)
        key = (materialization.asset_key.to_user_string(), materialization.partition or "")
        materialized[key] = int(rows) if isinstance(rows, int | float) else None
    partition = run.tags.get(PARTITION_TAG, "")
    planned = {(key.to_user_string(), partition) for key in run.asset_selection or ()}
    error = _error_summary(instance, run.run_id)
    not_materialized = "SKIPPED" if run.status == dg.DagsterRunStatus.SUCCESS else run.status.value
    return [
        RunLogRow(
            run_id=run.run_id,
            asset_key=asset_key,
            partition_key=partition_key,
            status="SUCCESS" if (asset_key, partition_key) in materialized else not_materialized,
            started_at=_timestamp(record.start_time if record else None),
            finished_at=_timestamp(ended),
            rows_loaded=materialized.get((asset_key, partition_key)),
            error=None if (asset_key, partition_key) in materialized else error,
        )
        for asset_key, partition_key in sorted(planned | set(materialized))
    ]


def log_runs(
    instance: dg.DagsterInstance,
    runs: list[dg.DagsterRun],
    warehouse: WarehouseResource,
    assets: AbstractSet[str] | None = None,
    finished_at: dict[str, float] | None = None,
) -> int:
    """Write finished runs' outcomes to the run log, replacing what an earlier write of the
    same runs left, and record the run_log asset's materialization: what the run_log sensors
    do for each run (and `make demo` for its own). Only the rows of `assets` where given; a
    run left without rows is not logged. `finished_at`: when runs finished, by run id, for a
    run record without an end time. Returns the rows written."""
    finished_at = finished_at or {}
    rows = [
        row
        for run in runs
        for row in run_log_rows(instance, run, finished_at.get(run.run_id))
        if assets is None or row.asset_key in assets
    ]
    if not rows:
        return 0
    logged = list(dict.fromkeys(row.run_id for row in rows))
    with warehouse.open() as wh:
        wh.record_run(rows)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            RUN_LOG_KEY,
            description=f"{len(logged)} run(s) logged",
            metadata={"runs": logged, "rows_written": len(rows)},
        )
    )
    return len(rows)


def _error_summary(instance: dg.DagsterInstance, run_id: str) -> str | None:
    for event in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records:
        failure = event.event_log_entry.dagster_event.step_failure_data
        if failure and failure.error:
            error = failure.error
            while error.cause is not None:  # Dagster's wrapper first, the cause last
                error = error.cause
            if error.cls_name == "DagsterExecutionInterruptedError":  # its message: its name
                return f"{event.event_log_entry.step_key}: terminated by a user"
            return f"{event.event_log_entry.step_key}: {error.message.strip()}"
    return None


def _timestamp(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def build_run_log_sensors(default_status: dg.DefaultSensorStatus) -> list[dg.SensorDefinition]:
    def build(status: dg.DagsterRunStatus) -> dg.SensorDefinition:
        @dg.sensor(
            name=f"run_log_{status.value.lower()}",
            description=f"Writes each {status.value.lower()} run's outcome to _tributary.run_log",
            minimum_interval_seconds=10,
            default_status=default_status,
        )
        def run_log_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
            return log_finished_runs(context, LOGGED_STATUSES[status], warehouse)

        return run_log_sensor

    return [build(status) for status in LOGGED_STATUSES]


def log_finished_runs(
    context: dg.SensorEvaluationContext,
    event_type: dg.DagsterEventType,
    warehouse: WarehouseResource,
) -> dg.SensorResult:
    """Write the runs that reached a status (`event_type`) since the sensor's cursor, and move
    the cursor past them only once they are written: a tick that cannot write (the warehouse
    is down, often the very outage that failed the runs) fails, and the next one writes the
    same runs. Dagster's run_status_sensor moves its cursor past a run whose function raised,
    so such a run was never logged. A first tick starts from the runs finished so far."""
    instance = context.instance
    if context.cursor is None:
        latest = instance.fetch_run_status_changes(event_type, limit=1)
        return dg.SensorResult(skip_reason="started: logs runs from now on", cursor=latest.cursor)
    changes = instance.fetch_run_status_changes(
        event_type, limit=RUNS_PER_TICK, cursor=_event_cursor(context.cursor), ascending=True
    )
    run_ids = list(dict.fromkeys(record.run_id for record in changes.records))
    if not run_ids:
        return dg.SensorResult(skip_reason="no run finished", cursor=changes.cursor)
    found = {run.run_id: run for run in instance.get_runs(dg.RunsFilter(run_ids=run_ids))}
    # Each run as its status event says: Dagster stores the event, then updates the run record
    # (its status and end time), so a tick in between read a record still STARTED, without an
    # end time, and moved past the run, which was never logged as it finished.
    status = next(status for status, event in LOGGED_STATUSES.items() if event == event_type)
    finished_at = {record.run_id: record.timestamp for record in changes.records}
    runs = [found[run_id].with_status(status) for run_id in run_ids if run_id in found]
    # Every run of the instance, the project's assets' rows: a run started from the CLI
    # (`dagster asset materialize -m tributary.definitions`, and one killed and marked failed
    # by run monitoring) names no code location, so a sensor watching its own code location's
    # runs (Dagster's run-status sensors) never saw it, and one watching all of them
    # (monitor_all_code_locations) saw another location's runs too. Asset keys are one per
    # deployment: a run without any of this project's assets is another location's.
    keys = context.repository_def.asset_graph.get_all_asset_keys()
    assets = {key.to_user_string() for key in keys}
    written = log_runs(instance, runs, warehouse, assets, finished_at)
    return dg.SensorResult(skip_reason=f"{written} row(s) logged", cursor=changes.cursor)


def _event_cursor(cursor: str) -> str:
    """The sensor's cursor as fetch_run_status_changes takes it. The run_status_sensor these
    sensors were before left its own (JSON, the last event's storage id): resume after it."""
    if cursor.startswith("{"):
        return EventLogCursor.from_storage_id(json.loads(cursor)["record_id"]).to_string()
    return cursor
