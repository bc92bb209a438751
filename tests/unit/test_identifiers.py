"""Names from configuration that become SQL identifiers: odd ones are rejected with a clear
error naming the file and key; every name is quoted where SQL is built."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tributary.config.loader import ConfigError, load_project
from tributary.slices import Slice
from tributary.warehouse import quote_ident
from tributary.warehouse.base import placeholders_as_format

ODD = ["orders; drop table x", 'or"ders', "my orders", "ord'ers", "1orders", "orders?", ""]


def write(config_dir: Path, relative: str, data: dict) -> None:
    (config_dir / relative).write_text(yaml.safe_dump(data))


def load_error(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_project(config_dir)
    return str(raised.value)


def shop(table: dict, **source) -> dict:
    return {"name": "shop", "kind": "mysql", "connection": {"url_env": "SHOP_URL"},
            "tables": [table], **source}  # fmt: skip


@pytest.mark.parametrize("name", ODD)
def test_odd_table_names_are_rejected(config_dir: Path, name: str) -> None:
    write(config_dir, "sources/shop.yaml", shop({"name": name}))
    message = load_error(config_dir)
    assert f"sources/shop.yaml: tables[0].name: {name!r} is not a plain identifier" in message
    assert "letters, digits and underscores" in message


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"name": "orders", "primary_key": ["id", "order id"]}, "tables[0].primary_key[1]"),
        (
            {"name": "orders", "primary_key": ["id"], "cursor": 'a"b', "mode": "incremental"},
            "tables[0].cursor",
        ),
        ({"name": "orders", "tenant_column": "tenant;id"}, "tables[0].tenant_column"),
        (
            {"name": "orders", "key_ranges": {"column": "id id", "size": 10, "upper_bound": 99}},
            "tables[0].key_ranges.column",
        ),
    ],
)
def test_odd_column_names_are_rejected(config_dir: Path, table: dict, key: str) -> None:
    write(config_dir, "sources/shop.yaml", shop(table))
    message = load_error(config_dir)
    assert f"sources/shop.yaml: {key}: " in message
    assert "is not a plain identifier" in message


def test_odd_source_and_export_names_are_rejected(config_dir: Path) -> None:
    write(config_dir, "sources/shop.yaml", shop({"name": "orders"}, name="shop floor"))
    assert "sources/shop.yaml: name: 'shop floor' is not a plain identifier" in load_error(
        config_dir
    )
    (config_dir / "sources/shop.yaml").unlink()
    write(config_dir, "exports/x.yaml", {"name": "x;y", "model": "dim_customer"})
    assert "exports/x.yaml: name: 'x;y' is not a plain identifier" in load_error(config_dir)


def test_odd_object_names_are_rejected(config_dir: Path) -> None:
    write(config_dir, "sources/shop.yaml", shop({"name": "orders", "object": "dbo.[order lines]"}))
    message = load_error(config_dir)
    assert "sources/shop.yaml: tables[0]: 'object' must be a table or view name" in message
    assert "(got 'dbo.[order lines]')" in message


def test_quote_ident_escapes_quotes() -> None:
    assert quote_ident('a"b') == '"a""b"'
    assert quote_ident("x); drop table t; --") == '"x); drop table t; --"'


def test_postgres_placeholders_leave_quoted_names_alone() -> None:
    sql = """select "what?", "100%", 'it''s ?' from t where a = ? and b like 'x%'"""
    assert placeholders_as_format(sql, [1]) == (
        """select "what?", "100%%", 'it''s ?' from t where a = %s and b like 'x%%'"""
    )
    # without parameters psycopg does not read placeholders: the SQL runs as written
    assert placeholders_as_format('alter table t add column "what?%" int', []) == (
        'alter table t add column "what?%" int'
    )


def test_slice_predicates_render_literals_once() -> None:
    tenant = Slice(kind="tenant", key="a", source_column="c", table_column="_tenant_id", low="a'b")
    assert tenant.table_predicate() == "(_tenant_id = 'a''b')"
    ranged = Slice(kind="range", key="k", source_column="id", table_column="order", low=5, high=10)
    assert ranged.table_predicate() == '("order" >= 5 AND "order" < 10)'
    # The first range, open below, holds the NULLs: parenthesized, the OR stays inside.
    first = Slice(
        kind="range", key="k", source_column="id", table_column="order", low=None, high=10
    )
    assert first.table_predicate() == '("order" < 10 OR "order" IS NULL)'
