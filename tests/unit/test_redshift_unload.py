"""Exports from Redshift through UNLOAD (issue 19): the statement (quoting, role, manifest,
partition filter, parameters as literals, no injection through them), the unload manifest read
as the export type mapping says, and a run that copies the unloaded files into the export store
and publishes them with the store's own protocol. Redshift is played by tests/redshift_unload.py
on an in-memory file system; tests/integration/exports/test_redshift_unload.py does it on the
S3 server and the GCS emulator."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import fsspec
import fsspec.asyn
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from tests.redshift_unload import parse_unload, read_literal, write_unload
from tributary.config.models import ExportConfig, Tenant
from tributary.exports import ExportError, ExportStore, run_export
from tributary.exports import store as store_module
from tributary.exports.query import partition_sql
from tributary.exports.unload import UNLOAD_PREFIX
from tributary.landing import LandingStore
from tributary.warehouse.redshift.unload import read_unload_manifest, unload_sql
from tributary.warehouse.redshift.warehouse import RedshiftWarehouse
from tributary.warehouse.registry import WAREHOUSE_SETTINGS
from tributary.warehouse.unload import UnloadFormat

ROLE = "arn:aws:iam::123456789012:role/tributary-unload"
COPY_ROLE = "arn:aws:iam::123456789012:role/tributary-copy"
PREFIX = "s3://landing-bucket/landing/_unload/orders/dt=2024-05-01/0123abcd/"
DAY = date(2024, 5, 1)
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("amount", pa.decimal128(12, 2)),
        ("happened_at", pa.timestamp("us", tz="UTC")),
        ("label", pa.string()),
        ("doc", pa.string()),
        ("blob", pa.binary()),
    ]
)
ELEMENTS = [
    {"name": "id", "type": {"base": "bigint"}},
    {"name": "amount", "type": {"base": "numeric", "precision": 12, "scale": 2}},
    {"name": "happened_at", "type": {"base": "timestamp with time zone"}},
    {"name": "label", "type": {"base": "character varying", "max_length": 256}},
    {"name": "doc", "type": {"base": "super"}},
    {"name": "blob", "type": {"base": "varbyte"}},
]


def rows(count: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "id": i,
                "amount": Decimal(f"{i}.25"),
                "happened_at": datetime(2024, 5, 1, 10, i % 60, tzinfo=UTC),
                "label": f"row {i} 'q' \\ Zoë",
                "doc": json.dumps({"i": i}),
                "blob": bytes([i % 256]),
            }
            for i in range(count)
        ],
        schema=SCHEMA,
    )


def test_the_unload_statement_quotes_the_query_and_names_role_manifest_and_size() -> None:
    query = "select * from \"marts\".\"m\" where label = 'O''Brien' and path like 'a\\%'"
    statement = unload_sql(
        query, to=PREFIX, iam_role=ROLE, file_format=UnloadFormat("parquet"), max_file_mb=256
    )
    assert statement == (
        "unload ('select * from \"marts\".\"m\" where label = ''O''''Brien'' "
        "and path like ''a\\\\%''') "
        f"to '{PREFIX}' iam_role '{ROLE}' format as parquet manifest verbose parallel on "
        "maxfilesize 256 mb"
    )
    # Redshift reads the literal back into exactly the query (quotes and backslashes).
    assert parse_unload(statement)["query"] == query


def test_a_csv_unload_says_header_delimiter_gzip_and_region() -> None:
    statement = unload_sql(
        "select 1",
        to=PREFIX,
        iam_role=ROLE,
        file_format=UnloadFormat("csv", gzip=True, header=True, delimiter="|"),
        max_file_mb=64,
        region="eu-west-1",
    )
    assert parse_unload(statement)["options"] == (
        "format as csv delimiter as '|' header gzip manifest verbose parallel on "
        "maxfilesize 64 mb region 'eu-west-1'"
    )


def redshift_export(**config) -> ExportConfig:
    return ExportConfig.model_validate(
        {"name": "orders", "query": "select 1", "depends_on": ["orders"]} | config
    )


def test_the_partition_filter_and_parameters_are_literals_redshift_reads_back() -> None:
    export = redshift_export(
        partitioning={"by": "date", "column": "happened_at", "start_date": "2024-01-01"},
        parameters={"status": "paid", "minimum": Decimal("10.50"), "since": date(2024, 1, 1)},
    )
    sql = (
        'select * from "marts"."fct_sales" where status = {{ status }} '
        "and amount >= {{ minimum }} and order_date >= {{ since }}"
    )
    warehouse = RedshiftWarehouse(lambda: None, iam_role=COPY_ROLE)
    query = partition_sql(export, sql, DAY, quote=warehouse.quote_string)
    statement = unload_sql(
        query, to=PREFIX, iam_role=ROLE, file_format=UnloadFormat(), max_file_mb=256
    )
    assert parse_unload(statement)["query"] == (
        'select * from (select * from "marts"."fct_sales" where status = \'paid\' '
        "and amount >= 10.50 and order_date >= date '2024-01-01') as export_rows "
        "where \"happened_at\" >= timestamp '2024-05-01 00:00:00' "
        "and \"happened_at\" < timestamp '2024-05-02 00:00:00'"
    )


@pytest.mark.parametrize(
    "value",
    [
        "x'); drop table t; --",
        "\\",  # a lone backslash would escape the closing quote on Redshift
        "\\'); drop table t; --",
        "a\\\\'' or 1=1 --",
        "') to 's3://elsewhere/' iam_role 'arn:aws:iam::999999999999:role/x' --",
    ],
)
def test_no_parameter_escapes_its_literal(value: str) -> None:
    export = redshift_export(parameters={"label": value})
    warehouse = RedshiftWarehouse(lambda: None, iam_role=COPY_ROLE)
    query = partition_sql(export, "select * from t where label = {{ label }} and id > 0",
                          DAY, quote=warehouse.quote_string)  # fmt: skip
    unload = parse_unload(
        unload_sql(query, to=PREFIX, iam_role=ROLE, file_format=UnloadFormat(), max_file_mb=256)
    )
    # The statement is still one UNLOAD into our prefix with our role...
    assert (unload["to"], unload["iam_role"]) == (PREFIX, ROLE)
    assert unload["options"] == "format as parquet manifest verbose parallel on maxfilesize 256 mb"
    # ...and the query compares with exactly the value, the rest of the query intact.
    inner = unload["query"]
    head = "select * from t where label = "
    assert inner.startswith(head)
    literal, end = read_literal(inner, len(head))
    assert literal == value
    assert inner[end:] == " and id > 0"


def test_the_manifest_columns_follow_the_export_type_mapping() -> None:
    fs = fsspec.filesystem("memory")
    prefix = f"memory://unload-{uuid.uuid4().hex}/"
    write_unload(fs, prefix, rows(5).to_batches(), SCHEMA, ELEMENTS, rows_per_file=2)
    unloaded = read_unload_manifest(fs, f"{prefix}manifest", UnloadFormat())

    assert [(f.url.rsplit("/", 1)[-1], f.rows) for f in unloaded.files] == [
        ("0000_part_00.parquet", 2),
        ("0001_part_00.parquet", 2),
        ("0000_part_01.parquet", 1),
    ]
    assert all(f.bytes == fs.size(f.url) for f in unloaded.files)
    assert unloaded.schema == SCHEMA
    assert [(c.warehouse_type, c.note) for c in unloaded.columns] == [
        ("bigint", None),
        ("numeric(12,2)", None),
        ("timestamp with time zone", None),
        ("character varying(256)", None),
        ("super", "SUPER: JSON text, written by UNLOAD with Parquet's JSON logical type"),
        ("varbyte", None),
    ]
    assert unloaded.compression == "snappy"

    csv = read_unload_manifest(fs, f"{prefix}manifest", UnloadFormat("csv", gzip=True))
    notes = {c.name: c.note for c in csv.columns}
    assert "2024-05-01 10:00:00.123456+00" in notes["happened_at"]
    assert "hexadecimal" in notes["blob"]
    assert notes["id"] is None and csv.compression == "gzip"
    assert "LF line ends" in csv.notes[0]


class FakeRedshift:
    """A DB-API connection that records statements and answers an UNLOAD by writing `table`
    where it says, as Redshift would."""

    def __init__(self, fs, table: pa.Table, rows_per_file: int = 2) -> None:
        self.fs = fs
        self.table = table
        self.rows_per_file = rows_per_file
        self.statements: list[str] = []
        self.autocommit = False
        self.description, self._rows = None, []  # what a statement answers: nothing

    def cursor(self):
        return self

    def execute(self, sql: str, params=None) -> None:
        self.statements.append(sql)
        self.description, self._rows = None, []
        if sql.startswith("unload"):
            to = parse_unload(sql)["to"]
            write_unload(self.fs, to, self.table.to_batches(max_chunksize=3), self.table.schema,
                         ELEMENTS, rows_per_file=self.rows_per_file)  # fmt: skip
        elif sql.startswith("select * from ("):  # an export read through the client
            ordered = self.table.sort_by("label")
            self.description = [(name,) for name in ordered.column_names]
            self._rows = [tuple(row.values()) for row in ordered.to_pylist()]

    def fetchmany(self, size: int):
        taken, self._rows = self._rows[:size], self._rows[size:]
        return taken

    def fetchall(self):
        return self.fetchmany(len(self._rows))

    def close(self) -> None:
        pass


@pytest.fixture
def unload_setup(tmp_path):
    fs = fsspec.filesystem("memory")
    landing = LandingStore(f"memory://landing-{uuid.uuid4().hex}/landing", fs=fs)
    store = ExportStore(str(tmp_path / "exports"))
    return fs, landing, store


def export_via_unload(connection, landing, store, **config):
    warehouse = RedshiftWarehouse(lambda: connection, iam_role=COPY_ROLE, unload_iam_role=ROLE)
    return run_export(
        redshift_export(**config),
        sql='select * from "marts"."orders"',
        day=DAY,
        warehouse=warehouse,
        store=store,
        asset="export/orders",
        batch_rows=1000,
        landing=landing,
    )


def test_a_run_unloads_copies_and_publishes_with_the_store_protocol(unload_setup) -> None:
    fs, landing, store = unload_setup
    table = rows(5)
    connection = FakeRedshift(fs, table)
    outcome = export_via_unload(connection, landing, store)

    [unload] = [s for s in connection.statements if s.startswith("unload")]
    parsed = parse_unload(unload)
    assert parsed["query"] == 'select * from "marts"."orders"'
    assert parsed["iam_role"] == ROLE
    assert parsed["to"].startswith(
        f"{landing.uri(landing.root)}/{UNLOAD_PREFIX}/orders/dt=2024-05-01/"
    )
    folder = store.partition_dir("orders", "dt=2024-05-01")
    assert sorted(p.rsplit("/", 1)[-1] for p in store.fs.ls(folder)) == [
        "_SUCCESS", "manifest.json", "part-00000.parquet", "part-00001.parquet",
        "part-00002.parquet",
    ]  # fmt: skip
    manifest = store.read_manifest("orders", "dt=2024-05-01")
    assert manifest == outcome.publications[0].manifest
    assert (manifest.row_count, [f.rows for f in manifest.files]) == (5, [2, 1, 2])
    for exported in manifest.files:
        data = store.fs.cat_file(f"{folder}/{exported.path}")
        assert (len(data), hashlib.sha256(data).hexdigest()) == (exported.bytes, exported.sha256)
    published = pa.concat_tables(
        pq.read_table(f"{folder}/{f.path}") for f in manifest.files
    ).sort_by("id")
    assert published.equals(table)
    assert manifest.compression == "snappy" and manifest.written_by == "redshift unload"
    assert manifest.notes == ["compression: snappy as the warehouse writes it (configured: zstd)"]
    assert [(c.name, c.type, c.warehouse_type) for c in manifest.columns][:3] == [
        ("id", "int64", "bigint"),
        ("amount", "decimal128(12, 2)", "numeric(12,2)"),
        ("happened_at", "timestamp[us, tz=UTC]", "timestamp with time zone"),
    ]
    # the scratch prefix is gone, and so is the store's attempt
    assert not fs.exists(f"{landing.root}/{UNLOAD_PREFIX}/orders/dt=2024-05-01/")
    assert not store.fs.exists(f"{store.root}/_tmp/orders/dt=2024-05-01")
    assert outcome.sql == 'select * from "marts"."orders"'


def test_a_run_clears_attempts_killed_runs_left(unload_setup) -> None:
    fs, landing, store = unload_setup
    dead = f"{landing.root}/{UNLOAD_PREFIX}/orders/dt=2024-05-01/deadbeef"
    fs.pipe_file(f"{dead}/0000_part_00.parquet", b"half a file")
    other_day = f"{landing.root}/{UNLOAD_PREFIX}/orders/dt=2024-05-02/running"
    fs.pipe_file(f"{other_day}/0000_part_00.parquet", b"another day's run")

    # a day never exported again, whose run was killed two days ago
    forgotten = f"{landing.root}/{UNLOAD_PREFIX}/orders/dt=2023-01-01/0ld"
    fs.pipe_file(f"{forgotten}/manifest", b"{}")
    fs.store[f"{forgotten}/manifest"].created = datetime.now(UTC) - timedelta(days=2)

    export_via_unload(FakeRedshift(fs, rows(3)), landing, store)

    assert not fs.exists(dead)
    assert not fs.exists(forgotten)
    assert fs.exists(other_day)  # a backfill of another day may be running beside
    assert store.read_manifest("orders", "dt=2024-05-01").row_count == 3


def test_an_empty_result_publishes_one_file_with_the_schema(unload_setup) -> None:
    fs, landing, store = unload_setup
    export_via_unload(FakeRedshift(fs, rows(0)), landing, store)
    manifest = store.read_manifest("orders", "dt=2024-05-01")
    assert manifest.row_count == 0 and len(manifest.files) == 1
    folder = store.partition_dir("orders", "dt=2024-05-01")
    assert pq.read_schema(f"{folder}/part-00000.parquet").names == SCHEMA.names


def test_a_file_shorter_than_its_manifest_says_publishes_nothing(unload_setup) -> None:
    fs, landing, store = unload_setup
    export_via_unload(FakeRedshift(fs, rows(3)), landing, store)
    before = store.read_manifest("orders", "dt=2024-05-01")

    class Truncating(FakeRedshift):
        def execute(self, sql, params=None):
            super().execute(sql, params)
            if sql.startswith("unload"):
                url = f"{parse_unload(sql)['to']}0001_part_00.parquet"
                self.fs.pipe_file(url, self.fs.cat_file(url)[:-10])

    with pytest.raises(ExportError, match="bytes, its writer stated"):
        export_via_unload(Truncating(fs, rows(5)), landing, store)
    assert store.read_manifest("orders", "dt=2024-05-01") == before
    assert not fs.exists(f"{landing.root}/{UNLOAD_PREFIX}/orders/dt=2024-05-01/")
    assert not store.fs.exists(f"{store.root}/_tmp/orders/dt=2024-05-01")


def test_column_partitions_are_read_through_the_client(unload_setup) -> None:
    fs, landing, store = unload_setup
    connection = FakeRedshift(fs, rows(3))
    outcome = export_via_unload(
        connection, landing, store, partitioning={"by": "column", "column": "id"}
    )
    assert not any(s.startswith("unload") for s in connection.statements)
    assert connection.statements[-1] == (
        'select * from (select * from "marts"."orders") as export_rows order by "id" nulls last'
    )
    assert [p.manifest.partition for p in outcome.publications] == ["id=0", "id=1", "id=2"]


def test_the_unload_role_defaults_to_the_copy_role_and_file_size_is_bounded() -> None:
    settings = {"target": "redshift", "connection": {"url": "redshift://u@h/db"},
                "iam_role": COPY_ROLE}  # fmt: skip
    backend = WAREHOUSE_SETTINGS.validate_python(settings)
    warehouse = backend.open()
    assert (warehouse.unload_iam_role, warehouse.unload_max_file_mb) == (COPY_ROLE, 256)
    custom = WAREHOUSE_SETTINGS.validate_python(
        settings | {"unload_iam_role": ROLE, "unload_max_file_mb": 64}
    ).open()
    assert (custom.unload_iam_role, custom.unload_max_file_mb) == (ROLE, 64)
    for wrong in ({"unload_max_file_mb": 4}, {"unload_max_file_mb": 6201},
                  {"unload_iam_role": "my-role"}):  # fmt: skip
        with pytest.raises(ValidationError):
            WAREHOUSE_SETTINGS.validate_python(settings | wrong)


class FakeCsvRedshift(FakeRedshift):
    """Answers a CSV UNLOAD with gzip'd CSV parts, as Redshift writes them (LF line ends,
    quotes only where needed, its own timestamp text)."""

    PARTS = (
        b"id,happened_at\n1,2024-05-01 10:00:00.123456+00\n",
        b'id,happened_at\n2,\n3,"1999-12-31 23:59:59+00"\n',
    )

    def execute(self, sql: str, params=None) -> None:
        self.statements.append(sql)
        if sql.startswith("unload"):
            to = parse_unload(sql)["to"]
            entries = []
            for number, text in enumerate(self.PARTS):
                url = f"{to}{number:04d}_part_00.gz"
                self.fs.pipe_file(url, gzip.compress(text))
                rows = text.count(b"\n") - 1
                entries.append({"url": url, "meta": {"content_length": self.fs.size(url),
                                                     "record_count": rows}})  # fmt: skip
            elements = [ELEMENTS[0], ELEMENTS[2]]
            manifest = {"entries": entries, "schema": {"elements": elements}}
            self.fs.pipe_file(f"{to}manifest", json.dumps(manifest).encode())


def test_a_csv_export_unloads_gzip_csv_and_says_how_it_differs(unload_setup) -> None:
    fs, landing, store = unload_setup
    connection = FakeCsvRedshift(fs, rows(0))
    export_via_unload(connection, landing, store, format="csv", compression="gzip")

    [unload] = [s for s in connection.statements if s.startswith("unload")]
    assert parse_unload(unload)["options"].startswith("format as csv header gzip manifest verbose")
    manifest = store.read_manifest("orders", "dt=2024-05-01")
    assert (manifest.format, manifest.compression) == ("csv", "gzip")
    assert [(f.path, f.rows) for f in manifest.files] == [
        ("part-00000.csv.gz", 1),
        ("part-00001.csv.gz", 2),
    ]
    folder = store.partition_dir("orders", "dt=2024-05-01")
    published = [gzip.decompress(store.fs.cat_file(f"{folder}/{f.path}")) for f in manifest.files]
    assert published == list(FakeCsvRedshift.PARTS)  # the bytes as Redshift wrote them
    assert "LF line ends" in manifest.notes[0]
    happened_at = manifest.columns[1]
    assert (happened_at.type, happened_at.warehouse_type) == (
        "timestamp[us, tz=UTC]",
        "timestamp with time zone",
    )
    assert "2024-05-01 10:00:00.123456+00" in happened_at.note


def test_a_per_tenant_export_unloads_the_tenant_rows_into_its_folder(unload_setup) -> None:
    fs, landing, store = unload_setup
    connection = FakeRedshift(fs, rows(3))
    warehouse = RedshiftWarehouse(lambda: connection, iam_role=COPY_ROLE)
    outcome = run_export(
        redshift_export(per_tenant=True, tenant_column="tenant_id"),
        sql='select * from "marts"."orders"',
        day=DAY,
        warehouse=warehouse,
        store=store,
        asset="export/orders",
        batch_rows=1000,
        landing=landing,
        tenant=Tenant(id=42, alias="acme"),
    )
    [unload] = [parse_unload(s) for s in connection.statements if s.startswith("unload")]
    assert unload["query"] == (
        'select * from (select * from "marts"."orders") as tenant_rows where ("tenant_id" = '
        "'42' or lower(rtrim(cast(\"tenant_id\" as varchar))) = '42')"
    )
    assert f"/{UNLOAD_PREFIX}/orders/tenant=acme/dt=2024-05-01/" in unload["to"]
    assert outcome.publications[0].uri.endswith("/orders/tenant=acme/dt=2024-05-01")
    assert store.read_manifest("orders/tenant=acme", "dt=2024-05-01").row_count == 3


class _Stream:
    """An async streamed reader (as s3fs's `open_async` gives) that answers at most `arrived`
    bytes per read (what has come in so far) and, if `breaks_after` is set, fails once that
    many bytes have been read."""

    def __init__(self, data: bytes, breaks_after: int | None, arrived: int) -> None:
        self.data, self.breaks_after, self.arrived, self.at = data, breaks_after, arrived, 0

    async def read(self, length: int = -1) -> bytes:
        if self.breaks_after is not None and self.at >= self.breaks_after:
            raise ConnectionResetError("the stream broke")
        piece = self.data[self.at : self.at + min(length, self.arrived)]
        self.at += len(piece)
        return piece


class _StreamingStore(fsspec.asyn.AsyncFileSystem):
    """An object store with a streamed reader beside its ranged reads (an in-memory one)."""

    def __init__(self, data: bytes, *, breaks_after: int | None = None, arrived: int = 7) -> None:
        super().__init__(skip_instance_cache=True)
        self.data, self.breaks_after, self.arrived = data, breaks_after, arrived
        self.memory = fsspec.filesystem("memory", skip_instance_cache=True)
        self.memory.pipe_file("/object", data)
        self.ranged_from: list[int] = []

    async def open_async(self, path, mode="rb", **kwargs):
        return _Stream(self.data, self.breaks_after, self.arrived)

    def _open(self, path, mode="rb", **kwargs):
        handle = self.memory.open("/object", mode)
        seek = handle.seek

        def seek_and_note(offset, whence=0):
            self.ranged_from.append(offset)
            return seek(offset, whence)

        handle.seek = seek_and_note
        return handle


# (the stream breaks at the first read at or past this many bytes, the reads of 7 bytes done
# by then): a break after 40 bytes resumes at 42, one after 56 at 56.
@pytest.mark.parametrize(
    ("breaks_after", "resumed_at"), [(None, None), (0, 0), (40, 42), (55, 56), (56, 56)]
)
def test_a_streamed_copy_is_whole_and_resumes_a_broken_stream_by_ranges(
    breaks_after, resumed_at
) -> None:
    data = bytes(range(256)) * 4
    source = _StreamingStore(data, breaks_after=breaks_after)
    target = fsspec.filesystem("memory", skip_instance_cache=True)
    size, sha256 = store_module.copy_object(
        source, "object", target, f"/copy-{uuid.uuid4().hex}", chunk_bytes=20
    )
    assert (size, sha256) == (len(data), hashlib.sha256(data).hexdigest())
    # Every byte read before the break is kept; the rest is read by ranges from there.
    assert source.ranged_from == ([] if resumed_at is None else [resumed_at])
    # As the bytes arrive, never more than a chunk at a time.
    chunks = list(store_module.read_chunks(_StreamingStore(data, arrived=64), "object", 20))
    assert [len(c) for c in chunks] == [20] * (len(data) // 20) + [len(data) % 20]
    chunks = list(store_module.read_chunks(_StreamingStore(data, arrived=7), "object", 20))
    assert b"".join(chunks) == data and {len(c) for c in chunks} == {7, len(data) % 7}


def test_an_unload_with_one_column_name_twice_publishes_nothing(unload_setup) -> None:
    # `select o.*, c.*` on Redshift, as the local writer refuses it (tests/unit/test_exports.py).
    fs, landing, store = unload_setup

    class Twice(FakeRedshift):
        def execute(self, sql: str, params=None) -> None:
            self.statements.append(sql)
            if sql.startswith("unload"):
                table = pa.table([pa.array([1]), pa.array([2])], names=["id", "id"])
                write_unload(self.fs, parse_unload(sql)["to"], table.to_batches(), table.schema,
                             [ELEMENTS[0], ELEMENTS[0]], rows_per_file=2)  # fmt: skip

    with pytest.raises(ExportError, match="the result has two columns named 'id' "):
        export_via_unload(Twice(fs, rows(0)), landing, store)
    assert store.partitions("orders", sealed_only=False) == []
    assert not fs.exists(f"{landing.root}/{UNLOAD_PREFIX}/orders/dt=2024-05-01/")


@pytest.mark.parametrize("length", [127, 128])
def test_an_alias_redshift_would_cut_is_refused_before_the_unload(unload_setup, length) -> None:
    # Redshift keeps 127 bytes of a name (PostgreSQL 63): a longer alias would be published cut.
    fs, landing, store = unload_setup
    alias = "x" * length
    connection = FakeRedshift(fs, rows(1))
    warehouse = RedshiftWarehouse(lambda: connection, iam_role=COPY_ROLE, unload_iam_role=ROLE)
    query = f'select id as "{alias}" from "marts"."orders"'

    def run():
        return run_export(redshift_export(query=query), sql=query, day=DAY, warehouse=warehouse,
                          store=store, asset="export/orders", batch_rows=1000, landing=landing,
                          export_file="exports/orders.yaml")  # fmt: skip

    if length == 127:
        assert run().row_count == 1
        return
    with pytest.raises(ExportError) as raised:
        run()
    assert str(raised.value) == (
        f"exports/orders.yaml: query: the query names '{alias}': the name is 128 bytes long and "
        "the redshift warehouse keeps 127 of a name (it would cut the rest without a word, and "
        "publish the cut name); alias it shorter in the query"
    )
    assert connection.statements == []


def test_a_partitioning_column_in_another_case_is_refused_before_the_unload(unload_setup) -> None:
    # As on DuckDB and PostgreSQL (tests/integration/exports/test_partitioning_column_case.py).
    fs, landing, store = unload_setup
    connection = FakeRedshift(fs, rows(1))
    warehouse = RedshiftWarehouse(lambda: connection, iam_role=COPY_ROLE, unload_iam_role=ROLE)
    partitioning = {"by": "date", "start_date": "2024-01-01", "column": "Happened_At"}
    with pytest.raises(ExportError) as raised:
        run_export(redshift_export(partitioning=partitioning), sql='select * from "marts"."o"',
                   day=DAY, warehouse=warehouse, store=store, asset="export/orders",
                   batch_rows=1000, landing=landing, export_file="exports/orders.yaml")  # fmt: skip
    assert str(raised.value) == (
        "exports/orders.yaml: partitioning.column: column 'Happened_At' not found in the query's "
        "result (id, amount, happened_at, label, doc, blob); expected it spelled as the result "
        "spells it"
    )
    assert not [s for s in connection.statements if s.startswith("unload")]
