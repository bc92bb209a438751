"""The landing store: Parquet parts plus a manifest per load, in a local folder or on S3.

Layout: <root>/<source>/<table>/<load_id>/part-00000.parquet ... copy.manifest manifest.json
copy.manifest lists the parts in the form Redshift's COPY ... MANIFEST reads. manifest.json
is written last, so a load folder without one is an interrupted landing that no warehouse
will ever load. Tenant and key-range partitions of a table land in the same table folder
(their scope is in the manifest). A store with a retention deletes a table's old folders
after each committed load of it (landing/retention.py); the inbox has none.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.landing.manifest import CursorRange, LandedFile, Manifest, encode_cursor
from tributary.landing.retention import Cleanup, LoadReferences, Retention, folders_to_remove
from tributary.storage import open_filesystem

MANIFEST = "manifest.json"
COPY_MANIFEST = "copy.manifest"
INBOX = "_inbox"

log = logging.getLogger(__name__)

# zstd without dictionary pages: the dictionary encoder (on by default for every column) cost
# half of a part's write time on high-cardinality columns, and zstd alone packs the parts
# smaller (measured on the ingest benchmark's table: 10.9 MB instead of 12.2 MB per 500k rows).
PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": False}
# Rows per batch read back from a part: what a load encodes at once (a PostgreSQL load's binary
# COPY builds a few copies of each batch), so peak memory follows it. The parts are read on
# the calling thread: Arrow's thread pools cost 35 MB more to read them, in no less time.
READ_ROWS = 20_000


class LandingStore:
    def __init__(
        self,
        url: str,
        *,
        fs: fsspec.AbstractFileSystem | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.fs, self.root = open_filesystem(url, fs)
        self.url = url
        self.retention = retention  # None: keep every folder

    def inbox(self) -> LandingStore:
        """Where outside tools drop loads for Tributary to pick up, in the same layout.
        Without a retention: what outside tools drop there is theirs to clean up."""
        return LandingStore(f"{self.url.rstrip('/')}/{INBOX}", fs=self.fs)

    def load_dir(self, source: str, table: str, load_id: str) -> str:
        return f"{self.root}/{source}/{table}/{load_id}"

    def uri(self, path: str) -> str:
        """A path of this store as a URL a person can paste."""
        return self.fs.unstrip_protocol(path)

    def land(
        self,
        batches: Iterable[pa.RecordBatch],
        *,
        source: str,
        table: str,
        load_id: str,
        mode: str,
        extracted_at: datetime,
        cursor: str | None = None,
        cursor_until: datetime | None = None,
        scope: str = "",
        counters: Mapping[str, int] | None = None,
        part_rows: int | None = None,
        on_part: Callable[[str], None] | None = None,
        on_batch: Callable[[pa.RecordBatch], None] | None = None,
    ) -> Manifest:
        """Write the batches as Parquet parts, then the manifest: each batch is a row group,
        and a part takes batches until the next would pass `part_rows` rows (without it,
        each batch is a part). `counters` is read after the batches are consumed, so a
        reader may fill it while streaming. `on_part`, if given, receives the path of each
        part as soon as it is written and closed, so that a load can read the parts while
        landing goes on (`part_batches`); `on_batch`, each batch once written to its part."""
        folder = self.load_dir(source, table, load_id)
        self.fs.makedirs(folder, exist_ok=True)
        parts = _Parts(self.fs, folder, part_rows, on_part, on_batch)
        columns: list[tuple[str, str]] = []
        low = high = None
        try:
            for batch in batches:
                parts.write(batch)
                if not columns:
                    columns = [(field.name, str(field.type)) for field in batch.schema]
                if cursor and batch.num_rows:
                    bounds = pc.min_max(batch.column(cursor)).as_py()
                    if bounds["min"] is not None:
                        low = bounds["min"] if low is None else min(low, bounds["min"])
                        high = bounds["max"] if high is None else max(high, bounds["max"])
            files = parts.close()
        except BaseException:
            parts.discard()
            raise
        cursor_range = None
        if cursor and high is not None:
            kind, low_text = encode_cursor(low)
            cursor_range = CursorRange(
                column=cursor, type=kind, min=low_text, max=encode_cursor(high)[1],
                until=cursor_until,
            )  # fmt: skip
        manifest = Manifest(
            load_id=load_id,
            source=source,
            table=table,
            mode=mode,
            extracted_at=extracted_at,
            row_count=sum(f.rows for f in files),
            files=files,
            columns=columns,
            cursor=cursor_range,
            scope=scope,
            counters=dict(counters or {}),
        )
        self._write_copy_manifest(manifest)
        with self.fs.open(f"{folder}/{MANIFEST}", "w") as handle:
            handle.write(manifest.model_dump_json(indent=2))
        return manifest

    def ensure_copy_manifest(self, manifest: Manifest) -> None:
        """Write copy.manifest for a load landed by an outside tool, if it did not."""
        folder = self.load_dir(manifest.source, manifest.table, manifest.load_id)
        if not self.fs.exists(f"{folder}/{COPY_MANIFEST}"):
            self._write_copy_manifest(manifest)

    def _write_copy_manifest(self, manifest: Manifest) -> None:
        folder = self.load_dir(manifest.source, manifest.table, manifest.load_id)
        entries = [
            {
                "url": self.uri(f"{folder}/{f.path}"),
                "mandatory": True,
                "meta": {"content_length": f.bytes},
            }
            for f in manifest.files
        ]
        with self.fs.open(f"{folder}/{COPY_MANIFEST}", "w") as handle:
            json.dump({"entries": entries}, handle, indent=2)

    def apply_retention(
        self,
        source: str,
        table: str,
        references: Callable[[], LoadReferences],
        *,
        now: datetime | None = None,
    ) -> Cleanup:
        """Delete the table's load folders its retention lets go (see folders_to_remove).
        `references` (the warehouse's committed loads and watermarks) is asked only when
        there is a retention. Never raises: the load this follows is committed whatever
        happens here, and the next load's pass picks up what this one left."""
        if self.retention is None:
            return Cleanup()
        removed: list[str] = []
        try:
            table_dir = f"{self.root}/{source}/{table}"
            # A cached listing (s3fs keeps one) could miss folders landed since.
            self.fs.invalidate_cache(table_dir)
            folders = [
                entry["name"].rstrip("/").rsplit("/", 1)[-1]
                for entry in self.fs.ls(table_dir, detail=True)
                if entry["type"] == "directory"
            ]
            doomed = folders_to_remove(
                folders, references(), self.retention, now=now or datetime.now(UTC)
            )
            for load_id in doomed:
                self.fs.rm(self.load_dir(source, table, load_id), recursive=True)
                removed.append(load_id)
        except Exception as exc:
            log.warning("landing retention of %s.%s stopped: %s", source, table, exc)
            return Cleanup(removed=tuple(removed), error=f"{type(exc).__name__}: {exc}")
        return Cleanup(removed=tuple(removed))

    def pending(
        self, seen: Mapping[str, str | Sequence[str]]
    ) -> tuple[list[Manifest], dict[str, list[str]]]:
        """Complete loads (those with a manifest) whose load id is not among those `seen` for
        their table ("source.table" -> load ids), oldest id first; and every complete load id
        by table, which is what has been seen once those are handled (ids gone from the store
        drop out). Ids are compared as a set, not by order: two tools' drops, or two in one
        second, need not arrive in their ids' order. A single id (the cursor of earlier
        versions) stands for every id up to it."""
        present: dict[str, list[str]] = {}
        for path in self.fs.glob(f"{self.root}/*/*/*/{MANIFEST}"):
            source, table, load_id = path.rsplit("/", 4)[-4:-1]
            present.setdefault(f"{source}.{table}", []).append(load_id)
        pending = []
        for name, load_ids in present.items():
            known = seen.get(name, ())
            for load_id in load_ids:
                if load_id <= known if isinstance(known, str) else load_id in known:
                    continue
                source, table = name.split(".", 1)
                pending.append(self.read_manifest(self.load_dir(source, table, load_id)))
        pending.sort(key=lambda manifest: manifest.load_id)
        return pending, {name: sorted(load_ids) for name, load_ids in present.items()}

    def read_manifest(self, folder: str) -> Manifest:
        with self.fs.open(f"{folder.rstrip('/')}/{MANIFEST}", "r") as handle:
            return Manifest.model_validate_json(handle.read())

    def batches(self, manifest: Manifest) -> pa.RecordBatchReader:
        """Exactly the files named in the manifest, streamed one row group at a time."""
        folder = self.load_dir(manifest.source, manifest.table, manifest.load_id)
        paths = [f"{folder}/{f.path}" for f in manifest.files]
        with self.fs.open(paths[0], "rb") as handle:
            schema = pq.read_schema(handle)
        return pa.RecordBatchReader.from_batches(schema, self._iter_batches(paths))

    def inspect(self, manifest: Manifest, null_columns: Sequence[str] = ()) -> FilesReport:
        """One read of each file's footer (a ranged read a file): where the manifest's files
        are not what it states (rows, bytes, the total) or not alike (their columns, in
        order), as a part rewritten after its manifest or a manifest written by hand would
        be; and the NULLs of `null_columns`, from footer statistics, or the column's values
        where a writer left none."""
        if not manifest.files:  # the columns would be unknown
            return FilesReport(
                ["it lists no files; an empty extract is one Parquet file of no rows"], Counter()
            )
        folder = self.load_dir(manifest.source, manifest.table, manifest.load_id)
        found: list[str] = []
        nulls: Counter = Counter()
        first: tuple[str, list[str]] | None = None
        for file in manifest.files:
            with self.fs.open(f"{folder}/{file.path}", "rb") as handle:
                part = pq.ParquetFile(handle)
                rows, size = part.metadata.num_rows, handle.size
                names = part.schema_arrow.names
                for column in null_columns:
                    nulls[column] += _null_count(part, column)
            # Redshift's COPY matches a Parquet file's columns to the table's by position.
            if first is None:
                first = (file.path, names)
            elif names != first[1]:
                found.append(
                    f"{file.path} holds the columns ({', '.join(names)}), {first[0]} "
                    f"({', '.join(first[1])})"
                )
            if rows != file.rows:
                found.append(f"{file.path} holds {rows} row(s), its manifest states {file.rows}")
            if size != file.bytes:
                found.append(f"{file.path} is {size} bytes, its manifest states {file.bytes}")
        if (total := sum(f.rows for f in manifest.files)) != manifest.row_count:
            found.append(
                f"its manifest states {manifest.row_count} row(s) in all, its files {total}"
            )
        return FilesReport(found, nulls)

    def _iter_batches(self, paths: list[str]) -> Iterator[pa.RecordBatch]:
        for path in paths:
            yield from self.part_batches(path)

    def part_batches(self, path: str, *, skip_rows: int = 0) -> Iterator[pa.RecordBatch]:
        """One landed part's rows, a row group at a time; from row `skip_rows` on."""
        with self.fs.open(path, "rb") as handle:
            part = pq.ParquetFile(handle)
            groups = []
            for index in range(part.num_row_groups):
                rows = part.metadata.row_group(index).num_rows
                if skip_rows >= rows and not groups:
                    skip_rows -= rows
                else:
                    groups.append(index)
            for batch in part.iter_batches(
                batch_size=READ_ROWS, row_groups=groups, use_threads=False
            ):
                if skip_rows:
                    cut = min(skip_rows, batch.num_rows)
                    batch, skip_rows = batch.slice(cut), skip_rows - cut
                if batch.num_rows:
                    yield batch

    @staticmethod
    def landed_schema(schema: pa.Schema) -> pa.Schema:
        """The schema that batches of `schema` read back with from a part: Parquet converts
        some types (date64 to date32, timestamp[s] to timestamp[ms])."""
        sink = pa.BufferOutputStream()
        pq.write_table(schema.empty_table(), sink, **PARQUET_OPTIONS)
        return pq.read_schema(pa.BufferReader(sink.getvalue()))


class _Parts:
    """The Parquet parts of one landing, written a row group (a batch) at a time; `on_part`
    gets each part's path once it is closed."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        folder: str,
        part_rows: int | None,
        on_part: Callable[[str], None] | None,
        on_batch: Callable[[pa.RecordBatch], None] | None = None,
    ) -> None:
        self.fs, self.folder, self.part_rows, self.on_part = fs, folder, part_rows, on_part
        self.on_batch = on_batch
        self.files: list[LandedFile] = []
        self._handle: Any = None
        self._writer: pq.ParquetWriter | None = None
        self._rows = 0

    @property
    def _name(self) -> str:
        return f"part-{len(self.files):05d}.parquet"

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is not None and (
            self.part_rows is None or self._rows + batch.num_rows > self.part_rows
        ):
            self._close_part()
        if self._writer is None:
            self._handle = self.fs.open(f"{self.folder}/{self._name}", "wb")
            self._writer = pq.ParquetWriter(self._handle, batch.schema, **PARQUET_OPTIONS)
        self._writer.write_batch(batch)
        self._rows += batch.num_rows
        if self.on_batch is not None:
            self.on_batch(batch)

    def close(self) -> list[LandedFile]:
        if self._writer is not None:
            self._close_part()
        return self.files

    def discard(self) -> None:
        """Close what is open after a failure, quietly: the landing has no manifest."""
        for closable in (self._writer, self._handle):
            try:
                if closable is not None:
                    closable.close()
            except Exception:
                pass
        self._writer = self._handle = None

    def _close_part(self) -> None:
        path = f"{self.folder}/{self._name}"
        self._writer.close()
        self._handle.close()
        self._writer = self._handle = None
        self.files.append(LandedFile(path=self._name, rows=self._rows, bytes=self.fs.size(path)))
        self._rows = 0
        if self.on_part is not None:
            self.on_part(path)


@dataclass(frozen=True)
class FilesReport:
    """What LandingStore.inspect found in a load's files."""

    differences: list[str]  # from what the manifest states; empty when they agree
    nulls: Counter  # NULLs per column asked for


def _null_count(part: pq.ParquetFile, column: str) -> int:
    stats = []
    for index in range(part.num_row_groups):
        group = part.metadata.row_group(index)
        chunks = (group.column(j) for j in range(group.num_columns))
        chunk = next((c for c in chunks if c.path_in_schema == column), None)
        stats.append(chunk.statistics if chunk is not None else None)
    if all(s is not None and s.has_null_count for s in stats):
        return sum(s.null_count for s in stats)
    return part.read(columns=[column], use_threads=False).column(0).null_count
