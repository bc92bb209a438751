"""Peak RSS across table sizes: the same MariaDB table shape at the sizes issue 15's targets
name, each loaded by Tributary (`ingest_table`, the ingest benchmark's case) into DuckDB
(`warehouse.memory_limit` unset: a load's own 128MB pool) at 1,000,000, 2,000,000 and
8,000,000 rows, and into PostgreSQL at 2,000,000 and 8,000,000. Extraction reads bounded
batches and the load streams the landed parts, so memory should stay flat however large the
table is: the ratio to the smallest table says whether it does. Baseline: the imports alone,
in the same run.

Targets: DuckDB ≤ 1.2x from 1M to 8M and ≤ 400 MB at 2M (2); PostgreSQL ≤ 300 MB at 2M and
≤ 1.2x from 2M to 8M (3). Every size is loaded RSS_REPEATS times, in rounds (until 2026-12-03
only the 2M tables were loaded more than once): one run's peak RSS moves by 10-70 MB at any
size (2026-12-03 16:51, five runs each, Arrow on jemalloc: into PostgreSQL 229-279 MB at 2M
and 261-285 MB at 8M; into DuckDB 263-288 MB at 1M and 290-301 MB at 8M), so each figure is
a median, and the table shows the runs' range.
"""

from __future__ import annotations

import functools
import time

from bench.ingest_bench import BATCH_ROWS
from bench.measure import (
    Target,
    in_rounds,
    machine_line,
    markdown_table,
    measure,
    parent_rss_mb,
    ratio,
    scaled,
)
from bench.servers import copy_source_table, create_source_table, databases

# The sizes each warehouse is loaded at (no size that no target needs).
SIZES = {"duckdb": (1_000_000, 2_000_000, 8_000_000), "postgres": (2_000_000, 8_000_000)}
TARGET_ROWS = 2_000_000  # the size the absolute limits are stated at
RSS_REPEATS = 5
RSS_LIMIT_MB = {"duckdb": 400, "postgres": 300}
FLAT_LIMIT = 1.2
# DuckDB loads with `warehouse.memory_limit` when set (None: unset, as in a default
# platform.yaml, where a load bounds its buffer pool at warehouse.duckdb.LOAD_MEMORY_LIMIT).
DUCKDB_MEMORY_LIMIT = None
DUCKDB_LIMIT_SHOWN = DUCKDB_MEMORY_LIMIT or (
    "unset (a load: 128MB, one thread; a full load's insert: 2 MB a column, 32MB-128MB)"
)
MODULE = "bench.ingest_bench"
TARGETS = ("postgres", "duckdb")


def run(sizes: dict[str, tuple[int, ...]] | None = None) -> tuple[str, list[Target]]:
    sizes = sizes or {target: tuple(scaled(size) for size in each)
                      for target, each in SIZES.items()}  # fmt: skip
    every = sorted({size for each in sizes.values() for size in each})
    with databases("rss") as dbs:
        started = time.perf_counter()
        largest = f"orders_{every[-1]}"
        create_source_table(dbs, largest, every[-1])
        for size in every[:-1]:
            copy_source_table(dbs, largest, f"orders_{size}", size)
        print(f"  source tables built in {time.perf_counter() - started:.1f} s")
        floor = measure(MODULE, "imports_only", "imports alone", repeats=1)
        results: dict[str, dict[int, object]] = {}
        for target in TARGETS:
            measurements = []
            for size in sizes[target]:
                params = {"mysql_url": dbs.mysql_url, "table": f"orders_{size}", "target": target,
                          "postgres_url": dbs.postgres_url}  # fmt: skip
                if target == "duckdb" and DUCKDB_MEMORY_LIMIT:
                    params["memory_limit"] = DUCKDB_MEMORY_LIMIT
                measurements.append(functools.partial(
                    measure, MODULE, "tributary", f"{size:,} rows", params,
                    name=f"{target}_{size}",
                ))  # fmt: skip
            for size, result in zip(
                sizes[target], in_rounds(measurements, repeats=RSS_REPEATS), strict=True
            ):
                if result.runs[0].report["rows"] != size:
                    raise SystemExit(f"{result.case}: {result.runs[0].report['rows']:,} rows")
                results.setdefault(target, {})[size] = result
    return section(floor, results, every), targets(results, sizes)


def targets(results, sizes) -> list[Target]:
    found = []
    for number, target, name in (("2", "duckdb", "DuckDB"), ("3", "postgres", "PostgreSQL")):
        each = sizes[target]
        at = min(each, key=lambda size: abs(size - scaled(TARGET_ROWS)))
        smallest, largest = results[target][each[0]], results[target][each[-1]]
        found += [
            Target(number, f"{name} load, peak RSS at {at / 1e6:g}M rows",
                   results[target][at].peak_rss_mb, RSS_LIMIT_MB[target], unit="MB",
                   note=f"`{target}_{at}`, whole process"),
            Target(number, f"{name} load, peak RSS {each[0] / 1e6:g}M → {each[-1] / 1e6:g}M rows",
                   largest.peak_rss_mb / smallest.peak_rss_mb, FLAT_LIMIT,
                   note=f"`{largest.case}` / `{smallest.case}`"),
        ]  # fmt: skip
    return found


def spread(result) -> str:
    peaks = [run.peak_rss_mb for run in result.runs]
    return f"{min(peaks):.0f}-{max(peaks):.0f}"


def section(floor, results, every: list[int]) -> str:
    rows = []
    for size in every:
        row = [f"{size:,}"]
        for target in TARGETS:
            r = results[target].get(size)
            smallest = next(iter(results[target].values()))
            row += (
                [f"{r.seconds:.2f}", f"{r.peak_rss_mb:.0f} ({spread(r)})",
                 f"{r.peak_rss_mb - floor.peak_rss_mb:.0f}",
                 ratio(r.peak_rss_mb, smallest.peak_rss_mb)]
                if r else ["-"] * 4
            )  # fmt: skip
        rows.append(row)
    growth = []
    for target in TARGETS:
        first, *_, last = results[target]
        growth.append(
            f"{results[target][last].peak_rss_mb / results[target][first].peak_rss_mb:.2f}x "
            f"into {target} ({first:,} → {last:,} rows)"
        )
    header = ["rows"]
    for target in TARGETS:
        header += [f"{target} wall s", f"{target} peak RSS MB (runs)", f"{target} above imports MB",
                   f"{target} RSS vs smallest"]  # fmt: skip
    return (
        f"{machine_line(RSS_REPEATS)} Batches of "
        f"{BATCH_ROWS:,} rows; DuckDB with `memory_limit` {DUCKDB_LIMIT_SHOWN}; the imports "
        f"alone peak at {floor.peak_rss_mb:.0f} MB; the benchmark's own process peaked at "
        f"{parent_rss_mb():.0f} MB.\n\n"
        + markdown_table(header, rows)
        + "\n\nPeak RSS grows "
        + " and ".join(growth)
        + "."
    )


if __name__ == "__main__":
    print(run()[0])
