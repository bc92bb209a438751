"""The ERP marts on a legacy schema unlike the demo's (docs/source-contracts.md): a MariaDB
ERP whose customers are `KUNDEN(KDNR, NAME, ORT, ...)` with cities in lower case and whose
order changes are `AUFTRAG_AENDERUNGEN(LFDNR, AKTION, ...)`, mapped onto the ERP contract by
a view (customers) and by `query:` (sales orders), builds dim_customer and fct_sales with
totals computed here from the source rows.

The later tests write raw tables by hand, shaped as other systems land them, on DuckDB and
on PostgreSQL, and run `dbt build` on them as a user does."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from hashlib import md5
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from tributary.config.loader import PROJECT_ROOT, load_project
from tributary.defs import build_definitions
from tributary.warehouse.backend import WarehouseBackend
from tributary.warehouse.registry import WAREHOUSE_SETTINGS

from ..conftest import CONFIG_DIR
from .conftest import run_sql

pytestmark = pytest.mark.integration

# The demo's default of the dbt var `revenue_cities` (dbt_project/dbt_project.yml).
REVENUE_CITIES = {"seattle", "new york", "chicago"}
# How the legacy ERP spells its cities: lower case, upper case, padded, and NULL.
CITIES = ["new york", "seattle", "  Chicago ", "NEW YORK", "boston", "berlin", None]
T0 = datetime(2024, 5, 1, 8, 0, 0)

LEGACY_SCHEMA = (
    """create table KUNDEN (
        KDNR int primary key,
        NAME varchar(200) not null,
        ORT varchar(100),
        LAND char(2),
        EXT_REF varchar(32),
        GEAEND_AM datetime(6) not null
    )""",
    # One row per change of an order: N(eu), A(enderung), L(oeschung).
    """create table AUFTRAG_AENDERUNGEN (
        LFDNR bigint primary key,
        AKTION char(1) not null,
        AUFNR int not null,
        KDNR int not null,
        AUFDATUM date not null,
        BETRAG decimal(12, 2) not null,
        ZUSTAND varchar(20) not null,
        ZEITPUNKT datetime(6) not null
    )""",
    # Mapping 1: a view in the source database, named and shaped as the contract's table.
    """create view erp_customers as
        select KDNR as customer_id, NAME as customer_name, ORT as city, LAND as country,
               EXT_REF as external_id, GEAEND_AM as modified_at
        from KUNDEN""",
)

# Mapping 2: `query:` on the table in sources/erp.yaml (the other source of the pair).
SALES_ORDERS_QUERY = """
select LFDNR as change_id,
       case AKTION when 'N' then 'I' when 'L' then 'D' else 'U' end as operation,
       AUFNR as order_id, KDNR as customer_id, AUFDATUM as order_date, BETRAG as amount,
       ZUSTAND as status, ZEITPUNKT as changed_at
from AUFTRAG_AENDERUNGEN
"""


def legacy_rows(seed: int = 14) -> tuple[list[tuple], list[tuple]]:
    """Customers and order changes: every order is created, some updated, some deleted; a
    few orders belong to a customer number the ERP does not have."""
    rng = random.Random(seed)
    customers = [
        (kdnr, f"Kunde {kdnr}", CITIES[kdnr % len(CITIES)], "US", f"EXT-{kdnr}",
         T0 + timedelta(minutes=kdnr))
        for kdnr in range(1, 22)
    ]  # fmt: skip
    changes, lfdnr = [], 0
    for aufnr in range(100, 160):
        kdnr = 999 if aufnr % 17 == 0 else rng.randint(1, 21)
        amount = Decimal(rng.randint(100, 999_999)) / 100
        for step, action in enumerate(["N", *rng.choice([[], ["A"], ["A", "A"], ["L"]])]):
            lfdnr += 1
            if action == "A":
                amount += Decimal("0.01") * rng.randint(1, 5000)
            changes.append(
                (lfdnr, action, aufnr, kdnr, T0.date(), amount, ["open", "invoiced"][step > 0],
                 T0 + timedelta(hours=aufnr, minutes=step))
            )  # fmt: skip
    return customers, changes


def erp_config(config_dir: Path, url) -> None:
    """The shipped erp source, read from the legacy MariaDB: customers from the view,
    sales orders through the query; keys, cursors, modes and checks as shipped."""
    path = config_dir / "sources" / "erp.yaml"
    erp = yaml.safe_load(path.read_text())
    erp["kind"] = "mysql"
    erp["connection"] = {"url": url.render_as_string()}
    customers, sales_orders = erp["tables"]
    customers["object"] = "erp_customers"
    del sales_orders["object"]
    sales_orders["query"] = SALES_ORDERS_QUERY
    path.write_text(yaml.safe_dump(erp, sort_keys=False))


SELECTION = [
    dg.AssetKey(path)
    for path in (
        ["raw", "erp", "customers"],
        ["raw", "erp", "sales_orders"],
        ["staging", "stg_erp__customers"],
        ["staging", "stg_erp__sales_orders"],
        ["marts", "dim_customer"],
        ["marts", "fct_sales"],
    )
]


def test_legacy_mariadb_erp_mapped_by_view_and_query_builds_exact_marts(
    mariadb, state_dir: Path, tmp_path: Path
) -> None:
    url, con = mariadb
    customers, changes = legacy_rows()
    run_sql(con, *LEGACY_SCHEMA)
    with con.cursor() as cursor:
        cursor.executemany("insert into KUNDEN values (%s, %s, %s, %s, %s, %s)", customers)
        cursor.executemany(
            "insert into AUFTRAG_AENDERUNGEN values (%s, %s, %s, %s, %s, %s, %s, %s)", changes
        )
    config_dir = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, config_dir)
    erp_config(config_dir, url)
    project = load_project(config_dir)
    defs = build_definitions(project)

    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=SELECTION
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.description for c in checks if not c.passed]

    # Expected, from the source rows alone: each order's latest change, deletes left out.
    latest = {}
    for change in sorted(changes):
        latest[change[2]] = change
    live = [c for c in latest.values() if c[1] != "L"]
    known = {c[0] for c in customers}
    revenue = {c[0] for c in customers if c[2] and c[2].strip().lower() in REVENUE_CITIES}
    assert 0 < len(live) < len(latest) and revenue and any(c[3] not in known for c in live)

    with duckdb.connect(project.warehouse.path, read_only=True) as warehouse:
        dim = warehouse.execute(
            "select count(*), count(customer_id), "
            "list(customer_id order by customer_id) filter (where revenue_flag = 'Y') "
            "from marts.dim_customer"
        ).fetchone()
        fct = warehouse.execute(
            "select count(*), sum(amount), count(*) filter (where customer_key = 'unknown'), "
            "list(order_id order by order_id) from marts.fct_sales"
        ).fetchone()
        new_york = warehouse.execute(
            "select revenue_flag from marts.dim_customer where city = 'new york'"
        ).fetchall()
    assert dim == (len(customers) + 1, len(customers), sorted(revenue))
    assert new_york and set(new_york) == {("Y",)}  # the legacy spelling, flagged all the same
    assert fct == (
        len(live),
        sum(c[5] for c in live),
        sum(1 for c in live if c[3] not in known),
        sorted(c[2] for c in live),
    )


DBT = Path(sys.executable).parent / "dbt"
# Every model the ERP and Salesforce raw tables feed: staging, dim_customer, fct_sales,
# dim_account.
DBT_SELECTION = [
    "stg_erp__customers+", "stg_erp__sales_orders+", "stg_salesforce__account+",
    "stg_salesforce__opportunity+",
]  # fmt: skip
# Raw tables as Tributary lands them: the contract's columns and Tributary's own.
RAW_CUSTOMERS = """create table raw_erp.customers (
    customer_id bigint, customer_name varchar(100), city varchar(100), country varchar(2),
    external_id varchar(32), modified_at timestamp, _deleted boolean, _load_id varchar(40)
)"""
RAW_SALES_ORDERS = """create table raw_erp.sales_orders (
    change_id bigint, operation varchar(1), order_id bigint, customer_id bigint,
    order_date {order_date}, amount decimal(12, 2), status varchar(20), changed_at timestamp,
    _deleted boolean, _load_id varchar(40)
)"""
RAW_ACCOUNT = """create table raw_salesforce.account (
    id varchar(18), name varchar(255), external_id__c varchar(32),
    systemmodstamp timestamp with time zone, _deleted boolean, _load_id varchar(40)
)"""
RAW_OPPORTUNITY = """create table raw_salesforce.opportunity (
    id varchar(18), accountid varchar(18), stagename varchar(40), amount decimal(18, 2),
    isclosed boolean, iswon boolean, systemmodstamp timestamp with time zone, _deleted boolean,
    _load_id varchar(40)
)"""


@pytest.fixture(params=["duckdb", "postgres"])
def raw_warehouse(request, tmp_path: Path) -> WarehouseBackend:
    """An empty warehouse with the raw schemas: a DuckDB file, and a fresh PostgreSQL
    database."""
    if request.param == "duckdb":
        config = {"target": "duckdb", "path": str(tmp_path / "warehouse.duckdb")}
    else:
        config = {"target": "postgres", "connection": {"url": request.getfixturevalue("postgres")}}
    backend = WAREHOUSE_SETTINGS.validate_python(config)
    warehouse_sql(backend, "create schema raw_erp", "create schema raw_salesforce")
    return backend


def warehouse_sql(backend: WarehouseBackend, *statements: str) -> None:
    with backend.open() as warehouse:
        for statement in statements:
            warehouse.execute(statement)


def warehouse_rows(backend: WarehouseBackend, sql: str) -> list[tuple]:
    with backend.open() as warehouse:
        return [tuple(row) for row in warehouse.query(sql)]


def salesforce_raw(backend: WarehouseBackend, accounts: list[tuple[str, str | None]]) -> None:
    """raw_salesforce.account with (id, External_Id__c) per account, and no opportunity."""
    warehouse_sql(backend, RAW_ACCOUNT, RAW_OPPORTUNITY)
    for account_id, external_id in accounts:
        with backend.open() as warehouse:
            warehouse.execute(
                "insert into raw_salesforce.account values "
                "(?, ?, ?, timestamp with time zone '2024-05-01 00:00:00+00', false, 'l1')",
                (account_id, f"Account {account_id}", external_id),
            )


def dbt_build(
    backend: WarehouseBackend, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`dbt build` of the ERP and Salesforce models on the warehouse, as a user runs it; its
    files go to tmp_path, so the project's manifest stays as `make manifest` made it."""
    return subprocess.run(
        [str(DBT), "--no-use-colors", "build", "--profiles-dir", ".", "--select", *DBT_SELECTION,
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=PROJECT_ROOT / "dbt_project",
        env={**os.environ, **backend.dbt_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


def built_cleanly(built: subprocess.CompletedProcess) -> bool:
    return built.returncode == 0 and "ERROR=0" in built.stdout and "WARN=0" in built.stdout


def test_order_dates_are_utc_days_whatever_the_warehouse_time_zone(
    raw_warehouse: WarehouseBackend, tmp_path: Path
) -> None:
    """An order time landed as a timestamp with time zone is cast to fct_sales.order_date in
    UTC, as Tributary's own sessions read it. On a PostgreSQL warehouse whose database was set
    to America/Los_Angeles, dbt's session cast in that zone: an order of 2024-05-01 02:30 UTC
    was dated 2024-04-30, every test passing (DuckDB's profile pins UTC)."""
    if raw_warehouse.target == "postgres":
        database = raw_warehouse.dbt_env()["TRIBUTARY_WAREHOUSE_DATABASE"]
        zone = "set timezone = 'America/Los_Angeles'"
        warehouse_sql(raw_warehouse, f"alter database {database} {zone}")
    warehouse_sql(
        raw_warehouse,
        RAW_CUSTOMERS,
        RAW_SALES_ORDERS.format(order_date="timestamp with time zone"),
        "insert into raw_erp.customers values "
        "(1, 'Acme', 'Seattle', 'US', null, timestamp '2024-05-01 00:00:00', false, 'l1')",
        "insert into raw_erp.sales_orders values "
        "(1, 'I', 1, 1, timestamp with time zone '2024-05-01 02:30:00+00', 100.00, 'open', "
        "timestamp '2024-05-01 02:30:00', false, 'l1'), "
        "(2, 'I', 2, 1, timestamp with time zone '2024-05-01 23:30:00+00', 50.00, 'open', "
        "timestamp '2024-05-01 23:30:00', false, 'l1')",
    )
    salesforce_raw(raw_warehouse, [])

    # The machine running dbt in yet another zone changes nothing either.
    built = dbt_build(raw_warehouse, tmp_path, {"TZ": "Asia/Tokyo"})
    assert built_cleanly(built), built.stdout[-3000:]
    assert warehouse_rows(
        raw_warehouse, "select order_id, order_date from marts.fct_sales order by 1"
    ) == [(1, date(2024, 5, 1)), (2, date(2024, 5, 1))]


def test_a_required_contract_column_left_out_fails_naming_it(
    raw_warehouse: WarehouseBackend, tmp_path: Path
) -> None:
    """A mapping that leaves out a required column (an orders table's query without
    `operation`, a customer key spelled `customer_no`) fails the staging model naming the
    relation, the column and the way to map it. It became a NULL: is_deleted was NULL for
    every order, so fct_sales was empty, and a missing customer_id sent every order to
    'unknown', every test passing."""
    warehouse_sql(
        raw_warehouse,
        RAW_CUSTOMERS.replace("customer_id", "customer_no"),
        "create table raw_erp.sales_orders (change_id bigint, order_id bigint, "
        "customer_id bigint, amount decimal(12, 2), changed_at timestamp, _deleted boolean, "
        "_load_id varchar(40))",
        "insert into raw_erp.customers values "
        "(1, 'Acme', 'Seattle', 'US', null, timestamp '2024-05-01 00:00:00', false, 'l1')",
        "insert into raw_erp.sales_orders values "
        "(1, 1, 1, 5.00, timestamp '2024-05-01 00:00:00', false, 'l1')",
    )
    salesforce_raw(raw_warehouse, [("001A", None)])

    built = dbt_build(raw_warehouse, tmp_path)
    assert built.returncode != 0
    output = " ".join(built.stdout.split())
    for relation, column in (
        ("raw_erp.sales_orders", "operation"),
        ("raw_erp.customers", "customer_id"),
    ):
        assert (
            f"staging_columns: {relation} has no column '{column}', which the contract "
            "requires (docs/source-contracts.md)"
        ) in output, output[-3000:]
    assert "give it under that name in the table's view or `query:`" in output
    # The Salesforce staging models, which need only Id and SystemModstamp, still build.
    assert warehouse_rows(
        raw_warehouse, "select account_id from staging.stg_salesforce__account"
    ) == [("001A",)]


def test_a_fixed_width_erp_external_id_meets_its_salesforce_account(
    raw_warehouse: WarehouseBackend, tmp_path: Path
) -> None:
    """An ERP that keeps the CRM reference in a CHAR(12) column lands it padded ('X1' and ten
    blanks). The Salesforce side was trimmed, the ERP side not, so no account ever met its
    customer: every account's customer_key was 'unknown', every test passing."""
    warehouse_sql(
        raw_warehouse,
        RAW_CUSTOMERS,
        RAW_SALES_ORDERS.format(order_date="date"),
        "insert into raw_erp.customers values "
        "(1, 'Acme', 'Seattle', 'US', 'X1          ', timestamp '2024-05-01', false, 'l1'),"
        "(2, 'Beta', 'Berlin', 'DE', ' X2 ', timestamp '2024-05-01', false, 'l1'),"
        "(3, 'Gamma', 'Oslo', 'NO', '            ', timestamp '2024-05-01', false, 'l1')",
    )
    salesforce_raw(raw_warehouse, [("001A", "X1"), ("001B", "X2"), ("001C", None)])

    built = dbt_build(raw_warehouse, tmp_path)
    assert built_cleanly(built), built.stdout[-3000:]
    assert warehouse_rows(
        raw_warehouse,
        "select account_id, erp_customer_id, customer_key = 'unknown' from marts.dim_account "
        "order by 1",
    ) == [("001A", 1, False), ("001B", 2, False), ("001C", None, True)]
    # A blank reference is no reference, as on the Salesforce side. Not tenant-scoped: the
    # key is md5 of the customer id alone.
    assert warehouse_rows(
        raw_warehouse,
        "select customer_id, external_id, customer_key from marts.dim_customer order by 1",
    ) == [
        *(
            (n, ref, md5(str(n).encode()).hexdigest())
            for n, ref in ((1, "X1"), (2, "X2"), (3, None))
        ),
        (None, None, "unknown"),
    ]


def test_a_tenant_scoped_erp_keeps_each_tenants_customers_and_orders(
    raw_warehouse: WarehouseBackend, tmp_path: Path
) -> None:
    """A multi-company ERP loaded as tenant-scoped tables (docs/tenants.md), its customer and
    order numbers repeating per company: staging kept one row per number across tenants, so
    Acme's customer 1 was gone from dim_customer, one of the two orders 100 from fct_sales,
    and Acme's order pointed at Globex's customer, every test passing."""
    warehouse_sql(
        raw_warehouse,
        RAW_CUSTOMERS.replace("_load_id varchar(40)", "_load_id varchar(40), _tenant_id text"),
        RAW_SALES_ORDERS.format(order_date="date").replace(
            "_load_id varchar(40)", "_load_id varchar(40), _tenant_id text"
        ),
        "insert into raw_erp.customers values "
        "(1, 'Acme-1', 'Seattle', 'US', null, timestamp '2024-05-01', false, 'l1', '1'),"
        "(2, 'Acme-2', 'Oslo', 'NO', null, timestamp '2024-05-01', false, 'l1', '1'),"
        "(1, 'Globex-1', 'Oslo', 'NO', null, timestamp '2024-05-02', false, 'l2', '2')",
        "insert into raw_erp.sales_orders values "
        "(1, 'I', 100, 1, date '2024-05-01', 10.00, 'open', null, false, 'l1', '1'),"
        "(2, 'I', 101, 2, date '2024-05-01', 20.00, 'open', null, false, 'l1', '1'),"
        "(3, 'U', 101, 2, date '2024-05-01', 21.00, 'open', null, false, 'l1', '1'),"
        "(1, 'I', 100, 1, date '2024-05-02', 5.00, 'open', null, false, 'l2', '2'),"
        "(2, 'I', 102, 7, date '2024-05-02', 3.00, 'open', null, false, 'l2', '2')",
    )
    salesforce_raw(raw_warehouse, [])

    built = dbt_build(raw_warehouse, tmp_path)
    assert built_cleanly(built), built.stdout[-3000:]
    assert "unique_per_tenant_fct_sales_order_id" in built.stdout
    key = {
        (tenant, number): md5(f"{tenant}/{number}".encode()).hexdigest()
        for tenant, number in (("1", 1), ("1", 2), ("2", 1))
    }
    assert warehouse_rows(
        raw_warehouse,
        "select _tenant_id, customer_id, customer_name, customer_key from marts.dim_customer "
        "order by 1, 2",
    ) == [
        ("1", 1, "Acme-1", key["1", 1]),
        ("1", 2, "Acme-2", key["1", 2]),
        ("2", 1, "Globex-1", key["2", 1]),
        (None, None, "Unknown customer", "unknown"),
    ]
    assert warehouse_rows(
        raw_warehouse,
        "select _tenant_id, order_id, customer_key, amount from marts.fct_sales order by 1, 2",
    ) == [
        ("1", 100, key["1", 1], Decimal("10.00")),
        ("1", 101, key["1", 2], Decimal("21.00")),
        ("2", 100, key["2", 1], Decimal("5.00")),
        ("2", 102, "unknown", Decimal("3.00")),
    ]
