"""Warehouses: one interface, one implementation per backend."""

from __future__ import annotations

from pathlib import Path

from tributary.config import ConnectionConfig
from tributary.connection import resolve_url
from tributary.warehouse.base import (
    STATE_SCHEMA,
    LoadOutcome,
    LoadTarget,
    SqlWarehouse,
    Warehouse,
    quote_ident,
    raw_schema,
)
from tributary.warehouse.duckdb import DuckDBWarehouse
from tributary.warehouse.postgres import PostgresWarehouse, conninfo


def open_warehouse(
    target: str,
    *,
    duckdb_path: Path | str | None = None,
    connection: ConnectionConfig | None = None,
    state_dir: Path = Path("."),
) -> Warehouse:
    """The warehouse for `target`. It connects on first use, not here."""
    if target == "duckdb":
        return DuckDBWarehouse(duckdb_path)
    if target == "postgres":
        url = resolve_url(connection, owner="warehouse", state_dir=state_dir)
        return PostgresWarehouse(conninfo(url))
    raise ValueError(f"unknown warehouse target '{target}'")


__all__ = [
    "STATE_SCHEMA",
    "DuckDBWarehouse",
    "LoadOutcome",
    "LoadTarget",
    "PostgresWarehouse",
    "SqlWarehouse",
    "Warehouse",
    "open_warehouse",
    "quote_ident",
    "raw_schema",
]
