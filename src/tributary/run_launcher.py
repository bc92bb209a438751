"""The local instance's run launcher: Dagster's DefaultRunLauncher, plus the worker health
check that lets run monitoring mark a dead run FAILED.

The DefaultRunLauncher offers no health check, so with it run monitoring leaves a STARTED run
alone whatever became of its process. The code server marks a run it launched FAILED when that
run's process dies, but nothing marks a run whose process died with the code server (`make dev`
killed mid-run) or a run `dagster asset materialize` executed in its own process: such a run
stays STARTED forever and, with one run at a time, blocks the queue.

Only for one machine: the run worker is found by the process id its run-start event records,
which means nothing on another host.

A Dagster object outside defs/ on purpose: every process that loads the instance (webserver,
daemon, CLI) imports its run launcher, and importing tributary.defs costs seconds.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus


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


class LocalRunLauncher(DefaultRunLauncher):
    """Launches runs as the DefaultRunLauncher does; reports a run's worker dead once the
    process that started the run (its run-start event's pid) is gone."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
        ).records
        event = records[0].event_log_entry.dagster_event if records else None
        if event is None or event.pid is None:
            # Not started yet, or no pid to go by: run monitoring's start timeout covers it.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker process recorded")
        if process_alive(event.pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the run worker process (pid {event.pid}) is gone"
        )
