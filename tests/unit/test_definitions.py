"""Loading definitions: no I/O beyond YAML and the dbt manifest, and the graph as reviewed."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from pathlib import Path

import connectorx
import dagster as dg
import duckdb
import pytest

from tributary.config import ProjectConfig
from tributary.defs import build_definitions
from tributary.warehouse import DuckDBWarehouse

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "asset_graph.json"


class ConnectionAttempted(AssertionError):
    pass


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any database or network connection raises."""

    def refuse(*args, **kwargs):
        raise ConnectionAttempted(f"connection attempted: {args!r}")

    monkeypatch.setattr(duckdb, "connect", refuse)
    monkeypatch.setattr(sqlite3, "connect", refuse)
    monkeypatch.setattr(connectorx, "read_sql", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_guard_catches_a_connection(demo_project: ProjectConfig, no_connections) -> None:
    with pytest.raises(ConnectionAttempted):
        _ = DuckDBWarehouse(demo_project.warehouse_path).con


def test_loading_definitions_opens_no_connection(
    demo_project: ProjectConfig, no_connections
) -> None:
    defs = build_definitions(demo_project)
    assert len(list(defs.resolve_asset_graph().get_all_asset_keys())) > 10
    assert not demo_project.warehouse_path.exists()


def describe_graph(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "checks": sorted(check.name for check in node.check_keys),
            "automation": node.automation_condition.get_label()
            if node.automation_condition
            else None,
            "freshness": str(node.freshness_policy.fail_window.to_timedelta())
            if node.freshness_policy
            else None,
            "partitions": len(node.partitions_def.get_partition_keys())
            if node.partitions_def
            else None,
        }
    schedules = {
        s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone}
        for s in sorted(defs.schedules or [], key=lambda s: s.name)
    }
    sensors = sorted(s.name for s in defs.sensors or [])
    return {"assets": assets, "schedules": schedules, "sensors": sensors}


def test_asset_graph_snapshot(demo_project: ProjectConfig) -> None:
    """The whole graph, so that any change to it shows in review.
    Refresh with: UPDATE_SNAPSHOTS=1 make test"""
    current = describe_graph(build_definitions(demo_project))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_lineage_is_one_connected_graph(demo_project: ProjectConfig) -> None:
    graph = describe_graph(build_definitions(demo_project))["assets"]
    for key, node in graph.items():
        for dep in node["deps"]:
            assert dep in graph, f"{key} depends on {dep}, which is not an asset"
    assert graph["staging/stg_erp__customers"]["deps"] == ["raw/erp/customers"]
    assert graph["export/dim_customer"]["deps"] == ["marts/dim_customer"]
    # Two source systems meet: Salesforce raw -> staging -> dim_account <- the ERP's customers.
    assert graph["raw/salesforce/account"]["group"] == "salesforce"
    assert graph["staging/stg_salesforce__account"]["deps"] == ["raw/salesforce/account"]
    assert graph["staging/stg_salesforce__opportunity"]["deps"] == ["raw/salesforce/opportunity"]
    assert graph["marts/dim_account"]["deps"] == [
        "marts/dim_customer",
        "staging/stg_salesforce__account",
        "staging/stg_salesforce__opportunity",
    ]
