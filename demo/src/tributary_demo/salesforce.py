"""An in-memory Salesforce org speaking the REST API's shape, fed from JSON fixtures.

`make demo` reads the demo org through `replay_session()` (the demo's sources resource gives
it to the Salesforce source): a requests session whose transport answers every request from
this emulator, in-process. The Salesforce source runs its whole
real code path (simple-salesforce, describe, queryAll paging, Bulk 2.0 jobs, the limits
header) with no network and no server. The tests serve the same emulator over HTTPS on
127.0.0.1 (tests/salesforce_fake.py), so the HTTP layer is exercised too.

Fixtures, per object: `<Object>.describe.json` (describe's shape, trimmed to the keys used)
and `<Object>.records.json` (`{"records": [...]}`, values by field API name; a compound
field's value is built from its components, as Salesforce does).

Served:
- POST /services/Soap/u/<v>                 SOAP login: username, password + security token
- POST /services/oauth2/token               OAuth 2.0 client credentials
- GET  /services/data/v<v>/sobjects/<O>/describe/
- GET  /services/data/v<v>/query/?q=...     and queryAll/ (deleted records too):
                                            SELECT <fields> | COUNT() | MAX(<f>) FROM <O>
                                            [WHERE <field> <op> <literal> [AND ...]],
                                            a condition also `(<c> OR <c> ...)`,
                                            paged through nextRecordsUrl
- POST /services/data/v<v>/jobs/query       a Bulk 2.0 query or queryAll job
- GET  /services/data/v<v>/jobs/query/<id>  InProgress on the first poll, then JobComplete
- GET  .../jobs/query/<id>/results?maxRecords=&locator=   CSV pages (Sforce-Locator)
Every /services/data response carries `Sforce-Limit-Info: api-usage=<used>/<limit>` and
counts as one API request. Anything else is answered the way Salesforce answers it (401
INVALID_SESSION_ID, 400 INVALID_FIELD / MALFORMED_QUERY, 404 NOT_FOUND).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit
from xml.etree import ElementTree

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

DEMO_FIXTURES = Path(__file__).parent / "salesforce_fixtures"
REPLAY_HOST = "demo.my.salesforce.com"
# How the source logs in to the replay: a session id and the instance URL, no secret.
REPLAY_LOGIN = {"session_id": "00DDEMO000000001!replay", "instance_url": f"https://{REPLAY_HOST}"}

NUMBER_TYPES = {"double", "currency", "percent"}
COMPOUND_TYPES = {"address", "location"}
SOQL = re.compile(
    r"^\s*SELECT\s+(?P<select>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
AGGREGATE_MAX = re.compile(r"^MAX\(\s*(?P<field>\w+)\s*\)$", re.IGNORECASE)
CONDITION = re.compile(r"^\s*(?P<field>\w+)\s*(?P<op>>=|<=|!=|=|>|<)\s*(?P<literal>.+?)\s*$")
DATETIME_LITERAL = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$"
)
DATE_LITERAL = re.compile(r"^\d{4}-\d{2}-\d{2}$")
OPERATORS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a is not None and a > b,
    ">=": lambda a, b: a is not None and a >= b,
    "<": lambda a, b: a is not None and a < b,
    "<=": lambda a, b: a is not None and a <= b,
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Query:
    object_name: str
    fields: list[dict[str, Any]] | None  # describe entries; None for COUNT() and MAX()
    # each a condition or, from `(a OR b)`, its alternatives: (field, operator, value) each
    conditions: list[list[tuple[str, str, Any]]]
    maximum: str | None = None  # MAX(<field>): the field's name


@dataclass
class BulkJob:
    id: str
    operation: str
    object_name: str
    header: list[str]
    rows: list[list[str | None]]
    polls: int = 0


@dataclass
class SalesforceApi:
    """The org: describes and records per object, users and connected apps that may log in,
    the daily API allocation. Tests change records with `upsert` and `delete`."""

    host: str = REPLAY_HOST
    session_id: str = REPLAY_LOGIN["session_id"]
    api_used: int = 0
    api_limit: int = 15_000
    page_size: int = 2000  # REST records per page; Sforce-Query-Options batchSize lowers it
    logins: dict[str, str] = field(default_factory=dict)  # username -> password + token
    clients: dict[str, str] = field(default_factory=dict)  # consumer key -> secret
    served: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of requests
    describes: dict[str, dict] = field(default_factory=dict)  # lower object name -> describe
    records: dict[str, dict[str, dict]] = field(default_factory=dict)  # object -> Id -> record
    # The org's clock against this machine's (tests play a machine whose clock runs ahead), as
    # every answer's Date header tells it; `dated` False: no Date (a proxy that drops it).
    clock_offset: timedelta = timedelta(0)
    dated: bool = True

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._cursors: dict[str, list[dict]] = {}
        self._jobs: dict[str, BulkJob] = {}

    @classmethod
    def from_fixtures(cls, folder: Path, **settings: Any) -> SalesforceApi:
        api = cls(**settings)
        for path in sorted(folder.glob("*.describe.json")):
            describe = json.loads(path.read_text())
            records_file = path.with_name(path.name.replace(".describe.", ".records."))
            records = []
            if records_file.exists():
                records = json.loads(records_file.read_text(), parse_float=Decimal)["records"]
            api.add_object(describe, records)
        return api

    # --- what tests do to the org ------------------------------------------------------
    def add_object(self, describe: dict, records: list[dict]) -> None:
        name = describe["name"]
        self.describes[name.lower()] = describe
        self.records[name] = {}
        for record in records:
            self.upsert(name, record)

    def upsert(self, object_name: str, record: Mapping[str, Any]) -> dict:
        """Create or update a record by Id; fields not given keep their values. A new record
        of an object with IsDeleted (one with a recycle bin) starts not deleted."""
        with self._lock:
            described = self.describes[object_name.lower()]["fields"]
            soft = any(f["name"] == "IsDeleted" for f in described)
            stored = self.records[object_name].setdefault(
                record["Id"], {"IsDeleted": False} if soft else {}
            )
            stored.update(record)
            return stored

    def delete(self, object_name: str, record_id: str, *, at: str) -> None:
        """Move a record to the recycle bin at `at` (its new SystemModstamp)."""
        self.upsert(object_name, {"Id": record_id, "IsDeleted": True, "SystemModstamp": at})

    def served_count(self, method: str, path_part: str) -> int:
        return sum(1 for m, p in self.served if m == method and path_part in p)

    # --- HTTP --------------------------------------------------------------------------
    def handle(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Answer:
        parts = urlsplit(url)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        headers = CaseInsensitiveDict(headers)
        with self._lock:
            self.served.append((method, parts.path))
            try:
                if parts.path.startswith("/services/data/"):
                    _within_request_limits(parts, headers)
                if parts.path.startswith("/services/Soap/u/"):
                    return self._soap_login(body)
                if parts.path == "/services/oauth2/token":
                    return self._client_credentials(headers, body)
                if parts.path.startswith("/services/data/"):
                    self.api_used += 1
                    answer = self._data(method, parts.path, params, headers, body)
                else:
                    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            except ApiError as error:
                answer = _json_answer(error.status, [
                    {"message": error.message, "errorCode": error.code}
                ])  # fmt: skip
            if parts.path.startswith("/services/data/"):
                answer.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_limit}"
            if self.dated:
                answer.headers["Date"] = format_datetime(self.now(), usegmt=True)
            return answer

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def _soap_login(self, body: bytes) -> Answer:
        tree = ElementTree.fromstring(body)
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in tree.iter()}
        username, password = values.get("username"), values.get("password")
        if username is None or self.logins.get(username) != password:
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
                "<faultcode>sf:INVALID_LOGIN</faultcode><detail><sf:LoginFault>"
                "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>"
                "Invalid username, password, security token; or user locked out."
                "</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
                "</soapenv:Body></soapenv:Envelope>"
            )
            return Answer(500, {"Content-Type": "text/xml"}, fault.encode())
        version = "62.0"
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
            f"<serverUrl>https://{self.host}/services/Soap/u/{version}/00DDEMO</serverUrl>"
            f"<sessionId>{self.session_id}</sessionId>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Answer(200, {"Content-Type": "text/xml"}, envelope.encode())

    def _client_credentials(self, headers: Mapping[str, str], body: bytes) -> Answer:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        scheme, _, encoded = headers.get("Authorization", "").partition(" ")
        key, _, secret = base64.b64decode(encoded or b"").decode().partition(":")
        if (
            form.get("grant_type") != "client_credentials"
            or scheme != "Basic"
            or self.clients.get(key) != secret
        ):
            return _json_answer(
                400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
        return _json_answer(
            200,
            {
                "access_token": self.session_id,
                "instance_url": f"https://{self.host}",
                "token_type": "Bearer",
            },
        )

    def _data(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Answer:
        if headers.get("Authorization") != f"Bearer {self.session_id}":
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        match = re.match(r"^/services/data/v(?P<version>\d+\.\d)/(?P<rest>.*?)/?$", path)
        if not match:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = match["version"], match["rest"]
        route = rest.split("/")
        if len(route) == 3 and route[0] == "sobjects" and route[2] == "describe":
            return _json_answer(200, self._describe(route[1]))
        if route[0] in ("query", "queryAll") and method == "GET":
            if len(route) == 1:
                return self._query(version, route[0], params.get("q", ""), headers)
            if len(route) == 2:
                return self._query_more(version, route[0], route[1])
        if route[:2] == ["jobs", "query"]:
            if len(route) == 2 and method == "POST":
                return self._create_job(json.loads(body))
            if len(route) == 3 and method == "GET":
                return self._job_info(route[2])
            if len(route) == 4 and route[3] == "results" and method == "GET":
                return self._job_results(route[2], params)
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    # --- describe and SOQL ---------------------------------------------------------------
    def _describe(self, object_name: str) -> dict:
        describe = self.describes.get(object_name.lower())
        if describe is None:
            raise ApiError(
                404, "NOT_FOUND", f"The requested resource does not exist: {object_name}"
            )
        return describe

    def _parse(self, soql: str) -> Query:
        match = SOQL.match(soql)
        if not match:
            raise ApiError(400, "MALFORMED_QUERY", f"unexpected SOQL: {soql}")
        describe = self.describes.get(match["object"].lower())
        if describe is None:
            raise ApiError(
                400, "INVALID_TYPE", f"sObject type '{match['object']}' is not supported."
            )
        by_name = {f["name"].lower(): f for f in describe["fields"]}

        def field_named(name: str) -> dict:
            found = by_name.get(name.strip().lower())
            if found is None:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name.strip()}' on entity '{describe['name']}'.",
                )
            return found

        select = match["select"].strip()
        maximum = AGGREGATE_MAX.match(select)
        fields = (
            None
            if select.upper() == "COUNT()" or maximum
            else [field_named(n) for n in select.split(",")]
        )
        conditions = []
        if match["where"]:
            for part in re.split(r"\s+AND\s+", match["where"], flags=re.IGNORECASE):
                grouped = re.fullmatch(r"\s*\((.+)\)\s*", part, flags=re.DOTALL)
                texts = (
                    re.split(r"\s+OR\s+", grouped[1], flags=re.IGNORECASE) if grouped else [part]
                )
                alternatives = []
                for text in texts:
                    condition = CONDITION.match(text)
                    if not condition:
                        raise ApiError(400, "MALFORMED_QUERY", f"unexpected condition: {part}")
                    described = field_named(condition["field"])
                    literal = _literal(condition["literal"])
                    alternatives.append((described["name"], condition["op"], literal))
                conditions.append(alternatives)
        return Query(
            describe["name"],
            fields,
            conditions,
            maximum=field_named(maximum["field"])["name"] if maximum else None,
        )

    def _matching(self, query: Query, include_deleted: bool) -> list[dict]:
        describe = self.describes[query.object_name.lower()]
        types = {f["name"]: f["type"] for f in describe["fields"]}
        rows = []
        for record_id in sorted(self.records[query.object_name]):
            record = self.records[query.object_name][record_id]
            if record.get("IsDeleted") and not include_deleted:
                continue
            if all(
                any(
                    OPERATORS[op](_comparable(record.get(name), types[name]), value)
                    for name, op, value in alternatives
                )
                for alternatives in query.conditions
            ):
                rows.append(record)
        return rows

    def _query(self, version: str, endpoint: str, soql: str, headers: Mapping[str, str]) -> Answer:
        query = self._parse(soql)
        rows = self._matching(query, include_deleted=endpoint == "queryAll")
        if query.maximum is not None:
            # An aggregate query answers one AggregateResult record, its value as expr0.
            values = [row[query.maximum] for row in rows if row.get(query.maximum) is not None]
            record = {"attributes": {"type": "AggregateResult"}, "expr0": max(values, default=None)}
            return _json_answer(200, {"totalSize": 1, "done": True, "records": [record]})
        if query.fields is None:
            return _json_answer(200, {"totalSize": len(rows), "done": True, "records": []})
        rendered = [self._rest_record(version, query, row) for row in rows]
        size = self.page_size
        options = re.search(r"batchSize=(\d+)", headers.get("Sforce-Query-Options", ""))
        if options:
            size = min(size, int(options.group(1)))
        cursor = f"01gDEMO{next(self._ids):011d}"
        self._cursors[cursor] = rendered
        return self._page(version, endpoint, cursor, 0, size)

    def _query_more(self, version: str, endpoint: str, locator: str) -> Answer:
        cursor, _, offset = locator.rpartition("-")
        if cursor not in self._cursors or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, endpoint, cursor, int(offset), self.page_size)

    def _page(self, version: str, endpoint: str, cursor: str, offset: int, size: int) -> Answer:
        rendered = self._cursors[cursor]
        page = rendered[offset : offset + size]
        result: dict[str, Any] = {
            "totalSize": len(rendered),
            "done": offset + size >= len(rendered),
            "records": page,
        }
        if not result["done"]:
            result["nextRecordsUrl"] = (
                f"/services/data/v{version}/{endpoint}/{cursor}-{offset + size}"
            )
        return _json_answer(200, result)

    def _rest_record(self, version: str, query: Query, record: dict) -> dict:
        describe = self.describes[query.object_name.lower()]
        rendered: dict[str, Any] = {
            "attributes": {
                "type": query.object_name,
                "url": f"/services/data/v{version}/sobjects/{query.object_name}/{record['Id']}",
            }
        }
        for described in query.fields or []:
            name, kind = described["name"], described["type"]
            if kind in COMPOUND_TYPES:
                rendered[name] = _compound(describe, name, record)
            else:
                rendered[name] = _rest_value(record.get(name), kind)
        return rendered

    # --- Bulk API 2.0 --------------------------------------------------------------------
    def _create_job(self, payload: dict) -> Answer:
        operation = payload.get("operation")
        if operation not in ("query", "queryAll"):
            raise ApiError(400, "INVALIDJOB", f"unsupported operation {operation!r}")
        query = self._parse(payload.get("query", ""))
        if query.fields is None:
            raise ApiError(400, "API_ERROR", "Aggregate queries are not supported in Bulk Query")
        if any(f["type"] in COMPOUND_TYPES for f in query.fields):
            raise ApiError(400, "API_ERROR", "Selecting compound data not supported in Bulk Query")
        rows = self._matching(query, include_deleted=operation == "queryAll")
        job = BulkJob(
            id=f"750DEMO{next(self._ids):011d}",
            operation=operation,
            object_name=query.object_name,
            header=[f["name"] for f in query.fields],
            rows=[
                [_csv_value(row.get(f["name"]), f["type"]) for f in query.fields] for row in rows
            ],
        )
        self._jobs[job.id] = job
        return _json_answer(200, self._job_json(job, "UploadComplete"))

    def _job_json(self, job: BulkJob, state: str) -> dict:
        return {
            "id": job.id,
            "operation": job.operation,
            "object": job.object_name,
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "numberRecordsProcessed": len(job.rows) if state == "JobComplete" else 0,
        }

    def _job(self, job_id: str) -> BulkJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "NOT_FOUND", f"Job {job_id} does not exist")
        return job

    def _job_info(self, job_id: str) -> Answer:
        job = self._job(job_id)
        job.polls += 1
        return _json_answer(
            200, self._job_json(job, "InProgress" if job.polls == 1 else "JobComplete")
        )

    def _job_results(self, job_id: str, params: dict[str, str]) -> Answer:
        job = self._job(job_id)
        if job.polls < 2:
            raise ApiError(400, "INVALIDJOBSTATE", "the job is not complete yet")
        offset = int(params.get("locator") or 0)
        size = int(params.get("maxRecords") or 50_000)
        page = job.rows[offset : offset + size]
        lines = [",".join(_csv_cell(name) for name in job.header)]
        lines += [",".join(_csv_cell(value) for value in row) for row in page]
        following = offset + size
        return Answer(
            200,
            {
                "Content-Type": "text/csv",
                "Sforce-NumberOfRecords": str(len(page)),
                "Sforce-Locator": str(following) if following < len(job.rows) else "null",
            },
            ("\n".join(lines) + "\n").encode(),
        )


# Salesforce's REST API: "the maximum length for the combined URI and headers is 16,384
# bytes" (Knowledge article 000386264), a longer URI is answered 414, longer headers 431.
REQUEST_LIMIT_BYTES = 16_384


def _within_request_limits(parts: SplitResult, headers: Mapping[str, str]) -> None:
    uri = len(parts.path) + (len(parts.query) + 1 if parts.query else 0)
    if uri > REQUEST_LIMIT_BYTES:
        raise ApiError(414, "URI_TOO_LONG", "URI Too Long")
    header_bytes = sum(len(name) + len(value) + 4 for name, value in headers.items())
    if uri + header_bytes > REQUEST_LIMIT_BYTES:
        raise ApiError(431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "Request Header Fields Too Large")


def _json_answer(status: int, payload: Any) -> Answer:
    return Answer(status, {"Content-Type": "application/json"}, _dumps(payload).encode())


def _dumps(value: Any) -> str:
    """JSON with Decimals written as numbers, the way Salesforce (Java) writes doubles."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return _java_double(value)
    return json.dumps(value)


def _java_double(value: Decimal) -> str:
    """Java's Double.toString: 1500.5, 100.0, and 1.5E7 from ten million up."""
    if value == 0 or Decimal("0.001") <= abs(value) < Decimal(10_000_000):
        text = format(value.normalize(), "f")
        return text if "." in text else f"{text}.0"
    sign, digits, exponent = value.normalize().as_tuple()
    mantissa = f"{digits[0]}." + ("".join(map(str, digits[1:])) or "0")
    return f"{'-' if sign else ''}{mantissa}E{exponent + len(digits) - 1}"


def _parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _comparable(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return _parse_datetime(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind in NUMBER_TYPES:
        return Decimal(str(value))
    return value


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("\\'", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    if DATETIME_LITERAL.match(text):
        return _parse_datetime(text)
    if DATE_LITERAL.match(text):
        return date.fromisoformat(text)
    try:
        return Decimal(text)
    except ArithmeticError:
        raise ApiError(400, "MALFORMED_QUERY", f"unexpected literal: {text}") from None


def _rest_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind in NUMBER_TYPES:
        return Decimal(str(value))
    if kind == "datetime":
        moment = _parse_datetime(value)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"
    return value


def _csv_value(value: Any, kind: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind in NUMBER_TYPES:
        return format(Decimal(str(value)), "f")
    if kind == "datetime":
        moment = _parse_datetime(value)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    return str(value)


def _csv_cell(value: str | None) -> str:
    """Bulk 2.0 CSV: every value quoted, NULL left empty."""
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def _compound(describe: dict, compound: str, record: dict) -> dict | None:
    """An address or geolocation as REST nests it: {street, city, ...} / {latitude, longitude}."""
    prefix = re.sub(r"(Address|__c)$", "", compound)
    value = {}
    for described in describe["fields"]:
        if described.get("compoundFieldName") == compound:
            name = described["name"]
            key = name.removeprefix(prefix).removeprefix("__").removesuffix("__s")
            value[key[0].lower() + key[1:]] = _rest_value(record.get(name), described["type"])
    return value if any(v is not None for v in value.values()) else None


class ReplayAdapter(BaseAdapter):
    """A requests transport that answers from a SalesforceApi, in-process."""

    def __init__(self, api: SalesforceApi) -> None:
        super().__init__()
        self.api = api

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body or b""
        answer = self.api.handle(
            request.method or "GET",
            request.url or "",
            dict(request.headers),
            body.encode() if isinstance(body, str) else body,
        )
        response = requests.Response()
        response.status_code = answer.status
        response.reason = HTTPStatus(answer.status).phrase
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.body
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def replay_session(api: SalesforceApi | None = None) -> requests.Session:
    """A requests session answered by `api` (by default, the demo org) with no network."""
    session = requests.Session()
    session.trust_env = False
    adapter = ReplayAdapter(api or SalesforceApi.from_fixtures(DEMO_FIXTURES))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
