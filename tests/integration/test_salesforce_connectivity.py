"""Reaching an org that is not at *.salesforce.com, behind a private CA: every login kind
goes to the configured instance_url, trusts the source's own ca_bundle whatever the process
environment says, and a certificate that cannot be verified fails once, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tributary.config.models import SalesforceConfig, TableConfig
from tributary.retry import is_transient
from tributary.sources import SourceError
from tributary.sources.salesforce import SalesforceSource

from ..salesforce_fake import FakeSalesforce, self_signed_certificate

USERNAME, PASSWORD, TOKEN = "etl@acme.example", "correct-horse-battery", "TOKEN42xyz"
CLIENT_ID, CLIENT_SECRET = "3MVG9-consumer-key", "consumer-secret-value"
LOGINS = ["password", "client credentials", "session"]
ACCOUNT = TableConfig(name="account", object="Account", primary_key=["id"], mode="full")


@pytest.fixture
def org(salesforce_fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch) -> FakeSalesforce:
    """The fake org with a user and a connected app, and a process environment whose CA
    bundle (the system's) does not trust the fake's certificate."""
    api = salesforce_fake.api
    api.logins[USERNAME] = PASSWORD + TOKEN
    api.clients[CLIENT_ID] = CLIENT_SECRET
    for name, value in {
        "SF_USER": USERNAME,
        "SF_PASSWORD": PASSWORD,
        "SF_TOKEN": TOKEN,
        "SF_CLIENT_ID": CLIENT_ID,
        "SF_CLIENT_SECRET": CLIENT_SECRET,
        "SF_SESSION": api.session_id,
    }.items():
        monkeypatch.setenv(name, value)
    system_bundle = "/etc/ssl/certs/ca-certificates.crt"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", system_bundle)
    monkeypatch.setenv("CURL_CA_BUNDLE", system_bundle)
    return salesforce_fake


def login_settings(kind: str) -> dict:
    return {
        "password": {
            "username_env": "SF_USER",
            "password_env": "SF_PASSWORD",
            "security_token_env": "SF_TOKEN",
        },
        "client credentials": {
            "client_id_env": "SF_CLIENT_ID",
            "client_secret_env": "SF_CLIENT_SECRET",
        },
        "session": {"session_id_env": "SF_SESSION"},
    }[kind]


def reader(kind: str, **settings) -> SalesforceSource:
    """The source as the platform builds it: no session handed in, so its requests meet the
    process environment (REQUESTS_CA_BUNDLE) as they would in production."""
    config = SalesforceConfig(**login_settings(kind), **settings)
    return SalesforceSource(config, source="crm", bulk_poll_seconds=0)


def login_requests(org: FakeSalesforce) -> int:
    return org.api.served_count("POST", "/services/Soap/u/") + org.api.served_count(
        "POST", "/services/oauth2/token"
    )


@pytest.mark.parametrize("kind", LOGINS)
def test_every_login_reaches_the_instance_url_trusting_the_sources_ca_bundle(org, kind) -> None:
    # bulk_threshold=1: describe and count go through the REST API, the rows through Bulk 2.0
    source = reader(kind, instance_url=org.instance_url, ca_bundle=str(org.cert), bulk_threshold=1)
    table = source.read(ACCOUNT, batch_rows=100).batches.read_all()
    assert table.num_rows == 5
    assert login_requests(org) == (0 if kind == "session" else 1)
    assert org.api.served_count("GET", "/sobjects/Account/describe") == 1
    assert org.api.served_count("POST", "/jobs/query") == 1


def test_the_instance_url_may_come_from_the_environment_for_any_login(org, monkeypatch) -> None:
    monkeypatch.setenv("SF_INSTANCE", org.instance_url)
    source = reader("password", instance_url_env="SF_INSTANCE", ca_bundle=str(org.cert))
    assert source.read(ACCOUNT, batch_rows=100).batches.read_all().num_rows == 5
    assert login_requests(org) == 1


@pytest.mark.parametrize("kind", LOGINS)
@pytest.mark.parametrize("trust", ["process bundle", "another CA"])
def test_an_unverified_certificate_names_the_host_once(org, kind, trust, tmp_path) -> None:
    settings = {"instance_url": org.instance_url}
    if trust == "another CA":
        other_ca, _ = self_signed_certificate(tmp_path)
        settings["ca_bundle"] = str(other_ca)
    source = reader(kind, **settings)
    with pytest.raises(SourceError) as raised:
        source.read(ACCOUNT, batch_rows=100)
    message = str(raised.value)
    assert message.startswith(
        f"source 'crm': the certificate of {org.api.host} could not be verified ("
    )
    assert "\n" not in message
    assert "SSLError" not in message and "Max retries" not in message
    for secret in (PASSWORD, TOKEN, CLIENT_SECRET, org.api.session_id):
        assert secret not in message
    # A retry would meet the same certificate: the error is not transient, nor Unreachable.
    assert not is_transient(raised.value)
    assert login_requests(org) == 0  # the handshake failed before any request was served
    assert "salesforce.ca_bundle" in message


def test_a_ca_bundle_that_does_not_exist_is_named(org, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    source = reader("session", instance_url=org.instance_url, ca_bundle=str(missing))
    with pytest.raises(SourceError) as raised:
        source.read(ACCOUNT, batch_rows=100)
    assert str(raised.value) == (
        f"source 'crm': salesforce.ca_bundle: {missing} does not exist; expected a PEM file "
        "of CA certificates (or a folder of them prepared with c_rehash)"
    )
    assert not is_transient(raised.value)


def test_a_ca_bundle_without_certificates_is_named(org, tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    source = reader("session", instance_url=org.instance_url, ca_bundle=str(not_pem))
    with pytest.raises(SourceError) as raised:
        source.read(ACCOUNT, batch_rows=100)
    assert str(raised.value) == (
        f"source 'crm': salesforce.ca_bundle: {not_pem} holds no CA certificate; expected a "
        "PEM file of CA certificates (or a folder of them prepared with c_rehash)"
    )
