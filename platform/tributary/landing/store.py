"""The landing store: Parquet parts plus a manifest per load, in a local folder or on S3.

Layout: <root>/<source>/<table>/<load_id>/part-00000.parquet ... copy.manifest manifest.json
copy.manifest lists the parts in the form Redshift's COPY ... MANIFEST reads. manifest.json
is written last, so a load folder without one is an interrupted landing that no warehouse
will ever load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.landing.manifest import CursorRange, LandedFile, Manifest, encode_cursor
from tributary.storage import open_filesystem

MANIFEST = "manifest.json"
COPY_MANIFEST = "copy.manifest"
INBOX = "_inbox"


class LandingStore:
    def __init__(self, url: str, *, fs: fsspec.AbstractFileSystem | None = None) -> None:
        self.fs, self.root = open_filesystem(url, fs)
        self.url = url

    def inbox(self) -> LandingStore:
        """Where outside tools drop loads for Tributary to pick up, in the same layout."""
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
        scope: str = "",
        counters: Mapping[str, int] | None = None,
    ) -> Manifest:
        """Write each batch as a Parquet part, then the manifest. `counters` is read after
        the batches are consumed, so a reader may fill it while streaming."""
        folder = self.load_dir(source, table, load_id)
        self.fs.makedirs(folder, exist_ok=True)
        files: list[LandedFile] = []
        columns: list[tuple[str, str]] = []
        low = high = None
        for index, batch in enumerate(batches):
            name = f"part-{index:05d}.parquet"
            with self.fs.open(f"{folder}/{name}", "wb") as handle:
                pq.write_table(pa.Table.from_batches([batch]), handle, compression="zstd")
            size = self.fs.size(f"{folder}/{name}")
            files.append(LandedFile(path=name, rows=batch.num_rows, bytes=size))
            if not columns:
                columns = [(field.name, str(field.type)) for field in batch.schema]
            if cursor and batch.num_rows:
                bounds = pc.min_max(batch.column(cursor)).as_py()
                if bounds["min"] is not None:
                    low = bounds["min"] if low is None else min(low, bounds["min"])
                    high = bounds["max"] if high is None else max(high, bounds["max"])
        cursor_range = None
        if cursor and high is not None:
            kind, low_text = encode_cursor(low)
            cursor_range = CursorRange(
                column=cursor, type=kind, min=low_text, max=encode_cursor(high)[1]
            )
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

    def pending(self, last_seen: Mapping[str, str]) -> list[Manifest]:
        """Complete loads (those with a manifest) whose load id sorts after the last one
        seen for their table (`last_seen` by "source.table"), oldest first."""
        pending = []
        for path in self.fs.glob(f"{self.root}/*/*/*/{MANIFEST}"):
            source, table, load_id = path.rsplit("/", 4)[-4:-1]
            if load_id > last_seen.get(f"{source}.{table}", ""):
                pending.append(self.read_manifest(path.rsplit("/", 1)[0]))
        return sorted(pending, key=lambda manifest: manifest.load_id)

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

    def _iter_batches(self, paths: list[str]) -> Iterator[pa.RecordBatch]:
        for path in paths:
            with self.fs.open(path, "rb") as handle:
                yield from pq.ParquetFile(handle).iter_batches()
