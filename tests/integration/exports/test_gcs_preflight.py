"""`tributary check` on the GCS emulator: each active tenant's own store of a per-tenant export
(tenant_url) gets the exports store's probe, and a tenant whose bucket does not exist is named
before its export runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tributary.config.loader import load_project
from tributary.preflight import check_tenant_stores

pytestmark = pytest.mark.integration


def tenant_store_lines(folder: Path, exports_url: str, tenant_url: str) -> list[str]:
    (folder / "exports").mkdir(parents=True, exist_ok=True)
    (folder / "platform.yaml").write_text(yaml.safe_dump({"exports": {"url": exports_url}}))
    (folder / "tenants.yaml").write_text(
        yaml.safe_dump({"tenants": [{"id": 1, "alias": "acme"}, {"id": 2, "alias": "globex"}]})
    )
    export = {
        "name": "orders_by_tenant",
        "model": "fct_sales",
        "per_tenant": True,
        "tenant_url": tenant_url,
    }
    (folder / "exports" / "orders_by_tenant.yaml").write_text(yaml.safe_dump(export))
    project = load_project(folder)
    return [check.line() for check in check_tenant_stores(project, list(project.tenants.tenants))]


def test_a_tenants_missing_bucket_is_named(gcs, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "assets_config"
    file = "assets_config/exports/orders_by_tenant.yaml"
    lines = tenant_store_lines(folder, gcs.url, f"{gcs.url}/{{alias}}")
    assert lines == [
        f"ok    {file}: tenant_url: tenant {n} ({alias}): {gcs.url}/{alias} is writable (probe "
        "object written to and deleted from _preflight/)"
        for n, alias in ((1, "acme"), (2, "globex"))
    ]
    assert gcs.fs.find(gcs.name) == []  # the probes deleted

    # acme's bucket exists, globex's does not
    gcs.fs.mkdir(f"{gcs.name}-acme")
    [ok, missing] = tenant_store_lines(folder, gcs.url, f"{gcs.url}-{{alias}}/bi")
    assert ok.startswith(f"ok    {file}: tenant_url: tenant 1 (acme): {gcs.url}-acme/bi is ")
    assert missing.startswith(
        f"FAIL  {file}: tenant_url: tenant 2 (globex): cannot write to {gcs.url}-globex/bi: "
        "not found ("
    ), missing
    assert missing.endswith(f"/b/{gcs.name}-globex/o): does the bucket exist?"), missing
