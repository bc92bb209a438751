"""The embedded default warehouse: one DuckDB file, one writer process at a time."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tributary.arrow import DRIVER_INFINITY_DAYS, DRIVER_INFINITY_MICROS, StrictlyRising
from tributary.errors import WarehouseError
from tributary.landing import Manifest, ManifestPromise
from tributary.memory import release_freed_memory
from tributary.storage import writable_problems
from tributary.warehouse.base import (
    SESSION_TIME_ZONE,
    KeyRepeats,
    LoadOutcome,
    LoadTables,
    LoadTarget,
    Owed,
    SourceRead,
    StateQuery,
    T,
    Warehouse,
    quote_ident,
    quote_literal,
    refuse_wide_decimal,
)
from tributary.warehouse.drift import SchemaPlan

# A load's buffer pool when warehouse.memory_limit is unset: DuckDB's default (80% of RAM)
# lets the pool, and the process, grow with the table, since a load is one transaction.
# Measured on the ingest benchmark's table, 128MB loads as fast as an unbounded pool
# (64MB costs about 40% more CPU), and with one thread: a second writer thread held about
# 45 MB more at 2,000,000 rows, for about 40% more CPU, and half the wall time at best.
# Both apply to loads only, not to reads or dbt; a configured memory_limit keeps DuckDB's
# threads (as many as cores) within it.
LOAD_MEMORY_LIMIT = "128MB"
LOAD_THREADS = 1
# A full load's insert (copy_straight_in) with the pool unset gets a smaller one, by its width:
# DuckDB keeps every block the insert wrote in the pool until the pool is full, so the pool
# filled up to its limit as the table grew (about 36 MB of blocks at 2,000,000 rows of the
# benchmark's 14 columns, 120 MB at 8,000,000, and the process with it); the insert itself
# pins about a block (256 KB) per column. 2 MB a column, between 32MB and LOAD_MEMORY_LIMIT,
# loaded the benchmark's table as fast as 128MB did, and the peak no longer grows with it.
STREAM_MEMORY_PER_COLUMN_MB = 2
STREAM_MEMORY_FLOOR_MB = 32


def stream_memory_limit(columns: int) -> str:
    """The pool of a full load's insert of `columns` columns, when memory_limit is unset."""
    ceiling = int(LOAD_MEMORY_LIMIT.removesuffix("MB"))
    return f"{min(ceiling, max(STREAM_MEMORY_FLOOR_MB, STREAM_MEMORY_PER_COLUMN_MB * columns))}MB"


# How long opening the file waits for another process (a run, a sensor) to release it: within
# the minute Dagster gives a sensor tick.
LOCK_WAIT_SECONDS = 60.0

# read_parquet expands these in a path as a glob: such a path is read through Arrow instead.
GLOB_CHARACTERS = frozenset("*?[]{}")


def local_parts(manifest: Manifest, landing_path: str) -> list[str] | None:
    """The manifest's parts as local file paths DuckDB can read itself, or None: a landing
    elsewhere (s3://; DuckDB's httpfs cannot be installed here), a manifest without files,
    or a part that is not there."""
    files = getattr(manifest, "files", None)
    if not files:
        return None
    scheme, separator, rest = landing_path.partition("://")
    if separator and scheme != "file":
        return None
    folder = Path(rest if separator else landing_path)
    paths = [str(folder / landed.path) for landed in files]
    if any(GLOB_CHARACTERS & set(path) for path in paths):
        return None
    if not all(Path(path).is_file() for path in paths):
        return None
    return paths


def goes_straight_in(target: LoadTarget) -> bool:
    """Whether a load writes the raw table without staging (see copy_straight_in)."""
    return target.mode == "full" and target.where is None


MAX_DECIMAL_PRECISION = 38

# DuckDB types whose Arrow form is not their values, by the type's id: what would go wrong,
# and the exact cast to ask for. (HUGEINT, what sum() of integers returns, Arrow holds as
# decimal128(38, 0): exact up to 38 digits, checked value by value in checked_hugeints.)
INEXACT_IN_ARROW = {
    "time with time zone": (
        "Arrow's time has no offset, so 10:00+02 and 10:00-05 would both be written 10:00",
        "cast({c} as varchar)",
    ),
    "uhugeint": (
        "Arrow reads it as decimal128(38, 0), so values from 2^127 up would turn negative",
        "cast({c} as decimal(38, 0)) (values below 10^38) or cast({c} as varchar)",
    ),
    "bit": ("Arrow gets DuckDB's internal bytes, not the bits", "cast({c} as varchar)"),
    "bignum": (
        "Arrow gets DuckDB's internal bytes, as an opaque extension type",
        "cast({c} as varchar)",
    ),
    "variant": (
        "Arrow gets DuckDB's internal encoding (metadata and value bytes)",
        "cast({c} as varchar)",
    ),
}
NESTED = frozenset({"list", "array", "struct", "map", "union"})


def inexact_in_arrow(kind: duckdb.DuckDBPyType) -> duckdb.DuckDBPyType | None:
    """The type in `kind` (itself, or one its lists, structs or maps hold) that Arrow would
    not hold exactly, if any."""
    if kind.id in INEXACT_IN_ARROW:
        return kind
    if kind.id in NESTED:
        for _, child in kind.children:
            if (found := inexact_in_arrow(child)) is not None:
                return found
    return None


def refuse_inexact_columns(names: Sequence[str], types: Sequence[duckdb.DuckDBPyType]) -> None:
    """Before any row is read: a column whose DuckDB type Arrow would change (decided by the
    result's types, not its values) fails the read, naming the column and the cast to use."""
    for name, kind in zip(names, types, strict=True):
        found = inexact_in_arrow(kind)
        if found is None:
            continue
        why, cast = INEXACT_IN_ARROW[found.id]
        column = quote_ident(name)
        # Held in a list or struct, the values are exact as JSON text.
        fix = cast.format(c=column) if found is kind else f"to_json({column})"
        holding = "" if found is kind else f", holding {found}"
        raise WarehouseError(
            f"column '{name}' is {kind}{holding}, which cannot be exported exactly: {why}; "
            f"cast it in the model or the export's query: {fix}"
        )


def holds_hugeint(kind: duckdb.DuckDBPyType) -> bool:
    if kind.id == "hugeint":
        return True
    return kind.id in NESTED and any(holds_hugeint(child) for _, child in kind.children)


def checked_hugeints(
    reader: pa.RecordBatchReader, names: Sequence[str], types: Sequence[duckdb.DuckDBPyType]
) -> pa.RecordBatchReader:
    """`reader`, failing at a HUGEINT of 39 digits (from 10^38 up to 2^127 - 1), which Arrow's
    decimal128(38, 0) would carry in a column declared unable to hold it: the file's readers
    refuse it (or read it wrong). Sums rarely come near; decimal256(39, 0) for every HUGEINT
    would make each sum() a column Spark cannot read and DuckDB reads as DOUBLE."""
    hugeint = [i for i, kind in enumerate(types) if holds_hugeint(kind)]
    if not hugeint:
        return reader

    def checked() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            for i in hugeint:
                try:
                    batch.column(i).validate(full=True)
                except pa.ArrowInvalid as error:
                    found = re.search(r"Decimal value (-?\d+)", str(error))
                    value = found.group(1) if found else "a value of 39 digits"
                    raise WarehouseError(
                        f"column '{names[i]}' is {types[i]} and holds {value}, which "
                        "decimal128(38, 0) cannot hold (at most 38 digits); cast it in the model "
                        f"or the export's query: cast({quote_ident(names[i])} as varchar), or "
                        "divide it down to 38 digits"
                    ) from None
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, checked())


# A PostgreSQL source's -infinity and infinity as its driver hands them over (the first and
# last day of its calendar: see tributary.arrow), each as DuckDB's type of the column makes it.
# DuckDB has infinity itself; kept as the extremes, `= 'infinity'` would match nothing.
_DRIVER_INFINITY = {
    "TIMESTAMP": "make_timestamp({}::bigint)",
    "TIMESTAMP WITH TIME ZONE": "make_timestamptz({}::bigint)",
}


def _landed_column(name: str, kind: str, *, cast: bool) -> str:
    """A landed column's expression in the select that reads it into the raw table."""
    column = quote_ident(name)
    value = f"cast({column} as {kind})" if cast and kind != '"NULL"' else column
    if kind in _DRIVER_INFINITY:
        low, high = (_DRIVER_INFINITY[kind].format(v) for v in DRIVER_INFINITY_MICROS)
    elif kind == "DATE":
        low, high = (f"(date '1970-01-01' + {days})" for days in DRIVER_INFINITY_DAYS)
    else:
        return value if value == column else f"{value} as {column}"
    return (
        f"case {value} when {high} then cast('infinity' as {kind}) "
        f"when {low} then cast('-infinity' as {kind}) else {value} end as {column}"
    )


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"
    # A full load writes the parts into the raw table as they land (copy_straight_in), so
    # that DuckDB's writes overlap the extraction; other loads await the landing and stage
    # a view of its files.
    loads_while_landing = True

    def __init__(
        self,
        path: Path | str,
        *,
        memory_limit: str | None = None,
        temp_directory: Path | str | None = None,
    ) -> None:
        self.path = Path(path)
        self.memory_limit = memory_limit
        self.temp_directory = temp_directory
        self._con: duckdb.DuckDBPyConnection | None = None
        self._parts: list[str] | None = None  # the local parts of the load under way

    @property
    def settings(self) -> dict[str, str]:
        """DuckDB settings the connection opens with (unset ones keep DuckDB's defaults).
        A load is one transaction whose new rows DuckDB keeps in its buffer pool until
        commit; memory_limit bounds that pool, and beyond it DuckDB evicts to the file or
        the temp directory, so a load's memory stays flat however large the table."""
        settings = {"memory_limit": self.memory_limit, "temp_directory": self.temp_directory}
        return {key: str(value) for key, value in settings.items() if value is not None}

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = self._connect()
            self.ensure_state()
        return self._con

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """The file, once no other process holds it: a run and the sensors that write
        Tributary's state (run log, tenants, source changes) take turns, each briefly; a
        process holding it longer than LOCK_WAIT_SECONDS fails this one with DuckDB's error."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        pause = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), config=self.settings)
                # Timestamps with a zone compare with plain ones, and cast to dates, in the
                # session's zone, which would be the machine's: a day's export partition must
                # be the UTC day, as PostgreSQL's exports read it. (It can only be SET: the
                # time zone extension is not loaded yet when the connection's config is read.)
                con.execute(f"set TimeZone = '{SESSION_TIME_ZONE}'")
                return con
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise duckdb.IOException(
                        f"{exc} (another process held it for {LOCK_WAIT_SECONDS:g} s: a DuckDB "
                        "warehouse takes one writer process at a time)"
                    ) from None
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def check_access(self, schemas: Sequence[str]) -> list[str]:
        # Without opening the file: a connection would create it and its state tables, and a
        # DuckDB file takes one writer process at a time. Any schema can be created in it.
        return writable_problems(self.path)

    def read_state(self, read: Callable[[StateQuery], T], *, nothing: T) -> T:
        # Only a file that exists (a connection would create it), on a connection of its own
        # (`con` would create the state tables), opened as a load's is: a read-only one
        # cannot open a file this process holds with other settings, nor one a writer holds.
        if not self.path.is_file():
            return nothing
        try:
            con = self._connect()
        except duckdb.Error as error:  # held by a writer past LOCK_WAIT_SECONDS, say
            raise WarehouseError(f"reading {self.path}: {error}") from None
        try:
            return read(lambda sql, params: con.execute(sql, list(params)).fetchall())
        finally:
            con.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.begin()
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

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
        if not isinstance(manifest, Manifest) and not goes_straight_in(target):
            manifest = manifest()  # the landing's end: its files make the staging view
        self._parts = (
            local_parts(manifest, landing_path) if isinstance(manifest, Manifest) else None
        )
        release_freed_memory()
        bounded = self.memory_limit is None
        if bounded:
            self.execute(f"set memory_limit = {quote_literal(LOAD_MEMORY_LIMIT)}")
            self.execute(f"set threads = {LOAD_THREADS}")
        try:
            return super().load(
                target,
                manifest,
                batches,
                landing_path=landing_path,
                started_at=started_at,
                read=read,
                owed=owed,
            )
        finally:
            self._parts = None
            if bounded:
                self.execute("reset memory_limit")
                self.execute("reset threads")

    def copy_straight_in(
        self,
        tables: LoadTables,
        incoming: pa.Schema,
        batches: pa.RecordBatchReader,
        plan: SchemaPlan,
        *,
        exists: bool,
    ) -> KeyRepeats | None:
        """A full, unsliced load writes the landed rows into the raw table itself, emptied in
        the load's transaction, as they land: no staging relation, and DuckDB writes (most
        of a load's time: it compresses each block) while the landing goes on. The rows are
        cast to the table's types as the staged path's insert casts them. A key landed twice
        then keeps one row, chosen as the staged path chooses."""
        target = tables.target
        if not goes_straight_in(target) or plan.added or plan.widened:
            return None
        key = target.key_watch()
        with self._landed(incoming, batches, key) as landed, self._stream_pool(len(incoming)):
            if exists:
                self.empty(target.qualified_name)
                self.insert_from(target.qualified_name, landed, incoming.names)
            else:
                self.execute(f"create table {target.qualified_name} as select * from {landed}")
        release_freed_memory()  # the landing's, before the checks
        return self.keep_one_row_per_key_where_written_twice(tables, incoming.names, key)

    @contextmanager
    def _stream_pool(self, columns: int) -> Iterator[None]:
        """A full load's insert runs with the pool stream_memory_limit gives its width (when
        memory_limit is unset), and the rest of the load (the key checks) with the load's."""
        if self.memory_limit is not None:
            yield
            return
        self.execute(f"set memory_limit = {quote_literal(stream_memory_limit(columns))}")
        try:
            yield
        finally:
            # In an aborted transaction DuckDB refuses it; load() resets the pool after.
            with suppress(duckdb.TransactionException):
                self.execute(f"set memory_limit = {quote_literal(LOAD_MEMORY_LIMIT)}")

    def create_staging(
        self, name: str, schema: pa.Schema, batches: pa.RecordBatchReader, landing_path: str
    ) -> None:
        """Landed on this machine, the staged rows are a view of the landed parts: the load
        then writes each row once, into the raw table. Landed elsewhere (or, rarely, still
        landing), the batches (Arrow, read by pyarrow) fill a table."""
        if self._parts is not None:
            self.execute(f"create view {name} as select * from {self._parquet(schema)}")
            return
        with self._landed(schema, batches) as landed:
            self.execute(f"create table {name} as select * from {landed}")

    @contextmanager
    def _landed(
        self,
        schema: pa.Schema,
        batches: pa.RecordBatchReader,
        key: StrictlyRising | None = None,
    ) -> Iterator[str]:
        """The landed rows as a relation to select from: the landed parts read by DuckDB
        itself (in parallel, streaming, within its memory_limit) where they are all on this
        machine; else the batches. A failure of the batches' source (the landing, the
        extraction) is raised as itself, not as the error DuckDB makes of it."""
        if self._parts is not None:
            if key is not None:
                key.holds = False  # not seen: the aggregate tells
            yield self._parquet(schema)
            return
        failed: list[BaseException] = []

        def watched() -> Iterator[pa.RecordBatch]:
            try:
                yield from key.watching(batches) if key is not None else batches
            except BaseException as exc:
                failed.append(exc)
                raise

        self.con.register("landed", pa.RecordBatchReader.from_batches(schema, watched()))
        try:
            yield self._selected(schema, "landed", cast=False)
        except duckdb.Error as exc:
            if failed:
                raise failed[0] from exc
            raise
        finally:
            # In an aborted transaction DuckDB refuses it; the next register replaces it.
            with suppress(duckdb.TransactionException):
                self.con.unregister("landed")

    def _parquet(self, schema: pa.Schema) -> str:
        """The local parts, each column cast to the type the Arrow path gives it (Parquet has
        no timestamp[s], say): the same types either way."""
        files = ", ".join(quote_literal(path) for path in self._parts or ())
        return self._selected(schema, f"read_parquet([{files}])", cast=True)

    def _selected(self, schema: pa.Schema, relation: str, *, cast: bool) -> str:
        """The landed rows of `relation` as the raw table takes them: each column as the type
        DuckDB gives its Arrow type (cast, for the Parquet parts), and a PostgreSQL source's
        infinity, which its driver hands over as its calendar's extremes, as DuckDB's own."""
        types = self.con.from_arrow(schema.empty_table()).types
        columns = [
            _landed_column(field.name, str(kind), cast=cast)
            for field, kind in zip(schema, types, strict=True)
        ]
        if not cast and all(
            column == quote_ident(f.name) for column, f in zip(columns, schema, strict=True)
        ):
            return relation  # nothing to cast or map: the relation itself
        return f"(select {', '.join(columns)} from {relation})"

    def drop_staging(self, name: str) -> None:
        if self._parts is not None:
            self.execute(f"drop view {name}")
        else:
            self.execute(f"drop table {name}")

    def create_table_like(self, name: str, like: str) -> None:
        """Create the table from its column definitions, never by an empty
        `create table ... as select ... from <like> where 1 = 0`. DuckDB 2.0.0 bug: when that
        empty CTAS and then an insert from the same table `like` of more than one row group
        (122,880 rows) run in one transaction, every later scan in the same database instance
        finds none of the inserted rows (count(*), answered from the table's cardinality, is
        right; the file is right once reopened): the checks that follow a load in its session
        saw an empty table."""
        described = self.query(f"describe {like}")
        columns = ", ".join(f"{quote_ident(column)} {kind}" for column, kind, *_ in described)
        self.execute(f"create table {name} ({columns})")

    def sql_type(self, arrow_type: pa.DataType) -> str:
        # DuckDB refuses a wider Arrow decimal, and reads a wider Parquet one as DOUBLE.
        refuse_wide_decimal(arrow_type, warehouse="DuckDB", max_precision=MAX_DECIMAL_PRECISION)
        # DuckDB names the type an Arrow column becomes; ask it rather than keep a table.
        empty = pa.table({"c": pa.array([], arrow_type)})
        return str(self.con.from_arrow(empty).types[0])

    def result_names(self, sql: str) -> list[str]:
        # The query's own (bound, not run): a subquery's star would rename a second `ID` `ID_1`.
        return self.con.sql(sql).columns

    @contextmanager
    def read(self, sql: str, *, batch_rows: int = 100_000) -> Iterator[pa.RecordBatchReader]:
        relation = self.con.sql(sql)
        refuse_inexact_columns(relation.columns, relation.types)
        reader = relation.to_arrow_reader(batch_rows)
        try:
            yield checked_hugeints(reader, relation.columns, relation.types)
        finally:
            # A reader left open keeps the database instance alive, and the next connect
            # to the file from this process would wait for it.
            reader.close()
