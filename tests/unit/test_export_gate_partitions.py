"""The export gate judges a partitioned asset's blocking check per partition: Dagster keeps one
latest evaluation per check whatever the partition, so one tenant's later passing load hid
another tenant's failed one, and the export published the rejected tenant's rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from tributary.config.models import SourceConfig
from tributary.defs import export_gate
from tributary.defs.automation import LoadSchedule
from tributary.defs.export_gate import upstream_failures
from tributary.exports.gate import Upstream, stamp

TENANTS = dg.StaticPartitionsDefinition(["acme", "globex"])
RAW = dg.AssetKey(["raw", "app", "users"])
EXPORT = dg.AssetKey(["export", "users"])


def graph(
    passes: dict[str, bool], found: list, partitions: dg.PartitionsDefinition = TENANTS
) -> dg.Definitions:
    @dg.asset(
        key=RAW,
        partitions_def=partitions,
        check_specs=[dg.AssetCheckSpec("reconciliation", asset=RAW, blocking=True)],
    )
    def raw(context):
        yield dg.Output(None)
        yield dg.AssetCheckResult(check_name="reconciliation", passed=passes[context.partition_key])

    @dg.asset(key=EXPORT, deps=[RAW])
    def export(context) -> None:
        found.append(upstream_failures(context, context.asset_key))

    return dg.Definitions(assets=[raw, export])


def test_a_failed_partition_is_not_hidden_by_a_later_passing_one() -> None:
    found: list = []
    defs = graph({"acme": False, "globex": True}, found)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        for tenant in ("acme", "globex"):  # acme's load fails its check, then globex's passes
            job.execute_in_process(
                instance=instance, partition_key=tenant, asset_selection=[RAW],
                raise_on_error=False,
            )  # fmt: skip
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
    [upstream] = found
    assert [(c.asset, c.check) for c in upstream.checks] == [("raw/app/users", "reconciliation")]
    assert "acme" in upstream.checks[0].describe()
    assert upstream.unbuilt == [] and upstream.stale == []


def test_every_partition_passing_lets_the_export_through() -> None:
    found: list = []
    defs = graph({"acme": True, "globex": True}, found)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        for tenant in ("acme", "globex"):
            job.execute_in_process(instance=instance, partition_key=tenant, asset_selection=[RAW])
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
    assert found == [Upstream([], [], [])]


def test_a_partition_no_longer_there_is_marked_gone() -> None:
    # A tenant whose load failed its check and was then made inactive (or left the registry)
    # loses its partition: its failure can never be loaded away. It is found, marked gone, for
    # the export to keep only while the raw table holds the tenant's rows (held_gone_failures,
    # in the warehouse: tests/integration/test_export_gate.py).
    tenants = dg.DynamicPartitionsDefinition(name="tenants")
    found: list = []
    defs = graph({"acme": True, "globex": False}, found, tenants)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("tenants", ["acme", "globex"])
        for tenant in ("acme", "globex"):
            job.execute_in_process(
                instance=instance, partition_key=tenant, asset_selection=[RAW],
                raise_on_error=False,
            )  # fmt: skip
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
        instance.delete_dynamic_partition("tenants", "globex")
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
    [gated, after] = found
    assert [(c.partition, c.gone) for c in gated.checks] == [("globex", False)]
    assert [(c.partition, c.gone) for c in after.checks] == [("globex", True)]


MART = dg.AssetKey(["marts", "users"])


def test_a_model_built_while_a_partition_stood_failed_is_judged_by_that_partition() -> None:
    # A model built while acme's load stood rejected holds acme's rejected rows after acme's
    # check passes; globex's passing evaluation (later, the latest of the check) hides nothing.
    passes = {"acme": False, "globex": True}
    found: list = []
    job = mart_graph(passes, found, TENANTS).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        load(job, instance, "acme")
        load(job, instance, "globex")
        job.execute_in_process(instance=instance, asset_selection=[MART])
        passes["acme"] = True
        load(job, instance, "acme")  # mended: the check passes, the mart is as it was built
        load(job, instance, "globex")
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
        job.execute_in_process(instance=instance, asset_selection=[MART, EXPORT])
    [stale, rebuilt] = found
    assert stale.checks == []
    [build] = stale.stale
    assert build.asset == "marts/users"
    assert [(c.check, c.partition) for c in build.failed_then] == [("reconciliation", "acme")]
    assert "acme" in build.describe() and "marts/users" in build.describe()
    assert rebuilt == Upstream([], [], [])


# The history is read a page at a time: a page of 2 stands for the gate's pages of 500, so that
# a handful of loads spans several pages.
SMALL_PAGE = 2
MANY = dg.StaticPartitionsDefinition(["t0", "t1", "t2", "t3", "t4"])


def test_a_failed_partition_is_found_however_many_evaluations_came_after(monkeypatch) -> None:
    # Before, the gate looked among the check's last 500 evaluations only: a schedule tick
    # loading 501 tenants, the first rejected, put its failure out of sight, and the export
    # published the rejected rows.
    monkeypatch.setattr(export_gate, "HISTORY_PAGE", SMALL_PAGE)
    passes = {"t0": False, "t1": True, "t2": True, "t3": True, "t4": True}
    found: list = []
    job = graph(passes, found, MANY).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        for tenant in ("t0", "t1", "t2", "t3", "t4", "t1", "t2"):
            load(job, instance, tenant)
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
    [upstream] = found
    assert [c.partition for c in upstream.checks] == ["t0"]


def test_a_model_built_on_a_failed_partition_is_judged_however_long_ago(monkeypatch) -> None:
    # Before, the evaluations standing when the model was built were looked for among the
    # check's last 2,000 (four pages of 500); with more loads since, the model's build on
    # t0's rejected rows was not seen, and the export published them.
    monkeypatch.setattr(export_gate, "HISTORY_PAGE", SMALL_PAGE)
    passes = {"t0": False, "t1": True, "t2": True, "t3": True, "t4": True}
    found: list = []
    job = mart_graph(passes, found, MANY).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        for tenant in ("t0", "t1", "t2"):
            load(job, instance, tenant)
        job.execute_in_process(instance=instance, asset_selection=[MART])
        passes["t0"] = True
        for tenant in ("t0", "t1", "t2", "t3", "t4") * 2:  # mended; 10 evaluations after
            load(job, instance, tenant)
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
    [upstream] = found
    assert upstream.checks == []
    [build] = upstream.stale
    assert [(c.check, c.partition) for c in build.failed_then] == [("reconciliation", "t0")]


def test_a_partition_never_loaded_does_not_make_the_gate_read_the_whole_history(
    monkeypatch,
) -> None:
    # Each partition's latest evaluation is looked for until every partition loaded has one:
    # t4, never loaded, has none to find, and the loads of t0 to t3 before their latest go unread.
    monkeypatch.setattr(export_gate, "HISTORY_PAGE", SMALL_PAGE)
    passes = dict.fromkeys(["t0", "t1", "t2", "t3", "t4"], True)
    found: list = []
    job = mart_graph(passes, found, MANY).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        for tenant in ("t0", "t1", "t2", "t3") * 5:
            load(job, instance, tenant)
        job.execute_in_process(instance=instance, asset_selection=[MART])
        load(job, instance, "t0")
        storage = instance.event_log_storage
        read = storage.get_asset_check_execution_history
        pages: list = []

        def counted(*args, **kwargs):
            pages.append(read(*args, **kwargs))
            return pages[-1]

        monkeypatch.setattr(storage, "get_asset_check_execution_history", counted)
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
    assert found == [Upstream([], [], [])]
    # The latest of each (two pages), then back to one of each before the mart's build (three).
    assert len(pages) <= 5 and sum(len(page) for page in pages) < 20


def mart_graph(
    passes: dict[str, bool], found: list, partitions: dg.PartitionsDefinition
) -> dg.Definitions:
    @dg.asset(
        key=RAW,
        partitions_def=partitions,
        check_specs=[dg.AssetCheckSpec("reconciliation", asset=RAW, blocking=True)],
    )
    def raw(context):
        yield dg.Output(None)
        yield dg.AssetCheckResult(check_name="reconciliation", passed=passes[context.partition_key])

    @dg.asset(key=MART, deps=[RAW], kinds={"dbt"})  # a dbt model, materialized as a table
    def mart() -> None:
        pass

    @dg.asset(key=EXPORT, deps=[MART])
    def export(context) -> None:
        found.append(upstream_failures(context, context.asset_key))

    return dg.Definitions(assets=[raw, mart, export])


def load(job: dg.JobDefinition, instance: dg.DagsterInstance, tenant: str) -> None:
    job.execute_in_process(
        instance=instance, partition_key=tenant, asset_selection=[RAW], raise_on_error=False
    )


DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01")


def days_graph(found: list, ended: list) -> dg.Definitions:
    @dg.asset(key=RAW)
    def raw() -> None:
        pass

    @dg.asset(key=MART, deps=[RAW], kinds={"dbt"})  # a dbt model, materialized as a table
    def mart() -> None:
        pass

    @dg.asset(key=EXPORT, deps=[MART], partitions_def=DAILY)
    def export(context) -> None:
        day = date.fromisoformat(context.partition_key)
        found.append(export_gate.models_built_before(context, context.asset_key, day, ended[0]))

    return dg.Definitions(assets=[raw, mart, export])


def test_a_days_export_waits_for_a_build_of_its_model_since_the_day_ended() -> None:
    """The daemon was down for days: when it came back, the export's schedule requested each
    missed day at once, and its runs went ahead of the model's build that follows the loads.
    Each day was published empty from the build of before the outage, green (a probe: 6 days
    of 3 orders each published with 0 rows), and never requested again. Here the day ends
    between the model's build and the load after it (`ended` stands for the day's end)."""
    found: list = []
    ended: list = []
    job = days_graph(found, ended).resolve_implicit_global_asset_job_def()
    day = "2026-11-30"
    with dg.instance_for_test() as instance:
        job.execute_in_process(instance=instance, asset_selection=[RAW])
        job.execute_in_process(instance=instance, asset_selection=[MART])
        ended.append(datetime.now(UTC))  # the day ends: the outage
        job.execute_in_process(instance=instance, asset_selection=[RAW])  # the loads catch up
        job.execute_in_process(instance=instance, asset_selection=[EXPORT], partition_key=day)
        [behind] = found[-1]
        assert (behind.asset, behind.updated, str(behind.day)) == (
            "marts/users",
            "raw/app/users",
            day,
        )
        assert behind.built_at is not None and behind.built_at < ended[0] <= behind.updated_at
        described = Upstream(checks=[], unbuilt=[], stale=[], behind=[behind]).problems()
        assert described == [behind.describe()]
        assert (
            f"model marts/users was last built {stamp(behind.built_at)}, before day {day}"
            in (described[0])
        )
        assert "run the export of 2026-11-30 again once the model is built" in described[0]

        job.execute_in_process(instance=instance, asset_selection=[MART])  # built since
        job.execute_in_process(instance=instance, asset_selection=[EXPORT], partition_key=day)
        assert found[-1] == []


def test_a_model_whose_inputs_did_not_change_since_the_day_is_no_reason_to_wait() -> None:
    """A model built before the day ended from inputs not updated since (a weekly source's
    dimension, a seed) holds what there is: the day is published."""
    found: list = []
    ended: list = []
    job = days_graph(found, ended).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        job.execute_in_process(instance=instance, asset_selection=[RAW])
        job.execute_in_process(instance=instance, asset_selection=[MART])
        ended.append(datetime.now(UTC))
        job.execute_in_process(
            instance=instance, asset_selection=[EXPORT], partition_key="2026-11-30"
        )
    assert found == [[]]


def raw_days_graph(
    found: list, clock: dict, partitions: dg.PartitionsDefinition | None = None
) -> dg.Definitions:
    """An export of days reading a raw table (directly, as a query export may) or a mart built
    on it; `clock` holds the day's end and the time the gate runs at."""

    @dg.asset(key=RAW, partitions_def=partitions)
    def raw() -> None:
        pass

    @dg.asset(key=MART, deps=[RAW], kinds={"dbt"})
    def mart() -> None:
        pass

    @dg.asset(key=EXPORT, deps=[RAW, MART], partitions_def=DAILY)
    def export(context) -> None:
        day = date.fromisoformat(context.partition_key)
        found.append(
            export_gate.loads_due_since(
                context, context.asset_key, day, clock["ended"], clock["now"], clock["schedules"]
            )
        )

    return dg.Definitions(assets=[raw, mart, export])


def loads(cron: str, zone: str = "UTC") -> dict[dg.AssetKey, LoadSchedule]:
    source = SourceConfig.model_validate(
        {
            "name": "app",
            "kind": "mysql",
            "connection": {"url": "mysql://h/app"},
            "timezone": zone,
            "tables": [{"name": "users"}],
        }
    )
    return {RAW: LoadSchedule("app_schedule", source, cron, [])}


def test_a_day_whose_raw_table_was_not_loaded_since_its_schedule_fell_due_waits() -> None:
    """The daemon down for days, the export's schedule came back requesting the missed days at
    once, ahead of the loads: a day read from a raw table was published without the rows of its
    last hours (empty where the export reads the table by day), green, and never requested
    again, whether the export read the raw table or a model built on it (nothing upstream of the
    model had been updated since, so the model's own rule let it through)."""
    found: list = []
    clock: dict = {"schedules": loads("0 0 * * *")}
    job = raw_days_graph(found, clock).resolve_implicit_global_asset_job_def()
    day = "2026-11-30"
    with dg.instance_for_test() as instance:
        job.execute_in_process(instance=instance, asset_selection=[RAW, MART])
        loaded = clock["ended"] = datetime.now(UTC)  # the day ends: the outage
        clock["now"] = clock["ended"] + timedelta(days=2, hours=3)  # the daemon is back
        job.execute_in_process(instance=instance, asset_selection=[EXPORT], partition_key=day)
        [behind] = found[-1]
        due = datetime.combine(clock["ended"].date() + timedelta(days=1), datetime.min.time(), UTC)
        assert (
            behind.asset,
            str(behind.day),
            behind.schedule,
            behind.due_at,
            behind.partitions,
        ) == (
            "raw/app/users",
            day,
            "app_schedule",
            due,
            (),
        )
        assert behind.loaded_at is not None
        assert loaded - timedelta(seconds=10) < behind.loaded_at < clock["ended"]
        assert behind.describe() == (
            f"raw table raw/app/users was last loaded {stamp(behind.loaded_at)}, before day "
            f"{day} ended, though app_schedule fell due at {stamp(due)}, after the day ended: the "
            f"warehouse lacks rows of that day; run the export of {day} again once the table is "
            "loaded (a backfill of the day, or the schedule's next tick while no later day is "
            "published)"
        )
        assert Upstream(checks=[], unbuilt=[], stale=[], loads_behind=[behind]).problems() == [
            behind.describe()
        ]

        job.execute_in_process(instance=instance, asset_selection=[RAW])  # the loads catch up
        job.execute_in_process(instance=instance, asset_selection=[EXPORT], partition_key=day)
        assert found[-1] == []


def test_the_latest_day_and_a_schedule_not_yet_due_are_no_reason_to_wait() -> None:
    """The latest complete day's run ticks with the loads at midnight, and the eager export
    publishes it again once they land; a table loaded weekly read by a daily export holds what
    there is until its schedule falls due."""
    found: list = []
    clock: dict = {"schedules": loads("0 0 * * *")}
    job = raw_days_graph(found, clock).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        job.execute_in_process(instance=instance, asset_selection=[RAW])
        clock["ended"] = datetime.now(UTC)
        clock["now"] = clock["ended"] + timedelta(hours=23)  # the latest complete day
        job.execute_in_process(
            instance=instance, asset_selection=[EXPORT], partition_key="2026-11-30"
        )
        clock["now"] = clock["ended"] + timedelta(days=1, minutes=1)
        # Weekly, on the day three days after the day ended: not due by `now`.
        weekday = (clock["ended"].isoweekday() + 3) % 7
        clock["schedules"] = loads(f"0 0 * * {weekday}")
        job.execute_in_process(
            instance=instance, asset_selection=[EXPORT], partition_key="2026-11-30"
        )
        clock["schedules"] = loads("0 0 * * *")  # daily: due, and not loaded
        job.execute_in_process(
            instance=instance, asset_selection=[EXPORT], partition_key="2026-11-30"
        )
    assert [[b.asset for b in behind] for behind in found] == [[], [], ["raw/app/users"]]


def test_a_partition_not_loaded_since_the_day_ended_is_named() -> None:
    """A table partitioned by tenant: the tenants loaded since the day ended do not stand for
    one that was not."""
    found: list = []
    clock: dict = {"schedules": loads("0 * * * *", "Europe/Berlin")}
    job = raw_days_graph(found, clock, TENANTS).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        for tenant in ("acme", "globex"):
            job.execute_in_process(instance=instance, asset_selection=[RAW], partition_key=tenant)
        clock["ended"] = datetime.now(UTC)
        clock["now"] = clock["ended"] + timedelta(days=3)
        job.execute_in_process(instance=instance, asset_selection=[RAW], partition_key="acme")
        job.execute_in_process(
            instance=instance, asset_selection=[EXPORT], partition_key="2026-11-30"
        )
        [behind] = found[-1]
        assert behind.partitions == ("globex",)
        assert behind.describe().startswith(
            "partition globex of raw table raw/app/users was not loaded since day 2026-11-30 "
            "ended, though app_schedule fell due at "
        )
        job.execute_in_process(instance=instance, asset_selection=[RAW], partition_key="globex")
        job.execute_in_process(
            instance=instance, asset_selection=[EXPORT], partition_key="2026-11-30"
        )
        assert found[-1] == []
