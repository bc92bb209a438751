"""The manifest of one landed load: what a warehouse loads, and the audit trail of a load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, field_validator

CursorType = Literal["int", "decimal", "date", "timestamp", "string"]


class LandedFile(BaseModel):
    path: str  # relative to the load's folder
    rows: int
    bytes: int


class CursorRange(BaseModel):
    column: str
    type: CursorType
    min: str
    max: str
    # For a date or time cursor: the source's clock, read before the read began, as a value of
    # the cursor's type (ingest.cursor_cap). The watermark goes no further: a value from the
    # future (a wrong clock, a bad import: 2099) would have had every later load read from
    # there and find nothing; and what changed while a read that was no snapshot ran
    # (Salesforce) is read by the next load.
    until: str | None = None

    @property
    def min_value(self) -> Any:
        return decode_cursor(self.type, self.min)

    @property
    def max_value(self) -> Any:
        return decode_cursor(self.type, self.max)

    @property
    def until_value(self) -> Any | None:
        return None if self.until is None else decode_cursor(self.type, self.until)

    def past_until(self, value: Any) -> bool:
        """Whether `value` lies past `until` (a value of another kind, which cannot be
        compared with it, does not)."""
        until = self.until_value
        return until is not None and same_kind(value, until) and value > until

    @property
    def watermark_value(self) -> Any:
        """What the watermark may advance to: the highest value read, or `until` where that is
        earlier."""
        reached = self.max_value
        return self.until_value if self.past_until(reached) else reached


class Manifest(BaseModel):
    load_id: str
    source: str
    table: str
    mode: Literal["full", "incremental"]
    extracted_at: datetime
    row_count: int
    files: list[LandedFile]
    columns: list[tuple[str, str]]  # (name, Arrow type)
    cursor: CursorRange | None = None
    scope: str = ""  # the partition (tenant, key range) this load replaces; "" = whole table
    counters: dict[str, int] = {}  # what the type policy changed, e.g. zero_dates_nulled

    @field_validator("extracted_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        """An outside tool's manifest may give a time without a zone: UTC, as Tributary's."""
        return as_utc(value)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a time without a zone (a warehouse's, an outside tool's) is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class ManifestPromise:
    """The manifest of a load whose landing is still going on, for a load that streams its
    parts as they land: calling it waits for the landing, and returns the manifest once
    manifest.json is written (or raises what stopped the landing)."""

    load_id: str
    source: str
    table: str
    resolve: Callable[[], Manifest]

    def __call__(self) -> Manifest:
        return self.resolve()


def encode_cursor(value: Any) -> tuple[CursorType, str]:
    """A cursor value as (type, text), for manifests and the watermarks table."""
    if isinstance(value, bool):
        raise TypeError("a boolean column cannot be a cursor")
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, Decimal):
        return "decimal", str(value)
    if isinstance(value, datetime):
        return "timestamp", value.isoformat()
    if isinstance(value, date):
        return "date", value.isoformat()
    if isinstance(value, str):
        return "string", value
    raise TypeError(f"unsupported cursor type {type(value).__name__}")


def decode_cursor(kind: CursorType, text: str) -> Any:
    decoders = {
        "int": int,
        "decimal": Decimal,
        "timestamp": datetime.fromisoformat,
        "date": date.fromisoformat,
        "string": str,
    }
    return decoders[kind](text)


def cursor_value_as(value: Any, kind: pa.DataType | None) -> Any:
    """A watermark recorded by an earlier load as a value of the cursor's type now (`kind`, as
    read), where its column was widened since (drift.widens): a date as midnight of its day
    for a timestamp without a zone. That is how the source compares the date with the column
    (`cursor >= '2024-05-02'`), so a read from it skips no row of that day. Any other value as
    it is."""
    if type(value) is date and kind is not None and pa.types.is_timestamp(kind) and not kind.tz:
        return datetime.combine(value, time())
    return value


def same_kind(one: Any, other: Any) -> bool:
    """Whether two cursor values compare: of one type, and two times both with or both
    without a zone."""
    if type(one) is not type(other):
        return False
    return not isinstance(one, datetime) or (one.tzinfo is None) == (other.tzinfo is None)


def cursor_type_name(value: Any) -> str:
    """A cursor value's type, for people."""
    if isinstance(value, datetime):
        return "a timestamp " + ("without a zone" if value.tzinfo is None else "with a zone")
    kinds = {"int": "an integer", "decimal": "a decimal", "date": "a date", "string": "text"}
    return kinds[encode_cursor(value)[0]]
