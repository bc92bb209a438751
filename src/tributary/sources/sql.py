"""Relational sources (MySQL, SQL Server, Oracle, PostgreSQL, SQLite) read as Arrow batches.

The query is built with SQLAlchemy Core and compiled for the dialect of the database actually
connected to, so quoting and literals are right for each. Rows are fetched by a `Fetcher`
(connectorx by default; python-oracledb for Oracle; for SQLite, Python's sqlite3 where
connectorx cannot type a column): the seam where a driver is swapped, or
faked in tests. Columns are described from the database's catalog first, so that the type
policy (sources/types.py) knows each column's declared type.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import connectorx
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql, postgresql
from sqlalchemy.engine import URL, Dialect, make_url

from tributary.arrow import checksum as checksum_rows
from tributary.config.common import DEFAULT_CONNECT_TIMEOUT
from tributary.config.models import TableConfig, is_timezone
from tributary.connection import redact
from tributary.key_match import EXACT, TextMatch
from tributary.names import as_spelled, repeated
from tributary.reach import probe_url
from tributary.retry import said_by_driver
from tributary.slices import Slice
from tributary.sources import sqlite
from tributary.sources.base import (
    ColumnType,
    Extract,
    Null,
    Profile,
    SourceClock,
    SourceError,
    WantedValues,
    Window,
    cursor_conditions,
    is_null,
)
from tributary.sources.read_process import ReadProcess
from tributary.sources.types import (
    MYSQL_BACKENDS,
    ReadAs,
    SourceColumn,
    is_arrow_number,
    normalize,
)

Fetcher = Callable[[str, str, int], pa.RecordBatchReader]
TEXT = sa.String(100)
# A column read as its text: no length wherever the database allows it, since a cast to
# varchar(n) cuts a longer value without a word (PostgreSQL, MySQL, SQL Server). Oracle reads
# only numbers as text, and fails rather than cuts.
TEXT_VALUE = sa.Unicode().with_variant(sa.String(4000), "oracle")
PROFILE_ROWS = "tributary_rows"
# The first day of year 1: a MySQL date before it is of year 0, which the type policy reads as
# NULL (types.ZERO_DATE).
FIRST_DAY = "0001-01-01"

# The DB-API driver (and its connect timeout argument) a login check connects with.
_LOGIN_DRIVERS = {
    "postgresql": ("psycopg", "connect_timeout"),
    "mysql": ("pymysql", "connect_timeout"),
    "mariadb": ("pymysql", "connect_timeout"),
}

# The driver's type codes of a decimal in a result's description (psycopg: numeric's OID;
# PyMySQL: DECIMAL and NEWDECIMAL).
_DECIMAL_TYPE_CODES = {"postgresql": {1700}, "mysql": {0, 246}, "mariadb": {0, 246}}


def _query_column(name: str, entry: tuple, backend: str) -> SourceColumn:
    """A decimal of a query's result, from its description entry (name, type_code,
    display_size, internal_size, precision, scale, null_ok)."""
    precision, scale = entry[4], entry[5] or 0
    if backend != "postgresql" and precision is not None:
        # MySQL states a decimal's display length: its digits, the point, and a sign unless
        # unsigned, which the description does not say. Taken as unsigned, the type holds a
        # digit more than a signed column's, never fewer; but 39 is a signed decimal(38), the
        # widest most warehouses hold (an unsigned decimal(39) then fails naming its column).
        precision -= 1 if scale else 0
        precision = 38 if precision == 39 else precision
    declared = "numeric" if precision is None else f"decimal({precision},{scale})"
    return SourceColumn(name, "decimal", declared, precision, scale if precision else None)


# SQLAlchemy backend name -> connectorx scheme.
_CONNECTORX_SCHEMES = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "mssql",
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "oracle": "oracle",
}

# The catalog query per backend: name, base type, full type, precision, scale.
_DESCRIBE = {
    "mysql": """
        select column_name, lower(data_type), lower(column_type), numeric_precision, numeric_scale
        from information_schema.columns
        where table_schema = coalesce(:schema, database()) and table_name = :table
        order by ordinal_position""",
    # An array's declared type is the element's (numeric(20,15)[]): its catalog row says ARRAY.
    "postgresql": """
        select c.column_name, lower(c.data_type),
            case when c.data_type = 'ARRAY' then format_type(a.atttypid, a.atttypmod)
                else lower(c.data_type) end,
            c.numeric_precision, c.numeric_scale
        from information_schema.columns c
        left join pg_attribute a on a.attname = c.column_name
            and a.attrelid = cast(format('%I.%I', c.table_schema, c.table_name) as regclass)
        where c.table_schema = coalesce(:schema, current_schema()) and c.table_name = :table
        order by c.ordinal_position""",
    "mssql": """
        select column_name, lower(data_type), lower(data_type), numeric_precision, numeric_scale
        from information_schema.columns
        where table_schema = coalesce(:schema, schema_name()) and table_name = :table
        order by ordinal_position""",
    "oracle": """
        select column_name, lower(data_type), lower(data_type), data_precision, data_scale
        from all_tab_columns
        where owner = coalesce(upper(:schema), user) and table_name = upper(:table)
        order by column_id""",
    # SQLite has no catalog of precisions: -1 says "read them from the declared type".
    "sqlite": """
        select name, lower(type), lower(type), -1, -1
        from pragma_table_info(:table)""",
}
_DESCRIBE["mariadb"] = _DESCRIBE["mysql"]

# The catalog's estimate of a table's rows (statistics, not a scan): NULL for a view, or for a
# table never analysed (PostgreSQL: -1). SQLite keeps no estimate; its files are counted.
_ESTIMATED_ROWS = {
    "mysql": """
        select table_rows from information_schema.tables
        where table_schema = coalesce(:schema, database()) and table_name = :table""",
    "postgresql": """
        select cast(c.reltuples as bigint) from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = coalesce(:schema, current_schema()) and c.relname = :table
        and c.relkind in ('r', 'p', 'm') and c.reltuples >= 0""",
    "mssql": """
        select sum(p.rows) from sys.partitions p join sys.tables t on t.object_id = p.object_id
        where p.index_id in (0, 1) and t.name = :table
        and schema_name(t.schema_id) = coalesce(:schema, schema_name())""",
    "oracle": """
        select num_rows from all_tables
        where owner = coalesce(upper(:schema), user) and table_name = upper(:table)""",
}
_ESTIMATED_ROWS["mariadb"] = _ESTIMATED_ROWS["mysql"]

# A table's change counter in the catalog, as text: it changes when rows are written, and
# reading it scans nothing. For tables without a cursor (whose max() is the cheaper probe).
# MySQL/MariaDB keep update_time to the second (and in memory, NULL after a restart): a write
# within the probe's own second would not move it again, so a reading less than 2 s after
# update_time (compared to the microsecond: now() alone is whole seconds too) carries the
# probe's time too, and the next one differs. PostgreSQL's counters are flushed by the writing
# session within seconds, and a partitioned table's are its partitions'; SQL Server's usage
# stats and Oracle's ALL_TAB_MODIFICATIONS reset or flush on the server's schedule
# (docs/automation.md says what that costs). A TRUNCATE moves neither MariaDB's update_time
# nor PostgreSQL's counters, so each version also carries what it does move: the row count
# (MySQL/MariaDB table_rows, SQL Server sys.partitions), the table's files (PostgreSQL
# relfilenode, new at each TRUNCATE), Oracle's truncated flag. A view (or a foreign table)
# has no counter: its version is UNOBSERVABLE and the kind of object, which probe() refuses.
UNOBSERVABLE = "!"
# A SQL Server table's object id, its schema and name quoted (a name with a space or a dot).
_MSSQL_TABLE = "object_id(quotename(coalesce(:schema, schema_name())) + '.' + quotename(:table))"
_CHANGE_COUNTERS = {
    "mysql": """
        select :probe as probe_table,
        case when table_type = 'VIEW' then '!view' else
        concat(coalesce(case when update_time >= now(6) - interval 2 second
            then concat(update_time, '@', now(6)) else cast(update_time as char) end, ''),
            '/', coalesce(table_rows, '')) end as probe_version
        from information_schema.tables
        where table_schema = coalesce(:schema, database()) and table_name = :table""",
    "postgresql": """
        select :probe as probe_table,
        case c.relkind when 'v' then '!view' when 'f' then '!foreign table' else (
            select cast(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del) as varchar) || '/'
            || string_agg(cast(k.relfilenode as varchar), ',' order by k.oid)
            from pg_class k join pg_stat_user_tables s on s.relid = k.oid
            where k.oid = c.oid and c.relkind <> 'p' or k.oid in (
                select t.relid from pg_partition_tree(c.oid) t where t.isleaf)
        ) end as probe_version
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = coalesce(:schema, current_schema()) and c.relname = :table
        and c.relkind in ('r', 'p', 'm', 'v', 'f')""",
    "mssql": f"""
        select :probe as probe_table,
        case when objectproperty({_MSSQL_TABLE}, 'IsView') = 1 then '!view' else
        concat(convert(varchar(30), max(u.last_user_update), 126), '/',
            (select sum(p.rows) from sys.partitions p where p.index_id in (0, 1)
            and p.object_id = {_MSSQL_TABLE}))
        end as probe_version
        from sys.dm_db_index_usage_stats u
        where u.database_id = db_id()
        and u.object_id = {_MSSQL_TABLE}""",
    "oracle": """
        select :probe as probe_table,
        case when o.object_type = 'VIEW' then '!view' else
        m.inserts || '/' || m.updates || '/' || m.deletes || '/' || m.truncated || '/'
        || to_char(m.timestamp, 'YYYY-MM-DD"T"HH24:MI:SS') end as probe_version
        from all_objects o left join all_tab_modifications m
        on m.table_owner = o.owner and m.table_name = o.object_name
        and m.partition_name is null
        where o.owner = coalesce(upper(:schema), user) and o.object_name = upper(:table)
        and o.object_type in ('TABLE', 'VIEW')""",
}
_CHANGE_COUNTERS["mariadb"] = _CHANGE_COUNTERS["mysql"]

# The source's clock (base.SourceClock), asked before each read of a table with a cursor: the
# instant, in UTC, and the time its sessions stamp one without a zone with (NOW() in the
# default session zone), both read without a zone; and where the database names that zone, its
# name. connectorx's MySQL sessions run at +00:00 (_connectorx_options): the default zone is
# the global one (a named zone there has its time zone tables loaded, or the server could not
# have been set to it; were they emptied since, UTC), or the system's (`SYSTEM`: its
# abbreviation, `CET`, which names a zone where it is one). SQLite stamps CURRENT_TIMESTAMP in
# UTC.
_CLOCKS = {
    "mysql": (
        "select utc_timestamp(6) as now_utc, coalesce(convert_tz(utc_timestamp(6), '+00:00', "
        "@@global.time_zone), utc_timestamp(6)) as now_local, if(@@global.time_zone = 'SYSTEM', "
        "@@system_time_zone, @@global.time_zone) as zone"
    ),
    "postgresql": (
        "select cast(now() at time zone 'UTC' as timestamp) as now_utc,"
        " localtimestamp as now_local, current_setting('TimeZone') as zone"
    ),
    "mssql": "select sysutcdatetime() as now_utc, sysdatetime() as now_local",
    "oracle": (
        "select sys_extract_utc(systimestamp) as now_utc, "
        "cast(systimestamp as timestamp) as now_local from dual"
    ),
    "sqlite": (
        "select strftime('%Y-%m-%d %H:%M:%f', 'now') as now_utc, "
        "strftime('%Y-%m-%d %H:%M:%f', 'now') as now_local"
    ),
}
_CLOCKS["mariadb"] = _CLOCKS["mysql"]

# A MySQL server's default zone, its offset from UTC now in minutes, and whether the relation
# read is a view: connectorx's sessions run at +00:00 (_connectorx_options), so a view's or a
# custom query's NOW(), CURDATE(), FROM_UNIXTIME() and conversions of a TIMESTAMP (DATE(),
# CAST(), DATE_FORMAT()) give UTC's values, not those the server's own sessions see.
_SESSION_ZONE = """
    select if(@@global.time_zone = 'SYSTEM', @@system_time_zone, @@global.time_zone) as zone,
        timestampdiff(minute, utc_timestamp(), coalesce(convert_tz(utc_timestamp(), '+00:00',
            @@global.time_zone), utc_timestamp())) as offset_minutes,
        (select count(*) from information_schema.views
            where table_schema = coalesce(:schema, database()) and table_name = :table) as views"""
# Names a server gives UTC by (GMT is not one: a London server says GMT in winter, BST in summer).
UTC_NAMES = {"UTC", "+00:00", "-00:00", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Etc/GMT"}

# The collation of each text column of a table (name, character set, collation), where a
# database compares text by one: a key column matched by it may differ from the rows' text
# in case or trailing spaces (key_match.py). Other backends compare keys exactly. PostgreSQL's
# rule is its type's and its collation's (citext ignores case; a non-deterministic ICU
# collation may; char(n) ignores trailing spaces): its "character set" is the column's type.
_COLLATIONS = {
    "mysql": """
        select column_name, character_set_name, collation_name
        from information_schema.columns
        where table_schema = coalesce(:schema, database()) and table_name = :table
        and collation_name is not null""",
    "mssql": f"""
        select c.name, cast(null as varchar(1)), c.collation_name
        from sys.columns c
        where c.object_id = {_MSSQL_TABLE}
        and c.collation_name is not null""",
    "postgresql": """
        select a.attname as column_name, format_type(a.atttypid, a.atttypmod) as type_name,
        quote_ident(cn.nspname) || '.' || quote_ident(co.collname) as collation_name
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_type t on t.oid = a.atttypid
        join pg_collation co on co.oid = a.attcollation
        join pg_namespace cn on cn.oid = co.collnamespace
        where n.nspname = coalesce(:schema, current_schema()) and c.relname = :table
        and a.attnum > 0 and not a.attisdropped and t.typcategory = 'S'""",
}
_COLLATIONS["mariadb"] = _COLLATIONS["mysql"]
# What the server says of each collation, asked with two comparisons: whether 'a' = 'A' (it
# ignores case), and whether 'a' = 'a ' (it ignores trailing spaces: MariaDB's PAD SPACE
# collations and SQL Server's; not MySQL 8's utf8mb4_0900_* nor MariaDB's *_nopad_*). The
# literals take the column's character set, which a collation must belong to (PostgreSQL's:
# the column's type). Each answer says which asked pair it is by its position in the question.
_COMPARES = {
    "mysql": (
        "select {asked} as asked, "
        "convert('a' using {charset}) collate {collation} = convert('A' using {charset}) "
        "as ignores_case, "
        "convert('a' using {charset}) collate {collation} = convert('a ' using {charset}) "
        "as ignores_trailing_spaces"
    ),
    "mssql": (
        "select {asked} as asked, "
        "case when N'a' collate {collation} = N'A' then 1 else 0 end as ignores_case, "
        "case when N'a' collate {collation} = N'a ' then 1 else 0 end "
        "as ignores_trailing_spaces"
    ),
    "postgresql": (
        "select {asked} as asked, "
        "cast('a' as {charset}) collate {collation} = cast('A' as {charset}) as ignores_case, "
        "cast('a' as {charset}) collate {collation} = cast('a ' as {charset}) "
        "as ignores_trailing_spaces"
    ),
}
_COMPARES["mariadb"] = _COMPARES["mysql"]
# A collation's or character set's name, put into SQL as it is (the catalog's); PostgreSQL's
# are a type as format_type writes it (`character varying(20)`, `public.citext`) and a
# collation as quote_ident writes it (`pg_catalog."default"`, `public."en-x-icu"`).
_COLLATION_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_POSTGRES_NAMES = (re.compile(r'^[A-Za-z0-9_ ().,"]+$'), re.compile(r'^[A-Za-z0-9_.\-"]+$'))


# connectorx's batches at most this long, whatever the batch_rows: its memory (and each step's
# after it) grows with the batch, and the landing joins batches into parts of batch_rows rows.
# Measured on 2M MariaDB rows: 100,000-row batches peaked 35 MB above 25,000-row ones in
# connectorx alone, and over 100 MB more through a whole load, in no less time.
FETCH_ROWS = 25_000


# PostgreSQL 14+ checks every second that the client of a running query is still there: a read
# stopped (its process killed: read_process.py) ends on the server too, where otherwise a query
# that sends nothing for an hour runs that hour. Older servers lack the setting: not set there.
_PG_CLIENT_CHECK = (
    "select set_config('client_connection_check_interval', '1s', false)"
    " where current_setting('server_version_num')::int >= 140000"
)


def _connectorx_options(connection: str) -> dict[str, Any]:
    if connection.startswith("mysql://"):
        # utf8mb4 so that 4-byte characters survive, and TIMESTAMP columns arrive in UTC.
        return {"pre_execution_query": ["SET NAMES utf8mb4", "SET time_zone = '+00:00'"]}
    return {}


def connectorx_fetch(connection: str, query: str, batch_rows: int) -> pa.RecordBatchReader:
    return connectorx.read_sql(
        connection,
        query,
        return_type="arrow_stream",
        batch_size=min(batch_rows, FETCH_ROWS),
        **_connectorx_options(connection),
    )


def connectorx_fetch_apart(connection: str, query: str, batch_rows: int) -> pa.RecordBatchReader:
    """connectorx_fetch in a child process (read_process.py): a read that waits on the server
    leaves this process free to take an interrupt (Terminate) and stop it at once."""
    options = _connectorx_options(connection)
    if connection.startswith("postgresql://"):
        options["pre_execution_query"] = [_PG_CLIENT_CHECK]
    return ReadProcess(connection, query, min(batch_rows, FETCH_ROWS), options).reader()


def sqlite_fetch(connection: str, query: str, batch_rows: int) -> pa.RecordBatchReader:
    """connectorx, unless it cannot type a column whose first value is NULL: then Python's
    sqlite3, typing the columns as connectorx does (sources/sqlite.py)."""
    try:
        return connectorx_fetch(connection, query, batch_rows)
    except RuntimeError as exc:
        if sqlite.CANNOT_TYPE_NULL not in str(exc):
            raise
    declared = connectorx_fetch(connection, sqlite.untyped(query), 1).schema
    return sqlite.sqlite3_fetch(connection, query, min(batch_rows, FETCH_ROWS), declared)


def oracledb_fetch(connection: str, query: str, batch_rows: int) -> pa.RecordBatchReader:
    """Oracle through python-oracledb in thin mode (no Oracle client libraries needed)."""
    import oracledb

    url = make_url(connection)
    con = oracledb.connect(
        user=url.username,
        password=url.password,
        dsn=f"{url.host}:{url.port or 1521}/{url.database}",
    )
    frames = con.fetch_df_batches(statement=query, size=batch_rows)
    first = pa.table(next(iter(frames)))

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from first.to_batches()
            for frame in frames:
                yield from pa.table(frame).to_batches()
        finally:
            con.close()

    return pa.RecordBatchReader.from_batches(first.schema, batches())


# The fetcher per backend; connectorx for every other one.
_FETCHERS: dict[str, Fetcher] = {"oracle": oracledb_fetch, "sqlite": sqlite_fetch}
# The fetcher of a table's rows (the read that may wait on the server for hours): connectorx in
# a child process for a server's tables. Not for SQLite (a local file; and `make demo` would pay
# a process per table) nor Oracle (python-oracledb releases the GIL while it waits). Catalog
# and profile queries stay in this process: a process each would cost ~0.3 s apiece.
_ROW_FETCHERS: dict[str, Fetcher] = _FETCHERS


def _as_datetime(value: datetime | str) -> datetime:
    """A time as a driver returns it: a datetime, or (SQLite) its text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def dialect_for(url: URL) -> Dialect:
    """The SQLAlchemy dialect of `url`, without importing its DB-API driver. Queries are
    rendered with their literals and run as text by connectorx or oracledb, so the dialect
    must not double `%` for a DB-API's pyformat (a column named `100%` stays `100%`)."""
    backend = url.get_backend_name()
    # MariaDB speaks MySQL's SQL, and SQLAlchemy keeps its dialect in the mysql package
    package = "mysql" if backend == "mariadb" else backend
    module = importlib.import_module(f"sqlalchemy.dialects.{package}")
    return module.dialect(paramstyle="named")


def unobservable(table: TableConfig, version: str | None) -> str | None:
    """Why a table whose probe read a catalog without a change counter (a view's) cannot be
    observed; None if it can."""
    if table.cursor or version is None or not version.startswith(UNOBSERVABLE):
        return None
    kind = version.removeprefix(UNOBSERVABLE)
    return (
        f"table '{table.name}' reads {table.read_object}, a {kind}: the catalog keeps no "
        f"change counter for a {kind}, so refresh: on_change would never see its rows change; "
        f"give the table a cursor (the {kind}'s highest value is then its version), or "
        "refresh: schedule"
    )


def unobservable_tables(
    tables: list[TableConfig], versions: dict[str, str | None]
) -> dict[str, str]:
    """Each table of a probe's `versions` that cannot be observed, with why: name -> reason."""
    return {
        table.name: problem
        for table in tables
        if (problem := unobservable(table, versions[table.name]))
    }


def _oracle_service_in_path(url: URL, owner: str) -> URL:
    """An Oracle URL with its service in the path (`oracle://user:pw@host:1521/SERVICE`, as
    Easy Connect writes it), where the reader, the catalog and the origin take it. SQLAlchemy's
    spelling, `?service_name=SERVICE`, is moved there; a URL naming none, or two, is refused."""
    service = url.query.get("service_name")
    if service and url.database:
        raise SourceError(
            f"{owner}: the Oracle URL names its service twice, '/{url.database}' and "
            f"'?service_name={service}'; expected one: oracle://user:password@host:1521/<service>"
        )
    if service:
        url = url.set(database=service).difference_update_query(["service_name"])
    if not url.database:
        raise SourceError(
            f"{owner}: the Oracle URL names no service; expected "
            "oracle://user:password@host:1521/<service> (or ?service_name=<service>)"
        )
    return url


class SqlSource:
    """`owner` names the source in errors. Before its first query a reader with the real
    drivers checks within `connect_timeout` seconds that the server answers (reach.py says
    why); an injected `fetch` is not preceded by that check."""

    def __init__(
        self,
        url: URL,
        *,
        fetch: Fetcher | None = None,
        owner: str = "source",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        if url.drivername == "postgres":  # the scheme Heroku and many tools print
            url = url.set(drivername="postgresql")
        if url.get_backend_name() == "oracle":
            url = _oracle_service_in_path(url, owner)
        self._url = url
        self.backend = url.get_backend_name()
        self._fetch = fetch or _FETCHERS.get(self.backend, connectorx_fetch)
        self._fetch_rows = fetch or _ROW_FETCHERS.get(self.backend, connectorx_fetch_apart)
        self.dialect = dialect_for(url)
        self._owner = owner
        self._connect_timeout = connect_timeout
        self._reached = fetch is not None
        self._injected = fetch is not None
        # (character set, collation) -> how it compares text, as the server said
        self._compares: dict[tuple[str | None, str], TextMatch] = {}
        # table name -> whether its tenant column holds text (_typed)
        self._text_tenant: dict[str, bool] = {}

    def compile(self, statement: sa.Executable) -> str:
        return str(statement.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))

    def describe_query(self, table: TableConfig) -> str:
        return self._catalog_query(_DESCRIBE[self.backend], table)

    def _catalog_query(self, template: str, table: TableConfig) -> str:
        *schema, name = table.read_object.split(".")
        values = {"schema": ".".join(schema) or None, "table": name, "probe": table.name}
        statement = sa.text(template).bindparams(
            *(
                sa.bindparam(key, value, type_=TEXT)
                for key, value in values.items()
                if f":{key}" in template
            )
        )
        return self.compile(statement)

    def describe(self, table: TableConfig) -> list[SourceColumn]:
        """Declared column types of the table or view; a custom query's decimals."""
        if table.query:
            return self._describe_query(table)
        if self.backend not in _DESCRIBE:
            return []
        catalog = self._run(self.describe_query(table), 10_000, table).read_all()
        rows = zip(*(column.to_pylist() for column in catalog.columns), strict=True)
        columns = [SourceColumn.from_catalog(self._spelled(name), *rest) for name, *rest in rows]
        # Before any row is read (the driver would panic mid-read, naming no column); and
        # tributary check, which describes the table, says so too.
        if self.backend == "postgresql":
            for column in columns:
                if problem := column.unreadable_array:
                    raise SourceError(f"table '{table.name}': {problem}", transient=False)
        return columns

    def column_type(self, table: TableConfig, name: str) -> ColumnType | None:
        """`name`'s type before any row is read: as the catalog declares it; a custom query's
        as its driver describes it (decimals) or returns it (the rest, from an empty result).
        None where there is no such column (the read names it). The name is matched as the
        read matches it: exactly on PostgreSQL, else ignoring case."""
        columns = self.describe(table)
        spelled = self._matched(name, [c.name for c in columns])
        column = next((c for c in columns if c.name == spelled and c.data_type), None)
        if column is not None:
            backend = self._policy_backend
            declared = column.declared if column.is_decimal else column.column_type
            if backend in MYSQL_BACKENDS and column.read_as_boolean:
                declared += ", which is read as boolean"
            return ColumnType(declared, column.holds_numbers(backend))
        if not table.query:
            return None
        schema = self.query_schema(table)
        spelled = self._matched(name, schema.names)
        if spelled not in schema.names:
            return None
        kind = schema.field(spelled).type
        return ColumnType(f"{kind} (as the query returns it)", is_arrow_number(kind))

    @property
    def exact_names(self) -> bool:
        """Whether a configured column name must match the source's exactly: on PostgreSQL
        "UpdatedAt" is not updatedat (Oracle's names are compared as the dialect normalises
        them, lower case; MySQL's, SQL Server's and SQLite's ignore case)."""
        return self.backend == "postgresql"

    def _matched(self, name: str, names: list[str]) -> str:
        return name if self.exact_names else as_spelled(name, names)

    def origin(self, table: TableConfig) -> str:
        """backend://host:port/database (no user, password or options), then the object or
        the query with its spacing collapsed (OriginSource)."""
        url = self._url
        database = URL.create(self.backend, host=url.host, port=url.port, database=url.database)
        if table.query:
            return f"{database.render_as_string()} query {' '.join(table.query.split())}"
        return f"{database.render_as_string()} object {table.read_object}"

    def key_match(self, table: TableConfig) -> tuple[TextMatch, ...]:
        """How the database compares each of the table's primary_key columns, in its order:
        a text column by its collation, asked of the server itself (once per collation); a
        column without one (a number, binary text), or a custom query's (whose columns the
        catalog does not describe), exactly. Empty where every column compares exactly."""
        if not table.primary_key:
            return ()
        collations = self._collations(table)
        keyed = [collations.get(as_spelled(key, list(collations))) for key in table.primary_key]
        matches = self._collation_matches([c for c in keyed if c is not None], table)
        found = tuple(EXACT if c is None else matches[c] for c in keyed)
        return found if any(not m.exact for m in found) else ()

    def collation(self, table: TableConfig, column: str) -> str | None:
        """The collation `column` is compared by, where its name says how it orders text
        (ingest.cursor_collation_problem): MySQL/MariaDB's and SQL Server's; not PostgreSQL's,
        whose `default` is the database's, whatever that is."""
        if self.backend == "postgresql":
            return None
        collations = self._collations(table)
        found = collations.get(self._matched(column, list(collations)))
        return found[1] if found else None

    def _collations(self, table: TableConfig) -> dict[str, tuple[str | None, str]]:
        """(character set, collation) of each text column of the table, by name as read; none
        for a custom query (the catalog does not describe its columns) or a database whose
        collations are not asked (_COLLATIONS)."""
        if table.query or self.backend not in _COLLATIONS:
            return {}
        query = self._catalog_query(_COLLATIONS[self.backend], table)
        catalog = self._run(query, 10_000, table)
        return {
            self._spelled(name): (charset, collation)
            for name, charset, collation in (
                tuple(row.values()) for row in catalog.read_all().to_pylist()
            )
        }

    def _collation_matches(
        self, collations: list[tuple[str | None, str]], table: TableConfig
    ) -> dict[tuple[str | None, str], TextMatch]:
        """What the server says of each (character set, collation): asked once per reader."""
        asked = [c for c in dict.fromkeys(collations) if c not in self._compares]
        patterns = _POSTGRES_NAMES if self.backend == "postgresql" else (_COLLATION_NAME,) * 2
        for charset, collation in asked:
            names = zip(patterns, (charset or "x", collation), strict=True)
            if not all(pattern.match(name) for pattern, name in names):
                self._compares[(charset, collation)] = EXACT  # not a name the catalog gives
        asked = [c for c in asked if c not in self._compares]
        if asked:
            query = "\nunion all\n".join(
                _COMPARES[self.backend].format(asked=index, charset=charset, collation=collation)
                for index, (charset, collation) in enumerate(asked)
            )
            reader = self._run(query, 100, table)
            for row in reader.read_all().to_pylist():
                self._compares[asked[int(row["asked"])]] = TextMatch(
                    ignores_case=bool(row["ignores_case"]),
                    ignores_trailing_spaces=bool(row["ignores_trailing_spaces"]),
                )
        return {c: self._compares[c] for c in collations}

    def clock(self) -> SourceClock | None:
        """The database's time now, as it tells it (_CLOCKS); None where it cannot."""
        query = _CLOCKS.get(self.backend)
        if query is None:
            return None
        clock = self._run(query, 1, None, doing="reading its clock").read_all()
        utc, local = (_as_datetime(column[0].as_py()) for column in clock.columns[:2])
        zone = clock.column("zone")[0].as_py() if "zone" in clock.column_names else None
        return SourceClock(
            instant=utc.replace(tzinfo=UTC) if utc.tzinfo is None else utc.astimezone(UTC),
            local=local.replace(tzinfo=None),
            zone=zone if zone and is_timezone(zone) else None,
        )

    def ping(self) -> None:
        """Connect and log in once: a SourceError (or Unreachable) if that fails. Through the
        database's own driver where one is installed: connectorx's connection pool retries a
        refused login for 30 s before it says why (connector-x issue 710)."""
        if self.backend not in _LOGIN_DRIVERS or self._reached:  # no driver, or a fetcher
            self._run(self.compile(sa.select(sa.literal(1))), 1, None).read_all()
            return
        self._log_in()

    def _log_in(self) -> None:
        """Before the first query: the server answers, and where a driver is installed, the
        login is good. connectorx's pool retries a refused login for 30 s, then says it timed
        out waiting for a connection, naming neither source nor host (connector-x issue 710)."""
        if self.backend in _LOGIN_DRIVERS:
            with self._driver_connection("login") as connection:
                connection.execute(sa.text("select 1"))
        else:
            self._probe()
            self._reached = True

    @contextmanager
    def _driver_connection(self, doing: str) -> Iterator[sa.Connection]:
        """A connection through the database's own driver (_LOGIN_DRIVERS), the server checked
        reachable first (once: a login that succeeded is the source reached, and the first
        query skips its own); the driver's errors as a SourceError, without credentials."""
        if not self._reached:
            self._probe()
        module, timeout_argument = _LOGIN_DRIVERS[self.backend]
        connect_args: dict[str, Any] = {timeout_argument: max(2, math.ceil(self._connect_timeout))}
        if module == "pymysql" and self._url.password:
            # PyMySQL sends a str password as Latin-1; the server, the mysql client and
            # connectorx take its UTF-8 bytes.
            connect_args["password"] = self._url.password.encode()
        engine = sa.create_engine(
            self._url.set(drivername=f"{self.backend}+{module}"),
            poolclass=sa.pool.NullPool,
            connect_args=connect_args,
        )
        try:
            try:
                connection = engine.connect()
            except Exception as exc:  # a driver's own too (UnicodeEncodeError), not a DBAPIError
                raise self._driver_error("login", exc) from None
            self._reached = True
            with connection:
                try:
                    yield connection
                except sa.exc.DBAPIError as exc:
                    raise self._driver_error(doing, exc) from None
        finally:
            engine.dispose()

    def _driver_error(self, doing: str, exc: Exception) -> SourceError:
        """The driver's own message, without credentials, and what its code says of retrying
        it (the driver's error is not chained: its text may hold them)."""
        driver = getattr(exc, "orig", exc)
        message = redact(" ".join(str(driver).split()), self._url)
        return SourceError(
            f"{self._owner}: {doing} failed: {message}", transient=said_by_driver(driver)
        )

    def _describe_query(self, table: TableConfig) -> list[SourceColumn]:
        """A custom query's columns, from its driver's description of the result (no row
        read): its decimals with their precision and scale, so that they are read as text and
        cast exactly, as a table's are (connectorx would round them to 10 places); its other
        columns as the driver reads them. None where no driver is installed, or where the
        result holds one name twice (the read names it)."""
        decimals = _DECIMAL_TYPE_CODES.get(self.backend)
        if decimals is None or self._injected:
            return []
        query = sa.text(f"select * from ({table.query}) src where 1 = 0")
        params = query.compile().params  # a tenant's query: each of its :names as NULL
        with self._driver_connection(f"describing table '{table.name}'") as connection:
            description = connection.execute(query, params).cursor.description
        names = [self._spelled(entry[0]) for entry in description]
        if repeated(names):
            return []
        return [
            _query_column(name, entry, self.backend) if entry[1] in decimals
            else SourceColumn(name, data_type="", column_type="")
            for name, entry in zip(names, description, strict=True)
        ]  # fmt: skip

    def estimated_rows(self, table: TableConfig) -> int | None:
        """The table's rows as the catalog estimates them, without scanning it; None for a
        view or a custom query, or where the database keeps no estimate."""
        if table.query:
            return None
        if self.backend == "sqlite":
            statement = sa.select(sa.func.count()).select_from(self._relation(table, None))
            query = self.compile(statement)
        elif self.backend in _ESTIMATED_ROWS:
            query = self._catalog_query(_ESTIMATED_ROWS[self.backend], table)
        else:
            return None
        rows = self._run(query, 10, table).read_all()
        values = rows.column(0).to_pylist() if rows.num_columns else []
        return int(values[0]) if values and values[0] is not None else None

    def probe_query(
        self, tables: list[TableConfig], *, text_timestamps: Collection[str] = ()
    ) -> str:
        """One query reading a version of each table that changes when its rows do: the
        highest cursor value where the table has a cursor (the latest instant's, for the tables
        `text_timestamps` names: _text_timestamp_cursor), else the catalog's change counter
        (a row count for a custom query, and on SQLite). Rows: probe_table, probe_version."""
        return "\nunion all\n".join(
            self._probe_select(table, text_timestamp=table.name in text_timestamps)
            for table in tables
        )

    def _probe_select(self, table: TableConfig, *, text_timestamp: bool) -> str:
        name = sa.literal(table.name, TEXT).label("probe_table")
        if table.cursor:
            version = self._highest(table.cursor, text_timestamp=text_timestamp)
        elif table.query or self.backend not in _CHANGE_COUNTERS:
            version = sa.func.count()
        else:
            return self._catalog_query(_CHANGE_COUNTERS[self.backend], table)
        if self.backend == "mssql":
            # CAST to text keeps only the minute of a datetime there; style 126 is ISO 8601.
            text = sa.func.convert(sa.literal_column("varchar(100)"), version, 126)
        else:
            text = sa.cast(version, TEXT_VALUE)
        statement = sa.select(name, text.label("probe_version"))
        return self.compile(statement.select_from(self._relation(table, None)))

    def probe(self, tables: list[TableConfig]) -> dict[str, str | None]:
        """Each table's version now (None where the catalog has none yet), in one query; a
        table that cannot be observed has a version `unobservable` explains. On SQLite, each
        cursor's type is read first: the highest text of a timestamp column holding both forms
        is not its latest instant, which a later row may not move."""
        text_timestamps = {t.name for t in tables if self._text_timestamp_cursor(t)}
        query = self.probe_query(tables, text_timestamps=text_timestamps)
        result = self._run(query, 10_000, None, doing="probing tables for changes").read_all()
        names, versions = (column.to_pylist() for column in result.columns)
        found = dict(zip(names, versions, strict=True))
        return {table.name: found.get(table.name) for table in tables}

    def rows(self, query: str) -> list[dict[str, Any]]:
        """A small query's result (a registry of tenants, say), as is. A result naming a
        column twice (PostgreSQL returns one; its callers compare names ignoring case) is
        refused: a row, a mapping of name to value, would keep one of them silently."""
        result = self._run(query, 10_000, None, doing="running a query").read_all()
        if twice := repeated(result.column_names):
            raise SourceError(
                f"{self._owner}: the query returns two columns named {twice} (names are "
                "compared ignoring case); give each its own name in the query"
            )
        return result.to_pylist()

    def query_schema(self, table: TableConfig) -> pa.Schema:
        """The Arrow schema a custom query returns, read from an empty result (`where false`);
        a tenant-scoped query runs with no tenant (NULL)."""
        statement = sa.select(sa.literal_column("*")).select_from(self._unbound_relation(table))
        reader = self._run(self.compile(statement.where(sa.false())), 10, table)
        return self._rename(pa.RecordBatch.from_pylist([], schema=reader.schema)).schema

    def read_schema(self, table: TableConfig) -> pa.Schema:
        """The Arrow schema a read of `table` yields, the type policy applied, from an empty
        result (`where false`): the types the load judges, without reading a row."""
        columns = self.describe(table)
        statement = sa.select(*self._select_list(columns)).select_from(
            self._unbound_relation(table)
        )
        reader = self._run(self.compile(statement.where(sa.false())), 10, table)
        empty = pa.RecordBatch.from_pylist([], schema=reader.schema)
        return self._normalize(empty, {c.name: c for c in columns}, table, Counter()).schema

    def _unbound_relation(self, table: TableConfig) -> sa.FromClause:
        """The table, or its custom query with no tenant (its parameters NULL)."""
        if not table.query:
            return self._relation(table, None)
        text = sa.text(table.query)
        if table.tenant_column:
            names = ["tenant_id", *table.setting_names]
            text = text.bindparams(*(sa.bindparam(name, None) for name in names))
        return text.columns().subquery("src")

    def build_query(
        self,
        table: TableConfig,
        *,
        since: Any | None = None,
        where: Slice | None = None,
        columns: list[SourceColumn] = (),
    ) -> str:
        statement = (
            sa.select(*self._select_list(columns))
            .select_from(self._relation(table, where))
            .where(*self._conditions(table, since=since, where=where, columns=columns))
        )
        return self.compile(statement)

    def profile_queries(
        self,
        table: TableConfig,
        window: Window,
        *,
        checksum: list[str] = (),
        columns: list[SourceColumn] = (),
        text_timestamp: bool = False,
    ) -> tuple[str, str | None]:
        """The SQL that counts the window's rows (and its highest cursor value, the latest
        instant's where the cursor is a `text_timestamp`), and the SQL that reads the checksum
        columns of the window, if any are asked for."""
        by_name = {c.name: c for c in columns}  # as the catalog spells them, normalized

        def declared(name: str) -> SourceColumn | None:
            return by_name.get(as_spelled(name, list(by_name)))

        relation, conditions = self._window(table, window, columns)
        aggregates = [sa.func.count().label(PROFILE_ROWS)]
        if window.cursor:
            highest = self._highest(window.cursor, text_timestamp=text_timestamp)
            aggregates.append(self._as_read(highest, declared(window.cursor), window.cursor))
        counts = self.compile(sa.select(*aggregates).select_from(relation).where(*conditions))
        if not checksum:
            return counts, None
        selected = [self._as_read(sa.column(name), declared(name), name) for name in checksum]
        return counts, self.compile(sa.select(*selected).select_from(relation).where(*conditions))

    def _text_timestamp_cursor(
        self, table: TableConfig, columns: list[SourceColumn] | None = None
    ) -> bool:
        """Whether `table`'s cursor is SQLite text that connectorx reads as a timestamp, in
        either of its forms (sources/sqlite.py): a table's column declared so (`columns`, as
        described; described here if None), a custom query's column returned so (read without
        rows: a column of a declared type keeps it through the query)."""
        if self.backend != "sqlite" or table.cursor is None:
            return False
        if table.query:
            schema = self.query_schema(table)
            name = self._matched(table.cursor, schema.names)
            return name in schema.names and pa.types.is_timestamp(schema.field(name).type)
        if columns is None:
            columns = self.describe(table)
        name = self._matched(table.cursor, [c.name for c in columns])
        return sqlite.read_as_timestamp(next((c for c in columns if c.name == name), None))

    def _highest(self, cursor: str, *, text_timestamp: bool) -> sa.ColumnElement:
        """`cursor`'s highest value; of a `text_timestamp` cursor the latest instant's, not the
        highest text (a 'T' sorts after a space: sqlite.sortable)."""
        values: sa.ColumnElement = sa.column(cursor)
        return sa.func.max(sqlite.sortable(values) if text_timestamp else values)

    def _lowest(self, cursor: str, *, text_timestamp: bool) -> sa.ColumnElement:
        """`cursor`'s lowest value, as _highest its highest."""
        values: sa.ColumnElement = sa.column(cursor)
        return sa.func.min(sqlite.sortable(values) if text_timestamp else values)

    def _window(
        self, table: TableConfig, window: Window, columns: list[SourceColumn] = ()
    ) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]]]:
        conditions = self._conditions(
            table,
            since=window.low,
            until=window.high,
            where=window.where,
            exclude_null=window.cursor is not None and not window.include_null,
            columns=columns,
        )
        return self._relation(table, window.where), conditions

    def duplicate_keys_query(
        self, table: TableConfig, window: Window, limit: int, columns: list[SourceColumn] = ()
    ) -> str:
        keys = [sa.column(name) for name in table.primary_key]
        relation, conditions = self._window(table, window, columns)
        rows = sa.func.count().label(PROFILE_ROWS)
        statement = (
            sa.select(*keys, rows)
            .select_from(relation)
            .where(*conditions)
            .group_by(*keys)
            .having(sa.func.count() > 1)
            .order_by(sa.desc(rows), *keys)
            .limit(limit)
        )
        return self.compile(statement)

    def duplicate_keys(self, table: TableConfig, window: Window, *, limit: int) -> list[tuple]:
        """Up to `limit` primary keys the window holds more than once, with their row counts:
        a key the source does not enforce (a view, a table without the constraint)."""
        query = self.duplicate_keys_query(table, window, limit, self.describe(table))
        reader = self._run(query, limit, table)
        return [tuple(row.values()) for row in reader.read_all().to_pylist()]

    def profile(self, table: TableConfig, window: Window, *, checksum: list[str] = ()) -> Profile:
        """Count the window in the source itself, with the type policy applied to what is
        compared, so that values read the same as the extract's."""
        columns = self.describe(table)
        counts_sql, checksum_sql = self.profile_queries(
            table,
            window,
            checksum=checksum,
            columns=columns,
            text_timestamp=window.cursor is not None
            and self._text_timestamp_cursor(table, columns),
        )
        by_name = {c.name: c for c in columns}
        [row] = self._normalized(self._run(counts_sql, 10, table), by_name, table).to_pylist()
        digest = None
        if checksum_sql is not None:
            reader = self._run(checksum_sql, 100_000, table)
            _, digest = checksum_rows(
                self._normalize(batch, by_name, table, Counter()) for batch in reader
            )
        return Profile(
            rows=int(row[PROFILE_ROWS]),
            max_cursor=row.get(as_spelled(window.cursor, list(row))) if window.cursor else None,
            checksum=digest,
        )

    def first_cursor_holding_query(
        self,
        table: TableConfig,
        wanted: Sequence[WantedValues],
        *,
        before: Any,
        where: Slice | None = None,
        columns: list[SourceColumn] = (),
        text_timestamp: bool = False,
    ) -> str:
        """The SQL of first_cursor_holding: one aggregate over the table (its custom query as
        a subquery), bounded by the cursor where an index on it helps."""
        if not table.cursor:
            raise SourceError(f"table '{table.name}' has no cursor to read incrementally")
        by_name = {c.name: c for c in columns}
        cursor = sa.column(table.cursor)
        relation, conditions = self._window(
            table, Window(where=where, cursor=table.cursor, high=before)
        )
        holding = []
        for names, low in wanted:
            values = sa.or_(*(sa.column(name).is_not(None) for name in names))
            holding.append(values if low is None else sa.and_(self._at_least(cursor, low), values))
        lowest = self._lowest(table.cursor, text_timestamp=text_timestamp)
        declared = by_name.get(self._matched(table.cursor, list(by_name)))
        statement = (
            sa.select(self._as_read(lowest, declared, table.cursor))
            .select_from(relation)
            .where(*conditions, sa.or_(*holding))
        )
        return self.compile(statement)

    def first_cursor_holding(
        self,
        table: TableConfig,
        wanted: Sequence[WantedValues],
        *,
        before: Any,
        where: Slice | None = None,
    ) -> Any | None:
        """The lowest cursor among the rows (of the slice `where`) whose cursor is at most
        `before` and, for one of `wanted`'s (columns, from), at least `from` with a value in
        one of the columns; None where no row is (sources.base.ValueLocatingSource). Read as the
        cursor is read, so that a read from it starts there."""
        columns = self.describe(table)
        text_timestamp = self._text_timestamp_cursor(table, columns)
        query = self.first_cursor_holding_query(
            table,
            wanted,
            before=before,
            where=where,
            columns=columns,
            text_timestamp=text_timestamp,
        )
        by_name = {c.name: c for c in columns}
        [row] = self._normalized(self._run(query, 10, table), by_name, table).to_pylist()
        [lowest] = row.values()
        if isinstance(lowest, str) and text_timestamp:  # SQLite's text, sortable's form
            return datetime.fromisoformat(lowest)
        return lowest

    def _normalized(
        self, reader: pa.RecordBatchReader, by_name: dict[str, SourceColumn], table: TableConfig
    ) -> pa.Table:
        return pa.Table.from_batches(
            [self._normalize(batch, by_name, table, Counter()) for batch in reader]
        )

    def _normalize(
        self,
        batch: pa.RecordBatch,
        by_name: dict[str, SourceColumn],
        table: TableConfig,
        counters: Counter,
    ) -> pa.RecordBatch:
        """A fetched batch as the type policy reads it; a value the policy refuses fails naming
        the table as well as the column (types.py names the column alone)."""
        try:
            return normalize(self._rename(batch), by_name, self._policy_backend, counters)
        except SourceError as error:
            raise SourceError(f"table '{table.name}': {error}", transient=error.transient) from None

    def _typed(self, table: TableConfig, where: Slice | None) -> Slice | None:
        """`where` with a whole-number tenant id as text where the tenant column holds text,
        on PostgreSQL: tenants.yaml's `id: 1` against a varchar column failed every load of
        the tenant (`operator does not exist: character varying = integer`), where MySQL,
        SQL Server and Oracle compare the two. The text of a whole number is the id itself
        (its partition and _tenant_id), and the column's type is asked once per table."""
        if (
            self.backend != "postgresql"
            or where is None
            or where.kind != "tenant"
            or not isinstance(where.low, int)
            or isinstance(where.low, bool)
        ):
            return where
        if table.name not in self._text_tenant:
            declared = self.column_type(table, where.source_column)
            self._text_tenant[table.name] = declared is not None and not declared.number
        return replace(where, low=str(where.low)) if self._text_tenant[table.name] else where

    def _relation(self, table: TableConfig, where: Slice | None) -> sa.FromClause:
        where = self._typed(table, where)
        if table.query:
            text = sa.text(table.query)
            if where is not None and where.kind == "tenant":
                values = {"tenant_id": where.low, **dict(where.settings)}
                text = text.bindparams(*(sa.bindparam(k, v) for k, v in values.items()))
            return text.columns().subquery("src")
        *schema, name = table.read_object.split(".")
        return sa.table(name, schema=".".join(schema) or None)

    def _conditions(
        self,
        table: TableConfig,
        *,
        since: Any | None = None,
        until: Any | None = None,
        where: Slice | None = None,
        exclude_null: bool = False,
        columns: list[SourceColumn] = (),
    ) -> list[sa.ColumnElement[bool]]:
        """`columns`: the table's, as described (where the cursor's type decides which of its
        values are read as NULL)."""
        where = self._typed(table, where)
        conditions = []
        if since is not None or until is not None or exclude_null:
            if not table.cursor:
                raise SourceError(f"table '{table.name}' has no cursor to read incrementally")
            # A read of the cursor range takes the rows whose cursor is NULL too, whatever the
            # table's null_cursor (ingest.apply_null_cursor_policy); a window (`exclude_null`
            # unless the table includes them) matches what the table holds.
            conditions.extend(
                cursor_conditions(
                    sa.column(table.cursor),
                    since,
                    until,
                    include_null=not exclude_null,
                    exclude_null=exclude_null,
                    lower=self._at_least,
                    upper=self._at_most,
                    null=self._read_as_null(table, columns),
                )
            )
        if where is not None and not (table.query and where.kind == "tenant"):
            conditions.extend(where.conditions(where.source_column))
        return conditions

    def _read_as_null(self, table: TableConfig, columns: list[SourceColumn]) -> Null:
        """Which cursor values the read makes NULL: NULL itself, and a MySQL date or time of
        year 0 (its zero date, 0000-00-00, among them), which the type policy reads as NULL;
        selected as one more index range (`< '0001-01-01'`). A month or day 0 in another year
        ('2024-00-10', read as NULL too) lies among the real dates, where no range finds it."""
        spelled = self._matched(table.cursor or "", [c.name for c in columns])
        column = next((c for c in columns if c.name == spelled), None)
        if column is None or not column.zero_dates_null(self.backend):
            return is_null
        return lambda cursor: sa.or_(cursor.is_(None), cursor < sa.literal(FIRST_DAY))

    def _at_least(self, cursor: sa.ColumnClause, value: Any) -> sa.ColumnElement[bool]:
        if self._text_timestamp(value):
            return sqlite.at_least(cursor, value)
        return cursor >= self._literal(value)

    def _at_most(self, cursor: sa.ColumnClause, value: Any) -> sa.ColumnElement[bool]:
        if self._text_timestamp(value):
            return sqlite.at_most(cursor, value)
        return cursor <= self._literal(value)

    def _text_timestamp(self, value: Any) -> bool:
        """A timestamp bound for a SQLite cursor, which SQLite keeps as text."""
        return self.backend == "sqlite" and isinstance(value, datetime) and not value.tzinfo

    def _literal(self, value: Any) -> sa.ColumnElement:
        if self.backend == "mssql" and isinstance(value, datetime):
            # A plain string literal converts to DATETIME, which takes 3 fractional digits.
            return sa.cast(sa.literal(value.isoformat(sep=" ")), mssql.DATETIME2(6))
        return sa.literal(value)

    def _select_list(self, columns: list[SourceColumn]) -> list[sa.ColumnElement]:
        if not columns:
            return [sa.literal_column("*")]
        return [self._as_read(sa.column(c.name), c, c.name) for c in columns]

    def _as_read(
        self, expression: sa.ColumnElement, column: SourceColumn | None, label: str
    ) -> sa.ColumnElement:
        """A column (or an aggregate of it) as the type policy reads it: some types as text."""
        read_as = column.read_as(self.backend) if column is not None else None
        if read_as is ReadAs.TEXT:
            return sa.cast(expression, TEXT_VALUE).label(label)
        if read_as is ReadAs.TEXT_ARRAY:
            # through the array's own text: each element as its type prints it (a cast of the
            # array to text[] casts each one, which cuts char(n)'s padding, adds inet's /32)
            printed = sa.cast(expression, TEXT_VALUE)
            return sa.cast(printed, postgresql.ARRAY(sa.Text())).label(label)
        if read_as is ReadAs.DECIMAL_TEXT:
            return sa.cast(sa.cast(expression, sa.Numeric()), TEXT_VALUE).label(label)
        if read_as is ReadAs.WELL_KNOWN_TEXT:
            return sa.func.ST_AsText(expression).label(label)
        if read_as is ReadAs.PRINTED_ADDRESS:
            return sa.func.abbrev(expression).label(label)
        if read_as is ReadAs.UNSIGNED:
            return sa.cast(expression, mysql.INTEGER(unsigned=True)).label(label)
        if read_as is ReadAs.MICROSECONDS:
            since_midnight = sa.extract("epoch", expression) * 1_000_000
            return sa.cast(since_midnight, sa.BigInteger()).label(label)
        if isinstance(expression, sa.ColumnClause) and expression.name == label:
            return expression
        return expression.label(label)

    @property
    def _policy_backend(self) -> str:
        return self.backend if self.backend not in MYSQL_BACKENDS else "mysql"

    def read(
        self,
        table: TableConfig,
        *,
        since: Any | None = None,
        batch_rows: int,
        where: Slice | None = None,
    ) -> Extract:
        columns = self.describe(table)
        query = self.build_query(table, since=since, where=where, columns=columns)
        counters: Counter = Counter()
        reader = self._run(query, batch_rows, table, fetch=self._fetch_rows)
        by_name = {c.name: c for c in columns}
        backend = self._policy_backend

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                yield self._normalize(batch, by_name, table, counters)

        empty = self._rename(pa.RecordBatch.from_pylist([], schema=reader.schema))
        schema = normalize(empty, by_name, backend, Counter()).schema
        return Extract(
            batches=pa.RecordBatchReader.from_batches(schema, batches()),
            counters=counters,
            query=query,
            notes=self._session_zone_notes(table),
        )

    def _session_zone_notes(self, table: TableConfig) -> list[str]:
        """Where a MySQL view or custom query is evaluated in a session at UTC on a server
        whose zone is another: what that changes (_SESSION_ZONE). A table's TIMESTAMP columns
        are read exactly whatever the zone; only what the view or query computes differs."""
        if self.backend not in MYSQL_BACKENDS:
            return []
        found = self._run(self._catalog_query(_SESSION_ZONE, table), 1, table).read_all()
        zone, offset, views = (column[0].as_py() for column in found.columns)
        if (zone in UTC_NAMES and not offset) or not (table.query or views):
            return []
        what = "its query" if table.query else f"view {table.read_object}"
        hours, minutes = divmod(abs(offset), 60)
        return [
            f"{what} is evaluated in a session at UTC (+00:00), not in the server's zone "
            f"({zone}: UTC{'-' if offset < 0 else '+'}{hours:02d}:{minutes:02d} now). Its NOW(), "
            "CURDATE(), FROM_UNIXTIME(), and DATE(), CAST() or DATE_FORMAT() of a TIMESTAMP, give "
            "UTC's values, not those the server's own sessions see (a TIMESTAMP column itself is "
            "read exactly, as an instant). Where it computes such values, name the zone in it "
            "(CONVERT_TZ(x, '+00:00', '<zone>')), or compute them in dbt"
        ]

    def _spelled(self, name: str) -> str:
        """A column's name as Tributary spells it: an all-upper-case name in lower case, by the
        dialect's own rule (Oracle's catalog speaks UPPER CASE; MySQL's, SQL Server's and
        SQLite's column names ignore case), except on PostgreSQL, where a column created as
        "ID" is not id: there a name is as the database keeps it."""
        if self.backend == "postgresql":
            return name
        return self.dialect.normalize_name(name) or name

    def _rename(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        names = [self._spelled(name) for name in batch.schema.names]
        return batch.rename_columns(names) if names != batch.schema.names else batch

    def _run(
        self,
        query: str,
        batch_rows: int,
        table: TableConfig | None,
        *,
        doing: str = "",
        fetch: Fetcher | None = None,
    ) -> pa.RecordBatchReader:
        if not self._reached:
            self._log_in()
        if doing:
            what = f"{self._owner}: {doing}"
        elif table:
            what = f"reading table '{table.name}'"
        else:
            what = f"{self._owner}: connecting"
        try:
            reader = (fetch or self._fetch)(self._connectorx_url(), query, batch_rows)
        except BaseException as exc:
            raise self._failed(what, exc) from None
        return pa.RecordBatchReader.from_batches(reader.schema, self._guarded(reader, what))

    def _guarded(self, reader: pa.RecordBatchReader, what: str) -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except BaseException as exc:
            raise self._failed(what, exc) from None

    def _failed(self, what: str, exc: BaseException) -> BaseException:
        """The driver's error as a SourceError naming what failed, without credentials. A
        Rust panic (connectorx on a type or value it cannot convert) is a BaseException to
        Python; it is a failed read like any other. Interrupts stay what they are."""
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            return exc
        if isinstance(exc, SourceError):
            return exc
        return SourceError(f"{what} failed: {redact(str(exc), self._url)}")

    def _probe(self) -> None:
        # connectorx waits 30 s for a SQLite file that is not there, as for a server that is down.
        if self.backend == "sqlite":
            path = self._url.database
            if path and path != ":memory:" and not Path(path).is_file():
                raise SourceError(f"{self._owner}: SQLite database file {path} not found")
            return
        probe_url(self._url, owner=self._owner, timeout=self._connect_timeout)

    def _connectorx_url(self) -> str:
        scheme = _CONNECTORX_SCHEMES.get(self.backend)
        if scheme is None:
            raise SourceError(f"no reader for databases of type '{self.backend}'")
        return self._url.set(drivername=scheme).render_as_string(hide_password=False)
