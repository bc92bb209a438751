"""The one Warehouse interface, and the load algorithm every SQL warehouse shares.

A backend is a second implementation of the same primitives (run SQL, bulk-load a staging
table from Arrow, map Arrow types to its column types), not an `if` in every caller.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import reduce
from typing import Any, Literal, TypeVar

import pyarrow as pa

from tributary.arrow import StrictlyRising
from tributary.errors import OvertakenLoadError, UnloadableValue, WarehouseError
from tributary.key_match import EXACT, TextMatch, described
from tributary.landing import (
    LoadReferences,
    Manifest,
    ManifestPromise,
    cursor_type_name,
    cursor_value_as,
    decode_cursor,
    encode_cursor,
)
from tributary.landing.manifest import as_utc
from tributary.names import as_spelled, cut_size
from tributary.slices import TENANT_COLUMN, Slice
from tributary.warehouse.drift import SchemaPlan, plan_schema
from tributary.warehouse.unload import Unloaded, UnloadFormat

STATE_SCHEMA = "_tributary"
# _tributary.reconcile_failures' kinds: a failure a check found; a window no check compared yet.
FAILED, OWED = "failed", "owed"
# Every session Tributary opens runs in UTC: a timestamp with a zone is compared with a plain one
# (a day's bounds) in the session's zone, which is otherwise the machine's or the user's.
# dbt_project/profiles.yml sets the same for dbt's DuckDB sessions.
SESSION_TIME_ZONE = "UTC"
ERROR_SUMMARY_CHARS = 1000
LOAD_ID_CHARS = 64  # what _tributary.loads and .watermarks hold of a load id

# What a watermark's load read (LoadTarget.origin), at most this many bytes (Redshift's
# longest varchar); and the key its rows were merged on.
ORIGIN_BYTES = 65535
MERGE_KEY_CHARS = 4096
STATE_DDL = [
    f"create schema if not exists {STATE_SCHEMA}",
    f"""create table if not exists {STATE_SCHEMA}.loads (
        load_id varchar({LOAD_ID_CHARS}) primary key,
        source varchar(128) not null,
        table_name varchar(128) not null,
        scope varchar(128) not null,
        mode varchar(16) not null,
        rows_loaded bigint not null,
        rows_in_table bigint not null,
        landing_path varchar(1024) not null,
        started_at timestamptz not null,
        finished_at timestamptz not null
    )""",
    f"""create table if not exists {STATE_SCHEMA}.watermarks (
        source varchar(128) not null,
        table_name varchar(128) not null,
        scope varchar(128) not null,
        cursor_column varchar(128) not null,
        value_type varchar(16) not null,
        value varchar(256) not null,
        load_id varchar({LOAD_ID_CHARS}) not null,
        updated_at timestamptz not null,
        origin varchar({ORIGIN_BYTES}),
        merge_key varchar({MERGE_KEY_CHARS}),
        rows_held bigint,
        primary key (source, table_name, scope)
    )""",
    f"""create table if not exists {STATE_SCHEMA}.run_log (
        run_id varchar(64) not null,
        asset_key varchar(512) not null,
        partition_key varchar(256) not null,
        status varchar(16) not null,
        started_at timestamptz,
        finished_at timestamptz,
        rows_loaded bigint,
        error varchar(4096),
        primary key (run_id, asset_key, partition_key)
    )""",
    f"""create table if not exists {STATE_SCHEMA}.tenants (
        tenant_id varchar(128) not null,
        alias varchar(256) not null,
        status varchar(16) not null,
        updated_at timestamptz not null,
        primary key (tenant_id)
    )""",
    f"""create table if not exists {STATE_SCHEMA}.source_changes (
        source varchar(128) not null,
        table_name varchar(128) not null,
        data_version varchar(256),
        changed_at timestamptz not null,
        primary key (source, table_name)
    )""",
    # Per scope: raw columns committed loads lacked (their rows merged with NULL in them),
    # kept from the first such load until a load re-reads those rows (ColumnGap).
    f"""create table if not exists {STATE_SCHEMA}.column_gaps (
        source varchar(128) not null,
        table_name varchar(128) not null,
        scope varchar(128) not null,
        column_names varchar(65535) not null,
        cursor_column varchar(128),
        value_type varchar(16),
        value varchar(256),
        load_id varchar({LOAD_ID_CHARS}) not null,
        updated_at timestamptz not null,
        primary key (source, table_name, scope)
    )""",
    # Per scope: the earliest reconciliation failure not yet compared again and found right
    # (ReconcileFailure, kind 'failed'), written by the check after the load's commit; or the
    # window of a committed load whose check has not compared it yet (kind 'owed'), written by
    # the load's own transaction and forgotten by its check.
    f"""create table if not exists {STATE_SCHEMA}.reconcile_failures (
        source varchar(128) not null,
        table_name varchar(128) not null,
        scope varchar(128) not null,
        cursor_column varchar(128),
        value_type varchar(16),
        value varchar(256),
        until_type varchar(16),
        until_value varchar(256),
        window_text varchar(1024) not null,
        description varchar(4096) not null,
        load_id varchar({LOAD_ID_CHARS}) not null,
        failed_at timestamptz not null,
        kind varchar(16) not null,
        primary key (source, table_name, scope)
    )""",
    f"""create table if not exists {STATE_SCHEMA}.table_schemas (
        source varchar(128) not null,
        table_name varchar(128) not null,
        arrow_schema varchar(65535) not null,
        updated_at timestamptz not null,
        primary key (source, table_name)
    )""",
    # Redshift's team groups that this database's teams.yaml created (warehouse/access.py):
    # groups are the cluster's and carry no comment to say which database manages them.
    f"""create table if not exists {STATE_SCHEMA}.team_groups (
        database_name varchar(128) not null,
        group_name varchar(128) not null
    )""",
]

# Columns added to a state table after a release created it: `create table if not exists`
# leaves an older table as it was, so ensure_state adds them (last, as the DDL has them;
# nullable, as rows written before hold none: NULL reads as the default the code names).
STATE_COLUMNS_ADDED = [
    ("reconcile_failures", "kind", "varchar(16)"),  # NULL: 'failed'
    ("watermarks", "origin", f"varchar({ORIGIN_BYTES})"),  # NULL: not known, not compared
    ("watermarks", "merge_key", f"varchar({MERGE_KEY_CHARS})"),  # NULL: likewise
    ("watermarks", "rows_held", "bigint"),  # NULL: likewise
]


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted (the ANSI form DuckDB, PostgreSQL and Redshift share)."""
    return '"' + name.replace('"', '""') + '"'


def column_list(columns: Sequence[str]) -> str:
    return ", ".join(quote_ident(name) for name in columns)


def refuse_wide_decimal(arrow_type: pa.DataType, *, warehouse: str, max_precision: int) -> None:
    if pa.types.is_decimal(arrow_type) and arrow_type.precision > max_precision:
        raise TypeError(
            f"{warehouse} DECIMAL holds at most {max_precision} digits; the source column is "
            f"{arrow_type}"
        )


def quote_literal(value: str) -> str:
    """A SQL string literal, for the few statements that take no parameters (COPY)."""
    return "'" + value.replace("'", "''") + "'"


# A quoted string or identifier, a `?` placeholder, or a `%`.
_PLACEHOLDER_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|(\?)|(%)""")


def _decoded_schema(recorded: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(recorded)))


# Runs SQL with `?` parameters and returns its rows (Warehouse.read_state's connection).
StateQuery = Callable[[str, Sequence[Any]], list[tuple]]
T = TypeVar("T")


def recorded_schemas(query: StateQuery, source: str) -> dict[str, pa.Schema]:
    """The recorded columns (Warehouse.recorded_schema) of each raw table of `source` that
    exists, by table: what its next load's drift plan judges the rows against. `query` runs
    SQL with `?` parameters; nothing is created (no state table where none exists yet). What
    the driver raises (a login that may not read them) is a WarehouseError saying so."""
    tables = "select table_name from information_schema.tables where table_schema = ?"
    try:
        existing = {row[0] for row in query(tables, [raw_schema(source)])}
        if not existing or not table_exists(query, STATE_SCHEMA, "table_schemas"):
            return {}
        rows = query(
            f"select table_name, arrow_schema from {STATE_SCHEMA}.table_schemas where source = ?",
            [source],
        )
    except Exception as error:  # each backend's driver raises its own types
        said = (str(error) or type(error).__name__).splitlines()[0]
        raise WarehouseError(f"reading {STATE_SCHEMA}.table_schemas: {said}") from None
    return {table: _decoded_schema(recorded) for table, recorded in rows if table in existing}


def table_exists(query: StateQuery, schema: str, table: str) -> bool:
    """Whether `schema`.`table` exists (information_schema: every warehouse answers it)."""
    return bool(
        query(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        )
    )


def column_exists(query: StateQuery, schema: str, table: str, column: str) -> bool:
    """Whether `schema`.`table` exists with `column` (information_schema, as table_exists)."""
    return bool(
        query(
            "select 1 from information_schema.columns where table_schema = ? and table_name = ? "
            "and column_name = ?",
            [schema, table, column],
        )
    )


def scope_loaded(query: StateQuery, scope: str) -> bool:
    """Whether _tributary.loads records a load of `scope` (a tenant id), where it exists: one
    row read (Warehouse.scope_loaded). What the driver raises is a WarehouseError saying so."""
    try:
        return table_exists(query, STATE_SCHEMA, "loads") and bool(
            query(f"select 1 from {STATE_SCHEMA}.loads where scope = ? limit 1", [scope])
        )
    except Exception as error:  # each backend's driver raises its own types
        said = (str(error) or type(error).__name__).splitlines()[0]
        raise WarehouseError(f"reading {STATE_SCHEMA}.loads: {said}") from None


@dataclass(frozen=True)
class OwedLoad:
    """A committed load whose reconciliation has not compared its rows: its run is still
    checking them, or stopped before it did (the window its own transaction recorded owed,
    kind 'owed' in _tributary.reconcile_failures, which its check forgets)."""

    source: str
    table: str
    scope: str  # a tenant's or key range's partition, "" for the whole table
    load_id: str
    committed_at: datetime


@dataclass(frozen=True)
class StandingFailure:
    """A reconciliation failure of a raw table's scope that no later check has found right
    (kind 'failed' in _tributary.reconcile_failures): the warehouse's record of it, which
    outlives Dagster's (wiped, or another instance)."""

    source: str
    table: str
    scope: str  # a tenant's or key range's partition, "" for the whole table
    load_id: str
    failed_at: datetime
    description: str


def owed_loads(query: StateQuery, tables: Collection[tuple[str, str]]) -> list[OwedLoad]:
    """The loads of the raw `tables` (source, table) still owed their check
    (Warehouse.owed_loads), oldest first. A warehouse whose failures table predates owed
    windows (no `kind` column: ensure_state adds it on the next load) holds none. What the
    driver raises is a WarehouseError saying so."""
    return [
        OwedLoad(source, table, scope, load_id, committed_at)
        for source, table, scope, load_id, committed_at, _ in _recorded(query, tables, OWED)
    ]


def standing_failures(
    query: StateQuery, tables: Collection[tuple[str, str]]
) -> list[StandingFailure]:
    """The reconciliation failures of the raw `tables` (source, table) the warehouse still
    records (Warehouse.standing_failures), oldest first; of a failures table that predates
    owed windows (no `kind` column), every row."""
    return [StandingFailure(*row) for row in _recorded(query, tables, FAILED)]


def _recorded(query: StateQuery, tables: Collection[tuple[str, str]], kind: str) -> list[tuple]:
    """_tributary.reconcile_failures' rows of `kind` for the raw `tables`: source, table,
    scope, load id, when (UTC), description. None where the table does not exist."""
    wanted = set(tables)
    try:
        if not table_exists(query, STATE_SCHEMA, "reconcile_failures"):
            return []
        if column_exists(query, STATE_SCHEMA, "reconcile_failures", "kind"):
            # NULL is 'failed': the rows written before the kind column was.
            where, params = "where coalesce(kind, ?) = ? ", [FAILED, kind]
        elif kind == OWED:
            return []
        else:  # every row is a failure
            where, params = "", []
        rows = query(
            f"select source, table_name, scope, load_id, failed_at, description from "
            f"{STATE_SCHEMA}.reconcile_failures {where}"
            "order by failed_at, source, table_name, scope",
            params,
        )
    except Exception as error:  # each backend's driver raises its own types
        said = (str(error) or type(error).__name__).splitlines()[0]
        raise WarehouseError(f"reading {STATE_SCHEMA}.reconcile_failures: {said}") from None
    return [
        (source, table, scope, load_id, as_utc(at), description)
        for source, table, scope, load_id, at, description in rows
        if (source, table) in wanted
    ]


def tenant_ids_held(
    query: StateQuery, tables: Collection[tuple[str, str]], among: Callable[[str], bool]
) -> list[str]:
    """The tenant ids `among` takes whose rows one of the raw `tables` (source, table: those
    scoped by tenant) holds (Warehouse.tenant_ids_held): the scopes of the tables' loads
    _tributary.loads records, each looked up (one row) in the raw table it loaded, so that an
    id whose rows were deleted is not held. `among` first, since a lookup of an id without
    rows reads the table through; nothing is created (no state table where none exists yet).
    What the driver raises is a WarehouseError saying so."""
    wanted = set(tables)
    held: list[str] = []
    try:
        if not table_exists(query, STATE_SCHEMA, "loads"):
            return []
        loaded = query(
            f"select distinct source, table_name, scope from {STATE_SCHEMA}.loads "
            "where scope <> '' order by scope, source, table_name",
            [],
        )
        for source, table, tenant in loaded:
            if tenant in held or (source, table) not in wanted or not among(tenant):
                continue
            relation = f"{quote_ident(raw_schema(source))}.{quote_ident(table)}"
            # The raw table and its tenant column: one dropped (and loaded whole since) has
            # neither.
            if column_exists(query, raw_schema(source), table, TENANT_COLUMN) and query(
                f"select 1 from {relation} where {quote_ident(TENANT_COLUMN)} = ? limit 1",
                [tenant],
            ):
                held.append(tenant)
    except Exception as error:  # each backend's driver raises its own types
        said = (str(error) or type(error).__name__).splitlines()[0]
        raise WarehouseError(f"reading the tenant ids the raw tables hold: {said}") from None
    return held


def placeholders_as_format(sql: str, params: Sequence[Any] = ()) -> str:
    """`?` placeholders as the `%s` that psycopg and redshift_connector take. Without
    parameters the SQL runs as it is; with them, every `%` is escaped and a `?` inside a
    quoted name or string (a column called "what?") stays a character."""
    if not params:
        return sql

    def token(match: re.Match[str]) -> str:
        quoted, placeholder, _ = match.groups()
        if quoted is not None:
            return quoted.replace("%", "%%")
        return "%s" if placeholder else "%%"

    return _PLACEHOLDER_TOKENS.sub(token, sql)


# Load metadata columns that order the versions of one key: the later load, then the row
# read later within a load (ingest.with_load_columns writes both; inbox files may lack them).
LOAD_ORDER = ("_load_id", "_load_row")


# The columns Tributary adds to every raw row (ingest.with_load_columns; _tenant_id for a
# tenant's rows): a load lacking one (an inbox drop's files) lacks no source column.
METADATA_COLUMNS = frozenset({"_load_id", "_extracted_at", "_load_row", "_deleted", "_tenant_id"})


@dataclass(frozen=True)
class SourceRead:
    """What a load read from its source (an inbox drop read none): the rows whose cursor is at
    least `since`, or (None) every row. `filled`: the columns the raw rows of its scope lack
    (ColumnGap; or new to the table, which the rows loaded before lack) that it gives every
    such row, having begun no later than the first of them holding a value at the source
    (ingest.reread_column_gap); `nothing_behind`: the source said none behind `since` holds
    one, so that none was read again for them."""

    since: Any | None = None
    filled: tuple[str, ...] = ()
    nothing_behind: bool = False
    # The scope's newest committed load as the read began (Warehouse.newest_commit); None
    # where the caller did not look (then no load committed meanwhile is looked for).
    seen: CommitSeen | None = None


@dataclass(frozen=True)
class CommitSeen:
    """When the newest committed load of a table (or slice) finished, as a read of it began
    (None: none had committed)."""

    finished_at: datetime | None


@dataclass(frozen=True)
class ReadStart:
    """Where an incremental load of a table (or slice) reads from: the watermark its last
    committed load reached, or None (the whole table); and, where a watermark is recorded but
    not used, why (Warehouse.read_start), for the load's metadata."""

    watermark: Any | None = None
    whole_because: str | None = None
    # Whether the load replaces the rows (a full load's): they were merged on another key
    # than the table's now, which no merge on it can match.
    replace: bool = False


@dataclass(frozen=True)
class ColumnGap:
    """Raw columns that committed loads of one scope lacked: the source stopped sending them
    for a while (a view redefined without them, Salesforce field-level security, a query
    edited), and those loads merged their rows, the lookback's unchanged ones too, with NULL
    in them; or it began sending them (a column added, with a default or values in the rows
    already there), and the rows loaded before hold NULL in them. The rows so merged are
    those whose `cursor` is at least `since` (None: any row), the point the first such load
    read from (a new column's: None). Once the source sends the columns, a read from there
    (or from the first of those rows holding a value, where the source can say) gives those
    rows their values; until then the rows cannot tell."""

    columns: tuple[str, ...]
    cursor: str | None
    since: Any | None
    load_id: str  # the first load that lacked them

    def rows_text(self) -> str:
        """The rows it concerns, for people."""
        if self.since is None or self.cursor is None:
            return "every row"
        return f"the rows whose {self.cursor} >= {self.since}"

    def returned(self, names: Sequence[str]) -> list[str]:
        """Its columns among `names` (a read's), compared ignoring case as the load does."""
        folded = {name.casefold() for name in names}
        return [name for name in self.columns if name.casefold() in folded]

    def starts_before(self, since: Any | None) -> bool:
        """Whether a read from `since` (None: every row) misses some of its rows."""
        return not at_or_before(since, self.since)


@dataclass(frozen=True)
class ReconcileFailure:
    """A reconciliation check of one scope (the whole table, or a tenant's or key range's
    partition) that failed: the rows of its window, those whose `cursor` is at least `since`
    (None: every row of the scope) and at most `until` (None: open above), did not match the
    source. The watermark moves on past them, and a later load's window would not compare
    them again: later checks of the scope compare that window until one finds them right
    (reconcile.py).

    `owed`: no check found anything yet; load `load_id` committed at `failed_at` (its own
    transaction wrote this) and its check has not compared its window. The check forgets it;
    a run killed before the check (or a step retried after a commit whose reply was lost)
    leaves it, and later checks reach back to it as to a failure."""

    cursor: str | None
    since: Any | None
    window: str  # the failed check's window, for people
    description: str  # what it found there
    load_id: str
    failed_at: datetime
    until: Any | None = None
    owed: bool = False

    def reached_by(self, low: Any | None) -> bool:
        """Whether a window from `low` (None: every row of the scope) starts early enough."""
        return at_or_before(low, self.since)

    def covered_by(self, low: Any | None, high: Any | None) -> bool:
        """Whether a window from `low` to `high` (None: every row, open above) holds all its
        rows: only such a window, found right, clears it. A late check of an older load
        reaches its `since` but may end before the rows a newer load's check found wrong."""
        return self.reached_by(low) and at_or_after(high, self.until)

    def widened(self, other: ReconcileFailure) -> ReconcileFailure:
        """One failure holding both windows: the earlier-found one's (the lower `since`;
        self's among equals), or the one a check found where the other is only owed (what
        checks report), reaching from the earlier start up to the later end."""
        if self.owed != other.owed:
            first = other if self.owed else self
        else:
            first = self if at_or_before(self.since, other.since) else other
        return replace(
            first,
            since=earlier_point(self.since, other.since),
            until=later_point(self.until, other.until),
        )


# What a load owes its reconciliation check, made from its manifest (reconcile.owed_comparison):
# None where it owes nothing.
Owed = Callable[[Manifest], ReconcileFailure | None]


def at_or_before(point: Any | None, since: Any | None) -> bool:
    """Whether a read from `point` (None: every row) reads every row from `since` (None:
    every row). A point that does not compare (a cursor of another type since) does not:
    every row is behind it."""
    if point is None:
        return True
    if since is None:
        return False
    try:
        return point <= since
    except TypeError:
        return False


def at_or_after(point: Any | None, until: Any | None) -> bool:
    """Whether a read up to `point` (None: open above) reads every row up to `until` (None:
    open above). A point that does not compare does not."""
    if point is None:
        return True
    if until is None:
        return False
    try:
        return point >= until
    except TypeError:
        return False


def later_point(first: Any | None, second: Any | None) -> Any | None:
    """The later of two upper ends, None (open above) if either is None or they do not
    compare."""
    if first is None or second is None:
        return None
    try:
        return first if first >= second else second
    except TypeError:
        return None


def earlier_point(first: Any | None, second: Any | None) -> Any | None:
    """The earlier of two read points, None (every row) if either is None or they do not
    compare (a cursor of another type since)."""
    if first is None or second is None:
        return None
    try:
        return first if first <= second else second
    except TypeError:
        return None


def latest_per_key(target: LoadTarget, relation: str, columns: Sequence[str]) -> str:
    """The rows of `relation`, one per primary key, as `(...) as ranked where ...` to select
    from: the lookback re-reads rows, a key may change several times within one load, and a
    source may hold a key twice. The version kept is the one with the highest cursor (NULL
    lowest), then the latest load's, then the one read last. Keys are matched as the source
    matches them (LoadTarget.key_match): 'abc' and a later 'ABC' are one key to a
    case-insensitive source, and the later spelling is kept."""
    keys = ", ".join(target.matched_key())
    order = [f"{quote_ident(target.cursor)} desc nulls last"] if target.cursor else []
    order += [f"{quote_ident(name)} desc" for name in LOAD_ORDER if name in columns]
    ordering = f" order by {', '.join(order)}" if order else ""
    return (
        f"(select *, row_number() over (partition by {keys}{ordering}) as _tributary_rank "
        f"from {relation}) as ranked where _tributary_rank = 1"
    )


@dataclass(frozen=True)
class KeyRepeats:
    """The keys a load read more than once (matched as LoadTarget.matched_key matches them),
    of which it wrote one row each (latest_per_key): a source without a key constraint (a
    view, a table without a primary key) may hold a key twice."""

    keys: int = 0  # keys read more than once
    rows: int = 0  # their rows beyond the first of each: read, not written


def raw_schema(source: str) -> str:
    return f"raw_{source}"


def raw_relation(source: str, table: str) -> str:
    """The raw table a source's table is loaded into, quoted: raw_<source>.<table>."""
    return f"{quote_ident(raw_schema(source))}.{quote_ident(table)}"


@dataclass(frozen=True)
class LoadTarget:
    """Where and how one landed table goes into the warehouse."""

    source: str
    table: str
    mode: Literal["full", "incremental"]
    primary_key: tuple[str, ...] = ()
    cursor: str | None = None
    where: Slice | None = None  # the partition this load replaces, if any
    schema_contract: Literal["evolve", "freeze"] = "evolve"
    # How the source compares each primary_key column's values, in its order (key_match.py);
    # empty, or all EXACT: exactly, as the warehouse does.
    key_match: tuple[TextMatch, ...] = ()
    # What the rows are read from (the database, the object or query, a tenant's settings;
    # ingest.read_origin), recorded with the watermark: None where not known (an inbox drop),
    # and then not compared.
    origin: str | None = None

    @property
    def merge_key(self) -> str:
        """The key as the watermark records the one its rows were merged on."""
        return ", ".join(name.lower() for name in self.primary_key)

    @property
    def folds_key(self) -> bool:
        """Whether some key column is matched other than exactly."""
        return any(not match.exact for match in self.key_match)

    def matched_key(self, qualifier: str | None = None) -> list[str]:
        """Each key column as the load compares it (`qualifier`.column where given): the
        column itself where the source compares it exactly, so that the SQL of such a key is
        what it always was; else lower(rtrim(...)) as its collation has it."""
        matches = self.key_match or (EXACT,) * len(self.primary_key)
        prefix = f"{qualifier}." if qualifier else ""
        return [
            match.sql(prefix + quote_ident(name))
            for name, match in zip(self.primary_key, matches, strict=True)
        ]

    @property
    def key_matching(self) -> str:
        """How the key columns not matched exactly are, for people ("" if none)."""
        return described(self.primary_key, self.key_match) if self.folds_key else ""

    def key_watch(self) -> StrictlyRising | None:
        """The watch of a one-column key as the rows go in: rising strictly, each was written
        once. Not where the key is folded: 'ABC' < 'abc' rises, and is one key to the source."""
        return None if self.folds_key else StrictlyRising.of_key(self.primary_key)

    def spelled_as(self, names: Sequence[str]) -> LoadTarget:
        """This target with its key, cursor and slice column as `names` (the rows' columns, or
        the raw table's) spell them."""
        where = self.where
        if where is not None:
            where = replace(where, table_column=as_spelled(where.table_column, names))
        return replace(
            self,
            primary_key=tuple(as_spelled(key, names) for key in self.primary_key),
            cursor=as_spelled(self.cursor, names) if self.cursor else None,
            where=where,
        )

    @property
    def key_scope(self) -> Slice | None:
        """Where every row of a key this load writes lies: its slice, where the slice holds a
        key's rows (a tenant's keys are its own; a range of a key column), else the whole
        table (None). A range of another column does not: a row whose value changed moved
        range, and its old copy lies in the range it left."""
        where = self.where
        if where is None or where.kind == "tenant" or where.table_column in self.primary_key:
            return where
        return None

    @property
    def schema(self) -> str:
        return raw_schema(self.source)

    @property
    def qualified_name(self) -> str:
        return raw_relation(self.source, self.table)

    @property
    def scope(self) -> str:
        return self.where.key if self.where else ""


@dataclass(frozen=True)
class LoadTables:
    """The raw table a load writes, and the scratch tables beside it, named after the load."""

    target: LoadTarget
    suffix: str  # from the load id, so that loads of other slices never collide
    # The keys the staged rows hold more than once, once counted (Warehouse._write_staged).
    repeated: KeyRepeats | None = None

    def scratch_name(self, tag: str) -> str:
        # Within PostgreSQL's 63 characters: a longer name would be cut, and could collide.
        return f"{self.target.table[:40]}__{tag}_{self.suffix}"

    def scratch(self, tag: str) -> str:
        """A scratch table's qualified, quoted name."""
        return f"{quote_ident(self.target.schema)}.{quote_ident(self.scratch_name(tag))}"

    @property
    def staged(self) -> str:
        return self.scratch("load")


@dataclass(frozen=True)
class LoadOutcome:
    table_name: str  # schema.table, unquoted, for people and metadata
    rows_loaded: int
    rows_in_table: int
    columns: list[tuple[str, str]]  # (name, warehouse type)
    watermark: Any | None
    added_columns: list[str]
    widened_columns: list[str]
    missing_columns: list[str]  # in the table, but no longer sent by the source
    duplicate_keys_repaired: int  # keys the table held more than once before this load
    # Keys the load read more than once, of which it wrote one row each: reconciliation names
    # them whatever the counts (rows deleted in the source may make up for the rows left out).
    repeated_keys: KeyRepeats = KeyRepeats()
    # Columns earlier loads lacked (ColumnGap) that this load carried again, and the columns
    # new to the table whose rows loaded before (of its scope) lack them; whether it gave those
    # rows their values (`refilled`), and where its read began (None: it read every row), or
    # that the source holds none in the rows behind it (`nothing_behind`: none re-read).
    returned_columns: list[str] = dataclasses.field(default_factory=list)
    new_columns: list[str] = dataclasses.field(default_factory=list)
    refilled: bool = False
    reread_from: Any | None = None
    nothing_behind: bool = False
    column_gap: ColumnGap | None = None  # what the raw table (or slice) still lacks after it


@dataclass(frozen=True)
class _GapChange:
    returned: list[str]
    new: list[str]
    refilled: bool
    reread_from: Any | None
    nothing_behind: bool
    after: ColumnGap | None


@dataclass(frozen=True)
class RunLogRow:
    """One asset's outcome in one run, for `_tributary.run_log`."""

    run_id: str
    asset_key: str
    partition_key: str  # "" for an unpartitioned asset
    status: str  # SUCCESS, FAILURE, CANCELED
    started_at: datetime | None
    finished_at: datetime | None
    rows_loaded: int | None
    error: str | None


@dataclass(frozen=True)
class TenantRow:
    """A tenant as the registry last listed it, for `_tributary.tenants`."""

    tenant_id: str
    alias: str
    status: Literal["active", "inactive"]


@dataclass(frozen=True)
class SourceChangeRow:
    """A source table's data version, when an observation found it changed."""

    source: str
    table_name: str
    data_version: str
    changed_at: datetime


class Warehouse(ABC):
    """The interface every backend implements (warehouse/<backend>/warehouse.py), with the
    shared load algorithm on top of it. SQL here is what DuckDB, PostgreSQL and Redshift accept;
    a backend provides `execute`, `query`, `transaction`, `create_staging`, `sql_type`,
    `read` and `check_access`, and overrides what its dialect does differently."""

    kind: str
    # Whether `load` may stream a landing's parts as they land (given a ManifestPromise):
    # not where the warehouse reads the landed files itself (Redshift's COPY).
    loads_while_landing = False
    # Whether exports have the warehouse write their files itself (`unload`) into the landing
    # store, instead of reading the rows through this process (Redshift's UNLOAD).
    unloads = False
    # The bytes of a name the warehouse keeps (PostgreSQL cuts the rest without a word).
    name_bytes: int | None = None

    def name_cut(self, name: str) -> str | None:
        """Why `name` would not reach this warehouse whole (a loaded column's, an export's
        alias), or None: a cut name is silently another, and may become one already taken."""
        if (size := cut_size(name, self.name_bytes)) is None:
            return None
        return (
            f"the name is {size} bytes long and the {self.kind} warehouse keeps "
            f"{self.name_bytes} of a name"
        )

    @abstractmethod
    @contextmanager
    def read(self, sql: str, *, batch_rows: int = 100_000) -> Iterator[pa.RecordBatchReader]:
        """Stream a query's result as Arrow batches."""

    def result_names(self, sql: str) -> list[str]:
        """The names of `sql`'s result columns, without reading a row."""
        with self.read(f"select * from ({sql}) as described limit 0") as rows:
            return rows.schema.names

    @contextmanager
    def one_at_a_time(self, work: str) -> Iterator[None]:
        """Hold `work` (a dbt build, an export's publication) against every other process
        doing the same here. Dagster's pool is the first guard, but two claims at one instant
        can both win on a SQLite Dagster instance (its slot claim takes no row lock): two CLI
        materializations at once. Where the warehouse has no lock to offer, the pool alone
        (DuckDB also takes one writing process at a time)."""
        yield

    def quote_string(self, value: str) -> str:
        """`value` as a string literal of this warehouse's SQL (exports render their
        parameters with it)."""
        return quote_literal(value)

    def unload(self, sql: str, *, to: str, fs: Any, file_format: UnloadFormat) -> Unloaded:
        """Where `unloads`: have the warehouse write the query's result itself as files under
        `to` (a folder URL of the object store `fs` reaches: the landing bucket), and return
        them. Elsewhere exports read the rows with `read`."""
        raise NotImplementedError(f"the {self.kind} warehouse does not unload")

    @abstractmethod
    def check_access(self, schemas: Sequence[str]) -> list[str]:
        """What stops this login (or process) writing the `schemas`, found without writing
        anything or creating Tributary's state tables; a failed login raises."""

    @abstractmethod
    def read_state(self, read: Callable[[StateQuery], T], *, nothing: T) -> T:
        """What `read` finds, given a function running SQL (`?` parameters) on a connection
        of its own, as check_access reads: the state tables are not created. `nothing`
        where there is no warehouse yet to read (a DuckDB file not created)."""

    def recorded_raw_schemas(self, source: str) -> dict[str, pa.Schema]:
        """The recorded columns of each raw table of `source` that exists (recorded_schemas),
        the state tables not created."""
        return self.read_state(lambda query: recorded_schemas(query, source), nothing={})

    def scope_loaded(self, scope: str) -> bool:
        """Whether a load of `scope` was recorded (scope_loaded), the state tables not
        created."""
        return self.read_state(lambda query: scope_loaded(query, scope), nothing=False)

    def tenant_ids_held(
        self, tables: Collection[tuple[str, str]], among: Callable[[str], bool]
    ) -> list[str]:
        """The tenant ids `among` takes whose rows the raw `tables` hold (tenant_ids_held),
        the state tables not created: none before a tenant's load."""
        return self.read_state(lambda query: tenant_ids_held(query, tables, among), nothing=[])

    def removed_tenants(self) -> set[str]:
        """The tenant ids `_tributary.tenants` records as no longer listed (by the registry,
        or tenants.yaml), read in this session; none where no reading was recorded."""
        if not table_exists(self.query, STATE_SCHEMA, "tenants"):
            return set()
        rows = self.query(f"select tenant_id from {STATE_SCHEMA}.tenants where status = 'removed'")
        return {tenant_id for (tenant_id,) in rows}

    def owed_loads(self, tables: Collection[tuple[str, str]]) -> list[OwedLoad]:
        """The loads of the raw `tables` whose check has not compared them (owed_loads), read
        in this session (an export's, before its query); the state tables not created."""
        return owed_loads(self.query, tables)

    def standing_failures(self, tables: Collection[tuple[str, str]]) -> list[StandingFailure]:
        """The reconciliation failures of the raw `tables` no later check found right
        (standing_failures), read in this session; the state tables not created."""
        return standing_failures(self.query, tables)

    _con: Any = None  # the backend's connection, opened on first use

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what a backend provides -------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement; parameters are `?` placeholders."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]: ...

    @contextmanager
    def one_snapshot(self) -> Iterator[None]:
        """Every read of this session inside sees the warehouse as of the first: an export's
        gate (the loads not yet checked, the tenants' rows held) and its query see the same
        commits. Read apart, each statement its own snapshot, a load committing between them
        was published, its check still owed, green. A transaction: DuckDB's and Redshift's
        isolation gives one snapshot (PostgreSQL's sets repeatable read)."""
        with self.transaction():
            yield

    @abstractmethod
    def create_staging(
        self, name: str, schema: pa.Schema, batches: pa.RecordBatchReader, landing_path: str
    ) -> None:
        """Create table `name` (qualified, quoted) with exact column types, and bulk-load it
        with the landed rows: streamed from `batches`, or straight from the files at
        `landing_path` where the warehouse reads object storage itself."""

    @abstractmethod
    def sql_type(self, arrow_type: pa.DataType) -> str: ...

    def drop_staging(self, name: str) -> None:
        """Drop what create_staging made (a backend may stage as a view of the landed files)."""
        self.execute(f"drop table {name}")

    def create_table_like(self, name: str, like: str) -> None:
        """Create table `name`, empty, with the columns and types of table `like`."""
        self.execute(f"create table {name} as select * from {like} where 1 = 0")

    def replace_all(self, tables: LoadTables, columns: Sequence[str]) -> None:
        """A full load's swap, inside the load's transaction."""
        self.empty(tables.target.qualified_name)
        self.insert_from(tables.target.qualified_name, self.rows_to_write(tables, columns), columns)

    def empty(self, table: str) -> None:
        """Remove every row of `table` inside the load's transaction."""
        self.execute(f"delete from {table}")

    def keep_one_row_per_key_where_written_twice(
        self, tables: LoadTables, columns: Sequence[str], key: StrictlyRising | None
    ) -> KeyRepeats:
        """After rows went straight into the raw table (`copy_straight_in`): where a key was
        written twice, keep one row per key, and answer how many were. A key that rose
        strictly as the rows went in (`key`, watching them) was written once each, and spares
        the table's aggregate."""
        target = tables.target
        if not target.primary_key or (key is not None and key.holds):
            return KeyRepeats()
        repeated = self.repeated_keys(tables, target.qualified_name)
        if repeated.keys:
            self.keep_one_row_per_key(tables, columns)
        return repeated

    def keep_one_row_per_key(self, tables: LoadTables, columns: Sequence[str]) -> None:
        """A key written twice into the raw table keeps one row, chosen as a staged load
        chooses."""
        target, kept = tables.target, tables.scratch("kept")
        self.execute(
            f"create table {kept} as select {column_list(columns)} from "
            f"{latest_per_key(target, target.qualified_name, columns)}"
        )
        self.empty(target.qualified_name)
        self.insert_from(target.qualified_name, kept, columns)
        self.execute(f"drop table {kept}")

    def lock(self, target: LoadTarget) -> None:  # noqa: B027 (by default nothing to do)
        """Serialize loads of one raw table, whoever starts them, until the transaction ends:
        two merges of the same keys at once would each insert them. A backend whose writes
        are already serialized (DuckDB: one writer process per file) needs nothing more."""

    def rows_to_write(self, tables: LoadTables, columns: Sequence[str]) -> str:
        """What the load writes: the staged rows, one per key where the table has a key. When
        no key is staged twice (nearly every load) that is the staged rows as they are: one
        aggregate of the keys tells (repeated_keys), and spares the window over every whole
        row, which was most of a large load's time (PostgreSQL sorts the rows; DuckDB
        materializes them)."""
        repeated = tables.repeated if tables.repeated is not None else self.repeated_keys(tables)
        if not repeated.keys:
            return tables.staged
        return latest_per_key(tables.target, tables.staged, columns)

    def repeated_keys(self, tables: LoadTables, relation: str | None = None) -> KeyRepeats:
        """The keys the staged rows (or `relation`) hold more than once, and their rows beyond
        the first of each. Where none is (nearly every load) this costs what keys_staged_twice
        costs; the keys are counted only where it finds some."""
        target = tables.target
        if not target.primary_key or not self.keys_staged_twice(tables, relation):
            return KeyRepeats()
        keys = ", ".join(target.matched_key())
        groups = (
            f"select count(*) as _tributary_rows from {relation or tables.staged} "
            f"group by {keys} having count(*) > 1"
        )
        [(count, surplus)] = self.query(
            f"select count(*), coalesce(sum(_tributary_rows - 1), 0) from ({groups}) as repeated"
        )
        return KeyRepeats(keys=int(count), rows=int(surplus))

    def keys_staged_twice(self, tables: LoadTables, relation: str | None = None) -> bool:
        """Whether some key is staged (or, given a `relation`, held there) more than once (a
        backend may answer True when unsure: the load then takes the window, which is right
        either way)."""
        keys = ", ".join(tables.target.matched_key())
        staged_twice = (
            f"select 1 from {relation or tables.staged} group by {keys} having count(*) > 1 limit 1"
        )
        [(twice,)] = self.query(f"select count(*) from ({staged_twice}) as twice")
        return bool(twice)

    def insert_from(self, into: str, source: str, columns: Sequence[str]) -> None:
        names = column_list(columns)
        self.execute(f"insert into {into} ({names}) select {names} from {source}")

    # --- the algorithm -------------------------------------------------------------------
    def ensure_state(self) -> None:
        """Create Tributary's own tables (`_tributary.*`) where they are missing, and the
        columns a release added to them where a warehouse's tables predate it."""
        for statement in STATE_DDL:
            self.execute(statement)
        for table, column, kind in STATE_COLUMNS_ADDED:
            if not column_exists(self.query, STATE_SCHEMA, table, column):
                self.execute(f"alter table {STATE_SCHEMA}.{table} add column {column} {kind}")

    def record_run(self, rows: Sequence[RunLogRow]) -> None:
        """Write one run's rows to `_tributary.run_log`, replacing any written before."""
        with self.transaction():
            for run_id in sorted({row.run_id for row in rows}):
                self.execute(f"delete from {STATE_SCHEMA}.run_log where run_id = ?", [run_id])
            for row in rows:
                self.execute(
                    f"insert into {STATE_SCHEMA}.run_log values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        row.run_id,
                        row.asset_key,
                        row.partition_key,
                        row.status,
                        row.started_at,
                        row.finished_at,
                        row.rows_loaded,
                        None if row.error is None else row.error[:ERROR_SUMMARY_CHARS],
                    ],
                )

    def record_tenants(self, tenants: Sequence[TenantRow]) -> None:
        """Write the registry's reading to `_tributary.tenants`: a tenant it no longer lists
        keeps its row, marked removed (its data stays too)."""
        now = datetime.now(UTC)
        with self.transaction():
            self.execute(
                f"update {STATE_SCHEMA}.tenants set status = 'removed', updated_at = ? "
                "where status <> 'removed'",
                [now],
            )
            for row in tenants:
                self.execute(
                    f"delete from {STATE_SCHEMA}.tenants where tenant_id = ?", [row.tenant_id]
                )
                self.execute(
                    f"insert into {STATE_SCHEMA}.tenants values (?, ?, ?, ?)",
                    [row.tenant_id, row.alias, row.status, now],
                )

    def record_source_changes(self, rows: Sequence[SourceChangeRow]) -> None:
        """Write when each source table last changed to `_tributary.source_changes`."""
        with self.transaction():
            for row in rows:
                self.execute(
                    f"delete from {STATE_SCHEMA}.source_changes "
                    "where source = ? and table_name = ?",
                    [row.source, row.table_name],
                )
                self.execute(
                    f"insert into {STATE_SCHEMA}.source_changes values (?, ?, ?, ?)",
                    [row.source, row.table_name, row.data_version[:256], row.changed_at],
                )

    def watermark(self, target: LoadTarget) -> Any | None:
        """The watermark an incremental load of the target reads from (ReadStart)."""
        return self.read_start(target).watermark

    def read_start(self, target: LoadTarget) -> ReadStart:
        """The value of the target's cursor column the last committed load of the table (or
        slice) reached. A table whose cursor is another column now has none: its next load
        reads it whole, since the old column's value would skip rows the new one finds older.
        Nor has a raw table that is gone (dropped by hand, as a type change's way out says),
        or that holds no rows (emptied by hand to reload it; for a slice, no rows of it): read
        from its watermark, it came back holding only the rows past it, every check passing
        (they look at the load's window)."""
        if target.cursor is None:
            return ReadStart()
        rows = self.query(
            f"select cursor_column, value_type, value, origin, merge_key, rows_held "
            f"from {STATE_SCHEMA}.watermarks "
            "where source = ? and table_name = ? and scope = ? and lower(cursor_column) = ?",
            [target.source, target.table, target.scope, target.cursor.lower()],
        )
        if not rows:
            return ReadStart()
        [(cursor, kind, text, origin, merge_key, rows_held)] = rows
        recorded = decode_cursor(kind, text)
        relation = f"{target.schema}.{target.table}"
        if merge_key is not None and merge_key != target.merge_key:
            return ReadStart(
                whole_because=f"its rows were merged on ({merge_key}), and its primary_key is "
                f"({target.merge_key}) now: read whole, its rows replaced",
                replace=True,
            )
        if origin is not None and target.origin is not None and origin != target.origin:
            return ReadStart(
                whole_because=f"its watermark ({cursor} {recorded}) was reached reading "
                f"{origin}, and it now reads {target.origin}: rows behind it were never read"
            )
        of = f" of partition {target.where.key}" if target.where else ""
        if not self.table_exists(target.schema, target.table):
            held = f"{relation} is gone"
        elif not (count := self._rows_held(target)):
            held = f"{relation} holds no rows{of}"
        elif rows_held is not None and count != rows_held:
            held = (
                f"{relation} holds {count} rows{of}, and its last load left {rows_held}: rows "
                "were deleted or added outside Tributary's loads (by hand, or a table restored "
                "from a backup)"
            )
        else:
            return ReadStart(recorded)
        return ReadStart(whole_because=f"{held}: its watermark ({cursor} {recorded}) was not used")

    def _rows_held(self, target: LoadTarget) -> int:
        """How many rows the raw table (or the target's slice) holds."""
        scope = f" where {self._slice_sql(target.where)}" if target.where else ""
        [(count,)] = self.query(f"select count(*) from {target.qualified_name}{scope}")
        return count

    def _record_rows_held(self, target: LoadTarget, rows_in_table: int) -> None:
        """The rows the target's scope holds after its load, beside its watermark: the next
        load reads whole where the scope holds another number (read_start). A load adds and
        removes a scope's rows; nothing else should. A table without a cursor keeps none."""
        if target.cursor is None:
            return
        held = self._rows_held(target) if target.where else rows_in_table
        self.execute(
            f"update {STATE_SCHEMA}.watermarks set rows_held = ? "
            "where source = ? and table_name = ? and scope = ?",
            [held, target.source, target.table, target.scope],
        )

    def newest_extraction(self, target: LoadTarget) -> datetime | None:
        """When the newest rows the raw table (or the target's slice) holds were extracted
        (`_extracted_at`, in UTC); None while it holds none."""
        if not self.table_exists(target.schema, target.table):
            return None
        scope = f" where {self._slice_sql(target.where)}" if target.where else ""
        [(newest,)] = self.query(f"select max(_extracted_at) from {target.qualified_name}{scope}")
        return None if newest is None else as_utc(newest)

    def load_references(self, source: str, table: str) -> LoadReferences:
        """The table's committed loads (every scope) and the loads its watermarks name, for
        the landing store's retention."""
        key = [source, table]
        committed = self.query(
            f"select load_id, scope from {STATE_SCHEMA}.loads "
            "where source = ? and table_name = ? order by finished_at, load_id",
            key,
        )
        watermarks = self.query(
            f"select load_id from {STATE_SCHEMA}.watermarks where source = ? and table_name = ?",
            key,
        )
        return LoadReferences(
            committed=dict(committed), watermarks=frozenset(row[0] for row in watermarks)
        )

    def recorded_schema(self, target: LoadTarget) -> pa.Schema | None:
        rows = self.query(
            f"select arrow_schema from {STATE_SCHEMA}.table_schemas "
            "where source = ? and table_name = ?",
            [target.source, target.table],
        )
        if not rows:
            return None
        return _decoded_schema(rows[0][0])

    def ensure_schema(self, schema: str) -> None:
        """Create the schema on its own, before the load's transaction: loads of two tables of
        one source may create it at the same moment, and only one of them can."""
        try:
            self.execute(f"create schema if not exists {quote_ident(schema)}")
        except Exception:
            if not self.query(
                "select 1 from information_schema.schemata where schema_name = ?", [schema]
            ):
                raise

    def table_exists(self, schema: str, table: str) -> bool:
        return table_exists(self.query, schema, table)

    def load(
        self,
        target: LoadTarget,
        manifest: Manifest | ManifestPromise,
        batches: pa.RecordBatchReader,
        *,
        landing_path: str,
        started_at: datetime,
        read: SourceRead | None,
        owed: Owed | None = None,
    ) -> LoadOutcome:
        """Load exactly the manifest's rows. In ONE transaction: replace (full) or merge
        (incremental) the raw table or its slice, advance the watermark, record the columns
        it lacked or refilled (ColumnGap), record the window its check owes a comparison
        (`owed`, made from the manifest), record the load. Given a promise (where
        `loads_while_landing`), the batches are the parts as they land; the manifest is
        awaited once they are staged, before anything else. `read`: what the load read from
        its source, or None: the files of an inbox drop, which read no source (and so leave the
        watermark of an incremental table as it was)."""
        incoming = batches.schema
        target = target.spelled_as(incoming.names)
        for field in incoming:  # a column this warehouse cannot hold fails before any write
            try:
                self.sql_type(field.type)
            except TypeError as error:
                raise TypeError(
                    f"table '{target.table}', column '{field.name}': {error}; cast it in the "
                    "table's `query:`"
                ) from None
            if problem := self.name_cut(field.name):
                raise WarehouseError(
                    f"table '{target.table}', column '{field.name}': {problem}; "
                    "alias it in the table's `query:`"
                )
        tables = LoadTables(target, suffix=manifest.load_id[-8:])
        staged = tables.staged
        columns = incoming.names
        self.ensure_schema(target.schema)
        with self.transaction():
            self.lock(target)
            self._refuse_overtaken(target, read)
            exists = self.table_exists(target.schema, target.table)
            previous = self.watermark(target)  # before this load writes the table
            plan = plan_schema(
                target.table,
                self.recorded_schema(target) if exists else None,
                incoming,
                contract=target.schema_contract,
                key=target.primary_key,
                relation=f"{target.schema}.{target.table}",
            )
            if (typed := plan.typed(incoming)) != incoming:
                incoming, batches = typed, batches.cast(typed)
            try:
                repeated = self.copy_straight_in(tables, incoming, batches, plan, exists=exists)
                if repeated is None:
                    self.create_staging(staged, incoming, batches, landing_path)
            except UnloadableValue as error:
                raise WarehouseError(f"table '{target.table}', {error}") from None
            if not isinstance(manifest, Manifest):
                manifest = manifest()  # the landing's end: manifest.json is written
            repaired = 0
            if repeated is None:
                if not exists:
                    self.create_table_like(target.qualified_name, staged)
                repaired, repeated = self._write_staged(tables, plan, columns)
            watermark = self._advance_watermark(target, manifest, previous, incoming, read)
            gap = self._track_column_gap(target, manifest, plan, read)
            if owed is not None and (window := owed(manifest)) is not None:
                # With the rows it is owed for: a run killed before the check (or a step
                # retried after a commit whose reply was lost) leaves it, and the next check
                # reaches back to it; a load rolled back leaves none.
                self._write_reconcile_failure(target, window)
            self._record_schema(target, plan.merged)
            [(rows_in_table,)] = self.query(f"select count(*) from {target.qualified_name}")
            self._record_rows_held(target, rows_in_table)
            self.execute(
                f"insert into {STATE_SCHEMA}.loads values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    manifest.load_id,
                    target.source,
                    target.table,
                    target.scope,
                    target.mode,
                    manifest.row_count,
                    rows_in_table,
                    landing_path,
                    started_at,
                    datetime.now(UTC),
                ],
            )
            table_columns = self.query(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [target.schema, target.table],
            )
        return LoadOutcome(
            table_name=f"{target.schema}.{target.table}",
            rows_loaded=manifest.row_count,
            rows_in_table=rows_in_table,
            columns=[(name, kind) for name, kind in table_columns],
            watermark=watermark,
            added_columns=[f.name for f in plan.added],
            widened_columns=[f.name for f in plan.widened],
            missing_columns=plan.missing,
            duplicate_keys_repaired=repaired,
            repeated_keys=repeated,
            returned_columns=gap.returned,
            new_columns=gap.new,
            refilled=gap.refilled,
            reread_from=gap.reread_from,
            nothing_behind=gap.nothing_behind,
            column_gap=gap.after,
        )

    def newest_commit(self, target: LoadTarget) -> CommitSeen:
        """When the newest committed load of the table (or slice) finished."""
        [(finished,)] = self.query(
            f"select max(finished_at) from {STATE_SCHEMA}.loads "
            "where source = ? and table_name = ? and scope = ?",
            [target.source, target.table, target.scope],
        )
        return CommitSeen(None if finished is None else as_utc(finished))

    def _refuse_overtaken(self, target: LoadTarget, read: SourceRead | None) -> None:
        """Two loads of one table (or slice) may overlap (two CLI runs, the API; the lock
        orders their writes, not their reads): one that committed while this one read may
        hold newer rows than this one read, which would replace them, and the watermark,
        never going back, would not read them again. Which load began first does not tell:
        one that began first may read last (its warehouse slow to answer, its read process
        slow to start)."""
        if read is None or read.seen is None:
            return
        newest = self.newest_commit(target)
        if newest != read.seen:
            raise OvertakenLoadError(
                f"table '{target.table}': another load of it committed (at "
                f"{newest.finished_at}) while this one read the source: its rows may be older "
                "than that load's and would replace them, so nothing was loaded; another "
                "attempt reads the source anew"
            )

    def copy_straight_in(
        self,
        tables: LoadTables,
        incoming: pa.Schema,
        batches: pa.RecordBatchReader,
        plan: SchemaPlan,
        *,
        exists: bool,
    ) -> KeyRepeats | None:
        """Write the load's rows into the raw table itself, without a staging table, where the
        backend can (a full load whose types match the table's): replace the rows, keep one
        per key, and answer the keys written more than once
        (keep_one_row_per_key_where_written_twice). None (the default): the load stages them."""
        return None

    def _write_staged(
        self, tables: LoadTables, plan: SchemaPlan, columns: Sequence[str]
    ) -> tuple[int, KeyRepeats]:
        """The staged rows into the raw table, as the load's mode says; then the staging
        table goes. Returns how many duplicated keys the table held (repaired), and the keys
        staged more than once, of which it wrote one row each."""
        target = tables.target
        if target.where is not None:
            # A partition's load replaces its rows only: a row outside it would be written where
            # no later load of the partition replaces it (a drop holding another tenant's rows).
            [(outside,)] = self.query(
                f"select count(*) from {tables.staged} "
                f"where not coalesce({self._slice_sql(target.where)}, false)"
            )
            if outside:
                raise WarehouseError(
                    f"table '{target.table}': {outside} row(s) lie outside the partition "
                    f"{target.where.key} it loads; a partition's load must read its own rows "
                    "only; nothing was loaded"
                )
            if target.where.kind == "tenant":
                self._refuse_rows_of_no_tenant(target, plan)
        for field in plan.added:
            self.execute(
                f"alter table {target.qualified_name} add column "
                f"{quote_ident(field.name)} {self.sql_type(field.type)}"
            )
        for field in plan.widened:
            self.widen_column(target, field)
        # Counted once, for the write (rows_to_write) and for reconciliation (LoadOutcome).
        repeated = self.repeated_keys(tables)
        tables = replace(tables, repeated=repeated)
        repaired = 0
        if target.mode == "incremental":
            self.merge(tables, columns, missing=plan.missing)
            if target.primary_key:
                repaired = self.repair_duplicate_keys(tables, plan.merged.names)
        elif target.where is not None:
            self.execute(
                f"delete from {target.qualified_name} where {self._slice_sql(target.where)}"
            )
            self.insert_from(target.qualified_name, self.rows_to_write(tables, columns), columns)
            if target.primary_key and target.key_scope is None:
                # A row that moved into this range keeps one copy: its old one goes, unless
                # the range it lies in was read after this one (two ranges' runs at once).
                repaired = self.repair_duplicate_keys(tables, plan.merged.names)
        else:
            self.replace_all(tables, columns)
        self.drop_staging(tables.staged)
        return repaired, repeated

    def _refuse_rows_of_no_tenant(self, target: LoadTarget, plan: SchemaPlan) -> None:
        """A tenant's load replaces the rows of its id only: rows a whole load wrote before
        the table was scoped by tenant (_tenant_id NULL, or no such column yet) would stay
        beside every tenant's copy of them. Only a whole load writes such rows (a partition's
        load refuses rows outside it), so a table never loaded whole is not scanned."""
        column = target.where.table_column
        if any(field.name == column for field in plan.added):
            [(count,)] = self.query(f"select count(*) from {target.qualified_name}")
        elif self.query(
            f"select 1 from {STATE_SCHEMA}.loads where source = ? and table_name = ? "
            "and scope = ''",
            [target.source, target.table],
        ):
            [(count,)] = self.query(
                f"select count(*) from {target.qualified_name} where {quote_ident(column)} is null"
            )
        else:
            return
        if count:
            name = f"{target.schema}.{target.table}"
            raise WarehouseError(
                f"table '{target.table}', tenant {target.where.key}: {name} holds {count} "
                f"row(s) of no tenant ({column} NULL), loaded before the table was scoped by "
                "tenant; a tenant's load would leave them beside its own rows, each row twice, "
                f"so nothing was loaded; drop the raw table (drop table {name}) and load every "
                "tenant's partition again"
            )

    def widen_column(self, target: LoadTarget, field: pa.Field) -> None:
        self.execute(
            f"alter table {target.qualified_name} alter column {quote_ident(field.name)} "
            f"type {self.sql_type(field.type)}"
        )

    def merge(
        self, tables: LoadTables, columns: Sequence[str], *, missing: Sequence[str] = ()
    ) -> None:
        """An incremental load's upsert by primary key, inside the load's transaction: a held
        row whose key the source matches to a staged one's ('abc' to 'ABC') goes. A merged row
        is the staged row whole: NULL in the table's `missing` columns (the source no longer
        sends them), as deleting and inserting it makes it."""
        target, staged = tables.target, tables.staged
        keys = ", ".join(target.matched_key())
        scope = f" and {self._slice_sql(target.where)}" if target.where else ""
        self.execute(
            f"delete from {target.qualified_name} where ({keys}) in (select {keys} from {staged})"
            + scope
        )
        self.insert_from(target.qualified_name, self.rows_to_write(tables, columns), columns)

    def repair_duplicate_keys(self, tables: LoadTables, columns: Sequence[str]) -> int:
        """Keys the table (or slice) holds more than once (a table written before loads were
        serialized; a key the source matches in two spellings, loaded before keys were matched
        as it matches them; a row that moved to another key range) keep one row, chosen as a
        merge chooses. Returns how many were repaired."""
        target = tables.target
        keys = ", ".join(target.matched_key())
        scope = f" where {self._slice_sql(target.key_scope)}" if target.key_scope else ""
        # Each key as matched, under its column's name (the column itself where exact).
        named = ", ".join(
            matched if matched == quote_ident(name) else f"{matched} as {quote_ident(name)}"
            for matched, name in zip(target.matched_key(), target.primary_key, strict=True)
        )
        duplicated = (
            f"select {named} from {target.qualified_name}{scope} group by {keys} "
            "having count(*) > 1"
        )
        [(count,)] = self.query(f"select count(*) from ({duplicated}) as duplicated")
        if not count:
            return 0
        kept = tables.scratch("kept")
        names = column_list(columns)
        if target.folds_key:
            on = " and ".join(
                f"{held} = duplicated.{quote_ident(name)}"
                for held, name in zip(target.matched_key("held"), target.primary_key, strict=True)
            )
            joined = f"on {on}"
        else:
            joined = f"using ({keys})"
        duplicates = (
            f"(select held.* from {target.qualified_name} as held "
            f"join ({duplicated}) as duplicated {joined})"
        )
        self.execute(
            f"create table {kept} as select {names} from "
            f"{latest_per_key(target, duplicates + ' as duplicates', columns)}"
        )
        matches = " and ".join(
            f"{in_kept} = {in_table}"
            for in_kept, in_table in zip(
                target.matched_key(kept), target.matched_key(target.qualified_name), strict=True
            )
        )
        self.execute(
            f"delete from {target.qualified_name} where exists "
            f"(select 1 from {kept} where {matches})"
        )
        self.insert_from(target.qualified_name, kept, columns)
        self.execute(f"drop table {kept}")
        return int(count)

    def _slice_sql(self, where: Slice) -> str:
        return where.table_predicate()

    def _advance_watermark(
        self,
        target: LoadTarget,
        manifest: Manifest,
        previous: Any | None,
        rows: pa.Schema,
        read: SourceRead | None,
    ) -> Any | None:
        """The watermark after this load, from `previous`, the one it had before it wrote
        (None where the table was gone or held no rows: read_start): never back for an
        incremental read (a read of nothing new must not lower it), but what a full read
        found, lower too (a table emptied). Never past the source's clock as read before the
        read (the manifest's cursor.until: a cursor from the future, 2099, would have had
        every later load read from there), a `previous` past it included (recorded before
        watermarks kept to the clock). `rows`: the loaded rows' columns, the cursor's type as
        read now. An incremental drop (`read` None) leaves it: it holds the rows its tool chose,
        not every row changed up to its newest, and the next load from the source, reading from
        that newest, would never read a change the drop left out."""
        whole = manifest.mode == "full"
        if read is None and not whole:
            return previous
        if manifest.cursor is None and not (whole and previous is not None):
            return previous
        reached = manifest.cursor.watermark_value if manifest.cursor else None
        if not whole and previous is not None:
            cursor = manifest.cursor.column
            kind = rows.field(cursor).type if cursor in rows.names else None
            try:
                held = cursor_value_as(previous, kind)
                behind = held >= reached and not manifest.cursor.past_until(held)
            except TypeError:
                raise WarehouseError(
                    f"table '{target.table}': the cursor '{cursor}' is {kind} now, and its "
                    f"watermark ({previous}) is {cursor_type_name(previous)}, recorded while the "
                    "column was of another type: the two cannot be compared, so nothing was "
                    "loaded; a `full_refresh` run reads the table whole and starts its "
                    "watermark anew"
                ) from None
            if behind:
                # one recorded before origins were: given this load's
                self.execute(
                    f"update {STATE_SCHEMA}.watermarks set origin = coalesce(origin, ?), "
                    "merge_key = coalesce(merge_key, ?) "
                    "where source = ? and table_name = ? and scope = ? "
                    "and (origin is null or merge_key is null)",
                    [target.origin, target.merge_key, target.source, target.table, target.scope],
                )
                return previous
        key = [target.source, target.table, target.scope]
        self.execute(
            f"delete from {STATE_SCHEMA}.watermarks where source = ? and table_name = ? "
            "and scope = ?",
            key,
        )
        if reached is None:
            return None
        kind, text = encode_cursor(reached)
        self.execute(
            f"insert into {STATE_SCHEMA}.watermarks values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                *key,
                manifest.cursor.column,
                kind,
                text,
                manifest.load_id,
                datetime.now(UTC),
                target.origin,
                target.merge_key,
                None,  # rows_held: once the load has written (_record_rows_held)
            ],
        )
        return reached

    def column_gap(self, target: LoadTarget, scope: str | None = None) -> ColumnGap | None:
        """The columns committed loads of the target's scope (or of `scope`) lacked, not yet
        re-read."""
        rows = self.query(
            f"select column_names, cursor_column, value_type, value, load_id "
            f"from {STATE_SCHEMA}.column_gaps where source = ? and table_name = ? and scope = ?",
            [target.source, target.table, target.scope if scope is None else scope],
        )
        if not rows:
            return None
        names, cursor, kind, value, load_id = rows[0]
        since = None if kind is None else decode_cursor(kind, value)
        if cursor is not None and target.cursor is not None and cursor != target.cursor.lower():
            since = None  # a point of another cursor column: every row is behind it
        return ColumnGap(tuple(json.loads(names)), target.cursor, since, load_id)

    def _track_column_gap(
        self,
        target: LoadTarget,
        manifest: Manifest,
        plan: SchemaPlan,
        read: SourceRead | None,
    ) -> _GapChange:
        """Inside the load's transaction, so that a failed load leaves it as it was: what the
        scope lacks after this load. A full load replaces the rows (a whole table's, every
        scope's). An incremental one gives the rows lacking a column it carries their values
        where its read began no later than the first of them holding one (SourceRead.filled),
        or before the gap's point; what it lacks, and what it carries but did not so fill (an
        inbox drop's), stays, from the earliest point concerned. A column new to a table that
        held rows is lacking in every row loaded before: those of this scope, and those of the
        table's other scopes, each until its own load reads them."""
        held = self.column_gap(target)
        lacking = tuple(name for name in plan.missing if name.lower() not in METADATA_COLUMNS)
        returned = [name for name in held.columns if name not in lacking] if held else []
        added = [f.name for f in plan.added if f.name.lower() not in METADATA_COLUMNS]
        if added and target.where is not None:
            self._add_to_other_scopes(target, added, manifest.load_id)
        if target.mode == "full":
            after = ColumnGap(lacking, target.cursor, None, manifest.load_id) if lacking else None
            if after != held:
                self._write_column_gap(target, after, whole=True)
            return _GapChange(returned, [], bool(returned), None, False, after)
        filled = {name.casefold() for name in read.filled} if read is not None else set()

        def fills(name: str, since: Any | None) -> bool:
            """Whether this load gave `name` to every row that lacked it from `since` on."""
            if read is None:  # an inbox drop's files: the rows behind them are not read
                return False
            return at_or_before(read.since, since) or name.casefold() in filled

        gap_since = held.since if held is not None else None
        unfilled = [name for name in returned if not fills(name, gap_since)]
        unfilled_new = [name for name in added if not fills(name, None)]
        kept = (
            [name for name in held.columns if name in lacking or name in unfilled] if held else []
        )
        if read is not None:
            since = read.since
        else:  # an inbox drop: its rows are those from its lowest cursor
            since = manifest.cursor.min_value if manifest.cursor else None
        columns = (*kept, *(name for name in lacking if name not in kept), *unfilled_new)
        # From the earliest row concerned: the gap's; this load's rows; a new column's, every row.
        points = [gap_since] if kept else []
        points += [since] if lacking else []
        points += [None] if unfilled_new else []
        after = None
        if columns:
            load_id = held.load_id if held is not None and kept else manifest.load_id
            after = ColumnGap(columns, target.cursor, reduce(earlier_point, points), load_id)
        if after != held:
            self._write_column_gap(target, after, whole=False)
        refilled = bool(returned or added) and not unfilled and not unfilled_new
        return _GapChange(
            returned=returned,
            new=added,
            refilled=refilled,
            reread_from=since if refilled else None,
            nothing_behind=refilled and read is not None and read.nothing_behind,
            after=after,
        )

    def _add_to_other_scopes(
        self, target: LoadTarget, columns: Sequence[str], load_id: str
    ) -> None:
        """A column new to the table, added by a load of one scope (a tenant's, a key range's),
        is lacking in the rows of every other scope: recorded for each that an incremental load
        reads from a watermark (one without reads its rows whole), from its first row."""
        scopes = self.query(
            f"select scope from {STATE_SCHEMA}.watermarks where source = ? and table_name = ? "
            "and scope <> ?",
            [target.source, target.table, target.scope],
        )
        for (scope,) in scopes:
            held = self.column_gap(target, scope)
            gap = ColumnGap(tuple(columns), target.cursor, None, load_id)
            if held is not None:
                more = tuple(name for name in columns if name not in held.columns)
                gap = replace(held, columns=held.columns + more, since=None)
            self._write_column_gap(target, gap, whole=False, scope=scope)

    def _write_column_gap(
        self, target: LoadTarget, gap: ColumnGap | None, *, whole: bool, scope: str | None = None
    ) -> None:
        """Replace the scope's record (or `scope`'s; a full load of the whole table: every
        scope's)."""
        key = [target.source, target.table]
        scope = target.scope if scope is None else scope
        if whole and target.where is None:
            self.execute(
                f"delete from {STATE_SCHEMA}.column_gaps where source = ? and table_name = ?", key
            )
        else:
            self.execute(
                f"delete from {STATE_SCHEMA}.column_gaps where source = ? and table_name = ? "
                "and scope = ?",
                [*key, scope],
            )
        if gap is None:
            return
        kind, text = (None, None) if gap.since is None else encode_cursor(gap.since)
        self.execute(
            f"insert into {STATE_SCHEMA}.column_gaps values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                *key,
                scope,
                json.dumps(list(gap.columns)),
                gap.cursor.lower() if gap.cursor else None,
                kind,
                text,
                gap.load_id,
                datetime.now(UTC),
            ],
        )

    def reconcile_failure(self, target: LoadTarget) -> ReconcileFailure | None:
        """The scope's remembered reconciliation failure, if any (one query: every check
        reads it)."""
        rows = self.query(
            "select cursor_column, value_type, value, until_type, until_value, window_text, "
            f"description, load_id, failed_at, kind from {STATE_SCHEMA}.reconcile_failures "
            "where source = ? and table_name = ? and scope = ?",
            [target.source, target.table, target.scope],
        )
        if not rows:
            return None
        (cursor, kind, value, until_kind, until, window, description, load_id, failed_at,
         recorded_kind) = rows[0]  # fmt: skip
        since = None if kind is None else decode_cursor(kind, value)
        until = None if until_kind is None else decode_cursor(until_kind, until)
        if cursor is None or target.cursor is None or cursor != target.cursor.lower():
            since = until = None  # a window of every row, or of another cursor column
        return ReconcileFailure(
            target.cursor,
            since,
            window,
            description,
            load_id,
            as_utc(failed_at),
            until,
            owed=recorded_kind == OWED,
        )

    def record_reconcile_failure(
        self,
        target: LoadTarget,
        failure: ReconcileFailure | None,
        *,
        whole: bool,
        read: ReconcileFailure | None = None,
    ) -> None:
        """Remember a failure for the scope, or (None) forget the one the check `read`; a check
        of the whole table (`whole`, no partition) forgets every scope's. Under the table's
        lock (two runs' checks of one scope at once), re-read there: a failure recorded
        meanwhile by another check is kept, widened by this one (ReconcileFailure.widened),
        and a forget leaves it unless it is the very record read (not one another check or a
        load widened since): this check did not compare its other rows."""
        key = [target.source, target.table]
        with self.transaction():
            self.lock(target)
            if failure is not None:
                self._write_reconcile_failure(target, failure)
                return
            held = self.reconcile_failure(target)
            if held is None or held != read:
                return  # another check's failure, or a load's window, written since this read
            if whole and target.where is None:
                self.execute(
                    f"delete from {STATE_SCHEMA}.reconcile_failures "
                    "where source = ? and table_name = ?",
                    key,
                )
            else:
                self._forget_reconcile_failure(target)

    def _write_reconcile_failure(self, target: LoadTarget, failure: ReconcileFailure) -> None:
        """Remember `failure` for the scope, widening the one held; the caller holds the
        table's lock in its transaction (a check's record, or a load's own owed window)."""
        held = self.reconcile_failure(target)
        if held is not None:
            failure = held.widened(failure)
            if failure == held:
                return
            self._forget_reconcile_failure(target)
        kind, text = (None, None) if failure.since is None else encode_cursor(failure.since)
        try:
            until_kind, until = (
                (None, None) if failure.until is None else encode_cursor(failure.until)
            )
        except TypeError:  # a value a driver gave in a type no cursor has: open above
            until_kind, until = None, None
        self.execute(
            f"insert into {STATE_SCHEMA}.reconcile_failures "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                target.source,
                target.table,
                target.scope,
                failure.cursor.lower() if failure.cursor else None,
                kind,
                text,
                until_kind,
                until,
                failure.window[:1024],
                failure.description[:ERROR_SUMMARY_CHARS],
                failure.load_id,
                failure.failed_at,
                OWED if failure.owed else FAILED,
            ],
        )

    def _forget_reconcile_failure(self, target: LoadTarget) -> None:
        self.execute(
            f"delete from {STATE_SCHEMA}.reconcile_failures "
            "where source = ? and table_name = ? and scope = ?",
            [target.source, target.table, target.scope],
        )

    def _record_schema(self, target: LoadTarget, schema: pa.Schema) -> None:
        encoded = base64.b64encode(schema.serialize().to_pybytes()).decode()
        key = [target.source, target.table]
        self.execute(
            f"delete from {STATE_SCHEMA}.table_schemas where source = ? and table_name = ?", key
        )
        self.execute(
            f"insert into {STATE_SCHEMA}.table_schemas values (?, ?, ?, ?)",
            [*key, encoded, datetime.now(UTC)],
        )
