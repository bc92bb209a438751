"""An export publishes only what passed, across runs: Dagster's blocking checks stop what is
downstream within one run, but a schedule's run loads raw tables alone, automation builds the
models later, and an export's schedule requests the export alone. Each run here is a separate
run on one Dagster instance, as schedules, automation and an operator start them; the demo's
graph on its DuckDB warehouse (the gate reads the instance, not the warehouse)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest
import yaml
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

from tests.conftest import copy_dbt_project
from tributary.config.loader import ProjectConfig, load_project
from tributary.defs import build_definitions, export_gate
from tributary.defs import export as export_module
from tributary.defs.resources import LandingStoreResource, WarehouseResource
from tributary.defs.sources import SourcesResource
from tributary.defs.transform import prepare_manifest
from tributary.exports import run as exports_run
from tributary.exports.gate import stamp
from tributary.ingest import ingest_table
from tributary.warehouse.base import Warehouse
from tributary_demo import generate_demo_sources

CUSTOMERS = dg.AssetKey(["raw", "erp", "customers"])
ORDERS = dg.AssetKey(["raw", "erp", "sales_orders"])
STG_CUSTOMERS = dg.AssetKey(["staging", "stg_erp__customers"])
STG_ORDERS = dg.AssetKey(["staging", "stg_erp__sales_orders"])
DIM_CUSTOMER = dg.AssetKey(["marts", "dim_customer"])
FCT_SALES = dg.AssetKey(["marts", "fct_sales"])
EXPORT_DIM_CUSTOMER = dg.AssetKey(["export", "dim_customer"])
EXPORT_BY_STATUS = dg.AssetKey(["export", "fct_sales_by_status"])
RAW = [CUSTOMERS, ORDERS]
MODELS = [STG_CUSTOMERS, STG_ORDERS, DIM_CUSTOMER, FCT_SALES]


@pytest.fixture
def instance() -> dg.DagsterInstance:
    with dg.instance_for_test() as instance:
        yield instance


def run(
    defs: dg.Definitions,
    selection: list[dg.AssetKey],
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=selection, raise_on_error=False, run_config=run_config
    )


def failure(result: dg.ExecuteInProcessResult, step: str) -> str:
    """The step's failure: its error and the errors that caused it."""
    [error] = [
        event.step_failure_data.error
        for event in result.all_events
        if event.is_step_failure and event.step_key == step
    ]
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def run_day(
    defs: dg.Definitions, key: dg.AssetKey, day: str, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """A run of one day's partition of the export `key`."""
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[key], partition_key=day, raise_on_error=False
    )


def published(project: ProjectConfig, export: str) -> list[str]:
    """The export's folders that hold a complete publication (its _SUCCESS)."""
    root = Path(project.exports_url) / export
    return sorted(path.parent.name for path in root.glob("*/_SUCCESS"))


def test_a_rejected_load_is_not_published_by_a_later_run(
    demo_project: ProjectConfig, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(A) The source's schedule loads the raw table alone and its reconciliation fails; the
    staging model is a view reading the raw table live, so a mart built later (by automation,
    which held back only the raw table's direct children) and the export read the rejected
    rows. The export refuses, naming the check, its asset and its run."""
    defs = build_definitions(demo_project)
    assert run(defs, RAW + MODELS, instance).success

    original = Warehouse.rows_to_write

    def losing_one_row(self, tables, columns) -> str:
        return f"(select * from {original(self, tables, columns)} offset 1) as one_row_short"

    monkeypatch.setattr(Warehouse, "rows_to_write", losing_one_row)
    rejected = run(defs, [CUSTOMERS], instance)  # the source schedule's run
    assert not rejected.success
    monkeypatch.setattr(Warehouse, "rows_to_write", original)

    later = run(defs, [FCT_SALES, EXPORT_BY_STATUS], instance)  # what automation requests
    assert not later.success
    why = failure(later, "export__fct_sales_by_status")
    assert "raw/erp/customers" in why and "reconciliation" in why
    assert rejected.run_id in why
    assert "publish_despite_failures" in why  # the way out
    assert published(demo_project, "fct_sales_by_status") == []

    # The export's own schedule, alone, is refused alike.
    alone = run(defs, [EXPORT_DIM_CUSTOMER], instance)
    assert "reconciliation" in failure(alone, "export__dim_customer")
    assert published(demo_project, "dim_customer") == []

    # A load whose checks pass lets the next publication through.
    assert run(defs, [CUSTOMERS], instance).success
    assert run(defs, [EXPORT_DIM_CUSTOMER], instance).success
    assert len(published(demo_project, "dim_customer")) == 1


def test_a_rejected_load_is_not_published_once_dagster_forgets_its_check(
    demo_project: ProjectConfig, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raw asset's materializations wiped (the UI's *Wipe materializations*), or another
    Dagster instance (a new or restored one) running the export: Dagster holds no failed
    evaluation of the check any more, and the export published the rejected rows, green
    (probe). The warehouse keeps the failure (_tributary.reconcile_failures) until a load's
    check finds those rows right: the gate reads it there too."""
    defs = build_definitions(demo_project)
    assert run(defs, RAW + MODELS, instance).success
    losing_one_row(monkeypatch)
    assert not run(defs, [CUSTOMERS], instance).success
    monkeypatch.undo()

    instance.wipe_assets([CUSTOMERS])
    wiped = run(defs, [EXPORT_DIM_CUSTOMER], instance)
    why = failure(wiped, "export__dim_customer")
    assert "the reconciliation of raw/erp/customers failed at" in why
    assert "_tributary.reconcile_failures" in why
    with dg.instance_for_test() as another:
        elsewhere = run(defs, [EXPORT_DIM_CUSTOMER], another)
        assert "the reconciliation of raw/erp/customers failed at" in failure(
            elsewhere, "export__dim_customer"
        )
    assert published(demo_project, "dim_customer") == []

    assert run(defs, [CUSTOMERS], instance).success  # its check finds the rows right
    assert run(defs, [EXPORT_DIM_CUSTOMER], instance).success
    assert len(published(demo_project, "dim_customer")) == 1


def test_a_failed_dbt_test_is_not_published_by_the_exports_schedule(
    demo_project: ProjectConfig, instance: dg.DagsterInstance
) -> None:
    """(B) A blocking dbt test fails in the models' run; the export's schedule then requests
    the export alone. It refuses, naming the test; an operator may publish anyway."""
    defs = build_definitions(demo_project)
    assert run(defs, RAW + MODELS, instance).success
    with duckdb.connect(demo_project.warehouse.path) as con:
        con.execute(
            "insert into raw_erp.sales_orders (change_id, operation, order_id, customer_id, "
            "order_date, amount, status, changed_at, _load_id, _deleted) "
            "values (100000, 'I', 100000, 1, '2024-03-01', null, 'open', now(), 'manual', false)"
        )
    tested = run(defs, [STG_ORDERS, FCT_SALES], instance)
    assert not tested.success

    scheduled = run(defs, [EXPORT_BY_STATUS], instance)
    assert not scheduled.success
    why = failure(scheduled, "export__fct_sales_by_status")
    assert "not_null_stg_erp__sales_orders_amount" in why
    assert "staging/stg_erp__sales_orders" in why and tested.run_id in why
    assert published(demo_project, "fct_sales_by_status") == []

    # The operator's override, in the run's config, publishes and says what it overrode.
    config = {
        "ops": {"export__fct_sales_by_status": {"config": {"publish_despite_failures": True}}}
    }
    forced = run(defs, [EXPORT_BY_STATUS], instance, run_config=config)
    assert forced.success
    [event] = forced.get_asset_materialization_events()
    overridden = event.materialization.metadata["published_despite"].value
    assert "not_null_stg_erp__sales_orders_amount" in overridden
    assert published(demo_project, "fct_sales_by_status")


def test_a_model_that_failed_to_build_is_not_published_as_fresh(
    demo_project: ProjectConfig, instance: dg.DagsterInstance
) -> None:
    """(C) A model fails to build (the raw table it reads is gone); the export's
    schedule would publish the table's previous build as today's partition. It refuses,
    naming the model, the run that failed, and when the table it holds was built."""
    defs = build_definitions(demo_project)
    built = run(defs, RAW + MODELS, instance)
    assert built.success
    with duckdb.connect(demo_project.warehouse.path) as con:
        con.execute("alter table raw_erp.customers rename to customers_gone")
    broken = run(defs, [STG_CUSTOMERS, DIM_CUSTOMER], instance)
    assert not broken.success

    scheduled = run(defs, [EXPORT_DIM_CUSTOMER], instance)
    assert not scheduled.success
    why = failure(scheduled, "export__dim_customer")
    assert "staging/stg_erp__customers" in why and broken.run_id in why
    assert f"built by run {built.run_id}" in why  # what the table holds
    assert published(demo_project, "dim_customer") == []

    # Mended and rebuilt, the export publishes.
    with duckdb.connect(demo_project.warehouse.path) as con:
        con.execute("alter table raw_erp.customers_gone rename to customers")
    assert run(defs, [STG_CUSTOMERS, DIM_CUSTOMER], instance).success
    assert run(defs, [EXPORT_DIM_CUSTOMER], instance).success
    assert len(published(demo_project, "dim_customer")) == 1


def test_a_model_built_by_a_run_that_ended_before_its_tests_is_not_published(
    demo_project: ProjectConfig, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(G) A run ends (terminated, a crash) after dbt built fct_sales and before fct_sales'
    tests ran: the table holds the new build, its checks' records of that run stay planned,
    and Dagster's latest evaluation is of the build before. The export published the new
    build, unchecked, green; it is refused, naming the model, a check and the run, until the
    model is built again with its tests."""
    defs = build_definitions(demo_project)
    assert run(defs, RAW + MODELS, instance).success

    original = DbtCliInvocation.stream

    def ended_after_fct_sales(self, *args, **kwargs):
        for event in original(self, *args, **kwargs):
            yield event
            if isinstance(event, dg.Output) and event.output_name == "marts__fct_sales":
                raise RuntimeError("the run ended here (a terminate, a crash)")

    monkeypatch.setattr(DbtCliInvocation, "stream", ended_after_fct_sales)
    ended = run(defs, [STG_ORDERS, FCT_SALES], instance)
    assert not ended.success
    assert instance.get_latest_materialization_event(FCT_SALES).run_id == ended.run_id
    monkeypatch.setattr(DbtCliInvocation, "stream", original)

    refused = run(defs, [EXPORT_BY_STATUS], instance)
    why = failure(refused, "export__fct_sales_by_status")
    assert f"model marts/fct_sales was built by run {ended.run_id}" in why
    assert "has not evaluated that build" in why and "ended before it ran" in why
    assert published(demo_project, "fct_sales_by_status") == []

    assert run(defs, [FCT_SALES], instance).success  # built again, its tests with it
    assert run(defs, [EXPORT_BY_STATUS], instance).success
    assert published(demo_project, "fct_sales_by_status") == [
        "status=invoiced",
        "status=open",
        "status=shipped",
    ]


def test_a_load_committing_between_the_gate_and_the_query_is_not_published(
    config_dir: Path,
    state_dir: Path,
    instance: dg.DagsterInstance,
    warehouse_config: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gate reads the loads not yet checked, then the export lists its store and reads its
    query: a load committing in between (another process's) was read by the query, unchecked,
    and published green (a probe: 55 of 55 rows, the load's own check never run). The gate's
    reads and the query now share one snapshot: the export publishes what the gate judged."""
    project = project_with(
        config_dir,
        state_dir,
        {
            "name": "customer_ids",
            "query": "select customer_id from {{ ref('stg_erp__customers') }}",
        },
        edit=on_warehouse(warehouse_config),
    )
    defs = build_definitions(project)
    assert run(defs, [CUSTOMERS, STG_CUSTOMERS], instance).success
    add_customers(project, [90001, 90002])

    original = exports_run.check_retention

    def a_load_commits_meanwhile(*args, **kwargs):
        source = next(s for s in project.sources if s.name == "erp")
        table = next(t for t in source.tables if t.name == "customers")
        with WarehouseResource.from_project(project).open() as other_session:
            ingest_table(
                source,
                table,
                reader=SourcesResource().open(source, state_dir=project.state_dir),
                landing=LandingStoreResource.from_project(project).open(),
                warehouse=other_session,
                batch_rows=100_000,
            )
        return original(*args, **kwargs)

    monkeypatch.setattr(exports_run, "check_retention", a_load_commits_meanwhile)
    assert run(defs, [dg.AssetKey(["export", "customer_ids"])], instance).success
    monkeypatch.setattr(exports_run, "check_retention", original)
    [folder] = published(project, "customer_ids")
    files = (Path(project.exports_url) / "customer_ids" / folder).glob("*.parquet")
    exported = {i for f in files for i in pq.read_table(f)["customer_id"].to_pylist()}
    assert len(exported) == 50 and not {90001, 90002} & exported  # what the gate judged

    refused = run(defs, [dg.AssetKey(["export", "customer_ids"])], instance)
    assert "have not been compared by its reconciliation" in failure(
        refused, "export__customer_ids"
    )


def test_a_view_read_live_is_not_published_past_a_load_its_tests_have_not_seen(
    config_dir: Path, state_dir: Path, instance: dg.DagsterInstance
) -> None:
    """An export of a staging view (read live: its rows change with every load beneath it)
    ran after a load and before dbt built the view again: it published rows the view's tests
    had never judged, green (a probe published an order whose status failed the view's
    accepted_values test). It is refused, naming the view, its check and the load, until the
    view is built (its tests with it). An export of a mart, a table holding its build, is not."""
    project = project_with(
        config_dir,
        state_dir,
        {"name": "live_orders", "query": "select order_id from {{ ref('stg_erp__sales_orders') }}"},
    )
    defs = build_definitions(project)
    live = dg.AssetKey(["export", "live_orders"])
    assert run(defs, RAW + MODELS, instance).success
    assert run(defs, [live], instance).success

    load = run(defs, [ORDERS], instance)
    assert load.success
    refused = run(defs, [live], instance)
    why = failure(refused, "export__live_orders")
    assert "view staging/stg_erp__sales_orders was last checked by its blocking check" in why
    assert (
        f"raw/erp/sales_orders, which it reads live, was materialized since (run {load.run_id}"
        in why
    )
    assert run(defs, [EXPORT_BY_STATUS], instance).success  # a mart holds its build

    assert run(defs, [STG_ORDERS], instance).success
    assert run(defs, [live], instance).success


def test_a_run_still_in_progress_is_no_failure(
    demo_project: ProjectConfig, instance: dg.DagsterInstance
) -> None:
    """A run that targets a model and has not finished (queued, or running) holds no failure:
    the export publishes the model's last build."""
    defs = build_definitions(demo_project)
    assert run(defs, RAW + MODELS, instance).success
    job = defs.resolve_implicit_global_asset_job_def()
    queued = instance.create_run_for_job(
        job, asset_selection=frozenset([STG_CUSTOMERS, DIM_CUSTOMER])
    )
    assert instance.get_latest_planned_materialization_info(DIM_CUSTOMER).run_id == queued.run_id
    assert run(defs, [EXPORT_DIM_CUSTOMER], instance).success


def test_a_load_whose_check_has_not_run_is_not_published(
    demo_project: ProjectConfig, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(G) A load commits and its run stops before its reconciliation compares the rows (killed,
    or still comparing while the export's schedule runs): Dagster holds no evaluation of the
    check for it, and the one before, passed, stood. The export published the unchecked rows
    green. The load's own transaction records its window as owed a comparison
    (_tributary.reconcile_failures): while it stands, the export refuses, naming the load."""
    defs = build_definitions(demo_project)
    assert run(defs, RAW + MODELS, instance).success
    add_customers(demo_project, [90001])

    with monkeypatch.context() as patched:
        patched.setattr("tributary.defs.ingest.load_check_results", stopped_before_the_check)
        assert not run(defs, [CUSTOMERS], instance).success
    assert 90001 in customer_ids(demo_project, "raw_erp.customers")  # committed, unchecked

    refused = run(defs, [STG_CUSTOMERS, DIM_CUSTOMER, EXPORT_DIM_CUSTOMER], instance)
    assert not refused.success
    why = failure(refused, "export__dim_customer")
    assert "raw/erp/customers" in why and "not been compared" in why
    [load_id] = customer_load_ids(demo_project, 90001)
    assert load_id in why
    assert "publish_despite_failures" in why  # the way out
    assert published(demo_project, "dim_customer") == []

    # The next load's check compares the unchecked load's rows too, and the export publishes.
    assert run(defs, [CUSTOMERS], instance).success
    assert run(defs, [EXPORT_DIM_CUSTOMER], instance).success
    assert len(published(demo_project, "dim_customer")) == 1


def stopped_before_the_check(*args, **kwargs):
    """In place of a load's checks: its run stops after the load's commit (killed, or still
    checking while another run reads the warehouse)."""
    raise RuntimeError("the run stopped after the load's commit")


def customer_load_ids(project: ProjectConfig, customer: int) -> list[str]:
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        rows = con.execute(
            "select _load_id from raw_erp.customers where customer_id = ?", [customer]
        ).fetchall()
    return [load_id for (load_id,) in rows]


def add_customers(project: ProjectConfig, ids: list[int]) -> None:
    """New customers in the demo's ERP, changed after everything loaded so far (the demo's
    rows are of 2024) and before the source's clock: a load's watermark, and the window its
    check compares, stop there (a row stamped 2099 lies past both)."""
    changed = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    with sqlite3.connect(project.state_dir / "demo" / "erp.sqlite") as con:
        columns = [row[1] for row in con.execute("pragma table_info(customers)")]
        newest = con.execute("select * from customers order by modified_at desc limit 1")
        template = list(newest.fetchone())
        for minute, customer_id in enumerate(ids, start=1):
            row = dict(zip(columns, template, strict=True))
            at = changed + timedelta(minutes=minute)
            row |= {"customer_id": customer_id, "modified_at": at.isoformat(sep=" ")}
            con.execute(
                f"insert into customers values ({', '.join('?' * len(columns))})",
                [row[column] for column in columns],
            )


def customer_ids(project: ProjectConfig, table: str) -> set[int]:
    with duckdb.connect(project.warehouse.path, read_only=True) as con:
        return {row[0] for row in con.execute(f"select customer_id from {table}").fetchall()}


def test_a_mart_built_on_a_rejected_load_is_not_published_after_the_load_is_mended(
    demo_project: ProjectConfig, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(D) A load drops a customer and its reconciliation fails (remembered until a load finds
    the rows right); the models are rebuilt anyway, the mart without the customer. A
    `full_refresh` run mends the raw table and its check passes, but the mart still lacks the
    customer: the export, run alone, refuses, naming the mart, when it was built and the check
    that stood failed then, until the mart is rebuilt."""
    defs = build_definitions(demo_project)
    assert run(defs, RAW + MODELS, instance).success
    add_customers(demo_project, [90001, 90002, 90003])

    original = Warehouse.rows_to_write

    def losing_one_row(self, tables, columns) -> str:
        return f"(select * from {original(self, tables, columns)} offset 1) as one_row_short"

    monkeypatch.setattr(Warehouse, "rows_to_write", losing_one_row)
    rejected = run(defs, [CUSTOMERS], instance)
    assert not rejected.success
    monkeypatch.setattr(Warehouse, "rows_to_write", original)
    again = run(defs, [CUSTOMERS], instance)  # the source's schedule: the failure is remembered
    assert not again.success
    rebuilt = run(defs, [STG_CUSTOMERS, DIM_CUSTOMER], instance)  # automation, or a person
    assert rebuilt.success
    built_on_rejected = customer_ids(demo_project, "marts.dim_customer")

    # The check stands failed, remembered: the refusal leads with the run that clears it, a
    # full refresh (a plain load did not), and the models to rebuild after.
    refused = run(defs, [EXPORT_DIM_CUSTOMER], instance)
    why = failure(refused, "export__dim_customer")
    full_refresh = '{"ops": {"raw__erp__customers": {"config": {"full_refresh": true}}}}'
    assert full_refresh in why
    assert why.index(full_refresh) < why.index("Fix the cause")
    assert why.index("marts/dim_customer", why.index(full_refresh)) < why.index("Fix the cause")
    assert published(demo_project, "dim_customer") == []

    config = {"ops": {"raw__erp__customers": {"config": {"full_refresh": True}}}}
    assert run(defs, [CUSTOMERS], instance, run_config=config).success
    lost = customer_ids(demo_project, "raw_erp.customers") - built_on_rejected
    assert lost  # the raw table is right again, the mart lacks what the load dropped

    # The export's schedule, alone: the check passes now, the mart still lacks the customer.
    scheduled = run(defs, [EXPORT_DIM_CUSTOMER], instance)
    assert not scheduled.success
    why = failure(scheduled, "export__dim_customer")
    built = instance.get_latest_materialization_event(DIM_CUSTOMER)
    assert built.run_id == rebuilt.run_id
    assert "marts/dim_customer" in why and rebuilt.run_id in why
    assert stamp(datetime.fromtimestamp(built.timestamp, UTC)) in why  # when it was built
    assert "reconciliation" in why and "raw/erp/customers" in why and again.run_id in why
    assert "publish_despite_failures" in why
    # The staging view reads the raw table live: it holds no rejected rows to rebuild away.
    assert "staging/stg_erp__customers" not in why
    assert published(demo_project, "dim_customer") == []

    # Rebuilt from the mended table, the mart and the export publish the customer.
    assert run(defs, [STG_CUSTOMERS, DIM_CUSTOMER], instance).success
    assert run(defs, [EXPORT_DIM_CUSTOMER], instance).success
    [folder] = published(demo_project, "dim_customer")
    files = (Path(demo_project.exports_url) / "dim_customer" / folder).glob("*.parquet")
    exported = {i for f in files for i in pq.read_table(f)["customer_id"].to_pylist()}
    assert lost <= exported


def project_with(config_dir: Path, state_dir: Path, *exports: dict, edit=None) -> ProjectConfig:
    """The shipped configuration (a copy) with `exports` added, `edit` applied to it."""
    for export in exports:
        (config_dir / "exports" / f"{export['name']}.yaml").write_text(yaml.safe_dump(export))
    if edit is not None:
        edit(config_dir)
    generate_demo_sources(state_dir / "demo", customers=50, orders=300)
    return load_project(config_dir)


def on_warehouse(warehouse_config: dict):
    """An `edit` for project_with: platform.yaml's `warehouse:` set to `warehouse_config`."""

    def edit(config_dir: Path) -> None:
        platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
        platform["warehouse"] = warehouse_config
        (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))

    return edit


def losing_one_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each load from now on writes one row short: it commits, and its reconciliation fails."""
    original = Warehouse.rows_to_write

    def one_short(self, tables, columns) -> str:
        return f"(select * from {original(self, tables, columns)} offset 1) as one_row_short"

    monkeypatch.setattr(Warehouse, "rows_to_write", one_short)


ORDERS_WITH_NAMES = (
    "select o.change_id, o.order_id, o.amount, c.customer_name "
    "from {orders} o left join {{{{ ref('dim_customer') }}}} c using (customer_id)"
)


@pytest.mark.parametrize("orders", ["raw_erp.sales_orders", "{{ source('erp', 'sales_orders') }}"])
def test_a_query_reading_a_raw_table_is_refused_while_its_check_fails(
    config_dir: Path, state_dir: Path, instance: dg.DagsterInstance, monkeypatch, orders: str
) -> None:
    """(E) A custom query reads a raw table, beside a model it refs: by its warehouse name, or
    as dbt users write it, a source(). The table's load loses a row and its reconciliation
    fails: the export, run by its schedule, refuses, naming the check. Before, only the models
    a query refs were upstream, and the load's rows were published without the lost one,
    green; a source() failed every run with DuckDB's parser error."""
    query = ORDERS_WITH_NAMES.format(orders=orders)
    project = project_with(config_dir, state_dir, {"name": "orders_with_names", "query": query})
    defs = build_definitions(project)
    export = dg.AssetKey(["export", "orders_with_names"])
    assert run(defs, [CUSTOMERS, STG_CUSTOMERS, DIM_CUSTOMER], instance).success
    with monkeypatch.context() as patched:
        losing_one_row(patched)
        rejected = run(defs, [ORDERS], instance)
    assert not rejected.success

    refused = run(defs, [export], instance)
    assert not refused.success
    why = failure(refused, "export__orders_with_names")
    assert "blocking check 'reconciliation' on raw/erp/sales_orders" in why
    assert rejected.run_id in why
    assert published(project, "orders_with_names") == []

    # The failure is remembered: a full refresh finds the rows right, then the export publishes.
    full_refresh = {"ops": {"raw__erp__sales_orders": {"config": {"full_refresh": True}}}}
    assert run(defs, [ORDERS], instance, run_config=full_refresh).success
    assert run(defs, [export], instance).success
    assert len(published(project, "orders_with_names")) == 1


def scope_app_users_by_company(config_dir: Path) -> None:
    app = yaml.safe_load((config_dir / "sources" / "app.yaml").read_text())
    [users] = [table for table in app["tables"] if table["name"] == "users"]
    users["tenant_column"] = "company_id"
    (config_dir / "sources" / "app.yaml").write_text(yaml.safe_dump(app))


def test_an_export_of_every_tenants_rows_waits_for_each_tenants_first_load(
    config_dir: Path, state_dir: Path, instance: dg.DagsterInstance
) -> None:
    """An export of a tenant-scoped table that is not per tenant reads every tenant's rows:
    run after the first tenant's load alone (an operator's materialization, a new tenant's
    loads not yet run), it published that tenant's rows as the whole table, green. It is
    refused, naming each tenant partition never loaded, until each is."""
    project = project_with(
        config_dir,
        state_dir,
        {"name": "all_users", "query": "select * from raw_app.users"},
        edit=scope_app_users_by_company,
    )
    defs = build_definitions(project)
    job = defs.resolve_implicit_global_asset_job_def()
    users = dg.AssetKey(["raw", "app", "users"])
    export = dg.AssetKey(["export", "all_users"])
    tenants = sorted(
        defs.resolve_asset_graph()
        .get(users)
        .partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    )
    assert len(tenants) > 1

    def load(tenant: str) -> None:
        loaded = job.execute_in_process(
            instance=instance, asset_selection=[users], partition_key=tenant
        )
        assert loaded.success

    load(tenants[0])
    refused = run(defs, [export], instance)
    why = failure(refused, "export__all_users")
    for tenant in tenants[1:]:
        assert f"partition {tenant} of raw/app/users has never been loaded" in why
    assert f"partition {tenants[0]} of" not in why
    assert published(project, "all_users") == []

    for tenant in tenants[1:]:
        load(tenant)
    assert run(defs, [export], instance).success
    assert len(published(project, "all_users")) == 1


def test_a_tenants_failed_load_refuses_every_tenants_export_that_reads_the_table(
    config_dir: Path, state_dir: Path, instance: dg.DagsterInstance, monkeypatch
) -> None:
    """(F) A per-tenant export whose query reads a tenant-scoped raw table (docs/exports.md:
    any tenant's failed partition refuses every export that reads the table, a per-tenant
    export's other tenants' too). acme's load loses a row: neither acme's partition of the
    export nor globex's publishes, each naming acme's partition; a full refresh of acme's
    partition lets both through. Before, each published, acme's without the lost row."""
    project = project_with(
        config_dir,
        state_dir,
        # As tests/tenant_config.py writes it: a model in depends_on, the raw table by name.
        {"name": "users_by_tenant", "query": "select * from raw_app.users",
         "depends_on": ["ops_load_status"], "per_tenant": True},
        edit=scope_app_users_by_company,
    )  # fmt: skip
    defs = build_definitions(project)
    job = defs.resolve_implicit_global_asset_job_def()
    users = dg.AssetKey(["raw", "app", "users"])
    export = dg.AssetKey(["export", "users_by_tenant"])

    def run_partition(asset: dg.AssetKey, tenant: str, run_config: dict | None = None):
        return job.execute_in_process(
            instance=instance, asset_selection=[asset], partition_key=tenant,
            run_config=run_config, raise_on_error=False,
        )  # fmt: skip

    assert run_partition(users, "2").success  # globex
    with monkeypatch.context() as patched:
        losing_one_row(patched)
        rejected = run_partition(users, "1")  # acme
    assert not rejected.success

    for tenant in ("1", "2"):  # the export's schedule: one run per tenant
        refused = run_partition(export, tenant)
        assert not refused.success
        why = failure(refused, "export__users_by_tenant")
        assert "blocking check 'reconciliation' on raw/app/users (partition 1)" in why
    assert not (Path(project.exports_url) / "users_by_tenant").exists()

    full_refresh = {"ops": {"raw__app__users": {"config": {"full_refresh": True}}}}
    assert run_partition(users, "1", full_refresh).success
    for tenant in ("1", "2"):
        assert run_partition(export, tenant).success
    published_tenants = (Path(project.exports_url) / "users_by_tenant").glob("*/*/_SUCCESS")
    assert sorted(path.parent.parent.name for path in published_tenants) == [
        "tenant=acme",
        "tenant=globex",
    ]

    # globex's next load commits and its run stops before the check: both tenants' exports
    # refuse, naming that partition's load, until a load of it is checked.
    with monkeypatch.context() as patched:
        patched.setattr("tributary.defs.ingest.load_check_results", stopped_before_the_check)
        assert not run_partition(users, "2").success
    for tenant in ("1", "2"):
        why = failure(run_partition(export, tenant), "export__users_by_tenant")
        assert "of raw/app/users (partition 2) committed at" in why and "not been compared" in why
    assert run_partition(users, "2").success
    assert run_partition(export, "1").success


CUSTOMERS_INC = dg.AssetKey(["marts", "customers_inc"])
EXPORT_CUSTOMERS_INC = dg.AssetKey(["export", "customers_inc"])
# dbt's own incremental model: each build adds the rows changed after the newest it holds.
INCREMENTAL_MART = """
{{ config(materialized='incremental', unique_key='customer_id') }}
select customer_id, customer_name, modified_at
from {{ ref('stg_erp__customers') }}
{% if is_incremental() %}
where modified_at > (select max(modified_at) from {{ this }})
{% endif %}
"""


def test_a_tenant_made_inactive_gates_while_its_rejected_rows_stay(
    config_dir: Path, state_dir: Path, instance: dg.DagsterInstance, monkeypatch
) -> None:
    """acme's load loses a row and its check fails; then acme is made inactive in tenants.yaml
    (its partition goes, its rows stay in the raw table). An export of every tenant's rows
    published acme's, which the check had rejected, green: a partition gone gated nothing. It
    gates while the raw table holds the tenant's rows, saying how to go on; deleting them (or
    loading the tenant again, active) clears it."""
    project = project_with(
        config_dir, state_dir, {"name": "users_all", "query": "select * from raw_app.users"},
        edit=scope_app_users_by_company,
    )  # fmt: skip
    users = dg.AssetKey(["raw", "app", "users"])
    export = dg.AssetKey(["export", "users_all"])

    def run_asset(project: ProjectConfig, asset: dg.AssetKey, tenant: str | None = None):
        job = build_definitions(project).resolve_implicit_global_asset_job_def()
        return job.execute_in_process(
            instance=instance, asset_selection=[asset], partition_key=tenant,
            raise_on_error=False,
        )  # fmt: skip

    for tenant in ("2", "3"):
        assert run_asset(project, users, tenant).success
    with monkeypatch.context() as patched:
        losing_one_row(patched)
        assert not run_asset(project, users, "1").success
    assert not run_asset(project, export).success

    tenants = yaml.safe_load((config_dir / "tenants.yaml").read_text())
    tenants["tenants"][0]["active"] = False  # acme
    (config_dir / "tenants.yaml").write_text(yaml.safe_dump(tenants))
    project = load_project(config_dir)
    refused = run_asset(project, export)
    assert not refused.success
    why = failure(refused, "export__users_all")
    assert "blocking check 'reconciliation' on raw/app/users (partition 1) failed" in why
    assert (
        "partition 1 can no longer be loaded (its tenant was made inactive in tenants.yaml, or "
        "is no longer listed), and raw_app.users still holds its rows: delete them (delete "
        "from raw_app.users where _tenant_id = '1'), or list the tenant again, active, and load "
        "it"
    ) in why

    with WarehouseResource.from_project(project).open() as warehouse:
        warehouse.execute("delete from raw_app.users where _tenant_id = '1'")
    assert run_asset(project, export).success


def project_with_incremental_mart(
    config_dir: Path,
    state_dir: Path,
    tmp_path: Path,
    warehouse_config: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> ProjectConfig:
    """The shipped configuration on the warehouse, with an incremental mart of the customers
    (marts/customers_inc) in a copy of the dbt project, and an export of it."""
    dbt_dir = copy_dbt_project(tmp_path / "dbt_project")
    (dbt_dir / "models" / "marts" / "customers_inc.sql").write_text(INCREMENTAL_MART)
    monkeypatch.setenv("TRIBUTARY_DBT_PROJECT_DIR", str(dbt_dir))
    export = {"name": "customers_inc", "model": "customers_inc"}
    project = project_with(config_dir, state_dir, export, edit=on_warehouse(warehouse_config))
    prepare_manifest(project)
    return project


def warehouse_ids(project: ProjectConfig, table: str, warehouse_config: dict) -> set[int]:
    sql = f"select customer_id from {table}"
    if warehouse_config["target"] == "duckdb":
        with duckdb.connect(project.warehouse.path, read_only=True) as con:
            return {row[0] for row in con.execute(sql).fetchall()}
    with psycopg.connect(warehouse_config["connection"]["url"]) as con:
        return {row[0] for row in con.execute(sql).fetchall()}


def test_an_incremental_mart_built_on_a_rejected_load_is_published_after_a_full_refresh_only(
    config_dir: Path,
    state_dir: Path,
    tmp_path: Path,
    warehouse_config: dict,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(E) A load drops customer 90001 (changed before 90002 and 90003, which land) and its
    reconciliation fails; the incremental mart is built meanwhile, without it. A `full_refresh`
    load mends the raw table, but a plain build of the mart adds only the rows changed after
    the newest it holds: 90001 never comes back. Before, the gate asked for a rebuild, and the
    plain one cleared it: the export published the mart without the customer, green. The
    refusal gives the dbt run config of a full refresh, and only such a build clears it."""
    project = project_with_incremental_mart(
        config_dir, state_dir, tmp_path, warehouse_config, monkeypatch
    )
    defs = build_definitions(project)
    assert run(defs, [CUSTOMERS, STG_CUSTOMERS, CUSTOMERS_INC], instance).success
    add_customers(project, [90001, 90002, 90003])

    original = Warehouse.rows_to_write

    def losing_90001(self, tables, columns) -> str:
        rows = original(self, tables, columns)
        return f"(select * from {rows} as s where customer_id <> 90001) as one_row_short"

    monkeypatch.setattr(Warehouse, "rows_to_write", losing_90001)
    rejected = run(defs, [CUSTOMERS], instance)
    assert not rejected.success
    monkeypatch.setattr(Warehouse, "rows_to_write", original)
    assert run(defs, [STG_CUSTOMERS, CUSTOMERS_INC], instance).success  # built without 90001
    mended = {"ops": {"raw__erp__customers": {"config": {"full_refresh": True}}}}
    assert run(defs, [CUSTOMERS], instance, run_config=mended).success
    assert 90001 in warehouse_ids(project, "raw_erp.customers", warehouse_config)

    # The check passes now; the mart is incremental: the refusal leads with its full refresh.
    full_refresh = '{"ops": {"dbt_models": {"config": {"full_refresh": true}}}}'
    refused = run(defs, [EXPORT_CUSTOMERS_INC], instance)
    why = failure(refused, "export__customers_inc")
    assert "marts/customers_inc" in why and "incremental" in why and rejected.run_id in why
    assert full_refresh in why and why.index(full_refresh) < why.index("Fix the cause")

    # A plain build (automation's, after the load) does not bring 90001 back, nor clear it.
    plain = run(defs, [STG_CUSTOMERS, CUSTOMERS_INC], instance)
    assert plain.success
    assert 90001 not in warehouse_ids(project, "marts.customers_inc", warehouse_config)
    built = instance.get_latest_materialization_event(CUSTOMERS_INC).asset_materialization
    assert built.metadata["full_refresh"].value is False
    refused = run(defs, [EXPORT_CUSTOMERS_INC], instance)
    assert not refused.success
    why = failure(refused, "export__customers_inc")
    assert full_refresh in why and rejected.run_id in why
    assert published(project, "customers_inc") == []

    # Built with a full refresh (the run config the refusal gave), the export publishes 90001.
    config = {"ops": {"dbt_models": {"config": {"full_refresh": True}}}}
    assert run(defs, [STG_CUSTOMERS, CUSTOMERS_INC], instance, run_config=config).success
    built = instance.get_latest_materialization_event(CUSTOMERS_INC).asset_materialization
    assert built.metadata["full_refresh"].value is True
    assert run(defs, [EXPORT_CUSTOMERS_INC], instance).success
    [folder] = published(project, "customers_inc")
    files = (Path(project.exports_url) / "customers_inc" / folder).glob("*.parquet")
    assert 90001 in {i for f in files for i in pq.read_table(f)["customer_id"].to_pylist()}


def test_a_days_export_is_refused_while_its_mart_was_built_before_the_loads_since_the_day(
    config_dir: Path, state_dir: Path, instance: dg.DagsterInstance, monkeypatch
) -> None:
    """(J) The daemon was down for days: its export schedule came back requesting every missed
    day at once, and those runs went ahead of the build of fct_sales that follows the loads:
    each day published 0 rows from the mart as built before the outage, green, and was never
    asked again. The day's end here is a moment between the mart's build and the load after it
    (a real one would be a midnight UTC between them)."""
    export = {
        "name": "sales_by_day",
        "model": "fct_sales",
        "partitioning": {"by": "date", "column": "order_date", "start_date": "2024-01-01"},
    }
    project = project_with(config_dir, state_dir, export)
    defs = build_definitions(project)
    key = dg.AssetKey(["export", "sales_by_day"])
    assert run(defs, RAW + MODELS, instance).success
    ended = datetime.now(UTC)
    assert run(defs, [ORDERS], instance).success  # the loads catch up; the build has not
    monkeypatch.setattr(
        export_module,
        "models_behind_day",
        lambda context, asset, day: export_gate.models_built_before(context, asset, day, ended),
    )
    export_day = partial(run_day, defs, key, "2024-05-01", instance)
    refused = export_day()
    assert not refused.success
    why = failure(refused, "export__sales_by_day")
    assert "model marts/fct_sales was last built" in why
    assert "raw/erp/sales_orders, which it reads, was updated since" in why
    assert "run the export of 2024-05-01 again once the model is built" in why
    assert published(project, "sales_by_day") == []

    assert run(defs, MODELS, instance).success  # automation's build after the loads
    assert export_day().success
    assert published(project, "sales_by_day") == ["dt=2024-05-01"]


def test_a_days_export_of_a_raw_table_is_refused_while_its_due_loads_have_not_run(
    config_dir: Path, state_dir: Path, instance: dg.DagsterInstance, monkeypatch
) -> None:
    """The daemon was down for days, and on its return the export's schedule requested each
    missed day at once, ahead of the loads: an export reading the raw table by day published
    each day without the rows loaded after it (here: none of them), green, and never asked
    again. erp_sales_orders_schedule ticks every 15 minutes; the day's end is a moment after the
    load, and the gate runs two days later."""
    export = {
        "name": "orders_by_day",
        "query": "select * from {{ source('erp', 'sales_orders') }}",
        "partitioning": {"by": "date", "column": "changed_at", "start_date": "2024-01-01"},
    }
    project = project_with(config_dir, state_dir, export)
    defs = build_definitions(project)
    key = dg.AssetKey(["export", "orders_by_day"])
    assert run(defs, [ORDERS], instance).success
    ended = datetime.now(UTC)
    monkeypatch.setattr(
        export_module,
        "loads_behind_day",
        lambda context, asset, day, schedules: export_gate.loads_due_since(
            context, asset, day, ended, ended + timedelta(days=2), schedules
        ),
        raising=False,  # before 2026-12-07 there was no such rule, and the day was published
    )
    export_day = partial(run_day, defs, key, "2024-05-01", instance)
    refused = export_day()
    assert not refused.success, "published while the table's due loads had not run"
    why = failure(refused, "export__orders_by_day")
    assert "raw table raw/erp/sales_orders was last loaded" in why
    assert "before day 2024-05-01 ended, though erp_sales_orders_schedule fell due at" in why
    assert "run the export of 2024-05-01 again once the table is loaded" in why
    assert published(project, "orders_by_day") == []

    assert run(defs, [ORDERS], instance).success  # the loads catch up
    assert export_day().success
    assert published(project, "orders_by_day") == ["dt=2024-05-01"]
