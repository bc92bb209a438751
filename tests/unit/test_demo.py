"""The demo stays outside the product: the product never imports it and never replays an org;
the demo's sources resource is what reads its Salesforce org in-process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tributary.config.loader import ProjectConfig
from tributary.defs.preflight import build_preflight_job
from tributary.defs.sources import SourcesResource
from tributary.sources import SourceError
from tributary_demo.resources import ReplaySources
from tributary_demo.salesforce import DEMO_FIXTURES


def test_the_demo_sources_read_the_demo_org_while_no_credential_is_set(
    demo_project: ProjectConfig,
) -> None:
    reader = ReplaySources().open(
        demo_project.source("salesforce"), state_dir=demo_project.state_dir
    )
    [account] = [t for t in demo_project.source("salesforce").tables if t.name == "account"]
    rows = reader.read(account, batch_rows=100).batches.read_all()
    expected = json.loads((DEMO_FIXTURES / "Account.records.json").read_text())["records"]
    assert sorted(rows.column("id").to_pylist()) == sorted(r["Id"] for r in expected)


def test_the_product_sources_ask_for_the_credentials_instead(demo_project: ProjectConfig) -> None:
    reader = SourcesResource().open(
        demo_project.source("salesforce"), state_dir=demo_project.state_dir
    )
    with pytest.raises(
        SourceError, match="environment variables SALESFORCE_USERNAME, SALESFORCE_PASSWORD"
    ):
        reader.login()


def test_the_preflight_job_opens_sources_through_the_resource(demo_project: ProjectConfig) -> None:
    job = build_preflight_job(demo_project)
    demo = job.execute_in_process(resources={"sources": ReplaySources()}, raise_on_error=False)
    assert demo.success
    product = job.execute_in_process(resources={"sources": SourcesResource()}, raise_on_error=False)
    [failure] = [e for e in product.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert "preflight: 1 problems" in description
    assert "sources/salesforce.yaml: salesforce: " in description
    assert "SALESFORCE_USERNAME" in description


def test_no_product_module_imports_the_demo() -> None:
    """Every module of the tributary package imported in a fresh interpreter: tributary_demo
    is not among the modules loaded (the product's wheel does not hold it)."""
    script = (
        "import importlib, pkgutil, sys, tributary\n"
        "for module in pkgutil.walk_packages(tributary.__path__, 'tributary.'):\n"
        "    importlib.import_module(module.name)\n"
        "print(sorted(name for name in sys.modules if name.startswith('tributary_demo')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
