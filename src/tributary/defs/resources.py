"""Dagster resources: thin, configurable handles on the warehouse and the two stores.

Their configuration (shown in the UI) holds paths, URLs without passwords and the NAMES of
environment variables; secrets are read from the environment when a run opens a resource.
"""

from __future__ import annotations

import dagster as dg

from tributary.config import ConnectionConfig, ProjectConfig
from tributary.config.models import DEFAULT_CONNECT_TIMEOUT
from tributary.connection import resolve_url
from tributary.exports import ExportStore, open_export_store
from tributary.landing import LandingStore, Retention
from tributary.landing.retention import DEFAULT_DAYS
from tributary.storage import s3_filesystem
from tributary.warehouse import Warehouse, open_warehouse

DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439}


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse raw tables are loaded into and dbt builds in."""

    target: str = "duckdb"
    duckdb_path: str | None = None
    duckdb_memory_limit: str | None = None  # e.g. "1GB"; unset: loads 128MB, dbt DuckDB's default
    duckdb_temp_directory: str | None = None  # where DuckDB spills; unset: <path>.tmp
    url: str | None = None
    url_env: str | None = None
    password_env: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    iam_role: str | None = None  # Redshift: the role COPY assumes to read the landing bucket
    copy_region: str | None = None  # Redshift: the landing bucket's region, if not the cluster's

    @classmethod
    def from_project(cls, project: ProjectConfig) -> WarehouseResource:
        warehouse = project.platform.warehouse
        if warehouse.target == "duckdb":
            temp_directory = project.duckdb_temp_directory
            return cls(
                target="duckdb",
                duckdb_path=str(project.warehouse_path),
                duckdb_memory_limit=warehouse.memory_limit,
                duckdb_temp_directory=str(temp_directory) if temp_directory else None,
            )
        connection = warehouse.connection
        return cls(
            target=warehouse.target,
            url=connection.url,
            url_env=connection.url_env,
            password_env=connection.password_env,
            connect_timeout=connection.connect_timeout,
            iam_role=getattr(warehouse, "iam_role", None),
            copy_region=project.platform.landing.region,
        )

    def _connection(self) -> ConnectionConfig:
        return ConnectionConfig(
            url=self.url,
            url_env=self.url_env,
            password_env=self.password_env,
            connect_timeout=self.connect_timeout,
        )

    def open(self) -> Warehouse:
        if self.target == "duckdb":
            return open_warehouse(
                "duckdb",
                duckdb_path=self.duckdb_path,
                duckdb_memory_limit=self.duckdb_memory_limit,
                duckdb_temp_directory=self.duckdb_temp_directory,
            )
        return open_warehouse(
            self.target,
            connection=self._connection(),
            iam_role=self.iam_role,
            region=self.copy_region,
        )

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt's profiles.yml, so dbt builds in the same warehouse."""
        if self.target == "duckdb":
            # profiles.yml gives dbt-duckdb the same settings the loads open the file with.
            settings = {
                "TRIBUTARY_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
                "TRIBUTARY_DUCKDB_TEMP_DIRECTORY": self.duckdb_temp_directory,
            }
            return {
                "TRIBUTARY_DBT_TARGET": "duckdb",
                "TRIBUTARY_DUCKDB_PATH": self.duckdb_path,
                **{name: value for name, value in settings.items() if value is not None},
            }
        url = resolve_url(self._connection(), owner="warehouse", state_dir=".")
        return {
            "TRIBUTARY_DBT_TARGET": self.target,
            "TRIBUTARY_WAREHOUSE_HOST": url.host or "127.0.0.1",
            "TRIBUTARY_WAREHOUSE_PORT": str(url.port or DEFAULT_PORTS[self.target]),
            "TRIBUTARY_WAREHOUSE_USER": url.username or "",
            # dbt's DBT_ENV_SECRET_ prefix: usable in profiles.yml only, scrubbed from its logs
            "DBT_ENV_SECRET_TRIBUTARY_WAREHOUSE_PASSWORD": url.password or "",
            "TRIBUTARY_WAREHOUSE_DATABASE": url.database or "",
        }


class LandingStoreResource(dg.ConfigurableResource):
    """A local folder, or S3 (or an S3-compatible server at `endpoint_url`). Credentials are
    never configuration: boto's chain finds them (AWS_* variables, a profile, an instance or
    pod role). Plain fields rather than dagster-aws's S3Resource, whose import cost every
    process (each run, each code-server start) about as much as dagster-dbt's."""

    url: str
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
        )

    def open(self) -> LandingStore:
        retention = Retention(days=self.retention_days, loads=self.retention_loads)
        if not self.url.startswith("s3://"):
            return LandingStore(self.url, retention=retention)
        fs = s3_filesystem(endpoint_url=self.endpoint_url, region=self.region)
        return LandingStore(self.url, fs=fs, retention=retention)


class ExportStoreResource(dg.ConfigurableResource):
    """Where exports are published: a local folder, or gs://bucket/prefix through gcsfs.

    On GCS, `project` is the GCP project; credentials are the environment's (application
    default credentials), and STORAGE_EMULATOR_HOST points at an emulator. A plain field
    rather than dagster-gcp's GCSResource, for the same import cost as the landing store's."""

    url: str
    project: str | None = None

    @classmethod
    def from_project(cls, project: ProjectConfig) -> ExportStoreResource:
        return cls(url=project.exports_url, project=project.platform.exports.project)

    def open(self) -> ExportStore:
        return open_export_store(self.url, project=self.project)
