"""Ingest: a 2,000,000-row MariaDB table loaded by Tributary (`tributary.ingest.ingest_table`:
SqlSource → Parquet landing → warehouse) into PostgreSQL and into DuckDB, against the pipe
limit measured on the same table in the same run:

    mariadb --quick -B -N -e 'select * from t' | psql -c '\\copy t from stdin'

The pipe is the floor for moving rows between these two servers: no types beyond text, no
landing copy, no transaction around a swap. Tributary does more per row (Arrow types, a
Parquet audit copy of every load, a staging table and one transaction that replaces the raw
table, watermark and load log); the ratio says what that costs.

dlt's best configuration (bench/dlt_baseline.py, in a venv of its own) loads the same table
into the same PostgreSQL database in the same run: issue 15's target 1 is to be faster.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.dlt_baseline import DltUnavailable, measure_dlt
from bench.measure import (
    Target,
    in_rounds,
    machine_line,
    markdown_table,
    measure,
    measure_command,
    paired_ratio,
    parent_rss_mb,
    ratio,
    scaled,
)
from bench.servers import (
    MARIADB,
    PG_COLUMNS,
    PSQL,
    Databases,
    create_source_table,
    databases,
    psql,
)

ROWS = 2_000_000  # issue 15's targets are stated at 2M rows
BATCH_ROWS = 100_000
TABLE = "orders"
MODULE = "bench.ingest_bench"


# --- the child ---------------------------------------------------------------------------------
def _imports():
    """What every Tributary case imports (and imports_only imports, to show the floor)."""
    from tributary.config.models import SourceConfig
    from tributary.ingest import ingest_table
    from tributary.landing import LandingStore
    from tributary.sources import open_source
    from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse
    from tributary.warehouse.postgres.warehouse import PostgresWarehouse

    return SourceConfig, ingest_table, LandingStore, open_source, DuckDBWarehouse, PostgresWarehouse


def case_imports_only() -> dict:
    _imports()
    return {"seconds": 0.0, "rows": 0}


def case_read_only(mysql_url: str, table: str, batch_rows: int = BATCH_ROWS) -> dict:
    """Tributary's extraction alone (catalog, typed query, connectorx batches), discarded."""
    SourceConfig, _, _, open_source, _, _ = _imports()
    source = SourceConfig.model_validate(
        {"name": "bench", "kind": "mysql", "connection": {"url": mysql_url},
         "tables": [{"name": table, "primary_key": ["id"]}]}
    )  # fmt: skip
    started = time.perf_counter()
    extract = open_source(source, state_dir=Path(".")).read(source.tables[0], batch_rows=batch_rows)
    rows = sum(batch.num_rows for batch in extract.batches)
    return {"seconds": time.perf_counter() - started, "rows": rows}


def case_tributary(
    mysql_url: str,
    table: str,
    target: str,
    postgres_url: str | None = None,
    batch_rows: int = BATCH_ROWS,
    memory_limit: str | None = None,
) -> dict:
    """One full load of `table`: extract → land (Parquet, zstd) → load into the warehouse
    (DuckDB with `memory_limit`, as `warehouse.memory_limit` sets it, if given)."""
    SourceConfig, ingest_table, LandingStore, open_source, DuckDBWarehouse, PostgresWarehouse = (
        _imports()
    )
    source = SourceConfig.model_validate(
        {"name": "bench", "kind": "mysql", "connection": {"url": mysql_url},
         "tables": [{"name": table, "primary_key": ["id"], "mode": "full"}]}
    )  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="tributary-bench-ingest-"))
    try:
        warehouse = (
            DuckDBWarehouse(scratch / "warehouse.duckdb", memory_limit=memory_limit)
            if target == "duckdb"
            else PostgresWarehouse(postgres_url)
        )
        started = time.perf_counter()
        with warehouse:
            load = ingest_table(
                source,
                source.tables[0],
                reader=open_source(source, state_dir=scratch),
                landing=LandingStore(str(scratch / "landing")),
                warehouse=warehouse,
                batch_rows=batch_rows,
            )
        seconds = time.perf_counter() - started
        landed = sum(f.bytes for f in load.manifest.files)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "seconds": seconds,
        "rows": load.outcome.rows_in_table,
        "landed_mb": landed / 2**20,
        "parts": len(load.manifest.files),
    }


# --- the parent --------------------------------------------------------------------------------
def pipe_command(dbs: Databases, table: str, into: str) -> list[str]:
    """The pipe limit: `table` from MariaDB as text into PostgreSQL's table `into`."""
    select = f"set time_zone = '+00:00'; select * from {table}"
    source = " ".join([*MARIADB, "--quick", "-B", "-N", "-D", dbs.name, "-e", f'"{select}"'])
    copy = f"\\copy {into} from stdin with (null 'NULL')"
    target = " ".join([*PSQL, "-d", dbs.name, "-c", f'"{copy}"'])
    return ["bash", "-o", "pipefail", "-c", f"PGTZ=UTC {source} | PGTZ=UTC {target}"]


def run(rows: int | None = None) -> tuple[str, list[Target]]:
    rows = rows or scaled(ROWS)
    with databases("ingest") as dbs:
        started = time.perf_counter()
        create_source_table(dbs, TABLE, rows)
        print(
            f"  source table {TABLE}: {rows:,} rows built in {time.perf_counter() - started:.1f} s"
        )
        params = {"mysql_url": dbs.mysql_url, "table": TABLE}
        env = dict(os.environ)
        # Once each: the floor's RSS hardly varies, and no target reads the extraction alone
        # (make bench has 25 minutes).
        floor = measure(MODULE, "imports_only", "the same imports, no work: the RSS floor",
                        env=env, repeats=1)  # fmt: skip
        dlt = measure_dlt_or_reason(dbs, TABLE)
        read_only = measure(
            MODULE, "read_only",
            "baseline: Tributary's extraction alone (connectorx Arrow batches, discarded)",
            params, baseline="pipe", env=env, repeats=1,
        )  # fmt: skip
        # The pipe and the loads that targets 1 and 2 compare with it, in rounds: the machine's
        # load drifts over minutes, and each target is the median of the rounds' ratios.
        into = f"{TABLE}_piped"
        psql(f"create table {into} {PG_COLUMNS}", dbs.name)
        pipe, postgres, duckdb = in_rounds([
            functools.partial(
                measure_command, pipe_command(dbs, TABLE, into), "pipe",
                "baseline: `mariadb --quick -B | psql \\copy` (text, no types, no landing copy)",
                before_each=lambda: psql(f"truncate {into}", dbs.name),
            ),
            functools.partial(
                measure, MODULE, "tributary", "Tributary → PostgreSQL (COPY, one transaction)",
                {**params, "target": "postgres", "postgres_url": dbs.postgres_url},
                baseline="pipe", env=env, name="tributary_postgres",
            ),
            functools.partial(
                measure, MODULE, "tributary",
                "Tributary → DuckDB (written as it lands, one transaction)",
                {**params, "target": "duckdb"}, baseline="pipe", env=env,
                name="tributary_duckdb",
            ),
        ])  # fmt: skip
        copied = int(psql(f"select count(*) from {into}", dbs.name))
        if copied != rows:
            raise SystemExit(f"the pipe copied {copied:,} rows, expected {rows:,}")
        for piped in pipe.runs:
            piped.report["rows"] = rows
        results = [floor, pipe, *([] if isinstance(dlt, str) else [dlt]), read_only, postgres,
                   duckdb]  # fmt: skip
        for result in results[2:]:
            if result.runs[0].report["rows"] != rows:
                raise SystemExit(f"{result.case}: {result.runs[0].report['rows']:,} rows loaded")
    return section(results, rows, dlt), targets(results, dlt)


def measure_dlt_or_reason(dbs: Databases, table: str):
    """dlt's best configuration on the table (its Result), or why it was not measured."""
    try:
        result = measure_dlt(dbs, table)
        result.baseline = "pipe"
        return result
    except DltUnavailable as exc:
        print(f"  dlt not measured: {exc}", flush=True)
        return f"not measured: {exc}"


def targets(results, dlt) -> list[Target]:
    """Issue 15's targets 1 and 2 (time): work seconds (imports excluded, as every case here is
    timed) against the pipe's whole process (a shell, two clients: nothing to import), the
    median of the rounds' ratios (the pipe and the loads ran in rounds)."""
    by_case = {r.case: r for r in results}
    pipe, postgres, duckdb = (by_case[c] for c in ("pipe", "tributary_postgres",
                                                   "tributary_duckdb"))  # fmt: skip
    found = [
        Target("1", "into PostgreSQL, time vs the pipe", paired_ratio(postgres, pipe), 1.3,
               note=f"`tributary_postgres` / `pipe`, {pipe.runs[0].report['rows']:,} rows, "
                    "rounds' median"),
        Target("1", "into PostgreSQL, whole process vs the pipe",
               paired_ratio(postgres, pipe, lambda run: run.process_seconds), 1.3, info=True,
               note="the same, imports and interpreter start included"),
    ]  # fmt: skip
    if isinstance(dlt, str):
        found.append(Target("1", "into PostgreSQL, time vs dlt's best", None, 1.0, note=dlt))
    else:
        found += [
            Target("1", "into PostgreSQL, time vs dlt's best", postgres.seconds / dlt.seconds,
                   1.0, note=f"`tributary_postgres` / `{dlt.case}` (work, imports excluded)"),
            Target("1", "dlt's best, time vs the pipe", dlt.seconds / pipe.seconds, 1.3,
                   info=True, note=f"`{dlt.case}` / `pipe` (for comparison)"),
        ]  # fmt: skip
    found.append(
        Target("2", "into DuckDB, time vs the pipe", paired_ratio(duckdb, pipe), 1.2,
               note="`tributary_duckdb` / `pipe`, rounds' median")
    )  # fmt: skip
    return found


def section(results, rows: int, dlt=None) -> str:
    by_case = {r.case: r for r in results}
    floor = by_case["imports_only"].peak_rss_mb
    table_rows = []
    for r in results:
        base = by_case.get(r.baseline) if r.baseline else None
        count = r.runs[0].report.get("rows", 0)
        table_rows.append(
            [
                f"{r.description} (`{r.case}`)",
                f"{count:,}",
                f"{r.seconds:.2f}",
                f"{count / r.seconds:,.0f}" if count and r.seconds else "-",
                f"{r.peak_rss_mb:.0f}",
                f"{r.peak_rss_mb - floor:.0f}" if r.case.startswith(("tributary", "read")) else "-",
                ratio(r.seconds, base.seconds) if base else "-",
                ratio(r.peak_rss_mb, base.peak_rss_mb) if base else "-",
            ]
        )
    landed = by_case["tributary_postgres"].runs[0].report
    return (
        f"{machine_line()} Table `{TABLE}`: {rows:,} rows, 10 columns (bigint, 2 int, 3 "
        f"decimal, varchar, text, datetime(6), timestamp(6)), batches of {BATCH_ROWS:,} rows; "
        f"landed as {landed['parts']} Parquet parts, {landed['landed_mb']:.0f} MB. The pipe's "
        f"RSS is its largest process; `imports_only` and `read_only` are run once; the "
        f"benchmark's own process peaked at "
        f"{parent_rss_mb():.0f} MB."
        + (f" dlt: {dlt}." if isinstance(dlt, str) else "")
        + "\n\n"
        + markdown_table(
            [
                "case",
                "rows",
                "wall s",
                "rows/s",
                "peak RSS MB",
                "above imports MB",
                "time vs pipe",
                "RSS vs pipe",
            ],
            table_rows,
        )
    )


if __name__ == "__main__":
    print(run()[0])
