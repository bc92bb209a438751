"""The words of a refused type change (warehouse/drift.py): true of the declared types, since
the refusal does not look at the values."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from tributary.errors import SchemaDriftError
from tributary.warehouse.drift import plan_schema


def refusal(old: pa.DataType, new: pa.DataType) -> str:
    recorded = pa.schema([("id", pa.int64()), ("n", old)])
    incoming = pa.schema([("id", pa.int64()), ("n", new)])
    with pytest.raises(SchemaDriftError) as raised:
        plan_schema("foo", recorded, incoming, key=["id"], relation="raw_crm.foo")
    return str(raised.value)


def test_a_narrower_type_of_the_same_kind_is_refused_as_a_narrowing() -> None:
    message = refusal(pa.int64(), pa.int16())
    assert message.startswith(
        "table 'foo', column 'n': the source type changed from int64 to int16, a narrower "
        "type than the column's (it cannot hold every value the column's type can, whatever "
        "the values loaded so far); the table was left as it was. "
    )
    assert "would lose data" not in message


def test_another_kind_of_type_is_refused_as_such_even_where_the_values_would_fit() -> None:
    # A Salesforce double(18,0) made an int: every value fits, the column is still refused
    # (before: "which would lose data", untrue of the values and of the types alike).
    message = refusal(pa.decimal128(18, 0), pa.int64())
    assert re.match(
        r"table 'foo', column 'n': the source type changed from decimal128\(18, 0\) to int64, "
        r"a change of type Tributary does not make to a loaded column \(it changes a column's "
        r"type only by the widenings it knows: int to bigint or double, decimal\(10,2\) to "
        r"decimal\(12,2\), date to timestamp, \.\.\.\), whatever the values loaded so far; "
        r"the table was left as it was\. If the source changed so on purpose, drop the raw "
        r"table \(drop table raw_crm\.foo",
        message,
    )
    assert "would lose data" not in message


@pytest.mark.parametrize(
    ("old", "new"),
    [(pa.int32(), pa.int64()), (pa.decimal128(10, 2), pa.decimal128(12, 2)),
     (pa.int32(), pa.float64()), (pa.string(), pa.large_string())],
)  # fmt: skip
def test_widenings_are_still_applied(old: pa.DataType, new: pa.DataType) -> None:
    recorded = pa.schema([("n", old)])
    plan = plan_schema("foo", recorded, pa.schema([("n", new)]), relation="raw_crm.foo")
    assert [f.name for f in plan.widened] == ["n"]
