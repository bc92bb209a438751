"""An export's column names reach its files whole, or the export fails naming its file: the
PostgreSQL warehouse keeps 63 bytes of a name and cut a longer alias without a word (the
published header held the cut name), and two names of one column failed with a bare
ValueError naming neither the export nor its file."""

from __future__ import annotations

from datetime import date

import pyarrow.csv as pacsv
import pytest

from tributary.config.models import ExportConfig
from tributary.exports import ExportError, ExportStore, run_export

pytestmark = pytest.mark.integration

LONG = "a" * 62 + "_long_customer_lifetime_value"  # 91 bytes
ACCENTED = "é" * 40  # 40 characters, 80 bytes in UTF-8


def export(warehouse, tmp_path, query: str):
    config = ExportConfig.model_validate(
        {"name": "longexp", "query": query, "depends_on": ["m"], "format": "csv"}
    )
    store = ExportStore(str(tmp_path / "exports"))
    outcome = run_export(
        config,
        sql=config.query,
        day=date(2024, 5, 2),
        warehouse=warehouse,
        store=store,
        asset="export/longexp",
        batch_rows=2,
        export_file="exports/longexp.yaml",
    )
    return store, outcome


def test_a_name_the_warehouse_would_cut_is_refused_before_running(warehouse, tmp_path) -> None:
    query = f'select 1 as "{LONG}", 3 as "{ACCENTED}"'
    if warehouse.kind == "duckdb":  # DuckDB keeps whole names: published as written
        store, outcome = export(warehouse, tmp_path, query)
        assert outcome.row_count == 1
        [part] = store.fs.glob(f"{store.export_dir('longexp')}/**/*.csv")
        assert pacsv.read_csv(store.fs.open(part)).column_names == [LONG, ACCENTED]
        return
    with pytest.raises(ExportError) as raised:
        export(warehouse, tmp_path, query)
    assert str(raised.value) == (
        f"exports/longexp.yaml: query: the query names '{LONG}': the name is 91 bytes long and "
        "the postgres warehouse keeps 63 of a name (it would cut the rest without a word, and "
        "publish the cut name); alias it shorter in the query"
    )
    assert ExportStore(str(tmp_path / "exports")).partitions("longexp", sealed_only=False) == []


def test_accented_names_are_counted_in_bytes(warehouse, tmp_path) -> None:
    query = f'select 3 as "{ACCENTED}"'  # 40 characters fit; 80 bytes do not
    if warehouse.kind == "duckdb":
        export(warehouse, tmp_path, query)
        return
    with pytest.raises(ExportError, match=f"names '{ACCENTED}': the name is 80 bytes long"):
        export(warehouse, tmp_path, query)


def test_a_name_of_63_bytes_and_long_strings_and_comments_are_published(
    warehouse, tmp_path
) -> None:
    fits = "b" * 63
    query = f"select '{LONG}' as \"{fits}\" -- {LONG}\n/* {LONG} */"
    store, _ = export(warehouse, tmp_path, query)
    [part] = store.fs.glob(f"{store.export_dir('longexp')}/**/*.csv")
    table = pacsv.read_csv(store.fs.open(part))
    assert table.column_names == [fits]
    assert table.column(0).to_pylist() == [LONG]


def test_two_columns_of_one_name_fail_naming_the_export_file(warehouse, tmp_path) -> None:
    with pytest.raises(ExportError) as raised:
        export(warehouse, tmp_path, 'select 1 as id, 2 as "ID"')
    message = str(raised.value)
    assert message.startswith("exports/longexp.yaml: query: "), message
    assert "two columns named 'id' and 'ID'" in message


def test_a_value_too_long_for_a_folder_name_fails_naming_the_column(warehouse, tmp_path) -> None:
    """A by: column value whose folder name, %-encoded, is longer than a file system takes in
    one name (255 bytes): it failed with a bare OSError 'File name too long', naming neither the
    export nor its column."""
    config = ExportConfig.model_validate(
        {
            "name": "longexp",
            "query": f"select 1 as id, '{'日' * 40}' as region union all select 2, 'EU'",
            "depends_on": ["m"],
            "partitioning": {"by": "column", "column": "region"},
        }
    )
    store = ExportStore(str(tmp_path / "exports"))
    with pytest.raises(ExportError) as raised:
        run_export(config, sql=config.query, day=date(2024, 5, 2), warehouse=warehouse,
                   store=store, asset="export/longexp", batch_rows=2)  # fmt: skip
    message = str(raised.value)
    assert message.startswith("longexp: partitioning column 'region' holds a value whose folder")
    assert "region=%E6%97%A5" in message and "367 bytes" in message
    assert store.partitions("longexp", sealed_only=False) == []
