"""teams.yaml: its validation, and the Redshift form of the grants (groups), which no server
here can run: the statements are asserted as Redshift is to receive them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from tributary.config.loader import ConfigError, load_project
from tributary.config.models import TeamsConfig
from tributary.defs import build_definitions
from tributary.warehouse.access import RedshiftAccess, RoleConflict, desired_access


def write_teams(config_dir: Path, data: dict) -> None:
    (config_dir / "teams.yaml").write_text(yaml.safe_dump(data))


def load_error(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        build_definitions(load_project(config_dir))
    return str(raised.value)


def test_shipped_teams_load(config_dir: Path) -> None:
    teams = load_project(config_dir).teams
    assert [team.name for team in teams.teams] == ["analytics", "finance", "data_engineering"]
    assert teams.role_name(teams.teams[1]) == "team_finance"


@pytest.mark.parametrize(
    ("teams", "expected"),
    [
        (
            [{"name": "a", "schemas": ["marts", "mart"]}],
            "teams.yaml: teams[0].schemas[1]: no schema named 'mart' in this project; "
            "expected one of marts, raw_app, raw_erp, raw_ops, raw_salesforce, staging",
        ),
        (
            [{"name": "a", "exports": ["fct_sales"]}],
            "teams.yaml: teams[0].exports[0]: no export named 'fct_sales' in this project; "
            "expected one of dim_customer, fct_sales_by_status, fct_sales_daily",
        ),
        ([{"name": "a"}, {"name": "a"}], "teams.yaml: teams: listed more than once: a"),
        (
            [{"name": "a", "members": ["bob", "bob"]}],
            "teams.yaml: teams[0].members: listed more than once: bob",
        ),
        (
            [{"name": "a", "members": ["bob; drop role x"]}],
            "teams.yaml: teams[0].members[0]: 'bob; drop role x' is not a plain identifier",
        ),
        (
            [{"name": "x" * 60}],
            f"teams.yaml: teams[0].name: the role name 'team_{'x' * 60}' is 65 bytes long, and "
            "PostgreSQL keeps 63 bytes of a name (cutting the rest, so that names differing only "
            "after it would be one); expected a team name of at most 58 bytes, or a shorter "
            "role_prefix",
        ),
        ([{"name": "a", "readers": ["bob"]}], "teams.yaml: teams[0].readers: unknown key"),
    ],
)
def test_bad_teams_are_rejected(config_dir: Path, teams: list, expected: str) -> None:
    write_teams(config_dir, {"teams": teams})
    assert expected in load_error(config_dir)


class FakeRedshift:
    """Answers the catalog queries RedshiftAccess makes, from a dict of group state, as
    database `prod`; `recorded` is `_tributary.team_groups`: (database, group) rows."""

    kind = "redshift"

    def __init__(
        self,
        groups: dict[str, dict],
        users: set[str],
        tables: dict[str, list],
        recorded: list[tuple[str, str]] | None = None,
    ):
        self.groups, self.users, self.tables = groups, users, tables
        self.recorded = [("prod", g) for g in groups] if recorded is None else recorded

    def query(self, sql: str, params=()) -> list[tuple]:
        if sql == "select current_database()":
            return [("prod",)]
        if sql == "select current_user":
            return [("tributary",)]
        if "from pg_group where" in sql:
            return [(g,) for g in self.groups if g.startswith(params[1])]
        if "from _tributary.team_groups" in sql:
            return [(g, db) for db, g in self.recorded if g.startswith(params[1])]
        if "from pg_user" in sql and "pg_group" not in sql:
            return [(u,) for u in sorted(self.users)]
        if "information_schema.schemata" in sql:
            return [(s,) for s in self.tables]
        if "information_schema.tables" in sql:
            return [(params[0], t) for t in self.tables.get(params[0], [])]
        state = self.groups[params[0]]
        for marker, key in (
            ("pg_group g, pg_user u", "members"),
            ("svv_schema_privileges", "usage"),
            ("svv_relation_privileges", "select"),
            ("svv_default_privileges", "defaults"),
        ):
            if marker in sql:
                return [row if isinstance(row, tuple) else (row,) for row in state.get(key, [])]
        raise AssertionError(sql)


def test_redshift_groups_converge_on_the_file() -> None:
    warehouse = FakeRedshift(
        groups={
            "team_analytics": {
                "members": ["ana", "old_hand"],
                "usage": ["marts", "raw_erp"],
                "select": [("marts", "dim_customer"), ("raw_erp", "customers")],
                "defaults": ["marts", "raw_erp"],
            },
            "team_gone": {"members": ["zed"], "usage": ["marts"], "defaults": ["marts"]},
        },
        users={"ana", "old_hand", "fin", "zed"},
        tables={"marts": ["dim_customer", "fct_sales"], "raw_erp": ["customers"]},
    )
    teams = TeamsConfig.model_validate(
        {
            "teams": [
                {"name": "analytics", "members": ["ana"], "schemas": ["marts"]},
                {"name": "finance", "members": ["fin", "nobody"], "exports": ["daily"]},
            ]
        }
    )
    dialect = RedshiftAccess(warehouse)
    plan = dialect.plan("team_", desired_access(teams, {"daily": [("marts", "fct_sales")]}))
    assert plan.statements == [
        'alter group "team_analytics" drop user "old_hand"',
        'alter default privileges in schema "raw_erp" revoke select on tables '
        'from group "team_analytics"',
        'revoke select on "raw_erp"."customers" from group "team_analytics"',
        'revoke usage on schema "raw_erp" from group "team_analytics"',
        'grant select on "marts"."fct_sales" to group "team_analytics"',
        'create group "team_finance"',
        "insert into _tributary.team_groups (database_name, group_name) "
        "values ('prod', 'team_finance')",
        'grant usage on schema "marts" to group "team_finance"',
        'grant select on "marts"."fct_sales" to group "team_finance"',
        'alter group "team_finance" add user "fin"',
        'alter group "team_gone" drop user "zed"',
        'alter default privileges in schema "marts" revoke select on tables from group "team_gone"',
        'revoke usage on schema "marts" from group "team_gone"',
        "delete from _tributary.team_groups where group_name = 'team_gone'",
        'drop group "team_gone"',
    ]
    assert plan.missing_users == ["nobody"]
    assert plan.dropped_roles == ["team_gone"]


def test_redshift_groups_of_another_database_are_refused_and_left_alone() -> None:
    """Groups are the cluster's, not the database's, and carry no comment: every group with
    the prefix was taken for this database's, so a staging database of the same cluster
    changed production's team members and dropped its teams. Only the groups this database
    recorded creating are its own now."""
    warehouse = FakeRedshift(
        groups={
            "team_analytics": {"members": ["ana"], "usage": ["marts"]},
            "team_staging_only": {"members": ["sam"], "usage": ["marts"]},
        },
        users={"ana", "bob", "sam"},
        tables={"marts": ["dim_customer"]},
        recorded=[("staging", "team_analytics"), ("staging", "team_staging_only")],
    )
    dialect = RedshiftAccess(warehouse)
    teams = TeamsConfig.model_validate(
        {"teams": [{"name": "analytics", "members": ["bob"], "schemas": ["marts"]}]}
    )
    with pytest.raises(RoleConflict) as raised:
        dialect.plan("team_", desired_access(teams, {}))
    assert str(raised.value) == (
        "teams.yaml: nothing applied to database 'prod': team 'analytics': the role "
        "\"team_analytics\" is managed by the teams.yaml of database 'staging' (groups are "
        "shared by every database of the Redshift cluster); give each database its own "
        "role_prefix in teams.yaml"
    )
    # Another database's group that the file does not list is not dropped.
    assert dialect.plan("team_", desired_access(TeamsConfig(), {})).statements == []


def test_a_redshift_group_nobody_recorded_is_refused_with_the_way_to_adopt_it() -> None:
    """A group named like a team that no database recorded creating (made by hand, or by a
    Tributary that recorded nothing) is not taken over silently; the error says what to do."""
    warehouse = FakeRedshift(
        groups={"team_finance": {"members": ["dba"]}},
        users={"dba", "fin"},
        tables={},
        recorded=[],
    )
    teams = TeamsConfig.model_validate({"teams": [{"name": "finance", "members": ["fin"]}]})
    with pytest.raises(RoleConflict) as raised:
        RedshiftAccess(warehouse).plan("team_", desired_access(teams, {}))
    assert str(raised.value) == (
        "teams.yaml: nothing applied to database 'prod': team 'finance': the role "
        '"team_finance" exists, but this database\'s teams.yaml did not create it (groups are '
        "shared by every database of the Redshift cluster). If another database's teams.yaml "
        "manages it, give each database its own role_prefix in teams.yaml; otherwise rename "
        "the team, change role_prefix, or drop the role; or, to let this teams.yaml manage it "
        "(revoking what the file does not give), run in this database: insert into "
        "_tributary.team_groups (database_name, group_name) values ('prod', 'team_finance')"
    )


def test_access_is_applied_again_after_the_export_models_are_rebuilt(demo_project) -> None:
    """dbt rebuilds fct_sales as a new table without finance's table-level grant: the access
    asset follows it."""
    defs = build_definitions(demo_project)
    access = dg.AssetKey(["tributary", "warehouse_access"])
    with dg.instance_for_test() as instance:

        def tick(cursor=None):
            return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)

        first = tick()
        assert first.get_num_requested(access) == 0  # its models were never built
        instance.report_runless_asset_event(dg.AssetMaterialization(access))
        second = tick(first.cursor)
        assert second.get_num_requested(access) == 0  # applied, nothing changed since
        instance.report_runless_asset_event(dg.AssetMaterialization(["marts", "fct_sales"]))
        third = tick(second.cursor)
    assert third.get_num_requested(access) == 1
