"""The shipped Salesforce source pointed at the local HTTPS fake through its environment
variables, materialized with Dagster and dbt twice: updates and deletes between two
incremental loads arrive in staging as one row per Id, and deleted records leave the marts."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tributary.config.loader import load_project
from tributary.defs import build_definitions
from tributary_demo import generate_demo_sources

from ..conftest import CONFIG_DIR
from ..salesforce_fake import FIXTURES, FakeSalesforce
from .test_demo_pipeline import materialize, warehouse_rows

pytestmark = pytest.mark.e2e

# dim_account and what it reads. fct_sales comes along: dbt's indirect selection runs its
# relationship test to dim_customer whenever dim_customer is built.
SELECTION = [
    dg.AssetKey(path)
    for path in (
        ["raw", "erp", "customers"],
        ["raw", "erp", "sales_orders"],
        ["staging", "stg_erp__customers"],
        ["staging", "stg_erp__sales_orders"],
        ["marts", "dim_customer"],
        ["marts", "fct_sales"],
        ["raw", "salesforce", "account"],
        ["raw", "salesforce", "opportunity"],
        ["staging", "stg_salesforce__account"],
        ["staging", "stg_salesforce__opportunity"],
        ["marts", "dim_account"],
    )
]
SALESFORCE_RAW = [dg.AssetKey(["raw", "salesforce", table]) for table in ("account", "opportunity")]
ACME, GLOBEX = "001TEST0000000001AA", "001TEST0000000002AA"
ACME_PILOT = "006TEST0000000003AA"


def point_salesforce_at(fake: FakeSalesforce, config_dir: Path, monkeypatch) -> None:
    """The shipped source, logging in with a session id + instance URL from the environment.
    The source's own requests session trusts the fake's certificate through
    REQUESTS_CA_BUNDLE, as it would a private CA."""
    path = config_dir / "sources" / "salesforce.yaml"
    source = yaml.safe_load(path.read_text())
    source["salesforce"] = {
        "session_id_env": "E2E_SF_SESSION_ID",
        "instance_url_env": "E2E_SF_INSTANCE_URL",
        "bulk_threshold": source["salesforce"]["bulk_threshold"],
    }
    path.write_text(yaml.safe_dump(source))
    monkeypatch.setenv("E2E_SF_SESSION_ID", fake.api.session_id)
    monkeypatch.setenv("E2E_SF_INSTANCE_URL", fake.instance_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.cert))
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)


def open_pipeline(account_id: str, deleted: set[str]) -> Decimal:
    """From the fixture: the amount of the account's open opportunities that are not deleted."""
    records = json.loads((FIXTURES / "Opportunity.records.json").read_text())["records"]
    return sum(
        (
            Decimal(str(r["Amount"]))
            for r in records
            if r["AccountId"] == account_id and not r["IsClosed"] and r["Id"] not in deleted
        ),
        Decimal("0.00"),
    )


def test_updates_and_deletes_across_two_incremental_loads(
    salesforce_fake: FakeSalesforce, state_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    config_dir = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, config_dir)
    point_salesforce_at(salesforce_fake, config_dir, monkeypatch)
    generate_demo_sources(state_dir / "demo", customers=20, orders=40)
    project = load_project(config_dir)
    defs = build_definitions(project)
    api = salesforce_fake.api

    def rows(sql: str) -> list[tuple]:
        return warehouse_rows(project, sql)

    # Update 1, then the first load (raw tables only: dbt runs once, after the second).
    api.upsert("Account", {"Id": ACME, "Name": "Acme v1",
                           "SystemModstamp": "2024-03-03T08:00:00.000Z"})  # fmt: skip
    materialize(defs, SALESFORCE_RAW)
    assert rows(
        f"select id, name, _deleted from raw_salesforce.account where id in ('{ACME}', '{GLOBEX}') "
        "order by id"
    ) == [(ACME, "Acme v1", False), (GLOBEX, "Globex", False)]

    # Updates 2 and 3 of the same account, an account and an opportunity deleted; then the
    # second (incremental) load.
    api.upsert("Account", {"Id": ACME, "Name": "Acme v2",
                           "SystemModstamp": "2024-03-04T08:00:00.000Z"})  # fmt: skip
    api.upsert("Account", {"Id": ACME, "Name": "Acme v3", "AnnualRevenue": 16_000_000,
                           "SystemModstamp": "2024-03-05T08:00:00.000Z"})  # fmt: skip
    api.delete("Account", GLOBEX, at="2024-03-05T09:00:00.000Z")
    api.delete("Opportunity", ACME_PILOT, at="2024-03-05T09:30:00.000Z")
    materialize(defs, SELECTION)
    # Incremental: the second load read only what changed since the watermark (less the
    # lookback), through queryAll so that the deleted account came too.
    [(landed_accounts,)] = rows(
        "select rows_loaded from _tributary.loads where source = 'salesforce' "
        "and table_name = 'account' order by finished_at desc limit 1"
    )
    assert landed_accounts == 2  # Acme and Globex, not the 5 accounts again

    # One row per Id, the latest values.
    assert rows(f"select count(*) from raw_salesforce.account where id = '{ACME}'") == [(1,)]
    assert rows(
        "select account_name, annual_revenue, system_modstamp, is_deleted "
        f"from staging.stg_salesforce__account where account_id = '{ACME}'"
    ) == [("Acme v3", Decimal("16000000"), datetime(2024, 3, 5, 8, tzinfo=UTC), False)]
    # Deleted records: flagged in staging, gone from the mart.
    assert rows(
        f"select is_deleted from staging.stg_salesforce__account where account_id = '{GLOBEX}'"
    ) == [(True,)]
    assert rows(
        "select is_deleted from staging.stg_salesforce__opportunity "
        f"where opportunity_id = '{ACME_PILOT}'"
    ) == [(True,)]
    assert rows(f"select count(*) from marts.dim_account where account_id = '{GLOBEX}'") == [(0,)]
    assert rows(
        "select account_name, open_pipeline_amount, opportunities, erp_customer_id "
        f"from marts.dim_account where account_id = '{ACME}'"
    ) == [("Acme v3", open_pipeline(ACME, deleted={ACME_PILOT}), 2, 1)]
    assert open_pipeline(ACME, deleted={ACME_PILOT}) < open_pipeline(ACME, deleted=set())
    assert rows(f"select _deleted from raw_salesforce.opportunity where id = '{ACME_PILOT}'") == [
        (True,)
    ]
