"""The overhead Dagster and dbt add per run, on the demo project (embedded DuckDB warehouse,
SQLite demo sources: no server needed), built once in a temporary state dir.

Ingest: one small table (raw/ops/products) loaded by calling `ingest_table` directly, against
materializing its raw asset through Dagster: in process (`execute_in_process` of the implicit
asset job on a SQLite-backed instance, as `make demo` uses) and as a CLI process
(`dg launch --assets`, the command `make demo` and the README give users).

dbt: one mart (marts/dim_customer, a table over a staging view) built by its compiled SQL run
directly in DuckDB, against `dbt run --select` and `dbt build --select` (the model and its 4
tests) on the command line, and against materializing its dbt asset through Dagster (which
runs `dbt build` for it through dagster-dbt), in process and as a CLI process.

Work seconds are measured in the child around the run alone (imports and definitions
excluded); process seconds are the whole process, as a user running the command waits.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.measure import (
    Target,
    ensure_manifest,
    in_rounds,
    machine_line,
    markdown_table,
    measure,
    measure_command,
    paired_ratio,
    ratio,
    workdir,
)

MODULE = "bench.overhead_bench"
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SOURCE, TABLE = "ops", "products"
RAW_KEY = f"raw/{SOURCE}/{TABLE}"
MODEL = "dim_customer"
MODEL_KEY = f"marts/{MODEL}"


# --- the child ---------------------------------------------------------------------------------
def case_ingest_direct() -> dict:
    from tributary.config.loader import load_project
    from tributary.ingest import ingest_table
    from tributary.landing import LandingStore
    from tributary.sources import open_source
    from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

    project = load_project()
    source = project.source(SOURCE)
    table = next(t for t in source.tables if t.name == TABLE)
    started = time.perf_counter()
    with DuckDBWarehouse(project.warehouse.path) as warehouse:
        load = ingest_table(
            source,
            table,
            reader=open_source(source, state_dir=project.state_dir),
            landing=LandingStore(project.landing_url),
            warehouse=warehouse,
            batch_rows=project.platform.batch_rows,
        )
    return {"seconds": time.perf_counter() - started, "rows": load.manifest.row_count}


def case_dagster_in_process(key: str) -> dict:
    import dagster as dg

    from tributary.config.loader import load_project
    from tributary.defs import build_definitions

    started = time.perf_counter()
    defs = build_definitions(load_project())
    job = defs.resolve_implicit_global_asset_job_def()
    built = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            asset_selection=[dg.AssetKey(key.split("/"))], instance=instance
        )
    finished = time.perf_counter()
    if not result.success:
        raise SystemExit(f"materializing {key} failed")
    checks = len(result.get_asset_check_evaluations())
    return {"seconds": finished - built, "definitions": built - started, "checks": checks}


def case_sql_direct(warehouse: str, relation: str, sql: str) -> dict:
    import duckdb

    started = time.perf_counter()
    with duckdb.connect(warehouse) as con:
        con.execute(f"create or replace table {relation} as {sql}")
        rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
    return {"seconds": time.perf_counter() - started, "rows": rows}


# --- the parent --------------------------------------------------------------------------------
def project_env(tmp: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TRIBUTARY_") or key == "TRIBUTARY_REQUIRE_SERVICES"
    }
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    env.update(
        TRIBUTARY_STATE_DIR=str(tmp / "state"),
        DAGSTER_HOME=str(home),
        TRIBUTARY_DBT_TARGET="duckdb",
        TRIBUTARY_DUCKDB_PATH=str(tmp / "state" / "warehouse.duckdb"),
        # dagster-dbt turns dbt's usage statistics off for its runs: the same for dbt's own.
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        # dagster-dbt starts each run from the partial parse under DBT_TARGET_PATH: the one dbt
        # made here for this warehouse (as `make manifest` does for the project's), not the
        # project's, which names another DuckDB file and would make every run parse it all.
        DBT_TARGET_PATH=str(tmp / "dbt_target"),
    )
    return env


def dbt_command(command: str, tmp: Path) -> list[str]:
    project = ROOT / "dbt_project"
    return [str(BIN / "dbt"), command, "--select", MODEL, "--project-dir", str(project),
            "--profiles-dir", str(project), "--target-path", str(tmp / "dbt_target"),
            "--log-path", str(tmp / "dbt_logs"), "--quiet"]  # fmt: skip


def compiled_model(tmp: Path, env: dict) -> tuple[str, str]:
    """(relation, compiled SQL) of the model, from `dbt compile` against the same warehouse."""
    subprocess.run(dbt_command("compile", tmp), env=env, check=True, stdout=subprocess.DEVNULL)
    manifest = json.loads((tmp / "dbt_target" / "manifest.json").read_text())
    node = manifest["nodes"][f"model.tributary.{MODEL}"]
    return f'"{node["schema"]}"."{node["alias"]}"', node["compiled_code"]


def run() -> tuple[str, list[Target]]:
    ensure_manifest()
    with workdir("overhead") as tmp:
        env = project_env(tmp)
        # dg finds the project from the working directory and checks that its venv is active
        # (the Makefile runs it the same way).
        dg_env = {**env, "VIRTUAL_ENV": str(BIN.parent)}
        dagster = [str(BIN / "dg"), "launch"]
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tributary_demo", "generate"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        # The whole graph once through the demo's definitions (its Salesforce org replayed);
        # what is measured below runs through the product's own.
        demo = [*dagster, "--assets", "*", "-m", "tributary_demo.definitions"]
        subprocess.run(demo, env=dg_env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        relation, sql = compiled_model(tmp, env)
        print(f"  demo project built in {time.perf_counter() - started:.1f} s")

        ingest = [
            measure(MODULE, "ingest_direct", "`ingest_table` called directly", env=env),
            measure(
                MODULE, "dagster_in_process", "Dagster: `execute_in_process` of the raw asset",
                {"key": RAW_KEY}, env=env, baseline="ingest_direct", name="ingest_dagster",
            ),
            measure_command(
                [*dagster, "--assets", RAW_KEY], "ingest_dagster_cli",
                f"Dagster CLI: `dg launch --assets {RAW_KEY}`",
                env=dg_env, cwd=ROOT, baseline="ingest_direct",
            ),
        ]  # fmt: skip
        transform = [
            measure(
                MODULE, "sql_direct", "the model's compiled SQL run directly in DuckDB",
                {"warehouse": env["TRIBUTARY_DUCKDB_PATH"], "relation": relation, "sql": sql},
                env=env,
            ),
            measure_command(
                dbt_command("run", tmp), "dbt_run_cli", f"`dbt run --select {MODEL}`",
                env=env, baseline="sql_direct",
            ),
            # Target 4's sides in rounds: its figure is the median of the rounds' ratios.
            *in_rounds([
                functools.partial(
                    measure_command, dbt_command("build", tmp), "dbt_build_cli",
                    f"`dbt build --select {MODEL}` (the model and its tests)",
                    env=env, baseline="sql_direct",
                ),
                functools.partial(
                    measure, MODULE, "dagster_in_process",
                    "Dagster: `execute_in_process` of the dbt asset (`dbt build` through "
                    "dagster-dbt)",
                    {"key": MODEL_KEY}, env=env, baseline="dbt_build_cli", name="dbt_dagster",
                ),
                functools.partial(
                    measure_command, [*dagster, "--assets", MODEL_KEY], "dbt_dagster_cli",
                    f"Dagster CLI: `dg launch --assets {MODEL_KEY}`",
                    env=dg_env, cwd=ROOT, baseline="dbt_build_cli",
                ),
            ]),
        ]  # fmt: skip
    return section(ingest, transform), targets(transform)


def targets(transform) -> list[Target]:
    """Issue 15's target 4, measured as the issue measured its 4.1x (4.13x here on 2026-11-23):
    the dbt asset's run through Dagster in process (the run alone: instance, run, events and the
    `dbt build` subprocess, after the imports and definitions) against the `dbt build --select`
    process. The `dg launch --assets` process, which also imports Dagster and loads the
    definitions before its run, is reported beside it."""
    by_case = {r.case: r for r in transform}
    build, cli, in_process = (
        by_case["dbt_build_cli"],
        by_case["dbt_dagster_cli"],
        by_case["dbt_dagster"],
    )
    return [
        Target("4", "one dbt model through Dagster (the run, in process) vs `dbt build --select`",
               paired_ratio(in_process, build), 1.5,
               note="`dbt_dagster` work s / `dbt_build_cli` process s, rounds' median"),
        Target("4", "the same as a CLI process (`dg launch`) vs `dbt build --select`",
               paired_ratio(cli, build, lambda run: run.process_seconds), 1.5, info=True,
               note="`dbt_dagster_cli` / `dbt_build_cli`, whole processes, rounds' median"),
    ]  # fmt: skip


def rows_for(results) -> list[list[str]]:
    by_case = {r.case: r for r in results}
    rows = []
    for r in results:
        base = by_case.get(r.baseline)
        in_process = r.case not in ("ingest_dagster_cli", "dbt_run_cli", "dbt_build_cli",
                                    "dbt_dagster_cli")  # fmt: skip
        rows.append(
            [
                f"{r.description} (`{r.case}`)",
                f"{r.seconds:.2f}" if in_process else "-",
                f"{r.process_seconds:.2f}",
                f"{r.peak_rss_mb:.0f}",
                f"{r.seconds - base.seconds:+.2f}" if base and in_process else "-",
                f"{r.process_seconds - base.process_seconds:+.2f} vs `{base.case}`"
                if base
                else "-",
                ratio(r.process_seconds, base.process_seconds) if base else "-",
            ]
        )
    return rows


def section(ingest, transform) -> str:
    header = ["how", "work s", "process s", "peak RSS MB", "work added s", "process added s",
              "process vs baseline"]  # fmt: skip
    by_case = {r.case: r for r in ingest + transform}
    direct, dagster = by_case["ingest_direct"], by_case["ingest_dagster"]
    sql, dbt_run = by_case["sql_direct"], by_case["dbt_run_cli"]
    dbt_build, dbt_dagster = by_case["dbt_build_cli"], by_case["dbt_dagster"]
    rows = direct.runs[0].report["rows"]
    cli = by_case["ingest_dagster_cli"]
    return (
        f"{machine_line()}\n\n"
        f"**Ingest** of `{RAW_KEY}` ({rows} rows, full load into DuckDB). Dagster's "
        f"definitions take {dagster.median('definitions'):.2f} s to build in the process "
        f"(not in `work s`).\n\n"
        + markdown_table(header, rows_for(ingest))
        + f"\n\n**dbt** model `{MODEL_KEY}` (a table; `dbt build` also runs its "
        f"{dbt_dagster.runs[0].report['checks']} tests, which Dagster reports as asset "
        f"checks).\n\n"
        + markdown_table(header, rows_for(transform))
        + f"\n\nPer run, Dagster adds {dagster.seconds - direct.seconds:.2f} s to a table "
        f"load in process, and its CLI {cli.process_seconds - direct.process_seconds:.2f} s "
        f"to a process that loads the table directly; dbt adds "
        f"{dbt_run.process_seconds - sql.process_seconds:.2f} s to running the model's SQL "
        f"(`dbt run` as a process); Dagster adds {dbt_dagster.seconds - dbt_build.seconds:.2f} s "
        f"in process to `dbt build` on the command line."
    )


if __name__ == "__main__":
    print(run()[0])
