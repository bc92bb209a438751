"""`make demo`: the whole pipeline on the demo sources in a few dozen lines: one line per step
with its outcome and time, then what was built. Dagster's full log goes to a file instead.

The run is `dg launch --assets '*' -m tributary_demo.definitions`, what a user would type; its
output is read line by line for the steps' ends, so a long step shows when it finishes, not at
the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

# Dagster's messages when a step ends (dagster/_core/events: STEP_SUCCESS, STEP_FAILURE).
STEP_END = re.compile(
    r'Finished execution of step "(?P<done>[^"]+)" in (?P<took>.+?)\.\s*$'
    r'|Execution of step "(?P<failed>[^"]+)" failed'
)
# An asset a step materializes; shown when the step builds several (dbt's), as they are built.
MATERIALIZED = re.compile(
    r" - (?P<step>\S+) - ASSET_MATERIALIZATION - Materialized value (?P<key>.+?)\.\s*$"
)
LOG_TAIL_LINES = 25  # shown when the run fails: enough for Dagster's error and its cause


def step_lines(output: Iterable[str], log: Callable[[str], object]) -> Iterable[str]:
    """Each line of `output` goes to `log`; a step's end also comes out as one short line, and
    so does each asset of a step that builds several."""
    for line in output:
        log(line)
        built = MATERIALIZED.search(line)
        if built and built["step"] != built["key"].replace(" ", "__"):
            yield f"            built {built['key'].replace(' ', '/')}"
        end = STEP_END.search(line)
        if end and end["done"]:
            yield f"  ok      {end['done']:<48} {end['took']}"
        elif end:
            yield f"  FAILED  {end['failed']}"


def launch(command: list[str], log_path: Path, *, env: dict[str, str]) -> int:
    """Run `command`, its whole output into `log_path`, a line per step on stdout."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as process,
    ):
        for line in step_lines(process.stdout, log.write):
            print(line, flush=True)
    return process.returncode


def dg_launch_everything() -> tuple[list[str], dict[str, str]]:
    """`dg launch --assets '*'` from this venv (dg checks that the project's venv is active),
    on the demo's definitions: the product's with the demo's Salesforce org replayed."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "VIRTUAL_ENV": str(bin_dir.parent)}
    command = [str(bin_dir / "dg"), "launch", "--assets", "*", "-m", "tributary_demo.definitions"]
    return command, env


def tick_state_sensors(instance, log_path: Path) -> list[str]:
    """One tick of the sensors that write Tributary's other state tables (the tenants, when
    observed sources last changed), as the daemon runs them once they are switched on."""
    import dagster as dg

    from tributary_demo.definitions import defs as load_definitions

    defs = load_definitions()
    names = sorted(
        s.name for s in defs.sensors if s.name == "tenant_registry_sensor" or "observe_" in s.name
    )
    for name in names:
        # What a sensor logs goes to the UI's tick history in a deployment; here to the
        # demo's log with the rest of Dagster's, not between the demo's own lines. The context
        # is closed after the tick: the instance it opens from the ref is entered, and stays
        # the process's current one until then.
        with (
            dg.build_sensor_context(
                instance=instance,
                instance_ref=instance.get_ref(),
                repository_def=defs.get_repository_def(),
                resources=defs.resources,
            ) as context,
            log_path.open("a") as log,
            contextlib.redirect_stderr(log),
        ):
            data = defs.resolve_sensor_def(name).evaluate_tick(context)
        for event in data.asset_events:
            instance.report_runless_asset_event(event)
    return names


def run_demo() -> int:
    import dagster as dg

    from tributary.config.loader import load_project
    from tributary.defs.resources import WarehouseResource
    from tributary.defs.run_log import log_runs
    from tributary_demo.sources import generate_demo_sources
    from tributary_demo.summary import summarize

    project = load_project()
    log_path = project.state_dir / "demo.log"
    started = time.monotonic()
    print("1/3 demo sources", flush=True)
    paths = generate_demo_sources(project.state_dir / "demo")
    print(f"  ok      {len(paths)} databases under {project.state_dir / 'demo'}")
    print(f"2/3 every asset: dg launch --assets '*' (Dagster's log: {log_path})", flush=True)
    command, env = dg_launch_everything()
    launched = datetime.now(UTC)
    code = launch(command, log_path, env=env)
    if code != 0:
        tail = log_path.read_text().splitlines()[-LOG_TAIL_LINES:]
        print(f"the run failed (exit {code}); the end of {log_path}:", *tail, sep="\n")
        return code
    print("3/3 Tributary's state tables (what its sensors write once switched on)", flush=True)
    with dg.DagsterInstance.get() as instance:
        runs = [
            record.dagster_run
            for record in instance.get_run_records(dg.RunsFilter(created_after=launched))
        ]
        rows = log_runs(instance, runs, WarehouseResource.from_project(project))
        ticked = tick_state_sensors(instance, log_path)
    print(f"  ok      {rows} rows in _tributary.run_log, shown by marts.ops_load_status")
    print(f"  ok      _tributary.tenants and source_changes: one tick of {', '.join(ticked)}")
    print(summarize(project))
    print(f"Done in {time.monotonic() - started:.0f} s.")
    return 0
