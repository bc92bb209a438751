"""The dbt project parses for the warehouses it has no server for here (Redshift) or that
the demo does not use (PostgreSQL); `make` parses it for DuckDB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tributary.config.loader import PROJECT_ROOT

DBT = Path(sys.executable).parent / "dbt"


@pytest.mark.parametrize("target", ["redshift", "postgres"])
def test_dbt_project_parses_for_target(target: str, tmp_path: Path) -> None:
    result = run_dbt("parse", "--target", target, "--target-path", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == target
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"dim_customer", "fct_sales", "stg_erp__customers"} <= set(models)
    # Late-binding views on Redshift, so that a load's rename swap never breaks them.
    assert models["stg_erp__customers"]["config"]["bind"] is False
    # Every model's session in UTC (the hook renders for the target when the model runs).
    for model in models.values():
        hooks = [hook["sql"] for hook in model["config"]["pre-hook"]]
        assert hooks == ["{{ set_session_time_zone() }}"], model["name"]
    # Every staging model reads its raw table through staging_columns (missing columns are
    # typed NULLs); parsing renders its type macros for this target.
    staging = [m for m in models.values() if m["fqn"][1] == "staging"]
    assert len(staging) == 7
    for model in staging:
        assert "macro.tributary.staging_columns" in model["depends_on"]["macros"], model["name"]


def run_dbt(*args: str) -> subprocess.CompletedProcess:
    """The project's dbt with its profiles, quiet."""
    return subprocess.run(
        [str(DBT), *args, "--profiles-dir", ".", "--quiet"],
        cwd=PROJECT_ROOT / "dbt_project",
        capture_output=True,
        text=True,
        timeout=300,
    )


def compile_dbt(target: str, target_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`dbt compile` without a connection (no cache, no introspection): how Redshift SQL is
    checked here."""
    return run_dbt("compile", "--target", target, "--target-path", str(target_path),
                   "--no-populate-cache", "--no-introspect", *args)  # fmt: skip


def compile_model(model: str, target: str, dbt_vars: str, target_path: Path):
    return compile_dbt(target, target_path, "--select", model, "--vars", dbt_vars)


@pytest.mark.parametrize(
    ("target", "statement"),
    [("redshift", "set timezone to 'UTC'"), ("postgres", "set timezone to 'UTC'"), ("duckdb", "")],
)
def test_each_models_session_is_set_to_utc(target: str, statement: str, tmp_path: Path) -> None:
    """dbt's PostgreSQL and Redshift sessions kept the server's time zone, so a timestamp with
    time zone cast to a date (fct_sales.order_date) was the day there; the pre-hook sets UTC,
    as Tributary's own sessions. DuckDB's profile sets it, so the hook is empty there."""
    result = compile_dbt(target, tmp_path, "--inline", "{{ set_session_time_zone() }}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == statement


def test_revenue_cities_var_compiles_for_redshift(tmp_path: Path) -> None:
    # Each name lower-cased and trimmed like the city it meets; a quote stays literal.
    cities = """{revenue_cities: [" Val d'Or ", "NEW YORK"]}"""
    result = compile_model("dim_customer", "redshift", cities, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [compiled] = tmp_path.glob("compiled/**/dim_customer.sql")
    sql = " ".join(compiled.read_text().split())
    assert "when lower(trim(city)) in ('val d''or', 'new york') then 'Y'" in sql


def test_revenue_cities_var_that_is_not_a_list_stops_the_build(tmp_path: Path) -> None:
    result = compile_model("dim_customer", "redshift", "{revenue_cities: Seattle}", tmp_path)
    assert result.returncode != 0
    assert "dbt var 'revenue_cities': expected a list of city names" in result.stdout
