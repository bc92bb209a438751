"""The column types the dbt models declare (`data_type` in their YAML: the UI's column schema),
set against those of the tables and views a build made, in one spelling for every warehouse."""

from __future__ import annotations

import re
from collections.abc import Iterable

import dagster as dg

# The models' columns as the warehouse has them (DuckDB and PostgreSQL both answer this).
BUILT_COLUMNS_SQL = """
    select table_schema, table_name, column_name, data_type, numeric_precision, numeric_scale
    from information_schema.columns
    where table_schema in ('staging', 'marts')
    order by table_schema, table_name, ordinal_position
"""

SPELLINGS = {
    "text": "varchar",
    "character varying": "varchar",
    "string": "varchar",
    "int8": "bigint",
    "int": "integer",
    "int4": "integer",
    "bool": "boolean",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
}


def canonical(type_name: str, precision: int | None = None, scale: int | None = None) -> str:
    name = " ".join(type_name.lower().split())
    if name in ("numeric", "decimal") and precision is not None:
        return f"numeric({precision},{scale})"
    if decimal := re.fullmatch(r"(?:numeric|decimal)\((\d+), ?(\d+)\)", name):
        return f"numeric({decimal[1]},{decimal[2]})"
    name = re.sub(r"^(varchar|character varying)\(\d+\)$", "varchar", name)
    return SPELLINGS.get(name, name)


def declared_types(defs: dg.Definitions) -> dict[str, dict[str, str]]:
    """schema.table: {column: type} of every dbt model, from the definitions' column schemas."""
    declared = {}
    for assets_def in defs.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition):
            continue
        for spec in assets_def.specs:
            if "dbt" in spec.kinds:
                relation = ".".join(spec.metadata["dagster/table_name"].split(".")[-2:])
                columns = spec.metadata["dagster/column_schema"].columns
                declared[relation] = {c.name: canonical(c.type) for c in columns}
    return declared


def built_types(rows: Iterable[tuple]) -> dict[str, dict[str, str]]:
    """The rows of BUILT_COLUMNS_SQL as schema.table: {column: type}."""
    built: dict[str, dict[str, str]] = {}
    for schema, table, column, type_name, precision, scale in rows:
        built.setdefault(f"{schema}.{table}", {})[column] = canonical(type_name, precision, scale)
    return built
