"""Structural check of a TIFF LZW stream, run before imagecodecs decodes it.

imagecodecs (2026.3) does not validate the first code after a Clear code: a code above
255 there makes its decoder build table entries from uninitialised memory, and a few
more codes crash the process (segmentation fault, found by ``fuzz/run.py``). A hostile
or corrupt COG must not be able to do that, so every stream is checked here first.

The check needs no decoding. In TIFF LZW (MSB-first, "early change") the width of a
code depends only on how many codes were read since the last Clear, never on their
values, so the codes of a run between two Clears sit at bit positions known in advance
(:data:`_OFFSETS`) and are read with a few vectorised NumPy operations per run. Each code
must name a table entry that exists (or the one about to be added, the KwKwK case); the
first code after a Clear must be a literal. Cost: a few microseconds per 4096 codes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rasteret.errors import TiffFormatError

__all__ = ["check_lzw_stream"]

_CLEAR = 256
_EOI = 257
_FIRST_FREE = 258
_RUN = 4096 - _FIRST_FREE + 1
"""Most codes between two Clears: one literal, then one new entry per code up to 4095."""


def _widths() -> npt.NDArray[np.int64]:
    """Bit width of the k-th code after a Clear (libtiff's early change)."""
    k = np.arange(_RUN + 1)
    next_code = _FIRST_FREE + np.maximum(k - 1, 0)  # the entry code k would add
    return np.select(
        [next_code <= 510, next_code <= 1022, next_code <= 2046], [9, 10, 11], default=12
    ).astype(np.int64)


_WIDTHS = _widths()
_OFFSETS = np.concatenate(([0], np.cumsum(_WIDTHS)[:-1])).astype(np.int64)
"""Bit offset of the k-th code after a Clear, relative to the end of that Clear."""
_LIMITS = _FIRST_FREE + np.maximum(np.arange(_RUN + 1) - 1, 0)
"""Highest code valid in position k: every entry so far, plus the one being added."""
_LIMITS[0] = 255
"""The first code after a Clear has no predecessor, so it must be a literal."""


def check_lzw_stream(data: bytes | bytearray | memoryview) -> None:
    """Refuse an LZW stream that names a table entry that does not exist yet.

    Old-style LZW (LSB-first, written before TIFF 6.0 and recognised as libtiff does by
    a first byte of 0 and an odd second byte) is refused outright: imagecodecs decodes
    it with a separate routine that also crashes on corrupt input, and no COG writer has
    produced it in thirty years.

    Args:
        data: The stream exactly as it will be handed to the decoder.

    Raises:
        TiffFormatError: A code refers to an undefined entry, more than 4096 entries are
            defined without a Clear code, or the stream is old-style LZW. The caller
            adds the block's name.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size >= 2 and raw[0] == 0 and raw[1] & 1:
        raise TiffFormatError("old-style LZW (LSB-first, before TIFF 6.0) is not supported")
    total_bits = raw.size * 8
    padded = np.concatenate((raw, np.zeros(3, dtype=np.uint8))).astype(np.uint32)
    start = 0
    while start < total_bits:
        count = int(np.searchsorted(_OFFSETS + _WIDTHS, total_bits - start, side="right"))
        if count == 0:
            return  # fewer bits left than one code: the decoder reports the truncation
        offsets = start + _OFFSETS[:count]
        widths = _WIDTHS[:count]
        byte = offsets >> 3
        window = (padded[byte] << 16) | (padded[byte + 1] << 8) | padded[byte + 2]
        shift = (24 - (offsets & 7) - widths).astype(np.uint32)
        codes = (window >> shift) & ((np.uint32(1) << widths.astype(np.uint32)) - 1)
        stops = np.flatnonzero((codes == _CLEAR) | (codes == _EOI))
        end = int(stops[0]) if stops.size else count
        bad = np.flatnonzero(codes[:end] > _LIMITS[:end])
        if bad.size:
            k = int(bad[0])
            raise TiffFormatError(
                f"code {int(codes[k])} at bit {int(offsets[k])} names a table entry "
                "that does not exist"
            )
        if not stops.size:
            if count > _RUN:
                raise TiffFormatError("table overflow (4096 entries and no Clear code)")
            return  # ran out of bits: truncation is the decoder's to report
        if codes[end] == _EOI:
            return
        start = int(offsets[end] + widths[end])
