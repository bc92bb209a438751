"""Dagster resources: thin, configurable handles on the warehouse and the two stores.

Their configuration (shown in the UI) holds paths, URLs without passwords and the NAMES of
environment variables; secrets are read from the environment when a run opens a resource.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from tributary.config.loader import ProjectConfig
from tributary.exports import ExportStore, open_export_store
from tributary.landing import LandingStore, Retention
from tributary.landing.retention import DEFAULT_DAYS
from tributary.storage import DEFAULT_TIMEOUTS, Timeouts, s3_filesystem
from tributary.warehouse import Warehouse
from tributary.warehouse.backend import WarehouseBackend
from tributary.warehouse.registry import WAREHOUSE_SETTINGS


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse raw tables are loaded into and dbt builds in: platform.yaml's `warehouse:`
    settings (paths resolved, environment variable NAMES rather than secrets), kept as the
    backend's own settings so that any backend's appear here the same way."""

    target: str
    settings: dict[str, Any]

    @classmethod
    def from_project(cls, project: ProjectConfig) -> WarehouseResource:
        backend = project.warehouse
        return cls(
            target=backend.target,
            settings=backend.model_dump(mode="json", exclude_none=True, exclude={"target"}),
        )

    @property
    def backend(self) -> WarehouseBackend:
        return WAREHOUSE_SETTINGS.validate_python({"target": self.target, **self.settings})

    def open(self) -> Warehouse:
        return self.backend.open()

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt's profiles.yml, so dbt builds in the same warehouse."""
        return self.backend.dbt_env()


class StoreResource(dg.ConfigurableResource):
    """A folder or a bucket, and how long a request to the bucket may wait (`Timeouts`)."""

    url: str
    connect_timeout: float = DEFAULT_TIMEOUTS.connect
    read_timeout: float = DEFAULT_TIMEOUTS.read

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(connect=self.connect_timeout, read=self.read_timeout)


class LandingStoreResource(StoreResource):
    """A local folder, or S3 (or an S3-compatible server at `endpoint_url`). Credentials are
    never configuration: boto's chain finds them (AWS_* variables, a profile, an instance or
    pod role). Plain fields rather than dagster-aws's S3Resource, whose import cost every
    process (each run, each code-server start) about as much as dagster-dbt's."""

    endpoint_url: str | None = None
    region: str | None = None
    retention_days: int | None = DEFAULT_DAYS
    retention_loads: int | None = None

    @classmethod
    def from_project(cls, project: ProjectConfig) -> LandingStoreResource:
        landing = project.platform.landing
        return cls(
            url=project.landing_url,
            endpoint_url=landing.endpoint_url,
            region=landing.region,
            retention_days=landing.retention.days,
            retention_loads=landing.retention.loads,
            connect_timeout=landing.connect_timeout,
            read_timeout=landing.read_timeout,
        )

    def open(self) -> LandingStore:
        retention = Retention(days=self.retention_days, loads=self.retention_loads)
        if not self.url.startswith("s3://"):
            return LandingStore(self.url, retention=retention)
        fs = s3_filesystem(
            endpoint_url=self.endpoint_url, region=self.region, timeouts=self.timeouts
        )
        return LandingStore(self.url, fs=fs, retention=retention)


class ExportStoreResource(StoreResource):
    """Where exports are published: a local folder, or gs://bucket/prefix through gcsfs.

    On GCS, `project` is the GCP project; credentials are the environment's (application
    default credentials), and STORAGE_EMULATOR_HOST points at an emulator. A plain field
    rather than dagster-gcp's GCSResource, for the same import cost as the landing store's."""

    project: str | None = None

    @classmethod
    def from_project(cls, project: ProjectConfig) -> ExportStoreResource:
        exports = project.platform.exports
        return cls(
            url=project.exports_url,
            project=exports.project,
            connect_timeout=exports.connect_timeout,
            read_timeout=exports.read_timeout,
        )

    def open(self, url: str | None = None) -> ExportStore:
        """The exports store, or another store at `url` (a tenant's, from its template) with
        the same credentials."""
        return open_export_store(url or self.url, project=self.project, timeouts=self.timeouts)
