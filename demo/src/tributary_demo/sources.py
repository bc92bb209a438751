"""Deterministic demo databases shaped like the production systems they stand in for.

- erp.sqlite: a SQL Server ERP. Customers, and sales orders arriving as change rows in a
  staging-style table (one row per insert/update/delete, as DMS or CDC writes them).
- app.sqlite: a MySQL application. Companies (the tenants) and their users.
- ops.sqlite: an Oracle operations schema. Products are read through a view.

Timestamps are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' text, the form SQLAlchemy renders
cursor literals in, so that cursor comparisons in SQLite order correctly.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

DEMO_DATABASES = ("erp", "app", "ops")
SEED = 20240101
EPOCH = datetime(2024, 1, 1, 8, 0, 0)
CITIES = (
    "Seattle", "New York", "Chicago", "Austin", "Denver", "Boston", "Portland", "Miami",
)  # fmt: skip
STATUSES = ("open", "shipped", "invoiced")
# An order placed by a customer the ERP does not know: fct_sales must keep it.
UNKNOWN_CUSTOMER_ID = 9999


def timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def generate_demo_sources(
    directory: Path, *, customers: int = 200, orders: int = 1500, overwrite: bool = False
) -> dict[str, Path]:
    """Write the three demo databases into `directory`; existing files are kept unless asked."""
    directory.mkdir(parents=True, exist_ok=True)
    builders = {"erp": _build_erp, "app": _build_app, "ops": _build_ops}
    paths = {}
    for name, build in builders.items():
        path = directory / f"{name}.sqlite"
        if overwrite or not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            with sqlite3.connect(tmp) as con:
                build(con, random.Random(f"{SEED}-{name}"), customers=customers, orders=orders)
            con.close()
            tmp.replace(path)
        paths[name] = path
    return paths


def _build_erp(con: sqlite3.Connection, rng: random.Random, *, customers: int, orders: int) -> None:
    con.executescript(
        """
        create table customers (
            customer_id integer primary key,
            customer_name varchar(200) not null,
            city varchar(100),
            country char(2),
            external_id varchar(32),
            modified_at timestamp not null
        );
        create table sales_orders_stage (
            change_id integer primary key,
            operation char(1) not null,      -- I, U or D, as the CDC feed writes it
            order_id integer not null,
            customer_id integer not null,
            order_date date not null,
            amount decimal(12, 2) not null,
            status varchar(20) not null,
            changed_at timestamp not null
        );
        """
    )
    con.executemany(
        "insert into customers values (?, ?, ?, ?, ?, ?)",
        [
            (
                cid,
                f"Customer {cid:04d}",
                rng.choice(CITIES),
                rng.choice(("US", "US", "CA")),
                f"EXT-{cid:05d}",
                timestamp(EPOCH + timedelta(minutes=cid)),
            )
            for cid in range(1, customers + 1)
        ],
    )
    changes = []
    clock = EPOCH + timedelta(days=1)
    for order_id in range(1, orders + 1):
        customer_id = UNKNOWN_CUSTOMER_ID if order_id == orders else rng.randint(1, customers)
        order_date = date(2024, 1, 1) + timedelta(days=rng.randint(0, 89))
        amount = round(rng.uniform(5, 5000), 2)
        clock += timedelta(seconds=rng.randint(1, 600))
        changes.append(("I", order_id, customer_id, order_date, amount, "open", clock))
        # Every fifth order is amended, some twice; every fiftieth is cancelled (deleted).
        for step, status in enumerate(STATUSES[1:]):
            if order_id % 5 == 0 and (step == 0 or order_id % 10 == 0):
                amount = round(amount * rng.uniform(0.9, 1.1), 2)
                clock += timedelta(seconds=rng.randint(1, 60))
                changes.append(("U", order_id, customer_id, order_date, amount, status, clock))
        if order_id % 50 == 0 and customer_id != UNKNOWN_CUSTOMER_ID:
            clock += timedelta(seconds=1)
            changes.append(("D", order_id, customer_id, order_date, amount, "cancelled", clock))
    con.executemany(
        "insert into sales_orders_stage values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (i, op, oid, cid, d.isoformat(), amt, st, timestamp(ts))
            for i, (op, oid, cid, d, amt, st, ts) in enumerate(changes, start=1)
        ],
    )


def _build_app(con: sqlite3.Connection, rng: random.Random, *, customers: int, orders: int) -> None:
    con.executescript(
        """
        create table companies (
            company_id integer primary key,
            company_name varchar(200) not null,
            plan varchar(20) not null,
            created_at timestamp not null
        );
        create table users (
            user_id integer primary key,
            company_id integer not null references companies(company_id),
            email varchar(320) not null,
            full_name varchar(200),
            is_active boolean not null,
            updated_at timestamp not null
        );
        """
    )
    companies = [
        (1, "Acme Corp", "enterprise"),
        (2, "Globex", "team"),
        (3, "Initech", "team"),
        (4, "Umbrella", "free"),
    ]
    con.executemany(
        "insert into companies values (?, ?, ?, ?)",
        [(cid, n, p, timestamp(EPOCH + timedelta(days=cid))) for cid, n, p in companies],
    )
    con.executemany(
        "insert into users values (?, ?, ?, ?, ?, ?)",
        [
            (
                uid,
                company_id := rng.randint(1, len(companies)),
                f"user{uid}@company{company_id}.example",
                f"User {uid}",
                rng.random() > 0.1,
                timestamp(EPOCH + timedelta(hours=uid)),
            )
            for uid in range(1, 121)
        ],
    )


def _build_ops(con: sqlite3.Connection, rng: random.Random, *, customers: int, orders: int) -> None:
    con.executescript(
        """
        create table product_master (
            product_id integer primary key,
            sku varchar(20) not null,
            product_name varchar(200) not null,
            unit_price decimal(10, 2) not null,
            discontinued boolean not null
        );
        -- Operations publish products to consumers through a view, never the base table.
        create view v_products as
            select product_id, sku, product_name, unit_price
            from product_master
            where not discontinued;
        """
    )
    con.executemany(
        "insert into product_master values (?, ?, ?, ?, ?)",
        [
            (
                pid,
                f"SKU-{pid:05d}",
                f"Product {pid}",
                round(rng.uniform(1, 900), 2),
                pid % 10 == 0,
            )
            for pid in range(1, 61)
        ],
    )
