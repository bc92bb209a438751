"""A full, unsliced PostgreSQL load whose column types match the raw table's COPYs the landed
parts straight into the raw table (truncated in the load's transaction) instead of through a
staging table; a key written twice keeps its latest row, a load that changes the table's
types takes the staging path, and a failure leaves the previous rows and watermark."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pyarrow as pa
import pytest

from tests.conftest import BatchesReader
from tributary.config.models import SourceConfig, TableConfig
from tributary.errors import SourceError, WarehouseError
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.warehouse.base import STATE_SCHEMA
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

pytestmark = pytest.mark.integration

ORDERS = TableConfig(name="orders", primary_key=["id"], cursor="updated_at", mode="full")
SOURCE = SourceConfig(
    name="shop", kind="mysql", connection={"url": "mysql://nobody@127.0.0.1/shop"}, tables=[ORDERS]
)
T0 = datetime(2024, 5, 1, 12, 0, 0)

# Every table created in the database, by name, as the transactions that created it commit.
LOG_CREATED_TABLES = """
create table public.created (name text);
create function public.log_created() returns event_trigger language plpgsql as $$
declare r record;
begin
  for r in select * from pg_event_trigger_ddl_commands()
           where command_tag in ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') loop
    insert into public.created values (r.object_identity);
  end loop;
end $$;
create event trigger log_created on ddl_command_end execute function public.log_created();
"""


def orders(ids: list[int], *, minute: int = 0, **extra: pa.Array) -> pa.RecordBatch:
    columns = {
        "id": pa.array(ids, pa.int64()),
        "status": pa.array([f"s{i}m{minute}" for i in ids]),
        "updated_at": pa.array([T0.replace(minute=minute)] * len(ids), pa.timestamp("us")),
        **extra,
    }
    return pa.RecordBatch.from_pydict(columns)


def load(postgres: str, landing: LandingStore, *batches: pa.RecordBatch, fail=None):
    with PostgresWarehouse(postgres) as warehouse:
        return ingest_table(
            SOURCE,
            ORDERS,
            reader=BatchesReader(list(batches), fail),
            landing=landing,
            warehouse=warehouse,
            batch_rows=2,
        )


def created_tables(postgres: str) -> list[str]:
    with psycopg.connect(postgres) as con:
        rows = con.execute("select name from public.created where name like 'raw_shop.%'")
        return [name for (name,) in rows.fetchall()]


def log_created_tables(postgres: str) -> None:
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(LOG_CREATED_TABLES)


def state(postgres: str) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    with psycopg.connect(postgres) as con:
        return (
            con.execute("select * from raw_shop.orders order by id").fetchall(),
            con.execute(f"select value, load_id from {STATE_SCHEMA}.watermarks").fetchall(),
            con.execute(f"select load_id, rows_in_table from {STATE_SCHEMA}.loads").fetchall(),
            con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw_shop'"
            ).fetchall(),
        )


def test_a_full_load_copies_straight_into_the_raw_table(postgres, tmp_path) -> None:
    log_created_tables(postgres)
    landing = LandingStore(str(tmp_path / "landing"))
    load(postgres, landing, orders([1, 2, 3]), orders([4]))
    result = load(postgres, landing, orders([5, 6]), orders([7]), orders([1], minute=3))

    assert created_tables(postgres) == ["raw_shop.orders"]  # no staging table, either load
    rows = state(postgres)[0]
    assert [(row[0], row[1]) for row in rows] == [
        (1, "s1m3"),
        (5, "s5m0"),
        (6, "s6m0"),
        (7, "s7m0"),
    ]
    assert result.outcome.rows_loaded == 4
    assert result.outcome.rows_in_table == 4
    with psycopg.connect(postgres) as con:
        [(persistence,)] = con.execute(
            "select relpersistence from pg_class where oid = 'raw_shop.orders'::regclass"
        ).fetchall()
    assert persistence == "p"  # a first load creates the raw table logged, as before


def test_a_full_load_keeps_the_latest_row_of_a_key_written_twice(postgres, tmp_path) -> None:
    landing = LandingStore(str(tmp_path / "landing"))
    load(postgres, landing, orders([1, 2]))
    result = load(
        postgres,
        landing,
        orders([1, 2], minute=5),
        orders([2, 3], minute=9),  # key 2 again, later
        orders([1], minute=1),  # key 1 again, earlier
    )

    rows = state(postgres)[0]
    assert [(row[0], row[1]) for row in rows] == [(1, "s1m5"), (2, "s2m9"), (3, "s3m9")]
    assert result.outcome.rows_in_table == 3
    assert result.outcome.rows_loaded == 5


def test_keys_that_came_strictly_rising_spare_the_duplicate_key_query(
    postgres, tmp_path, monkeypatch
) -> None:
    # The key column rose from row to row as the rows came (a source read in key order): no
    # key can be there twice, and asking the table (a sort of every key) is skipped. Keys
    # that did not rise are still asked about, and a key written twice still keeps one row.
    asked: list[str | None] = []
    asks = PostgresWarehouse.keys_staged_twice

    def counted(self, tables, relation=None):
        asked.append(relation)
        return asks(self, tables, relation)

    monkeypatch.setattr(PostgresWarehouse, "keys_staged_twice", counted)
    landing = LandingStore(str(tmp_path / "landing"))
    load(postgres, landing, orders([1, 2]), orders([3, 5]))
    assert asked == []
    load(postgres, landing, orders([1, 3]), orders([2, 5]))  # not rising: asked, none twice
    assert len(asked) == 1
    load(postgres, landing, orders([1, 2]), orders([2, 3], minute=9))  # key 2 again
    assert len(asked) == 2
    assert [(row[0], row[1]) for row in state(postgres)[0]] == [
        (1, "s1m0"), (2, "s2m9"), (3, "s3m9"),
    ]  # fmt: skip


def test_nanosecond_keys_that_postgresql_rounds_into_one_keep_one_row(postgres, tmp_path) -> None:
    # Two keys one nanosecond apart rise strictly in Arrow, but PostgreSQL keeps microseconds:
    # in the table they are one key, which must hold one row (the later one), not two.
    events = TableConfig(name="events", primary_key=["at"], mode="full")
    source = SOURCE.model_copy(update={"tables": [events]})
    at = pa.array([10**18, 10**18 + 1], pa.timestamp("ns"))
    with PostgresWarehouse(postgres) as warehouse:
        ingest_table(
            source,
            events,
            reader=BatchesReader([pa.record_batch({"at": at, "seen": ["first", "second"]})]),
            landing=LandingStore(str(tmp_path / "landing")),
            warehouse=warehouse,
            batch_rows=2,
        )
    with psycopg.connect(postgres) as con:
        rows = con.execute("select seen from raw_shop.events").fetchall()
    assert rows == [("second",)]


def test_a_load_that_widens_a_column_takes_the_staging_path(postgres, tmp_path) -> None:
    log_created_tables(postgres)
    landing = LandingStore(str(tmp_path / "landing"))
    load(postgres, landing, orders([1], qty=pa.array([7], pa.int32())))
    widened = load(postgres, landing, orders([2], qty=pa.array([2**40], pa.int64())))
    assert widened.outcome.widened_columns == ["qty"]
    staged = created_tables(postgres)
    assert staged[0] == "raw_shop.orders" and len(staged) == 2  # the widening load staged
    load(postgres, landing, orders([3], qty=pa.array([2**41], pa.int64())))

    assert created_tables(postgres) == staged  # the table's types now match: straight in
    assert [(row[0], row[3]) for row in state(postgres)[0]] == [(3, 2**41)]
    with psycopg.connect(postgres) as con:
        [(kind,)] = con.execute(
            "select data_type from information_schema.columns "
            "where table_schema = 'raw_shop' and table_name = 'orders' and column_name = 'qty'"
        ).fetchall()
    assert kind == "bigint"


def test_a_column_the_load_lacks_stays_null(postgres, tmp_path) -> None:
    landing = LandingStore(str(tmp_path / "landing"))
    load(postgres, landing, orders([1], note=pa.array(["kept?"])))
    result = load(postgres, landing, orders([2, 3]))

    assert result.outcome.missing_columns == ["note"]
    assert [(row[0], row[3]) for row in state(postgres)[0]] == [(2, None), (3, None)]


@pytest.mark.parametrize("failure", ["mid-copy", "source"])
def test_a_failed_full_load_leaves_the_previous_rows(postgres, tmp_path, failure) -> None:
    landing = LandingStore(str(tmp_path / "landing"))
    load(postgres, landing, orders([1, 2, 3]))
    before = state(postgres)

    if failure == "mid-copy":  # PostgreSQL refuses a NUL in text, after a part was copied
        bad = orders([9])
        bad = bad.set_column(1, "status", pa.array(["a\x00b"]))
        with pytest.raises(WarehouseError, match="holds the NUL character"):
            load(postgres, landing, orders([4, 5]), bad)
    else:
        with pytest.raises(SourceError, match="went away"):
            load(postgres, landing, orders([4, 5]), fail=SourceError("the source went away"))

    assert state(postgres) == before


def test_a_full_load_keeps_one_row_per_composite_key(postgres, tmp_path) -> None:
    table = TableConfig(name="orders", primary_key=["id", "updated_at"], mode="full")
    source = SOURCE.model_copy(update={"tables": [table]})
    with PostgresWarehouse(postgres) as warehouse:
        result = ingest_table(
            source,
            table,
            reader=BatchesReader([orders([1, 2], minute=5), orders([1], minute=5)]),
            landing=LandingStore(str(tmp_path / "landing")),
            warehouse=warehouse,
            batch_rows=2,
        )
    assert result.outcome.rows_in_table == 2
    assert [(row[0], row[1]) for row in state(postgres)[0]] == [(1, "s1m5"), (2, "s2m5")]
