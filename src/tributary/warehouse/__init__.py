"""Warehouses: one interface, one implementation per backend."""

from __future__ import annotations

from pathlib import Path

from tributary.config import ConnectionConfig
from tributary.connection import resolve_url
from tributary.reach import probe
from tributary.warehouse.base import (
    STATE_SCHEMA,
    LoadOutcome,
    LoadTarget,
    RunLogRow,
    SqlWarehouse,
    Warehouse,
    quote_ident,
    raw_schema,
)
from tributary.warehouse.duckdb import DuckDBWarehouse
from tributary.warehouse.postgres import PostgresWarehouse, conninfo
from tributary.warehouse.redshift import RedshiftWarehouse


def open_warehouse(
    target: str,
    *,
    duckdb_path: Path | str | None = None,
    duckdb_memory_limit: str | None = None,
    duckdb_temp_directory: Path | str | None = None,
    connection: ConnectionConfig | None = None,
    iam_role: str | None = None,
    region: str | None = None,
    state_dir: Path = Path("."),
) -> Warehouse:
    """The warehouse for `target`. It connects on first use, not here."""
    if target == "duckdb":
        return DuckDBWarehouse(
            duckdb_path, memory_limit=duckdb_memory_limit, temp_directory=duckdb_temp_directory
        )
    url = resolve_url(connection, owner="warehouse", state_dir=state_dir)
    timeout = connection.connect_timeout
    if target == "postgres":
        return PostgresWarehouse(conninfo(url), connect_timeout=timeout)
    if target == "redshift":

        def connect() -> object:
            import redshift_connector

            # Not redshift_connector's `timeout`: it stays on the socket and would cut off
            # any query (a long COPY) that runs longer.
            probe("redshift", url.host, url.port, owner="warehouse", timeout=timeout)
            return redshift_connector.connect(
                host=url.host,
                port=url.port or 5439,
                database=url.database,
                user=url.username,
                password=url.password or "",
            )

        return RedshiftWarehouse(connect, iam_role=iam_role or "", region=region)
    raise ValueError(f"unknown warehouse target '{target}'")


__all__ = [
    "STATE_SCHEMA",
    "DuckDBWarehouse",
    "LoadOutcome",
    "LoadTarget",
    "PostgresWarehouse",
    "RedshiftWarehouse",
    "RunLogRow",
    "SqlWarehouse",
    "Warehouse",
    "open_warehouse",
    "quote_ident",
    "raw_schema",
]
