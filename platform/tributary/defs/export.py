"""Export assets: key ["export", <name>], publishing a model or query to the export store."""

from datetime import UTC, datetime

import dagster as dg

from tributary.config import ConfigError, ExportConfig, ProjectConfig
from tributary.defs.automation import FOLLOWS_LOADS
from tributary.defs.resources import ExportStoreResource, WarehouseResource
from tributary.defs.transform import ModelRef
from tributary.exports.query import export_sql


def build_export_asset(
    project: ProjectConfig, export: ExportConfig, models: dict[str, ModelRef]
) -> dg.AssetsDefinition:
    relations = {name: model.relation for name, model in models.items()}
    sql = export_sql(model=export.model, query=export.query, relations=relations)
    key = dg.AssetKey(["export", export.name])

    @dg.asset(
        key=key,
        group_name="exports",
        deps=[models[name].asset_key for name in export.upstream_models],
        kinds={export.format, project.platform.warehouse.target},
        description=export.description or f"{export.name} published to the export store",
        metadata={"format": export.format, "frequency": export.frequency, "sql": sql},
        automation_condition=FOLLOWS_LOADS if export.enabled else None,
    )
    def export_asset(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        export_store: ExportStoreResource,
    ) -> dg.MaterializeResult:
        partition = f"dt={datetime.now(UTC):%Y-%m-%d}"
        with warehouse.open() as wh, wh.read(sql, batch_rows=project.platform.batch_rows) as rows:
            published = export_store.open().publish(
                rows,
                export=export.name,
                partition=partition,
                asset=key.to_user_string(),
                file_format=export.format,
            )
        context.log.info(f"published {published.manifest.row_count} rows to {published.uri}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": published.manifest.row_count,
                "uri": dg.MetadataValue.path(published.uri),
                "partition": partition,
                "files": len(published.manifest.files),
                "bytes": sum(f.bytes for f in published.manifest.files),
            }
        )

    return export_asset


def build_export_defs(project: ProjectConfig, models: dict[str, ModelRef]) -> dg.Definitions:
    for export in project.exports:
        for name in export.upstream_models:
            if name not in models:
                raise ConfigError(
                    f"exports/{export.name}.yaml: {'model' if export.model else 'depends_on'}: "
                    f"no dbt model named '{name}'; expected one of {', '.join(sorted(models))}"
                )
    return dg.Definitions(
        assets=[build_export_asset(project, export, models) for export in project.exports]
    )
