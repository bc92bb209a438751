"""An export whose result is empty where the publication it replaces holds rows publishes
nothing and fails, naming what it would have emptied, unless the export says `allow_empty`.

Before, a mart emptied (truncated by hand, or built empty by a model whose join stopped
matching: dbt's unique and not_null tests pass on an empty table) was published as it stood,
green: today's snapshot replaced by one of no rows, and every folder of an export partitioned
by a column removed, since none of its values was in the result any more."""

from __future__ import annotations

from datetime import date

import pytest

from tributary.exports import ExportError, ExportStore
from tributary.landing import LandingStore
from tributary.storage import s3_filesystem

from .data import cases_warehouse, connect, export_cases, export_cases_from_redshift

pytestmark = pytest.mark.integration
DAY, NEXT_DAY = date(2024, 5, 1), date(2024, 5, 2)
BY_KIND = {
    "sql": "select id, coalesce(label, 'none') as kind from main.cases order by kind",
    "partitioning": {"by": "column", "column": "kind"},
}
DATED = {
    "sql": "select id, day from main.cases where day = {{ partition_date }}",
    "partitioning": {"by": "date", "column": "day", "start_date": "1999-01-01"},
}


@pytest.fixture
def store(tmp_path) -> ExportStore:
    return ExportStore(str(tmp_path / "lake"))


def sealed(store: ExportStore) -> dict[str, int]:
    return {p: store.read_manifest("cases", p).row_count for p in store.partitions("cases")}


def empty_the_table(location) -> None:
    with connect(location) as warehouse:
        warehouse.execute("delete from main.cases")


@pytest.fixture(params=["duckdb", "postgres"])
def location(request, tmp_path):
    if request.param == "duckdb":
        return cases_warehouse(tmp_path / "warehouse.duckdb")
    return cases_warehouse(request.getfixturevalue("postgres"))


def test_an_empty_snapshot_does_not_replace_one_that_held_rows(location, store) -> None:
    export_cases(location, store, DAY)
    before = sealed(store)
    assert before == {"dt=2024-05-01": 4}
    empty_the_table(location)

    for day in (DAY, NEXT_DAY):  # the same day again, and the next day's newest snapshot
        with pytest.raises(ExportError) as raised:
            export_cases(location, store, day)
        assert str(raised.value) == (
            "export 'cases': the result is empty, and the partition it replaces as the newest "
            f"({store.uri(store.partition_dir('cases', 'dt=2024-05-01'))}) holds 4 rows: "
            "nothing was published. A table emptied by mistake (by hand, or a model whose "
            "build selected nothing) would empty it for every reader; if an empty result is "
            "right, set `allow_empty: true` on the export"
        )
        assert sealed(store) == before

    export_cases(location, store, NEXT_DAY, allow_empty=True)
    assert sealed(store) == {"dt=2024-05-01": 4, "dt=2024-05-02": 0}
    export_cases(location, store, date(2024, 5, 3))  # an empty one replaces an empty one
    assert sealed(store)["dt=2024-05-03"] == 0


def test_an_empty_result_does_not_remove_every_folder_of_a_column(location, store) -> None:
    export_cases(location, store, DAY, **BY_KIND)
    before = sealed(store)
    assert len(before) == 4
    empty_the_table(location)

    with pytest.raises(ExportError, match=r"the result is empty, and .* holds 4 folders"):
        export_cases(location, store, DAY, **BY_KIND)
    assert sealed(store) == before

    outcome = export_cases(location, store, DAY, **BY_KIND, allow_empty=True)
    assert sorted(outcome.removed) == sorted(before)
    assert sealed(store) == {}


def test_a_day_with_no_rows_publishes_but_does_not_empty_a_day_that_had_some(
    location, store
) -> None:
    export_cases(location, store, DAY, **DATED)
    export_cases(location, store, date(2024, 4, 30), **DATED)  # a day of no rows: published
    assert sealed(store) == {"dt=2024-04-30": 0, "dt=2024-05-01": 1}
    empty_the_table(location)

    with pytest.raises(ExportError, match=r"dt=2024-05-01\) holds 1 rows"):
        export_cases(location, store, DAY, **DATED)
    assert sealed(store) == {"dt=2024-04-30": 0, "dt=2024-05-01": 1}


def test_an_empty_unload_does_not_replace_a_snapshot_that_held_rows(postgres, s3, store) -> None:
    """Redshift's path (UNLOAD, then the copy), played on PostgreSQL and moto's S3."""
    conninfo = cases_warehouse(postgres)
    endpoint, bucket = s3
    landing = LandingStore(f"s3://{bucket}/landing", fs=s3_filesystem(endpoint_url=endpoint))
    export_cases_from_redshift(conninfo, landing, store, DAY)
    empty_the_table(conninfo)

    with pytest.raises(ExportError, match=r"the result is empty, and .* holds 4 rows"):
        export_cases_from_redshift(conninfo, landing, store, NEXT_DAY)
    assert sealed(store) == {"dt=2024-05-01": 4}
