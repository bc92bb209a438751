"""Per-team read access in the warehouse, from teams.yaml: one role per team (a group on
Redshift), its members, USAGE on the schemas it reads, SELECT on their tables and views (and,
through default privileges, on those created later), SELECT on the models of its exports.

Applying is idempotent and converges on the file: the warehouse catalog says what each team
role holds now, the difference is granted or revoked in one transaction, and a team role
(named with the configured prefix) that the file no longer lists loses everything and is
dropped. A second apply with the same file changes nothing.

Roles (and Redshift's groups) are shared by every database of the server, and two warehouses
(staging and production) may be two databases of one server: each team role records the
database whose teams.yaml manages it, and only that database changes or drops it. A role the
file names that another database manages fails the apply before anything changes.

One dialect per warehouse, behind the same interface: PostgreSQL (roles) and Redshift
(groups, the production form). DuckDB has no users: there is nothing to apply.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from tributary.config.models import TeamsConfig
from tributary.errors import WarehouseError
from tributary.warehouse.base import STATE_SCHEMA, Warehouse, quote_ident, quote_literal

Relation = tuple[str, str]  # (schema, table or view)
# The comment of a PostgreSQL team role: MARKER, then " in database <name>". A role marked by
# an earlier Tributary (MARKER alone) names no database: no database manages it until adopted.
MARKER = "managed by Tributary (teams.yaml)"
MARKED_IN = f"{MARKER} in database "
# The database of a role an earlier Tributary made (MARKER alone): not known.
EARLIER = ""


class RoleConflict(WarehouseError):
    """Roles teams.yaml names exist, but this database's teams.yaml does not manage them."""


@dataclass(frozen=True)
class TeamAccess:
    """What one team should hold."""

    team: str
    role: str
    members: frozenset[str]
    schemas: frozenset[str]
    relations: frozenset[Relation]  # the models of its exports


@dataclass
class Held:
    """What a role holds now, read from the catalog."""

    members: set[str] = field(default_factory=set)
    usage: set[str] = field(default_factory=set)
    select: set[Relation] = field(default_factory=set)
    defaults: set[str] = field(default_factory=set)  # schemas: SELECT on future tables


@dataclass
class AccessPlan:
    statements: list[str] = field(default_factory=list)
    missing_users: list[str] = field(default_factory=list)  # listed, but not in the warehouse
    pending: list[str] = field(default_factory=list)  # export models not built yet
    dropped_roles: list[str] = field(default_factory=list)
    teams: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # what each may read


def desired_access(
    teams: TeamsConfig, export_relations: Mapping[str, list[Relation]]
) -> list[TeamAccess]:
    """Each team's target state; `export_relations` maps an export to the models it reads."""
    return [
        TeamAccess(
            team=team.name,
            role=teams.role_name(team),
            members=frozenset(team.members),
            schemas=frozenset(team.schemas),
            relations=frozenset(
                relation for export in team.exports for relation in export_relations[export]
            ),
        )
        for team in teams.teams
    ]


class AccessDialect(ABC):
    """Reading what roles hold, and the statements that change it, for one warehouse kind."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    # Said in a conflict: why this database sees roles that another database manages.
    shared_by: str

    # --- the catalog -------------------------------------------------------------------
    @cached_property
    def database(self) -> str:
        """The database applying the file: the one its team roles record as managing them."""
        [(name,)] = self.warehouse.query("select current_database()")
        return name

    @cached_property
    def own_user(self) -> str:
        """The user Tributary connects as."""
        [(name,)] = self.warehouse.query("select current_user")
        return name

    @abstractmethod
    def team_roles(self, prefix: str) -> dict[str, str | None]:
        """Every role named with the prefix, each with the database whose teams.yaml manages
        it (None: none is known to; made by hand, say)."""

    @abstractmethod
    def users(self) -> set[str]: ...

    @abstractmethod
    def held(self, role: str) -> Held: ...

    def schemas(self) -> set[str]:
        rows = self.warehouse.query("select schema_name from information_schema.schemata")
        return {name for (name,) in rows}

    def relations(self, schema: str) -> set[Relation]:
        rows = self.warehouse.query(
            "select table_schema, table_name from information_schema.tables where table_schema = ?",
            [schema],
        )
        return {(s, t) for s, t in rows}

    # --- statements ----------------------------------------------------------------------
    @abstractmethod
    def create_role(self, role: str) -> list[str]: ...

    @abstractmethod
    def drop_role(self, role: str) -> list[str]: ...

    @abstractmethod
    def adopt_role(self, role: str) -> str:
        """The statement that makes an existing role one this database manages."""

    @abstractmethod
    def grantee(self, role: str) -> str:
        """The role as the object of GRANT ... TO / REVOKE ... FROM."""

    @abstractmethod
    def add_member(self, role: str, user: str) -> str: ...

    @abstractmethod
    def remove_member(self, role: str, user: str) -> str: ...

    def grant_usage(self, schema: str, role: str) -> str:
        return f"grant usage on schema {quote_ident(schema)} to {self.grantee(role)}"

    def revoke_usage(self, schema: str, role: str) -> str:
        return f"revoke usage on schema {quote_ident(schema)} from {self.grantee(role)}"

    def grant_select(self, relation: Relation, role: str) -> str:
        return f"grant select on {_qualified(relation)} to {self.grantee(role)}"

    def revoke_select(self, relation: Relation, role: str) -> str:
        return f"revoke select on {_qualified(relation)} from {self.grantee(role)}"

    def grant_default(self, schema: str, role: str) -> str:
        return (
            f"alter default privileges in schema {quote_ident(schema)} "
            f"grant select on tables to {self.grantee(role)}"
        )

    def revoke_default(self, schema: str, role: str) -> str:
        return (
            f"alter default privileges in schema {quote_ident(schema)} "
            f"revoke select on tables from {self.grantee(role)}"
        )

    # --- the algorithm -------------------------------------------------------------------
    def plan(self, prefix: str, desired: list[TeamAccess]) -> AccessPlan:
        plan = AccessPlan()
        roles = self.team_roles(prefix)
        self.refuse_roles_of_others(desired, roles)
        existing = {role for role, db in roles.items() if db == self.database}
        users = self.users()
        schemas = self.schemas()
        listed = {member for team in desired for member in team.members}
        plan.missing_users = sorted(listed - users)
        for schema in sorted({s for team in desired for s in team.schemas} - schemas):
            # dbt or the first load would create it; created now, its default privileges hold
            plan.statements.append(f"create schema if not exists {quote_ident(schema)}")
        tables_in: dict[str, set[Relation]] = {}
        for team in desired:
            held = self.held(team.role) if team.role in existing else Held()
            if team.role not in existing:
                plan.statements.extend(self.create_role(team.role))
            in_schemas = set()
            for schema in team.schemas:
                if schema not in tables_in:
                    tables_in[schema] = self.relations(schema) if schema in schemas else set()
                in_schemas |= tables_in[schema]
            built = {r for r in team.relations if r in self.relations(r[0])}
            plan.pending.extend(f"{team.team}: {s}.{t}" for s, t in sorted(team.relations - built))
            want = Held(
                members=set(team.members) & users,
                usage=set(team.schemas) | {schema for schema, _ in built},
                select=in_schemas | built,
                defaults=set(team.schemas),
            )
            plan.statements.extend(self._changes(team.role, held, want))
            plan.teams[team.team] = {
                "role": [team.role],
                "members": sorted(want.members),
                "schemas": sorted(team.schemas),
                "relations": sorted(f"{s}.{t}" for s, t in built),
            }
        for role in sorted(existing - {team.role for team in desired}):
            plan.statements.extend(self._changes(role, self.held(role), Held()))
            plan.statements.extend(self.drop_role(role))
            plan.dropped_roles.append(role)
        return plan

    def refuse_roles_of_others(
        self, desired: list[TeamAccess], roles: Mapping[str, str | None]
    ) -> None:
        """Fail, before anything changes, where a team's role exists but this database does not
        manage it: changing it would change another warehouse's team (members are the
        server's, not the database's) or a role someone made by hand."""
        problems = [
            self.conflict(team, roles[team.role])
            for team in desired
            if team.role in roles and roles[team.role] != self.database
        ]
        if problems:
            raise RoleConflict(
                f"teams.yaml: nothing applied to database '{self.database}': " + "; ".join(problems)
            )

    def conflict(self, team: TeamAccess, manager: str | None) -> str:
        role = quote_ident(team.role)
        if manager == EARLIER:
            return (
                f"team '{team.team}': the role {role} was made by an earlier Tributary, which did "
                f"not record the database whose teams.yaml manages it ({self.shared_by}). If "
                "it is this database's, adopt it once, in this database: "
                f"{self.adopt_role(team.role)}; if it is another database's, give each "
                "database its own role_prefix in teams.yaml"
            )
        if manager is not None:
            return (
                f"team '{team.team}': the role {role} is managed by the teams.yaml of database "
                f"'{manager}' ({self.shared_by}); give each database its own role_prefix in "
                "teams.yaml"
            )
        return (
            f"team '{team.team}': the role {role} exists, but this database's teams.yaml did "
            f"not create it ({self.shared_by}). If another database's teams.yaml manages it, "
            "give each database its own role_prefix in teams.yaml; otherwise rename the team, "
            "change role_prefix, or drop the role; or, to let this teams.yaml manage it "
            "(revoking what the file does not give), run in this database: "
            + self.adopt_role(team.role)
        )

    def _changes(self, role: str, held: Held, want: Held) -> list[str]:
        """Revocations first (tables before schemas), then grants (schemas before tables).
        Tributary's own user is never removed: on PostgreSQL 16 a role's creator (without
        superuser) is its member with ADMIN OPTION, which lets it manage the role."""
        leaving = held.members - want.members - {self.own_user}
        return [
            *(self.remove_member(role, u) for u in sorted(leaving)),
            *(self.revoke_default(s, role) for s in sorted(held.defaults - want.defaults)),
            *(self.revoke_select(r, role) for r in sorted(held.select - want.select)),
            *(self.revoke_usage(s, role) for s in sorted(held.usage - want.usage)),
            *(self.grant_usage(s, role) for s in sorted(want.usage - held.usage)),
            *(self.grant_select(r, role) for r in sorted(want.select - held.select)),
            *(self.grant_default(s, role) for s in sorted(want.defaults - held.defaults)),
            *(self.add_member(role, u) for u in sorted(want.members - held.members)),
        ]

    def apply(self, plan: AccessPlan) -> None:
        with self.warehouse.transaction():
            for statement in plan.statements:
                self.warehouse.execute(statement)


class PostgresAccess(AccessDialect):
    """PostgreSQL: NOLOGIN roles, marked with a comment so that only they are ever dropped."""

    _ROLE_OID = "(select oid from pg_roles where rolname = ?)"

    shared_by = "roles are shared by every database of the PostgreSQL server"

    def team_roles(self, prefix: str) -> dict[str, str | None]:
        # Every role with the prefix, users too: a team's role cannot take the name of any.
        # A team role is NOLOGIN, and its comment names the database that manages it.
        rows = self.warehouse.query(
            "select rolname, case when not rolcanlogin "
            "then shobj_description(oid, 'pg_authid') end "
            "from pg_roles where left(rolname, ?) = ?",
            [len(prefix), prefix],
        )
        return {
            name: comment.removeprefix(MARKED_IN)
            if (comment or "").startswith(MARKED_IN)
            else (EARLIER if comment == MARKER else None)
            for name, comment in rows
        }

    def users(self) -> set[str]:
        return {name for (name,) in self.warehouse.query("select rolname from pg_roles")}

    def relations(self, schema: str) -> set[Relation]:
        # the same kinds of relation `held` reads grants on (views and materialized views too)
        rows = self.warehouse.query(
            "select n.nspname, c.relname from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = ? and c.relkind in ('r', 'v', 'm', 'p', 'f')",
            [schema],
        )
        return {(s, t) for s, t in rows}

    def held(self, role: str) -> Held:
        query = self.warehouse.query
        members = query(
            "select m.rolname from pg_auth_members a "
            "join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member "
            "where r.rolname = ?",
            [role],
        )
        usage = query(
            "select n.nspname from pg_namespace n cross join lateral aclexplode(n.nspacl) a "
            f"where a.grantee = {self._ROLE_OID} and a.privilege_type = 'USAGE'",
            [role],
        )
        select = query(
            "select n.nspname, c.relname from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "cross join lateral aclexplode(c.relacl) a "
            f"where a.grantee = {self._ROLE_OID} and a.privilege_type = 'SELECT' "
            "and c.relkind in ('r', 'v', 'm', 'p', 'f')",
            [role],
        )
        defaults = query(
            "select n.nspname from pg_default_acl d "
            "join pg_namespace n on n.oid = d.defaclnamespace "
            "cross join lateral aclexplode(d.defaclacl) a "
            "where d.defaclrole = (select oid from pg_roles where rolname = current_user) "
            f"and d.defaclobjtype = 'r' and a.grantee = {self._ROLE_OID} "
            "and a.privilege_type = 'SELECT'",
            [role],
        )
        return Held(
            members={name for (name,) in members},
            usage={name for (name,) in usage},
            select={(s, t) for s, t in select},
            defaults={name for (name,) in defaults},
        )

    def create_role(self, role: str) -> list[str]:
        return [f"create role {quote_ident(role)} nologin", self.adopt_role(role)]

    def drop_role(self, role: str) -> list[str]:
        return [f"drop role {quote_ident(role)}"]

    def adopt_role(self, role: str) -> str:
        return f"comment on role {quote_ident(role)} is {quote_literal(MARKED_IN + self.database)}"

    def grantee(self, role: str) -> str:
        return quote_ident(role)

    def add_member(self, role: str, user: str) -> str:
        return f"grant {quote_ident(role)} to {quote_ident(user)}"

    def remove_member(self, role: str, user: str) -> str:
        return f"revoke {quote_ident(role)} from {quote_ident(user)}"


class RedshiftAccess(AccessDialect):
    """Redshift: user groups, as production grants them. Groups cannot log in and carry no
    comment: the database that creates a team group records it in its own
    `_tributary.team_groups`, with its name (a copy of the database restored under another
    name does not take the groups for its own). The SVV_*_PRIVILEGES views tell what a group
    holds."""

    shared_by = "groups are shared by every database of the Redshift cluster"

    def team_roles(self, prefix: str) -> dict[str, str | None]:
        # Two reads: Redshift runs catalog tables (pg_group) and user tables on different
        # nodes and refuses a query that joins them.
        groups = self.warehouse.query(
            "select groname from pg_group where left(groname, ?) = ?", [len(prefix), prefix]
        )
        recorded: dict[str, set[str]] = {}
        for name, db in self.warehouse.query(
            f"select group_name, database_name from {STATE_SCHEMA}.team_groups "
            "where left(group_name, ?) = ?",
            [len(prefix), prefix],
        ):
            recorded.setdefault(name, set()).add(db)
        return {name: self.manager(recorded.get(name, set())) for (name,) in groups}

    def manager(self, databases: set[str]) -> str | None:
        """The database a group is recorded for here: this one, where it is."""
        if self.database in databases:
            return self.database
        return min(databases, default=None)

    def users(self) -> set[str]:
        return {name for (name,) in self.warehouse.query("select usename from pg_user")}

    def held_members(self, role: str) -> set[str]:
        rows = self.warehouse.query(
            "select u.usename from pg_group g, pg_user u "
            "where g.groname = ? and u.usesysid = any(g.grolist)",
            [role],
        )
        return {name for (name,) in rows}

    def held(self, role: str) -> Held:
        query = self.warehouse.query
        usage = query(
            "select namespace_name from svv_schema_privileges where identity_type = 'group' "
            "and identity_name = ? and privilege_type = 'USAGE'",
            [role],
        )
        select = query(
            "select namespace_name, relation_name from svv_relation_privileges "
            "where identity_type = 'group' and identity_name = ? and privilege_type = 'SELECT'",
            [role],
        )
        defaults = query(
            "select schema_name from svv_default_privileges where grantee_type = 'group' "
            "and grantee_name = ? and object_type = 'RELATION' and privilege_type = 'SELECT' "
            "and owner_name = current_user",
            [role],
        )
        return Held(
            members=self.held_members(role),
            usage={name for (name,) in usage},
            select={(s, t) for s, t in select},
            defaults={name for (name,) in defaults},
        )

    def create_role(self, role: str) -> list[str]:
        return [f"create group {quote_ident(role)}", self.adopt_role(role)]

    def drop_role(self, role: str) -> list[str]:
        return [
            f"delete from {STATE_SCHEMA}.team_groups where group_name = {quote_literal(role)}",
            f"drop group {quote_ident(role)}",
        ]

    def adopt_role(self, role: str) -> str:
        return (
            f"insert into {STATE_SCHEMA}.team_groups (database_name, group_name) "
            f"values ({quote_literal(self.database)}, {quote_literal(role)})"
        )

    def grantee(self, role: str) -> str:
        return f"group {quote_ident(role)}"

    def add_member(self, role: str, user: str) -> str:
        return f"alter group {quote_ident(role)} add user {quote_ident(user)}"

    def remove_member(self, role: str, user: str) -> str:
        return f"alter group {quote_ident(role)} drop user {quote_ident(user)}"


DIALECTS: dict[str, type[AccessDialect]] = {
    "postgres": PostgresAccess,
    "redshift": RedshiftAccess,
}


def access_dialect(warehouse: Warehouse) -> AccessDialect | None:
    """The access dialect of the warehouse, or None where it has no users (DuckDB)."""
    dialect = DIALECTS.get(warehouse.kind)
    return dialect(warehouse) if dialect else None


def apply_access(
    warehouse: Warehouse,
    teams: TeamsConfig,
    export_relations: Mapping[str, list[Relation]],
) -> AccessPlan | None:
    """Converge the warehouse on teams.yaml; None where the warehouse has no users."""
    dialect = access_dialect(warehouse)
    if dialect is None:
        return None
    plan = dialect.plan(teams.role_prefix, desired_access(teams, export_relations))
    dialect.apply(plan)
    return plan


def _qualified(relation: Relation) -> str:
    return f"{quote_ident(relation[0])}.{quote_ident(relation[1])}"
