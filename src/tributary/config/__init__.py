"""Configuration: pydantic models of assets_config/*.yaml and their loading."""

from tributary.config.loader import ConfigError, ProjectConfig, load_project
from tributary.config.models import (
    ConnectionConfig,
    DuckDBWarehouseConfig,
    ExportConfig,
    PlatformConfig,
    PostgresWarehouseConfig,
    RedshiftWarehouseConfig,
    SalesforceConfig,
    SourceConfig,
    TableConfig,
    Team,
    TeamsConfig,
    Tenant,
    TenantsConfig,
)

__all__ = [
    "ConfigError",
    "ConnectionConfig",
    "DuckDBWarehouseConfig",
    "ExportConfig",
    "PlatformConfig",
    "PostgresWarehouseConfig",
    "ProjectConfig",
    "RedshiftWarehouseConfig",
    "SalesforceConfig",
    "SourceConfig",
    "TableConfig",
    "Team",
    "TeamsConfig",
    "Tenant",
    "TenantsConfig",
    "load_project",
]
