"""Export assets: key ["export", <name>], publishing a model or query to the export store.

An export partitioned by date is daily-partitioned (one dt=YYYY-MM-DD folder per partition);
the others publish the run's date (dt=...) or one folder per value of their column. A
per_tenant export has one partition per tenant, each publishing that tenant's rows.
Each enabled export has a schedule, `<name>_schedule`, at its frequency; a daily-partitioned
one publishes the last complete day and every day completed since its previous tick (or
since the newest day it published, where that is earlier). A
disabled export keeps its asset and what it published, out of schedules and automation.
"""

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg

# Dagster's own cron iterator (no public API gives a schedule's previous tick); the same
# Dagster version is pinned everywhere.
from dagster._utils.schedules import reverse_cron_string_iterator
from pydantic import Field

from tributary.config.loader import ConfigError, ProjectConfig
from tributary.config.models import REF, ExportConfig, TableConfig, cron_for
from tributary.defs.automation import (
    ASSET_JOB,
    FOLLOWS_LOADS,
    default_status,
    table_schedules,
)
from tributary.defs.export_gate import (
    held_gone_failures,
    loads_behind_day,
    models_behind_day,
    recorded_failures,
    unchecked_loads,
    unloaded_partitions,
    upstream_failures,
)
from tributary.defs.ingest import partitions_for, raw_asset_key
from tributary.defs.metadata import column_schema
from tributary.defs.resources import (
    ExportStoreResource,
    LandingStoreResource,
    WarehouseResource,
)
from tributary.defs.retries import with_retries
from tributary.defs.sources import SourcesResource
from tributary.defs.tenants import current_tenants, scheduled_tenants, tenant_partitions
from tributary.defs.transform import ModelRef
from tributary.exports import run_export
from tributary.exports.gate import refusal
from tributary.exports.gcs import is_gcs_url
from tributary.exports.query import export_sql, raw_tables_read, relations_read
from tributary.tenants import active_keys, tenant_to_export


class ExportRunConfig(dg.Config):
    publish_despite_failures: bool = Field(
        default=False,
        description="publish although a blocking check upstream failed in its latest "
        "evaluation, or a model upstream failed to build (its table holds an older build); "
        "what was overridden is recorded in the materialization's metadata",
    )


def export_partitions(
    project: ProjectConfig, export: ExportConfig
) -> dg.PartitionsDefinition | None:
    if export.per_tenant:
        return tenant_partitions(project)
    partitioning = export.partitioning
    if partitioning.by == "date":
        return dg.DailyPartitionsDefinition(start_date=partitioning.start_date.isoformat())
    return None


def export_pool(export: str) -> str:
    return f"export/{export}"


def raw_table_deps(project: ProjectConfig, export: ExportConfig, sql: str) -> list[dg.AssetDep]:
    """The raw tables a query export reads by their warehouse names (raw_<source>.<table>),
    upstream of it as the models it refs are: their blocking checks gate it (the export gate
    walks its lineage), their loads trigger it. Before, a raw table read so was outside the
    lineage, and a load its reconciliation rejected was published, green."""
    if not export.query:
        return []
    tables = {(s.name, t.name): t for s in project.sources for t in s.tables}
    read = raw_tables_read(sql, tables, project.platform.warehouse.target)
    return [
        dg.AssetDep(
            raw_asset_key(source, table),
            partition_mapping=raw_partition_mapping(project, export, tables[source, table]),
        )
        for source, table in read
    ]


def models_read(
    project: ProjectConfig, export: ExportConfig, sql: str, models: dict[str, ModelRef]
) -> list[str]:
    """The dbt models (seeds, snapshots) a query export reads by their warehouse names
    (`marts.fct_sales`), as those it refs: upstream of it, gated and triggered by them. Before,
    such a read was outside the lineage. A relation in a schema dbt builds into that no model
    builds is refused: a model renamed or removed leaves its table behind, rebuilt and checked
    by nothing, and the export published it, stale, green."""
    if not export.query:
        return []
    built = {
        (ref.schema.casefold(), ref.name.casefold()): name
        for name, ref in models.items()
        if not ref.ephemeral
    }
    schemas = {schema for schema, _ in built}
    found = set()
    for schema, table in sorted(relations_read(sql, project.platform.warehouse.target)):
        if (schema, table) in built:
            found.add(built[schema, table])
        elif schema in schemas:
            raise ConfigError(
                f"{project.export_file(export.name)}: query: reads {schema}.{table}, which no "
                f"dbt model, seed or snapshot builds (a model renamed or removed leaves its "
                "table behind, which nothing rebuilds or checks); expected a relation dbt builds "
                f"in {schema}, read with {{{{ ref('<model>') }}}}, or a table outside dbt's "
                f"schemas ({', '.join(sorted(schemas))})"
            )
    return sorted(found)


def raw_partition_mapping(
    project: ProjectConfig, export: ExportConfig, table: TableConfig
) -> dg.PartitionMapping | None:
    """Which partitions of a raw table each partition of the export reads: a per-tenant
    export's tenant reads its tenant's partition of a tenant-scoped table; a day, or another
    export's partition, reads them all (Dagster's default, when both are partitioned, maps
    equal keys: a tenant's key is no day). None: one side is not partitioned (all of it)."""
    if partitions_for(project, table) is None or export_partitions(project, export) is None:
        return None
    if export.per_tenant and table.tenant_column:
        return dg.IdentityPartitionMapping()
    return dg.AllPartitionMapping()


def build_export_asset(
    project: ProjectConfig, export: ExportConfig, models: dict[str, ModelRef]
) -> dg.AssetsDefinition:
    relations = {name: model.relation for name, model in models.items()}
    sql = export_sql(model=export.model, query=export.query, relations=relations)
    raw_deps = raw_table_deps(project, export, sql)
    upstream_models = sorted({*export.upstream_models, *models_read(project, export, sql, models)})
    if export.query and not upstream_models and not raw_deps:
        raise ConfigError(
            f"{project.export_file(export.name)}: query: reads no dbt model and no raw table: "
            "expected the models it reads named with {{ ref('model') }} (or in 'depends_on'), "
            "or the raw tables it reads, with {{ source('source', 'table') }} or by their "
            "names (raw_<source>.<table>), so that their checks gate the export and their "
            "updates trigger it"
        )
    key = dg.AssetKey(["export", export.name])
    kinds = {export.format, project.platform.warehouse.target}
    if is_gcs_url(project.exports_url):
        kinds.add("gcs")

    @dg.asset(
        key=key,
        group_name="exports",
        deps=[*(models[name].asset_key for name in upstream_models), *raw_deps],
        kinds=kinds,
        description=export.description or f"{export.name} published to the export store",
        partitions_def=export_partitions(project, export),
        # Runs of one export queue behind each other (the instance's `concurrency: pools:
        # default_limit: 1`): two publications of a partition at once would mix their files.
        pool=export_pool(export.name),
        metadata={
            "format": export.format,
            "compression": export.file_compression,
            "partitioning": export.partitioning.by,
            "partition_column": export.partitioning.column or "-",
            "frequency": export.frequency,
            "retention": export.retention or "all",
            "sql": dg.MetadataValue.md(f"```sql\n{sql}\n```"),
            "enabled": export.enabled,
        },
        # A per_tenant export follows its schedule, for the tenants active then: an eager
        # condition would republish every tenant's partition, deactivated ones included.
        automation_condition=FOLLOWS_LOADS if export.enabled and not export.per_tenant else None,
    )
    def export_asset(
        context: dg.AssetExecutionContext,
        config: ExportRunConfig,
        warehouse: WarehouseResource,
        export_store: ExportStoreResource,
        sources: SourcesResource,
        landing: LandingStoreResource,
    ) -> dg.MaterializeResult:
        # Before anything is published: a blocking check gates what follows it within one run
        # only, and schedules and automation run loads, models and exports apart.
        upstream = upstream_failures(context, key)
        tenant = None
        if export.per_tenant:
            tenant = tenant_to_export(
                current_tenants(project, sources),
                context.partition_key,
                project.tenants.registry,
            )
            day = datetime.now(UTC).date()
        elif context.has_partition_key:
            day = date.fromisoformat(context.partition_key)
        else:
            day = datetime.now(UTC).date()
        # A per-tenant export reads its tenant's partitions; any other, every partition.
        reads = context.partition_key if export.per_tenant else None
        by_day = context.has_partition_key and not export.per_tenant
        upstream = replace(
            upstream,
            unloaded=unloaded_partitions(context, key, reads),
            # A day's partition: the models must have been built since the day ended, and the
            # raw tables loaded since, where their schedules fell due.
            behind=models_behind_day(context, key, day) if by_day else [],
            loads_behind=(
                loads_behind_day(context, key, day, table_schedules(project)) if by_day else []
            ),
        )

        def publish():
            # The pool's claim can be won by two runs at one instant (a SQLite Dagster
            # instance): the warehouse's lock, where it has one, holds the second too.
            with (
                warehouse.open() as wh,
                wh.one_at_a_time(export_pool(export.name)),
                wh.one_snapshot(),  # the gate's reads and the query see the same loads
            ):
                # Just before the query: a load committing meanwhile is owed its check.
                gated = replace(
                    upstream,
                    checks=held_gone_failures(upstream.checks, wh),
                    unchecked=unchecked_loads(context, key, wh),
                    recorded=recorded_failures(context, key, wh, upstream.checks),
                )
                found = gated.problems()
                if found and not config.publish_despite_failures:
                    raise dg.Failure(
                        description=refusal(export.name, context.op_def.name, gated),
                        allow_retries=False,
                    )
                for problem in found:
                    context.log.warning(f"published despite: {problem}")
                return found, run_export(
                    export,
                    sql=sql,
                    day=day,
                    warehouse=wh,
                    store=export_store.open(tenant and project.tenant_store_url(export, tenant)),
                    asset=key.to_user_string(),
                    batch_rows=project.platform.batch_rows,
                    tenant=tenant,
                    # where a warehouse that unloads (Redshift) writes the files first
                    landing=landing.open(),
                    export_file=project.export_file(export.name),
                )

        found, outcome = with_retries(context, project.platform.automation.retries, publish)
        for publication in outcome.publications:
            context.log.info(
                f"published {publication.manifest.row_count} rows to {publication.uri}"
            )
        if outcome.removed:
            why = (
                "values no longer in the result"
                if export.partitioning.by == "column"
                else "retention"
            )
            context.log.info(f"removed {', '.join(outcome.removed)} ({why})")
        columns = outcome.publications[0].manifest.columns if outcome.publications else []
        overridden = {"published_despite": dg.MetadataValue.md("\n".join(found))} if found else {}
        return dg.MaterializeResult(
            metadata={
                **overridden,
                "dagster/row_count": outcome.row_count,
                "dagster/column_schema": column_schema([(c.name, c.type) for c in columns]),
                "uri": dg.MetadataValue.path(outcome.uri),
                "partitions": ", ".join(p.manifest.partition for p in outcome.publications) or "-",
                "files": outcome.files,
                "bytes": outcome.bytes,
                "partitions_removed": ", ".join(outcome.removed) or "-",
                "query": dg.MetadataValue.md(f"```sql\n{outcome.sql}\n```"),
            }
        )

    return export_asset


def export_schedule(project: ProjectConfig, export: ExportConfig) -> dg.ScheduleDefinition:
    key = dg.AssetKey(["export", export.name])
    partitions = export_partitions(project, export)

    @dg.schedule(
        name=f"{export.name}_schedule",
        cron_schedule=cron_for(export.frequency),
        execution_timezone=export.timezone,
        job_name=ASSET_JOB,
        default_status=default_status(project)[0],
        description=f"Publishes {export.name} ({export.frequency})",
    )
    def schedule(context: dg.ScheduleEvaluationContext, sources: SourcesResource):
        if export.per_tenant:
            return [
                dg.RunRequest(run_key=tenant_key, asset_selection=[key], partition_key=tenant_key)
                for tenant_key in active_keys(scheduled_tenants(project, sources, context))
            ]
        if partitions is None:
            return dg.RunRequest(asset_selection=[key])
        published = context.instance.get_materialized_partitions(key)
        days = days_to_publish(export, context.scheduled_execution_time, published)
        if not days:
            return dg.SkipReason(f"no complete day since {export.partitioning.start_date}")
        return [
            dg.RunRequest(run_key=day, asset_selection=[key], partition_key=day)
            for day in (d.isoformat() for d in days)
        ]

    return schedule


def days_to_publish(
    export: ExportConfig, at: datetime, published: Collection[str] = ()
) -> list[date]:
    """The days (partitions are UTC days) a date-partitioned export's tick at `at` publishes:
    the last complete day, and every day completed since the schedule's previous tick, or since
    the newest day `published` (the partitions materialized) where that is earlier. The last
    complete day alone left the days between two ticks further apart than a day unpublished:
    a weekday schedule never published Friday or Saturday. The previous tick alone, as the
    schedule is now, left a day unpublished after the schedule's frequency or timezone was
    edited (weekdays made daily on a Saturday: Friday's day)."""
    last = at.astimezone(UTC).date() - timedelta(days=1)
    cron = cron_for(export.frequency)
    previous = next(reverse_cron_string_iterator(at.timestamp() - 1, cron, export.timezone))
    # The previous tick published up to the day before its own (UTC) date.
    first = min(previous.astimezone(UTC).date(), last)
    newest = max((day for day in map(date.fromisoformat, published) if day <= last), default=None)
    if newest is not None:
        first = min(first, newest + timedelta(days=1))
    first = max(first, export.partitioning.start_date)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def build_export_defs(project: ProjectConfig, models: dict[str, ModelRef]) -> dg.Definitions:
    readable = {name for name, ref in models.items() if not ref.ephemeral}
    for export in project.exports:
        for name in export.upstream_models:
            if name in readable:
                continue
            key = "model" if export.model else "depends_on"
            if name in REF.findall(export.query or ""):
                key = "query"
            where = f"{project.export_file(export.name)}: {key}"
            if name in models:
                raise ConfigError(
                    f"{where}: dbt model '{name}' is ephemeral: dbt builds no table or view of "
                    "it to read (it inlines it into the models that read it); expected a model "
                    "materialized as a view, table or incremental model, or a seed or snapshot"
                )
            raise ConfigError(
                f"{where}: no dbt model, seed or snapshot named '{name}'; expected one of "
                f"{', '.join(sorted(readable))}"
            )
    return dg.Definitions(
        assets=[build_export_asset(project, export, models) for export in project.exports],
        schedules=[
            export_schedule(project, export) for export in project.exports if export.enabled
        ],
    )
