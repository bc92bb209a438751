"""The whole demo graph materialized into a temporary state dir, with real content asserted."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from tributary.config.loader import ProjectConfig, load_project
from tributary.defs import build_definitions
from tributary.exports.store import MANIFEST, SUCCESS
from tributary_demo.resources import ReplaySources
from tributary_demo.salesforce import DEMO_FIXTURES
from tributary_demo.sources import UNKNOWN_CUSTOMER_ID, generate_demo_sources, timestamp

from ..conftest import CONFIG_DIR
from ..model_types import BUILT_COLUMNS_SQL, built_types, declared_types

pytestmark = pytest.mark.e2e


def materialize(defs: dg.Definitions, selection: list[dg.AssetKey] | None = None):
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=selection
    )
    assert result.success
    return result


def warehouse_rows(project: ProjectConfig, sql: str) -> list[tuple]:
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        return con.execute(sql).fetchall()


def source_rows(project: ProjectConfig, database: str, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(project.state_dir / "demo" / f"{database}.sqlite") as con:
        return con.execute(sql, params).fetchall()


LATEST_ORDERS = """
    select s.* from sales_orders_stage s
    join (select order_id, max(change_id) as change_id from sales_orders_stage group by order_id)
        latest using (order_id, change_id)
"""


def build_demo(state_dir: Path, selection: list[dg.AssetKey] | None = None):
    """Demo sources in `state_dir`, and the whole graph (or `selection`) materialized once."""
    generate_demo_sources(state_dir / "demo", customers=50, orders=300)
    project = load_project(CONFIG_DIR)
    defs = build_definitions(project, sources=ReplaySources())
    return project, defs, materialize(defs, selection)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """Built once for the read-only tests of this module."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRIBUTARY_STATE_DIR", str(tmp_path_factory.mktemp("demo") / "state"))
        yield build_demo(Path(os.environ["TRIBUTARY_STATE_DIR"]))


def exported(project: ProjectConfig, export: str) -> tuple[Path, pl.DataFrame]:
    [partition] = (Path(project.exports_url) / export).iterdir()
    return partition, pl.read_parquet(sorted(partition.glob("part-*.parquet")))


def test_row_counts_per_table(built) -> None:
    project, _, _ = built
    expected = {
        "raw_erp.customers": source_rows(project, "erp", "select count(*) from customers"),
        "raw_erp.sales_orders": source_rows(
            project, "erp", "select count(*) from sales_orders_stage"
        ),
        "raw_app.companies": source_rows(project, "app", "select count(*) from companies"),
        "raw_app.users": source_rows(project, "app", "select count(*) from users"),
        "raw_ops.products": source_rows(project, "ops", "select count(*) from v_products"),
        "staging.stg_erp__sales_orders": source_rows(
            project, "erp", "select count(distinct order_id) from sales_orders_stage"
        ),
        "marts.fct_sales": source_rows(
            project, "erp", f"select count(*) from ({LATEST_ORDERS}) where operation <> 'D'"
        ),
    }
    for table, [(count,)] in expected.items():
        assert warehouse_rows(project, f"select count(*) from {table}") == [(count,)], table
    customers = expected["raw_erp.customers"][0][0]
    # every customer, plus the 'unknown' member
    assert warehouse_rows(project, "select count(*) from marts.dim_customer") == [(customers + 1,)]
    # the view hides discontinued products: the raw table holds only what the view shows
    [(all_products,)] = source_rows(project, "ops", "select count(*) from product_master")
    assert all_products > expected["raw_ops.products"][0][0]


def test_fct_sales_totals_equal_the_source(built) -> None:
    project, _, _ = built
    live = source_rows(
        project, "erp", f"select amount from ({LATEST_ORDERS}) where operation <> 'D'"
    )
    source_total = sum(Decimal(str(amount)).quantize(Decimal("0.01")) for (amount,) in live)
    [(warehouse_total,)] = warehouse_rows(project, "select sum(amount) from marts.fct_sales")
    assert warehouse_total == source_total
    _, daily = exported(project, "fct_sales_daily")
    assert daily["revenue"].sum() == source_total
    assert daily["orders"].sum() == len(live)


def test_an_order_changed_several_times_is_one_row_with_its_latest_values(built) -> None:
    project, _, _ = built
    changed = source_rows(
        project,
        "erp",
        "select order_id from sales_orders_stage where operation = 'U' "
        "group by order_id having count(*) = 2 limit 1",
    )
    [(order_id,)] = changed
    [(status, amount)] = source_rows(
        project,
        "erp",
        "select status, amount from sales_orders_stage where order_id = ? "
        "order by change_id desc limit 1",
        (order_id,),
    )
    rows = warehouse_rows(
        project, f"select status, amount from marts.fct_sales where order_id = {order_id}"
    )
    assert rows == [(status, Decimal(str(amount)).quantize(Decimal("0.01")))]
    assert status == "invoiced"


def test_deleted_orders_are_flagged_in_staging_and_absent_from_marts(built) -> None:
    project, _, _ = built
    deleted = {
        order_id
        for (order_id,) in source_rows(
            project, "erp", "select order_id from sales_orders_stage where operation = 'D'"
        )
    }
    assert deleted
    flagged = warehouse_rows(
        project, "select order_id from staging.stg_erp__sales_orders where is_deleted"
    )
    assert {order_id for (order_id,) in flagged} == deleted
    in_marts = warehouse_rows(
        project,
        f"select count(*) from marts.fct_sales where order_id in ({','.join(map(str, deleted))})",
    )
    assert in_marts == [(0,)]


def test_the_unknown_customer_order_is_kept(built) -> None:
    project, _, _ = built
    rows = warehouse_rows(
        project,
        "select customer_key, count(*) from marts.fct_sales "
        f"where customer_id = {UNKNOWN_CUSTOMER_ID} group by customer_key",
    )
    assert rows == [("unknown", 1)]


def test_dbt_tests_ran_as_passing_asset_checks(built) -> None:
    _, defs, result = built
    evaluations = result.get_asset_check_evaluations()
    expected = defs.resolve_asset_graph().asset_check_keys
    assert {e.asset_check_key for e in evaluations} == expected
    assert all(e.passed for e in evaluations)


def test_the_models_declared_column_types_are_those_built(built) -> None:
    """The types the UI shows for the dbt models (their YAML's data_type) cannot drift from
    what the models make: every column of every model, declared with the type it has."""
    project, defs, _ = built
    assert declared_types(defs) == built_types(warehouse_rows(project, BUILT_COLUMNS_SQL))


def test_materializations_carry_metadata(built) -> None:
    _, _, result = built
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["raw", "erp", "customers"])
    ]
    metadata = event.materialization.metadata
    assert metadata["dagster/row_count"].value == 50
    assert metadata["dagster/table_name"].value == "raw_erp.customers"
    columns = [c.name for c in metadata["dagster/column_schema"].schema.columns]
    assert columns[:2] == ["customer_id", "customer_name"]
    assert columns[-4:] == ["_load_id", "_extracted_at", "_deleted", "_load_row"]
    assert metadata["rows_loaded"].value == 50
    assert metadata["columns_missing"].value == "-"
    assert metadata["duplicate_keys_repaired"].value == 0
    landing = Path(metadata["landing_path"].value.removeprefix("file://"))
    assert landing.name == metadata["load_id"].value
    assert (landing / "manifest.json").is_file()


def demo_org(object_name: str) -> list[dict]:
    """The records of the demo Salesforce org, as its fixtures hold them."""
    path = DEMO_FIXTURES / f"{object_name}.records.json"
    return json.loads(path.read_text())["records"]


def test_salesforce_accounts_meet_erp_customers(built) -> None:
    project, _, _ = built
    accounts, opportunities = demo_org("Account"), demo_org("Opportunity")
    assert warehouse_rows(project, "select count(*) from raw_salesforce.account") == [
        (len(accounts),)
    ]
    assert warehouse_rows(project, "select count(*) from raw_salesforce.opportunity") == [
        (len(opportunities),)
    ]
    deleted = {a["Id"] for a in accounts if a["IsDeleted"]}
    flagged = warehouse_rows(
        project, "select account_id from staging.stg_salesforce__account where is_deleted"
    )
    assert deleted and {account_id for (account_id,) in flagged} == deleted

    erp = dict(source_rows(project, "erp", "select external_id, customer_id from customers"))
    live = {a["Id"]: a for a in accounts if not a["IsDeleted"]}
    joined = warehouse_rows(
        project, "select account_id, erp_customer_id, customer_key from marts.dim_account"
    )
    assert {account_id for account_id, _, _ in joined} == set(live)
    for account_id, customer_id, customer_key in joined:
        assert customer_id == erp.get(live[account_id]["External_Id__c"]), account_id
        assert (customer_key == "unknown") == (customer_id is None)
    matched = sum(1 for _, customer_id, _ in joined if customer_id is not None)
    assert 0 < matched < len(live)  # both systems meet, and some accounts have no ERP twin

    live_open = [o for o in opportunities if not o["IsDeleted"] and not o["IsClosed"]]
    [(pipeline,)] = warehouse_rows(
        project, "select sum(open_pipeline_amount) from marts.dim_account"
    )
    assert pipeline == sum(Decimal(str(o["Amount"])) for o in live_open if o["AccountId"] in live)


def test_salesforce_loads_report_the_path_and_api_usage(built) -> None:
    _, _, result = built
    metadata = {
        event.asset_key.path[-1]: event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key.path[:2] == ["raw", "salesforce"]
    }
    # The demo's bulk_threshold is 100: Opportunity (120 rows) takes a Bulk 2.0 job.
    assert metadata["account"]["bulk_api_jobs"].value == 0
    assert metadata["opportunity"]["bulk_api_jobs"].value == 1
    account = metadata["account"]
    assert account["api_usage_limit"].value == 15_000
    assert 0 < account["api_requests"].value <= account["api_usage_used"].value
    assert account["deleted_records"].value == sum(a["IsDeleted"] for a in demo_org("Account"))


def test_exports_are_published_with_manifest_and_success(built) -> None:
    project, _, _ = built
    partition, frame = exported(project, "dim_customer")
    assert partition.name == f"dt={datetime.now(UTC):%Y-%m-%d}"
    assert (partition / SUCCESS).is_file()
    manifest = json.loads((partition / MANIFEST).read_text())
    assert manifest["asset"] == "export/dim_customer"
    assert manifest["row_count"] == frame.height == 51
    table = warehouse_rows(project, "select * from marts.dim_customer order by customer_key")
    assert frame.sort("customer_key").rows() == table
    assert list((Path(project.exports_url) / "_tmp" / "dim_customer").iterdir()) == []


def test_csv_export_is_published_per_status(built) -> None:
    project, _, _ = built
    root = Path(project.exports_url) / "fct_sales_by_status"
    statuses = warehouse_rows(project, "select status, count(*) from marts.fct_sales group by 1")
    assert sorted(p.name for p in root.iterdir()) == sorted(f"status={s}" for s, _ in statuses)
    for status, count in statuses:
        folder = root / f"status={status}"
        assert (folder / SUCCESS).is_file()
        frame = pl.read_csv(folder / "part-00000.csv.gz")
        assert frame.height == count
        assert set(frame["status"]) == {status}


# dim_customer and what it reads: what a customer's update flows through.
CUSTOMER_PATH = [
    dg.AssetKey(["raw", "erp", "customers"]),
    dg.AssetKey(["staging", "stg_erp__customers"]),
    dg.AssetKey(["marts", "dim_customer"]),
]


def test_source_updates_flow_through_on_the_next_run(state_dir: Path) -> None:
    """Two runs of the customers' path (the whole graph's are the `built` tests'): the second
    loads the changes since the first's watermark and rebuilds dim_customer from them."""
    project, defs, _ = build_demo(state_dir, CUSTOMER_PATH)
    customer_id = 7
    later = datetime(2030, 1, 1)
    with sqlite3.connect(project.state_dir / "demo" / "erp.sqlite") as con:
        for step, city in enumerate(("Denver", "Boston", "Seattle"), start=1):
            con.execute(
                "update customers set city = ?, customer_name = ?, modified_at = ? "
                "where customer_id = ?",
                (city, f"Renamed {step}", timestamp(later + timedelta(hours=step)), customer_id),
            )
    materialize(defs, CUSTOMER_PATH)
    rows = warehouse_rows(
        project,
        "select customer_name, city, revenue_flag from marts.dim_customer "
        f"where customer_id = {customer_id}",
    )
    assert rows == [("Renamed 3", "Seattle", "Y")]
    raw = warehouse_rows(
        project, f"select count(*) from raw_erp.customers where customer_id = {customer_id}"
    )
    assert raw == [(1,)]
