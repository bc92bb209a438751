"""Tenants from the application's own registry, on a real MariaDB (its read on PostgreSQL
too): a company row is a tenant.

tenant_registry_sensor and the schedules are evaluated with Dagster's testing contexts on one
instance, and the runs they request executed in process, as the daemon would launch them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy.engine import URL, make_url

import tributary.defs.export as export_defs
from tests.conftest import local_dagster_home
from tests.tenant_config import REGISTRY_SOURCE, write_registry_project
from tributary.config.loader import ProjectConfig, load_project
from tributary.config.models import SourceConfig, TableConfig, TenantRegistry
from tributary.defs import build_definitions
from tributary.defs.tenants import TENANT_PARTITIONS, TENANTS_KEY
from tributary.errors import SourceError
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.slices import slice_for
from tributary.sources import SqlSource
from tributary.tenants import read_registry
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

from .test_sql_loads import run_sql

# Each company's orders, this many days old.
AGES = (1, 5, 20, 45, 59, 61, 90)
ORDERS = f"raw_{REGISTRY_SOURCE}/orders"


@pytest.fixture
def registry(mariadb):
    url, con = mariadb
    run_sql(
        con,
        "create table companies (company_id int primary key, alias varchar(50), status int)",
        "create table company_settings (company_id int, name varchar(50), value varchar(50))",
        "create table orders (id int primary key, company_id int, amount decimal(10, 2), "
        "created_at datetime)",
        "insert into companies values (1, 'acme', 1), (2, 'globex', 1), (3, 'initech', 0)",
        "insert into company_settings values (1, 'days_back', '60'), (2, 'days_back', '7')",
    )
    now = datetime.now()
    rows = [
        (company * 100 + n, company, f"{company}.{n:02d}", now - timedelta(days=age))
        for company in (1, 2, 3, 4)
        for n, age in enumerate(AGES)
    ]
    con.cursor().executemany("insert into orders values (%s, %s, %s, %s)", rows)
    return url, con


class Platform:
    """The definitions of a registry project, one Dagster instance, and the sensor's cursor."""

    def __init__(self, project, instance: dg.DagsterInstance) -> None:
        self.project = project
        self.defs = build_definitions(project)
        self.instance = instance
        self.cursor: str | None = None
        self.job = self.defs.resolve_implicit_global_asset_job_def()

    def sensor_tick(self) -> dg.SensorResult | dg.SkipReason:
        sensor = self.defs.resolve_sensor_def("tenant_registry_sensor")
        with dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=self.cursor,
            repository_def=self.defs.get_repository_def(),
            resources=self.defs.resources,
        ) as context:
            data = sensor.evaluate_tick(context)
        for request in data.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, request.partition_keys
            )
        self.cursor = data.cursor
        return data

    def schedule_tick(self, name: str) -> list[dg.RunRequest]:
        schedule = self.defs.resolve_schedule_def(name)
        with dg.build_schedule_context(
            instance=self.instance,
            repository_def=self.defs.get_repository_def(),
            resources=self.defs.resources,
        ) as context:
            return list(schedule.evaluate_tick(context).run_requests or [])

    def run(self, request: dg.RunRequest) -> None:
        result = self.job.execute_in_process(
            instance=self.instance,
            partition_key=request.partition_key,
            asset_selection=list(request.asset_selection),
            tags=request.tags,
        )
        assert result.success

    def rows_by_tenant(self) -> dict[str, int]:
        with duckdb.connect(str(self.project.warehouse.path), read_only=True) as con:
            rows = con.execute(
                f"select _tenant_id, count(*) from raw_{REGISTRY_SOURCE}.orders group by 1"
            ).fetchall()
        return dict(rows)

    def tenants_table(self) -> dict[str, tuple[str, str]]:
        with duckdb.connect(str(self.project.warehouse.path), read_only=True) as con:
            rows = con.execute("select tenant_id, alias, status from _tributary.tenants").fetchall()
        return {tenant_id: (alias, status) for tenant_id, alias, status in rows}


def dagster_instance(tmp_path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(local_dagster_home(tmp_path / "dagster_home")))


def within(days: int) -> int:
    return sum(age < days for age in AGES)


def test_the_registry_drives_partitions_loads_settings_and_exports(
    registry, state_dir, tmp_path
) -> None:
    url, con = registry
    stores = tmp_path / "tenant_stores"
    project = load_project(
        write_registry_project(tmp_path / "assets_config", url=str(url), tenant_stores=stores)
    )
    # An instance on disk, as the daemon's: a sensor resolves new partitions through its ref.
    platform = Platform(project, dagster_instance(tmp_path))

    # First reading: the two active companies become partitions and their loads are requested.
    first = platform.sensor_tick()
    assert sorted(platform.instance.get_dynamic_partitions(TENANT_PARTITIONS.name)) == ["1", "2"]
    assert [(r.partition_key, r.tags["tributary/tenant"]) for r in first.run_requests] == [
        ("1", "1"),
        ("2", "2"),
    ]
    for request in first.run_requests:
        platform.run(request)
    # Each tenant read as far back as its own days_back setting: 60 and 7 days.
    assert platform.rows_by_tenant() == {"1": within(60), "2": within(7)}
    assert platform.sensor_tick().skip_message.startswith("no change: 3 tenants, 2 active")

    # One run of the schedule: a run per active tenant, each with its own setting.
    scheduled = platform.schedule_tick(f"{REGISTRY_SOURCE}_schedule")
    assert sorted(r.partition_key for r in scheduled) == ["1", "2"]
    con.cursor().execute("update company_settings set value = '21' where company_id = 2")
    for request in scheduled:
        platform.run(request)
    assert platform.rows_by_tenant() == {"1": within(60), "2": within(21)}

    # A new company: after one tick its partition exists and only its rows are loaded
    # (no setting of its own: the table's default, 30 days).
    con.cursor().execute("insert into companies values (4, 'umbrella', 1)")
    added = platform.sensor_tick()
    assert [r.partition_key for r in added.run_requests] == ["4"]
    assert "4" in platform.instance.get_dynamic_partitions(TENANT_PARTITIONS.name)
    platform.run(added.run_requests[0])
    assert platform.rows_by_tenant() == {"1": within(60), "2": within(21), "4": within(30)}

    # Per-tenant exports: one folder per active tenant, each with only its rows.
    for name, folder in (
        ("orders_by_tenant", lambda alias: project.state_dir / "exports" / "orders_by_tenant"
         / f"tenant={alias}"),
        ("orders_to_tenants", lambda alias: stores / f"bi-{alias}" / "tributary"
         / "orders_to_tenants"),
    ):  # fmt: skip
        requests = platform.schedule_tick(f"{name}_schedule")
        assert sorted(r.partition_key for r in requests) == ["1", "2", "4"]
        for request in requests:
            platform.run(request)
        for tenant, alias, rows in (("1", "acme", 5), ("2", "globex", 3), ("4", "umbrella", 3)):
            [partition] = [p for p in folder(alias).iterdir() if p.name.startswith("dt=")]
            manifest = json.loads((partition / "manifest.json").read_text())
            assert (partition / "_SUCCESS").exists()
            assert manifest["row_count"] == rows == within({"1": 60, "2": 21, "4": 30}[tenant])
            published = pq.read_table(partition / manifest["files"][0]["path"])
            assert set(published.column("_tenant_id").to_pylist()) == {tenant}

    # Deactivated: no runs for it, by the sensor or the schedule; its rows and partition stay.
    con.cursor().execute("update companies set status = 0 where company_id = 4")
    tick = platform.sensor_tick()
    assert tick.run_requests == []
    scheduled = platform.schedule_tick(f"{REGISTRY_SOURCE}_schedule")
    assert sorted(r.partition_key for r in scheduled) == ["1", "2"]
    assert platform.rows_by_tenant()["4"] == within(30)
    assert "4" in platform.instance.get_dynamic_partitions(TENANT_PARTITIONS.name)

    # Removed from the registry: reported and kept, with its data.
    con.cursor().execute("delete from companies where company_id = 2")
    platform.sensor_tick()
    assert platform.tenants_table() == {
        "1": ("acme", "active"),
        "2": ("globex", "removed"),
        "3": ("initech", "inactive"),
        "4": ("umbrella", "inactive"),
    }
    assert platform.rows_by_tenant()["2"] == within(21)
    assert "2" in platform.instance.get_dynamic_partitions(TENANT_PARTITIONS.name)
    latest = platform.instance.get_latest_materialization_event(
        dg.AssetKey(["tributary", "tenants"])
    )
    assert latest.asset_materialization.metadata["removed"].value == "2"


def test_a_tenant_setting_of_the_wrong_type_fails_the_load_naming_tenant_and_key(
    registry, state_dir, tmp_path
) -> None:
    url, con = registry
    con.cursor().execute("update company_settings set value = 'sixty' where company_id = 1")
    platform = registry_platform(url, tmp_path)
    first = platform.sensor_tick()
    result = platform.job.execute_in_process(
        instance=platform.instance,
        partition_key="1",
        asset_selection=list(first.run_requests[0].asset_selection),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    assert "tenant 1 (acme): setting 'days_back' is 'sixty'; expected a int" in message


def test_a_tenants_export_before_its_first_load_publishes_nothing(
    registry, state_dir, tmp_path
) -> None:
    """A tenant added to the registry has its partition at once and its loads requested; an
    export schedule ticking before they wrote (or after they failed: a mistyped setting) ran
    the tenant's export, which published an empty partition with `_SUCCESS`, green: no rows
    of the tenant as its current data. The export now refuses until the tenant is loaded."""
    url, con = registry
    platform = registry_platform(url, tmp_path)
    for request in platform.sensor_tick().run_requests:
        platform.run(request)
    con.cursor().execute("insert into companies values (4, 'umbrella', 1)")
    con.cursor().execute("insert into company_settings values (4, 'days_back', 'sixty')")
    [load] = platform.sensor_tick().run_requests
    loaded = platform.job.execute_in_process(
        instance=platform.instance, partition_key="4", raise_on_error=False,
        asset_selection=list(load.asset_selection),
    )  # fmt: skip
    assert not loaded.success

    outcomes = {}
    for request in platform.schedule_tick("orders_by_tenant_schedule"):
        outcomes[request.partition_key] = platform.job.execute_in_process(
            instance=platform.instance, partition_key=request.partition_key,
            asset_selection=list(request.asset_selection), raise_on_error=False,
        )  # fmt: skip
    assert {key: result.success for key, result in outcomes.items()} == {
        "1": True, "2": True, "4": False}  # fmt: skip
    [failure] = [e for e in outcomes["4"].all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "export orders_by_tenant published nothing" in message
    assert (
        f"partition 4 of raw/{REGISTRY_SOURCE}/orders has never been loaded: the export would "
        "publish none of its rows as current" in message
    )
    folder = platform.project.state_dir / "exports" / "orders_by_tenant"
    assert not (folder / "tenant=umbrella").exists()
    assert (folder / "tenant=acme").exists()


def test_a_tenant_removed_with_a_failed_check_gates_until_its_rows_are_deleted(
    registry, state_dir, tmp_path
) -> None:
    """globex's load fails its check, then the registry drops globex: the sensor keeps its
    partition, so its failure refused every tenant's export for good, and the way out it
    named (a full_refresh load of partition 2) is refused for a tenant the registry no longer
    lists. It gates while the raw table holds globex's rows, saying how to go on."""
    url, con = registry
    platform = incremental_registry_platform(url, tmp_path)
    for request in platform.sensor_tick().run_requests:
        platform.run(request)
    orders = dg.AssetKey(["raw", REGISTRY_SOURCE, "orders"])
    export = dg.AssetKey(["export", "orders_by_tenant"])

    def run(asset: dg.AssetKey, tenant: str) -> dg.ExecuteInProcessResult:
        return platform.job.execute_in_process(
            instance=platform.instance, asset_selection=[asset], partition_key=tenant,
            raise_on_error=False,
        )  # fmt: skip

    con.cursor().execute("delete from orders where id = 200")  # globex's, deleted in the app
    assert not run(orders, "2").success  # its reconciliation fails
    con.cursor().execute("delete from companies where company_id = 2")
    platform.sensor_tick()
    refused = run(export, "1")
    assert not refused.success
    [failure] = [e for e in refused.all_events if e.is_step_failure]
    why = failure.step_failure_data.error.message
    assert f"on raw/{REGISTRY_SOURCE}/orders (partition 2) failed" in why
    assert (
        "partition 2 can no longer be loaded (its tenant was made inactive in tenants.yaml, or "
        f"is no longer listed), and raw_{REGISTRY_SOURCE}.orders still holds its rows: delete "
        f"them (delete from raw_{REGISTRY_SOURCE}.orders where _tenant_id = '2')"
    ) in why
    assert "fails until a load finds its rows right" not in why  # no full_refresh lead

    with platform.project.warehouse.open(state_dir=platform.project.state_dir) as warehouse:
        warehouse.execute(f"delete from raw_{REGISTRY_SOURCE}.orders where _tenant_id = '2'")
    assert run(export, "1").success


def incremental_registry_platform(url, tmp_path: Path) -> Platform:
    """The registry project, its orders table incremental on created_at, on its own Dagster
    instance."""
    config = write_registry_project(
        tmp_path / "assets_config", url=str(url), tenant_stores=tmp_path
    )
    path = config / "sources" / f"{REGISTRY_SOURCE}.yaml"
    source = yaml.safe_load(path.read_text())
    source["tables"][0].update(mode="incremental", cursor="created_at")
    path.write_text(yaml.safe_dump(source))
    return Platform(load_project(config), dagster_instance(tmp_path))


def registry_platform(url, tmp_path: Path) -> Platform:
    """The registry project on its own Dagster instance."""
    project = load_project(
        write_registry_project(tmp_path / "assets_config", url=str(url), tenant_stores=tmp_path)
    )
    return Platform(project, dagster_instance(tmp_path))


def test_a_tenant_added_before_the_sensor_reads_it_waits_and_the_others_are_scheduled(
    registry, state_dir, tmp_path, capfd
) -> None:
    """A company added to the registry between two readings of tenant_registry_sensor (it
    reads every `interval`, or is stopped) had no partition yet when the source's schedule
    ticked: the tick failed with Dagster's unknown partition '5', so no tenant (and none of
    the source's tables) was loaded that day, and a per-tenant export's tick failed alike."""
    url, con = registry
    platform = registry_platform(url, tmp_path)
    platform.sensor_tick()
    con.cursor().execute("insert into companies values (5, 'hooli', 1)")

    scheduled = platform.schedule_tick(f"{REGISTRY_SOURCE}_schedule")
    exported = platform.schedule_tick("orders_by_tenant_schedule")

    assert sorted(r.partition_key for r in scheduled) == ["1", "2"]
    assert sorted(r.partition_key for r in exported) == ["1", "2"]
    assert "tenant 5 has no partition yet" in capfd.readouterr().err
    # The sensor's next reading adds it and requests its loads; the schedules follow.
    assert [r.partition_key for r in platform.sensor_tick().run_requests] == ["5"]
    scheduled = platform.schedule_tick(f"{REGISTRY_SOURCE}_schedule")
    assert sorted(r.partition_key for r in scheduled) == ["1", "2", "5"]


def test_a_renamed_alias_reaches_the_tenants_table(registry, state_dir, tmp_path) -> None:
    """The sensor's cursor held only whether each tenant was active: a company whose alias
    changed (acme to acme_new) was skipped as "no change", and _tributary.tenants (so
    ops_load_status.tenant_alias) kept the old alias until something else changed."""
    url, con = registry
    platform = registry_platform(url, tmp_path)
    platform.sensor_tick()
    con.cursor().execute("update companies set alias = 'acme_new' where company_id = 1")

    renamed = platform.sensor_tick()

    assert renamed.run_requests == []  # a new name is no new data to load
    assert platform.tenants_table()["1"] == ("acme_new", "active")
    latest = platform.instance.get_latest_materialization_event(
        dg.AssetKey(["tributary", "tenants"])
    )
    assert latest.asset_materialization.metadata["renamed"].value == "1 (acme -> acme_new)"
    assert platform.sensor_tick().skip_message.startswith("no change")


def test_a_tenant_the_registry_lists_again_active_has_its_loads_requested(
    registry, state_dir, tmp_path
) -> None:
    """The sensor's cursor forgot a tenant once the registry stopped listing it: a company
    deactivated, then deleted, then inserted again active (or deleted while active and
    inserted again) was taken for one that had been active all along, "no change", and no
    load was requested for the days schedules had skipped it."""
    url, con = registry
    platform = registry_platform(url, tmp_path)
    platform.sensor_tick()
    con.cursor().execute("update companies set status = 0 where company_id = 1")
    platform.sensor_tick()
    con.cursor().execute("delete from companies where company_id in (1, 2)")
    platform.sensor_tick()
    # Nothing changed, and only initech is left, inactive: the skip says no tenant is active.
    assert "the registry lists 1 tenant, none active" in platform.sensor_tick().skip_message

    con.cursor().execute("insert into companies values (1, 'acme', 1), (2, 'globex', 1)")
    back = platform.sensor_tick()

    assert [r.partition_key for r in back.run_requests] == ["1", "2"]
    assert platform.tenants_table() == {
        "1": ("acme", "active"),
        "2": ("globex", "active"),
        "3": ("initech", "inactive"),
    }
    latest = platform.instance.get_latest_materialization_event(
        dg.AssetKey(["tributary", "tenants"])
    )
    assert latest.asset_materialization.metadata["activated"].value == "1, 2"
    assert latest.asset_materialization.metadata["relisted"].value == "1, 2"

    # Listed again inactive: recorded, nothing loaded.
    con.cursor().execute("delete from companies where company_id = 2")
    platform.sensor_tick()
    con.cursor().execute("insert into companies values (2, 'globex', 0)")
    assert platform.sensor_tick().run_requests == []
    assert platform.tenants_table()["2"] == ("globex", "inactive")


@pytest.fixture(params=["mariadb", "postgres"])
def database(request) -> tuple[URL, Callable[[str], list[tuple]]]:
    """A fresh database on a real MariaDB or PostgreSQL: its URL, and a function running a
    statement there and returning its rows."""
    if request.param == "mariadb":
        url, con = request.getfixturevalue("mariadb")

        def sql(statement: str) -> list[tuple]:
            with con.cursor() as cursor:
                cursor.execute(statement)
                return list(cursor.fetchall())

    else:
        url = make_url(request.getfixturevalue("postgres"))
        pg = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        request.addfinalizer(pg.close)

        def sql(statement: str) -> list[tuple]:
            cursor = pg.execute(statement)
            return cursor.fetchall() if cursor.description else []

    return url, sql


@pytest.fixture
def companies(database) -> tuple[URL, Callable[[str], list[tuple]]]:
    """A registry's companies table (three rows) in `database`."""
    url, sql = database
    sql("create table companies (company_id int primary key, alias varchar(50), status int)")
    sql("insert into companies values (1, 'acme', 1), (2, 'globex', 1), (3, 'initech', 0)")
    return url, sql


def test_reading_the_registry_writes_nothing(companies) -> None:
    """The registry's query ran as given: one that writes (`delete ... returning`, which
    PostgreSQL and MariaDB both have) deleted the companies at every reading, the sensor's
    and every run's, and its rows were taken for the tenants. A read of the registry runs
    its queries as subqueries, as Tributary runs a table's query: a statement that writes is
    refused there, so nothing is written."""
    url, sql = companies
    source = SqlSource(url, owner="source 'app'")
    writes = TenantRegistry(
        source="app", query="delete from companies returning company_id as id, alias, 1 as active"
    )
    with pytest.raises(SourceError, match=r"^tenants\.yaml: registry\.query: source 'app': "):
        read_registry(writes, source.rows)
    assert sql("select count(*) from companies") == [(3,)]
    # A read reads as before, a closing semicolon and a last line's comment included.
    reads = TenantRegistry(
        source="app",
        query="select company_id as id, alias, status = 1 as active from companies;",
        settings_query="select company_id as tenant_id, 'region' as name, 'eu' as value\n"
        "from companies -- every company's region",
    )
    tenants = read_registry(reads, source.rows)
    assert [(t.key, t.alias, t.active, dict(t.settings)) for t in tenants] == [
        ("1", "acme", True, {"region": "eu"}),
        ("2", "globex", True, {"region": "eu"}),
        ("3", "initech", False, {"region": "eu"}),
    ]


@pytest.mark.parametrize("second", ["id", '"ID"'])
def test_a_registry_query_naming_a_column_twice_is_refused_naming_it(
    companies, second: str
) -> None:
    """PostgreSQL returns both columns of a query naming one twice (`id`, or `id` and `ID`,
    which the registry's read compares ignoring case): the registry kept the last of them
    without a word, and each company's tenant id was its company_id + 100. MariaDB refuses the
    query itself (Duplicate column name). Now, on both servers, the read fails naming the
    key and the column."""
    url, _ = companies
    if url.get_backend_name() == "mysql":
        second = second.replace('"', "`")
    registry = TenantRegistry(
        source="app",
        query="select company_id as id, alias, status = 1 as active, "
        f"company_id + 100 as {second} from companies",
    )
    source = SqlSource(url, owner="source 'app'")
    with pytest.raises(SourceError, match=r"^tenants\.yaml: registry\.query: source 'app': ") as e:
        read_registry(registry, source.rows)
    assert "two columns named 'id'" in str(e.value) or "Duplicate column name" in str(e.value)


def test_a_fixed_width_id_selects_its_rows_from_char_and_varchar_columns(
    database, request, tmp_path
) -> None:
    """A legacy ERP's client code in a char(5) column: PostgreSQL returns '007' as '007  '
    (MariaDB strips the padding), and every such tenant was refused as an invalid id, its
    char(n) alias as an invalid alias. Read as '007  ', its settings (filed under '007' in a
    varchar column) would have been found by no tenant and a varchar tenant column matched
    none of its rows. Now the id and the alias are
    their text without trailing spaces, on both servers, and a tenant's load selects its rows
    whether the table's tenant column is char(n) (compared ignoring padding) or varchar."""
    url, sql = database
    sql("create table companies (company_id char(5), alias char(12), status int)")
    sql("create table company_settings (company_id varchar(5), name varchar(9), value varchar(9))")
    sql("insert into companies values ('007', 'bond', 1), ('12', 'acme', 1)")
    sql("insert into company_settings values ('007', 'region', 'eu')")
    source = SqlSource(url, owner="source 'app'")
    registry = TenantRegistry(
        source="app",
        query="select company_id as id, alias, status = 1 as active from companies",
        settings_query="select company_id as tenant_id, name, value from company_settings",
    )

    tenants = read_registry(registry, source.rows)

    assert [(t.key, t.alias, dict(t.settings)) for t in tenants] == [
        ("007", "bond", {"region": "eu"}),
        ("12", "acme", {}),
    ]
    kind = "postgres" if url.get_backend_name().startswith("postgres") else "mysql"
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        for column in ("char(5)", "varchar(10)"):
            name = f"orders_{column[:4]}"
            sql(f"create table {name} (id int primary key, company_id {column})")
            sql(f"insert into {name} values (1, '007'), (2, '007'), (3, '12'), (4, '7')")
            for table in (
                TableConfig(name=name, tenant_column="company_id", primary_key=["id"]),
                TableConfig(
                    name=f"{name}_query",
                    query=f"select * from {name} where company_id = :tenant_id",
                    tenant_column="company_id",
                    primary_key=["id"],
                ),
            ):
                config = SourceConfig(
                    name="app", kind=kind, connection={"url": str(url)}, tables=[table]
                )
                for tenant in tenants:
                    ingest_table(
                        config,
                        table,
                        reader=source,
                        landing=LandingStore(str(tmp_path / "landing")),
                        warehouse=warehouse,
                        batch_rows=10,
                        where=slice_for(table, tenant.key, tenants, source="app"),
                    )
                loaded = warehouse.query(f"select id, _tenant_id from raw_app.{table.name}")
                assert sorted(loaded) == [(1, "007"), (2, "007"), (3, "12")], table.name


def test_a_registry_without_an_active_tenant_is_said_in_each_tick(
    registry, state_dir, tmp_path, capfd
) -> None:
    """A registry query whose `where` filters every row, or whose `active` is read wrong,
    lists no active tenant: the sensor logged "0 tenants, 0 active" at info level and skipped
    with "no change", while every tenant-scoped table had no partition and never loaded.
    Each tick now says so, as tributary check does, in its skip reason and a warning naming
    tenants.yaml's registry.query and what never loads; the tick does not fail (a registry
    may be empty for a while), and a tenant listed active later is added as ever."""
    url, con = registry
    config_dir = write_registry_project(
        tmp_path / "assets_config", url=str(url), tenant_stores=tmp_path
    )
    tenants_yaml = config_dir / "tenants.yaml"
    tenants_yaml.write_text(
        tenants_yaml.read_text().replace("from companies", "from companies where status = 2")
    )
    project = load_project(config_dir)
    platform = Platform(project, dagster_instance(tmp_path))
    unloaded = (
        f"expected at least one active tenant: without one no tenant partition is added, so "
        f"{project.source_file(REGISTRY_SOURCE)} tables[0] (orders) is never loaded and the "
        "per-tenant exports (orders_by_tenant, orders_to_tenants) never publish"
    )
    said = (
        "tenants.yaml: registry.query: the registry lists no tenant (its query returned no "
        f"rows); {unloaded}"
    )

    for _ in range(2):  # the first reading (recorded), then one that changed nothing
        tick = platform.sensor_tick()
        assert tick.skip_message == said
        assert tick.run_requests == []
        assert f"WARNING - {said}" in capfd.readouterr().err
    assert platform.instance.get_dynamic_partitions(TENANT_PARTITIONS.name) == []

    # Every company deactivated: the tick that records it says so too.
    tenants_yaml.write_text(tenants_yaml.read_text().replace(" where status = 2", ""))
    platform = Platform(load_project(config_dir), platform.instance)
    platform.cursor = None
    platform.sensor_tick()  # acme and globex active: their partitions and loads
    con.cursor().execute("update companies set status = 0")
    tick = platform.sensor_tick()
    said = f"tenants.yaml: registry.query: the registry lists 3 tenants, none active; {unloaded}"
    assert tick.skip_message == said
    assert f"WARNING - {said}" in capfd.readouterr().err
    latest = platform.instance.get_latest_materialization_event(TENANTS_KEY)
    assert latest.asset_materialization.metadata["deactivated"].value == "1, 2"
    # Listed active again: its loads are requested, and nothing is said.
    con.cursor().execute("update companies set status = 1 where company_id = 1")
    tick = platform.sensor_tick()
    assert [r.partition_key for r in tick.run_requests] == ["1"]
    assert "registry.query" not in capfd.readouterr().err


def test_a_fixed_list_without_an_active_tenant_is_said_in_each_tick(
    registry, state_dir, tmp_path, capfd
) -> None:
    """A fixed list (tenants.yaml's tenants:) in which every tenant is inactive makes no
    tenant partition, so nothing scoped by tenant ever loads: the sensor said nothing of it,
    where a registry without an active tenant is said in each tick. Now the fixed list is
    said the same way, with the same code (tenants.no_active_tenant), naming tenants.yaml's
    tenants key; the tick does not fail."""
    url, _ = registry
    config_dir = write_registry_project(
        tmp_path / "assets_config", url=str(url), tenant_stores=tmp_path
    )
    (config_dir / "tenants.yaml").write_text(
        "tenants:\n"
        "  - {id: 1, alias: acme, active: false}\n"
        "  - {id: 2, alias: globex, active: false}\n"
    )
    project = load_project(config_dir)
    platform = Platform(project, dagster_instance(tmp_path))
    said = (
        "tenants.yaml: tenants: the list holds 2 tenants, none active; expected at least one "
        "active tenant (active: true): the tenant partitions are the list's active tenants, so "
        f"{project.source_file(REGISTRY_SOURCE)} tables[0] (orders) is never loaded and the "
        "per-tenant exports (orders_by_tenant, orders_to_tenants) never publish"
    )
    for _ in range(2):  # the first reading (recorded), then one that changed nothing
        tick = platform.sensor_tick()
        assert tick.skip_message == said
        assert tick.run_requests == []
        assert f"WARNING - {said}" in capfd.readouterr().err
    assert platform.tenants_table() == {"1": ("acme", "inactive"), "2": ("globex", "inactive")}


def test_a_registry_setting_is_bound_whatever_the_case_of_its_name(
    registry, state_dir, tmp_path
) -> None:
    """An admin table's DAYS_BACK beside a query binding :days_back: the table's default (30
    days) was bound instead of the tenant's 60, without a word. A name no table binds (a
    typo) fails that tenant's load, naming it; the other tenants load."""
    url, con = registry
    con.cursor().execute("update company_settings set name = 'DAYS_BACK' where company_id = 1")
    con.cursor().execute("update company_settings set name = 'day_back' where company_id = 2")
    platform = registry_platform(url, tmp_path)
    acme, globex = platform.sensor_tick().run_requests
    platform.run(acme)
    assert platform.rows_by_tenant() == {"1": within(60)}
    result = platform.job.execute_in_process(
        instance=platform.instance,
        partition_key=globex.partition_key,
        asset_selection=list(globex.asset_selection),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert (
        "tenant 2 (globex): setting 'day_back' is bound by no table's query (the tables bind "
        ":days_back), so it would be ignored"
    ) in failure.step_failure_data.error.cause.message
    assert platform.rows_by_tenant() == {"1": within(60)}


def test_the_bad_row_of_an_inactive_company_is_skipped_and_said(
    registry, state_dir, tmp_path
) -> None:
    """A company that does not need BI, without an alias: its row failed the sensor's every
    tick, every active tenant's run and the source's schedule. It is skipped, said in each
    tick; the active tenants load. An active company's bad row still fails them."""
    url, con = registry
    con.cursor().execute("insert into companies values (5, NULL, 0), (6, 'Acme Corp', 0)")
    platform = registry_platform(url, tmp_path)
    first = platform.sensor_tick()
    assert [r.partition_key for r in first.run_requests] == ["1", "2"]
    for request in first.run_requests:
        platform.run(request)
    assert platform.rows_by_tenant() == {"1": within(60), "2": within(7)}
    assert platform.sensor_tick().skip_message == (
        "no change: 3 tenants, 2 active; skipped the rows of inactive tenant '5' "
        "(registry.query: the row of tenant '5': alias: Input should be a valid string); "
        "inactive tenant '6' (registry.query: the row of tenant '6': alias: String should "
        "match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]*$')"
    )
    scheduled = platform.schedule_tick(f"{REGISTRY_SOURCE}_schedule")
    assert sorted(r.partition_key for r in scheduled) == ["1", "2"]

    con.cursor().execute("update companies set status = 1 where company_id = 5")
    with pytest.raises(dg.DagsterUserCodeExecutionError) as raised:
        platform.schedule_tick(f"{REGISTRY_SOURCE}_schedule")
    assert "registry.query: the row of tenant '5': alias: " in str(raised.value.__cause__)


def test_a_tenant_removed_from_the_registry_and_run_by_hand_names_the_registry(
    registry, state_dir, tmp_path
) -> None:
    """A tenant the registry no longer lists keeps its partition, and can be materialized by
    hand: its load and export failed saying `no tenant with id '2' in the tenants
    (tenants.yaml)`, a file that lists no tenant in a registry project."""
    url, con = registry
    platform = registry_platform(url, tmp_path)
    first = platform.sensor_tick()
    for request in first.run_requests:
        platform.run(request)
    con.cursor().execute("delete from companies where company_id = 2")
    platform.sensor_tick()
    [globex] = [r for r in first.run_requests if r.partition_key == "2"]
    expected = (
        "tenant '2' is no longer listed by the registry (tenants.yaml: registry.query, read "
        f"from source '{REGISTRY_SOURCE}'): removed from it, or its row skipped"
    )
    for selection in (
        list(globex.asset_selection),
        [dg.AssetKey(["export", "orders_by_tenant"])],
    ):
        result = platform.job.execute_in_process(
            instance=platform.instance,
            partition_key="2",
            asset_selection=selection,
            raise_on_error=False,
        )
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        assert expected in failure.step_failure_data.error.cause.message
    assert platform.rows_by_tenant() == {"1": within(60), "2": within(7)}


def test_a_widened_setting_of_an_incremental_table_reads_the_tenants_window_whole(
    registry, state_dir, tmp_path
) -> None:
    """An incremental tenant table whose tenant's days_back is raised from 7 to 60: its next
    load read past its watermark only, and the older rows the wider window takes in stayed
    out (before 2026-12-06 it said so, and a full_refresh run read them). Its watermark
    records the settings it was reached with: the load reads the tenant's window whole."""
    url, con = registry
    platform = incremental_registry_platform(url, tmp_path)
    con.cursor().execute("update company_settings set value = '7' where company_id = 1")
    [acme, _] = platform.sensor_tick().run_requests
    platform.run(acme)
    assert platform.rows_by_tenant() == {"1": within(7)}

    con.cursor().execute("update company_settings set value = '60' where company_id = 1")
    platform.run(acme)
    assert platform.rows_by_tenant() == {"1": within(60)}
    metadata = latest_metadata(platform, "1")
    assert metadata["tenant_settings"].value == "days_back=60"
    assert metadata["read_from"].value == "-"
    assert "settings days_back=7, and it now reads" in metadata["read_whole_because"].value
    platform.run(acme)  # the same settings again: from the watermark
    assert "read_whole_because" not in latest_metadata(platform, "1")
    assert latest_metadata(platform, "1")["read_from"].value != "-"


def latest_metadata(platform: Platform, partition: str) -> dict:
    records = platform.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["raw", REGISTRY_SOURCE, "orders"]), asset_partitions=[partition]
        ),
        limit=1,
        ascending=False,
    ).records
    return records[0].asset_materialization.metadata


def test_a_respelled_id_is_refused_naming_both_spellings(database, state_dir, tmp_path) -> None:
    """An admin respelled a tenant's id in the registry (codes normalized to lower case on
    MariaDB, '7' padded to '007' on PostgreSQL): the sensor read a new tenant, added its
    partition and loaded it, and its source matched the new id to the same rows (MariaDB's
    collation ignores case, a number column reads '007' as 7): every row was there twice,
    under both ids, with no warning. The old id's partition and rows are kept (removed)."""
    url, sql = database
    mariadb = url.get_backend_name() == "mysql"
    old, new = ("ACME", "acme") if mariadb else ("7", "007")
    sql("create table companies (code varchar(10), alias varchar(50), status int)")
    sql(f"insert into companies values ('{old}', 'acme', 1), ('8', 'globex', 1)")
    sql(f"create table orders (id int primary key, code {'varchar(10)' if mariadb else 'int'})")
    sql(f"insert into orders values (1, '{old}'), (2, '8'), (3, '{old}')")
    config = write_registry_project(
        tmp_path / "assets_config", url=str(url), tenant_stores=tmp_path
    )
    tenants = yaml.safe_load((config / "tenants.yaml").read_text())
    tenants["registry"] = {
        "source": REGISTRY_SOURCE,
        "query": "select code as id, alias, status = 1 as active from companies",
    }
    (config / "tenants.yaml").write_text(yaml.safe_dump(tenants))
    source = yaml.safe_load((config / "sources" / f"{REGISTRY_SOURCE}.yaml").read_text())
    source["kind"] = "mysql" if mariadb else "postgres"
    source["tables"] = [{"name": "orders", "tenant_column": "code", "primary_key": ["id"]}]
    (config / "sources" / f"{REGISTRY_SOURCE}.yaml").write_text(yaml.safe_dump(source))
    platform = Platform(load_project(config), dagster_instance(tmp_path))
    for request in platform.sensor_tick().run_requests:
        platform.run(request)
    assert platform.rows_by_tenant() == {old: 2, "8": 1}

    sql(f"update companies set code = '{new}' where code = '{old}'")
    refused = (
        f"tenants.yaml: registry.query: tenant '{new}' is tenant '{old}' respelled: they are "
        "one tenant "
        + (
            "to a source that ignores case and trailing spaces (MySQL's default collation) "
            "and to the check of a tenant's rows"
            if mariadb
            else "to a number column (both are 7)"
        )
        + f", and the registry no longer lists '{old}', whose partition and rows are kept, so "
        f"the loads of '{new}' would load its rows again, each row twice; spell the id as "
        "before "
        f"('{old}'), or first delete the tenants partition '{old}' (Dagster) and its rows "
        f"(_tenant_id = '{old}') from the raw tables"
    )
    with pytest.raises(Exception, match="respelled") as raised:
        platform.sensor_tick()
    assert refused in str(raised.value)
    assert sorted(platform.instance.get_dynamic_partitions(TENANT_PARTITIONS.name)) == sorted(
        [old, "8"]
    )

    # A partition the sensor added before it refused them: its load is refused too.
    platform.instance.add_dynamic_partitions(TENANT_PARTITIONS.name, [new])
    result = platform.job.execute_in_process(
        instance=platform.instance,
        partition_key=new,
        asset_selection=[dg.AssetKey(["raw", REGISTRY_SOURCE, "orders"])],
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.error.cause.message.endswith(
        f"{refused}; nothing was loaded\n"
    )
    assert platform.rows_by_tenant() == {old: 2, "8": 1}

    # The way out: the id spelled as before (and the partition added meanwhile deleted).
    platform.instance.delete_dynamic_partition(TENANT_PARTITIONS.name, new)
    sql(f"update companies set code = '{old}' where code = '{new}'")
    assert platform.sensor_tick().skip_message.startswith("no change: 2 tenants, 2 active")


def fixed_list_project(config: Path, url: URL, warehouse: dict, listed: list) -> ProjectConfig:
    """The registry project's configuration (written once), with a fixed list of tenants
    (`listed`: each tenant's id and alias, written each time), an orders table scoped by its
    `code` column, and `warehouse`."""
    if not config.exists():
        write_registry_project(config, url=str(url), tenant_stores=config.parent)
        path = config / "sources" / f"{REGISTRY_SOURCE}.yaml"
        source = yaml.safe_load(path.read_text())
        source["tables"] = [{"name": "orders", "tenant_column": "code", "primary_key": ["id"]}]
        path.write_text(yaml.safe_dump(source))
        platform = yaml.safe_load((config / "platform.yaml").read_text())
        (config / "platform.yaml").write_text(yaml.safe_dump({**platform, "warehouse": warehouse}))
    tenants = [{"id": key, "alias": alias} for key, alias in listed]
    (config / "tenants.yaml").write_text(yaml.safe_dump({"tenants": tenants}))
    return load_project(config)


@pytest.mark.parametrize("server", ["mariadb", "postgres"])
def test_a_per_tenant_export_by_the_sources_tenant_column_publishes_every_row_loaded(
    server, request, state_dir, tmp_path
) -> None:
    """An export whose `tenant_column` is the source's own (a mart that kept `code`, not
    `_tenant_id`) filtered it with `code = 'acme'`: the rows MariaDB's collation gave the
    tenant's load as 'ACME' and 'Acme', or PostgreSQL's char(5) as '007  ', were left out of
    its export, green. It now compares as the load did, ignoring case and padding."""
    if server == "mariadb":
        url, con = request.getfixturevalue("mariadb")
        run_sql(con, "create table orders (id int primary key, code varchar(10), amount int)",
                "insert into orders values (1, 'ACME', 10), (2, 'acme', 20), (3, 'Acme', 5), "
                "(4, 'globex', 1)")  # fmt: skip
        listed = [("acme", "acme"), ("globex", "globex")]
    else:
        url = make_url(request.getfixturevalue("postgres"))
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as pg:
            pg.execute("create table orders (id int primary key, code char(5), amount int)")
            pg.execute("insert into orders values (1, '007', 10), (2, '007', 20), "
                       "(3, '007', 5), (4, '8', 1)")  # fmt: skip
        listed = [("007", "acme"), ("8", "globex")]
    config = tmp_path / "assets_config"
    fixed_list_project(config, url, {"target": "duckdb", "path": "warehouse.duckdb"}, listed)
    path = config / "exports" / "orders_by_tenant.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "tenant_column": "code"}))
    project = fixed_list_project(config, url, {}, listed)
    instance = dagster_instance(tmp_path)
    tenant = listed[0][0]
    assert load_partition(project, instance, tenant) is None
    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    exported = job.execute_in_process(
        instance=instance, partition_key=tenant,
        asset_selection=[dg.AssetKey(["export", "orders_by_tenant"])],
    )  # fmt: skip
    assert exported.success
    [part] = (project.state_dir / "exports" / "orders_by_tenant" / "tenant=acme").glob("dt=*")
    ids = [
        i for f in sorted(part.glob("*.parquet")) for i in pq.read_table(f).column("id").to_pylist()
    ]
    assert sorted(ids) == [1, 2, 3]


def load_partition(project: ProjectConfig, instance: dg.DagsterInstance, key: str) -> str | None:
    """Tenant `key`'s load of the orders table: None where it succeeded, else why it failed."""
    job = build_definitions(project).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        partition_key=key,
        asset_selection=[dg.AssetKey(["raw", REGISTRY_SOURCE, "orders"])],
        raise_on_error=False,
    )
    if result.success:
        return None
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.error.cause.message


def orders_by_tenant(project: ProjectConfig) -> dict[str, int]:
    with project.warehouse.open(state_dir=project.state_dir) as warehouse:
        rows = warehouse.query(
            f"select _tenant_id, count(*) from raw_{REGISTRY_SOURCE}.orders group by 1"
        )
    return {tenant: int(count) for tenant, count in rows}


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [("ACME", "acme", "varchar(10)"), (7, "007", "int")],
    ids=["case", "padded-number"],
)
def test_a_respelled_id_in_a_fixed_list_is_refused_naming_both_spellings(
    mariadb, warehouse_config, state_dir, tmp_path, old, new, column
) -> None:
    """tenants.yaml's fixed list, an id respelled there ('ACME' as 'acme', 7 as '007'): the
    new id was a new static partition, and its load read the old tenant's rows again
    (MariaDB's collation ignores case, a number column reads '007' as 7), while the old id's
    rows stayed: every row was there twice, a mart summed each amount twice, every check
    passing. The load is refused, naming both spellings, before anything is written; a tenant
    removed from the list and a new one alike no removed id load as ever, and so does the
    new spelling once the old id's rows are deleted."""
    url, con = mariadb
    run_sql(
        con,
        f"create table orders (id int primary key, code {column}, amount int)",
        f"insert into orders values (1, '{old}', 10), (2, '8', 5), (3, '{old}', 20), (4, '9', 1)",
    )
    config = tmp_path / "assets_config"
    instance = dagster_instance(tmp_path)
    project = fixed_list_project(config, url, warehouse_config, [(old, "acme"), (8, "globex")])
    for key in (str(old), "8"):
        assert load_partition(project, instance, key) is None
    assert orders_by_tenant(project) == {str(old): 2, "8": 1}

    project = fixed_list_project(config, url, warehouse_config, [(new, "acme"), (8, "globex")])
    why = (
        "to a source that ignores case and trailing spaces (MySQL's default collation) and to "
        "the check of a tenant's rows"
        if isinstance(old, str)
        else "to a number column (both are 7)"
    )
    refused = load_partition(project, instance, new)

    assert refused is not None
    assert (
        f"tenants.yaml: tenants: tenant '{new}' is tenant '{old}' respelled: they are one "
        f"tenant {why}, and tenants.yaml no longer lists '{old}', whose rows are kept, so the "
        f"loads of '{new}' would load its rows again, each row twice; spell the id as before "
        f"('{old}'), or first delete its rows (_tenant_id = '{old}') from the raw tables; "
        "nothing was loaded"
    ) in refused
    assert orders_by_tenant(project) == {str(old): 2, "8": 1}
    # Another tenant of the list loads as ever.
    assert load_partition(project, instance, "8") is None

    # A tenant removed from the list, and a new one alike no id it held: not refused.
    project = fixed_list_project(config, url, warehouse_config, [(8, "globex"), (9, "hooli")])
    assert load_partition(project, instance, "9") is None
    assert orders_by_tenant(project) == {str(old): 2, "8": 1, "9": 1}

    # The way out: the old id's rows deleted, the new spelling loads them once.
    with project.warehouse.open(state_dir=project.state_dir) as warehouse:
        warehouse.execute(
            f"delete from raw_{REGISTRY_SOURCE}.orders where _tenant_id = ?", [str(old)]
        )
    project = fixed_list_project(config, url, warehouse_config, [(new, "acme"), (8, "globex")])
    assert load_partition(project, instance, new) is None
    assert orders_by_tenant(project) == {new: 2, "8": 1, "9": 1}


def on_day(day: date) -> type[datetime]:
    """datetime, its now() at noon (UTC) of `day`: the date a per-tenant export publishes."""

    class OnDay(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)

    return OnDay


def test_an_alias_another_tenant_held_fails_its_exports_naming_both(
    registry, state_dir, tmp_path, monkeypatch
) -> None:
    """acme renamed itself (acme_corp), and a new company took the alias acme: its export
    folder tenant=acme/ (and its own bucket bi-acme/) already held acme's partitions, kept by
    retention, and its readers read them beside its own as theirs. Each manifest now records
    the tenant whose rows it holds, and a run into a folder another tenant published fails."""
    url, con = registry
    stores = tmp_path / "tenant_stores"
    platform = Platform(
        load_project(
            write_registry_project(tmp_path / "assets_config", url=str(url), tenant_stores=stores)
        ),
        dagster_instance(tmp_path),
    )
    exports = ("orders_by_tenant", "orders_to_tenants")
    folders = {
        "orders_by_tenant": platform.project.state_dir / "exports" / "orders_by_tenant",
        "orders_to_tenants": stores,
    }

    def folder(export: str, alias: str) -> Path:
        if export == "orders_by_tenant":
            return folders[export] / f"tenant={alias}"
        return folders[export] / f"bi-{alias}" / "tributary" / export

    def published(export: str, alias: str) -> dict[str, str | None]:
        return {
            part.name: json.loads((part / "manifest.json").read_text()).get("tenant_id")
            for part in sorted(folder(export, alias).glob("dt=*"))
        }

    for request in platform.sensor_tick().run_requests:
        platform.run(request)
    monkeypatch.setattr(export_defs, "datetime", on_day(date(2026, 1, 1)))
    for name in exports:
        for request in platform.schedule_tick(f"{name}_schedule"):
            platform.run(request)
    for name in exports:
        assert published(name, "acme") == {"dt=2026-01-01": "1"}

    con.cursor().execute("update companies set alias = 'acme_corp' where company_id = 1")
    con.cursor().execute("insert into companies values (4, 'acme', 1)")
    for request in platform.sensor_tick().run_requests:
        platform.run(request)
    monkeypatch.setattr(export_defs, "datetime", on_day(date(2026, 1, 2)))
    for name in exports:
        for request in platform.schedule_tick(f"{name}_schedule"):
            result = platform.job.execute_in_process(
                instance=platform.instance,
                partition_key=request.partition_key,
                asset_selection=list(request.asset_selection),
                tags=request.tags,
                raise_on_error=False,
            )
            assert result.success == (request.partition_key != "4")
            if request.partition_key == "4":
                [failure] = [e for e in result.all_events if e.is_step_failure]
                message = failure.step_failure_data.error.cause.message
                uri = f"file://{folder(name, 'acme')}"
                file = platform.project.export_file(name)
                assert (
                    f"ExportError: {file}: tenant 4 (acme): {uri} holds "
                    "partitions tenant 1 published (dt=2026-01-01, when the alias 'acme' was "
                    "its), which tenant 4's readers would read as theirs; move that folder "
                    "away (it is tenant 1's), or give tenant 4 an alias of its own; nothing "
                    "was published\n"
                ) in message
    for name in exports:
        assert published(name, "acme") == {"dt=2026-01-01": "1"}  # tenant 1's, untouched
        assert published(name, "acme_corp") == {"dt=2026-01-02": "1"}
