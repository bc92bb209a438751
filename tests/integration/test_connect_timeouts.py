"""A source or warehouse that is down fails each attempt within its connect timeout, with one
short error naming who connects and where (never the password), classified as transient so
that Dagster retries it.

"Down" is both a refused port (nothing listening) and a host that accepts TCP connections but
never answers (a listener on 127.0.0.1 that reads nothing and writes nothing).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pytest
import requests

from tributary.config.common import ConnectionConfig
from tributary.config.loader import load_project
from tributary.config.models import SalesforceConfig, SourceConfig, TableConfig
from tributary.connection import secret_forms
from tributary.defs import build_definitions
from tributary.retry import is_transient
from tributary.sources import open_source
from tributary.sources.salesforce import SalesforceSource
from tributary.warehouse.registry import WAREHOUSE_SETTINGS

from ..conftest import PROJECT_ROOT, free_port
from ..unit.test_automation import edit_yaml

PASSWORD = "Pw s3cret+@/%:#"
URL_ENV = "TRIBUTARY_TEST_DOWN_URL"
TIMEOUT = 1.0
APP_COMPANIES = dg.AssetKey(["raw", "app", "companies"])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in [*accepted, listener]:
            connection.close()


def down_url(scheme: str, port: int) -> str:
    return f"{scheme}://reader:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/app"


def assert_concise_transient(error: BaseException, owner: str, port: int) -> None:
    message = str(error)
    assert message.startswith(f"{owner}: cannot connect to 127.0.0.1:{port} (")
    assert "\n" not in message
    assert not any(form in message for form in secret_forms(PASSWORD))
    assert is_transient(error)


def read_source(kind: str, scheme: str, port: int, monkeypatch: pytest.MonkeyPatch) -> Exception:
    monkeypatch.setenv(URL_ENV, down_url(scheme, port))
    source = SourceConfig(
        name="shop",
        kind=kind,
        connection=ConnectionConfig(url_env=URL_ENV, connect_timeout=TIMEOUT),
        tables=[TableConfig(name="orders", primary_key=["id"], mode="full")],
    )
    reader = open_source(source, state_dir=Path("."))
    with pytest.raises(Exception) as raised:
        reader.read(source.tables[0], batch_rows=1000)
    return raised.value


@pytest.mark.parametrize(("kind", "scheme"), [("mysql", "mysql"), ("postgres", "postgresql")])
def test_source_on_a_refused_port_fails_at_once(kind, scheme, monkeypatch) -> None:
    port = free_port()  # nothing listens on it
    started = time.monotonic()
    error = read_source(kind, scheme, port, monkeypatch)
    assert time.monotonic() - started < 10 * TIMEOUT  # bounded (connectorx alone: 30 s)
    assert_concise_transient(error, "source 'shop'", port)
    assert "connection refused" in str(error)


@pytest.mark.parametrize(("kind", "scheme"), [("mysql", "mysql"), ("postgres", "postgresql")])
def test_source_that_never_answers_fails_within_its_timeout(
    kind, scheme, silent_port, monkeypatch
) -> None:
    started = time.monotonic()
    error = read_source(kind, scheme, silent_port, monkeypatch)
    assert time.monotonic() - started < 10 * TIMEOUT  # bounded (connectorx alone: 30 s)
    assert_concise_transient(error, "source 'shop'", silent_port)
    assert f"no answer within {TIMEOUT:g} s" in str(error)


@pytest.mark.parametrize("target", ["postgres", "redshift"])
def test_warehouse_that_never_answers_fails_within_its_timeout(
    target, silent_port, monkeypatch
) -> None:
    monkeypatch.setenv(URL_ENV, down_url("postgresql", silent_port))
    connection = ConnectionConfig(url_env=URL_ENV, connect_timeout=TIMEOUT)
    arn = "arn:aws:iam::123456789012:role/copy"
    backend = WAREHOUSE_SETTINGS.validate_python(
        {"target": target, "connection": connection, "iam_role": arn}
        if target == "redshift"
        else {"target": target, "connection": connection}
    )
    warehouse = backend.open()
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        warehouse.query("select 1")
    assert time.monotonic() - started < 10 * TIMEOUT  # bounded (psycopg alone: 130 s)
    assert f"no answer within {TIMEOUT:g} s" in str(raised.value)
    assert_concise_transient(raised.value, "warehouse", silent_port)


def test_down_source_is_tried_three_times_with_one_line_each(
    config_dir: Path, state_dir: Path, monkeypatch, capfd
) -> None:
    """Through Dagster with the default 3 attempts: each fails at once with one line."""
    port = free_port()
    monkeypatch.setenv("TRIBUTARY_APP_URL", down_url("mysql", port))
    edit_yaml(
        config_dir / "sources" / "app.yaml",
        lambda d: d["connection"].update(connect_timeout=TIMEOUT),
    )
    edit_yaml(
        config_dir / "platform.yaml",
        lambda d: d.update(automation={"retries": {"delay_seconds": 0.05}}),
    )
    project = load_project(config_dir)
    assert project.platform.automation.retries.attempts == 3  # the default

    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    started = time.monotonic()
    result = job.execute_in_process(
        asset_selection=[APP_COMPANIES], instance=instance, raise_on_error=False
    )
    elapsed = time.monotonic() - started

    assert not result.success
    retries = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert len(retries) == 2
    expected = f"source 'app': cannot connect to 127.0.0.1:{port} (connection refused after 0.0 s)"
    # One warning per retried attempt (the error in one line), and the step's failure.
    warnings = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.dagster_event is None and "cannot connect" in entry.user_message
    ]
    assert [w.split(": ", 1)[1] for w in warnings] == [expected, expected]
    [failure] = [e.event_specific_data.error for e in result.all_events if e.is_step_failure]
    assert failure.cause.message.strip() == f"tributary.errors.Unreachable: {expected}"
    output = capfd.readouterr()
    assert "r2d2" not in output.err + output.out  # connectorx's pool never retried on its own
    for text in [*warnings, failure.to_string(), output.err, output.out]:
        assert not any(form in text for form in secret_forms(PASSWORD))
    assert elapsed < 60  # bounded: connectorx's pool alone took 30 s per attempt


def test_salesforce_that_never_answers_fails_within_its_timeout(silent_port, monkeypatch) -> None:
    monkeypatch.setenv("SF_SESSION", PASSWORD)
    monkeypatch.setenv("SF_INSTANCE", f"https://127.0.0.1:{silent_port}")
    config = SalesforceConfig(
        session_id_env="SF_SESSION", instance_url_env="SF_INSTANCE", connect_timeout=TIMEOUT
    )
    session = requests.Session()
    session.trust_env = False  # this machine's proxy and CA settings are not the test's
    reader = SalesforceSource(config, source="crm", session=session)
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        reader.read(TableConfig(name="account", primary_key=["Id"], mode="full"), batch_rows=100)
    assert time.monotonic() - started < 10 * TIMEOUT  # bounded (requests alone: no limit)
    assert_concise_transient(raised.value, "source 'crm'", silent_port)
    assert f"no answer within {TIMEOUT:g} s" in str(raised.value)


STORE_READ = """
import sys
from datetime import date
from tributary.defs.resources import ExportStoreResource, LandingStoreResource
from tests.integration.exports.data import cases_warehouse, export_cases

store, endpoint, warehouse = sys.argv[1:]
quick = {"connect_timeout": 1, "read_timeout": 1}
try:
    if store == "landing":
        landing = LandingStoreResource(url="s3://landing/t", endpoint_url=endpoint, **quick)
        landing.open().fs.ls("landing/t")
    elif store == "landing write":  # a load's parts, `tributary check`'s probe
        landing = LandingStoreResource(url="s3://landing/t", endpoint_url=endpoint, **quick)
        landing.open().fs.pipe_file("landing/t/part-00000.parquet", b"PAR1")
    else:  # the emulator's variable points gcsfs at the endpoint
        exports = ExportStoreResource(url="gs://exports/t", **quick).open()
        export_cases(cases_warehouse(warehouse), exports, date(2024, 5, 1))
except Exception as error:
    print(type(error).__name__, error)
"""


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("landing", 'ReadTimeoutError Read timeout on endpoint URL: "{endpoint}/landing'),
        # An upload waited for the server's "100 Continue" without any timeout: `tributary
        # check` was still waiting after 10 minutes (a probe, 2026-12-07).
        ("landing write", 'ReadTimeoutError Read timeout on endpoint URL: "{endpoint}/landing'),
        ("exports", "ExportError the export store gs://exports/t did not answer"),
    ],
)
def test_store_that_never_answers_fails_within_its_timeouts(
    store, expected, silent_port, tmp_path
) -> None:
    """A bucket's endpoint that accepts connections and never answers (a read of the landing
    store; an export's run). Before, botocore's and
    s3fs's own retries (5 x 5 waits of 60 s) held a load for 25 minutes, and gcsfs (6 attempts
    of aiohttp's 5 minutes) an export for half an hour; now 6 waits of `read_timeout`, with
    gcsfs's backoff (about 30 s) between its attempts. In a child process, so that a hang fails
    the test instead of the suite."""
    endpoint = f"http://127.0.0.1:{silent_port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "STORAGE_EMULATOR_HOST": endpoint,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", STORE_READ, store, endpoint, str(tmp_path / "wh.duckdb")],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=150, check=True,
    )  # fmt: skip
    assert time.monotonic() - started < 90
    assert done.stdout.startswith(expected.format(endpoint=endpoint)), done.stdout
