"""How every benchmark measures: each case in a fresh Python process, its peak RSS read by the
parent with os.wait4, its wall time measured in the child around the work (imports excluded),
the median of several runs, and ratios against baselines measured in the same run.

A case is a plain function `case_<name>(**params) -> dict` in a benchmark module. The child
runs it as `python -m bench.measure <module> <function> <params.json> <report.json>`; the
dict it returns (with `seconds`, the wall time of the work) comes back through the report.

The parent must stay small: a child started by subprocess (vfork) reports at least the
parent's peak RSS as its own. So the parent imports nothing heavy (no tributary, dagster,
pyarrow): benchmark modules import those inside their case functions.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPEATS = 3


def repeats_or_default(repeats: int | None = None) -> int:
    """`repeats`, else REPEATS; BENCH_REPEATS (a smoke run's `--repeats`) caps either."""
    cap = os.environ.get("BENCH_REPEATS")
    wanted = REPEATS if repeats is None else repeats
    return min(wanted, int(cap)) if cap else wanted


def scaled(rows: int) -> int:
    """A table size times BENCH_SCALE (a smoke run's `--scale`, e.g. 0.05); the full size by
    default. Targets are stated at the full sizes: a scaled run checks that the benchmarks work,
    its figures are not the targets'."""
    return max(1_000, round(rows * float(os.environ.get("BENCH_SCALE", "1"))))


@dataclass
class Target:
    """One of issue 15's targets as a benchmark measured it: `figure` against `limit` (both in
    `unit`: "x" for a ratio, "MB", "s"); `passed` None when it could not be measured (then
    `figure` is None and `note` says why). `info` rows are reported beside the targets
    (another reading of the same figure) but are not a target's verdict."""

    number: str  # the numbering: "1", "2", ...
    name: str
    figure: float | None
    limit: float
    unit: str = "x"
    note: str = ""
    info: bool = False
    passed: bool | None = None

    def __post_init__(self) -> None:
        if self.passed is None and self.figure is not None:
            self.passed = self.figure <= self.limit

    @property
    def status(self) -> str:
        if self.info:
            return "info"
        return {True: "PASS", False: "MISS", None: "MISS-unknown"}[self.passed]

    def shown(self, value: float | None) -> str:
        if value is None:
            return "-"
        if self.unit == "x":
            # a third decimal where two would show a miss as equal to its limit
            close = value != self.limit and f"{value:.2f}" == f"{self.limit:.2f}"
            return f"{value:.3f}x" if close else f"{value:.2f}x"
        return f"{value:,.0f} {self.unit}" if value >= 100 else f"{value:.2f} {self.unit}"

    def row(self) -> list[str]:
        return [self.number, self.name, self.shown(self.figure), f"≤ {self.shown(self.limit)}",
                f"**{self.status}**", self.note]  # fmt: skip


def target_table(targets: Sequence[Target]) -> str:
    """The targets as a Markdown table (text columns left-aligned, figures right-aligned)."""
    lines = ["| # | target | figure | limit | | measured as |", "|---|---|---:|---:|---|---|"]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in t.row()) + " |" for t in targets
    ]
    return "\n".join(lines)


@dataclass
class Run:
    """One run of a case: what the child reported, and its peak RSS."""

    report: dict[str, Any]
    peak_rss_mb: float
    process_seconds: float  # the whole child process, interpreter start and imports included

    @property
    def seconds(self) -> float:
        return self.report["seconds"]


@dataclass
class Result:
    """The median of a case's runs."""

    case: str
    description: str
    runs: list[Run]
    baseline: str | None = None

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return statistics.median(r.peak_rss_mb for r in self.runs)

    @property
    def process_seconds(self) -> float:
        return statistics.median(r.process_seconds for r in self.runs)

    def median(self, key: str) -> float:
        return statistics.median(r.report[key] for r in self.runs)


def run_child(
    argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float]:
    """Run a command to its end: (wall seconds of the whole process, peak RSS in MB).

    The RSS is the largest of the process and its waited-for descendants (for a shell
    pipeline: its largest member), as the kernel's rusage reports it. The command's output
    goes to a log, shown if it fails.
    """
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            log.seek(0)
            print(log.read()[-5000:], file=sys.stderr)
            raise SystemExit(f"benchmark command failed ({process.returncode}): {' '.join(argv)}")
    return elapsed, usage.ru_maxrss / 1024  # KB on Linux


def run_case(
    module: str,
    case: str,
    params: dict[str, Any],
    *,
    env: dict | None = None,
    python: str | None = None,
    cwd: Path | None = None,
) -> Run:
    """One run of `module.case_<case>(**params)` in a fresh process (of `python`, by default
    this one's; another venv's Python runs it from `cwd`, the repository root)."""
    with tempfile.TemporaryDirectory(prefix="tributary-bench-report-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [python or sys.executable, "-m", "bench.measure", module, f"case_{case}",
                json.dumps(params), str(report)]  # fmt: skip
        elapsed, rss = run_child(argv, env=env, cwd=cwd)
        return Run(report=json.loads(report.read_text()), peak_rss_mb=rss, process_seconds=elapsed)


def measure(
    module: str,
    case: str,
    description: str,
    params: dict[str, Any] | None = None,
    *,
    baseline: str | None = None,
    repeats: int | None = None,
    env: dict | None = None,
    before_each: Callable[[], None] | None = None,
    name: str | None = None,
    python: str | None = None,
    cwd: Path | None = None,
) -> Result:
    """The median of `repeats` runs of a case (the machine is shared: single runs are noisy)."""
    runs = []
    for _ in range(repeats_or_default(repeats)):
        if before_each is not None:
            before_each()
        runs.append(run_case(module, case, params or {}, env=env, python=python, cwd=cwd))
    return announced(Result(name or case, description, runs, baseline))


def in_rounds(measurements: Sequence[Callable[..., Result]], *, repeats: int | None = None):
    """Several measurements (`measure` or `measure_command` calls, e.g. partials, that take
    `repeats`) run in rounds of one run of each, so that the shared machine's load, which
    drifts over minutes, falls on all of them alike: runs of the same index can be compared
    pairwise (`paired_ratio`). One Result per measurement, its runs in round order."""
    rounds = []
    for _ in range(repeats_or_default(repeats)):
        with contextlib.redirect_stdout(io.StringIO()):  # each run is announced once, below
            rounds.append([measurement(repeats=1) for measurement in measurements])
    return [
        announced(replace(first, runs=[run for results in rounds for run in results[index].runs]))
        for index, first in enumerate(rounds[0])
    ]


def paired_ratio(
    numerator: Result, denominator: Result, value: Callable[[Run], float] = lambda run: run.seconds
) -> float:
    """The median of the ratios of runs of the same round (see `in_rounds`)."""
    return statistics.median(
        value(top) / value(bottom)
        for top, bottom in zip(numerator.runs, denominator.runs, strict=True)
    )


def announced(result: Result) -> Result:
    print(
        f"  {result.case:<34} {result.seconds:8.2f} s {result.peak_rss_mb:7.0f} MB"
        f"  (runs: {', '.join(f'{r.seconds:.2f}' for r in result.runs)})",
        flush=True,
    )
    return result


def measure_command(
    argv: Sequence[str],
    case: str,
    description: str,
    *,
    baseline: str | None = None,
    repeats: int | None = None,
    env: dict | None = None,
    cwd: Path | None = None,
    before_each: Callable[[], None] | None = None,
) -> Result:
    """The median of `repeats` runs of an outside command, timed as a whole process."""
    runs = []
    for _ in range(repeats_or_default(repeats)):
        if before_each is not None:
            before_each()
        elapsed, rss = run_child(argv, env=env, cwd=cwd)
        runs.append(Run(report={"seconds": elapsed}, peak_rss_mb=rss, process_seconds=elapsed))
    result = Result(case, description, runs, baseline)
    print(
        f"  {case:<34} {result.seconds:8.2f} s {result.peak_rss_mb:7.0f} MB"
        f"  (runs: {', '.join(f'{r.seconds:.2f}' for r in runs)})",
        flush=True,
    )
    return result


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; columns after the first are right-aligned."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    lines += [
        "| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def machine_line(repeats: int | None = None) -> str:
    """When and where; the load average says how busy the (shared) machine was."""
    repeats = repeats_or_default(repeats)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores (load average "
        f"{load} at the end), Python {sys.version.split()[0]}; each figure is the median of "
        f"{repeats} runs, each run in a fresh process (peak RSS from `os.wait4`)."
    )


def parent_rss_mb() -> float:
    """The parent's own peak RSS: a floor under every child's (see the module docstring)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"tributary-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ensure_manifest() -> None:
    """Definitions load the dbt manifest that `make manifest` prepares (`make bench` depends on
    `install` only); an up-to-date manifest makes this a no-op. Under `make bench`, its
    variables (VENV=...) reach this make through MAKEFLAGS."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run(["make", "-s", "-C", str(root), "manifest"], check=True)


def _child(module: str, function: str, params: str, report: str) -> None:
    result = getattr(importlib.import_module(module), function)(**json.loads(params))
    Path(report).write_text(json.dumps(result))


if __name__ == "__main__":
    _child(*sys.argv[1:5])
