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
import yaml
from dbt import version as dbt_version
from packaging.version import Version

from tests.tenant_config import write_registry_project
from tributary.config.loader import ConfigError, ProjectConfig, load_project
from tributary.defs import build_definitions
from tributary.defs.transform import (
    DBT_EXECUTABLE,
    build_transform_defs,
    dbt_project,
    load_manifest,
)
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "asset_graph.json"
TENANT_SNAPSHOT = SNAPSHOT.with_name("asset_graph_tenant_registry.json")


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
        _ = DuckDBWarehouse(demo_project.warehouse.path).con


def test_loading_definitions_opens_no_connection(
    demo_project: ProjectConfig, no_connections
) -> None:
    defs = build_definitions(demo_project)
    assert len(list(defs.resolve_asset_graph().get_all_asset_keys())) > 10
    assert defs.get_job_def("preflight").graph.node_names() == ["preflight_check"]
    assert not Path(demo_project.warehouse.path).exists()


def describe_partitions(partitions: dg.PartitionsDefinition | None) -> int | str | None:
    if isinstance(partitions, dg.DynamicPartitionsDefinition):
        return f"dynamic: {partitions.name}"  # its keys are the instance's, not the code's
    return len(partitions.get_partition_keys()) if partitions else None


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
            "partitions": describe_partitions(node.partitions_def),
            "pools": sorted(node.pools or ()),
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
    assert_snapshot(describe_graph(build_definitions(demo_project)), SNAPSHOT)


def test_asset_graph_snapshot_with_a_tenant_registry(
    tmp_path: Path, state_dir: Path, no_connections
) -> None:
    """The graph of a project whose tenants come from a registry (tests/tenant_config.py):
    dynamic tenant partitions on the tenant-scoped table and the per-tenant exports, the
    registry's sensor; loading it opens no connection (the registry's server is not even
    there)."""
    config = write_registry_project(
        tmp_path / "assets_config", url="mysql://reader@127.0.0.1:9/app", tenant_stores=tmp_path
    )
    assert_snapshot(describe_graph(build_definitions(load_project(config))), TENANT_SNAPSHOT)


def assert_snapshot(current: dict, snapshot: Path) -> None:
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(snapshot.read_text())


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


def write_exports(config_dir: Path, *exports: dict) -> None:
    for export in exports:
        (config_dir / "exports" / f"{export['name']}.yaml").write_text(yaml.safe_dump(export))


def test_an_export_query_reading_a_raw_table_depends_on_it(
    config_dir: Path, state_dir: Path
) -> None:
    """A query that reads a raw table by its warehouse name has the raw table upstream, as a
    model it refs: its blocking checks gate the export (defs/export_gate.py walks the lineage)
    and its loads trigger it. Before, the lineage held the refs alone, and a load its check
    rejected was published, green. A table that is neither a model nor a raw table (here
    lookups.regions) is no asset: nothing to depend on."""
    write_exports(
        config_dir,
        {
            "name": "orders_with_names",
            "query": "select o.*, c.customer_name, r.region from raw_erp.sales_orders o "
            "join {{ ref('dim_customer') }} c using (customer_id) "
            "left join lookups.regions r on r.country = c.country",
        },
        # Reading raw tables alone, the query needs no ref and no depends_on.
        {"name": "app_users", "query": 'select * from "raw_app"."users"'},
    )
    graph = describe_graph(build_definitions(load_project(config_dir)))["assets"]
    assert graph["export/orders_with_names"]["deps"] == [
        "marts/dim_customer",
        "raw/erp/sales_orders",
    ]
    assert graph["export/app_users"]["deps"] == ["raw/app/users"]


def test_a_partitioned_raw_table_maps_onto_the_exports_partitions(
    config_dir: Path, state_dir: Path
) -> None:
    """A tenant-scoped raw table read by a per-tenant export: each tenant's export reads that
    tenant's partition. Read by an export partitioned otherwise (by day), every partition: the
    tenants' keys are no days (Dagster's default would map them one to one)."""
    app = yaml.safe_load((config_dir / "sources" / "app.yaml").read_text())
    [users] = [table for table in app["tables"] if table["name"] == "users"]
    users["tenant_column"] = "company_id"
    (config_dir / "sources" / "app.yaml").write_text(yaml.safe_dump(app))
    query = "select * from raw_app.users where updated_at < {{ partition_end }}"
    write_exports(
        config_dir,
        {"name": "users_by_tenant", "query": query, "per_tenant": True},
        {"name": "users_by_day", "query": query,
         "partitioning": {"by": "date", "start_date": "2024-01-01"}},
    )  # fmt: skip
    graph = build_definitions(load_project(config_dir)).resolve_asset_graph()
    users_key = dg.AssetKey(["raw", "app", "users"])

    def mapping(export: str) -> dg.PartitionMapping:
        return graph.get_partition_mapping(dg.AssetKey(["export", export]), users_key)

    assert isinstance(mapping("users_by_tenant"), dg.IdentityPartitionMapping)
    assert isinstance(mapping("users_by_day"), dg.AllPartitionMapping)


WAREHOUSES = {
    "duckdb": {"warehouse": {"target": "duckdb"}},
    "postgres": {"warehouse": {"target": "postgres", "connection": {"url": "postgresql://u@h/dw"}}},
    "redshift": {
        "warehouse": {
            "target": "redshift",
            "connection": {"url": "redshift://u@h:5439/dw", "password_env": "REDSHIFT_PASSWORD"},
            "iam_role": "arn:aws:iam::123456789012:role/copy",
        },
        "landing": {"url": "s3://landing/tributary"},
    },
}


@pytest.mark.parametrize("target", sorted(WAREHOUSES))
def test_an_export_query_reading_a_source_depends_on_its_raw_table(
    config_dir: Path, state_dir: Path, target: str
) -> None:
    """{{ source('erp', 'sales_orders') }} reads the raw table raw_erp.sales_orders, upstream
    of the export as a ref's model, whatever the warehouse (its dialect parses the query); a
    source() alone is enough of an upstream."""
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(WAREHOUSES[target]))
    write_exports(
        config_dir,
        {
            "name": "orders_with_names",
            "query": "select o.*, c.customer_name from {{ source('erp', 'sales_orders') }} o "
            "join {{ ref('dim_customer') }} c using (customer_id)",
        },
        {"name": "app_users", "query": "select * from {{ source('app', 'users') }}"},
    )
    defs = build_definitions(load_project(config_dir))
    graph = describe_graph(defs)["assets"]
    assert graph["export/orders_with_names"]["deps"] == [
        "marts/dim_customer",
        "raw/erp/sales_orders",
    ]
    assert graph["export/app_users"]["deps"] == ["raw/app/users"]
    node = defs.resolve_asset_graph().get(dg.AssetKey(["export", "app_users"]))
    assert 'select * from "raw_app"."users"' in node.metadata["sql"].value


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ source('erp', 'orders') }}",
         "query: {{ source('erp', 'orders') }}: source erp has no table 'orders'; expected one "
         "of customers, sales_orders (the tables of "),
        ("{{ source('tributary', 'run_log') }}",
         "query: {{ source('tributary', 'run_log') }}: no source named 'tributary'; expected "
         "one of app, erp, ops, salesforce"),
    ],
)  # fmt: skip
def test_a_source_that_is_not_configured_is_refused_naming_file_and_key(
    config_dir: Path, state_dir: Path, source: str, expected: str
) -> None:
    write_exports(config_dir, {"name": "orders", "query": f"select * from {source}"})
    with pytest.raises(ConfigError) as raised:
        build_definitions(load_project(config_dir))
    assert f"exports/orders.yaml: {expected}" in str(raised.value)


def test_a_query_export_reading_no_model_and_no_raw_table_is_refused(
    config_dir: Path, state_dir: Path
) -> None:
    write_exports(config_dir, {"name": "nothing", "query": "select 1 as n from lookups.regions"})
    with pytest.raises(ConfigError) as raised:
        build_definitions(load_project(config_dir))
    assert "exports/nothing.yaml: query: reads no dbt model and no raw table" in str(raised.value)


def check_specs(defs: dg.Definitions) -> dict[str, dg.AssetCheckSpec]:
    return {
        spec.key.to_user_string(): spec
        for assets_def in defs.assets or []
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.check_specs
    }


def test_raw_tables_have_blocking_reconciliation_and_key_checks(
    demo_project: ProjectConfig,
) -> None:
    defs = build_definitions(demo_project)
    graph = defs.resolve_asset_graph()
    for source in demo_project.sources:
        for table in source.tables:
            key = dg.AssetKey(["raw", source.name, table.name])
            names = {check.name for check in graph.get(key).check_keys}
            assert names == {"reconciliation", "unique_primary_key", "freshness", "schema_drift"}
            # one pool per table: two loads of it queue, loads of other tables do not
            assert graph.get(key).pools == {f"raw/{source.name}/{table.name}"}
    specs = check_specs(defs)
    assert specs["raw/erp/customers:reconciliation"].blocking
    assert specs["raw/erp/customers:unique_primary_key"].blocking
    assert not specs["raw/erp/customers:schema_drift"].blocking


def test_each_export_is_its_own_pool(demo_project: ProjectConfig) -> None:
    """Two runs of one export queue (their publications of a partition would mix files);
    runs of different exports, and loads, do not wait for each other."""
    graph = build_definitions(demo_project).resolve_asset_graph()
    pools = {
        export.name: graph.get(dg.AssetKey(["export", export.name])).pools
        for export in demo_project.exports
    }
    assert pools == {export.name: {f"export/{export.name}"} for export in demo_project.exports}
    assert len(pools) == 3


def test_dbt_tests_are_blocking_checks_where_their_severity_is_error(
    demo_project: ProjectConfig,
) -> None:
    dbt = dbt_project()
    manifest = load_manifest(dbt)
    [warn_test] = [
        uid
        for uid, node in manifest["nodes"].items()
        if node["name"] == "not_null_fct_sales_amount"
    ]
    manifest["nodes"][warn_test]["config"]["severity"] = "warn"
    specs = check_specs(build_transform_defs(manifest, dbt))
    assert not specs["marts/fct_sales:not_null_fct_sales_amount"].blocking
    assert specs["marts/fct_sales:unique_per_tenant_fct_sales_order_id"].blocking
    severity = {
        node["name"]: node["config"]["severity"].lower()
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
    }
    assert len(specs) == len(severity) > 20
    assert {spec.blocking for spec in specs.values()} == {True, False}
    for name, spec in specs.items():
        assert spec.blocking == (severity[name.split(":")[1]] == "error"), name


def test_a_dbt_run_starts_no_dbt_version_subprocess_and_no_adapter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dagster-dbt 0.29.27 would run `dbt --version` in a subprocess and set up a dbt adapter in
    the Dagster process before each run; Tributary's resource knows the version in process."""
    from dagster_dbt.core import resource as dagster_dbt_resource
    from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

    def refuse(args, *rest, **kwargs):
        raise AssertionError(f"subprocess started: {args!r}")

    started: dict = {}
    monkeypatch.setattr(dagster_dbt_resource, "check_output", refuse)
    monkeypatch.setattr(DbtCliInvocation, "run", classmethod(lambda cls, **kw: started.update(kw)))
    dbt = dbt_project()
    manifest = load_manifest(dbt)
    dbt_cli = build_transform_defs(manifest, dbt).resources["dbt_cli"]
    dbt_cli.cli(["build"], manifest=manifest)
    assert started["cli_version"] == Version(dbt_version.__version__)
    assert started["adapter"] is None
    assert started["args"][:2] == [str(DBT_EXECUTABLE), "build"]


def test_raw_assets_are_what_the_asset_decorator_builds(demo_project: ProjectConfig) -> None:
    """Raw assets are put together from their parts (a decorator per table was the cost of
    loading many tables); they must stay what `@dg.asset` builds from the same arguments."""
    from tributary.defs.checks import raw_check_specs
    from tributary.defs.ingest import (
        RAW_LOAD_CONFIG_SCHEMA,
        build_raw_asset,
        raw_asset_spec,
        raw_pool,
    )

    def outputs(assets_def: dg.AssetsDefinition) -> dict:
        return {
            out.name: (out.dagster_type.display_name, out.is_required, out.io_manager_key)
            for out in assets_def.node_def.output_defs
        }

    for source in demo_project.sources:
        for table in source.tables:
            built = build_raw_asset(demo_project, source, table)
            spec = raw_asset_spec(demo_project, source, table)

            def load(context):
                return dg.MaterializeResult()

            # (as ingest.py had it; this module's annotations are strings)
            load.__annotations__ = {"return": dg.MaterializeResult}
            reference = dg.asset(
                key=spec.key,
                deps=spec.deps,
                automation_condition=spec.automation_condition,
                group_name=spec.group_name,
                kinds={source.kind, demo_project.platform.warehouse.target},
                description=spec.description,
                partitions_def=spec.partitions_def,
                check_specs=raw_check_specs(spec.key, table),
                freshness_policy=spec.freshness_policy,
                pool=raw_pool(source.name, table.name),
                config_schema=RAW_LOAD_CONFIG_SCHEMA,
                required_resource_keys={"warehouse", "landing", "sources"},
                metadata=spec.metadata,
            )(load)

            assert built.specs_by_key == reference.specs_by_key
            assert built.check_specs_by_output_name == reference.check_specs_by_output_name
            assert built.node_def.name == reference.node_def.name == spec.key.to_python_identifier()
            assert built.node_def.pool == reference.node_def.pool
            assert built.required_resource_keys == reference.required_resource_keys
            assert outputs(built) == outputs(reference)
            assert (
                built.node_def.config_schema.as_field().config_type.key
                == reference.node_def.config_schema.as_field().config_type.key
            )
            assert (built.execution_type, built.can_subset, built.is_executable) == (
                reference.execution_type,
                reference.can_subset,
                reference.is_executable,
            )


def test_freshness_checks_are_what_the_multi_asset_check_decorator_builds(
    demo_project: ProjectConfig,
) -> None:
    """A source's freshness checks are put together from their parts (the decorator was the
    larger part of their cost with many tables); they must stay what
    `@dg.multi_asset_check(can_subset=True)` builds from the same specs."""
    from tributary.defs.checks import build_freshness_checks
    from tributary.defs.ingest import raw_asset_key

    def outputs(checks_def: dg.AssetChecksDefinition) -> dict:
        return {
            out.name: (out.dagster_type.display_name, out.is_required, out.io_manager_key)
            for out in checks_def.node_def.output_defs
        }

    def inputs(checks_def: dg.AssetChecksDefinition) -> dict:
        return {
            put.name: (put.dagster_type.display_name, checks_def.keys_by_input_name[put.name])
            for put in checks_def.node_def.input_defs
        }

    for source in demo_project.sources:
        keys = {table.name: raw_asset_key(source.name, table.name) for table in source.tables}
        built = build_freshness_checks(demo_project, source, keys)

        def freshness_checks(context):
            yield from ()

        reference = dg.multi_asset_check(
            name=f"freshness__{source.name}",
            specs=list(built.check_specs),
            can_subset=True,
            required_resource_keys={"warehouse", "sources"},
        )(freshness_checks)

        assert len(built.check_specs_by_output_name) == len(source.tables)
        assert built.check_specs_by_output_name == reference.check_specs_by_output_name
        assert built.node_def.name == reference.node_def.name
        assert built.required_resource_keys == reference.required_resource_keys
        assert outputs(built) == outputs(reference)
        # Each checked table is an input (Nothing), so a run that loads a table checks it after
        # the load. (Input names differ: "raw__app__users" here, where Dagster's "raw_app_users"
        # can collide.)
        assert sorted(inputs(built).values()) == sorted(inputs(reference).values())
        assert inputs(built) == {
            name: ("Nothing", key) for name, key in built.keys_by_input_name.items()
        }
        assert set(built.keys_by_input_name.values()) == set(keys.values())
        assert set(reference.keys_by_input_name.values()) == set(keys.values())
        assert (built.can_subset, built.is_executable, type(built)) == (
            reference.can_subset,
            reference.is_executable,
            type(reference),
        )


def test_building_definitions_leaves_garbage_collection_as_it_was(
    demo_project: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cycle collector is paused while the definitions are built, and only then."""
    import gc

    import tributary.defs

    assert gc.isenabled()
    seen = []
    real = tributary.defs._build_definitions

    def spy(project, sources):
        seen.append(gc.isenabled())
        return real(project, sources)

    monkeypatch.setattr(tributary.defs, "_build_definitions", spy)
    defs = build_definitions(demo_project)
    assert seen == [False] and gc.isenabled()
    assert defs.get_repository_def() is defs.get_repository_def()  # resolved once, kept

    def fail(project, sources):
        raise ValueError("a configuration error")

    monkeypatch.setattr(tributary.defs, "_build_definitions", fail)
    with pytest.raises(ValueError):
        build_definitions(demo_project)
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(tributary.defs, "_build_definitions", real)
        build_definitions(demo_project)
        assert not gc.isenabled()  # left off when it was off
    finally:
        gc.enable()


@pytest.fixture(scope="module")
def entry_point() -> dict:
    """What a fresh process that builds the code location's definitions through its entry
    point (as a code server or run does) reports of itself, and its stderr at exit."""
    import subprocess
    import sys

    script = (
        "import gc, json, sys; from tributary.definitions import defs; d = defs(); "
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'gc_enabled': gc.isenabled(), "
        "'salesforce_client': 'simple_salesforce' in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    return {**json.loads(done.stdout), "stderr": done.stderr}


def test_the_entry_point_keeps_its_definitions_out_of_garbage_collection(
    demo_project: ProjectConfig, entry_point: dict
) -> None:
    """The code location's entry point (a code server, a run) freezes what is alive once its
    definitions are built; building them elsewhere (here, in tests) freezes nothing."""
    import gc

    before = gc.get_freeze_count()
    build_definitions(demo_project)
    assert gc.get_freeze_count() == before
    assert entry_point["frozen"] > 100_000
    assert entry_point["gc_enabled"]
    assert "leaked" not in entry_point["stderr"]  # unfrozen at exit: DuckDB's bindings see no leak


def test_the_entry_point_does_not_import_the_salesforce_client(entry_point: dict) -> None:
    """simple_salesforce (and zeep, lxml under it) is 31 MB and a quarter of a second of every
    code server's and run's imports: it is imported when a Salesforce object is read, not
    because the configuration names a Salesforce source (the shipped one does)."""
    assert entry_point["salesforce_client"] is False


def test_a_query_exports_upstream_is_every_model_it_refs(config_dir: Path, state_dir) -> None:
    # depends_on named one of the two models the query refs: the other's checks and builds
    # neither gated nor triggered the export, and its team was not granted it.
    (config_dir / "exports" / "orders_by_customer.yaml").write_text(
        "name: orders_by_customer\n"
        "query: select f.order_id, d.customer_key from {{ ref('fct_sales') }} f\n"
        "  join {{ ref( 'dim_customer' ) }} d using (customer_key)\n"
        "depends_on: [fct_sales]\n"
    )
    (config_dir / "exports" / "by_ref_alone.yaml").write_text(
        "name: by_ref_alone\nquery: select * from {{ ref('dim_account') }}\n"
    )
    graph = describe_graph(build_definitions(load_project(config_dir)))["assets"]
    assert graph["export/orders_by_customer"]["deps"] == ["marts/dim_customer", "marts/fct_sales"]
    assert graph["export/by_ref_alone"]["deps"] == ["marts/dim_account"]


def test_a_model_read_by_its_warehouse_name_is_upstream_and_a_left_table_refused(
    config_dir: Path, state_dir
) -> None:
    """A query reading a model by its warehouse name (marts.fct_sales), beside a ref, had it
    outside its lineage: its tests gated nothing. And a table dbt no longer builds (the model
    renamed to fct_orders) was published, stale, green: nothing rebuilds or checks it."""
    (config_dir / "exports" / "by_name.yaml").write_text(
        "name: by_name\nquery: select s.order_id, d.customer_key from {{ ref('dim_customer') }} d"
        "\n  join MARTS.fct_sales s using (customer_key)\n"
    )
    graph = describe_graph(build_definitions(load_project(config_dir)))["assets"]
    assert graph["export/by_name"]["deps"] == ["marts/dim_customer", "marts/fct_sales"]

    (config_dir / "exports" / "by_name.yaml").write_text(
        "name: by_name\nquery: select * from marts.fct_sales_before_rename\n"
    )
    with pytest.raises(ConfigError) as raised:
        build_definitions(load_project(config_dir))
    assert (
        "exports/by_name.yaml: query: reads marts.fct_sales_before_rename, which no dbt model, "
        "seed or snapshot builds"
    ) in str(raised.value)


def test_a_query_refs_unknown_model_is_named_under_query(config_dir: Path, state_dir) -> None:
    (config_dir / "exports" / "typo.yaml").write_text(
        "name: typo\nquery: select * from {{ ref('fct_sale') }}\n"
    )
    with pytest.raises(ConfigError) as raised:
        build_definitions(load_project(config_dir))
    assert "exports/typo.yaml: query: no dbt model, seed or snapshot named 'fct_sale'" in str(
        raised.value
    )
