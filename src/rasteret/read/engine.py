"""Executing a read plan: concurrent range fetches, parallel decodes, pastes into canvases.

Fetching is bounded by ``max_concurrent`` requests in flight: neighbouring tiles of
one object are coalesced into one range (when the gap is cheaper to download than a
round trip) and each range is one backend call under the bound; decoding runs on a thread pool
sized to the cores, since imagecodecs releases the GIL. Each tile is decoded once,
right after its bytes arrive, and pasted into every canvas that needs it, so fetching
and decoding overlap.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from rasteret.errors import FetchError
from rasteret.io import StorageBackend
from rasteret.io.backend import coalesce_ranges
from rasteret.read.plan import Paste, ReadPlan, TileJob, TileKey
from rasteret.tiff.decode import decode_tile

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None


def decode_pool() -> ThreadPoolExecutor:
    """The process-wide decode pool, recreated after a fork (pools do not survive one)."""
    global _pool, _pool_pid  # noqa: PLW0603 - one pool per process is the point
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            workers = max(1, len(os.sched_getaffinity(0)))
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rasteret-decode")
            _pool_pid = os.getpid()
        return _pool


def _decode(job: TileJob, data: bytes, out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
    if len(data) != job.length:
        raise FetchError(
            f"short read: got {len(data)} of {job.length} bytes (the object may have changed "
            "since it was indexed)",
            url=job.key.url,
            start=job.offset,
            end=job.offset + job.length,
        )
    return decode_tile(
        data,
        job.ifd,
        byte_order=job.byte_order,
        rows=job.rows,
        source=f"{job.key.url} tile {job.key.tile_index}",
        out=out,
    )


async def fetch_and_decode(
    jobs: Iterable[TileJob],
    backend: StorageBackend,
    *,
    max_concurrent: int,
    consume: Callable[[TileJob, npt.NDArray[Any]], None],
    destination: Callable[[TileJob], npt.NDArray[Any] | None] | None = None,
    on_tile: Callable[[], None] | None = None,
) -> None:
    """Fetch every tile of ``jobs`` once, decode it on the pool, hand it to ``consume``.

    ``consume`` runs on the decode thread right after the tile is decoded, so it must
    only touch state no other tile touches (its own canvas region, its own points).
    ``destination`` may name, per tile, the array to decode straight into (a canvas
    region the tile fills exactly); ``consume`` then receives that very array.

    Raises:
        FetchError: A range could not be read (or came back short).
        TiffFormatError: A tile could not be decoded.
    """
    semaphore = asyncio.Semaphore(max_concurrent)
    loop = asyncio.get_running_loop()
    pool = decode_pool()

    def work(job: TileJob, blob: bytes) -> None:
        out = destination(job) if destination is not None else None
        consume(job, _decode(job, blob, out))

    async def batch(url: str, group: list[TileJob]) -> None:
        async with semaphore:
            blobs = await backend.get_ranges_async(
                url, [j.offset for j in group], [j.offset + j.length for j in group]
            )
        decodes = [
            loop.run_in_executor(pool, work, job, blob)
            for job, blob in zip(group, blobs, strict=True)
        ]
        for done in asyncio.as_completed(decodes):
            await done
            if on_tile is not None:
                on_tile()

    groups: dict[str, list[TileJob]] = defaultdict(list)
    for job in jobs:
        groups[job.key.url].append(job)
    tasks: list[Coroutine[Any, Any, None]] = []
    for url, group in groups.items():
        # One backend call per coalesced range: the semaphore then bounds the requests
        # actually in flight, not just the calls.
        merged = coalesce_ranges([j.offset for j in group], [j.offset + j.length for j in group])
        tasks.extend(batch(url, [group[i] for i in m.members]) for m in merged)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def execute_plan(
    plan: ReadPlan,
    canvases: Sequence[npt.NDArray[Any]],
    backend: StorageBackend,
    *,
    max_concurrent: int,
    on_tile: Callable[[], None] | None = None,
) -> None:
    """Fetch, decode and paste every tile of ``plan`` into ``canvases``."""
    pastes_by_key: dict[TileKey, list[Paste]] = defaultdict(list)
    for paste in plan.pastes:
        pastes_by_key[paste.key].append(paste)

    def in_canvas(job: TileJob) -> npt.NDArray[Any] | None:
        """The canvas region a tile fills exactly, when it is one contiguous block.

        That is the case when the tile is pasted once, whole, for a single-sample
        layout, and spans the canvas's full width (a window one tile wide, as chips
        aligned on the tile grid are).
        """
        pastes = pastes_by_key[job.key]
        if len(pastes) != 1:
            return None
        p = pastes[0]
        ifd = job.ifd
        samples = 1 if ifd.planar_config == 2 else ifd.samples_per_pixel
        full_rows = (p.tile_rows.start, p.tile_rows.stop) == (0, job.rows)
        full_cols = (p.tile_cols.start, p.tile_cols.stop) == (0, ifd.tile_width)
        if samples != 1 or not (full_rows and full_cols):
            return None
        region = canvases[p.target][p.out_rows, p.out_cols]
        if not region.flags.c_contiguous or region.dtype != np.dtype(ifd.dtype):
            return None
        return region.reshape(job.rows, ifd.tile_width, 1)

    def paste_tile(job: TileJob, tile: npt.NDArray[Any]) -> None:
        for p in pastes_by_key[job.key]:
            target = canvases[p.target]
            if np.may_share_memory(tile, target):
                continue  # decoded in place
            target[p.out_rows, p.out_cols] = tile[p.tile_rows, p.tile_cols, p.sample]

    await fetch_and_decode(
        plan.jobs.values(),
        backend,
        max_concurrent=max_concurrent,
        consume=paste_tile,
        destination=in_canvas,
        on_tile=on_tile,
    )
