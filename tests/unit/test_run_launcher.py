"""The local run launcher's health check goes by whether the run's process still exists, and
queues again a step Dagster left waiting beside a free pool slot."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import dagster as dg
import pytest
import yaml
from dagster import DagsterEventType, DagsterRunStatus
from dagster._core.launcher import WorkerStatus

from tests.conftest import local_dagster_home
from tributary.config.loader import PROJECT_ROOT
from tributary.run_launcher import process_alive


def test_a_live_process_is_alive() -> None:
    assert process_alive(os.getpid())


def test_an_exited_process_is_gone_and_so_is_an_unreaped_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped: a zombie
    assert not process_alive(child.pid)
    child.wait()
    assert not process_alive(child.pid)


POOL = "raw/shop/orders"


@pytest.fixture(params=["local", "production"])
def instance(request, tmp_path) -> Iterator[dg.DagsterInstance]:
    """The local instance (deploy/dagster.local.yaml: pools of one slot, LocalRunLauncher); or
    the same with production's run launcher (deploy/dagster.yaml's), on SQLite storage."""
    home = local_dagster_home(tmp_path / "home")
    if request.param == "production":
        config = yaml.safe_load((home / "dagster.yaml").read_text())
        production = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
        config["run_launcher"] = production["run_launcher"]
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def started_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    """A STARTED run whose worker is this process."""
    run = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", status=DagsterRunStatus.STARTED))
    start = dg.DagsterEvent(
        DagsterEventType.RUN_START.value, job_name=run.job_name, pid=os.getpid()
    )
    instance.report_dagster_event(start, run_id=run.run_id)
    return run


def test_a_step_queued_while_a_dead_runs_slot_is_freed_gets_the_slot(instance) -> None:
    """Dagster gives a freed slot to the next queued step as it frees it. A step whose first
    claim found no free slot, and which joined the queue only after the daemon freed a dead
    run's slot, was given none: it waited "blocked by limit" beside a free slot for good (a
    CI run of test_kill_cli waited 180 s). The local launcher's health check, which run
    monitoring makes each poll, queues such a step again once it has seen it stranded twice."""
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    dead = started_run(instance)
    assert storage.claim_concurrency_slot(POOL, dead.run_id, "load").is_claimed
    waiting = started_run(instance)

    # The waiting run's first claim (Dagster's claim_concurrency_slot, step by step) with the
    # daemon's freeing of the dead run's slot between its two steps.
    found_a_free_slot = storage.has_unassigned_slots(POOL)
    storage.free_concurrency_slots_for_run(dead.run_id)
    storage.add_pending_step(POOL, waiting.run_id, "load", should_assign=found_a_free_slot)

    def claim() -> bool:
        return storage.claim_concurrency_slot(POOL, waiting.run_id, "load").is_claimed

    assert not claim()
    assert storage.get_concurrency_info(POOL).claimed_slots == []  # the slot is free
    launcher = instance.run_launcher
    assert launcher.check_run_worker_health(waiting).status == WorkerStatus.RUNNING
    assert not claim()  # seen once: it may be a free slot on its way to the step
    assert launcher.check_run_worker_health(waiting).status == WorkerStatus.RUNNING
    assert claim()
    [slot] = storage.get_concurrency_info(POOL).claimed_slots
    assert (slot.run_id, slot.step_key) == (waiting.run_id, "load")
    [said] = instance.get_records_for_run(
        waiting.run_id, of_type=DagsterEventType.ENGINE_EVENT
    ).records
    assert POOL in said.event_log_entry.message


def test_a_step_waiting_for_a_live_runs_slot_keeps_waiting(instance) -> None:
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    holder, waiting = started_run(instance), started_run(instance)
    assert storage.claim_concurrency_slot(POOL, holder.run_id, "load").is_claimed
    assert not storage.claim_concurrency_slot(POOL, waiting.run_id, "load").is_claimed
    for _ in range(3):
        instance.run_launcher.check_run_worker_health(waiting)
    assert not storage.claim_concurrency_slot(POOL, waiting.run_id, "load").is_claimed
    storage.free_concurrency_slot_for_step(holder.run_id, "load")
    assert storage.claim_concurrency_slot(POOL, waiting.run_id, "load").is_claimed
