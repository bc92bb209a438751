"""Export benchmark: a 2,000,000-row DuckDB table published by Tributary's export path, against
baselines measured in the same run on the same table.

Every case runs in a fresh Python process (the same imports in each), so its peak RSS is its
own: the parent reads it from os.wait4. Wall time is measured in the child around the work.
Measuring, medians and tables are bench/measure.py's, shared by every benchmark.

    python -m bench.export_bench [--rows N] [--no-gcs]      (or: make bench)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

from bench.measure import REPEATS, Result, free_port, markdown_table, measure, ratio

MODULE = "bench.export_bench"
ROWS = 2_000_000
BATCH_ROWS = 100_000
TABLE = "bench.orders"
# The exported table's rows (DuckDB SQL), also what bench/unload_bench.py has Redshift unload.
ORDERS_SELECT = """select
    i::bigint as order_id,
    (i % 50000)::integer as customer_id,
    date '2020-01-01' + (i % 1500)::integer as order_date,
    ((i * 7919) % 10000000 / 100)::decimal(12, 2) as amount,
    ['open', 'paid', 'invoiced', 'cancelled'][(i % 4) + 1] as status,
    'note ' || (i * 31 % 99991)::varchar || ' · Zoë, "q"' as note,
    timestamptz '2020-01-01 00:00:00+00' + to_seconds(i * 13) as changed_at
from range({rows}) as t(i)"""
# (case, what it does, the baseline its ratios are taken against)
CASES = [
    ("imports_only", "the same imports, no work: what every case's RSS starts from", None),
    ("duckdb_read_only", "baseline: the export's read alone (DuckDB batches, discarded)", None),
    ("duckdb_read_only_x4", "baseline: the same read of the table 4 times larger",
     "duckdb_read_only"),
    ("duckdb_copy_parquet", "baseline: DuckDB `COPY ... TO 'x.parquet'` (zstd)", None),
    ("duckdb_copy_csv", "baseline: DuckDB `COPY ... TO 'x.csv'` (header)", None),
    ("arrow_whole_table", "baseline: whole result in memory, then one pyarrow Parquet write",
     None),
    ("export_parquet_local", "Tributary export, Parquet (zstd), local folder",
     "duckdb_copy_parquet"),
    ("export_csv_local", "Tributary export, CSV (RFC 4180), local folder", "duckdb_copy_csv"),
    ("export_parquet_local_x4", "Tributary export, Parquet, a table 4 times larger",
     "export_parquet_local"),
    ("export_parquet_gcs", "Tributary export, Parquet, GCS emulator (gcsfs over HTTP)",
     "duckdb_copy_parquet"),
]  # fmt: skip


def create_tables(path: Path, rows: int) -> None:
    """The table, and one 4 times larger (to see whether memory grows with the table)."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("create schema bench")
        for name, count in ((TABLE, rows), (f"{TABLE}_x4", rows * 4)):
            con.execute(f"create table {name} as {ORDERS_SELECT.format(rows=count)}")


# --- the child: one case ---------------------------------------------------------------------
def case_export(case: str, warehouse: str, out: str, rows: int) -> dict:
    """One run of `case` (run by bench.measure in a fresh process); its output is removed
    after the measurement."""
    scratch = Path(out)
    scratch.mkdir(parents=True)
    try:
        return _export(case, Path(warehouse), scratch, rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _export(case: str, warehouse: Path, out: Path, rows: int) -> dict:
    import duckdb
    import pyarrow.parquet as pq

    from tributary.config.models import ExportConfig
    from tributary.exports import open_export_store, run_export
    from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

    sql = f"select * from {TABLE}"
    started = time.perf_counter()
    if case == "imports_only":
        exported_rows = 0
    elif case.startswith("duckdb_read_only"):
        if case.endswith("_x4"):
            sql = f"select * from {TABLE}_x4"
        exported_rows = 0
        with DuckDBWarehouse(warehouse) as wh, wh.read(sql, batch_rows=BATCH_ROWS) as batches:
            for batch in batches:
                exported_rows += batch.num_rows
    elif case.startswith("duckdb_copy"):
        kind = "parquet" if case.endswith("parquet") else "csv"
        options = "format parquet, compression zstd" if kind == "parquet" else "format csv"
        with duckdb.connect(str(warehouse), read_only=True) as con:
            con.execute(f"copy ({sql}) to '{out / ('orders.' + kind)}' ({options})")
        exported_rows = rows
    elif case == "arrow_whole_table":
        with duckdb.connect(str(warehouse), read_only=True) as con:
            table = con.sql(sql).to_arrow_table()
        pq.write_table(table, out / "orders.parquet", compression="zstd")
        exported_rows = table.num_rows
    else:
        if case.endswith("_x4"):
            sql = f"select * from {TABLE}_x4"
        export = ExportConfig.model_validate(
            {
                "name": "orders",
                "query": sql,
                "depends_on": ["orders"],
                "format": "csv" if "_csv_" in case else "parquet",
            }
        )
        url = f"gs://{os.environ['BENCH_BUCKET']}/exports" if case.endswith("_gcs") else str(out)
        store = open_export_store(url)
        with DuckDBWarehouse(warehouse) as wh:
            outcome = run_export(
                export,
                sql=sql,
                day=date(2024, 5, 1),
                warehouse=wh,
                store=store,
                asset="export/orders",
                batch_rows=BATCH_ROWS,
            )
        exported_rows = outcome.row_count
    return {"seconds": time.perf_counter() - started, "rows": exported_rows}


# --- the parent: every case, the README table ------------------------------------------------
def measure_case(case: str, warehouse: Path, workdir: Path, rows: int, env: dict) -> Result:
    """The median of REPEATS runs, each in a fresh process (bench/measure.py)."""
    description, baseline = next((d, b) for c, d, b in CASES if c == case)
    params = {"case": case, "warehouse": str(warehouse), "out": str(workdir / case), "rows": rows}
    return measure(MODULE, "export", description, params, baseline=baseline, env=env, name=case)


def start_emulator() -> tuple[subprocess.Popen, str] | None:
    binary = Path(sys.executable).with_name("gcp-storage-emulator")
    if not binary.exists():
        return None
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(binary), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q",
         "--default-bucket", "bench"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b/bench", timeout=1):
                return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.terminate()
    return None


def table_markdown(results: list[Result]) -> str:
    by_case = {r.case: r for r in results}
    idle = by_case["imports_only"].peak_rss_mb
    rows = []
    for r in results:
        base = by_case.get(r.baseline) if r.baseline else None
        rows.append(
            [
                f"{r.description} (`{r.case}`)",
                f"{r.runs[0].report['rows']:,}",
                f"{r.seconds:.2f}",
                f"{r.peak_rss_mb:.0f}",
                f"{r.peak_rss_mb - idle:.0f}",
                f"{ratio(r.seconds, base.seconds)} `{base.case}`" if base else "-",
                ratio(r.peak_rss_mb, base.peak_rss_mb) if base else "-",
            ]
        )
    return markdown_table(
        ["case", "rows", "wall s", "peak RSS MB", "above imports MB", "time vs baseline",
         "RSS vs baseline"],
        rows,
    )  # fmt: skip


def run(rows: int = ROWS, gcs: bool = True) -> str:
    """Every case; returns the Markdown section for bench/README.md."""
    load = os.getloadavg()[0]  # a shared machine makes times noisy: say how busy it was
    workdir = Path(tempfile.mkdtemp(prefix="tributary-bench-"))
    emulator = start_emulator() if gcs else None
    env = dict(os.environ, GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false", BENCH_BUCKET="bench")
    try:
        warehouse = workdir / "warehouse.duckdb"
        started = time.perf_counter()
        # In a child: the parent stays small, and a child's peak RSS never counts the parent's
        # memory (subprocess starts children with vfork, whose peak is the parent's).
        subprocess.run(
            [sys.executable, "-m", "bench.export_bench", "--create", str(warehouse),
             "--rows", str(rows)],
            check=True,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        print(f"tables of {rows:,} and {rows * 4:,} rows built in {elapsed:.1f} s")
        results = []
        for case, _, _ in CASES:
            if case.endswith("_gcs"):
                if emulator is None:
                    print(f"{case}: skipped (no gcp-storage-emulator)")
                    continue
                env["STORAGE_EMULATOR_HOST"] = emulator[1]
            results.append(measure_case(case, warehouse, workdir, rows, env))
        size = warehouse.stat().st_size / 2**20
    finally:
        if emulator is not None:
            emulator[0].terminate()
            emulator[0].wait()
        shutil.rmtree(workdir, ignore_errors=True)
    return (
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores (load average "
        f"{load:.1f} at the start), Python "
        f"{sys.version.split()[0]}; table `{TABLE}`: {rows:,} rows, 7 columns (bigint, integer, "
        f"date, decimal(12,2), two texts, timestamptz), DuckDB file {size:.0f} MB; "
        f"batches of {BATCH_ROWS:,} rows, files of up to 1,000,000 rows. Each figure is the "
        f"median of {REPEATS} runs.\n\n" + table_markdown(results)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--no-gcs", action="store_true")
    parser.add_argument("--create", type=Path, help="build the tables in this DuckDB file")
    args = parser.parse_args()
    if args.create:
        create_tables(args.create, args.rows)
    else:
        print(run(args.rows, gcs=not args.no_gcs))


if __name__ == "__main__":
    main()
