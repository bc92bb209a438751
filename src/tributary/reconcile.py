"""Checks on raw tables, as plain Python over the source and warehouse interfaces (Dagster
wires them as asset checks in defs/checks.py):

- reconciliation: the rows a load answers for (its window) counted in the source and in the
  warehouse, their highest cursor value and, optionally, a checksum of some columns; a
  failure is remembered, and later checks reach back to it until they find its rows right, as
  they do to the window of a load whose check never ran (owed by the load's own commit);
- primary-key uniqueness of the rows the load wrote;
- freshness: the age of the last committed load (and of the newest cursor value).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import quoted_name

from tributary.arrow import checksum as checksum_rows
from tributary.config.models import TableConfig
from tributary.landing.manifest import CursorType, Manifest, as_utc, decode_cursor
from tributary.names import as_spelled
from tributary.slices import TENANT_COLUMN, Slice
from tributary.sources import Profile, ProfilingSource, SourceReader, Window, cursor_conditions
from tributary.warehouse import (
    STATE_SCHEMA,
    KeyRepeats,
    LoadOutcome,
    LoadTarget,
    ReconcileFailure,
    Warehouse,
    quote_ident,
)
from tributary.warehouse.base import at_or_before, earlier_point, later_point

if TYPE_CHECKING:  # ingest calls owed_comparison as it loads
    from tributary.ingest import TableLoad

EXAMPLES = 5  # duplicate keys shown in a failed uniqueness check
DUPLICATE_EXAMPLES = 10  # keys the source holds more than once, shown by reconciliation
TENANT_EXAMPLES = 10  # tenants whose data is stale, or missing, named by freshness


@runtime_checkable
class KeyCheckingSource(Protocol):
    """A source that can find the keys a window holds more than once."""

    def duplicate_keys(self, table: TableConfig, window: Window, *, limit: int) -> list[tuple]: ...


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)


def load_window(
    manifest: Manifest,
    since: Any | None,
    table: TableConfig,
    where: Slice | None,
    *,
    inbox: bool = False,
    counted: bool = False,
) -> Window:
    """What a load (its manifest, read from `since`) answers for: its slice, and for an
    incremental load the cursor range from where it started reading to the highest value it
    landed (open above when it landed no cursor value: nothing at or past its start). An
    incremental load from the inbox was read by another tool from an unknown start: its
    window is its own cursor range. A window `counted` in the source, now, ends where the
    load's watermark does, at the source's clock as read before the read (CursorRange.until)
    where it landed values past it: rows written since lie past it, where a window up to a
    row from the future (2099) would hold them. The rows it landed past the clock are read
    again by the next load, whose window holds them once the clock has passed them (a row
    from the future: once it is mended)."""
    if manifest.mode != "incremental" or table.cursor is None:
        return Window(where=where)
    include_null = table.null_cursor == "include"
    cursor = manifest.cursor
    if cursor is None:
        if inbox:
            return Window(where=where)
        return Window(where=where, cursor=table.cursor, low=since, include_null=include_null)
    low = decode_cursor(cursor.type, cursor.min) if inbox else since
    return Window(
        where=where,
        cursor=table.cursor,
        low=low,
        high=cursor.watermark_value if counted else cursor.max_value,
        include_null=include_null,
    )


def owed_comparison(
    table: TableConfig,
    manifest: Manifest,
    since: Any | None,
    where: Slice | None,
    *,
    inbox: bool = False,
    counted: bool = False,
) -> ReconcileFailure | None:
    """The comparison a committed load owes its check, which its own transaction records
    (Warehouse.load, `owed`): its window, as the check compares it. The check forgets it when
    it finds the window right (or makes it a failure); a run killed before the check leaves
    it, and later checks reach back to it as to a remembered failure. A whole load's window
    of a table with a cursor ends at the highest value it landed (a later incremental check
    holds it, reaching back to the first row). None where the table is not reconciled, or the
    load owes nothing a later check does not compare anyway: one that landed no cursor value
    (an incremental load's watermark did not move, a whole load's is gone: the next load reads
    from where it did, or whole)."""
    if not table.checks.reconcile:
        return None
    window = load_window(manifest, since, table, where, inbox=inbox, counted=counted)
    landed = manifest.cursor
    if table.cursor is not None and landed is None:
        return None
    # Up to where the check compares (`counted` in the source: the watermark, never past the
    # source's clock), or a record no check's window could hold whole would stand for ever.
    high = (landed.watermark_value if counted else landed.max_value) if landed else None
    cursor, until = (table.cursor, high) if landed is not None else (None, None)
    return ReconcileFailure(
        cursor,
        window.low,
        describe_window(window),
        f"load {manifest.load_id} committed; its reconciliation check has not run",
        manifest.load_id,
        datetime.now(UTC),
        until,
        owed=True,
    )


def window_predicate(window: Window, cursor: str | None) -> str | None:
    """The window as a WHERE condition on the raw table (literals rendered by SQLAlchemy),
    whose cursor column is `cursor`."""
    conditions: list[sa.ColumnElement[bool]] = []
    if window.where is not None:
        conditions.append(sa.text(window.where.table_predicate()))
    if window.cursor is not None and cursor is not None:
        conditions.extend(
            cursor_conditions(
                # Quoted always, as every statement on raw tables names a column (quote_ident):
                # PostgreSQL's dialect leaves a word DuckDB reserves (`at`) bare.
                sa.column(quoted_name(cursor, quote=True)),
                window.low,
                window.high,
                include_null=window.include_null,
                exclude_null=True,
            )
        )
    if not conditions:
        return None
    compiled = sa.and_(*conditions).compile(
        dialect=postgresql.dialect(paramstyle="named"), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def warehouse_profile(
    warehouse: Warehouse, target: LoadTarget, window: Window, *, checksum: list[str]
) -> Profile:
    predicate = window_predicate(window, target.cursor)
    where = f" where {predicate}" if predicate else ""
    highest = f"max({quote_ident(target.cursor)})" if window.cursor and target.cursor else "null"
    [(rows, max_cursor)] = warehouse.query(
        f"select count(*), {highest} from {target.qualified_name}{where}"
    )
    digest = None
    if checksum:
        columns = ", ".join(quote_ident(name) for name in checksum)
        with warehouse.read(f"select {columns} from {target.qualified_name}{where}") as reader:
            _, digest = checksum_rows(reader)
    return Profile(rows=int(rows), max_cursor=max_cursor, checksum=digest)


def reconcile(
    table: TableConfig,
    load: TableLoad,
    *,
    source: SourceReader | None,
    warehouse: Warehouse,
    target: LoadTarget,
) -> CheckOutcome:
    """The load's window in the source and in the warehouse must hold the same rows: the same
    count, the same highest cursor value and, when configured, the same checksum. `source`
    None: the load came from the landing inbox, and is compared with its landed files.
    `target` names the raw table's columns as it spells them (LoadTarget.spelled_as).

    A failure is remembered for the table's scope (_tributary.reconcile_failures) until a
    check compares its rows again and finds them right: the watermark moves on past them,
    and a later load's window alone would pass over a row still wrong. So where the source
    can be counted, the window reaches back to where the remembered failure was found;
    compared with landed files (which hold the load's own rows only), the check fails while
    the failure stands, unless its own window reaches back that far.

    The load's own commit recorded its window there as owed a comparison (owed_comparison):
    this check forgets it, or makes it the failure it found. One another load left (its run
    killed before its check) is reached back to as a failure is."""
    inbox = source is None
    counted = isinstance(source, ProfilingSource)
    own = load_window(load.manifest, load.since, table, target.where, inbox=inbox, counted=counted)
    held = warehouse.reconcile_failure(target)
    window = own
    if (
        held is not None
        and own.cursor is not None
        and counted
        and not held.covered_by(own.low, own.high)
    ):
        # A late check of an older load ends before rows a newer one's found wrong: it
        # compares up to them too, else it could not tell them right.
        high = own.high if held.until is None else later_point(held.until, own.high)
        window = replace(own, low=earlier_point(held.since, own.low), high=high)
    checksum = list(table.checks.checksum)
    columns = [name for name, _ in load.outcome.columns]  # the raw table's, as it spells them
    loaded = warehouse_profile(
        warehouse, target, window, checksum=[as_spelled(name, columns) for name in checksum]
    )
    kind = load.manifest.cursor.type if load.manifest.cursor else None
    metadata: dict[str, Any] = {
        "table": f"{target.schema}.{target.table}",
        "window": describe_window(window),
        "landed_rows": load.manifest.row_count,
        "warehouse_rows": loaded.rows,
    }
    if window is not own:
        metadata["load_window"] = describe_window(own)
    if counted:
        expected = source.profile(table, window, checksum=checksum)
        compared_with = "source"
        metadata["source_rows"] = expected.rows
    else:
        # A source that cannot count itself, or an inbox load: compare with the landed files.
        expected = Profile(
            rows=load.manifest.row_count,
            max_cursor=load.manifest.cursor.max_value if load.manifest.cursor else None,
        )
        compared_with = "landed files"
        metadata["compared_with"] = (
            "the landed files of an inbox load"
            if inbox
            else "the landed files (this source cannot be counted)"
        )
    problems = []
    # Earlier loads may hold rows inside an inbox load's own cursor range: at least its rows.
    at_least = inbox and window.cursor is not None
    difference = expected.rows - loaded.rows
    hold = "hold" if compared_with == "landed files" else "holds"
    # The load wrote one row per key it read more than once: that many rows fewer, which rows
    # deleted in the source (an incremental table keeps them) may make up for.
    repeated = load.outcome.repeated_keys
    duplicated: list[tuple] = []
    if table.primary_key and (difference > 0 or repeated.keys):
        if isinstance(source, KeyCheckingSource):
            duplicated = source.duplicate_keys(table, window, limit=DUPLICATE_EXAMPLES)
            if not duplicated:
                # The source holds each key once: a key read twice was read while it moved
                # (a scan without a snapshot), and the warehouse holds its one row.
                repeated = KeyRepeats()
        if repeated.keys:
            metadata["duplicate_keys_read"] = repeated.keys
    if loaded.rows < expected.rows or (loaded.rows > expected.rows and not at_least):
        problems.append(
            f"the {compared_with} {hold} {_rows(expected.rows)}, the warehouse {loaded.rows} "
            + (f"({difference} missing)" if difference > 0 else f"({-difference} extra)")
        )
    elif repeated.rows and not at_least:
        problems.append(
            f"the {compared_with} {hold} {_rows(expected.rows)} and the warehouse as many, but "
            f"the load read {_rows(repeated.rows)} beyond one per key, which the warehouse does "
            f"not keep: as many rows in the warehouse are not in the {compared_with}"
        )
    if difference < repeated.rows and table.mode == "incremental" and not inbox:
        problems.append(
            "rows deleted in the source stay in an incremental table, and the count is net: "
            "rows it lacks or holds at an older value (a change no load read) hide behind "
            "them; a run with `full_refresh: true` reads it whole and brings both back in line"
        )
    if duplicated or repeated.keys:
        if duplicated:
            shown = "; ".join(_key_text(table.primary_key, row) for row in duplicated)
            metadata["source_duplicate_keys"] = shown
            more = ", ..." if len(duplicated) == DUPLICATE_EXAMPLES else ""
            named = f"the source holds primary keys more than once ({shown}{more})"
        else:  # a source that cannot name them: the load counted them
            named = f"the load read {repeated.keys} primary key(s) more than once"
        problems.append(
            f"{named}: the warehouse keeps one row per key, the one with the highest "
            f"{table.cursor or 'position'} and, among equals, the one read last"
        )
    seen = None  # the highest cursor value compared, on either side
    if window.cursor is not None:
        source_max = comparable(expected.max_cursor, kind)
        warehouse_max = comparable(loaded.max_cursor, kind)
        if source_max is None or warehouse_max is None:
            seen = warehouse_max if source_max is None else source_max
        else:
            seen = later_point(source_max, warehouse_max)
        metadata["source_max_cursor"] = _text(source_max)
        metadata["warehouse_max_cursor"] = _text(warehouse_max)
        if source_max != warehouse_max:
            problems.append(
                f"the highest {window.cursor} is {_text(source_max)} in the {compared_with}, "
                f"{_text(warehouse_max)} in the warehouse"
            )
    if checksum and expected.checksum is not None:
        metadata["checksum_columns"] = ", ".join(checksum)
        metadata["source_checksum"] = expected.checksum
        metadata["warehouse_checksum"] = loaded.checksum
        if expected.checksum != loaded.checksum:
            problems.append(f"the checksum of {', '.join(checksum)} differs")
    table_name = metadata["table"]
    matched = f"{_rows(loaded.rows)} in {metadata['window']} match the {compared_with}"
    # Rows from this point on were compared (None: every row of the scope); an inbox drop's
    # check finds missing rows only, so it clears nothing an exact comparison found, but it is
    # the comparison a drop's load owes.
    # Up to this point (None: open above, or every row of the scope).
    examined, until = (window.low, window.high) if window.cursor is not None else (None, None)
    covered = held is not None and (held.owed or not at_least) and held.covered_by(examined, until)
    # Another load's window its check never compared (its run killed after the commit).
    unchecked = held if held and held.owed and held.load_id != load.manifest.load_id else None
    if unchecked is not None:
        metadata["unchecked_load"] = unchecked.load_id
        metadata["unchecked_load_committed_at"] = unchecked.failed_at.isoformat(timespec="seconds")
        metadata["unchecked_window"] = unchecked.window
    failure = ReconcileFailure(
        window.cursor,
        examined,
        metadata["window"],
        "; ".join(problems),
        load.manifest.load_id,
        datetime.now(UTC),
        # A window open above failed on the rows it saw: later checks reach up to them.
        seen if until is None else until,
    )
    over = ""
    if unchecked is not None and covered:
        over = f"; the window reaches back over {_unchecked(unchecked)}"
    if problems and (held is None or covered):
        # The first failure, or one found further out: remembered (widening the held one, as
        # record_reconcile_failure re-reads it under the table's lock; a failure found
        # outranks a comparison owed).
        warehouse.record_reconcile_failure(target, failure, whole=examined is None)
        if held is None or held.owed or not at_or_before(held.since, examined):
            description = f"{table_name} does not match its {compared_with}: " + "; ".join(problems)
            return CheckOutcome(False, description + over, metadata)
    elif held is None:
        return CheckOutcome(True, f"{table_name}: {matched}", metadata)
    elif covered and not problems:  # compared again, and right: forgotten, if still the same
        warehouse.record_reconcile_failure(target, None, whole=examined is None, read=held)
        return CheckOutcome(True, f"{table_name}: {matched}{over}", metadata)
    since = "the first row" if held.since is None else _text(held.since)
    if held.owed:
        found, still = _unchecked(held), "were never compared"
    else:
        metadata["first_failed_load"] = held.load_id
        metadata["first_failed_at"] = held.failed_at.isoformat(timespec="seconds")
        metadata["first_failed_window"] = held.window
        found = (
            f"first found by the check of load {held.load_id} (at "
            f"{metadata['first_failed_at']}, in {held.window}: {held.description})"
        )
        still = "do not yet"
    if problems:
        if held.owed:
            found = f"the rows from {since} {still}: {found}"
        description = (
            f"{table_name} does not match its {compared_with}: {'; '.join(problems)}; {found}"
        )
    else:
        why = (
            "this check's window does not hold them all"
            if compared_with == "source"
            else "no check has compared them since "
            f"(the {compared_with} hold this load's rows only)"
        )
        description = (
            f"{table_name}: {matched}, but the rows from {since} {still}: {found}, and {why}"
        )
    if "full_refresh" not in description:
        whole = f"partition {target.where.key}" if target.where else "table"
        description += (
            f"; the check fails until one finds those rows right: a run with "
            f"`full_refresh: true` reads the {whole} whole"
        )
    return CheckOutcome(False, description, metadata)


def _unchecked(owed: ReconcileFailure) -> str:
    """An owed comparison's load, for people."""
    at = owed.failed_at.isoformat(timespec="seconds")
    return f"load {owed.load_id}'s window ({owed.window}), committed at {at}: its check did not run"


def duplicate_keys(warehouse: Warehouse, target: LoadTarget) -> CheckOutcome:
    """No two rows of the load's table (or slice, where it holds every row of its keys:
    LoadTarget.key_scope) share a primary key, matched as the source matches it
    (LoadTarget.key_match): 'abc' and 'ABC' are one key to a case-insensitive source, shown
    as one of its spellings."""
    keys = ", ".join(quote_ident(key) for key in target.primary_key)
    matched = ", ".join(target.matched_key())
    shown = ", ".join(
        key if key == quote_ident(name) else f"min({quote_ident(name)}) as {quote_ident(name)}"
        for key, name in zip(target.matched_key(), target.primary_key, strict=True)
    )
    scope = target.key_scope
    where = f" where {scope.table_predicate()}" if scope else ""
    groups = (
        f"select {shown}, count(*) as _tributary_rows from {target.qualified_name}{where} "
        f"group by {matched} having count(*) > 1"
    )
    [(duplicated, surplus)] = warehouse.query(
        f"select count(*), coalesce(sum(_tributary_rows - 1), 0) from ({groups}) as duplicates"
    )
    table_name = f"{target.schema}.{target.table}"
    metadata: dict[str, Any] = {
        "table": table_name,
        "primary_key": ", ".join(target.primary_key),
        **({"primary_key_matched": matching} if (matching := target.key_matching) else {}),
        "duplicated_keys": int(duplicated),
        "surplus_rows": int(surplus),
    }
    if not duplicated:
        return CheckOutcome(True, f"{table_name}: every primary key is unique", metadata)
    examples = warehouse.query(f"{groups} order by count(*) desc, {keys} limit {EXAMPLES}")
    shown = "; ".join(_key_text(list(target.primary_key), tuple(row)) for row in examples)
    metadata["examples"] = shown
    return CheckOutcome(
        False,
        f"{table_name}: {duplicated} primary key(s) appear more than once, e.g. {shown}",
        metadata,
    )


def schema_drift(outcome: LoadOutcome) -> CheckOutcome:
    """The raw table's columns all still come from the source, and no rows are left holding
    NULL in a column the source sent again, or one new to the table (ColumnGap)."""
    gap = outcome.column_gap
    metadata: dict[str, Any] = {
        "table": outcome.table_name,
        "columns_missing": ", ".join(outcome.missing_columns) or "-",
        "columns_added": ", ".join(outcome.added_columns) or "-",
        "columns_returned": returned_text(outcome),
    }
    if outcome.missing_columns:
        description = (
            f"{outcome.table_name}: the source no longer sends "
            f"{', '.join(outcome.missing_columns)} (dropped or renamed there, or hidden from "
            "this login); the raw table keeps the column, NULL in the rows loaded since"
        )
        if gap is not None:
            description += (
                f": {gap.rows_text()} (since load {gap.load_id}); when the source sends it "
                "again, the load that finds it back re-reads them from there"
            )
        return CheckOutcome(False, description, metadata)
    if gap is not None:  # carried, but not re-read: an inbox drop's files carried it
        return CheckOutcome(
            False,
            f"{outcome.table_name}: {', '.join(gap.columns)} is sent again or new, but the "
            f"rows loaded without it ({gap.rows_text()}, recorded by load {gap.load_id}) still "
            "hold NULL in it: an inbox drop cannot re-read the source; the next load read from the "
            "source (a run without inbox_load_id) re-reads them, or run full_refresh, or drop "
            "those rows again with the column",
            metadata,
        )
    description = f"{outcome.table_name}: every column comes from the source"
    if outcome.refilled:
        description += (
            "; the rows loaded without "
            f"{', '.join([*outcome.returned_columns, *outcome.new_columns])} were given their "
            f"values ({returned_text(outcome)})"
        )
    return CheckOutcome(True, description, metadata)


def returned_text(outcome: LoadOutcome) -> str:
    """`columns_returned` for the load's metadata: the columns earlier loads lacked that this
    one carried, and those new to the table (`, new`), and where it re-read the rows loaded
    without them."""
    if not outcome.refilled:
        how = "not re-read yet"
    elif outcome.nothing_behind:
        how = f"no row before {outcome.reread_from} holds a value, none re-read"
    elif outcome.reread_from is None:
        how = "re-read whole"
    else:
        how = f"re-read from {outcome.reread_from}"
    parts = []
    if outcome.returned_columns:
        unread = "" if outcome.refilled else "rows merged without it "
        parts.append(f"{', '.join(outcome.returned_columns)}, {unread}{how}")
    if outcome.new_columns:
        unread = "" if outcome.refilled else "rows loaded before "
        parts.append(f"{', '.join(outcome.new_columns)}, new: {unread}{how}")
    return "; ".join(parts) or "-"


def freshness(
    warehouse: Warehouse,
    target: LoadTarget,
    *,
    max_load_age: timedelta,
    max_data_age: timedelta | None = None,
    cursor: str | None = None,
    scopes: list[str],
    now: datetime,
    data_timezone: str = "UTC",
) -> CheckOutcome:
    """The last committed load of the table (of each of its partitions, `scopes`) is at most
    `max_load_age` old, and, when given, its newest `cursor` value at most `max_data_age`; a
    cursor value without a zone is a time in `data_timezone`, the source's, and a date's data
    reaches the end of that day. A cursor that tells no time (a number, text) fails the check:
    it cannot be judged. The data of a table scoped by tenant (`scopes`: its active tenants)
    is judged per tenant, as its loads are: one tenant's new rows must not hide another's
    that stopped."""
    table_name = f"{target.schema}.{target.table}"
    rows = warehouse.query(
        f"select scope, max(finished_at) from {STATE_SCHEMA}.loads "
        "where source = ? and table_name = ? group by scope",
        [target.source, target.table],
    )
    latest = {scope: as_utc(finished) for scope, finished in rows}
    never = [scope or "(whole table)" for scope in scopes if scope not in latest]
    metadata: dict[str, Any] = {"table": table_name, "max_load_age": _age(max_load_age)}
    if never:
        metadata["never_loaded"] = ", ".join(never)
        return CheckOutcome(False, f"{table_name}: never loaded: {', '.join(never)}", metadata)
    stalest = min(latest[scope] for scope in scopes)
    load_age = now - stalest
    metadata["last_load_at"] = stalest.isoformat()
    metadata["load_age_seconds"] = int(load_age.total_seconds())
    problems = []
    if load_age > max_load_age:
        problems.append(f"last loaded {_age(load_age)} ago (limit {_age(max_load_age)})")
    if max_data_age is not None and cursor:
        problems += data_age_problems(
            warehouse,
            target,
            cursor,
            # Partitions of an incremental table (which max_data_age is for) are tenants: key
            # ranges partition full loads only.
            tenants=None if scopes == [""] else scopes,
            max_data_age=max_data_age,
            now=now,
            data_timezone=data_timezone,
            metadata=metadata,
        )
    if problems:
        return CheckOutcome(False, f"{table_name}: " + "; ".join(problems), metadata)
    return CheckOutcome(True, f"{table_name}: last loaded {_age(load_age)} ago", metadata)


def data_age_problems(
    warehouse: Warehouse,
    target: LoadTarget,
    cursor: str,
    *,
    tenants: list[str] | None,
    max_data_age: timedelta,
    now: datetime,
    data_timezone: str,
    metadata: dict[str, Any],
) -> list[str]:
    """How the newest `cursor` value of the raw table, or of each of the active `tenants`'
    rows (their partition keys, the ids the rows hold), fails `max_data_age`: too old, none
    at all, or a value that tells no time. The stalest value and its age go in `metadata`."""
    recorded = warehouse.recorded_schema(target)  # the raw table's columns as it spells them
    column = as_spelled(cursor, recorded.names) if recorded else cursor
    newest = newest_cursors(warehouse, target, column, by_tenant=tenants is not None)
    scopes = [""] if tenants is None else tenants
    values = {scope: newest[scope] for scope in scopes if newest.get(scope) is not None}
    metadata["newest_cursor"] = "-"
    untimed = next((value for value in values.values() if not isinstance(value, date)), None)
    if untimed is not None:
        metadata["newest_cursor"] = _text(untimed)
        kind = recorded.field(column).type if recorded else type(untimed).__name__
        return [
            f"checks.max_data_age cannot judge the cursor {cursor} ({kind}): only a timestamp "
            "or date tells how old the data is; remove checks.max_data_age from table "
            f"{target.table} (its loads' age is checked all the same)"
        ]
    until = {scope: data_until(value, data_timezone) for scope, value in values.items()}
    ages = {scope: now - moment for scope, moment in until.items()}
    if ages:
        stalest = max(ages, key=ages.__getitem__)
        value = values[stalest]
        metadata["newest_cursor"] = _text(until[stalest] if isinstance(value, datetime) else value)
        metadata["data_age_seconds"] = int(ages[stalest].total_seconds())
    stale = [scope for scope in scopes if scope in ages and ages[scope] > max_data_age]
    empty = [scope for scope in scopes if scope not in values]
    limit = _age(max_data_age)
    if tenants is None:
        if stale:
            return [f"newest {cursor} is {_age(ages[''])} old (limit {limit})"]
        return [f"the table holds no {cursor} value"] if empty else []
    problems = []
    if stale:
        metadata["stale_tenants"] = ", ".join(stale)
        shown = _first(f"{scope} ({_age(ages[scope])})" for scope in stale)
        problems.append(f"newest {cursor} over {limit} old for {_tenants(stale)} {shown}")
    if empty:
        metadata["tenants_without_data"] = ", ".join(empty)
        hold = "holds" if len(empty) == 1 else "hold"
        problems.append(f"{_tenants(empty)} {_first(empty)} {hold} no {cursor} value")
    return problems


def newest_cursors(
    warehouse: Warehouse, target: LoadTarget, column: str, *, by_tenant: bool
) -> dict[str, Any]:
    """The newest value of the raw table's `column`, under "", or of each tenant's rows,
    under the id they hold (its partition key)."""
    highest = f"max({quote_ident(column)})"
    if not by_tenant:
        [(newest,)] = warehouse.query(f"select {highest} from {target.qualified_name}")
        return {"": newest}
    tenant = quote_ident(TENANT_COLUMN)
    rows = warehouse.query(
        f"select {tenant}, {highest} from {target.qualified_name} group by {tenant}"
    )
    return {str(tenant_id): newest for tenant_id, newest in rows}


def data_until(newest: date, data_timezone: str) -> datetime:
    """The time (UTC) up to which a cursor value says the data reaches: a timestamp's own (one
    without a zone is a time in `data_timezone`), a day's end, midnight after it there (its
    rows were written some time in that day, at the latest at its end): yesterday's data is
    at most a day old."""
    if isinstance(newest, datetime):
        until = newest
    else:
        until = datetime.combine(newest + timedelta(days=1), time())
    if until.tzinfo is None:
        until = until.replace(tzinfo=ZoneInfo(data_timezone))
    return as_utc(until)


def comparable(value: Any, kind: CursorType | None) -> Any:
    """A cursor value as its landed type, whichever driver read it: a timestamp that SQLite
    returns as text, an aware timestamp in UTC, a decimal whatever its scale."""
    if value is None or kind is None:
        return value
    if kind == "timestamp":
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif not isinstance(value, datetime) and isinstance(value, date):
            value = datetime(value.year, value.month, value.day)
        return value.astimezone(UTC) if value.tzinfo else value
    if kind == "date":
        return date.fromisoformat(value) if isinstance(value, str) else value
    if kind == "int":
        return int(value)
    if kind == "decimal":
        return Decimal(str(value)).normalize()
    return str(value)


def _key_text(primary_key: list[str], row: tuple) -> str:
    """A key and its row count, e.g. `id=7 (2 rows)`."""
    *values, rows = row
    key = ", ".join(f"{name}={value!r}" for name, value in zip(primary_key, values, strict=True))
    return f"{key} ({rows} rows)"


def describe_window(window: Window) -> str:
    parts = []
    if window.where is not None:
        parts.append(f"partition {window.where.key}")
    if window.cursor is not None:
        low = "…" if window.low is None else _text(window.low)
        high = "…" if window.high is None else _text(window.high)
        parts.append(f"{window.cursor} {low} to {high}")
    return ", ".join(parts) or "the whole table"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _age(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0", "")
    return f"{seconds}s"


def _tenants(scopes: list[str]) -> str:
    return "tenant" if len(scopes) == 1 else "tenants"


def _first(names: Iterable[str]) -> str:
    """The first TENANT_EXAMPLES of `names`, and how many more."""
    names = list(names)
    shown = ", ".join(names[:TENANT_EXAMPLES])
    more = len(names) - TENANT_EXAMPLES
    return f"{shown} and {more} more" if more > 0 else shown


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
