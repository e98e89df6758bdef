"""Decoding one TIFF tile (or strip): codec, predictor, byte order, bit unpacking.

This is the hot path of every pixel read, so it is written around three rules:

* one allocation per tile: stream codecs decode straight into the array that is returned,
  and the predictor and byte swap run in place on it;
* no Python loops over pixels: everything is an imagecodecs or NumPy call, and those
  release the GIL, so callers decode tiles on a thread pool;
* nothing bigger than the tile: every decoder is handed an output of the expected size
  and a stream that wants more is reported as corrupt, so a decompression bomb costs the
  tile size, not gigabytes.

The result matches what GDAL returns for the same block: native byte order, YCbCr JPEG
converted to RGB, 1-bit transparency masks as 0/255.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import imagecodecs
import numpy as np
import numpy.typing as npt

from rasteret.errors import InvalidInputError, TiffFormatError, UnsupportedTiffError
from rasteret.tiff.codecs import (
    CODEC_ERRORS,
    CODECS,
    GUARD_BYTES,
    OLD_JPEG,
    PREFIX_SLACK,
    BytesLike,
    Codec,
)
from rasteret.tiff.constants import Photometric
from rasteret.tiff.limits import MAX_BLOCK_BYTES
from rasteret.tiff.types import IfdLayout

__all__ = ["decode_tile", "expected_tile_nbytes", "prefix_fetch_length", "tile_shape"]

_NATIVE = "<" if sys.byteorder == "little" else ">"
"""Byte order of this machine in TIFF/NumPy notation."""

_PREDICTOR_NONE = 1
_PREDICTOR_HORIZONTAL = 2
_PREDICTOR_FLOAT = 3
_MASK_ON = 255
"""Value GDAL's ``read_masks`` gives a valid pixel of a 1-bit transparency mask."""


def tile_shape(ifd: IfdLayout, rows: int | None = None) -> tuple[int, int, int]:
    """Shape ``(rows, cols, samples)`` of one decoded block of ``ifd``.

    Planar (band-sequential) files store one block per sample, so their blocks have a
    single sample; chunky blocks hold every sample of every pixel.
    """
    samples = ifd.samples_per_pixel if ifd.planar_config == 1 else 1
    return (ifd.tile_height if rows is None else rows), ifd.tile_width, samples


def expected_tile_nbytes(ifd: IfdLayout, rows: int | None = None) -> int:
    """Bytes a block of ``ifd`` decompresses to, before bit unpacking.

    Args:
        ifd: The IFD the block belongs to.
        rows: Rows in the block; defaults to the tile height (the last strip of a
            stripped file holds fewer).

    Returns:
        The exact size libtiff expects: rows are padded to whole bytes for 1-bit data.
    """
    nrows, cols, samples = tile_shape(ifd, rows)
    if ifd.bits_per_sample < 8:
        return nrows * ((cols * samples * ifd.bits_per_sample + 7) // 8)
    return nrows * cols * samples * np.dtype(ifd.dtype).itemsize


PREFIX_FETCH_MARGIN = 1.15
"""How much more than its share of the block's bytes a prefix fetch asks for."""

PREFIX_FETCH_PAD = 32 * 1024
"""Bytes added to every prefix fetch, so small prefixes survive uneven compression."""


def prefix_fetch_length(
    ifd: IfdLayout, length: int, *, rows: int, stop: int, filled: int | None = None
) -> int:
    """How many bytes of a compressed block to fetch for a read of its first ``stop`` rows.

    A read over the top of a deflate tile decodes only a prefix of its stream (see
    :func:`decode_tile`'s ``rows_needed``), so it needs only the stream's leading bytes.
    Their count is recorded nowhere; this estimates it from the share of the block's
    image rows the prefix decode produces (the rows plus :data:`PREFIX_SLACK`), with a
    margin, since compression varies along a tile. Rows below the image in an edge
    tile are padding that compresses to almost nothing, so the share is taken of the
    ``filled`` rows only. A guess that proves short makes the prefix decode fail (it
    never returns rows it did not decompress), and the caller fetches the whole block.

    Args:
        ifd: The IFD the block belongs to.
        length: The block's compressed size (its TileByteCounts entry).
        rows: Rows in the block.
        stop: Rows the read needs, from the top.
        filled: Rows of the block inside the image (default: all).

    Returns:
        ``length`` when the whole block is needed or the codec cannot stop early;
        otherwise the (shorter) number of leading bytes to fetch.
    """
    codec = CODECS.get(ifd.compression)
    filled = rows if filled is None else min(filled, rows)
    if codec is None or stop >= filled or not _stops_early(ifd, codec, stop, rows):
        return length
    slack_rows = math.ceil(PREFIX_SLACK / expected_tile_nbytes(ifd, 1))
    share = (stop + slack_rows) / filled
    guess = math.ceil(length * share * PREFIX_FETCH_MARGIN) + PREFIX_FETCH_PAD
    return min(guess, length)


def decode_tile(
    data: bytes | bytearray | memoryview,
    ifd: IfdLayout,
    *,
    byte_order: str,
    rows: int | None = None,
    source: str = "<tile>",
    out: npt.NDArray[Any] | None = None,
    rows_needed: int | None = None,
    first_row: int = 0,
) -> npt.NDArray[Any]:
    """Decode one compressed tile (or strip) into pixels, as GDAL would return them.

    Args:
        data: The block's bytes exactly as stored at its TileOffsets/StripOffsets entry.
        ifd: The IFD the block belongs to (compression, predictor, sample layout).
        byte_order: ``"<"`` or ``">"``, the file's byte order (``TiffHeader.byte_order``).
        rows: Rows in this block; defaults to ``ifd.tile_height``. Pass the actual count
            for the last strip of a stripped file, which holds fewer rows.
        source: Names the file (and block) in error messages.
        out: Optional C-contiguous destination of the result's dtype and shape, e.g. a
            region of an output canvas. JPEG, WebP, LERC, deflate and ZSTD decode
            straight into it (those decoders refuse to overflow it); other codecs decode
            into their own buffer first and are copied.
        rows_needed: Only the first this many rows are wanted (a window over the top of
            the tile). Codecs that can stop early (deflate) then decode just those rows
            and the result has ``rows_needed`` rows (the leading rows of ``out``, which
            keeps the whole tile's shape); other codecs decode everything and return the
            whole tile.
        first_row: Rows above this one are wanted by nobody (a window starting mid-tile):
            the predictor and byte order are then undone from this row on only, and
            the rows above hold unspecified values. Rows are independent once
            decompressed, so this skips work without changing any row that is wanted.

    Returns:
        A writable array of dtype ``ifd.dtype`` in native byte order, shaped
        ``(rows, tile_width, samples_per_pixel)`` for chunky blocks and
        ``(rows, tile_width, 1)`` for a planar block (``out`` itself when given). Edge
        tiles keep their padding. With ``rows_needed``, possibly only the leading rows.

    Raises:
        TiffFormatError: The bytes are empty, corrupt, truncated, or decode to a size
            other than the block's.
        UnsupportedTiffError: The compression or predictor is one rasteret does not read.
        InvalidInputError: ``byte_order`` or ``rows`` is out of range.
    """
    if byte_order not in ("<", ">"):
        raise InvalidInputError("byte_order", byte_order, "expected '<' or '>'")
    if rows is not None and not 1 <= rows <= ifd.tile_height:
        raise InvalidInputError("rows", rows, f"expected 1..{ifd.tile_height} (the tile height)")
    codec = _codec_for(ifd, source)
    if isinstance(data, memoryview) and (data.ndim != 1 or data.itemsize != 1):
        try:
            data = data.cast("B")  # count bytes, not elements of a typed view
        except TypeError as err:
            raise InvalidInputError("data", data, "expected a contiguous buffer") from err
    if len(data) == 0:
        raise TiffFormatError(
            f"{source}: block is empty (0 bytes); sparse blocks must be filled by the caller"
        )
    if (nbytes := expected_tile_nbytes(ifd, rows)) > MAX_BLOCK_BYTES:
        raise UnsupportedTiffError(
            f"{source}: block of {nbytes} bytes exceeds the {MAX_BLOCK_BYTES}-byte limit"
        )
    shape = tile_shape(ifd, rows)
    dtype = np.dtype(ifd.dtype)
    if out is not None and (out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous):
        raise InvalidInputError(
            "out", f"{out.dtype}{out.shape}", f"expected a C-contiguous {dtype}{shape} array"
        )
    if codec.image is not None:
        if ifd.bits_per_sample != dtype.itemsize * 8:
            raise UnsupportedTiffError(
                f"{source}: {codec.name} with {ifd.bits_per_sample}-bit samples is not supported"
            )
        if out is None:
            out = np.empty(shape, dtype=dtype)
        try:
            codec.image(data, ifd, out, source)
        except (TiffFormatError, UnsupportedTiffError):
            raise
        except CODEC_ERRORS as err:
            raise _corrupt(source, codec, err) from err
        if byte_order != _NATIVE and dtype.itemsize > 1:
            # libtiff byte-swaps every codec's output in big-endian files (its
            # post-decode step), so writers fed LERC the swapped samples: swap back.
            out.byteswap(inplace=True)
        return out
    assert codec.stream is not None  # every codec has exactly one of the two
    if not 0 <= first_row < (rows_needed or shape[0]):
        raise InvalidInputError(
            "first_row",
            first_row,
            f"expected 0..{(rows_needed or shape[0]) - 1} (before the last row)",
        )
    if rows_needed is not None:
        if not 1 <= rows_needed <= shape[0]:
            raise InvalidInputError(
                "rows_needed", rows_needed, f"expected 1..{shape[0]} (the block's rows)"
            )
        prefix = _prefix_rows(
            data, ifd, codec=codec, shape=shape, rows_needed=rows_needed, out=out, source=source
        )
        if prefix is not None:
            head = (rows_needed, *shape[1:])
            return _finish(
                prefix,
                ifd,
                codec=codec,
                byte_order=byte_order,
                source=source,
                shape=head,
                first_row=first_row,
            )
    direct = (
        out is not None
        and codec.bounded
        and ifd.bits_per_sample == dtype.itemsize * 8
        and not (codec.uses_predictor and ifd.predictor == _PREDICTOR_FLOAT)
    )
    if direct:
        assert out is not None
        raw = _decode_exact(data, codec, out.reshape(-1).view(np.uint8), source)
    else:
        raw = _decode_stream(data, codec, expected_tile_nbytes(ifd, rows), source)
    finished = _finish(
        raw,
        ifd,
        codec=codec,
        byte_order=byte_order,
        source=source,
        shape=shape,
        first_row=first_row,
    )
    return _into(out, finished)


def _finish(
    raw: npt.NDArray[Any],
    ifd: IfdLayout,
    *,
    codec: Codec,
    byte_order: str,
    source: str,
    shape: tuple[int, int, int],
    first_row: int = 0,
) -> npt.NDArray[Any]:
    """Decompressed bytes -> pixels: unpack bits or undo predictor and byte order.

    ``raw`` holds the bytes of ``shape``'s whole rows (a tile, or the leading rows of a
    prefix decode); the result may be ``raw`` itself, changed in place. Rows above
    ``first_row`` are left as they are, except where the step works on the whole block
    anyway (bit unpacking, the floating-point predictor's out-of-place reassembly).
    """
    dtype = np.dtype(ifd.dtype)
    if ifd.bits_per_sample == 1:
        return _unpack_bits(raw, ifd, shape, codec, source)
    if ifd.bits_per_sample != dtype.itemsize * 8:
        raise UnsupportedTiffError(
            f"{source}: {ifd.bits_per_sample}-bit samples are not supported (only 1, 8, 16, "
            "32 and 64)"
        )
    arr = raw.view(dtype).reshape(shape)
    predictor = ifd.predictor if codec.uses_predictor else _PREDICTOR_NONE
    try:
        if first_row and predictor != _PREDICTOR_FLOAT:
            _undo_predictor(arr[first_row:], predictor, byte_order, source)  # in place
            return arr
        return _undo_predictor(arr, predictor, byte_order, source)
    except (TiffFormatError, UnsupportedTiffError):
        raise
    except CODEC_ERRORS as err:
        raise TiffFormatError(f"{source}: predictor {predictor} failed: {err}") from err


def _prefix_rows(
    data: BytesLike,
    ifd: IfdLayout,
    *,
    codec: Codec,
    shape: tuple[int, int, int],
    rows_needed: int,
    out: npt.NDArray[Any] | None,
    source: str,
) -> npt.NDArray[np.uint8] | None:
    """Decode the first ``rows_needed`` rows only, or None when that saves nothing.

    Rows are independent once decompressed (the horizontal and floating-point
    predictors work row by row, 1-bit rows are padded to whole bytes), so the leading
    rows of a tile are the leading bytes of its stream. The decompressed prefix lands
    in ``out``'s own memory when given (its leading rows), so no extra buffer is needed.
    Returns the prefix's bytes, which the caller finishes like a whole tile's.
    """
    prefix = codec.prefix
    if prefix is None or not _stops_early(ifd, codec, rows_needed, shape[0]):
        return None
    nbytes = expected_tile_nbytes(ifd, rows_needed)
    room = nbytes + PREFIX_SLACK
    if out is not None:
        buf = out.reshape(-1).view(np.uint8)[:room]
    else:
        buf = np.empty(room, dtype=np.uint8)
    try:
        prefix(data, buf.data, nbytes)
    except TiffFormatError as err:
        raise TiffFormatError(f"{source}: {err}") from err
    except CODEC_ERRORS as err:
        raise _corrupt(source, codec, err) from err
    return buf[:nbytes]


def _stops_early(ifd: IfdLayout, codec: Codec, stop: int, rows: int) -> bool:
    """Whether decoding the first ``stop`` of ``rows`` rows stops before the end.

    Only codecs with a prefix decoder can, and only where the rows plus the slack are
    less than the block: for most of a tile the one-shot decode of all of it is as fast.
    """
    if codec.prefix is None:
        return False
    return expected_tile_nbytes(ifd, stop) + PREFIX_SLACK < expected_tile_nbytes(ifd, rows)


def _into(out: npt.NDArray[Any] | None, result: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Return ``result``, copied into ``out`` first unless it already lives there."""
    if out is None or result is out or np.may_share_memory(result, out):
        return result if out is None else out
    np.copyto(out, result)
    return out


def _decode_exact(
    data: BytesLike, codec: Codec, dest: npt.NDArray[np.uint8], source: str
) -> npt.NDArray[np.uint8]:
    """Run a bounded stream codec straight into ``dest`` (exactly the tile's bytes)."""
    assert codec.stream is not None
    try:
        got = codec.stream(data, dest.data, dest.size)
    except CODEC_ERRORS as err:
        raise _corrupt(source, codec, err) from err
    if got != dest.size:
        raise TiffFormatError(
            f"{source}: {codec.name} block decodes to {got} bytes, not the {dest.size} bytes "
            "of the tile"
        )
    return dest


def _codec_for(ifd: IfdLayout, source: str) -> Codec:
    """Look up the codec of ``ifd``, refusing unknown ones by their Compression value."""
    codec = CODECS.get(ifd.compression)
    if codec is not None:
        return codec
    if ifd.compression == OLD_JPEG:
        raise UnsupportedTiffError(
            f"{source}: Compression 6 (old-style JPEG, obsolete since TIFF 6.0) is not supported"
        )
    raise UnsupportedTiffError(
        f"{source}: Compression {ifd.compression} is not supported (rasteret reads "
        f"{', '.join(str(c) for c in sorted(CODECS))})"
    )


def _corrupt(source: str, codec: Codec, err: Exception) -> TiffFormatError:
    """The error for a block its codec cannot decode."""
    return TiffFormatError(f"{source}: corrupt {codec.name} data: {err}")


def _decode_stream(data: BytesLike, codec: Codec, nbytes: int, source: str) -> npt.NDArray[Any]:
    """Run a stream codec into a fresh buffer and insist on exactly ``nbytes`` of output."""
    assert codec.stream is not None
    buf = np.empty(nbytes + GUARD_BYTES, dtype=np.uint8)
    try:
        got = codec.stream(data, buf.data, nbytes)
    except CODEC_ERRORS as err:
        raise _corrupt(source, codec, err) from err
    if got != nbytes:
        what = "more than" if got > nbytes else f"{got} bytes, not"
        raise TiffFormatError(
            f"{source}: {codec.name} block decodes to {what} the {nbytes} bytes of the tile"
        )
    return buf[:nbytes]


def _unpack_bits(
    raw: npt.NDArray[np.uint8],
    ifd: IfdLayout,
    shape: tuple[int, int, int],
    codec: Codec,
    source: str,
) -> npt.NDArray[np.uint8]:
    """Expand 1-bit samples (MSB first, rows padded to bytes) to one byte per sample.

    Transparency masks (PhotometricInterpretation 4) come out as 0/255, the values of
    GDAL's mask band; other bilevel images keep 0/1, as GDAL returns them.
    """
    if codec.uses_predictor and ifd.predictor != _PREDICTOR_NONE:
        raise TiffFormatError(f"{source}: predictor {ifd.predictor} with 1-bit samples")
    nrows, cols, samples = shape
    bits = np.unpackbits(raw.reshape(nrows, -1), axis=1, count=cols * samples)
    if ifd.photometric == Photometric.MASK:
        np.multiply(bits, _MASK_ON, out=bits)
    return bits.reshape(shape)


def _undo_predictor(
    arr: npt.NDArray[Any], predictor: int, byte_order: str, source: str
) -> npt.NDArray[Any]:
    """Undo the predictor and return the samples in native byte order.

    libtiff's order is followed: for no predictor and horizontal differencing the
    samples are first swapped to native order, then accumulated as integers of the
    sample's width (floats too: GDAL writes float data with predictor 2 and libtiff
    differences their bit patterns). The floating-point predictor stores bytes in
    big-endian planes whatever the file's byte order, so it is undone straight to
    native order with no swap at all; it is the one case that needs a second buffer,
    because the byte planes are reassembled out of place.
    """
    if predictor == _PREDICTOR_FLOAT:
        if arr.dtype.kind != "f":
            raise TiffFormatError(
                f"{source}: floating-point predictor (3) with {arr.dtype} samples"
            )
        out = np.empty_like(arr)
        imagecodecs.floatpred_decode(arr, axis=-2, out=out)
        return out
    if byte_order != _NATIVE and arr.dtype.itemsize > 1:
        arr.byteswap(inplace=True)
    if predictor == _PREDICTOR_NONE:
        return arr
    if predictor != _PREDICTOR_HORIZONTAL:
        raise UnsupportedTiffError(f"{source}: Predictor {predictor} is not supported")
    ints = arr if arr.dtype.kind in "iu" else arr.view(f"u{arr.dtype.itemsize}")
    imagecodecs.delta_decode(ints, axis=-2, out=ints)
    return arr
