"""A project whose tenants come from the application's registry (its companies table): the
demo's configuration, plus a source holding the registry and a tenant-scoped table, and two
per-tenant exports (into the exports store, and into each tenant's own store)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tributary.config.loader import PROJECT_ROOT

REGISTRY_SOURCE = "appdb"
ORDERS_QUERY = (
    "select id, company_id, amount, created_at from orders "
    "where company_id = :tenant_id and created_at >= now() - interval :days_back day"
)


def write_registry_project(config_dir: Path, *, url: str, tenant_stores: Path) -> Path:
    """The configuration folder, the registry read from the MySQL database at `url`."""
    shutil.copytree(PROJECT_ROOT / "assets_config", config_dir)
    (config_dir / "tenants.yaml").write_text(
        yaml.safe_dump(
            {
                "registry": {
                    "source": REGISTRY_SOURCE,
                    "query": "select company_id as id, alias, status = 1 as active from companies",
                    "settings_query": "select company_id as tenant_id, name, value "
                    "from company_settings",
                    "interval": "1m",
                }
            }
        )
    )
    (config_dir / "sources" / f"{REGISTRY_SOURCE}.yaml").write_text(
        yaml.safe_dump(
            {
                "name": REGISTRY_SOURCE,
                "kind": "mysql",
                "connection": {"url": url},
                "frequency": "daily",
                "tables": [
                    {
                        "name": "orders",
                        "query": ORDERS_QUERY,
                        "tenant_column": "company_id",
                        "primary_key": ["id"],
                        "settings": {"days_back": 30},
                    }
                ],
            }
        )
    )
    export = {
        "query": f"select * from raw_{REGISTRY_SOURCE}.orders",
        "depends_on": ["ops_load_status"],
        "per_tenant": True,
        "frequency": "daily",
        "retention": 2,
    }
    (config_dir / "exports" / "orders_by_tenant.yaml").write_text(
        yaml.safe_dump({"name": "orders_by_tenant", **export})
    )
    (config_dir / "exports" / "orders_to_tenants.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "orders_to_tenants",
                **export,
                "tenant_url": str(tenant_stores / "bi-{alias}" / "tributary"),
            }
        )
    )
    return config_dir
