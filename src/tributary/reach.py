"""Checking, within a time limit, that a database server accepts and answers a connection.

connectorx cannot be given a time limit: its connection pool keeps retrying for 30 s,
logging each failure, whatever the URL says. So a source (and Redshift) is probed first: a
TCP connection, then the first exchange of the server's protocol where that needs no
credentials. A server that is down then fails an attempt with one short error in
`connect_timeout` seconds instead of 30 s (or 130 s for libpq's own default).
"""

from __future__ import annotations

import socket
import time

from sqlalchemy.engine import URL

from tributary.errors import Unreachable

DEFAULT_PORTS = {
    "mysql": 3306,
    "mariadb": 3306,
    "postgresql": 5432,
    "redshift": 5439,
    "mssql": 1433,
    "oracle": 1521,
}
# PostgreSQL's SSLRequest (Redshift speaks the same protocol): the server answers it with
# one byte ('S' or 'N') before any login.
_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
# What the client sends first to get an answer; MySQL servers speak first (their greeting).
# SQL Server and Oracle need a driver-specific packet: for them an accepted TCP connection
# is taken as the answer.
_HELLO = {"postgresql": _SSL_REQUEST, "redshift": _SSL_REQUEST, "mysql": b"", "mariadb": b""}


def probe_url(url: URL, *, owner: str, timeout: float) -> None:
    probe(url.get_backend_name(), url.host, url.port, owner=owner, timeout=timeout)


def probe(backend: str, host: str | None, port: int | None, *, owner: str, timeout: float) -> None:
    """Raise Unreachable unless the `backend` server at host:port accepts a connection and
    answers it within `timeout` seconds. Without a TCP host (SQLite, a local socket, a list of
    hosts for the driver to choose from) there is nothing to probe."""
    if not host or host.startswith("/") or "," in host or backend not in DEFAULT_PORTS:
        return
    address = (host, int(port or DEFAULT_PORTS[backend]))
    started = time.monotonic()
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            hello = _HELLO.get(backend)
            if hello is None:
                return
            # The time limit is for the whole check, the TCP connection included.
            sock.settimeout(max(timeout - (time.monotonic() - started), 0.001))
            sock.sendall(hello)
            if not sock.recv(1):
                raise ConnectionAbortedError("connection closed without an answer")
    except TimeoutError:
        raise Unreachable(where(owner, address, f"no answer within {timeout:g} s")) from None
    except socket.gaierror:
        raise Unreachable(where(owner, address, "host name not found")) from None
    except OSError as error:
        reason = (error.strerror or str(error) or type(error).__name__).lower()
        elapsed = time.monotonic() - started
        raise Unreachable(where(owner, address, f"{reason} after {elapsed:.1f} s")) from None


def where(owner: str, address: tuple[str, int], reason: str) -> str:
    host, port = address
    return f"{owner}: cannot connect to {host}:{port} ({reason})"
