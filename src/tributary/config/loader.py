"""Reading assets_config/: YAML in, validated models out, or one clear ConfigError."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tributary.config.common import case_note
from tributary.config.models import (
    SOURCE,
    ExportConfig,
    PlatformConfig,
    SourceConfig,
    TeamsConfig,
    Tenant,
    TenantsConfig,
)
from tributary.config.subqueries import subquery_refusal
from tributary.config.yaml_reader import YamlSurprise, read_yaml
from tributary.tenants import TenantError, bound_settings, tenant_settings, unbound_settings
from tributary.warehouse.backend import WarehouseBackend

# The repository this package is imported from when it runs from a checkout (make install's
# editable install, the tests): its assets_config/ and dbt_project/ are the defaults there.
# Installed from a wheel, the package lives in site-packages and this path means nothing:
# the folders come from the variables below, or from the current directory.
PROJECT_ROOT = Path(__file__).resolve().parents[3]
FROM_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file() and (
    PROJECT_ROOT / "src" / "tributary"
).is_dir()
CONFIG_DIR_ENV = "TRIBUTARY_CONFIG_DIR"
DBT_PROJECT_DIR_ENV = "TRIBUTARY_DBT_PROJECT_DIR"
STATE_DIR_ENV = "TRIBUTARY_STATE_DIR"
# Inputs are echoed in errors only for these error types, and never under `connection` or
# `salesforce` (where credentials are named), so that a mistyped secret cannot end up in a log.
_ECHO_INPUT_TYPES = {"literal_error", "string_pattern_mismatch", "enum", "bool_parsing"}
_NO_ECHO = {"connection", "salesforce"}

Model = TypeVar("Model", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file is wrong: the message names the file, the key and what was expected."""


@dataclass(frozen=True)
class ProjectConfig:
    config_dir: Path
    state_dir: Path
    platform: PlatformConfig
    sources: tuple[SourceConfig, ...]
    exports: tuple[ExportConfig, ...]
    tenants: TenantsConfig
    teams: TeamsConfig = field(default_factory=TeamsConfig)
    # The file each source (export) was read from, by its name: for messages naming file and
    # key. A file's name need not be the `name:` it holds.
    source_files: Mapping[str, Path] = field(default_factory=dict, compare=False, hash=False)
    export_files: Mapping[str, Path] = field(default_factory=dict, compare=False, hash=False)

    def source_file(self, name: str) -> str:
        """The file source `name` was read from, as messages name it."""
        return display_path(self.source_files.get(name) or Path(self.config_dir, "sources"))

    def export_file(self, name: str) -> str:
        """The file export `name` was read from, as messages name it."""
        return display_path(self.export_files.get(name) or Path(self.config_dir, "exports"))

    def resolve_location(self, location: str) -> str:
        """A store URL (s3://, gs://) as is; a local path made absolute under the state dir."""
        if "://" in location:
            return location
        return str((self.state_dir / location).resolve())

    @cached_property
    def warehouse(self) -> WarehouseBackend:
        """platform.yaml's warehouse settings as runs use them (paths resolved)."""
        return self.platform.warehouse.for_project(self)

    @property
    def landing_url(self) -> str:
        return self.resolve_location(self.platform.landing.url)

    @property
    def exports_url(self) -> str:
        return self.resolve_location(self.platform.exports.url)

    def tenant_store_url(self, export: ExportConfig, tenant: Tenant) -> str | None:
        """A per_tenant export's store for `tenant`, its `tenant_url` template filled in and
        placed as exports.url is (a local path under the state dir, not where a run started);
        None: the exports store."""
        if export.tenant_url is None:
            return None
        return self.resolve_location(
            export.tenant_url.format(alias=tenant.alias, tenant_id=tenant.key)
        )

    def source(self, name: str) -> SourceConfig:
        return next(s for s in self.sources if s.name == name)

    @property
    def dbt_project_dir(self) -> Path:
        """The dbt project the definitions build (see `find_dbt_project_dir`)."""
        return find_dbt_project_dir(self.config_dir)


def default_config_dir() -> Path:
    """$TRIBUTARY_CONFIG_DIR; else, from a checkout, the repository's assets_config/; else
    assets_config/ in the current directory."""
    return _default_config_dir()[0]


def _default_config_dir() -> tuple[Path, str]:
    """The default configuration folder, and where that default came from (for errors)."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV]), f"from {CONFIG_DIR_ENV}"
    if FROM_CHECKOUT:
        return PROJECT_ROOT / "assets_config", "the repository's"
    return Path.cwd() / "assets_config", f"in the current directory, as {CONFIG_DIR_ENV} is unset"


def find_dbt_project_dir(config_dir: Path | str) -> Path:
    """The dbt project: $TRIBUTARY_DBT_PROJECT_DIR; else dbt_project/ beside the configuration
    folder; else, from a checkout, the repository's dbt_project/. A ConfigError says where it
    looked and how to set it."""
    if os.environ.get(DBT_PROJECT_DIR_ENV):
        path = Path(os.environ[DBT_PROJECT_DIR_ENV])
        if not (path / "dbt_project.yml").is_file():
            raise ConfigError(
                f"{path} (from {DBT_PROJECT_DIR_ENV}): expected a dbt project there "
                "(no dbt_project.yml found)"
            )
        return path
    beside = Path(config_dir).resolve().parent / "dbt_project"
    if (beside / "dbt_project.yml").is_file():
        return beside
    if FROM_CHECKOUT and (PROJECT_ROOT / "dbt_project" / "dbt_project.yml").is_file():
        return PROJECT_ROOT / "dbt_project"
    raise ConfigError(
        f"{beside}: expected the dbt project beside the configuration folder (no "
        f"dbt_project.yml found); set {DBT_PROJECT_DIR_ENV} to the dbt project's folder"
    )


def load_project(config_dir: Path | str | None = None) -> ProjectConfig:
    if config_dir:
        config_dir, origin = Path(config_dir), "given"
    else:
        config_dir, origin = _default_config_dir()
    if not (config_dir / "platform.yaml").is_file():
        raise ConfigError(
            f"{config_dir} (the configuration folder, {origin}): expected a platform.yaml "
            f"there; set {CONFIG_DIR_ENV} to the folder holding platform.yaml"
        )
    _refuse_unread_files(config_dir)
    platform = _load_model(config_dir / "platform.yaml", PlatformConfig)
    source_files = _load_named(sorted((config_dir / "sources").glob("*.yaml")), SourceConfig)
    exports = _load_named(sorted((config_dir / "exports").glob("*.yaml")), ExportConfig)
    tenants_file = config_dir / "tenants.yaml"
    tenants = (
        _load_model(tenants_file, TenantsConfig) if tenants_file.is_file() else TenantsConfig()
    )
    teams_file = config_dir / "teams.yaml"
    teams = _load_model(teams_file, TeamsConfig) if teams_file.is_file() else TeamsConfig()
    state_dir = Path(os.environ.get(STATE_DIR_ENV) or platform.state_dir)
    if not state_dir.is_absolute():
        state_dir = config_dir.resolve().parent / state_dir
    project = ProjectConfig(
        config_dir=config_dir,
        state_dir=state_dir,
        platform=platform,
        sources=tuple(source_files.values()),
        exports=tuple(exports.values()),
        tenants=tenants,
        teams=teams,
        source_files={source.name: path for path, source in source_files.items()},
        export_files={export.name: path for path, export in exports.items()},
    )
    _check_tenants(project, tenants_file)
    _check_export_sources(project)
    return project


# The files load_project reads, relative to the configuration folder.
READ_FILES = ("platform.yaml", "tenants.yaml", "teams.yaml", "sources/*.yaml", "exports/*.yaml")


def _refuse_unread_files(config_dir: Path) -> None:
    """A YAML file in the configuration folder that no part reads (sources/shop.yml, a
    source/ folder, tenant.yaml): its source, export or tenants were silently left out, and
    `tributary check` said all ok."""
    for path in sorted(config_dir.rglob("*")):
        relative = path.relative_to(config_dir)
        if path.suffix in (".yaml", ".yml") and not any(
            len(relative.parts) == len(Path(read).parts) and relative.match(read)
            for read in READ_FILES
        ):
            raise ConfigError(
                f"{display_path(path)}: is read by nothing: expected {', '.join(READ_FILES)} "
                f"in {display_path(config_dir)}"
            )


def _check_tenants(project: ProjectConfig, tenants_file: Path) -> None:
    """Across files: the registry's source is a configured SQL source, which takes its queries
    as subqueries; each active tenant of a fixed list has every setting its tables' queries
    bind (a registry's are checked when a run reads it)."""
    registry = project.tenants.registry
    if registry is not None:
        kinds = {s.name: s.kind for s in project.sources}
        if kinds.get(registry.source, "salesforce") == "salesforce":
            sql = sorted(name for name, kind in kinds.items() if kind != "salesforce")
            raise ConfigError(
                f"{display_path(tenants_file)}: registry.source: expected a configured SQL "
                f"source ({', '.join(sql) or 'none is configured'}), got '{registry.source}'"
            )
        for key, query in (("query", registry.query), ("settings_query", registry.settings_query)):
            if query and (problem := subquery_refusal(query, kinds[registry.source])):
                raise ConfigError(f"{display_path(tenants_file)}: registry.{key}: {problem}")
    bound = bound_settings(project)
    for source in project.sources:
        for position, table in enumerate(source.tables):
            if table.tenant_column and registry is None and not project.tenants.tenants:
                raise ConfigError(
                    f"{display_path(project.source_files[source.name])}: tables[{position}]"
                    f".tenant_column: table {table.name} is scoped by tenant, and there are no "
                    "tenants: expected tenants.yaml listing them (tenants:) or naming their "
                    "registry (registry:)"
                )
            for tenant in project.tenants.tenants if table.tenant_column else ():
                if not tenant.active:
                    continue
                try:
                    tenant_settings(table, tenant, source=source.name, bound=bound)
                except TenantError as exc:
                    raise ConfigError(f"{display_path(tenants_file)}: {exc}") from None
    # Settings no query binds, where no table binds any (tenant_settings then has no table
    # to say it for): ignored all the same.
    for tenant in project.tenants.tenants:
        if tenant.active and (problem := unbound_settings(tenant, bound)):
            raise ConfigError(f"{display_path(tenants_file)}: {problem}")


def _check_export_sources(project: ProjectConfig) -> None:
    """Each {{ source('source', 'table') }} of an export's query names a configured source's
    table: its raw table is what the query reads."""
    tables = {source.name: [table.name for table in source.tables] for source in project.sources}
    for export in project.exports:
        for source, table in SOURCE.findall(export.query or ""):
            named = f"query: {{{{ source('{source}', '{table}') }}}}"
            if source not in tables:
                raise ConfigError(
                    f"{project.export_file(export.name)}: {named}: no source named '{source}'; "
                    f"expected one of {', '.join(sorted(tables)) or 'none is configured'} (the "
                    f"sources of {display_path(project.config_dir / 'sources')}; a dbt model "
                    "is read with {{ ref('model') }})"
                )
            if table not in tables[source]:
                raise ConfigError(
                    f"{project.export_file(export.name)}: {named}: source {source} has no table "
                    f"'{table}'; expected one of {', '.join(sorted(tables[source])) or 'none'} "
                    f"(the tables of {project.source_file(source)}, each read from its raw "
                    "table raw_<source>.<table>)"
                )


def _load_named(files: Iterable[Path], model: type[Model]) -> dict[Path, Model]:
    """Each file's model, in file order; names are unique across the files (ignoring case)."""
    loaded: dict[str, tuple[Path, Model, str]] = {}
    for path in files:
        item = _load_model(path, model)
        name = item.name  # type: ignore[attr-defined]
        if (first := loaded.get(name.lower())) is not None:
            first_path, _, first_name = first
            raise ConfigError(
                f"{display_path(path)}: name: '{name}' is already defined in "
                f"{display_path(first_path)}{case_note(first_name, name)}; expected a unique name"
            )
        loaded[name.lower()] = (path, item, name)
    return {path: item for path, item, _ in loaded.values()}


def _load_model(path: Path, model: type[Model]) -> Model:
    try:
        data = read_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display_path(path)}: not valid YAML: {exc}") from None
    except YamlSurprise as exc:
        raise ConfigError(f"{display_path(path)}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{display_path(path)}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(path, exc)) from None


def _format(path: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = _location(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key; check the spelling against the configuration reference"
        elif error["type"] == "union_tag_invalid":
            # pydantic names the mapping (its input), the key at fault is the discriminator
            key, tag = error["ctx"]["discriminator"].strip("'"), error["ctx"]["tag"]
            location = f"{location}.{key}" if location else key
            message = f"expected one of {error['ctx']['expected_tags']} (got {tag!r})"
        elif error["type"] == "missing":
            message = "required key is missing"
        if error["type"] in _ECHO_INPUT_TYPES and not _NO_ECHO.intersection(error["loc"]):
            message += f" (got {error['input']!r})"
        # A check across keys (loc is empty) names its keys in its message.
        where = f"{display_path(path)}: {location}" if location else display_path(path)
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


def _location(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
