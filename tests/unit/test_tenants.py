"""Tenants: the registry's rows, what changed between two readings, the settings a tenant's
load binds, and the configuration errors that name the tenant and the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.unit.test_config import load_error, source
from tributary.config.loader import load_project
from tributary.config.models import TableConfig, Tenant, TenantRegistry
from tributary.slices import slice_for
from tributary.sources import SqlSource
from tributary.tenants import (
    RegistryError,
    TenantError,
    last_reading,
    read_registry,
    reading,
    registry_changes,
    respelled_id,
    tenant_settings,
    tenant_to_export,
    unbound_settings,
)

REGISTRY = TenantRegistry(
    source="app",
    query="select company_id as id, alias, status = 1 as active from companies",
    settings_query="select company_id as tenant_id, name, value from company_settings",
)
ORDERS = TableConfig(
    name="orders",
    query="select * from orders where company_id = :tenant_id "
    "and created_at >= current_date - :days_back and region = :region",
    tenant_column="company_id",
    primary_key=["id"],
    settings={"days_back": 30},
)


def registry_answers(companies: list[dict], settings: list[dict]):
    def run_query(sql: str) -> list[dict]:
        return settings if REGISTRY.settings_query in sql else companies

    return run_query


def test_the_registry_rows_become_tenants_with_their_settings() -> None:
    tenants = read_registry(
        REGISTRY,
        registry_answers(
            [
                {"ID": 1, "ALIAS": "acme", "ACTIVE": 1},  # Oracle's upper-case names
                {"ID": 2, "ALIAS": "globex", "ACTIVE": 0},
            ],
            [
                {"TENANT_ID": 1, "NAME": "days_back", "VALUE": "60"},
                {"TENANT_ID": 1, "NAME": "region", "VALUE": None},  # no value: not set
            ],
        ),
    )
    assert tenants == [
        Tenant(id=1, alias="acme", active=True, settings={"days_back": "60"}),
        Tenant(id=2, alias="globex", active=False),
    ]


@pytest.mark.parametrize(
    ("companies", "message"),
    [
        ([{"id": 1, "name": "acme", "active": 1}], "expected the columns id, alias, active; "
         "missing alias (got id, name, active)"),
        ([{"id": 1, "alias": "a", "active": 1}, {"id": 1, "alias": "b", "active": 1}],
         "tenant '1' is listed twice"),
        # Before: both read, '007' as tenant 7, and partition 7 was always the first's. Now
        # each keeps its text, and a number column would still give both tenant 7's rows.
        ([{"id": "007", "alias": "bond", "active": 1}, {"id": "7", "alias": "seven", "active": 1}],
         "tenants '007' and '7' are one tenant to a number column (both are 7); expected each "
         "id once"),
        ([{"id": "007", "alias": "bond", "active": 1}, {"id": 7, "alias": "seven", "active": 1}],
         "tenants '007' and '7' are one tenant to a number column (both are 7)"),
        ([{"id": "acme corp", "alias": "a", "active": 1}], "the row of tenant 'acme corp': id: "),
        # Before: both read; MySQL's default collation and the tenant guard ignore case and
        # trailing spaces, so each tenant's partition held the other's rows too.
        ([{"id": "acme", "alias": "a", "active": 1}, {"id": "ACME", "alias": "b", "active": 1}],
         "tenants 'acme' and 'ACME' are one tenant to a source that ignores case and trailing "
         "spaces (MySQL's default collation) and to the check of a tenant's rows; expected "
         "each id once"),
        ([{"id": 5, "alias": "acme corp/eu", "active": 1}], "the row of tenant '5': alias: "),
        # A NULL or unreadable flag must not read as inactive: that silently stops the loads.
        ([{"id": 6, "alias": "acme", "active": None}], "the row of tenant '6': active: "),
        ([{"id": 7, "alias": "acme", "active": 2}], "the row of tenant '7': active: "),
    ],
)  # fmt: skip
def test_a_bad_registry_row_is_named(companies: list[dict], message: str) -> None:
    with pytest.raises(TenantError, match=r"^tenants\.yaml: registry\.") as raised:
        read_registry(REGISTRY, registry_answers(companies, []))
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("listed", "filed", "why"),
    [
        ("ACME", "acme", "to a source that ignores case and trailing spaces"),
        ("7", "007", "to a number column (both are 7)"),
        (7, "007", "to a number column (both are 7)"),
    ],
)
def test_settings_filed_under_an_id_alike_the_tenants_are_refused_naming_both(
    listed: object, filed: str, why: str
) -> None:
    """The registry's own join (MySQL's collation, a number column) matches them, but the
    settings were looked up by the exact id: ignored without a word, the table's default bound
    (30 days back, not 60), the rows between lost."""
    companies = [{"id": listed, "alias": "acme", "active": 1}]
    settings = [{"tenant_id": filed, "name": "days_back", "value": "60"}]
    with pytest.raises(TenantError) as raised:
        read_registry(REGISTRY, registry_answers(companies, settings))
    assert (
        f"tenants.yaml: registry.settings_query: settings are filed under tenant {filed!r}, "
        f"which registry.query lists as {str(listed)!r}: one tenant {why}"
    ) in str(raised.value)
    inactive = [{"id": listed, "alias": "acme", "active": 0}]
    skipped: list[str] = []
    assert read_registry(REGISTRY, registry_answers(inactive, settings), skipped) == []
    assert skipped[0].startswith(f"inactive tenant {str(listed)!r} (registry.settings_query: ")


def test_the_bad_row_of_an_inactive_tenant_is_skipped_and_said() -> None:
    """A company that does not need BI has no alias (or one with a space): its row failed
    the sensor, every active tenant's run and the schedules. An inactive tenant's row that
    breaks a rule is skipped, and said; an active tenant's still fails the read."""
    companies = [
        {"id": 1, "alias": "acme", "active": 1},
        {"id": 3, "alias": None, "active": 0},
        {"id": 4, "alias": "Acme Corp", "active": False},
        {"id": 5, "alias": "hooli", "active": "0"},
        {"id": 6, "alias": "initech", "active": 0},
    ]
    settings = [
        {"tenant_id": 5, "name": "bi.email", "value": "x@hooli.example"},
        {"tenant_id": 6, "name": "region", "value": "eu"},
        {"tenant_id": 6, "name": "region", "value": "us"},
    ]
    skipped: list[str] = []
    tenants = read_registry(REGISTRY, registry_answers(companies, settings), skipped)
    assert [(t.key, t.active) for t in tenants] == [("1", True)]
    assert [line.split(" (")[0] for line in skipped] == [
        "inactive tenant '3'", "inactive tenant '4'", "inactive tenant '5'",
        "inactive tenant '6'",
    ]  # fmt: skip
    assert skipped[0] == (
        "inactive tenant '3' (registry.query: the row of tenant '3': alias: Input should be a "
        "valid string)"
    )
    assert skipped[2].startswith(
        "inactive tenant '5' (registry.settings_query: the settings of tenant '5': 'bi.email' "
    )
    assert "two values of the setting 'region'" in skipped[3]
    # Skipped whether or not the caller collects what was skipped (a tenant's run).
    assert read_registry(REGISTRY, registry_answers(companies, settings)) == tenants

    for active in (1, None):  # active, or a flag that does not read: not skipped
        row = {"id": 3, "alias": None, "active": active}
        with pytest.raises(RegistryError, match=r"registry\.query: the row of tenant '3': "):
            read_registry(REGISTRY, registry_answers([row], []), [])


def test_a_setting_the_registry_gives_twice_with_two_values_is_named() -> None:
    """An admin table with two rows of one tenant's setting (an old value beside a new one):
    the last row the query happened to return was bound, without a word."""
    companies = [{"id": 1, "alias": "acme", "active": 1}]
    settings = [
        {"tenant_id": 1, "name": "region", "value": "eu"},
        {"tenant_id": 1, "name": "region", "value": "eu"},  # the same value twice is one
        {"tenant_id": 1, "name": "days_back", "value": "30"},
        {"tenant_id": 1, "name": "region", "value": "us"},
    ]
    with pytest.raises(TenantError) as raised:
        read_registry(REGISTRY, registry_answers(companies, settings))
    assert str(raised.value) == (
        "tenants.yaml: registry.settings_query: tenant '1' has two values of the setting "
        "'region' ('eu' and 'us'); expected one row per tenant and setting"
    )
    [tenant] = read_registry(REGISTRY, registry_answers(companies, settings[:3]))
    assert dict(tenant.settings) == {"region": "eu", "days_back": "30"}


def test_settings_find_their_tenant_whatever_number_type_holds_its_id() -> None:
    """Oracle's NUMBER without a precision arrives as a float: the settings of tenant 1.0 were
    filed under '1.0', found by no tenant, and the table's defaults were bound instead."""
    companies = [{"id": 1, "alias": "acme", "active": 1}, {"id": 2.0, "alias": "b", "active": 1}]
    settings = [
        {"tenant_id": 1.0, "name": "region", "value": "eu"},
        {"tenant_id": Decimal("2.00"), "name": "region", "value": "us"},
    ]
    tenants = read_registry(REGISTRY, registry_answers(companies, settings))
    assert [(t.key, dict(t.settings)) for t in tenants] == [
        ("1", {"region": "eu"}), ("2", {"region": "us"})
    ]  # fmt: skip


def test_a_text_id_stays_the_text_it_is() -> None:
    """A legacy ERP's client '001' (a text column) was read as tenant 1: its partition was
    '1', its query bound 1, and every load failed, its rows taken for another tenant's."""
    companies = [
        {"id": "001", "alias": "zentrale", "active": 1},
        {"id": "7f3e2a10-9c4b-4d1e-8a55-0c2d1e9b7a61", "alias": "acme", "active": 1},
        {"id": Decimal("12.00"), "alias": "b", "active": 1},  # Oracle's NUMBER: a number
        {"id": 13, "alias": "c", "active": 1},
    ]
    settings = [{"tenant_id": "001", "name": "region", "value": "eu"}]
    tenants = read_registry(REGISTRY, registry_answers(companies, settings))
    assert [(t.id, t.key) for t in tenants] == [
        ("001", "001"),
        ("7f3e2a10-9c4b-4d1e-8a55-0c2d1e9b7a61", "7f3e2a10-9c4b-4d1e-8a55-0c2d1e9b7a61"),
        (12, "12"),
        (13, "13"),
    ]
    assert dict(tenants[0].settings) == {"region": "eu"}
    assert slice_for(ORDERS, "001", tenants).low == "001"
    assert Tenant(id="001", alias="zentrale").key == "001"


def test_a_fixed_width_id_and_alias_are_read_without_their_padding() -> None:
    """A legacy ERP's client code in a char(5) column: PostgreSQL, Oracle and SQL Server
    return '007' as '007  ' (MariaDB strips the padding), and every such tenant was refused
    as an invalid id (and its char(n) alias as an invalid alias). The id is its text without
    trailing spaces, and its settings are found whether their column pads it or not."""
    companies = [
        {"id": "007  ", "alias": "bond      ", "active": 1},
        {"id": "12", "alias": "acme", "active": 0},
    ]
    settings = [
        {"tenant_id": "007", "name": "region", "value": "eu"},  # a varchar column
        {"tenant_id": "12   ", "name": "region", "value": "us"},  # a char(5) column
    ]
    tenants = read_registry(REGISTRY, registry_answers(companies, settings))
    assert [(t.id, t.key, t.alias, dict(t.settings)) for t in tenants] == [
        ("007", "007", "bond", {"region": "eu"}),
        ("12", "12", "acme", {"region": "us"}),
    ]
    assert slice_for(ORDERS, "007", tenants, source="app").low == "007"
    # One id padded and one not are one tenant, listed twice.
    twice = [{"id": "007  ", "alias": "a", "active": 1}, {"id": "007", "alias": "b", "active": 1}]
    with pytest.raises(TenantError, match=r"tenant '007' is listed twice"):
        read_registry(REGISTRY, registry_answers(twice, []))
    # Only spaces are padding: another trailing character is no id.
    with pytest.raises(TenantError, match=r"the row of tenant '007\\t': id: "):
        read_registry(REGISTRY, registry_answers([{"id": "007\t", "alias": "a", "active": 1}], []))


def test_settings_come_from_the_tenant_else_the_table_and_take_the_defaults_type() -> None:
    acme = Tenant(id=1, alias="acme", settings={"days_back": "60", "region": "eu"})
    assert tenant_settings(ORDERS, acme, source="app") == {"days_back": 60, "region": "eu"}
    globex = Tenant(id=2, alias="globex", settings={"region": "us"})
    assert tenant_settings(ORDERS, globex, source="app") == {"days_back": 30, "region": "us"}

    with pytest.raises(TenantError) as raised:
        tenant_settings(ORDERS, Tenant(id=3, alias="initech"), source="app")
    assert str(raised.value) == (
        "tenant 3 (initech): no setting 'region', which table app.orders's query binds "
        "(:region); give the tenant the setting, or the table a default under 'settings'"
    )
    wrong = Tenant(id=4, alias="umbrella", settings={"days_back": "two weeks", "region": "x"})
    with pytest.raises(TenantError, match=r"tenant 4 \(umbrella\): setting 'days_back' is "):
        tenant_settings(ORDERS, wrong, source="app")


def test_a_registry_setting_named_in_another_case_is_the_tables_setting() -> None:
    """An admin table's DAYS_BACK beside a query binding :days_back: the name was matched
    exactly, the table's default (30) bound instead of the tenant's 60, and every check
    passed. Names are compared ignoring case; two spellings of one name are one setting."""
    companies = [{"id": 1, "alias": "acme", "active": 1}]
    settings = [{"tenant_id": 1, "name": "DAYS_BACK", "value": "60"},
                {"tenant_id": 1, "name": "Region", "value": "eu"}]  # fmt: skip
    [acme] = read_registry(REGISTRY, registry_answers(companies, settings))
    assert tenant_settings(ORDERS, acme, source="app") == {"days_back": 60, "region": "eu"}

    twice = [*settings, {"tenant_id": 1, "name": "days_back", "value": "7"}]
    with pytest.raises(TenantError) as raised:
        read_registry(REGISTRY, registry_answers(companies, twice))
    assert str(raised.value) == (
        "tenants.yaml: registry.settings_query: tenant '1' has two values of the setting "
        "'DAYS_BACK' ('60' and '7', as 'days_back'; names compared ignoring case); expected "
        "one row per tenant and setting"
    )
    with pytest.raises(ValueError, match=r"'days_back' and 'DAYS_BACK' are one setting"):
        Tenant(id=1, alias="acme", settings={"days_back": 7, "DAYS_BACK": 60})


def test_a_setting_no_table_binds_fails_the_tenants_loads() -> None:
    """A setting no table's query binds (a misspelt name) was ignored without a word, the
    table's default bound in its place. The tenant's loads of tables that bind settings fail,
    naming the tenant, the setting and the names the tables bind."""
    typo = Tenant(id=1, alias="acme", settings={"day_back": "60", "region": "eu"})
    with pytest.raises(TenantError) as raised:
        tenant_settings(ORDERS, typo, source="app", bound=["days_back", "region", "since"])
    assert str(raised.value) == (
        "tenant 1 (acme): setting 'day_back' is bound by no table's query (the tables bind "
        ":days_back, :region, :since), so it would be ignored; correct its name, or leave it "
        "out (a registry: select only the names the tables bind in registry.settings_query)"
    )
    # Bound by another table of the project: this one does not need it.
    other = Tenant(id=1, alias="acme", settings={"since": "2026-01-01", "region": "eu"})
    assert tenant_settings(ORDERS, other, source="app", bound=["days_back", "region", "since"])
    assert unbound_settings(other, ["days_back", "region"]) is not None


def test_a_setting_name_that_is_no_identifier_names_the_settings_query() -> None:
    companies = [{"id": 1, "alias": "acme", "active": 1}]
    settings = [{"tenant_id": 1, "name": "bi.email", "value": "bi@acme.example"}]
    with pytest.raises(RegistryError) as raised:
        read_registry(REGISTRY, registry_answers(companies, settings))
    assert raised.value.key == "registry.settings_query"
    assert str(raised.value).startswith(
        "tenants.yaml: registry.settings_query: the settings of tenant '1': 'bi.email' is not "
        "a plain identifier"
    )


def test_a_fixed_lists_setting_no_table_binds_is_refused(config_dir: Path) -> None:
    write(config_dir, "tenants.yaml", {"tenants": [
        {"id": 1, "alias": "acme", "settings": {"DAYS_BACK": 60, "region": "eu"}},
        {"id": 2, "alias": "globex", "settings": {"days_bak": 7, "region": "us"}},
    ]})  # fmt: skip
    write_orders_source(config_dir)
    assert load_error(config_dir).endswith(
        "tenants.yaml: tenant 2 (globex): setting 'days_bak' is bound by no table's query (the "
        "tables bind :days_back, :region), so it would be ignored; correct its name, or leave it "
        "out (a registry: select only the names the tables bind in registry.settings_query)"
    )


def test_a_partition_whose_tenant_is_not_listed_names_where_tenants_come_from() -> None:
    acme = Tenant(id=1, alias="acme", settings={"days_back": 60, "region": "eu"})
    with pytest.raises(TenantError) as raised:
        slice_for(ORDERS, "2", [acme], source="app")
    assert str(raised.value) == "no tenant with id '2' in the tenants (tenants.yaml)"
    with pytest.raises(TenantError) as raised:
        tenant_to_export([acme], "2", REGISTRY)
    assert str(raised.value).startswith(
        "tenant '2' is no longer listed by the registry (tenants.yaml: registry.query, read "
        "from source 'app'): removed from it, or its row skipped"
    )
    assert slice_for(ORDERS, "1", [acme], registry=REGISTRY).low == 1


def test_a_tenants_settings_are_bound_as_literals_never_as_sql() -> None:
    hostile = Tenant(id=7, alias="seven", settings={"days_back": 5, "region": "x' or '1'='1"})
    where = slice_for(ORDERS, "7", [hostile], source="app")
    sql = SqlSource(make_url("mysql://etl@app/app")).build_query(ORDERS, where=where)
    assert " ".join(sql.split()) == (
        "SELECT * FROM (select * from orders where company_id = 7 and created_at >= "
        "current_date - 5 and region = 'x'' or ''1''=''1') AS src"
    )


def test_registry_changes_between_two_readings() -> None:
    tenants = [
        Tenant(id=1, alias="a"),
        Tenant(id=2, alias="b", active=False),
        Tenant(id=3, alias="c2"),
        Tenant(id=5, alias="e"),
        Tenant(id=6, alias="f"),
    ]
    previous = {
        "1": {"alias": "a", "status": "active"},
        "2": {"alias": "b", "status": "active"},
        "3": {"alias": "c", "status": "inactive"},
        "6": {"alias": "f", "status": "removed"},
    }
    partitions = ["1", "2", "3", "4", "6"]
    changes = registry_changes(tenants, partitions=partitions, previous=previous)
    assert (
        changes.added,
        changes.activated,
        changes.deactivated,
        changes.removed,
        changes.renamed,
        changes.relisted,
    ) == (["5"], ["3", "6"], ["2"], ["4"], ["3 (c -> c2)"], ["6"])
    assert changes.to_load == ["3", "5", "6"]
    # The partition the registry no longer lists stays in the reading, removed.
    assert reading(tenants, partitions, previous)["4"] == {"alias": None, "status": "removed"}
    # A first reading (no cursor) loads the new tenants only, not the known partitions.
    assert registry_changes(tenants, ["1", "3", "6"], {}).to_load == ["5"]


@pytest.mark.parametrize(
    ("listed", "known", "respelled"),
    [
        (["acme", "globex"], ["ACME", "globex"], ("acme", "ACME")),
        (["007", "8"], ["7", "8"], ("007", "7")),
        # A partition the sensor added before it refused them: still a respelling.
        (["acme", "initech"], ["ACME", "acme"], ("acme", "ACME")),
        # Alike ids both listed are read_registry's to refuse; a partition listed is no
        # respelling, nor is an id alike none removed.
        (["ACME", "globex"], ["ACME", "globex"], None),
        (["acme2", "globex"], ["ACME", "globex"], None),
        (["70", "8"], ["7", "8"], None),
    ],
)
@pytest.mark.parametrize("registry", [True, False], ids=["registry", "fixed-list"])
def test_an_id_alike_a_removed_partitions_is_a_respelling(
    listed, known, respelled, registry
) -> None:
    """An id respelled ('ACME' as 'acme', 7 as '007'), in a registry or tenants.yaml's fixed
    list, was a new tenant, whose loads read the old one's rows again: each row twice, under
    both ids. A fixed list's old id has no partition left to delete: only its rows."""
    tenants = [Tenant(id=key, alias=f"t{n}") for n, key in enumerate(listed)]
    problem = respelled_id([t.key for t in tenants], tenants, known, registry=registry)
    if respelled is None:
        assert problem is None
    else:
        new, old = respelled
        assert problem is not None
        assert problem.startswith(f"tenant {new!r} is tenant {old!r} respelled: they are one ")
        assert f"spell the id as before ({old!r})" in problem
        lister = "the registry" if registry else "tenants.yaml"
        assert f", and {lister} no longer lists {old!r}, whose " in problem
        assert ("tenants partition" in problem) is registry


def test_a_removed_tenant_loaded_by_hand_is_no_respelling_of_itself() -> None:
    """A partition the registry no longer lists, loaded by hand: its own id is among the
    partitions, and was taken for a respelling of itself ('2' is '2' respelled), hiding the
    message that the registry no longer lists it."""
    tenants = [Tenant(id=1, alias="a")]
    assert respelled_id(["2"], tenants, ["1", "2"], registry=True) is None
    # Not listed: not a new tenant.
    assert respelled_id(["02"], tenants, ["1", "2"], registry=True) is None


def test_a_cursor_of_an_earlier_version_reads_as_statuses_of_unknown_aliases() -> None:
    """The sensor's cursor held whether each tenant was active; read, it is the same
    statuses, and no alias (none is taken for a rename, and the next tick records them)."""
    tenants = [Tenant(id=1, alias="a"), Tenant(id=2, alias="b")]
    previous = last_reading({"1": True, "2": False})
    assert previous == {
        "1": {"alias": None, "status": "active"},
        "2": {"alias": None, "status": "inactive"},
    }
    changes = registry_changes(tenants, ["1", "2"], previous)
    assert (changes.activated, changes.renamed) == (["2"], [])
    now = reading(tenants, ["1", "2"], previous)
    assert last_reading(now) == now != previous


def write(config_dir: Path, relative: str, data: dict) -> None:
    (config_dir / relative).write_text(yaml.safe_dump(data))


def write_orders_source(config_dir: Path) -> None:
    """sources/shop.yaml with ORDERS, its query scoped by tenant."""
    fields = ORDERS.model_dump(include={"query", "tenant_column", "primary_key"})
    write(config_dir, "sources/shop.yaml", source(tables=[{"name": "orders", **fields}]))


def test_configuration_errors_name_the_file_the_key_and_the_tenant(config_dir: Path) -> None:
    registry = {"source": "salesforce", "query": "select 1"}
    write(config_dir, "tenants.yaml", {"registry": registry})
    assert load_error(config_dir).endswith(
        "tenants.yaml: registry.source: expected a configured SQL source (app, erp, ops), "
        "got 'salesforce'"
    )

    write(config_dir, "tenants.yaml", {"registry": registry, "tenants": [{"id": 1, "alias": "a"}]})
    assert "give either 'tenants' (a fixed list) or 'registry'" in load_error(config_dir)

    write(config_dir, "tenants.yaml", {"tenants": [{"id": 1, "alias": "acme"}]})
    write_orders_source(config_dir)
    assert load_error(config_dir).endswith(
        "tenants.yaml: tenant 1 (acme): no setting 'days_back', which table shop.orders's "
        "query binds (:days_back); give the tenant the setting, or the table a default under "
        "'settings'"
    )


@pytest.mark.parametrize("key", ["query", "settings_query"])
def test_a_sqlserver_registry_query_ordered_without_top_is_refused(
    config_dir: Path, key: str
) -> None:
    # Read as `select * from (<query>) registry` at every sensor tick, SQL Server refused an
    # admin query pasted with its ORDER BY (error 1033); the configuration loaded.
    registry = {
        "source": "erp",  # sqlserver in the shipped configuration
        "query": "select company_id as id, alias, active from dbo.companies",
        "settings_query": "select company_id as tenant_id, name, value from dbo.settings",
    }
    registry[key] += " ORDER BY company_id DESC"
    write(config_dir, "tenants.yaml", {"registry": registry})
    message = load_error(config_dir)
    assert (
        f"tenants.yaml: registry.{key}: SQL Server refuses 'ORDER BY company_id DESC' in a "
        "subquery unless TOP, OFFSET or FOR XML goes with it"
    ) in message
    assert "remove the ORDER BY" in message

    registry["source"] = "app"  # mysql: read as a subquery, ordered or not
    write(config_dir, "tenants.yaml", {"registry": registry})
    assert load_project(config_dir).tenants.registry.source == "app"


def test_a_mysql_registry_query_naming_a_column_twice_is_refused(config_dir: Path) -> None:
    # Read as `select * from (<query>) registry`, MariaDB refused it at every sensor tick
    # (error 1060, Duplicate column name); the configuration loaded.
    registry = {
        "source": "app",  # mysql in the shipped configuration
        "query": "select c.company_id as id, c.alias, s.active, s.company_id as ID "
        "from companies c join company_status s on s.company_id = c.company_id",
    }
    write(config_dir, "tenants.yaml", {"registry": registry})
    assert (
        "tenants.yaml: registry.query: MySQL and MariaDB refuse a subquery with two columns "
        "named 'id' and 'ID'"
    ) in load_error(config_dir)


def test_tenant_ids_alike_but_for_case_are_refused(config_dir: Path) -> None:
    write(config_dir, "tenants.yaml", {"tenants": [
        {"id": "acme", "alias": "acme"}, {"id": "ACME", "alias": "acme-us"},
    ]})  # fmt: skip
    assert load_error(config_dir).endswith(
        "tenants.yaml: tenants: tenants 'acme' and 'ACME' are one tenant to a source that "
        "ignores case and trailing spaces (MySQL's default collation) and to the check of a "
        "tenant's rows; expected each id once"
    )


def test_a_quoted_number_id_in_tenants_yaml_stays_text(config_dir: Path) -> None:
    write(config_dir, "tenants.yaml", {"tenants": [
        {"id": "001", "alias": "zentrale"}, {"id": 2, "alias": "filiale"},
    ]})  # fmt: skip
    tenants = load_project(config_dir).tenants.tenants
    assert [(t.id, t.key) for t in tenants] == [("001", "001"), (2, "2")]

    write(config_dir, "tenants.yaml", {"tenants": [
        {"id": "001", "alias": "zentrale"}, {"id": 1, "alias": "filiale"},
    ]})  # fmt: skip
    assert load_error(config_dir).endswith(
        "tenants.yaml: tenants: tenants '001' and '1' are one tenant to a number column (both "
        "are 1); expected each id once"
    )


def test_tenants_yaml_reads_an_id_and_alias_without_trailing_spaces(config_dir: Path) -> None:
    """tenants.yaml's ids are read as a registry's are (one Tenant model): the text without
    trailing spaces."""
    write(config_dir, "tenants.yaml", {"tenants": [
        {"id": "001  ", "alias": "zentrale  "}, {"id": 2, "alias": "filiale"},
    ]})  # fmt: skip
    tenants = load_project(config_dir).tenants.tenants
    assert [(t.id, t.key, t.alias) for t in tenants] == [
        ("001", "001", "zentrale"),
        (2, "2", "filiale"),
    ]

    write(config_dir, "tenants.yaml", {"tenants": [
        {"id": "001  ", "alias": "zentrale"}, {"id": "001", "alias": "filiale"},
    ]})  # fmt: skip
    assert load_error(config_dir).endswith(
        "tenants.yaml: tenants: tenant ids must be unique; listed twice: 001"
    )


def test_two_tenants_sharing_an_alias_are_refused(config_dir: Path) -> None:
    """An alias names a tenant's export folder (tenant=<alias>) and its bucket (tenant_url):
    two tenants of one alias (a company that signed up again) published into each other's,
    one tenant's rows where the other's BI reads."""
    write(config_dir, "tenants.yaml", {"tenants": [
        {"id": 1, "alias": "acme", "active": False}, {"id": 7, "alias": "ACME"},
    ]})  # fmt: skip
    assert load_error(config_dir).endswith(
        "tenants.yaml: tenants: tenants 1 and 7 share the alias 'acme' ('ACME'), which names "
        "their export folders and buckets; expected each alias once"
    )
    # A registry's rows: the two tenants' exports fail, the others' (and every load) go on.
    companies = [{"id": 1, "alias": "acme", "active": 0}, {"id": 7, "alias": "acme", "active": 1},
                 {"id": 8, "alias": "globex", "active": 1}]  # fmt: skip
    tenants = read_registry(REGISTRY, registry_answers(companies, []))
    assert tenant_to_export(tenants, "8").alias == "globex"
    with pytest.raises(TenantError) as raised:
        tenant_to_export(tenants, "7")
    assert str(raised.value) == (
        "tenants 1 and 7 share the alias 'acme', which names their export folders and buckets; "
        "expected each alias once; nothing was published"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"per_tenant": True, "tenant_url": "gs://bi-exports/tributary"},
         "'tenant_url' is a template naming each tenant's store with {alias} or {tenant_id}"),
        ({"per_tenant": True, "tenant_url": "gs://bi-{alias}/{region}"},
         "and no other placeholder"),
        ({"tenant_url": "gs://bi-{alias}/tributary"}, "apply to per_tenant exports"),
        ({"per_tenant": True, "partitioning": {"by": "date", "start_date": "2026-01-01",
                                               "column": "order_date"}},
         "a per_tenant export is partitioned by tenant: partitioning by date is not supported"),
    ],
)  # fmt: skip
def test_per_tenant_export_errors_name_file_and_problem(
    config_dir: Path, change: dict, message: str
) -> None:
    path = config_dir / "exports" / "fct_sales_daily.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data))
    error = load_error(config_dir)
    assert "exports/fct_sales_daily.yaml" in error and message in error


def test_a_tenant_scoped_table_without_tenants_is_refused(config_dir: Path) -> None:
    """A table scoped by tenant with no tenants (tenants.yaml missing, or named tenant.yaml)
    had no partitions: no schedule ever loaded it and nothing said so."""
    (config_dir / "tenants.yaml").unlink(missing_ok=True)
    write_orders_source(config_dir)
    assert load_error(config_dir).endswith(
        "sources/shop.yaml: tables[0].tenant_column: table orders is scoped by tenant, and "
        "there are no tenants: expected tenants.yaml listing them (tenants:) or naming their "
        "registry (registry:)"
    )


def test_a_registry_interval_under_the_daemons_30_seconds_is_refused() -> None:
    """`interval: 10s` was raised to 30 s without a word (refresh_interval's is refused)."""
    fields = REGISTRY.model_dump(exclude={"interval"})
    with pytest.raises(ValueError, match=r"interval\n.*expected 30s or more"):
        TenantRegistry.model_validate({**fields, "interval": "10s"})
    assert TenantRegistry.model_validate({**fields, "interval": "30s"}).interval.seconds == 30
