"""Amazon Redshift: one COPY per load from the landing files on S3, MERGE or a rename swap.

Why this differs from PostgreSQL: row inserts are orders of magnitude slower than COPY;
TRUNCATE and ALTER TABLE APPEND commit on their own, so they cannot be part of a safe swap
(a full load swaps tables by renaming them, which is transactional); ALTER COLUMN TYPE
cannot run inside a transaction, so a widened column is rebuilt. Strings are VARCHAR(65535),
Redshift's longest (sized in bytes, so multibyte text fits); JSON columns are SUPER.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any

import pyarrow as pa

from tributary.arrow import reader_from_cursor
from tributary.landing import COPY_MANIFEST
from tributary.warehouse.base import (
    SESSION_TIME_ZONE,
    LoadTables,
    LoadTarget,
    StateQuery,
    T,
    Warehouse,
    column_list,
    placeholders_as_format,
    quote_ident,
    quote_literal,
)
from tributary.warehouse.postgres.warehouse import pg_family_type, schema_access_problems
from tributary.warehouse.redshift.unload import (
    DEFAULT_FILE_MB,
    MANIFEST_NAME,
    read_unload_manifest,
    redshift_string,
    unload_sql,
)
from tributary.warehouse.unload import Unloaded, UnloadFormat

VARCHAR_MAX = "varchar(65535)"
VARBYTE_MAX = "varbyte(1024000)"
MAX_DECIMAL_PRECISION = 38

# A DB-API connection to Redshift (redshift_connector's in production). Tests pass their own,
# to capture the statements and run them on PostgreSQL.
Connect = Callable[[], Any]


class RedshiftWarehouse(Warehouse):
    kind = "redshift"
    name_bytes = 127
    unloads = True

    def __init__(
        self,
        connect: Connect,
        *,
        iam_role: str,
        region: str | None = None,
        unload_iam_role: str | None = None,
        unload_max_file_mb: int = DEFAULT_FILE_MB,
    ) -> None:
        self._connect = connect
        self.iam_role = iam_role
        self.region = region
        self.unload_iam_role = unload_iam_role or iam_role
        self.unload_max_file_mb = unload_max_file_mb

    @property
    def con(self) -> Any:
        if self._con is None:
            con = self._connect()
            con.autocommit = True  # transactions are explicit: begin ... commit
            self._con = con
            self.execute(f"set timezone to '{SESSION_TIME_ZONE}'")
            self.ensure_state()
        return self._con

    def check_access(self, schemas: Sequence[str]) -> list[str]:
        # Its own connection, closed at once: `con` would create the state tables.
        with closing(self._connect()) as con:

            def query(sql: str, params: Sequence[Any]) -> list[tuple]:
                with closing(con.cursor()) as cursor:
                    cursor.execute(sql, list(params) or None)
                    return [tuple(row) for row in cursor.fetchall()]

            return schema_access_problems(query, schemas)

    def read_state(self, read: Callable[[StateQuery], T], *, nothing: T) -> T:
        with closing(self._connect()) as con:  # its own, as check_access's

            def query(sql: str, params: Sequence[Any]) -> list[tuple]:
                with closing(con.cursor()) as cursor:
                    cursor.execute(placeholders_as_format(sql, params), list(params) or None)
                    return [tuple(row) for row in cursor.fetchall()]

            return read(query)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with closing(self.con.cursor()) as cursor:
            cursor.execute(placeholders_as_format(sql, params), list(params) or None)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with closing(self.con.cursor()) as cursor:
            cursor.execute(placeholders_as_format(sql, params), list(params) or None)
            return [tuple(row) for row in cursor.fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("begin")
        try:
            yield
        except BaseException:
            self.execute("rollback")
            raise
        self.execute("commit")

    def sql_type(self, arrow_type: pa.DataType) -> str:
        return pg_family_type(
            arrow_type,
            warehouse="Redshift",
            text=VARCHAR_MAX,
            binary=VARBYTE_MAX,
            json="super",
            max_precision=MAX_DECIMAL_PRECISION,
        )

    def create_staging(
        self, name: str, schema: pa.Schema, batches: pa.RecordBatchReader, landing_path: str
    ) -> None:
        columns = ", ".join(f"{quote_ident(f.name)} {self.sql_type(f.type)}" for f in schema)
        self.execute(f"create table {name} ({columns})")
        self.execute(self.copy_sql(name, f"{landing_path.rstrip('/')}/{COPY_MANIFEST}"))

    def copy_sql(self, table: str, manifest_url: str) -> str:
        region = f" region {quote_literal(self.region)}" if self.region else ""
        return (
            f"copy {table} from {quote_literal(manifest_url)} "
            f"iam_role {quote_literal(self.iam_role)} format as parquet manifest{region}"
        )

    def quote_string(self, value: str) -> str:
        return redshift_string(value)

    def unload(self, sql: str, *, to: str, fs: Any, file_format: UnloadFormat) -> Unloaded:
        """UNLOAD into the prefix `to` (a folder URL on S3), then the files its manifest lists.
        The statement names the IAM role: it is never part of an error raised here."""
        prefix = to.rstrip("/") + "/"
        statement = unload_sql(
            sql,
            to=prefix,
            iam_role=self.unload_iam_role,
            file_format=file_format,
            max_file_mb=self.unload_max_file_mb,
            region=self.region,
        )
        self.execute(statement)
        return read_unload_manifest(fs, prefix + MANIFEST_NAME, file_format)

    def replace_all(self, tables: LoadTables, columns: Sequence[str]) -> None:
        # A rename swap: the new rows go into a copy of the table, which then takes its name.
        # dbt builds late-binding views on Redshift, so views follow the name.
        target = tables.target
        swap, retired = tables.scratch("swap"), tables.scratch_name("old")
        self.execute(f"create table {swap} (like {target.qualified_name})")
        self.insert_from(swap, self.rows_to_write(tables, columns), columns)
        self.execute(f"alter table {target.qualified_name} rename to {quote_ident(retired)}")
        self.execute(f"alter table {swap} rename to {quote_ident(target.table)}")
        self.execute(f"drop table {tables.scratch('old')}")

    def merge(
        self, tables: LoadTables, columns: Sequence[str], *, missing: Sequence[str] = ()
    ) -> None:
        # MERGE needs a source table with one row per key.
        target = tables.target
        latest = tables.scratch("latest")
        self.execute(
            f"create table {latest} as select {column_list(columns)} from "
            f"{self.rows_to_write(tables, columns)}"
        )
        if target.folds_key:
            self._replace_matched(tables, latest, columns)
            return
        names = [quote_ident(name) for name in columns]
        keys = [quote_ident(k) for k in target.primary_key]
        if target.where is not None and target.where.kind == "tenant":
            keys.append(quote_ident(target.where.table_column))
        table = quote_ident(target.table)
        matched = " and ".join(f"{table}.{k} = source.{k}" for k in keys)
        # A missing column is set NULL, as the other warehouses' delete and insert leave it:
        # kept, it held the value of before the source stopped sending it (stale, unmarked).
        updates = ", ".join(
            [f"{n} = source.{n}" for n in names if n not in keys]
            + [f"{quote_ident(name)} = null" for name in missing]
        )
        values = ", ".join(f"source.{n}" for n in names)
        self.execute(
            f"merge into {target.qualified_name} using {latest} as source on {matched} "
            f"when matched then update set {updates} "
            f"when not matched then insert ({column_list(columns)}) values ({values})"
        )
        self.execute(f"drop table {latest}")

    def _replace_matched(self, tables: LoadTables, latest: str, columns: Sequence[str]) -> None:
        """The merge of a key the source matches ignoring case or trailing spaces: MERGE
        takes equalities of columns only, so the held rows whose key matches a new one's
        ('abc' for 'ABC') are deleted, and the new rows inserted, in their new spelling."""
        target = tables.target
        table = quote_ident(target.table)
        pairs = zip(target.matched_key(table), target.matched_key("source"), strict=True)
        matched = [f"{held} = {new}" for held, new in pairs]
        if target.where is not None and target.where.kind == "tenant":
            tenant = quote_ident(target.where.table_column)
            matched.append(f"{table}.{tenant} = source.{tenant}")
        self.execute(
            f"delete from {target.qualified_name} using {latest} as source "
            f"where {' and '.join(matched)}"
        )
        self.insert_from(target.qualified_name, latest, columns)
        self.execute(f"drop table {latest}")

    def lock(self, target: LoadTarget) -> None:
        # An explicit lock until commit; a first load's table does not exist yet, and a second
        # first load at once fails on creating it, leaving nothing behind.
        if self.table_exists(target.schema, target.table):
            self.execute(f"lock {target.qualified_name}")

    def widen_column(self, target: LoadTarget, field: pa.Field) -> None:
        # ALTER COLUMN TYPE cannot run in a transaction (and only lengthens VARCHARs): the
        # column is rebuilt, which moves it to the end; every load names its columns.
        column = quote_ident(field.name)
        widened = quote_ident(f"{field.name}__widened")
        table = target.qualified_name
        self.execute(f"alter table {table} add column {widened} {self.sql_type(field.type)}")
        self.execute(f"update {table} set {widened} = {column}")
        self.execute(f"alter table {table} drop column {column}")
        self.execute(f"alter table {table} rename column {widened} to {column}")

    @contextmanager
    def read(self, sql: str, *, batch_rows: int = 100_000) -> Iterator[pa.RecordBatchReader]:
        with closing(self.con.cursor()) as cursor:
            cursor.execute(sql)
            yield reader_from_cursor(cursor, batch_rows)
