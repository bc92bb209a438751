"""Exports the warehouse writes itself (Redshift's UNLOAD): the files land in a scratch prefix
of the landing store, `<landing>/_unload/<export>/<partition>/<attempt>/`, and are streamed
object to object into the export store's attempt under _tmp/, then published by the store as
any export is (manifest with rows, bytes and sha256 per file; `_SUCCESS` last).

The scratch prefix goes once the partition is published or the run fails; one left by a killed
run goes when the partition is next exported (as the store's own dead attempts do), or, if it
never is, when any partition of the export is exported a day later.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from tributary.exports.formats import FileFormat, refuse_repeated_names
from tributary.exports.store import ExportedColumn, ExportStore, Publication
from tributary.landing import LandingStore
from tributary.landing.manifest import as_utc
from tributary.warehouse import Warehouse
from tributary.warehouse.unload import Unloaded, UnloadedColumn, UnloadFormat

UNLOAD_PREFIX = "_unload"
# An attempt whose newest file is older than this is dead: a run's UNLOAD writes its files at
# the start and the run removes them at its end, hours later at most.
STALE_AFTER = timedelta(days=1)


def unload_format(file_format: FileFormat) -> UnloadFormat:
    return UnloadFormat(
        kind=file_format.kind,
        gzip=file_format.kind == "csv" and file_format.compression == "gzip",
        header=file_format.header,
        delimiter=file_format.delimiter,
    )


def scratch_dir(landing: LandingStore, export: str, partition: str) -> str:
    """A fresh attempt's prefix (a path in the landing store). Attempts that killed runs of
    this partition left go first; other partitions' go once they are stale (a backfill's
    other days may be running beside this one)."""
    root = f"{landing.root}/{UNLOAD_PREFIX}/{export}"
    remove_prefix(landing, f"{root}/{partition}")
    remove_stale_attempts(landing, root, now=datetime.now(UTC))
    return f"{root}/{partition}/{uuid.uuid4().hex}"


def remove_stale_attempts(landing: LandingStore, root: str, *, now: datetime) -> list[str]:
    """Remove the attempts under `root` (<export>/<partition>/<attempt>/) whose newest object
    is older than STALE_AFTER: left by killed runs of partitions never run again. Returns
    them."""
    landing.fs.invalidate_cache(root)
    try:
        found = landing.fs.find(root, detail=True)
    except FileNotFoundError:
        return []
    newest: dict[str, datetime] = {}
    for path, info in found.items():
        parts = path[len(root) :].strip("/").split("/")
        modified = _modified(info)
        if len(parts) < 3 or modified is None:
            continue
        attempt = f"{root}/{parts[0]}/{parts[1]}"
        newest[attempt] = max(newest.get(attempt, modified), modified)
    stale = sorted(a for a, modified in newest.items() if now - modified > STALE_AFTER)
    for attempt in stale:
        remove_prefix(landing, attempt)
    return stale


def _modified(info: dict) -> datetime | None:
    """When an object was written, from a listing's details (s3fs: LastModified; local
    folders: mtime; in memory: created)."""
    value = info.get("LastModified") or info.get("mtime") or info.get("created")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return as_utc(value)
    return None


def remove_prefix(landing: LandingStore, path: str) -> None:
    landing.fs.invalidate_cache(path)
    with contextlib.suppress(FileNotFoundError):
        if landing.fs.exists(path):
            landing.fs.rm(path, recursive=True)


def publish_unloaded(
    *,
    export: str,
    query: str,
    partition: str,
    warehouse: Warehouse,
    landing: LandingStore,
    store: ExportStore,
    asset: str,
    file_format: FileFormat,
    tenant_id: str | None = None,
    partitioning: str | None = None,
    if_empty: Callable[[], None] | None = None,
) -> Publication:
    """UNLOAD `query` into the scratch prefix, then publish its files as `partition`
    (`tenant_id`: a per-tenant export's tenant, and `partitioning`, recorded in the
    manifest). Of an empty result, `if_empty` is called first (it raises to refuse it)."""
    scratch = scratch_dir(landing, export, partition)
    try:
        unloaded = warehouse.unload(
            query, to=landing.uri(scratch), fs=landing.fs, file_format=unload_format(file_format)
        )
        refuse_repeated_names([column.name for column in unloaded.columns])
        written = replace(file_format, compression=unloaded.compression)
        if if_empty is not None and not any(file.rows for file in unloaded.files):
            if_empty()
        if not unloaded.files:  # no rows: one file that still carries the schema, as ever
            empty = pa.RecordBatchReader.from_batches(unloaded.schema, [])
            return store.publish(
                empty, export=export, partition=partition, asset=asset,
                file_format=file_format, sql=query, tenant_id=tenant_id,
                partitioning=partitioning,
            )  # fmt: skip
        columns = unloaded.columns
        if file_format.kind == "parquet":
            columns = _checked_against_files(landing, unloaded)
        notes = list(unloaded.notes)
        if written.compression != file_format.compression:
            notes.append(
                f"compression: {written.compression} as the warehouse writes it "
                f"(configured: {file_format.compression})"
            )
        return store.publish_files(
            unloaded.files,
            fs=landing.fs,
            export=export,
            partition=partition,
            asset=asset,
            file_format=written,
            columns=[_exported(column) for column in columns],
            sql=query,
            written_by=f"{warehouse.kind} unload",
            notes=notes,
            tenant_id=tenant_id,
            partitioning=partitioning,
        )
    finally:
        remove_prefix(landing, scratch)


def _checked_against_files(landing: LandingStore, unloaded: Unloaded) -> list[UnloadedColumn]:
    """The manifest's columns, each noted where the Parquet files (the first one's footer: one
    ranged read) hold another type than the export type mapping gives it."""
    with landing.fs.open(unloaded.files[0].url, "rb") as handle:
        schema = pq.read_schema(handle)
    checked = []
    for column in unloaded.columns:
        index = schema.get_field_index(column.name)
        held = schema.field(index).type if index >= 0 else None
        if held is not None and held != column.type:
            found = f"the files hold {held}"
            column = replace(column, note=f"{column.note}; {found}" if column.note else found)
        checked.append(column)
    return checked


def _exported(column: UnloadedColumn) -> ExportedColumn:
    return ExportedColumn(
        name=column.name,
        type=str(column.type),
        nullable=True,
        warehouse_type=column.warehouse_type,
        note=column.note,
    )
