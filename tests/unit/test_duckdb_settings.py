"""warehouse.memory_limit and warehouse.temp_directory: checked when the configuration loads,
and the DuckDB connection a load opens (and dbt's, through profiles.yml) runs with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tributary.config.loader import PROJECT_ROOT, ConfigError, load_project
from tributary.defs.resources import WarehouseResource

DBT = Path(sys.executable).parent / "dbt"
SETTINGS_SQL = "select current_setting('memory_limit'), current_setting('temp_directory')"


def write_warehouse(config_dir: Path, **warehouse) -> Path:
    path = config_dir / "platform.yaml"
    platform = yaml.safe_load(path.read_text())
    platform["warehouse"] = {"target": "duckdb", "path": "warehouse.duckdb", **warehouse}
    path.write_text(yaml.safe_dump(platform))
    return path


@pytest.mark.parametrize("memory_limit", ["lots", "1000", "1 GBs", "-1GB"])
def test_a_memory_limit_duckdb_cannot_read_names_file_and_key(
    config_dir: Path, state_dir: Path, memory_limit: str
) -> None:
    platform = write_warehouse(config_dir, memory_limit=memory_limit)
    with pytest.raises(ConfigError) as raised:
        load_project(config_dir)
    message = str(raised.value)
    assert message.startswith(f"{platform}: warehouse.duckdb.memory_limit: ")
    assert "e.g. '1GB'" in message and f"(got {memory_limit!r})" in message


def test_the_settings_reach_the_load_connection(config_dir: Path, state_dir: Path) -> None:
    write_warehouse(config_dir, memory_limit="300MB", temp_directory="spill")
    resource = WarehouseResource.from_project(load_project(config_dir))
    with resource.open() as warehouse:
        [(memory_limit, temp_directory)] = warehouse.query(SETTINGS_SQL)
    # DuckDB reports 300 MB (1000^2 bytes) in MiB
    assert memory_limit == "286.1 MiB"
    assert Path(temp_directory) == (state_dir / "spill").resolve()


def test_unset_keeps_duckdb_defaults(config_dir: Path, state_dir: Path) -> None:
    write_warehouse(config_dir)
    resource = WarehouseResource.from_project(load_project(config_dir))
    assert set(resource.settings) == {"path"}  # no memory_limit, no temp_directory
    with resource.open() as warehouse:
        [(_, temp_directory)] = warehouse.query(SETTINGS_SQL)
    assert temp_directory == f"{resource.settings['path']}.tmp"


def dbt_settings(env: dict[str, str], tmp_path: Path) -> tuple[str, str]:
    shown = subprocess.run(
        [str(DBT), "show", "--profiles-dir", ".", "--target", "duckdb", "--output", "json",
         "--log-format", "json", "--inline", SETTINGS_SQL,
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=PROJECT_ROOT / "dbt_project", env={**os.environ, **env}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr[-2000:]
    for line in shown.stdout.splitlines():
        preview = json.loads(line).get("data", {}).get("preview")
        if preview:
            [row] = json.loads(preview)
            return tuple(row.values())
    raise AssertionError(f"no preview in dbt's output: {shown.stdout[-2000:]}")


def test_dbt_opens_the_file_with_the_same_settings(
    config_dir: Path, state_dir: Path, tmp_path: Path
) -> None:
    """dbt-duckdb opens the same file: a second connection in one process with other
    settings would be refused, and a dbt build without the limit would not be bounded."""
    write_warehouse(config_dir, memory_limit="300MB", temp_directory="spill")
    resource = WarehouseResource.from_project(load_project(config_dir))
    state_dir.mkdir()  # as a load would
    memory_limit, temp_directory = dbt_settings(resource.dbt_env(), tmp_path)
    assert memory_limit == "286.1 MiB"
    assert Path(temp_directory) == (state_dir / "spill").resolve()
