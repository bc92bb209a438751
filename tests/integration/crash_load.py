"""Run one load of shop.orders and SIGKILL this process at a chosen point.

Usage: python crash_load.py <mariadb url> <postgres conninfo> <landing dir> <kill point>
Kill points: after_landing (the manifest is written), during_load (inside the warehouse
transaction, after the merge, before the watermark and the commit).
"""

import os
import signal
import sys

from sqlalchemy.engine import make_url

from tributary.config.models import SourceConfig, TableConfig
from tributary.ingest import ingest_table
from tributary.landing import LandingStore
from tributary.sources import SqlSource
from tributary.warehouse import Warehouse
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

ORDERS = TableConfig(name="orders", primary_key=["id"], cursor="updated_at", mode="incremental")


def die_after(cls, method: str) -> None:
    original = getattr(cls, method)

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(cls, method, wrapper)


def main(source_url: str, conninfo: str, landing: str, kill_point: str) -> None:
    if kill_point == "after_landing":
        die_after(LandingStore, "land")
    elif kill_point == "during_load":
        die_after(Warehouse, "merge")
    url = make_url(source_url)
    source = SourceConfig(
        name="shop", kind="mysql", connection={"url": source_url}, tables=[ORDERS]
    )
    with PostgresWarehouse(conninfo) as warehouse:
        ingest_table(
            source,
            ORDERS,
            reader=SqlSource(url),
            landing=LandingStore(landing),
            warehouse=warehouse,
            batch_rows=2,
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
