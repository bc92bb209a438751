"""teams.yaml on the real PostgreSQL server: logins of one team read what it may and are denied
the rest, lose access when the file says so, and applying twice changes nothing.

Roles are cluster-wide in PostgreSQL and other tests run at the same time: every role here has
a name unique to the test, and is dropped afterwards."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest
import yaml
from psycopg import errors

from tributary.config.loader import load_project
from tributary.config.models import TeamsConfig
from tributary.defs import build_definitions
from tributary.defs.access import ACCESS_KEY
from tributary.warehouse.access import (
    PostgresAccess,
    RedshiftAccess,
    RoleConflict,
    apply_access,
    desired_access,
)
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

from ..conftest import CONFIG_DIR
from .conftest import POSTGRES

EXPORTS = {"fct_sales_daily": [("marts", "fct_sales")]}


@pytest.fixture
def names(role_prefix) -> str:
    return role_prefix


def create_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        for statement in (
            "create schema marts",
            "create schema raw_erp",
            "create table marts.dim_customer as select 1 as customer_id",
            "create table marts.fct_sales as select 1 as order_id, 10.5 as amount",
            "create table raw_erp.customers as select 1 as customer_id, 'x' as name",
        ):
            con.execute(statement)


@pytest.fixture
def warehouse(postgres, names) -> Iterator[PostgresWarehouse]:
    create_tables(postgres)
    with psycopg.connect(postgres, autocommit=True) as con:
        for user in ("alice", "bob", "carol"):
            con.execute(f'create role "{names}{user}" login')
    with PostgresWarehouse(postgres) as wh:
        yield wh


@pytest.fixture
def other_database(names) -> Iterator[str]:
    """A second database of the same server (another Tributary warehouse: staging beside
    production), with the same tables. Dropped before the test's roles are (a role that holds
    privileges in a database cannot be dropped)."""
    name = f"tributary_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        create_tables(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"drop database {name} with (force)")


def teams(names: str, *teams: dict, prefix: str = "team_") -> TeamsConfig:
    for team in teams:
        team["members"] = [f"{names}{member}" for member in team.get("members", [])]
    return TeamsConfig(role_prefix=f"{names}{prefix}", teams=list(teams))


def database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def can_read(postgres: str, user: str, relation: str) -> bool:
    """A fresh login of `user` selects from `relation`: True, or False when denied."""
    with psycopg.connect(postgres, user=user, autocommit=True) as con:
        try:
            con.execute(f"select * from {relation}").fetchall()
            return True
        except errors.InsufficientPrivilege:
            return False


def test_grants_restrict_and_follow_the_file(postgres, names, warehouse) -> None:
    alice, bob, carol = (f"{names}{user}" for user in ("alice", "bob", "carol"))
    config = teams(
        names,
        {"name": "analysts", "members": ["alice"], "schemas": ["marts"]},
        {"name": "engineers", "members": ["bob"], "schemas": ["raw_erp"]},
        {"name": "finance", "members": ["carol", "dave"], "exports": ["fct_sales_daily"]},
    )
    plan = apply_access(warehouse, config, EXPORTS)
    assert plan.missing_users == [f"{names}dave"]  # listed, but no such user: left out

    assert can_read(postgres, alice, "marts.dim_customer")
    assert not can_read(postgres, alice, "raw_erp.customers")  # team B's schema
    assert can_read(postgres, bob, "raw_erp.customers")
    assert not can_read(postgres, bob, "marts.fct_sales")
    assert can_read(postgres, carol, "marts.fct_sales")  # its export's model
    assert not can_read(postgres, carol, "marts.dim_customer")  # and nothing else there

    # A table created later in a granted schema is readable through default privileges.
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute("create table marts.new_mart as select 1 as x")
    assert can_read(postgres, alice, "marts.new_mart")

    # Applying the same file again changes nothing (the new table's grant came with it).
    dialect = PostgresAccess(warehouse)
    assert dialect.plan(config.role_prefix, desired_access(config, EXPORTS)).statements == []

    # A grant made by hand that the file does not give is revoked on the next apply.
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(f'grant usage on schema raw_erp to "{names}team_analysts"')
        con.execute(f'grant select on raw_erp.customers to "{names}team_analysts"')
    assert can_read(postgres, alice, "raw_erp.customers")
    plan = apply_access(warehouse, config, EXPORTS)
    assert plan.statements == [
        f'revoke select on "raw_erp"."customers" from "{names}team_analysts"',
        f'revoke usage on schema "raw_erp" from "{names}team_analysts"',
    ]
    assert not can_read(postgres, alice, "raw_erp.customers")

    # Alice leaves the analysts; the engineers team is removed from the file.
    config = teams(
        names,
        {"name": "analysts", "members": [], "schemas": ["marts"]},
        {"name": "finance", "members": ["carol"], "exports": ["fct_sales_daily"]},
    )
    plan = apply_access(warehouse, config, EXPORTS)
    assert plan.dropped_roles == [f"{names}team_engineers"]
    assert not can_read(postgres, alice, "marts.dim_customer")
    assert not can_read(postgres, bob, "raw_erp.customers")
    assert can_read(postgres, carol, "marts.fct_sales")
    with psycopg.connect(postgres) as con:
        roles = con.execute(
            "select rolname from pg_roles where left(rolname, %s) = %s order by 1",
            (len(names) + 5, f"{names}team_"),
        ).fetchall()
    assert roles == [(f"{names}team_analysts",), (f"{names}team_finance",)]


def test_the_access_asset_applies_teams_yaml(postgres, names, warehouse, state_dir, tmp_path):
    config_dir = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, config_dir)
    platform = yaml.safe_load((config_dir / "platform.yaml").read_text())
    platform["warehouse"] = {"target": "postgres", "connection": {"url": postgres}}
    (config_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    (config_dir / "teams.yaml").write_text(
        yaml.safe_dump(
            {
                "role_prefix": f"{names}team_",
                "teams": [
                    {"name": "analytics", "members": [f"{names}alice"], "schemas": ["marts"]},
                    {"name": "finance", "members": [f"{names}carol"],
                     "exports": ["fct_sales_daily"]},
                ],
            }
        )
    )  # fmt: skip
    defs = build_definitions(load_project(config_dir))
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[ACCESS_KEY]
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["applied"].value is True
    assert metadata["teams"].value["finance"]["relations"] == ["marts.fct_sales"]
    assert can_read(postgres, f"{names}alice", "marts.dim_customer")
    assert not can_read(postgres, f"{names}alice", "raw_erp.customers")
    assert can_read(postgres, f"{names}carol", "marts.fct_sales")

    again = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[ACCESS_KEY]
    )
    [event] = again.get_asset_materialization_events()
    assert event.materialization.metadata["statements"].value == 0


class RedshiftStatementsOnPostgres(RedshiftAccess):
    """The Redshift form (groups, GRANT ... TO GROUP, ALTER GROUP ... ADD USER), executed by
    the real PostgreSQL server, which accepts that syntax; pg_group and pg_user are read as on
    Redshift. Only what a group holds is read from PostgreSQL's catalog (Redshift's SVV_*
    privilege views do not exist here)."""

    def held(self, role: str):
        held = PostgresAccess(self.warehouse).held(role)
        held.members = self.held_members(role)  # from pg_group, as on Redshift
        return held


def test_the_redshift_form_restricts_the_same_way(postgres, names, warehouse) -> None:
    alice, bob = f"{names}alice", f"{names}bob"
    dialect = RedshiftStatementsOnPostgres(warehouse)
    config = teams(
        names,
        {"name": "analysts", "members": ["alice"], "schemas": ["marts"]},
        {"name": "engineers", "members": ["bob"], "schemas": ["raw_erp"]},
    )
    plan = dialect.plan(config.role_prefix, desired_access(config, EXPORTS))
    assert f'create group "{names}team_analysts"' in plan.statements
    assert f'alter group "{names}team_analysts" add user "{alice}"' in plan.statements
    dialect.apply(plan)
    assert can_read(postgres, alice, "marts.dim_customer")
    assert not can_read(postgres, alice, "raw_erp.customers")
    assert can_read(postgres, bob, "raw_erp.customers")
    assert dialect.plan(config.role_prefix, desired_access(config, EXPORTS)).statements == []

    config = teams(names, {"name": "analysts", "members": [], "schemas": ["marts"]})
    plan = dialect.plan(config.role_prefix, desired_access(config, EXPORTS))
    assert plan.dropped_roles == [f"{names}team_engineers"]
    dialect.apply(plan)
    assert not can_read(postgres, alice, "marts.dim_customer")
    assert not can_read(postgres, bob, "raw_erp.customers")


@pytest.mark.parametrize("dialect", [PostgresAccess, RedshiftStatementsOnPostgres])
def test_two_databases_of_one_server_keep_their_own_team_roles(
    postgres, names, warehouse, other_database, dialect
) -> None:
    """Roles (groups on Redshift) are shared by every database of the server. Two warehouses on
    one server (staging and production) with the same role_prefix took each other's team
    roles: applying B's file made its member the only one of A's team, re-applying A's gave A's
    member B's tables to read, and A could no longer drop the team (its grants in B depend on
    it). Now a role is managed by the one database that created it; the other's apply fails,
    naming the role and the way out, before changing anything."""
    alice, bob = f"{names}alice", f"{names}bob"
    here = dialect(warehouse)
    mine = teams(names, {"name": "analysts", "members": ["alice"], "schemas": ["marts"]})
    here.apply(here.plan(mine.role_prefix, desired_access(mine, EXPORTS)))
    assert can_read(postgres, alice, "marts.dim_customer")

    theirs = teams(names, {"name": "analysts", "members": ["bob"], "schemas": ["marts"]})
    with PostgresWarehouse(other_database) as other:
        there = dialect(other)
        with pytest.raises(RoleConflict) as raised:
            there.plan(theirs.role_prefix, desired_access(theirs, EXPORTS))
        message = str(raised.value)
        assert f'"{names}team_analysts"' in message
        assert "give each database its own role_prefix" in message
        if dialect is PostgresAccess:  # the role's comment names the database managing it
            assert f"database '{database(postgres)}'" in message
        assert can_read(postgres, alice, "marts.dim_customer")  # still A's member
        assert not can_read(other_database, alice, "marts.dim_customer")
        assert not can_read(other_database, bob, "marts.dim_customer")

        # A team of B's that A does not have is B's role: A's next apply leaves it be.
        engineers = teams(names, {"name": "engineers", "members": ["bob"], "schemas": ["marts"]})
        there.apply(there.plan(engineers.role_prefix, desired_access(engineers, EXPORTS)))
        plan = here.plan(mine.role_prefix, desired_access(mine, EXPORTS))
        assert plan.statements == []
        assert can_read(other_database, bob, "marts.dim_customer")

        # With a role_prefix of its own, B's team is a role of its own.
        theirs = teams(
            names, {"name": "analysts", "members": ["bob"], "schemas": ["marts"]}, prefix="prod_"
        )
        there.apply(there.plan(theirs.role_prefix, desired_access(theirs, EXPORTS)))
        assert can_read(other_database, bob, "marts.dim_customer")
        assert not can_read(other_database, alice, "marts.dim_customer")
        assert can_read(postgres, alice, "marts.dim_customer")
        assert not can_read(postgres, bob, "marts.dim_customer")

        # A's file drops the team: A's role goes, B's stays as it was.
        empty = teams(names)
        plan = here.plan(empty.role_prefix, desired_access(empty, EXPORTS))
        assert plan.dropped_roles == [f"{names}team_analysts"]
        here.apply(plan)
        assert not can_read(postgres, alice, "marts.dim_customer")
        assert can_read(other_database, bob, "marts.dim_customer")
        # Each database drops only its own roles when its file lists no team.
        for prefix, dropped in (("prod_", "prod_analysts"), ("team_", "team_engineers")):
            none = teams(names, prefix=prefix)
            plan = there.plan(none.role_prefix, desired_access(none, EXPORTS))
            assert plan.dropped_roles == [f"{names}{dropped}"]
            there.apply(plan)


@pytest.mark.parametrize(
    "comment",
    [None, "managed by Tributary (teams.yaml)"],
    ids=["made_by_hand", "made_by_an_earlier_tributary"],
)
def test_a_role_the_database_did_not_create_is_refused_until_adopted(
    postgres, names, warehouse, comment
) -> None:
    """A DBA had made team_finance before Tributary: the apply failed with the driver's bare
    'role ... already exists', and every other team's changes in it rolled back. It now fails
    before changing anything, naming the role and what to do, and the statement it gives
    adopts the role, which the next apply converges on the file."""
    role, carol = f"{names}team_finance", f"{names}carol"
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(f'create role "{role}" nologin')
        con.execute(f'grant usage on schema raw_erp to "{role}"')
        if comment:
            con.execute(f"comment on role \"{role}\" is '{comment}'")
    config = teams(
        names,
        {"name": "analysts", "members": ["alice"], "schemas": ["marts"]},
        {"name": "finance", "members": ["carol"], "exports": ["fct_sales_daily"]},
    )
    with pytest.raises(RoleConflict) as raised:
        apply_access(warehouse, config, EXPORTS)
    message = str(raised.value)
    if comment:  # an upgrade: said as such, not as a role someone made by hand
        assert f"team 'finance': the role \"{role}\" was made by an earlier Tributary" in message
        assert "adopt it once, in this database: " in message
        adopt = message.split("adopt it once, in this database: ", 1)[1].split("; if it", 1)[0]
    else:
        assert f"team 'finance': the role \"{role}\" exists, but this database's teams.yaml" in (
            message
        )
        assert "rename the team, change role_prefix, or drop the role" in message
        adopt = message.split("run in this database: ", 1)[1]
    assert "analysts" not in message
    with psycopg.connect(postgres) as con:  # nothing changed: no analysts role was created
        assert con.execute(
            "select count(*) from pg_roles where rolname = %s", (f"{names}team_analysts",)
        ).fetchone() == (0,)

    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(adopt)
    plan = apply_access(warehouse, config, EXPORTS)
    assert f'revoke usage on schema "raw_erp" from "{role}"' in plan.statements
    assert can_read(postgres, carol, "marts.fct_sales")
    assert not can_read(postgres, carol, "raw_erp.customers")
    assert can_read(postgres, f"{names}alice", "marts.dim_customer")


def test_the_warehouse_user_as_a_member_is_granted_once(postgres, names, warehouse) -> None:
    """A team listing the user Tributary connects as was granted its role again on every apply,
    as the catalog read left that user out of the role's members: 'applying twice changes
    nothing' did not hold. It is read as a member now, and never removed."""
    [(user,)] = warehouse.query("select current_user")

    def loaders(*members: str) -> TeamsConfig:
        team = {"name": "loaders", "members": list(members), "schemas": ["marts"]}
        return TeamsConfig(role_prefix=f"{names}team_", teams=[team])

    plan = apply_access(warehouse, loaders(user), EXPORTS)
    assert f'grant "{names}team_loaders" to "{user}"' in plan.statements
    assert apply_access(warehouse, loaders(user), EXPORTS).statements == []
    # Off the list, it stays a member: the role's creator keeps what lets it manage the role.
    assert apply_access(warehouse, loaders(), EXPORTS).statements == []
