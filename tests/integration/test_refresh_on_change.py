"""`refresh: on_change` on real MariaDB and PostgreSQL sources: the observe_<source> sensor
probes the source (one query per tick), and the raw tables' automation condition requests a
load only after their source changed. The sensor and the automation conditions are evaluated
with Dagster's testing APIs on one instance; requested runs are executed in process."""

from __future__ import annotations

import time

import dagster as dg
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.integration.test_run_log import warehouse_rows
from tributary.config.loader import load_project
from tributary.config.models import TableConfig
from tributary.defs import build_definitions
from tributary.defs.observe import source_asset_key
from tributary.sources import SqlSource

ITEMS = dg.AssetKey(["raw", "shop", "items"])  # has a cursor: probed by its max
KINDS = dg.AssetKey(["raw", "shop", "kinds"])  # none: probed by the catalog's counter


def connect(server: str, request: pytest.FixtureRequest):
    """(the source's URL, a function running statements on it, each committed)."""
    if server == "mariadb":
        url, con = request.getfixturevalue("mariadb")

        def run(*statements: str) -> None:
            for statement in statements:
                con.cursor().execute(statement)

        return str(url), run
    url = request.getfixturevalue("postgres")

    def run_pg(*statements: str) -> None:
        # A session of its own, closed after: PostgreSQL's statistics counters are flushed by
        # the writing session (within seconds, or as it ends).
        with psycopg.connect(url, autocommit=True) as con:
            for statement in statements:
                con.execute(statement)

    return url, run_pg


def write_shop(config_dir, server: str, url: str, tables: list[dict]) -> None:
    """sources/shop.yaml: the server's source, refreshed on change, observed every 30 s."""
    shop = {"name": "shop", "kind": "mysql" if server == "mariadb" else "postgres",
            "connection": {"url": url}, "refresh": "on_change", "refresh_interval": "30s",
            "tables": tables}  # fmt: skip
    (config_dir / "sources" / "shop.yaml").write_text(yaml.safe_dump(shop))


class Observed:
    def __init__(self, project, instance: dg.DagsterInstance) -> None:
        self.project = project
        self.defs = build_definitions(project)
        self.instance = instance
        self.sensor_cursor: str | None = None
        self.automation_cursor = None
        self.job = self.defs.resolve_implicit_global_asset_job_def()

    def observe(self) -> dg.SensorResult:
        sensor = self.defs.resolve_sensor_def("observe_shop")
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.sensor_cursor,
            repository_def=self.defs.get_repository_def(),
            resources=self.defs.resources,
        ) as context:
            data = sensor.evaluate_tick(context)
        # What the daemon does with a sensor's asset events.
        for event in data.asset_events:
            self.instance.report_runless_asset_event(event)
        self.sensor_cursor = data.cursor or self.sensor_cursor
        return data

    def observe_until_seen(self, seconds: float = 20) -> list[dg.AssetKey]:
        """The tables observed as changed by the first tick that sees one: catalog counters
        (PostgreSQL's) may move a few seconds after the write."""
        deadline = time.monotonic() + seconds
        while not (events := self.observe().asset_events) and time.monotonic() < deadline:
            time.sleep(1)
        return [e.asset_key for e in events]

    def requested(self) -> set[dg.AssetKey]:
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            asset_selection=dg.AssetSelection.assets(ITEMS, KINDS),
            cursor=self.automation_cursor,
        )
        self.automation_cursor = result.cursor
        keys = {key for key in (ITEMS, KINDS) if result.get_num_requested(key)}
        if keys:
            assert self.job.execute_in_process(
                instance=self.instance, asset_selection=sorted(keys, key=str)
            ).success
        return keys


@pytest.mark.parametrize("server", ["mariadb", "postgres"])
def test_a_change_in_the_source_requests_one_load_and_an_idle_source_none(
    server: str, request: pytest.FixtureRequest, config_dir, state_dir
) -> None:
    url, run = connect(server, request)
    run(
        "create table items (id int primary key, name varchar(20), updated_at timestamp(6))",
        "create table kinds (id int primary key, label varchar(20))",
        "insert into items values (1, 'a', '2026-01-01 00:00:00'), (2, 'b', '2026-01-02')",
        "insert into kinds values (1, 'x')",
    )
    write_shop(config_dir, server, url, [
        {"name": "items", "primary_key": ["id"], "cursor": "updated_at", "mode": "incremental"},
        {"name": "kinds", "primary_key": ["id"]},
    ])  # fmt: skip
    time.sleep(2.1)  # MariaDB's update_time is to the second: let the setup's second pass
    observed = Observed(load_project(config_dir), dg.DagsterInstance.ephemeral())
    # The automation sensor's first evaluation starts its cursor (Dagster requests nothing
    # then); it runs from the deployment on, before any observation.
    assert observed.requested() == set()

    # The first observation is a change (nothing was seen before): both tables load once.
    first = observed.observe()
    assert {e.asset_key for e in first.asset_events} == {
        source_asset_key("shop", "items"),
        source_asset_key("shop", "kinds"),
    }
    assert observed.requested() == {ITEMS, KINDS}

    # An idle source: several ticks, no observation recorded, no load requested.
    for _ in range(3):
        assert observed.observe().asset_events == []
        assert observed.requested() == set()

    # A row updated: exactly one load of that table, once.
    run("update items set name = 'b2', updated_at = '2026-01-03' where id = 2")
    changed = observed.observe()
    assert [e.asset_key for e in changed.asset_events] == [source_asset_key("shop", "items")]
    assert observed.requested() == {ITEMS}
    assert observed.requested() == set()

    # A change observed between the same two evaluations as the previous load's end is loaded
    # too: that load may have read the source before the change.
    run("update items set name = 'b3', updated_at = '2026-01-04' where id = 2")
    observed.observe()
    assert observed.requested() == {ITEMS}  # this load's end ...
    run("update items set name = 'b4', updated_at = '2026-01-05' where id = 2")
    observed.observe()  # ... and this change fall between the same two evaluations
    assert observed.requested() == {ITEMS}
    assert observed.requested() == set()
    assert warehouse_rows(observed.project, "select name from raw_shop.items where id = 2") == [
        ("b4",)
    ]

    # A table without a cursor: its catalog counter moves (PostgreSQL's within seconds).
    time.sleep(2.1)
    run("insert into kinds values (2, 'y')")
    assert observed.observe_until_seen() == [source_asset_key("shop", "kinds")]
    assert observed.requested() == {KINDS}
    assert warehouse_rows(observed.project, "select count(*) from raw_shop.kinds") == [(2,)]

    # TRUNCATE moves neither MariaDB's update_time nor PostgreSQL's row counters: missed, the
    # warehouse would keep the emptied table's rows without a word.
    time.sleep(2.1)
    observed.observe()  # MariaDB: the write's second has passed, which its version says once
    observed.requested()
    run("truncate table kinds")
    assert observed.observe_until_seen() == [source_asset_key("shop", "kinds")]
    assert observed.requested() == {KINDS}
    assert warehouse_rows(observed.project, "select count(*) from raw_shop.kinds") == [(0,)]

    # A probe that fails is recorded as failed and requests nothing.
    run("drop table items")
    failed = observed.observe()
    assert "probe failed" in failed.skip_message
    assert {e.metadata["probe"].value for e in failed.asset_events} == {"failed"}
    assert observed.requested() == set()


@pytest.mark.parametrize("server", ["mariadb", "postgres"])
def test_a_view_without_a_cursor_cannot_be_observed_and_says_so(
    server: str, request: pytest.FixtureRequest, config_dir, state_dir
) -> None:
    """A view keeps no change counter: its version was a constant (PostgreSQL `None`,
    MariaDB `/`), so after its first load no change to its rows was ever loaded. Its
    observation now fails naming the way on, and the source's other tables are observed."""
    url, run = connect(server, request)
    run(
        "create table items (id int primary key, name varchar(20), updated_at timestamp(6))",
        "insert into items values (1, 'a', '2026-01-01 00:00:00')",
        "create view v_items as select id, name from items",
    )
    write_shop(config_dir, server, url, [
        {"name": "items", "primary_key": ["id"], "cursor": "updated_at", "mode": "incremental"},
        {"name": "kinds", "object": "v_items", "primary_key": ["id"]},
        {"name": "labels", "object": "v_items", "primary_key": ["id"], "cursor": "id"},
    ])  # fmt: skip
    observed = Observed(load_project(config_dir), dg.DagsterInstance.ephemeral())
    first = observed.observe()
    said = {e.asset_key.path[-1]: e.metadata for e in first.asset_events}
    assert said["kinds"]["probe"].value == "failed"
    assert said["kinds"]["error"].value == (
        "table 'kinds' reads v_items, a view: the catalog keeps no change counter for a view, "
        "so refresh: on_change would never see its rows change; give the table a cursor (the "
        "view's highest value is then its version), or refresh: schedule"
    )
    # The other tables, a view with a cursor among them, are observed all the same.
    assert said["items"]["probe"].value == "ok" and said["labels"]["probe"].value == "ok"
    run("update items set name = 'b', updated_at = '2026-01-02' where id = 1")
    changed = observed.observe()
    assert [e.asset_key.path[-1] for e in changed.asset_events if "error" not in e.metadata] == [
        "items"
    ]


def test_a_partitioned_postgres_table_is_observed_through_its_partitions(
    request: pytest.FixtureRequest,
) -> None:
    """PostgreSQL counts a partitioned table's rows in its partitions: the parent's counters
    stayed 0/0, so no insert into it was ever seen."""
    url, run = connect("postgres", request)
    run(
        "create table events (id int, day date not null, primary key (id, day)) "
        "partition by range (day)",
        "create table events_2026 partition of events for values from ('2026-01-01') "
        "to ('2027-01-01')",
    )
    source = SqlSource(make_url(url), owner="shop")
    table = TableConfig(name="events", primary_key=["id", "day"])
    before = source.probe([table])["events"]
    run("insert into events values (1, '2026-03-01')")
    deadline = time.monotonic() + 20
    while (after := source.probe([table])["events"]) == before and time.monotonic() < deadline:
        time.sleep(1)
    assert after != before
    run("truncate table events")
    deadline = time.monotonic() + 20
    while (emptied := source.probe([table])["events"]) == after and time.monotonic() < deadline:
        time.sleep(1)
    assert emptied != after
