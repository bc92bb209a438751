"""Where an incremental read starts: the watermark, less the lookback, and less the hour a
source's zone repeats when the watermark falls in it; and how far the watermark goes: no
further than the source's clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from tributary.config.models import TableConfig
from tributary.ingest import cursor_cap, cursor_collation_problem, read_from
from tributary.landing.manifest import CursorRange
from tributary.sources import SourceClock

BERLIN = "Europe/Berlin"  # 2024-10-27: 03:00 summer time became 02:00 winter time


@pytest.mark.parametrize(
    ("watermark", "lookback", "zone", "start"),
    [
        (datetime(2024, 10, 27, 2, 50), None, BERLIN, datetime(2024, 10, 27, 1, 50)),
        (datetime(2024, 10, 27, 3, 10), timedelta(minutes=15), BERLIN,
         datetime(2024, 10, 27, 1, 55)),  # the lookback reaches into the repeated hour
        (datetime(2024, 10, 27, 3, 0), None, BERLIN, datetime(2024, 10, 27, 3, 0)),
        (datetime(2024, 3, 31, 2, 30), None, BERLIN, datetime(2024, 3, 31, 2, 30)),  # skipped
        (datetime(2024, 10, 27, 2, 50), None, "UTC", datetime(2024, 10, 27, 2, 50)),
        (datetime(2024, 10, 27, 2, 50, tzinfo=UTC), None, BERLIN,
         datetime(2024, 10, 27, 2, 50, tzinfo=UTC)),  # a zone of its own: never ambiguous
        (42, 5, BERLIN, 37),
        (Decimal("4.5"), Decimal("0.5"), "UTC", Decimal("4.0")),
        # a date cursor (a posting date) re-reads whole days: `lookback: 2d`
        (date(2024, 5, 3), timedelta(days=2), "UTC", date(2024, 5, 1)),
    ],
)  # fmt: skip
def test_where_a_read_starts(watermark, lookback, zone, start) -> None:
    assert read_from(watermark, lookback, zones=(zone,)) == start


def test_the_hour_either_zone_repeats_is_read_again() -> None:
    """The application's zone (`data_timezone`) and the database's own (its NOW()): the
    watermark 01:50 in New York's repeated hour of 3 November 2024, the data zone unset."""
    watermark = datetime(2024, 11, 3, 1, 50)
    assert read_from(watermark, None, zones=("UTC", "America/New_York")) == watermark.replace(
        hour=0
    )
    assert read_from(watermark, None, zones=(BERLIN, "UTC")) == watermark


@pytest.mark.parametrize(
    ("watermark", "lookback"),
    [(42, timedelta(minutes=5)), (date(2024, 5, 3), 2), ("INV-0042", 5)],
)
def test_a_lookback_of_another_kind_than_the_cursor_is_refused(watermark, lookback) -> None:
    # Before, a date or text cursor's lookback failed every load after the first with
    # "unsupported operand type(s) for -".
    with pytest.raises(
        TypeError, match=f"does not fit a cursor of type {type(watermark).__name__}"
    ):
        read_from(watermark, lookback)


class CollatedReader:
    """A source whose text cursor 'code' compares by `collation`."""

    def __init__(self, collation: str | None) -> None:
        self._collation = collation

    def key_match(self, table):
        return ()

    def collation(self, table, column):
        return self._collation if column == "code" else None


@pytest.mark.parametrize(
    ("collation", "refused"),
    [
        ("utf8mb4_general_ci", True),
        ("utf8mb4_0900_as_cs", True),  # case-sensitive, yet 'a' before 'B': not by codes
        ("SQL_Latin1_General_CP1_CI_AS", True),
        ("utf8mb4_bin", False),
        ("utf8mb4_nopad_bin", False),
        ("latin1_bin", False),
        ("Latin1_General_100_BIN2_UTF8", False),
        (None, False),  # not text, or a custom query's column
    ],
)
def test_a_text_cursor_is_refused_unless_its_collation_orders_by_codes(collation, refused):
    table = TableConfig(name="codes", primary_key=["id"], cursor="code", mode="incremental")
    problem = cursor_collation_problem(CollatedReader(collation), table)
    assert (problem is not None) == refused
    if refused:
        assert problem.startswith(
            f"the cursor 'code' is text the source compares by its collation {collation}, "
        )


# The source's clock: 12:00 UTC, its sessions' local time 21:00 (Tokyo).
CLOCK = SourceClock(instant=datetime(2024, 5, 1, 12, tzinfo=UTC), local=datetime(2024, 5, 1, 21))


@pytest.mark.parametrize(
    ("kind", "zone", "until", "future"),
    [
        # a time with a zone: the instant, and another machine's clock may run 5 minutes ahead
        (pa.timestamp("us", tz="UTC"), "UTC", CLOCK.instant,
         CLOCK.instant + timedelta(minutes=5)),
        # without one: as the source's sessions stamp it, a day's doubt of its zone
        (pa.timestamp("us"), "UTC", datetime(2024, 5, 1, 21), datetime(2024, 5, 2, 21)),
        # or as the application writes it, where data_timezone says so and that is later
        (pa.timestamp("us"), "Pacific/Kiritimati", datetime(2024, 5, 2, 2),
         datetime(2024, 5, 3, 2)),
        (pa.date32(), "UTC", date(2024, 5, 1), date(2024, 5, 2)),
        (pa.int64(), "UTC", None, None),  # no clock bounds a number, nor text
        (pa.string(), "UTC", None, None),
    ],
)  # fmt: skip
def test_a_date_or_time_cursor_is_capped_at_the_sources_clock(kind, zone, until, future) -> None:
    cap = cursor_cap(kind, CLOCK, zone)
    assert (cap and (cap.until, cap.future)) == ((until, future) if until else None)


@pytest.mark.parametrize(
    ("kind", "until", "highest", "watermark"),
    [
        ("timestamp", "2024-05-01T12:00:00", "2099-01-01T00:00:00", datetime(2024, 5, 1, 12)),
        ("timestamp", "2024-05-01T12:00:00", "2024-05-01T11:00:00", datetime(2024, 5, 1, 11)),
        ("timestamp", "2024-05-01T12:00:00+00:00", "2099-01-01T00:00:00+00:00",
         datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("date", "2024-05-01", "2099-01-01", date(2024, 5, 1)),
        # an outside tool's manifest (the inbox) whose until cannot be compared: not used
        ("timestamp", "2024-05-01T12:00:00+00:00", "2099-01-01T00:00:00",
         datetime(2099, 1, 1)),
    ],
)  # fmt: skip
def test_the_watermark_goes_no_further_than_the_clock(kind, until, highest, watermark) -> None:
    landed = CursorRange(column="c", type=kind, min=highest, max=highest, until=until)
    assert landed.watermark_value == watermark
