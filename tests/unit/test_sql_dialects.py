"""SQL Server and Oracle cannot run here: the SQL compiled for each dialect is asserted
exactly, and reads go through the same reader code path behind a driver seam."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from sqlalchemy.engine import make_url

from tributary.config.models import TableConfig, Tenant
from tributary.errors import SourceError
from tributary.slices import slice_for
from tributary.sources import SourceClock, SqlSource, Window
from tributary.sources.sql import connectorx_fetch, oracledb_fetch
from tributary.sources.types import SourceColumn

SINCE = datetime(2024, 1, 2, 3, 4, 5, 123456)
INCREMENTAL = TableConfig(
    name="orders",
    object="dbo.SalesOrders",
    primary_key=["order_id"],
    cursor="modified_at",
    mode="incremental",
)


def one(sql: str) -> str:
    return " ".join(sql.split())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mssql://etl@erp/erp",
            "SELECT * FROM dbo.[SalesOrders] WHERE modified_at >= "
            "CAST('2024-01-02 03:04:05.123456' AS DATETIME2(6)) OR modified_at IS NULL",
        ),
        (
            "oracle://etl@ops:1521/ops",
            'SELECT * FROM dbo."SalesOrders" WHERE modified_at >= '
            "TO_TIMESTAMP('2024-01-02 03:04:05.123456', 'YYYY-MM-DD HH24:MI:SS.FF') "
            "OR modified_at IS NULL",
        ),
        (
            "mysql://etl@app/app",
            "SELECT * FROM dbo.`SalesOrders` WHERE modified_at >= '2024-01-02 03:04:05.123456' "
            "OR modified_at IS NULL",
        ),
    ],
)
def test_incremental_query_per_dialect(url: str, expected: str) -> None:
    """The rows whose cursor is NULL are read too, whatever null_cursor says: no later read
    would find them, and null_cursor decides what becomes of them."""
    assert one(SqlSource(make_url(url)).build_query(INCREMENTAL, since=SINCE)) == expected


def test_a_mysql_date_cursor_reads_and_windows_its_zero_dates_as_null() -> None:
    """MySQL's zero date (0000-00-00) is no NULL to the database, but the type policy reads
    it as one: an incremental read takes it as it takes a NULL, one index range more, and a
    window that leaves NULL cursors out leaves it out too."""
    mysql = SqlSource(make_url("mysql://etl@app/app"))
    columns = [
        SourceColumn("order_id", "int", "int"),
        SourceColumn("modified_at", "datetime", "datetime(6)"),
    ]
    query = mysql.build_query(INCREMENTAL, since=SINCE, columns=columns)
    assert one(query).endswith(
        "WHERE modified_at >= '2024-01-02 03:04:05.123456' "
        "OR modified_at IS NULL OR modified_at < '0001-01-01'"
    )
    window = Window(cursor="modified_at", high=SINCE)  # a first load's, NULL cursors left out
    counts, _ = mysql.profile_queries(INCREMENTAL, window, columns=columns)
    assert one(counts).endswith(
        "WHERE modified_at <= '2024-01-02 03:04:05.123456' "
        "AND NOT (modified_at IS NULL OR modified_at < '0001-01-01')"
    )


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (
            SINCE,
            "modified_at >= '2024-01-02 03:04:05.123456' AND modified_at < '2024-01-02T' "
            "OR modified_at >= '2024-01-02T03:04:05.123456'",
        ),
        (
            datetime(2024, 1, 2, 3, 4, 5, 500000),
            "modified_at >= '2024-01-02 03:04:05.5' AND modified_at < '2024-01-02T' "
            "OR modified_at >= '2024-01-02T03:04:05.5'",
        ),
        (
            datetime(2024, 1, 2, 3, 4, 5),
            "modified_at >= '2024-01-02 03:04:05' AND modified_at < '2024-01-02T' "
            "OR modified_at >= '2024-01-02T03:04:05'",
        ),
        # a column declared TEXT: its watermark is text, compared as the column stores it
        ("2024-01-02 03:04:05", "modified_at >= '2024-01-02 03:04:05'"),
    ],
)
def test_a_sqlite_timestamp_bound_is_the_shortest_text_of_each_form(since, expected) -> None:
    """SQLite keeps timestamps as text ('2024-01-02 03:04:05', with a 'T', with any fraction):
    the bound '2024-01-02 03:04:05.000000' sorted after the rows at it."""
    query = SqlSource(make_url("sqlite:///shop.sqlite")).build_query(INCREMENTAL, since=since)
    where = f"{expected} OR modified_at IS NULL"
    assert one(query) == f'SELECT * FROM dbo."SalesOrders" WHERE {where}'


def test_key_range_and_tenant_predicates_per_dialect() -> None:
    ranges = TableConfig(
        name="lines", primary_key=["line_id"],
        key_ranges={"column": "line_id", "size": 1000, "upper_bound": 3000},
    )  # fmt: skip
    middle = slice_for(ranges, "000000001000-000000001999", [])
    last = slice_for(ranges, "000000002000-000000002999", [])
    mssql = SqlSource(make_url("mssql://etl@erp/erp"))
    assert one(mssql.build_query(ranges, where=middle)) == (
        "SELECT * FROM lines WHERE line_id >= 1000 AND line_id < 2000"
    )
    assert one(mssql.build_query(ranges, where=last)) == "SELECT * FROM lines WHERE line_id >= 2000"

    tenants = [Tenant(id="acme_01", alias="acme")]
    scoped = TableConfig(name="users", tenant_column="company", primary_key=["id"])
    oracle = SqlSource(make_url("oracle://etl@ops:1521/ops"))
    assert one(oracle.build_query(scoped, where=slice_for(scoped, "acme_01", tenants))) == (
        "SELECT * FROM users WHERE company = 'acme_01'"
    )


def test_custom_tenant_query_binds_the_tenant_as_a_literal() -> None:
    table = TableConfig(
        name="users",
        query="select * from app_users where company_id = :tenant_id",
        tenant_column="company_id",
        primary_key=["id"],
    )
    where = slice_for(table, "7", [Tenant(id=7, alias="seven")])
    sql = SqlSource(make_url("mssql://etl@erp/erp")).build_query(table, where=where)
    assert one(sql) == "SELECT * FROM (select * from app_users where company_id = 7) AS src"


def test_decimal_columns_are_selected_as_text_per_dialect() -> None:
    from tributary.sources.types import SourceColumn

    columns = [
        SourceColumn("order_id", "int", "int"),
        SourceColumn("amount", "decimal", "decimal", 18, 4),
    ]
    table = TableConfig(name="orders")
    assert one(SqlSource(make_url("mssql://e@h/d")).build_query(table, columns=columns)) == (
        "SELECT order_id, CAST(amount AS NVARCHAR(max)) AS amount FROM orders"
    )
    assert one(SqlSource(make_url("oracle://e@h/d")).build_query(table, columns=columns)) == (
        "SELECT order_id, CAST(amount AS VARCHAR2(4000 CHAR)) AS amount FROM orders"
    )
    # no length where the database allows none: a cast to varchar(n) cuts longer text
    assert one(SqlSource(make_url("mysql://e@h/d")).build_query(table, columns=columns)) == (
        "SELECT order_id, CAST(amount AS CHAR) AS amount FROM orders"
    )


def test_describe_queries_read_the_catalog() -> None:
    table = TableConfig(name="products", object="ops.v_products")
    oracle = one(SqlSource(make_url("oracle://e@h/d")).describe_query(table))
    assert "from all_tab_columns" in oracle
    assert "owner = coalesce(upper('ops'), user) and table_name = upper('v_products')" in oracle
    mssql = one(SqlSource(make_url("mssql://e@h/d")).describe_query(table))
    assert "table_schema = coalesce('ops', schema_name()) and table_name = 'v_products'" in mssql


class FakeDriver:
    """Stands in for a driver: answers the catalog query, then the data query."""

    def __init__(self, catalog: pa.Table, data: pa.Table) -> None:
        self.answers = [catalog, data]
        self.calls: list[tuple[str, str, int]] = []

    def __call__(self, connection: str, query: str, batch_rows: int) -> pa.RecordBatchReader:
        self.calls.append((connection, query, batch_rows))
        answer = self.answers.pop(0)
        return pa.RecordBatchReader.from_batches(answer.schema, answer.to_batches(batch_rows))


@pytest.mark.parametrize(
    ("url", "asked"),
    [
        ("mssql://etl@erp/erp", "select sysutcdatetime() as now_utc, sysdatetime() as now_local"),
        ("oracle://etl@ops:1521/ops", "select sys_extract_utc(systimestamp) as now_utc, "
         "cast(systimestamp as timestamp) as now_local from dual"),
    ],
)  # fmt: skip
def test_the_sources_clock_per_dialect(url: str, asked: str) -> None:
    """What a watermark may not pass (ingest.cursor_cap): the instant, and the time the
    server's sessions stamp one without a zone with (here Tokyo's)."""
    instant, local = datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 21)
    driver = FakeDriver(pa.table({"NOW_UTC": [instant], "NOW_LOCAL": [local]}), pa.table({}))
    clock = SqlSource(make_url(url), fetch=driver).clock()
    assert clock == SourceClock(instant=instant.replace(tzinfo=UTC), local=local)
    assert driver.calls[0][1] == asked


def test_oracle_read_goes_through_the_reader_path() -> None:
    catalog = pa.table(
        {
            "COLUMN_NAME": ["PRODUCT_ID", "UNIT_PRICE"],
            "DATA_TYPE": ["number", "number"],
            "DT2": ["number", "number"],
            "DATA_PRECISION": pa.array([None, 10], pa.int64()),
            "DATA_SCALE": pa.array([None, 2], pa.int64()),
        }
    )
    data = pa.table({"PRODUCT_ID": [1, 2, 3], "UNIT_PRICE": ["9.99", "0.50", None]})
    driver = FakeDriver(catalog, data)
    source = SqlSource(make_url("oracle://etl:s3cret@ops:1521/ops"), fetch=driver)
    extract = source.read(TableConfig(name="products", object="v_products"), batch_rows=2)
    rows = pa.Table.from_batches(list(extract.batches)).to_pylist()
    assert rows == [
        {"product_id": 1, "unit_price": Decimal("9.99")},
        {"product_id": 2, "unit_price": Decimal("0.50")},
        {"product_id": 3, "unit_price": None},
    ]
    connection, query, batch_rows = driver.calls[1]
    assert connection == "oracle://etl:s3cret@ops:1521/ops" and batch_rows == 2
    assert one(query) == (
        "SELECT product_id, CAST(unit_price AS VARCHAR2(4000 CHAR)) AS unit_price FROM v_products"
    )


@pytest.mark.parametrize(
    ("url", "catalog_row", "declared"),
    [
        ("mssql://e@h/d", ("LINE_ID", "int", "int", 10, 0), None),
        ("mssql://e@h/d", ("LINE_ID", "bigint", "bigint", 19, 0), None),
        ("mssql://e@h/d", ("LINE_ID", "numeric", "numeric", 12, 0), None),
        ("mssql://e@h/d", ("LINE_ID", "nvarchar", "nvarchar", None, None), "nvarchar"),
        ("mssql://e@h/d", ("LINE_ID", "decimal", "decimal", 12, 2), None),
        ("mssql://e@h/d", ("LINE_ID", "float", "float", 53, None), None),
        ("mssql://e@h/d", ("LINE_ID", "bit", "bit", None, None), "bit"),
        ("mssql://e@h/d", ("LINE_ID", "datetime2", "datetime2", None, None), "datetime2"),
        ("oracle://e@h/d", ("LINE_ID", "number", "number", 10, 0), None),
        ("oracle://e@h/d", ("LINE_ID", "number", "number", None, 0), None),  # INTEGER
        ("oracle://e@h/d", ("LINE_ID", "number", "number", None, None), None),
        ("oracle://e@h/d", ("LINE_ID", "binary_double", "binary_double", None, None), None),
        ("oracle://e@h/d", ("LINE_ID", "varchar2", "varchar2", None, None), "varchar2"),
        ("oracle://e@h/d", ("LINE_ID", "date", "date", None, None), "date"),
    ],
)  # fmt: skip
def test_a_key_range_column_must_be_numeric_per_dialect(url, catalog_row, declared) -> None:
    """SQL Server's and Oracle's catalogs, as the reader describes a table from them: integer,
    decimal (Oracle's NUMBER, with or without precision) and floating-point types partition."""
    from tributary.ingest import key_range_problem

    names = ["COLUMN_NAME", "DATA_TYPE", "DT2", "PRECISION", "SCALE"]
    types = [pa.string(), pa.string(), pa.string(), pa.int64(), pa.int64()]
    catalog = pa.table([pa.array([v], t) for v, t in zip(catalog_row, types, strict=True)],
                       names=names)  # fmt: skip
    source = SqlSource(make_url(url), fetch=FakeDriver(catalog, catalog))
    ranges = {"column": "line_id", "size": 1000, "upper_bound": 3000}
    table = TableConfig(name="lines", primary_key=["line_id"], key_ranges=ranges)
    problem = key_range_problem(source, table)
    if declared is None:
        assert problem is None
    else:
        assert problem.startswith(f"column 'line_id' is {declared}; expected a numeric column")


def test_default_driver_per_dialect_and_errors_without_the_password() -> None:
    assert SqlSource(make_url("oracle://e@h/d"))._fetch is oracledb_fetch
    assert SqlSource(make_url("mssql://e@h/d"))._fetch is connectorx_fetch

    def refuse(connection: str, query: str, batch_rows: int):
        raise RuntimeError(f"login failed for {connection}")

    source = SqlSource(make_url("mssql+pyodbc://etl:pa55word@erp/erp"), fetch=refuse)
    with pytest.raises(SourceError) as raised:
        source.read(TableConfig(name="orders"), batch_rows=10)
    assert "pa55word" not in str(raised.value)
    assert "mssql://etl:***@erp/erp" in str(raised.value)


def test_a_custom_query_ending_in_a_line_comment_is_read(tmp_path) -> None:
    # The query is read as a subquery, `(<query>) AS src`: the closing parenthesis was in the
    # comment, and every read failed ("incomplete input").
    import sqlite3

    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("create table t (id integer, name text)")
        con.execute("insert into t values (1, 'a'), (2, 'b')")
    table = TableConfig.model_validate(
        {"name": "t", "primary_key": ["id"], "query": "select id, name from t -- all rows;"}
    )
    source = SqlSource(make_url(f"sqlite:///{path}"))
    assert source.query_schema(table).names == ["id", "name"]
    extract = source.read(table, batch_rows=10)
    assert extract.batches.read_all().column("name").to_pylist() == ["a", "b"]


def test_sql_server_says_how_it_compares_a_text_key_once_per_collation() -> None:
    """SQL Server compares text by the column's collation, trailing spaces always ignored:
    the collation comes from sys.columns, and the server is asked what it does with case and
    spaces (once per collation; a non-text key has none and compares exactly)."""
    from tributary.key_match import EXACT, TextMatch

    catalog = pa.table(
        {
            "name": ["CustomerCode", "Region", "Note"],
            "charset": pa.array([None, None, None], pa.string()),
            "collation_name": ["SQL_Latin1_General_CP1_CI_AS"] * 2 + ["Latin1_General_BIN2"],
        }
    )
    said = pa.table({"asked": [0], "ignores_case": [1], "ignores_trailing_spaces": [1]})
    driver = FakeDriver(catalog, said)
    driver.answers.append(catalog)  # the second table's catalog: no question asked again
    source = SqlSource(make_url("mssql://etl@erp/erp"), fetch=driver)
    table = TableConfig(name="customers", object="dbo.Customers",
                        primary_key=["customercode", "line_no"])  # fmt: skip
    folded = TextMatch(ignores_case=True, ignores_trailing_spaces=True)
    assert source.key_match(table) == (folded, EXACT)
    assert one(driver.calls[0][1]) == (
        "select c.name, cast(null as varchar(1)), c.collation_name from sys.columns c "
        "where c.object_id = object_id(quotename(coalesce('dbo', schema_name())) + '.' + "
        "quotename('Customers')) "
        "and c.collation_name is not null"
    )
    assert one(driver.calls[1][1]) == (
        "select 0 as asked, case when N'a' collate "
        "SQL_Latin1_General_CP1_CI_AS = N'A' then 1 else 0 end as ignores_case, case when N'a' "
        "collate SQL_Latin1_General_CP1_CI_AS = N'a ' then 1 else 0 end as "
        "ignores_trailing_spaces"
    )
    regions = TableConfig(name="regions", object="dbo.Customers", primary_key=["region"])
    assert source.key_match(regions) == (folded,)
    assert len(driver.calls) == 3  # the catalog again, not the question


@pytest.mark.parametrize(
    ("url", "table"),
    [
        # A custom query's columns have no catalog entry to say: exact, and nothing is asked.
        ("mysql://etl@app/app", TableConfig(name="t", query="select id from t",
                                            primary_key=["id"])),
        ("mssql://etl@erp/erp", TableConfig(name="t", primary_key=[])),
        # Oracle and SQLite compare text exactly (their default collations); PostgreSQL says
        # (tests/integration/test_text_keys.py), but not of a custom query's columns.
        ("oracle://etl@ops:1521/ops", TableConfig(name="t", primary_key=["code"])),
        ("postgresql://etl@pg/pg", TableConfig(name="t", query="select code from t",
                                               primary_key=["code"])),
        ("sqlite:///app.sqlite", TableConfig(name="t", primary_key=["code"])),
    ],
)  # fmt: skip
def test_keys_compare_exactly_where_the_source_cannot_say_otherwise(url, table) -> None:
    def refuse(connection: str, query: str, batch_rows: int):
        raise AssertionError(f"no query expected: {query}")

    assert SqlSource(make_url(url), fetch=refuse).key_match(table) == ()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mssql://etl@erp/erp",
            "SELECT min(modified_at) AS modified_at FROM dbo.[SalesOrders] WHERE modified_at <= "
            "CAST('2024-01-02 03:04:05.123456' AS DATETIME2(6)) AND modified_at IS NOT NULL AND "
            "(currency IS NOT NULL OR "
            "modified_at >= CAST('2024-01-01 00:00:00' AS DATETIME2(6)) AND (amount IS NOT NULL "
            "OR [Note] IS NOT NULL))",
        ),
        (
            "oracle://etl@ops:1521/ops",
            'SELECT min(modified_at) AS modified_at FROM dbo."SalesOrders" WHERE modified_at <= '
            "TO_TIMESTAMP('2024-01-02 03:04:05.123456', 'YYYY-MM-DD HH24:MI:SS.FF') AND "
            "modified_at IS NOT NULL AND (currency IS NOT NULL OR modified_at >= "
            "TO_DATE('2024-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') AND (amount IS NOT NULL OR "
            '"Note" IS NOT NULL))',
        ),
    ],
)
def test_where_the_rows_holding_a_new_columns_value_begin_per_dialect(url, expected) -> None:
    """One aggregate before a read: a column new to the table (any row), and columns back
    after a gap (from the gap's point), below where the read begins."""
    wanted = [(("currency",), None), (("amount", "Note"), datetime(2024, 1, 1))]
    sql = SqlSource(make_url(url)).first_cursor_holding_query(INCREMENTAL, wanted, before=SINCE)
    assert one(sql) == expected


def test_where_a_tenants_rows_holding_a_value_begin_reads_its_query_as_a_subquery() -> None:
    scoped = TableConfig(
        name="users",
        primary_key=["id"],
        cursor="updated_at",
        mode="incremental",
        query="select * from users where company_id = :tenant_id",
        tenant_column="company_id",
    )
    where = slice_for(scoped, "7", [Tenant(id=7, alias="seven")])
    sql = SqlSource(make_url("mysql://etl@app/app")).first_cursor_holding_query(
        scoped, [(("currency",), None)], before=SINCE, where=where
    )
    assert one(sql) == (
        "SELECT min(updated_at) AS updated_at FROM (select * from users where company_id = 7) "
        "AS src WHERE updated_at <= '2024-01-02 03:04:05.123456' AND updated_at IS NOT NULL "
        "AND currency IS NOT NULL"
    )


VIEW = TableConfig(name="v_orders", primary_key=["id"])


@pytest.mark.parametrize(
    ("zone", "offset", "views", "said"),
    [
        ("CET", 60, 1, "view v_orders is evaluated in a session at UTC (+00:00), not in the "
         "server's zone (CET: UTC+01:00 now)."),
        ("-08:00", -480, 1, "(-08:00: UTC-08:00 now)"),
        ("GMT", 0, 1, "(GMT: UTC+00:00 now)"),  # London's winter: BST in summer
        ("UTC", 0, 1, None),
        ("CET", 60, 0, None),  # a table: its TIMESTAMP columns read exactly, nothing computed
    ],
)  # fmt: skip
def test_a_mysql_view_read_at_utc_on_a_server_in_another_zone_says_so(
    zone: str, offset: int, views: int, said: str | None
) -> None:
    """connectorx's MySQL sessions run at +00:00 so that TIMESTAMP columns arrive exactly;
    a view's DATE() of a TIMESTAMP then gave the UTC day, not the server's (a probe: an order
    placed 02:30 on 5 May in +05:00 was loaded on 4 May), without a word."""
    catalog = pa.table({"column_name": ["id"], "data_type": ["int"], "column_type": ["int"],
                        "numeric_precision": [10], "numeric_scale": [0]})  # fmt: skip
    driver = FakeDriver(catalog, pa.table({"id": [1]}))
    driver.answers.append(pa.table({"zone": [zone], "offset_minutes": [offset], "views": [views]}))
    extract = SqlSource(make_url("mysql://etl@app/app"), fetch=driver).read(VIEW, batch_rows=10)
    assert "information_schema.views" in driver.calls[2][1]
    if said is None:
        assert extract.notes == []
    else:
        [note] = extract.notes
        assert said in note
        assert "NOW(), CURDATE(), FROM_UNIXTIME(), and DATE()" in note
        assert "CONVERT_TZ(x, '+00:00', '<zone>')" in note


def test_a_postgresql_read_asks_no_session_zone() -> None:
    catalog = pa.table({"column_name": ["id"], "data_type": ["integer"],
                        "column_type": ["integer"], "numeric_precision": [32],
                        "numeric_scale": [0]})  # fmt: skip
    driver = FakeDriver(catalog, pa.table({"id": [1]}))
    extract = SqlSource(make_url("postgresql://etl@app/app"), fetch=driver).read(
        VIEW, batch_rows=10
    )
    assert extract.notes == [] and len(driver.calls) == 2


@pytest.mark.parametrize(
    ("url", "dsn"),
    [
        ("oracle://etl:pw@erp:1522/ORCLPDB1", "erp:1522/ORCLPDB1"),
        # SQLAlchemy's spelling of a service name: before, the reader connected to the
        # service "None" (erp:1521/None) and every load failed with Oracle's "unknown service".
        ("oracle://etl:pw@erp/?service_name=ORCLPDB1", "erp:1521/ORCLPDB1"),
    ],
)
def test_an_oracle_url_names_its_service_in_the_path_or_its_query(monkeypatch, url, dsn) -> None:
    import oracledb

    seen: dict[str, str] = {}

    def connect(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("connected")

    monkeypatch.setattr(oracledb, "connect", connect)
    source = SqlSource(make_url(url), fetch=None)
    with pytest.raises(RuntimeError, match="connected"):
        source._fetch(source._connectorx_url(), "select 1 from dual", 10)
    assert seen == {"user": "etl", "password": "pw", "dsn": dsn}


def test_two_oracle_services_on_one_host_are_two_origins() -> None:
    # The origin decides whether a watermark belongs to what the table reads now: a service
    # named in the query string was left out, and a table moved to another service on the
    # same host went on from the old service's watermark.
    table = TableConfig(name="orders", primary_key=["order_id"])
    first, second = (
        SqlSource(make_url(f"oracle://etl:pw@erp:1521/?service_name={name}")).origin(table)
        for name in ("SALES", "SALES_TEST")
    )
    assert first != second
    assert "SALES_TEST" in second and "pw" not in second


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("oracle://etl:pw@erp:1521/ORCL?service_name=PDB1", "names its service twice"),
        ("oracle://etl:pw@erp:1521", "names no service"),
    ],
)
def test_an_oracle_url_that_names_no_service_or_two_is_refused(url, expected) -> None:
    with pytest.raises(SourceError, match=expected) as raised:
        SqlSource(make_url(url), owner="source 'ops'")
    assert "pw" not in str(raised.value)
    assert "source 'ops'" in str(raised.value)
