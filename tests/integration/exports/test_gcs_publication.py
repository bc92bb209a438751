"""Publishing on the GCS emulator: a rerun replaces a partition exactly, retention keeps the
newest N, a custom query reads the partition's day, and the export asset runs per day."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.config.loader import load_project
from tributary.config.models import ExportConfig
from tributary.defs.export import build_export_asset
from tributary.defs.resources import (
    ExportStoreResource,
    LandingStoreResource,
    WarehouseResource,
)
from tributary.defs.sources import SourcesResource
from tributary.defs.transform import ModelRef
from tributary.exports import ExportStore
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

from ...conftest import CONFIG_DIR
from .data import cases_warehouse, connect, export_cases

pytestmark = pytest.mark.integration
DAY = date(2024, 5, 1)


def listing(gcs, folder: str) -> list[str]:
    gcs.fs.invalidate_cache()
    return sorted(path.removeprefix(f"{gcs.name}/") for path in gcs.fs.find(f"{gcs.name}/{folder}"))


def read_partition(gcs, folder: str) -> pa.Table:
    manifest = json.loads(gcs.fs.cat_file(f"{gcs.name}/{folder}/manifest.json"))
    return pa.concat_tables(
        pq.read_table(io.BytesIO(gcs.fs.cat_file(f"{gcs.name}/{folder}/{f['path']}")))
        for f in manifest["files"]
    )


def test_rerun_replaces_the_partition_exactly(gcs, tmp_path) -> None:
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    store = ExportStore(f"{gcs.url}/lake", fs=gcs.fs)
    first = export_cases(warehouse, store, DAY, rows_per_file=1)
    assert len(first.publications[0].manifest.files) == 4
    assert len(listing(gcs, "lake/cases/dt=2024-05-01")) == 6

    with DuckDBWarehouse(warehouse) as wh:
        wh.execute("delete from main.cases where id <> 2")
    second = export_cases(warehouse, store, DAY, rows_per_file=1)

    assert listing(gcs, "lake/cases") == [
        "lake/cases/dt=2024-05-01/_SUCCESS",
        "lake/cases/dt=2024-05-01/manifest.json",
        "lake/cases/dt=2024-05-01/part-00000.parquet",
    ]
    assert read_partition(gcs, "lake/cases/dt=2024-05-01").column("id").to_pylist() == [2]
    manifest = store.read_manifest("cases", "dt=2024-05-01")
    assert manifest.row_count == 1
    assert manifest.published_at == second.publications[0].manifest.published_at
    assert manifest.published_at > first.publications[0].manifest.published_at
    assert listing(gcs, "lake/_tmp") == []


def test_retention_keeps_the_newest_partitions(gcs, tmp_path) -> None:
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    store = ExportStore(f"{gcs.url}/lake", fs=gcs.fs)
    sql = "select * from main.cases where day = {{ partition_date }}"
    dated = {"partitioning": {"by": "date", "start_date": "1999-01-01"}}
    for day in (date(1999, 12, 31), date(2024, 5, 1)):
        assert export_cases(warehouse, store, day, sql=sql, **dated).removed == []
    # a broken partition (a run killed while publishing): no _SUCCESS
    gcs.fs.pipe_file(f"{gcs.name}/lake/cases/dt=2000-01-01/part-00000.parquet", b"half")

    outcome = export_cases(warehouse, store, date(2024, 5, 2), sql=sql, retention=2, **dated)

    assert outcome.removed == ["dt=1999-12-31", "dt=2000-01-01"]
    assert store.partitions("cases") == ["dt=2024-05-01", "dt=2024-05-02"]
    assert {p.rsplit("/", 2)[-2] for p in listing(gcs, "lake/cases")} == {
        "dt=2024-05-01",
        "dt=2024-05-02",
    }
    assert read_partition(gcs, "lake/cases/dt=2024-05-02").column("id").to_pylist() == [4]


def test_custom_query_reads_the_partition_day_and_its_parameters(gcs, tmp_path) -> None:
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    store = ExportStore(f"{gcs.url}/lake", fs=gcs.fs)
    sql = (
        "select id, amount, label from main.cases "
        "where happened_at >= {{ partition_start }} and happened_at < {{ partition_end }} "
        "and flag = {{ only_flag }}"
    )
    outcome = export_cases(
        warehouse,
        store,
        date(2024, 5, 2),
        sql=sql,
        parameters={"only_flag": True},
        partitioning={"by": "date", "start_date": "2024-01-01"},
    )
    assert outcome.sql == (
        "select id, amount, label from main.cases "
        "where happened_at >= timestamp '2024-05-02 00:00:00' "
        "and happened_at < timestamp '2024-05-03 00:00:00' and flag = true"
    )
    table = read_partition(gcs, "lake/cases/dt=2024-05-02")
    assert table.to_pylist() == [{"id": 4, "amount": Decimal("0.00"), "label": ""}]
    assert outcome.publications[0].manifest.sql == outcome.sql


def test_partitioning_by_a_column_publishes_one_folder_per_value(gcs, tmp_path) -> None:
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    store = ExportStore(f"{gcs.url}/lake", fs=gcs.fs)
    outcome = export_cases(
        warehouse,
        store,
        DAY,
        sql="select id, flag from main.cases",
        partitioning={"by": "column", "column": "flag"},
    )
    assert [(p.manifest.partition, p.manifest.row_count) for p in outcome.publications] == [
        ("flag=false", 1),
        ("flag=true", 2),
        ("flag=__HIVE_DEFAULT_PARTITION__", 1),
    ]
    assert sorted(read_partition(gcs, "lake/cases/flag=true").column("id").to_pylist()) == [1, 4]
    assert outcome.uri == f"{gcs.url}/lake/cases"  # several partitions: the export's folder
    assert store.partitions("cases") == [
        "flag=__HIVE_DEFAULT_PARTITION__",
        "flag=false",
        "flag=true",
    ]


def test_a_value_gone_from_the_result_takes_its_folder_with_it(gcs, tmp_path) -> None:
    """Each run of a by-column export is the whole result: the folder of a value no row holds
    any more is removed, not left to show its old rows beside the new ones (before, order 2
    stayed under flag=false after it became true: a reader of the export counted it twice)."""
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    store = ExportStore(f"{gcs.url}/lake", fs=gcs.fs)
    by_flag = {"sql": "select id, flag from main.cases", "partitioning": {"by": "column",
               "column": "flag"}}  # fmt: skip
    assert export_cases(warehouse, store, DAY, **by_flag).removed == []
    with connect(warehouse) as duck:
        duck.execute("update main.cases set flag = true where id = 2")

    outcome = export_cases(warehouse, store, DAY, **by_flag)

    assert outcome.removed == ["flag=false"]
    assert store.partitions("cases", sealed_only=False) == [
        "flag=__HIVE_DEFAULT_PARTITION__",
        "flag=true",
    ]
    assert not [path for path in listing(gcs, "lake/cases") if "flag=false" in path]
    assert sorted(read_partition(gcs, "lake/cases/flag=true").column("id").to_pylist()) == [
        1,
        2,
        4,
    ]


def test_export_asset_publishes_its_daily_partition(gcs, tmp_path, state_dir) -> None:
    warehouse = cases_warehouse(tmp_path / "warehouse.duckdb")
    export = ExportConfig.model_validate(
        {
            "name": "cases_daily",
            "query": "select id, day from {{ ref('cases') }} where day = {{ partition_date }}",
            "depends_on": ["cases"],
            "format": "csv",
            "partitioning": {"by": "date", "start_date": "2024-01-01"},
        }
    )
    models = {
        "cases": ModelRef(schema="main", name="cases", asset_key=dg.AssetKey(["marts", "cases"]))
    }
    asset = build_export_asset(load_project(CONFIG_DIR), export, models)
    assert isinstance(asset.partitions_def, dg.DailyPartitionsDefinition)
    assert asset.asset_deps[asset.key] == {dg.AssetKey(["marts", "cases"])}

    result = dg.materialize(
        [asset],
        partition_key="2024-05-01",
        resources={
            "warehouse": WarehouseResource(target="duckdb", settings={"path": str(warehouse)}),
            "export_store": ExportStoreResource(url=f"{gcs.url}/lake", project="tributary-test"),
            "sources": SourcesResource(),
            # where a warehouse that unloads would write first; DuckDB reads through the client
            "landing": LandingStoreResource(url=str(tmp_path / "landing")),
        },
    )
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert event.materialization.partition == "2024-05-01"
    assert metadata["dagster/row_count"].value == 1
    assert metadata["uri"].value == f"{gcs.url}/lake/cases_daily/dt=2024-05-01"
    assert [c.name for c in metadata["dagster/column_schema"].schema.columns] == ["id", "day"]
    text = gcs.fs.cat_file(f"{gcs.name}/lake/cases_daily/dt=2024-05-01/part-00000.csv")
    assert text == b'"id","day"\r\n1,2024-05-01\r\n'
