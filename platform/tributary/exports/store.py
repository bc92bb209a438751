"""Publishing query results to the export store (a local folder or gs://) all at once.

Parts are written under <root>/_tmp/<export>/<attempt>/, then moved into
<root>/<export>/<partition>/ and sealed with manifest.json and, last, _SUCCESS. A reader that
waits for _SUCCESS never sees half an export; a rerun replaces the partition exactly.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import fsspec
import polars as pl
import pyarrow as pa
from pydantic import BaseModel

from tributary.arrow import nonempty_batches
from tributary.storage import open_filesystem

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"
ExportFormat = Literal["parquet", "csv"]


class ExportedFile(BaseModel):
    path: str
    rows: int
    bytes: int
    sha256: str


class ExportManifest(BaseModel):
    export: str
    partition: str
    asset: str
    format: ExportFormat
    published_at: datetime
    row_count: int
    files: list[ExportedFile]
    columns: list[tuple[str, str]]


@dataclass(frozen=True)
class Publication:
    uri: str
    manifest: ExportManifest


class ExportStore:
    def __init__(self, url: str, *, fs: fsspec.AbstractFileSystem | None = None) -> None:
        self.fs, self.root = open_filesystem(url, fs)

    def partition_dir(self, export: str, partition: str) -> str:
        return f"{self.root}/{export}/{partition}"

    def publish(
        self,
        batches: pa.RecordBatchReader,
        *,
        export: str,
        partition: str,
        asset: str,
        file_format: ExportFormat,
    ) -> Publication:
        staging = f"{self.root}/_tmp/{export}/{uuid.uuid4().hex}"
        self.fs.makedirs(staging, exist_ok=True)
        files = []
        for index, batch in enumerate(nonempty_batches(batches)):
            name = f"part-{index:05d}.{file_format}"
            payload = _encode(pl.DataFrame(pl.from_arrow(batch)), file_format)
            self.fs.pipe_file(f"{staging}/{name}", payload)
            files.append(
                ExportedFile(
                    path=name,
                    rows=batch.num_rows,
                    bytes=len(payload),
                    sha256=hashlib.sha256(payload).hexdigest(),
                )
            )
        manifest = ExportManifest(
            export=export,
            partition=partition,
            asset=asset,
            format=file_format,
            published_at=datetime.now(UTC),
            row_count=sum(f.rows for f in files),
            files=files,
            columns=[(field.name, str(field.type)) for field in batches.schema],
        )
        target = self.partition_dir(export, partition)
        self._replace(staging, target, manifest)
        return Publication(uri=self.fs.unstrip_protocol(target), manifest=manifest)

    def _replace(self, staging: str, target: str, manifest: ExportManifest) -> None:
        # Unseal the old partition before touching it: from here until the new _SUCCESS,
        # readers see "not ready" rather than a mix of old and new parts.
        if self.fs.exists(target):
            if self.fs.exists(f"{target}/{SUCCESS}"):
                self.fs.rm(f"{target}/{SUCCESS}")
            self.fs.rm(target, recursive=True)
        self.fs.makedirs(target, exist_ok=True)
        for exported in manifest.files:
            self.fs.mv(f"{staging}/{exported.path}", f"{target}/{exported.path}")
        self.fs.pipe_file(f"{target}/{MANIFEST}", manifest.model_dump_json(indent=2).encode())
        self.fs.pipe_file(f"{target}/{SUCCESS}", b"")
        if self.fs.exists(staging):
            self.fs.rm(staging, recursive=True)

    def read_manifest(self, export: str, partition: str) -> ExportManifest:
        data = self.fs.cat_file(f"{self.partition_dir(export, partition)}/{MANIFEST}")
        return ExportManifest.model_validate_json(data)


def _encode(frame: pl.DataFrame, file_format: ExportFormat) -> bytes:
    buffer = io.BytesIO()
    if file_format == "parquet":
        frame.write_parquet(buffer, compression="zstd")
    else:
        frame.write_csv(buffer)
    return buffer.getvalue()
