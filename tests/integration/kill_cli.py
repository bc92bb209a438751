"""Dagster's CLI in this process, SIGKILLed at a chosen point of a raw table's load.

Usage: TRIBUTARY_KILL_AT=<point> python kill_cli.py asset materialize --select ... -m ...
(in a session of its own: the kill takes its whole process group).
Points: extract (after the first source batch), land (the landing manifest is written),
load (inside the warehouse transaction, after the merge), commit (the last write of the
transaction, the `_tributary.loads` row, done; only the commit is left).

The hooks are installed at import, outside the main guard: a step process the multiprocess
executor spawns runs this file again as its main module, and gets them too.
"""

import os
import signal
import sys

from tributary import ingest
from tributary.landing import LandingStore
from tributary.warehouse import Warehouse
from tributary.warehouse.base import STATE_SCHEMA
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse
from tributary.warehouse.postgres.warehouse import PostgresWarehouse


def die() -> None:
    # The whole process group: the CLI's run worker and, with the multiprocess executor, the
    # step process this runs in; as an OOM kill of the run or a lost machine would.
    os.killpg(0, signal.SIGKILL)


def die_after(cls, method: str, when=lambda *args: True) -> None:
    original = getattr(cls, method)

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if when(*args):
            die()
        return result

    setattr(cls, method, wrapper)


def die_on_second_batch(with_load_columns):
    def wrapper(*args, **kwargs):
        for number, batch in enumerate(with_load_columns(*args, **kwargs)):
            if number == 1:
                die()
            yield batch

    return wrapper


def install(point: str) -> None:
    if point == "extract":
        ingest.with_load_columns = die_on_second_batch(ingest.with_load_columns)
    elif point == "land":
        die_after(LandingStore, "land")
    elif point == "load":
        die_after(Warehouse, "merge")
    elif point == "commit":
        for backend in (DuckDBWarehouse, PostgresWarehouse):
            die_after(
                backend,
                "execute",
                when=lambda _, sql, *rest: sql.startswith(f"insert into {STATE_SCHEMA}.loads"),
            )
    else:
        raise SystemExit(f"TRIBUTARY_KILL_AT: no kill point {point!r}")


install(os.environ["TRIBUTARY_KILL_AT"])

if __name__ == "__main__":
    from dagster._cli import main

    sys.argv = ["dagster", *sys.argv[1:]]
    main()
