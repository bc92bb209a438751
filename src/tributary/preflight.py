"""The preflight check: before any run, is every enabled table readable as configured?

For each enabled table of each enabled source it connects, checks that the table or view
exists (or that a custom query runs), that the primary key, cursor and other named columns
exist, that the cursor's type fits the lookback (and tells a time, for checks.max_data_age),
that a key_ranges column is numeric, that the next load's drift plan takes the types a read
yields into the raw table (where it exists and the warehouse answers), and reads the catalog's
row estimate; it reads the tenant registry as tenant_registry_sensor does (a fixed list: that
a tenant is active); then it checks the warehouse login and the schemas Tributary writes, the
write access of the landing and export stores and of each active tenant's own store of a
per-tenant export (tenant_url), and that no export's folders hold those of another
partitioning. Each result is one line naming the file and the key at fault.

Nothing is written: the registry's queries run as subqueries (a statement that writes is
refused), the warehouse is asked about privileges and the raw tables' recorded columns (its
state tables are not created), local folders are checked by their permissions, and an object
store (s3://, gs://) gets an empty probe object under `_preflight/` that is deleted at once,
because no permission query answers for bucket policies, roles and keys together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from tributary.config.loader import ProjectConfig, display_path
from tributary.config.models import SourceConfig, TableConfig, Tenant
from tributary.errors import (
    ExportError,
    SchemaDriftError,
    SourceError,
    Unreachable,
    WarehouseError,
)
from tributary.exports import ExportStore, open_export_store
from tributary.exports.run import (
    layout_problems,
    stored_layout_folders,
    stored_partitioning_problems,
)
from tributary.ingest import (
    cursor_collation_problem,
    cursor_type_problem,
    key_range_problem,
    load_target,
    loaded_schema,
    lookback_fits,
    missing_columns,
)
from tributary.landing import LandingStore
from tributary.names import as_spelled
from tributary.sources import SourceReader, SqlSource, open_source
from tributary.sources.sql import unobservable_tables
from tributary.sources.types import NUMBER_TYPES, SourceColumn, is_arrow_number
from tributary.storage import PROBE_PREFIX, probe_write, s3_filesystem, writable_problems
from tributary.tenants import (
    RegistryError,
    RegistryQueryError,
    TenantError,
    alias_shared,
    bound_settings,
    no_active_tenant,
    read_registry,
    respelled_held,
    tenant_settings,
    unbound_settings,
)
from tributary.warehouse import STATE_SCHEMA, raw_schema
from tributary.warehouse.drift import plan_schema

if TYPE_CHECKING:
    from tributary.sources.salesforce import SalesforceSource

TIME, NUMBER, OTHER = "date/time", "numeric", "other"
# A numeric lookback's cursor may also be SQL Server's bit or money (not a key range's column).
_NUMBER_TYPES = NUMBER_TYPES | {"bit", "money", "smallmoney"}
OpenSource = Callable[..., SourceReader]  # open_source's signature: (source, *, state_dir)
# A source's raw tables that exist, with their recorded columns (recorded_raw_schemas).
RecordedSchemas = Callable[[str], dict[str, pa.Schema]]
# Where one of the tenants respells an id whose rows the raw tables hold, what (held_respelling).
Respelled = Callable[[list[Tenant]], str | None]
# Problems of the registry's tenants one line lists, at most (then how many more).
MAX_TENANT_PROBLEMS = 10
# Errors a check reports as its line rather than raising: the reason is in the message.
_REPORTED = (SourceError, WarehouseError, Unreachable, OSError)


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked (file and key), and either what is fine
    (`detail`) or each problem as (key, message)."""

    file: str
    subject: str
    detail: str = ""
    problems: list[tuple[str, str]] = field(default_factory=list)
    # What works but can lose rows without a word (key, message): said, not failed.
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        if self.problems:
            return f"FAIL  {self.file}: {_keyed(self.problems)}"
        if self.warnings:
            return f"warn  {self.file}: {self.subject}: {self.detail}; {_keyed(self.warnings)}"
        return f"ok    {self.file}: {self.subject}: {self.detail}"


def _keyed(messages: list[tuple[str, str]]) -> str:
    return "; ".join(f"{key}: {' '.join(message.split())}" for key, message in messages)


def run_preflight(
    project: ProjectConfig, *, source: str | None = None, open_source: OpenSource = open_source
) -> Iterator[Check]:
    """Every check of the project (or of one source, with the warehouse and the stores),
    yielded as it finishes so that a caller can print as it goes. `open_source` opens a
    source's reader (the Dagster job passes its sources resource's)."""
    sources = [s for s in project.sources if s.enabled and source in (None, s.name)]
    # Checked first, listed in its place: the raw tables' recorded columns are read only
    # from a warehouse that answers (else its own line says why).
    warehouse = check_warehouse(project, [s.name for s in sources])
    recorded = cache(partial(recorded_raw_schemas, project)) if warehouse.ok else None
    for config in sources:
        yield from check_source(project, config, open_source, recorded)
    tenants = list(project.tenants.tenants)  # a registry's: its rows, when this check reads it
    if checks_tenants(project, source):
        respelled = partial(held_respelling, project) if warehouse.ok else None
        if project.tenants.registry:
            registry, tenants = check_registry(project, open_source, respelled)
            yield registry
        else:
            yield check_tenant_list(project, respelled)
    yield warehouse
    yield check_landing(project)
    yield from check_exports(project)
    yield from check_tenant_stores(project, tenants)


# --- sources ------------------------------------------------------------------------------


def check_source(
    project: ProjectConfig,
    source: SourceConfig,
    open_source: OpenSource,
    recorded: RecordedSchemas | None = None,
) -> Iterator[Check]:
    """Each enabled table of `source`; a SQL table's read also against its raw table's
    recorded columns, where `recorded` reads them (recorded_raw_schemas)."""
    file = project.source_file(source.name)
    tables = [(index, t) for index, t in enumerate(source.tables) if t.enabled]
    salesforce = source.kind == "salesforce"
    login_key = "salesforce" if salesforce else "connection"
    try:
        reader = open_source(source, state_dir=project.state_dir)
        reader.login() if salesforce else reader.ping()
    except _REPORTED as error:
        unchecked = f" ({len(tables)} enabled tables not checked)" if tables else ""
        yield Check(file, login_key, problems=[(login_key, f"{error}{unchecked}")])
        return
    check_table = (
        check_salesforce_table
        if salesforce
        else partial(check_sql_table, source=source, recorded=recorded)
    )
    for index, table in tables:
        yield check_table(reader, file, index, table)
    if not salesforce and source.observed_tables:
        yield check_observed(reader, file, source)


def check_observed(reader: SqlSource, file: str, source: SourceConfig) -> Check:
    """The observe sensor's probe, run once: a table it cannot observe (a view without a
    cursor) would only be named at the sensor's first tick, its changes never loaded."""
    observed = source.observed_tables
    try:
        versions = reader.probe(observed)
    except _REPORTED as error:
        return Check(file, "refresh", problems=[("refresh", str(error))])
    positions = {table.name: index for index, table in enumerate(source.tables)}
    problems = [
        (f"tables[{positions[name]}].refresh", problem)
        for name, problem in unobservable_tables(observed, versions).items()
    ]
    if problems:
        return Check(file, "refresh", problems=problems)
    return Check(file, "refresh", detail=f"{len(observed)} observed tables probed")


def object_key(index: int, table: TableConfig) -> str:
    if table.query:
        return f"tables[{index}].query"
    return f"tables[{index}].{'object' if table.source_object else 'name'}"


def check_sql_table(
    reader: SqlSource,
    file: str,
    index: int,
    table: TableConfig,
    *,
    source: SourceConfig | None = None,
    recorded: RecordedSchemas | None = None,
) -> Check:
    """The table as `reader` reads it; where `recorded` reads the raw tables of `source`,
    also what its next load's drift plan refuses (drift_problem)."""
    subject = f"tables[{index}] ({table.name})"
    try:
        kinds = _sql_column_kinds(reader, table)
        if kinds is None:
            problem = f"table or view '{table.read_object}' not found (or not visible to the login)"
            return Check(file, subject, problems=[(object_key(index, table), problem)])
        insensitive = not reader.exact_names
        problems = column_problems(index, table, kinds, case_insensitive=insensitive)
        if not problems and (problem := key_range_problem(reader, table)):
            problems = [(f"tables[{index}].key_ranges.column", problem)]
        schema = cache(partial(reader.read_schema, table))
        if not problems and table.cursor:
            # judged by the load's own rule, on the types a read yields (the type policy's:
            # MySQL's tinyint(1) is a boolean), not on the catalog's names for them
            problem = cursor_type_problem(schema(), as_spelled(table.cursor, schema().names))
            problem = problem or cursor_collation_problem(reader, table)
            problems = [(f"tables[{index}].cursor", problem)] if problem else []
        if not problems and source is not None and recorded is not None:
            problems = _drift_problems(index, source, table, schema, recorded)
        if problems:
            return Check(file, subject, problems=problems)
        rows = reader.estimated_rows(table)
    except _REPORTED as error:
        return Check(file, subject, problems=[(object_key(index, table), str(error))])
    what = "custom query runs" if table.query else f"{table.read_object} found"
    counted = "rows not counted" if rows is None else f"about {rows:,} rows"
    warning = lookback_warning(table, cursor_kind(table, kinds, case_insensitive=insensitive))
    return Check(
        file,
        subject,
        detail=f"{what}, {len(kinds)} columns, {counted}",
        warnings=[(f"tables[{index}].lookback", warning)] if warning else [],
    )


def _drift_problems(
    index: int,
    source: SourceConfig,
    table: TableConfig,
    schema: Callable[[], pa.Schema],
    recorded: RecordedSchemas,
) -> list[tuple[str, str]]:
    """What the table's next load refuses of its raw table (drift_problem), if it exists."""
    key = f"tables[{index}]"
    try:
        raw = recorded(source.name).get(table.name)
    except _REPORTED as error:  # the warehouse's, not the source's: keyed to the table
        return [(key, f"its raw table's recorded columns could not be read: {error}")]
    if raw is not None and (problem := drift_problem(source, table, schema(), raw)):
        return [(key, problem)]
    return []


def held_respelling(project: ProjectConfig, tenants: list[Tenant]) -> str | None:
    """Where one of `tenants` respells an id they no longer list whose rows the raw tables
    hold, what a tenant's load would refuse (respelled_held), read on the warehouse check's
    terms (nothing created: Warehouse.tenant_ids_held). What the warehouse raises is said."""
    try:
        with project.warehouse.open(state_dir=project.state_dir) as warehouse:
            return respelled_held(warehouse, project, [t.key for t in tenants], tenants)
    except _REPORTED as error:  # the warehouse gone since its own check
        return f"reading the tenant ids the warehouse holds rows of: {error}"


def recorded_raw_schemas(project: ProjectConfig, source: str) -> dict[str, pa.Schema]:
    """The recorded columns of each raw table of `source` that exists, read on the warehouse
    check's terms (nothing created: Warehouse.recorded_raw_schemas)."""
    with project.warehouse.open(state_dir=project.state_dir) as warehouse:
        return warehouse.recorded_raw_schemas(source)


def drift_problem(
    source: SourceConfig, table: TableConfig, read: pa.Schema, recorded: pa.Schema
) -> str | None:
    """What the table's next load refuses of its raw table's `recorded` columns, with the
    load's own plan and words (plan_schema): a type changed otherwise than by widening (a
    MySQL bit(1) an older release loaded as bytes, read as a boolean now), and what the
    table's schema_contract forbids. `read`: the schema a read yields."""
    incoming = loaded_schema(read, tenant_scoped=table.tenant_column is not None)
    target = load_target(source, table).spelled_as(incoming.names)
    try:
        plan_schema(
            target.table,
            recorded,
            incoming,
            contract=target.schema_contract,
            key=target.primary_key,
            relation=f"{target.schema}.{target.table}",
        )
    except SchemaDriftError as error:
        return str(error)
    return None


def _sql_column_kinds(reader: SqlSource, table: TableConfig) -> dict[str, str] | None:
    """Each column's kind (date/time, numeric, other); None when the object does not exist."""
    if table.query:
        return {f.name: arrow_kind(f.type) for f in reader.query_schema(table)}
    columns = reader.describe(table)
    return {c.name: catalog_kind(c, reader.backend) for c in columns} or None


def column_problems(
    index: int, table: TableConfig, kinds: dict[str, str], *, case_insensitive: bool
) -> list[tuple[str, str]]:
    """Named columns missing from `kinds`, and a cursor whose kind does not fit the lookback."""
    problems = missing_columns(f"tables[{index}]", table, list(kinds), exact=not case_insensitive)
    kind = cursor_kind(table, kinds, case_insensitive=case_insensitive)
    if table.mode == "incremental" and table.lookback is not None and kind:
        needed = TIME if isinstance(table.lookback, timedelta) else NUMBER
        if not lookback_fits(table.lookback, time=kind == TIME, number=kind == NUMBER):
            problems.append(
                (
                    f"tables[{index}].lookback",
                    f"lookback {_lookback(table.lookback)} needs a {needed} cursor; "
                    f"'{table.cursor}' is {kind}",
                )
            )
    if table.checks.max_data_age is not None and kind and kind != TIME:
        problems.append(
            (
                f"tables[{index}].checks.max_data_age",
                f"max_data_age needs a {TIME} cursor to tell how old the data is; "
                f"'{table.cursor}' is {kind}: remove checks.max_data_age (the loads' "
                "age is checked all the same)",
            )
        )
    return problems


def cursor_kind(table: TableConfig, kinds: dict[str, str], *, case_insensitive: bool) -> str | None:
    """The kind (TIME, NUMBER, OTHER) of the table's cursor among `kinds`; None without one."""
    if not table.cursor:
        return None
    if case_insensitive:
        lookup = {name.lower(): name for name in kinds}
        found = lookup.get(table.cursor.lower())
    else:
        found = table.cursor if table.cursor in kinds else None
    return kinds[found] if found else None


def lookback_warning(table: TableConfig, kind: str | None) -> str | None:
    """An incremental table without a lookback on a cursor that could take one: reads start at
    the watermark, so a row committed late with a cursor value already behind it is never read,
    and no check sees it (the reconciliation counts the window read). A probe on 2026-12-07 (a
    writer's 0-3 s transactions on MariaDB and PostgreSQL) left 699 to 1,168 rows of about
    300,000 stale that way, every check green."""
    if table.mode != "incremental" or table.lookback is not None or kind not in (TIME, NUMBER):
        return None
    late, amount, zero = (
        (
            "a timestamp set when its transaction began",
            "the longest such transaction (15m, say)",
            "0s",
        )
        if kind == TIME
        else (
            "an id drawn before another transaction's commit",
            "the most values drawn while such a transaction is open",
            "0",
        )
    )
    return (
        f"none: reads start at the watermark, so a row committed after a later one with a "
        f"cursor value already behind it ({late}) is never read, and no check sees it; set "
        f"lookback to {amount}, whose rows are read again and merged by key, or to {zero} "
        "where the cursor is set in commit order (a CDC feed's sequence)"
    )


def _lookback(value: timedelta | int) -> str:
    return f"'{value}'" if isinstance(value, timedelta) else f"{value}"


def catalog_kind(column: SourceColumn, backend: str) -> str:
    base = column.data_type
    if backend == "mssql" and base in ("timestamp", "rowversion"):
        return OTHER  # SQL Server's timestamp is a row version (binary), not a time
    if base.startswith(("date", "timestamp", "smalldatetime")):
        return TIME
    if base in _NUMBER_TYPES or base.endswith("int") or base.startswith("int"):
        return NUMBER
    return OTHER


def arrow_kind(arrow_type: pa.DataType) -> str:
    if pa.types.is_temporal(arrow_type) and not pa.types.is_time(arrow_type):
        return TIME
    return NUMBER if is_arrow_number(arrow_type) else OTHER


def check_salesforce_table(
    reader: SalesforceSource, file: str, index: int, table: TableConfig
) -> Check:
    # imported here, as the reader's client is
    from tributary.sources.salesforce import object_fields, unseen_field

    subject = f"tables[{index}] ({table.name})"
    try:
        describe = reader.describe_object(table.read_object)
    except _REPORTED as error:
        return Check(file, subject, problems=[(object_key(index, table), str(error))])
    kinds = {
        f["name"].lower(): TIME if f["type"] in ("datetime", "date") else OTHER
        for f in describe["fields"]
    }
    problems = column_problems(index, table, kinds, case_insensitive=True)
    wanted = table.fields if isinstance(table.fields, list) else []
    problems += [
        (f"tables[{index}].fields[{i}]", unseen_field(table.read_object, name, "fields"))
        for i, name in enumerate(wanted)
        if name.lower() not in kinds
    ]
    if not problems:
        try:  # what else a read refuses: fields that cannot be read in bulk, say
            object_fields(describe, table.fields, cursor=table.cursor)
        except SourceError as error:
            problems.append((f"tables[{index}]", str(error)))
    if problems:
        return Check(file, subject, problems=problems)
    return Check(file, subject, detail=f"{table.read_object} found, {len(kinds)} fields")


# --- the tenant registry -----------------------------------------------------------------


def checks_tenants(project: ProjectConfig, source: str | None) -> bool:
    """Whether the check (of every source, or of `source`) checks the tenants: there is a
    registry or a fixed list, and the source checked holds the registry or a table scoped by
    tenant."""
    tenants = project.tenants
    if tenants.registry is None and not tenants.tenants:
        return False
    if source is None or (tenants.registry and source == tenants.registry.source):
        return True
    return any(table.tenant_column for table in project.source(source).tables)


def check_tenant_list(project: ProjectConfig, respelled: Respelled | None = None) -> Check:
    """tenants.yaml's fixed list, as tenant_registry_sensor finds it (no_active_tenant), and
    an id respelled as the tenants' loads refuse it (held_respelling, where the warehouse
    answers): the rest of it is checked when the configuration loads."""
    file = display_path(project.config_dir / "tenants.yaml")
    tenants = project.tenants.tenants
    if error := no_active_tenant(project, tenants):
        return Check(file, "tenants", problems=[(error.key, error.problem)])
    if respelled and (problem := respelled(tenants)):
        return Check(file, "tenants", problems=[("tenants", problem)])
    active = sum(t.active for t in tenants)
    return Check(file, "tenants", detail=f"{len(tenants)} tenants, {active} active (a fixed list)")


def check_registry(
    project: ProjectConfig, open_source: OpenSource, respelled: Respelled | None = None
) -> tuple[Check, list[Tenant]]:
    """The registry read as tenant_registry_sensor reads it (read_registry): a query that
    fails, or rows it refuses, failed only the sensor's ticks and the tenants' runs; an id
    respelled as the tenants' loads refuse it (held_respelling, where the warehouse answers).
    Returns its line and the tenants read (none where it could not be read)."""
    file = display_path(project.config_dir / "tenants.yaml")
    registry = project.tenants.registry
    try:
        reader = open_source(project.source(registry.source), state_dir=project.state_dir)
        reader.ping()
    except _REPORTED as error:
        return Check(file, "registry", problems=[("registry.source", str(error))]), []
    skipped: list[str] = []
    try:
        tenants = read_registry(registry, reader.rows, skipped)
    except (RegistryError, RegistryQueryError) as error:
        return Check(file, "registry", problems=[(error.key, error.problem)]), []
    except _REPORTED as error:  # the server gone between the login and the query
        return Check(file, "registry", problems=[("registry.query", str(error))]), []
    if error := no_active_tenant(project, tenants):
        return Check(file, "registry", problems=[(error.key, error.problem)]), tenants
    if respelled and (problem := respelled(tenants)):
        return Check(file, "registry", problems=[("registry.query", problem)]), tenants
    if problems := tenant_problems(project, tenants):
        return Check(file, "registry", problems=problems), tenants
    active = sum(t.active for t in tenants)
    detail = f"{len(tenants)} tenants, {active} active, read from source '{registry.source}'"
    if skipped:
        detail += f"; skipped the rows of {'; '.join(skipped)}"
    return Check(file, "registry", detail=detail), tenants


def tenant_problems(project: ProjectConfig, tenants: list[Tenant]) -> list[tuple[str, str]]:
    """What the active tenants' runs refuse of rows the sensor reads, with the runs' own code:
    a setting of the wrong type or missing (tenant_settings, for each tenant-scoped table), an
    alias another tenant shares (tenant_to_export, for the per-tenant exports). At most
    MAX_TENANT_PROBLEMS, then how many more."""
    active = [t for t in tenants if t.active]
    bound = bound_settings(project)
    # One line per problem: a setting no table binds fails each table that binds settings.
    problems = {
        ("registry.settings_query", problem): None
        for tenant in active
        if (problem := unbound_settings(tenant, bound))
    }
    for source in (s for s in project.sources if s.enabled):
        for table in (t for t in source.tables if t.enabled and t.tenant_column):
            for tenant in active:
                try:
                    tenant_settings(table, tenant, source=source.name, bound=bound)
                except TenantError as error:
                    problems[("registry.settings_query", str(error))] = None
    problems = list(problems)
    exports = [e.name for e in project.exports if e.enabled and e.per_tenant]
    shared = {problem for t in active if (problem := alias_shared(tenants, t))}
    problems += [
        ("registry.query", f"{problem}: their per-tenant exports ({', '.join(exports)}) fail")
        for problem in sorted(shared)
        if exports
    ]
    if len(problems) > MAX_TENANT_PROBLEMS:
        more = len(problems) - MAX_TENANT_PROBLEMS
        problems = [*problems[:MAX_TENANT_PROBLEMS], ("registry", f"and {more} more problems")]
    return problems


# --- warehouse and stores -------------------------------------------------------------------


def check_warehouse(project: ProjectConfig, sources: list[str]) -> Check:
    file = display_path(project.config_dir / "platform.yaml")
    backend = project.warehouse
    key = backend.location_key
    schemas = [STATE_SCHEMA, *(raw_schema(name) for name in sources)]
    try:
        with backend.open(state_dir=project.state_dir) as warehouse:
            problems = warehouse.check_access(schemas)
    except _REPORTED as error:
        return Check(file, "warehouse", problems=[(key, str(error))])
    if problems:
        return Check(file, "warehouse", problems=[(key, p) for p in problems])
    return Check(
        file,
        "warehouse",
        detail=f"{backend.target} ({backend.location()}), may write {', '.join(schemas)}",
    )


def check_landing(project: ProjectConfig) -> Check:
    file = display_path(project.config_dir / "platform.yaml")
    landing = project.platform.landing
    url = project.landing_url

    def store() -> tuple[object, str]:
        fs = s3_filesystem(
            endpoint_url=landing.endpoint_url, region=landing.region, timeouts=landing.timeouts
        )
        opened = LandingStore(url, fs=fs)
        return opened.fs, opened.root

    return _check_store(file, "landing.url", url, store if url.startswith("s3://") else None)


def check_exports(project: ProjectConfig) -> Iterator[Check]:
    """The exports store's write access; then, where it answers, the folders of each enabled
    export in it (check_export_layouts)."""
    file = display_path(project.config_dir / "platform.yaml")
    url = project.exports_url
    store = cache(partial(_open_export_store, project, url))  # one store for both
    access = _check_export_store(file, "exports.url", url, store)
    yield access
    if access.ok:
        yield from check_export_layouts(project, store())


def check_export_layouts(project: ProjectConfig, store: ExportStore) -> Iterator[Check]:
    """Folders of another partitioning than an export's, which its run refuses before
    publishing (exports.run.layout_problems and partitioning_problem, the run's own code):
    what an earlier partitioning left (region=EU beside dt=..., or run_date's dt=... beside a
    by: date export's) was only learnt from a failed run. A line for each export where there
    are some, naming its file; nothing is written."""
    for export in (e for e in project.exports if e.enabled):
        try:
            with store.answering():
                problems = [
                    *layout_problems(export, store, stored_layout_folders(export, store)),
                    *stored_partitioning_problems(export, store),
                ]
        except (ExportError, OSError) as error:
            problems = [str(error)]
        if problems:
            file = project.export_file(export.name)
            yield Check(file, "partitioning", problems=[("partitioning", p) for p in problems])


def check_tenant_stores(project: ProjectConfig, tenants: list[Tenant]) -> Iterator[Check]:
    """Each active tenant's own store of each enabled per-tenant export with a tenant_url (the
    URL its run opens, ProjectConfig.tenant_store_url), checked as the exports store is: a
    bucket missing, or a folder that cannot be created, failed only that tenant's export
    runs. A store is checked once, however many exports name it."""
    checked = {project.exports_url}
    for export in project.exports:
        if not (export.enabled and export.per_tenant and export.tenant_url):
            continue
        for tenant in (t for t in tenants if t.active):
            url = project.tenant_store_url(export, tenant)
            if url in checked:
                continue
            checked.add(url)
            whose = f"tenant {tenant.key} ({tenant.alias})"
            opened = partial(_open_export_store, project, url)
            yield _check_export_store(
                project.export_file(export.name), "tenant_url", url, opened, whose=whose
            )


def _check_export_store(
    file: str, key: str, url: str, open_store: Callable[[], ExportStore], *, whose: str = ""
) -> Check:
    """Write access to the export store at `url` (`key` in `file`; `whose` store: _check_store),
    opened by `open_store` (inside the check: opening it can fail, on credentials say)."""

    def store() -> tuple[object, str]:
        opened = open_store()
        return opened.fs, opened.root

    return _check_store(file, key, url, store if "://" in url else None, whose=whose)


def _open_export_store(project: ProjectConfig, url: str) -> ExportStore:
    """The export store at `url` as an export's run opens it (the exports store's project and
    timeouts)."""
    settings = project.platform.exports
    return open_export_store(url, project=settings.project, timeouts=settings.timeouts)


def _check_store(
    file: str,
    key: str,
    url: str,
    open_store: Callable[[], tuple[object, str]] | None,
    *,
    whose: str = "",
) -> Check:
    """Write access to the store at `url` (`key` in `file`); `whose` store it is, if not the
    platform's own (a tenant's)."""
    if open_store is None:  # a local folder: its permissions answer, nothing is written
        problems = writable_problems(url.removeprefix("file://"), folder=True)
        state = "exists" if Path(url).is_dir() else "will be created"
        detail = f"{url} ({state}) is writable"
    else:
        try:
            fs, root = open_store()
            probe_write(fs, root)
            problems = []
        except Exception as error:  # store clients raise many types; the reason is the line
            problems = [f"cannot write to {url}: {_short(error)}"]
        detail = f"{url} is writable (probe object written to and deleted from {PROBE_PREFIX}/)"
    if problems:
        return Check(file, key, problems=[(key, f"{whose}: {p}" if whose else p) for p in problems])
    return Check(file, f"{key}: {whose}" if whose else key, detail=detail)


def _short(error: Exception) -> str:
    said = (str(error) or type(error).__name__).splitlines()[0]
    if isinstance(error, FileNotFoundError) and "not" not in said.lower():
        # gcsfs says a missing bucket with the request's URL alone
        return f"not found ({said}): does the bucket exist?"
    return said
