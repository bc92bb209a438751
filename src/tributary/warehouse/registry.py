"""The warehouse backends Tributary knows: one line each. A backend is a folder,
warehouse/<backend>/, whose config.py subclasses `WarehouseBackend` (docs/warehouses.md)."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from tributary.warehouse.backend import WarehouseBackend
from tributary.warehouse.duckdb.config import DuckDBWarehouseConfig
from tributary.warehouse.postgres.config import PostgresWarehouseConfig
from tributary.warehouse.redshift.config import RedshiftWarehouseConfig

BACKENDS = (
    DuckDBWarehouseConfig,
    PostgresWarehouseConfig,
    RedshiftWarehouseConfig,
)

# Where an unconfigured project loads: the embedded DuckDB file.
DEFAULT_WAREHOUSE = DuckDBWarehouseConfig()

# platform.yaml's `warehouse:`, told apart by its `target`.
WarehouseConfig = Annotated[Union[BACKENDS], Field(discriminator="target")]  # noqa: UP007
WAREHOUSE_SETTINGS: TypeAdapter[WarehouseBackend] = TypeAdapter(WarehouseConfig)
