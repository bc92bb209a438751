"""The DuckDB warehouse's read path (what exports stream from): a column whose DuckDB type
Arrow would not hold exactly is refused before anything is written, decided by the result's
types, never by its values."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tributary.config.models import ExportConfig
from tributary.errors import WarehouseError
from tributary.exports import ExportStore, run_export
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse


@pytest.fixture
def warehouse(tmp_path: Path):
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as duck:
        yield duck


def export(warehouse: DuckDBWarehouse, store: ExportStore, sql: str, **fields):
    config = ExportConfig.model_validate({"name": "e", "query": sql, "depends_on": ["m"]} | fields)
    return run_export(config, sql=config.query, day=date(2024, 5, 1), warehouse=warehouse,
                      store=store, asset="export/e", batch_rows=1000)  # fmt: skip


# Before, each was published without an error: TIMETZ's offset dropped (10:00+02 and 10:00-05
# both 10:00), UHUGEINT 2^127 as -2^127, BIT '0101' as DuckDB's bytes 04f5, BIGNUM as an opaque
# extension type (which CSV refused naming no column).
INEXACT = [
    ("cast('10:00:00+02' as timetz)", "TIME WITH TIME ZONE", 'cast("v" as varchar)'),
    ("cast(170141183460469231731687303715884105728 as uhugeint)", "UHUGEINT",
     'cast("v" as decimal(38, 0)) (values below 10^38) or cast("v" as varchar)'),
    ("cast('0101' as bit)", "BIT", 'cast("v" as varchar)'),
    ("cast('123456789012345678901234567890123456789012' as bignum)", "BIGNUM",
     'cast("v" as varchar)'),
    ("[cast('10:00:00-05' as timetz)]", "TIME WITH TIME ZONE[], holding TIME WITH TIME ZONE",
     'to_json("v")'),
    ("{'a': cast(1 as uhugeint)}", "STRUCT(a UHUGEINT), holding UHUGEINT", 'to_json("v")'),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "shown", "cast"), INEXACT, ids=[s for _, s, _ in INEXACT])
@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_a_type_arrow_would_change_is_refused_naming_the_column_and_the_cast(
    warehouse, tmp_path, expression, shown, cast, file_format
) -> None:
    store = ExportStore(str(tmp_path / "exports"))
    with pytest.raises(WarehouseError) as raised:
        export(warehouse, store, f"select 1 as id, {expression} as v", format=file_format)
    message = str(raised.value)
    assert message.startswith(f"column 'v' is {shown}, which cannot be exported exactly: ")
    assert message.endswith(f"cast it in the model or the export's query: {cast}")
    assert store.partitions("e", sealed_only=False) == []


def test_the_suggested_casts_export_the_values_exactly(warehouse, tmp_path) -> None:
    store = ExportStore(str(tmp_path / "exports"))
    outcome = export(
        warehouse,
        store,
        "select cast(cast('10:00:00+02' as timetz) as varchar) as t, "
        "cast(cast(2 as uhugeint) ** 126 as decimal(38, 0)) as u, "
        "cast(cast('0101' as bit) as varchar) as b, "
        "to_json([cast('10:00:00-05' as timetz)]) as l",
    )
    [path] = Path(outcome.uri.removeprefix("file://")).glob("*.parquet")
    assert pq.read_table(path).to_pylist() == [
        {"t": "10:00:00+02", "u": Decimal(2**126), "b": "0101", "l": '["10:00:00-05"]'}
    ]


def test_hugeint_still_exports(warehouse, tmp_path) -> None:
    # DuckDB's sum() of integers is a HUGEINT: Arrow holds it exactly as decimal128(38, 0).
    store = ExportStore(str(tmp_path / "exports"))
    outcome = export(warehouse, store, "select sum(x) as total from range(4) as t(x)")
    [path] = Path(outcome.uri.removeprefix("file://")).glob("*.parquet")
    table = pq.read_table(path)
    assert str(table.schema.field("total").type) == "decimal128(38, 0)"
    assert table.column("total").to_pylist() == [Decimal(6)]
    assert re.fullmatch(r"file://.*/e/dt=\d{4}-\d{2}-\d{2}", outcome.uri)


HUGE = 170141183460469231731687303715884105727  # 2^127 - 1, HUGEINT's largest: 39 digits


SUM = 6 * 2 * 10**37  # sum(range(4)) times 2 * 10^37
TOO_HUGE = [
    (f"cast({HUGE} as hugeint)", "HUGEINT", HUGE, "parquet"),
    (f"cast(-{HUGE} as hugeint)", "HUGEINT", -HUGE, "csv"),
    (f"sum(x) * cast({2 * 10**37} as hugeint)", "HUGEINT", SUM, "parquet"),
    (f"sum(x) * cast({2 * 10**37} as hugeint)", "HUGEINT", SUM, "csv"),
    (f"[1, cast({10**38} as hugeint)]", "HUGEINT[]", 10**38, "parquet"),  # CSV holds no list
]


@pytest.mark.parametrize(("expression", "shown", "held", "file_format"), TOO_HUGE)
def test_a_hugeint_of_39_digits_fails_naming_the_column(
    warehouse, tmp_path, expression, shown, held, file_format
) -> None:
    # Before: published in a decimal128(38, 0) column that cannot hold it (Arrow's
    # validate(full=True) refused the file; reading the CSV back with the manifest's types
    # failed).
    store = ExportStore(str(tmp_path / "exports"))
    sql = f"select 1 as id, {expression} as total from range(4) as t(x)"
    with pytest.raises(WarehouseError) as raised:
        export(warehouse, store, sql, format=file_format)
    message = str(raised.value)
    assert message.startswith(f"column 'total' is {shown} and holds {held}, ")
    assert "which decimal128(38, 0) cannot hold (at most 38 digits)" in message
    assert message.endswith(
        'cast it in the model or the export\'s query: cast("total" as varchar), or '
        "divide it down to 38 digits"
    )
    assert store.partitions("e", sealed_only=False) == []


def test_a_hugeint_of_38_digits_exports_exactly(warehouse, tmp_path) -> None:
    store = ExportStore(str(tmp_path / "exports"))
    nines = 10**38 - 1
    outcome = export(
        warehouse, store, f"select cast({nines} as hugeint) as a, -cast({nines} as hugeint) as b"
    )
    [path] = Path(outcome.uri.removeprefix("file://")).glob("*.parquet")
    table = pq.read_table(path)
    table.validate(full=True)
    assert table.to_pylist() == [{"a": Decimal(nines), "b": Decimal(-nines)}]
