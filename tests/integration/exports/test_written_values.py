"""What an export writes, read as an outside consumer would, on each warehouse: CSV decimals in
plain positional notation, and a manifest whose column types are the files' own."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tributary.config.models import ExportConfig
from tributary.exports import ExportStore, run_export

pytestmark = pytest.mark.integration


def export(warehouse, store: ExportStore, sql: str, **fields):
    config = ExportConfig.model_validate({"name": "e", "query": sql, "depends_on": ["m"]} | fields)
    return run_export(config, sql=config.query, day=date(2024, 5, 1), warehouse=warehouse,
                      store=store, asset="export/e", batch_rows=1000)  # fmt: skip


def csv_rows(outcome) -> list[list[str]]:
    [path] = Path(outcome.uri.removeprefix("file://")).glob("*.csv")
    return list(csv.reader(io.StringIO(path.read_text(), newline="")))


def test_csv_decimals_are_plain_and_keep_every_digit_of_the_scale(warehouse, tmp_path) -> None:
    # Before: Arrow's formatting, in E notation from a scale of 7 up: 0E-10, 5.000E-7, -1E-8
    # (on PostgreSQL every sum() of numerics is decimal(38, 10), so a zero sum was 0E-10).
    sql = """select id, cast(rate as decimal(38, 10)) as rate, cast(qty as decimal(18, 8)) as qty,
                    cast(amount as decimal(12, 2)) as amount
             from (values (1, 0, 0, 0), (2, 0.0000005, -0.00000001, 0.01),
                          (3, -12.5, 1.5, -12.3), (4, null, null, null),
                          (5, 123456789012345678.0000000001, 9999999999.99999999, 1e9))
                  as v(id, rate, qty, amount) order by id"""
    outcome = export(warehouse, ExportStore(str(tmp_path / "exports")), sql, format="csv")
    rows = csv_rows(outcome)
    assert rows == [
        ["id", "rate", "qty", "amount"],
        ["1", "0.0000000000", "0.00000000", "0.00"],
        ["2", "0.0000005000", "-0.00000001", "0.01"],
        ["3", "-12.5000000000", "1.50000000", "-12.30"],
        ["4", "", "", ""],
        ["5", "123456789012345678.0000000001", "9999999999.99999999", "1000000000.00"],
    ]
    # Those of scale 7 or more are text, quoted; the others numbers, as Arrow writes them.
    [path] = Path(outcome.uri.removeprefix("file://")).glob("*.csv")
    assert path.read_text().splitlines()[1] == '1,"0.0000000000","0.00000000",0.00'


def test_a_postgres_sum_and_a_wide_numeric_are_plain_in_csv(postgres, tmp_path) -> None:
    # An unconstrained numeric (sum()) is decimal(38, 10): its zero was written 0E-10, while a
    # numeric(40, 10) (decimal256) printed otherwise.
    from tributary.warehouse.postgres.warehouse import PostgresWarehouse

    sql = """select sum(x) as total, cast(sum(x) as numeric(40, 10)) as wide
             from (values (0.0::numeric), (0.0000005), (-0.0000005)) as v(x)"""
    with PostgresWarehouse(postgres) as warehouse:
        outcome = export(warehouse, ExportStore(str(tmp_path)), sql, format="csv")
    assert [c.type for c in outcome.publications[0].manifest.columns] == [
        "decimal128(38, 10)", "decimal256(40, 10)"
    ]  # fmt: skip
    assert csv_rows(outcome) == [["total", "wide"], ["0.0000000000", "0.0000000000"]]


def test_the_manifests_column_types_are_the_parquet_files_own(warehouse, tmp_path) -> None:
    # Before: the manifest told the result's Arrow types, which the Parquet writer changes: a
    # seconds timestamp is written in milliseconds (Parquet has no seconds), a list's item is
    # named 'element' (DuckDB's 'l'), so the manifest said timestamp[s]
    # and list<l: int32> of a file holding timestamp[ms] and list<element: int32>.
    if warehouse.kind == "duckdb":
        sql = """select id, cast('2024-05-01 10:00:00' as timestamp_s) as at_s,
                        [id, null]::int[] as ids from range(3) as t(id)"""
    else:
        sql = """select id, array[id, null]::int[] as ids, now() as at
                 from generate_series(0, 2) as t(id)"""
    outcome = export(warehouse, ExportStore(str(tmp_path)), sql, rows_per_file=2)
    manifest = outcome.publications[0].manifest
    paths = sorted(Path(outcome.uri.removeprefix("file://")).glob("*.parquet"))
    assert [p.name for p in paths] == [f.path for f in manifest.files] and len(paths) == 2
    for path in paths:
        written = pq.read_schema(path)
        assert [(c.name, c.type) for c in manifest.columns] == [
            (f.name, str(f.type)) for f in written
        ]
    if warehouse.kind == "duckdb":  # PostgreSQL's arrays arrive as their text
        assert [c.type for c in manifest.columns][1:] == ["timestamp[ms]", "list<element: int32>"]


@pytest.mark.parametrize(
    ("options", "header", "delimiter"),
    [({}, True, ","), ({"header": False}, False, ","), ({"delimiter": ";"}, True, ";")],
)
def test_a_csv_manifest_says_its_header_and_delimiter(
    warehouse, tmp_path, options, header, delimiter
) -> None:
    """A partition written without a header, read by its manifest's word: its first row
    became the column names, since the manifest said nothing of a header or a delimiter."""
    sql = "select 1 as id, 'a' as name union all select 2, 'b' order by id"
    outcome = export(warehouse, ExportStore(str(tmp_path)), sql, format="csv", csv=options)
    [publication] = outcome.publications
    manifest = publication.manifest
    assert (manifest.header, manifest.delimiter) == (header, delimiter)
    [path] = Path(outcome.uri.removeprefix("file://")).glob("*.csv")
    rows = list(csv.reader(io.StringIO(path.read_text(), newline=""), delimiter=delimiter))
    assert rows[0] == (["id", "name"] if manifest.header else ["1", "a"])
    assert len(rows) - manifest.header == manifest.row_count
