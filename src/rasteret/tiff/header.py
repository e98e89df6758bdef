"""Parse a TIFF/GeoTIFF header from a prefix of the file, without any I/O.

The build stage reads a speculative prefix (typically 64 KiB) of every asset and calls
:func:`parse_tiff_header`. A Cloud-Optimized GeoTIFF keeps every IFD and its arrays at the
front, so one read is usually enough. When something lies further out the parser raises
:class:`HeaderTruncatedError` whose ``needed`` is the furthest byte it already knows it
needs, so the caller grows the read once rather than once per structure.

The parser trusts nothing: every count, offset and size is checked against
:mod:`rasteret.tiff.limits` before it is used, numbers are read with explicit byte order,
and anything malformed raises :class:`~rasteret.errors.TiffFormatError` naming the source.
"""

from __future__ import annotations

import logging
import math
import struct
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rasteret.errors import TiffFormatError, UnsupportedTiffError
from rasteret.tiff.constants import (
    BIGTIFF_MAGIC,
    CLASSIC_MAGIC,
    FIELD_SIZES,
    FLOAT_TYPES,
    NUMPY_CODES,
    RATIONAL_TYPES,
    SIGNED_TYPES,
    UNSIGNED_TYPES,
    FieldType,
    GeoKey,
    Photometric,
    RasterType,
    SampleFormat,
    SubfileType,
    Tag,
)
from rasteret.tiff.geokeys import crs_from_geokeys, model_transform, parse_geokeys
from rasteret.tiff.limits import (
    MAX_ARRAY_COUNT,
    MAX_ASCII_BYTES,
    MAX_BLOCK_BYTES,
    MAX_BYTES_LENGTH,
    MAX_GEO_DOUBLES,
    MAX_HEADER_BYTES,
    MAX_IFDS,
    MAX_PLAUSIBLE_OFFSET,
    MAX_SAMPLES_PER_PIXEL,
    MAX_SMALL_ARRAY,
    MAX_TAGS_PER_IFD,
)
from rasteret.tiff.types import GeoInfo, IfdKind, IfdLayout, TiffHeader

__all__ = ["HeaderTruncatedError", "parse_tiff_header"]

logger = logging.getLogger(__name__)


class HeaderTruncatedError(TiffFormatError):
    """The prefix given to the parser ends before the header does.

    Attributes:
        needed: Bytes from the start of the file the parser needs next; always more than
            it was given. The caller reads at least that much and parses again.
    """

    def __init__(self, message: str, *, needed: int) -> None:
        super().__init__(message)
        self.needed = needed


# Value kinds a tag is decoded as.
_UINT = "uint"
_FLOAT = "float"
_BYTES = "bytes"
_ASCII = "ascii"
_UTF8 = "utf8"

_IMAGE_TAGS: dict[int, tuple[str, int]] = {
    Tag.NEW_SUBFILE_TYPE: (_UINT, MAX_SMALL_ARRAY),
    Tag.IMAGE_WIDTH: (_UINT, MAX_SMALL_ARRAY),
    Tag.IMAGE_LENGTH: (_UINT, MAX_SMALL_ARRAY),
    Tag.BITS_PER_SAMPLE: (_UINT, MAX_SAMPLES_PER_PIXEL),
    Tag.COMPRESSION: (_UINT, MAX_SMALL_ARRAY),
    Tag.PHOTOMETRIC: (_UINT, MAX_SMALL_ARRAY),
    Tag.STRIP_OFFSETS: (_UINT, MAX_ARRAY_COUNT),
    Tag.SAMPLES_PER_PIXEL: (_UINT, MAX_SMALL_ARRAY),
    Tag.ROWS_PER_STRIP: (_UINT, MAX_SMALL_ARRAY),
    Tag.STRIP_BYTE_COUNTS: (_UINT, MAX_ARRAY_COUNT),
    Tag.PLANAR_CONFIG: (_UINT, MAX_SMALL_ARRAY),
    Tag.PREDICTOR: (_UINT, MAX_SMALL_ARRAY),
    Tag.TILE_WIDTH: (_UINT, MAX_SMALL_ARRAY),
    Tag.TILE_LENGTH: (_UINT, MAX_SMALL_ARRAY),
    Tag.TILE_OFFSETS: (_UINT, MAX_ARRAY_COUNT),
    Tag.TILE_BYTE_COUNTS: (_UINT, MAX_ARRAY_COUNT),
    Tag.EXTRA_SAMPLES: (_UINT, MAX_SAMPLES_PER_PIXEL),
    Tag.SAMPLE_FORMAT: (_UINT, MAX_SAMPLES_PER_PIXEL),
    Tag.JPEG_TABLES: (_BYTES, MAX_BYTES_LENGTH),
    Tag.YCBCR_SUBSAMPLING: (_UINT, MAX_SMALL_ARRAY),
    Tag.LERC_PARAMETERS: (_UINT, MAX_SMALL_ARRAY),
}
"""Tags read from every IFD: how to decode each and the most values accepted."""

_GEO_TAGS: dict[int, tuple[str, int]] = {
    Tag.MODEL_PIXEL_SCALE: (_FLOAT, MAX_SMALL_ARRAY),
    Tag.MODEL_TIEPOINT: (_FLOAT, MAX_GEO_DOUBLES),
    Tag.MODEL_TRANSFORMATION: (_FLOAT, MAX_SMALL_ARRAY),
    Tag.GEO_KEY_DIRECTORY: (_UINT, MAX_GEO_DOUBLES),
    Tag.GEO_DOUBLE_PARAMS: (_FLOAT, MAX_GEO_DOUBLES),
    Tag.GEO_ASCII_PARAMS: (_ASCII, MAX_ASCII_BYTES),
    Tag.GDAL_METADATA: (_UTF8, MAX_ASCII_BYTES),
    Tag.GDAL_NODATA: (_ASCII, MAX_ASCII_BYTES),
}
"""Tags read only from the full-resolution IFD: georeferencing and GDAL metadata."""

_DTYPES: dict[tuple[int, int], str] = {
    (SampleFormat.UINT, 1): "uint8",
    (SampleFormat.UINT, 8): "uint8",
    (SampleFormat.UINT, 16): "uint16",
    (SampleFormat.UINT, 32): "uint32",
    (SampleFormat.UINT, 64): "uint64",
    (SampleFormat.INT, 8): "int8",
    (SampleFormat.INT, 16): "int16",
    (SampleFormat.INT, 32): "int32",
    (SampleFormat.INT, 64): "int64",
    (SampleFormat.IEEEFP, 16): "float16",
    (SampleFormat.IEEEFP, 32): "float32",
    (SampleFormat.IEEEFP, 64): "float64",
}
"""(SampleFormat, BitsPerSample) -> NumPy dtype. 1-bit samples (masks) map to uint8."""

_TagValue = Any
"""A decoded tag value: a NumPy array, ``bytes`` or ``str`` depending on its kind."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """One IFD entry, with the absolute file offset of its value bytes."""

    tag: int
    field_type: int
    count: int
    value_offset: int
    """Absolute offset of the value: inside the entry itself when it fits there."""


@dataclass(frozen=True, slots=True)
class _RawIfd:
    """An IFD whose entries were read, values not yet loaded."""

    index: int
    offset: int
    entries: Mapping[int, _Entry]


def parse_tiff_header(
    data: bytes | bytearray | memoryview,
    *,
    source: str = "<bytes>",
    file_size: int | None = None,
) -> TiffHeader:
    """Parse every IFD and the GeoTIFF metadata found in a prefix of a TIFF file.

    Args:
        data: The first bytes of the file (any length; 64 KiB covers typical COGs).
        source: Name of the file (URL or path) used in error messages.
        file_size: Size of the whole object when known. Structures past it are format
            errors instead of truncation, since reading more cannot help.

    Returns:
        The header. ``file_size``, ``etag`` and ``last_modified`` are left None for the
        I/O layer to fill with :func:`dataclasses.replace`.

    Raises:
        HeaderTruncatedError: If ``data`` ends before the header does; ``needed`` says
            how many bytes to read next.
        TiffFormatError: If the bytes are not a well-formed TIFF, or break a limit.
        UnsupportedTiffError: If the TIFF is valid but uses a feature rasteret does not
            read (mixed sample widths, complex samples, header beyond the size limit).
    """
    return _Parser(data, source=source, file_size=file_size).parse()


class _Parser:
    """One parse of one prefix: tracks what was read and what is still missing."""

    def __init__(
        self, data: bytes | bytearray | memoryview, *, source: str, file_size: int | None
    ) -> None:
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1 or not view.c_contiguous:
            view = memoryview(view.tobytes())
        self.view = view.cast("B") if view.format != "B" else view
        self.size = len(self.view)
        self.source = source
        self.file_size = file_size
        self.missing = 0
        """Furthest byte needed that lies past the prefix (0 when nothing is missing)."""
        self.extent = 0
        """Furthest byte of any structure actually parsed."""
        self.order = "<"
        self.bigtiff = False

    # ------------------------------------------------------------------ helpers

    def _error(self, message: str) -> TiffFormatError:
        """A format error naming the source."""
        return TiffFormatError(f"{self.source}: {message}")

    def _span(self, start: int, length: int, what: str) -> memoryview | None:
        """Bytes ``[start, start + length)``, or None (recorded as missing) past the prefix."""
        if start > MAX_PLAUSIBLE_OFFSET or length > MAX_PLAUSIBLE_OFFSET:
            raise self._error(f"{what} at offset {start} ({length} bytes) is implausible")
        end = start + length
        if self.file_size is not None and end > self.file_size:
            raise self._error(
                f"{what} at bytes [{start}, {end}) lies past the end of the file "
                f"({self.file_size} bytes)"
            )
        if end > MAX_HEADER_BYTES:
            raise UnsupportedTiffError(
                f"{self.source}: {what} at bytes [{start}, {end}) lies beyond the "
                f"{MAX_HEADER_BYTES}-byte header limit; the file is not laid out for "
                "cloud reading (IFDs or arrays far from the start)"
            )
        if end > self.size:
            self.missing = max(self.missing, end)
            return None
        self.extent = max(self.extent, end)
        return self.view[start:end]

    def _truncated(self) -> HeaderTruncatedError:
        """The error telling the caller how far to read next."""
        return HeaderTruncatedError(
            f"{self.source}: header continues past the {self.size} bytes read; "
            f"need at least {self.missing}",
            needed=self.missing,
        )

    # ------------------------------------------------------------------ structure

    def parse(self) -> TiffHeader:
        """Run both passes: walk the IFD chain, then load and interpret tag values."""
        first_ifd = self._parse_file_header()
        raw_ifds = self._walk_chain(first_ifd)
        layouts: list[IfdLayout] = []
        geo_values: dict[int, _TagValue] | None = None
        for raw in raw_ifds:
            wanted = dict(_IMAGE_TAGS)
            is_first_full = geo_values is None and self._kind_of(raw) is IfdKind.FULL
            if is_first_full:
                wanted.update(_GEO_TAGS)
            values = self._load_values(raw, wanted)
            if values is None:
                if is_first_full:
                    geo_values = {}  # the full IFD is this one even if incomplete
                continue
            layouts.append(self._layout(raw, values))
            if is_first_full:
                geo_values = values
        if self.missing:
            raise self._truncated()
        if geo_values is None:
            raise self._error("no full-resolution image IFD (every IFD is a mask or overview)")
        full = next(i for i in layouts if i.kind is IfdKind.FULL)
        geo = self._geo(geo_values)
        scales, offsets = _scales_offsets(
            geo_values.get(Tag.GDAL_METADATA), full.samples_per_pixel, self.source
        )
        return TiffHeader(
            byte_order=self.order,
            bigtiff=self.bigtiff,
            ifds=tuple(layouts),
            geo=geo,
            nodata=_parse_nodata(geo_values.get(Tag.GDAL_NODATA), self.source),
            scales=scales,
            offsets=offsets,
            gdal_metadata=geo_values.get(Tag.GDAL_METADATA),
            header_size=self.extent,
        )

    def _parse_file_header(self) -> int:
        """Check the byte-order mark and version; return the first IFD offset."""
        if self.size < 4:
            prefix = bytes(self.view)
            if not any(
                m.startswith(prefix) for m in (b"II*\x00", b"II+\x00", b"MM\x00*", b"MM\x00+")
            ):
                raise self._error(f"not a TIFF file (starts with {prefix!r})")
            self._span(0, 8, "TIFF file header")
            raise self._truncated()
        mark = bytes(self.view[:2])
        if mark == b"II":
            self.order = "<"
        elif mark == b"MM":
            self.order = ">"
        else:
            raise self._error(f"not a TIFF file (byte-order mark {mark!r})")
        (version,) = struct.unpack_from(self.order + "H", self.view, 2)
        if version == CLASSIC_MAGIC:
            head = self._span(0, 8, "TIFF file header")
            if head is None:
                raise self._truncated()
            (first,) = struct.unpack_from(self.order + "I", head, 4)
        elif version == BIGTIFF_MAGIC:
            self.bigtiff = True
            head = self._span(0, 16, "BigTIFF file header")
            if head is None:
                raise self._truncated()
            bytesize, reserved, first = struct.unpack_from(self.order + "HHQ", head, 4)
            if bytesize != 8 or reserved != 0:
                raise self._error(f"BigTIFF offset size {bytesize} / reserved {reserved} invalid")
        else:
            raise self._error(f"not a TIFF file (version {version}, expected 42 or 43)")
        if first == 0:
            raise self._error("TIFF has no IFD (first IFD offset is 0)")
        return int(first)

    def _walk_chain(self, first: int) -> list[_RawIfd]:
        """Read the entries of every IFD in the chain, stopping where the prefix ends."""
        if self.bigtiff:
            count_fmt, count_size, entry_fmt, entry_size, next_fmt = "Q", 8, "HHQQ", 20, "Q"
            inline, value_pos = 8, 12
        else:
            count_fmt, count_size, entry_fmt, entry_size, next_fmt = "H", 2, "HHII", 12, "I"
            inline, value_pos = 4, 8
        header_len = 16 if self.bigtiff else 8
        next_size = 8 if self.bigtiff else 4
        seen: set[int] = set()
        ifds: list[_RawIfd] = []
        offset = first
        while offset:
            index = len(ifds)
            if index >= MAX_IFDS:
                raise UnsupportedTiffError(f"{self.source}: more than {MAX_IFDS} IFDs in the chain")
            if offset in seen:
                raise self._error(f"IFD chain loops back to offset {offset} (IFD {index})")
            if offset < header_len:
                raise self._error(f"IFD {index} offset {offset} overlaps the file header")
            seen.add(offset)
            raw_count = self._span(offset, count_size, f"IFD {index} entry count")
            if raw_count is None:
                break
            (n,) = struct.unpack_from(self.order + count_fmt, raw_count)
            if n == 0:
                raise self._error(f"IFD {index} at offset {offset} has no entries")
            if n > MAX_TAGS_PER_IFD:
                raise self._error(f"IFD {index} declares {n} entries (> {MAX_TAGS_PER_IFD})")
            body_start = offset + count_size
            body = self._span(body_start, n * entry_size + next_size, f"IFD {index}")
            if body is None:
                break
            entries: dict[int, _Entry] = {}
            for k in range(n):
                pos = k * entry_size
                tag, ftype, count, value = struct.unpack_from(self.order + entry_fmt, body, pos)
                if tag in entries:
                    logger.debug("%s: IFD %d repeats tag %d; first kept", self.source, index, tag)
                    continue
                size = FIELD_SIZES.get(ftype)
                if size is not None and count * size <= inline:
                    value = body_start + pos + value_pos
                entries[tag] = _Entry(tag=tag, field_type=ftype, count=count, value_offset=value)
            ifds.append(_RawIfd(index=index, offset=offset, entries=entries))
            (offset,) = struct.unpack_from(self.order + next_fmt, body, n * entry_size)
        return ifds

    # ------------------------------------------------------------------ values

    def _load_values(
        self, raw: _RawIfd, wanted: Mapping[int, tuple[str, int]]
    ) -> dict[int, _TagValue] | None:
        """Decode the wanted tags of one IFD; None if any value lies past the prefix.

        Every wanted tag is tried even after one is missing, so ``missing`` ends up as the
        furthest byte needed and one grow of the read covers all of them.
        """
        values: dict[int, _TagValue] = {}
        complete = True
        for tag, (kind, limit) in wanted.items():
            entry = raw.entries.get(tag)
            if entry is None:
                continue
            value = self._load(raw.index, entry, kind, limit)
            if value is None:
                complete = False
            else:
                values[tag] = value
        return values if complete else None

    def _load(self, index: int, entry: _Entry, kind: str, limit: int) -> _TagValue | None:
        """Decode one entry as ``kind``, checking its type and count first."""
        name = _tag_name(entry.tag)
        what = f"IFD {index} tag {name}"
        size = FIELD_SIZES.get(entry.field_type)
        if size is None:
            raise self._error(f"{what} has unknown field type {entry.field_type}")
        if entry.count > limit:
            raise self._error(f"{what} has {entry.count} values (limit {limit})")
        if entry.count == 0:
            raise self._error(f"{what} has no values")
        ftype = entry.field_type
        if kind == _UINT and ftype not in UNSIGNED_TYPES:
            raise self._error(f"{what} has type {ftype}, expected an unsigned integer")
        if kind in (_BYTES, _ASCII, _UTF8) and ftype not in (
            FieldType.ASCII,
            FieldType.BYTE,
            FieldType.UNDEFINED,
        ):
            raise self._error(f"{what} has type {ftype}, expected bytes or ASCII")
        if kind == _FLOAT and ftype in (FieldType.ASCII, FieldType.UNDEFINED):
            raise self._error(f"{what} has type {ftype}, expected numbers")
        raw = self._span(entry.value_offset, entry.count * size, what)
        if raw is None:
            return None
        if kind == _BYTES:
            return bytes(raw)
        if kind in (_ASCII, _UTF8):
            text = bytes(raw).rstrip(b"\x00")
            # Latin-1 keeps one character per byte, so GeoAsciiParams offsets stay valid.
            return (
                text.decode("utf-8", errors="replace") if kind == _UTF8 else text.decode("latin-1")
            )
        n = entry.count * (2 if ftype in RATIONAL_TYPES else 1)
        arr = np.frombuffer(raw, dtype=np.dtype(self.order + NUMPY_CODES[ftype]), count=n)
        if kind == _UINT:
            return arr.astype(np.uint64)
        if ftype in RATIONAL_TYPES:
            num = arr[0::2].astype(np.float64)
            den = arr[1::2].astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                return num / den
        if ftype in FLOAT_TYPES or ftype in SIGNED_TYPES or ftype in UNSIGNED_TYPES:
            return arr.astype(np.float64)
        raise self._error(f"{what} has type {ftype}, expected numbers")  # pragma: no cover

    # ------------------------------------------------------------------ interpretation

    def _kind_of(self, raw: _RawIfd) -> IfdKind:
        """Kind of a raw IFD from its NewSubfileType entry (inline in every real file)."""
        entry = raw.entries.get(Tag.NEW_SUBFILE_TYPE)
        if entry is None:
            return IfdKind.FULL
        value = self._load(raw.index, entry, _UINT, MAX_SMALL_ARRAY)
        if value is None:
            return IfdKind.FULL  # recorded as missing: the parse asks for more bytes
        return _kind_from_subfile(int(value[0]))

    def _layout(self, raw: _RawIfd, values: Mapping[int, _TagValue]) -> IfdLayout:
        """Turn one IFD's decoded values into an :class:`IfdLayout`."""
        where = f"IFD {raw.index}"

        def scalar(tag: int, default: int | None = None) -> int:
            if tag in values:
                return int(values[tag][0])
            if default is None:
                raise self._error(f"{where} lacks required tag {_tag_name(tag)}")
            return default

        subfile_type = scalar(Tag.NEW_SUBFILE_TYPE, 0)
        width = scalar(Tag.IMAGE_WIDTH)
        height = scalar(Tag.IMAGE_LENGTH)
        if width == 0 or height == 0:
            raise self._error(f"{where} has an empty image ({width} x {height})")
        samples = scalar(Tag.SAMPLES_PER_PIXEL, 1)
        if not 1 <= samples <= MAX_SAMPLES_PER_PIXEL:
            raise self._error(f"{where} has {samples} samples per pixel")
        bits = self._uniform(values, Tag.BITS_PER_SAMPLE, 1, where)
        sample_format = self._uniform(values, Tag.SAMPLE_FORMAT, SampleFormat.UINT, where)
        fmt_key = SampleFormat.UINT if sample_format == SampleFormat.VOID else sample_format
        dtype = _DTYPES.get((fmt_key, bits))
        if dtype is None:
            raise UnsupportedTiffError(
                f"{self.source}: {where} has SampleFormat {sample_format} with "
                f"{bits} bits per sample, which rasteret does not read"
            )
        compression = scalar(Tag.COMPRESSION, 1)
        predictor = scalar(Tag.PREDICTOR, 1)
        planar = scalar(Tag.PLANAR_CONFIG, 1)
        if planar not in (1, 2):
            raise self._error(f"{where} has PlanarConfiguration {planar}")
        photometric = scalar(Tag.PHOTOMETRIC, Photometric.MINISBLACK)

        tiled = Tag.TILE_WIDTH in values or Tag.TILE_LENGTH in values
        if tiled:
            tile_width = scalar(Tag.TILE_WIDTH)
            tile_height = scalar(Tag.TILE_LENGTH)
            if tile_width == 0 or tile_height == 0:
                raise self._error(f"{where} has empty tiles ({tile_width} x {tile_height})")
            offsets_tag, counts_tag = Tag.TILE_OFFSETS, Tag.TILE_BYTE_COUNTS
        else:
            rows = scalar(Tag.ROWS_PER_STRIP, 2**32 - 1)
            if rows == 0:
                raise self._error(f"{where} has RowsPerStrip 0")
            tile_width, tile_height = width, min(rows, height)
            offsets_tag, counts_tag = Tag.STRIP_OFFSETS, Tag.STRIP_BYTE_COUNTS
        block_samples = samples if planar == 1 else 1
        block_bytes = tile_height * ((tile_width * block_samples * bits + 7) // 8)
        if block_bytes > MAX_BLOCK_BYTES:
            raise UnsupportedTiffError(
                f"{self.source}: {where} has {tile_width} x {tile_height} blocks of "
                f"{block_bytes} bytes (> {MAX_BLOCK_BYTES}); rasteret decodes a block at once"
            )
        tiles_across = -(-width // tile_width)
        tiles_down = -(-height // tile_height)
        expected = tiles_across * tiles_down * (samples if planar == 2 else 1)
        if expected > MAX_ARRAY_COUNT:
            raise self._error(f"{where} would have {expected} blocks (> {MAX_ARRAY_COUNT})")
        if offsets_tag not in values or counts_tag not in values:
            raise self._error(f"{where} lacks {_tag_name(offsets_tag)} or {_tag_name(counts_tag)}")
        tile_offsets = self._block_array(values[offsets_tag], expected, offsets_tag, where)
        tile_counts = self._block_array(values[counts_tag], expected, counts_tag, where)
        if self.file_size is not None:
            past = (tile_counts > 0) & (tile_offsets + tile_counts > np.uint64(self.file_size))
            if past.any():
                block = int(np.argmax(past))
                raise self._error(
                    f"{where} block {block} at [{int(tile_offsets[block])}, "
                    f"{int(tile_offsets[block] + tile_counts[block])}) lies past the end of "
                    f"the file ({self.file_size} bytes)"
                )

        ycbcr: tuple[int, int] | None = None
        if photometric == Photometric.YCBCR:
            sub = values.get(Tag.YCBCR_SUBSAMPLING)
            ycbcr = (2, 2) if sub is None or len(sub) < 2 else (int(sub[0]), int(sub[1]))
            if ycbcr[0] not in (1, 2, 4) or ycbcr[1] not in (1, 2, 4):
                raise self._error(f"{where} has YCbCrSubSampling {ycbcr}")
        lerc = values.get(Tag.LERC_PARAMETERS)
        extra = values.get(Tag.EXTRA_SAMPLES)
        return IfdLayout(
            ifd_index=raw.index,
            kind=_kind_from_subfile(subfile_type),
            width=width,
            height=height,
            tile_width=tile_width,
            tile_height=tile_height,
            tiled=tiled,
            samples_per_pixel=samples,
            bits_per_sample=bits,
            sample_format=sample_format,
            dtype=dtype,
            compression=compression,
            predictor=predictor,
            planar_config=planar,
            photometric=photometric,
            subfile_type=subfile_type,
            tiles_across=tiles_across,
            tiles_down=tiles_down,
            tile_offsets=tile_offsets,
            tile_byte_counts=tile_counts,
            jpeg_tables=values.get(Tag.JPEG_TABLES),
            lerc_parameters=None if lerc is None else tuple(int(v) for v in lerc),
            extra_samples=() if extra is None else tuple(int(v) for v in extra),
            ycbcr_subsampling=ycbcr,
        )

    def _uniform(self, values: Mapping[int, _TagValue], tag: int, default: int, where: str) -> int:
        """A per-sample tag whose values must all agree (BitsPerSample, SampleFormat)."""
        arr = values.get(tag)
        if arr is None:
            return default
        first = int(arr[0])
        if (arr != arr[0]).any():
            raise UnsupportedTiffError(
                f"{self.source}: {where} mixes {_tag_name(tag)} values "
                f"{sorted({int(v) for v in arr})}; rasteret needs one per file"
            )
        return first

    def _block_array(
        self, arr: npt.NDArray[np.uint64], expected: int, tag: int, where: str
    ) -> npt.NDArray[np.uint64]:
        """Check an offsets or byte-counts array's length and plausibility; freeze it."""
        if len(arr) != expected:
            raise self._error(
                f"{where} {_tag_name(tag)} has {len(arr)} values, expected {expected}"
            )
        if len(arr) and int(arr.max()) > MAX_PLAUSIBLE_OFFSET:
            raise self._error(f"{where} {_tag_name(tag)} holds implausible value {int(arr.max())}")
        arr.flags.writeable = False
        return arr

    def _geo(self, values: Mapping[int, _TagValue]) -> GeoInfo | None:
        """Georeferencing of the full-resolution IFD, None when it has none."""
        directory = values.get(Tag.GEO_KEY_DIRECTORY)
        keys = (
            parse_geokeys(
                [int(v) for v in directory],
                None if (d := values.get(Tag.GEO_DOUBLE_PARAMS)) is None else d.tolist(),
                values.get(Tag.GEO_ASCII_PARAMS),
                source=self.source,
            )
            if directory is not None
            else {}
        )
        raster_type = keys.get(GeoKey.GT_RASTER_TYPE, RasterType.PIXEL_IS_AREA)
        if not isinstance(raster_type, int):
            raise self._error(f"GTRasterTypeGeoKey has value {raster_type!r}")
        transform = model_transform(
            _as_list(values.get(Tag.MODEL_PIXEL_SCALE)),
            _as_list(values.get(Tag.MODEL_TIEPOINT)),
            _as_list(values.get(Tag.MODEL_TRANSFORMATION)),
            raster_type,
            source=self.source,
        )
        if transform is None and not keys:
            return None
        crs = crs_from_geokeys(keys, source=self.source)
        return GeoInfo(
            transform=transform,
            raster_type=raster_type,
            crs_epsg=crs.epsg,
            crs_wkt=crs.wkt,
            crs_projjson=crs.projjson,
        )


# ---------------------------------------------------------------------- module helpers


def _tag_name(tag: int) -> str:
    """Readable tag name for messages (``TILE_OFFSETS(324)``)."""
    try:
        return f"{Tag(tag).name}({tag})"
    except ValueError:
        return str(tag)


def _as_list(arr: npt.NDArray[np.float64] | None) -> list[float] | None:
    """NumPy values as a plain list (the geokeys helpers take sequences)."""
    return None if arr is None else [float(v) for v in arr]


def _kind_from_subfile(subfile_type: int) -> IfdKind:
    """Classify an IFD by NewSubfileType as GDAL does (bit 0 reduced, bit 2 mask)."""
    reduced = bool(subfile_type & SubfileType.REDUCED_IMAGE)
    mask = bool(subfile_type & SubfileType.MASK)
    if mask:
        return IfdKind.OVERVIEW_MASK if reduced else IfdKind.MASK
    return IfdKind.OVERVIEW if reduced else IfdKind.FULL


def _parse_nodata(text: str | None, source: str) -> float | None:
    """Parse GDAL_NODATA the way GDAL writes it: integers, decimals, nan, inf."""
    if text is None:
        return None
    cleaned = text.strip().lower()
    if not cleaned:
        return None
    if cleaned in ("nan", "+nan", "-nan", "1.#qnan", "-1.#qnan", "-1.#ind"):
        return math.nan
    if cleaned in ("inf", "+inf", "infinity", "+infinity", "1.#inf"):
        return math.inf
    if cleaned in ("-inf", "-infinity", "-1.#inf"):
        return -math.inf
    try:
        return float(int(cleaned)) if cleaned.lstrip("+-").isdigit() else float(cleaned)
    except (ValueError, OverflowError) as err:
        raise TiffFormatError(f"{source}: GDAL_NODATA {text!r} is not a number") from err


def _scales_offsets(
    xml_text: str | None, samples: int, source: str
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Per-sample SCALE/OFFSET items from GDAL_METADATA (None when the file sets none)."""
    if not xml_text or "<!DOCTYPE" in xml_text or "<!ENTITY" in xml_text:
        return None, None
    try:
        root = ET.fromstring(xml_text)  # noqa: S314 -- bounded size, DTDs refused above
    except ET.ParseError as err:
        logger.debug("%s: GDAL_METADATA is not valid XML (%s); ignored", source, err)
        return None, None
    scales: list[float] = [1.0] * samples
    offsets: list[float] = [0.0] * samples
    found_scale = found_offset = False
    for item in root.iter("Item"):
        role = (item.get("role") or "").lower()
        if role not in ("scale", "offset"):
            continue
        try:
            sample = int(item.get("sample", "0"))
            value = float((item.text or "").strip())
        except ValueError:
            continue
        if not 0 <= sample < samples:
            continue
        if role == "scale":
            scales[sample], found_scale = value, True
        else:
            offsets[sample], found_offset = value, True
    return (tuple(scales) if found_scale else None, tuple(offsets) if found_offset else None)
