"""Raw table assets: one per configured source table, key ["raw", <source>, <table>].

Tenant-scoped tables are partitioned by tenant (tenants.yaml's active tenants, or its
registry's: see defs/tenants.py); tables with key_ranges by ranges of their key, so a backfill
runs as resumable pieces.
"""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from tributary.config.loader import ProjectConfig
from tributary.config.models import SourceConfig, TableConfig
from tributary.defs.checks import build_freshness_checks, load_check_results, raw_check_specs
from tributary.defs.metadata import table_metadata
from tributary.defs.observe import SOURCE_CHANGED, source_asset_key
from tributary.defs.resources import LandingStoreResource, WarehouseResource
from tributary.defs.retries import with_retries
from tributary.defs.sources import SourcesResource
from tributary.defs.tenants import tenant_partitions, tenants_to_load
from tributary.ingest import future_cursor_warning, ingest_table, load_from_inbox
from tributary.reconcile import returned_text
from tributary.slices import partition_keys, slice_for
from tributary.tenants import bound_settings


def raw_asset_key(source: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source, table])


def raw_table_of(key: dg.AssetKey) -> tuple[str, str]:
    """(source, table) of a raw table's asset key (raw_asset_key)."""
    _, source, table = key.path
    return source, table


def raw_pool(source: str, table: str) -> str:
    return f"raw/{source}/{table}"


def partitions_for(project: ProjectConfig, table: TableConfig) -> dg.PartitionsDefinition | None:
    if table.tenant_column:
        return tenant_partitions(project)
    keys = partition_keys(table, [])
    return dg.StaticPartitionsDefinition(keys) if keys is not None else None


class RawLoadConfig(dg.Config):
    inbox_load_id: str | None = Field(
        default=None,
        description="load this manifest from the landing inbox instead of reading the source",
    )
    full_refresh: bool = Field(
        default=False,
        description="an incremental table: read it whole and replace it (or its partition), "
        "as a full load does; brings back in line what no cursor sees (rows deleted in the "
        "source, Salesforce formula fields)",
    )


# Inferred once, not by each table's decorator from a `config: RawLoadConfig` parameter (that
# inference was a fifth of the time to build 1000 raw assets).
RAW_LOAD_CONFIG_SCHEMA = RawLoadConfig.to_fields_dict()
# The op's outputs, as `@dg.asset` makes them for a function returning MaterializeResult: the
# asset's (no value: Nothing) and one per check spec (Any, as the decorator infers it; named,
# so that Dagster does not infer it again for each table's each check). Made once: each makes
# Dagster resolve a type.
_RESULT_OUT = dg.Out(dg.Nothing)
_CHECK_OUT = dg.Out(dg.Any)


def freshness_for(source: SourceConfig, table: TableConfig) -> dg.FreshnessPolicy | None:
    window = table.freshness or source.freshness
    return dg.FreshnessPolicy.time_window(fail_window=window) if window else None


def raw_asset_spec(
    project: ProjectConfig, source: SourceConfig, table: TableConfig
) -> dg.AssetSpec:
    observed = source.observes(table)
    return dg.AssetSpec(
        raw_asset_key(source.name, table.name),
        deps=[source_asset_key(source.name, table.name)] if observed else [],
        automation_condition=SOURCE_CHANGED if observed else None,
        group_name=source.name,
        kinds={source.kind, project.platform.warehouse.target},
        description=table.description or f"{table.read_object} from {source.name}",
        partitions_def=partitions_for(project, table),
        freshness_policy=freshness_for(source, table),
        metadata={
            "load_mode": table.mode,
            "primary_key": ", ".join(table.primary_key) or "-",
            "cursor": table.cursor or "-",
            "source_object": "custom query" if table.query else table.read_object,
            "enabled": table.enabled,
            "null_cursor": table.null_cursor if table.mode == "incremental" else "-",
            "schema_contract": source.contract_for(table),
            "refresh": source.refresh_for(table),
        },
    )


def build_raw_asset(
    project: ProjectConfig, source: SourceConfig, table: TableConfig
) -> dg.AssetsDefinition:
    """The table's asset, op and step: what `@dg.asset(key=..., check_specs=..., pool=...,
    config_schema=..., required_resource_keys=...)` builds (tests/unit/test_definitions.py
    compares the two), put together from its parts: the decorator inspects the function's
    signature and types for each table, which made 1000 tables take 1.9 ms each."""
    spec = raw_asset_spec(project, source, table)
    checks = {
        f"{spec.key.to_python_identifier()}_{check.name}": check
        for check in raw_check_specs(spec.key, table)
    }

    def raw_table(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        config = RawLoadConfig(**context.op_config)
        if config.full_refresh and config.inbox_load_id:
            raise dg.Failure(
                "full_refresh reads the source again; an inbox load (inbox_load_id) loads a "
                "drop: ask for one or the other"
            )
        warehouse: WarehouseResource = context.resources.warehouse
        landing: LandingStoreResource = context.resources.landing
        sources: SourcesResource = context.resources.sources
        where = None
        if context.has_partition_key:
            tenants = (
                tenants_to_load(project, sources, warehouse, context.partition_key)
                if table.tenant_column
                else []
            )
            where = slice_for(
                table,
                context.partition_key,
                tenants,
                source=source.name,
                bound=bound_settings(project),
                registry=project.tenants.registry,
            )

        reader = None if config.inbox_load_id else sources.open(source, state_dir=project.state_dir)
        with warehouse.open() as wh:

            def load_table():
                if reader is None:
                    return load_from_inbox(
                        source,
                        table,
                        config.inbox_load_id,
                        inbox=landing.open().inbox(),
                        warehouse=wh,
                        where=where,
                        source_file=project.source_file(source.name),
                    )
                return ingest_table(
                    source,
                    table,
                    reader=reader,
                    landing=landing.open(),
                    warehouse=wh,
                    batch_rows=project.platform.batch_rows,
                    where=where,
                    full_refresh=config.full_refresh,
                    source_file=project.source_file(source.name),
                )

            load = with_retries(context, project.platform.automation.retries, load_table)
            # The blocking checks of this load, in the same warehouse session (an inbox
            # load has no source to count: its landed files are what it is compared with).
            check_results = load_check_results(table, load, reader=reader, warehouse=wh)
        outcome = load.outcome
        context.log.info(
            f"{outcome.table_name}: {load.manifest.row_count} rows landed, "
            f"{outcome.rows_in_table} in table"
        )
        if load.whole_because:
            context.log.warning(f"{outcome.table_name} read whole: {load.whole_because}")
        future = future_cursor_warning(load)
        if future:
            context.log.warning(future)
        for note in load.notes:
            context.log.warning(f"{outcome.table_name}: {note}")
        cleanup = load.landing_cleanup
        if cleanup.removed:
            context.log.info(f"landing retention removed {', '.join(cleanup.removed)}")
        if cleanup.error:
            context.log.warning(f"landing retention stopped (the load stands): {cleanup.error}")
        yield dg.MaterializeResult(
            metadata={
                **table_metadata(outcome.table_name, outcome.columns),
                "dagster/row_count": outcome.rows_in_table,
                "rows_loaded": load.manifest.row_count,
                "mode": load.manifest.mode,
                "load_id": load.manifest.load_id,
                "landing_path": dg.MetadataValue.path(load.landing_uri),
                "read_from": str(load.since) if load.since is not None else "-",
                **({"read_whole_because": load.whole_because} if load.whole_because else {}),
                **({"read_notes": "\n".join(load.notes)} if load.notes else {}),
                "watermark": str(outcome.watermark) if outcome.watermark is not None else "-",
                "columns_added": ", ".join(outcome.added_columns) or "-",
                "columns_missing": ", ".join(outcome.missing_columns) or "-",
                "columns_widened": ", ".join(outcome.widened_columns) or "-",
                "columns_returned": returned_text(outcome),
                "duplicate_keys_repaired": outcome.duplicate_keys_repaired,
                "duplicate_keys_read": outcome.repeated_keys.keys,
                "landing_folders_removed": len(cleanup.removed),
                **({"tenant_settings": where.settings_text} if where and where.settings else {}),
                **({"landing_cleanup_error": cleanup.error} if cleanup.error else {}),
                **{name: count for name, count in load.manifest.counters.items()},
                **({"future_cursor_max": load.manifest.cursor.max} if future else {}),
            },
            check_results=check_results,
        )

    op = dg.OpDefinition(
        compute_fn=lambda context, _inputs: raw_table(context),  # (context, inputs) -> events
        name=spec.key.to_python_identifier(),
        outs={"result": _RESULT_OUT, **{name: _CHECK_OUT for name in checks}},
        config_schema=RAW_LOAD_CONFIG_SCHEMA,
        required_resource_keys={"warehouse", "landing", "sources"},
        # Loads of one table queue behind each other across runs (the instance's
        # `concurrency: pools: default_limit: 1`); the warehouse also locks the table itself.
        pool=raw_pool(source.name, table.name),
    )

    return dg.AssetsDefinition(
        keys_by_input_name={},
        keys_by_output_name={"result": spec.key},
        node_def=op,
        specs=[spec],
        check_specs_by_output_name=checks,
    )


def build_ingest_defs(project: ProjectConfig) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            build_raw_asset(project, source, table)
            for source in project.sources
            for table in source.tables
        ],
        asset_checks=[
            build_freshness_checks(
                project, source, {t.name: raw_asset_key(source.name, t.name) for t in source.tables}
            )
            for source in project.sources
            if source.tables
        ],
    )
