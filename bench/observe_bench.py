"""Observe: what `refresh: on_change` costs per table and tick, against what a schedule spends
on a table that did not change (issue 20's expectation: the probe ≥ 10x cheaper).

A 500,000-row MariaDB table (bench/servers.py's orders, with an index on its cursor, as an
incrementally loaded table has) is loaded once into DuckDB. Then, each in a fresh process:

- `probe_cursor`: the observe sensor's tick, `SqlSource.probe` of a source of 10 such tables
  (one connection, one query of `max(updated_at)` per table), per table;
- `probe_catalog`: the same for tables without a cursor (MariaDB's
  `information_schema.tables.update_time`);
- `incremental_unchanged`: an incremental load of the unchanged table, `ingest_table` (what a
  schedule runs: connect, describe, read from the watermark, land, merge, record).

The times are the work alone, imports excluded (the sensor's process has them loaded).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench.measure import Target, machine_line, markdown_table, measure, ratio, scaled
from bench.servers import create_source_table, databases, mariadb

ROWS = 500_000
TABLE = "orders"
PROBED = 10  # tables of the source probed by one tick (one connection, one query)
MODULE = "bench.observe_bench"


def _source(mysql_url: str, cursor: bool, tables: int = 1):
    """The bench source; with `tables` > 1, the table configured that many times (as many
    tables of one source, probed in one query per tick)."""
    from tributary.config.models import SourceConfig

    entries = []
    for n in range(tables):
        table = {"name": TABLE if tables == 1 else f"{TABLE}_{n}", "object": TABLE,
                 "primary_key": ["id"]}  # fmt: skip
        if cursor:
            table.update(cursor="updated_at", mode="incremental")
        entries.append(table)
    return SourceConfig.model_validate(
        {"name": "bench", "kind": "mysql", "connection": {"url": mysql_url}, "tables": entries}
    )


# --- the child ---------------------------------------------------------------------------------
def case_probe(mysql_url: str, cursor: bool, tables: int) -> dict:
    """One tick's probe of `tables` tables (connection included); seconds are per table."""
    from tributary.sources import open_source

    source = _source(mysql_url, cursor, tables)
    started = time.perf_counter()
    versions = open_source(source, state_dir=Path(tempfile.gettempdir())).probe(source.tables)
    seconds = time.perf_counter() - started
    assert all(v is not None for v in versions.values()), versions
    return {"seconds": seconds / tables, "tick_seconds": seconds}


def case_incremental_unchanged(mysql_url: str, scratch: str) -> dict:
    from tributary.ingest import ingest_table
    from tributary.landing import LandingStore
    from tributary.sources import open_source
    from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

    source = _source(mysql_url, cursor=True)
    folder = Path(scratch)
    started = time.perf_counter()
    with DuckDBWarehouse(folder / "warehouse.duckdb") as warehouse:
        load = ingest_table(
            source,
            source.tables[0],
            reader=open_source(source, state_dir=folder),
            landing=LandingStore(str(folder / "landing")),
            warehouse=warehouse,
            batch_rows=100_000,
        )
    return {"seconds": time.perf_counter() - started, "rows": load.manifest.row_count}


# --- the parent --------------------------------------------------------------------------------
def run(rows: int | None = None) -> tuple[str, list[Target]]:
    rows = rows or scaled(ROWS)
    with databases("observe") as dbs:
        create_source_table(dbs, TABLE, rows)
        mariadb(f"create index {TABLE}_updated_at on {TABLE} (updated_at)", dbs.name)
        scratch = Path(tempfile.mkdtemp(prefix="tributary-bench-observe-"))
        try:
            first = measure(
                MODULE,
                "incremental_unchanged",
                "first load (the table's whole history)",
                {"mysql_url": dbs.mysql_url, "scratch": str(scratch)},
                repeats=1,
                name="first_load",
            )
            results = [
                measure(
                    MODULE,
                    "incremental_unchanged",
                    "incremental load of the unchanged table (the baseline)",
                    {"mysql_url": dbs.mysql_url, "scratch": str(scratch)},
                ),
                measure(
                    MODULE,
                    "probe",
                    f"probe: max(updated_at), per table of {PROBED} in one query",
                    {"mysql_url": dbs.mysql_url, "cursor": True, "tables": PROBED},
                    name="probe_cursor",
                    baseline="incremental_unchanged",
                ),
                measure(
                    MODULE,
                    "probe",
                    f"probe: information_schema update_time, per table of {PROBED}",
                    {"mysql_url": dbs.mysql_url, "cursor": False, "tables": PROBED},
                    name="probe_catalog",
                    baseline="incremental_unchanged",
                ),
                measure(
                    MODULE,
                    "probe",
                    "probe of a source of one table: one tick, its connection included",
                    {"mysql_url": dbs.mysql_url, "cursor": True, "tables": 1},
                    name="probe_one_table",
                    baseline="incremental_unchanged",
                ),
            ]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    base = results[0].seconds
    table = markdown_table(
        ["case", "what", "seconds", "vs incremental load"],
        [[first.case, first.description, f"{first.seconds:.3f}", "-"]]
        + [[r.case, r.description, f"{r.seconds:.4f}", ratio(r.seconds, base)] for r in results],
    )
    cheaper = [base / r.seconds for r in results[1:3]]
    section = (
        f"{machine_line()} {rows:,} rows; the incremental load re-read "
        f"{results[0].median('rows'):.0f} row(s) (those at the watermark); a probe tick of "
        f"{PROBED} tables took {results[1].median('tick_seconds'):.3f} s (cursor) and "
        f"{results[2].median('tick_seconds'):.3f} s (catalog).\n\n{table}\n\n"
        f"The probe is {cheaper[0]:.0f}x (cursor) and {cheaper[1]:.0f}x (catalog) cheaper than "
        "the incremental load of the unchanged table, per table of a source probed in one "
        f"query; a source of a single table pays the connection alone: "
        f"{base / results[3].seconds:.0f}x."
    )
    targets = [
        Target(
            "20",
            "source probe per table, time vs an incremental load of the unchanged table",
            max(r.seconds for r in results[1:3]) / base,
            0.10,
            note="slower of `probe_cursor`, `probe_catalog` / `incremental_unchanged` "
            "(≥ 10x cheaper)",
        )
    ]
    return section, targets


if __name__ == "__main__":
    print(run()[0])
