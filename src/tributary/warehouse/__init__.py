"""Warehouses: one interface (base.py), one folder per backend (duckdb/, postgres/, redshift/),
registered in registry.py; what a backend is, in backend.py."""

from tributary.warehouse.base import (
    STATE_SCHEMA,
    ColumnGap,
    KeyRepeats,
    LoadOutcome,
    LoadTarget,
    ReconcileFailure,
    RunLogRow,
    SourceChangeRow,
    SourceRead,
    TenantRow,
    Warehouse,
    quote_ident,
    raw_schema,
)

__all__ = [
    "STATE_SCHEMA",
    "ColumnGap",
    "KeyRepeats",
    "LoadOutcome",
    "LoadTarget",
    "ReconcileFailure",
    "RunLogRow",
    "SourceChangeRow",
    "SourceRead",
    "TenantRow",
    "Warehouse",
    "quote_ident",
    "raw_schema",
]
