"""Raw table assets: one per configured source table, key ["raw", <source>, <table>]."""

import dagster as dg

from tributary.config import ProjectConfig, SourceConfig, TableConfig
from tributary.defs.metadata import table_metadata
from tributary.defs.resources import LandingStoreResource, WarehouseResource
from tributary.ingest import ingest_table
from tributary.sources import open_source


def raw_asset_key(source: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source, table])


def build_raw_asset(
    project: ProjectConfig, source: SourceConfig, table: TableConfig
) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(source.name, table.name),
        group_name=source.name,
        kinds={source.kind, project.platform.warehouse.target},
        description=table.description or f"{table.read_object} from {source.name}",
        metadata={
            "load_mode": table.mode,
            "primary_key": ", ".join(table.primary_key) or "-",
            "cursor": table.cursor or "-",
            "source_object": "custom query" if table.query else table.read_object,
            "enabled": table.enabled,
        },
    )
    def raw_table(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        landing: LandingStoreResource,
    ) -> dg.MaterializeResult:
        with warehouse.open() as wh:
            load = ingest_table(
                source,
                table,
                reader=open_source(source, state_dir=project.state_dir),
                landing=landing.open(),
                warehouse=wh,
                batch_rows=project.platform.batch_rows,
            )
        context.log.info(
            f"{load.outcome.table_name}: {load.manifest.row_count} rows landed, "
            f"{load.outcome.rows_in_table} in table"
        )
        return dg.MaterializeResult(
            metadata={
                **table_metadata(load.outcome.table_name, load.outcome.columns),
                "dagster/row_count": load.outcome.rows_in_table,
                "rows_loaded": load.manifest.row_count,
                "load_id": load.manifest.load_id,
                "landing_path": dg.MetadataValue.path(load.landing_uri),
                "watermark": str(load.outcome.watermark) if load.outcome.watermark else "-",
            }
        )

    return raw_table


def build_ingest_defs(project: ProjectConfig) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            build_raw_asset(project, source, table)
            for source in project.sources
            for table in source.tables
        ]
    )
