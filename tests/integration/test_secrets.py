"""A known password, given only through the environment, used for real (a MariaDB user that
needs it; the PostgreSQL warehouse and dbt get it too), leaves no trace: not in the Dagster
event log or its storage, not in run output, error messages, landing manifests or dbt's files.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pymysql
import pytest
import yaml
from dagster_shared.serdes import serialize_value

from tributary.config.loader import PROJECT_ROOT, load_project
from tributary.config.models import SourceConfig
from tributary.connection import secret_forms
from tributary.defs import build_definitions
from tributary.errors import SourceError
from tributary.sources import open_source
from tributary_demo import generate_demo_sources

from ..conftest import CONFIG_DIR
from .conftest import MARIADB, run_sql

PASSWORD_ENV = "TRIBUTARY_TEST_SHOP_PASSWORD"
BROKEN_URL_ENV = "TRIBUTARY_TEST_BROKEN_URL"
DBT_DIR = PROJECT_ROOT / "dbt_project"


@contextmanager
def mariadb_user(database: str, password: str) -> Iterator[str]:
    """A MariaDB login that only works with `password`, reading `database`."""
    user = f"u{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(**MARIADB, autocommit=True, charset="utf8mb4")
    with admin.cursor() as cursor:
        cursor.execute("create user %s@'%%' identified by %s", (user, password))
        cursor.execute(f"grant select on `{database}`.* to %s@'%%'", (user,))
    try:
        yield user
    finally:
        with admin.cursor() as cursor:
            cursor.execute("drop user %s@'%%'", (user,))
        admin.close()


@pytest.fixture
def shop_user(mariadb) -> Iterator[tuple[str, str, str]]:
    """(user, password, database): a MariaDB login that only works with its password."""
    url, _ = mariadb
    # Characters that a URL must encode, so that both forms of the password are exercised.
    password = f"Pw {uuid.uuid4().hex[:12]}+@/%:#"
    with mariadb_user(url.database, password) as user:
        yield user, password, url.database


def files_under(*folders: Path, since: float = 0) -> Iterator[Path]:
    for folder in folders:
        if folder.exists():
            for path in folder.rglob("*"):
                if path.is_file() and path.stat().st_mtime >= since:
                    yield path


def leaks(password: str, texts: dict[str, bytes]) -> list[str]:
    return [
        f"{where} holds {form!r}"
        for where, data in texts.items()
        for form in secret_forms(password)
        if form.encode() in data
    ]


def test_a_known_password_leaves_no_trace(
    mariadb, shop_user, postgres, state_dir, tmp_path, monkeypatch, capfd
) -> None:
    started = time.time() - 1
    _, con = mariadb
    user, password, database = shop_user
    run_sql(
        con,
        "create table orders (id int primary key, amount decimal(10, 2), updated_at datetime)",
        "insert into orders values (1, 10.50, '2024-05-01 12:00:00'), "
        "(2, 20.00, '2024-05-01 12:05:00')",
    )
    monkeypatch.setenv(PASSWORD_ENV, password)
    # A URL the parser rejects, with the password in it: the error must not quote it.
    monkeypatch.setenv(BROKEN_URL_ENV, f"mysql://{user}:{quote(password, safe='')}@h:port/db")

    config_dir = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, config_dir)
    (config_dir / "teams.yaml").unlink()  # no roles: this test is about secrets
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["warehouse"] = {
        "target": "postgres",
        "connection": {"url": postgres, "password_env": PASSWORD_ENV},  # dbt gets it too
    }
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    for name, connection, tables in (
        (
            "shop",
            {"url": f"mysql://{user}@127.0.0.1:3306/{database}", "password_env": PASSWORD_ENV},
            [
                {"name": "orders", "primary_key": ["id"], "cursor": "updated_at",
                 "mode": "incremental", "checks": {"checksum": ["id", "amount"]}},
                {"name": "missing", "primary_key": ["id"]},
            ],
        ),
        ("broken", {"url_env": BROKEN_URL_ENV}, [{"name": "orders"}]),
    ):  # fmt: skip
        (config_dir / "sources" / f"{name}.yaml").write_text(
            yaml.safe_dump(
                {"name": name, "kind": "mysql", "connection": connection, "tables": tables}
            )
        )
    generate_demo_sources(state_dir / "demo", customers=10, orders=20)
    defs = build_definitions(load_project(config_dir))
    instance_dir = tmp_path / "dagster_home"
    instance_dir.mkdir()
    instance = dg.DagsterInstance.local_temp(tempdir=str(instance_dir))
    job = defs.resolve_implicit_global_asset_job_def()

    def run(*keys: list[str]) -> dg.ExecuteInProcessResult:
        return job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(key) for key in keys],
            raise_on_error=False,
        )

    # The password is really used: the source login, the warehouse and dbt succeed with it.
    loaded = run(
        ["raw", "shop", "orders"],
        ["raw", "erp", "customers"],
        ["staging", "stg_erp__customers"],
    )
    assert loaded.success
    assert all(e.passed for e in loaded.get_asset_check_evaluations())
    # And two runs fail: a SQL error from the source, and an unparseable URL.
    missing = run(["raw", "shop", "missing"])
    broken = run(["raw", "broken", "orders"])
    errors = [
        event.step_failure_data.error
        for result in (missing, broken)
        for event in result.all_events
        if event.is_step_failure
    ]
    messages = [error.to_string() for error in errors]
    assert "reading table 'missing' failed" in messages[0]
    assert f"environment variable {BROKEN_URL_ENV} does not hold a valid URL" in messages[1]

    texts: dict[str, bytes] = {
        f"event {i} of run {result.run_id}": serialize_value(event).encode()
        for result in (loaded, missing, broken)
        for i, event in enumerate(result.all_events)
    }
    texts.update({f"error {i}": text.encode() for i, text in enumerate(messages)})
    output = capfd.readouterr()
    texts["captured stdout"] = output.out.encode()
    texts["captured stderr"] = output.err.encode()
    instance.dispose()
    landing = Path(load_project(config_dir).landing_url)
    scanned = [
        *files_under(instance_dir, landing, state_dir),
        *files_under(DBT_DIR / "target", DBT_DIR / "logs", since=started),
    ]
    texts.update({str(path): path.read_bytes() for path in scanned})

    assert any(path.name == "manifest.json" for path in files_under(landing))
    assert any(path.suffix == ".db" for path in files_under(instance_dir))  # event log storage
    assert leaks(password, texts) == []
    # the scan itself finds a planted copy
    planted = {"planted": f"x{password}x".encode()}
    assert leaks(password, planted) == [f"planted holds {password!r}"]


@pytest.mark.parametrize("password", ["pässwörd", "pässwörd€😀"])
def test_a_password_beyond_ascii_logs_in(mariadb, monkeypatch, password: str) -> None:
    """PyMySQL sends a str password as Latin-1, where the server (and the mysql client, and
    connectorx) take UTF-8: the login check refused the right 'pässwörd' ("Access denied"),
    and on 'pässwörd€😀' failed with a bare UnicodeEncodeError naming no source, which
    stopped tributary check there."""
    url, con = mariadb
    run_sql(con, "create table orders (id int primary key)", "insert into orders values (1), (2)")
    with mariadb_user(url.database, password) as user:
        source = SourceConfig.model_validate(
            {"name": "shop", "kind": "mysql", "tables": [{"name": "orders"}],
             "connection": {"url": f"mysql://{user}@127.0.0.1:3306/{url.database}",
                            "password_env": PASSWORD_ENV}}
        )  # fmt: skip
        monkeypatch.setenv(PASSWORD_ENV, password)
        reader = open_source(source, state_dir=Path())
        reader.ping()  # the login check, then connectorx's read
        assert reader.read(source.tables[0], batch_rows=10).batches.read_all().num_rows == 2

        wrong = f"{password}x"
        monkeypatch.setenv(PASSWORD_ENV, wrong)
        with pytest.raises(SourceError) as raised:
            open_source(source, state_dir=Path()).ping()
        message = str(raised.value)
        assert message.startswith("source 'shop': login failed: ") and "Access denied" in message
        assert leaks(wrong, {"the error": message.encode()}) == []
