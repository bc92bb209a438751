"""The local MariaDB and PostgreSQL servers the ingest benchmarks read and load (the servers
the integration tests use), driven through their command-line clients so that the parent
process stays small. Each benchmark works in databases of its own and drops them after."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MARIADB = ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", "3306", "-u", "root"]
PSQL = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "5432",
        "-U", "postgres"]  # fmt: skip
START_HINT = (
    "start them as .ci/run does: "
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; "
    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
)

# The source table: the kinds of columns operational tables hold. Every 7th discount is NULL.
COLUMNS = """(
    id bigint not null primary key,
    customer_id int not null,
    quantity int not null,
    amount decimal(12, 2) not null,
    discount decimal(10, 2) null,
    rate decimal(18, 6) not null,
    status varchar(16) not null,
    note text not null,
    created_at datetime(6) not null,
    updated_at timestamp(6) not null default current_timestamp(6)
)"""
FILL = """insert into {table}
    select seq, seq % 50000, seq % 97, (seq * 7919 % 10000000) / 100,
        if(seq % 7 = 0, null, (seq % 1000) / 100), (seq % 1000003) / 1000000,
        elt(seq % 4 + 1, 'open', 'paid', 'invoiced', 'cancelled'),
        concat('order ', seq, ' for Zoë Müller, "gift" · item ', seq % 31),
        timestamp'2020-01-01 00:00:00' + interval seq * 13 second,
        timestamp'2023-01-01 00:00:00' + interval seq * 7 second
    from seq_1_to_{rows}"""
# The same columns in PostgreSQL, for the pipe baseline's target table.
PG_COLUMNS = """(
    id bigint, customer_id integer, quantity integer, amount numeric(12, 2),
    discount numeric(10, 2), rate numeric(18, 6), status text, note text,
    created_at timestamp, updated_at timestamptz
)"""


def mariadb(sql: str, database: str | None = None) -> str:
    argv = [*MARIADB, "-B", "-N"] + (["-D", database] if database else []) + ["-e", sql]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def psql(sql: str, database: str = "postgres") -> str:
    argv = [*PSQL, "-d", database, "-At", "-c", sql]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def check_servers() -> None:
    """Fail with what to do when a server is down (the benchmarks cannot run without them)."""
    for name, probe in (("MariaDB on 127.0.0.1:3306", lambda: mariadb("select 1")),
                        ("PostgreSQL on 127.0.0.1:5432", lambda: psql("select 1"))):  # fmt: skip
        try:
            probe()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(f"{name} is not reachable ({exc}); {START_HINT}") from None


@dataclass(frozen=True)
class Databases:
    """A fresh MariaDB database (the source) and PostgreSQL database (the warehouse)."""

    name: str

    @property
    def mysql_url(self) -> str:
        return f"mysql://root@127.0.0.1:3306/{self.name}"

    @property
    def postgres_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.name}"


@contextmanager
def databases(prefix: str) -> Iterator[Databases]:
    check_servers()
    dbs = Databases(f"tributary_bench_{prefix}_{uuid.uuid4().hex[:8]}")
    mariadb(f"create database {dbs.name} character set utf8mb4")
    psql(f"create database {dbs.name}")
    try:
        yield dbs
    finally:
        mariadb(f"drop database if exists {dbs.name}")
        psql(f"drop database if exists {dbs.name} with (force)")


def create_source_table(dbs: Databases, table: str, rows: int) -> None:
    mariadb(f"create table {table} {COLUMNS}; {FILL.format(table=table, rows=rows)}", dbs.name)


def copy_source_table(dbs: Databases, source: str, table: str, rows: int) -> None:
    """The first `rows` rows of `source`, as a table of their own."""
    mariadb(f"create table {table} like {source}; "
            f"insert into {table} select * from {source} where id <= {rows}", dbs.name)  # fmt: skip
