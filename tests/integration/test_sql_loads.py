"""MariaDB -> landing -> PostgreSQL (and DuckDB): incremental loads at the cursor boundary,
schema drift, tenant and key-range slices. Exact tables asserted against the source."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from tributary.config.models import SourceConfig, TableConfig, Tenant
from tributary.errors import SchemaDriftError, SourceError, WarehouseError
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.slices import partition_keys, slice_for
from tributary.sources import SqlSource
from tributary.warehouse import Warehouse
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

from .conftest import run_sql

T0 = datetime(2024, 5, 1, 12, 0, 0)


def source_config(url, *tables: TableConfig) -> SourceConfig:
    return SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=tables
    )


def load(url, table: TableConfig, warehouse: Warehouse, landing: Path, where=None):
    return ingest_table(
        source_config(url, table),
        table,
        reader=SqlSource(url),
        landing=LandingStore(str(landing)),
        warehouse=warehouse,
        batch_rows=2,  # several batches even for small tables
        where=where,
    )


def pg_rows(conninfo: str, sql: str) -> list[tuple]:
    with psycopg.connect(conninfo) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def orders(mariadb):
    url, con = mariadb
    run_sql(
        con,
        "create table orders (id int primary key, status varchar(20), "
        "amount decimal(10, 2), updated_at datetime(6))",
    )
    return url, con


ORDERS = TableConfig(
    name="orders", primary_key=["id"], cursor="updated_at", mode="incremental", lookback="1m"
)


def test_incremental_loads_at_the_cursor_boundary(orders, postgres, tmp_path) -> None:
    url, con = orders
    run_sql(
        con,
        "insert into orders values (1, 'new', 10.00, %s), (2, 'new', 20.00, %s)",
        params=(T0, T0),
    )
    with PostgresWarehouse(postgres) as warehouse:
        first = load(url, ORDERS, warehouse, tmp_path)
        assert first.manifest.row_count == 2 and first.outcome.watermark == T0

        # A row with a timestamp EQUAL to the watermark, an update of a loaded row, and a
        # transaction that committed late with a timestamp inside the lookback window.
        run_sql(con, "insert into orders values (3, 'new', 30.00, %s)", params=(T0,))
        run_sql(
            con,
            "update orders set status = 'paid', amount = 21.50, updated_at = %s where id = 2",
            params=(T0.replace(second=30),),
        )
        second = load(url, ORDERS, warehouse, tmp_path)
        assert second.since == T0.replace(minute=59, hour=11)  # watermark - 1 minute
        assert second.outcome.watermark == T0.replace(second=30)

        run_sql(
            con,
            "insert into orders values (4, 'late', 40.00, %s)",
            params=(T0.replace(second=10),),  # behind the watermark, inside the lookback
        )
        third = load(url, ORDERS, warehouse, tmp_path)
        assert third.outcome.watermark == T0.replace(second=30)  # never goes backwards

        rerun = load(url, ORDERS, warehouse, tmp_path)  # idempotent
        assert rerun.outcome.rows_in_table == 4

    source = _source_rows(con, "select id, status, amount, updated_at from orders order by id")
    loaded = pg_rows(
        postgres, "select id, status, amount, updated_at from raw_shop.orders order by id"
    )
    assert loaded == source
    assert pg_rows(postgres, "select count(*), count(distinct id) from raw_shop.orders") == [(4, 4)]
    # Staging tables are UNLOGGED; the raw table made from the first one must be durable.
    persistence = "select relpersistence from pg_class where oid = 'raw_shop.orders'::regclass"
    assert pg_rows(postgres, persistence) == [("p",)]


def _source_rows(con, sql: str) -> list[tuple]:
    with con.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


def test_schema_drift(mariadb, warehouse, tmp_path) -> None:
    url, con = mariadb
    table = TableConfig(name="items", primary_key=["id"])
    run_sql(con, "create table items (id int primary key, qty int, name varchar(10))")
    run_sql(con, "insert into items values (1, 5, 'a')")
    load(url, table, warehouse, tmp_path)

    # a new column is added; a widened type is widened
    run_sql(
        con,
        "alter table items add column note text",
        "alter table items modify qty bigint",
        "insert into items values (2, 9000000000, 'b', 'new column')",
    )
    widened = load(url, table, warehouse, tmp_path)
    assert widened.outcome.added_columns == ["note"]
    assert widened.outcome.widened_columns == ["qty"]
    assert widened.outcome.rows_in_table == 2

    # a narrowed type stops the table with the column, old and new type; nothing is lost
    run_sql(con, "delete from items where id = 2", "alter table items modify qty smallint")
    with pytest.raises(SchemaDriftError, match=r"column 'qty'.* from int64 to int16") as raised:
        load(url, table, warehouse, tmp_path)
    rows = warehouse.query("select id, qty, note from raw_shop.items order by id")
    assert [tuple(r) for r in rows] == [(1, 5, None), (2, 9000000000, "new column")]
    # and says the way on where the source changed so on purpose (a Salesforce number field
    # given more decimal places narrows its integer digits); before: no way was named
    assert str(raised.value).endswith(
        "the table was left as it was. If the source changed so on purpose, drop the raw table "
        "(drop table raw_shop.items, and the views on it), then load it whole again (a full "
        "load, or a run with full_refresh: true)"
    )
    warehouse.execute("drop table raw_shop.items")
    rebuilt = ingest_table(source_config(url, table), table, reader=SqlSource(url),
                           landing=LandingStore(str(tmp_path)), warehouse=warehouse,
                           batch_rows=2, full_refresh=True)  # fmt: skip
    assert rebuilt.outcome.rows_in_table == 1


TENANTS = [
    Tenant(id=1, alias="acme"),
    Tenant(id=2, alias="globex"),
    Tenant(id=3, alias="x", active=False),
]


def test_tenant_partitions_replace_only_their_slice(mariadb, postgres, tmp_path) -> None:
    url, con = mariadb
    run_sql(con, "create table users (id int primary key, company_id int, email varchar(50))")
    run_sql(
        con,
        "insert into users values (1, 1, 'a@acme'), (2, 1, 'b@acme'), (3, 2, 'c@globex')",
    )
    # the legacy admin table's per-company query, parameterised
    table = TableConfig(
        name="users",
        query="select id, company_id, email from users where company_id = :tenant_id",
        tenant_column="company_id",
        primary_key=["id"],
    )
    assert partition_keys(table, TENANTS) == ["1", "2"]
    with PostgresWarehouse(postgres) as warehouse:
        for key in ("1", "2"):
            load(url, table, warehouse, tmp_path, where=slice_for(table, key, TENANTS))
        run_sql(con, "delete from users where id = 1", "update users set email = 'new@globex'")
        load(url, table, warehouse, tmp_path, where=slice_for(table, "1", TENANTS))

    assert pg_rows(postgres, "select id, _tenant_id, email from raw_shop.users order by id") == [
        (2, "1", "new@globex"),  # tenant 1 reloaded: its deleted row gone, update seen
        (3, "2", "c@globex"),  # tenant 2 untouched by tenant 1's load
    ]


def test_a_text_tenant_id_loads_its_own_rows(mariadb, warehouse, tmp_path) -> None:
    """A legacy ERP's clients '001' and '002' in a text column: the ids were read as 1 and 2,
    MySQL's `mandant = 1` compared as numbers, and every load failed, its own rows taken for
    another tenant's. Client '1' is another tenant, whose rows must stay out."""
    url, con = mariadb
    run_sql(con, "create table users (id int primary key, mandant varchar(10), email varchar(20))")
    run_sql(con, "insert into users values (1, '001', 'a'), (2, '001', 'b'), (3, '002', 'c'), "
                 "(4, '1', 'd')")  # fmt: skip
    table = TableConfig(
        name="users",
        query="select id, mandant, email from users where mandant = :tenant_id",
        tenant_column="mandant",
        primary_key=["id"],
    )
    tenants = [Tenant(id="001", alias="zentrale"), Tenant(id="002", alias="filiale")]
    assert partition_keys(table, tenants) == ["001", "002"]
    for key in ("001", "002"):
        load(url, table, warehouse, tmp_path, where=slice_for(table, key, tenants))
    rows = warehouse.query("select id, _tenant_id from raw_shop.users order by id")
    assert rows == [(1, "001"), (2, "001"), (3, "002")]


def test_a_tenant_query_returning_another_tenants_rows_loads_nothing(mariadb, warehouse, tmp_path):
    """A tenant's custom query that also returns other tenants' rows (an OR, a join gone
    wide) loaded them as this tenant's: into its per-tenant exports, where its BI reads them."""
    url, con = mariadb
    run_sql(con, "create table users (id int primary key, company_id int, email varchar(50))")
    run_sql(con, "insert into users values (1, 1, 'a@acme'), (2, 1, 'b'), (3, 2, 'c@globex'), "
                 "(4, null, 'shared')")  # fmt: skip
    table = TableConfig(
        name="users",
        query="select id, company_id, email from users "
        "where company_id = :tenant_id or email like 'c@%' or company_id is null",
        tenant_column="company_id",
        primary_key=["id"],
    )
    with pytest.raises(SourceError) as raised:
        load(url, table, warehouse, tmp_path, where=slice_for(table, "1", TENANTS))
    assert str(raised.value) == (
        "table 'users', tenant 1: the query returned 1 row(s) whose company_id is another "
        "tenant's (2); a tenant's query must select its own rows only; nothing was loaded"
    )
    assert not warehouse.table_exists("raw_shop", "users")


def test_a_custom_querys_decimals_arrive_exactly(mariadb, warehouse, tmp_path) -> None:
    """A query has no catalog entry; its driver read every decimal as decimal(38, 10), so
    1.12345678901234567890 arrived as 1.1234567890 and 0.00000000004 as 0, without an error.
    Now its result's description gives each decimal's precision and scale (a tenant's query
    is described with its parameters NULL)."""
    url, con = mariadb
    run_sql(con, "create table rates (id int primary key, company_id int, fx decimal(30,20), "
                 "amount decimal(12,2) unsigned, label varchar(10))")  # fmt: skip
    run_sql(con, "insert into rates values (1, 1, 1.12345678901234567890, 10.5, 'a'), "
                 "(2, 1, 0.00000000004, 9999999999.99, null), "
                 "(3, 2, -0.99999999999999999999, 0, 'c')")  # fmt: skip
    table = TableConfig(
        name="rates",
        query="select id, company_id, fx, amount, label, fx * 2 as doubled from rates "
        "where company_id = :tenant_id -- the admin table's query",
        tenant_column="company_id",
        primary_key=["id"],
    )
    load(url, table, warehouse, tmp_path, where=slice_for(table, "1", TENANTS))
    loaded = warehouse.query(
        "select id, fx, amount, label, doubled from raw_shop.rates order by id"
    )
    assert [tuple(row) for row in loaded] == [
        (1, Decimal("1.12345678901234567890"), Decimal("10.50"), "a",
         Decimal("2.24691357802469135780")),
        (2, Decimal("0.00000000004000000000"), Decimal("9999999999.99"), None,
         Decimal("0.00000000008000000000")),
    ]  # fmt: skip


def test_key_range_partitions_load_resumable_pieces(mariadb, postgres, tmp_path) -> None:
    url, con = mariadb
    run_sql(con, "create table events (id int primary key, kind varchar(10))")
    run_sql(con, "insert into events values " + ", ".join(f"({i}, 'k{i}')" for i in range(1, 26)))
    table = TableConfig(
        name="events",
        primary_key=["id"],
        key_ranges={"column": "id", "size": 10, "upper_bound": 20},
    )
    keys = partition_keys(table, [])
    assert keys == ["000000000000-000000000009", "000000000010-000000000019"]
    with PostgresWarehouse(postgres) as warehouse:
        sizes = [
            load(
                url, table, warehouse, tmp_path, where=slice_for(table, key, [])
            ).manifest.row_count
            for key in keys
        ]
        assert sizes == [9, 16]  # the last range is open-ended: nothing past the bound lost
        run_sql(con, "update events set kind = 'changed' where id in (3, 15)")
        load(url, table, warehouse, tmp_path, where=slice_for(table, keys[0], []))
    changed = pg_rows(postgres, "select id from raw_shop.events where kind = 'changed'")
    assert changed == [(3,)]  # only the reloaded range saw the change
    assert pg_rows(postgres, "select count(*) from raw_shop.events") == [(25,)]


def test_key_ranges_lose_no_row_below_the_first_or_without_a_value(mariadb, warehouse, tmp_path):
    # Before: the first range read `region_id >= 0`, so the ERP's "unknown" region -1 and a
    # row with no region were in no partition, and every partition's check passed.
    url, con = mariadb
    run_sql(con, "create table stores (id int primary key, region_id int)")
    run_sql(con, "insert into stores values (1, -1), (2, null), (3, 5), (4, 15), (5, 40)")
    table = TableConfig(
        name="stores",
        primary_key=["id"],
        key_ranges={"column": "region_id", "size": 10, "upper_bound": 20},
    )
    keys = partition_keys(table, [])
    sizes = [
        load(url, table, warehouse, tmp_path, where=slice_for(table, key, [])).manifest.row_count
        for key in keys
    ]
    assert sizes == [3, 2]  # the first range is open below and holds the NULLs
    load(url, table, warehouse, tmp_path, where=slice_for(table, keys[0], []))  # a rerun
    loaded = warehouse.query("select id, region_id from raw_shop.stores order by id")
    assert [tuple(row) for row in loaded] == [(1, -1), (2, None), (3, 5), (4, 15), (5, 40)]


def test_a_mariadb_url_reads_as_a_mysql_one(mariadb, warehouse, tmp_path) -> None:
    # Before: SqlSource failed on `mariadb://` with "No module named
    # 'sqlalchemy.dialects.mariadb'" (tributary check too), a traceback naming no setting.
    url, con = mariadb
    run_sql(con, "create table items (id int primary key, price decimal(30, 20))")
    run_sql(con, "insert into items values (1, 1.12345678901234567890)")
    maria = url.set(drivername="mariadb")
    SqlSource(maria).ping()
    load(maria, TableConfig(name="items", primary_key=["id"]), warehouse, tmp_path)
    assert [tuple(r) for r in warehouse.query("select id, price from raw_shop.items")] == [
        (1, Decimal("1.12345678901234567890"))
    ]


@pytest.mark.parametrize("query", [None, "select id from items"])
def test_a_wrong_password_fails_the_read_at_its_login_naming_the_source(mariadb, query) -> None:
    # Before: connectorx's pool retried the refused login for 30 s, then failed with "reading
    # table 'items' failed: timed out waiting for connection: MySqlError { ERROR 1045 ... }".
    # A custom query's first connection (describing its result) is the login too.
    url, con = mariadb
    run_sql(con, "create table items (id int primary key)")
    reader = SqlSource(url.set(password="not-the-password"), owner="shop")
    with pytest.raises(SourceError) as raised:
        reader.read(TableConfig(name="items", query=query), batch_rows=10).batches.read_all()
    message = str(raised.value)
    assert message.startswith("shop: login failed: (1045, \"Access denied for user 'root'@")
    assert "not-the-password" not in message


def load_into(url, table: TableConfig, loads, key: str | None = None):
    """One load of `table` (of its tenant `key`'s partition where given) on `loads`'s
    warehouse and landing store."""
    warehouse, landing = loads
    return ingest_table(source_config(url, table), table, reader=SqlSource(url), landing=landing,
                        warehouse=warehouse, batch_rows=2,
                        where=slice_for(table, key, TENANTS) if key else None)  # fmt: skip


@pytest.fixture
def company_orders(mariadb):
    url, con = mariadb
    run_sql(con, "create table orders (id int primary key, company_id int, amount int, "
                 "updated_at datetime)")  # fmt: skip
    run_sql(con, "insert into orders values (1, 1, 10, %s), (2, 2, 20, %s), (3, 1, 30, %s)",
            params=(T0, T0, T0))  # fmt: skip
    return url


def whole_and_scoped(mode: str) -> tuple[TableConfig, TableConfig]:
    changes = {"mode": "incremental", "cursor": "updated_at"} if mode == "incremental" else {}
    whole = TableConfig(name="orders", primary_key=["id"], **changes)
    return whole, whole.model_copy(update={"tenant_column": "company_id"})


def raw_orders(loads) -> list[tuple]:
    warehouse, _ = loads
    return [tuple(r) for r in warehouse.query("select id, amount from raw_shop.orders order by 1")]


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_table_loaded_whole_then_scoped_by_tenant_refuses_its_tenants_loads(
    company_orders, loads, mode
) -> None:
    """A table loaded whole, then given a tenant_column: each tenant's load replaced the rows
    whose _tenant_id is its id, and the rows loaded whole (_tenant_id NULL) stayed beside
    them, each row twice, every check passing (fct_sales summed each amount twice)."""
    url = company_orders
    whole, scoped = whole_and_scoped(mode)
    load_into(url, whole, loads)

    for key in ("1", "2"):
        with pytest.raises(WarehouseError) as raised:
            load_into(url, scoped, loads, key)
        assert str(raised.value) == (
            f"table 'orders', tenant {key}: raw_shop.orders holds 3 row(s) of no tenant "
            "(_tenant_id NULL), loaded before the table was scoped by tenant; a tenant's load "
            "would leave them beside its own rows, each row twice, so nothing was loaded; "
            "drop the raw table (drop table raw_shop.orders) and load every tenant's "
            "partition again"
        )
    assert raw_orders(loads) == [(1, 10), (2, 20), (3, 30)]

    # The way out the error gives.
    loads[0].execute("drop table raw_shop.orders")
    for key in ("1", "2"):
        load_into(url, scoped, loads, key)
    rows = loads[0].query("select id, _tenant_id, amount from raw_shop.orders order by 1")
    assert [tuple(r) for r in rows] == [(1, "1", 10), (2, "2", 20), (3, "1", 30)]


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_tenant_scoped_table_loaded_whole_holds_each_row_once(company_orders, loads, mode):
    """The reverse change (tenant_column removed): the whole load replaces (full) or merges
    by key (incremental) every tenant's rows, so each row is there once; scoped again, the
    rows it loaded (_tenant_id NULL) refuse the tenants' loads as above."""
    url = company_orders
    whole, scoped = whole_and_scoped(mode)
    for key in ("1", "2"):
        load_into(url, scoped, loads, key)
    load_into(url, whole, loads)
    assert raw_orders(loads) == [(1, 10), (2, 20), (3, 30)]

    with pytest.raises(WarehouseError, match=r"holds 3 row\(s\) of no tenant \(_tenant_id NULL\)"):
        load_into(url, scoped, loads, "1")
    assert raw_orders(loads) == [(1, 10), (2, 20), (3, 30)]
