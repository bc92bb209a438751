"""A query's result written to object storage by the warehouse itself (Redshift's UNLOAD), for
exports: what is asked for and what comes back. A backend that cannot do it answers None from
`Warehouse.unload`, and the export reads the rows through the client instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa


@dataclass(frozen=True)
class UnloadFormat:
    kind: Literal["parquet", "csv"] = "parquet"
    gzip: bool = False  # csv only; Parquet files carry their own compression
    header: bool = True  # csv
    delimiter: str = ","  # csv


@dataclass(frozen=True)
class UnloadedFile:
    url: str  # the object's URL (s3://bucket/key)
    bytes: int  # its length, as the warehouse's manifest states it
    rows: int


@dataclass(frozen=True)
class UnloadedColumn:
    name: str
    type: pa.DataType  # the export type mapping's Arrow type for the warehouse type
    warehouse_type: str  # as the warehouse's manifest names it, e.g. numeric(12,2)
    note: str | None = None  # where the files hold it otherwise than the mapping says


@dataclass(frozen=True)
class Unloaded:
    files: list[UnloadedFile]  # in the manifest's order
    columns: list[UnloadedColumn]
    compression: str  # what the files are compressed with: snappy, gzip, none
    notes: list[str] = field(default_factory=list)  # how these files differ from a streamed export

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(column.name, column.type) for column in self.columns])
