"""Configuration: pydantic models of assets_config/*.yaml and their loading."""

from tributary.config.loader import ConfigError, ProjectConfig, load_project
from tributary.config.models import (
    ConnectionConfig,
    ExportConfig,
    PlatformConfig,
    SourceConfig,
    TableConfig,
    Tenant,
    TenantsConfig,
)

__all__ = [
    "ConfigError",
    "ConnectionConfig",
    "ExportConfig",
    "PlatformConfig",
    "ProjectConfig",
    "SourceConfig",
    "TableConfig",
    "Tenant",
    "TenantsConfig",
    "load_project",
]
