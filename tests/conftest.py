"""Shared fixtures: an isolated state dir per test, and the demo sources in it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tributary.config import ProjectConfig, load_project
from tributary.config.loader import PROJECT_ROOT
from tributary.demo import generate_demo_sources
from tributary.demo.salesforce import SalesforceApi

from .salesforce_fake import FIXTURES, FakeSalesforce, self_signed_certificate

CONFIG_DIR = PROJECT_ROOT / "assets_config"
# Unset, so that the shipped Salesforce source replays the demo org.
SALESFORCE_ENV = ("SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN")


def require_service(name: str, available: bool) -> None:
    """Skip when a real server is missing; fail instead under TRIBUTARY_REQUIRE_SERVICES=1."""
    if available:
        return
    if os.environ.get("TRIBUTARY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (TRIBUTARY_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{name} is not reachable")


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("TRIBUTARY_STATE_DIR", str(state))
    for name in ("TRIBUTARY_ERP_URL", "TRIBUTARY_APP_URL", "TRIBUTARY_OPS_URL", *SALESFORCE_ENV):
        monkeypatch.delenv(name, raising=False)
    return state


@pytest.fixture
def demo_project(state_dir: Path) -> ProjectConfig:
    """The shipped assets_config, with its state (and demo sources) in a temporary dir."""
    generate_demo_sources(state_dir / "demo", customers=50, orders=300)
    return load_project(CONFIG_DIR)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped configuration that a test may break."""
    target = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, target)
    return target


@pytest.fixture(scope="session")
def fake_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def salesforce_fake(fake_certificate: tuple[Path, Path]) -> Iterator[FakeSalesforce]:
    """A fresh fake org (tests/fixtures/salesforce) served over HTTPS on 127.0.0.1."""
    api = SalesforceApi.from_fixtures(FIXTURES)
    with FakeSalesforce(api, fake_certificate).running() as fake:
        yield fake
