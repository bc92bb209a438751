"""PostgreSQL's binary COPY format built from Arrow batches, column by column in numpy and
Arrow kernels: no value goes through a Python object and nothing is rendered as text.

Each column becomes a binary array whose element for a row is that field as COPY wants it
(a big-endian int32 length, -1 for NULL, then the type's binary "recv" form); Arrow joins the
columns element-wise into rows, and the joined array's data buffer is the COPY stream.
`binary_copy_supported` says whether every column of a schema has an encoder here; a load
with any other column keeps the text COPY.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tributary.arrow import DRIVER_INFINITY_DAYS, DRIVER_INFINITY_MICROS

# Sent once before the first row and once after the last (PostgreSQL docs, "COPY": Binary Format)
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

_PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's epoch, in days since 1970-01-01
_PG_EPOCH_MICROS = _PG_EPOCH_DAYS * 86_400_000_000
_NULL = np.array([-1], dtype=">i4").view(np.uint8)
_LOW32 = np.uint64(0xFFFFFFFF)

_FIXED = {  # Arrow type -> its values in numpy, and the big-endian type of its PostgreSQL column
    pa.int8(): ("<i1", ">i2"),
    pa.int16(): ("<i2", ">i2"),
    pa.int32(): ("<i4", ">i4"),
    pa.int64(): ("<i8", ">i8"),
    pa.uint8(): ("<u1", ">i2"),
    pa.uint16(): ("<u2", ">i4"),
    pa.uint32(): ("<u4", ">i8"),
    pa.float16(): ("<f2", ">f4"),
    pa.float32(): ("<f4", ">f4"),
    pa.float64(): ("<f8", ">f8"),
}
_MICROSECOND_UNITS = ("s", "ms", "us")  # exact in PostgreSQL's microseconds
# A PostgreSQL source's -infinity and infinity arrive as the driver's extremes (see
# tributary.arrow). PostgreSQL cannot hold the first (its calendar starts in 4713 BC),
# so both are written as its own -infinity and infinity (in binary: the type's extremes).


def binary_copy_supported(schema: pa.Schema) -> bool:
    return all(_supported(field.type) for field in schema)


def _supported(arrow_type: pa.DataType) -> bool:
    if isinstance(arrow_type, pa.JsonType):
        return True
    if arrow_type in _FIXED or arrow_type in (
        pa.bool_(),
        pa.uint64(),
        pa.date32(),
        pa.date64(),
    ):
        return True
    if pa.types.is_decimal(arrow_type):
        # 256-bit and negative-scale decimals stay on the text COPY
        return arrow_type.bit_width <= 128 and arrow_type.scale >= 0
    if pa.types.is_timestamp(arrow_type) or pa.types.is_time(arrow_type):
        # PostgreSQL keeps microseconds and rounds finer input as text; keep that on text COPY
        return arrow_type.unit in _MICROSECOND_UNITS
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
        or pa.types.is_null(arrow_type)
    )


def encode_rows(batch: pa.RecordBatch) -> memoryview:
    """The batch's rows in binary COPY format (without HEADER and TRAILER)."""
    rows = batch.num_rows
    count = _Fixed(np.array([[batch.num_columns]]), ">i2")
    segments = _merged(rows, [count, *(part for array in batch.columns for part in _field(array))])
    if len(segments) == 1:  # every field of every row has one width: the matrix is the rows
        return memoryview(segments[0].reshape(-1))
    joined = pc.binary_join_element_wise(
        *(_as_binary(segment) for segment in segments), _bytes_scalar(b"")
    )
    offsets = _values(joined, np.int64, extra=1)
    return memoryview(joined.buffers()[2])[offsets[0] : offsets[-1]]


@dataclass(frozen=True)
class _Fixed:
    """Bytes of one width in every row (a number, a date, a length word): `values`, (rows, k)
    or (1, k) for the same in every row, sent as k values of dtype `sent`."""

    values: np.ndarray
    sent: str

    @property
    def width(self) -> int:
        return self.values.shape[1] * np.dtype(self.sent).itemsize


# A field encodes as parts: _Fixed ones, and binary arrays for bytes whose length varies from
# row to row. A run of _Fixed parts is written straight into one (rows, width) byte matrix
# (each value converted to its big-endian form as it is copied), so that Arrow's element-wise
# join, whose cost is per row and part, sees a few parts a row instead of one or two a column.
def _merged(rows: int, parts: list[_Fixed | pa.Array]) -> list[np.ndarray | pa.Array]:
    segments: list[np.ndarray | pa.Array] = []
    run: list[_Fixed] = []
    for part in [*parts, None]:
        if isinstance(part, _Fixed):
            run.append(part)
            continue
        if run:
            matrix = np.empty((rows, sum(fixed.width for fixed in run)), dtype=np.uint8)
            start = 0
            for fixed in run:
                matrix[:, start : start + fixed.width].view(fixed.sent)[...] = fixed.values
                start += fixed.width
            segments.append(matrix)
            run = []
        if part is not None:
            segments.append(part)
    return segments


def _as_binary(segment: np.ndarray | pa.Array) -> pa.Array:
    if not isinstance(segment, np.ndarray):
        return segment
    rows, width = segment.shape
    return _binary(np.arange(rows + 1, dtype=np.int64) * width, segment.reshape(-1))


# Values are read from Arrow's buffers and never from Python objects: converting a Python
# value (pa.scalar, fill_null(0)) makes pyarrow import pandas, 40 MB of a load's memory.
# A NULL's slot holds any value; its field is cut to the -1 length word, whatever it was.
def _field(array: pa.Array) -> list[_Fixed | pa.Array]:
    arrow_type = array.type
    if isinstance(arrow_type, pa.JsonType):
        # jsonb's binary form: a version byte (1), then the JSON text
        text = array.storage.cast(pa.large_binary())
        return _variable_field(
            pc.binary_join_element_wise(_bytes_scalar(b"\x01"), text, _bytes_scalar(b""))
        )
    if pa.types.is_null(arrow_type):
        return [_Fixed(np.array([[-1]]), ">i4")]
    valid = _valid(array)
    if arrow_type in _FIXED:
        stored, sent = _FIXED[arrow_type]
        return _fixed_field(_values(array, stored), sent, valid)
    if arrow_type == pa.bool_():
        return _fixed_field(_bits(array.buffers()[1], array.offset, len(array)), "u1", valid)
    if arrow_type == pa.uint64():
        return _numeric_field(array.cast(pa.decimal128(20, 0)), valid)
    if pa.types.is_decimal(arrow_type):
        return _numeric_field(array, valid)
    if pa.types.is_date(arrow_type):
        days = _values(array.cast(pa.date32()), "<i4")
        sent = _infinity(days, DRIVER_INFINITY_DAYS, _PG_EPOCH_DAYS, valid, ">i4")
        return _fixed_field(sent, ">i4", valid)
    if pa.types.is_timestamp(arrow_type):
        # Arrow's safe cast refuses a value that would overflow in microseconds
        micros = _values(array.cast(pa.timestamp(arrow_type.unit)).cast(pa.timestamp("us")), "<i8")
        sent = _infinity(micros, DRIVER_INFINITY_MICROS, _PG_EPOCH_MICROS, valid, ">i8")
        return _fixed_field(sent, ">i8", valid)
    if pa.types.is_time(arrow_type):
        return _fixed_field(_values(array.cast(pa.time64("us")), "<i8"), ">i8", valid)
    return _variable_field(array)  # text and bytea: the bytes themselves


def _values(array: pa.Array, dtype, *, extra: int = 0) -> np.ndarray:
    """The array's values buffer (offsets, for `extra=1`) as numpy, without a copy."""
    values = np.frombuffer(array.buffers()[1], dtype=dtype)
    return values[array.offset : array.offset + len(array) + extra]


def _bits(buffer: pa.Buffer, offset: int, count: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")[
        offset : offset + count
    ]


def _valid(array: pa.Array) -> np.ndarray | None:
    if array.null_count == 0:
        return None
    return _bits(array.buffers()[0], array.offset, len(array)).astype(bool)


def _since_2000(values: np.ndarray, epoch: int, valid: np.ndarray | None, sent: str) -> np.ndarray:
    """Days or microseconds since PostgreSQL's epoch, as `sent`; refuses a value the shift
    would wrap (the text COPY had PostgreSQL refuse such a date itself)."""
    checked = values if valid is None else values[valid]
    limits = np.iinfo(sent)
    if checked.size and not (
        limits.min + epoch <= int(checked.min()) and int(checked.max()) <= limits.max + epoch
    ):
        raise ValueError("a date or timestamp lies outside PostgreSQL's range")
    return (values.astype(np.int64) - epoch).astype(sent)


def _infinity(
    values: np.ndarray,
    driver: tuple[int, int],
    epoch: int,
    valid: np.ndarray | None,
    sent: str,
) -> np.ndarray:
    """Days or microseconds since PostgreSQL's epoch, the driver's infinities as PostgreSQL's
    own (-infinity and infinity are the sent type's lowest and highest values)."""
    low, high = driver
    endless = (values == low) | (values == high)
    if not endless.any():
        return _since_2000(values, epoch, valid, sent)
    limits = np.iinfo(sent)
    shifted = _since_2000(np.where(endless, epoch, values), epoch, valid, sent)
    shifted[values == low] = limits.min
    shifted[values == high] = limits.max
    return shifted


def _bytes_scalar(value: bytes) -> pa.Scalar:
    data = np.frombuffer(value, dtype=np.uint8)
    return _binary(np.array([0, len(value)], dtype=np.int64), data)[0]


def _fixed_field(
    values: np.ndarray, sent: str, valid: np.ndarray | None
) -> list[_Fixed | pa.Array]:
    """Fields of one width: the length word and the values, each _Fixed; with NULLs, the length
    words (-1 for a NULL) stay _Fixed and the values are bytes cut to nothing for a NULL."""
    values = values.reshape(len(values), values.shape[1] if values.ndim == 2 else 1)
    width = np.dtype(sent).itemsize * values.shape[1]
    if valid is None:
        return [_Fixed(np.array([[width]]), ">i4"), _Fixed(values, sent)]
    words = np.where(valid, width, -1).reshape(-1, 1)
    matrix = np.empty((len(values), width), dtype=np.uint8)
    matrix.view(sent)[...] = values
    present = _binary(np.arange(len(values) + 1, dtype=np.int64) * width, matrix.reshape(-1))
    sized = pc.if_else(pa.array(valid), present, _bytes_scalar(b""))
    return [_Fixed(words, ">i4"), sized]


def _variable_field(array: pa.Array) -> list[_Fixed | pa.Array]:
    """Length-prefixed bytes: the length words, then the values themselves (the same width in
    every row, such as a load id, makes them _Fixed too)."""
    values = array.cast(pa.large_binary())
    offsets = _values(values, np.int64, extra=1)
    lengths = np.diff(offsets)
    valid = _valid(values)
    if valid is not None:
        lengths[~valid] = -1
        return [_Fixed(lengths.reshape(-1, 1), ">i4"), values.fill_null(_bytes_scalar(b""))]
    if len(lengths) and lengths.min() == lengths.max():
        data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        return [
            _Fixed(np.array([[lengths[0]]]), ">i4"),
            _Fixed(data.reshape(len(lengths), int(lengths[0])), "u1"),
        ]
    return [_Fixed(lengths.reshape(-1, 1), ">i4"), values]


def _numeric_field(array: pa.Array, valid: np.ndarray | None) -> list[_Fixed | pa.Array]:
    """numeric's binary form: ndigits, weight, sign, dscale (int16 each), then ndigits base-10000
    digits, most significant first. Every row gets the same digit count (leading and trailing
    zero digits are allowed: PostgreSQL strips them), so the field has a fixed width."""
    precision, scale = array.type.precision, array.type.scale
    array = array.cast(pa.decimal128(precision, scale))
    pad = -scale % 4  # decimal digits that align the point to a base-10000 digit
    whole_digits, fraction_digits = (
        -(-max(precision - scale, 0) // 4),
        (scale + pad) // 4,
    )
    digits = whole_digits + fraction_digits
    values = np.empty((len(array), 4 + digits), dtype=np.uint16)
    values[:, 0] = digits
    values[:, 1] = np.uint16((whole_digits - 1) & 0xFFFF)  # the weight of the first digit
    values[:, 3] = scale
    words = np.frombuffer(array.buffers()[1], dtype="<i8")
    words = words[2 * array.offset : 2 * (array.offset + len(array))].reshape(-1, 2)
    # Arrow does not check that values fit their precision: use the low word alone (plain
    # int64 arithmetic) only when it holds the value, and refuse digits that would be lost.
    if precision <= 18 and scale + pad <= 18 and np.array_equal(words[:, 1], words[:, 0] >> 63):
        negative = words[:, 0] < 0
        whole, fraction = np.divmod(np.abs(words[:, 0]), 10**scale)
        # least significant digit first, one divmod a digit; what is left past the last digit
        # is what the column type cannot hold
        left_over = _base_10000_digits(whole, values[:, 4 : 4 + whole_digits])
        _base_10000_digits(fraction * 10**pad, values[:, 4 + whole_digits :])
    else:
        limbs, negative = _magnitude_limbs(words.view(np.uint64))
        _multiply(limbs, 10**pad)
        for position in range(digits - 1, -1, -1):
            values[:, 4 + position] = _divide(limbs, 10_000)
        left_over = np.bitwise_or.reduce(limbs)
    if (left_over if valid is None else left_over[valid]).any():
        raise ValueError(f"a value has more digits than its column type {array.type} holds")
    values[:, 2] = np.where(negative, 0x4000, 0x0000)
    return _fixed_field(values, ">u2", valid)


def _base_10000_digits(values: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """Writes the last `digits.shape[1]` base-10000 digits of non-negative `values` into
    `digits` (most significant first); returns what is left above them."""
    rest = values
    for position in range(digits.shape[1] - 1, -1, -1):
        rest, digits[:, position] = np.divmod(rest, 10_000)
    return rest


def _magnitude_limbs(words: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """|value| of 128-bit two's complement unscaled decimals (rows of low, high uint64 words) as
    five 32-bit limbs (held in uint64, least significant first; the fifth takes a
    multiplication's overflow), and the signs."""
    low, high = words[:, 0].copy(), words[:, 1].copy()
    negative = (high >> np.uint64(63)).astype(bool)
    negated_low = ~low + np.uint64(1)
    carry = (negated_low == 0).astype(np.uint64)
    low = np.where(negative, negated_low, low)
    high = np.where(negative, ~high + carry, high)
    limbs = [low & _LOW32, low >> np.uint64(32), high & _LOW32, high >> np.uint64(32)]
    return [*limbs, np.zeros(len(words), dtype=np.uint64)], negative


def _multiply(limbs: list[np.ndarray], factor: int) -> None:
    carry = np.zeros_like(limbs[0])
    for index, limb in enumerate(limbs):
        product = limb * np.uint64(factor) + carry
        limbs[index] = product & _LOW32
        carry = product >> np.uint64(32)


def _divide(limbs: list[np.ndarray], divisor: int) -> np.ndarray:
    """Divides the limbs in place; returns the remainder."""
    remainder = np.zeros_like(limbs[0])
    for index in range(len(limbs) - 1, -1, -1):
        current = (remainder << np.uint64(32)) | limbs[index]
        limbs[index] = current // np.uint64(divisor)
        remainder = current % np.uint64(divisor)
    return remainder


def _offsets(sizes: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return offsets


def _binary(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        len(offsets) - 1,
        [None, pa.py_buffer(offsets), pa.py_buffer(data)],
    )
