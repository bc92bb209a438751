"""A warehouse backend's settings (`warehouse:` in platform.yaml) and what follows from them.

Each backend subclasses `WarehouseBackend` in warehouse/<backend>/config.py and is registered
in warehouse/registry.py; nothing outside its folder names a backend. The settings open the
warehouse, tell dbt's profiles.yml how to reach it, and say how runs may execute.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

from tributary.config.common import StrictModel

if TYPE_CHECKING:
    from tributary.config.loader import ProjectConfig
    from tributary.config.models import PlatformConfig
    from tributary.warehouse.base import Warehouse


class WarehouseBackend(StrictModel):
    target: str
    # The platform.yaml key a failure to reach the warehouse is reported under.
    location_key: ClassVar[str] = "warehouse.connection"
    # Whether the warehouse admits one writer process at a time (then a run's steps share one).
    single_writer: ClassVar[bool] = False

    def check_platform(self, platform: PlatformConfig) -> None:
        """Raise ValueError naming the key when the rest of platform.yaml does not suit this
        warehouse."""

    def for_project(self, project: ProjectConfig) -> Self:
        """These settings as a run uses them: paths made absolute under the state dir, defaults
        taken from the rest of the project."""
        return self

    @abstractmethod
    def open(self, *, state_dir: Path = Path(".")) -> Warehouse:
        """The warehouse. It connects on first use, not here."""

    @abstractmethod
    def dbt_env(self, *, secrets: bool = True) -> dict[str, str]:
        """The environment dbt's profiles.yml reads to build in this warehouse (its target in
        TRIBUTARY_DBT_TARGET); secrets only in DBT_ENV_SECRET_* variables, which dbt scrubs,
        and empty without `secrets` (dbt parse never logs in)."""

    def location(self) -> str:
        """Where the warehouse is, for people: preflight's report."""
        return "login ok"
