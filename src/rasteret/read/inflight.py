"""What is in flight on one event loop: the pending-bytes budget and the shared tiles.

Both are per loop, not per read: 64 chip reads gathered at once must neither each get
their own budget nor each fetch a tile another of them is already fetching. The read
engine (:mod:`rasteret.read.engine`) is their only user; they live here so the engine
keeps to fetching and decoding.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt

from rasteret.read.plan import TileJob

__all__ = [
    "MAX_PENDING_BYTES",
    "ByteBudget",
    "Joiner",
    "RowSpan",
    "SharedTile",
    "budget_for",
    "retrieve",
    "share_key",
    "shared_tiles",
]

RowSpan = tuple[int, int]
"""Rows ``[first, stop)`` of a tile that some reader uses."""

MAX_PENDING_BYTES = 64 << 20
"""Compressed bytes fetched (or being fetched) but not yet decoded, at most.

When requests return faster than tiles decode (low latency, big tiles), the bytes would
otherwise pile up in memory until the whole read is downloaded; past this budget new
requests wait for decodes to catch up. 64 MiB sustains far more than the decode rate
of every core at cloud latencies (about 13 MB in flight at 650 MB/s and 20 ms).
"""


class ByteBudget:
    """Admission control on compressed bytes between request and decode.

    A range is admitted when it fits in what is left, or when nothing is pending (so a
    range larger than the whole budget still goes, alone), in the order ranges asked.
    Its bytes are released once all its tiles are decoded. Everything runs on one event
    loop, so admission is a plain check when there is room: no lock, no task switch
    (a read of 1,000 small files asks 1,000 times).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def _fits(self, nbytes: int) -> bool:
        return self.pending == 0 or self.pending + nbytes <= self.limit

    async def acquire(self, nbytes: int) -> None:
        """Wait for room, then count ``nbytes`` as pending."""
        if not self._waiters and self._fits(nbytes):
            self.pending += nbytes
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (nbytes, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(nbytes)  # admitted as it was cancelled: give the room back
            else:
                with contextlib.suppress(ValueError):  # _wake may have dropped it
                    self._waiters.remove(entry)
                self._wake()
            raise

    def charge(self, nbytes: int) -> None:
        """Count ``nbytes`` as pending at once, even past the limit.

        For a request that must not wait: the rest of a tile whose owner holds its own
        bytes while it waits for that rest. Waiting here could deadlock (owners holding
        the whole budget, each waiting for a rest that waits for room); counting it still
        holds new requests back until it is released.
        """
        self.pending += nbytes

    def release(self, nbytes: int) -> None:
        """Give ``nbytes`` back and admit whoever now fits, first come first served."""
        self.pending -= nbytes
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            nbytes, waiter = self._waiters[0]
            if waiter.done():
                self._waiters.popleft()
                continue
            if not self._fits(nbytes):
                return
            self._waiters.popleft()
            self.pending += nbytes
            waiter.set_result(None)


@dataclass(eq=False)
class Joiner:
    """A read waiting for a tile another read fetches: what to paste, and how it went."""

    job: TileJob
    consume: Callable[[TileJob, npt.NDArray[Any]], None]
    """The joining read's paste, run by the owner on its decode thread."""
    done: asyncio.Future[bool]
    """True once pasted; False when the joiner must fetch the tile itself; the error
    when its paste failed. One per joiner: cancelling one read leaves the others be."""


@dataclass(eq=False)
class SharedTile:
    """A tile one read is fetching that concurrent reads of the same tile wait for.

    The owner decodes it once over the rows everyone needs and pastes it for every
    joiner right there, on its decode thread, so the decoded tile is dropped as soon as
    the last paste is done rather than kept until each joiner gets to it.
    """

    rows: RowSpan
    """Rows the owner and every joiner need together: what the shared decode produces."""
    joiners: list[Joiner] = field(default_factory=list)
    sent: int | None = None
    """Leading bytes the owner's request asked for, once sent, when only a prefix."""
    sent_stop: int = 0
    """Rows that prefix was sized for."""
    tail: asyncio.Task[bytes | memoryview] | None = None
    """The rest of the block, fetched by a read that joined after the prefix was asked
    for and needs rows below it; the owner decodes the prefix and the tail together."""

    def widen(self, rows: RowSpan) -> None:
        """Make the shared decode cover ``rows`` too."""
        self.rows = (min(self.rows[0], rows[0]), max(self.rows[1], rows[1]))

    def paste_all(self, tile: npt.NDArray[Any]) -> list[BaseException | None]:
        """Paste ``tile`` for every joiner (on the decode thread); each one's error, if any.

        A joiner's failure is its own: it is reported to that joiner, not to the owner.
        """
        outcomes: list[BaseException | None] = []
        for joiner in self.joiners:
            try:
                joiner.consume(joiner.job, tile)
            except Exception as err:  # noqa: BLE001 - handed to the joiner it belongs to
                outcomes.append(err)
            else:
                outcomes.append(None)
        return outcomes

    def settle(self, outcomes: Sequence[BaseException | None] | None) -> None:
        """Tell the joiners how their pastes went (on the loop thread).

        ``None`` means nothing was pasted for them: each fetches the tile itself.
        """
        for k, joiner in enumerate(self.joiners):
            if joiner.done.done():  # that read was cancelled meanwhile
                continue
            error = None if outcomes is None else outcomes[k]
            if error is not None:
                joiner.done.set_exception(error)
            else:
                joiner.done.set_result(outcomes is not None)


_SHARED: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int, int], SharedTile]
] = weakref.WeakKeyDictionary()


def shared_tiles(loop: asyncio.AbstractEventLoop) -> dict[tuple[str, int, int], SharedTile]:
    """The tiles in flight on ``loop``, by URL and byte range.

    Reads running at once on one loop (the chips of a batch, threads sharing the sync
    bridge's loop) then fetch and decode each tile once.
    """
    return _SHARED.setdefault(loop, {})


_BUDGETS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ByteBudget] = (
    weakref.WeakKeyDictionary()
)


def budget_for(loop: asyncio.AbstractEventLoop) -> ByteBudget:
    """The pending-bytes budget of every read on ``loop``.

    One per loop, not per read: 64 chip reads gathered at once must not each be allowed
    their own :data:`MAX_PENDING_BYTES`.
    """
    budget = _BUDGETS.get(loop)
    if budget is None:
        budget = _BUDGETS[loop] = ByteBudget(MAX_PENDING_BYTES)
    return budget


def share_key(job: TileJob) -> tuple[str, int, int]:
    """What makes two reads' tiles the same tile: the object and the byte range."""
    return (job.key.url, job.offset, job.length)


def retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a side task's failure as seen (whoever awaits it handles it, if anyone does)."""
    if not task.cancelled():
        task.exception()
