"""dlt as a bench-only baseline for MariaDB → PostgreSQL (issue 15, target 1): never a runtime
dependency of Tributary, not in requirements.lock.

The bench installs dlt into a venv of its own (bench/.dlt-venv, git-ignored) on first use,
with the packages its fastest documented path needs: `dlt[postgres,parquet,sql-database]`
(psycopg2, pyarrow, SQLAlchemy for the table's reflection), connectorx (the extraction
backend), adbc-driver-postgresql (dlt loads Parquet into PostgreSQL through ADBC when it is
installed) and pymysql (the SQLAlchemy dialect). Shared packages are pinned to
requirements.lock's versions (`-c`), so connectorx and pyarrow are the ones Tributary uses.

The case runs in that venv's Python (`python -m bench.measure bench.dlt_baseline case_dlt`
from the repository root: this module imports nothing from the main venv), timed around
`pipeline.run` alone, as Tributary's cases are timed around their load.

Configurations tried: CONFIGS (`python -m bench.dlt_baseline [rows]` measures each once on a
fresh table); BEST is the fastest here (bench/README.md gives the figures), the one
`make bench` runs.
If the venv cannot be made (no package index, a failed install) the bench reports dlt as not
measured, with the reason, and goes on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("BENCH_DLT_VENV", ROOT / "bench" / ".dlt-venv"))
PACKAGES = ["dlt[postgres,parquet,sql-database]==1.31.0", "connectorx",
            "adbc-driver-postgresql", "pymysql"]  # fmt: skip
INSTALL_TIMEOUT = 900  # seconds; pip's own timeouts keep an unreachable index from hanging

# name -> (sql_table backend, backend_kwargs, loader_file_format)
CONFIGS = {
    "connectorx_arrow_stream_parquet": ("connectorx", {"return_type": "arrow_stream"}, "parquet"),
    "connectorx_parquet": ("connectorx", {}, "parquet"),
    "pyarrow_parquet": ("pyarrow", {}, "parquet"),
    "connectorx_arrow_stream_csv": ("connectorx", {"return_type": "arrow_stream"}, "csv"),
}
BEST = "connectorx_arrow_stream_parquet"
CHUNK_ROWS = 100_000
# No usage telemetry from the bench (as dbt's is turned off for the overhead benchmark).
ENV = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}


class DltUnavailable(Exception):
    """dlt could not be installed or run here; str() says why."""


def venv_python() -> Path:
    """The dlt venv's Python, made (and the packages installed) on first use."""
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    wanted = "\n".join(PACKAGES)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"  installing dlt into {VENV} (first use; about 2 minutes)", flush=True)
    if not python.exists():
        _install([sys.executable, "-m", "venv", str(VENV)], "creating the venv")
    _install(
        [str(python), "-m", "pip", "install", "--quiet", "--retries", "1", "--timeout", "30",
         "-c", str(ROOT / "requirements.lock"), *PACKAGES],
        "pip install",
    )  # fmt: skip
    marker.write_text(wanted)
    return python


def _install(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DltUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "ERROR" in line] or [
            (done.stderr.strip().splitlines() or ["no output"])[-1]
        ]
        raise DltUnavailable(f"{what} failed: {errors[-1].strip()[:200]}")


# --- the child (in the dlt venv) ---------------------------------------------------------------
def case_dlt(mysql_url: str, postgres_url: str, table: str, config: str = BEST) -> dict:
    """One load of `table` by dlt into a fresh dataset of the PostgreSQL database, replacing."""
    import dlt
    from dlt.sources.sql_database import sql_table

    backend, backend_kwargs, file_format = CONFIGS[config]
    pipelines = tempfile.mkdtemp(prefix="tributary-bench-dlt-")
    try:
        source = sql_table(
            credentials=mysql_url.replace("mysql://", "mysql+pymysql://", 1),
            table=table,
            backend=backend,
            backend_kwargs=backend_kwargs,
            chunk_size=CHUNK_ROWS,
        )
        pipeline = dlt.pipeline(
            pipeline_name="bench_dlt",
            pipelines_dir=pipelines,
            # Trust authentication: dlt requires a password, the server ignores it.
            destination=dlt.destinations.postgres(
                credentials=postgres_url.replace(
                    "postgresql://postgres@", "postgresql://postgres:trust@"
                )
            ),
            dataset_name=f"dlt_{config}",
            progress="log" if os.environ.get("BENCH_DLT_PROGRESS") else None,
        )
        started = time.perf_counter()
        info = pipeline.run(source, write_disposition="replace", loader_file_format=file_format)
        seconds = time.perf_counter() - started
        info.raise_on_failed_jobs()
        with pipeline.sql_client() as client:
            rows = client.execute_sql(f"select count(*) from {table}")[0][0]
    finally:
        shutil.rmtree(pipelines, ignore_errors=True)
    return {"seconds": seconds, "rows": rows, "config": config}


# --- the parent --------------------------------------------------------------------------------
def measure_dlt(dbs, table: str, config: str = BEST, **kwargs):
    """The median of dlt's runs of `config` (a bench.measure Result), or DltUnavailable."""
    from bench.measure import measure

    python = venv_python()
    backend, backend_kwargs, file_format = CONFIGS[config]
    how = f"backend={backend!r}" + (f" {backend_kwargs}" if backend_kwargs else "")
    try:
        return measure(
            "bench.dlt_baseline", "dlt",
            f"baseline: dlt 1.31 `sql_table({how})` → postgres, {file_format}, replace",
            {"mysql_url": dbs.mysql_url, "postgres_url": dbs.postgres_url, "table": table,
             "config": config},
            python=str(python), cwd=ROOT, name=f"dlt_{config}", env=ENV, **kwargs,
        )  # fmt: skip
    except SystemExit as exc:  # the child failed: its output was printed
        raise DltUnavailable(f"the dlt run failed ({exc})") from None


def compare(rows: int) -> None:
    """Each configuration once on a fresh `rows`-row table, the fastest first."""
    from bench.servers import create_source_table, databases

    with databases("dlt") as dbs:
        create_source_table(dbs, "orders", rows)
        results = [measure_dlt(dbs, "orders", config, repeats=1) for config in CONFIGS]
    for r in sorted(results, key=lambda r: r.seconds):
        print(f"{r.case:<40} {r.seconds:7.2f} s {r.peak_rss_mb:6.0f} MB")


if __name__ == "__main__":
    compare(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000)
