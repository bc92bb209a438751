"""Salesforce objects as Arrow batches, through simple-salesforce.

One read of an object:
1. describe the object: its fields and their types (the first API response also tells the
   org's API usage, from the Sforce-Limit-Info header);
2. count the rows to read with queryAll (deleted records included) and pick the path: the
   REST queryAll, paged through nextRecordsUrl, below `bulk_threshold`; a Bulk API 2.0
   queryAll job from it up, or for a query too long for a REST request's URI. An object
   without IsDeleted (User, Profile, UserRole, ...: never in the recycle bin) is read through
   query instead, which Salesforce documents as queryAll less the deleted records;
3. check the API floor against the usage the org reported plus what the read will cost, and
   stop before anything is written if the floor would be crossed;
4. stream the records in batches of `batch_rows`, typed from describe.

Both paths turn every value into its text form first (the form Bulk 2.0 CSV carries) and
type it in one place, so they produce the same table from the same data. Columns are the
fields' API names in lower case (collision-free, since Salesforce names are case-insensitive,
and read alike by DuckDB, PostgreSQL and Redshift); IsDeleted becomes the `_deleted` load
column (false on every row of an object without IsDeleted). Compound fields (addresses,
geolocations) are read as their component fields, which is also all Bulk 2.0 can read.
Credentials come from the environment variables the source's configuration names and never
appear in messages.

Where the org is: `<domain>.salesforce.com` by default, or the org's own URL (`instance_url`),
where every login kind then logs in. The org's certificate is verified against the source's
`ca_bundle` when it names one, whatever REQUESTS_CA_BUNDLE says.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import math
import os
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceOperationError,
)
from simple_salesforce.login import SalesforceLogin, token_login

from tributary.config.models import SalesforceConfig, TableConfig, salesforce_origin
from tributary.errors import Unreachable
from tributary.landing.manifest import as_utc
from tributary.slices import Slice
from tributary.sources.base import Extract, SourceClock, SourceError
from tributary.sources.types import DEFAULT_DECIMAL

# Records per REST page (Salesforce's default and maximum batch size).
REST_PAGE_ROWS = 2000
# Seconds without a byte from the API before a request is given up (a slow query's first
# page can take a while; a silent server must not hold a run forever).
READ_TIMEOUT = 300
# Requests a Bulk 2.0 query job costs besides its result pages: create, and status polls.
BULK_JOB_REQUESTS = 3
# A REST request's URI and headers together may hold 16,384 bytes (Salesforce answers 414 URI
# Too Long, or 431); the query travels in the URI. Headers here take well under 2 KB.
REST_REQUEST_BYTES = 16_384
REST_HEADER_BYTES = 2_048
COMPOUND_TYPES = {"address", "location"}
# base64 fields come back as a URL per record from REST and not at all from Bulk 2.0.
UNSUPPORTED_TYPES = {"base64"}
DECIMAL_TYPES = {"double", "currency", "percent"}
INTEGER_TYPES = {"int", "long"}
DELETED_FIELD = "isdeleted"
ROUNDED_COUNTER = "decimals_rounded"
CA_BUNDLE_EXPECTED = (
    "expected a PEM file of CA certificates (or a folder of them prepared with c_rehash)"
)


class ApiFloorReached(SourceError):
    """The org's daily API usage is too close to its limit: the load stopped before writing."""


class FieldValueError(SourceError):
    """A value that does not have its field's type; the read names source and table."""


@dataclass(frozen=True)
class SalesforceField:
    name: str  # the API name, as describe spells it: BillingCity
    type: str  # describe's type: currency, datetime, picklist, ...
    precision: int | None = None
    scale: int | None = None
    nillable: bool = True  # whether a record may leave it empty (SystemModstamp may not)

    @classmethod
    def from_describe(cls, field: dict[str, Any]) -> SalesforceField:
        return cls(
            name=field["name"],
            type=str(field["type"]).lower(),
            precision=field.get("precision"),
            scale=field.get("scale"),
            nillable=field.get("nillable", True) is not False,
        )

    @property
    def column(self) -> str:
        return self.name.lower()

    @property
    def arrow_type(self) -> pa.DataType:
        if self.type == "boolean":
            return pa.bool_()
        if self.type in INTEGER_TYPES:
            return pa.int64()
        if self.type in DECIMAL_TYPES:
            precision, scale = self.precision or 0, self.scale or 0
            if precision <= 0 or precision < scale:
                precision, scale = DEFAULT_DECIMAL
            return (
                pa.decimal128(precision, scale)
                if precision <= 38
                else pa.decimal256(precision, scale)
            )
        if self.type == "date":
            return pa.date32()
        if self.type == "datetime":
            return pa.timestamp("us", tz="UTC")
        return pa.string()  # text types, picklists, and anything describe adds later


def unseen_field(object_name: str, name: str, role: str) -> str:
    """Why a field the table names (`role`: which key names it) is not in describe, and the
    way on. Describe lists only the fields the integration user may read; SystemModstamp, a
    system field, it lists wherever the object has one."""
    if role == "cursor" and name.casefold() == "systemmodstamp":
        return (
            f"object {object_name} has no field '{name}' (the table's `cursor:`, SystemModstamp "
            "by default): some objects have none, history objects such as AccountHistory "
            "(never updated: CreatedDate) among them; set `cursor:` to a datetime field the "
            "object has, or load it whole (`mode: full`)"
        )
    way_on = (
        "set `cursor:` to a datetime field the user can read"
        if role == "cursor"
        else f"drop it from `{role}:`"
    )
    named = "the table's `cursor:`" if role == "cursor" else f"named in `{role}:`"
    return (
        f"object {object_name} shows no field '{name}' ({named}) to the user Tributary logs "
        "in as: the field was removed, or field-level security hides it from that user; grant "
        f"the user read access to the field, or {way_on}"
    )


def object_fields(
    describe: dict[str, Any],
    wanted: list[str] | str | None,
    *,
    cursor: str | None,
    where: str = "",
) -> list[SalesforceField]:
    """The fields a read selects, in describe's order: all of them (compound fields as their
    components) or the `wanted` ones, always with Id, the cursor and, where the object has it
    (not User, Profile, UserRole and the like, which are never soft-deleted), IsDeleted.
    `where` (source and table) opens every error's message."""
    object_name = describe["name"]
    prefix = f"{where}: " if where else ""
    described = describe["fields"]
    by_name = {f["name"].lower(): f for f in described}
    components: dict[str, list[str]] = {}
    for field in described:
        if field.get("compoundFieldName"):
            components.setdefault(field["compoundFieldName"].lower(), []).append(
                field["name"].lower()
            )
    if wanted is None or wanted == "all":
        chosen = [
            name
            for name, field in by_name.items()
            if field["type"] not in COMPOUND_TYPES | UNSUPPORTED_TYPES
        ]
    else:
        chosen = []
        for name in wanted:
            field = by_name.get(name.lower())
            if field is None:
                raise SourceError(prefix + unseen_field(object_name, name, "fields"))
            if field["type"] in UNSUPPORTED_TYPES:
                raise SourceError(
                    f"{prefix}object {object_name}, field '{name}': {field['type']} fields "
                    "cannot be read in bulk; drop it from `fields:`"
                )
            if field["type"] in COMPOUND_TYPES:
                chosen.extend(components.get(name.lower(), []))
            else:
                chosen.append(name.lower())
    if DELETED_FIELD in by_name:
        chosen.append(DELETED_FIELD)
    if "id" not in by_name:  # every object has one; a describe without it is no object's
        raise SourceError(f"{prefix}object {object_name}: describe lists no Id field")
    if cursor and cursor not in by_name:
        raise SourceError(prefix + unseen_field(object_name, cursor, "cursor"))
    for name in ["id"] + ([cursor] if cursor else []):
        if name not in chosen:
            chosen.append(name)
    if cursor and by_name[cursor]["type"] not in ("datetime", "date"):
        raise SourceError(
            f"{prefix}object {object_name}: the cursor '{by_name[cursor]['name']}' is a "
            f"{by_name[cursor]['type']} field; expected a datetime such as SystemModstamp"
        )
    order = {name: index for index, name in enumerate(by_name)}
    unique = sorted(set(chosen), key=order.__getitem__)
    return [SalesforceField.from_describe(by_name[name]) for name in unique]


def soft_deletable(fields: list[SalesforceField]) -> bool:
    """Whether the object's records can be in the recycle bin: it has IsDeleted (the fields
    read always include it then)."""
    return any(f.column == DELETED_FIELD for f in fields)


def fits_rest_request(base_url: str, soql: str) -> bool:
    """Whether a REST queryAll of `soql` stays within the request size Salesforce accepts."""
    uri = len(urlsplit(base_url).path) + len("queryAll/?") + len(urlencode({"q": soql}))
    return uri + REST_HEADER_BYTES <= REST_REQUEST_BYTES


def arrow_schema(fields: list[SalesforceField]) -> pa.Schema:
    columns = [pa.field(f.column, f.arrow_type) for f in fields if f.column != DELETED_FIELD]
    return pa.schema([*columns, pa.field("_deleted", pa.bool_())])


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC, rounded down to Salesforce's millisecond precision."""
    value = as_utc(value)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def build_soql(
    object_name: str,
    fields: Iterable[SalesforceField] | None,
    cursor: str | None,
    since: Any,
    *,
    include_null: bool = False,
) -> str:
    """SELECT the fields (or COUNT() when `fields` is None) of the rows at or past `since`
    (and, with `include_null`, those whose cursor is empty: an incremental read takes them
    whatever the table's null_cursor, which then decides what becomes of them)."""
    select = "COUNT()" if fields is None else ", ".join(f.name for f in fields)
    soql = f"SELECT {select} FROM {object_name}"
    if since is not None:
        if cursor is None:
            raise SourceError(f"object {object_name} has no cursor to read incrementally")
        literal = soql_datetime(since) if isinstance(since, datetime) else since.isoformat()
        condition = f"{cursor} >= {literal}"
        soql += (
            f" WHERE ({condition} OR {cursor} = null)" if include_null else f" WHERE {condition}"
        )
    return soql


def text_value(value: Any) -> str | None:
    """A REST value in the text form Bulk 2.0 CSV gives it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # never 1.5E+7
    return str(value)


def typed_array(text: pa.Array, field: SalesforceField, counters: Counter) -> pa.Array:
    """A column of text typed as describe says; empty text is NULL (Salesforce stores no
    empty strings, and Bulk 2.0 CSV writes NULL as empty)."""
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    target = field.arrow_type
    if pa.types.is_string(target):
        return text
    if pa.types.is_decimal(target):
        try:
            return pc.cast(text, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _decimals(text, field, target, counters)
    if pa.types.is_boolean(target):
        return pc.equal(pc.utf8_lower(text), "true")
    try:
        return pc.cast(text, target)  # int64, date32, timestamp[us, UTC] from ISO 8601
    except pa.ArrowInvalid as exc:
        raise FieldValueError(f"field {field.name} ({field.type}): {exc}") from None


def _decimals(
    text: pa.Array, field: SalesforceField, target: pa.DataType, counters: Counter
) -> pa.Array:
    """Values with more decimals than describe's scale (some formula fields): rounded half
    to even to the scale, and counted."""
    quantum = Decimal(1).scaleb(-target.scale)
    values = []
    for item in text.to_pylist():
        if item is None:
            values.append(None)
            continue
        try:
            exact = Decimal(item)
        except InvalidOperation:
            raise FieldValueError(f"field {field.name} ({field.type}): not a number") from None
        rounded = exact.quantize(quantum, rounding=ROUND_HALF_EVEN)
        counters[ROUNDED_COUNTER] += rounded != exact
        values.append(rounded)
    try:
        return pa.array(values, target)
    except (pa.ArrowInvalid, InvalidOperation):
        raise FieldValueError(
            f"field {field.name} ({field.type}): a value does not fit "
            f"decimal({target.precision}, {target.scale}) as describe declares it"
        ) from None


def typed_batch(
    columns: dict[str, pa.Array], fields: list[SalesforceField], counters: Counter
) -> pa.RecordBatch:
    """Text columns keyed by lower-case field name -> the typed batch of `arrow_schema`."""
    arrays = [
        typed_array(columns[f.column], f, counters) for f in fields if f.column != DELETED_FIELD
    ]
    if DELETED_FIELD in columns:
        deleted = pc.fill_null(typed_array(columns[DELETED_FIELD], _BOOLEAN, counters), False)
    else:  # an object without IsDeleted: nothing of it is ever deleted softly
        deleted = pa.array([False] * len(arrays[0]), pa.bool_())
    counters["deleted_records"] += pc.sum(deleted).as_py() or 0
    return pa.RecordBatch.from_arrays([*arrays, deleted], schema=arrow_schema(fields))


_BOOLEAN = SalesforceField(name="IsDeleted", type="boolean")


@dataclass
class ApiUsage:
    """Requests this source made, and the org's daily usage as Sforce-Limit-Info last said."""

    requests: int = 0
    used: int | None = None
    limit: int | None = None

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests += 1
        header = response.headers.get("Sforce-Limit-Info")
        if header:
            usage = Salesforce.parse_api_usage(header).get("api-usage")
            if usage is not None:
                self.used, self.limit = usage.used, usage.total

    def report(self, counters: Counter, first_request: int) -> None:
        counters["api_requests"] = self.requests - first_request
        if self.limit is not None:
            counters["api_usage_used"] = self.used
            counters["api_usage_limit"] = self.limit


@dataclass
class OrgClock:
    """The org's time as its latest answer's Date header told it (in whole seconds, rounded
    down): what bounds a read's watermark where this machine's clock runs ahead of it."""

    answered_at: datetime | None = None

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.answered_at = None
        with contextlib.suppress(TypeError, ValueError):  # none, or not an HTTP date
            self.answered_at = as_utc(parsedate_to_datetime(response.headers.get("Date")))

    def last_answer(self) -> SourceClock | None:
        if self.answered_at is None:
            return None
        return SourceClock(instant=self.answered_at, local=self.answered_at.replace(tzinfo=None))


def login_arguments(config: SalesforceConfig, *, owner: str) -> dict[str, str]:
    """simple-salesforce's login arguments, read from the environment variables the config
    names. With an instance URL, a password or client credentials login carries
    `instance_url` instead of `domain`, for `login_at_instance`."""
    values = {key: os.environ.get(env) for key, env in config.credential_env.items()}
    missing = [config.credential_env[k] for k, v in values.items() if not v]
    if missing:
        raise SourceError(
            f"{owner}: environment variable{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} {'are' if len(missing) > 1 else 'is'} not set (named by the "
            f"salesforce {config.auth_mode} login)"
        )
    instance_url = config.instance_url
    if config.instance_url_env:
        try:
            instance_url = salesforce_origin(values["instance_url_env"])
        except ValueError as exc:
            raise SourceError(
                f"{owner}: environment variable {config.instance_url_env} (named by "
                f"salesforce.instance_url_env): {exc}"
            ) from None
    where = {"instance_url": instance_url} if instance_url else {"domain": config.domain}
    if config.auth_mode == "password":
        return {
            "username": values["username_env"],
            "password": values["password_env"],
            "security_token": values.get("security_token_env") or "",
            **where,
        }
    if config.auth_mode == "client credentials":
        return {
            "consumer_key": values["client_id_env"],
            "consumer_secret": values["client_secret_env"],
            **where,
        }
    return {"session_id": values["session_id_env"], "instance_url": instance_url}


def login_at_instance(
    arguments: dict[str, str], *, version: str, session: requests.Session
) -> dict[str, str]:
    """Log in at the org's own URL (simple-salesforce's Salesforce() logs in only at
    `<domain>.salesforce.com`) through simple-salesforce's login functions; the session id
    and the API host the login answers with, as Salesforce() takes them."""
    url = arguments["instance_url"]
    if "username" in arguments:
        # scratch_url is SalesforceLogin's way to post the SOAP login to a URL of our choosing
        session_id, instance = SalesforceLogin(
            username=arguments["username"],
            password=arguments["password"],
            security_token=arguments["security_token"],
            sf_version=version,
            session=session,
            scratch_url=url,
        )
    else:
        key, secret = arguments["consumer_key"], arguments["consumer_secret"]
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        session_id, instance = token_login(
            f"{url}/services/oauth2/token",
            {"grant_type": "client_credentials"},
            urlsplit(url).hostname,
            key,
            {"Authorization": f"Basic {basic}"},
            None,
            session,
        )
    return {"session_id": session_id, "instance": instance}


def unverified_certificate(error: BaseException) -> str | None:
    """ssl's reason ('self-signed certificate', ...) when `error` comes from a server
    certificate that failed verification; None for any other error."""
    pending: list[Any] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or "certificate verify failed"
        # requests and urllib3 wrap the ssl error in args, `reason`, causes and contexts
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += current.args
    return None


class SalesforceSource:
    """Reads the objects of one org. Nothing connects until a table is read.

    `session` is the transport seam: the requests session every API call goes through (the
    demo passes one that replays its org in-process; tests pass one trusting a local HTTPS
    fake). `login`, when given, is simple-salesforce's login arguments (a session id and an
    instance URL) used instead of the credential variables the config names, which are then
    not read. `bulk_poll_seconds` is how long to wait between Bulk 2.0 job status checks.
    """

    def __init__(
        self,
        config: SalesforceConfig,
        *,
        source: str,
        session: requests.Session | None = None,
        login: Mapping[str, str] | None = None,
        bulk_poll_seconds: float = 5.0,
    ) -> None:
        self.config = config
        self.owner = f"source '{source}'"
        self._session = session
        self._login = dict(login) if login is not None else None
        self._poll = bulk_poll_seconds
        self._sf: Salesforce | None = None
        self.usage = ApiUsage()
        self.org_clock = OrgClock()

    def _client(self) -> Salesforce:
        if self._sf is not None:
            return self._sf
        arguments = self._login or login_arguments(self.config, owner=self.owner)
        session = self._session or requests.Session()
        hooks = session.hooks.setdefault("response", [])
        hooks.extend([self.usage.observe, self.org_clock.observe])
        # requests waits forever unless told; simple-salesforce never tells it.
        options: dict[str, Any] = {"timeout": (self.config.connect_timeout, READ_TIMEOUT)}
        if self.config.ca_bundle:
            # Given per request: requests lets REQUESTS_CA_BUNDLE replace a session's `verify`
            # (not a request's), and the session keeps the environment's proxy settings.
            options["verify"] = self._ca_bundle()
        session.request = functools.partial(session.request, **options)
        started = time.monotonic()
        try:
            if "instance_url" in arguments and "session_id" not in arguments:
                arguments = login_at_instance(
                    arguments, version=self.config.api_version, session=session
                )
            self._sf = Salesforce(
                **arguments,
                version=self.config.api_version,
                session=session,
                parse_float=Decimal,  # currency and percent keep their exact digits
            )
        except SalesforceAuthenticationFailed as exc:
            # code and message from Salesforce (INVALID_LOGIN, ...); never the credentials
            raise SourceError(f"{self.owner}: Salesforce login failed: {exc}") from None
        except requests.RequestException as exc:
            raise self._request_error("Salesforce login", exc, started) from None
        return self._sf

    def _ca_bundle(self) -> str:
        """salesforce.ca_bundle, checked before any request so that a wrong path reads as one."""
        path = self.config.ca_bundle
        where = f"{self.owner}: salesforce.ca_bundle: {path}"
        if Path(path).is_dir():
            return path
        if not Path(path).is_file():
            raise SourceError(f"{where} does not exist; {CA_BUNDLE_EXPECTED}")
        try:
            ssl.create_default_context(cafile=path)
        except ssl.SSLError:
            raise SourceError(f"{where} holds no CA certificate; {CA_BUNDLE_EXPECTED}") from None
        except OSError as exc:
            raise SourceError(f"{where} cannot be read ({exc.strerror})") from None
        return path

    def _request_error(
        self, what: str, error: requests.RequestException, started: float
    ) -> Exception:
        """A short error: Unreachable (transient) when the API did not accept or answer the
        connection; not transient when its certificate could not be verified (a retry meets
        the same certificate). The exception's text is never used (it may carry the URL's
        session)."""
        host = urlsplit(error.request.url).netloc if error.request is not None else "Salesforce"
        reason = unverified_certificate(error)
        if reason is not None:
            trust = (
                "it is not signed by a CA in salesforce.ca_bundle"
                if self.config.ca_bundle
                else "a private CA's certificates go in salesforce.ca_bundle"
            )
            return SourceError(
                f"{self.owner}: the certificate of {host} could not be verified ({reason}); {trust}"
            )
        # urllib3 reports a TLS handshake that outlasts the connect timeout as a read timeout;
        # a real read timeout comes only after READ_TIMEOUT seconds of silence.
        handshake = time.monotonic() - started < READ_TIMEOUT
        if isinstance(error, requests.ConnectTimeout) or (
            isinstance(error, requests.Timeout) and handshake
        ):
            reason = f"no answer within {self.config.connect_timeout:g} s"
            return Unreachable(f"{self.owner}: cannot connect to {host} ({reason})")
        if isinstance(error, requests.ConnectionError):
            return Unreachable(f"{self.owner}: cannot connect to {host} ({type(error).__name__})")
        return SourceError(f"{self.owner}: {what} failed: {type(error).__name__}")

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return call()
        except (SalesforceError, SalesforceOperationError) as exc:
            raise SourceError(f"{self.owner}: {what} failed: {exc}") from None
        except requests.RequestException as exc:
            raise self._request_error(what, exc, started) from None

    def login(self) -> None:
        """Log in (a SourceError or Unreachable if that fails): what a preflight checks."""
        self._client()

    def describe_object(self, object_name: str) -> dict[str, Any]:
        """The object's describe (its fields and their types): one API request."""
        sf = self._client()
        return self._call(f"describing {object_name}", lambda: getattr(sf, object_name).describe())

    def check_floor(self, object_name: str, needed: int) -> None:
        """Stop when the org's remaining daily requests, less `needed`, are under the floor."""
        usage = self.usage
        if usage.limit is None:
            return  # the org did not report its usage; nothing to hold the floor against
        floor = self.config.floor_requests(usage.limit)
        remaining = usage.limit - usage.used
        if remaining - needed < floor:
            raise ApiFloorReached(
                f"{self.owner}, object {object_name}: the org has {remaining:,} of its "
                f"{usage.limit:,} daily API requests left; this read needs about {needed:,} and "
                f"api_floor keeps {floor:,} in reserve, so the load stopped before writing "
                "anything"
            )

    def origin(self, table: TableConfig) -> str:
        """The org as configured (its URL, or the login domain) and the object (OriginSource)."""
        org = self.config.instance_url or f"{self.config.domain}.salesforce.com"
        return f"salesforce {org} object {table.read_object}"

    def probe(self, tables: list[TableConfig]) -> dict[str, str | None]:
        """Each object's newest change, `SELECT MAX(<cursor>)` (SystemModstamp unless told
        otherwise), deleted records included: one API request per object, held against the
        API floor as every read is."""
        sf = self._client()
        versions = {}
        for table in tables:
            object_name = table.read_object
            self.check_floor(object_name, 1)
            soql = f"SELECT MAX({table.cursor}) FROM {object_name}"
            result = self._call(
                f"probing {object_name} for changes",
                lambda soql=soql: sf.query(soql, include_deleted=True),
            )
            [record] = result["records"]
            versions[table.name] = record["expr0"]
        return versions

    def read(
        self,
        table: TableConfig,
        *,
        since: Any | None = None,
        batch_rows: int,
        where: Slice | None = None,
    ) -> Extract:
        if where is not None:
            raise SourceError(f"{self.owner}: salesforce objects are not read in slices")
        sf = self._client()
        object_name = table.read_object
        requests_before = self.usage.requests
        describe = self._call(
            f"describing {object_name}", lambda: getattr(sf, object_name).describe()
        )
        began = self.org_clock.last_answer()  # the describe's: before any record is read
        self.check_floor(object_name, 1)
        where = f"{self.owner}, table '{table.name}'"
        fields = object_fields(describe, table.fields, cursor=table.cursor, where=where)
        described = next((f for f in fields if f.column == table.cursor), None)
        cursor = described.name if described else None
        # Empty cursors are read for the null_cursor policy to see them; a field no record
        # leaves empty (SystemModstamp) is not asked for them, which would make Salesforce's
        # query unselective (a null is not in its index).
        include_null = described is not None and described.nillable
        # queryAll adds the recycle bin to query: an object without IsDeleted has none.
        deleted = soft_deletable(fields)
        count_soql = build_soql(object_name, None, cursor, since, include_null=include_null)
        counted = self._call(
            f"counting {object_name}", lambda: sf.query(count_soql, include_deleted=deleted)
        )
        rows = counted["totalSize"]
        soql = build_soql(object_name, fields, cursor, since, include_null=include_null)
        # A query too long for a REST URI (an object of hundreds of fields) goes by Bulk 2.0,
        # which posts it, whatever the rows.
        bulk = rows >= self.config.bulk_threshold or not fits_rest_request(sf.base_url, soql)
        if bulk:
            needed = BULK_JOB_REQUESTS + max(1, math.ceil(rows / batch_rows))
        else:
            needed = max(1, math.ceil(rows / REST_PAGE_ROWS))
        self.check_floor(object_name, needed)

        counters: Counter = Counter()
        counters["rows_counted"] = rows
        counters["bulk_api_jobs"] = int(bulk)
        counters["deleted_records"] = 0
        read = self._bulk_batches if bulk else self._rest_batches

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from read(sf, object_name, soql, fields, batch_rows, counters, deleted)
            except FieldValueError as error:
                raise SourceError(f"{where}: object {object_name}, {error}") from None
            self.usage.report(counters, first_request=requests_before)

        self.usage.report(counters, first_request=requests_before)
        operation = "queryAll" if deleted else "query"
        path = f"Bulk API 2.0 {operation} job" if bulk else f"REST {operation}"
        return Extract(
            batches=pa.RecordBatchReader.from_batches(arrow_schema(fields), batches()),
            counters=counters,
            query=f"{soql}  -- {path}",
            snapshot=False,
            began=began,
        )

    def _rest_batches(
        self,
        sf: Salesforce,
        object_name: str,
        soql: str,
        fields: list[SalesforceField],
        batch_rows: int,
        counters: Counter,
        deleted: bool,
    ) -> Iterator[pa.RecordBatch]:
        """queryAll (query where `deleted` is false), following nextRecordsUrl page after page."""
        records = sf.query_all_iter(soql, include_deleted=deleted)
        while True:
            chunk = self._call(f"querying {object_name}", lambda: _take(records, batch_rows))
            if not chunk:
                return
            columns = {
                f.column: pa.array([text_value(r.get(f.name)) for r in chunk], pa.string())
                for f in fields
            }
            yield typed_batch(columns, fields, counters)

    def _bulk_batches(
        self,
        sf: Salesforce,
        object_name: str,
        soql: str,
        fields: list[SalesforceField],
        batch_rows: int,
        counters: Counter,
        deleted: bool,
    ) -> Iterator[pa.RecordBatch]:
        """One Bulk 2.0 queryAll job (query where `deleted` is false); its CSV result pages
        read as text, then typed."""
        job = getattr(sf.bulk2, object_name)
        run = job.query_all if deleted else job.query
        pages = run(soql, max_records=batch_rows, wait=self._poll)
        convert = pacsv.ConvertOptions(
            column_types={f.name: pa.string() for f in fields}, strings_can_be_null=False
        )
        parse = pacsv.ParseOptions(newlines_in_values=True)
        while True:
            page = self._call(f"bulk query of {object_name}", lambda: next(pages, None))
            if page is None:
                return
            if not page.strip():
                continue
            data = page.encode("utf-8")
            result = pacsv.read_csv(
                io.BytesIO(data),
                # the page in one block: a record may pass the default 1 MiB (a long text area
                # holds 131,072 characters), and no record may straddle two blocks
                read_options=pacsv.ReadOptions(block_size=max(len(data), 1 << 20)),
                parse_options=parse,
                convert_options=convert,
            )
            received = {name.lower() for name in result.column_names}
            missing = [f.name for f in fields if f.column not in received]
            if missing:
                raise SourceError(
                    f"{self.owner}: the bulk result of {object_name} lacks {', '.join(missing)}"
                )
            for batch in result.to_batches(max_chunksize=batch_rows):
                if batch.num_rows:
                    names = (n.lower() for n in batch.schema.names)
                    columns = dict(zip(names, batch.columns, strict=True))
                    yield typed_batch(columns, fields, counters)


def _take(records: Iterator[dict], count: int) -> list[dict]:
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= count:
            break
    return chunk
