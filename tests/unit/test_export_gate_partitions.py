"""The export gate judges a partitioned asset's blocking check per partition: Dagster keeps one
latest evaluation per check whatever the partition, so one tenant's later passing load hid
another tenant's failed one, and the export published the rejected tenant's rows."""

from __future__ import annotations

import dagster as dg

from tributary.defs.export_gate import upstream_failures
from tributary.exports.gate import Upstream

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


def test_a_partition_no_longer_there_gates_nothing() -> None:
    # A tenant whose load failed its check and was then made inactive (or left the registry)
    # loses its partition: its failure can never be loaded away, and gated every export for
    # good, the way out it named ("load the raw table again") impossible.
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
    assert [c.partition for c in gated.checks] == ["globex"]
    assert after.checks == []


MART = dg.AssetKey(["marts", "users"])


def test_a_model_built_while_a_partition_stood_failed_is_judged_by_that_partition() -> None:
    # A model built while acme's load stood rejected holds acme's rejected rows after acme's
    # check passes; globex's passing evaluation (later, the latest of the check) hides nothing.
    passes = {"acme": False, "globex": True}
    found: list = []

    @dg.asset(
        key=RAW,
        partitions_def=TENANTS,
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

    job = dg.Definitions(assets=[raw, mart, export]).resolve_implicit_global_asset_job_def()

    def load(tenant: str) -> None:
        job.execute_in_process(
            instance=instance, partition_key=tenant, asset_selection=[RAW], raise_on_error=False
        )

    with dg.instance_for_test() as instance:
        load("acme")
        load("globex")
        job.execute_in_process(instance=instance, asset_selection=[MART])
        passes["acme"] = True
        load("acme")  # mended: the check passes, the mart is as it was built
        load("globex")
        job.execute_in_process(instance=instance, asset_selection=[EXPORT])
        job.execute_in_process(instance=instance, asset_selection=[MART, EXPORT])
    [stale, rebuilt] = found
    assert stale.checks == []
    [build] = stale.stale
    assert build.asset == "marts/users"
    assert [(c.check, c.partition) for c in build.failed_then] == [("reconciliation", "acme")]
    assert "acme" in build.describe() and "marts/users" in build.describe()
    assert rebuilt == Upstream([], [], [])
