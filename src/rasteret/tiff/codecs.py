"""Compression codecs of TIFF tiles, one entry per Compression tag value.

Two kinds of codec exist, because they hand back different things:

* *stream* codecs (deflate, LZW, ZSTD, ...) turn bytes into bytes. They decode straight
  into a buffer the caller allocated at the exact tile size (plus one guard byte, see
  :data:`GUARD_BYTES`), so a tile costs one allocation and a hostile stream cannot make
  them write past it. The predictor and byte order are undone afterwards by
  :mod:`rasteret.tiff.decode`.
* *image* codecs (JPEG, WebP, LERC) decode to pixels. They fill a preallocated array of
  the expected shape; imagecodecs checks the embedded image size against that array
  before decoding, which is what bounds their allocations.

The registry is an immutable mapping: decoding is called from many threads at once and
must not depend on mutable module state.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import imagecodecs
import numpy as np
import numpy.typing as npt

from rasteret.errors import TiffFormatError
from rasteret.tiff.constants import Photometric
from rasteret.tiff.lzw_check import check_lzw_stream
from rasteret.tiff.types import IfdLayout

__all__ = ["CODECS", "CODEC_ERRORS", "GUARD_BYTES", "OLD_JPEG", "PREFIX_SLACK", "Codec"]

BytesLike = bytes | bytearray | memoryview
"""Compressed tile bytes as callers hold them (``bytes`` from obstore, views of buffers)."""


def _buffer(data: BytesLike) -> bytes:
    """``data`` typed for imagecodecs, whose stubs list fewer buffer types than it takes.

    Every imagecodecs decoder reads through the buffer protocol, so a memoryview works
    without a copy; only the type annotation is widened here.
    """
    return cast(bytes, data)


StreamDecoder = Callable[[BytesLike, memoryview, int], int]
"""``(data, out, nbytes) -> bytes written``: decode into ``out`` (``nbytes + GUARD_BYTES``)."""

PrefixDecoder = Callable[[BytesLike, memoryview, int], None]
"""``(data, out, nbytes)``: decode at least the first ``nbytes`` bytes of the block into
``out`` (``nbytes + PREFIX_SLACK`` long), stopping early; raises on corrupt data."""

ImageDecoder = Callable[[BytesLike, IfdLayout, npt.NDArray[Any], str], None]
"""``(data, ifd, out, source)``: decode pixels into ``out`` shaped (rows, cols, samples)."""

GUARD_BYTES = 1
"""Extra bytes after the tile in a stream codec's output buffer.

Some decoders (LZW, LZMA) stop silently when the output is full. One spare byte lets the
caller tell "exactly the tile" from "more than the tile" (a corrupt or hostile stream)
without ever allocating more than the tile plus one byte.
"""

CODEC_ERRORS: tuple[type[Exception], ...] = (RuntimeError, ValueError)
"""What imagecodecs raises for corrupt data (its ``*Error`` classes derive from
RuntimeError) and for an embedded image size that does not match ``out`` (ValueError)."""

OLD_JPEG = 6
"""Compression value of the pre-TIFF-6.0 "old-style" JPEG, refused by name."""

PREFIX_SLACK = 65_535 + 258
"""Room past the wanted prefix that a prefix decode is given.

libdeflate writes its output element by element (a literal, a match of at most 258
bytes, a stored block of at most 65,535) and stops with INSUFFICIENT_SPACE at the first
element that does not fit. Every element that starts inside the prefix therefore fits
in the prefix plus this slack, so the whole prefix is written before it stops.
"""

_LZW_SENTINEL = b"\xff\xff"
"""Bits appended to LZW blocks so that a truncated last code cannot decode silently."""

_JPEG_EOI = b"\xff\xd9"
"""End-Of-Image marker that closes every complete JPEG stream."""
_JPEG_TAIL = 64
"""Bytes at the end of a JPEG block searched for EOI (writers may pad with zeros)."""

_LERC_ADD_NONE = 0
_LERC_ADD_DEFLATE = 1
_LERC_ADD_ZSTD = 2
_LERC_SLACK = 64 * 1024
"""Header room allowed on top of twice the pixel bytes when unwrapping a LERC blob."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Codec:
    """How to decode one TIFF Compression value."""

    name: str
    """Human name used in error messages (``"deflate"``, ``"LERC_ZSTD"`` is ``"LERC"``)."""
    stream: StreamDecoder | None = None
    """Bytes-to-bytes decoder; set for every codec whose output the predictor applies to."""
    prefix: PrefixDecoder | None = None
    """Decodes only the first bytes of a block (its first rows) and stops, for reads that
    need the top of a tile: set where the codec can stop early without decoding the rest."""
    image: ImageDecoder | None = None
    """Bytes-to-pixels decoder; set for JPEG, WebP and LERC."""
    bounded: bool = False
    """The decoder itself fails rather than write past ``out``, so it may decode straight
    into a caller's exact-size buffer (an output canvas) without the guard byte."""
    uses_predictor: bool = False
    """Whether libtiff undoes the Predictor tag after this codec.

    libtiff only wires the predictor into LZW, deflate, ZSTD and LZMA; for the others a
    Predictor tag is ignored when GDAL reads, so rasteret ignores it too.
    """


# ---------------------------------------------------------------- stream codecs


def _none(data: BytesLike, out: memoryview, nbytes: int) -> int:
    """Copy uncompressed bytes; extra trailing bytes are ignored, as libtiff does."""
    n = min(len(data), nbytes)
    out[:n] = memoryview(data)[:n]
    return n


def _deflate(data: BytesLike, out: memoryview, nbytes: int) -> int:
    """Zlib-wrapped deflate through libdeflate, which needs the output size up front.

    Given ``out``, imagecodecs calls libdeflate's one-shot decompressor (several times
    faster than zlib's streaming inflate) and fails with INSUFFICIENT_SPACE rather than
    writing past the buffer. It also checks the Adler-32 trailer.
    """
    return len(imagecodecs.deflate_decode(_buffer(data), out=out))


_INSUFFICIENT_SPACE = "INSUFFICIENT_SPACE"
"""What imagecodecs' DeflateError says when libdeflate ran out of output room."""


def _deflate_prefix(data: BytesLike, out: memoryview, nbytes: int) -> None:
    """The first ``nbytes`` of a deflate block: libdeflate stopped when ``out`` is full.

    libdeflate has no streaming interface; given an output buffer shorter than the
    block, it decodes until the next element would not fit and reports
    INSUFFICIENT_SPACE, leaving what it wrote in place (see :data:`PREFIX_SLACK`). That
    report is the expected outcome here. A stream that *ends* inside the buffer decodes
    to less than the whole tile, which the caller reports as a short block. The Adler-32
    trailer is not reached, so a prefix is checked by deflate's own structure only, as
    libtiff checks a tile it stops reading once its buffer is full.
    """
    try:
        got = len(imagecodecs.deflate_decode(_buffer(data), out=out))
    except imagecodecs.DeflateError as err:
        if _INSUFFICIENT_SPACE in str(err):
            return
        raise
    raise TiffFormatError(f"deflate block ends after {got} bytes, inside the tile")


def _deflate_prefix_works() -> bool:
    """Whether this imagecodecs build stops libdeflate early the way the prefix needs.

    Checked once at import on a stream with long matches and a stored block, so that an
    imagecodecs built without libdeflate (zlib fallback) or one that changes its error
    handling makes rasteret decode whole tiles instead of returning wrong rows. Reads
    also fetch only a block's leading bytes when they need its top rows, so the check
    includes the other half of the contract: a stream cut short before the bytes asked
    for must fail, never fill them with what libdeflate reads past its end (at most 8
    zero bytes, whose output the slack absorbs).
    """
    if not getattr(imagecodecs.DEFLATE, "available", False):
        return False
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, 70_000, dtype=np.uint8).tobytes()  # stored block
    raw = bytes(range(256)) * 400 + noise + bytes(200_000)
    stream = imagecodecs.deflate_encode(raw, level=6)
    for nbytes in (1, 102_399, 102_400 + 1_000, 200_000):
        buf = bytearray(nbytes + PREFIX_SLACK)
        try:
            _deflate_prefix(stream, memoryview(buf), nbytes)
        except (TiffFormatError, RuntimeError, ValueError):  # CODEC_ERRORS and ours
            return False
        if bytes(buf[:nbytes]) != raw[:nbytes]:
            return False
    for cut in (2, 1_000, len(stream) // 3, len(stream) - 10):
        head = stream[:cut]
        available = len(zlib.decompressobj().decompress(head))  # what the cut stream holds
        nbytes = available + 1
        buf = bytearray(nbytes + PREFIX_SLACK)
        try:
            _deflate_prefix(head, memoryview(buf), nbytes)
        except (TiffFormatError, RuntimeError, ValueError):
            continue  # refused, as it must be
        return False
    return True


def _lzw(data: BytesLike, out: memoryview, nbytes: int) -> int:
    """TIFF LZW (MSB-first codes, early change); stops at EOI or when ``out`` is full.

    LZW has no checksum, and imagecodecs reads a final code cut short by truncation as
    if its missing bits were zeros, which can yield the right number of wrong bytes.
    libtiff never reads a partial code, so it reports such a block as short. Appending
    all-ones bits gives the same guarantee cheaply: a complete stream stops at its EOI
    code before reaching them, while a truncated one turns them into an impossible
    code or surplus output, both reported as errors.
    """
    stream = b"".join((data, _LZW_SENTINEL))
    check_lzw_stream(stream)  # imagecodecs crashes on some corrupt streams
    return len(imagecodecs.lzw_decode(stream, out=out))


def _zstd(data: BytesLike, out: memoryview, nbytes: int) -> int:
    """Zstandard frame; fails rather than overflow ``out``."""
    return len(imagecodecs.zstd_decode(_buffer(data), out=out))


def _lzma(data: BytesLike, out: memoryview, nbytes: int) -> int:
    """LZMA (xz container, as libtiff writes it); stops when ``out`` is full."""
    return len(imagecodecs.lzma_decode(_buffer(data), out=out))


def _packbits(data: BytesLike, out: memoryview, nbytes: int) -> int:
    """Apple PackBits run-length coding; fails rather than overflow ``out``."""
    return len(imagecodecs.packbits_decode(_buffer(data), out=out))


# ---------------------------------------------------------------- image codecs


def _jpeg_colorspaces(ifd: IfdLayout) -> tuple[str, str]:
    """The libjpeg (input, output) colour spaces that make us return what GDAL returns.

    libtiff only lets libjpeg convert colours for chunky YCbCr, which GDAL reads as RGB
    (``JPEGCOLORMODE_RGB``). Every other photometric (RGB, grey, RGBA, planar) is
    decoded with colour conversion suppressed, i.e. the components as stored. Passing
    "unknown" explicitly matters for RGB: without a JFIF or Adobe marker libjpeg would
    otherwise guess YCbCr for three components and convert twice.
    """
    if ifd.photometric == Photometric.YCBCR and ifd.planar_config == 1:
        return "YCbCr", "RGB"
    return "UNKNOWN", "UNKNOWN"


def _jpeg(data: BytesLike, ifd: IfdLayout, out: npt.NDArray[Any], source: str) -> None:
    """Baseline/progressive JPEG with the shared JPEGTables merged in.

    libjpeg only *warns* about a stream that ends early and pads the image with grey,
    which imagecodecs passes on as a log message; GDAL turns that warning into an error.
    A block that lost its tail (a short read, a truncated upload) therefore has to be
    caught here, by its missing End-Of-Image marker, or it would come back as plausible
    looking pixels.
    """
    tail = bytes(memoryview(data)[-_JPEG_TAIL:]).rstrip(b"\x00")
    if not tail.endswith(_JPEG_EOI):
        raise TiffFormatError(f"{source}: truncated JPEG data (no End-Of-Image marker)")
    colorspace, outcolorspace = _jpeg_colorspaces(ifd)
    imagecodecs.jpeg8_decode(
        _buffer(data),
        tables=ifd.jpeg_tables,
        colorspace=colorspace,
        outcolorspace=outcolorspace,
        out=out,
    )


def _webp(data: BytesLike, ifd: IfdLayout, out: npt.NDArray[Any], source: str) -> None:
    """WebP (lossy or lossless); GDAL only writes RGB and RGBA."""
    imagecodecs.webp_decode(_buffer(data), hasalpha=out.shape[-1] == 4, out=out)


def _lerc_unwrap(data: BytesLike, ifd: IfdLayout, out: npt.NDArray[Any], source: str) -> BytesLike:
    """Undo LERC_DEFLATE / LERC_ZSTD's outer compression (LercParameters[1]).

    The size of the inner LERC blob is not stored anywhere, so the output is bounded by
    a generous multiple of the tile size instead: a LERC blob is never much larger than
    the raw pixels plus its validity mask and header.
    """
    params = ifd.lerc_parameters or ()
    extra = params[1] if len(params) > 1 else _LERC_ADD_NONE
    bound = 2 * out.nbytes + _LERC_SLACK
    if extra == _LERC_ADD_NONE:
        return data
    if extra == _LERC_ADD_DEFLATE:
        return imagecodecs.deflate_decode(_buffer(data), out=bound)
    if extra == _LERC_ADD_ZSTD:
        return imagecodecs.zstd_decode(_buffer(data), out=bound)
    raise TiffFormatError(
        f"{source}: LercParameters additional compression {extra} is not 0, 1 or 2"
    )


def _lerc(data: BytesLike, ifd: IfdLayout, out: npt.NDArray[Any], source: str) -> None:
    """Esri LERC, after unwrapping its optional deflate/ZSTD layer.

    A LERC blob may carry a validity mask (GDAL writes one for NaN pixels). libtiff
    sets invalid float pixels to NaN; invalid integer pixels are set to 0 here so that
    nothing uninitialised is ever returned.
    """
    blob = _lerc_unwrap(data, ifd, out, source)
    target = out[..., 0] if out.shape[-1] == 1 else out  # LERC depth 1 decodes to 2-D
    _, mask = imagecodecs.lerc_decode(_buffer(blob), masks=True, out=target)
    if mask is None or mask.all():
        return
    invalid = ~mask.astype(bool, copy=False)
    if invalid.shape != target.shape[: invalid.ndim]:
        raise TiffFormatError(
            f"{source}: LERC mask shape {invalid.shape} does not match tile {target.shape}"
        )
    fill = np.nan if np.issubdtype(out.dtype, np.floating) else 0
    target[invalid] = fill


_DEFLATE = Codec(
    name="deflate",
    stream=_deflate,
    prefix=_deflate_prefix if _deflate_prefix_works() else None,
    bounded=True,
    uses_predictor=True,
)

CODECS: Mapping[int, Codec] = MappingProxyType(
    {
        1: Codec(name="none", stream=_none),
        5: Codec(name="LZW", stream=_lzw, uses_predictor=True),
        7: Codec(name="JPEG", image=_jpeg),
        8: _DEFLATE,
        32946: _DEFLATE,
        32773: Codec(name="PackBits", stream=_packbits),
        34887: Codec(name="LERC", image=_lerc),
        34925: Codec(name="LZMA", stream=_lzma, uses_predictor=True),
        50000: Codec(name="ZSTD", stream=_zstd, bounded=True, uses_predictor=True),
        50001: Codec(name="WebP", image=_webp),
    }
)
"""TIFF Compression value -> codec. Values missing here are refused by name."""
