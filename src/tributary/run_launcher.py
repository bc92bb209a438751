"""The local instance's run launcher: Dagster's DefaultRunLauncher, plus the worker health
check that lets run monitoring mark a dead run FAILED.

The DefaultRunLauncher offers no health check, so with it run monitoring leaves a STARTED run
alone whatever became of its process. The code server marks a run it launched FAILED when that
run's process dies, but nothing marks a run whose process died with the code server (`make dev`
killed mid-run) or a run `dagster asset materialize` executed in its own process: such a run
stays STARTED forever and, with one run at a time, blocks the queue.

Only for one machine: the run worker is found by the process id its run-start event records,
which means nothing on another host.

The same check mends one Dagster race for a live run (`stranded_pool_steps`): a step left
waiting beside a free pool slot that no one will give it. The production instance's launcher
(PoolMendingRunLauncher) makes that check alone.

A Dagster object outside defs/ on purpose: every process that loads the instance (webserver,
daemon, CLI) imports its run launcher, and importing tributary.defs costs seconds.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.event_log.base import EventLogStorage


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal sent, only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet still answers signal 0."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def stranded_pool_steps(storage: EventLogStorage, run_id: str) -> set[tuple[str, str]]:
    """The run's (pool, step) queued for a pool that has a slot neither held nor promised.

    Dagster promises a freed slot to the next queued step as it frees it. A step's first claim
    looks for a free slot, then joins the queue: if the daemon frees a dead run's slot between
    the two, the free found no one to promise it to and the step found no free slot. It then
    waits, "blocked by limit", beside a free slot for good. The same holds for a moment while a
    slot is on its way to a step, so the caller acts on a step seen stranded twice."""
    if run_id not in storage.get_concurrency_run_ids():
        return set()
    stranded = set()
    for pool, info in storage.get_concurrency_infos(list(storage.get_concurrency_keys())).items():
        if info.slot_count > info.assigned_step_count:
            stranded |= {
                (pool, step.step_key)
                for step in info.pending_steps
                if step.run_id == run_id and step.assigned_timestamp is None
            }
    return stranded


class PoolMendingRunLauncher(DefaultRunLauncher):
    """Launches runs as the DefaultRunLauncher does, and answers run monitoring's health check
    of each live run by queueing again a step of it stranded beside a free pool slot
    (stranded_pool_steps). It says nothing of the run's worker (RUNNING): the production
    instance's launcher, whose runs' processes it cannot see."""

    def __init__(self, inst_data=None) -> None:
        super().__init__(inst_data)
        self._stranded: dict[str, set[tuple[str, str]]] = {}  # run id -> seen at the last check

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        self._requeue_stranded_steps(run)
        return CheckRunHealthResult(WorkerStatus.RUNNING, "the run's worker is not checked")

    def _requeue_stranded_steps(self, run: dg.DagsterRun) -> None:
        storage = self._instance.event_log_storage
        stranded = stranded_pool_steps(storage, run.run_id)
        for pool, step_key in sorted(stranded & self._stranded.pop(run.run_id, set())):
            # Out of the queue: the step's next claim finds the free slot and takes it.
            storage.free_concurrency_slot_for_step(run.run_id, step_key)
            self._instance.report_engine_event(
                f"Step {step_key} waited for pool {pool} beside a free slot that Dagster had not"
                " given it (its claim crossed a dead run's slot being freed); queued it again.",
                run,
                step_key=step_key,
            )
            stranded.discard((pool, step_key))
        if stranded:
            self._stranded[run.run_id] = stranded


class LocalRunLauncher(PoolMendingRunLauncher):
    """The PoolMendingRunLauncher that also reports a run's worker dead once the process that
    started the run (its run-start event's pid) is gone: for one machine."""

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
        ).records
        event = records[0].event_log_entry.dagster_event if records else None
        if event is None or event.pid is None:
            # Not started yet, or no pid to go by: run monitoring's start timeout covers it.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker process recorded")
        if process_alive(event.pid):
            self._requeue_stranded_steps(run)
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        self._stranded.pop(run.run_id, None)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the run worker process (pid {event.pid}) is gone"
        )
