"""What stands between an export and its publication: what upstream failed, across runs.

Dagster's blocking checks stop what is downstream within one run only. A source's schedule
loads raw tables alone, automation builds the models in a later run, and an export's schedule
requests the export alone: without this gate an export published rows its checks had
rejected, the previous build of a model that failed to build, or a model built on rejected rows
and not rebuilt since the check passed, as today's data, green.

The facts are read from the Dagster instance, and of loads not checked yet from the warehouse
(defs/export_gate.py); this decides and words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

OVERRIDE = "publish_despite_failures"


@dataclass(frozen=True)
class FailedCheck:
    """The latest evaluation of a blocking check upstream, and it failed."""

    asset: str
    check: str
    run_id: str
    at: datetime
    description: str | None = None
    partition: str | None = None  # of a partitioned asset: the partition whose check failed
    # Of a raw table's reconciliation: the op loading the table, whose config a full refresh sets.
    load_op: str | None = None
    rebuild: tuple[str, ...] = ()  # the models holding rows read from it, that the export reads
    # Of those, the incremental models, and the op building them whose full_refresh config
    # builds them whole: a plain build adds rows past the newest it holds, never those it lacks.
    rebuild_whole: tuple[str, ...] = ()
    dbt_op: str | None = None
    # Of a partition the asset no longer has (a tenant made inactive, or removed): whether so,
    # and the raw table that still holds its rows (None: it holds none, and it gates nothing).
    gone: bool = False
    held_in: str | None = None

    def full_refresh(self) -> str | None:
        """A reconciliation that stays failed until a `full_refresh` run finds its rows right
        (as its description says): the run that clears it, and what to rebuild after."""
        if self.gone or not self.load_op or "full_refresh" not in (self.description or ""):
            return None
        config = full_refresh_config(self.load_op)
        asset = f"{self.asset} (partition {self.partition})" if self.partition else self.asset
        whole = self.rebuild_whole if self.dbt_op else ()
        models = [", ".join(m for m in self.rebuild if m not in whole)]
        if whole:
            models.append(
                f"{', '.join(whole)}, incremental, with the run config "
                f"{full_refresh_config(self.dbt_op)}"
            )
        then = (
            "then rebuild the models that hold what they read of it "
            f"({'; '.join(m for m in models if m)}) and run the export again"
            if self.rebuild
            else "then run the export again"
        )
        return (
            f"The reconciliation of {asset} fails until a load finds its rows right, which a "
            f"load of new rows does not: load it with the run config {config}, {then}."
        )

    def describe(self) -> str:
        why = f": {self.description.strip()}" if self.description else ""
        if self.held_in:
            why += (
                f"; partition {self.partition} can no longer be loaded (its tenant was made "
                f"inactive in tenants.yaml, or is no longer listed), and {self.held_in} still "
                f"holds its rows: delete them (delete from {self.held_in} where _tenant_id = "
                f"'{self.partition}'), or list the tenant again, active, and load it"
            )
        return f"{self.named()}{why}"

    def named(self) -> str:
        asset = f"{self.asset} (partition {self.partition})" if self.partition else self.asset
        return (
            f"blocking check '{self.check}' on {asset} failed in run {self.run_id} "
            f"at {stamp(self.at)}"
        )


@dataclass(frozen=True)
class UnbuiltModel:
    """A model whose latest planned build ended (failed, canceled) without building it: the
    warehouse holds an older build of it, or none."""

    asset: str
    run_id: str
    status: str  # the run's: FAILURE, CANCELED
    ended_at: datetime | None
    built_by: str | None  # the run of the build its table holds
    built_at: datetime | None

    def describe(self) -> str:
        ended = f", ended {stamp(self.ended_at)}" if self.ended_at else ""
        held = (
            f"the warehouse holds its build of {stamp(self.built_at)}, built by run {self.built_by}"
            if self.built_by and self.built_at
            else "it has never been built"
        )
        return (
            f"model {self.asset} was not built by run {self.run_id} ({self.status}{ended}); {held}"
        )


@dataclass(frozen=True)
class StaleBuild:
    """A model whose latest build was made while blocking checks upstream of it stood failed:
    it holds the rows they rejected, whatever those checks say now, until it is rebuilt. Of an
    incremental model, any build since its last full refresh (a plain build adds only rows
    past the newest it holds: those a build lacked never come back), until it is built whole:
    `dbt_op`, the op whose full_refresh config does."""

    asset: str
    run_id: str
    built_at: datetime
    failed_then: tuple[FailedCheck, ...]  # each check's latest evaluation at the build
    dbt_op: str | None = None

    def describe(self) -> str:
        checks = "; ".join(check.named() for check in self.failed_then)
        they, pass_ = ("that check", "it passes")
        if len(self.failed_then) > 1:
            they, pass_ = ("those checks", "they pass")
        built = (
            f"model {self.asset} was built by run {self.run_id} at {stamp(self.built_at)}, "
            f"while the latest evaluation of {checks}: it holds what {they} rejected"
        )
        if self.dbt_op is None:
            return (
                f"{built} and has not been rebuilt since; rebuild it (with the models it feeds) "
                f"once {pass_}"
            )
        return (
            f"{built} and has not been built with a full refresh since (it is incremental: a "
            "plain build adds only rows past the newest it holds, never those it lacks)"
        )

    def full_refresh(self) -> str | None:
        """Of an incremental model: the build that clears it, which a plain build does not."""
        if self.dbt_op is None:
            return None
        return (
            f"Model {self.asset} is incremental: a plain build does not bring back what it "
            "lacks. Once the checks upstream of it pass, build it with the run config "
            f"{full_refresh_config(self.dbt_op)} (with the models it feeds), then run the "
            "export again."
        )

    def to_record(self) -> dict[str, Any]:
        """As JSON holds it (an incremental model's materialization carries the builds of it
        since its last full refresh that hold rejected rows: from_record)."""
        return {
            "asset": self.asset,
            "run_id": self.run_id,
            "built_at": self.built_at.isoformat(),
            "failed_then": [
                {
                    "asset": check.asset,
                    "check": check.check,
                    "run_id": check.run_id,
                    "at": check.at.isoformat(),
                    "description": check.description,
                    "partition": check.partition,
                }
                for check in self.failed_then
            ],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StaleBuild:
        return cls(
            asset=record["asset"],
            run_id=record["run_id"],
            built_at=datetime.fromisoformat(record["built_at"]),
            failed_then=tuple(
                FailedCheck(**{**check, "at": datetime.fromisoformat(check["at"])})
                for check in record["failed_then"]
            ),
        )


@dataclass(frozen=True)
class UncheckedLoad:
    """A load of a raw table upstream that committed and whose reconciliation has not compared
    its rows: its run is still checking them, or stopped before it did. Dagster records nothing
    of such a load (its materialization and check are recorded together, after the check), and
    the check's evaluation before it, passed, stands; the warehouse holds the rows, and the
    window the load's own transaction recorded as owed its check."""

    asset: str
    partition: str | None
    load_id: str
    committed_at: datetime

    def describe(self) -> str:
        asset = f"{self.asset} (partition {self.partition})" if self.partition else self.asset
        return (
            f"load {self.load_id} of {asset} committed at {stamp(self.committed_at)} and its "
            "rows have not been compared by its reconciliation: its run is still checking "
            "them, or stopped before it did. Wait for the check, or load the table again "
            "(the next load's check compares them too)"
        )


@dataclass(frozen=True)
class RecordedFailure:
    """A reconciliation failure of a raw table upstream that the warehouse records
    (_tributary.reconcile_failures, until a load's check finds those rows right) and of which
    this Dagster instance holds no failed evaluation: its records wiped (*Wipe
    materializations*), another instance (a new or restored one), or a run that died between
    the check and Dagster's record of it."""

    asset: str
    partition: str | None
    load_id: str
    failed_at: datetime
    description: str

    def describe(self) -> str:
        asset = f"{self.asset} (partition {self.partition})" if self.partition else self.asset
        return (
            f"the reconciliation of {asset} failed at {stamp(self.failed_at)} (load "
            f"{self.load_id}): {self.description.strip()}. The warehouse records it "
            "(_tributary.reconcile_failures) until a load's check finds those rows right, "
            "though this Dagster instance holds no failed evaluation of it (its records "
            "wiped, or another instance): load the table again"
        )


@dataclass(frozen=True)
class UncheckedBuild:
    """A model whose latest build's run planned a blocking check of it that has not evaluated
    that build: the run ended (terminated, a crash, a step that failed) between the build and
    its test, or is still running it. Dagster's latest evaluation of the check is of an earlier
    build, and the table holds the new one, unchecked."""

    asset: str
    check: str
    run_id: str
    built_at: datetime
    status: str  # the run's

    def describe(self) -> str:
        ended = self.status not in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")
        state = "ended before it ran" if ended else "has not run it yet"
        return (
            f"model {self.asset} was built by run {self.run_id} at {stamp(self.built_at)} and "
            f"its blocking check '{self.check}' has not evaluated that build: the run "
            f"({self.status}) {state}. Build the model again (its tests run with it), then run "
            "the export again"
        )


@dataclass(frozen=True)
class UnseenUpdate:
    """A view (read live) whose blocking check last evaluated it before an input it reads
    through was materialized again (a raw table's load, a table model's build): the view shows
    rows the check has not seen."""

    asset: str
    check: str
    evaluated_at: datetime
    input: str
    run_id: str
    updated_at: datetime

    def describe(self) -> str:
        return (
            f"view {self.asset} was last checked by its blocking check '{self.check}' at "
            f"{stamp(self.evaluated_at)}, and {self.input}, which it reads live, was "
            f"materialized since (run {self.run_id} at {stamp(self.updated_at)}): the export "
            f"would publish rows the check has not seen. Build {self.asset} (its tests run "
            "with it), then run the export again"
        )


@dataclass(frozen=True)
class UnloadedPartition:
    """A partition of a raw table upstream that no load has written (a tenant just added, its
    loads not run yet or failed; a key range never loaded): of a per-tenant export, its
    tenant's; of any other, each the table has. The export would publish none of its rows, as
    current."""

    asset: str
    partition: str

    def describe(self) -> str:
        return (
            f"partition {self.partition} of {self.asset} has never been loaded: the export "
            "would publish none of its rows as current. Load it (a tenant the registry adds "
            "has its loads requested by tenant_registry_sensor), then run the export again"
        )


@dataclass(frozen=True)
class BehindDay:
    """A model upstream of a date-partitioned export, last built before the partition's day
    ended, that reads an asset updated since (a load, a build): it lacks rows of that day its
    inputs now hold. A schedule catching up the days missed while the daemon was down requests
    them at once, ahead of the builds that follow the loads: before this, each day was
    published empty, green, and never requested again."""

    asset: str
    day: date
    built_at: datetime | None
    updated: str
    updated_at: datetime

    def describe(self) -> str:
        built = f"was last built {stamp(self.built_at)}" if self.built_at else "was never built"
        return (
            f"model {self.asset} {built}, before day {self.day} ended, and {self.updated}, "
            f"which it reads, was updated since ({stamp(self.updated_at)}): the model lacks "
            f"rows of that day; run the export of {self.day} again once the model is built "
            "(automation builds it after its loads; a backfill of the day, or the schedule's "
            "next tick while no later day is published)"
        )


@dataclass(frozen=True)
class LoadsBehindDay:
    """A raw table upstream of a date-partitioned export (read directly, through views or
    through models), not loaded since the partition's day ended although its schedule fell due
    since: the rows of that day it is owed are not in the warehouse. The daemon down for days,
    the export's schedule requested the missed days at once on its return, and where those runs
    went ahead of the loads each day was published without the rows of its last hours (empty,
    where the export reads the raw table by day), green, and never requested again. Of a table
    partitioned by tenant or key range, `partitions` are those not loaded since."""

    asset: str
    day: date
    schedule: str
    due_at: datetime
    loaded_at: datetime | None
    partitions: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.partitions:
            shown = ", ".join(self.partitions[:5])
            more = f" and {len(self.partitions) - 5} more" if len(self.partitions) > 5 else ""
            many = len(self.partitions) > 1
            what = (
                f"partition{'s' if many else ''} {shown}{more} of raw table {self.asset} "
                f"{'were' if many else 'was'} not loaded since day {self.day} ended"
            )
        elif self.loaded_at:
            what = (
                f"raw table {self.asset} was last loaded {stamp(self.loaded_at)}, before day "
                f"{self.day} ended"
            )
        else:
            what = f"raw table {self.asset} was never loaded"
        return (
            f"{what}, though {self.schedule} fell due at {stamp(self.due_at)}, after the day "
            f"ended: the warehouse lacks rows of that day; run the export of {self.day} again "
            "once the table is loaded (a backfill of the day, or the schedule's next tick while "
            "no later day is published)"
        )


@dataclass(frozen=True)
class Upstream:
    """What the gate found upstream of an export."""

    checks: list[FailedCheck]
    unbuilt: list[UnbuiltModel]
    stale: list[StaleBuild]
    unchecked: list[UncheckedLoad] = field(default_factory=list)
    recorded: list[RecordedFailure] = field(default_factory=list)
    unloaded: list[UnloadedPartition] = field(default_factory=list)
    untested: list[UncheckedBuild] = field(default_factory=list)
    unseen: list[UnseenUpdate] = field(default_factory=list)
    behind: list[BehindDay] = field(default_factory=list)
    loads_behind: list[LoadsBehindDay] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = (
            *self.unloaded,
            *self.loads_behind,
            *self.behind,
            *self.checks,
            *self.recorded,
            *self.unbuilt,
            *self.untested,
            *self.unseen,
            *self.stale,
            *self.unchecked,
        )
        return [problem.describe() for problem in found]


def full_refresh_config(op: str) -> str:
    """The run config of a run that rebuilds what the op builds whole (a raw table's load, or
    dbt's build with `--full-refresh`): both ops take `full_refresh`."""
    return f'{{"ops": {{"{op}": {{"config": {{"full_refresh": true}}}}}}}}'


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def refusal(export: str, op_name: str, upstream: Upstream) -> str | None:
    """Why the export must not publish (None: nothing upstream failed), with the way out."""
    found = upstream.problems()
    if not found:
        return None
    listed = "\n".join(f"- {problem}" for problem in found)
    # A remembered reconciliation failure outlasts a plain load, and what an incremental model
    # lacks outlasts a plain build: the runs that clear them first.
    leads = "".join(
        dict.fromkeys(  # one lead per model, however many of its builds are named
            f"{lead}\n"
            for found in (*upstream.checks, *upstream.stale)
            if (lead := found.full_refresh()) is not None
        )
    )
    override = f'{{"ops": {{"{op_name}": {{"config": {{"{OVERRIDE}": true}}}}}}}}'
    return (
        f"export {export} published nothing: what it reads failed upstream, and its data "
        f"would be published as checked and current.\n{listed}\n{leads}"
        "Fix the cause and rebuild (load the raw table again, or rematerialize the model and "
        "its tests), then run the export again. To publish anyway, knowingly, run it with the "
        f"run config {override}."
    )
