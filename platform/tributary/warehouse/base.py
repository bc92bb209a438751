"""The one Warehouse interface. Each backend is a second implementation, not an `if`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa

from tributary.landing import Manifest

STATE_SCHEMA = "_tributary"


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted (the ANSI form DuckDB, PostgreSQL and Redshift share)."""
    return '"' + name.replace('"', '""') + '"'


def raw_schema(source: str) -> str:
    return f"raw_{source}"


@dataclass(frozen=True)
class LoadTarget:
    """Where and how one landed table goes into the warehouse."""

    source: str
    table: str
    mode: Literal["full", "incremental"]
    primary_key: tuple[str, ...] = ()
    cursor: str | None = None

    @property
    def schema(self) -> str:
        return raw_schema(self.source)

    @property
    def qualified_name(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table)}"


@dataclass(frozen=True)
class LoadOutcome:
    table_name: str  # schema.table, unquoted, for people and metadata
    rows_loaded: int
    rows_in_table: int
    columns: list[tuple[str, str]]  # (name, warehouse type)
    watermark: Any | None


class Warehouse(ABC):
    kind: str

    @abstractmethod
    def watermark(self, source: str, table: str) -> Any | None:
        """The cursor value the last committed load of the table reached, if any."""

    @abstractmethod
    def load(
        self,
        target: LoadTarget,
        manifest: Manifest,
        batches: pa.RecordBatchReader,
        *,
        landing_path: str,
        started_at: datetime,
    ) -> LoadOutcome:
        """Load exactly the manifest's rows. In ONE transaction: swap in (full) or merge
        (incremental) the raw table, advance the watermark and record the load."""

    @abstractmethod
    @contextmanager
    def read(self, sql: str, *, batch_rows: int = 100_000) -> Iterator[pa.RecordBatchReader]:
        """Stream a query's result as Arrow batches."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
