"""Schema drift: what may change between a raw table's recorded columns and a new load's.

Under the `evolve` contract a new column is added, a widened type is widened, and a column
the source no longer sends (dropped or renamed) stays in the table, NULL in the rows merged
meanwhile, and is reported as missing (the warehouse records which rows lack it:
base.ColumnGap). Under `freeze` any of these stops the load before anything changes. A
narrowed or incompatible type always stops the load with an error naming the column, the old
and the new type. `widens` alone decides; the refusal judges the declared types, never the
values (a double(18,0) made an int is refused though every value would fit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from tributary.errors import SchemaDriftError

_SIGNED = [pa.int8(), pa.int16(), pa.int32(), pa.int64()]
_UNSIGNED = [pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}


@dataclass(frozen=True)
class SchemaPlan:
    added: list[pa.Field]
    widened: list[pa.Field]  # with their new, wider types
    missing: list[str]  # recorded columns the load does not carry
    merged: pa.Schema  # what the table holds after the load

    @property
    def changes(self) -> list[str]:
        """Each change in words, for an error or a check."""
        named = (
            ("new", [f.name for f in self.added]),
            ("widened", [f.name for f in self.widened]),
            ("missing", self.missing),
        )
        return [f"{kind}: {', '.join(names)}" for kind, names in named if names]

    def typed(self, incoming: pa.Schema) -> pa.Schema:
        """`incoming` with each column of no type (Arrow's null: a writer such as pandas
        saw only NULLs in it) typed as the table holds it, so that its NULLs go into the
        table's column as values of its type (PostgreSQL would not write text into a
        timestamp)."""
        held = self.merged
        return pa.schema(
            held.field(field.name) if pa.types.is_null(field.type) else field for field in incoming
        )


def plan_schema(
    table: str,
    recorded: pa.Schema | None,
    incoming: pa.Schema,
    *,
    contract: str = "evolve",
    key: Sequence[str] = (),
    relation: str,
) -> SchemaPlan:
    """How `incoming` changes the raw table `table` (`relation`: schema.table, for messages),
    or a SchemaDriftError naming what cannot change."""
    # A key column the rows lack would load as NULL keys: one row kept of all, or none merged.
    # (Case aside: DuckDB, and MySQL as a source, match column names whatever their case.)
    arriving = {name.casefold() for name in incoming.names}
    lacking = [name for name in key if name.casefold() not in arriving]
    if lacking:
        raise SchemaDriftError(
            f"table '{table}': primary_key column {', '.join(map(repr, lacking))} is not among "
            f"the source's columns ({', '.join(incoming.names)}); the table was left as it was"
        )
    if recorded is None:
        return SchemaPlan(added=[], widened=[], missing=[], merged=incoming)
    added, widened, fields = [], [], list(recorded)
    recorded_by_folded = {name.casefold(): name for name in recorded.names}
    for field in incoming:
        index = recorded.get_field_index(field.name)
        if index < 0 and (spelled := recorded_by_folded.get(field.name.casefold())):
            # DuckDB and Redshift hold the two as one name, PostgreSQL as two: refused on all
            raise SchemaDriftError(
                f"table '{table}': the source's column '{field.name}' is the table's column "
                f"'{spelled}' in another case; rename one of them to match (alias it in the "
                "table's `query:`, or rename the raw table's column); the table was left as it was"
            )
        if index < 0:
            added.append(field)
            fields.append(field)
            continue
        old = recorded.field(index).type
        if old == field.type or pa.types.is_null(field.type):
            continue
        if not widens(old, field.type):
            raise SchemaDriftError(
                f"table '{table}', column '{field.name}': the source type changed from {old} "
                f"to {field.type}, {_refused_change(old, field.type)}; the table was left as "
                "it was. " + _way_out(old, field.type, relation)
            )
        widened.append(field)
        fields[index] = field
    missing = [name for name in recorded.names if incoming.get_field_index(name) < 0]
    plan = SchemaPlan(added=added, widened=widened, missing=missing, merged=pa.schema(fields))
    if contract == "freeze" and plan.changes:
        raise SchemaDriftError(
            f"table '{table}': the source's columns changed ({'; '.join(plan.changes)}) and "
            "its schema_contract is freeze; the table was left as it was"
        )
    return plan


def _refused_change(old: pa.DataType, new: pa.DataType) -> str:
    """What a type change `widens` refuses is, in words true of the types whatever the
    values: a narrowing within one kind of type, or a change Tributary does not make."""
    numbers = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
    same_kind = any(kind(old) and kind(new) for kind in numbers) or (
        pa.types.is_timestamp(old) and pa.types.is_timestamp(new) and old.tz == new.tz
    )
    if same_kind:
        return (
            "a narrower type than the column's (it cannot hold every value the column's type "
            "can, whatever the values loaded so far)"
        )
    return (
        "a change of type Tributary does not make to a loaded column (it changes a column's "
        "type only by the widenings it knows: int to bigint or double, decimal(10,2) to "
        "decimal(12,2), date to timestamp, ...), whatever the values loaded so far"
    )


def _way_out(old: pa.DataType, new: pa.DataType, relation: str) -> str:
    """What to do about a type change: one Tributary made (a MySQL bit(n), read as bytes
    before), or one the source made."""
    reload = (
        f"drop the raw table (drop table {relation}, and the views on it), then load it whole "
        "again (a full load, or a run with full_refresh: true)"
    )
    if _is_bytes(old) and (pa.types.is_boolean(new) or pa.types.is_integer(new)):
        return (
            "Tributary reads a MySQL bit(1) column as boolean and a wider bit(n) as an integer "
            f"(before, as bytes): {reload}; or, to keep the bytes, read the table through a "
            "`query:` (its columns keep the driver's types)"
        )
    return f"If the source changed so on purpose, {reload}"


def widens(old: pa.DataType, new: pa.DataType) -> bool:
    """Whether every value of `old` is exactly representable in `new`."""
    if pa.types.is_null(old):
        return True
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        return _int_widens(old, new)
    if pa.types.is_floating(old) and pa.types.is_floating(new):
        return new.bit_width >= old.bit_width
    if pa.types.is_integer(old) and pa.types.is_floating(new):
        return old.bit_width <= 32 and new.bit_width == 64
    if pa.types.is_integer(old) and pa.types.is_decimal(new):
        return new.precision - new.scale >= _INT_DIGITS[old.bit_width]
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return new.scale >= old.scale and new.precision - new.scale >= old.precision - old.scale
    if _is_text(old) and _is_text(new):
        return True
    if _is_bytes(old) and _is_bytes(new):
        return True
    if pa.types.is_date(old) and pa.types.is_timestamp(new):
        return new.tz is None
    if pa.types.is_timestamp(old) and pa.types.is_timestamp(new):
        units = ["s", "ms", "us", "ns"]
        return old.tz == new.tz and units.index(new.unit) >= units.index(old.unit)
    return False


def _int_widens(old: pa.DataType, new: pa.DataType) -> bool:
    if old in _SIGNED and new in _SIGNED:
        return new.bit_width >= old.bit_width
    if old in _UNSIGNED and new in _UNSIGNED:
        return new.bit_width >= old.bit_width
    return old in _UNSIGNED and new in _SIGNED and new.bit_width > old.bit_width


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_bytes(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
