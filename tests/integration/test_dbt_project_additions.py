"""What a team adds to the dbt project beside the shipped models: a seed, a model joining it
with a relationship test to it, a snapshot, an ephemeral model; and exports of them. Each run is
a separate run on one Dagster instance, as schedules, automation and an operator start them
(the demo's graph on DuckDB: what is judged here is Dagster's and dbt's, not the warehouse's)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.conftest import copy_dbt_project
from tests.integration.test_export_gate import (
    failure,
    losing_one_row,
    on_warehouse,
    published,
    run,
)
from tests.integration.test_export_gate import project_with as gate_project_with
from tributary.config.loader import ConfigError, ProjectConfig
from tributary.defs import build_definitions
from tributary.defs.resources import WarehouseResource
from tributary.defs.transform import prepare_manifest

CUSTOMERS = dg.AssetKey(["raw", "erp", "customers"])
ORDERS = dg.AssetKey(["raw", "erp", "sales_orders"])
STG_CUSTOMERS = dg.AssetKey(["staging", "stg_erp__customers"])
STG_ORDERS = dg.AssetKey(["staging", "stg_erp__sales_orders"])
SEED = dg.AssetKey(["order_statuses"])
LABELLED = dg.AssetKey(["marts", "orders_labelled"])
SNAPSHOT = dg.AssetKey(["snapshots", "customers_history"])
EXPORT_LABELLED = dg.AssetKey(["export", "orders_labelled"])
EXPORT_HISTORY = dg.AssetKey(["export", "customers_history"])

STATUSES_CSV = "status,label\nopen,Open\nshipped,Shipped\ninvoiced,Invoiced\ncancelled,Cancelled\n"
LABELLED_SQL = """\
select o.order_id, o.status, s.label
from {{ ref('stg_erp__sales_orders') }} as o
left join {{ ref('order_statuses') }} as s on s.status = o.status
"""
LABELLED_YML = {
    "version": 2,
    "models": [
        {
            "name": "orders_labelled",
            "columns": [
                {
                    "name": "status",
                    "data_tests": [
                        {"relationships": {"to": "ref('order_statuses')", "field": "status"}}
                    ],
                }
            ],
        }
    ],
}
SNAPSHOTS_YML = {
    "snapshots": [
        {
            "name": "customers_history",
            "relation": "ref('stg_erp__customers')",
            "config": {
                "schema": "snapshots",
                "unique_key": "customer_id",
                "strategy": "timestamp",
                "updated_at": "modified_at",
            },
        }
    ]
}


@pytest.fixture
def instance() -> dg.DagsterInstance:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def dbt_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the dbt project with a seed, a mart joining it (its status tested against the
    seed), and a snapshot of the customers."""
    dbt_dir = copy_dbt_project(tmp_path / "dbt_project")
    (dbt_dir / "seeds").mkdir()
    (dbt_dir / "seeds" / "order_statuses.csv").write_text(STATUSES_CSV)
    (dbt_dir / "models" / "marts" / "orders_labelled.sql").write_text(LABELLED_SQL)
    (dbt_dir / "models" / "marts" / "_orders_labelled.yml").write_text(yaml.safe_dump(LABELLED_YML))
    (dbt_dir / "snapshots").mkdir()
    (dbt_dir / "snapshots" / "customers_history.yml").write_text(yaml.safe_dump(SNAPSHOTS_YML))
    monkeypatch.setenv("TRIBUTARY_DBT_PROJECT_DIR", str(dbt_dir))
    return dbt_dir


def project_with(
    config_dir: Path, state_dir: Path, *exports: dict, warehouse: dict | None = None
) -> ProjectConfig:
    """The export gate tests' project (on `warehouse`), its manifest parsed from the dbt
    project's copy."""
    edit = on_warehouse(warehouse) if warehouse is not None else None
    project = gate_project_with(config_dir, state_dir, *exports, edit=edit)
    prepare_manifest(project)
    return project


def one_value(project: ProjectConfig, sql: str):
    with WarehouseResource.from_project(project).open() as warehouse:
        [(value,)] = warehouse.query(sql)
        return value


def requested(defs: dg.Definitions, result) -> set[dg.AssetKey]:
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return {key for key in keys if result.get_num_requested(key)}


def test_a_seed_is_built_by_automation_when_missing_and_again_when_its_file_changes(
    config_dir: Path, state_dir: Path, dbt_dir: Path, instance: dg.DagsterInstance
) -> None:
    """A seed reads nothing, so no load made eager() request it, and eager() leaves alone what
    was missing when automation first looked: the seed was never built, and the mart joining
    it (and its export) waited on it for good, without a word."""
    project = project_with(config_dir, state_dir)
    defs = build_definitions(project)  # a seed's manifest node has no `depends_on.nodes`

    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert SEED in requested(defs, first)
    assert run(defs, [SEED], instance).success
    assert run(defs, [ORDERS], instance).success  # the source schedule's load
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert SEED not in requested(defs, second)  # built: not again
    assert {STG_ORDERS, LABELLED} <= requested(defs, second)

    # The CSV edited: the seed's code version (its checksum) changes, and it is built again.
    (dbt_dir / "seeds" / "order_statuses.csv").write_text(STATUSES_CSV + "void,Void\n")
    prepare_manifest(project)
    edited = build_definitions(project)
    third = dg.evaluate_automation_conditions(defs=edited, instance=instance, cursor=second.cursor)
    assert SEED in requested(edited, third)


def test_a_relationship_test_to_a_seed_runs_when_the_seed_is_not_built(
    config_dir: Path, state_dir: Path, dbt_dir: Path, instance: dg.DagsterInstance
) -> None:
    """Automation builds the staging model and the mart after a load, not the seed: cautious
    selection dropped the mart's relationship test to the seed, Dagster passed the blocking
    check that reported nothing, and the export published the order of an unknown status."""
    project = project_with(
        config_dir, state_dir, {"name": "orders_labelled", "model": "orders_labelled"}
    )
    defs = build_definitions(project)
    assert run(defs, [ORDERS, SEED, STG_ORDERS, LABELLED], instance).success

    changed = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    with sqlite3.connect(project.state_dir / "demo" / "erp.sqlite") as con:
        con.execute(
            "insert into sales_orders_stage (change_id, operation, order_id, customer_id, "
            "order_date, amount, status, changed_at) "
            "values (999001, 'I', 999001, 1, '2024-05-01', 10, 'bogus', ?)",
            [changed.isoformat(sep=" ")],
        )
    assert run(defs, [ORDERS], instance).success
    built = run(defs, [STG_ORDERS, LABELLED], instance)  # what automation requests
    evaluations = {e.check_name: e.passed for e in built.get_asset_check_evaluations()}
    relationship = [name for name in evaluations if name.startswith("relationships_")]
    assert relationship and not evaluations[relationship[0]]

    refused = run(defs, [EXPORT_LABELLED], instance)
    assert relationship[0] in failure(refused, "export__orders_labelled")
    assert published(project, "orders_labelled") == []


def test_a_snapshot_is_not_built_while_a_check_upstream_stands_failed(
    config_dir: Path,
    state_dir: Path,
    dbt_dir: Path,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    warehouse_config: dict,
) -> None:
    """A snapshot keeps every version it records: built on a load its reconciliation rejected,
    it kept those rows for good, and a rebuild once the check passed cleared the export gate
    (no rebuild, --full-refresh included, removes them). An operator's run of it is refused,
    naming the snapshot and the check; once the check passes it builds, and its export (by
    `model:`, a snapshot in the export's lineage) publishes."""
    project = project_with(
        config_dir,
        state_dir,
        {"name": "customers_history", "model": "customers_history"},
        warehouse=warehouse_config,
    )
    defs = build_definitions(project)
    assert SNAPSHOT in defs.resolve_asset_graph().get(EXPORT_HISTORY).parent_keys
    assert run(defs, [CUSTOMERS, STG_CUSTOMERS, SNAPSHOT], instance).success

    with monkeypatch.context() as patch:
        losing_one_row(patch)
        rejected = run(defs, [CUSTOMERS], instance)
        assert not rejected.success
    snapshot_rows = "select count(*) from snapshots.customers_history"
    before = one_value(project, snapshot_rows)

    refused = run(defs, [STG_CUSTOMERS, SNAPSHOT], instance)
    assert not refused.success
    why = failure(refused, "dbt_models")
    assert "snapshot snapshots/customers_history" in why
    assert "reconciliation" in why and rejected.run_id in why
    assert one_value(project, snapshot_rows) == before

    assert run(defs, [CUSTOMERS], instance).success  # a load whose check passes
    assert run(defs, [STG_CUSTOMERS, SNAPSHOT], instance).success
    assert run(defs, [EXPORT_HISTORY], instance).success
    assert len(published(project, "customers_history")) == 1


def test_an_export_of_an_ephemeral_model_is_refused_naming_it(
    config_dir: Path, state_dir: Path, dbt_dir: Path
) -> None:
    """dbt builds no relation of an ephemeral model: its export was accepted, hung off a
    stand-in asset outside the lineage (so the gate saw no check upstream), and failed at run
    time on a missing table, or read a stale one of that name."""
    (dbt_dir / "models" / "marts" / "customer_names.sql").write_text(
        "{{ config(materialized='ephemeral') }}\n"
        "select customer_id, customer_name from {{ ref('stg_erp__customers') }}\n"
    )
    project = project_with(config_dir, state_dir, {"name": "names", "model": "customer_names"})
    with pytest.raises(ConfigError) as raised:
        build_definitions(project)
    assert "exports/names.yaml: model: dbt model 'customer_names' is ephemeral" in str(raised.value)
