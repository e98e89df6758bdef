"""decode_tile(out=...): bounded codecs write straight into the caller's buffer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rasteret.errors import InvalidInputError
from rasteret.tiff import decode_tile, parse_tiff_header, tile_shape
from rasteret_sandbox.cogs import write_cog

CASES: dict[str, dict[str, Any]] = {
    "deflate-pred2": {"dtype": "uint16", "compress": "deflate", "predictor": 2},
    "zstd-big-endian": {"dtype": "int16", "compress": "zstd", "predictor": 2, "big_endian": True},
    "lzw-copied": {"dtype": "uint16", "compress": "lzw"},
    "float-pred3-copied": {"dtype": "float32", "compress": "deflate", "predictor": 3},
    "webp-image-codec": {"dtype": "uint8", "count": 3, "compress": "webp", "nodata": None},
}


@pytest.mark.parametrize("case", list(CASES))
def test_out_receives_the_same_pixels(tmp_path: Path, case: str) -> None:
    path = write_cog(
        tmp_path / f"{case}.tif",
        width=512,
        height=512,
        blocksize=256,
        overview_levels=(),
        **CASES[case],
    )
    blob = path.read_bytes()
    header = parse_tiff_header(blob)
    ifd = header.full
    for index in range(len(ifd.tile_offsets)):
        start, count = int(ifd.tile_offsets[index]), int(ifd.tile_byte_counts[index])
        tile = blob[start : start + count]
        fresh = decode_tile(tile, ifd, byte_order=header.byte_order)
        out = np.full(tile_shape(ifd), 7, dtype=ifd.dtype)
        got = decode_tile(tile, ifd, byte_order=header.byte_order, out=out)
        assert got is out
        np.testing.assert_array_equal(out, fresh)


def test_out_must_match_the_tile(tmp_path: Path) -> None:
    path = write_cog(tmp_path / "t.tif", width=256, height=256, blocksize=256, overview_levels=())
    blob = path.read_bytes()
    header = parse_tiff_header(blob)
    ifd = header.full
    tile = blob[int(ifd.tile_offsets[0]) : int(ifd.tile_offsets[0] + ifd.tile_byte_counts[0])]
    for bad in (
        np.empty((256, 256, 1), dtype=np.uint8),  # wrong dtype
        np.empty((255, 256, 1), dtype=np.uint16),  # wrong shape
        np.empty((256, 512, 1), dtype=np.uint16)[:, ::2],  # not contiguous
    ):
        with pytest.raises(InvalidInputError, match="out"):
            decode_tile(tile, ifd, byte_order=header.byte_order, out=bad)
