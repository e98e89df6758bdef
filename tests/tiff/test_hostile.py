"""Hostile and malformed headers raise rasteret's TIFF errors, never crash, hang or balloon."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasteret.errors import TiffFormatError, UnsupportedTiffError
from rasteret.tiff import HeaderTruncatedError, TiffHeader, parse_tiff_header
from rasteret.tiff.limits import MAX_HEADER_BYTES

ALLOWED = (TiffFormatError, UnsupportedTiffError)  # HeaderTruncatedError is a TiffFormatError

Entry = tuple[int, int, int, int]  # tag, type, count, inline value or offset

SHORT, LONG, LONG8 = 3, 4, 16


def _strip_entries(width: int = 4, height: int = 4, data_at: int = 200) -> list[Entry]:
    """A one-strip 8-bit grey image whose pixels sit at ``data_at``."""
    return [
        (256, SHORT, 1, width),
        (257, SHORT, 1, height),
        (258, SHORT, 1, 8),
        (259, SHORT, 1, 1),
        (262, SHORT, 1, 1),
        (273, LONG, 1, data_at),
        (277, SHORT, 1, 1),
        (278, SHORT, 1, height),
        (279, LONG, 1, width * height),
    ]


def _classic(
    ifds: list[list[Entry]],
    *,
    order: str = "<",
    next_offsets: list[int] | None = None,
    first: int | None = None,
    total: int = 256,
) -> bytes:
    """Lay out a classic TIFF: header, then the IFDs back to back, then zero padding."""
    mark = b"II" if order == "<" else b"MM"
    offsets = []
    pos = 8
    for entries in ifds:
        offsets.append(pos)
        pos += 2 + 12 * len(entries) + 4
    nexts = next_offsets or [*offsets[1:], 0]
    out = bytearray(mark + struct.pack(order + "HI", 42, offsets[0] if first is None else first))
    for entries, nxt in zip(ifds, nexts, strict=True):
        out += struct.pack(order + "H", len(entries))
        for tag, ftype, count, value in entries:
            if ftype == SHORT and count == 1:
                out += struct.pack(order + "HHIHH", tag, ftype, count, value, 0)
            else:
                out += struct.pack(order + "HHII", tag, ftype, count, value)
        out += struct.pack(order + "I", nxt)
    out += bytes(max(0, total - len(out)))
    return bytes(out)


def _bigtiff(entries: list[tuple[int, int, int, int]], *, first: int = 16) -> bytes:
    """A BigTIFF with one IFD at ``first`` (entries hold 8-byte values/offsets)."""
    out = bytearray(b"II" + struct.pack("<HHHQ", 43, 8, 0, first))
    out += bytes(max(0, first - len(out)))
    out += struct.pack("<Q", len(entries))
    for tag, ftype, count, value in entries:
        if ftype == SHORT and count == 1:
            out += struct.pack("<HHQHHHH", tag, ftype, count, value, 0, 0, 0)
        else:
            out += struct.pack("<HHQQ", tag, ftype, count, value)
    out += struct.pack("<Q", 0)
    out += bytes(256)
    return bytes(out)


def test_minimal_hand_built_tiff_parses() -> None:
    header = parse_tiff_header(_classic([_strip_entries()]), source="mini")
    assert header.geo is None and header.nodata is None
    ifd = header.full
    assert (ifd.width, ifd.height, ifd.tiled, ifd.dtype) == (4, 4, False, "uint8")
    assert ifd.tile_offsets.tolist() == [200] and ifd.tile_byte_counts.tolist() == [16]
    assert header.header_size == 8 + 2 + 12 * 9 + 4
    big = parse_tiff_header(_classic([_strip_entries()], order=">"), source="mini-be")
    assert big.byte_order == ">" and big.full.tile_offsets.tolist() == [200]
    assert parse_tiff_header(bytearray(_classic([_strip_entries()]))).full.width == 4
    assert parse_tiff_header(memoryview(_classic([_strip_entries()]))).full.width == 4


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"XX*\x00\x08\x00\x00\x00" + bytes(64), "not a TIFF"),
        (b"GIF89a" + bytes(64), "not a TIFF"),
        (b"II\x2c\x00\x08\x00\x00\x00" + bytes(64), "version 44"),
        (b"II*\x00\x00\x00\x00\x00" + bytes(64), "no IFD"),
        (b"II*\x00\x04\x00\x00\x00" + bytes(64), "overlaps"),
        (b"II+\x00\x04\x00\x00\x00" + bytes(64), "BigTIFF"),
    ],
)
def test_bad_file_headers(data: bytes, match: str) -> None:
    with pytest.raises(TiffFormatError, match=match) as info:
        parse_tiff_header(data, source="bad.tif")
    assert "bad.tif" in str(info.value)
    assert not isinstance(info.value, HeaderTruncatedError)


@pytest.mark.parametrize("prefix", [b"", b"I", b"II", b"II*", b"II*\x00", b"MM\x00*\x00\x00"])
def test_tiny_prefixes_ask_for_more(prefix: bytes) -> None:
    with pytest.raises(HeaderTruncatedError) as info:
        parse_tiff_header(prefix)
    assert info.value.needed >= max(len(prefix) + 1, 8)


def test_ifd_loop_to_itself() -> None:
    data = _classic([_strip_entries()], next_offsets=[8])
    with pytest.raises(TiffFormatError, match="loops"):
        parse_tiff_header(data, source="loop.tif")


def test_ifd_loop_between_two() -> None:
    entries = _strip_entries()
    first_size = 2 + 12 * len(entries) + 4
    data = _classic([entries, entries], next_offsets=[8 + first_size, 8])
    with pytest.raises(TiffFormatError, match="loops"):
        parse_tiff_header(data)


def test_ifd_count_limits() -> None:
    empty = b"II*\x00\x08\x00\x00\x00" + b"\x00\x00" + bytes(64)
    with pytest.raises(TiffFormatError, match="no entries"):
        parse_tiff_header(empty)
    many = b"II*\x00\x08\x00\x00\x00" + struct.pack("<H", 60000) + bytes(64)
    with pytest.raises(TiffFormatError, match="60000 entries"):
        parse_tiff_header(many)


def test_huge_count_bigtiff() -> None:
    entries = [
        (256, SHORT, 1, 4),
        (257, SHORT, 1, 4),
        (322, SHORT, 1, 16),
        (323, SHORT, 1, 16),
        (324, LONG8, 2**60, 4096),
        (325, LONG8, 1, 16),
    ]
    with pytest.raises(TiffFormatError, match="limit"):
        parse_tiff_header(_bigtiff(entries), source="huge.tif")


def test_offset_past_2_63() -> None:
    data = bytearray(_bigtiff(_strip_entries()))
    data[8:16] = struct.pack("<Q", 2**63 + 5)
    with pytest.raises(TiffFormatError, match="implausible"):
        parse_tiff_header(bytes(data))
    entries = [*_strip_entries()[:5], (273, LONG8, 2, 2**63 + 5), *_strip_entries()[6:]]
    with pytest.raises(TiffFormatError, match="implausible"):
        parse_tiff_header(_bigtiff(entries))


def test_header_beyond_limit_is_unsupported() -> None:
    entries = _strip_entries(height=8)
    entries[5] = (273, LONG, 2, MAX_HEADER_BYTES + 1000)  # two strips, array far away
    entries[7] = (278, SHORT, 1, 4)
    entries[8] = (279, LONG, 2, 100)
    with pytest.raises(UnsupportedTiffError, match="header limit"):
        parse_tiff_header(_classic([entries]))


def test_file_size_makes_missing_bytes_an_error() -> None:
    data = _classic([_strip_entries()], next_offsets=[5000])
    with pytest.raises(HeaderTruncatedError) as info:
        parse_tiff_header(data)
    assert info.value.needed == 5002
    with pytest.raises(TiffFormatError, match="past the end") as err:
        parse_tiff_header(data, file_size=len(data))
    assert not isinstance(err.value, HeaderTruncatedError)


def test_blocks_past_end_of_file() -> None:
    data = _classic([_strip_entries(data_at=10_000)])
    assert parse_tiff_header(data).full.tile_offsets.tolist() == [10_000]
    with pytest.raises(TiffFormatError, match="past the end"):
        parse_tiff_header(data, file_size=len(data))


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({0: (256, 99, 1, 4)}, TiffFormatError, "unknown field type"),
        ({0: (256, 2, 1, 4)}, TiffFormatError, "expected an unsigned integer"),
        ({0: (256, SHORT, 1, 0)}, TiffFormatError, "empty image"),
        ({2: (258, SHORT, 1, 12)}, UnsupportedTiffError, "12 bits"),
        ({5: (273, LONG, 0, 0)}, TiffFormatError, "no values"),
        ({7: (278, SHORT, 1, 0)}, TiffFormatError, "RowsPerStrip 0"),
        ({7: (278, SHORT, 1, 2)}, TiffFormatError, "expected 2"),
    ],
)
def test_malformed_entries(change: dict[int, Entry], error: type[Exception], match: str) -> None:
    entries = _strip_entries()
    for index, entry in change.items():
        entries[index] = entry
    with pytest.raises(error, match=match):
        parse_tiff_header(_classic([entries]))


def test_mixed_bits_and_complex_samples() -> None:
    # Three samples whose BitsPerSample (8, 8, 16) is stored out of line at offset 150.
    entries = _strip_entries()
    entries[2] = (258, SHORT, 3, 150)
    entries[6] = (277, SHORT, 1, 3)
    data = bytearray(_classic([entries]))
    data[150:156] = struct.pack("<HHH", 8, 8, 16)
    with pytest.raises(UnsupportedTiffError, match="mixes"):
        parse_tiff_header(bytes(data))
    complex_entries = [*_strip_entries(), (339, SHORT, 1, 6)]
    with pytest.raises(UnsupportedTiffError, match="SampleFormat 6"):
        parse_tiff_header(_classic([complex_entries]))


def test_missing_required_tags() -> None:
    no_width = _strip_entries()[1:]
    with pytest.raises(TiffFormatError, match="IMAGE_WIDTH"):
        parse_tiff_header(_classic([no_width]))
    no_offsets = [e for e in _strip_entries() if e[0] != 273]
    with pytest.raises(TiffFormatError, match="STRIP_OFFSETS"):
        parse_tiff_header(_classic([no_offsets]))
    only_mask = [*_strip_entries(), (254, LONG, 1, 4)]
    only_mask.sort()
    with pytest.raises(TiffFormatError, match="no full-resolution"):
        parse_tiff_header(_classic([only_mask]))


def test_bad_nodata_text() -> None:
    entries = [*_strip_entries(), (42113, 2, 4, int.from_bytes(b"abc\x00", "little"))]
    with pytest.raises(TiffFormatError, match="GDAL_NODATA"):
        parse_tiff_header(_classic([entries]))
    for text, expected in ((b"-12\x00", -12.0), (b"nan\x00", None), (b"-inf", float("-inf"))):
        good = [*_strip_entries(), (42113, 2, 4, int.from_bytes(text, "little"))]
        value = parse_tiff_header(_classic([good])).nodata
        assert value is not None
        if expected is None:
            assert value != value  # NaN
        else:
            assert value == expected


def _real_headers(make_cog: Any) -> list[bytes]:
    variants = [
        ("fuzz_classic", {"width": 600, "height": 500, "blocksize": 256}),
        (
            "fuzz_be_planar",
            {
                "width": 300,
                "height": 200,
                "count": 2,
                "interleave": "band",
                "big_endian": True,
                "blocksize": 256,
                "nodata": -1,
                "dtype": "int16",
            },
        ),
        (
            "fuzz_bigtiff_mask",
            {"width": 500, "height": 400, "bigtiff": True, "internal_mask": True, "blocksize": 256},
        ),
        (
            "fuzz_strips_aea",
            {
                "width": 200,
                "height": 100,
                "tiled": False,
                "blocksize": 8,
                "crs": "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +datum=WGS84",
                "scales": [0.5],
                "offsets": [1.0],
            },
        ),
    ]
    out = []
    for name, kwargs in variants:
        path: Path = make_cog(name, **kwargs)
        data = path.read_bytes()
        header = parse_tiff_header(data)
        out.append(data[: header.header_size + 64])
    return out


def test_every_prefix_of_a_real_header_asks_for_more(make_cog: Any) -> None:
    for data in _real_headers(make_cog):
        full = parse_tiff_header(data)
        for n in range(full.header_size):
            with pytest.raises(HeaderTruncatedError) as info:
                parse_tiff_header(data[:n])
            assert n < info.value.needed <= full.header_size


_FIELD_VALUES = st.sampled_from(
    [0, 1, 2, 7, 8, 16, 255, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**40, 2**63 + 5, 2**64 - 1]
)

_MUTATION = st.one_of(
    st.tuples(st.just("byte"), st.integers(0, 4096), st.integers(0, 255)),
    st.tuples(st.just("u16"), st.integers(0, 4096), _FIELD_VALUES),
    st.tuples(st.just("u32"), st.integers(0, 4096), _FIELD_VALUES),
    st.tuples(st.just("u64"), st.integers(0, 4096), _FIELD_VALUES),
    st.tuples(st.just("self_pointer"), st.integers(0, 4096), st.just(0)),
    st.tuples(st.just("truncate"), st.integers(0, 4096), st.just(0)),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    order = "<" if buf[:2] == b"II" else ">"
    for kind, raw_pos, raw_value in mutations:
        if not buf:
            break
        pos = raw_pos % len(buf)
        value = raw_value
        if kind == "truncate":
            del buf[pos:]
            continue
        if kind == "byte":
            buf[pos] = value
            continue
        if kind == "self_pointer":  # make whatever sits at pos point back at itself
            width = 8 if buf[2:4] in (b"+\x00", b"\x00+") else 4
            value, fmt = pos & ~1, "Q" if width == 8 else "I"
        else:
            fmt = {"u16": "H", "u32": "I", "u64": "Q"}[kind]
        size = struct.calcsize(fmt)
        packed = struct.pack(order + fmt, value % (1 << (8 * size)))
        buf[pos : pos + size] = packed[: max(0, len(buf) - pos)]
    return bytes(buf)


@pytest.fixture(scope="module")
def real_headers(make_cog: Any) -> list[bytes]:
    return _real_headers(make_cog)


@settings(
    max_examples=300,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    which=st.integers(0, 3),
    mutations=st.lists(_MUTATION, min_size=1, max_size=6),
    with_size=st.booleans(),
)
def test_fuzz_mutated_real_headers(
    real_headers: list[bytes],
    which: int,
    mutations: list[tuple[str, int, int]],
    with_size: bool,
) -> None:
    data = _mutate(real_headers[which], mutations)
    try:
        header = parse_tiff_header(
            data, source="fuzz.tif", file_size=len(data) if with_size else None
        )
    except HeaderTruncatedError as err:
        assert err.needed > len(data)
        assert not with_size
    except ALLOWED as err:
        assert "fuzz.tif" in str(err)
    else:
        assert isinstance(header, TiffHeader)
        assert header.header_size <= len(data)
        for ifd in header.ifds:
            assert len(ifd.tile_offsets) == len(ifd.tile_byte_counts)
