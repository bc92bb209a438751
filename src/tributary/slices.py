"""Slices: the part of a table one partition reads and replaces (one tenant, one key range).

A slice turns into a predicate twice: on the source column when reading, and on the raw
table's column when the load replaces that part of the table (`_tenant_id` for tenants).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tributary.tenants import active_keys, find_tenant, tenant_settings

if TYPE_CHECKING:
    # Not at run time: the warehouse, which config.models names the backends of, uses slices.
    from tributary.config.models import TableConfig, Tenant, TenantRegistry

TENANT_COLUMN = "_tenant_id"


@dataclass(frozen=True)
class Slice:
    kind: Literal["tenant", "range"]
    key: str  # the partition key, also the watermark scope
    source_column: str
    table_column: str
    # A tenant's id, or a range's bounds: `low` inclusive, `high` exclusive. The first range
    # is open below (low None) and holds the rows without a value, the last open above (high
    # None): every row is in one range, whatever the bounds configured.
    low: int | str | None
    high: int | None = None
    # A tenant's settings its table's query binds (:name), as (name, value) pairs.
    settings: tuple[tuple[str, object], ...] = ()

    @property
    def settings_text(self) -> str:
        """The settings as people read them: `days_back=60, region=eu`."""
        return ", ".join(f"{name}={value}" for name, value in self.settings)

    def table_predicate(self) -> str:
        """The raw table's part this slice replaces, as one parenthesized SQL condition that
        DuckDB, PostgreSQL and Redshift accept. Values are rendered as literals by SQLAlchemy
        (quoted, escaped); the tenant column holds text."""
        if self.kind == "tenant":
            condition = sa.column(self.table_column) == sa.literal(str(self.low))
        else:
            condition = sa.and_(sa.true(), *self.conditions(self.table_column))
        compiled = condition.compile(
            dialect=postgresql.dialect(paramstyle="named"),
            compile_kwargs={"literal_binds": True},
        )
        return f"({compiled})"  # it may hold an OR, and callers add conditions to it

    def conditions(self, column_name: str) -> list[sa.ColumnElement[bool]]:
        column = sa.column(column_name)
        if self.kind == "tenant":
            return [column == sa.literal(self.low)]
        conditions = []
        if self.low is not None:
            conditions.append(column >= sa.literal(self.low))
        if self.high is not None:
            conditions.append(column < sa.literal(self.high))
        if self.low is None and conditions:
            return [sa.or_(*conditions, column.is_(None))]
        return conditions


def partition_keys(table: TableConfig, tenants: list[Tenant]) -> list[str] | None:
    """The partitions of a table, or None when it loads whole."""
    if table.tenant_column:
        return active_keys(tenants)
    if table.key_ranges:
        ranges = table.key_ranges
        return [
            range_key(low, low + ranges.size - 1)
            for low in range(0, ranges.upper_bound, ranges.size)
        ]
    return None


def range_key(low: int, high: int) -> str:
    return f"{low:012d}-{high:012d}"


def slice_for(
    table: TableConfig,
    partition_key: str,
    tenants: list[Tenant],
    *,
    source: str = "",
    bound: Collection[str] | None = None,
    registry: TenantRegistry | None = None,
) -> Slice:
    """The slice of `table` a partition reads; `bound` as tenant_settings takes it, `registry`
    as find_tenant does."""
    if table.tenant_column:
        tenant = find_tenant(tenants, partition_key, registry)
        return Slice(
            kind="tenant",
            key=partition_key,
            source_column=table.tenant_column,
            table_column=TENANT_COLUMN,
            low=tenant.id,
            settings=tuple(tenant_settings(table, tenant, source=source, bound=bound).items()),
        )
    if table.key_ranges:
        low, high = (int(part) for part in partition_key.split("-"))
        last = low + table.key_ranges.size >= table.key_ranges.upper_bound
        return Slice(
            kind="range",
            key=partition_key,
            source_column=table.key_ranges.column,
            table_column=table.key_ranges.column,
            low=None if low == 0 else low,
            high=None if last else high + 1,
        )
    raise KeyError(f"table '{table.name}' is not partitioned")
