"""Warehouses: one interface, one implementation per backend."""

from __future__ import annotations

from tributary.config import ProjectConfig
from tributary.warehouse.base import (
    STATE_SCHEMA,
    LoadOutcome,
    LoadTarget,
    Warehouse,
    quote_ident,
    raw_schema,
)
from tributary.warehouse.duckdb import DuckDBWarehouse


def open_warehouse(project: ProjectConfig) -> Warehouse:
    """The configured warehouse. It connects on first use, not here."""
    return DuckDBWarehouse(project.warehouse_path)


__all__ = [
    "STATE_SCHEMA",
    "DuckDBWarehouse",
    "LoadOutcome",
    "LoadTarget",
    "Warehouse",
    "open_warehouse",
    "quote_ident",
    "raw_schema",
]
