"""Reads over the top of a deflate tile decode only the rows they paste.

The proof is a tile whose stream tail is broken on disk: a window over its first rows
still reads pixels equal to GDAL's on the intact file, while a window that needs its
last rows fails. A reader that decoded whole tiles would fail both.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window as RioWindow

from rasteret.errors import TiffFormatError
from rasteret.io import ObstoreBackend
from rasteret.read.engine import execute_plan
from rasteret.read.grid import Window
from rasteret.read.plan import ReadPlan, plan_window
from rasteret.tiff import parse_tiff_header
from rasteret.tiff.codecs import CODECS
from rasteret_sandbox.cogs import write_cog

pytestmark = pytest.mark.skipif(
    CODECS[8].prefix is None, reason="this imagecodecs cannot stop libdeflate early"
)


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An intact 512 px tiled deflate COG and a copy whose first tile has a broken tail."""
    root = tmp_path_factory.mktemp("prefix")
    intact = write_cog(
        root / "intact.tif",
        width=1024,
        height=1024,
        blocksize=512,
        overview_levels=(),
        dtype="uint16",
        compress="deflate",
        predictor=2,
    )
    blob = bytearray(intact.read_bytes())
    ifd = parse_tiff_header(bytes(blob)).full
    end = int(ifd.tile_offsets[0] + ifd.tile_byte_counts[0])
    blob[end - 64 : end] = bytes(b ^ 0x5A for b in blob[end - 64 : end])
    broken = root / "broken.tif"
    broken.write_bytes(bytes(blob))
    return intact, broken


def _plan(path: Path, window: Window) -> tuple[ReadPlan, np.ndarray]:
    """The plan of one window over band 1 of ``path``, and the canvas it fills."""
    header = parse_tiff_header(path.read_bytes())
    jobs, pastes = plan_window(
        url=path.as_uri(),
        ifd=header.full,
        byte_order=header.byte_order,
        window=window,
        sample=0,
        target=0,
    )
    plan = ReadPlan()
    plan.add(jobs, pastes)
    return plan, np.zeros((window.height, window.width), dtype=header.full.dtype)


def _read(path: Path, window: Window) -> np.ndarray:
    plan, canvas = _plan(path, window)
    asyncio.run(execute_plan(plan, [canvas], ObstoreBackend(), max_concurrent=4))
    return canvas


def test_top_rows_of_a_tile_need_no_tail(cogs: tuple[Path, Path]) -> None:
    intact, broken = cogs
    with rasterio.open(intact) as src:
        for row_off, height, col_off, width in [
            (0, 1, 0, 512),
            (10, 100, 20, 280),
            (0, 300, 400, 300),
        ]:
            window = Window(col_off=col_off, row_off=row_off, width=width, height=height)
            expect = src.read(1, window=RioWindow(col_off, row_off, width, height))
            np.testing.assert_array_equal(_read(broken, window), expect)


def test_bottom_rows_still_need_the_whole_tile(cogs: tuple[Path, Path]) -> None:
    _, broken = cogs
    with pytest.raises(TiffFormatError, match="tile 0"):
        _read(broken, Window(col_off=0, row_off=450, width=100, height=40))


def test_reads_sharing_a_tile_decode_down_to_the_lowest_row_any_needs(
    cogs: tuple[Path, Path],
) -> None:
    """Concurrent reads of one tile share one fetch and one decode of the rows they need.

    The tile's tail is broken: the shared decode for windows ending at rows 50 and 300
    stops at row 300 and serves both; a third window down to row 490 makes the shared
    decode need the tail, so it fails, and the other two decode their own rows (the owner
    from the bytes it has, the joiner from its own fetch).
    """
    intact, broken = cogs
    windows = [
        Window(col_off=0, row_off=0, width=200, height=50),
        Window(col_off=100, row_off=150, width=300, height=150),
    ]

    async def together(ws: list[Window]) -> tuple[list[np.ndarray], list[object]]:
        backend = ObstoreBackend()
        plans = [_plan(broken, w) for w in ws]
        outcomes = await asyncio.gather(
            *(execute_plan(p, [c], backend, max_concurrent=4) for p, c in plans),
            return_exceptions=True,
        )
        return [c for _, c in plans], list(outcomes)

    with rasterio.open(intact) as src:
        expect = [
            src.read(1, window=RioWindow(w.col_off, w.row_off, w.width, w.height)) for w in windows
        ]
    canvases, outcomes = asyncio.run(together(windows))
    assert outcomes == [None, None]
    for got, want in zip(canvases, expect, strict=True):
        np.testing.assert_array_equal(got, want)
    deep = Window(col_off=0, row_off=440, width=50, height=50)
    canvases, outcomes = asyncio.run(together([*windows, deep]))
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], TiffFormatError)
    for got, want in zip(canvases[:2], expect, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_shared_tile_is_finished_from_the_highest_row_any_read_needs(
    cogs: tuple[Path, Path],
) -> None:
    """The predictor is undone only from a window's first row; a joiner whose window
    starts higher than the owner's widens the shared decode, so both equal GDAL."""
    intact, _ = cogs
    windows = [
        Window(col_off=0, row_off=150, width=200, height=100),  # the owner: rows 150-250
        Window(col_off=50, row_off=20, width=100, height=60),  # joins: rows 20-80
        Window(col_off=300, row_off=400, width=100, height=50),  # joins: rows 400-450
    ]

    async def together() -> list[np.ndarray]:
        backend = ObstoreBackend()
        plans = [_plan(intact, w) for w in windows]
        await asyncio.gather(*(execute_plan(p, [c], backend, max_concurrent=4) for p, c in plans))
        return [c for _, c in plans]

    with rasterio.open(intact) as src:
        for got, w in zip(asyncio.run(together()), windows, strict=True):
            want = src.read(1, window=RioWindow(w.col_off, w.row_off, w.width, w.height))
            np.testing.assert_array_equal(got, want)
