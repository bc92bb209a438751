"""A DuckDB file takes one writer process at a time: a run, or a sensor writing Tributary's
state, opening it while another process holds it waits for the file (bounded), rather than
failing the run at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tributary.warehouse.duckdb import warehouse as duckdb_warehouse
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the file for `seconds`."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_opening_a_file_another_process_holds_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = hold(path, 1.5)
    started = time.monotonic()
    with DuckDBWarehouse(path) as warehouse:
        assert warehouse.query("select 42") == [(42,)]
    assert time.monotonic() - started >= 1.0  # it waited for the other process
    holder.wait(timeout=10)


def test_the_wait_is_bounded_and_says_who_to_wait_for(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(duckdb_warehouse, "LOCK_WAIT_SECONDS", 0.5)
    path = tmp_path / "warehouse.duckdb"
    holder = hold(path, 5)
    try:
        with pytest.raises(duckdb.IOException, match=r"another process held it for 0\.5 s"):
            DuckDBWarehouse(path).query("select 1")
    finally:
        holder.kill()
        holder.wait(timeout=10)
