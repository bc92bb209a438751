"""Two loads of one table at once, as operators start them: the warehouse serializes them
itself (a transaction-scoped lock per raw table on PostgreSQL, one writer per DuckDB file),
and Dagster queues the second run's step behind the first (a pool per raw table).

Before, two incremental loads of the same rows on PostgreSQL both deleted the keys they
were about to insert, neither seeing the other's uncommitted rows, and both inserted them:
every row twice."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from tests.conftest import local_dagster_home, materialize_at_once, wait_for
from tributary.config.loader import CONFIG_DIR_ENV, STATE_DIR_ENV
from tributary.config.models import SourceConfig, TableConfig
from tributary.errors import OvertakenLoadError
from tributary.ingest import ingest_table, load_target
from tributary.landing import LandingStore
from tributary.sources import SqlSource
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

from .conftest import run_sql

pytestmark = pytest.mark.integration

ROWS = 20_000
ORDERS = {"name": "orders", "primary_key": ["id"], "cursor": "updated_at", "mode": "incremental"}


@pytest.fixture
def orders(mariadb):
    url, con = mariadb
    run_sql(
        con,
        "create table orders (id int primary key, status varchar(20), updated_at datetime(6))",
        "insert into orders select seq, 'new', '2024-01-01' + interval seq second "
        f"from seq_1_to_{ROWS}",
    )
    return url, con


def load_orders(url, warehouse: PostgresWarehouse, landing: Path) -> int:
    """One load of shop.orders; the rows in the raw table after it."""
    table = TableConfig(**ORDERS)
    result = ingest_table(
        shop_source(url),
        table,
        reader=SqlSource(url),
        landing=LandingStore(str(landing)),
        warehouse=warehouse,
        batch_rows=5_000,
    )
    return result.outcome.rows_in_table


def shop_source(url) -> SourceConfig:
    return SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[ORDERS]
    )


def test_two_loads_at_once_on_postgres_keep_one_row_per_key(orders, postgres, tmp_path) -> None:
    """Both loads read the same rows and reach the warehouse together: the second merges
    only once the first has committed."""
    url, con = orders
    both_read = threading.Barrier(2, timeout=60)
    errors: list[BaseException] = []

    class MeetingWarehouse(PostgresWarehouse):
        def load(self, *args, **kwargs):
            both_read.wait()  # both loads have extracted and landed: they load together
            return super().load(*args, **kwargs)

    def one_load() -> None:
        try:
            with MeetingWarehouse(postgres) as warehouse:
                load_orders(url, warehouse, tmp_path / "landing")
        except BaseException as error:
            errors.append(error)

    run_sql(con, f"delete from orders where id > {ROWS // 2}")
    with PostgresWarehouse(postgres) as warehouse:
        load_orders(url, warehouse, tmp_path / "landing")  # the table exists
    # Since then: half the rows are new keys (no row in the table for a merge to lock), the
    # other half changed.
    run_sql(
        con,
        "update orders set status = 'paid', updated_at = updated_at + interval 1 day",
        f"insert into orders select seq, 'new', '2024-01-02' + interval seq second "
        f"from seq_{ROWS // 2 + 1}_to_{ROWS}",
    )
    threads = [threading.Thread(target=one_load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Where the load that began later took the lock first, the other (its read older) writes
    # nothing; either way one row per key.
    assert all(isinstance(error, OvertakenLoadError) for error in errors), errors
    with psycopg.connect(postgres) as pg:
        counted = pg.execute("select count(*), count(distinct id) from raw_shop.orders")
        assert counted.fetchall() == [(ROWS, ROWS)]
        committed = pg.execute("select count(*) from _tributary.loads").fetchall()
        assert committed == [(3 - len(errors),)]


class OvertakenWhileReading:
    """A reader whose read is overtaken: once it has read the rows, `meanwhile` runs (the
    source changes and a later load of the same table commits), then its rows go on."""

    def __init__(self, reader: SqlSource, meanwhile) -> None:
        self.reader, self.meanwhile = reader, meanwhile

    def read(self, table, **kwargs):
        extract = self.reader.read(table, **kwargs)
        rows = extract.batches.read_all()
        self.meanwhile()
        return replace(extract, batches=rows.to_reader())

    def __getattr__(self, name):
        return getattr(self.reader, name)


def test_a_load_overtaken_by_a_later_one_writes_nothing(mariadb, warehouse, tmp_path) -> None:
    """Two loads of one table overlapping (two CLI runs, the API, the SQLite instance's slot
    race): the one that read first committed last, and its older rows replaced the newer
    ones; the watermark kept the newer load's, so no load read them again. Silent."""
    url, con = mariadb
    run_sql(
        con,
        "create table orders (id int primary key, status varchar(20), updated_at datetime)",
        "insert into orders values (1, 'new', '2024-01-01')",
    )
    table = TableConfig(**ORDERS)

    def load(reader) -> None:
        ingest_table(shop_source(url), table, reader=reader, landing=LandingStore(str(tmp_path)),
                     warehouse=warehouse, batch_rows=100)  # fmt: skip

    def meanwhile() -> None:
        run_sql(con, "update orders set status = 'paid', updated_at = '2024-01-01 12:05:00'")
        load(SqlSource(url))

    with pytest.raises(OvertakenLoadError) as raised:
        load(OvertakenWhileReading(SqlSource(url), meanwhile))
    assert "table 'orders': another load of it committed" in str(raised.value)
    assert warehouse.query("select id, status from raw_shop.orders") == [(1, "paid")]


def test_a_load_waits_for_the_lock_on_its_raw_table(orders, postgres, tmp_path) -> None:
    """Whoever else holds the table's lock (another load, in another process), a load waits
    for it: PostgreSQL shows the load waiting on the advisory lock until it is released."""
    url, _ = orders
    loaded: list[int] = []

    def one_load() -> None:
        with PostgresWarehouse(postgres) as warehouse:
            loaded.append(load_orders(url, warehouse, tmp_path / "landing"))

    def waiting_on_a_lock() -> bool:
        waiting = observer.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted"
        ).fetchall()
        return waiting == [(1,)] or not thread.is_alive()

    table = TableConfig(**ORDERS)
    with PostgresWarehouse(postgres) as holder, psycopg.connect(postgres) as observer:
        with holder.transaction():
            holder.lock(load_target(shop_source(url), table))
            thread = threading.Thread(target=one_load)
            thread.start()
            wait_for("the load to wait on the table's lock", waiting_on_a_lock, timeout=60)
            assert thread.is_alive() and loaded == []  # it waits, it did not load
        thread.join(timeout=60)  # released by the holder's commit
    assert loaded == [ROWS]


def write_project(tmp_path: Path, url, warehouse: dict) -> Path:
    config = tmp_path / "assets_config"
    (config / "sources").mkdir(parents=True)
    platform = {"warehouse": warehouse, "batch_rows": 5_000}
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    source = {
        "name": "shop",
        "kind": "mysql",
        "connection": {"url": url.render_as_string()},
        "tables": [ORDERS],
    }
    (config / "sources" / "shop.yaml").write_text(yaml.safe_dump(source))
    return config


def test_two_cli_runs_of_one_table_end_with_the_source_rows(
    orders, tmp_path, warehouse_config
) -> None:
    url, con = orders
    home = local_dagster_home(tmp_path / "dagster_home")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        CONFIG_DIR_ENV: str(write_project(tmp_path, url, warehouse_config)),
        STATE_DIR_ENV: str(tmp_path / "state"),
    }
    # The source changes under the loads: every row touched, as in the report.
    run_sql(con, "update orders set status = 'paid', updated_at = updated_at + interval 1 day")
    materialize_at_once("raw/shop/orders", env)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        statuses = [run.status for run in instance.get_runs()]
        assert statuses == [dg.DagsterRunStatus.SUCCESS] * 2
    counted = "select count(*), count(distinct id), count(*) filter (where status = 'paid') "
    counted += "from raw_shop.orders"
    if warehouse_config["target"] == "duckdb":
        import duckdb

        with duckdb.connect(str(tmp_path / "state" / "warehouse.duckdb"), read_only=True) as duck:
            assert duck.execute(counted).fetchall() == [(ROWS, ROWS, ROWS)]
    else:
        with psycopg.connect(warehouse_config["connection"]["url"]) as pg:
            assert pg.execute(counted).fetchall() == [(ROWS, ROWS, ROWS)]


@pytest.fixture(params=["duckdb", "postgres"])
def open_warehouse(request, tmp_path):
    """Opens a connection of its own to one warehouse, for each load of a test's threads."""
    from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

    if request.param == "duckdb":
        return lambda: DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    url = request.getfixturevalue("postgres")
    return lambda: PostgresWarehouse(url)


def test_a_load_that_read_before_another_committed_writes_nothing_whoever_began_first(
    mariadb, open_warehouse, tmp_path
) -> None:
    """Load A begins first, but its read waits (its warehouse's answers, a read process slow
    to start); load B begins and reads; the source changes; A reads the new rows and commits;
    then B commits. B's read is the older: before, only which load began first was compared,
    so B's rows replaced A's newer ones, and the watermark (A's, which never goes back) kept
    every later load from reading id 1 again: 'packed' for good, every check passing (a probe
    with a live writer saw it in 2 of 30 pairs of loads)."""
    url, con = mariadb
    run_sql(
        con,
        "create table orders (id int primary key, status varchar(20), updated_at datetime)",
        "insert into orders values (1, 'new', '2024-01-01 10:00'), (2, 'new', '2024-01-01 11:00')",
    )
    table = TableConfig(**ORDERS)

    landing = LandingStore(str(tmp_path / "landing"))

    def load(reader) -> None:
        with open_warehouse() as warehouse:
            ingest_table(shop_source(url), table, reader=reader, landing=landing,
                         warehouse=warehouse, batch_rows=100)  # fmt: skip

    load(SqlSource(url))
    run_sql(
        con,
        "update orders set status = 'packed', updated_at = updated_at + interval 1 day",
    )
    a_reading, b_read, a_done = threading.Event(), threading.Event(), threading.Event()
    a_errors: list[BaseException] = []

    class ReadsLate(OvertakenWhileReading):
        def read(self, table, **kwargs):
            a_reading.set()
            assert b_read.wait(60)
            return self.reader.read(table, **kwargs)

    def load_a() -> None:
        try:
            load(ReadsLate(SqlSource(url), None))
        except BaseException as error:
            a_errors.append(error)
        finally:
            a_done.set()

    def meanwhile() -> None:  # B has read 'packed': the rows change, and A reads and commits
        run_sql(con, "update orders set status = 'paid', updated_at = updated_at + interval 1 day")
        b_read.set()
        assert a_done.wait(120)

    thread = threading.Thread(target=load_a)
    thread.start()
    assert a_reading.wait(60)
    with pytest.raises(OvertakenLoadError) as raised:
        load(OvertakenWhileReading(SqlSource(url), meanwhile))
    thread.join(timeout=60)
    assert a_errors == []
    assert "another load of it committed" in str(raised.value)
    with open_warehouse() as warehouse:
        held = warehouse.query("select id, status from raw_shop.orders order by id")
    assert held == [(1, "paid"), (2, "paid")]
