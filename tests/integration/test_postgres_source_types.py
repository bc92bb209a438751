"""A PostgreSQL source's column types that the driver (connectorx) cannot read, or reads
wrongly, loaded through the whole path into each warehouse: exact values, or an error that
names the table and the column."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import make_url

from tributary.config.models import SourceConfig, TableConfig, Tenant
from tributary.errors import SourceError
from tributary.ingest import ingest_table, load_target
from tributary.landing import LandingStore
from tributary.reconcile import reconcile
from tributary.slices import slice_for
from tributary.sources import SqlSource

pytestmark = pytest.mark.integration


def create(conninfo: str, *statements: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as con:
        for statement in statements:
            con.execute(statement)


def load(conninfo: str, table: TableConfig, warehouse, tmp_path):
    source = SourceConfig(name="app", kind="postgres", connection={"url": conninfo},
                          tables=[table])  # fmt: skip
    return ingest_table(
        source,
        table,
        reader=SqlSource(make_url(conninfo)),
        landing=LandingStore(str(tmp_path / "landing")),
        warehouse=warehouse,
        batch_rows=1,
    )


def test_types_the_driver_cannot_read_load_as_their_text(postgres, warehouse, tmp_path) -> None:
    # Before: the load stopped with connectorx's panic "not implemented: interval" (a
    # BaseException naming neither table nor column); money failed as '$12.34'; and the end of
    # the day, time '24:00', arrived as 00:00. And text longer than 100 characters was cut
    # to 100 without a word (read through a cast to varchar(100)).
    create(
        postgres,
        "create type mood as enum ('happy', 'sad')",
        """create table visits (id int primary key, span interval, local_at time with time zone,
            doc xml, flags bit varying, spot point, price money, closes time, feeling mood)""",
        """insert into visits values
            (1, '1 year 2 mons 3 days 04:05:06', '12:00+05', '<a>x</a>', B'101', '(1,2)',
             12.34, '24:00', 'happy'),
            (2, '-1 days', null, ('<a>' || repeat('x', 300) || '</a>')::xml,
             repeat('1', 200)::varbit, null, -1, '23:59:59.5', null)""",
    )
    result = load(postgres, TableConfig(name="visits", primary_key=["id"]), warehouse, tmp_path)
    assert result.manifest.row_count == 2
    rows = warehouse.query(
        "select id, span, local_at, doc, flags, spot, price, cast(closes as varchar), feeling "
        "from raw_app.visits order by id"
    )
    assert [tuple(row) for row in rows] == [
        (1, "1 year 2 mons 3 days 04:05:06", "12:00:00+05", "<a>x</a>", "101", "(1,2)",
         Decimal("12.34"), "24:00:00", "happy"),
        (2, "-1 days", None, f"<a>{'x' * 300}</a>", "1" * 200, None, Decimal("-1.00"),
         "23:59:59.5", None),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("declared", "value", "said"),
    [
        ("numeric(10, 2)", "'NaN'", "no decimal form"),
        ("numeric", "'0.123456789012345'", "more decimal places than 10"),
    ],
)
def test_a_number_with_no_decimal_form_names_its_column(postgres, declared, value, said) -> None:
    create(
        postgres,
        f"create table prices (id int primary key, amount {declared})",
        f"insert into prices values (1, {value})",
    )
    extract = SqlSource(make_url(postgres)).read(TableConfig(name="prices"), batch_rows=10)
    expected = f"column 'amount' ({declared}) holds {value}: {said}"
    with pytest.raises(SourceError, match=re.escape(expected)):
        extract.batches.read_all()


def test_a_value_the_driver_cannot_convert_fails_naming_the_table(postgres) -> None:
    # A custom query's array of a type the driver cannot read (a query's columns are not
    # described, so none is read as text): connectorx panics while it fetches.
    create(
        postgres,
        "create table shifts (id int primary key, spans interval[])",
        "insert into shifts values (1, array[interval '1 hour'])",
    )
    table = TableConfig(name="shifts", query="select id, spans from shifts")
    with pytest.raises(SourceError, match=r"reading table 'shifts' failed: .*interval"):
        extract = SqlSource(make_url(postgres)).read(table, batch_rows=10)
        extract.batches.read_all()


@pytest.mark.parametrize(("second", "named"), [("id", "'id'"), ("Id", "'id' and 'Id'")])
def test_a_query_returning_one_name_twice_fails_naming_it(
    postgres, warehouse, tmp_path, second, named
):
    # PostgreSQL lets a query return two columns of one name. Before: DuckDB stored the second
    # as `id_1` (a name nobody gave), PostgreSQL failed with "column "id" specified more than
    # once".
    create(
        postgres,
        "create table orders (id int primary key, customer_id int)",
        "create table customers (id int primary key, name text)",
        "insert into orders values (1, 10)",
        "insert into customers values (10, 'x')",
    )
    query = (
        f'select o.id, c.id as "{second}", c.name '
        "from orders o join customers c on c.id = o.customer_id"
    )
    table = TableConfig(name="order_customers", query=query)
    expected = f"table 'order_customers': the source returns two columns named {named} ("
    with pytest.raises(SourceError, match=re.escape(expected)):
        load(postgres, table, warehouse, tmp_path)
    assert not warehouse.table_exists("raw_app", "order_customers")


def test_json_numbers_arrive_as_written(postgres, warehouse, tmp_path) -> None:
    # Before: the driver parsed json and jsonb and wrote them again, its numbers as doubles:
    # 12345678901234567890123 arrived as 12345678901234568000000 (or 1.2345678901234568e22),
    # 0.12345678901234567890 as 0.12345678901234568, and json lost its key order and spaces.
    written = '{"ref": 12345678901234567890123, "rate": 0.12345678901234567890, "a": [1.50]}'
    create(
        postgres,
        "create table docs (id int primary key, doc jsonb, raw json)",
        f"insert into docs values (1, '{written}', '{written}'), (2, null, 'null')",
    )
    load(postgres, TableConfig(name="docs", primary_key=["id"]), warehouse, tmp_path)
    # PostgreSQL's warehouse holds json as jsonb, which orders keys and drops spaces (numbers
    # stay as written); DuckDB's JSON keeps the text.
    raw = "raw::jsonb::text" if warehouse.kind == "postgres" else "raw::text"
    with psycopg.connect(postgres) as con:
        source = con.execute(f"select id, doc::text, {raw} from docs order by id").fetchall()
    assert "12345678901234567890123" in source[0][2] and "0.12345678901234567890" in source[0][1]
    loaded = warehouse.query(
        "select id, cast(doc as varchar), cast(raw as varchar) from raw_app.docs order by id"
    )
    assert [tuple(row) for row in loaded] == source


def test_upper_case_column_names_are_read_as_spelled(postgres, warehouse, tmp_path) -> None:
    # Before: read as id and amount (a rule meant for Oracle's catalog), and PostgreSQL
    # answered `column "id" does not exist`, a name the user never wrote.
    create(
        postgres,
        'create table orders ("ID" int primary key, "AMOUNT" numeric(10, 2), "SEQ" int)',
        "insert into orders values (1, 10.50, 1), (2, 20.00, 2)",
    )
    table = TableConfig(name="orders", primary_key=["ID"], cursor="SEQ", mode="incremental")
    load(postgres, table, warehouse, tmp_path)
    create(postgres, 'update orders set "AMOUNT" = 11.00, "SEQ" = 3 where "ID" = 1')
    load(postgres, table, warehouse, tmp_path)
    rows = warehouse.query('select "ID", "AMOUNT" from raw_app.orders order by "ID"')
    assert [tuple(row) for row in rows] == [(1, Decimal("11.00")), (2, Decimal("20.00"))]


def test_a_custom_querys_decimals_arrive_exactly_or_fail_naming_them(
    postgres, warehouse, tmp_path
) -> None:
    # Before: read as decimal(38, 10) by the driver: 1.12345678901234567890 arrived as
    # 1.1234567890, and sum()'s unconstrained numeric was rounded the same way.
    create(
        postgres,
        "create table rates (id int primary key, fx numeric(30, 20))",
        "insert into rates values (1, 1.12345678901234567890), (2, 0.00000000004)",
    )
    exact = TableConfig(name="rates", primary_key=["id"], query="select id, fx from rates")
    load(postgres, exact, warehouse, tmp_path)
    rows = warehouse.query("select id, fx from raw_app.rates order by id")
    assert [tuple(row) for row in rows] == [
        (1, Decimal("1.12345678901234567890")),
        (2, Decimal("0.00000000004000000000")),
    ]
    summed = TableConfig(name="totals", query="select 1 as id, sum(fx) as total from rates")
    with pytest.raises(SourceError, match=r"column 'total' \(numeric\) holds '1\.1234567890"):
        load(postgres, summed, warehouse, tmp_path)
    assert not warehouse.table_exists("raw_app", "totals")


def test_a_text_cursors_probe_version_is_whole(postgres) -> None:
    # refresh: on_change compares each probe's version with the last one. Before: the version
    # was cast to varchar(100), so a change past its 100th character went unseen.
    create(
        postgres,
        "create table codes (id int primary key, code text)",
        f"insert into codes values (1, '{'x' * 150}a')",
    )
    source = SqlSource(make_url(postgres))
    table = TableConfig(name="codes", cursor="code", mode="incremental", primary_key=["id"])
    assert source.probe([table]) == {"codes": "x" * 150 + "a"}


def test_a_postgres_url_reads_as_a_postgresql_one(postgres, warehouse, tmp_path) -> None:
    # Before: SqlSource failed on `postgres://` (the form Heroku and many tools print) with
    # "No module named 'sqlalchemy.dialects.postgres'", and tributary check crashed with that
    # traceback, while the warehouse accepted the same URL.
    create(
        postgres,
        "create table items (id int primary key, price numeric(30, 20))",
        "insert into items values (1, 1.12345678901234567890)",
    )
    url = make_url(postgres).set(drivername="postgres")
    SqlSource(url).ping()
    load(url.render_as_string(hide_password=False), TableConfig(name="items", primary_key=["id"]),
         warehouse, tmp_path)  # fmt: skip
    assert [tuple(r) for r in warehouse.query("select id, price from raw_app.items")] == [
        (1, Decimal("1.12345678901234567890"))
    ]


# The text COPY (`wide`) is the PostgreSQL warehouse's: DuckDB refuses so wide a decimal.
@pytest.mark.parametrize(
    ("warehouse", "wide"),
    [("duckdb", False), ("postgres", False), ("postgres", True)],
    ids=["duckdb", "postgres-binary-copy", "postgres-text-copy"],
    indirect=["warehouse"],
)
def test_infinity_and_dates_before_christ_arrive_in_order(postgres, warehouse, tmp_path, wide):
    # The driver hands PostgreSQL's infinity over as its calendar's extremes (262142 and
    # 262144 BC). Into a PostgreSQL warehouse, before: the binary COPY failed with a bare "date
    # out of range" (262144 BC is before PostgreSQL's first day), and the text COPY (a table
    # with a numeric wider than 38 digits takes it) wrote -infinity as 0001-01-01 without a
    # word and failed on 'infinity' and on any date before Christ, which Arrow writes as year 0
    # or a negative year.
    create(
        postgres,
        f"""create table terms (id int primary key, starts timestamptz, ends timestamp,
            due date{", budget numeric(50, 5)" if wide else ""})""",
        """insert into terms (id, starts, ends, due) values
            (1, '-infinity', 'infinity', '-infinity'),
            (2, 'infinity', '-infinity', 'infinity'),
            (3, '0044-03-15 12:00:00+00 BC', '4713-01-01 00:00:00 BC', '0001-12-31 BC'),
            (4, '2024-05-01 10:00:00+02', '10000-01-01 00:00:00', '10000-01-01'),
            (5, null, null, null)""",
    )
    load(postgres, TableConfig(name="terms", primary_key=["id"]), warehouse, tmp_path)
    ordered = warehouse.query(
        "select id, rank() over (order by starts), rank() over (order by ends), "
        "rank() over (order by due) from raw_app.terms where id < 5 order by id"
    )
    assert [tuple(row) for row in ordered] == [(1, 1, 4, 1), (2, 4, 1, 4), (3, 2, 2, 2),
                                               (4, 3, 3, 3)]  # fmt: skip
    if warehouse.kind != "postgres":
        return
    # PostgreSQL holds infinity itself: `= 'infinity'` matches, as in the source.
    rows = warehouse.query(
        "select id, cast(starts as varchar), cast(ends as varchar), cast(due as varchar) "
        "from raw_app.terms order by id"
    )
    assert [tuple(row) for row in rows] == [
        (1, "-infinity", "infinity", "-infinity"),
        (2, "infinity", "-infinity", "infinity"),
        (3, "0044-03-15 12:00:00+00 BC", "4713-01-01 00:00:00 BC", "0001-12-31 BC"),
        (4, "2024-05-01 08:00:00+00", "10000-01-01 00:00:00", "10000-01-01"),
        (5, None, None, None),
    ]


def test_network_addresses_arrive_as_postgresql_prints_them(postgres, warehouse, tmp_path):
    # Before: inet was read through a cast to text, which always adds the netmask
    # (PostgreSQL's "for historical reasons"): '10.0.0.1' arrived as '10.0.0.1/32' and '::1'
    # as '::1/128', so a join or a filter on the printed address matched nothing.
    create(
        postgres,
        "create table hosts (id int primary key, ip inet, net cidr, mac macaddr)",
        """insert into hosts values (1, '10.0.0.1', '10.1.0.0/16', '08:00:2b:01:02:03'),
            (2, '192.168.0.1/24', '::/0', null), (3, '::1', null, null), (4, null, null, null)""",
    )
    load(postgres, TableConfig(name="hosts", primary_key=["id"]), warehouse, tmp_path)
    rows = warehouse.query("select id, ip, net, mac from raw_app.hosts order by id")
    assert [tuple(row) for row in rows] == [
        (1, "10.0.0.1", "10.1.0.0/16", "08:00:2b:01:02:03"),
        (2, "192.168.0.1/24", "::/0", None),
        (3, "::1", None, None),
        (4, None, None, None),
    ]


def test_a_numeric_arrays_values_arrive_exactly_or_fail_naming_them(postgres) -> None:
    # Before: the driver read every numeric[] as decimal(38, 10) values, rounding past 10
    # places without a word (0.123456789012345 arrived as 0.1234567890 in DuckDB) and ignoring
    # the declared scale; the scalar numeric beside it was exact.
    create(
        postgres,
        "create table rates (id int primary key, steps numeric(20, 15)[], plain numeric[])",
        """insert into rates values (1, '{0.123456789012345, NULL, -99999.000000000000001}',
            '{1.5, 0.0000000001}'), (2, '{}', null)""",
    )
    source = SqlSource(make_url(postgres))
    rows = source.read(TableConfig(name="rates"), batch_rows=10).batches.read_all()
    assert rows.schema.field("steps").type.value_type == pa.decimal128(20, 15)
    assert rows.to_pylist() == [
        {"id": 1, "steps": [Decimal("0.123456789012345"), None, Decimal("-99999.000000000000001")],
         "plain": [Decimal("1.5"), Decimal("0.0000000001")]},
        {"id": 2, "steps": [], "plain": None},
    ]  # fmt: skip
    create(postgres, "insert into rates values (3, null, '{2.5, 0.123456789012345}')")
    expected = (
        "column 'plain' (numeric[]) holds '0.123456789012345': more decimal places than 10 "
        "(read as decimal128(38, 10), as a numeric with no declared precision is read)"
    )
    with pytest.raises(SourceError, match=re.escape(expected)):
        source.read(TableConfig(name="rates"), batch_rows=10).batches.read_all()


def test_arrays_arrive_as_lists_of_their_values(postgres, warehouse, tmp_path) -> None:
    # Before: a PostgreSQL warehouse refused every array ("no PostgreSQL column type for Arrow
    # type large_list<item: string>"), though PostgreSQL holds arrays itself and DuckDB loaded
    # them as lists.
    create(
        postgres,
        """create table tagged (id int primary key, tags text[], counts int[], big int8[],
            ratios float8[], flags bool[], rates numeric(20, 15)[])""",
        """insert into tagged values
            (1, array['plain', 'with "quote"', 'back\\slash', 'a,b', '{braces}', 'NULL', '',
                      ' spaced ', 'emoji 😀', null],
             '{1,-2,null}', '{9223372036854775807}', '{0.1,NaN,Infinity,-Infinity,-0,5e-324}',
             '{t,f,null}', '{0.123456789012345,null}'),
            (2, '{}', '{}', null, null, null, null),
            (3, null, null, null, null, null, null)""",
    )
    # an incremental load creates the table (through a staging table), then a full one copies
    # straight into it (its column types equal), and a second full one too
    for mode in ("incremental", "full", "full"):
        table = TableConfig(name="tagged", primary_key=["id"], mode=mode, cursor="id")
        load(postgres, table, warehouse, tmp_path)
    rows = warehouse.query(
        "select id, tags, counts, big, ratios, flags, rates from raw_app.tagged order by id"
    )
    rows = [tuple(row) for row in rows]
    ratios = rows[0][4]
    assert [str(value) for value in ratios] == ["0.1", "nan", "inf", "-inf", "-0.0", "5e-324"]
    assert [row[:4] + row[5:7] for row in rows] == [
        (1, ["plain", 'with "quote"', "back\\slash", "a,b", "{braces}", "NULL", "", " spaced ",
             "emoji 😀", None], [1, -2, None], [9223372036854775807], [True, False, None],
         [Decimal("0.123456789012345"), None]),
        (2, [], [], None, None, None),
        (3, None, None, None, None, None),
    ]  # fmt: skip


def test_arrays_of_times_uuids_and_text_types_arrive_as_lists(postgres, warehouse, tmp_path):
    # Before: the driver panicked ("not implemented: _timestamptz"), and the load failed with
    # "reading table 'stamps' failed: not implemented: _timestamptz", naming no column. Dates and
    # timestamps are read as their text and parsed (with their zone: UTC); uuids, inet and the
    # types a column of which is read as its text (an enum, char(n), interval) as text, each
    # element as its type prints it (char(n) padded, inet without /32), as a column's is.
    create(
        postgres,
        "set timezone = 'Europe/Berlin'",
        "create type mood as enum ('happy', 'sad')",
        """create table stamps (id int primary key, seen timestamptz[], local timestamp(3)[],
            days date[], ids uuid[], moods mood[], codes char(3)[], spans interval[],
            hosts inet[])""",
        """insert into stamps values
            (1, array['2024-01-01 10:00:00.123456+02'::timestamptz, null],
             '{"2024-02-29 23:59:59.999"}', '{2024-02-29,1999-12-31}',
             '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{happy,sad}', '{ab}', '{"1 day 02:00:00"}',
             '{10.0.0.1,192.168.0.1/24}'),
            (2, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
            (3, null, null, null, null, null, null, null, null)""",
    )
    with psycopg.connect(postgres, autocommit=True) as con:
        # the driver's sessions print timestamptz in the database's zone: not UTC
        con.execute(f"alter database {make_url(postgres).database} set timezone = 'Asia/Kolkata'")
    load(postgres, TableConfig(name="stamps", primary_key=["id"]), warehouse, tmp_path)
    rows = warehouse.query(
        "select id, seen, local, days, ids, moods, codes, spans, hosts from raw_app.stamps "
        "order by id"
    )
    rows = [tuple(row) for row in rows]
    seen = [None if value is None else value.astimezone(UTC) for value in rows[0][1]]
    assert seen == [datetime(2024, 1, 1, 8, 0, 0, 123456, tzinfo=UTC), None]
    assert [row[:1] + row[2:] for row in rows] == [
        (1, [datetime(2024, 2, 29, 23, 59, 59, 999000)], [date(2024, 2, 29), date(1999, 12, 31)],
         ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], ["happy", "sad"], ["ab "], ["1 day 02:00:00"],
         ["10.0.0.1", "192.168.0.1/24"]),
        (2, [], [], [], [], [], [], []),
        (3, None, None, None, None, None, None, None),
    ]  # fmt: skip
    assert rows[1][1] == [] and rows[2][1] is None


@pytest.mark.parametrize(
    ("declared", "named"),
    [("bytea[]", "bytea[]"), ("jsonb[]", "jsonb[]"), ("time(3)[]", "time(3) without time zone[]")],
)  # fmt: skip
def test_an_array_of_a_type_read_otherwise_names_its_table_and_column(postgres, declared, named):
    # The driver cannot read these arrays, and their elements' text is not what a column of
    # the element's type is read as (bytes, JSON, a time of day).
    create(postgres, f"create table odd (id int primary key, items {declared})")
    expected = (
        f"table 'odd': column 'items' ({named}) is an array the driver cannot read, of a "
        "type its text would not stand for; read the table through a `query:` that casts it "
        "(cast(items as text[]), its elements' text) or leaves it out"
    )
    with pytest.raises(SourceError, match=re.escape(expected)):
        SqlSource(make_url(postgres)).read(TableConfig(name="odd"), batch_rows=10)


def test_an_array_timestamp_arrow_cannot_hold_names_its_table_column_and_value(postgres):
    create(
        postgres,
        "create table stamps (id int primary key, seen timestamptz[])",
        "insert into stamps values (1, '{2024-01-01 10:00:00+00}'), (2, '{infinity}')",
    )
    extract = SqlSource(make_url(postgres)).read(TableConfig(name="stamps"), batch_rows=10)
    expected = (
        "table 'stamps': column 'seen' (timestamp with time zone[]) holds 'infinity', which is "
        "no timestamp[us, tz=UTC] as an array element is read; read the table through a "
        "`query:` that casts it (cast(seen as text[]), its elements' text)"
    )
    with pytest.raises(SourceError, match=re.escape(expected)):
        extract.batches.read_all()


def test_infinity_stays_infinity_and_reconciles(postgres, warehouse, tmp_path) -> None:
    # Before, on DuckDB: the driver's extremes (the years 262142 and 262144 BC) were stored as
    # they came, so `= 'infinity'` matched nothing and `< now()` took -infinity's rows only by
    # luck of order; PostgreSQL already kept infinity itself.
    create(
        postgres,
        "create table terms (id int primary key, starts timestamptz, ends timestamp, due date)",
        """insert into terms values (1, '-infinity', 'infinity', '-infinity'),
            (2, 'infinity', '-infinity', 'infinity'),
            (3, '2024-05-01 10:00:00+02', '2024-05-01 10:00:00', '2024-05-01'),
            (4, null, null, null)""",
    )
    table = TableConfig(
        name="terms", primary_key=["id"], checks={"checksum": ["id", "starts", "ends", "due"]}
    )
    result = load(postgres, table, warehouse, tmp_path)
    matched = warehouse.query(
        "select (select array_agg(id order by id) from raw_app.terms where starts = 'infinity'), "
        "(select array_agg(id order by id) from raw_app.terms where ends = '-infinity'), "
        "(select array_agg(id order by id) from raw_app.terms where due = 'infinity'), "
        "(select array_agg(id order by id) from raw_app.terms where ends < now())"
    )
    assert [tuple(list(v) for v in row) for row in matched] == [([2], [2], [2], [2, 3])]
    source = SourceConfig(name="app", kind="postgres", connection={"url": postgres},
                          tables=[table])  # fmt: skip
    outcome = reconcile(
        table, result, source=SqlSource(make_url(postgres)), warehouse=warehouse,
        target=load_target(source, table),
    )  # fmt: skip
    assert outcome.passed, outcome.description
    assert outcome.metadata["source_checksum"] == outcome.metadata["warehouse_checksum"]


@pytest.mark.parametrize("endless", ["infinity", "-infinity"])
def test_a_cursor_at_infinity_fails_before_anything_lands_naming_it(
    postgres, warehouse, tmp_path, endless
) -> None:
    # Before: the load failed with a bare "OverflowError: date value out of range" from the
    # landing's cursor range, naming no table, column or way out.
    create(
        postgres,
        "create table orders (id int primary key, updated_at timestamp)",
        f"insert into orders values (1, '2024-05-01 10:00'), (2, '{endless}')",
    )
    table = TableConfig(name="orders", primary_key=["id"], cursor="updated_at",
                        mode="incremental")  # fmt: skip
    expected = (
        f"table 'orders': the cursor column 'updated_at' holds {endless}, which no watermark "
        "can follow"
    )
    with pytest.raises(SourceError, match=re.escape(expected)) as raised:
        load(postgres, table, warehouse, tmp_path)
    assert "nullif(updated_at, '" in str(raised.value) and "null_cursor" in str(raised.value)
    # The batch holding it never landed (a failed landing writes no manifest: nothing loads it)
    assert not list((tmp_path / "landing").rglob("manifest.json"))
    landed = [pq.read_table(part) for part in (tmp_path / "landing").rglob("*.parquet")]
    assert sum(part.num_rows for part in landed) == 1
    assert warehouse.query(  # the source is in the same PostgreSQL database: raw_app's only
        "select count(*) from information_schema.tables where table_schema = 'raw_app'"
    ) == [(0,)]


@pytest.mark.parametrize("query", [None, "select * from orders where company_id = :tenant_id"])
@pytest.mark.parametrize("column", ["varchar(10)", "text", "int"])
def test_a_whole_number_tenant_id_reads_a_text_tenant_column(
    postgres, warehouse, tmp_path, column: str, query: str | None
) -> None:
    """tenants.yaml's `id: 1` against a PostgreSQL varchar tenant column: every load of the
    tenant failed, `operator does not exist: character varying = integer` (MariaDB compares
    them). The id is bound as text where the column holds text, as a number where it holds
    numbers."""
    create(
        postgres,
        f"create table orders (id int primary key, company_id {column}, amount int)",
        "insert into orders values (1, '1', 10), (2, '2', 20), (3, '1', 30)",
    )
    table = TableConfig(name="orders", primary_key=["id"], tenant_column="company_id", query=query)
    tenants = [Tenant(id=1, alias="acme"), Tenant(id=2, alias="globex")]
    source = SourceConfig(name="app", kind="postgres", connection={"url": postgres},
                          tables=[table])  # fmt: skip
    for key in ("1", "2"):
        ingest_table(
            source,
            table,
            reader=SqlSource(make_url(postgres)),
            landing=LandingStore(str(tmp_path / "landing")),
            warehouse=warehouse,
            batch_rows=10,
            where=slice_for(table, key, tenants, source="app"),
        )
    rows = warehouse.query("select id, _tenant_id from raw_app.orders order by id")
    assert [tuple(row) for row in rows] == [(1, "1"), (2, "2"), (3, "1")]
