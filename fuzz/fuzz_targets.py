"""Fuzz targets for rasteret's TIFF parser and tile decoders, and the rules they enforce.

A target takes arbitrary bytes and feeds them to the library. :func:`check_input` runs a
target on one input and reports whether it broke one of three rules:

* only rasteret's TIFF errors escape (``TiffFormatError`` and its ``HeaderTruncatedError``,
  ``UnsupportedTiffError``); anything else (``IndexError``, ``MemoryError``,
  ``struct.error``, a bare ``ValueError`` from NumPy) is a *crash*;
* an input finishes within a time cap (:data:`TIME_CAP_S`), else it is a *hang*;
* an input allocates (Python and NumPy heap, measured with :mod:`tracemalloc`) no more
  than its cap, which is proportional to the input and to the blocks the header
  declares, never to what a compressed stream expands to.

The same functions serve the coverage-guided engine (``atheris_main.py``), the seeded
random engine of ``run.py`` and the short fuzz test in ``tests/fuzz``.
"""

from __future__ import annotations

import contextlib
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rasteret.errors import TiffFormatError, UnsupportedTiffError
from rasteret.tiff import IfdKind, IfdLayout, decode_tile, expected_tile_nbytes, parse_tiff_header
from rasteret.tiff.codecs import CODECS
from rasteret.tiff.limits import MAX_BLOCK_BYTES

ALLOWED: tuple[type[Exception], ...] = (TiffFormatError, UnsupportedTiffError)
"""The only exceptions a target may let escape (HeaderTruncatedError is a TiffFormatError)."""

TIME_CAP_S = 2.0
"""Seconds one input may take before it counts as a hang (real inputs take milliseconds)."""

BASE_ALLOC_CAP = 8 * 1024 * 1024
"""Allocation every input may use regardless of its size (NumPy and codec bookkeeping)."""

INPUT_ALLOC_FACTOR = 16
"""Header parsing may allocate this many bytes per input byte (arrays widened to uint64)."""

BLOCK_ALLOC_FACTOR = 3
"""Decoding may allocate this many times the declared block (output, guard, LERC unwrap)."""

MAX_DECODED_BLOCKS = 4
"""Blocks the header target decodes per IFD, so one input stays fast."""


class Allowance:
    """Block bytes an input is entitled to allocate, raised by a target before it decodes.

    The decoder legitimately allocates the block the header declares (up to
    ``MAX_BLOCK_BYTES``), so the cap grows with each block about to be decoded, whether
    or not the block then turns out to be corrupt.
    """

    def __init__(self) -> None:
        self.block_bytes = 0

    def allow(self, nbytes: int) -> None:
        """Entitle the input to a block of ``nbytes`` (the largest one counts)."""
        self.block_bytes = max(self.block_bytes, min(nbytes, MAX_BLOCK_BYTES))


Target = Callable[[bytes, Allowance], None]
"""A fuzz target: consumes an input, declaring the blocks it decodes."""


class AllocationCapExceededError(Exception):
    """An input allocated more than its cap (raised so atheris records it as a crash)."""


class HangError(Exception):
    """An input ran longer than :data:`TIME_CAP_S`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What one input did."""

    status: str
    """``ok``, ``rejected`` (an allowed error), ``crash``, ``hang`` or ``alloc``."""
    seconds: float
    """Wall time of the input."""
    peak_bytes: int
    """Peak traced allocation above the level before the input."""
    cap_bytes: int
    """The allocation cap this input was held to."""
    detail: str = ""
    """Exception type and message for crashes, measured value for hangs and alloc."""


# ---------------------------------------------------------------------- header target


def header_target(data: bytes, allowance: Allowance) -> None:
    """Parse a (mutated) file, then decode a few blocks that lie inside the input.

    Decoding blocks of a fuzzed header is what catches hostile layouts (a huge declared
    tile, an impossible sample layout) that parse cleanly but break the decoder.
    """
    header = parse_tiff_header(data, source="fuzz.tif", file_size=len(data))
    for ifd in header.ifds:
        done = 0
        for offset, count in zip(
            ifd.tile_offsets.tolist(), ifd.tile_byte_counts.tolist(), strict=True
        ):
            if done >= MAX_DECODED_BLOCKS:
                break
            if count == 0 or offset + count > len(data):
                continue
            done += 1
            allowance.allow(expected_tile_nbytes(ifd))
            decode_tile(
                data[offset : offset + count],
                ifd,
                byte_order=header.byte_order,
                source=f"fuzz.tif block {offset}",
            )


# ---------------------------------------------------------------------- decode target

DECODE_PREFIX = 8
"""Bytes at the start of a decode input that describe the block layout."""

CODEC_CODES: tuple[int, ...] = tuple(sorted(CODECS))
"""Compression values the decode target chooses from (every codec rasteret reads)."""

DTYPES: tuple[tuple[str, int, int], ...] = (
    ("uint8", 8, 1),
    ("uint16", 16, 1),
    ("int16", 16, 2),
    ("uint32", 32, 1),
    ("float32", 32, 3),
    ("float64", 64, 3),
    ("int8", 8, 2),
    ("uint8", 1, 1),
)
"""(dtype, bits per sample, SampleFormat) the decode target chooses from."""


def decode_case(data: bytes) -> tuple[IfdLayout, str, int | None, bytes]:
    """Split a decode input into a block layout, byte order, row count and payload.

    Byte 0 picks the codec, 1 the dtype, 2 and 3 the tile width and height (1-256),
    4 the samples (1-4), 5 the predictor (1-3), 6 flags (bit 0 big-endian, bit 1 planar,
    bit 2 YCbCr, bits 3-4 LERC's outer codec), 7 the rows (0: the whole tile).
    """
    head = data[:DECODE_PREFIX].ljust(DECODE_PREFIX, b"\x00")
    compression = CODEC_CODES[head[0] % len(CODEC_CODES)]
    dtype, bits, sample_format = DTYPES[head[1] % len(DTYPES)]
    tile_width, tile_height = head[2] + 1, head[3] + 1
    samples = 1 + head[4] % 4
    flags = head[6]
    planar = 2 if flags & 2 else 1
    rows = None if head[7] == 0 else 1 + (head[7] - 1) % tile_height
    offsets = np.zeros(1, dtype=np.uint64)
    offsets.flags.writeable = False
    ifd = IfdLayout(
        ifd_index=0,
        kind=IfdKind.FULL,
        width=tile_width,
        height=tile_height,
        tile_width=tile_width,
        tile_height=tile_height,
        tiled=True,
        samples_per_pixel=samples,
        bits_per_sample=bits,
        sample_format=sample_format,
        dtype=dtype,
        compression=compression,
        predictor=1 + head[5] % 3,
        planar_config=planar,
        photometric=6 if flags & 4 else (2 if samples >= 3 else 1),
        subfile_type=0,
        tiles_across=1,
        tiles_down=1,
        tile_offsets=offsets,
        tile_byte_counts=offsets,
        lerc_parameters=(4, (flags >> 3) % 4),
        ycbcr_subsampling=(2, 2) if flags & 4 else None,
    )
    return ifd, ">" if flags & 1 else "<", rows, data[DECODE_PREFIX:]


def decode_encoded(ifd: IfdLayout, byte_order: str, rows: int | None, payload: bytes) -> bytes:
    """The decode input that :func:`decode_case` turns back into these arguments.

    Used to write seeds: valid blocks and bombs for a chosen layout.
    """
    dtype_index = next(
        i
        for i, (name, bits, _) in enumerate(DTYPES)
        if (name, bits) == (ifd.dtype, ifd.bits_per_sample)
    )
    lerc_extra = (ifd.lerc_parameters or (4, 0))[1]
    flags = (
        (1 if byte_order == ">" else 0)
        | (2 if ifd.planar_config == 2 else 0)
        | (4 if ifd.ycbcr_subsampling else 0)
        | (lerc_extra << 3)
    )
    head = bytes(
        [
            CODEC_CODES.index(ifd.compression),
            dtype_index,
            ifd.tile_width - 1,
            ifd.tile_height - 1,
            ifd.samples_per_pixel - 1,
            ifd.predictor - 1,
            flags,
            0 if rows is None else rows,
        ]
    )
    return head + payload


def decode_target(data: bytes, allowance: Allowance) -> None:
    """Decode a payload as one block of the layout its first bytes describe."""
    ifd, byte_order, rows, payload = decode_case(data)
    allowance.allow(expected_tile_nbytes(ifd, rows))
    # a window over the top of a tile as well: libdeflate is stopped early at its last row
    # and the predictor is undone from its first row on
    height = rows if rows is not None else ifd.tile_height
    need = 1 + (len(payload) * 7919) % max(height, 1)
    first = (len(payload) * 31) % need
    with contextlib.suppress(*ALLOWED):
        decode_tile(
            payload,
            ifd,
            byte_order=byte_order,
            rows=rows,
            rows_needed=need,
            first_row=first,
            source="fuzz top",
        )
    decode_tile(payload, ifd, byte_order=byte_order, rows=rows, source="fuzz block")


TARGETS: dict[str, Target] = {"header": header_target, "decode": decode_target}
"""Targets by the name ``run.py`` and ``atheris_main.py`` take on their command line."""


# ---------------------------------------------------------------------- the rules


def alloc_cap(data: bytes, block_bytes: int) -> int:
    """Most bytes an input may allocate: a constant, plus its size, plus its blocks."""
    return BASE_ALLOC_CAP + INPUT_ALLOC_FACTOR * len(data) + BLOCK_ALLOC_FACTOR * block_bytes


def check_input(target: Target, data: bytes, *, time_cap: float = TIME_CAP_S) -> Outcome:
    """Run ``target`` on ``data`` and classify what happened against the three rules.

    Tracing must already be on (:func:`tracemalloc.start`); the peak is reset here, so
    inputs are measured one at a time. A hang is judged after the fact: a pure-Python
    engine cannot interrupt C code, which is why the atheris engine also runs under
    libFuzzer's hard ``-timeout``.
    """
    allowance = Allowance()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    status, detail = "ok", ""
    try:
        target(data, allowance)
    except ALLOWED as err:
        status = "rejected"
        if not str(err):
            status, detail = "crash", f"{type(err).__name__} with an empty message"
    except Exception as err:  # noqa: BLE001 -- classifying every escape is the point
        status, detail = "crash", f"{type(err).__name__}: {err}"[:500]
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    peak_bytes = max(0, peak - before)
    cap = alloc_cap(data, allowance.block_bytes)
    if status != "crash" and seconds > time_cap:
        status, detail = "hang", f"{seconds:.2f} s > {time_cap} s"
    elif status != "crash" and peak_bytes > cap:
        status, detail = "alloc", f"{peak_bytes} bytes > cap {cap}"
    return Outcome(
        status=status, seconds=seconds, peak_bytes=peak_bytes, cap_bytes=cap, detail=detail
    )


def run_strict(target: Target, data: bytes) -> None:
    """Run ``target`` and let any rule violation escape, as a coverage fuzzer wants it.

    Allowed errors are swallowed; any other exception propagates with its own traceback;
    an input over its allocation cap raises :class:`AllocationCapExceededError`. Hangs are
    left to libFuzzer's ``-timeout``, which kills the process and keeps the input.
    """
    allowance = Allowance()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    with contextlib.suppress(*ALLOWED):
        target(data, allowance)
    _, peak = tracemalloc.get_traced_memory()
    cap = alloc_cap(data, allowance.block_bytes)
    if peak - before > cap:
        raise AllocationCapExceededError(f"{peak - before} bytes > cap {cap}")
