"""A column the source stops sending for a while, then sends again (a view redefined without
it and back, Salesforce field-level security hiding a field, a custom query edited). The
loads in between merge their rows, the lookback's unchanged ones too, with NULL in it; once
it comes back, the rows those loads merged must get their values again, without the user
knowing to ask for a full_refresh. MariaDB (and the Salesforce fake) -> each warehouse that
runs here (DuckDB, PostgreSQL, and Redshift on its stand-in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tributary.config.models import SourceConfig, TableConfig
from tributary.defs.checks import load_check_results
from tributary.errors import NullKeyError
from tributary.ingest import ingest_table, load_from_inbox, with_load_columns
from tributary.landing import LandingStore
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

    # Back: the load re-reads from where the first load without it read, and every row
    # holds the source's amount again.
    run_sql(con, WITH_AMOUNT)
    touch(con, 3, "c2", 30)
    back = load(url, warehouse, landing)
    assert back.since == hidden.since
    assert back.outcome.returned_columns == ["amount"]
    assert back.outcome.reread_from == hidden.since
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
