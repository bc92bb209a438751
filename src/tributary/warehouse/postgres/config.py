"""`warehouse: {target: postgres}`: a PostgreSQL database reached through `connection`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy.engine import URL

from tributary.config.common import ConnectionConfig
from tributary.connection import resolve_url
from tributary.errors import WarehouseError
from tributary.warehouse.backend import WarehouseBackend

if TYPE_CHECKING:
    from tributary.warehouse.postgres.warehouse import PostgresWarehouse
    from tributary.warehouse.redshift.config import RedshiftWarehouseConfig

DEFAULT_PORT = 5432

# libpq's connection parameters (a URL's query) that it also reads from an environment
# variable, as dbt-postgres's libpq 17 lists them (PQconndefaults). Tributary's own connection
# passes the query to libpq as it is; dbt-postgres passes libpq only its profile's settings,
# so dbt's libpq gets the rest from these variables (dbt-postgres leaves sslmode, sslcert,
# sslkey, sslrootcert and options to libpq where the profile does not set them, as ours
# does not).
LIBPQ_ENV = {
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
    "channel_binding": "PGCHANNELBINDING",
    "hostaddr": "PGHOSTADDR",
    "client_encoding": "PGCLIENTENCODING",
    "options": "PGOPTIONS",
    "sslmode": "PGSSLMODE",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcertmode": "PGSSLCERTMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "require_auth": "PGREQUIREAUTH",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "gssdelegation": "PGGSSDELEGATION",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}
# Parameters dbt-postgres always gives libpq itself: profiles.yml takes them from these.
# (connect_timeout too, but Tributary's own connection takes connection.connect_timeout.)
POSTGRES_PROFILE_ENV = {
    "host": "TRIBUTARY_WAREHOUSE_HOST",
    "port": "TRIBUTARY_WAREHOUSE_PORT",
    "user": "TRIBUTARY_WAREHOUSE_USER",
    "dbname": "TRIBUTARY_WAREHOUSE_DATABASE",
    "application_name": "TRIBUTARY_WAREHOUSE_APPLICATION_NAME",
}


class PostgresWarehouseConfig(WarehouseBackend):
    target: Literal["postgres"]
    connection: ConnectionConfig

    def open(self, *, state_dir: Path = Path(".")) -> PostgresWarehouse:
        from tributary.warehouse.postgres.warehouse import PostgresWarehouse, conninfo

        url = resolve_url(self.connection, owner="warehouse", state_dir=state_dir)
        libpq_query_env(url)  # a parameter dbt would go without fails here too
        return PostgresWarehouse(conninfo(url), connect_timeout=self.connection.connect_timeout)

    def dbt_env(self, *, secrets: bool = True) -> dict[str, str]:
        return server_dbt_env(
            self, default_port=DEFAULT_PORT, secrets=secrets, query_env=libpq_query_env
        )


def libpq_query_env(url: URL) -> dict[str, str]:
    """The URL's query as dbt-postgres is given it: libpq's own variables, or profiles.yml's.
    A parameter that cannot reach dbt is refused, naming it: dbt would connect without it (with
    sslmode=require gone, over plain text)."""
    env = {}
    for key, value in query_items(url):
        variable = LIBPQ_ENV.get(key) or POSTGRES_PROFILE_ENV.get(key)
        if variable is None:
            instead = (
                "set connection.connect_timeout instead (Tributary's own connection takes that)"
                if key == "connect_timeout"
                else "libpq reads it from no environment variable, or dbt-postgres sets it "
                "itself; remove it (docs/configuration.md lists the parameters that reach dbt)"
            )
            raise WarehouseError(
                f"warehouse: the URL's query key '{key}' cannot be given to dbt: {instead}"
            )
        env[variable] = value
    return env


def query_items(url: URL) -> list[tuple[str, str]]:
    """The URL's query as (key, value); a key given twice is refused (which would hold?)."""
    for key, value in url.query.items():
        if not isinstance(value, str):
            raise WarehouseError(f"warehouse: the URL's query gives '{key}' {len(value)} times")
    return list(url.query.items())


def server_dbt_env(
    backend: PostgresWarehouseConfig | RedshiftWarehouseConfig,
    *,
    default_port: int,
    secrets: bool,
    query_env: Callable[[URL], dict[str, str]],
) -> dict[str, str]:
    """profiles.yml's variables for a warehouse reached over the network (PostgreSQL's
    protocol: PostgreSQL and Redshift); `query_env` gives those of the URL's query."""
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
        # after the URL's parts: a query's host (a socket folder) holds, as in libpq
        **query_env(url),
    }
