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
    result = subprocess.run(
        [str(DBT), "parse", "--profiles-dir", ".", "--target", target,
         "--target-path", str(tmp_path), "--quiet"],
        cwd=PROJECT_ROOT / "dbt_project",
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == target
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"dim_customer", "fct_sales", "stg_erp__customers"} <= set(models)
    # Late-binding views on Redshift, so that a load's rename swap never breaks them.
    assert models["stg_erp__customers"]["config"]["bind"] is False
    # Every staging model reads its raw table through staging_columns (missing columns are
    # typed NULLs); parsing renders its type macros for this target.
    staging = [m for m in models.values() if m["fqn"][1] == "staging"]
    assert len(staging) == 7
    for model in staging:
        assert "macro.tributary.staging_columns" in model["depends_on"]["macros"], model["name"]
