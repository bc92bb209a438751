"""Relational sources (MySQL, SQL Server, Oracle, PostgreSQL, SQLite) read as Arrow batches.

The query is built with SQLAlchemy Core and compiled for the dialect of the database actually
connected to, so quoting and cursor literals are right for each. Rows are fetched by a
`Fetcher`, connectorx by default: the seam where a driver is swapped (or faked in tests).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import connectorx
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, Dialect

from tributary.config import TableConfig
from tributary.sources.base import SourceError
from tributary.sources.connection import redact

Fetcher = Callable[[str, str, int], pa.RecordBatchReader]

# SQLAlchemy backend name -> connectorx scheme.
_CONNECTORX_SCHEMES = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "mssql",
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "oracle": "oracle",
}


def connectorx_fetch(connection: str, query: str, batch_rows: int) -> pa.RecordBatchReader:
    return connectorx.read_sql(connection, query, return_type="arrow_stream", batch_size=batch_rows)


def dialect_for(url: URL) -> Dialect:
    """The SQLAlchemy dialect of `url`, without importing its DB-API driver."""
    backend = url.get_backend_name()
    return importlib.import_module(f"sqlalchemy.dialects.{backend}").dialect()


class SqlSource:
    def __init__(self, url: URL, *, fetch: Fetcher = connectorx_fetch) -> None:
        self._url = url
        self._fetch = fetch
        self.dialect = dialect_for(url)

    def build_query(self, table: TableConfig, *, since: Any | None = None) -> str:
        if table.query:
            relation = sa.text(table.query).columns().subquery("src")
        else:
            *schema, name = table.read_object.split(".")
            relation = sa.table(name, schema=".".join(schema) or None)
        statement = sa.select(sa.literal_column("*")).select_from(relation)
        if since is not None:
            if not table.cursor:
                raise SourceError(f"table '{table.name}' has no cursor to read incrementally")
            statement = statement.where(sa.column(table.cursor) >= sa.literal(since))
        compiled = statement.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True})
        return str(compiled)

    def read(
        self, table: TableConfig, *, since: Any | None, batch_rows: int
    ) -> pa.RecordBatchReader:
        query = self.build_query(table, since=since)
        try:
            return self._fetch(self._connectorx_url(), query, batch_rows)
        except Exception as exc:  # driver errors vary; re-raise without credentials
            message = redact(str(exc), self._url)
            raise SourceError(f"reading table '{table.name}' failed: {message}") from None

    def _connectorx_url(self) -> str:
        scheme = _CONNECTORX_SCHEMES.get(self._url.get_backend_name())
        if scheme is None:
            raise SourceError(f"no reader for databases of type '{self._url.get_backend_name()}'")
        return self._url.set(drivername=scheme).render_as_string(hide_password=False)
