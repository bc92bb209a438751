"""The ERP marts on a legacy schema unlike the demo's (docs/source-contracts.md): a MariaDB
ERP whose customers are `KUNDEN(KDNR, NAME, ORT, ...)` with cities in lower case and whose
order changes are `AUFTRAG_AENDERUNGEN(LFDNR, AKTION, ...)`, mapped onto the ERP contract by
a view (customers) and by `query:` (sales orders), builds dim_customer and fct_sales with
totals computed here from the source rows."""

from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from tributary.config.loader import load_project
from tributary.defs import build_definitions

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
