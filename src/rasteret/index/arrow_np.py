"""Arrow-to-NumPy and NumPy-to-Arrow conversions that do not import pandas.

pyarrow asks, on its first conversion between Python/NumPy values and Arrow
(``pa.array``, ``pa.scalar``, ``to_numpy``, ``to_pylist`` of timestamps), whether pandas
is installed, and imports it to find out: 0.1 to 0.3 s that every cold read would pay
although a read never uses pandas. The read path therefore goes through these
functions, which work on the arrays' buffers directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from rasteret.index.pool import POOL

__all__ = [
    "array_of",
    "bool_array",
    "datetimes",
    "micros",
    "numeric_values",
    "one_chunk",
    "string_array",
    "timestamp_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _dtype(t: pa.DataType) -> np.dtype[Any]:
    if pa.types.is_floating(t):
        return np.dtype(f"f{t.bit_width // 8}")
    if pa.types.is_signed_integer(t):
        return np.dtype(f"i{t.bit_width // 8}")
    if pa.types.is_unsigned_integer(t):
        return np.dtype(f"u{t.bit_width // 8}")
    raise TypeError(f"not a numeric Arrow type: {t}")


def one_chunk(arr: pa.Array[Any] | pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """``arr`` as one array: its only chunk as is, several concatenated from :data:`POOL`.

    Not ``ChunkedArray.combine_chunks``: it ignores its ``memory_pool`` (pyarrow 26).
    """
    if not isinstance(arr, pa.ChunkedArray):
        return arr
    if arr.num_chunks == 1:
        return cast("pa.Array[Any]", arr.chunk(0))
    if arr.num_chunks == 0:
        return cast("pa.Array[Any]", pa.array([], arr.type))
    return pa.concat_arrays(arr.chunks, memory_pool=POOL)


def numeric_values(
    arr: pa.Array[Any] | pa.ChunkedArray[Any], *, null: float | None = None
) -> npt.NDArray[Any]:
    """The values of an integer or float array, with nulls replaced by ``null``.

    Raises:
        ValueError: The array has nulls and ``null`` is None.
    """
    a = one_chunk(arr)
    n, off = len(a), a.offset
    buffers = a.buffers()
    dtype = _dtype(a.type)
    data = buffers[1]
    values = (
        np.frombuffer(memoryview(data), dtype=dtype, count=n + off)[off:]
        if data is not None and n
        else np.zeros(n, dtype=dtype)
    )
    if a.null_count == 0:
        return values
    if null is None:
        raise ValueError(f"{a.null_count} nulls in an array that must have none")
    return np.where(_valid_bits(a), values, np.asarray(null, dtype=dtype))


def bool_array(mask: npt.NDArray[np.bool_]) -> pa.BooleanArray:
    """``mask`` as an Arrow boolean array, built from its packed bits."""
    bits = pa.py_buffer(np.packbits(mask, bitorder="little").tobytes())
    return cast(pa.BooleanArray, pa.Array.from_buffers(pa.bool_(), len(mask), [None, bits]))


def micros(value: datetime) -> int:
    """Microseconds since the epoch, as the index stores timestamps (naive means UTC)."""
    delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The UTC datetime ``value`` microseconds after the epoch (the inverse of :func:`micros`)."""
    return _EPOCH + timedelta(microseconds=int(value))


def _validity(valid: npt.NDArray[np.bool_] | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())


def array_of(
    values: npt.NDArray[Any],
    type: pa.DataType | None = None,
    *,
    valid: npt.NDArray[np.bool_] | None = None,
    copy: bool = True,
) -> pa.Array[Any]:
    """A 1-D numeric array as Arrow (``type`` may be a timestamp over int64 values).

    ``valid`` marks the non-null entries (all of them when None). The values are copied
    once into a buffer Arrow owns, unless ``copy`` is False: the Arrow array then shares
    the NumPy array's memory (for arrays made just for it: no second pass over fresh
    pages, which for a million-row column costs more than building it).
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    if type is None:
        type = pa.from_numpy_dtype(flat.dtype)
    data = pa.py_buffer(flat.tobytes() if copy else flat.data)
    return pa.Array.from_buffers(type, len(flat), [_validity(valid), data])


def string_array(strings: list[str]) -> pa.StringArray:
    """Python strings as an Arrow string array (UTF-8 bytes plus offsets)."""
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError("strings too long for one Arrow string array")
    buffers = [
        None,
        pa.py_buffer(offsets.astype(np.int32).tobytes()),
        pa.py_buffer(b"".join(encoded)),
    ]
    return cast(pa.StringArray, pa.Array.from_buffers(pa.string(), len(encoded), buffers))


def timestamp_micros(
    arr: pa.Array[Any] | pa.ChunkedArray[Any],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """A timestamp column as microseconds since the epoch, and where it is not null."""
    a = one_chunk(arr)
    unit = a.type.unit
    ints = numeric_values(a.view(pa.int64()), null=0)
    valid = _valid_bits(a)
    if unit == "ns":
        return ints // 1000, valid
    return ints * _MICROS[unit], valid


def _valid_bits(a: pa.Array[Any]) -> npt.NDArray[np.bool_]:
    n, off = len(a), a.offset
    validity = a.buffers()[0]
    if a.null_count == 0 or validity is None:
        return np.ones(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(memoryview(validity), dtype=np.uint8), bitorder="little")
    return bits[off : off + n].astype(bool)


def datetimes(arr: pa.Array[Any] | pa.ChunkedArray[Any]) -> list[datetime | None]:
    """A timestamp column as datetimes (UTC-aware when the column has a time zone)."""
    a = one_chunk(arr)
    us, valid = timestamp_micros(a)
    epoch = _EPOCH if a.type.tz is not None else _EPOCH.replace(tzinfo=None)
    return [
        epoch + timedelta(microseconds=v) if ok else None
        for v, ok in zip(us.tolist(), valid.tolist(), strict=True)
    ]
