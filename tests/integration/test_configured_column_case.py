"""A column the configuration names in another case than a PostgreSQL source's (`cursor:
UpdatedAt` on `updatedat`: PostgreSQL compares quoted names exactly) fails the first load with
the message `tributary check` gives, naming file and key. Before, the first load (a full read,
no cursor in its query) succeeded, and reconciliation and every later load failed with
`column "UpdatedAt" does not exist`, naming neither."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tributary.config.models import SourceConfig, TableConfig
from tributary.errors import SourceError
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.preflight import check_sql_table
from tributary.sources import SqlSource

pytestmark = pytest.mark.integration

FILE = "sources/app.yaml"


def create(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as con:
        con.execute("create table items (id int primary key, updatedat timestamp, v text)")
        con.execute("insert into items values (1, '2024-05-01 10:00', 'a')")


@pytest.mark.parametrize(
    ("table", "key", "column"),
    [
        ({"cursor": "UpdatedAt", "primary_key": ["id"]}, "tables[0].cursor", "UpdatedAt"),
        ({"cursor": "updatedat", "primary_key": ["ID"]}, "tables[0].primary_key[0]", "ID"),
    ],
    ids=["cursor", "primary_key"],
)
def test_a_column_named_in_another_case_fails_the_first_load_as_check_says(
    postgres, warehouse, tmp_path, table, key, column
) -> None:
    create(postgres)
    config = TableConfig(name="items", mode="incremental", **table)
    source = SourceConfig(name="app", kind="postgres", connection={"url": postgres},
                          tables=[config])  # fmt: skip
    reader = SqlSource(make_url(postgres))
    [(checked_key, problem)] = check_sql_table(reader, FILE, 0, config).problems
    assert (checked_key, problem) == (
        key,
        f"column '{column}' not found in 'items' (id, updatedat, v)",
    )

    with pytest.raises(SourceError) as raised:
        ingest_table(source, config, reader=reader, landing=LandingStore(str(tmp_path / "l")),
                     warehouse=warehouse, batch_rows=10, source_file=FILE)  # fmt: skip
    assert str(raised.value) == f"{FILE}: {key}: {problem}; nothing was loaded"
    assert raised.value.transient is False
    assert not warehouse.table_exists("raw_app", "items")


def test_the_case_the_source_keeps_loads(postgres, warehouse, tmp_path) -> None:
    create(postgres)
    config = TableConfig(name="items", mode="incremental", cursor="updatedat", primary_key=["id"])
    source = SourceConfig(name="app", kind="postgres", connection={"url": postgres},
                          tables=[config])  # fmt: skip
    reader = SqlSource(make_url(postgres))
    for _ in range(2):  # the second reads from the watermark, with the cursor in its query
        landing = LandingStore(str(tmp_path / "l"))
        load = ingest_table(source, config, reader=reader, landing=landing, warehouse=warehouse,
                            batch_rows=10)  # fmt: skip
        assert load.outcome.rows_in_table == 1
