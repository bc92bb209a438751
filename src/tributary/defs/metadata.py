"""Materialization metadata shared by the asset kinds that write tables or files."""

from __future__ import annotations

import dagster as dg


def column_schema(columns: list[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=name, type=kind) for name, kind in columns])


def table_metadata(table_name: str, columns: list[tuple[str, str]]) -> dict[str, object]:
    return {
        "dagster/table_name": table_name,
        "dagster/column_schema": column_schema(columns),
    }
