"""One run of an export, plain Python: read the partition's rows from the warehouse as a stream,
publish them to the export store, then apply retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tributary.config.models import ExportConfig, Tenant
from tributary.exports.formats import FileFormat
from tributary.exports.query import partition_sql
from tributary.exports.store import ExportStore, Publication, date_partition
from tributary.warehouse import Warehouse


@dataclass(frozen=True)
class ExportOutcome:
    sql: str  # what ran, parameters rendered
    folder: str  # the export's folder in the store, as a URL
    publications: list[Publication]
    removed: list[str]  # partitions retention removed

    @property
    def uri(self) -> str:
        """Where to look: the partition published, or the export's folder if several."""
        return self.publications[0].uri if len(self.publications) == 1 else self.folder

    @property
    def row_count(self) -> int:
        return sum(p.manifest.row_count for p in self.publications)

    @property
    def bytes(self) -> int:
        return sum(p.manifest.bytes for p in self.publications)

    @property
    def files(self) -> int:
        return sum(len(p.manifest.files) for p in self.publications)


def file_format(export: ExportConfig) -> FileFormat:
    options = export.csv_options
    return FileFormat(
        kind=export.format,
        compression=export.file_compression,
        header=options.header,
        delimiter=options.delimiter,
    )


def tenant_store_url(export: ExportConfig, tenant: Tenant) -> str | None:
    """A per_tenant export's store for `tenant`, from its `tenant_url` template (None: the
    exports store)."""
    if export.tenant_url is None:
        return None
    return export.tenant_url.format(alias=tenant.alias, tenant_id=tenant.key)


def export_folder(export: ExportConfig, tenant: Tenant | None) -> str:
    """The export's folder in its store: <name>, or <name>/tenant=<alias> for one tenant's
    rows in the shared exports store."""
    if tenant is None or export.tenant_url is not None:
        return export.name
    return f"{export.name}/tenant={tenant.alias}"


def run_export(
    export: ExportConfig,
    *,
    sql: str,
    day: date,
    warehouse: Warehouse,
    store: ExportStore,
    asset: str,
    batch_rows: int,
    tenant: Tenant | None = None,
) -> ExportOutcome:
    """Publish `export` for `day`: the daily partition's day, or the run's date (UTC).
    `sql` is the export's query with its refs resolved; a per_tenant export publishes
    `tenant`'s rows (into the store of tenant_store_url, when it has a template)."""
    query = partition_sql(export, sql, day, tenant=tenant)
    folder = export_folder(export, tenant)
    options = dict(
        export=folder,
        asset=asset,
        file_format=file_format(export),
        rows_per_file=export.rows_per_file,
        sql=query,
    )
    with warehouse.read(query, batch_rows=batch_rows) as batches:
        if export.partitioning.by == "column":
            publications = store.publish_by_column(
                batches, column=export.partitioning.column, **options
            )
        else:
            publications = [store.publish(batches, partition=date_partition(day), **options)]
    removed = store.apply_retention(folder, export.retention) if export.retention else []
    return ExportOutcome(
        sql=query,
        folder=store.uri(store.export_dir(folder)),
        publications=publications,
        removed=removed,
    )
