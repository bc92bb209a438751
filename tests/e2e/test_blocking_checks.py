"""Blocking checks in a real run of the demo graph: a bad load, or a failing dbt test, stops
what is downstream of it in the same run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tributary.config.loader import ProjectConfig
from tributary.defs import build_definitions
from tributary.warehouse.base import Warehouse

pytestmark = pytest.mark.e2e

CUSTOMERS = dg.AssetKey(["raw", "erp", "customers"])
STG_CUSTOMERS = dg.AssetKey(["staging", "stg_erp__customers"])
DIM_CUSTOMER = dg.AssetKey(["marts", "dim_customer"])
EXPORT_DIM_CUSTOMER = dg.AssetKey(["export", "dim_customer"])


def run(
    defs: dg.Definitions, selection: list[dg.AssetKey], run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=selection,
        raise_on_error=False,
        run_config=run_config,
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {event.asset_key for event in result.get_asset_materialization_events()}


def started_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.step_key for event in result.all_events if event.is_step_start}


def check(result: dg.ExecuteInProcessResult, asset: dg.AssetKey, name: str):
    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == asset and e.check_name == name
    ]
    return evaluation


def relations(project: ProjectConfig) -> set[str]:
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        rows = con.execute("select table_schema, table_name from information_schema.tables")
        return {f"{schema}.{name}" for schema, name in rows.fetchall()}


def test_a_dropped_row_fails_reconciliation_and_nothing_downstream_builds(
    demo_project: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Warehouse.rows_to_write

    def losing_one_row(self, tables, columns) -> str:
        """A loader bug: what the load writes is one row short of what it staged (the DuckDB
        load stages a view of the landed files, so the bug sits where every load writes)."""
        return f"(select * from {original(self, tables, columns)} offset 1) as one_row_short"

    monkeypatch.setattr(Warehouse, "rows_to_write", losing_one_row)
    defs = build_definitions(demo_project)
    result = run(defs, [CUSTOMERS, STG_CUSTOMERS, DIM_CUSTOMER, EXPORT_DIM_CUSTOMER])

    assert not result.success
    reconciliation = check(result, CUSTOMERS, "reconciliation")
    assert not reconciliation.passed
    assert reconciliation.severity == dg.AssetCheckSeverity.ERROR
    assert "the source holds 50 rows, the warehouse 49 (1 missing)" in reconciliation.description
    assert reconciliation.metadata["source_rows"].value == 50
    assert reconciliation.metadata["landed_rows"].value == 50
    assert reconciliation.metadata["warehouse_rows"].value == 49
    assert check(result, CUSTOMERS, "unique_primary_key").passed
    # The load itself is recorded (the table did change); nothing downstream ran.
    assert materialized(result) == {CUSTOMERS}
    assert started_steps(result) == {"raw__erp__customers"}  # neither dbt nor the export
    assert not {"staging.stg_erp__customers", "marts.dim_customer"} & relations(demo_project)
    assert not (Path(demo_project.exports_url) / "dim_customer").exists()

    # The bug fixed, the next run reads from the watermark only: the lost row is still
    # missing, and the check, comparing from where it found the failure, says so (before, its
    # window started at the watermark and it passed, the row never loaded).
    monkeypatch.setattr(Warehouse, "rows_to_write", original)
    everything = [CUSTOMERS, STG_CUSTOMERS, DIM_CUSTOMER, EXPORT_DIM_CUSTOMER]
    rerun = run(defs, everything)
    assert not rerun.success
    still = check(rerun, CUSTOMERS, "reconciliation")
    assert "the source holds 50 rows, the warehouse 49 (1 missing)" in still.description
    assert "first found by the check of load" in still.description
    assert "`full_refresh: true`" in still.description  # the way out
    assert materialized(rerun) == {CUSTOMERS}

    # A full refresh reads the table whole: it converges and builds everything.
    refresh = {"ops": {"raw__erp__customers": {"config": {"full_refresh": True}}}}
    refreshed = run(defs, everything, refresh)
    assert refreshed.success
    assert check(refreshed, CUSTOMERS, "reconciliation").passed
    assert materialized(refreshed) == set(everything)


def test_a_failing_error_severity_dbt_test_blocks_the_export(demo_project: ProjectConfig) -> None:
    defs = build_definitions(demo_project)
    orders = dg.AssetKey(["raw", "erp", "sales_orders"])
    staging = dg.AssetKey(["staging", "stg_erp__sales_orders"])
    downstream = [
        staging,
        STG_CUSTOMERS,
        DIM_CUSTOMER,
        dg.AssetKey(["marts", "fct_sales"]),
        dg.AssetKey(["export", "fct_sales_daily"]),
    ]
    assert run(defs, [CUSTOMERS, orders]).success

    # A bad row written into the raw table behind the loader's back: an order with no amount.
    with duckdb.connect(demo_project.warehouse.path) as con:
        con.execute(
            "insert into raw_erp.sales_orders (change_id, operation, order_id, customer_id, "
            "order_date, amount, status, changed_at, _load_id, _deleted) "
            "values (100000, 'I', 100000, 1, '2024-03-01', null, 'open', now(), 'manual', false)"
        )
    second = run(defs, downstream)

    assert not second.success
    not_null = check(second, staging, "not_null_stg_erp__sales_orders_amount")
    assert not not_null.passed and not_null.blocking
    assert dg.AssetKey(["export", "fct_sales_daily"]) not in materialized(second)
    assert not any("export" in step for step in started_steps(second))
