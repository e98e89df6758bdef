"""decode_tile(rows_needed=...): the top rows of a deflate tile, without the rest.

GDAL (rasterio) is the oracle for the pixels of real COGs; hand-made blocks pin down the
cases GDAL rarely writes (stored deflate blocks, 1-bit rows, big-endian files). Each test
that claims the early stop also proves it: the tail of the stream is broken, so a
decoder that went on would fail.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.windows import Window
from test_decode import layout, values

from rasteret.errors import InvalidInputError, TiffFormatError
from rasteret.tiff import decode_tile, parse_tiff_header, tile_shape
from rasteret.tiff.codecs import CODECS, PREFIX_SLACK
from rasteret.tiff.decode import prefix_fetch_length
from rasteret_sandbox.cogs import write_cog

pytestmark = pytest.mark.skipif(
    CODECS[8].prefix is None, reason="this imagecodecs cannot stop libdeflate early"
)

CASES: dict[str, dict[str, Any]] = {
    "uint16-pred2": {"dtype": "uint16", "predictor": 2},
    "int16-pred2-big-endian": {"dtype": "int16", "predictor": 2, "big_endian": True},
    "float32-pred3": {"dtype": "float32", "predictor": 3},
    "uint8-rgb-pred1": {"dtype": "uint8", "count": 3, "predictor": 1, "nodata": None},
    "float64-pred1": {"dtype": "float64", "predictor": 1},
}


def _broken_tail(block: bytes) -> bytes:
    """``block`` with its last 64 bytes (deflate's end and the checksum) garbled."""
    return block[:-64] + bytes(b ^ 0xA5 for b in block[-64:])


@pytest.mark.parametrize("case", list(CASES))
def test_leading_rows_equal_gdal(tmp_path: Path, case: str) -> None:
    """Rows [first_row, rows_needed) of each tile, as GDAL reads that window."""
    path = write_cog(
        tmp_path / f"{case}.tif",
        width=1024,
        height=1024,
        blocksize=512,
        overview_levels=(),
        compress="deflate",
        **CASES[case],
    )
    blob = path.read_bytes()
    header = parse_tiff_header(blob)
    ifd = header.full
    with rasterio.open(path) as src:
        for index, (row0, col0) in enumerate([(0, 0), (0, 512), (512, 0), (512, 512)]):
            start, count = int(ifd.tile_offsets[index]), int(ifd.tile_byte_counts[index])
            block = blob[start : start + count]
            for first, need in ((0, 1), (0, 37), (36, 200), (199, 200), (300, None)):
                rows = 512 if need is None else need
                expect = src.read(window=Window(col0, row0 + first, 512, rows - first))
                scratch = np.full(tile_shape(ifd), 3, dtype=ifd.dtype)
                got = decode_tile(
                    block,
                    ifd,
                    byte_order=header.byte_order,
                    out=scratch,
                    rows_needed=need,
                    first_row=first,
                )
                assert got.shape == (rows, 512, ifd.samples_per_pixel)
                np.testing.assert_array_equal(np.moveaxis(got[first:], -1, 0), expect)


@pytest.mark.parametrize("byte_order", ["<", ">"])
@pytest.mark.parametrize("predictor", [1, 2])
def test_prefix_stops_before_the_tail(byte_order: str, predictor: int) -> None:
    arr = values("uint16", (512, 256, 1), seed=3) // 64  # compressible: the tail is late
    ifd = layout(
        dtype="uint16", width=256, height=512, tile_width=256, tile_height=512, predictor=predictor
    )
    stored = imagecodecs.delta_encode(arr, axis=-2) if predictor == 2 else arr
    block = _broken_tail(zlib.compress(stored.astype(stored.dtype.newbyteorder(byte_order))))
    with pytest.raises(TiffFormatError):
        decode_tile(block, ifd, byte_order=byte_order)  # the whole tile needs the tail
    got = decode_tile(block, ifd, byte_order=byte_order, rows_needed=100)
    np.testing.assert_array_equal(got, arr[:100])


def test_stored_blocks_and_long_matches() -> None:
    """Incompressible rows go into stored blocks of up to 64 KiB: each is written whole."""
    rng = np.random.default_rng(11)
    arr = np.concatenate(
        [
            rng.integers(0, 256, (300, 1024, 1), dtype=np.uint8),  # noise: stored blocks
            np.zeros((300, 1024, 1), dtype=np.uint8),  # long matches
            rng.integers(0, 4, (424, 1024, 1), dtype=np.uint8),
        ]
    )
    ifd = layout(dtype="uint8", width=1024, height=1024, tile_width=1024, tile_height=1024)
    for level in (0, 1, 9):
        block = zlib.compress(arr.tobytes(), level)
        for need in (1, 63, 64, 299, 300, 301, 599, 600, 700, 950):
            got = decode_tile(block, ifd, byte_order="<", rows_needed=need)
            assert got.shape[0] in (need, 1024)  # near the end the whole tile is decoded
            np.testing.assert_array_equal(got[:need], arr[:need])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    need=st.integers(1, 512),
    scale=st.sampled_from([1, 16, 4096, 65536]),
)
def test_any_prefix_matches_the_whole_decode(seed: int, need: int, scale: int) -> None:
    arr = (values("uint32", (512, 128, 1), seed=seed) // scale).astype(np.uint32)
    ifd = layout(
        dtype="uint32", width=128, height=512, tile_width=128, tile_height=512, predictor=2
    )
    block = zlib.compress(imagecodecs.delta_encode(arr, axis=-2).tobytes(), 6)
    whole = decode_tile(block, ifd, byte_order="<")
    got = decode_tile(block, ifd, byte_order="<", rows_needed=need)
    np.testing.assert_array_equal(got, whole[: got.shape[0]])
    assert got.shape[0] >= need


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    need=st.integers(1, 512),
    keep=st.floats(0.0, 1.0),
    level=st.sampled_from([0, 1, 6, 9]),
    kind=st.sampled_from(["noise", "smooth", "mixed"]),
)
def test_a_cut_stream_gives_the_right_rows_or_fails(
    seed: int, need: int, keep: float, level: int, kind: str
) -> None:
    """What a prefix fetch relies on: the leading bytes of a block, cut anywhere, either
    decode the rows asked for exactly or fail; never rows made of what is missing."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 65536, (512, 128, 1), dtype=np.uint16)
    smooth = (np.arange(512 * 128, dtype=np.uint16) // 7).reshape(512, 128, 1)
    arr = {"noise": noise, "smooth": smooth, "mixed": np.where(smooth % 3 == 0, noise, smooth)}
    tile = arr[kind]
    ifd = layout(dtype="uint16", width=128, height=512, tile_width=128, tile_height=512)
    block = zlib.compress(tile.tobytes(), level)
    cut = block[: int(len(block) * keep)]
    try:
        got = decode_tile(cut, ifd, byte_order="<", rows_needed=need)
    except (TiffFormatError, InvalidInputError):
        return
    np.testing.assert_array_equal(got[:need], tile[:need])


def test_one_bit_rows() -> None:
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2, (2048, 1000), dtype=np.uint8)
    packed = np.packbits(bits, axis=1)  # rows padded to 125 bytes
    ifd = layout(dtype="uint8", bits=1, width=1000, height=2048, tile_width=1000, tile_height=2048)
    block = _broken_tail(zlib.compress(packed.tobytes()))
    got = decode_tile(block, ifd, byte_order="<", rows_needed=300)
    np.testing.assert_array_equal(got[..., 0], bits[:300])


def test_short_and_corrupt_prefixes_fail() -> None:
    arr = np.arange(512 * 512, dtype=np.uint16).reshape(512, 512, 1)
    ifd = layout(dtype="uint16", width=512, height=512, tile_width=512, tile_height=512)
    # a block that ends inside the tile, within the room the prefix decode is given (a
    # block ending further down is only noticed when a read needs those rows)
    short = zlib.compress(arr[:20].tobytes())
    with pytest.raises(TiffFormatError, match="ends after"):
        decode_tile(short, ifd, byte_order="<", rows_needed=10)
    garbage = zlib.compress(arr.tobytes())[:2] + b"\xff" * 5000
    with pytest.raises(TiffFormatError, match="corrupt deflate"):
        decode_tile(garbage, ifd, byte_order="<", rows_needed=10, source="s://x")
    with pytest.raises(InvalidInputError, match="rows_needed"):
        decode_tile(zlib.compress(arr.tobytes()), ifd, byte_order="<", rows_needed=513)
    for first, need in ((-1, None), (512, None), (10, 10)):
        with pytest.raises(InvalidInputError, match="first_row"):
            decode_tile(
                zlib.compress(arr.tobytes()),
                ifd,
                byte_order="<",
                rows_needed=need,
                first_row=first,
            )


def test_small_tiles_decode_whole() -> None:
    """Where the slack is most of the tile the one-shot decode runs (and checks Adler-32)."""
    arr = values("uint16", (64, 64, 1))
    ifd = layout(dtype="uint16", width=64, height=64, tile_width=64, tile_height=64)
    assert arr.nbytes < PREFIX_SLACK
    got = decode_tile(zlib.compress(arr.tobytes()), ifd, byte_order="<", rows_needed=5)
    assert got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


def test_prefix_fetch_length_asks_for_a_share_of_the_image_rows() -> None:
    ifd = layout(dtype="uint16", width=1024, height=1024, tile_width=1024, tile_height=1024)
    length = 1_000_000
    top = prefix_fetch_length(ifd, length, rows=1024, stop=100)
    deeper = prefix_fetch_length(ifd, length, rows=1024, stop=400)
    assert 100_000 < top < deeper < length  # grows with the rows, with a margin
    assert prefix_fetch_length(ifd, length, rows=1024, stop=1024) == length
    assert prefix_fetch_length(ifd, length, rows=1024, stop=1000) == length  # decoded whole
    # an edge tile whose image ends at row 300: its bytes are all in those rows
    assert prefix_fetch_length(ifd, length, rows=1024, stop=300, filled=300) == length
    assert prefix_fetch_length(ifd, length, rows=1024, stop=100, filled=300) > top
    # codecs that cannot stop early need the whole block
    lzw = layout(
        dtype="uint16", width=1024, height=1024, tile_width=1024, tile_height=1024, compression=5
    )
    assert prefix_fetch_length(lzw, length, rows=1024, stop=100) == length
