"""Salesforce -> landing -> DuckDB through the local HTTPS fake of the REST API: paging,
the Bulk 2.0 path against the REST path, the lookback window, deletes, the API floor."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tributary.config.models import SourceConfig
from tributary.errors import NullCursorError, SourceError
from tributary.ingest import NULL_CURSOR_EXCLUDED, ingest_table
from tributary.landing import LandingStore
from tributary.sources.salesforce import ApiFloorReached, SalesforceSource
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse

from ..salesforce_fake import FakeSalesforce

ACCOUNT_IDS = [f"001TEST000000000{i}AA" for i in range(1, 6)]


def crm_source(
    fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch, tables: list | None = None, **settings
) -> SourceConfig:
    """The source config a user writes, logging in with a session id + instance URL taken
    from the environment (its `tables`, where given)."""
    monkeypatch.setenv("TEST_SF_SESSION_ID", fake.api.session_id)
    monkeypatch.setenv("TEST_SF_INSTANCE_URL", fake.instance_url)
    return SourceConfig.model_validate(
        {
            "name": "crm",
            "kind": "salesforce",
            "salesforce": {
                "session_id_env": "TEST_SF_SESSION_ID",
                "instance_url_env": "TEST_SF_INSTANCE_URL",
                **settings,
            },
            "tables": tables
            or [
                {"name": "account", "object": "Account", "lookback": "5m"},
                {"name": "opportunity", "object": "Opportunity"},
            ],
        }
    )


def load(fake: FakeSalesforce, source: SourceConfig, table: str, state: Path, batch_rows=100):
    config = source.tables[[t.name for t in source.tables].index(table)]
    reader = SalesforceSource(
        source.salesforce, source=source.name, session=fake.session(), bulk_poll_seconds=0
    )
    with DuckDBWarehouse(state / "warehouse.duckdb") as warehouse:
        return ingest_table(
            source,
            config,
            reader=reader,
            landing=LandingStore(str(state / "landing")),
            warehouse=warehouse,
            batch_rows=batch_rows,
        )


def rows(state: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def test_rest_query_pages_through_next_records_url(salesforce_fake, monkeypatch, tmp_path):
    salesforce_fake.api.page_size = 2  # 5 accounts: 3 pages
    loaded = load(
        salesforce_fake, crm_source(salesforce_fake, monkeypatch), "account", tmp_path, batch_rows=2
    )
    api = salesforce_fake.api
    assert api.served_count("GET", "/queryAll") == 1 + 1 + 2  # count, first page, 2 more
    assert api.served_count("GET", "/queryAll/01g") == 2  # the nextRecordsUrl pages
    assert api.served_count("POST", "/jobs/query") == 0
    assert loaded.manifest.row_count == 5
    assert [f.rows for f in loaded.manifest.files] == [2, 2, 1]
    assert rows(tmp_path, "select id from raw_crm.account order by id") == [
        (i,) for i in ACCOUNT_IDS
    ]


def test_bulk_and_rest_produce_the_same_table(salesforce_fake, monkeypatch, tmp_path):
    api = salesforce_fake.api
    rest = load(
        salesforce_fake, crm_source(salesforce_fake, monkeypatch), "account", tmp_path / "rest"
    )
    assert api.served_count("POST", "/jobs/query") == 0
    bulk = load(
        salesforce_fake,
        crm_source(salesforce_fake, monkeypatch, bulk_threshold=1),
        "account",
        tmp_path / "bulk",
        batch_rows=2,
    )
    assert api.served_count("POST", "/jobs/query") == 1
    assert api.served_count("GET", "/results") == 3  # result pages of 2, 2 and 1 rows
    assert rest.manifest.counters["bulk_api_jobs"] == 0
    assert bulk.manifest.counters["bulk_api_jobs"] == 1
    # Same types column for column, and the same values, awkward text included.
    assert rest.manifest.columns == bulk.manifest.columns
    assert rest.outcome.columns == bulk.outcome.columns
    query = "select * exclude (_load_id, _extracted_at) from raw_crm.account order by id"
    rest_rows, bulk_rows = rows(tmp_path / "rest", query), rows(tmp_path / "bulk", query)
    assert rest_rows == bulk_rows
    assert len(rest_rows) == 5
    names = {r[0]: r[1] for r in rows(tmp_path / "bulk", "select id, name from raw_crm.account")}
    assert names[ACCOUNT_IDS[0]] == 'Acme "Anvils", Inc.'


def test_a_late_record_inside_the_lookback_is_not_missed(salesforce_fake, monkeypatch, tmp_path):
    source = crm_source(salesforce_fake, monkeypatch)
    first = load(salesforce_fake, source, "account", tmp_path)
    watermark = first.outcome.watermark
    assert watermark == datetime(2024, 3, 1, 10, 20, tzinfo=UTC)
    # Two records whose transactions committed after the first load, with SystemModstamps
    # behind the watermark: 2 minutes (inside the 5 minute lookback) and 20 minutes (outside).
    api = salesforce_fake.api
    for suffix, behind in (("6", timedelta(minutes=2)), ("7", timedelta(minutes=20))):
        api.upsert(
            "Account",
            {
                "Id": f"001TEST000000000{suffix}AA",
                "Name": f"Late {suffix}",
                "Active__c": True,
                "CreatedDate": stamp(watermark - behind),
                "SystemModstamp": stamp(watermark - behind),
            },
        )
    second = load(salesforce_fake, source, "account", tmp_path)
    assert second.since == watermark - timedelta(minutes=5)
    late = rows(tmp_path, "select name from raw_crm.account where name like 'Late%'")
    assert late == [("Late 6",)]
    # The window re-read the accounts of 10:15 and 10:20 too; the merge keeps one row per Id.
    assert second.manifest.row_count == 3
    assert rows(tmp_path, "select count(*), count(distinct id) from raw_crm.account") == [(6, 6)]


@pytest.mark.parametrize(
    "org_clock", [timedelta(0), -timedelta(minutes=10)], ids=["clocks_agree", "machine_ahead"]
)
def test_a_change_made_while_a_read_ran_is_read_by_the_next_load(
    salesforce_fake, monkeypatch, tmp_path, org_clock
):
    """Salesforce's pages and Bulk chunks are read over minutes, each as the org is then. A
    record read late came back with a SystemModstamp 8 minutes into the read, while another
    changed 1 minute in was read before its change (or not matched). The watermark became the
    late stamp, the next load read from 3 minutes in, and the earlier change was never read.
    The watermark stops at the read's start; with this machine's clock 10 minutes ahead of the
    org's (played by the org's running 10 minutes behind), at the start by the org's clock,
    which its Date header tells in whole seconds: this machine's bounded nothing."""
    api = salesforce_fake.api
    api.clock_offset = org_clock
    source = crm_source(salesforce_fake, monkeypatch)
    load(salesforce_fake, source, "account", tmp_path)
    began = api.now()  # the org's time as the second load begins
    # what the late chunk reads: Account 5 as changed 8 minutes into the read
    api.upsert("Account", {"Id": ACCOUNT_IDS[4], "Name": "Hooli, 8 min in",
                           "SystemModstamp": stamp(began + timedelta(minutes=8))})  # fmt: skip
    second = load(salesforce_fake, source, "account", tmp_path)
    assert second.manifest.cursor.max_value > began + timedelta(minutes=7)
    assert began - timedelta(seconds=1) <= second.outcome.watermark <= api.now()
    # Account 2 changed 1 minute into that read, which had read it before
    api.upsert("Account", {"Id": ACCOUNT_IDS[1], "Name": "Globex, 1 min in",
                           "SystemModstamp": stamp(began + timedelta(minutes=1))})  # fmt: skip
    load(salesforce_fake, source, "account", tmp_path)
    names = rows(tmp_path, f"select name from raw_crm.account where id in "
                           f"('{ACCOUNT_IDS[1]}', '{ACCOUNT_IDS[4]}') order by id")  # fmt: skip
    assert names == [("Globex, 1 min in",), ("Hooli, 8 min in",)]


def test_an_org_whose_clock_runs_ahead_leaves_the_watermark_at_this_machines(
    salesforce_fake, monkeypatch, tmp_path
):
    """The org's clock 10 minutes ahead of this machine's: the earlier of the two bounds the
    watermark. At the org's, it lay past this machine's clock, and every later load took it
    for a value from the future and read the whole object again."""
    api = salesforce_fake.api
    api.clock_offset = timedelta(minutes=10)
    source = crm_source(salesforce_fake, monkeypatch)
    load(salesforce_fake, source, "account", tmp_path)
    api.upsert("Account", {"Id": ACCOUNT_IDS[4], "Name": "Hooli, 8 min in",
                           "SystemModstamp": stamp(api.now() + timedelta(minutes=8))})  # fmt: skip
    began = datetime.now(UTC)
    second = load(salesforce_fake, source, "account", tmp_path)
    assert began <= second.outcome.watermark <= datetime.now(UTC)
    third = load(salesforce_fake, source, "account", tmp_path)
    assert third.whole_because is None
    assert third.since == second.outcome.watermark - timedelta(minutes=5)


def test_without_a_date_from_the_org_the_watermark_stops_at_this_machines_clock(
    salesforce_fake, monkeypatch, tmp_path
):
    """An answer without a Date header (a proxy that drops it): the read's start by this
    machine's clock bounds the watermark, as before."""
    api = salesforce_fake.api
    api.dated = False
    source = crm_source(salesforce_fake, monkeypatch)
    load(salesforce_fake, source, "account", tmp_path)
    began = datetime.now(UTC)
    api.upsert("Account", {"Id": ACCOUNT_IDS[4], "Name": "Hooli, 20 min in",
                           "SystemModstamp": stamp(began + timedelta(minutes=20))})  # fmt: skip
    second = load(salesforce_fake, source, "account", tmp_path)
    assert began <= second.outcome.watermark <= datetime.now(UTC)


def test_records_whose_cursor_is_empty_are_read_by_every_load(
    salesforce_fake, monkeypatch, tmp_path
):
    """An incremental read asked for `cursor >= watermark` only, which no empty cursor passes:
    a record without a Customer_Since__c created after the first load was never read, and
    null_cursor's default (fail) never failed; `exclude` counted it on no load."""
    api = salesforce_fake.api
    for account in (ACCOUNT_IDS[1], ACCOUNT_IDS[3]):  # the two accounts without one
        api.upsert("Account", {"Id": account, "Customer_Since__c": "2020-01-01"})
    since = {"name": "account", "object": "Account", "cursor": "customer_since__c"}
    first = load(salesforce_fake, crm_source(salesforce_fake, monkeypatch, [since]), "account",
                 tmp_path)  # fmt: skip
    assert first.outcome.watermark == date(2022, 12, 31)
    api.upsert("Account", {"Id": "001TEST0000000006AA", "Name": "Umbrella",
                           "SystemModstamp": stamp(datetime.now(UTC))})  # fmt: skip

    with pytest.raises(NullCursorError, match=r"'account': 1 row\(s\) have a NULL customer_since"):
        load(salesforce_fake, crm_source(salesforce_fake, monkeypatch, [since]), "account",
             tmp_path)  # fmt: skip
    excluding = crm_source(salesforce_fake, monkeypatch, [{**since, "null_cursor": "exclude"}])
    for _ in range(2):
        loaded = load(salesforce_fake, excluding, "account", tmp_path)
        assert loaded.manifest.counters[NULL_CURSOR_EXCLUDED] == 1
    assert rows(tmp_path, "select count(*) from raw_crm.account") == [(5,)]


def test_a_deleted_record_arrives_flagged(salesforce_fake, monkeypatch, tmp_path):
    source = crm_source(salesforce_fake, monkeypatch)
    load(salesforce_fake, source, "opportunity", tmp_path)
    salesforce_fake.api.delete("Opportunity", "006TEST0000000003AA", at="2024-03-05T12:00:00.000Z")
    second = load(salesforce_fake, source, "opportunity", tmp_path)
    assert second.manifest.counters["deleted_records"] == 1
    assert rows(tmp_path, "select id from raw_crm.opportunity where _deleted") == [
        ("006TEST0000000003AA",)
    ]
    assert rows(tmp_path, "select count(*) from raw_crm.opportunity") == [(5,)]


def test_api_usage_from_the_limits_header_is_in_the_load_metadata(
    salesforce_fake, monkeypatch, tmp_path
):
    api = salesforce_fake.api
    api.api_used, api.api_limit = 4_321, 100_000
    loaded = load(salesforce_fake, crm_source(salesforce_fake, monkeypatch), "account", tmp_path)
    served = sum(1 for _, path in api.served if path.startswith("/services/data/"))
    assert loaded.manifest.counters["api_requests"] == served == 3  # describe, count, one page
    assert loaded.manifest.counters["api_usage_used"] == 4_321 + 3
    assert loaded.manifest.counters["api_usage_limit"] == 100_000


@pytest.mark.parametrize(
    ("settings", "used", "path"),
    [
        ({"api_floor": "10%"}, 13_600, "rest"),  # 1,400 left, 1,500 kept in reserve
        # 15 left after describe and count; a bulk job for the 3 rows to read, 1 per result
        # page, needs about 6 more, and 10 are kept in reserve (the same read through REST,
        # one page, goes ahead).
        ({"api_floor": 10, "bulk_threshold": 1}, 14_983, "bulk"),
    ],
    ids=["below-the-floor", "the-read-would-cross-it"],
)
def test_the_api_floor_stops_the_load_before_anything_is_written(
    salesforce_fake, monkeypatch, tmp_path, settings, used, path
):
    source = crm_source(salesforce_fake, monkeypatch, **settings)
    api = salesforce_fake.api
    api.api_limit = 15_000
    # A first load under healthy usage, so that there is a table and a watermark to keep.
    api.api_used = 0
    load(salesforce_fake, source, "account", tmp_path, batch_rows=1)
    before = rows(tmp_path, "select * from raw_crm.account order by id")
    watermarks = rows(tmp_path, "select * from _tributary.watermarks")
    landed = sorted((tmp_path / "landing" / "crm" / "account").iterdir())
    jobs = api.served_count("POST", "/jobs/query")

    api.upsert(
        "Account",
        {"Id": ACCOUNT_IDS[1], "Name": "Changed", "SystemModstamp": "2024-04-01T00:00:00.000Z"},
    )
    api.api_used = used
    with pytest.raises(ApiFloorReached) as stopped:
        load(salesforce_fake, source, "account", tmp_path, batch_rows=1)
    message = str(stopped.value)
    assert "object Account" in message and "daily API requests left" in message
    assert "stopped before writing anything" in message
    assert api.session_id not in message
    assert api.served_count("POST", "/jobs/query") == jobs  # no bulk job was started
    assert sorted((tmp_path / "landing" / "crm" / "account").iterdir()) == landed
    assert rows(tmp_path, "select * from raw_crm.account order by id") == before
    assert rows(tmp_path, "select * from _tributary.watermarks") == watermarks
    if path == "bulk":  # the same usage lets a 1-page REST read through
        api.api_used = used
        rest = crm_source(salesforce_fake, monkeypatch, api_floor=10)
        assert load(salesforce_fake, rest, "account", tmp_path).manifest.row_count >= 1


def test_a_probe_reads_each_objects_newest_change_in_one_request(
    salesforce_fake, monkeypatch
) -> None:
    """refresh: on_change on Salesforce: MAX(SystemModstamp) per object, deleted records
    included, one API request each, held against the API floor."""
    api = salesforce_fake.api
    source = crm_source(salesforce_fake, monkeypatch, api_floor="50%")
    reader = SalesforceSource(
        source.salesforce, source=source.name, session=salesforce_fake.session()
    )
    first = reader.probe(source.tables)
    assert first["account"] == "2024-03-01T10:20:00.000Z"  # the newest of the 5 accounts
    queries = api.served_count("GET", "/queryAll")
    assert reader.probe(source.tables) == first  # nothing changed, nothing moved
    assert api.served_count("GET", "/queryAll") == queries + 2  # one request per object

    api.delete("Opportunity", "006TEST0000000003AA", at="2024-03-05T12:00:00.000Z")
    moved = reader.probe(source.tables)
    assert moved["account"] == first["account"]
    assert moved["opportunity"] == "2024-03-05T12:00:00.000Z" != first["opportunity"]

    # Past the floor (as the org reports with its next answer): the probe stops there.
    api.api_used = int(api.api_limit * 0.6)
    with pytest.raises(ApiFloorReached, match="api_floor keeps 7,500 in reserve"):
        reader.probe(source.tables)


def test_a_wide_object_read_through_rest_goes_by_bulk_instead(
    salesforce_fake, monkeypatch, tmp_path
):
    """REST carries the SOQL in the URL, and Salesforce answers 414 URI Too Long past 16,384
    bytes: `fields: all` on an object of 500 custom fields failed whenever its rows (an
    incremental load's few changes) were below bulk_threshold. Bulk 2.0 posts the query."""
    api = salesforce_fake.api
    wide = [
        {"name": f"Regional_Sales_Attribute_{i:04d}__c", "label": f"Attribute {i}",
         "type": "string", "precision": 0, "scale": 0, "nillable": True,
         "compoundFieldName": None}
        for i in range(500)
    ]  # fmt: skip
    api.describes["account"]["fields"].extend(wide)
    api.upsert("Account", {"Id": ACCOUNT_IDS[0], "Regional_Sales_Attribute_0007__c": "north"})

    loaded = load(salesforce_fake, crm_source(salesforce_fake, monkeypatch), "account", tmp_path)

    assert api.served_count("POST", "/jobs/query") == 1
    assert loaded.manifest.counters["bulk_api_jobs"] == 1
    found = rows(tmp_path, "select id, regional_sales_attribute_0007__c from raw_crm.account "
                           "where regional_sales_attribute_0007__c is not null")  # fmt: skip
    assert found == [(ACCOUNT_IDS[0], "north")]


def user_object() -> tuple[dict, list[dict]]:
    """User as Salesforce describes it: no IsDeleted (users are deactivated, never put in the
    recycle bin; Profile, UserRole and other setup objects are the same)."""

    def field(name: str, kind: str) -> dict:
        return {"name": name, "label": name, "type": kind, "precision": 0, "scale": 0,
                "nillable": name != "Id", "compoundFieldName": None}  # fmt: skip

    describe = {
        "name": "User",
        "label": "User",
        "fields": [field("Id", "id"), field("Username", "string"), field("IsActive", "boolean"),
                   field("SystemModstamp", "datetime")],
    }  # fmt: skip
    records = [
        {"Id": f"005TEST000000000{i}AA", "Username": f"user{i}@example.com",
         "IsActive": i != 2, "SystemModstamp": f"2024-03-01T0{i}:00:00.000Z"}
        for i in range(1, 4)
    ]  # fmt: skip
    return describe, records


@pytest.mark.parametrize("mode", ["incremental", "full"])
@pytest.mark.parametrize("bulk_threshold", [100_000, 1], ids=["rest", "bulk"])
def test_an_object_without_is_deleted_loads_with_nothing_deleted(
    salesforce_fake, monkeypatch, tmp_path, mode, bulk_threshold
):
    """Before: `object User has no field 'isdeleted'`, in every mode: User, Profile, UserRole
    could not be loaded. Now `_deleted` is false on every row, and the reads go through
    query (queryAll differs from query only in the deleted records such an object has none of)."""
    api = salesforce_fake.api
    api.add_object(*user_object())
    crm = crm_source(salesforce_fake, monkeypatch, bulk_threshold=bulk_threshold)
    user = {"name": "user", "object": "User", "mode": mode}
    source = SourceConfig.model_validate(
        {**crm.model_dump(exclude_unset=True, by_alias=True), "tables": [user]}
    )
    first = load(salesforce_fake, source, "user", tmp_path)
    assert first.manifest.row_count == 3
    assert first.manifest.counters["deleted_records"] == 0
    query = "select id, username, isactive, _deleted from raw_crm.user order by id"
    assert rows(tmp_path, query) == [
        ("005TEST0000000001AA", "user1@example.com", True, False),
        ("005TEST0000000002AA", "user2@example.com", False, False),
        ("005TEST0000000003AA", "user3@example.com", True, False),
    ]
    api.upsert("User", {"Id": "005TEST0000000002AA", "IsActive": True,
                        "SystemModstamp": "2024-03-02T00:00:00.000Z"})  # fmt: skip
    second = load(salesforce_fake, source, "user", tmp_path)
    # incremental: the change, and user 3 at the watermark (inside the 5 minute lookback)
    assert second.manifest.row_count == (2 if mode == "incremental" else 3)
    counts = "select count(*), count(*) filter (isactive), count(*) filter (_deleted)"
    assert rows(tmp_path, f"{counts} from raw_crm.user") == [(3, 3, 0)]
    assert api.served_count("GET", "/queryAll") == 0
    jobs = [job.operation for job in api._jobs.values()]
    assert jobs == ([] if bulk_threshold > 3 else ["query", "query"])


def test_a_listed_field_the_org_no_longer_shows_is_named_with_the_way_out(
    salesforce_fake, monkeypatch, tmp_path
):
    """A field named in `fields:` that describe no longer lists (removed, or hidden by
    field-level security from the integration user). Before: `object Opportunity has no field
    'Amount'`, naming neither the source nor the table, with no way on."""
    api = salesforce_fake.api
    crm = crm_source(salesforce_fake, monkeypatch)
    deals = {"name": "deals", "object": "Opportunity", "fields": ["Name", "Amount", "StageName"]}
    source = SourceConfig.model_validate(
        {**crm.model_dump(exclude_unset=True, by_alias=True), "tables": [deals]}
    )
    assert load(salesforce_fake, source, "deals", tmp_path).manifest.row_count == 5
    described = api.describes["opportunity"]["fields"]
    api.describes["opportunity"]["fields"] = [f for f in described if f["name"] != "Amount"]
    with pytest.raises(SourceError) as raised:
        load(salesforce_fake, source, "deals", tmp_path)
    assert str(raised.value) == (
        "source 'crm', table 'deals': object Opportunity shows no field 'Amount' (named in "
        "`fields:`) to the user Tributary logs in as: the field was removed, or field-level "
        "security hides it from that user; grant the user read access to the field, or drop "
        "it from `fields:`"
    )


def test_a_cursor_the_org_no_longer_shows_is_named_with_the_way_out(
    salesforce_fake, monkeypatch, tmp_path
):
    """An object without SystemModstamp (a history object) was told to grant the user read
    access to it, which field-level security never hides: it has none."""
    api = salesforce_fake.api
    described = api.describes["account"]["fields"]
    api.describes["account"]["fields"] = [f for f in described if f["name"] != "SystemModstamp"]
    with pytest.raises(SourceError) as raised:
        load(salesforce_fake, crm_source(salesforce_fake, monkeypatch), "account", tmp_path)
    assert str(raised.value) == (
        "source 'crm', table 'account': object Account has no field 'systemmodstamp' (the "
        "table's `cursor:`, SystemModstamp by default): some objects have none, history "
        "objects such as AccountHistory (never updated: CreatedDate) among them; set `cursor:` "
        "to a datetime field the object has, or load it whole (`mode: full`)"
    )
    api.describes["account"]["fields"] = described
    tables = [{"name": "account", "object": "Account", "cursor": "LastModifiedDate"}]
    hidden = [f for f in described if f["name"] != "LastModifiedDate"]
    api.describes["account"]["fields"] = hidden
    with pytest.raises(SourceError) as raised:
        load(salesforce_fake, crm_source(salesforce_fake, monkeypatch, tables), "account", tmp_path)
    assert "shows no field 'lastmodifieddate' (the table's `cursor:`)" in str(raised.value)
    assert "field-level security hides it" in str(raised.value)


def test_a_value_not_of_its_fields_type_names_source_and_table(
    salesforce_fake, monkeypatch, tmp_path
):
    api = salesforce_fake.api
    api.upsert("Opportunity", {"Id": "006TEST0000000003AA", "CloseDate": "next week"})
    with pytest.raises(SourceError) as raised:
        load(salesforce_fake, crm_source(salesforce_fake, monkeypatch), "opportunity", tmp_path)
    assert str(raised.value).startswith(
        "source 'crm', table 'opportunity': object Opportunity, field CloseDate (date): "
    )


def test_the_preflight_names_a_hidden_field_as_the_load_does(salesforce_fake, monkeypatch):
    from tributary.preflight import check_salesforce_table

    api = salesforce_fake.api
    crm = crm_source(salesforce_fake, monkeypatch)
    deals = {"name": "deals", "object": "Opportunity", "fields": ["Name", "Amount"]}
    source = SourceConfig.model_validate(
        {**crm.model_dump(exclude_unset=True, by_alias=True), "tables": [deals]}
    )
    described = api.describes["opportunity"]["fields"]
    api.describes["opportunity"]["fields"] = [f for f in described if f["name"] != "Amount"]
    reader = SalesforceSource(
        source.salesforce, source=source.name, session=salesforce_fake.session()
    )
    check = check_salesforce_table(reader, "sources/crm.yaml", 0, source.tables[0])
    assert check.line() == (
        "FAIL  sources/crm.yaml: tables[0].fields[1]: object Opportunity shows no field "
        "'Amount' (named in `fields:`) to the user Tributary logs in as: the field was removed, "
        "or field-level security hides it from that user; grant the user read access to the "
        "field, or drop it from `fields:`"
    )
