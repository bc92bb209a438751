"""Peak RSS across table sizes: the same MariaDB table shape at 1,000,000, 2,000,000 and
8,000,000 rows, each loaded by Tributary (`ingest_table`, the ingest benchmark's case) into
PostgreSQL and into DuckDB (`warehouse.memory_limit` unset: a load's own 128MB pool).
Extraction reads bounded batches and the load streams the landed parts, so memory should
stay flat however large the table is: the ratio to the smallest table says whether it does.
Baseline: the imports alone, in the same run.
"""

from __future__ import annotations

import time

from bench.ingest_bench import BATCH_ROWS
from bench.measure import machine_line, markdown_table, measure, parent_rss_mb, ratio
from bench.servers import copy_source_table, create_source_table, databases

SIZES = (1_000_000, 2_000_000, 8_000_000)
# DuckDB loads with `warehouse.memory_limit` when set (None: unset, as in a default
# platform.yaml, where a load bounds its buffer pool at warehouse.duckdb.LOAD_MEMORY_LIMIT).
DUCKDB_MEMORY_LIMIT = None
MODULE = "bench.ingest_bench"
TARGETS = ("postgres", "duckdb")


def run(sizes: tuple[int, ...] = SIZES) -> str:
    with databases("rss") as dbs:
        started = time.perf_counter()
        largest = f"orders_{max(sizes)}"
        create_source_table(dbs, largest, max(sizes))
        for size in sizes:
            if size != max(sizes):
                copy_source_table(dbs, largest, f"orders_{size}", size)
        print(f"  source tables built in {time.perf_counter() - started:.1f} s")
        floor = measure(MODULE, "imports_only", "imports alone")
        results: dict[str, list] = {}
        for target in TARGETS:
            for size in sizes:
                params = {"mysql_url": dbs.mysql_url, "table": f"orders_{size}", "target": target,
                          "postgres_url": dbs.postgres_url}  # fmt: skip
                if target == "duckdb" and DUCKDB_MEMORY_LIMIT:
                    params["memory_limit"] = DUCKDB_MEMORY_LIMIT
                result = measure(MODULE, "tributary", f"{size:,} rows", params,
                                 name=f"{target}_{size}")  # fmt: skip
                if result.runs[0].report["rows"] != size:
                    raise SystemExit(f"{result.case}: {result.runs[0].report['rows']:,} rows")
                results.setdefault(target, []).append(result)
    return section(floor, results, sizes)


def section(floor, results: dict[str, list], sizes: tuple[int, ...]) -> str:
    rows = []
    for index, size in enumerate(sizes):
        row = [f"{size:,}"]
        for target in TARGETS:
            r, smallest = results[target][index], results[target][0]
            row += [
                f"{r.seconds:.2f}",
                f"{r.peak_rss_mb:.0f}",
                f"{r.peak_rss_mb - floor.peak_rss_mb:.0f}",
                ratio(r.peak_rss_mb, smallest.peak_rss_mb),
            ]
        rows.append(row)
    growth = {
        target: results[target][-1].peak_rss_mb / results[target][0].peak_rss_mb
        for target in TARGETS
    }
    header = ["rows"]
    for target in TARGETS:
        header += [f"{target} wall s", f"{target} peak RSS MB", f"{target} above imports MB",
                   f"{target} RSS vs smallest"]  # fmt: skip
    return (
        f"{machine_line()} Batches of {BATCH_ROWS:,} rows; the imports alone peak at "
        f"{floor.peak_rss_mb:.0f} MB; the benchmark's own process peaked at "
        f"{parent_rss_mb():.0f} MB.\n\n"
        + markdown_table(header, rows)
        + f"\n\nFrom {sizes[0]:,} to {sizes[-1]:,} rows ({sizes[-1] // sizes[0]}x the rows), "
        + "peak RSS grows "
        + " and ".join(f"{growth[t]:.2f}x into {t}" for t in TARGETS)
        + "."
    )


if __name__ == "__main__":
    print(run())
