"""Pydantic models of the YAML files in assets_config/."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Names that become warehouse schemas, tables, columns, roles or asset keys: plain identifiers
# only, so that they read the same in every dialect. They are quoted wherever they are used too.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IDENTIFIER_MAX = 63  # PostgreSQL's limit (Redshift's is 127)


def _check_identifier(value: str) -> str:
    if not IDENTIFIER.match(value) or len(value) > IDENTIFIER_MAX:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise ValueError(
            f"{shown!r} is not a plain identifier; expected letters, digits and underscores, "
            f"starting with a letter or underscore, at most {IDENTIFIER_MAX} characters "
            "(quotes, semicolons, spaces and other punctuation are not accepted)"
        )
    return value


Identifier = Annotated[str, AfterValidator(_check_identifier)]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]

SourceKind = Literal["mysql", "sqlserver", "oracle", "postgres", "sqlite", "salesforce"]
LoadMode = Literal["full", "incremental"]
FREQUENCIES = ("hourly", "daily", "weekly")
SECRET_KEYS = ("password", "passwd", "pwd", "secret", "token", "api_key", "security_token")
CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
DURATION = re.compile(r"^(\d+)\s*([smhd])$")
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(StrictModel):
    url: str = Field(description="a folder (relative to the state dir) or an s3:// / gs:// URL")


class ConnectionConfig(StrictModel):
    """Where a source lives. Secrets only ever come from the environment."""

    url_env: EnvVarName | None = Field(
        None, description="environment variable holding the full connection URL"
    )
    url: str | None = Field(
        None,
        description="URL without a password, used when url_env is unset; {state_dir} expands",
    )
    password_env: EnvVarName | None = Field(
        None, description="environment variable holding the password to add to `url`"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in data:
                if str(key).lower() in SECRET_KEYS:
                    raise ValueError(
                        f"'{key}' is a literal secret; expected the name of an environment "
                        f"variable in '{key}_env' (or the whole URL in 'url_env')"
                    )
        return data

    @field_validator("url")
    @classmethod
    def _url_without_password(cls, url: str | None) -> str | None:
        if url is None:
            return url
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ValueError(
                "expected a URL such as mysql://user@host:3306/db or sqlite:///path"
            ) from exc
        if parsed.password:
            raise ValueError(
                "the URL holds a literal password; expected it in an environment variable "
                "named by 'password_env' (or the whole URL in 'url_env')"
            )
        return url

    @model_validator(mode="after")
    def _some_url(self) -> ConnectionConfig:
        if not (self.url_env or self.url):
            raise ValueError("expected 'url_env' (an environment variable name) or 'url'")
        return self


class DuckDBWarehouseConfig(StrictModel):
    target: Literal["duckdb"] = "duckdb"
    path: str = Field("warehouse.duckdb", description="DuckDB file, relative to the state dir")


class PostgresWarehouseConfig(StrictModel):
    target: Literal["postgres"]
    connection: ConnectionConfig


WarehouseConfig = Annotated[
    DuckDBWarehouseConfig | PostgresWarehouseConfig, Field(discriminator="target")
]


class PlatformConfig(StrictModel):
    state_dir: str = Field(
        ".tributary",
        description="where local state lives; TRIBUTARY_STATE_DIR overrides it",
    )
    warehouse: WarehouseConfig = DuckDBWarehouseConfig()
    landing: StoreConfig = StoreConfig(url="landing")
    exports: StoreConfig = StoreConfig(url="exports")
    batch_rows: int = Field(100_000, gt=0, description="rows per extracted batch / Parquet part")


class KeyRanges(StrictModel):
    """Split a large table's backfill into resumable partitions by ranges of one key."""

    column: Identifier
    size: int = Field(gt=0, description="keys per partition")
    upper_bound: int = Field(gt=0, description="keys up to here are split; the last is open")


def _parse_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    match = DURATION.match(str(value).strip())
    if isinstance(value, bool) or not match:
        raise ValueError("expected a duration such as 30s, 15m, 2h or 1d")
    return timedelta(**{DURATION_UNITS[match.group(2)]: int(match.group(1))})


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]


class FreshnessCheck(StrictModel):
    max_load_age: Duration = Field(
        timedelta(days=1), description="the last committed load is at most this old"
    )
    max_data_age: Duration | None = Field(
        None, description="incremental tables: the newest cursor value is at most this old"
    )


class TableChecks(StrictModel):
    """The asset checks of a raw table (primary-key uniqueness runs whenever it has a key)."""

    reconcile: bool = Field(
        True, description="compare the load with the source: rows, and the max cursor"
    )
    checksum: list[Identifier] = Field(
        default_factory=list,
        description="columns (e.g. the primary key) whose checksum must match the source's",
    )
    freshness: FreshnessCheck = FreshnessCheck()


class TableConfig(StrictModel):
    name: Identifier
    description: str | None = None
    source_object: str | None = Field(
        None,
        alias="object",
        description="table or view to read, optionally schema-qualified; defaults to name",
    )
    query: str | None = Field(None, description="custom SELECT to read instead of an object")
    primary_key: list[Identifier] = Field(default_factory=list)
    cursor: Identifier | None = Field(None, description="change column for incremental loads")
    mode: LoadMode = "full"
    lookback: Lookback | None = Field(
        None,
        description="re-read this far behind the watermark: a duration (30s, 15m, 2h, 1d) "
        "for time cursors, a number for numeric cursors",
    )
    tenant_column: Identifier | None = Field(
        None, description="column holding the tenant id: one partition per active tenant"
    )
    key_ranges: KeyRanges | None = None
    checks: TableChecks = TableChecks()
    enabled: bool = True

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> TableConfig:
        if self.source_object and self.query:
            raise ValueError("give either 'object' or 'query', not both")
        if self.mode == "incremental":
            missing = [
                key
                for key, value in (("primary_key", self.primary_key), ("cursor", self.cursor))
                if not value
            ]
            if missing:
                raise ValueError(
                    f"an incremental table needs {' and '.join(repr(m) for m in missing)} "
                    "(rows are merged by primary key, new rows found by cursor)"
                )
        if self.query is None and not re.match(
            r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)?$", self.read_object
        ):
            raise ValueError(
                "'object' must be a table or view name, optionally schema-qualified, made of "
                f"letters, digits and underscores (got {self.read_object!r})"
            )
        if self.lookback is not None and self.mode != "incremental":
            raise ValueError("'lookback' applies to incremental tables only")
        if self.key_ranges and (self.mode != "full" or self.tenant_column):
            raise ValueError("'key_ranges' applies to full loads of tables not scoped by tenant")
        if self.checks.freshness.max_data_age is not None and self.mode != "incremental":
            raise ValueError(
                "'checks.freshness.max_data_age' applies to incremental tables "
                "(their cursor tells how new the data is)"
            )
        if self.checks.checksum and not self.checks.reconcile:
            raise ValueError("'checks.checksum' is part of reconciliation: keep 'reconcile'")
        if self.tenant_column and self.query and ":tenant_id" not in self.query:
            raise ValueError(
                "a tenant-scoped 'query' must select one tenant's rows with :tenant_id"
            )
        return self

    @property
    def read_object(self) -> str:
        return self.source_object or self.name


class SourceConfig(StrictModel):
    name: Identifier
    kind: SourceKind
    description: str | None = None
    connection: ConnectionConfig
    enabled: bool = True
    tables: list[TableConfig] = Field(min_length=1)

    @field_validator("tables")
    @classmethod
    def _unique_tables(cls, tables: list[TableConfig]) -> list[TableConfig]:
        seen: set[str] = set()
        for table in tables:
            if table.name in seen:
                raise ValueError(f"table '{table.name}' is listed twice; expected unique names")
            seen.add(table.name)
        return tables


def _check_frequency(value: str) -> str:
    if value in FREQUENCIES:
        return value
    fields = value.split()
    if len(fields) == 5 and all(CRON_FIELD.match(f) for f in fields):
        return value
    raise ValueError(f"expected one of {', '.join(FREQUENCIES)} or a 5-field cron string")


Frequency = Annotated[str, AfterValidator(_check_frequency)]


def _parse_lookback(value: object) -> timedelta | int | Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m or a number")
    if isinstance(value, int | Decimal | timedelta):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    match = DURATION.match(str(value).strip())
    if not match:
        raise ValueError("expected a duration such as 30s, 15m, 2h or 1d, or a number")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{DURATION_UNITS[unit]: amount})


Lookback = Annotated[timedelta | int | Decimal, BeforeValidator(_parse_lookback)]


class ExportConfig(StrictModel):
    name: Identifier
    description: str | None = None
    model: Identifier | None = Field(None, description="dbt model to publish")
    query: str | None = Field(None, description="custom SQL to publish instead of a model")
    depends_on: list[Identifier] = Field(
        default_factory=list, description="dbt models a custom query reads"
    )
    format: Literal["parquet", "csv"] = "parquet"
    frequency: Frequency = "daily"
    enabled: bool = True

    @model_validator(mode="after")
    def _one_input(self) -> ExportConfig:
        if bool(self.model) == bool(self.query):
            raise ValueError("expected exactly one of 'model' or 'query'")
        if self.query and not self.depends_on:
            raise ValueError("a query export needs 'depends_on': the dbt models it reads")
        return self

    @property
    def upstream_models(self) -> list[str]:
        return [self.model] if self.model else list(self.depends_on)


class Tenant(StrictModel):
    id: Identifier | int
    alias: str
    active: bool = True


class TenantsConfig(StrictModel):
    tenants: list[Tenant] = Field(default_factory=list)

    @field_validator("tenants")
    @classmethod
    def _unique_ids(cls, tenants: list[Tenant]) -> list[Tenant]:
        ids = [str(t.id) for t in tenants]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"tenant ids must be unique; listed twice: {', '.join(duplicates)}")
        return tenants


def _no_repeats(values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"listed more than once: {', '.join(repeated)}")
    return values


class Team(StrictModel):
    """A team: its warehouse role (a group on Redshift), its members, what it may read."""

    name: Identifier
    description: str | None = None
    members: Annotated[list[Identifier], AfterValidator(_no_repeats)] = Field(
        default_factory=list, description="warehouse users in the team's role"
    )
    schemas: Annotated[list[Identifier], AfterValidator(_no_repeats)] = Field(
        default_factory=list, description="schemas whose tables and views the team may read"
    )
    exports: Annotated[list[Identifier], AfterValidator(_no_repeats)] = Field(
        default_factory=list, description="exports whose models the team may read"
    )


class TeamsConfig(StrictModel):
    role_prefix: Identifier = Field(
        "team_",
        description="team roles are named <role_prefix><team>; roles with this prefix that "
        "teams.yaml no longer lists are dropped",
    )
    teams: list[Team] = Field(default_factory=list)

    @field_validator("teams")
    @classmethod
    def _unique_names(cls, teams: list[Team]) -> list[Team]:
        _no_repeats([team.name for team in teams])
        return teams

    @model_validator(mode="after")
    def _role_names_fit(self) -> TeamsConfig:
        for team in self.teams:
            if len(self.role_name(team)) > IDENTIFIER_MAX:
                raise ValueError(
                    f"the role name '{self.role_name(team)}' is longer than {IDENTIFIER_MAX} "
                    "characters; expected a shorter role_prefix or team name"
                )
        return self

    def role_name(self, team: Team) -> str:
        return f"{self.role_prefix}{team.name}"
