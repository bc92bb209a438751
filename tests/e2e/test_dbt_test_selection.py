"""A model built alone (automation builds what a load changed) runs every blocking test of its
own, a relationship test to a model not built in the run included. dbt's cautious indirect
selection dropped such a test (not every model it reads was selected): Dagster logged that the
blocking check "emitted no result" and went on, and an orphan row reached what followed."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from tributary.config.loader import ProjectConfig
from tributary.defs import build_definitions

pytestmark = pytest.mark.e2e

COMPANIES = dg.AssetKey(["staging", "stg_app__companies"])
USERS = dg.AssetKey(["staging", "stg_app__users"])
RAW = [dg.AssetKey(["raw", "app", table]) for table in ("companies", "users")]


def run(defs: dg.Definitions, selection: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=selection, raise_on_error=False
    )


def test_a_model_built_alone_runs_its_relationship_test(demo_project: ProjectConfig) -> None:
    defs = build_definitions(demo_project)
    assert run(defs, [*RAW, COMPANIES, USERS]).success
    # A user of a company the companies table does not hold, behind the loader's back.
    with duckdb.connect(demo_project.warehouse.path) as con:
        [columns] = con.execute(
            "select list(column_name order by ordinal_position) from information_schema.columns "
            "where table_schema = 'raw_app' and table_name = 'users'"
        ).fetchone()
        values = {"user_id": 999_999, "company_id": 424_242, "_load_id": "manual"}
        names = [name for name in columns if name in values]
        con.execute(
            f"insert into raw_app.users ({', '.join(names)}) "
            f"values ({', '.join('?' for _ in names)})",
            [values[name] for name in names],
        )

    result = run(defs, [USERS])

    relationships = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == USERS and e.check_name.startswith("relationships_")
    ]
    assert [(e.passed, e.blocking) for e in relationships] == [(False, True)]
    assert not result.success
