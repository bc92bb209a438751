"""Terminate, as the UI presses it (GraphQL terminateRun on a run its code server launched),
while a load waits on a slow PostgreSQL custom query: the call answers at once, the run is
CANCELED within seconds (not when the query returns), the source's query is gone from the
server, the raw table and watermark are as they were, and a rerun converges.

The run worker is the real one: a code server of tributary.definitions launches it through the
local instance's run launcher (deploy/dagster.local.yaml), as `make dev` does; the run starts at
once (Dagster's default run coordinator: the queue the daemon would work is not this test's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pytest
import yaml
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster_graphql.test.utils import execute_dagster_graphql, materialize_assets

from tests.conftest import local_dagster_home, wait_for
from tributary.defs.run_log import run_log_rows

ASSET = dg.AssetKey(["raw", "shop", "slowt"])
ROWS = 20
# Each row of the slow read sleeps this long: 30 s in all, against the seconds allowed below.
SLOW_ROW_SECONDS = 1.5
QUERY = (
    "select id, name, updated_at from slowt where pg_sleep((select delay from knobs)) is not null"
)
TERMINATE = """mutation($id: String!) { terminateRun(runId: $id) { __typename
  ... on TerminateRunFailure { message } ... on PythonError { message } } }"""
# The terminate call, and the run's end after it, are allowed this long: far below the query's.
PROMPT_SECONDS = 10


@pytest.fixture
def source(postgres: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute("create table slowt (id int primary key, name text, updated_at timestamp)")
        con.execute(
            "insert into slowt select g, 'row ' || g, timestamp '2024-05-01' + g * interval '1 s'"
            " from generate_series(1, %s) g",
            (ROWS,),
        )
        con.execute("create table knobs (delay float)")
        con.execute("insert into knobs values (0)")
        yield con


@pytest.fixture
def workspace(
    source: psycopg.Connection, postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dg.DagsterInstance, WorkspaceProcessContext, Path]]:
    """(the instance, a workspace whose code server launches runs, the DuckDB warehouse)."""
    config = tmp_path / "assets_config"
    (config / "sources").mkdir(parents=True)
    platform = {
        "state_dir": str(tmp_path / "state"),
        "warehouse": {"target": "duckdb", "path": "wh.duckdb"},
        "landing": {"url": "landing"},
    }
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    shop = {
        "name": "shop",
        "kind": "postgres",
        "connection": {"url": postgres},
        "tables": [
            {"name": "slowt", "primary_key": ["id"], "cursor": "updated_at",
             "mode": "incremental", "query": QUERY},
        ],
    }  # fmt: skip
    (config / "sources" / "shop.yaml").write_text(yaml.safe_dump(shop))
    home = local_dagster_home(tmp_path / "dagster_home")
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    settings["run_coordinator"] = {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TRIBUTARY_CONFIG_DIR", str(config))
    monkeypatch.delenv("TRIBUTARY_STATE_DIR", raising=False)
    target = ModuleTarget(
        module_name="tributary.definitions",
        attribute=None,
        working_directory=None,
        location_name="tributary",
    )
    with (
        dg.DagsterInstance.get() as instance,
        WorkspaceProcessContext(instance, target) as context,
    ):
        yield instance, context, tmp_path / "state" / "wh.duckdb"


def launch(context: WorkspaceProcessContext) -> str:
    result = materialize_assets(context.create_request_context(), [ASSET])
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def finished(instance: dg.DagsterInstance, run_id: str, timeout: float) -> dg.DagsterRun:
    def probe() -> dg.DagsterRun | None:
        run = instance.get_run_by_id(run_id)
        return run if run.is_finished else None

    return wait_for(f"run {run_id} to finish", probe, timeout=timeout, every=0.2)


def warehouse_state(path: Path) -> tuple:
    with duckdb.connect(str(path), read_only=True) as con:
        return (
            con.execute("select id, name, updated_at from raw_shop.slowt order by id").fetchall(),
            con.execute("select value, load_id from _tributary.watermarks").fetchall(),
            con.execute("select load_id from _tributary.loads order by load_id").fetchall(),
        )


def slow_query_running(source: psycopg.Connection) -> bool:
    return bool(
        source.execute(
            "select 1 from pg_stat_activity where query like '%%pg_sleep%%'"
            " and state = 'active' and pid <> pg_backend_pid()"
        ).fetchall()
    )


def test_terminate_stops_a_slow_extraction_at_once_and_keeps_the_previous_load(
    workspace, source: psycopg.Connection
) -> None:
    instance, context, warehouse = workspace
    first = finished(instance, launch(context), timeout=120)
    assert first.status == dg.DagsterRunStatus.SUCCESS
    before = warehouse_state(warehouse)
    assert len(before[0]) == ROWS

    source.execute(
        "update slowt set name = name || ' changed', updated_at = updated_at + interval '1 d'"
    )
    source.execute("update knobs set delay = %s", (SLOW_ROW_SECONDS,))
    run_id = launch(context)
    wait_for("the slow source query", lambda: slow_query_running(source), timeout=60)
    time.sleep(1)  # well inside the read

    asked = time.monotonic()
    answer = execute_dagster_graphql(
        context.create_request_context(), TERMINATE, {"id": run_id}
    ).data["terminateRun"]
    answered = time.monotonic() - asked
    assert answer["__typename"] == "TerminateRunSuccess", answer
    assert answered < PROMPT_SECONDS, answered

    run = finished(instance, run_id, timeout=PROMPT_SECONDS)
    stopped = time.monotonic() - asked
    assert run.status == dg.DagsterRunStatus.CANCELED
    assert stopped < PROMPT_SECONDS, stopped
    # The source's query is not left running on the server either.
    assert wait_for(
        "the slow query to end", lambda: not slow_query_running(source), timeout=5, every=0.2
    )
    assert warehouse_state(warehouse) == before
    [logged] = run_log_rows(instance, run)
    assert (logged.status, logged.error) == ("CANCELED", "raw__shop__slowt: terminated by a user")

    source.execute("update knobs set delay = 0")
    rerun = finished(instance, launch(context), timeout=120)
    assert rerun.status == dg.DagsterRunStatus.SUCCESS
    rows, watermark, loads = warehouse_state(warehouse)
    assert [name for _, name, _ in rows] == [f"row {i} changed" for i in range(1, ROWS + 1)]
    assert watermark != before[1] and len(loads) == len(before[2]) + 1
