"""Staging models tolerate the source's real columns. A Salesforce org whose Account and
Opportunity describe only standard, always-visible fields (field-level security hides the
rest, the demo's custom fields do not exist) loads through raw, staging and dim_account with
every dbt test passing, on DuckDB and PostgreSQL; a custom field named in a pass-through var
arrives in staging, and the external-id var points dim_account's ERP match at another field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tributary.config.loader import PROJECT_ROOT, ProjectConfig, load_project
from tributary.defs import build_definitions
from tributary.defs.resources import WarehouseResource
from tributary_demo import generate_demo_sources
from tributary_demo.salesforce import SalesforceApi

from ..conftest import CONFIG_DIR
from ..e2e.test_salesforce_pipeline import SELECTION, point_salesforce_at
from ..salesforce_fake import FIXTURES, FakeSalesforce

DBT = Path(sys.executable).parent / "dbt"

# What any profile sees: system fields and the fields the org exposed.
ACCOUNT_FIELDS = [
    "Id", "IsDeleted", "Name", "AccountNumber", "AnnualRevenue", "LastModifiedDate",
    "SystemModstamp",
]  # fmt: skip
OPPORTUNITY_FIELDS = [
    "Id", "IsDeleted", "AccountId", "Name", "StageName", "CloseDate", "IsClosed", "IsWon",
    "CreatedDate", "LastModifiedDate", "SystemModstamp",
]  # fmt: skip
# Fields the fixtures lack, as describe declares them.
EXTRA_DESCRIBE = {
    "AccountNumber": {"type": "string", "precision": 0, "scale": 0},
    "LastModifiedDate": {"type": "datetime", "precision": 0, "scale": 0},
}
STAGING_ACCOUNT_COLUMNS = [
    "account_id", "account_name", "account_type", "industry", "rating", "annual_revenue",
    "currency_iso_code", "number_of_employees", "billing_city", "billing_state",
    "billing_country", "external_id", "customer_since", "discount_percent", "is_active",
    "parent_account_id", "owner_id", "created_at", "system_modstamp", "is_deleted", "_load_id",
]  # fmt: skip
ACCOUNTS = 5  # in the fixture, none deleted


def reduced_object(name: str, fields: list[str]) -> tuple[dict, list[dict]]:
    """The fixture's describe and records cut down to `fields`; AccountNumber carries the
    ERP's external id (EXT-00001 ...) as some orgs keep it there."""
    describe = json.loads((FIXTURES / f"{name}.describe.json").read_text())
    records = json.loads((FIXTURES / f"{name}.records.json").read_text(), parse_float=Decimal)
    described = {f["name"]: f for f in describe["fields"]}
    for field, shape in EXTRA_DESCRIBE.items():
        described.setdefault(
            field, {"name": field, "label": field, "nillable": True, "compoundFieldName": None,
                    **shape},
        )  # fmt: skip
    describe["fields"] = [described[field] for field in fields]
    kept = []
    for record in records["records"]:
        record = {**record, "LastModifiedDate": record["SystemModstamp"]}
        if name == "Account":
            record["AccountNumber"] = record.get("External_Id__c")
        kept.append({field: record.get(field) for field in fields if field in record})
    return describe, kept


@pytest.fixture
def standard_org(fake_certificate) -> Iterator[FakeSalesforce]:
    """The fake org, describing only standard, always-visible fields, plus Score__c (a
    custom field) on Account."""
    api = SalesforceApi()
    api.add_object(*reduced_object("Account", [*ACCOUNT_FIELDS, "Score__c"]))
    api.add_object(*reduced_object("Opportunity", OPPORTUNITY_FIELDS))
    with FakeSalesforce(api, fake_certificate).running() as fake:
        yield fake


def standard_only(fake: FakeSalesforce) -> None:
    """Field-level security hides Score__c too."""
    describe = fake.api.describes["account"]
    describe["fields"] = [f for f in describe["fields"] if f["name"] != "Score__c"]


def project_on(target: str, org: FakeSalesforce, tmp_path: Path, monkeypatch, request):
    """The shipped configuration on `target`, its Salesforce source reading `org` (every
    field describe shows, Opportunity included), ERP demo sources beside it."""
    config_dir = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, config_dir)
    point_salesforce_at(org, config_dir, monkeypatch)
    path = config_dir / "sources" / "salesforce.yaml"
    source = yaml.safe_load(path.read_text())
    for table in source["tables"]:
        table["fields"] = "all"
    path.write_text(yaml.safe_dump(source))
    if target == "postgres":
        postgres = request.getfixturevalue("postgres")
        prefix = request.getfixturevalue("role_prefix")
        platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
        platform["warehouse"] = {"target": "postgres", "connection": {"url": postgres}}
        (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
        teams = yaml.safe_load((config_dir / "teams.yaml").read_text())
        teams["role_prefix"] = f"{prefix}team_"  # roles are cluster-wide
        (config_dir / "teams.yaml").write_text(yaml.safe_dump(teams))
    project = load_project(config_dir)
    generate_demo_sources(project.state_dir / "demo", customers=10, orders=20)
    return project


def materialize_all_checks_passing(project: ProjectConfig) -> None:
    defs = build_definitions(project)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=SELECTION
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    names = {(c.asset_key.path[-1], c.check_name) for c in checks}
    assert ("dim_account", "not_null_dim_account_customer_key") in names
    assert ("stg_salesforce__account", "unique_stg_salesforce__account_account_id") in names
    assert [c.check_name for c in checks if not c.passed] == []


def rows(project: ProjectConfig, sql: str) -> list[tuple]:
    with WarehouseResource.from_project(project).open() as warehouse:
        return [tuple(row) for row in warehouse.query(sql)]


def columns(project: ProjectConfig, relation: str) -> list[str]:
    schema, table = relation.split(".")
    return [
        name
        for (name,) in rows(
            project,
            "select column_name from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position",
        )
    ]


def rename_column(project: ProjectConfig, table: str, column: str, to: str) -> None:
    """As if the org had stopped showing `column` (the raw table lacks it under that name)."""
    with WarehouseResource.from_project(project).open() as warehouse:
        warehouse.execute(f"alter table {table} rename column {column} to {to}")


def dbt_build(
    project: ProjectConfig, tmp_path: Path, dbt_vars: dict
) -> subprocess.CompletedProcess:
    """`dbt build` of the Salesforce staging models and dim_account with `dbt_vars`, as a user
    who sets them in dbt_project.yml (or with --vars) runs it. Its files go to tmp_path, so the
    project's manifest stays as `make manifest` made it."""
    return subprocess.run(
        [str(DBT), "build", "--profiles-dir", ".", "--select", "stg_salesforce__account+",
         "stg_salesforce__opportunity", "--vars", json.dumps(dbt_vars),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=PROJECT_ROOT / "dbt_project",
        env={**os.environ, **WarehouseResource.from_project(project).dbt_env()},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_an_org_with_only_standard_fields_builds_dim_account(
    target, standard_org, state_dir, tmp_path, monkeypatch, request
) -> None:
    standard_only(standard_org)
    project = project_on(target, standard_org, tmp_path, monkeypatch, request)
    materialize_all_checks_passing(project)

    # Raw has what the org described, no more.
    assert [c for c in columns(project, "raw_salesforce.account") if not c.startswith("_")] == [
        "id", "name", "accountnumber", "annualrevenue", "lastmodifieddate", "systemmodstamp"
    ]  # fmt: skip
    # Staging has every declared column; what the org lacks is NULL, what it has is there.
    assert columns(project, "staging.stg_salesforce__account") == STAGING_ACCOUNT_COLUMNS
    assert rows(
        project,
        "select count(*), count(account_name), count(annual_revenue), count(account_type), "
        "count(industry), count(external_id), count(is_active), count(created_at) "
        "from staging.stg_salesforce__account",
    ) == [(ACCOUNTS, ACCOUNTS, 4, 0, 0, 0, 0, 0)]
    assert rows(
        project,
        "select count(*), count(account_id), count(stage_name), count(amount), "
        "count(forecast_category), count(currency_iso_code) "
        "from staging.stg_salesforce__opportunity",
    ) == [(5, 5, 5, 0, 0, 0)]
    # No external id: no account meets an ERP customer.
    assert rows(
        project,
        "select count(*), count(erp_customer_id), min(customer_key), max(customer_key) "
        "from marts.dim_account",
    ) == [(ACCOUNTS, 0, "unknown", "unknown")]
    # The opportunities still count, but their amounts are hidden: a total with opportunities
    # to add up is unknown (NULL, not 0); with none (Initech's only one is lost) it is 0.
    assert rows(
        project,
        "select account_id, opportunities, open_opportunities, open_pipeline_amount, "
        "won_amount from marts.dim_account order by 1",
    ) == [
        ("001TEST0000000001AA", 3, 2, None, None),
        ("001TEST0000000002AA", 1, 1, None, 0),
        ("001TEST0000000003AA", 1, 0, 0, 0),
        ("001TEST0000000004AA", 0, 0, 0, 0),
        ("001TEST0000000005AA", 0, 0, 0, 0),
    ]

    # Without AccountId, IsClosed or IsWon no total means anything: the staging model fails,
    # naming the field, rather than publish them.
    for column in ("accountid", "isclosed", "iswon"):
        rename_column(project, "raw_salesforce.opportunity", column, f"{column}_hidden")
        failed = dbt_build(project, tmp_path, {})
        rename_column(project, "raw_salesforce.opportunity", f"{column}_hidden", column)
        assert failed.returncode != 0
        assert f"has no column '{column}', which the contract requires" in failed.stdout


def test_a_pass_through_custom_field_and_the_external_id_var(
    standard_org, state_dir, tmp_path, monkeypatch, request
) -> None:
    project = project_on("duckdb", standard_org, tmp_path, monkeypatch, request)
    # With the defaults, Score__c stays in raw only.
    materialize_all_checks_passing(project)
    assert "score__c" in columns(project, "raw_salesforce.account")
    assert "score" not in columns(project, "staging.stg_salesforce__account")

    built = dbt_build(
        project,
        tmp_path,
        {
            "salesforce__account_pass_through_columns": [{"name": "Score__c", "alias": "score"}],
            "salesforce__account_external_id_field": "accountnumber",
        },
    )
    assert built.returncode == 0, built.stdout[-3000:]
    assert "ERROR=0" in built.stdout and "WARN=0" in built.stdout
    assert columns(project, "staging.stg_salesforce__account") == [
        *STAGING_ACCOUNT_COLUMNS,
        "score",
    ]
    assert rows(
        project, "select account_id, score from staging.stg_salesforce__account order by 1"
    ) == [
        ("001TEST0000000001AA", Decimal("0.0005")),
        ("001TEST0000000002AA", Decimal("12345.6789")),
        ("001TEST0000000003AA", Decimal("-3.5000")),
        ("001TEST0000000004AA", None),
        ("001TEST0000000005AA", Decimal("1.0000")),
    ]
    # AccountNumber holds EXT-00001..3 (known to the ERP), EXT-99999 (unknown) and nothing.
    assert rows(
        project, "select account_id, erp_customer_id, customer_key = 'unknown' "
        "from marts.dim_account order by 1"
    ) == [
        ("001TEST0000000001AA", 1, False),
        ("001TEST0000000002AA", 2, False),
        ("001TEST0000000003AA", 3, False),
        ("001TEST0000000004AA", None, True),
        ("001TEST0000000005AA", None, True),
    ]  # fmt: skip

    # No external id field at all: every account is the ERP's 'unknown' customer.
    built = dbt_build(project, tmp_path, {"salesforce__account_external_id_field": None})
    assert built.returncode == 0, built.stdout[-3000:]
    assert rows(project, "select count(external_id), max(customer_key) from marts.dim_account") == [
        (0, "unknown")
    ]

    # A pass-through column the raw table lacks is a configuration error, said plainly.
    failed = dbt_build(
        project, tmp_path, {"salesforce__account_pass_through_columns": ["region__c"]}
    )
    assert failed.returncode != 0
    assert (
        "var 'salesforce__account_pass_through_columns' names column 'region__c'" in failed.stdout
    )


def with_currencies(org: FakeSalesforce, currencies: dict[str, dict[str, str]]) -> None:
    """A multi-currency org: each record's amounts are in its CurrencyIsoCode."""
    for object_name, codes in currencies.items():
        org.api.describes[object_name.lower()]["fields"].append(
            {"name": "CurrencyIsoCode", "label": "Currency ISO Code", "type": "picklist",
             "precision": 0, "scale": 0, "nillable": False, "compoundFieldName": None}
        )  # fmt: skip
        for record_id in org.api.records[object_name]:
            org.api.upsert(object_name, {"Id": record_id, "CurrencyIsoCode": codes[record_id]})


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_multi_currency_org_adds_up_no_two_currencies(
    target, salesforce_fake, state_dir, tmp_path, monkeypatch, request
) -> None:
    acme, globex, initech, umbrella, hooli = (f"001TEST000000000{i}AA" for i in range(1, 6))
    account = {acme: "USD", globex: "EUR", initech: "USD", umbrella: "USD", hooli: "JPY"}
    # Acme's open ones and a won one in USD; the one deal it won in Japan in JPY.
    opportunity = {f"006TEST000000000{i}AA": "USD" for i in range(1, 4)}
    opportunity |= {"006TEST0000000004AA": "EUR", "006TEST0000000005AA": "USD"}
    with_currencies(salesforce_fake, {"Account": account, "Opportunity": opportunity})
    salesforce_fake.api.upsert("Opportunity", {
        "Id": "006TEST0000000009AA", "AccountId": acme, "Name": "JP deal",
        "StageName": "Closed Won", "Amount": Decimal("1000000"), "IsClosed": True, "IsWon": True,
        "CurrencyIsoCode": "JPY", "CloseDate": "2024-05-01",
        "CreatedDate": "2024-03-01T08:00:00.000Z", "SystemModstamp": "2024-03-01T08:00:00.000Z",
    })  # fmt: skip
    # An open deal of Globex's whose Amount was left blank adds nothing (as Salesforce's
    # reports add it up): unlike a hidden Amount, the others' amounts are known.
    salesforce_fake.api.upsert("Opportunity", {
        "Id": "006TEST0000000010AA", "AccountId": globex, "Name": "No amount yet",
        "StageName": "Prospecting", "Amount": None, "IsClosed": False, "IsWon": False,
        "CurrencyIsoCode": "EUR", "CloseDate": "2024-09-01",
        "CreatedDate": "2024-03-02T08:00:00.000Z", "SystemModstamp": "2024-03-02T08:00:00.000Z",
    })  # fmt: skip
    project = project_on(target, salesforce_fake, tmp_path, monkeypatch, request)
    materialize_all_checks_passing(project)

    # Acme's USD and JPY are not added up: its totals are NULL. Globex's are in EUR; Initech
    # (a lost deal), Umbrella and Hooli (none) have nothing to add up.
    assert rows(
        project, "select account_id, open_pipeline_amount, won_amount from marts.dim_account "
        "order by 1"
    ) == [
        (acme, None, None),
        (globex, Decimal("30000.00"), 0),
        (initech, 0, 0),
        (umbrella, 0, 0),
        (hooli, 0, 0),
    ]  # fmt: skip
    assert rows(
        project, "select account_id, currency_iso_code from staging.stg_salesforce__account "
        "order by 1"
    ) == sorted(account.items())  # fmt: skip
    # And the currencies they are in: the account's own (its annual revenue's), the totals'.
    totals = (
        "select account_id, annual_revenue_currency, open_pipeline_amount, won_amount, "
        "pipeline_currency from marts.dim_account order by 1"
    )
    assert rows(project, totals) == [
        (acme, "USD", None, None, None),
        (globex, "EUR", Decimal("30000.00"), 0, "EUR"),
        (initech, "USD", 0, 0, None),
        (umbrella, "USD", 0, 0, None),
        (hooli, "JPY", 0, 0, None),
    ]

    # The shipped opportunity `fields:` lack CurrencyIsoCode: in an org whose accounts have
    # one, an opportunity's currency is unknown, and so are the totals it counts in.
    rename_column(project, "raw_salesforce.opportunity", "currencyisocode", "currency_hidden")
    built = dbt_build(project, tmp_path, {})
    assert built.returncode == 0, built.stdout[-3000:]
    assert rows(project, totals) == [
        (acme, "USD", None, None, None),
        (globex, "EUR", None, 0, None),  # no won deal: nothing to add up
        (initech, "USD", 0, 0, None),
        (umbrella, "USD", 0, 0, None),
        (hooli, "JPY", 0, 0, None),
    ]
