"""The landing store: Parquet parts plus a manifest per load, in a local folder or on S3.

Layout: <root>/<source>/<table>/<load_id>/part-00000.parquet ... copy.manifest manifest.json
copy.manifest lists the parts in the form Redshift's COPY ... MANIFEST reads. manifest.json
is written last, so a load folder without one is an interrupted landing that no warehouse
will ever load. Tenant and key-range partitions of a table land in the same table folder
(their scope is in the manifest). A store with a retention deletes a table's old folders
after each committed load of it (landing/retention.py); the inbox has none.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import ValidationError

from tributary.arrow import infinities
from tributary.errors import InboxDropError, InfiniteCursorError
from tributary.landing.manifest import CursorRange, LandedFile, Manifest, encode_cursor
from tributary.landing.retention import Cleanup, LoadReferences, Retention, folders_to_remove
from tributary.storage import make_folder, open_filesystem

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
        cursor_until: Any | None = None,
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
        landing goes on (`part_batches`); `on_batch`, each batch once written to its part.
        `cursor_until`: the value the watermark goes no further than (CursorRange.until)."""
        folder = self.load_dir(source, table, load_id)
        make_folder(self.fs, folder)
        parts = _Parts(self.fs, folder, part_rows, on_part, on_batch)
        columns: list[tuple[str, str]] = []
        low = high = None
        try:
            for batch in batches:
                if cursor and batch.num_rows:
                    refuse_infinite_cursor(batch.column(cursor), table=table, cursor=cursor)
                parts.write(batch)
                if not columns:
                    columns = [(field.name, str(field.type)) for field in batch.schema]
                if cursor and batch.num_rows:
                    bounds = pc.min_max(batch.column(cursor)).as_py()
                    if bounds["min"] is not None:
                        low = bounds["min"] if low is None else min(low, bounds["min"])
                        high = bounds["max"] if high is None else max(high, bounds["max"])
            files = parts.close()
        except FileNotFoundError as error:  # a bucket that does not exist says only that
            parts.discard()
            raise FileNotFoundError(
                f"cannot write to the landing store at {self.uri(folder)}: {error}"
            ) from error
        except BaseException:
            parts.discard()
            raise
        cursor_range = None
        if cursor and high is not None:
            kind, low_text = encode_cursor(low)
            until = None if cursor_until is None else encode_cursor(cursor_until)[1]
            cursor_range = CursorRange(
                column=cursor, type=kind, min=low_text, max=encode_cursor(high)[1], until=until,
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

    def pending(self, seen: Mapping[str, Any]) -> InboxScan:
        """The drops of this store (the inbox) to load: those with a manifest that are not
        among those `seen` ("source.table" -> {load id: [fingerprint, listed]}) with the same
        manifest, whose parts are all there; oldest id first. A drop is its folder and its
        manifest's content, so a tool that names its loads alike each time (DMS's
        LOAD00000001), or a drop removed and dropped again extracted anew, is loaded once per
        manifest it writes, and the same manifest once. Ids are compared as a set, not by order:
        two tools' drops, or two in one second, need not arrive in their ids' order. A list of
        ids (the cursor of earlier versions) marks those ids seen, a single id every id up to
        it. A manifest is read only where the listing says it changed since it was seen."""
        # s3fs keeps a listing it made: drops that arrived since would go unseen.
        self.fs.invalidate_cache(self.root)
        listing = self.fs.find(self.root, detail=True)
        scan = InboxScan(seen={})
        for path, info in listing.items():
            where = path[len(self.root) + 1 :].split("/")
            if len(where) != 4 or where[3] != MANIFEST:
                continue
            source, table, load_id = where[:3]
            name, listed = f"{source}.{table}", _listed(info)
            known = seen.get(name, {})
            if isinstance(known, str | list):  # an earlier version's cursor: ids only
                if load_id <= known if isinstance(known, str) else load_id in known:
                    scan.seen.setdefault(name, {})[load_id] = ["", listed]
                    continue
                known = {}
            fingerprint, was_listed = known.get(load_id, ("", ""))
            if was_listed == listed:
                scan.seen.setdefault(name, {})[load_id] = [fingerprint, listed]
                continue
            if fingerprint:  # seen before, until it is loaded anew
                scan.seen.setdefault(name, {})[load_id] = [fingerprint, was_listed]
            try:
                drop = self.read_drop(source, table, load_id, listed=listed)
            except InboxDropError as error:  # one bad drop holds up no other
                scan.problems.append(str(error))
                continue
            except FileNotFoundError:  # removed since the listing
                continue
            # Written again as it was (copied again), or loaded by an earlier version, whose
            # cursor kept no fingerprint: the manifest it loaded is the one there now.
            if drop.fingerprint == fingerprint or (load_id in known and not fingerprint):
                scan.remember(drop)
                continue
            waiting = self._missing_parts(drop, listing)
            if waiting:
                scan.problems.append(
                    f"{self.uri(drop.folder)}: waiting for its parts ({'; '.join(waiting)}); "
                    "it is loaded once they are all there"
                )
            else:
                scan.drops.append(drop)
        scan.drops.sort(key=lambda drop: drop.load_id)
        return scan

    def read_drop(self, source: str, table: str, load_id: str, *, listed: str = "") -> Drop:
        """The drop in this store's folder <source>/<table>/<load_id>; InboxDropError where
        its manifest is not one Tributary reads (written halfway, another format) or is not
        for its folder."""
        folder = self.load_dir(source, table, load_id)
        path = f"{folder}/{MANIFEST}"
        content = self.fs.cat_file(path)
        try:
            manifest = Manifest.model_validate_json(content)
        except ValidationError as error:
            found = "; ".join(
                f"{'.'.join(map(str, e['loc'])) + ': ' if e['loc'] else ''}{e['msg']}"
                for e in error.errors()[:3]
            )
            raise InboxDropError(
                f"{self.uri(path)}: not a manifest Tributary reads ({found}); write it in the "
                "landing store's manifest format"
            ) from None
        # The folder is what the sensor and the load find a drop by: a manifest for another
        # (copied from another drop) would load that drop's files, or be taken for it.
        stated = (manifest.source, manifest.table, manifest.load_id)
        if stated != (source, table, load_id):
            raise InboxDropError(
                f"{self.uri(path)}: its manifest is for the load {stated[0]}.{stated[1]}/"
                f"{stated[2]}, and its folder {source}/{table}/{load_id}: a manifest copied from "
                "another drop keeps that drop's load_id; write the folder's names in it (source, "
                "table, load_id)"
            )
        return Drop(folder, manifest, hashlib.sha256(content).hexdigest()[:12], listed)

    @staticmethod
    def _missing_parts(drop: Drop, listing: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """The manifest's files that are not there, or not yet whole: a tool may write the
        manifest before its parts (an unordered copy or sync)."""
        missing = []
        for file in drop.manifest.files:
            found = listing.get(f"{drop.folder}/{file.path}")
            if found is None:
                missing.append(f"{file.path} is not there")
            elif found["size"] < file.bytes:
                missing.append(f"{file.path} holds {found['size']} of its {file.bytes} bytes")
        return missing

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
        where a writer left none; and the first file's schema, as its footer states it."""
        if not manifest.files:  # the columns would be unknown
            return FilesReport(
                ["it lists no files; an empty extract is one Parquet file of no rows"], Counter()
            )
        folder = self.load_dir(manifest.source, manifest.table, manifest.load_id)
        found: list[str] = []
        nulls: Counter = Counter()
        first: tuple[str, list[str]] | None = None
        schema = None
        for file in manifest.files:
            with self.fs.open(f"{folder}/{file.path}", "rb") as handle:
                part = pq.ParquetFile(handle)
                rows, size = part.metadata.num_rows, handle.size
                names = part.schema_arrow.names
                schema = schema or part.schema_arrow
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
        return FilesReport(found, nulls, schema)

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
class Drop:
    """A load an outside tool dropped into the inbox: its folder, its manifest, and what
    tells it from another drop under the same id."""

    folder: str
    manifest: Manifest
    fingerprint: str  # of the manifest's content (SHA-256, 12 hex digits)
    listed: str = ""  # what the listing said of manifest.json when it was read

    @property
    def load_id(self) -> str:
        return self.folder.rsplit("/", 1)[-1]

    @property
    def name(self) -> str:
        """ "source.table", as its folder says."""
        source, table = self.folder.rsplit("/", 3)[-3:-1]
        return f"{source}.{table}"

    @property
    def record_id(self) -> str:
        """The id the warehouse records its load under: the load id alone names no drop where
        a tool names each load alike (or two tables' drops alike), and the same drop is
        loaded once."""
        return f"{self.load_id}@{self.fingerprint}"


@dataclass
class InboxScan:
    """What LandingStore.pending found in the inbox."""

    seen: dict[str, dict[str, list[str]]]  # the cursor, but for `drops` (see remember)
    drops: list[Drop] = field(default_factory=list)  # to load, oldest id first
    problems: list[str] = field(default_factory=list)  # drops not loaded, each naming its folder

    def remember(self, drop: Drop) -> None:
        """Count `drop` as seen: its manifest is not loaded again."""
        self.seen.setdefault(drop.name, {})[drop.load_id] = [drop.fingerprint, drop.listed]


def _listed(info: Mapping[str, Any]) -> str:
    """What a listing says of a file, as a short hash that changes when the file is written
    again (its ETag or modification time, its size), as fsspec's ukey hashes `info`."""
    return hashlib.sha256(json.dumps(info, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class FilesReport:
    """What LandingStore.inspect found in a load's files."""

    differences: list[str]  # from what the manifest states; empty when they agree
    nulls: Counter  # NULLs per column asked for
    schema: pa.Schema | None = None  # the first file's, as its footer states it


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


def refuse_infinite_cursor(values: pa.Array, *, table: str, cursor: str) -> None:
    """A cursor at infinity fails the load before its batch lands: a watermark there would
    skip every later change (and Python's dates cannot hold it); at -infinity, the range's
    low end is no date either. There is no right value to put in its place, so say the ways."""
    found = infinities(values)
    if found is None:
        return
    _, high = found
    word = "infinity" if pc.any(high).as_py() else "-infinity"
    why = (
        "the next load would read from there on and skip every later change"
        if word == "infinity"
        else "a cursor range holds dates and times of the calendar only"
    )
    raise InfiniteCursorError(
        f"table '{table}': the cursor column '{cursor}' holds {word}, which no watermark can "
        f"follow: {why}. Read the table through a `query:` that maps it to NULL, "
        f"nullif({cursor}, '{word}') as {cursor}, and set null_cursor (include: such rows are "
        "re-read and merged on every load), or to a date of yours"
    )
