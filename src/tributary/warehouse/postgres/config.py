"""`warehouse: {target: postgres}`: a PostgreSQL database reached through `connection`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tributary.config.common import ConnectionConfig
from tributary.connection import resolve_url
from tributary.warehouse.backend import WarehouseBackend

if TYPE_CHECKING:
    from tributary.warehouse.postgres.warehouse import PostgresWarehouse
    from tributary.warehouse.redshift.config import RedshiftWarehouseConfig

DEFAULT_PORT = 5432


class PostgresWarehouseConfig(WarehouseBackend):
    target: Literal["postgres"]
    connection: ConnectionConfig

    def open(self, *, state_dir: Path = Path(".")) -> PostgresWarehouse:
        from tributary.warehouse.postgres.warehouse import PostgresWarehouse, conninfo

        url = resolve_url(self.connection, owner="warehouse", state_dir=state_dir)
        return PostgresWarehouse(conninfo(url), connect_timeout=self.connection.connect_timeout)

    def dbt_env(self, *, secrets: bool = True) -> dict[str, str]:
        return server_dbt_env(self, default_port=DEFAULT_PORT, secrets=secrets)


def server_dbt_env(
    backend: PostgresWarehouseConfig | RedshiftWarehouseConfig, *, default_port: int, secrets: bool
) -> dict[str, str]:
    """profiles.yml's variables for a warehouse reached over the network (PostgreSQL's
    protocol: PostgreSQL and Redshift)."""
    connection = backend.connection
    if not secrets:
        connection = connection.model_copy(update={"password_env": None})
    url = resolve_url(connection, owner="warehouse", state_dir=".")
    return {
        "TRIBUTARY_DBT_TARGET": backend.target,
        "TRIBUTARY_WAREHOUSE_HOST": url.host or "127.0.0.1",
        "TRIBUTARY_WAREHOUSE_PORT": str(url.port or default_port),
        "TRIBUTARY_WAREHOUSE_USER": url.username or "",
        # dbt's DBT_ENV_SECRET_ prefix: usable in profiles.yml only, scrubbed from its logs
        "DBT_ENV_SECRET_TRIBUTARY_WAREHOUSE_PASSWORD": url.password or "",
        "TRIBUTARY_WAREHOUSE_DATABASE": url.database or "",
    }
