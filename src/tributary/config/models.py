"""Pydantic models of the YAML files in assets_config/."""

from __future__ import annotations

import math
import re
import string
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tributary.config.common import (
    DEFAULT_CONNECT_TIMEOUT,
    ConnectionConfig,
    ConnectTimeout,
    EnvVarName,
    StrictModel,
    case_note,
    reject_literal_secrets,
)
from tributary.config.subqueries import subquery_refusal
from tributary.landing.retention import DEFAULT_DAYS
from tributary.names import cut_size, first_repeat, repeated
from tributary.storage import DEFAULT_READ_TIMEOUT, Timeouts
from tributary.tenants import alike_ids, as_tenant_id, shared_alias, unpadded
from tributary.warehouse.base import raw_schema
from tributary.warehouse.registry import DEFAULT_WAREHOUSE, WarehouseConfig

# Names that become warehouse schemas, tables, columns, roles or asset keys: plain identifiers
# only, so that they read the same in every dialect. They are quoted wherever they are used too.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IDENTIFIER_MAX = 63  # PostgreSQL's limit (Redshift's is 127)


def _check_identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value) or len(value) > IDENTIFIER_MAX:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise ValueError(
            f"{shown!r} is not a plain identifier; expected letters, digits and underscores, "
            f"starting with a letter or underscore, at most {IDENTIFIER_MAX} characters "
            "(quotes, semicolons, spaces and other punctuation are not accepted)"
        )
    return value


Identifier = Annotated[str, AfterValidator(_check_identifier)]


def cut_name_problem(name: str, what: str) -> str | None:
    """What is wrong with `name`, a warehouse identifier made from configured names (a source's
    raw schema, a team's role), if PostgreSQL would cut it: a cut name could become another's,
    silently (Redshift keeps 127 bytes, DuckDB all: 63 keeps a project portable)."""
    if (size := cut_size(name, IDENTIFIER_MAX)) is None:
        return None
    return (
        f"the {what} name '{name}' is {size} bytes long, and PostgreSQL keeps {IDENTIFIER_MAX} "
        "bytes of a name (cutting the rest, so that names differing only after it would be one)"
    )


def wrappable(query: str) -> str:
    """`query` as it can stand inside `(...)`: see Query."""
    query = query.strip().rstrip(";").rstrip()
    if "--" in query.rsplit("\n", 1)[-1]:
        query += "\n"  # a line comment would take the wrapper's closing parenthesis with it
    return query


# A query Tributary wraps as a subquery, `(<query>) as ...` (a window, a tenant's filter, a
# day's partition, an export's ordering, PostgreSQL's COPY): one pasted with its closing
# semicolon would be a syntax error there, and one whose last line ends in a `--` comment
# (or might: a `--` in a string is harmless) ends with a line break, so that every wrapper
# keeps its closing parenthesis. A source's query must be one its server takes there too
# (see subquery_refusal).
Query = Annotated[str, AfterValidator(wrappable)]

SourceKind = Literal["mysql", "sqlserver", "oracle", "postgres", "sqlite", "salesforce"]
LoadMode = Literal["full", "incremental"]
# What an incremental load does with rows whose cursor is NULL (dlt's on_cursor_value_missing).
NullCursor = Literal["fail", "include", "exclude"]
# What a load does when the source's columns change (dlt's schema_contract): evolve adds new
# columns, widens types and keeps vanished ones (NULL in the rows merged meanwhile, re-read
# once they come back, flagged by a check); freeze fails the load before it writes anything.
SchemaContract = Literal["evolve", "freeze"]
FREQUENCIES = ("hourly", "daily", "weekly")
DURATION = re.compile(r"^(\d+)\s*([smhd])$")
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class StoreConfig(StrictModel):
    """A folder or a bucket. Cloud credentials come from the provider's own environment
    (AWS_* variables, an instance role, application default credentials), never from here."""

    url: str = Field(description="a folder (relative to the state dir) or an s3:// / gs:// URL")
    connect_timeout: ConnectTimeout = Field(
        DEFAULT_CONNECT_TIMEOUT,
        description="a bucket (s3://, gs://): seconds one request waits for the server to "
        "accept a connection",
    )
    read_timeout: float = Field(
        DEFAULT_READ_TIMEOUT,
        gt=0,
        le=3600,
        description="a bucket (s3://, gs://): seconds one request waits for the server's next "
        "bytes; a server that never answers fails a request after 6 such waits",
    )

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(connect=self.connect_timeout, read=self.read_timeout)


class LandingRetentionConfig(StrictModel):
    """How long the landing store keeps each table's load folders (applied after each
    committed load of the table). Neither key set: 7 days."""

    days: int | None = Field(
        None, ge=1, description="keep committed loads younger than this many days"
    )
    loads: int | None = Field(
        None,
        ge=1,
        description="keep this many newest committed loads of the table (of each partition)",
    )

    @model_validator(mode="before")
    @classmethod
    def _seven_days_by_default(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("days") is None and data.get("loads") is None:
            return {**data, "days": DEFAULT_DAYS}
        return data


class LandingStoreConfig(StoreConfig):
    endpoint_url: str | None = Field(
        None, description="an S3-compatible endpoint instead of AWS (MinIO, a test server)"
    )
    region: str | None = Field(None, description="the bucket's AWS region")
    retention: LandingRetentionConfig = LandingRetentionConfig()


class ExportStoreConfig(StoreConfig):
    url: str = Field(
        "exports", description="a folder (relative to the state dir) or gs://bucket/prefix"
    )
    project: str | None = Field(None, description="GCP project of the bucket (gs:// only)")

    @model_validator(mode="before")
    @classmethod
    def _no_s3_settings(cls, data: object) -> object:
        # Accepted and ignored until 2026-12-07: an emulator's endpoint given here went unused,
        # and the check went to Google's servers.
        if isinstance(data, dict) and (
            given := [k for k in ("endpoint_url", "region") if k in data]
        ):
            raise ValueError(
                f"{' and '.join(given)} {'is a setting' if len(given) == 1 else 'are settings'} "
                "of the landing store (S3); exports go to a "
                "folder or Google Cloud Storage, whose emulator is named by the "
                "STORAGE_EMULATOR_HOST environment variable"
            )
        return data

    @field_validator("url")
    @classmethod
    def _folder_or_gcs(cls, url: str) -> str:
        if "://" in url and not url.startswith(("gs://", "gcs://", "file://")):
            raise ValueError("expected a folder, file:// or gs://bucket/prefix URL")
        return url


# Salesforce API names: objects (Account, Invoice__c) and fields (BillingCity, Region__c).
SalesforceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
SALESFORCE_AUTH = {
    "password": ("username_env", "password_env"),
    "client credentials": ("client_id_env", "client_secret_env"),
    "session": ("session_id_env",),  # + the instance URL, in instance_url or instance_url_env
}
INSTANCE_URL_EXAMPLE = "https://acme.my.salesforce.com"
API_FLOOR = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")


def _check_api_floor(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("expected a number of API requests >= 0, or a percentage like 10%")
        return value
    match = API_FLOOR.match(value.strip())
    if not match or float(match.group(1)) > 100:
        raise ValueError("expected a number of API requests, or a percentage like 10%")
    return value.strip()


ApiFloor = Annotated[int | str, AfterValidator(_check_api_floor)]


def salesforce_origin(url: str) -> str:
    """An org's URL as https://host[:port], or ValueError saying what was expected. The
    message never repeats the URL (it comes from an environment variable at times)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"expected a URL such as {INSTANCE_URL_EXAMPLE}") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"expected an https:// URL such as {INSTANCE_URL_EXAMPLE}")
    if parts.username or parts.password:
        raise ValueError("the URL holds credentials; expected only the org's host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"expected the org's URL without a path, such as {INSTANCE_URL_EXAMPLE}")
    return f"https://{parts.netloc}"


def _check_ca_bundle(path: str) -> str:
    if not Path(path).is_absolute():
        raise ValueError(
            "expected an absolute path to a PEM file of CA certificates (or a folder of them "
            "prepared with c_rehash)"
        )
    return path


class SalesforceConfig(StrictModel):
    """How to reach a Salesforce org. Credentials are the NAMES of environment variables, for
    one of: username + password (+ security token), OAuth client credentials, or a session
    id + instance URL."""

    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = None
    security_token_env: EnvVarName | None = Field(
        None, description="appended to the password; omit for IP-allowlisted logins"
    )
    client_id_env: EnvVarName | None = Field(None, description="connected app consumer key")
    client_secret_env: EnvVarName | None = Field(None, description="connected app consumer secret")
    session_id_env: EnvVarName | None = None
    instance_url_env: EnvVarName | None = Field(
        None, description="an environment variable holding instance_url"
    )
    instance_url: Annotated[str, AfterValidator(salesforce_origin)] | None = Field(
        None,
        description="the org's own URL (any host, e.g. https://acme.my.salesforce.com): every "
        "login kind logs in there instead of at <domain>.salesforce.com",
    )
    domain: str = Field(
        "login",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$",
        description="login, test (sandboxes) or your My Domain such as acme.my",
    )
    ca_bundle: Annotated[str, AfterValidator(_check_ca_bundle)] | None = Field(
        None,
        description="absolute path of the CA certificates (PEM) this org's certificate is "
        "verified against, instead of the system's and REQUESTS_CA_BUNDLE",
    )
    api_version: str = Field("62.0", pattern=r"^\d{2,3}\.0$")
    connect_timeout: ConnectTimeout = Field(
        DEFAULT_CONNECT_TIMEOUT,
        description="seconds one attempt waits for Salesforce to accept a connection",
    )
    bulk_threshold: int = Field(
        10_000, gt=0, description="objects with at least this many rows to read use Bulk API 2.0"
    )
    api_floor: ApiFloor = Field(
        "10%",
        description="daily API requests that must remain after a read (a number or a "
        "percentage of the org's allocation); below it the load stops before writing anything",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: object) -> object:
        return reject_literal_secrets(data, model=cls, instead="")

    @model_validator(mode="after")
    def _one_auth(self) -> SalesforceConfig:
        named = [
            mode for mode, keys in SALESFORCE_AUTH.items() if any(getattr(self, k) for k in keys)
        ]
        if len(named) != 1:
            options = "; ".join(
                f"{mode}: {' + '.join(keys)}" for mode, keys in SALESFORCE_AUTH.items()
            )
            found = f" (found {' and '.join(named)})" if named else ""
            raise ValueError(f"expected exactly one way to log in{found} - {options}")
        [mode] = named
        missing = [key for key in SALESFORCE_AUTH[mode] if not getattr(self, key)]
        if missing:
            raise ValueError(f"{mode} login also needs {' and '.join(repr(m) for m in missing)}")
        if self.security_token_env and mode != "password":
            raise ValueError("'security_token_env' goes with username_env + password_env")
        instance = self.instance_url or self.instance_url_env
        if self.instance_url and self.instance_url_env:
            raise ValueError("expected 'instance_url' or 'instance_url_env', not both")
        if instance and "domain" in self.model_fields_set:
            key = "instance_url" if self.instance_url else "instance_url_env"
            raise ValueError(f"'domain' and '{key}' both say where to log in; expected one")
        if mode == "session" and not instance:
            raise ValueError("session login also needs 'instance_url' or 'instance_url_env'")
        if mode == "client credentials" and not instance and self.domain in ("login", "test"):
            raise ValueError(
                "OAuth client credentials need your My Domain in 'domain' (e.g. acme.my) or "
                f"the org's URL in 'instance_url' (e.g. {INSTANCE_URL_EXAMPLE}), "
                "not login or test"
            )
        return self

    @property
    def auth_mode(self) -> str:
        return next(m for m, keys in SALESFORCE_AUTH.items() if getattr(self, keys[0]))

    @property
    def credential_env(self) -> dict[str, str]:
        """Credential key -> the environment variable holding it, for the configured login."""
        keys = [*SALESFORCE_AUTH[self.auth_mode]]
        if self.security_token_env:
            keys.append("security_token_env")
        if self.instance_url_env:
            keys.append("instance_url_env")
        return {key: getattr(self, key) for key in keys}

    def floor_requests(self, daily_limit: int) -> int:
        """The API floor as a number of requests, for an org allowed `daily_limit` a day."""
        if isinstance(self.api_floor, int):
            return self.api_floor
        percent = Decimal(API_FLOOR.match(self.api_floor).group(1))
        return math.ceil(daily_limit * percent / 100)


class RetryConfig(StrictModel):
    """Transient errors (connection resets, timeouts, throttling) are retried with
    exponential backoff; configuration and data errors are not."""

    attempts: int = Field(3, ge=1, description="attempts in all, the first included")
    delay_seconds: float = Field(1.0, ge=0, description="wait before the first retry")
    backoff_factor: float = Field(2.0, ge=1, description="each wait is this much longer")

    def delay_before(self, retry_number: int) -> float:
        """The wait before retry `retry_number` (1 for the first retry)."""
        return self.delay_seconds * self.backoff_factor ** (retry_number - 1)


class AutomationConfig(StrictModel):
    default_status: Literal["stopped", "running"] = Field(
        "stopped",
        description="whether schedules and sensors start running when first deployed",
    )
    retries: RetryConfig = RetryConfig()


class PlatformConfig(StrictModel):
    state_dir: str = Field(
        ".tributary",
        description="where local state lives; TRIBUTARY_STATE_DIR overrides it",
    )
    warehouse: WarehouseConfig = DEFAULT_WAREHOUSE
    landing: LandingStoreConfig = LandingStoreConfig(url="landing")
    exports: ExportStoreConfig = ExportStoreConfig()
    batch_rows: int = Field(100_000, gt=0, description="rows per extracted batch / Parquet part")
    automation: AutomationConfig = AutomationConfig()

    @model_validator(mode="after")
    def _suits_the_warehouse(self) -> PlatformConfig:
        self.warehouse.check_platform(self)
        return self


class KeyRanges(StrictModel):
    """Split a large table's backfill into resumable partitions by ranges of one key."""

    column: Identifier
    size: int = Field(gt=0, description="keys per partition")
    upper_bound: int = Field(gt=0, description="keys up to here are split; the last is open")


class TableChecks(StrictModel):
    """The asset checks of a raw table beyond the defaults: reconciliation with the source and
    primary-key uniqueness run on every load; freshness against `freshness` (or 1 day)."""

    reconcile: bool = Field(
        True, description="compare the load with the source: rows, and the max cursor"
    )
    checksum: list[Identifier] = Field(
        default_factory=list,
        description="columns (e.g. the primary key) whose checksum must match the source's",
    )
    max_data_age: Duration | None = Field(
        None,
        description="incremental tables with a timestamp or date cursor: the newest cursor "
        "value is at most this old (a date's data reaches the end of that day)",
    )


def _scalar(value: object) -> object:
    # A number written in YAML arrives as the Decimal of its digits (yaml_reader); a float
    # (a registry's row) as the shortest text that reads back as it.
    if isinstance(value, float):
        value = Decimal(str(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"expected a finite number (got {value}); quote it for the text")
    if isinstance(value, dict | list):
        raise ValueError("expected a single value: text, a number, true/false or a date")
    if isinstance(value, datetime):  # YAML reads 2024-05-01 10:30:00 as one
        written = value.isoformat(sep=" ")
        raise ValueError(
            f"{written} is a date and time; expected text, a number, true/false or a date "
            f"(YYYY-MM-DD): quote it ('{written}') to pass it as text, or use "
            "{{ partition_start }}"
        )
    return value


ParameterValue = Annotated[bool | int | Decimal | date | str, BeforeValidator(_scalar)]


class TableConfig(StrictModel):
    name: Identifier
    description: str | None = None
    source_object: str | None = Field(
        None,
        alias="object",
        description="table or view to read, optionally schema-qualified; defaults to name",
    )
    query: Query | None = Field(None, description="custom SELECT to read instead of an object")
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
    settings: dict[Identifier, ParameterValue] = Field(
        default_factory=dict,
        description="tenant-scoped tables: defaults of the tenant settings the query binds "
        "(:name); a tenant's own settings override them",
    )
    fields: list[SalesforceName] | Literal["all"] | None = Field(
        None,
        description="salesforce: the object's fields to read, or 'all' (the default) from "
        "describe; a compound field (address, geolocation) reads as its components",
    )
    null_cursor: NullCursor = Field(
        "fail",
        description="incremental tables: rows whose cursor is NULL fail the load (fail), are "
        "re-read and merged on every load (include), or are skipped and counted (exclude)",
    )
    schema_contract: SchemaContract | None = Field(
        None, description="evolve or freeze; defaults to the source's (evolve)"
    )
    checks: TableChecks = Field(default_factory=TableChecks)
    enabled: bool = True
    frequency: Frequency | None = Field(
        None, description="a schedule of this table's own, instead of its source's"
    )
    freshness: Duration | None = Field(
        None, description="stale when not loaded for this long (overrides the source's)"
    )
    refresh: Refresh | None = Field(
        None, description="on_change: load when the source changed (overrides the source's)"
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("key_ranges")
    @classmethod
    def _ranges_of_a_keyed_table(
        cls, key_ranges: KeyRanges | None, info: ValidationInfo
    ) -> KeyRanges | None:
        # A row whose column changes moves to another range; only its key tells its old copy
        # there from another row, for the new range's load to remove it.
        if key_ranges is not None and info.data.get("primary_key") == []:
            raise ValueError(
                "a table partitioned by key ranges needs a 'primary_key': a row whose "
                f"'{key_ranges.column}' changes moves to another range, and only its key "
                "tells its old copy there from another row, for the load of its new range "
                "to remove it; name the table's primary_key (the key_ranges column itself "
                "where it is the key), or load the table whole"
            )
        return key_ranges

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
        if self.query is None and not re.fullmatch(
            r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)?$", self.read_object
        ):
            raise ValueError(
                "'object' must be a table or view name, optionally schema-qualified, made of "
                f"letters, digits and underscores (got {self.read_object!r})"
            )
        if self.lookback is not None and self.mode != "incremental":
            raise ValueError("'lookback' applies to incremental tables only")
        if "null_cursor" in self.model_fields_set and self.mode != "incremental":
            raise ValueError("'null_cursor' applies to incremental tables only")
        if self.key_ranges and (self.mode != "full" or self.tenant_column):
            raise ValueError("'key_ranges' applies to full loads of tables not scoped by tenant")
        if self.checks.max_data_age is not None and self.mode != "incremental":
            raise ValueError(
                "'checks.max_data_age' applies to incremental tables "
                "(their cursor tells how new the data is)"
            )
        if self.checks.checksum and not self.checks.reconcile:
            raise ValueError("'checks.checksum' is part of reconciliation: keep 'reconcile'")
        if self.tenant_column and self.query and ":tenant_id" not in self.query:
            raise ValueError(
                "a tenant-scoped 'query' must select one tenant's rows with :tenant_id"
            )
        if self.refresh == "on_change" and (self.tenant_column or self.key_ranges):
            raise ValueError(
                "'refresh: on_change' loads a whole table when its source changed: a table "
                "partitioned by tenant or key range keeps its schedule"
            )
        if self.settings and not (self.tenant_column and self.query):
            raise ValueError(
                "'settings' are defaults of the tenant settings a tenant-scoped 'query' binds "
                "(:name): give the table 'tenant_column' and a 'query'"
            )
        if unused := sorted(set(self.settings) - set(self.setting_names)):
            raise ValueError(f"settings: {', '.join(unused)} is not bound by the query (:name)")
        return self

    @property
    def setting_names(self) -> list[str]:
        """The tenant settings a tenant-scoped query binds (:name), :tenant_id aside."""
        if not (self.query and self.tenant_column):
            return []
        return sorted(set(BIND_PARAMETER.findall(self.query)) - {"tenant_id"})

    @property
    def read_object(self) -> str:
        return self.source_object or self.name


class SourceConfig(StrictModel):
    name: Identifier
    kind: SourceKind
    description: str | None = None
    connection: ConnectionConfig | None = Field(None, validate_default=True)
    salesforce: SalesforceConfig | None = Field(
        None, validate_default=True, description="kind salesforce: login and API settings"
    )
    enabled: bool = True
    frequency: Frequency | None = Field(
        None, description="load the source's enabled tables on this schedule"
    )
    timezone: Timezone = Field("UTC", description="the zone of the source's schedule")
    data_timezone: Timezone = Field(
        "UTC",
        description="the zone of the source's timestamps that carry none (MySQL DATETIME, SQL "
        "Server datetime2, PostgreSQL timestamp): the freshness check's max_data_age reads "
        "their age in it",
    )
    freshness: Duration | None = Field(
        None, description="a table is stale when not loaded for this long"
    )
    schema_contract: SchemaContract = Field(
        "evolve", description="evolve or freeze, for every table that does not say otherwise"
    )
    refresh: Refresh = Field(
        "schedule",
        description="schedule: load at 'frequency'; on_change: also load a table soon after "
        "its source changed (observed every refresh_interval), and not when it did not",
    )
    refresh_interval: Duration = Field(
        timedelta(minutes=5),
        description="on_change: how often the source is observed (one query per tick)",
    )
    tables: list[TableConfig] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _raw_schema_fits(cls, name: str) -> str:
        if problem := cut_name_problem(raw_schema(name), "schema"):
            room = IDENTIFIER_MAX - len(raw_schema("").encode())
            raise ValueError(f"{problem}; expected a source name of at most {room} bytes")
        return name

    def contract_for(self, table: TableConfig) -> SchemaContract:
        return table.schema_contract or self.schema_contract

    def refresh_for(self, table: TableConfig) -> Refresh:
        return table.refresh or self.refresh

    def observes(self, table: TableConfig) -> bool:
        """Whether `table` is loaded when the source changed (enabled, refresh: on_change)."""
        return self.enabled and table.enabled and self.refresh_for(table) == "on_change"

    @property
    def observed_tables(self) -> list[TableConfig]:
        return [t for t in self.tables if self.observes(t)]

    @model_validator(mode="after")
    def _refresh_where_supported(self) -> SourceConfig:
        partitioned = [
            t.name
            for t in self.tables
            if (t.tenant_column or t.key_ranges) and self.refresh_for(t) == "on_change"
        ]
        if partitioned:
            raise ValueError(
                f"refresh: on_change loads whole tables; {', '.join(partitioned)} "
                "(partitioned) must say 'refresh: schedule'"
            )
        counted = [
            f"tables[{index}] ({table.name})"
            for index, table in enumerate(self.tables)
            if self.observes(table) and table.query and not table.cursor
        ]
        if counted:
            raise ValueError(
                "refresh: on_change sees a query's changes through its cursor; "
                f"{', '.join(counted)}: a query without a cursor, whose row count an update "
                "does not move, must give a cursor or say 'refresh: schedule'"
            )
        if self.refresh_interval < timedelta(seconds=30):
            raise ValueError("refresh_interval: expected 30s or more")
        return self

    @model_validator(mode="after")
    def _queries_the_source_takes(self) -> SourceConfig:
        for index, table in enumerate(self.tables):
            if table.query and (problem := subquery_refusal(table.query, self.kind)):
                raise ValueError(f"tables[{index}].query (table {table.name}): {problem}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _salesforce_defaults(cls, data: object) -> object:
        """A Salesforce object is keyed by Id and read incrementally on SystemModstamp with a
        5 minute lookback unless told otherwise. Raw columns are the API names in lower case
        (collision-free: Salesforce names are case-insensitive), so keys are written so too."""
        if not (isinstance(data, dict) and data.get("kind") == "salesforce"):
            return data
        tables = data.get("tables")
        if not isinstance(tables, list):
            return data
        filled = []
        for table in tables:
            if isinstance(table, dict):
                table = {"primary_key": ["id"], "cursor": "systemmodstamp", **table}
                table.setdefault("mode", "incremental")
                if table["mode"] == "incremental":
                    table.setdefault("lookback", "5m")
                if isinstance(table["cursor"], str):
                    table["cursor"] = table["cursor"].lower()
                if isinstance(table["primary_key"], list):
                    table["primary_key"] = [
                        k.lower() if isinstance(k, str) else k for k in table["primary_key"]
                    ]
            filled.append(table)
        return {**data, "tables": filled}

    @field_validator("connection")
    @classmethod
    def _connection_for_kind(
        cls, connection: ConnectionConfig | None, info: ValidationInfo
    ) -> ConnectionConfig | None:
        kind = info.data.get("kind")
        if kind == "salesforce" and connection is not None:
            raise ValueError(
                "a salesforce source is configured under 'salesforce:' (login and API "
                "settings), not 'connection'"
            )
        if kind not in (None, "salesforce") and connection is None:
            raise ValueError("required key is missing: expected 'url_env' or 'url'")
        return connection

    @field_validator("salesforce")
    @classmethod
    def _salesforce_for_kind(
        cls, salesforce: SalesforceConfig | None, info: ValidationInfo
    ) -> SalesforceConfig | None:
        kind = info.data.get("kind")
        if kind == "salesforce" and salesforce is None:
            raise ValueError(
                "required key is missing: a salesforce source needs its login (environment "
                "variable names) and API settings here"
            )
        if kind not in (None, "salesforce") and salesforce is not None:
            raise ValueError(f"applies to kind salesforce only, not {kind}")
        return salesforce

    @field_validator("tables")
    @classmethod
    def _unique_tables(cls, tables: list[TableConfig], info: ValidationInfo) -> list[TableConfig]:
        if pair := first_repeat([table.name for table in tables]):
            first, name = pair
            raise ValueError(
                f"table '{name}' is listed twice{case_note(first, name)}; expected unique names"
            )
        kind = info.data.get("kind")
        for table in tables:
            if kind == "salesforce":
                _check_salesforce_table(table)
            elif table.fields is not None:
                raise ValueError(f"table '{table.name}': 'fields' applies to salesforce objects")
        return tables


def _check_salesforce_table(table: TableConfig) -> None:
    unsupported = [
        key for key in ("query", "tenant_column", "key_ranges") if getattr(table, key) is not None
    ]
    if unsupported:
        raise ValueError(
            f"table '{table.name}': {', '.join(repr(k) for k in unsupported)} does not apply "
            "to salesforce objects; expected 'object' and 'fields'"
        )
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", table.read_object):
        raise ValueError(f"table '{table.name}': 'object' must be a Salesforce object API name")
    if table.primary_key != ["id"]:
        raise ValueError(f"table '{table.name}': a Salesforce object's primary key is Id")


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
FREQUENCY_CRON = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 1"}


def cron_for(frequency: str) -> str:
    """The cron string of a frequency: hourly on the hour, daily at midnight, weekly on
    Monday at midnight (in the schedule's time zone), or the cron string itself."""
    return FREQUENCY_CRON.get(frequency, frequency)


def is_timezone(value: str) -> bool:
    """Whether `value` names an IANA time zone this machine knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_timezone(value: str) -> str:
    if not is_timezone(value):
        raise ValueError("expected an IANA time zone such as UTC or Europe/Berlin")
    return value


Timezone = Annotated[str, AfterValidator(_check_timezone)]


def _parse_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    match = DURATION.match(str(value).strip())
    if isinstance(value, bool) or not match:
        raise ValueError("expected a duration such as 30s, 15m, 2h or 1d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{DURATION_UNITS[unit]: amount})


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
Refresh = Literal["schedule", "on_change"]


def _parse_lookback(value: object) -> timedelta | int | Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m or a number")
    if isinstance(value, int | Decimal | timedelta):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    try:
        return _parse_duration(value)
    except ValueError:
        raise ValueError("expected a duration such as 30s, 15m, 2h or 1d, or a number") from None


Lookback = Annotated[timedelta | int | Decimal, BeforeValidator(_parse_lookback)]


# :name in a source table's query, as SQLAlchemy's text() finds its bind parameters (not the
# `::type` casts of PostgreSQL).
BIND_PARAMETER = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
# {{ name }} in an export's query: a value rendered as a SQL literal when the export runs.
QUERY_PARAMETER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# {{ ref('model') }} in an export's query: the model's relation, and a model the export reads.
REF = re.compile(r"\{\{\s*ref\(\s*['\"](\w+)['\"]\s*\)\s*\}\}")
# {{ source('source', 'table') }} in an export's query, as dbt users write it: the raw table
# Tributary loads that source's table into, raw_<source>.<table>, and one the export reads.
SOURCE = re.compile(r"\{\{\s*source\(\s*['\"](\w+)['\"]\s*,\s*['\"](\w+)['\"]\s*\)\s*\}\}")
# Any {{ ... }} in an export's query: one that none of the above is (dbt's var(), this, a
# source() of one argument) would reach the warehouse as it is, whose parser fails every run
# naming neither file nor key; it is refused when the configuration loads.
PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.DOTALL)
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


# Characters a CSV delimiter may not be, letters and digits aside: a quote and line breaks
# (CSV's own), and what unquoted values hold.
UNQUOTED_CHARACTERS = frozenset('"\r\n -+.:')


class CsvOptions(StrictModel):
    header: bool = True
    delimiter: str = Field(",", min_length=1, max_length=1)

    @field_validator("delimiter")
    @classmethod
    def _plain_delimiter(cls, delimiter: str) -> str:
        # Only text is quoted: numbers, dates, times and booleans are written as they are
        # (-12.30, 1.5e+300, nan, 2024-05-01, 10:00:00, true), so a delimiter one of them can
        # hold would split it and the file could not be read back.
        if delimiter in UNQUOTED_CHARACTERS or delimiter.isalnum():
            raise ValueError(
                "expected a delimiter other than a quote, a line break, a letter, a digit, a "
                "space or one of - + . : (numbers, dates, times and booleans are written "
                f"unquoted); e.g. , ; | or a tab (got {delimiter!r})"
            )
        # Arrow's CSV writer (and Redshift's UNLOAD) take one ASCII character, NUL aside: '§'
        # loaded and every run failed with "Expecting an ASCII character", naming no key.
        if not delimiter.isascii() or delimiter == "\x00":
            raise ValueError(
                "expected one ASCII character other than NUL (the CSV writer takes no other), "
                f"e.g. , ; | or a tab (got {delimiter!r})"
            )
        return delimiter


class ExportConfig(StrictModel):
    name: Identifier
    description: str | None = None
    model: Identifier | None = Field(None, description="dbt model to publish")
    query: Query | None = Field(None, description="custom SQL to publish instead of a model")
    depends_on: list[Identifier] = Field(
        default_factory=list,
        description="dbt models a custom query reads besides those it names with ref()",
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
    timezone: Timezone = "UTC"
    retention: int | None = Field(
        None, gt=0, description="keep the last N dated partitions (of each tenant, per_tenant)"
    )
    per_tenant: bool = Field(
        False, description="one asset partition per active tenant, each publishing its rows"
    )
    tenant_column: Identifier = Field(
        "_tenant_id", description="per_tenant: the column of the result holding the tenant id"
    )
    tenant_url: str | None = Field(
        None,
        description="per_tenant: each tenant's store, a template such as "
        "gs://bi-{alias}/tributary (default: the exports store, under <name>/tenant=<alias>/)",
    )
    allow_empty: bool = Field(
        False,
        description="publish an empty result over a partition (or folders) holding rows; "
        "otherwise such a run publishes nothing and fails",
    )
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
        if self.compression is not None and self.compression not in COMPRESSIONS[self.format]:
            raise ValueError(
                f"'compression' for {self.format}: expected one of "
                f"{', '.join(COMPRESSIONS[self.format])} (got {self.compression!r})"
            )
        if self.csv is not None and self.format != "csv":
            raise ValueError("'csv' options apply to format: csv only")
        for placeholder in PLACEHOLDER.findall(self.query or ""):
            if not any(form.fullmatch(placeholder) for form in (REF, SOURCE, QUERY_PARAMETER)):
                raise ValueError(
                    f"query: {placeholder} is not rendered: expected {{{{ ref('model') }}}}, "
                    "{{ source('source', 'table') }} or a parameter {{ name }} (Tributary "
                    "renders no other dbt Jinja)"
                )
        if clash := sorted(set(self.parameters) & set(PARTITION_PARAMETERS)):
            raise ValueError(f"parameters: {', '.join(clash)} is set by each run; rename it")
        used = set(QUERY_PARAMETER.findall(self.query or ""))
        if unknown := sorted(used - set(self.parameters) - set(PARTITION_PARAMETERS)):
            raise ValueError(
                f"query: unknown parameter {', '.join(unknown)}; expected one of "
                f"{', '.join(PARTITION_PARAMETERS)} or a key of 'parameters'"
            )
        if not self.per_tenant and ({"tenant_column", "tenant_url"} & self.model_fields_set):
            raise ValueError("'tenant_column' and 'tenant_url' apply to per_tenant exports")
        if self.per_tenant and self.partitioning.by == "date":
            raise ValueError(
                "a per_tenant export is partitioned by tenant: partitioning by date is not "
                "supported with it (use run_date or column)"
            )
        if self.tenant_url is not None:
            fields = {name for _, name, _, _ in string.Formatter().parse(self.tenant_url) if name}
            if not fields & {"alias", "tenant_id"} or fields - {"alias", "tenant_id"}:
                raise ValueError(
                    "'tenant_url' is a template naming each tenant's store with {alias} or "
                    f"{{tenant_id}}, and no other placeholder (got {self.tenant_url!r})"
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
        if partitioning.by == "column" and self.retention is not None:
            raise ValueError(
                "retention: keeps the newest dated partitions; a by: column export replaces its "
                "value folders each run (a value no row holds any more loses its folder)"
            )
        return self

    @property
    def upstream_models(self) -> list[str]:
        """The dbt models the export reads: its model; or the models its query refs, and those
        named in depends_on (a query that reads a model's table by its name)."""
        if self.model:
            return [self.model]
        return list(dict.fromkeys([*REF.findall(self.query or ""), *self.depends_on]))

    @property
    def file_compression(self) -> str:
        return self.compression or COMPRESSIONS[self.format][0]

    @property
    def csv_options(self) -> CsvOptions:
        return self.csv or CsvOptions()


# A tenant id's text: it becomes a partition key, a folder name ({tenant_id}) and a literal.
TENANT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def _tenant_id(value: object) -> int | str:
    """A number stays a number and text stays the text it is: a legacy ERP's client '001' is
    not tenant 1, its rows hold '001' (a UUID is text too). Read as_tenant_id reads it: a
    char(n) column's padding is no part of it."""
    value = as_tenant_id(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and TENANT_ID.fullmatch(value) and len(value) <= IDENTIFIER_MAX:
        return value
    raise ValueError(
        f"{value!r} is not a tenant id; expected a whole number, or text of letters, digits, "
        f"underscores and hyphens (at most {IDENTIFIER_MAX} characters, starting with a "
        "letter, digit or underscore)"
    )


class Tenant(StrictModel):
    id: Annotated[int | str, PlainValidator(_tenant_id)]
    # Without a char(n) column's padding, as the id: it names folders and buckets.
    alias: Annotated[str, BeforeValidator(unpadded)] = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="the tenant's name in paths and bucket names (its exports' folder)",
    )
    active: bool = True
    settings: dict[Identifier, ParameterValue] = Field(
        default_factory=dict, description="values its tables' queries bind (:name)"
    )

    @field_validator("settings")
    @classmethod
    def _one_spelling(cls, settings: dict[str, object]) -> dict[str, object]:
        # A query's :name matches a setting whatever its case: two spellings are one setting.
        if twice := repeated(list(settings)):
            raise ValueError(f"{twice} are one setting (names compared ignoring case)")
        return settings

    @property
    def key(self) -> str:
        """Its partition key."""
        return str(self.id)


class TenantRegistry(StrictModel):
    """Tenants read from the application's own admin tables, where a new customer is a row."""

    source: Identifier = Field(description="the configured SQL source holding the registry")
    query: Query = Field(description="returns one row per tenant: id, alias, active")
    settings_query: Query | None = Field(
        None, description="returns one row per tenant setting: tenant_id, name, value"
    )
    interval: Duration = Field(
        timedelta(minutes=5), description="how often tenant_registry_sensor reads the registry"
    )

    @field_validator("interval")
    @classmethod
    def _sensor_interval(cls, interval: timedelta) -> timedelta:
        # Dagster's daemon evaluates a sensor every 30 s at most: a shorter interval was raised
        # to 30 s without a word, where refresh_interval's is refused.
        if interval < timedelta(seconds=30):
            raise ValueError("expected 30s or more (the daemon runs a sensor at most every 30 s)")
        return interval


class TenantsConfig(StrictModel):
    tenants: list[Tenant] = Field(default_factory=list)
    registry: TenantRegistry | None = None

    @field_validator("tenants")
    @classmethod
    def _unique_ids(cls, tenants: list[Tenant]) -> list[Tenant]:
        ids = [str(t.id) for t in tenants]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"tenant ids must be unique; listed twice: {', '.join(duplicates)}")
        if problem := shared_alias(tenants) or alike_ids(tenants):
            raise ValueError(problem)
        return tenants

    @model_validator(mode="after")
    def _one_origin(self) -> TenantsConfig:
        if self.registry is not None and self.tenants:
            raise ValueError(
                "give either 'tenants' (a fixed list) or 'registry' (read from a source), not both"
            )
        return self


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
        room = IDENTIFIER_MAX - len(self.role_prefix.encode())
        for index, team in enumerate(self.teams):
            if problem := cut_name_problem(self.role_name(team), "role"):
                raise ValueError(
                    f"teams[{index}].name: {problem}; expected a team name of at most {room} "
                    "bytes, or a shorter role_prefix"
                )
        return self

    def role_name(self, team: Team) -> str:
        return f"{self.role_prefix}{team.name}"
