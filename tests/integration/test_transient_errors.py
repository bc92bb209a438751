"""Which errors of real servers and drivers are retried: told apart by what the driver says
(PostgreSQL's SQLSTATE, MySQL's error number), and by the server's message where it gives no
code (libpq's refused login, connectorx)."""

from __future__ import annotations

import shutil
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import dagster as dg
import psycopg
import pymysql
import pytest
import yaml

from tributary.config.loader import load_project
from tributary.config.models import TableConfig
from tributary.defs import build_definitions
from tributary.errors import SourceError, WarehouseError
from tributary.retry import is_transient
from tributary.sources.sql import SqlSource
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

APP_USERS = dg.AssetKey(["raw", "app", "users"])
SSL_REQUESTS = (80877103, 80877104)  # SSLRequest, GSSENCRequest


@contextmanager
def postgres_starting_up() -> Iterator[int]:
    """A server that answers every login as PostgreSQL does while it starts up or recovers
    (FATAL 57P03, 'the database system is starting up'); yields its port."""
    fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"

    def answer(conn: socket.socket) -> None:
        with conn:
            while len(head := conn.recv(8)) == 8:
                length, code = struct.unpack("!ii", head)
                conn.recv(max(0, length - 8))
                if code not in SSL_REQUESTS:
                    conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
                    return
                conn.sendall(b"N")

    def serve(server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    with socket.create_server(("127.0.0.1", 0)) as server:
        threading.Thread(target=serve, args=(server,), daemon=True).start()
        yield server.getsockname()[1]


def test_a_postgresql_source_starting_up_is_retried(
    config_dir: Path, state_dir: Path, monkeypatch
) -> None:
    """A source server starting up (or in recovery) refused the load's login with FATAL
    57P03; the load failed at once, where a server that is down is retried."""
    for path in (config_dir / "sources").glob("*.yaml"):
        path.unlink()
    shutil.rmtree(config_dir / "exports")
    (config_dir / "teams.yaml").unlink()
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["automation"] = {"retries": {"attempts": 2, "delay_seconds": 0.05}}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    with postgres_starting_up() as port:
        source = {
            "name": "app",
            "kind": "postgres",
            "connection": {"url": f"postgresql://postgres@127.0.0.1:{port}/app"},
            "tables": [{"name": "users", "primary_key": ["id"]}],
        }
        (config_dir / "sources" / "app.yaml").write_text(yaml.safe_dump(source))
        job = build_definitions(load_project(config_dir)).resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            asset_selection=[APP_USERS],
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    events = [event.event_type for event in result.all_events if event.step_key]
    assert events.count(dg.DagsterEventType.STEP_UP_FOR_RETRY) == 1
    [failure] = [event for event in result.all_events if event.is_step_failure]
    error = failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    assert "the database system is starting up" in error.message


def test_a_postgresql_warehouse_starting_up_is_transient() -> None:
    """The same refusal by the PostgreSQL warehouse failed its load at once."""
    with postgres_starting_up() as port:
        warehouse = PostgresWarehouse(f"postgresql://postgres:s3cret@127.0.0.1:{port}/wh")
        with pytest.raises(WarehouseError) as refused:
            warehouse.query("select 1")
    assert "the database system is starting up" in str(refused.value)
    assert "s3cret" not in str(refused.value)
    assert is_transient(refused.value)


def raised(action: Callable[[], object]) -> Exception:
    with pytest.raises(Exception) as error:
        action()
    return error.value


def deadlock(connect: Callable[[], object], table: str) -> Exception:
    """The error of one of two sessions that each update the row the other holds."""
    first, second = connect(), connect()
    with closing(first), closing(second):
        first.cursor().execute(f"update {table} set v = v where id = 1")
        second.cursor().execute(f"update {table} set v = v where id = 2")
        errors: list[Exception] = []

        def cross() -> None:
            try:
                second.cursor().execute(f"update {table} set v = v where id = 1")
            except Exception as error:
                errors.append(error)

        waiting = threading.Thread(target=cross)
        waiting.start()
        try:
            first.cursor().execute(f"update {table} set v = v where id = 2")
        except Exception as error:
            errors.append(error)
        waiting.join()
        [error] = errors
        return error


def test_postgresql_errors_are_told_apart_by_their_sqlstate(postgres: str) -> None:
    """A deadlock (40P01) and a serialization failure (40001) failed at once, their messages
    naming nothing the retry knew; a duplicate key 503 was retried for its '503'."""
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute("create table t (id int primary key, v int)")
        con.execute("insert into t values (1, 0), (2, 0), (503, 0)")
    assert is_transient(deadlock(lambda: psycopg.connect(postgres), "t"))

    first, second = (psycopg.connect(postgres) for _ in range(2))
    with first, second:
        for con in (first, second):
            con.execute("set transaction isolation level serializable")
            con.execute("select sum(v) from t")
        first.execute("update t set v = 1 where id = 1")
        second.execute("update t set v = 1 where id = 2")
        first.commit()
        conflict = raised(second.commit)
    assert conflict.sqlstate == "40001" and is_transient(conflict)

    with psycopg.connect(postgres, autocommit=True) as con:
        duplicate = raised(lambda: con.execute("insert into t values (503, 0)"))
        assert "(503)" in str(duplicate) and not is_transient(duplicate)
        con.execute("set statement_timeout = 100")
        slow = raised(lambda: con.execute("select pg_sleep(1)"))
        assert is_transient(slow)  # a timeout, as before


def test_mariadb_errors_are_told_apart_by_their_error_number(mariadb) -> None:
    """A MariaDB deadlock (1213, 'try restarting transaction') failed at once; a duplicate
    entry '503' was retried for its '503'; a custom query naming an unknown column
    session_timeout was retried for its 'timeout', the driver's error number dropped."""
    url, con = mariadb
    con.cursor().execute("create table t (id int primary key, v int)")
    con.cursor().execute("insert into t values (1, 0), (2, 0), (503, 0)")

    def connect() -> pymysql.Connection:
        return pymysql.connect(host=url.host, port=url.port, user="root", database=url.database)

    assert is_transient(deadlock(connect, "t"))
    duplicate = raised(lambda: con.cursor().execute("insert into t values (503, 0)"))
    assert "'503'" in str(duplicate) and not is_transient(duplicate)

    table = TableConfig(name="sessions", query="select id, session_timeout from t")
    unknown = raised(lambda: SqlSource(url, owner="source 'app'").describe(table))
    assert isinstance(unknown, SourceError) and "session_timeout" in str(unknown)
    assert not is_transient(unknown)
