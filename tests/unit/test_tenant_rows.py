"""A tenant's load takes only rows the source itself took for that tenant's."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tributary.config.models import TableConfig
from tributary.errors import SourceError
from tributary.ingest import refuse_other_tenants

USERS = TableConfig(name="users", primary_key=["id"], tenant_column="Company")


def read(values: list, tenant: int | str, kind: pa.DataType) -> int:
    batch = pa.RecordBatch.from_pydict({"company": pa.array(values, kind)})
    reader = pa.RecordBatchReader.from_batches(batch.schema, [batch, batch])
    return sum(b.num_rows for b in refuse_other_tenants(reader, USERS, tenant))


def test_text_ids_compare_as_the_source_collates_them() -> None:
    # MySQL's and SQL Server's default collations: case and trailing spaces do not count.
    assert read(["acme", "ACME", "acme ", None], "acme", pa.string()) == 8
    with pytest.raises(SourceError, match=r"returned 4 row\(s\) whose company is another "
                       r"tenant's \(globex, initech\)"):  # fmt: skip
        read(["acme", "globex", "initech"], "acme", pa.string())


def test_number_ids_compare_as_numbers() -> None:
    assert read([7, 7, None], 7, pa.int32()) == 6
    assert read([7, 7], "7", pa.decimal128(10, 0)) == 4  # a partition key is text
    # Oracle's NUMBER without a precision arrives as a float: 7.0 is tenant 7's
    assert read([7.0, None], 7, pa.float64()) == 4
    with pytest.raises(SourceError, match=r"another tenant's \(8\)"):
        read([7, 8], 7, pa.int64())
