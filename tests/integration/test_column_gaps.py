"""A column the source stops sending for a while, then sends again (a view redefined without
it and back, Salesforce field-level security hiding a field, a custom query edited). The
loads in between merge their rows, the lookback's unchanged ones too, with NULL in it; once
it comes back, the rows those loads merged must get their values again, without the user
knowing to ask for a full_refresh. MariaDB (and the Salesforce fake) -> each warehouse that
runs here (DuckDB, PostgreSQL, and Redshift on its stand-in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tributary.config.models import SourceConfig, TableConfig, Tenant
from tributary.defs.checks import load_check_results
from tributary.errors import NullKeyError, SchemaDriftError
from tributary.ingest import ingest_table, load_from_inbox, with_load_columns
from tributary.landing import LandingStore
from tributary.reconcile import returned_text
from tributary.slices import partition_keys, slice_for
from tributary.sources import SqlSource
from tributary.sources.salesforce import SalesforceSource
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

from .conftest import run_sql

T0 = datetime(2024, 5, 1, 12, 0, 0)
ITEMS = TableConfig(
    name="items", primary_key=["id"], cursor="updated_at", mode="incremental", lookback="5m"
)
WITH_AMOUNT = "create or replace view items as select id, name, amount, updated_at from items_base"
WITHOUT_AMOUNT = "create or replace view items as select id, name, updated_at from items_base"


@pytest.fixture
def items(mariadb):
    """A view over a base table, holding three rows with amounts."""
    url, con = mariadb
    run_sql(
        con,
        "create table items_base (id int primary key, name varchar(20), amount decimal(10,2), "
        "updated_at datetime)",
        WITH_AMOUNT,
    )
    run_sql(
        con,
        "insert into items_base values (1, 'a', 10.50, %s), (2, 'b', 20.50, %s), "
        "(3, 'c', 30.50, %s)",
        params=(T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)),
    )
    return url, con


def load(url, warehouse, landing, *, full_refresh=False, table=ITEMS):
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[table]
    )
    return ingest_table(
        source,
        table,
        reader=SqlSource(url),
        landing=landing,
        warehouse=warehouse,
        batch_rows=2,
        full_refresh=full_refresh,
    )


def touch(con, key: int, name: str, minutes: int) -> None:
    run_sql(
        con,
        "update items_base set name = %s, updated_at = %s where id = %s",
        params=(name, T0 + timedelta(minutes=minutes), key),
    )


def raw_items(warehouse) -> list[tuple]:
    return sorted(tuple(r) for r in warehouse.query("select id, name, amount from raw_shop.items"))


def source_items(con) -> list[tuple]:
    with con.cursor() as cursor:
        cursor.execute("select id, name, amount from items_base")
        return sorted(cursor.fetchall())


def gaps(warehouse) -> list[tuple]:
    return [tuple(r) for r in warehouse.query("select scope from _tributary.column_gaps")]


def schema_drift(table, load_, url, warehouse):
    [check] = [
        c
        for c in load_check_results(table, load_, reader=SqlSource(url), warehouse=warehouse)
        if c.check_name == "schema_drift"
    ]
    return check


def test_a_column_back_in_the_source_refills_the_rows_merged_without_it(items, loads) -> None:
    url, con = items
    warehouse, landing = loads
    load(url, warehouse, landing)
    assert raw_items(warehouse) == source_items(con)

    # The view stops sending amount; one row changes. The lookback re-reads all three.
    run_sql(con, WITHOUT_AMOUNT)
    touch(con, 1, "a2", 10)
    hidden = load(url, warehouse, landing)
    assert hidden.outcome.missing_columns == ["amount"]
    # Every warehouse writes the merged row whole, NULL in it (Redshift's MERGE left the value
    # of before, stale from then on and unmarked).
    assert raw_items(warehouse) == [(1, "a2", None), (2, "b", None), (3, "c", None)]
    check = schema_drift(ITEMS, hidden, url, warehouse)
    assert not check.passed
    assert "amount" in check.description and str(hidden.since) in check.description

    # Still hidden on the next load: the point to re-read from stays the first load's.
    touch(con, 2, "b2", 20)
    still = load(url, warehouse, landing)
    assert still.since > hidden.since

    # Back: the load re-reads the rows merged without it, from the first of them holding an
    # amount at the source (row 1, touched at minute 10; the first load without it read from
    # minute -3), and every row holds the source's amount again.
    run_sql(con, WITH_AMOUNT)
    touch(con, 3, "c2", 30)
    back = load(url, warehouse, landing)
    assert hidden.since < back.since == T0 + timedelta(minutes=10)
    assert back.outcome.returned_columns == ["amount"]
    assert back.outcome.reread_from == back.since
    assert raw_items(warehouse) == source_items(con)
    assert source_items(con) == [
        (1, "a2", Decimal("10.50")),
        (2, "b2", Decimal("20.50")),
        (3, "c2", Decimal("30.50")),
    ]
    check = schema_drift(ITEMS, back, url, warehouse)
    assert check.passed, check.description
    assert "amount" in check.description and "re-read" in check.description
    assert gaps(warehouse) == []

    # Healed: the next load reads from its watermark again.
    after = load(url, warehouse, landing)
    assert after.since > hidden.since
    assert after.outcome.returned_columns == []


def test_a_full_refresh_clears_the_gap(items, loads) -> None:
    url, con = items
    warehouse, landing = loads
    load(url, warehouse, landing)
    run_sql(con, WITHOUT_AMOUNT)
    load(url, warehouse, landing)
    assert gaps(warehouse) == [("",)]
    run_sql(con, WITH_AMOUNT)
    load(url, warehouse, landing, full_refresh=True)
    assert gaps(warehouse) == []
    assert raw_items(warehouse) == source_items(con)


def test_a_failed_load_leaves_no_gap_recorded(items, loads) -> None:
    url, con = items
    warehouse, landing = loads
    load(url, warehouse, landing)
    # Without amount, and with a row whose key is NULL: the load fails at the read's end.
    run_sql(
        con,
        "create or replace view items as select id, name, updated_at from items_base "
        "union all select null, 'x', cast(%s as datetime)",
        params=(T0 + timedelta(minutes=5),),
    )
    with pytest.raises(NullKeyError, match="NULL id"):
        load(url, warehouse, landing)
    assert gaps(warehouse) == []


def test_an_inbox_drop_without_the_column_is_named_until_the_source_is_read(items, loads) -> None:
    """A drop from another tool lacks amount: its rows hold NULL; a drop with it again cannot
    re-read the source, and the check says which rows still lack it and how to fill them; the
    next load read from the source re-reads them."""
    url, con = items
    warehouse, landing = loads
    load(url, warehouse, landing)
    run_sql(con, WITHOUT_AMOUNT)
    touch(con, 1, "a2", 10)
    load(url, warehouse, landing)
    run_sql(con, WITH_AMOUNT)
    touch(con, 2, "b2", 20)
    # Another tool drops row 2 as it is now, amount and all.
    inbox = landing.inbox()
    extracted = datetime.now(UTC)
    read = SqlSource(url).read(ITEMS, since=T0 + timedelta(minutes=20), batch_rows=2)
    inbox.land(
        with_load_columns(read.batches, load_id="drop-1", extracted_at=extracted),
        source="shop",
        table="items",
        load_id="drop-1",
        mode="incremental",
        extracted_at=extracted,
        cursor="updated_at",
        cursor_until=None,
        scope="",
        counters=read.counters,
        part_rows=2,
    )
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[ITEMS]
    )
    dropped = load_from_inbox(source, ITEMS, "drop-1", inbox=inbox, warehouse=warehouse)
    assert raw_items(warehouse) == [(1, "a2", None), (2, "b2", Decimal("20.50")), (3, "c", None)]
    check = schema_drift(ITEMS, dropped, url, warehouse)
    assert not check.passed
    assert "amount" in check.description and "inbox" in check.description

    back = load(url, warehouse, landing)
    assert back.outcome.returned_columns == ["amount"]
    assert raw_items(warehouse) == source_items(con)
    assert gaps(warehouse) == []


SF_STAMP = "%Y-%m-%dT%H:%M:%S.000Z"


def test_salesforce_field_level_security_hiding_a_field_for_a_load(
    salesforce_fake, monkeypatch, tmp_path
) -> None:
    api = salesforce_fake.api
    monkeypatch.setenv("TEST_SF_SESSION_ID", api.session_id)
    monkeypatch.setenv("TEST_SF_INSTANCE_URL", salesforce_fake.instance_url)
    source = SourceConfig.model_validate(
        {
            "name": "crm",
            "kind": "salesforce",
            "salesforce": {
                "session_id_env": "TEST_SF_SESSION_ID",
                "instance_url_env": "TEST_SF_INSTANCE_URL",
            },
            "tables": [{"name": "account", "object": "Account", "lookback": "5m"}],
        }
    )
    [table] = source.tables

    def sf_load(warehouse):
        reader = SalesforceSource(
            source.salesforce, source="crm", session=salesforce_fake.session(), bulk_poll_seconds=0
        )
        return ingest_table(
            source,
            table,
            reader=reader,
            landing=LandingStore(str(tmp_path / "landing")),
            warehouse=warehouse,
            batch_rows=100,
        )

    def cities(warehouse):
        return dict(warehouse.query("select id, billingcity from raw_crm.account"))

    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        sf_load(warehouse)
        before = cities(warehouse)
        assert any(before.values())
        fields = api.describes["account"]["fields"]
        api.describes["account"]["fields"] = [f for f in fields if f["name"] != "BillingCity"]
        some = next(iter(before))
        later = datetime(2024, 3, 1, 10, 30, tzinfo=UTC).strftime(SF_STAMP)
        api.upsert("Account", {"Id": some, "Name": "Renamed", "SystemModstamp": later})
        hidden = sf_load(warehouse)
        assert hidden.outcome.missing_columns == ["billingcity"]
        api.describes["account"]["fields"] = fields
        back = sf_load(warehouse)
        assert cities(warehouse) == before
        assert back.outcome.returned_columns == ["billingcity"]


# --- A column new to the table: the rows loaded before it was added lack it too -----------
ORDERS = TableConfig(name="orders", primary_key=["id"], cursor="updated_at", mode="incremental")


def load_table(url, table, warehouse, landing, *, where=None, kind="mysql"):
    """`url`: a MariaDB URL, or a PostgreSQL conninfo (`kind="postgres"`)."""
    url = make_url(url) if isinstance(url, str) else url
    source = SourceConfig(
        name="shop", kind=kind, connection={"url": url.render_as_string()}, tables=[table]
    )
    return ingest_table(
        source,
        table,
        reader=SqlSource(url),
        landing=landing,
        warehouse=warehouse,
        batch_rows=2,
        where=where,
    )


def my_rows(con, sql: str) -> list[tuple]:
    with con.cursor() as cursor:
        cursor.execute(sql)
        return sorted(tuple(row) for row in cursor.fetchall())


def raw_rows(warehouse, sql: str) -> list[tuple]:
    return sorted(tuple(row) for row in warehouse.query(sql))


def test_a_column_added_with_a_default_is_read_into_the_rows_loaded_before(mariadb, loads) -> None:
    # Before: the rows loaded before the ALTER kept NULL where every source row holds 'EUR',
    # and the schema_drift check passed ("every column comes from the source").
    url, con = mariadb
    warehouse, landing = loads
    run_sql(con, "create table orders (id int primary key, qty int, updated_at datetime(6))")
    run_sql(con, "insert into orders values (1, 5, %s), (2, 6, %s), (9, 9, %s)",
            params=(T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=30)))  # fmt: skip
    load_table(url, ORDERS, warehouse, landing)

    run_sql(con, "alter table orders add column currency char(3) not null default 'EUR'")
    run_sql(con, "insert into orders values (3, 7, %s, 'USD')", params=(T0 + timedelta(hours=1),))
    added = load_table(url, ORDERS, warehouse, landing)
    columns = "select id, qty, currency from {}orders".format
    assert raw_rows(warehouse, columns("raw_shop.")) == my_rows(con, columns(""))
    assert added.since == T0  # the lowest cursor of a row holding a currency
    assert added.outcome.added_columns == ["currency"]
    assert returned_text(added.outcome) == f"currency, new: re-read from {T0}"
    check = schema_drift(ORDERS, added, url, warehouse)
    assert check.passed, check.description
    assert "currency" in check.description and "re-read" in check.description
    assert gaps(warehouse) == []

    # Read: the next load reads from its watermark again.
    after = load_table(url, ORDERS, warehouse, landing)
    assert after.since == T0 + timedelta(hours=1)
    assert returned_text(after.outcome) == "-"


def test_a_column_added_is_read_again_from_its_first_row_holding_a_value_only(
    postgres, loads
) -> None:
    """A PostgreSQL source read through a `query:`: one query asks where the rows behind the
    watermark that hold a value of the new column begin; an `ADD COLUMN ... NULL` whose old
    rows hold none re-reads nothing."""
    warehouse, landing = loads
    table = ORDERS.model_copy(update={"query": "select * from src_orders where qty > 0"})

    def pg(*statements, params=None):
        with psycopg.connect(postgres, autocommit=True) as con:
            for statement in statements:
                con.execute(statement, params)

    def source_rows(columns):
        with psycopg.connect(postgres) as con:
            return sorted(con.execute(f"select {columns} from src_orders").fetchall())

    pg("create table src_orders (id int primary key, qty int, updated_at timestamp)")
    pg("insert into src_orders values (1, 5, %s), (2, 6, %s), (3, 7, %s)",
       params=(T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)))  # fmt: skip
    load_table(postgres, table, warehouse, landing, kind="postgres")

    # Old rows hold NULL in it at the source too: nothing to re-read.
    pg("alter table src_orders add column memo text")
    pg("insert into src_orders values (4, 8, %s, 'four')", params=(T0 + timedelta(minutes=30),))
    memo = load_table(postgres, table, warehouse, landing, kind="postgres")
    assert memo.since == T0 + timedelta(minutes=20)
    assert returned_text(memo.outcome) == (
        f"memo, new: no row before {T0 + timedelta(minutes=20)} holds a value, none re-read"
    )
    assert gaps(warehouse) == []

    # Backfilled in one old row (its cursor untouched): re-read from that row.
    pg("alter table src_orders add column note text", "update src_orders set note = 'x' "
       "where id = 2")  # fmt: skip
    pg("insert into src_orders values (5, 9, %s, null, 'y')", params=(T0 + timedelta(hours=1),))
    note = load_table(postgres, table, warehouse, landing, kind="postgres")
    assert note.since == T0 + timedelta(minutes=10)
    assert returned_text(note.outcome) == f"note, new: re-read from {T0 + timedelta(minutes=10)}"
    columns = "id, qty, memo, note"
    assert raw_rows(warehouse, f"select {columns} from raw_shop.orders") == source_rows(columns)
    assert gaps(warehouse) == []


def test_a_column_added_is_read_into_every_tenants_rows(mariadb, loads) -> None:
    """The first tenant's load adds the column to the table and re-reads its own rows; the
    other tenants' rows lack it too, each until its next load re-reads them. (Key-range
    partitions are full loads: each range's next load replaces its rows.)"""
    url, con = mariadb
    warehouse, landing = loads
    table = ORDERS.model_copy(update={"tenant_column": "company_id"})
    tenants = [Tenant(id=1, alias="one"), Tenant(id=2, alias="two")]
    first, second = (slice_for(table, key, tenants) for key in partition_keys(table, tenants))
    run_sql(con, "create table orders (id int primary key, company_id int, qty int, "
            "updated_at datetime)")  # fmt: skip
    run_sql(con, "insert into orders values (1, 1, 5, %s), (2, 2, 6, %s), (11, 1, 7, %s), "
            "(12, 2, 8, %s)", params=(T0, T0, T0 + timedelta(minutes=1),
                                      T0 + timedelta(minutes=1)))  # fmt: skip
    for where in (first, second):
        load_table(url, table, warehouse, landing, where=where)

    run_sql(con, "alter table orders add column currency char(3) not null default 'EUR'")
    added = load_table(url, table, warehouse, landing, where=first)
    assert added.since == T0
    assert returned_text(added.outcome) == f"currency, new: re-read from {T0}"
    assert gaps(warehouse) == [(second.key,)]

    other = load_table(url, table, warehouse, landing, where=second)
    assert other.since == T0
    assert returned_text(other.outcome) == f"currency, re-read from {T0}"
    assert gaps(warehouse) == []
    columns = "select id, qty, currency from {}orders".format
    assert raw_rows(warehouse, columns("raw_shop.")) == my_rows(con, columns(""))


def test_an_inbox_drop_carrying_a_new_column_names_the_rows_until_the_source_is_read(
    mariadb, loads
) -> None:
    url, con = mariadb
    warehouse, landing = loads
    run_sql(con, "create table orders (id int primary key, qty int, updated_at datetime)")
    run_sql(con, "insert into orders values (1, 5, %s), (2, 6, %s)",
            params=(T0, T0 + timedelta(minutes=1)))  # fmt: skip
    load_table(url, ORDERS, warehouse, landing)
    run_sql(con, "alter table orders add column currency char(3) not null default 'EUR'")
    run_sql(con, "insert into orders values (3, 7, %s, 'USD')", params=(T0 + timedelta(hours=1),))
    # Another tool drops row 3, currency and all.
    inbox = landing.inbox()
    extracted = datetime.now(UTC)
    read = SqlSource(url).read(ORDERS, since=T0 + timedelta(hours=1), batch_rows=2)
    inbox.land(
        with_load_columns(read.batches, load_id="drop-1", extracted_at=extracted),
        source="shop",
        table="orders",
        load_id="drop-1",
        mode="incremental",
        extracted_at=extracted,
        cursor="updated_at",
        cursor_until=None,
        scope="",
        counters=read.counters,
        part_rows=2,
    )
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": url.render_as_string()}, tables=[ORDERS]
    )
    dropped = load_from_inbox(source, ORDERS, "drop-1", inbox=inbox, warehouse=warehouse)
    columns = "select id, currency from {}orders".format
    assert raw_rows(warehouse, columns("raw_shop.")) == [(1, None), (2, None), (3, "USD")]
    assert returned_text(dropped.outcome) == "currency, new: rows loaded before not re-read yet"
    check = schema_drift(ORDERS, dropped, url, warehouse)
    assert not check.passed
    assert "currency" in check.description and "inbox" in check.description
    assert gaps(warehouse) == [("",)]

    back = load_table(url, ORDERS, warehouse, landing)
    assert back.since == T0
    assert returned_text(back.outcome) == f"currency, re-read from {T0}"
    assert raw_rows(warehouse, columns("raw_shop.")) == my_rows(con, columns(""))
    assert gaps(warehouse) == []


def test_a_frozen_or_full_table_adding_a_column_reads_nothing_again(mariadb, loads) -> None:
    url, con = mariadb
    warehouse, landing = loads
    frozen = ORDERS.model_copy(update={"schema_contract": "freeze"})
    full = TableConfig(name="items", primary_key=["id"])
    run_sql(con, "create table orders (id int primary key, qty int, updated_at datetime)",
            "create table items (id int primary key, qty int)",
            "insert into items values (1, 5)")  # fmt: skip
    run_sql(con, "insert into orders values (1, 5, %s)", params=(T0,))
    load_table(url, frozen, warehouse, landing)
    load_table(url, full, warehouse, landing)
    run_sql(con, "alter table orders add column currency char(3) not null default 'EUR'",
            "alter table items add column currency char(3) not null default 'EUR'")  # fmt: skip
    with pytest.raises(SchemaDriftError, match="new: currency"):
        load_table(url, frozen, warehouse, landing)
    whole = load_table(url, full, warehouse, landing)
    assert returned_text(whole.outcome) == "-"
    assert raw_rows(warehouse, "select id, qty, currency from raw_shop.items") == [(1, 5, "EUR")]
    assert gaps(warehouse) == []


def test_a_salesforce_field_new_to_the_table_reads_the_object_whole(
    salesforce_fake, monkeypatch, tmp_path
) -> None:
    """Salesforce cannot say where the rows holding a value begin: the load re-reads whole."""
    api = salesforce_fake.api
    monkeypatch.setenv("TEST_SF_SESSION_ID", api.session_id)
    monkeypatch.setenv("TEST_SF_INSTANCE_URL", salesforce_fake.instance_url)
    source = SourceConfig.model_validate(
        {
            "name": "crm",
            "kind": "salesforce",
            "salesforce": {
                "session_id_env": "TEST_SF_SESSION_ID",
                "instance_url_env": "TEST_SF_INSTANCE_URL",
            },
            "tables": [{"name": "account", "object": "Account", "lookback": "5m"}],
        }
    )
    [table] = source.tables

    def sf_load(warehouse, **options):
        reader = SalesforceSource(
            source.salesforce, source="crm", session=salesforce_fake.session(), bulk_poll_seconds=0
        )
        return ingest_table(
            source,
            table,
            reader=reader,
            landing=LandingStore(str(tmp_path / "landing")),
            warehouse=warehouse,
            batch_rows=100,
            **options,
        )

    def cities(warehouse):
        return dict(warehouse.query("select id, billingcity from raw_crm.account"))

    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        fields = api.describes["account"]["fields"]
        api.describes["account"]["fields"] = [f for f in fields if f["name"] != "BillingCity"]
        sf_load(warehouse)
        api.describes["account"]["fields"] = fields
        added = sf_load(warehouse)
        assert added.since is None
        assert returned_text(added.outcome) == "billingcity, new: re-read whole"
        found = cities(warehouse)
        assert any(found.values())
        sf_load(warehouse, full_refresh=True)
        assert cities(warehouse) == found
