"""Run the benchmarks, write their results into bench/README.md and check issue 15's targets.

Each benchmark is a module with `run()`, returning its Markdown section, or (section, targets):
the `bench.measure.Target`s it measured. The section replaces the text between
`<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` in the README. At the end, every
target is printed with PASS/MISS, and (for a whole run) written at the top of the README,
between `<!-- bench:targets:start/end -->`, with the date, the machine, its load average at
the start and the end, and the run's duration (itself target 6: under 25 minutes). Add a
benchmark by adding its module to BENCHMARKS.

    python -m bench.run [name ...]                       (make bench: all of them)
    python -m bench.definitions_bench                    (one benchmark with its own defaults)
    python -m bench.run --scale 0.05 --repeats 1 ingest  (a smoke run: smaller tables, fewer
                                                          runs; the README is left alone)
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import time
import traceback
from pathlib import Path

from bench.measure import Target, target_table

README = Path(__file__).with_name("README.md")
BENCHMARKS = {
    "export": "bench.export_bench",
    "ingest": "bench.ingest_bench",
    "rss": "bench.rss_bench",
    "definitions": "bench.definitions_bench",
    "overhead": "bench.overhead_bench",
    "observe": "bench.observe_bench",
    "unload": "bench.unload_bench",
}
RUN_LIMIT_MINUTES = 25.0
# What make bench passes a benchmark's run() to stay within RUN_LIMIT_MINUTES: the sizes the
# targets need and fewer repeats (the benchmark's defaults measure more when run alone).
RUN_KWARGS = {"definitions": {"sizes": (10, 1000), "repeats": 3}}


def write_section(name: str, body: str) -> None:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = README.read_text()
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    README.write_text(text)


def load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def targets_block(targets: list[Target], *, started: float, load_start: str, ran: list[str],
                  durations: dict[str, float]) -> str:  # fmt: skip
    minutes = (time.perf_counter() - started) / 60
    began_at = time.time() - minutes * 60
    passed = sum(t.status == "PASS" for t in targets)
    counted = sum(not t.info for t in targets)
    each = ", ".join(f"{name} {seconds / 60:.1f}" for name, seconds in durations.items())
    return (
        f"Issue 15's targets (numbered 1-6) and later issues' (numbered by issue), measured by "
        f"`make bench` "
        f"started {time.strftime('%Y-%m-%d %H:%M %Z', time.localtime(began_at))}, "
        f"{os.cpu_count()} cores, load average "
        f"{load_start} at the start and {load()} at the end (1, 5, 15 min), Python "
        f"{sys.version.split()[0]}; {minutes:.1f} minutes in all ({each} min; benchmarks "
        f"run: {', '.join(ran)}). **{passed} of {counted} met.** Ratios are against baselines "
        f"measured in the same run; the sections below give every figure.\n\n"
        + target_table(targets)
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="name",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--scale", type=float, help="table sizes times this (a smoke run)")
    parser.add_argument("--repeats", type=int, help="at most this many runs per figure")
    args = parser.parse_args(argv)  # fmt: skip
    if unknown := [name for name in args.names if name not in BENCHMARKS]:
        parser.error(f"no benchmark {', '.join(unknown)} (there are: {', '.join(BENCHMARKS)})")
    smoke = args.scale is not None or args.repeats is not None
    if args.scale is not None:
        os.environ["BENCH_SCALE"] = str(args.scale)
    if args.repeats is not None:
        os.environ["BENCH_REPEATS"] = str(args.repeats)
    names = args.names or list(BENCHMARKS)
    whole = names == list(BENCHMARKS) and not smoke

    started, load_start = time.perf_counter(), load()
    targets: list[Target] = []
    durations: dict[str, float] = {}
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        began = time.perf_counter()
        try:
            outcome = importlib.import_module(BENCHMARKS[name]).run(**RUN_KWARGS.get(name, {}))
        except (Exception, SystemExit) as exc:  # one benchmark failing must not lose the others
            traceback.print_exc()
            failed.append(name)
            targets.append(Target("-", f"the {name} benchmark", None, 0, note=f"failed: {exc}"))
            continue
        finally:
            durations[name] = time.perf_counter() - began
        section, found = (outcome, []) if isinstance(outcome, str) else outcome
        targets += found
        if not smoke:
            write_section(name, section)
        print(section, flush=True)
    if whole:
        minutes = (time.perf_counter() - started) / 60
        targets.append(
            Target(
                "6",
                "`make bench` runs in under 25 minutes",
                minutes,
                RUN_LIMIT_MINUTES,
                unit="min",
                note="this run, all benchmarks",
            )
        )
    targets.sort(key=lambda t: t.number)  # stable: each benchmark's order within a target

    print("\n== targets (issue 15's, and later issues' by their number)")
    print(target_table(targets).replace("**", ""))
    summary = targets_block(targets, started=started, load_start=load_start, ran=names,
                            durations=durations)  # fmt: skip
    print(summary.split("\n\n")[0])
    if whole:
        write_section("targets", summary)
        print(f"results written to {README}")
    elif smoke:
        print(f"a smoke run (--scale/--repeats): {README} left alone")
    else:
        print(f"sections written to {README}; the targets block only by a whole run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
