"""A load killed mid-way (after landing; inside the warehouse transaction) leaves the previous
raw table and watermark intact, and a rerun converges to the right table."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from .conftest import run_sql
from .crash_load import main as load_orders

SCRIPT = Path(__file__).with_name("crash_load.py")
T0 = datetime(2024, 5, 1, 12, 0, 0)


def snapshot(conninfo: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
    with psycopg.connect(conninfo) as con:
        rows = con.execute("select id, status, updated_at from raw_shop.orders order by id")
        watermark = con.execute("select value, load_id from _tributary.watermarks")
        loads = con.execute("select load_id from _tributary.loads order by load_id")
        return rows.fetchall(), watermark.fetchall(), loads.fetchall()


@pytest.mark.parametrize("kill_point", ["after_landing", "during_load"])
def test_killed_load_leaves_previous_state_and_rerun_converges(
    mariadb, postgres, tmp_path, kill_point
) -> None:
    url, con = mariadb
    source_url = url.render_as_string(hide_password=False)
    landing = str(tmp_path / "landing")
    run_sql(
        con, "create table orders (id int primary key, status varchar(20), updated_at datetime(6))"
    )
    run_sql(con, "insert into orders values (1, 'new', %s), (2, 'new', %s)", params=(T0, T0))
    load_orders(source_url, postgres, landing, "none")
    before = snapshot(postgres)

    run_sql(
        con,
        "update orders set status = 'paid', updated_at = %s where id = 1",
        params=(T0.replace(minute=5),),
    )
    run_sql(con, "insert into orders values (3, 'new', %s)", params=(T0.replace(minute=6),))
    killed = subprocess.run(
        [sys.executable, str(SCRIPT), source_url, postgres, landing, kill_point],
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert snapshot(postgres) == before
    with psycopg.connect(postgres) as pg:
        leftovers = pg.execute(
            "select table_name from information_schema.tables where table_schema = 'raw_shop'"
        ).fetchall()
    assert leftovers == [("orders",)]  # no staging table survives the kill

    load_orders(source_url, postgres, landing, "none")
    rows, watermark, loads = snapshot(postgres)
    assert rows == [
        (1, "paid", T0.replace(minute=5)),
        (2, "new", T0),
        (3, "new", T0.replace(minute=6)),
    ]
    assert watermark[0][0] == T0.replace(minute=6).isoformat()
    assert len(loads) == 2
