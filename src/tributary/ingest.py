"""One table's journey: extract -> land -> load, as plain Python (Dagster wraps it in defs/)."""

from __future__ import annotations

import contextlib
import hashlib
import queue
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial, reduce
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.arrow import nonempty_batches
from tributary.config.models import SourceConfig, TableConfig
from tributary.errors import NullCursorError, NullKeyError, SourceError, StaleDropError
from tributary.landing import (
    Cleanup,
    LandingStore,
    Manifest,
    ManifestPromise,
    cursor_value_as,
    encode_cursor,
)
from tributary.names import as_spelled, listed, repeated
from tributary.reconcile import owed_comparison
from tributary.slices import TENANT_COLUMN, Slice
from tributary.sources import (
    ClockedSource,
    ColumnType,
    Extract,
    KeyMatchingSource,
    OriginSource,
    ProfilingSource,
    SourceClock,
    SourceReader,
    TypedSource,
    ValueLocatingSource,
)
from tributary.sources.read_process import stop_all as stop_reads
from tributary.sources.types import is_arrow_number
from tributary.warehouse import LoadOutcome, LoadTarget, ReconcileFailure, SourceRead, Warehouse
from tributary.warehouse.base import (
    LOAD_ID_CHARS,
    ORIGIN_BYTES,
    ColumnGap,
    CommitSeen,
    Owed,
    ReadStart,
    at_or_before,
    earlier_point,
)

NULL_CURSOR_EXCLUDED = "null_cursor_rows_excluded"
FUTURE_CURSOR_ROWS = "future_cursor_rows"


@dataclass(frozen=True)
class TableLoad:
    manifest: Manifest
    outcome: LoadOutcome
    landing_uri: str
    since: Any | None
    # What the load wrote, its keys matched as the source matches them (its checks do too).
    target: LoadTarget
    landing_cleanup: Cleanup = field(default_factory=Cleanup)  # the retention pass after it
    # Why an incremental load read the table (or partition) whole, its watermark not used.
    whole_because: str | None = None
    notes: tuple[str, ...] = ()  # the read's (Extract.notes)


def new_load_id(now: datetime) -> str:
    """Sortable by time to the microsecond (a key two loads wrote keeps the later one's row,
    latest_per_key: loads of one second sorted by chance), unique across concurrent runs (the
    random last 8 characters also name the load's scratch tables)."""
    return f"{now:%Y%m%dT%H%M%S}Z-{now:%f}{uuid.uuid4().hex[:8]}"


# How far another machine's clock may run ahead of this one's.
CLOCK_SKEW = timedelta(minutes=5)
# How far past the source's clock a time without a zone, or a date, may lie before it is taken
# for one from the future: the zone its writer stamped it in is not known for sure (zones lie
# up to 14 hours from UTC).
ZONE_DOUBT = timedelta(days=1)


@dataclass(frozen=True)
class CursorCap:
    """What the watermark of a date or time cursor may not pass, `until` (the source's clock,
    read before the read), and past which a value is taken for one from the future
    (`future`: a wrong clock, a bad import's 2099)."""

    until: Any
    future: Any


def cursor_cap(kind: pa.DataType, clock: SourceClock, data_timezone: str) -> CursorCap | None:
    """The cap of a cursor of type `kind` (as read), from the source's clock: a time with a
    zone, the instant; a time without one, the later of the source's local time (how its
    sessions stamp one: MySQL's NOW()) and the time in `data_timezone` (how the application
    writes one, where the source says); a date, that time's day. None for a number or text,
    which no clock bounds."""
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        return CursorCap(clock.instant, clock.instant + CLOCK_SKEW)
    written = clock.instant.astimezone(ZoneInfo(data_timezone)).replace(tzinfo=None)
    local = max(clock.local, written)
    if pa.types.is_timestamp(kind):
        return CursorCap(local, local + ZONE_DOUBT)
    if pa.types.is_date(kind):
        return CursorCap(local.date(), local.date() + ZONE_DOUBT)
    return None


def machine_clock(at: datetime) -> SourceClock:
    """This machine's time as a source's clock (`at`, UTC): what bounds a read no source
    clock does (Salesforce's pages; a drop, by when it was extracted)."""
    return SourceClock(instant=at, local=at.astimezone(UTC).replace(tzinfo=None))


def checked_start(start: ReadStart, clock: SourceClock, data_timezone: str) -> ReadStart:
    """`start`, or the whole table where its watermark lies past the source's clock (past
    what cursor_cap takes for a value from the future): one recorded from a drop holding a
    value from the future, or before watermarks kept to the clock. Read from there, the load
    found the future rows alone and its watermark went back to the clock, past every row
    changed meanwhile; where the source was read to is not known."""
    value = start.watermark
    if isinstance(value, datetime):
        kind = pa.timestamp("us", tz="UTC" if value.tzinfo else None)
    elif isinstance(value, date):
        kind = pa.date32()
    else:
        return start
    cap = cursor_cap(kind, clock, data_timezone)
    if cap is None or value <= cap.future:
        return start
    return ReadStart(
        whole_because=f"its watermark ({value}) lies past the source's clock ({cap.until}): "
        "a value from the future was recorded as read, so where the source was read to is not "
        "known"
    )


def load_target(
    source: SourceConfig,
    table: TableConfig,
    where: Slice | None = None,
    *,
    reader: SourceReader | None = None,
) -> LoadTarget:
    """Where and how the table loads; its keys matched as `reader`'s database compares them
    where it can say (a MySQL or SQL Server table's collation), else exactly (an inbox drop,
    a custom query, every other source)."""
    key_match = reader.key_match(table) if isinstance(reader, KeyMatchingSource) else ()
    return LoadTarget(
        source=source.name,
        table=table.name,
        mode=table.mode,
        primary_key=tuple(table.primary_key),
        cursor=table.cursor,
        where=where,
        schema_contract=source.contract_for(table),
        key_match=key_match,
        origin=read_origin(reader, table, where),
    )


def read_origin(reader: SourceReader | None, table: TableConfig, where: Slice | None) -> str | None:
    """What a load of the table (or slice) reads, for its watermark to record: the source's
    origin (the database, the object or query) and a tenant's settings its query binds.
    Another origin than the watermark's may hold rows behind it: the load reads whole
    (Warehouse.read_start). None where the reader cannot say (an inbox drop)."""
    if not isinstance(reader, OriginSource):
        return None
    origin = reader.origin(table)
    if where is not None and where.settings:
        origin += f" settings {where.settings_text}"
    if len(origin.encode()) > ORIGIN_BYTES:  # a query of pages: its digest tells it apart
        digest = hashlib.sha256(origin.encode()).hexdigest()
        origin = origin.encode()[: ORIGIN_BYTES - 80].decode(errors="ignore") + f" sha256 {digest}"
    return origin


def read_from(
    watermark: Any | None,
    lookback: timedelta | int | Decimal | None,
    *,
    zones: Sequence[str] = ("UTC",),
) -> Any | None:
    """Where an incremental read starts: the watermark, less the lookback window, so that
    rows committed late with a cursor just behind the watermark are not missed; and a
    watermark without a zone that falls in an hour one of `zones` repeats (clocks set back),
    less that hour too, so that the rows written the second time round are read. The zones:
    the source's `data_timezone` (how its application writes such times) and the database's
    own where it names one (how its NOW() stamps them)."""
    if watermark is None:
        return None
    if lookback is not None:
        number = isinstance(watermark, int | Decimal) and not isinstance(watermark, bool)
        if not lookback_fits(lookback, time=isinstance(watermark, date), number=number):
            raise TypeError(
                f"lookback {lookback!r} does not fit a cursor of type {type(watermark).__name__}"
            )
        watermark = watermark - lookback
    if isinstance(watermark, datetime) and watermark.tzinfo is None:
        watermark -= max(_repeated(watermark, ZoneInfo(zone)) for zone in zones)
    return watermark


def lookback_fits(lookback: timedelta | int | Decimal, *, time: bool, number: bool) -> bool:
    """Whether a lookback fits a cursor that is a date or time, or a number: a duration fits a
    date or time (a date's whole days), a number a number."""
    return time if isinstance(lookback, timedelta) else number


def _repeated(local: datetime, zone: ZoneInfo) -> timedelta:
    """How far clocks in `zone` were set back where the local time `local` happens twice;
    nothing where it happens once."""
    first, second = (local.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1))
    if first is None or second is None:
        return timedelta(0)
    return max(first - second, timedelta(0))


def ingest_table(
    source: SourceConfig,
    table: TableConfig,
    *,
    reader: SourceReader,
    landing: LandingStore,
    warehouse: Warehouse,
    batch_rows: int,
    where: Slice | None = None,
    full_refresh: bool = False,
    source_file: str | None = None,
) -> TableLoad:
    """Read the table (or its partition `where`), land it and load it. `full_refresh` reads
    an incremental table whole and replaces it, as a full load does: what no cursor sees (rows
    deleted in the source, values changed without their cursor, such as Salesforce formula
    fields) is brought back in line, and the watermark is the highest cursor read, lower too.
    `source_file`: the file the source is configured in, for errors naming a key of it."""
    if full_refresh:
        table = table.model_copy(update={"mode": "full"})
    if where is not None and where.kind == "range":
        check_key_range_type(
            key_range_problem(reader, table), source, table, source_file=source_file
        )
    if problem := cursor_collation_problem(reader, table):
        raise SourceError(f"table '{table.name}': {problem}", transient=False)
    started_at = datetime.now(UTC)
    load_id = new_load_id(started_at)
    target = load_target(source, table, where, reader=reader)
    start = warehouse.read_start(target) if table.mode == "incremental" else ReadStart()
    if start.replace:  # its rows were merged on another key than its own now
        table = table.model_copy(update={"mode": "full"})
        target = replace(target, mode="full")
    # Before the read: a row the read finds past it is one from the future, or one written
    # since this reading (the watermark stops there, so the next load reads it again).
    clock = reader.clock() if table.cursor and isinstance(reader, ClockedSource) else None
    start = checked_start(start, clock or machine_clock(started_at), source.data_timezone)
    zones = (source.data_timezone, *([clock.zone] if clock and clock.zone else []))
    since = read_from(start.watermark, table.lookback, zones=zones)
    # A load of the table committed from here on wrote while this one read: this one's rows
    # may be the older, and it writes none (Warehouse._refuse_overtaken).
    seen = warehouse.newest_commit(target)
    extract = reader.read(table, since=since, batch_rows=batch_rows, where=where)
    gaps = GapRead(since)
    if table.mode == "incremental" and since is not None:
        gaps = reread_column_gap(
            column_gaps(warehouse, target, extract.batches.schema.names),
            extract,
            since,
            lambda earlier: reader.read(table, since=earlier, batch_rows=batch_rows, where=where),
            locate=(
                partial(reader.first_cursor_holding, table, where=where)
                if isinstance(reader, ValueLocatingSource)
                else None
            ),
        )
        extract, since = gaps.extract or extract, gaps.since
    tenant = where.low if where is not None and where.kind == "tenant" else None
    check_column_names(extract.batches.schema, table, tenant_scoped=tenant is not None)
    # A name the rows spell in another case passes a first load (a whole read, no cursor in
    # its query) where the source compares names exactly, and fails every later one.
    check_named_columns(
        extract.batches.schema.names,
        source,
        table,
        exact=getattr(reader, "exact_names", False),
        source_file=source_file,
    )
    batches = refuse_null_keys(extract.batches, table)
    if tenant is not None:
        batches = refuse_other_tenants(batches, table, tenant)
    cursor = target.spelled_as(batches.schema.names).cursor  # as the rows spell it
    check_cursor_type(batches.schema, table, cursor)
    if since is not None and cursor in batches.schema.names:
        since = cursor_value_as(since, batches.schema.field(cursor).type)
    if table.mode == "incremental":
        batches = apply_null_cursor_policy(batches, table, cursor, extract.counters)
    if clock is None and not extract.snapshot:
        # A read over minutes (Salesforce), each page as the source is then: the watermark
        # stops at the read's start, by the earlier of this machine's clock and the source's
        # (where its answers told it). A machine ahead lost changes made early in a long read;
        # an org ahead recorded a watermark past this machine's clock (a whole read, next).
        clock = machine_clock(started_at)
        if extract.began is not None and extract.began.instant < clock.instant:
            clock = extract.began
    cap = None
    if clock is not None and cursor in batches.schema.names:
        cap = cursor_cap(batches.schema.field(cursor).type, clock, source.data_timezone)
    if cap is not None and extract.snapshot:  # values past a read's start are no snapshot's
        batches = count_future_cursors(batches, cursor, cap.future, extract.counters)

    def land(
        on_part: Callable[[str], None] | None = None,
        on_batch: Callable[[pa.RecordBatch], None] | None = None,
    ) -> Manifest:
        return landing.land(
            with_load_columns(
                batches,
                load_id=load_id,
                extracted_at=started_at,
                tenant=tenant,
            ),
            source=source.name,
            table=table.name,
            load_id=load_id,
            mode=table.mode,
            extracted_at=started_at,
            cursor=cursor,
            cursor_until=cap.until if cap else None,
            scope=target.scope,
            counters=extract.counters,
            part_rows=batch_rows,
            on_part=on_part,
            on_batch=on_batch,
        )

    def owed(manifest: Manifest) -> ReconcileFailure | None:
        # Compared as the check compares it: in the source where it can count (reconcile).
        counted = isinstance(reader, ProfilingSource)
        return owed_comparison(table, manifest, since, where, counted=counted)

    if not warehouse.loads_while_landing:
        loaded = load_landed(
            target,
            land(),
            landing=landing,
            warehouse=warehouse,
            started_at=started_at,
            since=since,
            read=gaps.read(since, seen),
            whole_because=start.whole_because,
            owed=owed,
        )
    else:
        with LandingStream(land, landing, target, load_id) as stream:
            loaded = load_landed(
                target,
                stream.manifest,
                landing=landing,
                warehouse=warehouse,
                started_at=started_at,
                since=since,
                batches=stream.batches(),
                read=gaps.read(since, seen),
                whole_because=start.whole_because,
                owed=owed,
            )
    return replace(loaded, notes=tuple(extract.notes))


_DONE = object()


class LandingStream:
    """Landing in a thread of its own while the warehouse loads the rows already landed:
    extraction, Parquet writes and the load's COPY overlap (as the mariadb | psql pipe's two
    processes do), where land-then-load ran them one after the other.

    The load gets each batch the landing has written to its part, as it is (reading it back
    from Parquet cost a decode per row), when Parquet reads back exactly that schema; else, and
    for the batches past HELD_BYTES not yet loaded, it reads the rest of each part from the
    landing once the part is closed. Either way it loads exactly the landed rows, and the
    landing never waits for the load: a source driver that reads ahead (connectorx does,
    without bound) is drained at the landing's pace, and memory stays flat however slow the
    warehouse. `manifest` is the load's promise of the manifest: asked for once every part is
    staged, it answers only after the landing wrote manifest.json, so nothing commits before
    it. A failure while extracting or landing reaches the load as the exception itself, from
    the batch stream, and the load's transaction rolls back; a failed load stops the landing
    (its folder keeps no manifest)."""

    # Landed batches held for the load at most: past it, the load reads them from the part.
    HELD_BYTES = 16 * 2**20

    def __init__(
        self,
        land: Callable[..., Manifest],
        landing: LandingStore,
        target: LoadTarget,
        load_id: str,
    ) -> None:
        self._landing = landing
        # ("batch", batch) or ("part", path, rows handed as batches, whether all were): the
        # batches it holds are bounded by HELD_BYTES, the rest are paths
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._result: Manifest | BaseException | None = None
        self._held = 0
        self._held_lock = threading.Lock()
        self._hands_batches: bool | None = None  # decided on the first batch
        self._part_rows = 0  # of the part being written, handed as batches
        self._part_whole = True  # every batch of that part handed so far
        self._thread = threading.Thread(
            target=self._land, args=(land,), name=f"landing-{load_id}", daemon=True
        )
        self.manifest = ManifestPromise(load_id, target.source, target.table, self._manifest)

    def __enter__(self) -> LandingStream:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        if kind is not None and not issubclass(kind, Exception):
            # An interrupt (Terminate): the landing thread may be waiting on the source's
            # rows for as long as its query runs; the read ends now, and the thread with it.
            stop_reads()
        self._thread.join()

    def _land(self, land: Callable[..., Manifest]) -> None:
        try:
            self._result = land(self._hand_on, self._hand_on_batch)
        except BaseException as exc:  # handed to the load, which raises it
            self._result = exc
        finally:
            self._queue.put(_DONE)

    def _hand_on_batch(self, batch: pa.RecordBatch) -> None:
        if self._stop.is_set():
            raise LandingStopped("the load stopped before the landing finished")
        if self._hands_batches is None:
            landed = self._landing.landed_schema(batch.schema)
            self._hands_batches = landed.equals(batch.schema, check_metadata=False)
        if not (self._hands_batches and self._part_whole):
            return
        with self._held_lock:
            if self._held + batch.nbytes > self.HELD_BYTES:
                self._part_whole = False  # the rest of this part is read from it
                return
            self._held += batch.nbytes
        self._part_rows += batch.num_rows
        self._queue.put(("batch", batch))

    def _hand_on(self, path: str) -> None:
        if self._stop.is_set():
            raise LandingStopped("the load stopped before the landing finished")
        whole = bool(self._hands_batches) and self._part_whole
        self._queue.put(("part", path, self._part_rows, whole))
        self._part_rows, self._part_whole = 0, True

    def batches(self) -> pa.RecordBatchReader:
        """The landed rows, batch by batch as they land; the schema is the landed one."""
        first = self._queue.get()
        if first is _DONE:
            self._raise_failure()
            raise LandingStopped("the landing wrote no part")  # land() always writes one
        if first[0] == "batch":
            schema = first[1].schema  # the landed schema (_hand_on_batch checked)
        else:
            with self._landing.fs.open(first[1], "rb") as handle:
                schema = pq.read_schema(handle)

        def rows() -> Iterator[pa.RecordBatch]:
            item = first
            while item is not _DONE:
                if item[0] == "batch":
                    batch = item[1]
                    with self._held_lock:
                        self._held -= batch.nbytes
                    yield batch
                else:
                    _, path, handed, whole = item
                    if not whole:
                        yield from self._landing.part_batches(path, skip_rows=handed)
                item = self._queue.get()
            self._raise_failure()

        return pa.RecordBatchReader.from_batches(schema, rows())

    def _raise_failure(self) -> None:
        if isinstance(self._result, BaseException):
            raise self._result

    def _manifest(self) -> Manifest:
        self._thread.join()
        self._raise_failure()
        if not isinstance(self._result, Manifest):
            raise LandingStopped("the landing wrote no manifest")
        return self._result


class LandingStopped(RuntimeError):
    pass


def load_landed(
    target: LoadTarget,
    manifest: Manifest | ManifestPromise,
    *,
    landing: LandingStore,
    warehouse: Warehouse,
    started_at: datetime | None = None,
    since: Any | None = None,
    batches: pa.RecordBatchReader | None = None,
    record_id: str | None = None,
    read: SourceRead | None,
    whole_because: str | None = None,
    owed: Owed | None = None,
) -> TableLoad:
    """Load exactly the files of a landed manifest: one Tributary just landed, or one an
    outside tool dropped into the landing inbox; or (`batches` and the manifest's promise)
    the parts of a landing still going on, as they land. Once committed, the store's
    retention removes the table's old folders (the inbox has none). `record_id`: the id the
    warehouse records the load under, where not its folder's (an inbox drop's). `read`: what
    the load read from the source (None: a drop's files); `whole_because`: why it read the
    table whole though a watermark was recorded (ReadStart); `owed`: the comparison its check
    owes, recorded with the load (reconcile.owed_comparison)."""
    folder = landing.load_dir(manifest.source, manifest.table, manifest.load_id)
    if batches is None:
        batches = landing.batches(manifest)
    if record_id is not None:
        manifest = manifest.model_copy(update={"load_id": record_id})
    outcome = warehouse.load(
        target,
        manifest,
        batches,
        landing_path=landing.uri(folder),
        started_at=started_at or datetime.now(UTC),
        read=read,
        owed=owed,
    )
    if not isinstance(manifest, Manifest):
        manifest = manifest()
    cleanup = landing.apply_retention(
        manifest.source,
        manifest.table,
        lambda: warehouse.load_references(manifest.source, manifest.table),
    )
    return TableLoad(
        manifest=manifest,
        outcome=outcome,
        landing_uri=landing.uri(folder),
        since=since,
        landing_cleanup=cleanup,
        target=target,
        whole_because=whole_because,
    )


def load_from_inbox(
    source: SourceConfig,
    table: TableConfig,
    load_id: str,
    *,
    inbox: LandingStore,
    warehouse: Warehouse,
    where: Slice | None = None,
    source_file: str | None = None,
) -> TableLoad:
    """Load a manifest an outside tool (a DMS full-load export, a partner drop) wrote into
    the landing inbox, in the landing store's own layout and manifest format. `source_file`
    names the source's file in errors of its configuration."""
    drop = inbox.read_drop(source.name, table.name, load_id)
    manifest = drop.manifest
    # read_drop holds the manifest to its folder's source and table; the scope, to the run's.
    if manifest.scope != (where.key if where else ""):
        raise SourceError(
            f"inbox manifest {load_id} is for {manifest.source}.{manifest.table} "
            f"(scope {manifest.scope!r}), not for this table"
        )
    if manifest.extracted_at > datetime.now(UTC) + CLOCK_SKEW:
        # Loaded, its rows would be the table's newest, and every correctly stamped drop after
        # it would be refused as older.
        raise StaleDropError(
            f"inbox load {load_id} was extracted at {manifest.extracted_at}, later than now: "
            "its manifest's extracted_at is not UTC (a time without a zone is read as UTC); "
            "write it with its zone"
        )
    files = inbox.inspect(manifest, key_columns(table, [name for name, _ in manifest.columns]))
    if files.differences:
        raise SourceError(
            f"inbox load {load_id}: {'; '.join(files.differences)}; nothing was loaded "
            f"({inbox.uri(inbox.load_dir(source.name, table.name, load_id))})"
        )
    fail_on_null_keys(table, files.nulls)
    held = files.schema.names if files.schema is not None else DROP_COLUMNS
    lacking = [name for name in DROP_COLUMNS if name not in held]
    if lacking:
        # Loaded, its rows held NULL there, and the marts' `where not is_deleted` left them out.
        raise SourceError(
            f"inbox load {load_id}: its files lack {listed(lacking)}, which every raw row "
            "carries: write _load_id (the manifest's load_id), _extracted_at (its extracted_at, "
            "a timestamp in UTC) and _deleted (false, or true for a row deleted at the source) "
            f"in each part; nothing was loaded ({inbox.uri(drop.folder)})"
        )
    if where is not None and where.kind == "range" and files.schema is not None:
        # The warehouse replaces the range by comparing the drop's key column with its bounds:
        # the source's rule, of the type the drop's files hold.
        names = files.schema.names
        column = as_spelled(where.table_column, names)
        if column in names:
            kind = files.schema.field(column).type
            found = ColumnType(f"{kind} (as the drop's files hold it)", is_arrow_number(kind))
            problem = key_type_problem(column, found)
        else:  # the warehouse's comparison failed with a bare binder error, naming no key
            problem = f"column '{column}' is not in the drop's files ({listed(names)})"
        check_key_range_type(
            problem,
            source,
            table,
            source_file=source_file,
            untouched=f"nothing was loaded ({inbox.uri(drop.folder)})",
        )
    target = replace(load_target(source, table, where), mode=manifest.mode)
    # Drops need not arrive in the order they were extracted (two tools; a failed run retried
    # behind a newer drop's): an older one would put its rows over newer ones.
    newest = warehouse.newest_extraction(target)
    if newest is not None and manifest.extracted_at < newest:
        raise StaleDropError(
            f"inbox load {load_id} was extracted at {manifest.extracted_at.astimezone(UTC)}, "
            f"but {target.schema}.{target.table} already holds rows extracted at {newest}: "
            "loaded, its older rows would replace newer ones, so it was not loaded. Remove it "
            f"from the inbox ({inbox.uri(inbox.load_dir(source.name, table.name, load_id))}), "
            "or drop it again extracted anew"
        )
    if len(drop.record_id) > LOAD_ID_CHARS:  # PostgreSQL and Redshift would refuse it
        raise SourceError(
            f"inbox load {load_id} ({inbox.uri(drop.folder)}): its load id is {len(load_id)} "
            f"characters long; the warehouse records an inbox load as <load_id>@<fingerprint> "
            f"in {LOAD_ID_CHARS}: name its folder (and the manifest's load_id) in at most "
            f"{LOAD_ID_CHARS - len(drop.fingerprint) - 1}"
        )
    loaded = warehouse.load_references(source.name, table.name).committed
    if drop.record_id in loaded:  # a run of it executed again
        raise SourceError(
            f"inbox load {load_id} ({inbox.uri(drop.folder)}) was loaded already, recorded as "
            f"{drop.record_id}: a drop is loaded once; drop it again extracted anew (a new "
            "manifest) to load it again"
        )
    inbox.ensure_copy_manifest(manifest)
    return load_landed(
        target,
        until_extracted(manifest, files.schema, source.data_timezone),
        landing=inbox,
        warehouse=warehouse,
        record_id=drop.record_id,
        read=None,
        owed=lambda recorded: owed_comparison(table, recorded, None, where, inbox=True),
    )


def until_extracted(manifest: Manifest, schema: pa.Schema | None, data_timezone: str) -> Manifest:
    """A drop's manifest whose date or time cursor stops where it was extracted (`until`), as a
    load's stops at the source's clock: a drop holding a value from the future (2099) set the
    watermark there, and the next load from the source read from there and took it back to the
    clock, past the rows changed meanwhile. An `until` the drop states stands where earlier."""
    cursor = manifest.cursor
    if cursor is None or schema is None or cursor.column not in schema.names:
        return manifest
    kind = schema.field(cursor.column).type
    cap = cursor_cap(kind, machine_clock(manifest.extracted_at), data_timezone)
    if cap is None or cursor.past_until(cap.until):
        return manifest
    until = encode_cursor(cursor_value_as(cap.until, kind))[1]
    return manifest.model_copy(update={"cursor": cursor.model_copy(update={"until": until})})


def column_gaps(warehouse: Warehouse, target: LoadTarget, names: Sequence[str]) -> list[ColumnGap]:
    """The columns the raw rows of the target's scope lack that a read of `names` carries:
    those earlier loads lacked (ColumnGap, from its point), and those new to the table, which
    every row loaded before lacks (from the first row). Under `freeze` a new column fails the
    load before it writes: nothing is read again for it."""
    held = warehouse.column_gap(target)
    gaps = [replace(held, columns=tuple(held.returned(names)))] if held else []
    recorded = warehouse.recorded_schema(target)
    if recorded is not None and target.schema_contract == "evolve":
        known = {name.casefold() for name in recorded.names}
        new = tuple(name for name in names if name.casefold() not in known)
        gaps.append(ColumnGap(new, target.cursor, None, load_id=""))  # no load recorded it
    return [gap for gap in gaps if gap.columns]


@dataclass(frozen=True)
class GapRead:
    """How a load's read gives the raw rows lacking a column (ColumnGap) their values: it
    begins at `since`, started anew there (`extract`) where it had begun later; `filled`: the
    columns so given; `nothing_behind`: the source said no row behind the read holds a value
    of them, so that none is read again."""

    since: Any | None
    extract: Extract | None = None
    filled: tuple[str, ...] = ()
    nothing_behind: bool = False

    def read(self, since: Any | None, seen: CommitSeen | None = None) -> SourceRead:
        """What the load read, from `since` (this read's point as the cursor's type has it),
        having `seen` the newest commit as it began."""
        return SourceRead(since, filled=self.filled, nothing_behind=self.nothing_behind, seen=seen)


def reread_column_gap(
    gaps: Sequence[ColumnGap],
    extract: Extract,
    since: Any | None,
    read_from: Callable[[Any | None], Extract],
    *,
    locate: Callable[..., Any | None] | None = None,
) -> GapRead:
    """Where a read begun at `since` carries columns the scope's raw rows lack (`gaps`, each of
    the rows from its point: column_gaps), as its schema says before any row is pulled, the
    read that gives those rows their values. Where the source can say (`locate`: one query,
    ValueLocatingSource), from the first of them holding a value: none, and the read goes on
    as it is; else from the earliest gap's point (a new column's: the first row). The read is
    started anew (`read_from`) there, so that this load gives those rows their values (the
    warehouse then clears the gaps)."""
    filled = tuple(name for gap in gaps for name in gap.columns)
    behind = [gap for gap in gaps if gap.starts_before(since)]
    if not behind:
        return GapRead(since, filled=filled)
    if locate is None:
        point = reduce(earlier_point, [gap.since for gap in behind])
    else:
        point = locate([(gap.columns, gap.since) for gap in behind], before=since)
        if point is None or at_or_before(since, point):
            return GapRead(since, filled=filled, nothing_behind=True)
    extract.batches.close()  # nothing was pulled from it
    return GapRead(point, read_from(point), filled=filled)


def apply_null_cursor_policy(
    batches: pa.RecordBatchReader, table: TableConfig, cursor: str, counters: Counter
) -> pa.RecordBatchReader:
    """Rows whose cursor is NULL can never be found by `cursor >= watermark`, so every
    incremental read takes them too (`... OR cursor IS NULL`: the first load's and each later
    one's), and here: `include`: they pass; `exclude`: they are dropped and counted, on every
    load; `fail`: they are counted, and the read fails at its end, before the landing manifest
    is written, so nothing of it can be loaded. `cursor`: as the rows spell it."""

    def checked() -> Iterator[pa.RecordBatch]:
        nulls = 0
        for batch in batches:
            column = batch.column(cursor)
            if column.null_count and table.null_cursor != "include":
                nulls += column.null_count
                if table.null_cursor == "exclude":
                    batch = batch.filter(pc.is_valid(column))
            yield batch
        if nulls and table.null_cursor == "exclude":
            counters[NULL_CURSOR_EXCLUDED] += nulls
        elif nulls:
            raise NullCursorError(
                f"table '{table.name}': {nulls} row(s) have a NULL {cursor} (the cursor), and "
                "an incremental load would never read them again; set null_cursor: include "
                "(re-read and merge them on every load) or exclude (skip and count them)"
            )

    return pa.RecordBatchReader.from_batches(batches.schema, checked())


def count_future_cursors(
    batches: pa.RecordBatchReader, cursor: str, future: Any, counters: Counter
) -> pa.RecordBatchReader:
    """The rows whose `cursor` lies past `future` (CursorCap), counted as they stream by: the
    watermark stops at the source's clock, so they are read again by every load until they
    are mended in the source (future_cursor_warning)."""

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in batches:
            column = batch.column(cursor)
            later = pc.sum(pc.greater(column, pa.scalar(future, column.type))).as_py()
            if later:
                counters[FUTURE_CURSOR_ROWS] += later
            yield batch

    return pa.RecordBatchReader.from_batches(batches.schema, counted())


def future_cursor_warning(load: TableLoad) -> str | None:
    """What a load that read rows from the future says of them (its log's warning), or None."""
    rows = load.manifest.counters.get(FUTURE_CURSOR_ROWS)
    cursor = load.manifest.cursor
    if not rows or cursor is None:
        return None
    return (
        f"table '{load.manifest.table}': {rows} row(s) have a {cursor.column} later than the "
        f"source's clock ({cursor.until}), up to {cursor.max}: the watermark stops at the "
        f"clock, so every load reads them again until they are mended: fix their "
        f"{cursor.column} in the source (a server's clock, an import); rows mended to a time "
        "before the watermark are read again by a run with `full_refresh: true`"
    )


# The columns with_load_columns adds to every raw row. A source column of one of these names
# would stand in its place (DuckDB renames the second of two), and the merge would order a
# key's versions by the source's values.
LOAD_COLUMNS = ("_load_id", "_extracted_at", "_load_row")
DELETED = "_deleted"  # kept from the source where it sends one (Salesforce's IsDeleted)
# What an inbox drop's files must carry (_load_row is optional: the order rows were written in).
DROP_COLUMNS = ("_load_id", "_extracted_at", DELETED)


def check_column_names(schema: pa.Schema, table: TableConfig, *, tenant_scoped: bool) -> None:
    """Before anything is landed, the names the raw table will hold, compared ignoring case
    as DuckDB and Redshift match them: each once (a query may return a name twice, and DuckDB
    would call the second `id_1`), none a load column's, and a `_deleted` sent a flag."""
    if twice := repeated(schema.names):
        raise SourceError(
            f"table '{table.name}': the source returns two columns named {twice} (names are "
            "compared ignoring case); give each its own name in the query"
        )
    reserved = [*LOAD_COLUMNS, *([TENANT_COLUMN] if tenant_scoped else [])]
    for column in schema:
        name = column.name.lower()
        if name in reserved or (name == DELETED and column.name != DELETED):
            names = ", ".join([*reserved, DELETED])
            raise SourceError(
                f"table '{table.name}': the source has a column '{column.name}', which is one "
                f"of the load columns every raw row carries ({names}); read the table through "
                "a `query:` that renames it"
            )
        flag = pa.types.is_boolean(column.type) or pa.types.is_integer(column.type)
        if name == DELETED and not flag:
            raise SourceError(
                f"table '{table.name}': the source has a column '{column.name}' ({column.type}): "
                f"a source's {DELETED} must be boolean, as it becomes the load's deletion flag "
                "(true where the source deleted the row); read the table through a `query:` "
                "that renames or converts it"
            )


def named_columns(prefix: str, table: TableConfig) -> list[tuple[str, str]]:
    """(key, column) for every column the table's configuration names, its keys under
    `prefix` (the table's own: tables[<index>])."""
    named = [(f"{prefix}.primary_key[{i}]", name) for i, name in enumerate(table.primary_key)]
    if table.cursor:
        named.append((f"{prefix}.cursor", table.cursor))
    if table.tenant_column:
        named.append((f"{prefix}.tenant_column", table.tenant_column))
    if table.key_ranges:
        named.append((f"{prefix}.key_ranges.column", table.key_ranges.column))
    named += [(f"{prefix}.checks.checksum[{i}]", c) for i, c in enumerate(table.checks.checksum)]
    return named


def missing_columns(
    prefix: str, table: TableConfig, names: Sequence[str], *, exact: bool
) -> list[tuple[str, str]]:
    """(key, problem) for each column the table's configuration names that the source's
    columns `names` lack: compared exactly where the source compares names so (`exact`:
    PostgreSQL), else ignoring case. `tributary check` and every load decide by it."""
    found = set(names) if exact else {name.lower() for name in names}
    described = "the query's result" if table.query else f"'{table.read_object}'"
    return [
        (key, f"column '{column}' not found in {described} ({listed(names)})")
        for key, column in named_columns(prefix, table)
        if (column if exact else column.lower()) not in found
    ]


def table_place(source: SourceConfig, table: TableConfig) -> str:
    """The table's key in its source's file: tables[<index>] (by name where not listed)."""
    index = next((i for i, t in enumerate(source.tables) if t.name == table.name), None)
    return f"tables[{index}]" if index is not None else f"table '{table.name}'"


def check_named_columns(
    names: Sequence[str],
    source: SourceConfig,
    table: TableConfig,
    *,
    exact: bool,
    source_file: str | None,
) -> None:
    """Before anything is landed: missing_columns, as an error naming the file and the key."""
    if problems := missing_columns(table_place(source, table), table, names, exact=exact):
        key, problem = problems[0]
        raise SourceError(
            f"{source_file or f'source {source.name!r}'}: {key}: {problem}; nothing was loaded",
            transient=False,
        )


# What a key_ranges column must be.
KEY_RANGE_TYPES = "a numeric column (an integer, decimal or floating-point type)"


def key_range_problem(reader: SourceReader, table: TableConfig) -> str | None:
    """Why the table's key_ranges column, as the source declares it, cannot partition it, or
    None (key_type_problem). A column the table lacks is the read's to name; a reader that
    cannot tell types says nothing."""
    if table.key_ranges is None or not isinstance(reader, TypedSource):
        return None
    column = table.key_ranges.column
    return key_type_problem(column, reader.column_type(table, column))


def key_type_problem(column: str, found: ColumnType | None) -> str | None:
    """Why a key_ranges column of type `found` (None: not known) cannot partition its table,
    or None. A range is selected twice, by the source's read (or the tool that wrote an inbox
    drop) and by the warehouse when it replaces the range, each comparing the column with
    whole-number bounds: only numbers compare alike on both sides (MySQL reads '1000' and
    'A-3' as numbers, SQLite the bounds as text, PostgreSQL and DuckDB refuse to compare text
    with a number; a key of 12.5 is in the range from 10 to 20 on each)."""
    if found is None or found.number:
        return None
    return (
        f"column '{column}' is {found.declared}; expected {KEY_RANGE_TYPES}: the source and "
        "the warehouse each compare it with the ranges' bounds, and compare other types "
        "differently (MySQL reads text as a number, SQLite the bounds as text) or not at all; "
        "partition by a numeric column, or read the table through a `query:` that selects one"
    )


def check_key_range_type(
    problem: str | None,
    source: SourceConfig,
    table: TableConfig,
    *,
    source_file: str | None,
    untouched: str = "nothing was read",
) -> None:
    """Before anything is read (or an inbox drop loaded): key_range_problem (or
    key_type_problem), as an error naming the file and the key; `untouched` says what was
    not done."""
    if problem is None:
        return
    key = f"{table_place(source, table)}.key_ranges.column"
    raise SourceError(
        f"{source_file or f'source {source.name!r}'}: {key}: {problem}; " + untouched,
        transient=False,
    )


def cursor_type_problem(schema: pa.Schema, cursor: str) -> str | None:
    """Why `cursor`, of the type the rows (`schema`, as read) hold, cannot be a cursor, or None
    (and None for a cursor the rows lack). The load's check and `tributary check` both ask it:
    a watermark holds an integer, a decimal, a date, a timestamp or text
    (landing.manifest.encode_cursor)."""
    if cursor not in schema.names:
        return None
    kind = schema.field(cursor).type
    if (
        pa.types.is_integer(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_date(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    ):
        return None
    return (
        f"the cursor '{cursor}' is {kind}; a cursor must be an integer, decimal, date, "
        "timestamp or text column: cast it in a `query:` (SQL Server's rowversion: "
        f"cast({cursor} as bigint))"
    )


# A collation that orders text by its characters' codes: MySQL/MariaDB's `*_bin`, SQL Server's
# `*_BIN2` (and the older `*_BIN`).
_BINARY_COLLATION = re.compile(r"(^|_)bin2?(_|$)", re.IGNORECASE)


def cursor_collation_problem(reader: SourceReader, table: TableConfig) -> str | None:
    """Why the table's text cursor, compared by the source's collation, cannot be a cursor,
    or None. The watermark is the highest value by the characters' codes (the landing's
    min_max), and the warehouse's window compares so too; a collation that orders otherwise
    (ignoring case: 'C' after 'b') has the source read from the watermark rows the warehouse
    puts behind it, and the other way round. The load's check and `tributary check` both ask
    it, of the source's catalog, before anything is read."""
    if table.cursor is None or not isinstance(reader, KeyMatchingSource):
        return None
    collation = reader.collation(table, table.cursor)
    if collation is None or _BINARY_COLLATION.search(collation):
        return None
    cursor = table.cursor
    return (
        f"the cursor '{cursor}' is text the source compares by its collation {collation}, "
        "which does not order text by its characters' codes as the watermark and the "
        "warehouse do ('C' comes after 'b' there, before it here): loads would read rows "
        "again or skip them, and reconciliation would fail where nothing is wrong; give the "
        "column a binary collation (utf8mb4_bin; SQL Server: a _BIN2 one), read the table "
        f"through a `query:` that selects `{cursor} collate utf8mb4_bin as {cursor}`, or "
        "choose another cursor"
    )


def check_cursor_type(schema: pa.Schema, table: TableConfig, cursor: str | None) -> None:
    """Before anything is landed: a watermark holds an integer, a decimal, a date, a timestamp
    or text (landing.manifest.encode_cursor)."""
    if cursor is None or cursor not in schema.names:
        return  # a cursor the rows lack is the schema check's to name
    kind = schema.field(cursor).type
    if problem := cursor_type_problem(schema, cursor):
        raise SourceError(f"table '{table.name}': {problem}")
    if table.mode == "incremental" and table.lookback is not None:
        time = pa.types.is_timestamp(kind) or pa.types.is_date(kind)
        number = pa.types.is_integer(kind) or pa.types.is_decimal(kind)
        if not lookback_fits(table.lookback, time=time, number=number):
            # read_from would refuse it at the next load, once a watermark exists
            raise SourceError(
                f"table '{table.name}': lookback {table.lookback} does not fit the cursor "
                f"'{cursor}', which is {kind}: a duration fits a date or time cursor, a number a "
                "numeric one"
            )


def refuse_null_keys(batches: pa.RecordBatchReader, table: TableConfig) -> pa.RecordBatchReader:
    """A row whose key is NULL can be neither merged (no key equals NULL) nor kept apart (a
    full load keeps one row per key, and all NULLs are one). They are counted, and the read
    fails at its end, before the landing manifest is written, so nothing of it is loaded."""
    columns = key_columns(table, batches.schema.names)
    if not columns:
        return batches

    def checked() -> Iterator[pa.RecordBatch]:
        nulls = Counter()
        for batch in batches:
            for column in columns:
                nulls[column] += batch.column(column).null_count
            yield batch
        fail_on_null_keys(table, nulls)

    return pa.RecordBatchReader.from_batches(batches.schema, checked())


def refuse_other_tenants(
    batches: pa.RecordBatchReader, table: TableConfig, tenant: int | str
) -> pa.RecordBatchReader:
    """A tenant's rows are loaded as its own (`_tenant_id`), into its per-tenant exports: a
    row whose tenant column holds another tenant's id (a custom query's OR, a join gone wide)
    fails the read at its end, before the landing manifest is written, so nothing of it is
    loaded. Rows whose tenant column is NULL are the query's to include. Text is compared as
    MySQL's and SQL Server's default collations compare it, ignoring case and trailing
    spaces: the rows the source itself took for this tenant's are."""
    column = as_spelled(table.tenant_column or "", batches.schema.names)
    if column not in batches.schema.names:
        return batches
    held = batches.schema.field(column).type
    number = None
    if pa.types.is_integer(held) or pa.types.is_decimal(held):
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
            number = pa.scalar(tenant).cast(held)
    text = _as_tenant_text(pa.array([str(tenant)]))[0]

    def others_in(values: pa.Array) -> pa.Array:
        if number is not None:
            return pc.not_equal(values, number)
        return pc.not_equal(_as_tenant_text(values), text)

    def checked() -> Iterator[pa.RecordBatch]:
        others: Counter = Counter()
        for batch in batches:
            values = batch.column(column)
            foreign = pc.filter(values, others_in(values))
            others.update(foreign.to_pylist())
            yield batch
        if others:
            shown = ", ".join(str(value) for value in sorted(others, key=str)[:5])
            raise SourceError(
                f"table '{table.name}', tenant {tenant}: the query returned "
                f"{others.total()} row(s) whose {column} is another tenant's ({shown}); a "
                "tenant's query must select its own rows only; nothing was loaded"
            )

    return pa.RecordBatchReader.from_batches(batches.schema, checked())


def _as_tenant_text(values: pa.Array) -> pa.Array:
    return pc.utf8_lower(pc.utf8_rtrim_whitespace(pc.cast(values, pa.string())))


def key_columns(table: TableConfig, names: Sequence[str]) -> list[str]:
    """The table's primary_key columns as the rows spell them. A key column the rows lack is
    the schema check's to name."""
    spelled = (as_spelled(key, names) for key in table.primary_key)
    return [name for name in spelled if name in names]


def fail_on_null_keys(table: TableConfig, nulls: Mapping[str, int]) -> None:
    found = [f"{count} row(s) have a NULL {name}" for name, count in nulls.items() if count]
    if found:
        key = ", ".join(table.primary_key)
        raise NullKeyError(
            f"table '{table.name}': {'; '.join(found)} (primary_key {key}): rows without a "
            "key can be neither merged nor kept apart, and nothing was loaded; make the "
            "key NOT NULL in the source, or name a primary_key that always holds a value"
        )


def load_column_types(*, tenant_scoped: bool) -> dict[str, pa.DataType]:
    """The load metadata columns with_load_columns appends (before `_load_row`), by type."""
    types = {
        "_load_id": pa.string(),
        "_extracted_at": pa.timestamp("us", tz="UTC"),
        DELETED: pa.bool_(),
    }
    if tenant_scoped:
        types[TENANT_COLUMN] = pa.string()
    return types


def loaded_schema(read: pa.Schema, *, tenant_scoped: bool) -> pa.Schema:
    """The columns a load of rows of the `read` schema brings to its raw table: as landed
    (Parquet converts some types), the load's metadata columns appended. What the load's
    drift plan judges, for a check made before any row is read."""
    fields = [field for field in read if field.name != DELETED]  # a source's own: appended
    types = load_column_types(tenant_scoped=tenant_scoped)
    fields += [pa.field(name, arrow_type) for name, arrow_type in types.items()]
    schema = pa.schema([*fields, pa.field("_load_row", pa.int64())])
    return LandingStore.landed_schema(schema)


def with_load_columns(
    batches: pa.RecordBatchReader,
    *,
    load_id: str,
    extracted_at: datetime,
    tenant: int | str | None = None,
) -> Iterator[pa.RecordBatch]:
    """Each batch with the load metadata every raw row carries. `_deleted` is False unless
    the source sends its own (Salesforce's IsDeleted), which is kept, in the same place.
    `_load_row` is the row's position in the load: of two rows with one key and one cursor
    value, the one read last wins (warehouse.base.latest_per_key)."""
    given = {"_load_id": load_id, "_extracted_at": extracted_at, DELETED: False}
    if tenant is not None:
        given[TENANT_COLUMN] = str(tenant)
    types = load_column_types(tenant_scoped=tenant is not None)
    values: dict[str, tuple[Any, pa.DataType]] = {
        name: (given[name], arrow_type) for name, arrow_type in types.items()
    }
    # Each constant column is built once per load and sliced for every batch (zero-copy):
    # built per batch from Python lists, it took up to a tenth of a load's time.
    constants: dict[str, pa.Array] = {}
    position = 0
    for batch in nonempty_batches(batches):
        rows = batch.num_rows
        sent: dict[str, pa.Array] = {}
        index = batch.schema.get_field_index(DELETED)
        if index >= 0:
            sent[DELETED] = pc.fill_null(batch.column(index).cast(pa.bool_()), False)
            batch = batch.remove_column(index)
        for name, (value, arrow_type) in values.items():
            column = sent.get(name)
            if column is None:
                if name not in constants or len(constants[name]) < rows:
                    constants[name] = pa.array([value] * rows, arrow_type)
                column = constants[name].slice(0, rows)
            batch = batch.append_column(name, column)
        if "_load_row" not in constants or len(constants["_load_row"]) < rows:
            constants["_load_row"] = pa.array(range(rows), pa.int64())
        yield batch.append_column("_load_row", pc.add(constants["_load_row"][:rows], position))
        position += rows
