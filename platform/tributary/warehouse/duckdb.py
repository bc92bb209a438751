"""The embedded default warehouse: one DuckDB file, one writer process at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tributary.landing import Manifest, decode_cursor, encode_cursor
from tributary.warehouse.base import (
    STATE_SCHEMA,
    LoadOutcome,
    LoadTarget,
    Warehouse,
    quote_ident,
)

STATE_DDL = f"""
create schema if not exists {STATE_SCHEMA};
create table if not exists {STATE_SCHEMA}.loads (
    load_id varchar primary key,
    source varchar not null,
    table_name varchar not null,
    mode varchar not null,
    rows_loaded bigint not null,
    rows_in_table bigint not null,
    landing_path varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz not null
);
create table if not exists {STATE_SCHEMA}.watermarks (
    source varchar not null,
    table_name varchar not null,
    cursor_column varchar not null,
    value_type varchar not null,
    value varchar not null,
    load_id varchar not null,
    updated_at timestamptz not null,
    primary key (source, table_name)
);
"""


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path))
            self._con.execute(STATE_DDL)
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def watermark(self, source: str, table: str) -> Any | None:
        row = self.con.execute(
            f"select value_type, value from {STATE_SCHEMA}.watermarks "
            "where source = ? and table_name = ?",
            [source, table],
        ).fetchone()
        return decode_cursor(row[0], row[1]) if row else None

    def load(
        self,
        target: LoadTarget,
        manifest: Manifest,
        batches: pa.RecordBatchReader,
        *,
        landing_path: str,
        started_at: datetime,
    ) -> LoadOutcome:
        con = self.con
        con.begin()
        try:
            con.register("landed", batches)
            con.execute(f"create schema if not exists {quote_ident(target.schema)}")
            if target.mode == "full":
                self._swap_in(target)
            else:
                self._merge(target)
            con.unregister("landed")
            watermark = self._advance_watermark(target, manifest)
            rows_in_table = con.execute(f"select count(*) from {target.qualified_name}").fetchone()[
                0
            ]
            con.execute(
                f"insert into {STATE_SCHEMA}.loads values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    manifest.load_id,
                    target.source,
                    target.table,
                    target.mode,
                    manifest.row_count,
                    rows_in_table,
                    landing_path,
                    started_at,
                    datetime.now(UTC),
                ],
            )
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [target.schema, target.table],
            ).fetchall()
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return LoadOutcome(
            table_name=f"{target.schema}.{target.table}",
            rows_loaded=manifest.row_count,
            rows_in_table=rows_in_table,
            columns=[(name, kind) for name, kind in columns],
            watermark=watermark,
        )

    def _swap_in(self, target: LoadTarget) -> None:
        staged = f"{quote_ident(target.schema)}.{quote_ident(target.table + '__tributary_new')}"
        self.con.execute(f"create or replace table {staged} as select * from landed")
        self.con.execute(f"drop table if exists {target.qualified_name}")
        self.con.execute(f"alter table {staged} rename to {quote_ident(target.table)}")

    def _merge(self, target: LoadTarget) -> None:
        keys = ", ".join(quote_ident(k) for k in target.primary_key)
        # The lookback re-reads rows: keep the latest version of each key from this load.
        self.con.execute(
            "create or replace temp table stage as select * from landed "
            f"qualify row_number() over (partition by {keys} "
            f"order by {quote_ident(target.cursor)} desc) = 1"
        )
        exists = self.con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [target.schema, target.table],
        ).fetchone()[0]
        if not exists:
            self.con.execute(f"create table {target.qualified_name} as select * from stage")
        else:
            self.con.execute(
                f"delete from {target.qualified_name} where ({keys}) in (select {keys} from stage)"
            )
            self.con.execute(f"insert into {target.qualified_name} by name select * from stage")
        self.con.execute("drop table stage")

    def _advance_watermark(self, target: LoadTarget, manifest: Manifest) -> Any | None:
        previous = self.watermark(target.source, target.table)
        if manifest.cursor is None:
            return previous
        reached = manifest.cursor.max_value
        if previous is not None and previous >= reached:
            return previous
        kind, text = encode_cursor(reached)
        self.con.execute(
            f"insert or replace into {STATE_SCHEMA}.watermarks values (?, ?, ?, ?, ?, ?, ?)",
            [
                target.source,
                target.table,
                manifest.cursor.column,
                kind,
                text,
                manifest.load_id,
                datetime.now(UTC),
            ],
        )
        return reached

    @contextmanager
    def read(self, sql: str, *, batch_rows: int = 100_000) -> Iterator[pa.RecordBatchReader]:
        reader = self.con.sql(sql).to_arrow_reader(batch_rows)
        try:
            yield reader
        finally:
            # A reader left open keeps the database instance alive, and the next connect
            # to the file from this process would wait for it.
            reader.close()
