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

import dagster as dg
import pytest
import yaml

from tributary.config.loader import STATE_DIR_ENV, ConfigError, load_project
from tributary.config.models import ExportConfig, Tenant
from tributary.defs import build_definitions
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
    assert message.startswith("export 'cases': partitioning: ")
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
    assert message.startswith("export 'cases': partitioning: ")
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


def test_the_error_names_the_file_the_export_was_read_from(tmp_path, monkeypatch) -> None:
    """An export is named by its `name:`, not by its file's: the error named
    exports/<name>.yaml, a file that need not exist (here the export is read from
    exports/numbers_v2.yaml). It names the file the export was read from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    config = tmp_path / "assets_config"
    (config / "exports").mkdir(parents=True)
    (config / "platform.yaml").write_text(
        yaml.safe_dump({"warehouse": {"target": "duckdb", "path": "warehouse.duckdb"}})
    )
    export_file = config / "exports" / "numbers_v2.yaml"
    export = {
        "name": "numbers",
        "query": "select 1 as n, 'EU' as region",
        "depends_on": ["fct_sales"],  # a query export names the models it reads (none here)
        "partitioning": {"by": "column", "column": "region"},
    }

    def materialize() -> dg.ExecuteInProcessResult:
        defs = build_definitions(load_project(config))
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey(["export", "numbers"])],
            raise_on_error=False,
        )

    export_file.write_text(yaml.safe_dump(export))
    assert materialize().success  # numbers/region=EU/
    del export["partitioning"]  # by date now: numbers/dt=.../
    export_file.write_text(yaml.safe_dump(export))
    result = materialize()

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.to_string()
    assert "assets_config/exports/numbers_v2.yaml: partitioning: " in message, message
    assert "exports/numbers.yaml" not in message
    assert "(region=EU); expected only dt=... folders there" in message

    # So does the definitions' refusal of a model no dbt project holds.
    export_file.write_text(yaml.safe_dump({**export, "depends_on": ["no_such_model"]}))
    with pytest.raises(ConfigError, match=r"^assets_config/exports/numbers_v2\.yaml: depends_on: "):
        build_definitions(load_project(config))


def test_a_day_older_than_retention_keeps_is_refused_before_it_is_published(store, tmp_path):
    """A backfill of a day before the `retention` newest: published, retention removed it at
    once, and the run said it published it, green. Now it is refused, nothing published or
    removed; a day among the newest is published again as ever."""
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    for day in (date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)):
        export_cases(warehouse, store, day, **DATED)
    kept = sealed(store)
    assert kept == ["dt=2024-05-02", "dt=2024-05-03"]

    with pytest.raises(ExportError) as raised:
        export_cases(warehouse, store, date(2024, 4, 15), **DATED)
    message = str(raised.value)
    assert message.startswith("export 'cases': retention: 2: ")
    assert "dt=2024-04-15" in message and "dt=2024-05-02" in message
    assert "nothing was published" in message
    assert store.partitions("cases", sealed_only=False) == kept

    assert export_cases(warehouse, store, date(2024, 5, 2), **DATED).removed == []
    assert sealed(store) == kept


BY_DAY = {"partitioning": DATED["partitioning"]}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({}, BY_DAY),  # by: run_date (the whole result each day) -> by: date
        (BY_DAY, {"partitioning": {**BY_DAY["partitioning"], "column": "id2"}}),
        (BY_DAY, {}),  # by: date -> by: run_date
    ],
    ids=["run_date-to-date", "date-column-renamed", "date-to-run_date"],
)
def test_a_switch_between_dated_partitionings_fails_naming_the_old_one(
    store, tmp_path, before, after
):
    """by: run_date and by: date both publish dt=YYYY-MM-DD folders: a switch between them (or
    to another date column) left the old folders beside the new days, each a day's folder to a
    reader (a run_date folder holding the whole result), and retention counted them among the
    newest and removed the new days. Now each manifest records its partitioning, and a run
    whose partitioning differs from the newest partition's fails before it publishes."""
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    with connect(warehouse) as wh:
        wh.execute("create or replace view main.cases2 as select *, day as id2 from main.cases")
    sql = "select * from main.cases2 order by id"
    export_cases(warehouse, store, date(2024, 5, 10), sql, **before)
    old = store.partitions("cases", sealed_only=False)

    with pytest.raises(ExportError) as raised:
        export_cases(warehouse, store, date(2024, 5, 1), sql, **after)
    message = str(raised.value)
    assert message.startswith("export 'cases': partitioning: "), message
    assert "nothing was published" in message and "move them" in message
    assert store.partitions("cases", sealed_only=False) == old
