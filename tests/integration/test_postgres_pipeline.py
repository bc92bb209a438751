"""The whole demo graph on the PostgreSQL warehouse: COPY loads, and the dbt `postgres`
target building the same models with the same tests passing."""

from __future__ import annotations

import shutil

import dagster as dg
import psycopg
import yaml

from tributary.config.loader import load_project
from tributary.defs import build_definitions
from tributary_demo import generate_demo_sources
from tributary_demo.resources import ReplaySources

from ..conftest import CONFIG_DIR
from ..model_types import BUILT_COLUMNS_SQL, built_types, declared_types


def test_demo_graph_builds_on_postgres(postgres, role_prefix, state_dir, tmp_path) -> None:
    config_dir = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, config_dir)
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["warehouse"] = {"target": "postgres", "connection": {"url": postgres}}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    # The team roles of teams.yaml, named uniquely for this test: roles are cluster-wide.
    teams = yaml.safe_load((config_dir / "teams.yaml").read_text())
    teams["role_prefix"] = f"{role_prefix}team_"
    (config_dir / "teams.yaml").write_text(yaml.safe_dump(teams))
    generate_demo_sources(state_dir / "demo", customers=40, orders=200)

    defs = build_definitions(load_project(config_dir), sources=ReplaySources())
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(defs.resolve_asset_graph().asset_check_keys) > 20
    assert all(check.passed for check in checks)
    with psycopg.connect(postgres) as con:
        counts = con.execute(
            "select (select count(*) from raw_erp.customers),"
            " (select count(*) from marts.dim_customer),"
            " (select count(*) from marts.fct_sales where customer_key = 'unknown'),"
            " (select count(*) from staging.stg_erp__sales_orders)"
        ).fetchone()
    assert counts == (40, 41, 1, 200)
    with psycopg.connect(postgres) as con:
        granted = con.execute(
            "select has_table_privilege(%s, 'marts.fct_sales', 'select'),"
            " has_table_privilege(%s, 'marts.dim_customer', 'select')",
            (f"{role_prefix}team_finance", f"{role_prefix}team_finance"),
        ).fetchone()
    assert granted == (True, False)  # finance reads the model behind its export, no other
    with psycopg.connect(postgres) as con:
        built = built_types(con.execute(BUILT_COLUMNS_SQL).fetchall())
    assert declared_types(defs) == built  # the models' data_type, as on DuckDB
