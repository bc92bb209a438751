"""Column types each warehouse gives Arrow types, where they differ (no server needed)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from tributary.sources.types import SourceColumn, normalize
from tributary.warehouse.postgres.warehouse import PostgresWarehouse
from tributary.warehouse.redshift.warehouse import RedshiftWarehouse

REDSHIFT = RedshiftWarehouse(lambda: None, iam_role="arn:aws:iam::123456789012:role/copy")


@pytest.mark.parametrize(
    ("arrow_type", "redshift_type"),
    [
        (pa.string(), "varchar(65535)"),  # bytes, not characters: multibyte text fits
        (pa.large_string(), "varchar(65535)"),
        (pa.json_(), "super"),
        (pa.binary(), "varbyte(1024000)"),
        (pa.decimal128(38, 10), "numeric(38, 10)"),
        (pa.decimal128(12, 2), "numeric(12, 2)"),
        (pa.timestamp("us", tz="UTC"), "timestamptz"),
        (pa.timestamp("us"), "timestamp"),
        (pa.bool_(), "boolean"),
        (pa.int64(), "bigint"),
        (pa.uint64(), "numeric(20, 0)"),
    ],
)
def test_redshift_column_types(arrow_type: pa.DataType, redshift_type: str) -> None:
    assert REDSHIFT.sql_type(arrow_type) == redshift_type


def test_redshift_rejects_decimals_wider_than_38_digits() -> None:
    with pytest.raises(TypeError, match="at most 38 digits; the source column is decimal256"):
        REDSHIFT.sql_type(pa.decimal256(40, 2))


def test_json_source_columns_become_the_warehouse_json_type() -> None:
    batch = pa.RecordBatch.from_pydict({"doc": pa.array(['{"a": [1, 2]}', None]), "n": [1, 2]})
    columns = {"doc": SourceColumn("doc", "json", "json"), "n": SourceColumn("n", "int", "int")}
    normalized = normalize(batch, columns, "mysql", Counter())
    assert isinstance(normalized.schema.field("doc").type, pa.JsonType)
    assert normalized.column("doc").storage.to_pylist() == ['{"a": [1, 2]}', None]
    assert normalized.schema.field("n").type == pa.int64()
    assert PostgresWarehouse("").sql_type(normalized.schema.field("doc").type) == "jsonb"
    assert REDSHIFT.sql_type(normalized.schema.field("doc").type) == "super"


@pytest.mark.parametrize(
    "texts",
    [
        ["2024-02-29 10:00:00.5", None],  # no zero date in the batch
        ["2024-02-29 10:00:00.5", "0000-00-00 00:00:00"],
        ["2024-02-29 10:00:00.5", "0000-01-01 00:00:00"],  # year 0000: Arrow would accept it
        ["2024-02-29 10:00:00.5", "2024-00-10 00:00:00"],
        ["2024-02-29 10:00:00.5", "2024-01-00 00:00:00"],
    ],
)
@pytest.mark.parametrize("data_type", ["datetime", "timestamp"])
def test_mysql_zero_dates_become_null_and_are_counted(texts, data_type) -> None:
    from datetime import UTC, datetime

    from tributary.sources.types import ZERO_DATES_COUNTER

    counters: Counter = Counter()
    batch = pa.RecordBatch.from_pydict({"at": pa.array(texts, pa.string())})
    columns = {"at": SourceColumn("at", data_type, data_type)}
    at = normalize(batch, columns, "mysql", counters).column("at")
    first = datetime(2024, 2, 29, 10, 0, 0, 500000)
    if data_type == "timestamp":
        assert at.type == pa.timestamp("us", tz="UTC")
        first = first.replace(tzinfo=UTC)
    else:
        assert at.type == pa.timestamp("us")
    assert at.to_pylist() == [first, None]
    assert counters[ZERO_DATES_COUNTER] == (texts[1] is not None)
