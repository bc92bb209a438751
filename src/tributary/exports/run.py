"""One run of an export, plain Python: read the partition's rows from the warehouse as a stream,
publish them to the export store, then apply retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tributary.config.models import ExportConfig
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


def run_export(
    export: ExportConfig,
    *,
    sql: str,
    day: date,
    warehouse: Warehouse,
    store: ExportStore,
    asset: str,
    batch_rows: int,
) -> ExportOutcome:
    """Publish `export` for `day`: the daily partition's day, or the run's date (UTC).
    `sql` is the export's query with its refs resolved."""
    query = partition_sql(export, sql, day)
    options = dict(
        export=export.name,
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
    removed = store.apply_retention(export.name, export.retention) if export.retention else []
    return ExportOutcome(
        sql=query,
        folder=store.uri(store.export_dir(export.name)),
        publications=publications,
        removed=removed,
    )
