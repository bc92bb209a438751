"""The reconciliation window's condition on the raw table names its cursor column quoted, as
every other statement on raw tables does: a cursor named as DuckDB reserves a word (`at`)
failed the check with a parser error, though the load went through."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from tributary.reconcile import window_predicate
from tributary.sources import Window


@pytest.mark.parametrize("cursor", ["at", "order", "UpdatedAt"])
def test_a_window_on_a_cursor_named_as_a_keyword_selects_its_rows(cursor) -> None:
    with duckdb.connect() as con:
        con.execute(f'create table raw (id int, "{cursor}" timestamp)')
        con.execute(
            "insert into raw values (1, '2024-05-01 10:00'), (2, '2024-05-01 12:00'), "
            "(3, '2024-05-02 09:00'), (4, null)"
        )
        window = Window(cursor=cursor, low=datetime(2024, 5, 1, 11), high=datetime(2024, 5, 2, 9))
        predicate = window_predicate(window, cursor)
        rows = con.execute(f"select id from raw where {predicate} order by id").fetchall()
    assert rows == [(2,), (3,)]
