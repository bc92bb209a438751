"""A configuration mistake as the UI shows it: the code server loads the definitions, fails, and
the error it reports leads with the file, the key and what was expected, in a few lines."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget


def code_location_error(config_dir: Path) -> str:
    """The load error the webserver gets from a code server of tributary.definitions."""
    target = ModuleTarget(
        module_name="tributary.definitions",
        attribute=None,
        working_directory=None,
        location_name="tributary",
    )
    with dg.instance_for_test() as instance, WorkspaceProcessContext(instance, target) as ctx:
        [entry] = ctx.create_request_context().get_code_location_entries().values()
        assert entry.load_error is not None, "the definitions loaded"
        return entry.load_error.to_string()


def test_a_bad_platform_yaml_leads_with_file_key_and_expectation(
    config_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["warehouse"]["target"] = "duckdbb"
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    monkeypatch.setenv("TRIBUTARY_CONFIG_DIR", str(config_dir))

    shown = code_location_error(config_dir)

    first_line = shown.splitlines()[0]
    assert "platform.yaml: warehouse.target: expected one of" in first_line, shown
    assert "'duckdb', 'postgres', 'redshift'" in first_line and "(got 'duckdbb')" in first_line
    assert "pydantic" not in shown and "For further information visit" not in shown, shown
    assert "DagsterUserCodeLoadError" not in shown, shown  # not buried under Dagster's wrapper
    # The stack is the code server's four frames down to `defs` (3 lines each), not the loader's
    assert "config/loader.py" not in shown, shown
    assert len(shown.splitlines()) <= 20, shown  # it was 35, with the message in the middle
