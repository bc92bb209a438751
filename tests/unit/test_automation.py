"""Schedules, declarative automation, the landing-inbox sensor and retries, through Dagster's
testing APIs on the demo project (DuckDB and SQLite files: no server)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redshift_connector
import yaml

import tributary.defs.ingest
from tributary.config.loader import ConfigError, ProjectConfig, load_project
from tributary.defs import build_definitions
from tributary.defs.resources import LandingStoreResource
from tributary.errors import OvertakenLoadError, SourceError, WarehouseError
from tributary.retry import is_transient
from tributary_demo import generate_demo_sources

APP_USERS = dg.AssetKey(["raw", "app", "users"])
APP_COMPANIES = dg.AssetKey(["raw", "app", "companies"])
ERP_CUSTOMERS = dg.AssetKey(["raw", "erp", "customers"])


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def table(data: dict, name: str) -> dict:
    return next(t for t in data["tables"] if t["name"] == name)


@pytest.fixture
def project(config_dir: Path, state_dir: Path) -> ProjectConfig:
    """The demo configuration with app.users scoped by tenant (company_id)."""
    edit_yaml(
        config_dir / "sources" / "app.yaml",
        lambda d: table(d, "users").update(tenant_column="company_id"),
    )
    generate_demo_sources(state_dir / "demo", customers=20, orders=40)
    return load_project(config_dir)


def tick(
    defs: dg.Definitions,
    name: str,
    at: datetime,
    materialized: dict[dg.AssetKey, list[str]] | None = None,
) -> list[dg.RunRequest]:
    """The run requests of schedule `name`'s tick at `at`, on an instance where the
    `materialized` partitions of each asset are."""
    schedule = defs.resolve_schedule_def(name)
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=at,
            repository_def=defs.get_repository_def(),
            resources=defs.resources,
        ) as context,
    ):
        for key, partitions in (materialized or {}).items():
            for partition in partitions:
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(key, partition=partition)
                )
        return list(schedule.evaluate_tick(context).run_requests or [])


def checked_load(instance: dg.DagsterInstance, key: dg.AssetKey, passed: bool) -> None:
    """A load of `key` recorded with its blocking reconciliation check's outcome."""
    instance.report_runless_asset_event(dg.AssetMaterialization(key))
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=key, check_name="reconciliation", passed=passed,
            blocking=True, severity=dg.AssetCheckSeverity.ERROR,
        )
    )  # fmt: skip


def requested_by(defs: dg.Definitions, result) -> set[str]:
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return {key.to_user_string() for key in keys if result.get_num_requested(key)}


def test_source_schedule_requests_one_run_per_active_tenant(project: ProjectConfig) -> None:
    defs = build_definitions(project)
    schedule = defs.resolve_schedule_def("app_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 0 * * *", "Europe/Berlin")

    requests = tick(defs, "app_schedule", datetime(2026, 11, 23, tzinfo=ZoneInfo("Europe/Berlin")))

    whole = [r for r in requests if r.partition_key is None]
    assert [r.asset_selection for r in whole] == [[APP_COMPANIES]]
    tenants = sorted(
        (r.partition_key, tuple(r.asset_selection)) for r in requests if r.partition_key
    )
    # Tenant 4 (umbrella) is inactive in tenants.yaml: no run for it.
    assert tenants == [("1", (APP_USERS,)), ("2", (APP_USERS,)), ("3", (APP_USERS,))]
    assert {r.tags["tributary/source"] for r in requests} == {"app"}
    assert len({r.run_key for r in requests}) == len(requests) == 4


def test_table_frequency_gets_its_own_schedule(project: ProjectConfig) -> None:
    defs = build_definitions(project)
    at = datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert [r.asset_selection for r in tick(defs, "erp_schedule", at)] == [[ERP_CUSTOMERS]]
    orders = dg.AssetKey(["raw", "erp", "sales_orders"])
    assert [r.asset_selection for r in tick(defs, "erp_sales_orders_schedule", at)] == [[orders]]
    assert defs.resolve_schedule_def("erp_sales_orders_schedule").cron_schedule == "*/15 * * * *"


def test_tables_partitioned_differently_load_and_schedule_apart(
    config_dir: Path, project: ProjectConfig
) -> None:
    # app.users is partitioned by tenant; a table partitioned by key range joins the source.
    events = {
        "name": "company_events",
        "primary_key": ["event_id"],
        "key_ranges": {"column": "event_id", "size": 100, "upper_bound": 300},
    }
    edit_yaml(config_dir / "sources" / "app.yaml", lambda d: d["tables"].append(events))
    defs = build_definitions(load_project(config_dir))

    # Every job resolves (a job mixing two partitions definitions fails the code location).
    assert dg.Definitions.validate_loadable(defs) is None

    at = datetime(2026, 11, 23, tzinfo=ZoneInfo("Europe/Berlin"))
    shared = tick(defs, "app_schedule", at)
    assert sorted(tuple(r.asset_selection) for r in shared) == sorted(
        [(APP_COMPANIES,)] + [(APP_USERS,)] * 3
    )
    apart = defs.resolve_schedule_def("app_company_events_schedule")
    assert (apart.cron_schedule, apart.execution_timezone) == ("0 0 * * *", "Europe/Berlin")
    requests = tick(defs, "app_company_events_schedule", at)
    assert [r.partition_key for r in requests] == [
        "000000000000-000000000099",
        "000000000100-000000000199",
        "000000000200-000000000299",
    ]
    events_key = dg.AssetKey(["raw", "app", "company_events"])
    assert {tuple(r.asset_selection) for r in requests} == {(events_key,)}


def test_disabled_source_table_and_export_leave_schedules_and_automation(
    config_dir: Path, project: ProjectConfig
) -> None:
    edit_yaml(config_dir / "sources" / "ops.yaml", lambda d: d.update(enabled=False))
    edit_yaml(
        config_dir / "sources" / "erp.yaml",
        lambda d: table(d, "customers").update(enabled=False),
    )
    edit_yaml(config_dir / "exports" / "dim_customer.yaml", lambda d: d.update(enabled=False))
    defs = build_definitions(load_project(config_dir))

    schedules = {s.name for s in defs.schedules}
    assert schedules == {
        "app_schedule",
        "erp_sales_orders_schedule",
        "fct_sales_by_status_schedule",
        "fct_sales_daily_schedule",
        "salesforce_schedule",
    }
    graph = defs.resolve_asset_graph()
    # Their assets (and history) stay in the graph, without automation.
    assert graph.get(dg.AssetKey(["raw", "ops", "products"])) is not None
    assert graph.get(ERP_CUSTOMERS) is not None
    assert graph.get(dg.AssetKey(["export", "dim_customer"])).automation_condition is None
    assert graph.get(dg.AssetKey(["export", "fct_sales_daily"])).automation_condition is not None


def test_export_schedules_publish_at_their_frequency(config_dir: Path, project) -> None:
    edit_yaml(
        config_dir / "exports" / "fct_sales_daily.yaml",
        lambda d: d.update(
            partitioning={"by": "date", "start_date": "2026-01-01", "column": "order_date"}
        ),
    )
    defs = build_definitions(load_project(config_dir))
    by_status = defs.resolve_schedule_def("fct_sales_by_status_schedule")
    assert (by_status.cron_schedule, by_status.execution_timezone) == (
        "0 6 * * MON-FRI",
        "America/Chicago",
    )
    at = datetime(2026, 11, 23, 6, tzinfo=ZoneInfo("America/Chicago"))
    [request] = tick(defs, "fct_sales_by_status_schedule", at)
    assert request.asset_selection == [dg.AssetKey(["export", "fct_sales_by_status"])]
    assert request.partition_key is None
    # A daily-partitioned export publishes the last complete day.
    [daily] = tick(defs, "fct_sales_daily_schedule", datetime(2026, 11, 23, tzinfo=UTC))
    assert daily.partition_key == "2026-11-22"


def test_a_date_partitioned_export_on_weekdays_publishes_every_day(
    config_dir: Path, project
) -> None:
    """A tick published the last complete day only: on a weekday schedule (0 6 * * MON-FRI,
    configuration.md's example) Friday's and Saturday's days were never published, unless
    the eager export sensor happened to. A tick publishes every day completed since the
    schedule's previous tick, each once."""
    edit_yaml(
        config_dir / "exports" / "fct_sales_daily.yaml",
        lambda d: d.update(
            partitioning={"by": "date", "start_date": "2026-01-01", "column": "order_date"},
            frequency="0 6 * * MON-FRI",
            timezone="America/Chicago",
        ),
    )
    defs = build_definitions(load_project(config_dir))
    chicago = ZoneInfo("America/Chicago")
    ticks = {
        day: tick(defs, "fct_sales_daily_schedule", datetime(2026, 11, day, 6, tzinfo=chicago))
        for day in (23, 24, 25, 26, 27, 30)
    }
    published = [r.partition_key for requests in ticks.values() for r in requests]

    # Monday's tick publishes Friday and the weekend; each day once.
    assert [r.partition_key for r in ticks[23]] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    days = [(date(2026, 11, 20) + timedelta(days=n)).isoformat() for n in range(10)]
    assert published == days
    assert len({r.run_key for r in ticks[23]}) == 3
    # Never a day before the export's start_date.
    edit_yaml(
        config_dir / "exports" / "fct_sales_daily.yaml",
        lambda d: d["partitioning"].update(start_date="2026-11-21"),
    )
    defs = build_definitions(load_project(config_dir))
    monday = tick(defs, "fct_sales_daily_schedule", datetime(2026, 11, 23, 6, tzinfo=chicago))
    assert [r.partition_key for r in monday] == ["2026-11-21", "2026-11-22"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"frequency": "0 6 * * MON-FRI"}, {"frequency": "0 6 * * *"}),
        ({"timezone": "Pacific/Auckland"}, {"timezone": "UTC"}),
    ],
    ids=["weekdays_made_daily", "timezone_moved"],
)
def test_a_date_partitioned_export_whose_schedule_is_edited_skips_no_day(
    config_dir: Path, project, before, after
) -> None:
    """A tick published the days since the schedule's previous tick as the schedule is now.
    Weekdays made daily on a Saturday: Friday's tick had published Thursday, Sunday's
    published Saturday, and Friday was never published; a daily schedule moved from
    Auckland's 06:00 to UTC's skipped a day the same way. A tick now also publishes every day
    since the newest one published."""
    export = config_dir / "exports" / "fct_sales_daily.yaml"
    partitioning = {"by": "date", "start_date": "2026-01-01", "column": "order_date"}
    schedule = {"frequency": "0 6 * * *", "timezone": "UTC"}
    edit_yaml(export, lambda d: d.update(partitioning=partitioning, **{**schedule, **before}))
    key = dg.AssetKey(["export", "fct_sales_daily"])
    edit_yaml(export, lambda d: d.update(**after))
    defs = build_definitions(load_project(config_dir))
    # what the ticks before the edit published: up to Thursday 2026-11-19 (Friday's tick)
    published = {key: ["2026-11-18", "2026-11-19"]}
    sunday = datetime(2026, 11, 22, 6, tzinfo=UTC)
    requested = [r.partition_key for r in tick(defs, "fct_sales_daily_schedule", sunday, published)]
    assert requested == ["2026-11-20", "2026-11-21"]


def test_transforms_are_requested_after_their_raw_table_loads(project: ProjectConfig) -> None:
    defs = build_definitions(project)
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0  # nothing has loaded yet

        instance.report_runless_asset_event(dg.AssetMaterialization(ERP_CUSTOMERS))
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=first.cursor
        )

    requested = {
        key.to_user_string()
        for key in defs.resolve_asset_graph().get_all_asset_keys()
        if result.get_num_requested(key)
    }
    # The customers' staging model, the dimension built on it and its export follow the
    # load; models that read tables not yet loaded (sales orders) wait.
    assert requested == {"staging/stg_erp__customers", "marts/dim_customer", "export/dim_customer"}


def test_a_failed_blocking_check_holds_back_what_follows_the_load(project: ProjectConfig) -> None:
    """A schedule's run loads raw tables only, and automation builds what follows. The models
    and exports were requested after a load whose blocking check (reconciliation) failed, and
    built on the rows it had rejected; they now wait for a load whose checks pass."""
    defs = build_definitions(project)
    follows = {"staging/stg_erp__customers", "marts/dim_customer", "export/dim_customer"}

    def load(passed: bool) -> None:
        checked_load(instance, ERP_CUSTOMERS, passed)

    def requested(result) -> set[str]:
        return requested_by(defs, result)

    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        load(passed=False)
        held = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert requested(held) == set()
        load(passed=True)
        freed = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=held.cursor)
        assert requested(freed) == follows


def test_a_failed_blocking_check_holds_back_a_model_reading_it_through_a_view() -> None:
    """A staging model is a view reading its raw table live: a mart joining it reads the
    rows a failed check rejected as surely as the view does. The customers' load failed its
    reconciliation and the orders' passed; the mart reading both staging views was requested
    all the same (only the raw table's direct children were held back), and built on the
    rejected rows. It waits now, and so does its export; the orders' view follows its load.
    The probe's graph, on FOLLOWS_LOADS itself."""
    from tributary.defs.automation import FOLLOWS_LOADS

    def asset(name: str, deps=(), *, blocking_check: bool = False) -> dg.AssetsDefinition:
        @dg.multi_asset(
            name=name.replace("/", "__"),
            specs=[dg.AssetSpec(name.split("/"), deps=[d.split("/") for d in deps],
                                automation_condition=FOLLOWS_LOADS if deps else None)],
            check_specs=[dg.AssetCheckSpec("reconciliation", asset=name.split("/"),
                                           blocking=True)] if blocking_check else None,
        )  # fmt: skip
        def _asset(): ...

        return _asset

    defs = dg.Definitions(
        assets=[
            asset("raw/customers", blocking_check=True),
            asset("raw/orders", blocking_check=True),
            asset("staging/stg_customers", ["raw/customers"]),
            asset("staging/stg_orders", ["raw/orders"]),
            asset("marts/fct_orders", ["staging/stg_customers", "staging/stg_orders"]),
            asset("export/orders", ["marts/fct_orders"]),
        ]
    )

    def requested(result) -> set[str]:
        return requested_by(defs, result)

    with dg.instance_for_test() as instance:
        checked_load(instance, dg.AssetKey(["raw", "customers"]), passed=True)
        checked_load(instance, dg.AssetKey(["raw", "orders"]), passed=True)
        for name in ("staging/stg_customers", "staging/stg_orders", "marts/fct_orders"):
            instance.report_runless_asset_event(dg.AssetMaterialization(name.split("/")))
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        checked_load(instance, dg.AssetKey(["raw", "customers"]), passed=False)
        checked_load(instance, dg.AssetKey(["raw", "orders"]), passed=True)
        held = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert requested(held) == {"staging/stg_orders"}
        checked_load(instance, dg.AssetKey(["raw", "customers"]), passed=True)
        freed = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=held.cursor)
    assert requested(freed) == {"staging/stg_customers", "marts/fct_orders", "export/orders"}


def land_in_inbox(
    project: ProjectConfig,
    load_id: str,
    rows: list[dict],
    *,
    table="customers",
    stamp: datetime = datetime(2026, 11, 23, tzinfo=UTC),
    scope: str = "",
):
    """A drop as an outside tool writes it, its rows extracted (and modified) at `stamp`, for
    the partition `scope` of its table (none by default)."""
    inbox = LandingStoreResource.from_project(project).open().inbox()
    schema = pa.schema(
        [
            ("customer_id", pa.int64()),
            ("name", pa.string()),
            ("city", pa.string()),
            ("modified_at", pa.timestamp("us")),
            ("_load_id", pa.string()),
            ("_extracted_at", pa.timestamp("us", tz="UTC")),
            ("_deleted", pa.bool_()),
        ]
    )
    batch = pa.RecordBatch.from_pylist(
        [
            {**row, "modified_at": stamp.replace(tzinfo=None), "_load_id": load_id,
             "_extracted_at": stamp, "_deleted": False}
            for row in rows
        ],
        schema=schema,
    )  # fmt: skip
    return inbox.land(
        [batch],
        source="erp",
        table=table,
        load_id=load_id,
        mode="full",
        extracted_at=stamp,
        cursor="modified_at",
        scope=scope,
    )


def inbox_tick(defs: dg.Definitions, project: ProjectConfig, cursor: str | None):
    """One evaluation of the inbox sensor: its run requests, skip reason and cursor."""
    sensor = defs.resolve_sensor_def("landing_inbox_sensor")
    with dg.build_sensor_context(
        cursor=cursor,
        repository_def=defs.get_repository_def(),
        resources={"landing": LandingStoreResource.from_project(project)},
    ) as context:
        return sensor.evaluate_tick(context)


def evaluate_inbox_sensor(defs: dg.Definitions, project: ProjectConfig, cursor: str | None):
    result = inbox_tick(defs, project, cursor)
    return result.run_requests, result.cursor


def run_request(defs: dg.Definitions, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        run_config=request.run_config,
        asset_selection=request.asset_selection,
        partition_key=request.partition_key,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def customers(project: ProjectConfig) -> list[tuple]:
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        return con.execute("select customer_id, name from raw_erp.customers order by 1").fetchall()


def test_inbox_sensor_loads_each_dropped_manifest_exactly_once(project: ProjectConfig) -> None:
    defs = build_definitions(project)
    land_in_inbox(project, "20261123T000000Z-dms00001", [
        {"customer_id": 1, "name": "Ada", "city": "Seattle"},
        {"customer_id": 2, "name": "Bo", "city": "Paris"},
    ])  # fmt: skip

    [request], cursor = evaluate_inbox_sensor(defs, project, None)
    assert request.asset_selection == [ERP_CUSTOMERS]
    assert request.run_key.startswith("erp.customers/20261123T000000Z-dms00001@")
    again, cursor = evaluate_inbox_sensor(defs, project, cursor)
    assert again == []  # once per manifest

    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        run_config=request.run_config,
        asset_selection=request.asset_selection,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        rows = con.execute(
            "select customer_id, name, _load_id from raw_erp.customers order by customer_id"
        ).fetchall()
    assert rows == [
        (1, "Ada", "20261123T000000Z-dms00001"),
        (2, "Bo", "20261123T000000Z-dms00001"),
    ]

    land_in_inbox(project, "20261123T010000Z-dms00002", [{"customer_id": 3, "name": "Cy"}])
    land_in_inbox(project, "20261123T010000Z-x0000003", [{"customer_id": 9}], table="unknown")
    [newer], cursor = evaluate_inbox_sensor(defs, project, cursor)
    assert newer.run_key.startswith("erp.customers/20261123T010000Z-dms00002@")
    assert evaluate_inbox_sensor(defs, project, cursor)[0] == []


def load_drop(
    defs: dg.Definitions, project: ProjectConfig, load_id: str, rows: list[dict], **drop
) -> dg.ExecuteInProcessResult:
    """Drop `rows` in the inbox and run the load the inbox sensor requests for them."""
    land_in_inbox(project, load_id, rows, **drop)
    return run_drop(defs, project, load_id)


def run_drop(
    defs: dg.Definitions, project: ProjectConfig, load_id: str
) -> dg.ExecuteInProcessResult:
    """Run the load the inbox sensor requests for the drop `load_id`."""
    requests, _ = evaluate_inbox_sensor(defs, project, None)
    return run_request(defs, next(r for r in requests if f"/{load_id}@" in r.run_key))


def step_failure(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's error and its cause."""
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.error.to_string()


def test_a_drop_older_than_the_rows_loaded_fails_and_loads_nothing(
    project: ProjectConfig,
) -> None:
    """Drops need not arrive in order (two tools; a failed run retried behind a newer drop's).
    Loaded, an older drop put its rows over the newer ones the table holds: a full drop
    replaced the whole table with the older snapshot, without a word."""
    defs = build_definitions(project)
    # The older drop's tool wrote its times without a zone: read as UTC.
    newer, older = datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 23)
    assert load_drop(defs, project, "20261124T000000Z-dms00002", [
        {"customer_id": 1, "name": "Ada Lovelace"},
        {"customer_id": 2, "name": "Bo"},
    ], stamp=newer).success  # fmt: skip

    failed = load_drop(defs, project, "20261123T000000Z-dms00001", [
        {"customer_id": 1, "name": "Ada"},
    ], stamp=older)  # fmt: skip

    message = step_failure(failed)
    assert (
        "inbox load 20261123T000000Z-dms00001 was extracted at 2026-11-23 00:00:00+00:00" in message
    )
    assert "raw_erp.customers already holds rows extracted at 2026-11-24 00:00:00+00:00" in message
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        rows = con.execute("select customer_id, name from raw_erp.customers order by 1").fetchall()
    assert rows == [(1, "Ada Lovelace"), (2, "Bo")]


def test_a_drop_extracted_in_the_future_fails_and_loads_nothing(project: ProjectConfig) -> None:
    """A tool writing Tokyo's local time without a zone: read as UTC, its drop was extracted
    nine hours from now; loaded, every correctly stamped drop after it was refused as older
    than the rows the table held."""
    defs = build_definitions(project)
    assert load_drop(defs, project, "20261123T000000Z-dms00001", [
        {"customer_id": 1, "name": "Ada"},
    ]).success  # fmt: skip
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=9)
    failed = load_drop(defs, project, "20261123T010000Z-dms00002", [
        {"customer_id": 2, "name": "Bo"},
    ], stamp=future)  # fmt: skip

    assert (
        f"inbox load 20261123T010000Z-dms00002 was extracted at {future}, later than now: "
        "its manifest's extracted_at is not UTC (a time without a zone is read as UTC); write "
        "it with its zone" in step_failure(failed)
    )
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        rows = con.execute("select customer_id, name from raw_erp.customers").fetchall()
    assert rows == [(1, "Ada")]


def test_an_inbox_drop_with_rows_without_a_key_fails_and_loads_nothing(
    project: ProjectConfig,
) -> None:
    """A partner's drop is checked as a source's rows are: a NULL customer_id (the key) would
    be kept as one row of all of them, or never merged."""
    defs = build_definitions(project)
    assert load_drop(defs, project, "20261123T000000Z-dms00001", [
        {"customer_id": 1, "name": "Ada"},
    ]).success  # fmt: skip
    failed = load_drop(defs, project, "20261123T010000Z-dms00002", [
        {"customer_id": 2, "name": "Bo"},
        {"customer_id": None, "name": "Cy"},
        {"customer_id": None, "name": "Di"},
    ])  # fmt: skip

    assert "table 'customers': 2 row(s) have a NULL customer_id" in step_failure(failed)
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        rows = con.execute("select customer_id, name from raw_erp.customers").fetchall()
    assert rows == [(1, "Ada")]


def failed_key_range_drop(config_dir: Path, column: str) -> tuple[ProjectConfig, str]:
    """customers partitioned by key ranges of `column`, and the failure of a drop of one row
    (customer_id, name) for its first range: (the project, the step's failure)."""

    def full_by_key_ranges(d: dict) -> None:
        customers = table(d, "customers")
        del customers["lookback"]  # incremental only
        customers.update(
            mode="full",
            refresh="schedule",
            key_ranges={"column": column, "size": 10, "upper_bound": 20},
        )

    edit_yaml(config_dir / "sources" / "erp.yaml", full_by_key_ranges)
    project = load_project(config_dir)
    failed = load_drop(build_definitions(project), project, "20261123T000000Z-dms00001", [
        {"customer_id": 1, "name": "Ada"},
    ], scope="000000000000-000000000009")  # fmt: skip
    assert not failed.success
    return project, step_failure(failed)


def test_a_key_range_drop_without_the_key_ranges_column_is_refused_naming_file_and_key(
    config_dir: Path,
) -> None:
    """The warehouse replaces a key range by comparing the drop's key_ranges column with the
    range's bounds: a drop lacking the column failed there, with a bare binder error (DuckDB's
    `Referenced column "region_id" not found`) naming neither the file nor the key."""
    project, message = failed_key_range_drop(config_dir, "region_id")
    assert (
        f"{project.source_file('erp')}: tables[0].key_ranges.column: column 'region_id' is not "
        "in the drop's files (customer_id, name" in message
    ), message
    assert "nothing was loaded" in message


def test_a_key_range_drop_of_a_text_key_column_is_refused_naming_file_and_key(
    config_dir: Path, project: ProjectConfig
) -> None:
    """A key range is replaced in the warehouse by comparing its key column with the range's
    whole-number bounds. A drop for a key-range partition of a table whose key_ranges column
    is text was loaded up to that comparison, which failed with a bare binder error naming
    neither file nor key (a source's load refuses such a column before reading, with
    key_range_problem). The drop is now refused the same way, its type read from its files,
    before anything is loaded."""
    project, message = failed_key_range_drop(config_dir, "name")
    assert (
        f"{project.source_file('erp')}: tables[0].key_ranges.column: column 'name' is string "
        "(as the drop's files hold it); expected a numeric column (an integer, decimal or "
        "floating-point type)" in message
    ), message
    assert "nothing was loaded" in message
    with duckdb.connect(project.warehouse.path) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw_erp'"
        ).fetchall()
    assert ("customers",) not in tables

    # A numeric key column: the drop's range is loaded.
    edit_yaml(
        config_dir / "sources" / "erp.yaml",
        lambda d: table(d, "customers")["key_ranges"].update(column="customer_id"),
    )
    project = load_project(config_dir)
    assert load_drop(build_definitions(project), project, "20261123T010000Z-dms00002", [
        {"customer_id": 1, "name": "Ada"},
    ], scope="000000000000-000000000009").success  # fmt: skip
    assert customers(project) == [(1, "Ada")]


def test_an_inbox_drop_whose_files_differ_from_its_manifest_fails_and_loads_nothing(
    project: ProjectConfig,
) -> None:
    """A drop's manifest states each file's rows and bytes. A part rewritten after the
    manifest (a second export into the same folder), or a manifest written by hand, loaded
    the rows the files held and reported the manifest's count, without a word."""
    defs = build_definitions(project)
    assert load_drop(defs, project, "20261123T000000Z-dms00001", [
        {"customer_id": 1, "name": "Ada"},
    ]).success  # fmt: skip
    load_id = "20261123T010000Z-dms00002"
    manifest = land_in_inbox(project, load_id, [
        {"customer_id": 2, "name": "Bo"},
        {"customer_id": 3, "name": "Cy"},
    ])  # fmt: skip
    inbox = LandingStoreResource.from_project(project).open().inbox()
    part = f"{inbox.load_dir('erp', 'customers', load_id)}/{manifest.files[0].path}"
    rewritten = pq.read_table(inbox.fs.open(part, "rb")).slice(0, 1)
    with inbox.fs.open(part, "wb") as handle:
        pq.write_table(rewritten, handle)

    message = step_failure(run_drop(defs, project, load_id))

    assert (
        f"inbox load {load_id}: {manifest.files[0].path} holds 1 row(s), its manifest states 2; "
        f"{manifest.files[0].path} is {inbox.fs.size(part)} bytes, its manifest states "
        f"{manifest.files[0].bytes}; nothing was loaded" in message
    )
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        rows = con.execute("select customer_id, name from raw_erp.customers").fetchall()
    assert rows == [(1, "Ada")]


def test_inbox_sensor_loads_a_manifest_dropped_after_a_newer_looking_one(
    project: ProjectConfig,
) -> None:
    """Load ids need not arrive in their sort order (two drops in one second, a tool with ids
    of its own): a manifest whose id sorts before one already seen is still loaded, once."""
    defs = build_definitions(project)
    land_in_inbox(project, "20261123T000000Z-ffff0001", [{"customer_id": 1, "name": "Ada"}])
    [first], cursor = evaluate_inbox_sensor(defs, project, None)
    assert first.run_key.startswith("erp.customers/20261123T000000Z-ffff0001@")
    land_in_inbox(project, "20261123T000000Z-aaaa0002", [{"customer_id": 2, "name": "Bo"}])

    [late], cursor = evaluate_inbox_sensor(defs, project, cursor)
    assert late.run_key.startswith("erp.customers/20261123T000000Z-aaaa0002@")
    assert evaluate_inbox_sensor(defs, project, cursor)[0] == []

    # A cursor written by an earlier version (the last id seen) means every id up to it.
    earlier = json.dumps({"erp.customers": "20261123T000000Z-bbbb0000"})
    [after], _ = evaluate_inbox_sensor(defs, project, earlier)
    assert after.run_key.startswith("erp.customers/20261123T000000Z-ffff0001@")


def test_a_drop_an_earlier_version_loaded_stays_loaded_when_its_file_is_touched(
    project: ProjectConfig,
) -> None:
    """An earlier version's cursor holds ids only, so the upgrade kept them seen with no
    fingerprint: once anything touched such a manifest (a chmod, a restore, a copy to another
    disk), its listing changed, no fingerprint matched, and the drop loaded again, older rows
    over newer ones where its extract time did not stop it."""
    defs = build_definitions(project)
    land_in_inbox(project, "20261123T000000Z-dms00001", [{"customer_id": 1, "name": "Ada"}])
    earlier = json.dumps({"erp.customers": ["20261123T000000Z-dms00001"]})
    requests, cursor = evaluate_inbox_sensor(defs, project, earlier)
    assert requests == []
    inbox = LandingStoreResource.from_project(project).open().inbox()
    manifest = f"{inbox.load_dir('erp', 'customers', '20261123T000000Z-dms00001')}/manifest.json"
    inbox.fs.pipe_file(manifest, inbox.fs.cat_file(manifest))  # written again, as it was

    requests, cursor = evaluate_inbox_sensor(defs, project, cursor)
    assert requests == []
    assert evaluate_inbox_sensor(defs, project, cursor)[0] == []


def test_a_drop_under_a_load_id_seen_before_is_loaded_once(project: ProjectConfig) -> None:
    """A tool that names its loads alike each time (DMS's LOAD00000001), or a drop removed and
    dropped again extracted anew, as the docs say: its run key (source.table/load id) was one
    Dagster had run already, so the tick was skipped with no reason and no run, and the cursor
    counted the id seen: the new rows were never loaded. Had a run started, the warehouse's
    record of the first load (its id) failed it with a bare duplicate key."""
    defs = build_definitions(project)
    inbox = LandingStoreResource.from_project(project).open().inbox()
    folder = inbox.load_dir("erp", "customers", "LOAD00000001")
    land_in_inbox(project, "LOAD00000001", [{"customer_id": 1, "name": "Ada"}])
    [first], cursor = evaluate_inbox_sensor(defs, project, None)
    assert run_request(defs, first).success
    inbox.fs.rm(folder, recursive=True)
    assert evaluate_inbox_sensor(defs, project, cursor)[0] == []

    land_in_inbox(project, "LOAD00000001", [
        {"customer_id": 1, "name": "Ada Lovelace"},
        {"customer_id": 2, "name": "Bo"},
    ], stamp=datetime(2026, 11, 24, tzinfo=UTC))  # fmt: skip
    [again], cursor = evaluate_inbox_sensor(defs, project, cursor)
    assert again.run_key.startswith("erp.customers/LOAD00000001@")
    assert again.run_key != first.run_key
    assert run_request(defs, again).success
    assert customers(project) == [(1, "Ada Lovelace"), (2, "Bo")]

    # The same drop is loaded once: not requested again, even with its manifest written again
    # as it was (copied anew); a cursor lost asks again under the same run key, which Dagster
    # runs once; and its run executed again loads nothing, saying why.
    manifest = inbox.fs.cat_file(f"{folder}/manifest.json")
    inbox.fs.pipe_file(f"{folder}/manifest.json", manifest)
    assert evaluate_inbox_sensor(defs, project, cursor)[0] == []
    [lost], _ = evaluate_inbox_sensor(defs, project, None)
    assert lost.run_key == again.run_key
    message = step_failure(run_request(defs, again))
    assert "inbox load LOAD00000001" in message
    assert f"was loaded already, recorded as {again.run_key.split('/', 1)[1]}" in message
    assert customers(project) == [(1, "Ada Lovelace"), (2, "Bo")]


def test_a_drop_whose_load_id_leaves_no_room_for_its_fingerprint_fails_naming_it(
    project: ProjectConfig,
) -> None:
    """An inbox load is recorded as <load_id>@<fingerprint> in the warehouse's 64 characters:
    PostgreSQL and Redshift would refuse a longer one with a bare 'value too long'."""
    load_id = "20261123T000000Z-" + "x" * 35  # 52 characters
    message = step_failure(load_drop(build_definitions(project), project, load_id, [
        {"customer_id": 1, "name": "Ada"},
    ]))  # fmt: skip
    assert f"inbox load {load_id} (" in message
    assert "its load id is 52 characters long" in message
    assert "in at most 51" in message


def test_a_drop_whose_manifest_came_before_its_parts_waits_for_them(
    project: ProjectConfig,
) -> None:
    """An unordered copy (`aws s3 sync`) may write manifest.json before the parts: its run
    failed with FileNotFoundError, and the drop was counted seen, so once the parts arrived
    nothing loaded it."""
    defs = build_definitions(project)
    inbox = LandingStoreResource.from_project(project).open().inbox()
    manifest = land_in_inbox(project, "LOAD00000001", [{"customer_id": 1, "name": "Ada"}])
    part = f"{inbox.load_dir('erp', 'customers', 'LOAD00000001')}/{manifest.files[0].path}"
    content = inbox.fs.cat_file(part)
    inbox.fs.rm(part)

    waiting = inbox_tick(defs, project, None)
    assert waiting.run_requests == []
    assert waiting.skip_message == (
        f"{inbox.uri(inbox.load_dir('erp', 'customers', 'LOAD00000001'))}: waiting for its "
        f"parts ({manifest.files[0].path} is not there); it is loaded once they are all there"
    )
    inbox.fs.pipe_file(part, content[:100])  # half copied
    half = inbox_tick(defs, project, waiting.cursor)
    assert f"holds 100 of its {len(content)} bytes" in half.skip_message

    inbox.fs.pipe_file(part, content)
    [request], cursor = evaluate_inbox_sensor(defs, project, half.cursor)
    assert run_request(defs, request).success
    assert customers(project) == [(1, "Ada")]
    assert evaluate_inbox_sensor(defs, project, cursor)[0] == []


def test_a_drop_that_cannot_be_loaded_is_named_and_the_others_still_load(
    project: ProjectConfig,
) -> None:
    """A half-written manifest.json (or one without `columns`) failed every tick with a bare
    pydantic ValidationError naming no path, and a `scope` on an unpartitioned table with
    Dagster's 'All selected assets must have the same or no partitions definition': every good
    drop of every table waited behind the bad one."""
    defs = build_definitions(project)
    inbox = LandingStoreResource.from_project(project).open().inbox()

    def manifest_of(load_id: str) -> str:
        return f"{inbox.load_dir('erp', 'customers', load_id)}/manifest.json"

    def rewrite(load_id: str, change) -> None:
        document = json.loads(inbox.fs.cat_file(manifest_of(load_id)))
        change(document)
        inbox.fs.pipe_file(manifest_of(load_id), json.dumps(document).encode())

    land_in_inbox(project, "A-good", [{"customer_id": 1, "name": "Ada"}])
    land_in_inbox(project, "B-half", [{"customer_id": 2, "name": "Bo"}])
    inbox.fs.pipe_file(manifest_of("B-half"), inbox.fs.cat_file(manifest_of("B-half"))[:150])
    land_in_inbox(project, "C-columns", [{"customer_id": 3, "name": "Cy"}])
    rewrite("C-columns", lambda document: document.pop("columns"))
    land_in_inbox(project, "D-scope", [{"customer_id": 4, "name": "Dee"}])
    rewrite("D-scope", lambda document: document.update(scope="tenant-99"))

    [good], cursor = evaluate_inbox_sensor(defs, project, None)
    assert "/A-good@" in good.run_key
    assert run_request(defs, good).success
    assert customers(project) == [(1, "Ada")]

    problems = inbox_tick(defs, project, cursor).skip_message.split("\n")
    assert problems[0].startswith(
        f"{inbox.uri(manifest_of('B-half'))}: not a manifest Tributary reads (Invalid JSON: "
    )
    assert problems[-2:] == [
        f"{inbox.uri(manifest_of('C-columns'))}: not a manifest Tributary reads (columns: Field "
        "required); write it in the landing store's manifest format",
        f"{inbox.uri(inbox.load_dir('erp', 'customers', 'D-scope'))}: its manifest's scope is "
        "'tenant-99', and erp.customers is not partitioned: leave scope empty",
    ]
    # Mended, a drop is loaded.
    rewrite("D-scope", lambda document: document.update(scope=""))
    [mended], _ = evaluate_inbox_sensor(defs, project, cursor)
    assert "/D-scope@" in mended.run_key

    # A run asked for by hand says the same.
    key = ERP_CUSTOMERS.to_python_identifier()
    by_hand = dg.RunRequest(
        asset_selection=[ERP_CUSTOMERS],
        run_config={"ops": {key: {"config": {"inbox_load_id": "C-columns"}}}},
    )
    assert (
        f"{inbox.uri(manifest_of('C-columns'))}: not a manifest Tributary reads (columns: Field "
        "required)" in step_failure(run_request(defs, by_hand))
    )


def test_a_manifest_that_is_not_its_folders_is_named_and_loads_nothing(
    project: ProjectConfig,
) -> None:
    """A manifest copied from another drop keeps that drop's load_id: the sensor took the id
    for the folder's, so the drop hid behind the other one (seen, its rows never loaded), and
    its run loaded the other folder's files again or failed with DuckDB's bare 'Duplicate key
    "load_id: D-first"'."""
    defs = build_definitions(project)
    inbox = LandingStoreResource.from_project(project).open().inbox()
    assert load_drop(defs, project, "D-first", [{"customer_id": 4, "name": "Dee"}]).success
    [_], cursor = evaluate_inbox_sensor(defs, project, None)
    for load_id, field, value in [("E-second", "load_id", "D-first"), ("F-third", "table", "x")]:
        land_in_inbox(project, load_id, [{"customer_id": 5, "name": "Eve"}])
        path = f"{inbox.load_dir('erp', 'customers', load_id)}/manifest.json"
        document = json.loads(inbox.fs.cat_file(path))
        inbox.fs.pipe_file(path, json.dumps({**document, field: value}).encode())

    skipped = inbox_tick(defs, project, cursor)
    folder = inbox.uri(inbox.load_dir("erp", "customers", "E-second"))
    assert skipped.skip_message.split("\n") == [
        f"{folder}/manifest.json: its manifest is for the load erp.customers/D-first, and its "
        "folder erp/customers/E-second: a manifest copied from another drop keeps that drop's "
        "load_id; write the folder's names in it (source, table, load_id)",
        f"{inbox.uri(inbox.load_dir('erp', 'customers', 'F-third'))}/manifest.json: its "
        "manifest is for the load erp.x/F-third, and its folder erp/customers/F-third: a "
        "manifest copied from another drop keeps that drop's load_id; write the folder's names "
        "in it (source, table, load_id)",
    ]
    assert json.loads(skipped.cursor) == json.loads(cursor)  # not seen: named until mended

    key = ERP_CUSTOMERS.to_python_identifier()
    by_hand = dg.RunRequest(
        asset_selection=[ERP_CUSTOMERS],
        run_config={"ops": {key: {"config": {"inbox_load_id": "E-second"}}}},
    )
    assert (
        f"{folder}/manifest.json: its manifest is for the load erp.customers/D-first"
        in step_failure(run_request(defs, by_hand))
    )
    assert customers(project) == [(4, "Dee")]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError(), True),
        (
            SourceError("reading table 'orders' failed: Lost connection to server during query"),
            True,
        ),
        # connectorx's PostgreSQL reader when the connection drops mid-read (a failover, a
        # pgbouncer restart): tokio-postgres names the kind of error, not its words
        (
            SourceError(
                "reading table 'slowt' failed: cx writer failed: "
                "Source(PostgresError(Error { kind: Closed, cause: None }))"
            ),
            True,
        ),
        (
            SourceError(
                "reading table 'slowt' failed: Source(PostgresError(Error { kind: Io, cause: "
                'Some(Os { code: 104, kind: ConnectionReset, message: "Connection reset by peer" '
                "}) }))"
            ),
            True,
        ),
        (
            SourceError(
                "reading table 't' failed: Source(PostgresError(Error { kind: Db, cause: "
                'Some(DbError { severity: "ERROR", code: SqlState(E42703), message: "column '
                '"x" does not exist" }) }))'
            ),
            False,
        ),
        (RuntimeError("An error occurred (SlowDown) when calling the PutObject operation"), True),
        (RuntimeError("HTTP 429 Too Many Requests"), True),
        (ConfigError("sources/erp.yaml: tables[0].cursor: required key is missing"), False),
        (SourceError("reading table 'orders' failed: Unknown column 'x' in 'field list'"), False),
        (ValueError("could not convert string to decimal"), False),
        (
            SourceError("failed: timed out waiting for connection: unable to open database file"),
            False,
        ),
        # connectorx's MySQL reader on a connection cut mid-read (a probe through a proxy that
        # dropped it after 300,000 rows): the run failed at once, not retried
        (
            SourceError(
                "reading table 'orders' failed: cx writer failed: Source(MySQLError(CodecError "
                "{ IO error: `bytes remaining on stream' }))"
            ),
            True,
        ),
        # it wrote nothing, another load having committed as it read: another attempt reads
        (OvertakenLoadError("table 'orders': another load of it committed (at ...)"), True),
        # PostgreSQL's refusals while it starts, recovers or stops (libpq's login gives no
        # SQLSTATE, nor connectorx: the server's words)
        (SourceError("login failed: FATAL: the database system is in recovery mode"), True),
        (
            WarehouseError("terminating connection due to administrator command\nSSL closed"),
            True,
        ),
        # Redshift's concurrent write, as redshift_connector raises it (SQLSTATE XX000)
        (
            redshift_connector.ProgrammingError(
                {"S": "ERROR", "C": "XX000", "M": "1023", "D": "Serializable isolation violation"}
            ),
            True,
        ),
        (redshift_connector.ProgrammingError({"C": "42P01", "M": 'relation "x" timed out'}), False),
        # what the driver said of an error Tributary's own replaced (without its message)
        (SourceError("login failed: see the server's log", transient=True), True),
        (SourceError("reading table 'orders' failed: connection reset", transient=False), False),
        # Salesforce's 500 and an expired page locator, as the source raises them (a read
        # run again queries anew); a malformed query is not
        (
            SourceError(
                "source 'crm': querying Thing__c failed: Error Code 500. Response content: "
                "[{'message': 'An unexpected error occurred', 'errorCode': 'UNKNOWN_EXCEPTION'}]"
            ),
            True,
        ),
        (
            SourceError(
                "source 'crm': querying Thing__c failed: Malformed request https://x/services/"
                "data/v62.0/queryAll/01g-2. Response content: [{'message': 'invalid query "
                "locator', 'errorCode': 'INVALID_QUERY_LOCATOR'}]"
            ),
            True,
        ),
        (
            SourceError(
                "source 'crm': querying Thing__c failed: Malformed request https://x/services/"
                "data/v62.0/queryAll. Response content: [{'message': 'unexpected token', "
                "'errorCode': 'MALFORMED_QUERY'}]"
            ),
            False,
        ),
        # data errors whose words looked transient
        (WarehouseError('Constraint Error: Duplicate key "id: 503" violates primary key'), False),
        (SourceError("Conversion Error: 'n/a' to INT32 in column session_timeout"), False),
    ],
)
def test_transient_errors_are_told_apart(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


@pytest.fixture
def fast_retries(config_dir: Path, project: ProjectConfig) -> ProjectConfig:
    edit_yaml(
        config_dir / "platform.yaml",
        lambda d: d.update(
            automation={"retries": {"attempts": 3, "delay_seconds": 0.05, "backoff_factor": 3}}
        ),
    )
    return load_project(config_dir)


def failing_ingest(monkeypatch: pytest.MonkeyPatch, errors: list[Exception]) -> list[int]:
    """ingest_table raising each of `errors` in turn, then loading for real."""
    calls: list[int] = []
    real = tributary.defs.ingest.ingest_table

    def ingest(*args, **kwargs):
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return real(*args, **kwargs)

    monkeypatch.setattr(tributary.defs.ingest, "ingest_table", ingest)
    return calls


def run_customers(project: ProjectConfig):
    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        asset_selection=[ERP_CUSTOMERS],
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_transient_error_is_retried_with_the_configured_backoff(
    fast_retries: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = failing_ingest(
        monkeypatch, [ConnectionResetError("connection reset by peer"), TimeoutError("timed out")]
    )
    result = run_customers(fast_retries)

    assert result.success and len(calls) == 3
    waits = [
        event.event_specific_data.seconds_to_wait
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert waits == [pytest.approx(0.05), pytest.approx(0.15)]  # delay, delay * factor


def test_transient_errors_stop_after_the_configured_attempts(
    fast_retries: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = failing_ingest(monkeypatch, [ConnectionResetError("connection reset")] * 5)
    assert not run_customers(fast_retries).success
    assert len(calls) == 3


def test_configuration_error_is_not_retried(
    fast_retries: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = failing_ingest(monkeypatch, [ConfigError("sources/erp.yaml: tables[0]: bad")])
    result = run_customers(fast_retries)
    assert not result.success and len(calls) == 1
    assert not [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]


def test_load_schedules_run_in_the_implicit_asset_job(config_dir: Path, project) -> None:
    """A schedule's target would be a job of its own, which the code server resolves and
    snapshots (a cost of schedules x assets): the load schedules name the tables in each
    run request and run them in the implicit asset job, as the inbox sensor does."""
    defs = build_definitions(project)
    repository = defs.get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs()}
    assert not [name for name in jobs if name.startswith("__anonymous_asset_job")]
    for name in ("app_schedule", "erp_schedule", "erp_sales_orders_schedule"):
        assert repository.get_schedule_def(name).job_name == "__ASSET_JOB"
    # A request of a partitioned table runs as a subset of that job.
    at = datetime(2026, 11, 23, tzinfo=ZoneInfo("Europe/Berlin"))
    [request] = [r for r in tick(defs, "app_schedule", at) if r.partition_key == "1"]
    subset = repository.get_job("__ASSET_JOB").get_subset(
        asset_selection=set(request.asset_selection)
    )
    assert subset.asset_layer.selected_asset_keys == {APP_USERS}


def materialize_customers(defs: dg.Definitions, config: dict) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        run_config={"ops": {"raw__erp__customers": {"config": config}}},
        asset_selection=[ERP_CUSTOMERS],
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_a_full_refresh_is_asked_for_in_the_run_config(project: ProjectConfig) -> None:
    defs = build_definitions(project)
    first = materialize_customers(defs, {})
    refreshed = materialize_customers(defs, {"full_refresh": True})
    modes = [
        event.materialization.metadata["mode"].value
        for result in (first, refreshed)
        for event in result.get_asset_materialization_events()
    ]
    assert modes == ["incremental", "full"]

    both = materialize_customers(defs, {"full_refresh": True, "inbox_load_id": "x"})
    assert "full_refresh reads the source again; an inbox load" in step_failure(both)


def test_a_tick_adds_no_run_beside_one_still_queued(project: ProjectConfig) -> None:
    # A load slower than its schedule (a 90 s load every minute) queued one more run of the
    # same tables at each tick, without end. A queued run reads the source when it starts: a
    # second one beside it adds nothing. A run in progress does not hold the tick back (it
    # may have read before the latest changes).
    defs = build_definitions(project)
    at = datetime(2026, 11, 23, tzinfo=ZoneInfo("Europe/Berlin"))
    with dg.instance_for_test() as instance:

        def queue(request: dg.RunRequest, status: dg.DagsterRunStatus) -> None:
            partition = (
                {"dagster/partition": request.partition_key} if request.partition_key else {}
            )
            instance.add_run(
                dg.DagsterRun(
                    job_name="__ASSET_JOB",
                    run_id=str(uuid.uuid4()),
                    status=status,
                    asset_selection=frozenset(request.asset_selection),
                    tags={**request.tags, **partition},
                )
            )

        def requests() -> list[dg.RunRequest]:
            schedule = defs.resolve_schedule_def("app_schedule")
            with dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=at,
                repository_def=defs.get_repository_def(),
                resources=defs.resources,
            ) as context:
                result = schedule.evaluate_tick(context)
                return list(result.run_requests or []), result.skip_message

        first, _ = requests()
        [companies] = [r for r in first if r.partition_key is None]
        [tenant_2] = [r for r in first if r.partition_key == "2"]
        # NOT_STARTED: a run created, not yet begun, as QUEUED is (which the instance adds only
        # with a code location's origin); the schedule takes either for one not reading yet.
        queue(companies, dg.DagsterRunStatus.NOT_STARTED)
        queue(tenant_2, dg.DagsterRunStatus.STARTED)
        second, _ = requests()
        assert sorted(r.partition_key or "" for r in second) == ["1", "2", "3"]

        for request in second:
            queue(request, dg.DagsterRunStatus.NOT_STARTED)
        third, skipped = requests()
        assert third == []
        assert "still queued" in skipped and "app" in skipped
