"""An export whose partitioning changed (by: column region -> by: date, or -> another column)
finds the folders of its old layout in its store, on a local folder and on the GCS emulator.

Before, retention sorted every `x=` folder by name: `region=...` sorts after `dt=...`, so the
old folders counted as the newest and every new day was removed right after it was published,
the runs succeeding. Renamed to `market`, the `region=` folders stayed beside the `market=`
ones and a reader of the export's sealed folders counted each row twice. Now a run fails before
anything is published, naming the export's file, `partitioning` and the old folders; neither
retention nor the removal of absent values ever deletes them."""

from __future__ import annotations

from datetime import date

import pytest

from tributary.config.models import ExportConfig, Tenant
from tributary.exports import ExportError, ExportStore, run_export

from .data import cases_warehouse, connect, export_cases

pytestmark = pytest.mark.integration
DAY = date(2024, 5, 1)
BY_LABEL = {
    "sql": "select id, coalesce(label, 'none') as kind, day from main.cases",
    "partitioning": {"by": "column", "column": "kind"},
}
DATED = {
    "sql": "select id, coalesce(label, 'none') as kind, day from main.cases",
    "partitioning": {"by": "date", "column": "day", "start_date": "1999-01-01"},
    "retention": 2,
}


@pytest.fixture(params=["local", "gcs"])
def store(request) -> ExportStore:
    if request.param == "local":
        return ExportStore(str(request.getfixturevalue("tmp_path") / "lake"))
    gcs = request.getfixturevalue("gcs")
    return ExportStore(f"{gcs.url}/lake", fs=gcs.fs)


def sealed(store: ExportStore) -> list[str]:
    return store.partitions("cases")


def test_a_switch_to_dates_with_retention_fails_naming_the_old_folders(store, tmp_path) -> None:
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    export_cases(warehouse, store, DAY, **BY_LABEL)
    old = sealed(store)
    assert len(old) == 4 and all(p.startswith("kind=") for p in old)

    with pytest.raises(ExportError) as raised:
        export_cases(warehouse, store, DAY, **DATED)

    message = str(raised.value)
    assert message.startswith("exports/cases.yaml: partitioning: ")
    assert ", ".join(old) in message
    assert "dt=" in message and "move them" in message and "nothing was published" in message
    # nothing published, nothing removed: the old folders are as they were
    assert sealed(store) == old
    assert store.partitions("cases", sealed_only=False) == old

    # moved away by the operator, the dated export publishes and keeps its newest 2 days
    for partition in old:
        store.fs.rm(store.partition_dir("cases", partition), recursive=True)
    for day in (date(1999, 12, 31), date(2024, 5, 1), date(2024, 5, 2)):
        outcome = export_cases(warehouse, store, day, **DATED)
    assert outcome.removed == ["dt=1999-12-31"]
    assert sealed(store) == ["dt=2024-05-01", "dt=2024-05-02"]


def test_a_renamed_partitioning_column_fails_naming_the_old_folders(store, tmp_path) -> None:
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    export_cases(warehouse, store, DAY, **BY_LABEL)
    old = sealed(store)
    renamed = {
        "sql": "select id, coalesce(label, 'none') as market from main.cases",
        "partitioning": {"by": "column", "column": "market"},
    }

    with pytest.raises(ExportError) as raised:
        export_cases(warehouse, store, DAY, **renamed)

    message = str(raised.value)
    assert message.startswith("exports/cases.yaml: partitioning: ")
    assert ", ".join(old) in message and "market=" in message
    assert store.partitions("cases", sealed_only=False) == old  # no market= folder beside them


def test_retention_and_absent_values_never_remove_another_layouts_folders(store, tmp_path):
    """The store's own rules, whoever calls them: only the current key's folders count."""
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    export_cases(warehouse, store, DAY, **BY_LABEL)
    old = sealed(store)
    for day in ("2024-05-01", "2024-05-02", "2024-05-03"):
        store.fs.makedirs(store.partition_dir("cases", f"dt={day}"), exist_ok=True)
        store.fs.pipe_file(f"{store.partition_dir('cases', f'dt={day}')}/_SUCCESS", b"")

    assert store.apply_retention("cases", 2) == ["dt=2024-05-01"]
    assert sealed(store) == ["dt=2024-05-02", "dt=2024-05-03", *old]
    assert store.remove_absent_values("cases", "market", ["market=x"]) == []
    assert store.remove_absent_values("cases", "kind", []) == old
    assert sealed(store) == ["dt=2024-05-02", "dt=2024-05-03"]


def test_a_switch_to_per_tenant_fails_naming_the_shared_folders_old_partitions(store, tmp_path):
    """<name>/tenant=<alias>/ of a per_tenant export in the shared store: the dated folders
    the export published before it was per_tenant stay beside them, in <name>/."""
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    export_cases(warehouse, store, DAY)
    sql = "select * from main.cases"
    export = ExportConfig.model_validate(
        {
            "name": "cases",
            "query": sql,
            "depends_on": ["cases"],
            "per_tenant": True,
            "tenant_column": "id",
        }
    )
    with connect(warehouse) as wh, pytest.raises(ExportError) as raised:
        run_export(
            export,
            sql=sql,
            day=DAY,
            warehouse=wh,
            store=store,
            asset="export/cases",
            batch_rows=2,
            tenant=Tenant(id=1, alias="one"),
        )

    assert "(dt=2024-05-01); expected only tenant=... folders" in str(raised.value)
    assert store.partitions("cases", sealed_only=False) == ["dt=2024-05-01"]
