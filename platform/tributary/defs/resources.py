"""Dagster resources: thin, configurable handles on the warehouse and the two stores."""

from __future__ import annotations

import dagster as dg

from tributary.exports import ExportStore
from tributary.landing import LandingStore
from tributary.warehouse import DuckDBWarehouse, Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse raw tables are loaded into and dbt builds in."""

    target: str = "duckdb"
    duckdb_path: str

    def open(self) -> Warehouse:
        return DuckDBWarehouse(self.duckdb_path)

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt's profiles.yml, so dbt builds in the same warehouse."""
        return {"TRIBUTARY_DBT_TARGET": self.target, "TRIBUTARY_DUCKDB_PATH": self.duckdb_path}


class LandingStoreResource(dg.ConfigurableResource):
    url: str

    def open(self) -> LandingStore:
        return LandingStore(self.url)


class ExportStoreResource(dg.ConfigurableResource):
    url: str

    def open(self) -> ExportStore:
        return ExportStore(self.url)
