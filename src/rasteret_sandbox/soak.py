"""Soak runs: many chip reads at sustained concurrency, watching the process for leaks.

A library that leaks one socket, one thread or one pending task per read is fine in a
unit test and dead after a day of training-data loading. :func:`run_soak` reads random
chips from a collection many times through one backend (so one connection pool), with
``concurrency`` reads in flight, and samples the process before and after: resident
memory, open file descriptors, sockets among them, native and Python threads, and tasks
still pending on rasteret's I/O loop. ``benchmarks/soak.py`` runs it against the fault
proxy for the record; a short run in the tests asserts that nothing grows.

Process facts come from ``/proc/self`` (Linux), so no extra dependency is needed.
"""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import shapely

import rasteret
from rasteret.io import StorageBackend
from rasteret.io.sync import run_sync

__all__ = ["ProcessStats", "pending_io_tasks", "process_stats", "run_soak"]


@dataclass(frozen=True, kw_only=True)
class ProcessStats:
    """A snapshot of what a leak would make grow."""

    rss_bytes: int
    """Resident set size."""
    fds: int
    """Open file descriptors."""
    sockets: int
    """File descriptors that are sockets (connections and listeners)."""
    native_threads: int
    """Threads of the process, Rust runtime threads included."""
    python_threads: int
    """Threads known to Python's ``threading``."""


def process_stats() -> ProcessStats:
    """Sample this process's RSS, descriptors, sockets and threads from ``/proc/self``."""
    fields: dict[str, str] = {}
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    fds = sockets = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed between listdir and readlink (or the listdir fd itself)
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return ProcessStats(
        rss_bytes=int(fields["VmRSS"].split()[0]) * 1024,
        fds=fds,
        sockets=sockets,
        native_threads=int(fields["Threads"]),
        python_threads=threading.active_count(),
    )


async def _pending_tasks() -> int:
    current = asyncio.current_task()
    return sum(1 for task in asyncio.all_tasks() if task is not current and not task.done())


def pending_io_tasks() -> int:
    """Tasks still pending on rasteret's I/O loop (a leak if reads are all finished)."""
    return run_sync(_pending_tasks())


def _random_aoi(
    rng: random.Random, bounds: list[tuple[float, float, float, float]], fraction: float
) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = rng.choice(bounds)
    w, h = (maxx - minx) * fraction, (maxy - miny) * fraction
    x = rng.uniform(minx + w, maxx - 2 * w)
    y = rng.uniform(miny + h, maxy - 2 * h)
    return (x, y, x + w, y + h)


async def _read_many(
    coll: rasteret.Collection,
    aois: list[tuple[float, float, float, float]],
    band: str,
    *,
    concurrency: int,
    backend: StorageBackend,
) -> tuple[int, Counter[str]]:
    limit = asyncio.Semaphore(concurrency)
    errors: Counter[str] = Counter()
    pixels = 0

    async def one(aoi: tuple[float, float, float, float]) -> None:
        nonlocal pixels
        async with limit:
            try:
                result = await coll.get_numpy_async(aoi, band, backend=backend, max_concurrent=8)
            except rasteret.RasteretError as err:
                errors[type(err).__name__] += 1
                return
        assert not isinstance(result, list)
        pixels += int(result.data.size)

    await asyncio.gather(*(one(a) for a in aois))
    return pixels, errors


def run_soak(
    coll: rasteret.Collection,
    *,
    reads: int,
    concurrency: int,
    backend: StorageBackend,
    band: str = "red",
    seed: int = 0,
    warmup: int = 50,
    segments: int = 4,
    idle_s: float = 0.0,
    chip_fraction: float = 0.01,
) -> dict[str, Any]:
    """Read ``reads`` random chips, ``concurrency`` at a time; report growth.

    The first ``warmup`` reads fill the pools (connections, decode threads, obstore's
    runtime) and are not measured. The measured reads run in ``segments`` equal parts
    with a snapshot after each, so steady-state growth (a leak) can be told apart from
    pools filling up. After ``idle_s`` seconds of idleness one more snapshot shows what
    the runtimes give back (tokio's blocking threads retire after 10 s idle).

    Returns:
        A JSON-ready dict: reads, seconds, reads per second, errors by type, the stats
        at start, after each segment and after the idle wait, and the pending I/O tasks.
    """
    rng = random.Random(seed)  # noqa: S311 (reproducible chips, not cryptography)
    bounds: list[tuple[float, float, float, float]] = []
    for scene in coll:
        if scene.geometry is not None:
            minx, miny, maxx, maxy = (float(v) for v in shapely.bounds(scene.geometry))
            bounds.append((minx, miny, maxx, maxy))
    aois = [_random_aoi(rng, bounds, chip_fraction) for _ in range(warmup + reads)]
    run_sync(_read_many(coll, aois[:warmup], band, concurrency=concurrency, backend=backend))
    gc.collect()
    start = process_stats()
    series: list[dict[str, int]] = []
    errors: Counter[str] = Counter()
    pixels = 0
    started = time.perf_counter()
    per = max(1, reads // max(1, segments))
    for first in range(warmup, warmup + reads, per):
        chunk = aois[first : min(first + per, warmup + reads)]
        got, errs = run_sync(
            _read_many(coll, chunk, band, concurrency=concurrency, backend=backend)
        )
        pixels += got
        errors.update(errs)
        gc.collect()
        series.append(asdict(process_stats()))
    seconds = time.perf_counter() - started
    end = series[-1]
    if idle_s > 0:
        time.sleep(idle_s)
    idle = asdict(process_stats())
    return {
        "reads": reads,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "reads_per_second": round(reads / seconds, 1),
        "pixels": pixels,
        "errors": dict(errors),
        "start": asdict(start),
        "segments": series,
        "end": end,
        "after_idle": {"idle_s": idle_s, **idle},
        "growth": {k: end[k] - v for k, v in asdict(start).items()},
        "growth_after_first_segment": {k: end[k] - v for k, v in series[0].items()},
        "pending_io_tasks": pending_io_tasks(),
    }
