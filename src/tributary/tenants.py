"""Tenants: the fixed list of tenants.yaml or the application's own registry (its companies
table, read from a source), and the settings one tenant's load binds into a table's query.

Plain Python: defs/tenants.py keeps Dagster's dynamic partitions in step with the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from tributary.errors import SourceError
from tributary.names import as_spelled, first_repeat_at

if TYPE_CHECKING:
    # Not at run time: slices (which the warehouse, named by config.models, uses) use this.
    from tributary.config.loader import ProjectConfig
    from tributary.config.models import TableConfig, Tenant, TenantRegistry
    from tributary.warehouse.base import Warehouse

# Runs a query on the registry's source: its rows, each a mapping of column name to value.
RunQuery = Callable[[str], list[dict[str, Any]]]
REGISTRY_COLUMNS = ("id", "alias", "active")
SETTINGS_COLUMNS = ("tenant_id", "name", "value")


class TenantError(ValueError):
    """A tenant, its registry row or one of its settings is wrong: the message names which."""


class RegistryError(TenantError):
    """The registry's rows (or tenants.yaml's fixed list, as a whole) break a rule: `key`
    names the key in tenants.yaml (registry.query, registry.settings_query; tenants),
    `problem` what is wrong."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"tenants.yaml: {key}: {problem}")
        self.key, self.problem = key, problem


class RegistryQueryError(SourceError):
    """The registry's source could not run one of its queries: `key` names which
    (registry.query, registry.settings_query), `problem` the source's error. A SourceError,
    so that what the driver said of retrying it holds."""

    def __init__(self, key: str, error: SourceError) -> None:
        super().__init__(f"tenants.yaml: {key}: {error}", transient=error.transient)
        self.key, self.problem = key, str(error)


def read_registry(
    registry: TenantRegistry, run_query: RunQuery, skipped: list[str] | None = None
) -> list[Tenant]:
    """The tenants the registry lists now, active or not, with their settings.

    A row whose `active` reads false but that breaks another rule (a company that does not
    need BI, without an alias) is skipped, and said in `skipped` when given: one such row
    failed the sensor, every tenant's run and the schedules. An active tenant's row (or one
    whose flag does not read) that breaks a rule fails the read."""
    from tributary.config.models import Tenant

    rows = _rows(run_query, registry.query, REGISTRY_COLUMNS, "registry.query")
    settings: dict[str, dict[str, object]] = {}
    # Raised at the tenant's row, not here: an inactive tenant's is skipped with its row.
    conflicts: dict[str, RegistryError] = {}
    if registry.settings_query:
        for row in _rows(
            run_query, registry.settings_query, SETTINGS_COLUMNS, "registry.settings_query"
        ):
            if row["value"] is None:
                continue
            tenant, name = _tenant_key(row["tenant_id"]), str(row["name"])
            given = settings.setdefault(tenant, {})
            # One setting whatever the case of its name, as a query's :name matches it.
            spelled = as_spelled(name, list(given))
            if spelled in given and given[spelled] != row["value"]:
                also = "" if spelled == name else f", as {name!r}; names compared ignoring case"
                conflicts.setdefault(
                    tenant,
                    RegistryError(
                        "registry.settings_query",
                        f"tenant {tenant!r} has two values of the setting {spelled!r} "
                        f"({given[spelled]!r} and {row['value']!r}{also}); expected one row "
                        "per tenant and setting",
                    ),
                )
            given[spelled] = row["value"]
    for listed, filed in settings_filed_alike([_tenant_key(row["id"]) for row in rows], settings):
        _, _, why = alike_pair([listed, filed])
        conflicts.setdefault(
            listed,
            RegistryError(
                "registry.settings_query",
                f"settings are filed under tenant {filed!r}, which registry.query lists as "
                f"{listed!r}: one tenant {why}; file them under {listed!r} (looked up by "
                "that id, they were left out and the tables' defaults bound)",
            ),
        )
    tenants: dict[str, Tenant] = {}
    for row in rows:
        key = _tenant_key(row["id"])
        try:
            tenant = Tenant.model_validate(
                {
                    "id": row["id"],
                    "alias": row["alias"],
                    # Validated, not bool(): a NULL flag would read as inactive and
                    # silently stop the tenant's loads.
                    "active": row["active"],
                    "settings": settings.get(key, {}),
                }
            )
            error = conflicts.get(key)
        except ValidationError as exc:
            error = _row_error(key, exc)
        if error is not None:
            if not _reads_inactive(row["active"]):
                raise error from None
            if skipped is not None:
                skipped.append(f"inactive tenant {key!r} ({error.key}: {error.problem})")
            continue
        if tenant.key in tenants:  # '007' and '7' both read as tenant 7
            raise RegistryError("registry.query", f"tenant {tenant.key!r} is listed twice")
        tenants[tenant.key] = tenant
    if problem := alike_ids(list(tenants.values())):
        raise RegistryError("registry.query", problem)
    return list(tenants.values())


def _reads_inactive(flag: object) -> bool:
    """Whether a registry row's `active` reads false, as the Tenant model reads it."""
    try:
        return TypeAdapter(bool).validate_python(flag) is False
    except ValidationError:
        return False


def _row_error(key: str, error: ValidationError) -> RegistryError:
    """A registry row the Tenant model refuses, blaming the query that gave what it refuses:
    a setting's name or value comes from registry.settings_query, the rest from
    registry.query."""
    settings = [e for e in error.errors() if e["loc"][0] == "settings"]
    if settings:
        problems = "; ".join(
            e["msg"].removeprefix("Value error, ") if e["loc"][-1] == "[key]"
            else f"{e['loc'][1]}: {e['msg']}"
            for e in settings
        )  # fmt: skip
        if any(e["loc"][-1] == "[key]" for e in settings):
            problems += "; select only the names the tables' queries bind (:name)"
        return RegistryError(
            "registry.settings_query", f"the settings of tenant {key!r}: {problems}"
        )
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    return RegistryError("registry.query", f"the row of tenant {key!r}: {problems}")


def alike_ids(tenants: list[Tenant]) -> str | None:
    """Where two tenants' ids differ only in case or trailing spaces, or are one number
    ('007' and '7'), what they are; None when each is its own. A MySQL source's default
    collation matches either id to both tenants' rows (a number column: the number), and the
    check of a tenant's rows lets them through, so each tenant's partition (and export) would
    hold the other's rows."""
    if (pair := alike_pair([t.key for t in tenants])) is None:
        return None
    first, repeat, why = pair
    return f"tenants {first!r} and {repeat!r} are one tenant {why}; expected each id once"


def settings_filed_alike(listed: Sequence[str], filed: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(listed id, filed id) for each id settings are `filed` under that the registry does not
    list but that is one tenant with a `listed` id (alike_pair's rule)."""
    forms: dict[str, str] = {}
    for key in listed:
        for form in _alike_forms(key):
            forms.setdefault(form, key)
    exact = set(listed)
    for key in filed:
        if key not in exact:
            found = next((forms[f] for f in _alike_forms(key) if f in forms), None)
            if found is not None:
                yield found, key


def _alike_forms(key: str) -> list[str]:
    """What alike_pair compares of `key`: its number, and its text without case or padding."""
    return ([f"#{int(key)}"] if key.isdigit() else []) + [key.rstrip().casefold()]


def alike_pair(keys: Sequence[str]) -> tuple[str, str, str] | None:
    """The first two of `keys` that are one tenant to a source (alike_ids' rule), and why;
    None when each is its own."""
    numbers = [key for key in keys if key.isdigit()]
    if at := first_repeat_at([str(int(key)) for key in numbers]):
        first = numbers[at[0]]
        return first, numbers[at[1]], f"to a number column (both are {int(first)})"
    if at := first_repeat_at([key.rstrip() for key in keys]):
        return (
            keys[at[0]],
            keys[at[1]],
            "to a source that ignores case and trailing spaces (MySQL's default collation) and "
            "to the check of a tenant's rows",
        )
    return None


def respelled_id(
    keys: Iterable[str], tenants: list[Tenant], known: Iterable[str], *, registry: bool
) -> str | None:
    """Where one of `keys` (ids the tenants list) is alike (alike_pair) an id of `known` (the
    tenant partitions; the ids whose rows the raw tables hold) that the tenants (the
    registry's rows, or tenants.yaml's fixed list: `registry` says which) no longer list, what
    they are; None otherwise. An admin who respelled an id ('ACME' as 'acme', 7 as '007')
    made a new tenant of it: the old one's rows (and a registry's partition) are kept, and
    the new one's loads read the same rows again (its source matches either spelling), so
    every row was there twice, under both ids."""
    listed = {t.key for t in tenants}
    gone = [key for key in dict.fromkeys(known) if key not in listed]
    # A key the tenants do not list is no new tenant: a removed one, loaded by hand.
    for key in (key for key in keys if key in listed):
        for old in gone:
            if pair := alike_pair([old, key]):
                lister, kept, way_out = (
                    ("the registry", "partition and rows are", f"the tenants partition {old!r} "
                     f"(Dagster) and its rows (_tenant_id = {old!r})")
                    if registry
                    else ("tenants.yaml", "rows are", f"its rows (_tenant_id = {old!r})")
                )  # fmt: skip
                return (
                    f"tenant {key!r} is tenant {old!r} respelled: they are one tenant "
                    f"{pair[2]}, and {lister} no longer lists {old!r}, whose {kept} kept, so "
                    f"the loads of {key!r} would load its rows again, each row twice; spell "
                    f"the id as before ({old!r}), or first delete {way_out} from the raw tables"
                )
    return None


def respelled_held(
    warehouse: Warehouse, project: ProjectConfig, keys: Iterable[str], tenants: list[Tenant]
) -> str | None:
    """respelled_id against the ids whose rows the warehouse's raw tables scoped by tenant
    hold (Warehouse.tenant_ids_held), with a registry or a fixed list alike: what a tenant's
    load refuses and tributary check names. The rows, not the partitions or the ids
    _tributary.tenants records: a fixed list has neither of a tenant it no longer lists, and
    an id whose rows were deleted (the way out) loads nothing twice. Only ids alike one of
    `keys` are looked up."""
    keys = list(keys)
    registry = project.tenants.registry is not None

    def respelled_by(old: str) -> bool:
        return respelled_id(keys, tenants, [old], registry=registry) is not None

    held = warehouse.tenant_ids_held(tenant_tables(project), respelled_by)
    return respelled_id(keys, tenants, held, registry=registry)


def tenant_tables(project: ProjectConfig) -> list[tuple[str, str]]:
    """Every table scoped by tenant, as (source, table): disabled ones too (a table switched
    off for a while keeps its tenants' rows)."""
    return [
        (source.name, table.name)
        for source in project.sources
        for table in source.tables
        if table.tenant_column
    ]


def shared_alias(tenants: list[Tenant]) -> str | None:
    """Where two tenants share an alias (ignoring case, as some disks and bucket names do),
    what they share; None when each has its own. An alias names a tenant's export folder and
    bucket: two tenants of one alias would publish into each other's."""
    if (at := first_repeat_at([t.alias for t in tenants])) is None:
        return None
    first, repeat = tenants[at[0]], tenants[at[1]]
    spelled = repr(first.alias) + ("" if first.alias == repeat.alias else f" ({repeat.alias!r})")
    return (
        f"tenants {first.key} and {repeat.key} share the alias {spelled}, which names their "
        "export folders and buckets; expected each alias once"
    )


def _tenant_key(value: object) -> str:
    """A tenant id as text, alike whatever number type holds it and whatever padding."""
    return str(as_tenant_id(value))


def as_tenant_id(value: object) -> object:
    """A tenant id as a registry's row or tenants.yaml gives it, read as the id it is: a
    whole number in any number type as that int (whole_number), text without its padding
    (unpadded). The one reading of an id, for its partition, the literal its loads bind and
    the settings filed under it."""
    return unpadded(whole_number(value))


def whole_number(value: object) -> object:
    """An id read as a float or a decimal as the int it is: Oracle's NUMBER without a
    precision arrives as a float (1.0), a DECIMAL column as Decimal('1.00')."""
    if isinstance(value, float | Decimal) and value % 1 == 0:
        return int(value)
    return value


def unpadded(value: object) -> object:
    """Text without the trailing spaces a fixed-width column pads it with: PostgreSQL,
    Oracle and SQL Server return a char(5)'s '007' as '007  ' (MariaDB strips them). Bound
    as '007  ', a tenant's query matched none of its rows in a varchar column. Only spaces:
    another trailing character is the value's own. Anything else as it is."""
    return value.rstrip(" ") if isinstance(value, str) else value


def _rows(run_query: RunQuery, query: str, columns: tuple[str, ...], key: str) -> list[dict]:
    """The query's rows, run as a subquery (as a table's query is): a statement that writes
    (`delete ... returning`) is refused there rather than run at every reading."""
    try:
        result = run_query(f"select * from ({query}) registry")
    except SourceError as error:
        raise RegistryQueryError(key, error) from None
    rows = [{name.lower(): value for name, value in row.items()} for row in result]
    if rows and (missing := [c for c in columns if c not in rows[0]]):
        raise RegistryError(
            key,
            f"expected the columns {', '.join(columns)}; missing {', '.join(missing)} "
            f"(got {', '.join(rows[0])})",
        )
    return rows


def no_active_tenant(project: ProjectConfig, tenants: list[Tenant]) -> RegistryError | None:
    """Where the `tenants` (the registry's rows, or tenants.yaml's fixed list) hold no active
    one while something is scoped by tenant, the problem, not raised: tributary check's FAIL
    line, and each tenant_registry_sensor tick's skip reason and warning (the tick goes on: a
    registry may be empty for a while). None otherwise. Without an active tenant there is no
    tenant partition (a registry's are added for active tenants, a fixed list's are its active
    ones): nothing scoped by tenant ever loaded, and the sensor said "0 active" at info level.
    The key is registry.query for a registry (a filter that leaves no row, an `active` read
    wrong), tenants for a fixed list."""
    if any(t.active for t in tenants) or not (never := never_loaded(project)):
        return None
    count = (
        f"{len(tenants)} tenant{'s' if len(tenants) != 1 else ''}, none active"
        if tenants
        else "no tenant"
    )
    if project.tenants.registry is None:
        return RegistryError(
            "tenants",
            f"the list holds {count}; expected at least one active tenant (active: true): the "
            f"tenant partitions are the list's active tenants, so {never}",
        )
    listed = count if tenants else "no tenant (its query returned no rows)"
    return RegistryError(
        "registry.query",
        f"the registry lists {listed}; expected at least one active tenant: without one no "
        f"tenant partition is added, so {never}",
    )


def never_loaded(project: ProjectConfig) -> str:
    """What tenants without an active one leave unloaded: the enabled tenant-scoped
    tables and per-tenant exports, said as a sentence's end; empty when there are none."""
    tables = [
        f"{project.source_file(source.name)} tables[{index}] ({table.name})"
        for source in project.sources
        if source.enabled
        for index, table in enumerate(source.tables)
        if table.enabled and table.tenant_column
    ]
    exports = [e.name for e in project.exports if e.enabled and e.per_tenant]
    parts = []
    if tables:
        parts.append(f"{', '.join(tables)} {'is' if len(tables) == 1 else 'are'} never loaded")
    if exports:
        parts.append(f"the per-tenant exports ({', '.join(exports)}) never publish")
    return " and ".join(parts)


def active_keys(tenants: list[Tenant]) -> list[str]:
    """The partition keys of the active tenants: what is scheduled and loaded."""
    return [t.key for t in tenants if t.active]


def find_tenant(tenants: list[Tenant], key: str, registry: TenantRegistry | None = None) -> Tenant:
    """The tenant of partition `key` among `tenants`: tenants.yaml's list, or the rows of
    `registry` (named when the partition's tenant is not among them: a tenant removed from
    the registry keeps its partition, and a run of it by hand blamed tenants.yaml)."""
    tenant = next((t for t in tenants if t.key == key), None)
    if tenant is not None:
        return tenant
    if registry is None:
        raise TenantError(f"no tenant with id {key!r} in the tenants (tenants.yaml)")
    raise TenantError(
        f"tenant {key!r} is no longer listed by the registry (tenants.yaml: registry.query, "
        f"read from source '{registry.source}'): removed from it, or its row skipped (an "
        "inactive tenant's row that breaks a rule, which tributary check names); its partition "
        "and rows are kept, and nothing is loaded or published for it unless the registry "
        "lists it again"
    )


def tenant_to_export(
    tenants: list[Tenant], key: str, registry: TenantRegistry | None = None
) -> Tenant:
    """find_tenant, for a per-tenant export: refused while another tenant shares its alias (a
    registry's rows; tenants.yaml refuses it when loaded). The other tenants' loads and
    exports go on."""
    tenant = find_tenant(tenants, key, registry)
    if problem := alias_shared(tenants, tenant):
        raise TenantError(f"{problem}; nothing was published")
    return tenant


def alias_shared(tenants: list[Tenant], tenant: Tenant) -> str | None:
    """Where another of `tenants` (active or not) shares `tenant`'s alias, what they share:
    the tenant's per-tenant exports are refused (tenant_to_export)."""
    namesakes = [t for t in tenants if t.alias.casefold() == tenant.alias.casefold()]
    return shared_alias(namesakes)


def tenant_settings(
    table: TableConfig, tenant: Tenant, *, source: str, bound: Collection[str] | None = None
) -> dict[str, object]:
    """The values of the settings `table`'s query binds, for `tenant`: its own settings (their
    names compared ignoring case), else the table's defaults; a tenant's value is read as its
    default's type. `bound` is what every table of the project binds (bound_settings; this
    table's own when not given): a setting of the tenant outside it fails a table that binds
    settings, as a misspelt name would otherwise leave the table's default bound."""
    if table.setting_names and (
        problem := unbound_settings(tenant, table.setting_names if bound is None else bound)
    ):
        raise TenantError(problem)
    values = {}
    for name in table.setting_names:
        default = table.settings.get(name)
        given = as_spelled(name, list(tenant.settings))
        if given in tenant.settings:
            values[name] = _as_type_of(default, tenant.settings[given], tenant, given)
        elif default is not None:
            values[name] = default
        else:
            raise TenantError(
                f"tenant {tenant.key} ({tenant.alias}): no setting '{name}', which table "
                f"{source}.{table.name}'s query binds (:{name}); give the tenant the setting, "
                f"or the table a default under 'settings'"
            )
    return values


def bound_settings(project: ProjectConfig) -> list[str]:
    """The settings the project's tenant-scoped queries bind (:name), disabled tables' too (a
    table switched off for a while keeps its tenants' settings)."""
    return sorted(
        {name for source in project.sources for table in source.tables
         for name in table.setting_names}
    )  # fmt: skip


def unbound_settings(tenant: Tenant, bound: Collection[str]) -> str | None:
    """Where `tenant` has settings that none of `bound` names (ignoring case), what they are;
    None when each is bound. Such a setting was ignored without a word: a misspelt
    'day_back' left the table's default days_back bound."""
    folded = {name.casefold() for name in bound}
    unbound = [name for name in tenant.settings if name.casefold() not in folded]
    if not unbound:
        return None
    names = ", ".join(repr(name) for name in unbound)
    tables = ", ".join(f":{name}" for name in sorted(bound)) or "no setting"
    return (
        f"tenant {tenant.key} ({tenant.alias}): setting{'s' if len(unbound) > 1 else ''} "
        f"{names} {'are' if len(unbound) > 1 else 'is'} bound by no table's query (the tables "
        f"bind {tables}), so {'they' if len(unbound) > 1 else 'it'} would be ignored; correct "
        f"{'their names' if len(unbound) > 1 else 'its name'}, or leave "
        f"{'them' if len(unbound) > 1 else 'it'} out (a registry: select only the names the "
        "tables bind in registry.settings_query)"
    )


def _as_type_of(default: object, value: object, tenant: Tenant, name: str) -> object:
    """A registry gives settings as text: `value` read as the type of the table's default."""
    if default is None or type(value) is type(default):
        return value
    text = str(value).strip()
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, Decimal):
            return Decimal(text)
        if isinstance(default, date):
            return date.fromisoformat(text)
    except (ValueError, InvalidOperation):
        raise TenantError(
            f"tenant {tenant.key} ({tenant.alias}): setting '{name}' is {value!r}; expected "
            f"a {type(default).__name__}, like the table's default ({default!r})"
        ) from None
    return text


# What tenant_registry_sensor read of each tenant, as its cursor keeps it (and
# _tributary.tenants records it): tenant id -> {"alias": ..., "status": active | inactive |
# removed}.
Reading = dict[str, dict[str, str | None]]


def reading(tenants: list[Tenant], partitions: list[str], previous: Reading) -> Reading:
    """This reading of the tenants, as the sensor's cursor keeps it: each listed tenant's
    alias and status, and each partition the registry no longer lists as removed (with its
    last alias). Kept, not forgotten, so that a tenant listed again active is told from one
    that was active all along: schedules skipped it while it was not listed."""
    now: Reading = {
        key: {"alias": previous.get(key, {}).get("alias"), "status": "removed"}
        for key in partitions
    }
    now.update(
        (t.key, {"alias": t.alias, "status": "active" if t.active else "inactive"}) for t in tenants
    )
    return now


def last_reading(cursor: dict) -> Reading:
    """The sensor's last reading, from its cursor. A cursor of an earlier version held only
    whether each tenant was active: its aliases are unknown (None), so the next tick records
    them."""
    return {
        key: (
            {"alias": None, "status": "active" if state else "inactive"}
            if isinstance(state, bool)
            else state
        )
        for key, state in cursor.items()
    }


@dataclass(frozen=True)
class RegistryChanges:
    """What changed in the registry since the sensor's last reading."""

    added: list[str]  # active tenants without a partition yet
    activated: list[str]  # known tenants active again (after inactive, or not listed)
    deactivated: list[str]
    removed: list[str]  # partitions whose tenant the registry no longer lists
    renamed: list[str]  # "<id> (<old alias> -> <new alias>)"
    relisted: list[str]  # removed at the last reading, listed again (active or not)

    @property
    def to_load(self) -> list[str]:
        return sorted(self.added + self.activated)

    def describe(self) -> str:
        parts = [
            f"{label}: {', '.join(keys)}"
            for label, keys in (
                ("added", self.added),
                ("activated again", self.activated),
                ("deactivated", self.deactivated),
                ("renamed", self.renamed),
                ("listed again", self.relisted),
                ("removed from the registry (kept with its data)", self.removed),
            )
            if keys
        ]
        return "; ".join(parts) or "no change"


def registry_changes(
    tenants: list[Tenant], partitions: list[str], previous: Reading
) -> RegistryChanges:
    """Compare the registry's tenants with the partitions Dagster has and with the sensor's
    last reading (`previous`)."""
    listed = {t.key: t for t in tenants}
    known = set(partitions)
    active = {key for key, t in listed.items() if t.active}
    status = {key: state["status"] for key, state in previous.items()}
    return RegistryChanges(
        added=sorted(active - known),
        activated=sorted(k for k in active & known if status.get(k) in ("inactive", "removed")),
        deactivated=sorted(
            k for k, t in listed.items() if not t.active and status.get(k) == "active"
        ),
        removed=sorted(known - set(listed)),
        renamed=[
            f"{key} ({was} -> {t.alias})"
            for key, t in sorted(listed.items())
            if (was := previous.get(key, {}).get("alias")) is not None and was != t.alias
        ],
        relisted=sorted(k for k in listed if status.get(k) == "removed"),
    )
