"""A warehouse URL's query reaches dbt as it reaches Tributary's own connection, or is refused
naming its key: dbt was given host, port, user, password and database alone, so a TLS setting
in the URL held for Tributary and not for dbt, which connected over plain text."""

from __future__ import annotations

import sys
import types

import psycopg
import pytest

from tributary.errors import WarehouseError
from tributary.warehouse.postgres.config import LIBPQ_ENV
from tributary.warehouse.registry import WAREHOUSE_SETTINGS

IAM_ROLE = "arn:aws:iam::123456789012:role/copy"
# libpq's own table: each connection parameter's environment variable, where it has one.
LIBPQ_VARIABLES = {
    option.keyword.decode(): option.envvar.decode()
    for option in psycopg.pq.Conninfo.get_defaults()
    if option.envvar
}


def backend(target: str, query: str):
    settings = {"target": target, "connection": {"url": f"{target}://loader@db:5439/dw?{query}"}}
    if target == "redshift":
        settings["iam_role"] = IAM_ROLE
    return WAREHOUSE_SETTINGS.validate_python(settings)


def test_every_libpq_variable_is_libpqs_own() -> None:
    assert {key: LIBPQ_VARIABLES[key] for key in LIBPQ_ENV} == LIBPQ_ENV
    assert {"sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "options"} <= set(LIBPQ_ENV)


def test_postgres_tls_settings_go_to_dbts_libpq() -> None:
    query = {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/tributary/ca.pem",
        "sslcert": "/etc/tributary/client.pem",
        "sslkey": "/etc/tributary/client.key",
        "target_session_attrs": "read-write",
    }
    env = backend("postgres", "&".join(f"{k}={v}" for k, v in query.items())).dbt_env()
    assert {LIBPQ_VARIABLES[key]: env[LIBPQ_VARIABLES[key]] for key in query} == {
        LIBPQ_VARIABLES[key]: value for key, value in query.items()
    }


@pytest.mark.parametrize(
    ("target", "query"),
    [
        ("postgres", "keepalives_idle=30"),  # libpq reads it from no variable
        ("postgres", "connect_timeout=5"),  # dbt sets its own; connection.connect_timeout
        ("postgres", "sslmod=require"),  # a slip of the pen
        ("redshift", "sslrootcert=/etc/ca.pem"),  # dbt-redshift's profile takes sslmode only
        ("redshift", "application_name=x"),
    ],
)
def test_a_query_key_that_cannot_reach_dbt_is_refused(target: str, query: str) -> None:
    key = query.split("=")[0]
    configured = backend(target, query)
    for use in (configured.dbt_env, configured.open):
        with pytest.raises(WarehouseError, match=f"warehouse: the URL's query key '{key}' "):
            use()


def test_redshift_refuses_an_sslmode_it_does_not_know() -> None:
    with pytest.raises(WarehouseError, match="sslmode 'requir'; expected one of"):
        backend("redshift", "sslmode=requir").dbt_env()


class Connected(Exception):
    """What the stand-in for redshift_connector.connect raises, with its arguments."""


@pytest.mark.parametrize(
    ("sslmode", "ssl", "driver_sslmode"),
    [
        (None, True, "verify-ca"),  # the driver's and dbt-redshift's default
        ("disable", False, None),
        ("require", True, "verify-ca"),
        ("verify-full", True, "verify-full"),
    ],
)
def test_redshift_sslmode_holds_for_tributary_and_dbt(
    monkeypatch, sslmode: str | None, ssl: bool, driver_sslmode: str | None
) -> None:
    """Tributary's own connection left the URL's sslmode out (verify-full was verify-ca),
    and nothing set the profile's TRIBUTARY_WAREHOUSE_SSLMODE."""

    def connect(**kwargs):
        raise Connected(kwargs)

    monkeypatch.setitem(sys.modules, "redshift_connector", types.SimpleNamespace(connect=connect))
    monkeypatch.setattr("tributary.warehouse.redshift.config.probe", lambda *a, **k: None)
    configured = backend("redshift", f"sslmode={sslmode}" if sslmode else "")
    with pytest.raises(Connected) as connected:
        configured.open().con  # noqa: B018 - connects
    assert {k: connected.value.args[0][k] for k in ("ssl", "sslmode")} == {
        "ssl": ssl,
        "sslmode": driver_sslmode,
    }
    assert configured.dbt_env().get("TRIBUTARY_WAREHOUSE_SSLMODE") == sslmode
