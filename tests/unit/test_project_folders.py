"""Where the configuration folder and the dbt project are found, installed or in a checkout, and
when the dbt manifest is prepared. The wheel installed for real: tests/e2e/test_wheel_install.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_dbt_project
from tributary.config import loader
from tributary.config.loader import PROJECT_ROOT, ConfigError, load_project
from tributary.defs import transform
from tributary.defs.transform import dbt_project, parse_env


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding a configuration folder and a dbt project, as a deployment has them."""
    for name in ("TRIBUTARY_CONFIG_DIR", "TRIBUTARY_DBT_PROJECT_DIR", "DAGSTER_IS_DEV_CLI"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "deployment"
    shutil.copytree(PROJECT_ROOT / "assets_config", root / "assets_config")
    copy_dbt_project(root / "dbt_project")
    return root


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As from a wheel: no checkout to fall back on."""
    monkeypatch.setattr(loader, "FROM_CHECKOUT", False)


def test_the_checkout_is_recognised() -> None:
    assert loader.FROM_CHECKOUT
    assert loader.default_config_dir() == PROJECT_ROOT / "assets_config"


def test_installed_the_configuration_folder_is_assets_config_in_the_current_directory(
    deployment: Path, installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(deployment)
    project = load_project()
    assert project.config_dir == deployment / "assets_config"
    assert project.dbt_project_dir == deployment / "dbt_project"
    monkeypatch.chdir(deployment / "dbt_project")
    with pytest.raises(ConfigError) as raised:
        load_project()
    message = str(raised.value)
    assert str(deployment / "dbt_project" / "assets_config") in message
    assert "TRIBUTARY_CONFIG_DIR is unset" in message
    assert "set TRIBUTARY_CONFIG_DIR to the folder holding platform.yaml" in message


def test_the_configuration_folder_from_the_variable(
    deployment: Path, installed: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRIBUTARY_CONFIG_DIR", str(deployment / "assets_config"))
    assert load_project().config_dir == deployment / "assets_config"
    monkeypatch.setenv("TRIBUTARY_CONFIG_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"nowhere \(the configuration folder, from "):
        load_project()


def test_the_dbt_project_beside_the_configuration_folder(deployment: Path, installed: None) -> None:
    project = load_project(deployment / "assets_config")
    assert project.dbt_project_dir == deployment / "dbt_project"
    assert Path(dbt_project(project).project_dir) == deployment / "dbt_project"


def test_the_dbt_project_from_the_variable(
    deployment: Path, installed: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere" / "transform"
    shutil.move(deployment / "dbt_project", elsewhere)
    project = load_project(deployment / "assets_config")
    with pytest.raises(ConfigError) as raised:
        _ = project.dbt_project_dir
    message = str(raised.value)
    assert str(deployment / "dbt_project") in message  # where it looked
    assert "set TRIBUTARY_DBT_PROJECT_DIR" in message  # and how to say where it is
    monkeypatch.setenv("TRIBUTARY_DBT_PROJECT_DIR", str(elsewhere))
    assert Path(dbt_project(project).project_dir) == elsewhere
    monkeypatch.setenv("TRIBUTARY_DBT_PROJECT_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"from TRIBUTARY_DBT_PROJECT_DIR.*no dbt_project\.yml"):
        _ = project.dbt_project_dir


def test_from_a_checkout_a_configuration_elsewhere_uses_the_checkouts_dbt_project(
    config_dir: Path,
) -> None:
    assert load_project(config_dir).dbt_project_dir == PROJECT_ROOT / "dbt_project"


def test_the_manifest_is_prepared_only_under_dagster_dev_and_only_when_stale(
    deployment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared: list[Path] = []

    def prepare(project, dbt) -> Path:
        prepared.append(Path(dbt.project_dir))
        Path(dbt.manifest_path).parent.mkdir(exist_ok=True)
        Path(dbt.manifest_path).write_text("{}")
        return Path(dbt.manifest_path)

    monkeypatch.setattr(transform, "prepare_manifest", prepare)
    project = load_project(deployment / "assets_config")
    dbt_project(project)
    assert prepared == []  # loading definitions never runs dbt outside `dagster dev`
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    dbt_project(project)
    assert prepared == [deployment / "dbt_project"]  # no manifest yet
    dbt_project(project)
    assert len(prepared) == 1  # nothing changed since
    model = next((deployment / "dbt_project" / "models").rglob("*.sql"))
    later = Path(project.dbt_project_dir / "target" / "manifest.json").stat().st_mtime + 10
    os.utime(model, (later, later))
    dbt_project(project)
    assert len(prepared) == 2  # a model was edited


def test_the_parse_environment_is_the_runs_without_a_password(
    deployment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = {
        "warehouse": {
            "target": "redshift",
            "connection": {
                "url": "redshift://loader@dw.example.com:5439/analytics",
                "password_env": "REDSHIFT_PASSWORD",
            },
            "iam_role": "arn:aws:iam::123456789012:role/copy",
        },
        "landing": {"url": "s3://landing/tributary"},
    }
    (deployment / "assets_config" / "platform.yaml").write_text(yaml.safe_dump(platform))
    monkeypatch.delenv("REDSHIFT_PASSWORD", raising=False)  # an image build has none
    env = parse_env(load_project(deployment / "assets_config"))
    assert env == {
        "TRIBUTARY_DBT_TARGET": "redshift",
        "TRIBUTARY_WAREHOUSE_HOST": "dw.example.com",
        "TRIBUTARY_WAREHOUSE_PORT": "5439",
        "TRIBUTARY_WAREHOUSE_USER": "loader",
        "DBT_ENV_SECRET_TRIBUTARY_WAREHOUSE_PASSWORD": "",
        "TRIBUTARY_WAREHOUSE_DATABASE": "analytics",
    }
