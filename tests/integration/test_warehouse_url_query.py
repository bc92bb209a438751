"""The warehouse URL's query (libpq's parameters: sslmode, sslrootcert, options, ...) holds
for dbt as for Tributary's own connection: dbt was given host, port, user, password and
database alone, so `?sslmode=require` was dropped and dbt sent the password over plain text
to a server Tributary itself refused to log in to."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tributary.errors import WarehouseError
from tributary.warehouse.registry import WAREHOUSE_SETTINGS

from .conftest import run_dbt


def warehouse_from_env(monkeypatch, url: str):
    monkeypatch.setenv("TRIBUTARY_TEST_WH_URL", url)
    return WAREHOUSE_SETTINGS.validate_python(
        {"target": "postgres", "connection": {"url_env": "TRIBUTARY_TEST_WH_URL"}}
    )


def test_dbt_keeps_the_urls_sslmode(postgres, monkeypatch, tmp_path) -> None:
    """The test server has no TLS: with sslmode=require both refuse to log in."""
    backend = warehouse_from_env(monkeypatch, f"{postgres}?sslmode=require")
    with pytest.raises(WarehouseError, match="server does not support SSL"), backend.open() as wh:
        wh.query("select 1")
    result = run_dbt(backend, tmp_path, "debug", "--connection")
    assert result.returncode != 0, result.stdout
    assert "server does not support SSL, but SSL was required" in result.stdout


def test_dbt_sessions_get_the_urls_libpq_parameters(postgres, monkeypatch, tmp_path) -> None:
    """options (a setting for the session) and application_name reach dbt's session as they
    reach Tributary's own; dbt's sessions were 'dbt' with the server's settings."""
    options = quote("-c statement_timeout=4321", safe="")
    backend = warehouse_from_env(
        monkeypatch,
        f"{postgres}?sslmode=disable&application_name=tributary_dbt&options={options}",
    )
    sql = (
        "select current_setting('application_name') as app, "
        "current_setting('statement_timeout') as st"
    )
    with backend.open() as warehouse:
        assert warehouse.query(sql) == [("tributary_dbt", "4321ms")]
    result = run_dbt(backend, tmp_path, "show", "--inline", sql, "--output", "json", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["show"] == [{"app": "tributary_dbt", "st": "4321ms"}]
