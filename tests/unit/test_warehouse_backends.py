"""One warehouse interface: each backend in its folder, registered once, and nothing else in
the package naming a backend (docs/warehouses.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tributary.config.loader import PROJECT_ROOT
from tributary.warehouse import Warehouse
from tributary.warehouse.backend import WarehouseBackend
from tributary.warehouse.registry import BACKENDS, WAREHOUSE_SETTINGS

PACKAGE = PROJECT_ROOT / "src" / "tributary"
WAREHOUSE = PACKAGE / "warehouse"
TARGETS = [backend.model_fields["target"].annotation.__args__[0] for backend in BACKENDS]
# What only a backend's folder (and the registry) may say.
BACKEND_SPECIFIC = re.compile(
    r"isinstance\([^)]*Warehouse"
    r"|\b(DuckDB|Postgres|Redshift)Warehouse(Config)?\b"
    r"|\.target\s*(==|!=|in)\s"
)
SETTINGS = {
    "duckdb": {"path": "warehouse.duckdb"},
    "postgres": {"connection": {"url": "postgresql://loader@db.example.com:5433/dw"}},
    "redshift": {
        "connection": {"url": "redshift://loader@dw.example.com/dw"},
        "iam_role": "arn:aws:iam::123456789012:role/copy",
    },
}


def shared_modules() -> list[Path]:
    backend_folders = {WAREHOUSE / target for target in TARGETS}
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if not backend_folders & set(path.parents)
        and path != WAREHOUSE / "registry.py"
        and "demo" not in path.relative_to(PACKAGE).parts
    ]


def test_no_module_outside_a_backend_names_one() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in shared_modules()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BACKEND_SPECIFIC.search(line)
    ]
    assert len(shared_modules()) > 40  # the walk found the package
    assert offenders == []


def test_each_backend_lives_in_its_folder() -> None:
    folders = sorted(path.parent.name for path in WAREHOUSE.glob("*/config.py"))
    assert sorted(TARGETS) == folders
    for backend, target in zip(BACKENDS, TARGETS, strict=True):
        assert backend.__module__ == f"tributary.warehouse.{target}.config"


@pytest.mark.parametrize("target", TARGETS)
def test_every_backend_answers_the_interface(target: str, tmp_path: Path) -> None:
    backend = WAREHOUSE_SETTINGS.validate_python({"target": target, **SETTINGS[target]})
    assert isinstance(backend, WarehouseBackend)
    warehouse = backend.open(state_dir=tmp_path)  # connects on first use, not here
    assert isinstance(warehouse, Warehouse) and warehouse.kind == target
    env = backend.dbt_env(secrets=False)
    assert env["TRIBUTARY_DBT_TARGET"] == target
    profiles = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text())
    assert target in profiles["tributary"]["outputs"]  # dbt's side of the backend
    # what the resource carries round-trips to the same settings
    carried = backend.model_dump(mode="json", exclude_none=True, exclude={"target"})
    assert WAREHOUSE_SETTINGS.validate_python({"target": target, **carried}) == backend


def test_a_folded_key_is_compared_folded_and_an_exact_one_as_it_always_was() -> None:
    """A key matched exactly is the quoted column itself (the load's SQL is what it always
    was); one whose source ignores case and trailing spaces is lower(rtrim(column, ' ')):
    rtrim's ' ' as PAD SPACE pads, not DuckDB's every white space."""
    from dataclasses import replace

    from tributary.key_match import EXACT, TextMatch
    from tributary.warehouse import LoadTarget

    exact = LoadTarget("shop", "items", "incremental", primary_key=("code", "line"))
    assert exact.matched_key() == ['"code"', '"line"'] and not exact.folds_key
    assert exact.key_watch() is None  # two columns: not watched, as before
    assert LoadTarget("shop", "items", "full", primary_key=("code",)).key_watch() is not None
    folded = LoadTarget(
        "shop",
        "items",
        "incremental",
        primary_key=("code", "line"),
        key_match=(TextMatch(ignores_case=True, ignores_trailing_spaces=True), EXACT),
    )
    assert folded.matched_key("held") == ["lower(rtrim(held.\"code\", ' '))", 'held."line"']
    assert folded.key_matching == "code ignoring case and trailing spaces"
    spaces = replace(folded, primary_key=("CODE",), key_match=(TextMatch(False, True),))
    assert spaces.matched_key() == ["rtrim(\"CODE\", ' ')"] and spaces.key_watch() is None
