"""Where an incremental read starts: the watermark, less the lookback, and less the hour a
source's zone repeats when the watermark falls in it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tributary.ingest import read_from

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
    assert read_from(watermark, lookback, data_timezone=zone) == start


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
