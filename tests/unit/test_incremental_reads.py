"""Where an incremental read starts: the watermark, less the lookback, and less the hour a
source's zone repeats when the watermark falls in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    ],
)  # fmt: skip
def test_where_a_read_starts(watermark, lookback, zone, start) -> None:
    assert read_from(watermark, lookback, data_timezone=zone) == start


def test_a_lookback_of_another_kind_than_the_cursor_is_refused() -> None:
    with pytest.raises(TypeError, match="does not fit a cursor of type int"):
        read_from(42, timedelta(minutes=5))
