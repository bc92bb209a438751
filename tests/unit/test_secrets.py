"""Secrets come from the environment only: resources hold names of environment variables (or
dg.EnvVar), error messages never quote a secret, dbt receives passwords as its secret vars."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from tributary.config.common import ConnectionConfig
from tributary.config.loader import PROJECT_ROOT, load_project
from tributary.connection import redact, resolve_url
from tributary.defs import build_definitions
from tributary.defs.resources import WarehouseResource
from tributary.errors import SourceError
from tributary.warehouse.postgres.warehouse import conninfo

SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "private_key", "api_key")
PASSWORD = "p@ss/w%rd: 'x'"


def postgres_config(config_dir: Path) -> Path:
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["warehouse"] = {
        "target": "postgres",
        "connection": {"url": "postgresql://loader@db:5432/dw", "password_env": "DW_PASSWORD"},
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    return config_dir


def settings(values: dict, *, prefix: str) -> list[tuple[str, object]]:
    """Every (dotted key, value) of a resource's configuration, nested settings included."""
    found = []
    for key, value in values.items():
        if isinstance(value, dict):
            found += settings(value, prefix=f"{prefix}.{key}")
        else:
            found.append((f"{prefix}.{key}", value))
    return found


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_resources_take_secrets_only_from_the_environment(
    config_dir: Path, state_dir: Path, warehouse: str
) -> None:
    """Every resource field that looks like a secret holds the NAME of an environment variable
    (`*_env`) or a dg.EnvVar, never a value; URLs carry no password. A resource added later
    (S3, GCS credentials) is held to the same rule."""
    if warehouse == "postgres":
        postgres_config(config_dir)
    defs = build_definitions(load_project(config_dir))
    checked = 0
    for name, resource in (defs.resources or {}).items():
        if not isinstance(resource, dg.ConfigurableResource):
            continue
        fields = {field: getattr(resource, field) for field in type(resource).model_fields}
        for field, value in settings(fields, prefix=name):
            if value is None or isinstance(value, dg.EnvVar):
                continue
            key = field.rsplit(".", 1)[-1]
            if any(word in key.lower() for word in SECRET_WORDS):
                assert key.endswith("_env"), f"{field} holds a secret value"
                assert str(value).isupper(), f"{field} should name an env variable"
                checked += 1
            if key.endswith("url") and isinstance(value, str) and "://" in value:
                assert make_url(value).password is None, f"{field} holds a password"
    assert checked == (1 if warehouse == "postgres" else 0)


def test_redact_removes_every_written_form_of_the_password() -> None:
    url = make_url("mysql://u@h/db").set(password=PASSWORD)
    rendered = url.render_as_string(hide_password=False)
    assert PASSWORD not in rendered  # it is percent-encoded in the URL...
    message = f"could not connect to {rendered} with password {PASSWORD}"
    cleaned = redact(message, url)
    assert "p@ss" not in cleaned and "p%40ss" not in cleaned  # ...and removed in both forms
    assert cleaned == "could not connect to mysql://u:***@h/db with password ***"


def test_an_unparseable_url_in_the_environment_is_not_quoted(monkeypatch) -> None:
    monkeypatch.setenv("SHOP_URL", "mysql://u:Sup3rSecret@h:port/db")
    with pytest.raises(SourceError) as raised:
        resolve_url(ConnectionConfig(url_env="SHOP_URL"), owner="source 'shop'", state_dir=Path())
    assert "Sup3rSecret" not in str(raised.value)
    assert "environment variable SHOP_URL does not hold a valid URL" in str(raised.value)


def test_dbt_gets_the_warehouse_password_as_a_dbt_secret(monkeypatch) -> None:
    monkeypatch.setenv("DW_PASSWORD", PASSWORD)
    resource = WarehouseResource(
        target="postgres",
        settings={
            "connection": {"url": "postgresql://loader@db:5432/dw", "password_env": "DW_PASSWORD"}
        },
    )
    env = resource.dbt_env()
    # dbt only accepts DBT_ENV_SECRET_* variables in profiles.yml, and scrubs them from logs
    assert env["DBT_ENV_SECRET_TRIBUTARY_WAREHOUSE_PASSWORD"] == PASSWORD
    assert [key for key, value in env.items() if value == PASSWORD] == [
        "DBT_ENV_SECRET_TRIBUTARY_WAREHOUSE_PASSWORD"
    ]
    profiles = (PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text()
    # the postgres and redshift targets both take it so, and no password any other way
    secret = "password: \"{{ env_var('DBT_ENV_SECRET_TRIBUTARY_WAREHOUSE_PASSWORD', '') }}\""
    assert profiles.count(secret) == profiles.count("password:") == 2


def test_postgres_connection_strings_quote_any_password() -> None:
    url = make_url("postgresql://loader@db:5433/dw?sslmode=require").set(password=PASSWORD)
    assert conninfo_to_dict(conninfo(url)) == {
        "host": "db",
        "port": "5433",
        "user": "loader",
        "password": PASSWORD,
        "dbname": "dw",
        "sslmode": "require",
    }


# (URL with an '@' left unencoded in its password, the part of the password after that '@')
UNENCODED_AT = [
    ("mysql://shop:Tr0ub@dor99-x@127.0.0.1:3306/shop", "dor99-x"),
    ("postgresql://loader:s3cr@t-Pa55word@127.0.0.1:5432/dw", "t-Pa55word"),
    ("mysql://shop:ab@cd:ef9@db:3306/shop", "ef9"),  # the parser fails on port 'ef9@db:3306'
]


@pytest.mark.parametrize(("url", "after_at"), UNENCODED_AT)
def test_an_unencoded_at_in_the_environment_url_is_refused_without_showing_it(
    monkeypatch, url: str, after_at: str
) -> None:
    """An '@' written as it is in a url_env URL's password ended the password there and the
    rest was read as the host ('dor99-x@127.0.0.1'): the login failed, and 'cannot connect to
    dor99-x@127.0.0.1:3306' carried the password's end into tributary check, the step
    failure and _tributary.run_log. The URL is refused, saying how to write the '@'."""
    monkeypatch.setenv("SHOP_URL", url)
    with pytest.raises(SourceError) as raised:
        resolve_url(ConnectionConfig(url_env="SHOP_URL"), owner="source 'shop'", state_dir=Path())
    message = str(raised.value)
    assert message.startswith("source 'shop': environment variable SHOP_URL holds an '@'")
    assert "'@' in the user name or password as %40" in message
    assert after_at not in message


@pytest.mark.parametrize("target", ["postgres", "redshift"])
@pytest.mark.parametrize(("url", "after_at"), UNENCODED_AT[1:])
def test_dbt_gets_no_host_made_of_the_password(
    monkeypatch, target: str, url: str, after_at: str
) -> None:
    """dbt was given TRIBUTARY_WAREHOUSE_HOST=t-Pa55word@127.0.0.1, the password's end, to
    print in its connection errors and logs."""
    monkeypatch.setenv("DW_URL", f"{target}://{url.partition('://')[2]}")
    settings = {"connection": {"url_env": "DW_URL"}}
    if target == "redshift":
        settings["iam_role"] = "arn:aws:iam::123456789012:role/copy"
    resource = WarehouseResource(target=target, settings=settings)
    with pytest.raises(SourceError) as raised:
        resource.dbt_env()
    assert "warehouse: environment variable DW_URL holds an '@'" in str(raised.value)
    assert after_at not in str(raised.value)


@pytest.mark.parametrize("key", ["password", "sslpassword", "Pwd"])
def test_a_password_in_the_environment_url_query_is_refused_without_showing_it(
    monkeypatch, key: str
) -> None:
    """A url_env URL's `?password=` logged in, but redact() knew no password to hide (the
    URL's password part was empty) and dbt was given none."""
    monkeypatch.setenv("SHOP_URL", f"mysql://shop@db:3306/shop?{key}=Hunter2x&charset=utf8")
    with pytest.raises(SourceError) as raised:
        resolve_url(ConnectionConfig(url_env="SHOP_URL"), owner="source 'shop'", state_dir=Path())
    message = str(raised.value)
    assert f"source 'shop': environment variable SHOP_URL holds a URL whose query has '{key}'" in (
        message
    )
    assert "user:password@" in message and "password_env" in message
    assert "Hunter2x" not in message
