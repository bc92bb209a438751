"""The Salesforce source against the fake org replayed in-process (no socket): types from
describe, fields and compound fields, the three ways to log in, configuration errors, and the
`_deleted` load column."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import requests
import yaml

from tributary.config.loader import ConfigError, load_project
from tributary.config.models import SalesforceConfig, TableConfig
from tributary.ingest import with_load_columns
from tributary.sources import SourceError
from tributary.sources.salesforce import OrgClock, SalesforceSource, soql_datetime
from tributary_demo.salesforce import SalesforceApi, replay_session

from ..salesforce_fake import FIXTURES

USERNAME, PASSWORD, TOKEN = "etl@acme.example", "correct-horse-battery", "TOKEN42xyz"
CLIENT_ID, CLIENT_SECRET = "3MVG9-consumer-key", "consumer-secret-value"


@pytest.fixture
def api() -> SalesforceApi:
    api = SalesforceApi.from_fixtures(FIXTURES)
    api.logins[USERNAME] = PASSWORD + TOKEN
    api.clients[CLIENT_ID] = CLIENT_SECRET
    return api


@pytest.fixture
def session_env(api: SalesforceApi, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("SF_SESSION", api.session_id)
    monkeypatch.setenv("SF_INSTANCE", f"https://{api.host}")
    return {"session_id_env": "SF_SESSION", "instance_url_env": "SF_INSTANCE"}


def source(api: SalesforceApi, **settings) -> SalesforceSource:
    return SalesforceSource(
        SalesforceConfig(**settings), source="crm", session=replay_session(api), bulk_poll_seconds=0
    )


def table(name: str, **overrides) -> TableConfig:
    settings = {"primary_key": ["id"], "cursor": "systemmodstamp", "mode": "incremental"}
    return TableConfig(name=name.lower(), object=name, **(settings | overrides))


def read(reader: SalesforceSource, config: TableConfig, **kwargs) -> pa.Table:
    return reader.read(config, batch_rows=100, **kwargs).batches.read_all()


def fixture_record(name: str, record_id: str) -> dict:
    records = json.loads((FIXTURES / f"{name}.records.json").read_text())["records"]
    return next(r for r in records if r["Id"] == record_id)


def test_types_follow_describe(api, session_env) -> None:
    result = read(source(api, **session_env), table("Account"))
    schema = {field.name: field.type for field in result.schema}
    assert schema["id"] == pa.string()
    assert schema["type"] == pa.string()  # picklist
    assert schema["annualrevenue"] == pa.decimal128(18, 0)  # currency
    assert schema["discount__c"] == pa.decimal128(5, 2)  # percent
    assert schema["score__c"] == pa.decimal128(16, 4)  # double
    assert schema["billinglatitude"] == pa.decimal128(18, 15)
    assert schema["numberofemployees"] == pa.int64()
    assert schema["active__c"] == pa.bool_()
    assert schema["customer_since__c"] == pa.date32()
    assert schema["systemmodstamp"] == pa.timestamp("us", tz="UTC")
    assert schema["_deleted"] == pa.bool_()

    rows = {row["id"]: row for row in result.to_pylist()}
    acme, globex = rows["001TEST0000000001AA"], rows["001TEST0000000002AA"]
    assert acme["annualrevenue"] == Decimal("15000000")
    assert acme["discount__c"] == Decimal("12.75")
    assert acme["score__c"] == Decimal("0.0005")
    assert acme["billinglatitude"] == Decimal("47.606209")
    assert acme["customer_since__c"] == date(2019, 4, 1)
    assert acme["systemmodstamp"] == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert acme["description"] == fixture_record("Account", acme["id"])["Description"]  # emoji
    assert acme["billingstreet"] == "1 Main St.\nSuite 100"
    assert acme["active__c"] is True and acme["_deleted"] is False
    assert globex["annualrevenue"] == Decimal("1250000000")
    assert globex["score__c"] == Decimal("12345.6789")
    assert globex["numberofemployees"] is None and globex["active__c"] is False
    assert rows["001TEST0000000003AA"]["description"] is None  # Salesforce has no empty text

    # The REST JSON wrote those doubles the Java way; exactness did not depend on luck.
    raw = (
        replay_session(api)
        .get(
            f"https://{api.host}/services/data/v62.0/query/",
            params={"q": "SELECT AnnualRevenue, Score__c FROM Account"},
            headers={"Authorization": f"Bearer {api.session_id}"},
        )
        .text
    )
    assert "1.5E7" in raw and "5.0E-4" in raw


def test_all_fields_read_compound_fields_as_their_components(api, session_env) -> None:
    columns = read(source(api, **session_env), table("Account")).column_names
    assert "billingaddress" not in columns and "hq_location__c" not in columns
    assert {"billingstreet", "billingcity", "billinglatitude", "hq_location__latitude__s",
            "hq_location__longitude__s"} <= set(columns)  # fmt: skip
    assert "isdeleted" not in columns and columns[-1] == "_deleted"


def test_listed_fields_with_a_compound_one(api, session_env) -> None:
    reader = source(api, **session_env)
    result = read(reader, table("Account", fields=["Name", "BillingAddress", "HQ_Location__c"]))
    assert result.column_names == [
        "id", "name", "billingstreet", "billingcity", "billingstate", "billingpostalcode",
        "billingcountry", "billinglatitude", "billinglongitude", "hq_location__latitude__s",
        "hq_location__longitude__s", "systemmodstamp", "_deleted",
    ]  # fmt: skip
    with pytest.raises(
        SourceError,
        match="table 'account': object Account shows no field 'Revenue' \\(named in `fields:`\\)",
    ):
        read(reader, table("Account", fields=["Name", "Revenue"]))


def test_incremental_read_selects_from_the_cursor(api, session_env) -> None:
    reader = source(api, **session_env)
    since = datetime(2024, 3, 1, 10, 10, 0, 123999, tzinfo=UTC)
    extract = reader.read(table("Account"), since=since, batch_rows=10)
    # Rounded down to Salesforce's milliseconds: never past a row. SystemModstamp is never
    # empty (describe: not nillable): not asked for empty ones, which would cost selectivity.
    assert "WHERE SystemModstamp >= 2024-03-01T10:10:00.123Z  --" in extract.query
    ids = extract.batches.read_all().column("id").to_pylist()
    assert ids == ["001TEST0000000004AA", "001TEST0000000005AA"]


def test_an_incremental_read_by_a_field_that_may_be_empty_takes_the_empty_ones(
    api, session_env
) -> None:
    """Whatever null_cursor says, which then decides what becomes of them: no later read
    (`cursor >= watermark`) would find them."""
    reader = source(api, **session_env)
    by_customer_since = table("Account", cursor="customer_since__c")
    extract = reader.read(by_customer_since, since=date(2021, 1, 1), batch_rows=10)
    assert (
        "WHERE (Customer_Since__c >= 2021-01-01 OR Customer_Since__c = null)  --" in extract.query
    )
    ids = extract.batches.read_all().column("id").to_pylist()
    assert ids == [f"001TEST000000000{i}AA" for i in (2, 3, 4, 5)]


def test_password_login_sends_password_and_token(api, monkeypatch) -> None:
    monkeypatch.setenv("SF_USER", USERNAME)
    monkeypatch.setenv("SF_PASSWORD", PASSWORD)
    monkeypatch.setenv("SF_TOKEN", TOKEN)
    settings = {
        "username_env": "SF_USER",
        "password_env": "SF_PASSWORD",
        "security_token_env": "SF_TOKEN",
    }
    result = read(source(api, **settings), table("Opportunity"))
    assert result.num_rows == 5
    assert api.served_count("POST", "/services/Soap/u/62.0") == 1

    monkeypatch.setenv("SF_PASSWORD", "wrong-password-value")
    with pytest.raises(SourceError) as failed:
        read(source(api, **settings), table("Opportunity"))
    assert "Salesforce login failed" in str(failed.value) and "INVALID_LOGIN" in str(failed.value)
    assert "wrong-password-value" not in str(failed.value) and TOKEN not in str(failed.value)


def test_oauth_client_credentials_login(api, monkeypatch) -> None:
    monkeypatch.setenv("SF_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SF_CLIENT_SECRET", CLIENT_SECRET)
    reader = source(
        api, client_id_env="SF_CLIENT_ID", client_secret_env="SF_CLIENT_SECRET", domain="acme.my"
    )
    assert read(reader, table("Opportunity")).num_rows == 5
    assert api.served_count("POST", "/services/oauth2/token") == 1


def test_missing_credential_variables_are_named_not_valued(api, monkeypatch) -> None:
    monkeypatch.setenv("SF_USER", USERNAME)
    monkeypatch.delenv("SF_PASSWORD", raising=False)
    reader = source(api, username_env="SF_USER", password_env="SF_PASSWORD")
    with pytest.raises(SourceError) as failed:
        read(reader, table("Opportunity"))
    assert "environment variable SF_PASSWORD is not set" in str(failed.value)
    assert USERNAME not in str(failed.value)
    monkeypatch.delenv("SF_TOKEN", raising=False)
    reader = source(
        api, username_env="SF_USER", password_env="SF_PASSWORD", security_token_env="SF_TOKEN"
    )
    with pytest.raises(SourceError) as failed:
        read(reader, table("Opportunity"))
    assert "environment variables SF_PASSWORD, SF_TOKEN are not set" in str(failed.value)


def test_an_instance_url_replaces_the_domain_for_every_login() -> None:
    cc = SalesforceConfig(
        client_id_env="C", client_secret_env="S", instance_url="https://acme.my.salesforce.mil/"
    )
    assert cc.instance_url == "https://acme.my.salesforce.mil"  # the origin, for URL building
    session = SalesforceConfig(session_id_env="S", instance_url="https://10.0.0.5:8443")
    assert session.instance_url == "https://10.0.0.5:8443"
    # An instance URL from the environment is named among the variables the login needs.
    password = SalesforceConfig(username_env="U", password_env="P", instance_url_env="I")
    assert password.credential_env == {
        "username_env": "U",
        "password_env": "P",
        "instance_url_env": "I",
    }


def test_an_instance_url_variable_that_is_not_a_url_is_named(api, monkeypatch) -> None:
    monkeypatch.setenv("SF_SESSION", api.session_id)
    monkeypatch.setenv("SF_INSTANCE", "acme.my.salesforce.com/secret-path")
    reader = source(api, session_id_env="SF_SESSION", instance_url_env="SF_INSTANCE")
    with pytest.raises(SourceError) as failed:
        read(reader, table("Opportunity"))
    assert str(failed.value) == (
        "source 'crm': environment variable SF_INSTANCE (named by salesforce.instance_url_env): "
        "expected an https:// URL such as https://acme.my.salesforce.com"
    )


def test_given_login_arguments_are_used_and_no_credential_variable_is_read(
    api, monkeypatch
) -> None:
    monkeypatch.delenv("SF_USER", raising=False)
    monkeypatch.delenv("SF_PASSWORD", raising=False)
    login = {"session_id": api.session_id, "instance_url": f"https://{api.host}"}
    reader = SalesforceSource(
        SalesforceConfig(username_env="SF_USER", password_env="SF_PASSWORD"),
        source="crm",
        session=replay_session(api),
        login=login,
    )
    expected = json.loads((FIXTURES / "Account.records.json").read_text())["records"]
    result = read(reader, table("Account"))
    assert sorted(result.column("id").to_pylist()) == sorted(r["Id"] for r in expected)


def test_the_source_keeps_its_deleted_flag_in_the_load_columns() -> None:
    batch = pa.RecordBatch.from_pydict(
        {"id": ["a", "b", "c"], "_deleted": [True, None, False], "name": ["x", "y", "z"]}
    )
    [out] = with_load_columns(
        pa.RecordBatchReader.from_batches(batch.schema, [batch]),
        load_id="L1",
        extracted_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert out.schema.names == ["id", "name", "_load_id", "_extracted_at", "_deleted", "_load_row"]
    assert out.column("_deleted").to_pylist() == [True, False, False]


# --- configuration ----------------------------------------------------------------------


def write_salesforce(config_dir: Path, **overrides) -> None:
    source = {
        "name": "crm",
        "kind": "salesforce",
        "salesforce": {"username_env": "SF_USER", "password_env": "SF_PASSWORD"},
        "tables": [{"name": "account", "object": "Account"}],
    }
    source.update(overrides)
    (config_dir / "sources" / "crm.yaml").write_text(yaml.safe_dump(source))


def test_salesforce_tables_default_to_id_systemmodstamp_incremental(config_dir) -> None:
    write_salesforce(config_dir)
    [account] = load_project(config_dir).source("crm").tables
    assert (account.primary_key, account.cursor, account.mode) == (
        ["id"],
        "systemmodstamp",
        "incremental",
    )
    assert account.lookback.total_seconds() == 300


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"salesforce": {"username_env": "SF_USER", "password": "hunter2-literal"}},
            "salesforce: 'password' is a literal secret; expected the name of an environment "
            "variable in 'password_env'",
        ),
        (
            {"salesforce": {"username_env": "SF_USER", "password_env": "hunter2-literal"}},
            "salesforce.password_env: String should match pattern",
        ),
        (
            {
                "salesforce": {
                    "username_env": "U",
                    "password_env": "P",
                    "session_id_env": "S",
                    "instance_url_env": "I",
                }
            },
            "expected exactly one way to log in (found password and session)",
        ),
        (
            {"salesforce": {"client_id_env": "C", "client_secret_env": "S"}},
            "OAuth client credentials need your My Domain in 'domain'",
        ),
        (
            {"salesforce": {"session_id_env": "S"}},
            "session login also needs 'instance_url' or 'instance_url_env'",
        ),
        (
            {"salesforce": {"session_id_env": "S", "instance_url": "http://acme.example"}},
            "salesforce.instance_url: expected an https:// URL such as "
            "https://acme.my.salesforce.com",
        ),
        (
            {"salesforce": {"session_id_env": "S", "instance_url": "acme.my.salesforce.com"}},
            "salesforce.instance_url: expected an https:// URL",
        ),
        (
            {
                "salesforce": {
                    "session_id_env": "S",
                    "instance_url": "https://acme.my.salesforce.com/services/data",
                }
            },
            "salesforce.instance_url: expected the org's URL without a path",
        ),
        (
            {
                "salesforce": {
                    "session_id_env": "S",
                    "instance_url": "https://etl:hunter2-literal@acme.my.salesforce.com",
                }
            },
            "salesforce.instance_url: the URL holds credentials; expected only the org's host",
        ),
        (
            {
                "salesforce": {
                    "session_id_env": "S",
                    "instance_url": "https://acme.my.salesforce.com",
                    "instance_url_env": "I",
                }
            },
            "salesforce: expected 'instance_url' or 'instance_url_env', not both",
        ),
        (
            {
                "salesforce": {
                    "username_env": "U",
                    "password_env": "P",
                    "instance_url": "https://acme.my.salesforce.com",
                    "domain": "test",
                }
            },
            "salesforce: 'domain' and 'instance_url' both say where to log in; expected one",
        ),
        (
            {"salesforce": {"username_env": "U", "password_env": "P", "ca_bundle": "ca.pem"}},
            "salesforce.ca_bundle: expected an absolute path to a PEM file of CA certificates",
        ),
        (
            {"salesforce": {"username_env": "U", "password_env": "P", "api_floor": "ten"}},
            "salesforce.api_floor",
        ),
        (
            # The demo's replay is the demo package's (its sources resource), not configuration.
            {"salesforce": {"username_env": "U", "password_env": "P", "replay": "demo"}},
            "salesforce.replay: unknown key",
        ),
        (
            {"connection": {"url_env": "CRM_URL"}},
            "connection: a salesforce source is configured under 'salesforce:'",
        ),
        (
            {"tables": [{"name": "account", "query": "SELECT Id FROM Account"}]},
            "table 'account': 'query' does not apply to salesforce objects",
        ),
        (
            {"tables": [{"name": "account", "object": "Account", "primary_key": ["name"]}]},
            "table 'account': a Salesforce object's primary key is Id",
        ),
    ],
    ids=[
        "literal-password",
        "secret-in-env-name",
        "two-logins",
        "client-credentials-domain",
        "half-a-login",
        "instance-url-http",
        "instance-url-bare-host",
        "instance-url-path",
        "instance-url-credentials",
        "instance-url-twice",
        "instance-url-and-domain",
        "ca-bundle-relative",
        "api-floor",
        "replay",
        "connection",
        "query",
        "primary-key",
    ],
)
def test_salesforce_config_errors(config_dir, overrides, expected) -> None:
    write_salesforce(config_dir, **overrides)
    with pytest.raises(ConfigError) as raised:
        load_project(config_dir)
    message = str(raised.value)
    assert "sources/crm.yaml: " in message
    assert expected in message
    assert "hunter2-literal" not in message


def test_fields_apply_to_salesforce_only(config_dir) -> None:
    (config_dir / "sources" / "shop.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "shop",
                "kind": "mysql",
                "connection": {"url_env": "SHOP_URL"},
                "tables": [{"name": "orders", "fields": ["id"]}],
            }
        )
    )
    with pytest.raises(ConfigError, match="table 'orders': 'fields' applies to salesforce"):
        load_project(config_dir)


def test_soql_datetime_literals_are_utc_to_the_millisecond() -> None:
    """A watermark without a zone is UTC (as the landing's are); one with a zone is converted;
    microseconds round down, so the literal never skips a row Salesforce stores in ms."""
    assert soql_datetime(datetime(2024, 5, 1, 12, 0, 0, 999_999)) == "2024-05-01T12:00:00.999Z"
    cest = timezone(timedelta(hours=2))
    assert soql_datetime(datetime(2024, 5, 1, 1, 30, tzinfo=cest)) == "2024-04-30T23:30:00.000Z"
    assert soql_datetime(datetime(2024, 5, 1, tzinfo=UTC)) == "2024-05-01T00:00:00.000Z"


@pytest.mark.parametrize("settings", [{}, {"bulk_threshold": 1}], ids=["rest", "bulk"])
def test_a_record_larger_than_a_csv_block_reads_whole(api, session_env, settings) -> None:
    # Long text areas hold up to 131,072 characters each. Before: a Bulk 2.0 row past Arrow's
    # 1 MiB CSV block failed with its bare "straddling object straddles two block
    # boundaries", naming nothing (REST read it).
    def field(name: str, kind: str) -> dict:
        return {"name": name, "label": name, "type": kind, "precision": 0, "scale": 0,
                "nillable": True, "compoundFieldName": None, "length": 131072}  # fmt: skip

    longs = [f"Long{i}__c" for i in range(12)]
    text = "é\n" * 65536  # 131,072 characters, 196,608 bytes, a line break in every other one
    describe = [field("Id", "id"), field("IsDeleted", "boolean"), field("SystemModstamp",
                "datetime"), *(field(n, "textarea") for n in longs)]  # fmt: skip
    stamp = "2024-03-01T10:00:00.000Z"
    api.add_object(
        {"name": "Big__c", "fields": describe},
        [{"Id": "a00000000000001AAA", "SystemModstamp": stamp, **dict.fromkeys(longs, text)},
         {"Id": "a00000000000002AAA", "SystemModstamp": stamp}],
    )  # fmt: skip
    rows = read(source(api, **session_env, **settings), table("Big__c")).to_pylist()
    assert [row["id"] for row in rows] == ["a00000000000001AAA", "a00000000000002AAA"]
    assert all(rows[0][name.lower()] == text for name in longs)
    assert rows[1]["long0__c"] is None


@pytest.mark.parametrize(
    ("date_header", "told"),
    [
        ("Sun, 06 Dec 2026 21:49:42 GMT", datetime(2026, 12, 6, 21, 49, 42, tzinfo=UTC)),
        ("Sun, 06 Dec 2026 22:49:42 +0100", datetime(2026, 12, 6, 21, 49, 42, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_the_orgs_clock_is_its_latest_answers_date(date_header, told):
    """A Date the org's answer states is its time; an answer with none, or with one that is no
    HTTP date, leaves this machine's clock to bound the read (not an earlier answer's time)."""
    clock = OrgClock()
    earlier = requests.Response()
    earlier.headers["Date"] = "Sat, 05 Dec 2026 10:00:00 GMT"
    clock.observe(earlier)
    answer = requests.Response()
    if date_header is not None:
        answer.headers["Date"] = date_header
    clock.observe(answer)
    assert clock.answered_at == told
    assert (clock.last_answer() and clock.last_answer().instant) == told
