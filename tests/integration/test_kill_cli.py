"""A run of `dagster asset materialize` SIGKILLed at extract, land, load and commit on DuckDB,
and at load and commit on PostgreSQL: after each kill the previous raw table and watermark
stay, no scratch table is left, and the local instance's run monitoring (the real daemon,
deploy/dagster.local.yaml) marks the dead run FAILED; then a rerun through the CLI equals the
source (rows and checksum).

One test per warehouse, its kills in a row: each changes the source and kills a load, and the
one rerun at the end meets what every kill left behind (their landed files, their FAILED runs
and the pool slots those held). A CLI run costs seconds (a step process of its own on
PostgreSQL): a rerun after each kill would pay for them again and prove no more. Extract and
land come before the warehouse's code: their kills are on DuckDB only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pyarrow as pa
import pymysql
import pytest
import yaml

from tests.conftest import background_process, local_dagster_home, wait_for
from tributary.arrow import checksum
from tributary.config.loader import load_project
from tributary.defs.resources import LandingStoreResource, WarehouseResource
from tributary.ingest import ingest_table
from tributary.sources import open_source

from .conftest import MARIADB, POSTGRES, _mariadb_up, _postgres_up, require_service

KILL_CLI = Path(__file__).with_name("kill_cli.py")
DAEMON = Path(sys.executable).parent / "dagster-daemon"
POOL = "raw/shop/orders"
MATERIALIZE = ["asset", "materialize", "--select", POOL, "-m", "tributary.definitions"]
COLUMNS = "id, status, amount, updated_at"
T0 = datetime(2024, 5, 1, 12, 0, 0)
# kill_cli.py's points, per warehouse.
KILL_POINTS = {
    "duckdb": ("extract", "land", "load", "commit"),
    "postgres": ("load", "commit"),
}


@pytest.fixture(scope="module")
def source() -> Iterator[pymysql.connections.Connection]:
    """A MariaDB database with shop.orders, shared by every case of this module."""
    require_service("MariaDB on 127.0.0.1:3306", _mariadb_up())
    name = f"tributary_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(**MARIADB, autocommit=True)
    admin.cursor().execute(f"create database {name}")
    con = pymysql.connect(**MARIADB, database=name, autocommit=True)
    con.cursor().execute(
        "create table orders (id int primary key, status varchar(20),"
        " amount decimal(10, 2), updated_at datetime(6))"
    )
    try:
        yield con
    finally:
        con.close()
        admin.cursor().execute(f"drop database {name}")
        admin.close()


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory) -> Iterator[Path]:
    """The local instance, its monitoring polling every second, with the real daemon on it."""
    root = tmp_path_factory.mktemp("kill")
    home = local_dagster_home(root / "dagster_home")
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    config.setdefault("run_monitoring", {})["poll_interval_seconds"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    workspace = root / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": []}))  # monitoring needs no code
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with background_process(
        [str(DAEMON), "run", "-w", str(workspace)], env=env, cwd=root, log=root / "daemon.log"
    ):
        yield home


class Project:
    """A temporary TRIBUTARY_CONFIG_DIR: the `shop` source and one warehouse."""

    def __init__(self, root: Path, source_url: str, warehouse: dict, home: Path) -> None:
        self.root = root
        self.warehouse = warehouse
        config = root / "assets_config"
        (config / "sources").mkdir(parents=True)
        platform = {
            "state_dir": str(root / "state"),
            "warehouse": warehouse,
            "landing": {"url": "landing"},
            "batch_rows": 2,
        }
        (config / "platform.yaml").write_text(yaml.safe_dump(platform))
        shop = {
            "name": "shop",
            "kind": "mysql",
            "connection": {"url": source_url},
            "tables": [
                {"name": "orders", "primary_key": ["id"], "cursor": "updated_at",
                 "mode": "incremental"},
            ],
        }  # fmt: skip
        (config / "sources" / "shop.yaml").write_text(yaml.safe_dump(shop))
        self.config, self.home = config, home
        self.env = {**os.environ, "DAGSTER_HOME": str(home), "TRIBUTARY_CONFIG_DIR": str(config)}
        self.env.pop("TRIBUTARY_STATE_DIR", None)

    def materialize(self, kill_at: str | None = None) -> subprocess.CompletedProcess:
        env = {**self.env, "TRIBUTARY_KILL_AT": kill_at} if kill_at else self.env
        # A session of its own: the kill takes the run's whole process group.
        try:
            return subprocess.run(
                [sys.executable, str(KILL_CLI), *MATERIALIZE] if kill_at
                else [sys.executable, "-m", "dagster", *MATERIALIZE],
                env=env, cwd=self.root, capture_output=True, timeout=180, start_new_session=True,
            )  # fmt: skip
        except subprocess.TimeoutExpired as timeout:  # say what it awaited
            daemon = (self.home.parent / "daemon.log").read_text()
            with dg.DagsterInstance.from_config(str(self.home)) as instance:
                pool = instance.event_log_storage.get_concurrency_info(POOL)
            pytest.fail(
                f"the run (kill at {kill_at}) did not end in 180 s; its log:\n"
                f"{(timeout.stderr or b'').decode()[-4000:]}\nthe daemon's log:\n{daemon[-3000:]}"
                f"\npool {POOL}: {pool}"
            )

    def query(self, sql: str) -> list[tuple]:
        if self.warehouse["target"] == "duckdb":
            path = self.root / "state" / self.warehouse["path"]
            with duckdb.connect(str(path), read_only=True) as con:
                return con.execute(sql).fetchall()
        with psycopg.connect(self.warehouse["connection"]["url"]) as con:
            return con.execute(sql).fetchall()

    def state(self) -> tuple:
        """The raw table's (rows, checksum), the watermark and the recorded loads."""
        return (
            rows_checksum(self.query(f"select {COLUMNS} from raw_shop.orders")),
            self.query("select value, load_id from _tributary.watermarks"),
            self.query("select load_id from _tributary.loads order by load_id"),
        )

    def raw_tables(self) -> list[str]:
        return sorted(
            name
            for (name,) in self.query(
                "select table_name from information_schema.tables where table_schema = 'raw_shop'"
            )
        )


def rows_checksum(rows: list[tuple]) -> tuple[int, str]:
    names = [name.strip() for name in COLUMNS.split(",")]
    table = pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows])
    return checksum(table.to_batches())


def source_checksum(con: pymysql.connections.Connection) -> tuple[int, str]:
    with con.cursor() as cursor:
        cursor.execute(f"select {COLUMNS} from orders")
        return rows_checksum(list(cursor.fetchall()))


@pytest.fixture(scope="module")
def project(request, source, dagster_home, tmp_path_factory) -> Iterator[Project]:
    """One warehouse, loaded once from the source."""
    source_url = f"mysql://root@127.0.0.1:3306/{source.db.decode()}"
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "duckdb":
        yield from _loaded(Project(root, source_url, {"target": "duckdb", "path": "wh.duckdb"},
                                   dagster_home), source)  # fmt: skip
        return
    require_service("PostgreSQL on 127.0.0.1:5432", _postgres_up())
    name = f"tributary_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        warehouse = {"target": "postgres", "connection": {"url": url}}
        yield from _loaded(Project(root, source_url, warehouse, dagster_home), source)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"drop database {name} with (force)")


def _loaded(project: Project, source) -> Iterator[Project]:
    with source.cursor() as cursor:
        cursor.execute("select count(*) from orders")
        if cursor.fetchone()[0] == 0:
            cursor.executemany(
                "insert into orders values (%s, 'new', %s, %s)",
                [(i, Decimal(i) / 4, T0 + timedelta(seconds=i)) for i in range(1, 6)],
            )
    # The first load in this process, as the raw asset does it (a CLI run costs seconds).
    config = load_project(project.config)
    [shop] = config.sources
    with WarehouseResource.from_project(config).open() as warehouse:
        ingest_table(
            shop,
            shop.tables[0],
            reader=open_source(shop, state_dir=config.state_dir),
            landing=LandingStoreResource.from_project(config).open(),
            warehouse=warehouse,
            batch_rows=config.platform.batch_rows,
        )
    yield project


def change_source(con: pymysql.connections.Connection, hours: int) -> None:
    """An update and three new rows, all past the watermark: two batches or more to land."""
    at = T0 + timedelta(hours=hours)
    with con.cursor() as cursor:
        cursor.execute(
            "update orders set status = 'paid', amount = amount + 1, updated_at = %s where id = 1",
            (at,),
        )
        cursor.execute("select max(id) from orders")
        top = cursor.fetchone()[0]
        cursor.executemany(
            "insert into orders values (%s, 'new', %s, %s)",
            [(top + i, Decimal("0.01") * i, at + timedelta(seconds=i)) for i in range(1, 4)],
        )


# Each change's time, across both warehouses' tests: always past the shared source's newest row.
_hours = iter(range(1, 1000))


@pytest.mark.parametrize("project", list(KILL_POINTS), indirect=True)
def test_killed_cli_runs_leave_previous_state_and_a_rerun_converges(project, source):
    with dg.DagsterInstance.from_config(project.env["DAGSTER_HOME"]) as instance:
        for kill_at in KILL_POINTS[project.warehouse["target"]]:
            change_source(source, next(_hours))
            before = project.state()
            runs_before = {run.run_id for run in instance.get_runs()}

            killed = project.materialize(kill_at=kill_at)
            assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr.decode()[-3000:])
            [run_id] = {run.run_id for run in instance.get_runs()} - runs_before

            def finished(run_id=run_id):
                run = instance.get_run_by_id(run_id)
                return run if run.is_finished else None

            # The run's process is gone: the daemon's run monitoring marks the run FAILED.
            run = wait_for(f"run {run_id} killed at {kill_at} to finish", finished, timeout=60)
            assert run.status == dg.DagsterRunStatus.FAILURE, kill_at

            assert project.state() == before, kill_at
            assert project.raw_tables() == ["orders"], kill_at  # no staging or scratch table

    rerun = project.materialize()
    assert rerun.returncode == 0, rerun.stderr.decode()[-3000:]
    assert rows_checksum(project.query(f"select {COLUMNS} from raw_shop.orders")) == (
        source_checksum(source)
    )
    assert project.raw_tables() == ["orders"]
