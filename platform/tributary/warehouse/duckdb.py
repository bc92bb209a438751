"""The embedded default warehouse: one DuckDB file, one writer process at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tributary.storage import writable_problems
from tributary.warehouse.base import SqlWarehouse, quote_ident


class DuckDBWarehouse(SqlWarehouse):
    kind = "duckdb"

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
            self._con = duckdb.connect(str(self.path), config=self.settings)
            self.ensure_state()
        return self._con

    def check_access(self, schemas: Sequence[str]) -> list[str]:
        # Without opening the file: a connection would create it and its state tables, and a
        # DuckDB file takes one writer process at a time. Any schema can be created in it.
        return writable_problems(self.path)

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

    def create_staging(
        self, name: str, schema: pa.Schema, batches: pa.RecordBatchReader, landing_path: str
    ) -> None:
        self.con.register("landed", batches)
        try:
            self.con.execute(f"create table {name} as select * from landed")
        finally:
            self.con.unregister("landed")

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
        # DuckDB names the type an Arrow column becomes; ask it rather than keep a table.
        empty = pa.table({"c": pa.array([], arrow_type)})
        return str(self.con.from_arrow(empty).types[0])

    @contextmanager
    def read(self, sql: str, *, batch_rows: int = 100_000) -> Iterator[pa.RecordBatchReader]:
        reader = self.con.sql(sql).to_arrow_reader(batch_rows)
        try:
            yield reader
        finally:
            # A reader left open keeps the database instance alive, and the next connect
            # to the file from this process would wait for it.
            reader.close()
