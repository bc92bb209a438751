"""Publishing query results to the export store (a local folder or gs://), whole or not at all.

Layout:
    <root>/<export>/<partition>/part-00000.parquet ... manifest.json _SUCCESS
    <root>/_tmp/<export>/<partition>/<attempt>/part-...      (while a run writes)

A run streams its parts under _tmp/ first. Only when every part of every partition it writes
is complete does it publish: for each partition, remove the old _SUCCESS (readers now see "not
ready"), remove the old manifest and parts, copy the new parts in, write manifest.json and,
last, _SUCCESS. A run killed while writing leaves the published partitions as they were; one
killed while publishing leaves a partition without _SUCCESS, which a rerun replaces exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import quote

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
from fsspec.asyn import AsyncFileSystem, sync
from fsspec.exceptions import FSTimeoutError
from pydantic import BaseModel, Field

from tributary.errors import ExportError
from tributary.exports.formats import (
    ChecksumWriter,
    FileFormat,
    FileKind,
    FileWriter,
    export_schema,
    normalize,
)
from tributary.exports.gcs import gcs_filesystem, is_gcs_filesystem, is_gcs_url, upload_whole
from tributary.storage import DEFAULT_TIMEOUTS, Timeouts, make_folder, open_filesystem
from tributary.warehouse.unload import UnloadedFile

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"
STAGING = "_tmp"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # the folder of NULL keys, as Hive names it
PARQUET = FileFormat()
# Objects are copied into the store this many bytes at a time (never a whole file in memory),
# this many files at once: memory holds about 4 x 4 chunks whatever the export's size.
COPY_CHUNK_BYTES = 8 * 2**20
COPIES_IN_FLIGHT = 4


def _unset(value: object) -> bool:
    return value is None


class ExportedFile(BaseModel):
    path: str
    rows: int
    bytes: int
    sha256: str


class ExportedColumn(BaseModel):
    name: str
    type: str  # the Arrow type, e.g. decimal128(12, 2), timestamp[us, tz=UTC]
    nullable: bool
    # Files the warehouse wrote itself (Redshift's UNLOAD): its type, and how the files hold
    # the column where that is not the type above.
    warehouse_type: str | None = Field(None, exclude_if=_unset)
    note: str | None = Field(None, exclude_if=_unset)


class ExportManifest(BaseModel):
    export: str
    partition: str
    asset: str
    format: FileKind
    compression: str
    # A CSV's header row and delimiter, as written (a reader's defaults need not be them: a
    # header left out made the first row the column names).
    header: bool | None = Field(None, exclude_if=_unset)
    delimiter: str | None = Field(None, exclude_if=_unset)
    published_at: datetime
    row_count: int
    bytes: int
    files: list[ExportedFile]
    columns: list[ExportedColumn]
    sql: str | None = None
    # Who wrote the files when not this process (e.g. "redshift unload"), and how they differ
    # from files this process writes.
    written_by: str | None = Field(None, exclude_if=_unset)
    notes: list[str] | None = Field(None, exclude_if=_unset)
    # A per-tenant export's tenant, whose rows these are: a folder named by an alias another
    # tenant held before holds that tenant's partitions (exports.run.check_newest_partition).
    tenant_id: str | None = Field(None, exclude_if=_unset)
    # How the export was partitioned (exports.run.partitioning_label): by: run_date and by: date
    # both name their folders dt=..., and only this tells a folder of one from the other's.
    partitioning: str | None = Field(None, exclude_if=_unset)


@dataclass(frozen=True)
class Publication:
    uri: str
    manifest: ExportManifest


DATE_KEY = "dt"  # the key of a dated partition's folder: dt=YYYY-MM-DD
TENANT_KEY = "tenant"  # of a tenant's folder in the shared store: <name>/tenant=<alias>


def date_partition(day: date) -> str:
    return f"{DATE_KEY}={day:%Y-%m-%d}"


def partition_key(partition: str) -> str:
    """The key of a partition folder's name: `dt` of dt=2024-05-01, `region` of region=EU."""
    return partition.split("=", 1)[0]


def column_partition(column: str, value: str | None) -> str:
    return f"{column}={NULL_PARTITION if value is None else quote(value, safe='-_.')}"


def _is_binary(kind: pa.DataType) -> bool:
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_binary_view(kind)
    )


def open_export_store(
    url: str,
    *,
    project: str | None = None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> ExportStore:
    """The store at `url`: a folder, or gs://bucket/prefix with the environment's credentials."""
    if not is_gcs_url(url):
        return ExportStore(url)
    return ExportStore(url, fs=gcs_filesystem(project=project, timeouts=timeouts))


class ExportStore:
    def __init__(self, url: str, *, fs: fsspec.AbstractFileSystem | None = None) -> None:
        self.fs, self.root = open_filesystem(url, fs)

    def export_dir(self, export: str) -> str:
        return f"{self.root}/{export}"

    def partition_dir(self, export: str, partition: str) -> str:
        return f"{self.export_dir(export)}/{partition}"

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Name the store when it stops answering: fsspec's timeout error (gcsfs raises it once
        its attempts of a request all timed out) says nothing of where, and aiohttp's refused
        connection (once gcsfs's attempts all were) names a host and port only."""
        from aiohttp import ClientConnectorError

        try:
            yield
        except FSTimeoutError as error:
            raise ExportError(
                f"the export store {self.uri(self.root)} did not answer: every attempt of a "
                "request timed out (exports.read_timeout)"
            ) from error
        except ClientConnectorError as error:
            raise ExportError(
                f"the export store {self.uri(self.root)} could not be reached: {error}"
            ) from error

    def uri(self, path: str) -> str:
        return self.fs.unstrip_protocol(path)

    # --- publishing ----------------------------------------------------------------------
    def publish(
        self,
        batches: pa.RecordBatchReader,
        *,
        export: str,
        partition: str,
        asset: str,
        file_format: FileFormat = PARQUET,
        rows_per_file: int = 1_000_000,
        sql: str | None = None,
        tenant_id: str | None = None,
        partitioning: str | None = None,
    ) -> Publication:
        """The whole stream as one partition (an empty result is one file with the schema).
        `tenant_id`: a per-tenant export's tenant, and `partitioning`, how the export is
        partitioned, each recorded in the manifest."""

        def pieces(batch: pa.RecordBatch) -> Iterator[tuple[str, pa.RecordBatch]]:
            yield partition, batch

        [publication] = self._publish_stream(
            batches,
            pieces,
            export=export,
            asset=asset,
            file_format=file_format,
            rows_per_file=rows_per_file,
            sql=sql,
            always=[partition],
            tenant_id=tenant_id,
            partitioning=partitioning,
        )
        return publication

    def publish_by_column(
        self,
        batches: pa.RecordBatchReader,
        *,
        export: str,
        column: str,
        asset: str,
        file_format: FileFormat = PARQUET,
        rows_per_file: int = 1_000_000,
        sql: str | None = None,
        tenant_id: str | None = None,
        partitioning: str | None = None,
    ) -> list[Publication]:
        """One partition <column>=<value> per value of `column`. The stream must arrive
        grouped by the column (ordered by it): each partition is written in one go."""
        if column not in batches.schema.names:
            raise ExportError(
                f"{export}: partitioning column '{column}' is not in the result "
                f"(columns: {', '.join(batches.schema.names)})"
            )
        column_type = batches.schema.field(column).type
        if _is_binary(column_type):
            # Folder names are text: bytes would have to be encoded, and a reader of the
            # partitions would see the encoding rather than the value.
            raise ExportError(
                f"{export}: partitioning column '{column}' is {column_type}, whose bytes make "
                "no folder name; partition by a text form of it, made in the model or the "
                f"export's query (hex({column}) on DuckDB, encode({column}, 'hex') on PostgreSQL)"
            )

        def pieces(batch: pa.RecordBatch) -> Iterator[tuple[str, pa.RecordBatch]]:
            # Runs of equal keys (NULLs are a run of their own), each one partition's rows.
            runs = pc.run_end_encode(pc.cast(batch.column(column), pa.string()))
            start = 0
            for end, key in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                if key == NULL_PARTITION:
                    # Its folder would be the NULL rows' one: its rows would merge with them.
                    raise ExportError(
                        f"{export}: column '{column}' holds the value '{NULL_PARTITION}', the "
                        "name of its NULL rows' folder, so its rows could not be told from "
                        "them; change or filter that value in the model or the export's query"
                    )
                yield column_partition(column, key), batch.slice(start, end - start)
                start = end

        return self._publish_stream(
            batches,
            pieces,
            export=export,
            asset=asset,
            file_format=file_format,
            rows_per_file=rows_per_file,
            sql=sql,
            always=[],
            tenant_id=tenant_id,
            partitioning=partitioning,
        )

    def _publish_stream(
        self,
        batches: pa.RecordBatchReader,
        pieces: Callable[[pa.RecordBatch], Iterable[tuple[str, pa.RecordBatch]]],
        *,
        export: str,
        asset: str,
        file_format: FileFormat,
        rows_per_file: int,
        sql: str | None,
        always: list[str],
        tenant_id: str | None,
        partitioning: str | None,
    ) -> list[Publication]:
        schema = export_schema(batches.schema)
        staged: dict[str, _StagedPartition] = {}
        current: _StagedPartition | None = None

        def stage(partition: str) -> _StagedPartition:
            try:
                staging = self._new_staging_dir(export, partition)
            except OSError as error:
                if error.errno != errno.ENAMETOOLONG:
                    raise
                key = partition_key(partition)
                raise ExportError(
                    f"{export}: partitioning column '{key}' holds a value whose folder name "
                    f"({partition[:40]}..., {len(partition.encode())} bytes once %-encoded) is "
                    "longer than the store's file system takes in one name (255 bytes on most; "
                    "GCS takes 1024); shorten it in the model or the export's query without "
                    f"merging values (e.g. md5({key}))"
                ) from None
            return _StagedPartition(self.fs, staging, partition, schema, file_format, rows_per_file)

        try:
            for partition in always:
                current = staged[partition] = stage(partition)
            for batch in batches:
                if not batch.num_rows:
                    continue
                for partition, piece in pieces(normalize(batch)):
                    if current is None or current.partition != partition:
                        if partition in staged:
                            raise ExportError(
                                f"{export}: rows of partition {partition} arrived after other "
                                "partitions; the result must be ordered by the partitioning "
                                "column"
                            )
                        if current is not None:
                            current.finish()
                        current = staged[partition] = stage(partition)
                    current.write(piece)
            for part in staged.values():
                part.finish()
        except BaseException:
            # A failed query or write publishes nothing and leaves nothing staged. (A killed
            # process leaves its attempt; the next run of the partition clears it.)
            for part in staged.values():
                part.abort()
            raise
        published_at = datetime.now(UTC)
        columns = _written_columns(export, list(staged.values()))
        return [
            self._publish_partition(
                part.staging,
                _manifest(export, partition, asset, file_format, part.files, columns, sql,
                          published_at=published_at, tenant_id=tenant_id,
                          partitioning=partitioning),
            )
            for partition, part in staged.items()
        ]  # fmt: skip

    def publish_files(
        self,
        files: Sequence[UnloadedFile],
        *,
        fs: fsspec.AbstractFileSystem,
        export: str,
        partition: str,
        asset: str,
        file_format: FileFormat,
        columns: list[ExportedColumn],
        sql: str | None = None,
        written_by: str | None = None,
        notes: list[str] | None = None,
        tenant_id: str | None = None,
        partitioning: str | None = None,
    ) -> Publication:
        """Files another system wrote (a warehouse's UNLOAD), read through `fs`, as one
        partition: each is streamed into the attempt under _tmp/ in chunks, counted and
        checksummed on the way, then published as any export is. A file whose length differs
        from what its writer stated fails the run before anything is published."""
        staging = self._new_staging_dir(export, partition)

        def copy(number: int, source: UnloadedFile) -> ExportedFile:
            name = f"part-{number:05d}{file_format.suffix}"
            target = f"{staging}/{name}"
            size, sha256 = copy_object(fs, source.url, self.fs, target, size=source.bytes)
            if size != source.bytes:
                raise ExportError(
                    f"{export}: {source.url} holds {size} bytes, its writer stated "
                    f"{source.bytes}; nothing was published"
                )
            return ExportedFile(path=name, rows=source.rows, bytes=size, sha256=sha256)

        # A few files in flight at once: one file's download overlaps another's upload.
        pool = ThreadPoolExecutor(COPIES_IN_FLIGHT, thread_name_prefix="export-copy")
        try:
            exported = list(pool.map(copy, range(len(files)), files))
        except BaseException:
            pool.shutdown(cancel_futures=True)
            with contextlib.suppress(Exception):
                self.fs.rm(staging.rsplit("/", 1)[0], recursive=True)
            raise
        pool.shutdown()
        manifest = _manifest(export, partition, asset, file_format, exported, columns, sql,
                             published_at=datetime.now(UTC), written_by=written_by,
                             notes=notes, tenant_id=tenant_id,
                             partitioning=partitioning)  # fmt: skip
        return self._publish_partition(staging, manifest)

    def _new_staging_dir(self, export: str, partition: str) -> str:
        """A fresh attempt folder. Attempts left by killed runs of this partition go first."""
        attempts = f"{self.root}/{STAGING}/{export}/{partition}"
        self.fs.invalidate_cache(attempts)
        if self.fs.exists(attempts):
            self.fs.rm(attempts, recursive=True)
        staging = f"{attempts}/{uuid.uuid4().hex}"
        make_folder(self.fs, staging)
        return staging

    def _publish_partition(self, staging: str, manifest: ExportManifest) -> Publication:
        target = self.partition_dir(manifest.export, manifest.partition)
        self._remove_partition(target)
        make_folder(self.fs, target)
        names = [f.path for f in manifest.files]
        self.fs.copy([f"{staging}/{n}" for n in names], [f"{target}/{n}" for n in names])
        self.fs.pipe_file(f"{target}/{MANIFEST}", manifest.model_dump_json(indent=2).encode())
        self.fs.pipe_file(f"{target}/{SUCCESS}", b"")
        self.fs.rm(staging.rsplit("/", 1)[0], recursive=True)
        return Publication(uri=self.uri(target), manifest=manifest)

    def _remove_partition(self, target: str) -> None:
        """Unseal first: from the moment _SUCCESS is gone readers see "not ready", never a
        mix of old and new parts; the manifest goes next, then everything else (in one batch).
        One listing finds them all: on an object store each request is a round trip."""
        self.fs.invalidate_cache(target)
        try:
            found = self.fs.find(target)
        except FileNotFoundError:
            found = []
        by_name = {path[len(target) :].lstrip("/"): path for path in found}
        sealing = [by_name.pop(name) for name in (SUCCESS, MANIFEST) if name in by_name]
        for path in sealing:
            self.fs.rm_file(path)
        if by_name:
            self.fs.rm(list(by_name.values()))
        self.fs.invalidate_cache(target)
        if self.fs.exists(target):  # a local folder (object stores have none left)
            self.fs.rm(target, recursive=True)

    # --- reading and retention ---------------------------------------------------------
    def partitions(
        self, export: str, *, sealed_only: bool = True, key: str | None = None
    ) -> list[str]:
        """The export's partition folders in name order (dt=... sorts by date); given `key`,
        only the folders of that key (`dt`, or a by-column export's column)."""
        folder = self.export_dir(export)
        self.fs.invalidate_cache(folder)
        if not self.fs.exists(folder):
            return []
        names = sorted(
            entry["name"].rstrip("/").rsplit("/", 1)[-1]
            for entry in self.fs.ls(folder, detail=True)
            if entry["type"] == "directory"
        )
        names = [name for name in names if "=" in name]
        if key is not None:
            names = [name for name in names if partition_key(name) == key]
        if sealed_only:
            names = [n for n in names if self.fs.exists(f"{folder}/{n}/{SUCCESS}")]
        return names

    def other_layouts(self, export: str, key: str) -> list[str]:
        """The export's partition folders (sealed or not) of another key than `key`: what an
        earlier partitioning of the export left (region=EU beside dt=2024-05-01)."""
        return [p for p in self.partitions(export, sealed_only=False) if partition_key(p) != key]

    def apply_retention(self, export: str, keep: int) -> list[str]:
        """Keep the newest `keep` published dated partitions (dt=...); remove every dated
        partition (published or broken) that sorts before the oldest of them. Folders of
        another key are not the export's days: never counted, never removed. Returns the
        removed partitions."""
        published = self.partitions(export, key=DATE_KEY)
        if len(published) <= keep:
            return []
        oldest_kept = published[-keep]
        removed = [
            p for p in self.partitions(export, sealed_only=False, key=DATE_KEY) if p < oldest_kept
        ]
        for partition in removed:
            self._remove_partition(self.partition_dir(export, partition))
        return removed

    def remove_absent_values(self, export: str, column: str, present: Iterable[str]) -> list[str]:
        """A by-column export's folders (sealed or not) of values of `column` other than the
        `present` partitions: each run publishes the whole result, so a value no row holds any
        more would otherwise keep showing its old rows. Folders of another key are left as
        they are. Returns the removed partitions."""
        kept = set(present)
        removed = [
            partition
            for partition in self.partitions(export, sealed_only=False, key=column)
            if partition not in kept
        ]
        for partition in removed:
            self._remove_partition(self.partition_dir(export, partition))
        return removed

    def read_manifest(self, export: str, partition: str) -> ExportManifest:
        data = self.fs.cat_file(f"{self.partition_dir(export, partition)}/{MANIFEST}")
        return ExportManifest.model_validate_json(data)


def copy_object(
    source_fs: fsspec.AbstractFileSystem,
    source: str,
    fs: fsspec.AbstractFileSystem,
    target: str,
    *,
    size: int | None = None,
    chunk_bytes: int = COPY_CHUNK_BYTES,
) -> tuple[int, str]:
    """Stream one object to another store, at most `chunk_bytes` at a time: (bytes, sha256 hex)
    of what was read. Into GCS, an object of known `size` goes in one upload request, read as
    it arrives (exports/gcs.py); into another store, the upload sends one chunk at a time. Memory
    holds a few chunks whatever the file's size."""
    if size and is_gcs_filesystem(fs):
        return upload_whole(fs, target, size, lambda: stream_chunks(source_fs, source, chunk_bytes))
    with fs.open(target, "wb", block_size=chunk_bytes) as handle:
        sink = ChecksumWriter(handle)
        for data in read_chunks(source_fs, source, chunk_bytes):
            sink.write(data)
    return sink.bytes, sink.sha256.hexdigest()


def read_chunks(
    fs: fsspec.AbstractFileSystem, path: str, chunk_bytes: int = COPY_CHUNK_BYTES
) -> Iterator[bytes]:
    """stream_chunks, for a caller outside an event loop."""
    loop = fs.loop if isinstance(fs, AsyncFileSystem) else fsspec.asyn.get_loop()
    chunks = stream_chunks(fs, path, chunk_bytes)
    try:
        while (data := sync(loop, anext, chunks, None)) is not None:
            yield data
    finally:
        sync(loop, chunks.aclose)


async def stream_chunks(
    fs: fsspec.AbstractFileSystem, path: str, chunk_bytes: int = COPY_CHUNK_BYTES
) -> AsyncIterator[bytes]:
    """The object at `path`, as it arrives, at most `chunk_bytes` at a time. From a store with a
    streamed reader (s3fs's `open_async`): one GET of the whole object (S3 serves it without
    one request per chunk), on the store's own event loop, which must be the caller's (fsspec's
    stores share one). Otherwise, or from where a broken stream stopped, ranged reads of a
    chunk each (no cache), which the store retries one by one."""
    done = 0
    stream = None
    if isinstance(fs, AsyncFileSystem):
        with contextlib.suppress(NotImplementedError):
            stream = await fs.open_async(path, "rb")
    if stream is not None:
        try:
            while data := await stream.read(chunk_bytes):
                done += len(data)
                yield data
            return
        except Exception:  # a failed GET or a broken stream: read by ranges from `done`
            pass
        finally:
            await _release(stream)
    reader = await asyncio.to_thread(fs.open, path, "rb", block_size=chunk_bytes, cache_type="none")
    try:
        reader.seek(done)
        while data := await asyncio.to_thread(reader.read, chunk_bytes):
            yield data
    finally:
        reader.close()


async def _release(stream) -> None:
    """Close the response body of a stream (s3fs keeps it as `r`): one not read to its end
    would hold its connection."""
    body = getattr(stream, "r", None)
    if body is not None:
        with contextlib.suppress(Exception):
            await body.aclose()


def _manifest(
    export: str,
    partition: str,
    asset: str,
    file_format: FileFormat,
    files: list[ExportedFile],
    columns: list[ExportedColumn],
    sql: str | None,
    *,
    published_at: datetime,
    written_by: str | None = None,
    notes: list[str] | None = None,
    tenant_id: str | None = None,
    partitioning: str | None = None,
) -> ExportManifest:
    return ExportManifest(
        export=export,
        partition=partition,
        asset=asset,
        format=file_format.kind,
        compression=file_format.compression,
        header=file_format.header if file_format.kind == "csv" else None,
        delimiter=file_format.delimiter if file_format.kind == "csv" else None,
        published_at=published_at,
        row_count=sum(f.rows for f in files),
        bytes=sum(f.bytes for f in files),
        files=files,
        columns=columns,
        sql=sql,
        written_by=written_by,
        notes=notes or None,
        tenant_id=tenant_id,
        partitioning=partitioning,
    )


def _written_columns(export: str, parts: Sequence[_StagedPartition]) -> list[ExportedColumn]:
    """The manifest's columns: the schema the files were written with (one for them all)."""
    schemas = [schema for part in parts for schema in part.written_schemas]
    if not schemas:  # no partition (a by-column export of no rows): nothing to describe
        return []
    first = schemas[0]
    for part in parts:
        for name, schema in zip((f.path for f in part.files), part.written_schemas, strict=True):
            if not schema.equals(first):
                raise ExportError(
                    f"{export}: {part.partition}/{name} was written with the columns "
                    f"{schema}, expected those of the other files: {first}"
                )
    return [ExportedColumn(name=f.name, type=str(f.type), nullable=f.nullable) for f in first]


class _StagedPartition:
    """The parts of one partition being written under its staging folder."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        staging: str,
        partition: str,
        schema: pa.Schema,
        file_format: FileFormat,
        rows_per_file: int,
    ) -> None:
        self.fs = fs
        self.staging = staging
        self.partition = partition
        self.schema = schema
        self.format = file_format
        self.rows_per_file = rows_per_file
        self.files: list[ExportedFile] = []
        self.written_schemas: list[pa.Schema] = []  # each file's, as written
        self._handle = None
        self._sink: ChecksumWriter | None = None
        self._writer: FileWriter | None = None
        self._finished = False

    def write(self, batch: pa.RecordBatch) -> None:
        offset = 0
        while offset < batch.num_rows:
            if self._writer is None or self._writer.rows >= self.rows_per_file:
                self._next_file()
            take = min(self.rows_per_file - self._writer.rows, batch.num_rows - offset)
            self._writer.write(batch.slice(offset, take))
            offset += take

    def finish(self) -> None:
        if self._finished:
            return
        if self._writer is None:  # no rows: one file that still carries the schema
            self._next_file()
        self._close_file()
        self._finished = True

    def abort(self) -> None:
        for closable in (self._writer, self._handle):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close()
        self._writer = self._sink = self._handle = None
        with contextlib.suppress(Exception):
            self.fs.rm(self.staging.rsplit("/", 1)[0], recursive=True)

    def _next_file(self) -> None:
        self._close_file()
        name = f"part-{len(self.files):05d}{self.format.suffix}"
        self._handle = self.fs.open(f"{self.staging}/{name}", "wb")
        self._sink = ChecksumWriter(self._handle)
        self._writer = FileWriter(self._sink, self.schema, self.format)
        self._name = name

    def _close_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._handle.close()
        self.written_schemas.append(self._writer.written_schema)
        self.files.append(
            ExportedFile(
                path=self._name,
                rows=self._writer.rows,
                bytes=self._sink.bytes,
                sha256=self._sink.sha256.hexdigest(),
            )
        )
        self._writer = self._sink = self._handle = None
