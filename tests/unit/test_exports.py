"""Export configuration errors, the SQL a run reads, and the store's rules on a local folder."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tributary.config.loader import ConfigError, load_project
from tributary.config.models import ExportConfig, _check_frequency
from tributary.exports import ExportError, ExportStore, FileFormat
from tributary.exports.query import export_sql, partition_sql, raw_tables_read, sql_literal


def write_export(config_dir: Path, **fields) -> None:
    export = {"name": "bad", "model": "dim_customer"} | fields
    (config_dir / "exports" / f"{export['name']}.yaml").write_text(yaml.safe_dump(export))


def load_error(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_project(config_dir)
    return str(raised.value)


BAD_EXPORTS = [
    ({"format": "csv", "compression": "zstd"},
     "'compression' for csv: expected one of none, gzip (got 'zstd')"),
    ({"csv": {"header": False}}, "'csv' options apply to format: csv only"),
    ({"format": "csv", "csv": {"delimiter": '"'}},
     "csv.delimiter: expected a delimiter other than a quote"),
    ({"model": None, "query": "select 1 where x = {{ day }}", "depends_on": ["fct_sales"]},
     "query: unknown parameter day; expected one of partition_date, partition_start, "
     "partition_end or a key of 'parameters'"),
    # dbt's Jinja that Tributary does not render: said at load, not by the warehouse's parser
    ({"model": None, "query": "select * from {{ ref('fct_sales') }} where d > {{ var('since') }}"},
     "query: {{ var('since') }} is not rendered: expected {{ ref('model') }}, "
     "{{ source('source', 'table') }} or a parameter {{ name }}"),
    ({"model": None, "query": "select * from {{ source('erp') }}"},
     "query: {{ source('erp') }} is not rendered"),
    ({"parameters": {"partition_date": "2024-01-01"}},
     "parameters: partition_date is set by each run"),
    ({"parameters": {"regions": ["EU"]}}, "parameters.regions: expected a single value"),
    ({"partitioning": {"by": "date", "start_date": "2024-01-01"}},
     "partitioning by date needs the day's rows"),
    ({"partitioning": {"by": "column"}}, "partitioning: partitioning by column needs 'column'"),
    ({"partitioning": {"by": "date"}}, "partitioning: partitioning by date needs 'start_date'"),
    ({"partitioning": {"by": "month"}},
     "partitioning.by: Input should be 'run_date', 'date' or 'column' (got 'month')"),
    ({"retention": 0}, "retention: Input should be greater than 0"),
    ({"partitioning": {"by": "column", "column": "status"}, "retention": 7},
     "retention: keeps the newest dated partitions; a by: column export replaces its value "
     "folders each run"),
    ({"name": "_tmp"}, "name: names starting with '_' are reserved"),
    ({"frequency": "0 25 * * *"},
     "frequency: expected one of hourly, daily, weekly or a 5-field cron string"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"), BAD_EXPORTS, ids=[str(f)[:40] for f, _ in BAD_EXPORTS]
)
def test_bad_export_configuration_is_named(config_dir: Path, fields: dict, expected: str) -> None:
    write_export(config_dir, **fields)
    message = load_error(config_dir)
    name = fields.get("name", "bad")
    assert message.startswith(f"{config_dir / 'exports' / name}.yaml: "), message
    assert expected in message


def test_a_date_and_time_parameter_is_refused_in_one_line(config_dir: Path) -> None:
    # YAML reads 2024-05-01 10:30:00 as a datetime: five pydantic errors, one per type a
    # parameter may be, none saying what to write.
    (config_dir / "exports" / "bad.yaml").write_text(
        "name: bad\ndepends_on: [dim_customer]\nquery: select {{ since }} as v\n"
        "parameters:\n  since: 2024-05-01 10:30:00\n"
    )
    assert load_error(config_dir) == (
        f"{config_dir / 'exports' / 'bad.yaml'}: parameters.since: 2024-05-01 10:30:00 is a "
        "date and time; expected text, a number, true/false or a date (YYYY-MM-DD): quote it "
        "('2024-05-01 10:30:00') to pass it as text, or use {{ partition_start }}"
    )


def test_export_store_url_must_be_a_folder_or_gcs(config_dir: Path) -> None:
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["exports"] = {"url": "s3://bucket/exports"}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    assert "platform.yaml: exports.url: expected a folder, file:// or gs://" in (
        load_error(config_dir)
    )


# Numbers, dates, times and booleans are written unquoted: a delimiter that can occur in one
# (2024-05-01, 10:00:00, -12.30, 1.5e+300, true, nan) made files that cannot be parsed back.
@pytest.mark.parametrize("delimiter", ["-", ":", ".", "+", "e", "T", "1", " ", "é"])
def test_a_csv_delimiter_that_unquoted_values_hold_is_refused(config_dir, delimiter) -> None:
    write_export(config_dir, format="csv", csv={"delimiter": delimiter})
    assert (
        "csv.delimiter: expected a delimiter other than a quote, a line break, a letter, a "
        "digit, a space or one of - + . : (numbers, dates, times and booleans are written "
        f"unquoted); e.g. , ; | or a tab (got {delimiter!r})"
    ) in load_error(config_dir)


# The CSV writer (Arrow's, Redshift's UNLOAD) takes one ASCII character other than NUL: '§'
# passed `tributary check`, and every run failed with "Expecting an ASCII character".
@pytest.mark.parametrize("delimiter", ["§", "¦", "\x00", "\x80"])
def test_a_csv_delimiter_outside_ascii_is_refused(config_dir: Path, delimiter: str) -> None:
    write_export(config_dir, format="csv", csv={"delimiter": delimiter})
    assert load_error(config_dir) == (
        f"{config_dir / 'exports' / 'bad.yaml'}: csv.delimiter: expected one ASCII character "
        f"other than NUL (the CSV writer takes no other), e.g. , ; | or a tab (got {delimiter!r})"
    )


@pytest.mark.parametrize("delimiter", [",", ";", "|", "\t", "^", "\x1f"])
def test_a_csv_delimiter_no_unquoted_value_holds_loads(delimiter: str) -> None:
    export = ExportConfig.model_validate(
        {"name": "e", "model": "m", "format": "csv", "csv": {"delimiter": delimiter}}
    )
    assert export.csv_options.delimiter == delimiter


@pytest.mark.parametrize(
    ("value", "valid"),
    [("hourly", True), ("0 6 * * MON-FRI", True), ("*/15 * * * *", True), ("0 0 1 jan,jul *", True),
     ("61 * * * *", False), ("0 6 * * FUNDAY", False), ("* * *", False), ("*/0 * * * *", False),
     ("5-2 * * * *", False), ("0 0 0 * *", False)],
)  # fmt: skip
def test_frequency_is_a_known_word_or_a_valid_cron(value: str, valid: bool) -> None:
    if valid:
        assert _check_frequency(value) == value
    else:
        with pytest.raises(ValueError):
            _check_frequency(value)


def test_literals_are_typed_and_quoted() -> None:
    assert sql_literal("O'Brien") == "'O''Brien'"
    assert sql_literal(True) == "true"
    assert sql_literal(Decimal("10.50")) == "10.50"
    assert sql_literal(date(2024, 5, 1)) == "date '2024-05-01'"
    plus_two = timezone(timedelta(hours=2))
    assert sql_literal(datetime(2024, 5, 1, 2, 0, tzinfo=plus_two)) == (
        "timestamp '2024-05-01 00:00:00'"
    )


def test_a_decimal_parameter_written_plainly_selects_the_rows_it_names(config_dir) -> None:
    # YAML reads 1234567890123456.78 as the float 1234567890123456.8: the WHERE selected
    # other rows than the one written, without a word.
    (config_dir / "exports" / "big.yaml").write_text(
        "name: big\ndepends_on: [dim_customer]\n"
        "query: select id from accounts where balance >= {{ min_balance }} order by id\n"
        "parameters: {min_balance: 1234567890123456.78, thousand: 1.0e+3}\n"
    )
    [export] = [e for e in load_project(config_dir).exports if e.name == "big"]
    sql = partition_sql(export, export.query, date(2024, 5, 1))
    assert sql == "select id from accounts where balance >= 1234567890123456.78 order by id"
    # in fixed notation: DuckDB reads 1.0E+3 as a double, 1000 as a number
    assert sql_literal(export.parameters["thousand"]) == "1000"
    with duckdb.connect() as db:
        db.execute("create table accounts (id int, balance decimal(20, 2))")
        db.execute(
            "insert into accounts values (1, 1234567890123456.77), (2, 1234567890123456.78), "
            "(3, 1234567890123456.79)"
        )
        assert [row[0] for row in db.execute(sql).fetchall()] == [2, 3]


def test_partition_sql_narrows_to_the_day_or_orders_by_the_column() -> None:
    by_day = ExportConfig.model_validate(
        {"name": "e", "model": "m", "partitioning": {"by": "date", "start_date": "2024-01-01",
                                                     "column": "sold_at"}}
    )  # fmt: skip
    assert partition_sql(by_day, 'select * from "marts"."m"', date(2024, 2, 29)) == (
        'select * from (select * from "marts"."m") as export_rows where "sold_at" >= '
        "timestamp '2024-02-29 00:00:00' and \"sold_at\" < timestamp '2024-03-01 00:00:00'"
    )
    by_region = ExportConfig.model_validate(
        {"name": "e", "depends_on": ["m"], "parameters": {"kind": "it's"},
         "query": "select * from t where kind = {{ kind }} and d < {{ partition_date }};",
         "partitioning": {"by": "column", "column": "region"}}
    )  # fmt: skip
    sql = export_sql(model=None, query=by_region.query, relations={})
    assert partition_sql(by_region, sql, date(2024, 5, 1)) == (
        "select * from (select * from t where kind = 'it''s' and d < date '2024-05-01') "
        'as export_rows order by "region" nulls last'
    )


def test_a_source_renders_to_its_raw_table() -> None:
    """{{ source('erp', 'sales_orders') }}, as dbt users write it, is the raw table Tributary
    loads the source's table into, raw_erp.sales_orders (before, it reached the warehouse
    as it was, and DuckDB's parser failed every run, naming neither file nor key)."""
    query = (
        "select o.* from {{ source('erp', 'sales_orders') }} o "
        'join {{ ref("dim_customer") }} c using (customer_id) '
        'where o.order_id not in (select order_id from {{source("erp","sales_orders")}})'
    )
    relations = {"dim_customer": '"marts"."dim_customer"'}
    assert export_sql(model=None, query=query, relations=relations) == (
        'select o.* from "raw_erp"."sales_orders" o join "marts"."dim_customer" c using '
        '(customer_id) where o.order_id not in (select order_id from "raw_erp"."sales_orders")'
    )


RAW_TABLES = [("erp", "customers"), ("erp", "sales_orders"), ("app", "users")]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "redshift"])
def test_a_query_reads_the_raw_tables_it_names(dialect: str) -> None:
    """An export's query (its refs rendered) reads a raw table by its warehouse name
    (raw_<source>.<table>): quoted or not, in any case, qualified by a database, in a join, a
    CTE or a subquery. A CTE, a model, another schema's table, a string or a comment naming
    one reads nothing."""
    sql = """
        with recent as (select * from "raw_erp"."sales_orders" where d >= {{ partition_date }})
        select o.*, c.customer_name, u.email  -- raw_erp.customers in a comment
        from recent o
        join "marts"."dim_customer" c using (customer_id)
        left join (select * from warehouse.RAW_APP.Users) u on u.id = o.user_id
        left join raw_ops.products p on p.id = o.product_id   -- no such raw table
        left join lookups.sales_orders l on l.id = o.id
        where o.note <> 'raw_erp.customers'
    """
    assert raw_tables_read(sql, RAW_TABLES, dialect) == [("app", "users"), ("erp", "sales_orders")]
    assert raw_tables_read('select * from "marts"."dim_customer"', RAW_TABLES, dialect) == []


def test_a_query_the_parser_cannot_read_still_names_its_raw_tables() -> None:
    # Syntax sqlglot does not know (the warehouse may): the names are found in its tokens.
    sql = "select * from raw_erp.customers c join raw_app.users u on u.x @@@ ( c.y"
    assert raw_tables_read(sql, RAW_TABLES, "duckdb") == [("app", "users"), ("erp", "customers")]


def reader(*batches: dict, schema: pa.Schema) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(
        schema, [pa.RecordBatch.from_pydict(b, schema=schema) for b in batches]
    )


SCHEMA = pa.schema([("region", pa.string()), ("n", pa.int64())])


def test_an_empty_result_is_published_as_one_file_with_its_schema(tmp_path: Path) -> None:
    store = ExportStore(str(tmp_path))
    publication = store.publish(
        reader(schema=SCHEMA), export="e", partition="dt=2024-05-01", asset="export/e"
    )
    assert publication.manifest.row_count == 0
    [part] = publication.manifest.files
    table = pq.read_table(tmp_path / "e" / "dt=2024-05-01" / part.path)
    assert table.schema == SCHEMA and table.num_rows == 0
    assert (tmp_path / "e" / "dt=2024-05-01" / "_SUCCESS").is_file()


def test_files_hold_at_most_rows_per_file(tmp_path: Path) -> None:
    store = ExportStore(str(tmp_path))
    batches = reader({"region": ["a"] * 5, "n": list(range(5))}, {"region": ["b"] * 2, "n": [5, 6]},
                     schema=SCHEMA)  # fmt: skip
    publication = store.publish(
        batches,
        export="e",
        partition="dt=2024-05-01",
        asset="export/e",
        file_format=FileFormat(kind="csv"),
        rows_per_file=3,
    )
    assert [(f.path, f.rows) for f in publication.manifest.files] == [
        ("part-00000.csv", 3),
        ("part-00001.csv", 3),
        ("part-00002.csv", 1),
    ]
    last = (tmp_path / "e" / "dt=2024-05-01" / "part-00002.csv").read_bytes()
    assert last == b'"region","n"\r\n"b",6\r\n'


def test_column_partitions_must_arrive_grouped(tmp_path: Path) -> None:
    store = ExportStore(str(tmp_path))
    batches = reader({"region": ["a", "b", "a"], "n": [1, 2, 3]}, schema=SCHEMA)
    with pytest.raises(ExportError, match="rows of partition region=a arrived after other"):
        store.publish_by_column(batches, export="e", column="region", asset="export/e")
    assert store.partitions("e") == []  # nothing was published, nothing left staged
    assert list((tmp_path / "_tmp" / "e").iterdir()) == []
    with pytest.raises(ExportError, match="partitioning column 'zone' is not in the result"):
        store.publish_by_column(reader(schema=SCHEMA), export="e", column="zone", asset="export/e")


def test_column_values_become_safe_folder_names(tmp_path: Path) -> None:
    store = ExportStore(str(tmp_path))
    batches = reader({"region": ["a/b c", "a/b c", None], "n": [1, 2, 3]}, schema=SCHEMA)
    published = store.publish_by_column(batches, export="e", column="region", asset="export/e")
    assert [p.manifest.partition for p in published] == [
        "region=a%2Fb%20c",
        "region=__HIVE_DEFAULT_PARTITION__",
    ]
    assert published[0].manifest.published_at <= datetime.now(UTC)


@pytest.mark.parametrize(
    "values",
    [["EU", "__HIVE_DEFAULT_PARTITION__", None], ["__HIVE_DEFAULT_PARTITION__", None]],
    ids=["then NULL", "right before NULL"],
)
def test_a_value_spelled_like_the_null_folder_is_refused(tmp_path: Path, values) -> None:
    # Before, its rows went into the NULL rows' folder (or the run failed saying the result
    # was not ordered): a reader could not tell them apart.
    store = ExportStore(str(tmp_path))
    batches = reader({"region": values, "n": list(range(len(values)))}, schema=SCHEMA)
    with pytest.raises(ExportError) as raised:
        store.publish_by_column(batches, export="e", column="region", asset="export/e")
    assert str(raised.value).startswith(
        "e: column 'region' holds the value '__HIVE_DEFAULT_PARTITION__', the name of its "
        "NULL rows' folder"
    )
    assert store.partitions("e", sealed_only=False) == []
    assert list(tmp_path.rglob("*.parquet")) == []  # nothing left staged either


@pytest.mark.parametrize("column_type", [pa.binary(), pa.large_binary(), pa.binary(2)])
def test_a_binary_partitioning_column_is_refused_before_any_row(tmp_path, column_type) -> None:
    # Before: Arrow's "Invalid UTF8 payload", naming nothing, at the first value that was not
    # UTF-8 (after the folders of the values before it were written).
    schema = pa.schema([("k", column_type), ("n", pa.int64())])
    rows = {"k": [b"ab", b"\xff\x00"], "n": [1, 2]}
    store = ExportStore(str(tmp_path))
    with pytest.raises(ExportError) as raised:
        store.publish_by_column(reader(rows, schema=schema), export="e", column="k",
                                asset="export/e")  # fmt: skip
    assert str(raised.value).startswith(
        f"e: partitioning column 'k' is {column_type}, whose bytes make no folder name; "
        "partition by a text form of it"
    )
    assert store.partitions("e", sealed_only=False) == []


def test_a_failing_stream_publishes_nothing_and_leaves_nothing_staged(tmp_path: Path) -> None:
    store = ExportStore(str(tmp_path))
    first = reader({"region": ["a"], "n": [1]}, schema=SCHEMA)
    store.publish(first, export="e", partition="dt=2024-05-01", asset="export/e")
    before = (tmp_path / "e" / "dt=2024-05-01" / "part-00000.parquet").read_bytes()

    def failing():
        yield pa.RecordBatch.from_pydict({"region": ["b"], "n": [2]}, schema=SCHEMA)
        raise RuntimeError("the warehouse went away")

    with pytest.raises(RuntimeError, match="went away"):
        store.publish(
            pa.RecordBatchReader.from_batches(SCHEMA, failing()),
            export="e",
            partition="dt=2024-05-01",
            asset="export/e",
        )
    assert (tmp_path / "e" / "dt=2024-05-01" / "part-00000.parquet").read_bytes() == before
    assert store.read_manifest("e", "dt=2024-05-01").row_count == 1
    assert list((tmp_path / "_tmp" / "e").iterdir()) == []


def test_republishing_unseals_first_then_drops_the_manifest_then_the_rest(tmp_path: Path) -> None:
    """Readers of a partition being replaced see "not ready" (no _SUCCESS) before anything
    else changes, then no manifest, and never a mix of old and new parts."""
    from fsspec.implementations.local import LocalFileSystem

    removed: list[list[str]] = []

    class Recording(LocalFileSystem):
        def rm_file(self, path):
            removed.append([Path(path).name])
            return super().rm_file(path)

        def rm(self, path, recursive=False, maxdepth=None):
            paths = path if isinstance(path, list) else [path]
            removed.append(sorted(Path(p).name for p in paths))
            return super().rm(path, recursive=recursive, maxdepth=maxdepth)

    store = ExportStore(str(tmp_path), fs=Recording(skip_instance_cache=True))
    rows = {"region": list("abcde"), "n": [1, 2, 3, 4, 5]}
    store.publish(reader(rows, schema=SCHEMA), export="e", partition="dt=2024-05-01",
                  asset="export/e", rows_per_file=2)  # fmt: skip
    partition = tmp_path / "e" / "dt=2024-05-01"
    (partition / "stray.txt").write_text("left by someone")
    removed.clear()
    store.publish(reader({"region": ["z"], "n": [9]}, schema=SCHEMA), export="e",
                  partition="dt=2024-05-01", asset="export/e")  # fmt: skip
    unsealing = removed[: removed.index(["_SUCCESS"]) + 3]
    assert unsealing[-3:] == [
        ["_SUCCESS"],
        ["manifest.json"],
        ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet", "stray.txt"],
    ]
    assert sorted(p.name for p in partition.iterdir()) == [
        "_SUCCESS", "manifest.json", "part-00000.parquet"
    ]  # fmt: skip
    assert store.read_manifest("e", "dt=2024-05-01").row_count == 1


STAMPS = pa.schema([("ts", pa.timestamp("us")), ("at", pa.timestamp("us", tz="UTC"))])


def publish_csv(store: ExportStore, arrays: list[pa.Array], schema: pa.Schema) -> str:
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    store.publish(pa.RecordBatchReader.from_batches(schema, [batch]), export="e",
                  partition="dt=2024-05-01", asset="export/e",
                  file_format=FileFormat(kind="csv"))  # fmt: skip
    return (store.fs.cat_file(f"{store.root}/e/dt=2024-05-01/part-00000.csv")).decode()


def test_csv_spells_a_timestamps_infinity(tmp_path: Path) -> None:
    # DuckDB holds 'infinity' as the storage's extremes. Arrow's own formatting wrote them into
    # the file as "<valueTout of range: 9223372036854775807>".
    arrays = [
        pa.array([2**63 - 1, 1714557600000000, None], pa.int64()).view(STAMPS.field("ts").type),
        pa.array([-(2**63 - 1), 1714557600000000, None], pa.int64()).view(STAMPS.field("at").type),
    ]
    text = publish_csv(ExportStore(str(tmp_path)), arrays, STAMPS)
    assert text.split("\r\n") == [
        '"ts","at"',
        '"infinity","-infinity"',
        '"2024-05-01T10:00:00.000000","2024-05-01T10:00:00.000000Z"',
        ",",
        "",
    ]


@pytest.mark.parametrize(
    ("array", "said"),
    [
        # PostgreSQL's infinity as the source driver hands it over: the year 262142.
        (pa.array([8210266876799999999], pa.int64()).view(pa.timestamp("us")),
         "a timestamp[us] value past the calendar CSV text is written in "
         "(stored as 8210266876799999999)"),
        (pa.array([2**31 - 1], pa.int32()).view(pa.date32()), "a date32[day] value infinity"),
        # time 24:00:00, the end of the day (DuckDB, PostgreSQL and Redshift allow it)
        (pa.array([86_400_000_000], pa.int64()).view(pa.time64("us")),
         "a time64[us] value 24:00:00"),
    ],
)  # fmt: skip
def test_csv_refuses_a_value_it_cannot_spell_and_publishes_nothing(tmp_path, array, said) -> None:
    # Before, each was written into the file as "<value out of range: ...>".
    schema = pa.schema([("valid_to", array.type)])
    store = ExportStore(str(tmp_path))
    with pytest.raises(ExportError, match=re.escape(f"column 'valid_to' holds {said}")):
        publish_csv(store, [array], schema)
    assert store.partitions("e", sealed_only=False) == []


@pytest.mark.parametrize(
    ("kind", "column_type"),
    [
        ("parquet", pa.month_day_nano_interval()),
        ("csv", pa.month_day_nano_interval()),
        ("csv", pa.list_(pa.int32())),
        ("csv", pa.struct([("a", pa.int32())])),
    ],
)
def test_a_column_type_the_format_cannot_hold_is_named(tmp_path, kind, column_type) -> None:
    # Before: Arrow's "Unhandled type for Arrow to Parquet schema conversion:
    # month_day_nano_interval" or "Unsupported Type:list<l: int32>", naming no column.
    schema = pa.schema([("id", pa.int64()), ("span", column_type)])
    store = ExportStore(str(tmp_path))
    with pytest.raises(ExportError, match=rf"column 'span' is {re.escape(str(column_type))}"):
        store.publish(reader({"id": [1], "span": [None]}, schema=schema), export="e",
                      partition="dt=2024-05-01", asset="export/e",
                      file_format=FileFormat(kind=kind))  # fmt: skip
    assert store.partitions("e", sealed_only=False) == []


def test_a_result_with_one_column_name_twice_is_refused(tmp_path: Path) -> None:
    # `select o.*, c.* from orders o join customers c ...`: before, DuckDB's result was
    # published with two `id` columns, which Spark and BigQuery refuse to read (and an `ID`
    # beside `id`, which they take for the same name).
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("ID", pa.int64())])
    store = ExportStore(str(tmp_path))
    rows = {"id": [1], "name": ["x"], "ID": [2]}
    with pytest.raises(ExportError, match="the result has two columns named 'id' and 'ID'"):
        store.publish(reader(rows, schema=schema), export="e", partition="dt=2024-05-01",
                      asset="export/e")  # fmt: skip
    assert store.partitions("e", sealed_only=False) == []
