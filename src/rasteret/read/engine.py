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
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from rasteret.errors import FetchError, StaleSourceError, TiffFormatError
from rasteret.io import ObjectMeta, StorageBackend
from rasteret.io.backend import DEFAULT_COALESCE, coalesce_ranges, is_merge_gap
from rasteret.io.urls import redact_url
from rasteret.read.inflight import (
    Joiner,
    RowSpan,
    SharedTile,
    budget_for,
    retrieve,
    share_key,
    shared_tiles,
)
from rasteret.read.plan import Paste, ReadPlan, TileJob, TileKey
from rasteret.tiff.decode import decode_tile, prefix_fetch_length, tile_shape
from rasteret.tiff.types import TiffHeader

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None


def decode_workers() -> int:
    """Threads of the decode pool: one per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


def decode_pool() -> ThreadPoolExecutor:
    """The process-wide decode pool, recreated after a fork (pools do not survive one)."""
    global _pool, _pool_pid  # noqa: PLW0603 - one pool per process is the point
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(
                max_workers=decode_workers(), thread_name_prefix="rasteret-decode"
            )
            _pool_pid = os.getpid()
        return _pool


def stale_changes(indexed: TiffHeader, now: ObjectMeta) -> dict[str, tuple[object, object]]:
    """What differs between the object as indexed and as the storage describes it now.

    Size and ETag are compared when both sides know them; Last-Modified only when no
    ETag is available on either side (some stores send no ETag; a changed timestamp
    with the same ETag is a copy, not a change). An empty result means "unchanged".
    """
    changed: dict[str, tuple[object, object]] = {}
    if indexed.file_size is not None and indexed.file_size != now.size:
        changed["size"] = (indexed.file_size, now.size)
    if indexed.etag is not None and now.etag is not None:
        if indexed.etag != now.etag:
            changed["etag"] = (indexed.etag, now.etag)
    elif (
        indexed.last_modified is not None
        and now.last_modified is not None
        and indexed.last_modified != now.last_modified
    ):
        changed["last_modified"] = (indexed.last_modified, now.last_modified)
    return changed


PREFIX_TAIL_GAP = 64 * 1024
"""Largest skipped tail of a prefix fetch that is still fetched to reach the next range.

Merging a prefix with the tile after it would fetch the very bytes the prefix left out.
Measured on 2 cores at 20 ms: a time series cutting 240 tiles at row 476 fetched 221 MiB
in 120 requests with the usual 1 MiB gap and read in 397 ms; not merging across those
tails, 166 MiB in 240 requests and 373 ms (medians of 8, interleaved), receiving the
bytes being what bounds it. Ordinary gaps between tiles keep the backend's rule
(``coalesce``, 1 MiB by default); a backend merging less than this merges prefixes less too.
"""

_DECODE_CHUNK = 4
"""Most tiles of one request decoded per hand-off to the decode pool."""

_scratch = threading.local()


def merge_gap(backend: StorageBackend) -> int:
    """The backend's ``coalesce`` gap when it has a valid one, else the default."""
    gap = getattr(backend, "coalesce", DEFAULT_COALESCE)
    return gap if is_merge_gap(gap) else DEFAULT_COALESCE


def scratch_for(job: TileJob) -> npt.NDArray[Any]:
    """This thread's reusable buffer shaped like ``job``'s decoded tile.

    Decoding into a fresh array costs a page fault per 4 KiB the first time it is
    written (about a third of the decode time of a 1024 px uint16 tile, measured),
    and a tile that is only copied out of afterwards needs no memory of its own. The
    buffer is overwritten by the next tile this thread decodes, so a ``consume`` that
    receives it must copy what it keeps before returning.
    """
    shape = tile_shape(job.ifd, job.rows)
    key = (shape, job.ifd.dtype)
    buffers: dict[Any, npt.NDArray[Any]] | None = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    buf = buffers.get(key)
    if buf is None:
        if len(buffers) > 8:  # many layouts in one read: keep memory bounded
            buffers.clear()
        buf = buffers[key] = np.empty(shape, dtype=np.dtype(job.ifd.dtype))
    return buf


def _decode(
    job: TileJob,
    data: bytes | memoryview,
    out: npt.NDArray[Any] | None = None,
    rows: RowSpan | None = None,
    fetched: int | None = None,
) -> npt.NDArray[Any]:
    """Decode ``job``'s bytes, the rows ``[first, stop)`` of ``rows`` (None: the whole tile).

    Rows above ``first`` may hold unspecified values; rows from ``stop`` on may be
    missing (the result then has ``stop`` rows). ``fetched`` is how many of the
    block's bytes were asked for, when only its leading bytes were (a prefix fetch).
    """
    if len(data) != (job.length if fetched is None else fetched):
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
        source=f"{redact_url(job.key.url)} tile {job.key.tile_index}",
        out=out,
        rows_needed=None if rows is None or rows[1] == job.rows else rows[1],
        first_row=0 if rows is None else rows[0],
    )


async def fetch_and_decode(
    jobs: Iterable[TileJob],
    backend: StorageBackend,
    *,
    max_concurrent: int,
    consume: Callable[[TileJob, npt.NDArray[Any]], None],
    destination: Callable[[TileJob], npt.NDArray[Any] | None] | None = None,
    rows_needed: Callable[[TileJob], RowSpan] | None = None,
    on_tile: Callable[[], None] | None = None,
    expected: Mapping[str, TiffHeader] | None = None,
    prefix_fetch: bool = True,
) -> None:
    """Fetch every tile of ``jobs`` once, decode it on the pool, hand it to ``consume``.

    ``consume`` runs on the decode thread right after the tile is decoded, so it must
    only touch state no other tile touches (its own canvas region, its own points).
    ``destination`` may name, per tile, the array to decode straight into (a canvas
    region the tile fills exactly); ``consume`` then receives that very array.
    ``rows_needed`` may say, per tile, which rows ``[first, stop)`` ``consume`` reads:
    codecs that can stop early (deflate) then decode only down to ``stop``, the
    predictor is undone from ``first`` on, and ``consume`` receives a tile of ``stop``
    rows whose rows above ``first`` are unspecified. A tile other reads joined is
    decoded over the rows all of them need. With ``prefix_fetch``, such a tile's
    request also stops early, at an estimate of the compressed bytes those rows take
    (:func:`~rasteret.tiff.decode.prefix_fetch_length`); where the estimate proves
    short, the tile is fetched again whole once every other tile is done, and a read
    joining after such a request left fetches the rest of the block, not all of it.
    ``expected`` maps URLs to their indexed headers: when the backend reports object
    metadata with its ranges (``get_ranges_with_meta_async``), each response is checked
    against the indexed size and ETag before any byte of it is decoded, at no extra
    request.

    Raises:
        FetchError: A range could not be read (or came back short).
        StaleSourceError: An object changed since it was indexed.
        TiffFormatError: A tile could not be decoded.
    """
    pending = list(jobs)
    while pending:  # again for tiles a pass could not finish: prefixes proved short,
        # joined tiles their owner did not share; whole tiles then, no second guess
        run = _FetchRun(
            backend,
            max_concurrent=max_concurrent,
            consume=consume,
            destination=destination,
            rows_needed=rows_needed,
            on_tile=on_tile,
            expected=expected,
            prefix_fetch=prefix_fetch,
        )
        pending = await run.run(pending)
        prefix_fetch = False


class _FetchRun:
    """The state of one :func:`fetch_and_decode` pass, and the steps that share it.

    A tile is either this pass's own (``own``: fetched, decoded and pasted here, its
    :class:`~rasteret.read.inflight.SharedTile` entry in ``mine`` open to other reads
    until it is decoded) or joined (``joined``: another read in this loop was already
    fetching it; that read pastes it for us). ``prefixes`` holds the bytes asked for of
    the own tiles requested only in part. :meth:`run` returns the tiles to fetch again
    whole: prefixes that proved short, and joined tiles whose owner did not share them.
    """

    def __init__(
        self,
        backend: StorageBackend,
        *,
        max_concurrent: int,
        consume: Callable[[TileJob, npt.NDArray[Any]], None],
        destination: Callable[[TileJob], npt.NDArray[Any] | None] | None,
        rows_needed: Callable[[TileJob], RowSpan] | None,
        on_tile: Callable[[], None] | None,
        expected: Mapping[str, TiffHeader] | None,
        prefix_fetch: bool,
    ) -> None:
        self.backend = backend
        self.consume = consume
        self.destination = destination
        self.rows_needed = rows_needed
        self.on_tile = on_tile
        self.expected = expected
        self.can_prefix = prefix_fetch and rows_needed is not None
        self.with_meta = getattr(backend, "get_ranges_with_meta_async", None) if expected else None
        self.semaphore = asyncio.Semaphore(max_concurrent)
        self.loop = asyncio.get_running_loop()
        self.budget = budget_for(self.loop)
        self.pool = decode_pool()
        self.workers = decode_workers()
        self.registry = shared_tiles(self.loop)
        self.own: list[TileJob] = []
        self.joined: list[tuple[TileJob, asyncio.Future[bool]]] = []
        self.mine: dict[tuple[str, int, int], SharedTile] = {}  # entries this pass registered
        self.tails: list[asyncio.Task[bytes | memoryview]] = []  # rests this pass fetches
        self.prefixes: dict[tuple[str, int, int], int] = {}  # bytes asked for, of partial tiles

    def need_of(self, job: TileJob) -> RowSpan:
        return self.rows_needed(job) if self.rows_needed is not None else (0, job.rows)

    # --- requests ------------------------------------------------------------------------------

    async def fetch_ranges(
        self, url: str, starts: list[int], ends: list[int]
    ) -> Sequence[bytes | memoryview]:
        """One bounded backend call, checked against the indexed object when possible."""
        indexed = self.expected.get(url) if self.expected else None
        async with self.semaphore:
            if self.with_meta is not None and indexed is not None:
                blobs: Sequence[bytes | memoryview]
                blobs, meta = await self.with_meta(url, starts, ends)
                changed = stale_changes(indexed, meta) if meta is not None else {}
                if changed:
                    raise StaleSourceError(url, changed)
                return blobs
            return await self.backend.get_ranges_async(url, starts, ends)

    async def fetch_tail(self, job: TileJob, skip: int) -> bytes | memoryview:
        """The rest of ``job``'s block past the ``skip`` bytes its owner asked for.

        Counted at once (see ByteBudget.charge). Once fetched, the bytes stay counted
        until the owner is done with the block (:meth:`finish`): joined to the prefix
        they are one more compressed copy waiting for a decode thread.
        """
        url, start = job.key.url, job.offset
        self.budget.charge(job.length - skip)
        try:
            return (await self.fetch_ranges(url, [start + skip], [start + job.length]))[0]
        except BaseException:
            self.budget.release(job.length - skip)
            raise

    def fetch_length(self, job: TileJob) -> int:
        """Bytes to ask for: the whole block, or a prefix covering every reader's rows.

        Asked again when the request leaves, so reads that joined since are covered;
        one that joins later and needs more rows fetches the rest of the block
        alongside (``SharedTile.tail``).
        """
        if not self.can_prefix:
            return job.length
        entry = self.mine.get(share_key(job))
        stop = self.need_of(job)[1] if entry is None else entry.rows[1]
        return prefix_fetch_length(
            job.ifd, job.length, rows=job.rows, stop=stop, filled=job.filled_rows
        )

    # --- shared entries ------------------------------------------------------------------------

    def register(self, jobs: Iterable[TileJob]) -> None:
        """Claim each tile for this pass, or join the read already fetching it."""
        for job in jobs:
            key = share_key(job)
            entry = self.registry.get(key)
            if entry is not None:  # another read is fetching this very tile right now
                done: asyncio.Future[bool] = self.loop.create_future()
                entry.joiners.append(Joiner(job, self.consume, done))
                entry.widen(self.need_of(job))
                if (
                    entry.sent is not None
                    and entry.tail is None
                    and entry.rows[1] > entry.sent_stop
                ):
                    # the owner asked for too short a prefix for us: fetch the rest alongside
                    entry.tail = self.loop.create_task(self.fetch_tail(job, entry.sent))
                    entry.tail.add_done_callback(retrieve)
                    self.tails.append(entry.tail)
                self.joined.append((job, done))
            else:
                self.registry[key] = self.mine[key] = SharedTile(rows=self.need_of(job))
                self.own.append(job)

    def abandon(self, job: TileJob) -> SharedTile | None:
        """Close ``job``'s own entry to new joiners; return it if someone joined.

        Only this pass's entry is taken out of the registry: once it is gone, another
        read may have registered the same tile with rows of its own, and that entry is
        not ours to decode or to cancel.
        """
        key = share_key(job)
        entry = self.mine.pop(key, None)
        if entry is None:
            return None
        if self.registry.get(key) is entry:
            del self.registry[key]
        return entry if entry.joiners else None

    def finish(
        self, job: TileJob, entry: SharedTile, outcomes: Sequence[BaseException | None] | None
    ) -> None:
        """Settle the joiners of ``job``'s entry and give back its tail's bytes.

        Every entry that has joiners ends here once, decoded or not. A tail still in
        flight gives its bytes back when it arrives; one that failed or was cancelled
        already did (:meth:`fetch_tail`).
        """
        entry.settle(outcomes)
        tail, sent = entry.tail, entry.sent
        if tail is None or sent is None:
            return
        held = job.length - sent
        budget = self.budget

        def give_back(task: asyncio.Task[bytes | memoryview]) -> None:
            if not task.cancelled() and task.exception() is None:
                budget.release(held)

        if tail.done():
            give_back(tail)
        else:
            tail.add_done_callback(give_back)

    async def with_tail(
        self, job: TileJob, blob: bytes | memoryview, entry: SharedTile | None
    ) -> bytes | memoryview:
        """The prefix and the tail a late joiner fetched, as the whole block; else ``blob``."""
        if entry is None or entry.tail is None:
            return blob
        task = entry.tail
        try:
            tail = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                return blob  # the read that fetched it was cancelled, not this one
            raise
        except Exception:  # noqa: BLE001 - the joiners fetch the tile themselves
            return blob
        self.prefixes.pop(share_key(job), None)
        return b"".join((blob, tail))

    # --- decoding (on the pool's threads) ------------------------------------------------------

    def work(self, job: TileJob, blob: bytes | memoryview) -> None:
        out = self.destination(job) if self.destination is not None else None
        fetched = self.prefixes.get(share_key(job))
        self.consume(job, _decode(job, blob, out, self.need_of(job), fetched))

    def work_one(
        self, job: TileJob, blob: bytes | memoryview, entry: SharedTile | None
    ) -> list[BaseException | None] | None:
        """Decode and paste one tile; with joiners, paste for them too (their outcomes).

        None: nothing was pasted for joiners (there were none, or the shared rows
        could not be decoded), so they fetch the tile themselves.
        """
        if entry is None:
            self.work(job, blob)
            return None
        try:
            # over the rows any reader needs, into this thread's scratch buffer: every
            # paste (this read's and the joiners', all right here) copies what it keeps
            fetched = self.prefixes.get(share_key(job))
            tile = _decode(job, blob, scratch_for(job), entry.rows, fetched)
        except TiffFormatError:
            if self.need_of(job)[1] >= entry.rows[1]:
                raise
            # a joiner needs rows this tile cannot give (a broken tail, or bytes past a
            # prefix): this read's own rows may still decode; joiners fetch it themselves
            self.work(job, blob)
            return None
        self.consume(job, tile)
        return entry.paste_all(tile)

    def work_chunk(
        self, items: list[tuple[TileJob, bytes | memoryview, SharedTile | None]]
    ) -> list[list[BaseException | None] | TileJob | None]:
        tiles: list[list[BaseException | None] | TileJob | None] = []
        for job, blob, entry in items:
            try:
                tiles.append(self.work_one(job, blob, entry))
            except TiffFormatError:
                if share_key(job) not in self.prefixes:
                    raise
                tiles.append(job)  # the prefix fetched was too short: fetch it whole
        return tiles

    # --- the pass, on the loop -----------------------------------------------------------------

    async def decode_chunk(self, pairs: list[tuple[TileJob, bytes | memoryview]]) -> list[TileJob]:
        """Decode on the pool; return the tiles whose prefix fetch proved too short."""
        # on the loop thread: no joiner can arrive once a tile's entry is abandoned
        entries = [self.abandon(job) for job, _ in pairs]
        try:
            items = [
                (job, await self.with_tail(job, blob, entry), entry)
                for (job, blob), entry in zip(pairs, entries, strict=True)
            ]
            tiles = await self.loop.run_in_executor(self.pool, self.work_chunk, items)
        except BaseException:
            for (job, _), entry in zip(pairs, entries, strict=True):
                if entry is not None:
                    self.finish(job, entry, None)  # joiners fetch it themselves
            raise
        short = [tile for tile in tiles if isinstance(tile, TileJob)]
        for (job, _), entry, tile in zip(pairs, entries, tiles, strict=True):
            if entry is not None:
                self.finish(job, entry, tile if isinstance(tile, list) else None)
        if self.on_tile is not None:
            for _ in range(len(pairs) - len(short)):
                self.on_tile()
        return short

    async def batch(self, url: str, group: list[TileJob]) -> list[TileJob]:
        """Fetch one coalesced range and decode its tiles; return those to fetch again."""
        starts = [j.offset for j in group]
        nbytes = 0
        while True:
            # Reads that join while this waits may need more rows: the prefixes are
            # sized once the room is granted, and only then marked as sent. A joiner
            # that finds a prefix marked fetches the rest itself (a tail, charged to
            # the budget until this read decodes the tile); marked before the wait,
            # that charge could hold the room this read waits for, and neither would
            # ever move. Grown meanwhile: give the room back and wait for all of it.
            ends = [j.offset + self.fetch_length(j) for j in group]
            if ends[-1] - starts[0] <= nbytes:
                break
            if nbytes:
                self.budget.release(nbytes)
            nbytes = ends[-1] - starts[0]
            await self.budget.acquire(nbytes)
        for job, end in zip(group, ends, strict=True):
            if end - job.offset < job.length:  # a prefix: decoded as one, joiners told
                key = share_key(job)
                self.prefixes[key] = end - job.offset
                entry = self.mine[key]
                entry.sent, entry.sent_stop = self.prefixes[key], entry.rows[1]
        try:
            blobs = await self.fetch_ranges(url, starts, ends)
            # a few tiles per trip to the pool: one hand-off per tile costs more than a
            # small tile's decode, while chunks of a big request still spread over cores
            pairs = list(zip(group, blobs, strict=True))
            del blobs  # each chunk holds its blobs until its tiles are decoded
            size = min(_DECODE_CHUNK, -(-len(pairs) // self.workers))
            if size >= len(pairs):
                return await self.decode_chunk(pairs)  # one hand-off: no task to schedule
            chunks = await asyncio.gather(
                *(self.decode_chunk(pairs[i : i + size]) for i in range(0, len(pairs), size))
            )
            return [job for chunk in chunks for job in chunk]
        finally:
            self.budget.release(nbytes)

    async def stop(self, tasks: Sequence[asyncio.Future[Any]]) -> None:
        """Cancel this pass's unfinished work and its tails, and let them unwind."""
        for task in tasks:
            task.cancel()
        self.drop_tails()
        await asyncio.gather(*tasks, return_exceptions=True)

    def drop_tails(self) -> None:
        """Cancel the rests this pass fetches: it ends without them (failed, cancelled).

        Their owners decode their own rows from their prefixes; any other read that
        needed the rest fetches the tile itself. Left running, they would go on using
        the network and the budget for a read that is gone.
        """
        for task in self.tails:
            task.cancel()

    async def join(self, job: TileJob, done: asyncio.Future[bool]) -> TileJob | None:
        """Wait for the owner's paste; the tile back if the owner did not share it."""
        if not await done:  # raises what our paste raised on the owner's decode thread
            return job  # the owner did not share it (failed or gave up): fetch it ourselves
        if self.on_tile is not None:
            self.on_tile()
        return None

    def batches(self) -> list[Coroutine[Any, Any, list[TileJob]]]:
        """One :meth:`batch` per coalesced range of the own tiles.

        One backend call per range: the semaphore then bounds the requests actually in
        flight, not just the calls.
        """
        gap = merge_gap(self.backend)
        groups: dict[str, list[TileJob]] = defaultdict(list)
        for job in self.own:
            groups[job.key.url].append(job)
        calls: list[Coroutine[Any, Any, list[TileJob]]] = []
        for url, group in groups.items():
            lengths = [self.fetch_length(j) for j in group]
            merged = coalesce_ranges(
                [j.offset for j in group],
                [j.offset + n for j, n in zip(group, lengths, strict=True)],
                gaps=[
                    min(PREFIX_TAIL_GAP, gap) if n < j.length else gap
                    for j, n in zip(group, lengths, strict=True)
                ],
            )
            calls.extend(self.batch(url, [group[i] for i in m.members]) for m in merged)
        return calls

    async def run(self, jobs: Iterable[TileJob]) -> list[TileJob]:
        """Fetch, decode and paste ``jobs``; return the tiles to fetch again whole."""
        self.register(jobs)
        coros: list[Coroutine[Any, Any, Any]] = [*self.batches()]
        coros.extend(self.join(job, done) for job, done in self.joined)
        tasks = [asyncio.ensure_future(c) for c in coros]
        try:
            if tasks:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
            if failed:  # the read fails: what is still in flight is not needed
                await self.stop(tasks)
                error = failed[0].exception()
                assert error is not None
                raise error
        except asyncio.CancelledError:
            await self.stop(tasks)
            raise
        finally:
            for job in self.own:  # whatever was not decoded: waiting reads fetch it themselves
                left = self.abandon(job)
                if left is not None:
                    self.finish(job, left, None)
        refetch: list[TileJob] = []
        for result in (t.result() for t in tasks):
            if isinstance(result, TileJob):  # a joined tile its owner did not share
                refetch.append(result)
            elif isinstance(result, list):  # tiles whose prefix fetch was too short
                refetch.extend(result)
        return refetch


async def execute_plan(
    plan: ReadPlan,
    canvases: Sequence[npt.NDArray[Any]],
    backend: StorageBackend,
    *,
    max_concurrent: int,
    on_tile: Callable[[], None] | None = None,
    on_paste: Callable[[int, slice, slice], None] | None = None,
    expected: Mapping[str, TiffHeader] | None = None,
) -> None:
    """Fetch, decode and paste every tile of ``plan`` into ``canvases``.

    ``on_paste(target, rows, cols)`` runs on the decode thread after each paste, while
    the region is hot in cache (the reader tests nodata there).

    ``expected``: indexed headers by URL, to detect changed objects (see
    :func:`fetch_and_decode`).
    """
    pastes_by_key: dict[TileKey, list[Paste]] = defaultdict(list)
    for paste in plan.pastes:
        pastes_by_key[paste.key].append(paste)

    def in_canvas(job: TileJob) -> npt.NDArray[Any]:
        """The canvas region a tile fills exactly, when it is one contiguous block.

        Otherwise the decode thread's scratch buffer, which ``paste_tile`` copies from.
        A canvas region is used when the tile is pasted once, whole, for a single-sample
        layout, and spans the canvas's full width (a window one tile wide, as chips
        aligned on the tile grid are).
        """
        pastes = pastes_by_key[job.key]
        if len(pastes) != 1:
            return scratch_for(job)
        p = pastes[0]
        ifd = job.ifd
        samples = 1 if ifd.planar_config == 2 else ifd.samples_per_pixel
        full_rows = (p.tile_rows.start, p.tile_rows.stop) == (0, job.rows)
        full_cols = (p.tile_cols.start, p.tile_cols.stop) == (0, ifd.tile_width)
        if samples != 1 or not (full_rows and full_cols):
            return scratch_for(job)
        region = canvases[p.target][p.out_rows, p.out_cols]
        if not region.flags.c_contiguous or region.dtype != np.dtype(ifd.dtype):
            return scratch_for(job)
        return region.reshape(job.rows, ifd.tile_width, 1)

    def rows_needed(job: TileJob) -> RowSpan:
        """Rows of the tile that some paste reads (windows often start and end mid-tile)."""
        pastes = pastes_by_key[job.key]
        return min(int(p.tile_rows.start) for p in pastes), max(
            int(p.tile_rows.stop) for p in pastes
        )

    def paste_tile(job: TileJob, tile: npt.NDArray[Any]) -> None:
        for p in pastes_by_key[job.key]:
            target = canvases[p.target]
            if not np.may_share_memory(tile, target):  # else decoded in place
                target[p.out_rows, p.out_cols] = tile[p.tile_rows, p.tile_cols, p.sample]
            if on_paste is not None:
                on_paste(p.target, p.out_rows, p.out_cols)

    await fetch_and_decode(
        plan.jobs.values(),
        backend,
        max_concurrent=max_concurrent,
        consume=paste_tile,
        destination=in_canvas,
        rows_needed=rows_needed,
        on_tile=on_tile,
        expected=expected,
    )
