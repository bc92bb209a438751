"""The reconciliation checksum (tributary.arrow.checksum): rows read through different drivers
agree, and no value can be taken for another."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa

from tributary.arrow import checksum


def digest(*rows: tuple) -> str:
    names = [f"c{i}" for i in range(len(rows[0]))]
    table = pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows])
    return checksum(table.to_batches())[1]


def test_a_null_is_no_value_and_values_keep_their_kind() -> None:
    """A NULL was written as the text \\N, a boolean true as the text 't' and values were
    joined by \\x1f: a warehouse's NULL where the source held the text '\\N' (what a text COPY
    makes of it), the two swapped between rows, or a separator inside a value, all passed."""
    assert digest((1, None)) != digest((1, "\\N"))
    assert digest((1, "\\N"), (4, None)) != digest((1, None), (4, "\\N"))
    assert digest((1, "\\N"), (4, None)) != digest((1, None), (4, None))
    assert digest((True,)) != digest(("t",))
    assert digest((False,)) != digest(("f",))
    assert digest(("a\x1f", "b")) != digest(("a", "\x1fb"))
    assert digest(("",)) != digest((None,))
    assert digest((1,)) != digest(("1",))


def test_the_same_values_typed_by_different_drivers_agree() -> None:
    assert digest((Decimal("1.50"),)) == digest((Decimal("1.5000000000"),))
    assert digest((1.0,)) == digest((1,))
    assert digest((datetime(2024, 5, 1, 12, tzinfo=UTC),)) == digest((datetime(2024, 5, 1, 12),))
    # independent of the rows' order
    assert digest((1, "a"), (2, None)) == digest((2, None), (1, "a"))


def test_infinity_checksums_alike_as_the_driver_and_the_warehouses_hand_it_over() -> None:
    # Before: Python's dates end in 9999, so the checksum of a column holding infinity failed
    # ("date value out of range") on the source's side and the warehouse's.
    def stamped(micros: list[int | None], days: list[int | None]) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays(
            [
                pa.array(micros, pa.int64()).view(pa.timestamp("us", tz="UTC")),
                pa.array(days, pa.int32()).view(pa.date32()),
            ],
            names=["at", "on"],
        )

    driver = stamped([-8_334_601_228_800_000_000, 8_210_266_876_799_999_999, 0, None],
                     [95_026_236, -96_465_292, 0, None])  # fmt: skip
    warehouse = stamped([-(2**63 - 1), 2**63 - 1, 0, None], [2**31 - 1, -(2**31 - 1), 0, None])
    assert checksum([driver]) == checksum([warehouse])
    swapped = stamped([2**63 - 1, -(2**63 - 1), 0, None], [2**31 - 1, -(2**31 - 1), 0, None])
    assert checksum([swapped]) != checksum([driver])
