"""One run of an export, plain Python: read the partition's rows from the warehouse as a stream,
publish them to the export store, then apply retention (or, partitioned by a column, remove
the folders of values the result no longer holds). Where the warehouse writes files
itself (Redshift's UNLOAD), it writes them into the landing store and they are copied over
(exports/unload.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from itertools import chain

import pyarrow as pa

from tributary.config.models import ExportConfig, Tenant
from tributary.errors import ExportError, RepeatedColumns
from tributary.exports.formats import FileFormat, refuse_repeated_names
from tributary.exports.query import first_cut_name, for_day, partition_sql
from tributary.exports.store import (
    DATE_KEY,
    TENANT_KEY,
    ExportManifest,
    ExportStore,
    Publication,
    date_partition,
)
from tributary.exports.unload import publish_unloaded
from tributary.landing import LandingStore
from tributary.names import listed
from tributary.warehouse import Warehouse


@dataclass(frozen=True)
class ExportOutcome:
    sql: str  # what ran, parameters rendered
    folder: str  # the export's folder in the store, as a URL
    publications: list[Publication]
    removed: list[str]  # partitions retention removed, or (by: column) values now absent

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


def export_folder(export: ExportConfig, tenant: Tenant | None) -> str:
    """The export's folder in its store: <name>, or <name>/tenant=<alias> for one tenant's
    rows in the shared exports store."""
    if tenant is None or export.tenant_url is not None:
        return export.name
    return f"{export.name}/{TENANT_KEY}={tenant.alias}"


def layout_key(export: ExportConfig) -> str:
    """The key of the export's partition folders: `dt`, or the column of a by-column export."""
    if export.partitioning.by == "column":
        assert export.partitioning.column is not None
        return export.partitioning.column
    return DATE_KEY


def layout_folders(export: ExportConfig, tenant: Tenant | None) -> list[tuple[str, str]]:
    """The folders a run of the export (for `tenant`) publishes under, each with the only key
    its partition folders may have: the export's folder and its partitioning's key; for one
    tenant's folder in the shared store, <name>/tenant=<alias>, also <name> and `tenant`."""
    folders = [(export_folder(export, tenant), layout_key(export))]
    if tenant is not None and export.tenant_url is None:
        folders.append((export.name, TENANT_KEY))
    return folders


def stored_layout_folders(export: ExportConfig, store: ExportStore) -> list[tuple[str, str]]:
    """layout_folders of every run of the export, as the exports store holds them, for
    tributary check (which reads no tenant registry): a per_tenant export's <name> and each
    tenant=<alias> folder under it. Tenants' own stores (tenant_url) are not looked at: their
    runs refuse what they find."""
    if not export.per_tenant:
        return layout_folders(export, None)
    if export.tenant_url is not None:
        return []
    tenants = store.partitions(export.name, key=TENANT_KEY, sealed_only=False)
    return [
        (export.name, TENANT_KEY),
        *((f"{export.name}/{folder}", layout_key(export)) for folder in tenants),
    ]


def layout_problems(
    export: ExportConfig, store: ExportStore, folders: list[tuple[str, str]]
) -> list[str]:
    """For each of `folders` (layout_folders) holding partition folders of another key than
    its own, what they are: what an earlier partitioning left (region=EU beside dt=...). A
    reader of the export's folder would read their rows beside the new ones, and neither
    retention nor the removal of absent values may delete them: they are not this layout's
    (nor, perhaps, data that can be made again). The run refuses them (check_layout), and
    tributary check names them."""
    problems = []
    for folder, expected in folders:
        if others := store.other_layouts(folder, expected):
            problems.append(
                f"{store.uri(store.export_dir(folder))} holds folders of another partitioning "
                f"({', '.join(others)}); expected only {expected}=... folders there: a reader "
                "of the export would read their rows beside the new ones (twice, after a "
                "renamed column), and they would count among its partitions. Likely left by "
                "an earlier partitioning of this export: move them elsewhere (or delete them)"
            )
    return problems


def check_layout(
    export: ExportConfig, store: ExportStore, tenant: Tenant | None, *, export_file: str | None
) -> None:
    """Fail, before anything is published, where the export's folders hold partition folders
    of another key than its partitioning's (layout_problems). `export_file` names the file
    the export was read from (ProjectConfig.export_file)."""
    if problems := layout_problems(export, store, layout_folders(export, tenant)):
        raise ExportError(
            f"{export_file or f'export {export.name!r}'}: partitioning: {problems[0]}, then "
            "run the export again; nothing was published"
        )


def partitioning_label(export: ExportConfig) -> str:
    """How the export is partitioned, as its manifests record it: `run_date`, `date on <column>`
    or `column <column>`."""
    by, column = export.partitioning.by, export.partitioning.column
    if by == "column":
        return f"column {column}"
    return f"date on {column}" if by == "date" and column else by


def newest_manifest(store: ExportStore, folder: str, key: str) -> tuple[str, ExportManifest] | None:
    """The folder's newest partition of `key` that holds a manifest, and the manifest: one read,
    past any attempt a killed run left unsealed. Every partition of a folder was published by
    one tenant and one partitioning, as check_newest_partition keeps it."""
    for partition in reversed(store.partitions(folder, sealed_only=False, key=key)):
        try:
            return partition, store.read_manifest(folder, partition)
        except FileNotFoundError:
            continue
    return None


def partitioning_problem(
    export: ExportConfig, store: ExportStore, folder: str, partition: str, manifest: ExportManifest
) -> str | None:
    """What is wrong where `folder`'s newest partition (`manifest`) was published partitioned
    otherwise than the export is now. `by: run_date` and `by: date` both name their folders
    dt=...: a switch between them (or to another date column) left the old folders beside the
    new days, a day's folder to a reader (one of run_date holding the whole result), and
    retention counted them among the newest days and removed the new ones (layout_problems
    tells folders of other keys apart). A partition published before manifests recorded the
    partitioning is not compared."""
    configured = partitioning_label(export)
    if manifest.partitioning in (None, configured):
        return None
    return (
        f"{store.uri(store.export_dir(folder))} holds partitions published partitioned by "
        f"{manifest.partitioning} ({partition}, the newest), and the export is partitioned by "
        f"{configured}: a reader of the export would read their rows beside the new ones as "
        "days, and retention would count them among the newest days. Likely left by an "
        "earlier partitioning of this export: move them elsewhere (or delete them)"
    )


def stored_partitioning_problems(export: ExportConfig, store: ExportStore) -> list[str]:
    """partitioning_problem of each folder of the export the store holds (stored_layout_folders),
    for tributary check."""
    key, problems = layout_key(export), []
    for folder, expected in stored_layout_folders(export, store):
        newest = newest_manifest(store, folder, key) if expected == key else None
        if newest and (problem := partitioning_problem(export, store, folder, *newest)):
            problems.append(problem)
    return problems


def check_newest_partition(
    export: ExportConfig, store: ExportStore, tenant: Tenant | None, *, export_file: str | None
) -> None:
    """Fail, before anything is published, where the folder's newest partition was published
    by another tenant or another partitioning (partitioning_problem); one manifest is read. A
    per-tenant export's folder (or its own store's) is named by the tenant's alias: an alias
    one tenant gave up and another took led the new tenant's readers to the first one's rows,
    kept by retention. A partition published before manifests recorded the tenant is not
    compared."""
    folder = export_folder(export, tenant)
    named = export_file or f"export {export.name!r}"
    newest = newest_manifest(store, folder, layout_key(export))
    if newest is None:
        return
    partition, manifest = newest
    if tenant is not None and manifest.tenant_id not in (None, tenant.key):
        raise ExportError(
            f"{named}: tenant {tenant.key} "
            f"({tenant.alias}): {store.uri(store.export_dir(folder))} holds partitions "
            f"tenant {manifest.tenant_id} published ({partition}, when the alias "
            f"'{tenant.alias}' was its), which tenant {tenant.key}'s readers would read as "
            f"theirs; move that folder away (it is tenant {manifest.tenant_id}'s), or give "
            f"tenant {tenant.key} an alias of its own; nothing was published"
        )
    if problem := partitioning_problem(export, store, folder, partition, manifest):
        raise ExportError(
            f"{named}: partitioning: {problem}, then run the export again; nothing was published"
        )


def check_retention(
    export: ExportConfig, store: ExportStore, folder: str, day: date, *, export_file: str | None
) -> None:
    """Fail, before anything is published, where the day's partition is older than the
    `retention` newest the folder holds with it (a backfill of an old day): retention removed
    it as soon as it was published, and the run said it had published it."""
    if not export.retention or export.partitioning.by == "column":
        return
    partition = date_partition(day)
    kept = sorted({*store.partitions(folder, key=DATE_KEY), partition})[-export.retention :]
    if partition not in kept:
        raise ExportError(
            f"{export_file or f'export {export.name!r}'}: retention: {export.retention}: "
            f"{partition} is older than the {export.retention} newest days published (from "
            f"{kept[0]}): retention would remove it as soon as it was published. Raise "
            "retention to publish it; nothing was published"
        )


def empty_refusal(
    export: ExportConfig, store: ExportStore, folder: str, day: date, *, export_file: str | None
) -> str | None:
    """Why an empty result may not be published now, where the publication it replaces holds
    rows: the newest snapshot (`by: run_date`: readers take the newest as current), the day's
    own partition (`by: date`: a day of no rows is published), or any folder of the column
    (`by: column`: the empty result would remove them all). None if `allow_empty`."""
    if export.allow_empty:
        return None
    by = export.partitioning.by
    if by == "column":
        values = store.partitions(folder, key=export.partitioning.column)
        held = f"{store.uri(store.export_dir(folder))} holds {len(values)} folders"
        replaced = held if values else None
    else:
        if by == "date":
            partition = date_partition(day)
            known = partition in store.partitions(folder, key=DATE_KEY)
            newest = (partition, store.read_manifest(folder, partition)) if known else None
            role = ""
        else:
            newest, role = newest_manifest(store, folder, DATE_KEY), " as the newest"
        replaced = None
        if newest is not None and newest[1].row_count:
            where = store.uri(store.partition_dir(folder, newest[0]))
            replaced = f"the partition it replaces{role} ({where}) holds {newest[1].row_count} rows"
    if replaced is None:
        return None
    return (
        f"{export_file or f'export {export.name!r}'}: the result is empty, and {replaced}: "
        "nothing was published. A table emptied by mistake (by hand, or a model whose build "
        "selected nothing) would empty it for every reader; if an empty result is right, set "
        "`allow_empty: true` on the export"
    )


def check_result_columns(
    export: ExportConfig, sql: str, day: date, warehouse: Warehouse, *, export_file: str | None
) -> None:
    """Before the query is wrapped (per tenant, by its partitioning), its result's own names:
    - one name twice (ignoring case): the wrapped query's would not say so on DuckDB, which
      renames the second (`ID` to `ID_1`) and published it so;
    - the partitioning column as the result spells it, on every warehouse alike: spelled in
      another case (`Region` for `region`) it was one name to DuckDB (which took `by: date`
      with it) and none to PostgreSQL (UndefinedColumn, naming neither file nor key)."""
    column = export.partitioning.column
    if column is None and not export.per_tenant:
        return  # not wrapped: the read itself refuses a name given twice
    names = warehouse.result_names(for_day(export, sql, day, warehouse.quote_string))
    refuse_repeated_names(names)
    if column is not None and column not in names:
        described = "the query's result" if export.query else f"model '{export.model}'"
        raise ExportError(
            f"{export_file or f'export {export.name!r}'}: partitioning.column: column "
            f"'{column}' not found in {described} ({listed(names)}); expected it spelled as "
            "the result spells it"
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
    tenant: Tenant | None = None,
    landing: LandingStore | None = None,
    export_file: str | None = None,
) -> ExportOutcome:
    """Publish `export` for `day`: the daily partition's day, or the run's date (UTC).
    `sql` is the export's query with its refs resolved; a per_tenant export publishes
    `tenant`'s rows (into `store`: the tenant's own, ProjectConfig.tenant_store_url, when the
    export has a template). Given the `landing` store, a warehouse that `unloads` writes the
    files itself there (not for `by: column` partitions, which are split from the ordered
    stream here). `export_file` names the export's file in errors of its configuration."""
    # Where a problem of the query's result is configured: the export's file and key.
    where = f"{export_file or f'export {export.name!r}'}: {'query' if export.query else 'model'}"
    with store.answering():
        folder = export_folder(export, tenant)
        check_layout(export, store, tenant, export_file=export_file)
        check_newest_partition(export, store, tenant, export_file=export_file)
        check_retention(export, store, folder, day, export_file=export_file)
        query = partition_sql(export, sql, day, tenant=tenant, quote=warehouse.quote_string)
        if cut := first_cut_name(query, warehouse):
            name, problem = cut
            raise ExportError(
                f"{where}: the query names '{name}': {problem} (it would cut the rest without "
                "a word, and publish the cut name); alias it shorter in the query"
            )

        def if_empty() -> None:
            if refusal := empty_refusal(export, store, folder, day, export_file=export_file):
                raise ExportError(refusal)

        try:
            check_result_columns(export, sql, day, warehouse, export_file=export_file)
            if warehouse.unloads and landing is not None and export.partitioning.by != "column":
                publications = [
                    publish_unloaded(
                        if_empty=if_empty,
                        export=folder,
                        query=query,
                        partition=date_partition(day),
                        warehouse=warehouse,
                        landing=landing,
                        store=store,
                        asset=asset,
                        file_format=file_format(export),
                        tenant_id=tenant.key if tenant else None,
                        partitioning=partitioning_label(export),
                    )
                ]
            else:
                with warehouse.read(query, batch_rows=batch_rows) as batches:
                    batches = on_empty(batches, if_empty)
                    publications = _publish_stream(
                        export, folder, query, day, batches, store, asset, tenant
                    )
        except RepeatedColumns as error:
            raise ExportError(f"{where}: {error}") from None
        if export.partitioning.by == "column":
            present = [publication.manifest.partition for publication in publications]
            removed = store.remove_absent_values(folder, export.partitioning.column, present)
        else:
            removed = store.apply_retention(folder, export.retention) if export.retention else []
    return ExportOutcome(
        sql=query,
        folder=store.uri(store.export_dir(folder)),
        publications=publications,
        removed=removed,
    )


def _publish_stream(
    export: ExportConfig,
    folder: str,
    query: str,
    day: date,
    batches: pa.RecordBatchReader,
    store: ExportStore,
    asset: str,
    tenant: Tenant | None,
) -> list[Publication]:
    options = dict(
        export=folder,
        asset=asset,
        file_format=file_format(export),
        rows_per_file=export.rows_per_file,
        sql=query,
        tenant_id=tenant.key if tenant else None,
        partitioning=partitioning_label(export),
    )
    if export.partitioning.by == "column":
        return store.publish_by_column(batches, column=export.partitioning.column, **options)
    return [store.publish(batches, partition=date_partition(day), **options)]


def on_empty(batches: pa.RecordBatchReader, if_empty: Callable[[], None]) -> pa.RecordBatchReader:
    """The stream as it comes, once a row has come; where none comes, `if_empty` is called
    first (it raises to refuse the empty result). Batches of no rows before the first row are
    dropped."""
    for batch in batches:
        if batch.num_rows:
            return pa.RecordBatchReader.from_batches(batches.schema, chain([batch], batches))
    if_empty()
    return pa.RecordBatchReader.from_batches(batches.schema, [])
