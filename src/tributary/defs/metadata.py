"""Materialization metadata shared by the asset kinds that write tables or files, and the specs
of Tributary's own state tables (`_tributary.*`, which sensors write and dbt reads)."""

from __future__ import annotations

import dagster as dg


def column_schema(columns: list[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=name, type=kind) for name, kind in columns])


def table_metadata(table_name: str, columns: list[tuple[str, str]]) -> dict[str, object]:
    return {
        "dagster/table_name": table_name,
        "dagster/column_schema": column_schema(columns),
    }


def state_table_spec(key: dg.AssetKey, warehouse_target: str, description: str) -> dg.AssetSpec:
    """One of Tributary's tables in the warehouse (written by a sensor, not materialized by a
    run): in the `tributary` group, upstream of the dbt models that read it."""
    return dg.AssetSpec(
        key, group_name="tributary", kinds={warehouse_target}, description=description
    )
