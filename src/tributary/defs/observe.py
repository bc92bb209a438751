"""Refresh on change: tables with `refresh: on_change` load soon after their source changed,
and not when it did not.

Each such table gets an observable source asset, `source/<source>/<table>`, upstream of its
raw table. A sensor per source, `observe_<source>`, runs one probe query per tick
(SqlSource.probe: the highest cursor value, or the catalog's change counter) and records an
observation with the table's data version when it changed. The raw table's automation
condition requests its load when its source was observed at another data version than its
latest load started from; dbt models and exports follow through their own eager conditions.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime

import dagster as dg

from tributary.config.loader import ProjectConfig
from tributary.config.models import SourceConfig, TableConfig
from tributary.defs.resources import WarehouseResource
from tributary.defs.sources import SourcesResource
from tributary.errors import SourceError
from tributary.sources.sql import unobservable_tables
from tributary.warehouse import SourceChangeRow

# Where an observation carries its data version, and where a materialization records the
# version and the event of each upstream asset its step started from (Dagster's tags, not
# exported by name).
DATA_VERSION_TAG = "dagster/data_version"
INPUT_DATA_VERSION_TAG = "dagster/input_data_version/{}"
INPUT_EVENT_POINTER_TAG = "dagster/input_event_pointer/{}"


class SourceChangedSinceLoad(dg.AutomationCondition):
    """True for a raw table whose source was observed at a data version other than the one its
    latest load started from (or that was never loaded since its source was first observed).

    Not Dagster's `any_deps_updated().since_last_handled()`: when an observation and the
    previous load's materialization fall between the same two evaluations, the materialization
    resets it and the change is dropped (an observation carries no timestamp to compare in
    `since`, dagster 1.13), though the load may have read the source before the change. Here
    the load's own record says what it saw: Dagster tags each materialization with the
    storage id and version of the source's latest observation when its step started, so a
    change observed during the load, or just after, is loaded again."""

    @property
    def name(self) -> str:
        return "source_changed_since_load"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        instance = context.asset_graph_view.instance
        key = context.key
        sources = [k for k in context.asset_graph.get(key).parent_keys if k.path[0] == "source"]
        loaded = instance.get_latest_materialization_event(key)
        tags = (
            loaded.asset_materialization.tags or {}
            if loaded is not None and loaded.asset_materialization is not None
            else {}
        )
        changed = any(_observed_since(instance, source, tags) for source in sources)
        return dg.AutomationResult(
            context=context,
            true_subset=context.candidate_subset if changed else context.get_empty_subset(),
        )


def _observed_since(
    instance: dg.DagsterInstance, source: dg.AssetKey, loaded_tags: dict[str, str]
) -> bool:
    """Whether `source` was observed at another data version after the load (whose tags are
    `loaded_tags`) read its latest observation. A failed probe carries the version last seen,
    and a manual observation of an unchanged table its same version: neither counts."""
    pointer = loaded_tags.get(INPUT_EVENT_POINTER_TAG.format(source.to_user_string()))
    started_from = loaded_tags.get(INPUT_DATA_VERSION_TAG.format(source.to_user_string()))
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(
            asset_key=source,
            after_storage_id=int(pointer) if pointer and pointer.isdigit() else None,
        ),
        limit=1000,
        ascending=False,
    ).records
    for record in records:
        observation = record.asset_observation
        version = (observation.tags or {}).get(DATA_VERSION_TAG) if observation else None
        if version is not None and version != started_from:
            return True
    return False


# Requested when the source changed since the table's last load, never while a load of it
# runs (nor is queued): a change seen meanwhile is requested once that load is done.
SOURCE_CHANGED = (SourceChangedSinceLoad() & ~dg.AutomationCondition.in_progress()).with_label(
    "source changed"
)
SOURCE_CHANGES_KEY = dg.AssetKey(["tributary", "source_changes"])


def source_asset_key(source: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["source", source, table])


def _spec(source: SourceConfig, table: TableConfig) -> dg.AssetSpec:
    return dg.AssetSpec(
        source_asset_key(source.name, table.name),
        group_name=source.name,
        kinds={source.kind},
        description=f"{table.read_object} in {source.name}, as observed every "
        f"{source.refresh_interval} by observe_{source.name} (its data version changes when "
        "its rows do)",
    )


def probe(
    sources: SourcesResource, project: ProjectConfig, source: SourceConfig
) -> tuple[dict[str, str], dict[str, str]]:
    """Each observed table's data version now (one query on one connection), and why each
    table that cannot be observed (a view without a cursor) cannot: that table alone fails,
    the others are observed."""
    reader = sources.open(source, state_dir=project.state_dir)
    versions = reader.probe(source.observed_tables)
    problems = unobservable_tables(source.observed_tables, versions)
    return {n: str(v) for n, v in versions.items() if n not in problems}, problems


def failed_observation(table: str, source: str, seen: dict[str, str], error: str):
    """A failed probe of `table`, with the version last seen: nothing counts as changed."""
    return dg.AssetObservation(
        source_asset_key(source, table),
        tags={DATA_VERSION_TAG: seen[table]} if table in seen else None,
        metadata={"probe": "failed", "error": error[:1000]},
    )


def observable_source(project: ProjectConfig, source: SourceConfig) -> dg.AssetsDefinition:
    """The source's observed tables, observable on demand from the UI with the same probe."""

    def observe(context):
        versions, problems = probe(context.resources.sources, project, source)
        if problems:
            raise SourceError(f"{source.name}: {'; '.join(problems.values())}")
        for table in source.observed_tables:
            yield dg.ObserveResult(
                asset_key=source_asset_key(source.name, table.name),
                data_version=dg.DataVersion(str(versions[table.name])),
            )

    # Dagster marks the decorator beta: said once here, not on every definitions load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.multi_observable_source_asset(
            specs=[_spec(source, table) for table in source.observed_tables],
            name=f"observe__{source.name}",
            required_resource_keys={"sources"},
        )(observe)


def observation_sensor(project: ProjectConfig, source: SourceConfig, default_status):
    tables = source.observed_tables

    @dg.sensor(
        name=f"observe_{source.name}",
        minimum_interval_seconds=int(source.refresh_interval.total_seconds()),
        default_status=default_status,
        description=f"Probes {source.name} for changes to {', '.join(t.name for t in tables)} "
        "(one query per tick) and records each change as an observation",
    )
    def observe_source(
        context: dg.SensorEvaluationContext,
        sources: SourcesResource,
        warehouse: WarehouseResource,
    ) -> dg.SensorResult:
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        try:
            versions, problems = probe(sources, project, source)
        except Exception as exc:  # the source's error, credentials redacted by the reader
            context.log.warning(f"probe of {source.name} failed: {exc}")
            failed = [failed_observation(t.name, source.name, seen, str(exc)) for t in tables]
            return dg.SensorResult(asset_events=failed, skip_reason=f"probe failed: {exc}")
        for problem in problems.values():
            context.log.error(f"{source.name}: {problem}")
        unobserved = [failed_observation(n, source.name, seen, p) for n, p in problems.items()]
        changed = [name for name, version in versions.items() if seen.get(name) != version]
        context.log.info(
            f"{source.name}: {len(tables)} tables probed; changed: {', '.join(changed) or '-'}"
        )
        if changed:
            now = datetime.now(UTC)
            with warehouse.open() as wh:
                wh.record_source_changes(
                    [SourceChangeRow(source.name, name, versions[name], now) for name in changed]
                )
            context.instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    SOURCE_CHANGES_KEY,
                    description=f"{source.name}: {', '.join(changed)} changed",
                    metadata={"source": source.name, "changed": ", ".join(changed)},
                )
            )
        return dg.SensorResult(
            asset_events=[
                dg.AssetObservation(
                    source_asset_key(source.name, name),
                    tags={DATA_VERSION_TAG: versions[name]},
                    metadata={"probe": "ok", "data_version": versions[name]},
                )
                for name in changed
            ]
            + unobserved,
            cursor=json.dumps(versions, sort_keys=True),
        )

    return observe_source


def build_observation_defs(project: ProjectConfig, default_status) -> dg.Definitions:
    observed = [source for source in project.sources if source.observed_tables]
    raw_keys = [
        dg.AssetKey(["raw", source.name, table.name])
        for source in observed
        for table in source.observed_tables
    ]
    sensors = [observation_sensor(project, source, default_status) for source in observed]
    if raw_keys:
        sensors.append(_source_changes_sensor(raw_keys, default_status))
    return dg.Definitions(
        assets=[observable_source(project, source) for source in observed], sensors=sensors
    )


def _source_changes_sensor(raw_keys: list[dg.AssetKey], default_status) -> dg.SensorDefinition:
    """Evaluates SOURCE_CHANGED, in the code server: Dagster's daemon evaluates only its own
    conditions, and SourceChangedSinceLoad is Tributary's."""
    # `use_user_code_server` is marked beta: said once here, not on every definitions load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.AutomationConditionSensorDefinition(
            "automation_source_changes",
            target=dg.AssetSelection.assets(*raw_keys),
            default_status=default_status,
            use_user_code_server=True,
        )
