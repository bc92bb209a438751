"""What stands between an export and its publication: what upstream failed, across runs.

Dagster's blocking checks stop what is downstream within one run only. A source's schedule
loads raw tables alone, automation builds the models in a later run, and an export's schedule
requests the export alone: without this gate an export published rows its checks had
rejected, the previous build of a model that failed to build, or a model built on rejected rows
and not rebuilt since the check passed, as today's data, green.

The facts are read from the Dagster instance (defs/export_gate.py); this decides and words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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

    def full_refresh(self) -> str | None:
        """A reconciliation that stays failed until a `full_refresh` run finds its rows right
        (as its description says): the run that clears it, and what to rebuild after."""
        if not self.load_op or "full_refresh" not in (self.description or ""):
            return None
        config = f'{{"ops": {{"{self.load_op}": {{"config": {{"full_refresh": true}}}}}}}}'
        asset = f"{self.asset} (partition {self.partition})" if self.partition else self.asset
        then = (
            f"then rebuild the models that hold what they read of it ({', '.join(self.rebuild)}) "
            "and run the export again"
            if self.rebuild
            else "then run the export again"
        )
        return (
            f"The reconciliation of {asset} fails until a load finds its rows right, which a "
            f"load of new rows does not: load it with the run config {config}, {then}."
        )

    def describe(self) -> str:
        why = f": {self.description.strip()}" if self.description else ""
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
    it holds the rows they rejected, whatever those checks say now, until it is rebuilt."""

    asset: str
    run_id: str
    built_at: datetime
    failed_then: tuple[FailedCheck, ...]  # each check's latest evaluation at the build

    def describe(self) -> str:
        checks = "; ".join(check.named() for check in self.failed_then)
        they, pass_ = ("that check", "it passes")
        if len(self.failed_then) > 1:
            they, pass_ = ("those checks", "they pass")
        return (
            f"model {self.asset} was built by run {self.run_id} at {stamp(self.built_at)}, "
            f"while the latest evaluation of {checks}: it holds what {they} rejected and has "
            f"not been rebuilt since; rebuild it (with the models it feeds) once {pass_}"
        )


@dataclass(frozen=True)
class Upstream:
    """What the gate found upstream of an export."""

    checks: list[FailedCheck]
    unbuilt: list[UnbuiltModel]
    stale: list[StaleBuild]

    def problems(self) -> list[str]:
        return [found.describe() for found in (*self.checks, *self.unbuilt, *self.stale)]


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def refusal(export: str, op_name: str, upstream: Upstream) -> str | None:
    """Why the export must not publish (None: nothing upstream failed), with the way out."""
    found = upstream.problems()
    if not found:
        return None
    listed = "\n".join(f"- {problem}" for problem in found)
    # A remembered reconciliation failure outlasts a plain load: the run that clears it first.
    leads = "".join(
        f"{lead}\n" for check in upstream.checks if (lead := check.full_refresh()) is not None
    )
    override = f'{{"ops": {{"{op_name}": {{"config": {{"{OVERRIDE}": true}}}}}}}}'
    return (
        f"export {export} published nothing: what it reads failed upstream, and its data "
        f"would be published as checked and current.\n{listed}\n{leads}"
        "Fix the cause and rebuild (load the raw table again, or rematerialize the model and "
        "its tests), then run the export again. To publish anyway, knowingly, run it with the "
        f"run config {override}."
    )
