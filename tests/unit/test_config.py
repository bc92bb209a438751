"""Each bad configuration fails loading with a message naming the file, the key and what
was expected; a good one loads."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tributary.config.loader import ConfigError, load_project


def write_source(config_dir: Path, name: str, source: dict) -> Path:
    path = config_dir / "sources" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(source))
    return path


def source(**overrides) -> dict:
    base = {
        "name": "shop",
        "kind": "mysql",
        "connection": {"url_env": "SHOP_URL"},
        "tables": [{"name": "orders", "primary_key": ["id"], "cursor": "updated_at",
                    "mode": "incremental"}],
    }  # fmt: skip
    base.update(overrides)
    return base


def load_error(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_project(config_dir)
    return str(raised.value)


def test_shipped_configuration_loads(config_dir: Path) -> None:
    project = load_project(config_dir)
    assert {s.name for s in project.sources} == {"erp", "app", "ops", "salesforce"}
    assert project.source("erp").tables[1].read_object == "sales_orders_stage"
    assert [t.alias for t in project.tenants.tenants if t.active] == ["acme", "globex", "initech"]


def test_unknown_source_kind(config_dir: Path) -> None:
    write_source(config_dir, "shop", source(kind="db2"))
    message = load_error(config_dir)
    assert "sources/shop.yaml: kind:" in message
    assert "'mysql'" in message and "'salesforce'" in message
    assert "(got 'db2')" in message


@pytest.mark.parametrize(
    ("missing", "expected"),
    [("primary_key", "'primary_key'"), ("cursor", "'cursor'")],
)
def test_incremental_table_needs_primary_key_and_cursor(
    config_dir: Path, missing: str, expected: str
) -> None:
    table = {"name": "orders", "primary_key": ["id"], "cursor": "updated_at",
             "mode": "incremental"}  # fmt: skip
    del table[missing]
    write_source(config_dir, "shop", source(tables=[table]))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tables[0]:" in message
    assert f"an incremental table needs {expected}" in message


def test_same_table_listed_twice(config_dir: Path) -> None:
    table = {"name": "orders", "mode": "full"}
    write_source(config_dir, "shop", source(tables=[table, table]))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tables:" in message
    assert "table 'orders' is listed twice" in message


def test_two_tables_differing_only_in_case(config_dir: Path) -> None:
    """DuckDB and Redshift match table names ignoring case: `Orders` and `orders` would load
    into one raw table (on DuckDB the second failed with "Table with name orders already
    exists"; where it did not, each load replaced the other's rows)."""
    tables = [{"name": "Orders", "mode": "full"}, {"name": "orders", "mode": "full"}]
    write_source(config_dir, "shop", source(tables=tables))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tables:" in message
    assert (
        "table 'orders' is listed twice (as 'Orders': names are compared ignoring case" in message
    )


def test_two_sources_differing_only_in_case(config_dir: Path) -> None:
    """Their raw schemas, raw_ERP and raw_erp, would be one schema on DuckDB and Redshift."""
    write_source(config_dir, "erp_upper", source(name="ERP"))
    message = load_error(config_dir)
    assert "sources/erp_upper.yaml: name: 'ERP' is already defined in" in message
    assert "(as 'erp'" in message


def test_source_name_whose_raw_schema_postgres_would_cut(config_dir: Path) -> None:
    """raw_<name> is the source's schema: PostgreSQL keeps 63 bytes of a name and cuts the
    rest without a word, so two sources differing only after the 59th character loaded into
    one schema, the second's table replacing the first's rows, every check passing."""
    longest = "s" * 59  # raw_ + 59 = 63 bytes: kept whole
    write_source(config_dir, "longest", source(name=longest))
    assert load_project(config_dir).source(longest)

    write_source(config_dir, "too_long", source(name="s" * 60))
    message = load_error(config_dir)
    assert (
        f"sources/too_long.yaml: name: the schema name 'raw_{'s' * 60}' is 64 bytes long, and "
        "PostgreSQL keeps 63 bytes of a name (cutting the rest, so that names differing only "
        "after it would be one); expected a source name of at most 59 bytes" in message
    )


def test_same_source_in_two_files(config_dir: Path) -> None:
    write_source(config_dir, "shop_copy", source(name="erp"))
    message = load_error(config_dir)
    assert "sources/shop_copy.yaml: name: 'erp' is already defined in" in message
    assert "sources/erp.yaml" in message


@pytest.mark.parametrize(
    "connection",
    [
        {"url": "mysql://etl@db.internal/shop", "password": "hunter2-literal"},
        {"url": "mysql://etl:hunter2-literal@db.internal/shop"},
    ],
    ids=["password-key", "password-in-url"],
)
def test_literal_password_is_rejected_without_echoing_it(
    config_dir: Path, connection: dict
) -> None:
    write_source(config_dir, "shop", source(connection=connection))
    message = load_error(config_dir)
    assert "sources/shop.yaml: connection" in message
    assert "password_env" in message
    assert "hunter2-literal" not in message


def test_a_literal_secret_with_no_env_key_of_its_own_points_to_the_keys_that_take_one(
    config_dir: Path,
) -> None:
    """`token:` was refused with "expected ... in 'token_env'", a key that is then refused as
    unknown (a docs probe, 2026-12-07)."""
    connection = {"url": "mysql://etl@db.internal/shop", "token": "hunter2-literal"}
    write_source(config_dir, "shop", source(connection=connection))
    message = load_error(config_dir)
    assert "'token' is a literal secret" in message
    assert "in one of password_env, url_env" in message and "token_env" not in message
    assert "hunter2-literal" not in message


def test_an_s3_endpoint_on_the_export_store_is_refused(config_dir: Path) -> None:
    """`exports.endpoint_url` was accepted and ignored: the check then went to Google's
    servers instead of the emulator it named (a docs probe, 2026-12-07)."""
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["exports"] = {"url": "gs://lake/tributary", "endpoint_url": "http://127.0.0.1:9023"}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    message = load_error(config_dir)
    assert "platform.yaml: exports" in message, message
    assert "endpoint_url is a setting of the landing store (S3)" in message
    assert "STORAGE_EMULATOR_HOST" in message


def test_unknown_key_is_named(config_dir: Path) -> None:
    write_source(config_dir, "shop", source(tabels=[]))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tabels: unknown key" in message


def test_bad_identifier_and_frequency(config_dir: Path) -> None:
    write_source(config_dir, "shop", source(tables=[{"name": "orders; drop table x"}]))
    assert "tables[0].name: 'orders; drop table x' is not a plain identifier" in load_error(
        config_dir
    )

    (config_dir / "sources" / "shop.yaml").unlink()
    (config_dir / "exports" / "bad.yaml").write_text(
        yaml.safe_dump({"name": "bad", "model": "dim_customer", "frequency": "fortnightly"})
    )
    message = load_error(config_dir)
    assert "exports/bad.yaml: frequency:" in message
    assert "hourly, daily, weekly or a 5-field cron string" in message


def test_definitions_loading_fails_with_the_config_message(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_source(config_dir, "shop", source(kind="db2"))
    monkeypatch.setenv("TRIBUTARY_CONFIG_DIR", str(config_dir))
    from tributary.definitions import defs

    with pytest.raises(ConfigError, match=r"sources/shop.yaml: kind:"):
        defs()


def write_platform(config_dir: Path, **platform) -> None:
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))


REDSHIFT = {
    "target": "redshift",
    "connection": {"url": "redshift://loader@cluster.example.com:5439/dw",
                   "password_env": "REDSHIFT_PASSWORD"},
    "iam_role": "arn:aws:iam::123456789012:role/tributary-copy",
}  # fmt: skip


def test_redshift_needs_an_s3_landing_store(config_dir: Path) -> None:
    write_platform(config_dir, warehouse=REDSHIFT, landing={"url": "landing"})
    assert load_error(config_dir) == (
        f"{config_dir / 'platform.yaml'}: landing.url: the redshift warehouse loads with COPY "
        "from S3; expected an s3://bucket/prefix URL, got 'landing'"
    )
    write_platform(config_dir, warehouse={**REDSHIFT, "iam_role": "tributary-copy"},
                   landing={"url": "s3://bucket/landing"})  # fmt: skip
    assert "platform.yaml: warehouse.redshift.iam_role: String should match pattern" in (
        load_error(config_dir)
    )
    write_platform(
        config_dir,
        warehouse=REDSHIFT,
        landing={"url": "s3://bucket/landing", "region": "eu-west-1"},
    )
    platform = load_project(config_dir).platform
    assert platform.warehouse.iam_role == REDSHIFT["iam_role"]
    assert platform.landing.region == "eu-west-1"


def test_landing_retention_defaults_and_errors(config_dir: Path) -> None:
    assert load_project(config_dir).platform.landing.retention.model_dump() == {
        "days": 7,
        "loads": None,
    }
    write_platform(config_dir, landing={"url": "landing", "retention": {"loads": 2}})
    retention = load_project(config_dir).platform.landing.retention
    assert (retention.days, retention.loads) == (None, 2)

    write_platform(config_dir, landing={"url": "landing", "retention": {"days": 0}})
    assert load_error(config_dir) == (
        f"{config_dir / 'platform.yaml'}: landing.retention.days: Input should be greater "
        "than or equal to 1"
    )
    write_platform(config_dir, landing={"url": "landing", "retention": {"keep": 3}})
    assert "platform.yaml: landing.retention.keep: unknown key" in load_error(config_dir)
    write_platform(config_dir, exports={"url": "exports", "retention": {"days": 3}})
    assert "platform.yaml: exports.retention: unknown key" in load_error(config_dir)


def test_null_cursor_and_schema_contract_errors_name_file_and_key(config_dir: Path) -> None:
    orders = {"name": "orders", "primary_key": ["id"], "cursor": "updated_at",
              "mode": "incremental"}  # fmt: skip
    write_source(config_dir, "shop", source(tables=[{**orders, "null_cursor": "skip"}]))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tables[0].null_cursor:" in message
    assert "'fail', 'include' or 'exclude'" in message and "(got 'skip')" in message

    full = {"name": "items", "mode": "full", "null_cursor": "include"}
    write_source(config_dir, "shop", source(tables=[full]))
    assert "'null_cursor' applies to incremental tables only" in load_error(config_dir)

    write_source(config_dir, "shop", source(schema_contract="discard_row"))
    message = load_error(config_dir)
    assert "sources/shop.yaml: schema_contract:" in message
    assert "'evolve' or 'freeze'" in message

    write_source(config_dir, "shop", source(schema_contract="freeze", tables=[orders]))
    project = load_project(config_dir)
    shop = project.source("shop")
    [table] = shop.tables
    assert (table.null_cursor, shop.contract_for(table)) == ("fail", "freeze")


@pytest.mark.parametrize("timeout", [0, -5, "soon"])
def test_bad_connect_timeout_is_named(config_dir: Path, timeout) -> None:
    write_source(config_dir, "shop", source(connection={"url_env": "SHOP_URL",
                                                        "connect_timeout": timeout}))  # fmt: skip
    message = load_error(config_dir)
    assert "sources/shop.yaml: connection.connect_timeout:" in message
    assert "greater than 0" in message or "number" in message


def test_connect_timeout_has_a_default_and_can_be_set(config_dir: Path) -> None:
    write_source(config_dir, "shop", source(connection={"url_env": "SHOP_URL",
                                                        "connect_timeout": 2.5}))  # fmt: skip
    sources = {s.name: s for s in load_project(config_dir).sources}
    assert sources["shop"].connection.connect_timeout == 2.5
    assert sources["app"].connection.connect_timeout == 8


def test_unknown_warehouse_target_names_the_key(config_dir: Path) -> None:
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["warehouse"]["target"] = "snowflake"
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    message = load_error(config_dir)
    assert message.endswith(
        "platform.yaml: warehouse.target: expected one of 'duckdb', 'postgres', 'redshift'"
        " (got 'snowflake')"
    )


def test_a_key_written_twice_is_refused_not_overwritten(config_dir: Path) -> None:
    # PyYAML keeps the last of two equal keys without a word: a table block copied and edited
    # with its old `cursor:` line left in would load from the wrong column.
    path = config_dir / "sources" / "shop.yaml"
    path.write_text(
        "name: shop\nkind: mysql\nconnection: {url_env: SHOP_URL}\ntables:\n"
        "  - name: orders\n    primary_key: [id]\n    mode: incremental\n"
        "    cursor: created_at\n    cursor: updated_at\n"
    )
    message = load_error(config_dir)
    assert message.startswith(f"{path}: line 9: tables[0].cursor: ")
    assert "also set on line 8" in message


def test_merge_keys_may_be_overridden(config_dir: Path) -> None:
    (config_dir / "sources" / "shop.yaml").write_text(
        "name: shop\nkind: mysql\nconnection: {url_env: SHOP_URL}\n"
        "tables:\n  - &orders {name: orders, primary_key: [id], mode: incremental,"
        " cursor: created_at}\n  - {<<: *orders, name: returns, cursor: updated_at}\n"
    )
    tables = load_project(config_dir).source("shop").tables
    assert [(t.name, t.cursor) for t in tables] == [
        ("orders", "created_at"), ("returns", "updated_at")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("written", "read_as", "plainly"),
    [
        ("0042", "the octal number 34", "the number without leading zeros"),
        ("1:30", "the base-60 number 90", "90"),
    ],
)
def test_numbers_yaml_reads_in_another_base_are_refused(
    config_dir: Path, written: str, read_as: str, plainly: str
) -> None:
    # YAML 1.1 (PyYAML) reads an unquoted 0042 as 34: a tenant's setting would bind a value
    # nobody wrote.
    (config_dir / "tenants.yaml").write_text(
        "tenants:\n  - {id: 1, alias: acme}\n"
        f"  - id: 2\n    alias: nordics\n    settings: {{country: {written}}}\n"
    )
    message = load_error(config_dir)
    assert message == (
        f"{config_dir / 'tenants.yaml'}: line 5: tenants[1].settings.country: {written} reads "
        f"as {read_as} in YAML; quote it ('{written}') for the text, or write {plainly}"
    )


def test_yes_no_on_off_are_words_where_text_is_wanted(config_dir: Path) -> None:
    # YAML 1.1 read NO (Norway) as false, and a tenant's query bound `country = false`, which
    # on MySQL matches every text. As in YAML 1.2 they stay words; a boolean key reads them.
    (config_dir / "tenants.yaml").write_text(
        "tenants:\n  - {id: 1, alias: acme}\n"
        "  - {id: 2, alias: nordics, active: off, settings: {country: NO}}\n"
        "  - {id: 3, alias: other, active: Yes}\n"
    )
    nordics, other = load_project(config_dir).tenants.tenants[1:]
    assert (nordics.settings["country"], nordics.active, other.active) == ("NO", False, True)


def test_quoted_and_plain_values_load_as_written(config_dir: Path) -> None:
    (config_dir / "tenants.yaml").write_text(
        "tenants:\n  - {id: 42, alias: acme, active: false,"
        " settings: {country: 'NO', code: '0042', at: '1:30', rate: 0.5, zero: 0}}\n"
    )
    [tenant] = load_project(config_dir).tenants.tenants
    assert (tenant.id, tenant.active) == (42, False)
    assert dict(tenant.settings) == {
        "country": "NO", "code": "0042", "at": "1:30", "rate": Decimal("0.5"), "zero": 0
    }  # fmt: skip


def test_a_query_pasted_with_its_semicolon_is_read_without_it(config_dir: Path) -> None:
    # A table's query is read as a subquery (a window, a tenant's filter): `(... ;)` was a
    # syntax error ("near ';'"), as an export's query was before it was wrapped alike.
    table = {"name": "orders", "primary_key": ["id"], "query": "select * from orders ;\n"}
    write_source(config_dir, "shop", source(tables=[table]))
    assert load_project(config_dir).source("shop").tables[0].query == "select * from orders"


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        ("mysql://etl:hun@ter:2x9@db.internal:3306/shop", "2x9"),  # parser: port '2x9@db...'
        ("mysql://etl:hunter2@x7@db.internal/shop", "x7"),  # host 'x7@db.internal'
    ],
)
def test_an_unencoded_at_in_a_url_is_refused_without_echoing_it(
    config_dir: Path, url: str, hidden: str
) -> None:
    """An '@' the parser cannot place made it fail with "invalid literal for int() with base
    10: '2x9@db.internal:3306'", shown as the configuration error, part of a password in it;
    one it can place was read into the host. Either way the password goes elsewhere."""
    write_source(config_dir, "shop", source(connection={"url": url}))
    message = load_error(config_dir)
    assert "sources/shop.yaml: connection.url: the URL holds an '@'" in message
    assert "'@' in the user name or password as %40" in message
    assert "'password_env'" in message
    assert hidden not in message


@pytest.mark.parametrize("key", ["password", "PWD", "passwd", "sslpassword"])
def test_a_password_in_a_url_query_is_rejected_without_echoing_it(
    config_dir: Path, key: str
) -> None:
    """`?password=` passed the check for a password in the URL (the URL's password part was
    empty), logged in with it, and the warehouse's showed in the Dagster UI's resource
    configuration; redact() could not hide it, and dbt got no password."""
    write_source(
        config_dir,
        "shop",
        source(connection={"url": f"mysql://etl@db.internal/shop?charset=utf8&{key}=hunter2x"}),
    )
    message = load_error(config_dir)
    assert f"sources/shop.yaml: connection.url: the URL's query holds '{key}'" in message
    assert "'password_env'" in message
    assert "hunter2x" not in message

    (config_dir / "sources" / "shop.yaml").unlink()
    warehouse = {
        "target": "postgres",
        "connection": {"url": f"postgresql://loader@db:5432/dw?{key}=hunter2x"},
    }
    write_platform(config_dir, warehouse=warehouse)
    message = load_error(config_dir)
    assert f"platform.yaml: warehouse.postgres.connection.url: the URL's query holds '{key}'" in (
        message
    )
    assert "hunter2x" not in message


@pytest.mark.parametrize("relative", ["sources/shop.yml", "exports/orders.yml", "source/shop.yaml",
                                      "tenant.yaml", "team.yaml", "platform.yml"])  # fmt: skip
def test_a_configuration_file_that_would_be_ignored_is_named(
    config_dir: Path, relative: str
) -> None:
    """sources/shop.yml (not .yaml), a source/ folder, tenant.yaml: read by nothing, so the
    source was never checked nor loaded, and `tributary check` said all ok."""
    path = config_dir / relative
    path.parent.mkdir(exist_ok=True)
    path.write_text("name: shop\n")
    error = load_error(config_dir)
    assert error.startswith(f"{path}: ") and "is read by nothing" in error


def test_a_decimal_written_plainly_keeps_its_digits(config_dir: Path) -> None:
    # YAML reads 1234567890123456.78 as a float, 1234567890123456.8: the value a tenant's query
    # bound (and an export's WHERE rendered) was another number than the one written.
    (config_dir / "tenants.yaml").write_text(
        "tenants:\n  - {id: 1, alias: acme, settings: {floor: 1234567890123456.78, "
        "tiny: 0.1, big: 1.0e+3, grouped: 1_000.50}}\n"
    )
    # A setting no query binds is refused: a table binds them.
    query = (
        "select * from orders where company_id = :tenant_id and :floor + :tiny + :big + :grouped"
    )
    table = {"name": "orders", "primary_key": ["id"], "tenant_column": "company_id", "query": query}
    (config_dir / "sources" / "shop.yaml").write_text(yaml.safe_dump(source(tables=[table])))
    [tenant] = load_project(config_dir).tenants.tenants
    assert dict(tenant.settings) == {
        "floor": Decimal("1234567890123456.78"), "tiny": Decimal("0.1"),
        "big": Decimal("1.0e+3"), "grouped": Decimal("1000.50"),
    }  # fmt: skip
    assert str(tenant.settings["floor"]) == "1234567890123456.78"


# A custom query ending in ORDER BY, as pasted from SQL Server Management Studio.
ORDERED = "select id, name, modified_at from dbo.customers\norder by name;\n"


def test_a_sqlserver_query_ordered_without_top_is_refused_naming_file_and_key(
    config_dir: Path,
) -> None:
    # Read as `select ... from (<query>) src`, SQL Server refused it at every load (error
    # 1033: ORDER BY in a derived table needs TOP, OFFSET or FOR XML); the configuration
    # loaded and said nothing.
    tables = [{"name": "customers", "primary_key": ["id"], "object": "dbo.customers"},
              {"name": "ordered", "primary_key": ["id"], "query": ORDERED}]  # fmt: skip
    write_source(config_dir, "shop", source(kind="sqlserver", tables=tables))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tables[1].query (table ordered): " in message
    assert "SQL Server refuses 'ORDER BY name' in a subquery" in message
    assert "TOP, OFFSET or FOR XML" in message
    assert "remove the ORDER BY" in message


@pytest.mark.parametrize(
    "query",
    [
        "select id from t order by id -- newest last",
        "(select id from t order by id)",
        "select id from t union all select id from u order by id",
        "select * from (select top 5 id from t order by id) newest order by id",
    ],
)
def test_each_form_of_a_sqlserver_query_ordered_without_top_is_refused(
    config_dir: Path, query: str
) -> None:
    table = {"name": "orders", "primary_key": ["id"], "query": query}
    write_source(config_dir, "shop", source(kind="sqlserver", tables=[table]))
    assert "tables[0].query (table orders): SQL Server refuses 'ORDER BY id' in a subquery" in (
        load_error(config_dir)
    )


def test_tributary_check_names_a_sqlserver_query_ordered_without_top(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tributary.cli import main

    table = {"name": "ordered", "primary_key": ["id"], "query": ORDERED}
    write_source(config_dir, "shop", source(kind="sqlserver", tables=[table]))
    assert main(["check", "--config-dir", str(config_dir)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("FAIL  ") and "shop.yaml: tables[0].query (table ordered): " in line
    assert "remove the ORDER BY" in line


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        ("mysql", ORDERED),  # MySQL, PostgreSQL, Oracle and SQLite read it as a subquery
        ("oracle", ORDERED),
        ("sqlserver", "select id, row_number() over (partition by a order by b) as n from t"),
        ("sqlserver", "select top 10 id from t order by id"),
        ("sqlserver", "select id from t order by id offset 0 rows"),
        ("sqlserver", "select * from (select top 5 id from t order by id) newest"),
        ("sqlserver", "select 'order by id' as note from t"),
        ("sqlserver", "select id from t -- order by id"),
        ("sqlserver", "select id from t /* order by id */"),
        ("sqlserver", "select id from t where k = :tenant_id"),
        ("sqlserver", "select id from t order by id for xml path"),
        ("sqlserver", "select id from t order by (((id"),  # sqlglot can't parse: the server says
    ],
)
def test_queries_sqlserver_reads_as_subqueries_load(
    config_dir: Path, kind: str, query: str
) -> None:
    table = {"name": "orders", "primary_key": ["id"], "query": query}
    write_source(config_dir, "shop", source(kind=kind, tables=[table]))
    assert load_project(config_dir).source("shop").tables[0].query


# Queries SQL Server refuses as a derived table, as Tributary reads every query (select ...
# from (<query>) src): the configuration loaded, and every load failed with the driver's error.
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "with recent as (select id, name from dbo.customers where active = 1)\n"
            "select id, name from recent",
            "SQL Server refuses a WITH (a common table expression) in a subquery",
        ),
        # As SSMS users write it, the previous statement's semicolon first.
        (";WITH recent AS (select id from t) select id from recent", "refuses a WITH"),
        ("(with recent as (select id from t) select id from recent)", "refuses a WITH"),
        (
            "with r as (select id from t) select id from r union all select id from u",
            "refuses a WITH",
        ),
        (
            "select customer_id, count(*) from dbo.orders group by customer_id",
            "SQL Server refuses a subquery's column without a name (its error 8155)",
        ),
        ("select a + b from t", "; column 1, a + b, has none: name it with AS (a + b AS <name>)"),
        ("select id, row_number() over (order by id) from t", "column 2, ROW_NUMBER() OVER"),
        ("select 1 from t union all select id from u", "column 1, 1, has none"),
        (
            "select c.id, o.id from dbo.customers c join dbo.orders o on o.customer_id = c.id",
            "SQL Server refuses a subquery with two columns named 'id' (its error 8156)",
        ),
        ("select c.id, o.ID from c join o on o.c = c.id", "two columns named 'id' and 'ID'"),
        ("select id, name as id from t", "two columns named 'id'"),
        (
            "select id from t option (recompile)",
            "SQL Server refuses a query hint, 'OPTION(RECOMPILE)', in a subquery",
        ),
        ("select id from t union all select id from u option (maxdop 1)", "'OPTION(MAXDOP 1)'"),
    ],
)
def test_queries_sqlserver_refuses_as_a_subquery_are_refused_naming_file_and_key(
    config_dir: Path, query: str, expected: str
) -> None:
    table = {"name": "orders", "primary_key": ["id"], "query": query}
    write_source(config_dir, "shop", source(kind="sqlserver", tables=[table]))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tables[0].query (table orders): " in message
    assert expected in message
    assert "Tributary reads this query as one (select ... from (<query>) ...)" in message


@pytest.mark.parametrize(
    ("query", "remedy"),
    [
        ("with r as (select id from t) select id from r", "write each common table expression "
         "as a derived table (from (select ...) as r), or create a view in the source"),
        ("select count(*) from t", "name it with AS (COUNT(*) AS <name>)"),
        ("select a.id, b.id from a join b on a.k = b.k", "give each its own name with AS"),
        ("select id from t option (recompile)", "remove the OPTION clause"),
    ],
)  # fmt: skip
def test_a_refused_sqlserver_query_says_what_to_do(
    config_dir: Path, query: str, remedy: str
) -> None:
    table = {"name": "orders", "primary_key": ["id"], "query": query}
    write_source(config_dir, "shop", source(kind="sqlserver", tables=[table]))
    assert remedy in load_error(config_dir)


@pytest.mark.parametrize(
    "query",
    [
        "select count(*) as n from t",
        "select count(*) n from t",
        "select n = count(*) from t",  # T-SQL's own ways to name a column
        "select 'n' = count(*) from t",
        "select [n] = count(*), t.[id] from t",
        "select t.*, u.id from t join u on u.t = t.id",  # names SQL Server alone knows
        "select (id) from t",
        "select * from (select a.id as a_id, b.id as b_id from a join b on a.k = b.k) pairs",
        # A name given twice, or a column without one, only in a nested subquery.
        "select t.id, t.name from t where exists "
        "(select a.id, b.id, count(*) from a join b on a.k = b.k where a.id = t.id)",
        "select id from t with (nolock)",  # a table hint is no query hint
        "select id, 'with r as (select 1) option (recompile)' as note from t",
        "select id from t -- option (recompile)",
        "select id from t where k = :tenant_id",
    ],
)
def test_queries_sqlserver_reads_as_subqueries_load_named_once(
    config_dir: Path, query: str
) -> None:
    table = {"name": "orders", "primary_key": ["id"], "query": query}
    write_source(config_dir, "shop", source(kind="sqlserver", tables=[table]))
    assert load_project(config_dir).source("shop").tables[0].query


# Two columns of one name, as a join of two tables with an `id` each gives them.
JOINED = "select c.id, o.id, o.amount from customers c join orders o on o.customer_id = c.id"


def test_a_mysql_query_naming_a_column_twice_is_refused_naming_file_and_key(
    config_dir: Path,
) -> None:
    # MySQL and MariaDB refuse it as a derived table (error 1060, Duplicate column name), as
    # Tributary reads it: the configuration loaded, and every load failed with that error.
    table = {"name": "pairs", "primary_key": ["id"], "query": JOINED}
    write_source(config_dir, "shop", source(kind="mysql", tables=[table]))
    message = load_error(config_dir)
    assert (
        "sources/shop.yaml: tables[0].query (table pairs): MySQL and MariaDB refuse a subquery "
        "with two columns named 'id' (their error 1060, Duplicate column name)"
    ) in message
    assert "give each its own name with AS" in message


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        # PostgreSQL and Oracle return the name twice, which a load refuses naming it;
        # SQLite calls the second `id:1`.
        ("postgres", JOINED),
        ("oracle", JOINED),
        ("sqlite", JOINED),
        # MySQL takes a WITH and names an expression itself.
        ("mysql", "with recent as (select id from t) select id, count(*), a + b from recent"),
        ("mysql", "select t.id from t where exists (select a.id, b.id from a join b on a.k = b.k)"),
        ("mysql", "select c.id, o.id as order_id from c join o on o.c = c.id"),
    ],
)
def test_queries_other_kinds_read_as_subqueries_load(
    config_dir: Path, kind: str, query: str
) -> None:
    table = {"name": "pairs", "primary_key": ["id"], "query": query}
    write_source(config_dir, "shop", source(kind=kind, tables=[table]))
    assert load_project(config_dir).source("shop").tables[0].query


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"name": "shop\n"}, "name"),
        ({"tables": [{"name": "orders\n", "primary_key": ["id"]}]}, "tables[0].name"),
        ({"tables": [{"name": "orders", "object": "sales.orders\n"}]}, "tables[0]"),
    ],
)
def test_a_name_ending_in_a_line_break_is_no_identifier(
    config_dir: Path, overrides: dict, key: str
) -> None:
    # `$` matches before a final line break: 'shop\n' passed, and became the schema raw_shop\n
    write_source(config_dir, "shop", source(**overrides))
    message = load_error(config_dir)
    assert f"sources/shop.yaml: {key}" in message


def test_a_tenant_id_ending_in_a_line_break_is_refused(config_dir: Path) -> None:
    # it becomes a folder name and a partition key: 'acme\n' passed `$`
    (config_dir / "tenants.yaml").write_text('tenants:\n  - {id: "acme\\n", alias: acme}\n')
    message = load_error(config_dir)
    assert "tenants.yaml" in message and "tenants[0].id" in message
    assert "is not a tenant id" in message


def test_key_ranges_need_a_primary_key(config_dir: Path) -> None:
    """A row whose key_ranges column changes moves to another range; only its key tells its
    copy there from another row, so that the range's load can remove it. Without a key both
    stayed, every check passing, until the old range was loaded again."""
    ranges = {"column": "region", "size": 10, "upper_bound": 20}
    write_source(config_dir, "shop", source(tables=[{"name": "stores", "key_ranges": ranges}]))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tables[0].key_ranges: a table partitioned by key ranges " in (
        message
    )
    assert "needs a 'primary_key'" in message
    assert "the key_ranges column itself where it is the key" in message

    keyed = {"name": "stores", "primary_key": ["id"], "key_ranges": ranges}
    write_source(config_dir, "shop", source(tables=[keyed]))
    assert load_project(config_dir).source("shop").tables[0].key_ranges.column == "region"
