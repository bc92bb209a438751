"""The freshness checks of the raw tables, run through Dagster on the demo project (DuckDB and
SQLite files: no server): each selected table gets its own result."""

from __future__ import annotations

import dagster as dg

from tributary.config.loader import ProjectConfig
from tributary.defs import build_definitions

CUSTOMERS = dg.AssetKey(["raw", "erp", "customers"])
PRODUCTS = dg.AssetKey(["raw", "ops", "products"])
USERS = dg.AssetKey(["raw", "app", "users"])


def test_each_selected_table_gets_its_own_freshness_result(demo_project: ProjectConfig) -> None:
    defs = build_definitions(demo_project)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    loaded = job.execute_in_process(instance=instance, asset_selection=[CUSTOMERS])
    assert loaded.success

    checks = {dg.AssetCheckKey(key, "freshness") for key in (CUSTOMERS, PRODUCTS)}
    result = job.get_subset(asset_selection=set(), asset_check_selection=checks).execute_in_process(
        instance=instance
    )

    evaluations = {e.asset_key: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {CUSTOMERS, PRODUCTS}  # only the selected checks ran
    assert evaluations[CUSTOMERS].passed  # loaded a moment ago
    assert not evaluations[PRODUCTS].passed  # never loaded
    assert evaluations[PRODUCTS].severity == dg.AssetCheckSeverity.WARN
    assert USERS not in evaluations


def test_a_run_that_loads_a_table_checks_its_freshness_after_the_load(
    demo_project: ProjectConfig,
) -> None:
    """The check step depends on the table's load: run together, it sees this load."""
    defs = build_definitions(demo_project)
    job = defs.resolve_implicit_global_asset_job_def()
    # Selecting the table selects its checks, the freshness check among them.
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[PRODUCTS]
    )

    assert result.success
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert steps == ["raw__ops__products", "freshness__ops"]
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "freshness"]
    assert evaluation.passed, evaluation.description
