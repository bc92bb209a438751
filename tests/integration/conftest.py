"""Real servers: a fresh MariaDB database and a fresh PostgreSQL database per test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import URL, make_url

from tests.conftest import free_port, require_service
from tributary.config.loader import PROJECT_ROOT
from tributary.storage import s3_filesystem

# The IAM role the Redshift stand-in is given to COPY and UNLOAD with.
COPY_ROLE = "arn:aws:iam::123456789012:role/tributary-copy"

MARIADB = dict(host="127.0.0.1", port=3306, user="root", password="")
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _mariadb_up() -> bool:
    try:
        pymysql.connect(**MARIADB, connect_timeout=3).close()
        return True
    except pymysql.err.OperationalError:
        return False


def _postgres_up() -> bool:
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
        return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def mariadb() -> Iterator[tuple[URL, pymysql.connections.Connection]]:
    """(URL of a fresh database, an autocommit connection to it)."""
    require_service("MariaDB on 127.0.0.1:3306", _mariadb_up())
    name = f"tributary_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(**MARIADB, autocommit=True, charset="utf8mb4")
    admin.cursor().execute(f"create database {name} character set utf8mb4")
    con = pymysql.connect(**MARIADB, database=name, autocommit=True, charset="utf8mb4")
    con.cursor().execute("set session sql_mode = ''")  # allow zero dates, as old apps do
    try:
        yield make_url(f"mysql://root@127.0.0.1:3306/{name}"), con
    finally:
        con.close()
        admin.cursor().execute(f"drop database {name}")
        admin.close()


@pytest.fixture
def postgres() -> Iterator[str]:
    """The conninfo URL of a fresh PostgreSQL database."""
    require_service("PostgreSQL on 127.0.0.1:5432", _postgres_up())
    name = f"tributary_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"drop database {name} with (force)")


@pytest.fixture
def role_prefix(postgres) -> Iterator[str]:
    """A name prefix unique to the test for every role it creates (roles are cluster-wide in
    PostgreSQL, and other tests run at the same time); they are all dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    yield prefix
    with psycopg.connect(postgres, autocommit=True) as con:
        roles = con.execute(
            "select rolname from pg_roles where left(rolname, %s) = %s", (len(prefix), prefix)
        ).fetchall()
        for (role,) in roles:
            con.execute(f'drop owned by "{role}"')
            con.execute(f'drop role "{role}"')


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    """Each SQL warehouse that runs here: the embedded DuckDB file, and a fresh PostgreSQL
    database."""
    from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse
    from tributary.warehouse.postgres.warehouse import PostgresWarehouse

    if request.param == "duckdb":
        with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as duck:
            yield duck
    else:
        with PostgresWarehouse(request.getfixturevalue("postgres")) as pg:
            yield pg


@pytest.fixture(params=["duckdb", "postgres", "redshift"])
def loads(request, tmp_path):
    """(warehouse, landing store) for each warehouse a load writes: Redshift's stand-in COPYs
    from S3."""
    from tests.integration.redshift_fake import RecordingRedshift
    from tributary.landing import LandingStore
    from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse
    from tributary.warehouse.postgres.warehouse import PostgresWarehouse
    from tributary.warehouse.redshift.warehouse import RedshiftWarehouse

    if request.param == "duckdb":
        with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as duck:
            yield duck, LandingStore(str(tmp_path / "landing"))
    elif request.param == "postgres":
        with PostgresWarehouse(request.getfixturevalue("postgres")) as pg:
            yield pg, LandingStore(str(tmp_path / "landing"))
    else:
        endpoint, bucket = request.getfixturevalue("s3")
        landing = LandingStore(f"s3://{bucket}/landing", fs=s3_filesystem(endpoint_url=endpoint))
        connection = RecordingRedshift(
            request.getfixturevalue("postgres"), landing.fs, iam_role=COPY_ROLE
        )
        with RedshiftWarehouse(lambda: connection, iam_role=COPY_ROLE) as redshift:
            yield redshift, landing


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_config(request) -> dict:
    """platform.yaml's `warehouse:` for each SQL warehouse that runs here: a DuckDB file under
    the state dir, and a fresh PostgreSQL database."""
    if request.param == "duckdb":
        return {"target": "duckdb", "path": "warehouse.duckdb"}
    return {"target": "postgres", "connection": {"url": request.getfixturevalue("postgres")}}


def as_loaded(warehouse, table: str, source: str = "shop") -> None:
    """The raw table as if its last load had left it so: the row count recorded beside its
    watermark set to what it holds now. For a hand edit that stands for what a load wrote (a
    row lost as it wrote, keys an earlier release wrote twice); any other makes the next load
    read the table whole (Warehouse.read_start)."""
    warehouse.execute(
        f"update _tributary.watermarks set rows_held = (select count(*) from raw_{source}.{table})"
        " where source = ? and table_name = ?",
        [source, table],
    )


def run_sql(con: pymysql.connections.Connection, *statements: str, params=None) -> None:
    with con.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(endpoint URL, bucket) of a real S3 server (moto) with one empty bucket."""
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
        started = True
    except OSError:
        started = False
    require_service("moto S3 server", started)
    endpoint = f"http://127.0.0.1:{port}"
    bucket = f"tributary-{uuid.uuid4().hex[:8]}"
    try:
        s3_filesystem(endpoint_url=endpoint).mkdir(bucket)
        yield endpoint, bucket
    finally:
        server.stop()


DBT = Path(sys.executable).parent / "dbt"


def run_dbt(backend, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """dbt in the project's dbt folder with the environment a run gives it (`backend`: the
    warehouse's settings); its target and logs under tmp_path."""
    return subprocess.run(
        [str(DBT), *args, "--profiles-dir", "."],
        cwd=PROJECT_ROOT / "dbt_project",
        env={**os.environ, **backend.dbt_env(), "DBT_TARGET_PATH": str(tmp_path / "target"),
             "DBT_LOG_PATH": str(tmp_path / "logs")},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
