"""The staging models' `latest_row_per_key` macro keeps the same version of a key on every
warehouse: a version whose change column is NULL is the oldest, as the loader's own merge
ranks it (warehouse.latest_per_key). PostgreSQL and Redshift sort a NULL first in a
descending order, DuckDB last, so a PostgreSQL warehouse kept the NULL version of a key and
DuckDB the latest one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tributary.warehouse.registry import WAREHOUSE_SETTINGS

from .conftest import run_dbt

# Key 1: a version without a change value between two with one; key 2: only one, without.
VERSIONS = """with changes as (
    select 1 as k, 1 as changed, 'first' as label
    union all select 1, cast(null as integer), 'unknown'
    union all select 1, 2, 'latest'
    union all select 2, cast(null as integer), 'only'
)
{{ latest_row_per_key('changes', 'k', 'changed') }}"""


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request, tmp_path: Path):
    if request.param == "duckdb":
        config = {"target": "duckdb", "path": str(tmp_path / "warehouse.duckdb")}
    else:
        config = {"target": "postgres", "connection": {"url": request.getfixturevalue("postgres")}}
    return WAREHOUSE_SETTINGS.validate_python(config)


def test_a_version_without_a_change_value_is_the_oldest_on_every_warehouse(
    backend, tmp_path: Path
) -> None:
    shown = run_dbt(backend, tmp_path, "show", "--inline", VERSIONS, "--output", "json", "--quiet")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    kept = sorted((row["k"], row["label"]) for row in json.loads(shown.stdout)["show"])
    assert kept == [(1, "latest"), (2, "only")]
