"""Which load folders of one table the landing store may delete after a committed load.

The warehouse, not the folder, says whether a load was committed (`_tributary.loads`), so a
killed run's parts and a landing whose load failed are treated alike: not committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_DAYS = 7
LOAD_ID_TIME = "%Y%m%dT%H%M%SZ"  # the prefix of ingest.new_load_id


@dataclass(frozen=True)
class Retention:
    """Keep a table's committed loads younger than `days`, and/or its newest `loads` (per
    partition). With both, a load either rule keeps is kept. Folders never committed are
    removed after `days` (DEFAULT_DAYS when only `loads` is set)."""

    days: int | None = DEFAULT_DAYS
    loads: int | None = None

    def __post_init__(self) -> None:
        if self.days is None and self.loads is None:
            raise ValueError("a retention keeps loads by days, by count, or both")

    @property
    def uncommitted_grace(self) -> timedelta:
        return timedelta(days=self.days or DEFAULT_DAYS)


@dataclass(frozen=True)
class LoadReferences:
    """What the warehouse knows of one table's loads: each committed load id with its scope
    (the partition it loaded, "" for the whole table) in commit order, oldest first, and the
    load ids its watermarks name."""

    committed: Mapping[str, str] = field(default_factory=dict)
    watermarks: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Cleanup:
    """What one retention pass removed (load ids), or why it stopped."""

    removed: tuple[str, ...] = ()
    error: str | None = None


def load_id_time(load_id: str) -> datetime | None:
    """When the load started, from its id; None for a name that is not a load id."""
    try:
        return datetime.strptime(load_id[:16], LOAD_ID_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def folders_to_remove(
    folders: Iterable[str],
    references: LoadReferences,
    retention: Retention,
    *,
    now: datetime,
) -> list[str]:
    """The load folders (by load id) of one table that the retention lets go, oldest first.

    Never removed: a name that is not a load id, the newest committed load of each scope,
    a folder never committed that started no earlier than the newest committed load (a run
    may be landing it) or within the grace, a load a watermark names. Committed loads go
    when no keep rule holds them."""
    started = {name: load_id_time(name) for name in folders}
    started = {name: time for name, time in started.items() if time is not None}
    # In commit order: two loads started in the same second do not sort by their ids.
    committed = [name for name in references.committed if name in started]
    if not committed:
        return []  # nothing to measure "older than the newest committed load" against
    kept = set(references.watermarks)
    by_scope: dict[str, list[str]] = {}
    for name in committed:
        by_scope.setdefault(references.committed[name], []).append(name)
    for names in by_scope.values():
        kept.update(names[-(retention.loads or 1) :])
    if retention.days is not None:
        age_limit = now - timedelta(days=retention.days)
        kept.update(name for name in committed if started[name] >= age_limit)
    newest_start = max(started[name] for name in committed)
    grace_limit = now - retention.uncommitted_grace
    kept.update(
        name
        for name, time in started.items()
        if name not in references.committed and (time >= newest_start or time >= grace_limit)
    )
    return sorted(name for name in started if name not in kept)
