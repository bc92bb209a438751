"""The PostgreSQL warehouse: staging tables bulk-loaded with COPY, all in one transaction."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import URL

from tributary.config.common import DEFAULT_CONNECT_TIMEOUT
from tributary.connection import hide
from tributary.errors import UnloadableValue, WarehouseError
from tributary.reach import probe
from tributary.retry import said_by_driver
from tributary.warehouse.base import (
    SESSION_TIME_ZONE,
    STATE_SCHEMA,
    KeyRepeats,
    LoadTables,
    LoadTarget,
    StateQuery,
    T,
    Warehouse,
    placeholders_as_format,
    quote_ident,
    refuse_wide_decimal,
)
from tributary.warehouse.drift import SchemaPlan
from tributary.warehouse.postgres import binary as pg_binary
from tributary.warehouse.postgres.read import read_with_copy

_SIMPLE_TYPES = {
    pa.bool_(): "boolean",
    pa.int8(): "smallint",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.uint8(): "smallint",
    pa.uint16(): "integer",
    pa.uint32(): "bigint",
    pa.uint64(): "numeric(20, 0)",
    pa.float16(): "real",
    pa.float32(): "real",
    pa.float64(): "double precision",
    pa.date32(): "date",
    pa.date64(): "date",
}


def pg_family_type(
    arrow_type: pa.DataType,
    *,
    warehouse: str,
    text: str,
    binary: str,
    json: str,
    max_precision: int | None = None,
    arrays: bool = False,
) -> str:
    """The column type for an Arrow type in PostgreSQL or a warehouse that speaks its
    dialect (Redshift): the same names, but for text, binary, JSON and decimal width, and
    lists, which become arrays where the warehouse has them (`arrays`: PostgreSQL)."""
    if arrays and _is_list(arrow_type) and not _is_list(arrow_type.value_type):
        element = pg_family_type(
            arrow_type.value_type, warehouse=warehouse, text=text, binary=binary, json=json
        )
        return f"{element}[]"
    if arrow_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[arrow_type]
    if isinstance(arrow_type, pa.JsonType):
        return json
    if pa.types.is_decimal(arrow_type):
        if max_precision is not None:
            refuse_wide_decimal(arrow_type, warehouse=warehouse, max_precision=max_precision)
        return f"numeric({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return text
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return binary
    if pa.types.is_time(arrow_type):
        return "time"
    if pa.types.is_null(arrow_type):
        return text
    raise TypeError(f"no {warehouse} column type for Arrow type {arrow_type}")


# Quote every non-null value, so that PostgreSQL's CSV reads an empty string as '' and only
# an unquoted empty field as NULL.
# What goes in and out as text must not depend on the database's or role's settings: each of
# these changes how a value is written or read (bytes decoded as LATIN1, floats rounded to 15
# digits, bytea in escape form, a backslash in a literal starting an escape).
SESSION_SETTINGS = {
    "timezone": SESSION_TIME_ZONE,
    "datestyle": "ISO, YMD",
    "intervalstyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
    "standard_conforming_strings": "on",
    "client_encoding": "UTF8",
}
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")


class PostgresWarehouse(Warehouse):
    kind = "postgres"
    loads_while_landing = True  # COPY from the batches, however they come
    name_bytes = 63  # NAMEDATALEN - 1

    def __init__(self, conninfo: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._con: psycopg.Connection | None = None

    @property
    def con(self) -> psycopg.Connection:
        if self._con is None:
            self._con = self._connect()
            self.ensure_state()
        return self._con

    def check_access(self, schemas: Sequence[str]) -> list[str]:
        # Its own connection, closed at once: `con` would create the state tables.
        with self._connect() as con:
            return schema_access_problems(
                lambda sql, params: con.execute(sql, list(params) or None).fetchall(), schemas
            )

    def read_state(self, read: Callable[[StateQuery], T], *, nothing: T) -> T:
        with self._connect() as con:  # its own, as check_access's
            return read(
                lambda sql, params: con.execute(
                    placeholders_as_format(sql, params), list(params) or None
                ).fetchall()
            )

    def _connect(self) -> psycopg.Connection:
        params = conninfo_to_dict(self._conninfo)
        probe(
            "postgresql",
            params.get("host"),
            params.get("port"),
            owner="warehouse",
            timeout=self._connect_timeout,
        )
        try:
            # libpq's own limit too (whole seconds, at least 2), for what follows the probe
            con = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=max(2, math.ceil(self._connect_timeout)),
            )
        except psycopg.Error as exc:  # the message must not carry the conninfo's password
            message = hide(str(exc), _password(self._conninfo))
            raise WarehouseError(
                f"connecting to the PostgreSQL warehouse: {message}", transient=said_by_driver(exc)
            ) from None
        names = list(SESSION_SETTINGS)
        con.execute(
            "select " + ", ".join("set_config(%s, %s, false)" for _ in names),
            [value for name in names for value in (name, SESSION_SETTINGS[name])],
        )
        return con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(placeholders_as_format(sql, params), list(params) or None)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        rows = self.con.execute(placeholders_as_format(sql, params), list(params) or None)
        return rows.fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.con.transaction():
            yield

    @contextmanager
    def one_snapshot(self) -> Iterator[None]:
        # read committed, PostgreSQL's default, takes a snapshot per statement
        with self.con.transaction():
            self.execute("set transaction isolation level repeatable read")
            yield

    def sql_type(self, arrow_type: pa.DataType) -> str:
        return pg_family_type(
            arrow_type,
            warehouse="PostgreSQL",
            text="text",
            binary="bytea",
            json="jsonb",
            arrays=True,
        )

    def create_staging(
        self, name: str, schema: pa.Schema, batches: pa.RecordBatchReader, landing_path: str
    ) -> None:
        columns = ", ".join(f"{quote_ident(f.name)} {self.sql_type(f.type)}" for f in schema)
        # UNLOGGED: the staging rows skip the write-ahead log (about 40% of the COPY). The
        # table lives and dies inside the load's transaction, so no crash can need them.
        self.execute(f"create unlogged table {name} ({columns})")
        self._copy(name, schema, batches)

    def _copy(self, name: str, schema: pa.Schema, batches: pa.RecordBatchReader) -> None:
        """COPY the batches into the columns of table `name` the schema names."""
        try:
            self._copy_rows(name, schema, batches)
        except psycopg.errors.CharacterNotInRepertoire as error:  # text holding 0x00
            column = _copied_column(error, schema.names)
            raise UnloadableValue(
                column,
                "a text value holds the NUL character (0x00), which PostgreSQL text cannot "
                f"hold; remove it in the table's `query:` (for example replace({column}, "
                "char(0), ''))",
            ) from None

    def _copy_rows(self, name: str, schema: pa.Schema, batches: pa.RecordBatchReader) -> None:
        names = ", ".join(quote_ident(f.name) for f in schema)
        if pg_binary.binary_copy_supported(schema):
            # Binary COPY, encoded from Arrow without text: several times cheaper than CSV,
            # and inside the load's transaction (an Arrow driver such as ADBC needs its own
            # session, which cannot write into this one).
            with self.con.cursor().copy(
                f"copy {name} ({names}) from stdin (format binary)"
            ) as copy:
                copy.write(pg_binary.HEADER)
                for batch in batches:
                    copy.write(pg_binary.encode_rows(batch))
                copy.write(pg_binary.TRAILER)
            return
        with self.con.cursor().copy(f"copy {name} ({names}) from stdin (format csv)") as copy:
            for batch in batches:
                buffer = io.BytesIO()
                pacsv.write_csv(_copyable(batch), buffer, write_options=_CSV)
                copy.write(buffer.getvalue())

    def copy_straight_in(
        self,
        tables: LoadTables,
        incoming: pa.Schema,
        batches: pa.RecordBatchReader,
        plan: SchemaPlan,
        *,
        exists: bool,
    ) -> KeyRepeats | None:
        # A full, unsliced load whose columns the table holds with exactly these types: COPY
        # into the truncated raw table, sparing the INSERT ... SELECT from a staging table
        # (about a third of a large load). TRUNCATE is transactional, so a failure leaves the
        # previous rows; but it locks the table against readers until the load commits.
        target = tables.target
        if target.mode != "full" or target.where is not None or plan.added or plan.widened:
            return None
        if exists:
            held = dict(
                self.query(
                    "select attname, format_type(atttypid, atttypmod) from pg_attribute "
                    "where attrelid = ?::regclass and attnum > 0 and not attisdropped",
                    [target.qualified_name],
                )
            )
            for field in incoming:
                if _canonical_type(held.get(field.name)) != _canonical_type(
                    self.sql_type(field.type)
                ):
                    return None  # a widened or added column: the staging path handles it
            self.empty(target.qualified_name)
        else:
            columns = ", ".join(f"{quote_ident(f.name)} {self.sql_type(f.type)}" for f in incoming)
            self.execute(f"create table {target.qualified_name} ({columns})")
        key = target.key_watch()
        self._copy(
            target.qualified_name, incoming, key.watching(batches) if key is not None else batches
        )
        return self.keep_one_row_per_key_where_written_twice(tables, incoming.names, key)

    def empty(self, table: str) -> None:
        # TRUNCATE is transactional in PostgreSQL and leaves no dead rows; a rename swap
        # would break the dbt views built on the raw table.
        self.execute(f"truncate {table}")

    def keys_staged_twice(self, tables: LoadTables, relation: str | None = None) -> bool:
        keys = tables.target.primary_key
        if len(keys) > 1:
            return super().keys_staged_twice(tables, relation)
        # One key column: counting its distinct values (a sort) took a quarter of the time of
        # the grouped aggregate, which spills its hash table at the default work_mem. A NULL
        # key is not counted as a distinct value: it answers True, and the window decides.
        [(repeated,)] = self.query(
            f"select count(*) - count(distinct {tables.target.matched_key()[0]}) "
            f"from {relation or tables.staged}"
        )
        return bool(repeated)

    def ensure_state(self) -> None:
        # Two runs' first connections to a new warehouse would both create the schema, and
        # only one can: the second waits for the first's commit, then finds it all there.
        with self.transaction():
            self._advisory_lock(STATE_SCHEMA)
            super().ensure_state()

    def lock(self, target: LoadTarget) -> None:
        # A transaction-scoped advisory lock per raw table: it needs no table to exist yet
        # (a first load), and is released by commit, rollback or a dead connection alike.
        self._advisory_lock(target.qualified_name)

    def _advisory_lock(self, name: str) -> None:
        self.execute("select pg_advisory_xact_lock(hashtextextended(?, 0))", [name])

    @contextmanager
    def one_at_a_time(self, work: str) -> Iterator[None]:
        # A session lock: held while this connection lives, released by a dead one.
        key = f"tributary work: {work}"
        self.execute("select pg_advisory_lock(hashtextextended(?, 0))", [key])
        try:
            yield
        finally:
            self.execute("select pg_advisory_unlock(hashtextextended(?, 0))", [key])

    @contextmanager
    def read(self, sql: str, *, batch_rows: int = 100_000) -> Iterator[pa.RecordBatchReader]:
        # COPY as CSV, parsed by Arrow with the query's column types: memory stays flat and
        # no value goes through Python objects.
        with read_with_copy(self.con, sql, batch_rows=batch_rows) as reader:
            yield reader


# Read-only: whether the login may use (or create) each schema it writes. The same catalog
# functions answer on PostgreSQL and Redshift.
_SCHEMA_ACCESS = """
    select nspname, has_schema_privilege(nspname, 'USAGE'), has_schema_privilege(nspname, 'CREATE')
    from pg_namespace where nspname in ({names})"""
_DATABASE_CREATE = "select has_database_privilege(current_database(), 'CREATE')"

Query = Callable[[str, Sequence[Any]], list[tuple]]


def schema_access_problems(query: Query, schemas: Sequence[str]) -> list[str]:
    """What stops the login writing `schemas` (nothing is written to find out): an existing
    schema it may not use or create tables in, or a missing one it may not create (the first
    load creates it). `query` runs SQL with %s parameters and returns the rows."""
    names = ", ".join(["%s"] * len(schemas))
    found = {row[0]: row[1:] for row in query(_SCHEMA_ACCESS.format(names=names), schemas)}
    problems = []
    for name, (usage, create) in found.items():
        lacking = [privilege for privilege, ok in (("USAGE", usage), ("CREATE", create)) if not ok]
        if lacking:
            problems.append(f"schema {name}: the login lacks {' and '.join(lacking)} on it")
    missing = [name for name in schemas if name not in found]
    if missing and not query(_DATABASE_CREATE, [])[0][0]:
        problems.append(
            f"schema {', '.join(missing)}: does not exist and the login may not create schemas "
            "in this database"
        )
    return problems


def conninfo(url: URL) -> str:
    """libpq's key=value connection string for a URL: any password (spaces, quotes, `@`) is
    quoted the way libpq reads it, which a rendered URL does not guarantee."""
    params = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
        **url.query,
    }
    return make_conninfo(**{key: value for key, value in params.items() if value is not None})


def _password(conninfo: str) -> str | None:
    try:
        return conninfo_to_dict(conninfo).get("password")
    except psycopg.Error:
        return None


# format_type's names for the types sql_type names otherwise
_FORMAT_TYPE_NAMES = {
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "time": "time without time zone",
}


def _copied_column(error: psycopg.Error, names: list[str]) -> str:
    """The column a COPY failed at, from PostgreSQL's context line ("COPY t, line 1, column
    name: ..."): the longest of `names` it mentions."""
    context = error.diag.context or ""
    named = [name for name in names if f", column {name}" in context]
    return max(named, key=len) if named else "?"


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)


def _canonical_type(name: str | None) -> str | None:
    """A column type as format_type writes it (`numeric(18,2)`), to compare two spellings."""
    if name is None:
        return None
    element, brackets = (name[:-2], "[]") if name.endswith("[]") else (name, "")
    return _FORMAT_TYPE_NAMES.get(element, element).replace(", ", ",") + brackets


def _copyable(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Binary columns as PostgreSQL's hex bytea text; everything else as Arrow writes it."""
    arrays = []
    for array in batch.columns:
        if isinstance(array.type, pa.JsonType):
            array = array.storage
        if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
            array = pa.array(
                [None if v is None else "\\x" + v.hex() for v in array.to_pylist()], pa.string()
            )
        elif pa.types.is_date(array.type) or pa.types.is_timestamp(array.type):
            array = _calendar_text(array)
        elif _is_list(array.type):
            array = _array_text(array)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _array_text(array: pa.Array) -> pa.Array:
    """A list column as PostgreSQL's array input reads it: `{"a","b \\"c\\"",NULL}`, each
    element quoted (a comma, brace, space or the text NULL stays itself) with its backslashes
    and double quotes escaped, as Arrow writes the element (floats as `nan`, `-inf`, `-0`)."""
    elements = _copyable(pa.RecordBatch.from_arrays([array.values], names=["e"])).column(0)
    escaped = pc.replace_substring(pc.cast(elements, pa.string()), "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    quoted = pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "NULL")
    lists = type(array).from_arrays(array.offsets, quoted, mask=pc.is_null(array))
    return pc.binary_join_element_wise("{", pc.binary_join(lists, ","), "}", "")


_FIRST_DAY, _LAST_DAY = -719_162, 2_932_896  # date32 of 0001-01-01 and 9999-12-31
_DAYS_400_YEARS = 146_097  # the Gregorian calendar repeats itself every 400 years
_MICROS_PER_DAY = 86_400_000_000


def _calendar_text(array: pa.Array) -> pa.Array:
    """A date or timestamp column as PostgreSQL's text COPY reads it. Arrow's CSV writer
    writes a day before Christ as year 0 or a negative year (which PostgreSQL refuses), the
    driver's infinities (the years 262142 and 262144 BC) as "<value out of range: ...>" or,
    with a zone, as another day (-infinity as 0001-01-01, taken without a word): such a
    column is spelled as PostgreSQL prints it, `0044-03-15 12:00:00+00 BC`, `infinity`."""
    is_date = pa.types.is_date(array.type)
    if not is_date and array.type.unit == "ns":  # nanoseconds reach 1677 to 2262 only
        return array
    # with a zone: its UTC values, which the text COPY reads as UTC ("Z", "+00")
    zone = "UTC" if not is_date and array.type.tz else None
    array = array.cast(pa.date32() if is_date else pa.timestamp("us", tz=zone))
    storage = array.view(pa.int32() if is_date else pa.int64())
    per_day = 1 if is_date else _MICROS_PER_DAY
    low, high = (value.as_py() for value in pc.min_max(storage).values())
    if low is None or (_FIRST_DAY * per_day <= low and high < (_LAST_DAY + 1) * per_day):
        return array  # the common case: Arrow writes it as PostgreSQL reads it
    driver = pg_binary.DRIVER_INFINITY_DAYS if is_date else pg_binary.DRIVER_INFINITY_MICROS
    text: list[str | None] = []
    for value in storage.to_pylist():
        if value is None or value in driver:
            endless = {driver[0]: "-infinity", driver[1]: "infinity"}
            text.append(None if value is None else endless[value])
            continue
        day, micros = divmod(value, per_day)
        # moved by whole 400-year cycles into the years Python's date has, then back
        cycles = -((day - _FIRST_DAY) // _DAYS_400_YEARS) if day < _FIRST_DAY else 0
        cycles = -((day - _LAST_DAY - 1) // _DAYS_400_YEARS + 1) if day > _LAST_DAY else cycles
        shifted = date(1970, 1, 1) + timedelta(days=day + cycles * _DAYS_400_YEARS)
        year = shifted.year - 400 * cycles
        spelled = f"{year if year > 0 else 1 - year:04d}-{shifted:%m-%d}"
        if not is_date:
            offset = "+00" if zone else ""
            spelled += f" {datetime.min + timedelta(microseconds=micros):%H:%M:%S.%f}{offset}"
        text.append(spelled if year > 0 else f"{spelled} BC")
    return pa.array(text, pa.string())
