"""Pydantic models of the YAML files in assets_config/."""

from __future__ import annotations

import re
from datetime import date, timedelta
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

# Names that become warehouse schemas, tables, columns or asset keys: plain identifiers only,
# so that they can be quoted safely everywhere and read the same in every dialect.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]

SourceKind = Literal["mysql", "sqlserver", "oracle", "postgres", "sqlite", "salesforce"]
LoadMode = Literal["full", "incremental"]
FREQUENCIES = ("hourly", "daily", "weekly")
SECRET_KEYS = ("password", "passwd", "pwd", "secret", "token", "api_key", "security_token")
DURATION = re.compile(r"^(\d+)\s*([smhd])$")
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(StrictModel):
    url: str = Field(description="a folder (relative to the state dir) or an s3:// / gs:// URL")


class ExportStoreConfig(StoreConfig):
    url: str = Field(
        "exports", description="a folder (relative to the state dir) or gs://bucket/prefix"
    )
    project: str | None = Field(None, description="GCP project of the bucket (gs:// only)")

    @field_validator("url")
    @classmethod
    def _folder_or_gcs(cls, url: str) -> str:
        if "://" in url and not url.startswith(("gs://", "gcs://", "file://")):
            raise ValueError("expected a folder, file:// or gs://bucket/prefix URL")
        return url


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
    exports: ExportStoreConfig = ExportStoreConfig()
    batch_rows: int = Field(100_000, gt=0, description="rows per extracted batch / Parquet part")


class KeyRanges(StrictModel):
    """Split a large table's backfill into resumable partitions by ranges of one key."""

    column: Identifier
    size: int = Field(gt=0, description="keys per partition")
    upper_bound: int = Field(gt=0, description="keys up to here are split; the last is open")


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
            raise ValueError("'object' must be a table or view name, optionally schema-qualified")
        if self.lookback is not None and self.mode != "incremental":
            raise ValueError("'lookback' applies to incremental tables only")
        if self.key_ranges and (self.mode != "full" or self.tenant_column):
            raise ValueError("'key_ranges' applies to full loads of tables not scoped by tenant")
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


CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
CRON_NAMES = (
    {},
    {},
    {},
    {m: i for i, m in enumerate(MONTHS, 1)},
    {d: i for i, d in enumerate(WEEKDAYS)},
)
CRON_ITEM = re.compile(r"^(\*|\w+(?:-\w+)?)(?:/(\d+))?$")


def _cron_field_ok(text: str, position: int) -> bool:
    low, high = CRON_RANGES[position]
    names = CRON_NAMES[position]

    def value(token: str) -> int | None:
        number = names.get(token.upper()) if not token.isdigit() else int(token)
        return number if number is not None and low <= number <= high else None

    for item in text.split(","):
        match = CRON_ITEM.match(item)
        if not match or (match.group(2) is not None and int(match.group(2)) == 0):
            return False
        if match.group(1) == "*":
            continue
        bounds = [value(token) for token in match.group(1).split("-")]
        if None in bounds or bounds[0] > bounds[-1]:
            return False
    return True


def _check_frequency(value: str) -> str:
    if value in FREQUENCIES:
        return value
    fields = value.split()
    if len(fields) == 5 and all(_cron_field_ok(f, i) for i, f in enumerate(fields)):
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


# {{ name }} in an export's query: a value rendered as a SQL literal when the export runs.
QUERY_PARAMETER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
PARTITION_PARAMETERS = ("partition_date", "partition_start", "partition_end")
COMPRESSIONS = {"parquet": ("zstd", "snappy", "gzip", "none"), "csv": ("none", "gzip")}


class Partitioning(StrictModel):
    """How an export's published folders are cut.

    run_date: dt=YYYY-MM-DD of the day (UTC) a run happens; each run publishes its whole result.
    date:     one daily partition per day from start_date; dt=YYYY-MM-DD holds that day's rows
              (those whose `column` falls on the day, or what the query selects for it).
    column:   each run's result split into <column>=<value>/ folders, each published whole.
    """

    by: Literal["run_date", "date", "column"] = "run_date"
    start_date: date | None = Field(None, description="date: the first daily partition")
    column: Identifier | None = Field(
        None, description="date: the rows' day; column: the column whose values cut the folders"
    )

    @model_validator(mode="after")
    def _complete(self) -> Partitioning:
        if self.by == "date" and self.start_date is None:
            raise ValueError("partitioning by date needs 'start_date' (the first partition)")
        if self.by == "column" and self.column is None:
            raise ValueError("partitioning by column needs 'column'")
        if self.by == "run_date" and (self.column or self.start_date):
            raise ValueError("'column' and 'start_date' apply to partitioning by date or column")
        if self.by == "column" and self.start_date:
            raise ValueError("'start_date' applies to partitioning by date")
        return self


class CsvOptions(StrictModel):
    header: bool = True
    delimiter: str = Field(",", min_length=1, max_length=1)

    @field_validator("delimiter")
    @classmethod
    def _plain_delimiter(cls, delimiter: str) -> str:
        if delimiter in '"\r\n':
            raise ValueError("expected a delimiter other than a quote or a line break")
        return delimiter


def _scalar(value: object) -> object:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict | list):
        raise ValueError("expected a single value: text, a number, true/false or a date")
    return value


ParameterValue = Annotated[bool | int | Decimal | date | str, BeforeValidator(_scalar)]


class ExportConfig(StrictModel):
    name: Identifier
    description: str | None = None
    model: Identifier | None = Field(None, description="dbt model to publish")
    query: str | None = Field(None, description="custom SQL to publish instead of a model")
    depends_on: list[Identifier] = Field(
        default_factory=list, description="dbt models a custom query reads"
    )
    parameters: dict[Identifier, ParameterValue] = Field(
        default_factory=dict, description="values for {{ name }} placeholders in the query"
    )
    format: Literal["parquet", "csv"] = "parquet"
    compression: str | None = Field(
        None, description="parquet: zstd (default), snappy, gzip, none; csv: none (default), gzip"
    )
    csv: CsvOptions | None = None
    partitioning: Partitioning = Partitioning()
    rows_per_file: int = Field(1_000_000, gt=0, description="rows per published file, at most")
    frequency: Frequency = "daily"
    retention: int | None = Field(None, gt=0, description="keep the last N partitions")
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name.startswith("_"):
            raise ValueError("names starting with '_' are reserved for the store's own folders")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ExportConfig:
        if bool(self.model) == bool(self.query):
            raise ValueError("expected exactly one of 'model' or 'query'")
        if self.query and not self.depends_on:
            raise ValueError("a query export needs 'depends_on': the dbt models it reads")
        if self.compression is not None and self.compression not in COMPRESSIONS[self.format]:
            raise ValueError(
                f"'compression' for {self.format}: expected one of "
                f"{', '.join(COMPRESSIONS[self.format])} (got {self.compression!r})"
            )
        if self.csv is not None and self.format != "csv":
            raise ValueError("'csv' options apply to format: csv only")
        if clash := sorted(set(self.parameters) & set(PARTITION_PARAMETERS)):
            raise ValueError(f"parameters: {', '.join(clash)} is set by each run; rename it")
        used = set(QUERY_PARAMETER.findall(self.query or ""))
        if unknown := sorted(used - set(self.parameters) - set(PARTITION_PARAMETERS)):
            raise ValueError(
                f"query: unknown parameter {', '.join(unknown)}; expected one of "
                f"{', '.join(PARTITION_PARAMETERS)} or a key of 'parameters'"
            )
        partitioning = self.partitioning
        if (
            partitioning.by == "date"
            and partitioning.column is None
            and not used & set(PARTITION_PARAMETERS)
        ):
            raise ValueError(
                "partitioning by date needs the day's rows: a 'column' in partitioning, or a "
                "query that uses {{ partition_date }} (or partition_start / partition_end)"
            )
        return self

    @property
    def upstream_models(self) -> list[str]:
        return [self.model] if self.model else list(self.depends_on)

    @property
    def file_compression(self) -> str:
        return self.compression or COMPRESSIONS[self.format][0]

    @property
    def csv_options(self) -> CsvOptions:
        return self.csv or CsvOptions()


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
