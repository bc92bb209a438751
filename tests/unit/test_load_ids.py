"""Load ids order loads by when they began: the rows of a key kept where two loads wrote it
(latest_per_key: the highest cursor, then the latest load's) are the later read's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tributary.ingest import new_load_id
from tributary.landing.retention import LOAD_ID_TIME


def test_load_ids_sort_as_their_loads_began_within_one_second() -> None:
    """Two ranges of a table loaded within one second, a row moved between them: the later
    read's copy must win. Ids of one second sorted by their random part, half of them the
    wrong way round."""
    began = datetime(2024, 5, 1, 12, 0, 0, 1000, tzinfo=UTC)
    for step in range(200):
        earlier = began + timedelta(microseconds=step * 997)
        later = earlier + timedelta(microseconds=1)
        assert new_load_id(earlier) < new_load_id(later)


def test_a_load_ids_time_reads_back_and_ids_of_one_instant_differ() -> None:
    began = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    load_id = new_load_id(began)
    assert datetime.strptime(load_id[:16], LOAD_ID_TIME).replace(tzinfo=UTC) == began.replace(
        microsecond=0
    )
    # The last 8 characters name a load's scratch tables: random, so loads of one instant
    # (two slices of one table) never share them.
    assert len({new_load_id(began)[-8:] for _ in range(50)}) == 50
