"""Reads over the top of a deflate tile decode only the rows they paste.

The proof is a tile whose stream tail is broken on disk: a window over its first rows
still reads pixels equal to GDAL's on the intact file, while a window that needs its
last rows fails. A reader that decoded whole tiles would fail both.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window as RioWindow

from rasteret.errors import FetchError, TiffFormatError
from rasteret.io import ObstoreBackend
from rasteret.read import engine
from rasteret.read.engine import execute_plan
from rasteret.read.grid import Window
from rasteret.read.inflight import budget_for
from rasteret.read.plan import ReadPlan, plan_window
from rasteret.tiff import parse_tiff_header
from rasteret.tiff.codecs import CODECS
from rasteret_sandbox.cogs import write_cog

pytestmark = pytest.mark.skipif(
    CODECS[8].prefix is None, reason="this imagecodecs cannot stop libdeflate early"
)


def _deflate_cog(path: Path, size: int, **options: Any) -> Path:
    """A square uint16 deflate COG in 512 px tiles, without overviews."""
    return write_cog(
        path,
        width=size,
        height=size,
        blocksize=512,
        overview_levels=(),
        dtype="uint16",
        compress="deflate",
        **options,
    )


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An intact 512 px tiled deflate COG and a copy whose first tile has a broken tail."""
    root = tmp_path_factory.mktemp("prefix")
    intact = _deflate_cog(root / "intact.tif", 1024, predictor=2)
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


class _Recording(ObstoreBackend):
    """The real backend, noting every range the engine asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[tuple[int, int]] = []

    async def get_ranges_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[bytes]:
        self.ranges.extend(zip(starts, ends, strict=True))
        return await super().get_ranges_async(url, starts, ends)


class _Requests(ObstoreBackend):
    """The real backend, noting every request it sends (after its own coalescing)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.requests: list[tuple[int, int]] = []

    async def _get(self, store: Any, path: str, url: str, start: int, end: int) -> Any:
        self.requests.append((start, end))
        return await super()._get(store, path, url, start, end)


def _read_recorded(path: Path, window: Window) -> tuple[np.ndarray, list[tuple[int, int]]]:
    plan, canvas = _plan(path, window)
    backend = _Recording()
    asyncio.run(execute_plan(plan, [canvas], backend, max_concurrent=4))
    return canvas, backend.ranges


def test_a_read_over_the_top_rows_fetches_only_the_leading_bytes(
    cogs: tuple[Path, Path],
) -> None:
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    start, count = int(ifd.tile_offsets[0]), int(ifd.tile_byte_counts[0])
    got, ranges = _read_recorded(intact, Window(col_off=10, row_off=20, width=300, height=80))
    with rasterio.open(intact) as src:
        np.testing.assert_array_equal(got, src.read(1, window=RioWindow(10, 20, 300, 80)))
    assert len(ranges) == 1 and ranges[0][0] == start
    assert ranges[0][1] - start < count // 2  # rows 0-100 of 512: well under half the block


def test_prefixes_of_neighbouring_tiles_are_not_merged_across_a_skipped_tail(
    cogs: tuple[Path, Path],
) -> None:
    """Tiles 0 and 1 lie back to back in the file (well within the 1 MiB merge gap); a
    read of their top rows asks for each one's leading bytes, not for one range that
    would span tile 0's tail."""
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    offsets, counts = ifd.tile_offsets.astype(int), ifd.tile_byte_counts.astype(int)
    assert 0 <= offsets[1] - (offsets[0] + counts[0]) < 16  # GDAL's block leader/trailer
    window = Window(col_off=400, row_off=10, width=200, height=60)
    plan, canvas = _plan(intact, window)
    backend = _Requests()
    asyncio.run(execute_plan(plan, [canvas], backend, max_concurrent=4))
    with rasterio.open(intact) as src:
        np.testing.assert_array_equal(canvas, src.read(1, window=RioWindow(400, 10, 200, 60)))
    assert [start for start, _ in sorted(backend.requests)] == [offsets[0], offsets[1]]
    for (start, end), count in zip(sorted(backend.requests), counts[:2], strict=True):
        assert end - start < count // 2  # a prefix each


def test_a_prefix_that_proves_too_short_is_fetched_again_whole(tmp_path: Path) -> None:
    """Noise in the top rows, zeros below: the top takes nearly all of the block's bytes,
    so a guess from the share of rows is short; the read still equals GDAL."""
    rng = np.random.default_rng(3)
    data = np.zeros((1, 512, 512), dtype=np.uint16)
    data[0, :200] = rng.integers(1, 65535, (200, 512), dtype=np.uint16)
    path = _deflate_cog(tmp_path / "top-heavy.tif", 512, data=data)
    ifd = parse_tiff_header(path.read_bytes()).full
    start, count = int(ifd.tile_offsets[0]), int(ifd.tile_byte_counts[0])
    got, ranges = _read_recorded(path, Window(col_off=0, row_off=150, width=512, height=40))
    np.testing.assert_array_equal(got, data[0, 150:190])
    assert ranges[0][0] == start and ranges[0][1] < start + count  # the guess
    assert ranges[1:] == [(start, start + count)]  # then the whole block


class _Slow(_Recording):
    """Every request takes a while, so a second read can arrive while one is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[int] = []  # the loop's pending-bytes count as each request leaves

    async def get_ranges_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[bytes]:
        self.ranges.extend(zip(starts, ends, strict=True))
        self.pending.append(budget_for(asyncio.get_running_loop()).pending)
        await asyncio.sleep(0.3)
        return await ObstoreBackend.get_ranges_async(self, url, starts, ends)


def test_a_read_joining_after_a_prefix_left_fetches_only_the_rest(
    cogs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first read asks for the top of tile 0; a second read of deeper rows arrives
    while that request is in flight, fetches the rest of the block alongside, and the
    tile is decoded once from both parts: no byte is fetched twice."""
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    start, count = int(ifd.tile_offsets[0]), int(ifd.tile_byte_counts[0])
    top = Window(col_off=0, row_off=0, width=100, height=40)
    deep = Window(col_off=200, row_off=300, width=100, height=150)
    backend = _Slow()
    at_decode: list[int] = []  # the loop's pending bytes as each decode starts

    async def first_then_second() -> list[np.ndarray]:
        budget = budget_for(asyncio.get_running_loop())

        def decode(*args: Any, **kwargs: Any) -> np.ndarray:
            at_decode.append(budget.pending)
            return real_decode(*args, **kwargs)

        monkeypatch.setattr(engine, "_decode", decode)
        plans = [_plan(intact, w) for w in (top, deep)]
        first = asyncio.ensure_future(
            execute_plan(plans[0][0], [plans[0][1]], backend, max_concurrent=4)
        )
        await asyncio.sleep(0.1)  # the first read's request is in flight now
        await execute_plan(plans[1][0], [plans[1][1]], backend, max_concurrent=4)
        await first
        assert budget_for(asyncio.get_running_loop()).pending == 0  # all given back
        return [c for _, c in plans]

    real_decode = engine._decode
    got = asyncio.run(first_then_second())
    with rasterio.open(intact) as src:
        for canvas, w in zip(got, (top, deep), strict=True):
            want = src.read(1, window=RioWindow(w.col_off, w.row_off, w.width, w.height))
            np.testing.assert_array_equal(canvas, want)
    (a0, a1), (b0, b1) = sorted(backend.ranges)
    assert (a0, b0, b1) == (start, a1, start + count)  # a prefix, then exactly the rest
    # the rest counts against the pending-bytes budget while it is fetched, with the prefix,
    # and until the block the two make up is decoded (once)
    assert backend.pending == [a1 - a0, (a1 - a0) + (b1 - b0)]
    assert at_decode == [(a1 - a0) + (b1 - b0)]


class _SlowTile(ObstoreBackend):
    """The real backend; requests starting at ``slow_at`` take much longer than others."""

    def __init__(self, slow_at: int) -> None:
        super().__init__()
        self.slow_at = slow_at

    async def get_ranges_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[bytes]:
        await asyncio.sleep(0.8 if self.slow_at in starts else 0.1)
        return await super().get_ranges_async(url, starts, ends)


def test_a_joined_tile_is_freed_once_consumed_not_when_the_read_ends(
    cogs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that joined another's tile keeps no decoded copy of it once it has pasted it.

    The second read also waits for a slow tile of its own. Holding every joined tile until
    the read ended kept 390 MiB of decoded tiles alive in a batch of 64 chips. The shared
    decode may go into the decode thread's reused buffer (nothing of its own to free) or
    into an array of its own, which must then be gone while the read still waits.
    """
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    shared: list[weakref.ref[np.ndarray] | None] = []  # None: decoded into a reused buffer
    real_decode = engine._decode

    def recording_decode(job: Any, blob: Any, out: Any, *args: Any) -> np.ndarray:
        tile = real_decode(job, blob, out, *args)
        if job.key.tile_index == 0:  # decoded once, for both reads
            shared.append(weakref.ref(tile) if out is None else None)
        return tile

    monkeypatch.setattr(engine, "_decode", recording_decode)
    first = Window(col_off=0, row_off=0, width=300, height=50)  # tile 0
    second = Window(col_off=400, row_off=10, width=300, height=90)  # tiles 0 and 1
    backend = _SlowTile(slow_at=int(ifd.tile_offsets[1]))

    async def both() -> tuple[list[np.ndarray], bool]:
        plans = [_plan(intact, w) for w in (first, second)]
        a = asyncio.ensure_future(
            execute_plan(plans[0][0], [plans[0][1]], backend, max_concurrent=4)
        )
        await asyncio.sleep(0.02)  # the first read owns tile 0 now; the second joins it
        b = asyncio.ensure_future(
            execute_plan(plans[1][0], [plans[1][1]], backend, max_concurrent=4)
        )
        await a
        await asyncio.sleep(0.3)  # the second read has pasted tile 0; tile 1 is still out
        assert not b.done() and len(shared) == 1
        gc.collect()
        ref = shared[0]
        freed = ref is None or ref() is None
        await b
        return [c for _, c in plans], freed

    canvases, freed = asyncio.run(both())
    with rasterio.open(intact) as src:
        for canvas, w in zip(canvases, (first, second), strict=True):
            want = src.read(1, window=RioWindow(w.col_off, w.row_off, w.width, w.height))
            np.testing.assert_array_equal(canvas, want)
    assert freed, "the joined tile was still referenced while the read waited for another"


@pytest.mark.parametrize(("coalesce", "calls_made"), [(None, [2]), (0, [1, 1])])
def test_the_backends_merge_gap_decides_how_neighbouring_tiles_are_fetched(
    cogs: tuple[Path, Path], coalesce: int | None, calls_made: list[int]
) -> None:
    """Tiles 0 and 1 lie a few bytes apart: one request by default, two with ``coalesce=0``.

    With the engine merging by its own 1 MiB rule, the backend received both tiles in one
    call, so ``max_concurrent`` and the byte budget counted one request where it sent two.
    """
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    offsets = ifd.tile_offsets.astype(int)
    window = Window(col_off=400, row_off=450, width=200, height=62)  # to the tiles' bottom
    plan, canvas = _plan(intact, window)
    backend = _Requests() if coalesce is None else _Requests(coalesce=coalesce)
    calls: list[int] = []
    real = backend.get_ranges_async

    async def counted(url: str, starts: Sequence[int], ends: Sequence[int]) -> list[bytes]:
        calls.append(len(starts))
        return await real(url, starts, ends)

    backend.get_ranges_async = counted  # type: ignore[method-assign]
    asyncio.run(execute_plan(plan, [canvas], backend, max_concurrent=4))
    with rasterio.open(intact) as src:
        np.testing.assert_array_equal(canvas, src.read(1, window=RioWindow(400, 450, 200, 62)))
    assert sorted(start for start, _ in backend.requests)[0] == offsets[0]
    assert calls == calls_made  # tiles per engine call: one call per request sent
    assert len(backend.requests) == len(calls_made)


def test_cancelling_a_read_that_joined_a_tile_leaves_the_owner_be(
    cogs: tuple[Path, Path],
) -> None:
    """Each joiner waits on its own future: cancelling one must not cancel what the
    owner, or other joiners, resolve (a shared future was cancelled with it)."""
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    backend = _SlowTile(slow_at=int(ifd.tile_offsets[0]))
    windows = [
        Window(col_off=0, row_off=0, width=300, height=50),  # the owner of tile 0
        Window(col_off=100, row_off=20, width=200, height=60),  # joins, then is cancelled
        Window(col_off=50, row_off=10, width=100, height=100),  # joins and stays
    ]

    async def run() -> tuple[list[np.ndarray], bool]:
        plans = [_plan(intact, w) for w in windows]
        reads = []
        for plan, canvas in plans:
            reads.append(
                asyncio.ensure_future(execute_plan(plan, [canvas], backend, max_concurrent=4))
            )
            await asyncio.sleep(0.02)  # each registers before the next
        reads[1].cancel()
        await asyncio.gather(reads[0], reads[2])
        return [c for _, c in plans], reads[1].cancelled()

    canvases, cancelled = asyncio.run(run())
    assert cancelled
    with rasterio.open(intact) as src:
        for k in (0, 2):
            w = windows[k]
            want = src.read(1, window=RioWindow(w.col_off, w.row_off, w.width, w.height))
            np.testing.assert_array_equal(canvases[k], want)


def test_a_joiners_failed_paste_fails_that_read_only(cogs: tuple[Path, Path]) -> None:
    """The owner pastes for its joiners on its decode thread; a joiner's error goes back
    to the joiner's read, and the owner's read still completes."""
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    backend = _SlowTile(slow_at=int(ifd.tile_offsets[0]))
    owner = Window(col_off=0, row_off=0, width=300, height=50)
    joiner = Window(col_off=100, row_off=20, width=200, height=60)

    class PasteFailedError(Exception):
        pass

    def failing(target: int, rows: slice, cols: slice) -> None:
        raise PasteFailedError(f"target {target}")

    async def run() -> tuple[np.ndarray, list[object]]:
        (p0, c0), (p1, c1) = _plan(intact, owner), _plan(intact, joiner)
        first = asyncio.ensure_future(execute_plan(p0, [c0], backend, max_concurrent=4))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(
            execute_plan(p1, [c1], backend, max_concurrent=4, on_paste=failing)
        )
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        return c0, list(outcomes)

    canvas, outcomes = asyncio.run(run())
    assert outcomes[0] is None
    assert isinstance(outcomes[1], PasteFailedError)
    with rasterio.open(intact) as src:
        np.testing.assert_array_equal(canvas, src.read(1, window=RioWindow(0, 0, 300, 50)))


def test_a_read_waiting_for_room_is_not_stalled_by_a_joiner(cogs: tuple[Path, Path]) -> None:
    """A read waits for budget room with a prefix of tile 0 planned; a read needing deeper
    rows of that tile joins meanwhile. The prefix must not count as sent before the wait:
    the joiner would charge the rest of the block to the budget, released only once the
    waiting read decodes the tile, and the waiting read would never get its room."""
    intact, _ = cogs
    filler = Window(col_off=600, row_off=900, width=100, height=100)  # all of tile 3
    top = Window(col_off=0, row_off=0, width=100, height=40)  # a prefix of tile 0
    deep = Window(col_off=200, row_off=300, width=100, height=150)  # more of tile 0
    backend = _Slow()

    async def three_reads() -> list[np.ndarray]:
        # with a 1-byte budget every range goes alone, once nothing else is pending
        budget_for(asyncio.get_running_loop()).limit = 1
        plans = [_plan(intact, w) for w in (filler, top, deep)]
        tasks = []
        for plan, canvas in plans:
            tasks.append(
                asyncio.ensure_future(execute_plan(plan, [canvas], backend, max_concurrent=4))
            )
            await asyncio.sleep(0.05)  # the filler is in flight, then the top read waits
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        assert budget_for(asyncio.get_running_loop()).pending == 0
        return [c for _, c in plans]

    got = asyncio.run(three_reads())
    with rasterio.open(intact) as src:
        for canvas, w in zip(got, (filler, top, deep), strict=True):
            want = src.read(1, window=RioWindow(w.col_off, w.row_off, w.width, w.height))
            np.testing.assert_array_equal(canvas, want)


class _SlowRest(ObstoreBackend):
    """The real backend; a request for the rest of tile 0 (a tail) takes 5 s."""

    def __init__(self, tile_start: int) -> None:
        super().__init__()
        self.tile_start = tile_start
        self.rest_cancelled = False

    async def get_ranges_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[bytes]:
        rest = starts[0] > self.tile_start and starts[0] < self.tile_start + 1_000_000
        try:
            await asyncio.sleep(5.0 if rest else 0.1)
        except asyncio.CancelledError:
            self.rest_cancelled = rest
            raise
        return await super().get_ranges_async(url, starts, ends)


def test_cancelling_a_joiner_cancels_the_rest_it_fetches(cogs: tuple[Path, Path]) -> None:
    """The rest of a tile that a joiner fetches is that read's request: cancelling the
    read cancels it, and the owner decodes its own rows without waiting for it."""
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    backend = _SlowRest(int(ifd.tile_offsets[0]))
    top = Window(col_off=0, row_off=0, width=100, height=40)
    deep = Window(col_off=200, row_off=300, width=100, height=150)

    async def run() -> tuple[np.ndarray, float]:
        plans = [_plan(intact, w) for w in (top, deep)]
        owner = asyncio.ensure_future(
            execute_plan(plans[0][0], [plans[0][1]], backend, max_concurrent=4)
        )
        await asyncio.sleep(0.05)  # the owner's prefix is in flight
        joiner = asyncio.ensure_future(
            execute_plan(plans[1][0], [plans[1][1]], backend, max_concurrent=4)
        )
        await asyncio.sleep(0.2)  # the joiner's rest is in flight
        joiner.cancel()
        started = time.monotonic()
        await asyncio.wait_for(owner, timeout=10)
        waited = time.monotonic() - started
        await asyncio.sleep(0)  # let the cancelled rest finish unwinding
        assert budget_for(asyncio.get_running_loop()).pending == 0
        return plans[0][1], waited

    canvas, waited = asyncio.run(run())
    assert waited < 2.0 and backend.rest_cancelled
    with rasterio.open(intact) as src:
        want = src.read(1, window=RioWindow(top.col_off, top.row_off, top.width, top.height))
    np.testing.assert_array_equal(canvas, want)


class _FailsFirst(ObstoreBackend):
    """Tile 0's request fails at once; every other takes 5 s (noted when cancelled)."""

    def __init__(self, failing: int) -> None:
        super().__init__(coalesce=0)  # one request per tile
        self.failing = failing
        self.cancelled = 0

    async def get_ranges_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[bytes]:
        if self.failing in starts:
            raise FetchError("injected", url=url, start=starts[0], end=ends[0], status=500)
        try:
            await asyncio.sleep(5.0)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return await super().get_ranges_async(url, starts, ends)


def test_a_read_stops_at_its_first_final_error(cogs: tuple[Path, Path]) -> None:
    """One failed request fails the read: its other requests are cancelled, not awaited."""
    intact, _ = cogs
    ifd = parse_tiff_header(intact.read_bytes()).full
    backend = _FailsFirst(int(ifd.tile_offsets[0]))
    plan, canvas = _plan(intact, Window(col_off=0, row_off=0, width=1024, height=1024))

    async def run() -> float:
        started = time.monotonic()
        with pytest.raises(FetchError, match="injected"):
            await execute_plan(plan, [canvas], backend, max_concurrent=8)
        assert budget_for(asyncio.get_running_loop()).pending == 0
        return time.monotonic() - started

    assert asyncio.run(run()) < 2.0
    assert backend.cancelled == 3  # the other three tiles' requests
