"""Extraction: each source kind yields a table's rows as Arrow record batches."""

from __future__ import annotations

from pathlib import Path

from tributary.config.models import SourceConfig
from tributary.connection import resolve_url
from tributary.sources.base import (
    ClockedSource,
    ColumnType,
    Extract,
    KeyMatchingSource,
    OriginSource,
    Profile,
    ProfilingSource,
    SourceClock,
    SourceError,
    SourceReader,
    TypedSource,
    ValueLocatingSource,
    Window,
    cursor_conditions,
)
from tributary.sources.sql import SqlSource

SQL_KINDS = {"mysql", "sqlserver", "oracle", "postgres", "sqlite"}


def open_source(source: SourceConfig, *, state_dir: Path) -> SourceReader:
    """The reader for `source`. Nothing connects until a table is read."""
    if source.kind == "salesforce":
        # Imported here: its client (simple_salesforce, zeep) is 31 MB of every process's
        # imports otherwise, Salesforce configured or not.
        from tributary.sources.salesforce import SalesforceSource

        return SalesforceSource(source.salesforce, source=source.name)
    if source.kind in SQL_KINDS:
        owner = f"source '{source.name}'"
        return SqlSource(
            resolve_url(source.connection, owner=owner, state_dir=state_dir),
            owner=owner,
            connect_timeout=source.connection.connect_timeout,
        )
    raise SourceError(f"source '{source.name}': kind '{source.kind}' has no reader yet")


__all__ = [
    "ClockedSource",
    "ColumnType",
    "Extract",
    "KeyMatchingSource",
    "OriginSource",
    "Profile",
    "ProfilingSource",
    "SourceClock",
    "SourceError",
    "SourceReader",
    "SqlSource",
    "TypedSource",
    "ValueLocatingSource",
    "Window",
    "cursor_conditions",
    "open_source",
]
