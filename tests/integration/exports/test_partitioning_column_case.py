"""An export's partitioning column spelled in another case than its result's (`column: Region`
on `region`) fails alike on every warehouse, before anything runs, naming the export's file and
key. Before, PostgreSQL raised its own UndefinedColumn for `by: column` and `by: date`, and
DuckDB refused `by: column` (naming neither file nor key) but took `by: date`."""

from __future__ import annotations

from datetime import date

import pytest

from tributary.config.models import ExportConfig
from tributary.exports import ExportError, ExportStore, run_export

pytestmark = pytest.mark.integration

QUERY = "select 1 as id, 'EU' as region, timestamp '2024-05-01 10:00:00' as sold_at"
WAYS = {
    "column": ({"by": "column", "column": "Region"}, "Region"),
    "date": ({"by": "date", "start_date": "2024-01-01", "column": "Sold_At"}, "Sold_At"),
}


def run(warehouse, tmp_path, partitioning: dict, query: str = QUERY):
    config = ExportConfig.model_validate(
        {"name": "e", "query": query, "depends_on": ["m"], "partitioning": partitioning}
    )
    return run_export(
        config,
        sql=config.query,
        day=date(2024, 5, 1),
        warehouse=warehouse,
        store=ExportStore(str(tmp_path / "exports")),
        asset="export/e",
        batch_rows=1000,
        export_file="exports/e.yaml",
    )


@pytest.mark.parametrize("way", WAYS)
def test_a_partitioning_column_in_another_case_is_refused_naming_file_and_key(
    warehouse, tmp_path, way
) -> None:
    partitioning, column = WAYS[way]
    with pytest.raises(ExportError) as raised:
        run(warehouse, tmp_path, partitioning)
    assert str(raised.value) == (
        f"exports/e.yaml: partitioning.column: column '{column}' not found in the query's "
        "result (id, region, sold_at); expected it spelled as the result spells it"
    )
    assert ExportStore(str(tmp_path / "exports")).partitions("e", sealed_only=False) == []


@pytest.mark.parametrize("way", WAYS)
def test_the_results_own_spelling_exports(warehouse, tmp_path, way) -> None:
    partitioning = {**WAYS[way][0], "column": WAYS[way][1].lower()}
    assert run(warehouse, tmp_path, partitioning).row_count == 1


@pytest.mark.parametrize("way", WAYS)
def test_a_result_naming_a_column_twice_is_refused_when_partitioned(
    warehouse, tmp_path, way
) -> None:
    # Wrapped for its partitioning (`select * from (...)`), DuckDB renamed the second `ID` to
    # `ID_1` and published it so; unwrapped, the export already refused it.
    partitioning, column = WAYS[way]
    query = f'select 2 as "ID", {QUERY.removeprefix("select ")}'
    with pytest.raises(ExportError) as raised:
        run(warehouse, tmp_path, {**partitioning, "column": column.lower()}, query)
    message = str(raised.value)
    assert message.startswith("exports/e.yaml: query: ")
    assert "two columns named 'ID' and 'id'" in message
    assert ExportStore(str(tmp_path / "exports")).partitions("e", sealed_only=False) == []
