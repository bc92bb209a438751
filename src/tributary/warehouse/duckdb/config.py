"""`warehouse: {target: duckdb}`: a DuckDB file under the state dir."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import Field, field_validator

from tributary.warehouse.backend import WarehouseBackend

if TYPE_CHECKING:
    from tributary.config.loader import ProjectConfig
    from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

DUCKDB_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(%|(k|m|g|t)i?b|b|bytes)\s*$", re.IGNORECASE)


class DuckDBWarehouseConfig(WarehouseBackend):
    target: Literal["duckdb"] = "duckdb"
    path: str = Field("warehouse.duckdb", description="DuckDB file, relative to the state dir")
    memory_limit: str | None = Field(
        None,
        description="DuckDB's buffer pool limit (e.g. '512MB', '2GiB', '50%'); unset: 128MB "
        "for loads, DuckDB's default (80% of RAM) otherwise. Beyond it DuckDB writes to the "
        "temp directory",
    )
    temp_directory: str | None = Field(
        None,
        description="where DuckDB spills beyond memory_limit, relative to the state dir; "
        "unset: DuckDB's default, <path>.tmp beside the file",
    )

    location_key: ClassVar[str] = "warehouse.path"
    # A DuckDB file has one writer process at a time.
    single_writer: ClassVar[bool] = True

    @field_validator("memory_limit")
    @classmethod
    def _duckdb_size(cls, memory_limit: str | None) -> str | None:
        if memory_limit is not None and not DUCKDB_MEMORY.match(memory_limit):
            raise ValueError(
                "expected a size in DuckDB's syntax: a number and KB, MB, GB, TB (1000^i), "
                f"KiB, MiB, GiB, TiB (1024^i) or % of RAM, e.g. '1GB' (got {memory_limit!r})"
            )
        return memory_limit

    def for_project(self, project: ProjectConfig) -> Self:
        paths = {"path": self.path, "temp_directory": self.temp_directory}
        return self.model_copy(
            update={
                key: project.resolve_location(value)
                for key, value in paths.items()
                if value is not None
            }
        )

    # The implementation, and its driver, import when a run opens the warehouse: not when
    # configuration loads.
    def open(self, *, state_dir: Path = Path(".")) -> DuckDBWarehouse:
        from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

        return DuckDBWarehouse(
            Path(state_dir, self.path),
            memory_limit=self.memory_limit,
            temp_directory=self.temp_directory,
        )

    def dbt_env(self, *, secrets: bool = True) -> dict[str, str]:
        # profiles.yml gives dbt-duckdb the same settings the loads open the file with.
        settings = {
            "TRIBUTARY_DUCKDB_PATH": self.path,
            "TRIBUTARY_DUCKDB_MEMORY_LIMIT": self.memory_limit,
            "TRIBUTARY_DUCKDB_TEMP_DIRECTORY": self.temp_directory,
        }
        return {
            "TRIBUTARY_DBT_TARGET": self.target,
            **{name: value for name, value in settings.items() if value is not None},
        }

    def location(self) -> str:
        return self.path
