"""Soak runs: many chip reads at sustained concurrency, watching the process for leaks.

A library that leaks one socket, one thread or one pending task per read is fine in a
unit test and dead after a day of training-data loading. :func:`run_soak` reads random
chips from a collection many times through one backend (so one connection pool), with
``concurrency`` reads in flight, and samples the process before and after: resident
memory, open file descriptors, sockets among them, native and Python threads, and tasks
still pending on rasteret's I/O loop. ``benchmarks/soak.py`` runs it against the fault
proxy for the record; a short run in the tests asserts that nothing grows.

Resident memory alone cannot tell a leak from allocator retention: glibc malloc keeps
freed memory in its arenas (one per thread that allocates, up to ``8 x cores``) and
hands little of it back to the OS. So every snapshot also reports what malloc itself
holds (:func:`malloc_stats`: bytes in use by live allocations versus free bytes it
keeps), the live Python objects, and, with ``trim=True``, the RSS right after
``malloc_trim(0)``, which returns the free pages: what remains is what is really in use.
A leak grows ``in_use``; fragmentation grows ``free`` and RSS while ``in_use`` stays flat.

Process facts come from ``/proc/self`` (Linux) and glibc via ``ctypes``, so no extra
dependency is needed; on other platforms the malloc fields are None.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import os
import random
import re
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import shapely

import rasteret
from rasteret.io import StorageBackend
from rasteret.io.sync import run_sync

__all__ = [
    "ProcessStats",
    "malloc_stats",
    "malloc_trim",
    "pending_io_tasks",
    "process_stats",
    "run_soak",
    "thread_names",
]


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


_THREAD_SUFFIX = re.compile(r"[-_]?\d+$")


def thread_names() -> dict[str, int]:
    """Threads of this process by name (``/proc/self/task/*/comm``), numbers stripped.

    ``tokio-runtime-w`` are obstore's runtime threads (workers plus blocking threads,
    which tokio retires after 10 s idle); ``rasteret-decode`` the decode pool; Python
    names its own threads ``Thread-N``, the interpreter's main thread is ``python``.
    """
    names: Counter[str] = Counter()
    for task in Path("/proc/self/task").iterdir():
        try:
            comm = (task / "comm").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:  # the thread exited meanwhile
            continue
        names[_THREAD_SUFFIX.sub("", comm) or comm] += 1
    return dict(names.most_common())


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not all(hasattr(libc, f) for f in ("mallinfo2", "malloc_trim", "malloc_info")):
        return None  # not glibc >= 2.33 (musl, macOS)
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    return libc


_LIBC = _glibc()


def _malloc_arenas() -> int | None:
    """How many malloc arenas exist (``<heap nr=...>`` entries of ``malloc_info``)."""
    if _LIBC is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        stream = _LIBC.fopen(tmp.name.encode(), b"w")
        if not stream:
            return None
        try:
            _LIBC.malloc_info(0, stream)
        finally:
            _LIBC.fclose(stream)
        return Path(tmp.name).read_text(encoding="utf-8").count("<heap nr=")


def malloc_stats() -> dict[str, int] | None:
    """What glibc malloc holds, over all arenas (None where malloc is not glibc's).

    ``in_use_bytes``: live allocations (heap chunks plus mmapped blocks); a leak grows
    this. ``free_bytes``: freed memory malloc keeps in its arenas instead of returning
    it (fragmentation and retention grow this; ``malloc_trim`` gives back the whole
    free pages of it). ``mmapped_bytes``: large blocks served by ``mmap`` directly
    (returned to the OS on free). ``arenas``: main arena plus one per thread-contended
    arena created so far.
    """
    if _LIBC is None:
        return None
    info = _LIBC.mallinfo2()
    return {
        "in_use_bytes": int(info.uordblks + info.hblkhd),
        "free_bytes": int(info.fordblks),
        "mmapped_bytes": int(info.hblkhd),
        "arenas": _malloc_arenas() or 0,
    }


def malloc_trim() -> bool:
    """Return free memory at the top and inside every arena to the OS (glibc only)."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))


def _rasteret_state() -> dict[str, int]:
    """Sizes of rasteret's process-wide read state (all should be idle between reads)."""
    from rasteret.read import engine, inflight  # noqa: PLC0415 - private diagnostics

    state = {"shared_tiles_in_flight": 0, "pending_budget_bytes": 0, "decode_threads": 0}
    for tiles in list(inflight._SHARED.values()):
        state["shared_tiles_in_flight"] += len(tiles)
    for budget in list(inflight._BUDGETS.values()):
        state["pending_budget_bytes"] += int(budget.pending)
    pool = getattr(engine, "_pool", None)
    state["decode_threads"] = len(getattr(pool, "_threads", ()))
    return state


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


def _snapshot(*, reads_done: int, trim: bool, traced: bool) -> dict[str, Any]:
    """Process stats plus malloc's view, live objects and rasteret state; trim if asked."""
    snap: dict[str, Any] = {"reads_done": reads_done, **asdict(process_stats())}
    snap["malloc"] = malloc_stats()
    snap["python_objects"] = len(gc.get_objects())
    if traced:
        snap["python_traced_bytes"] = tracemalloc.get_traced_memory()[0]
    snap["rasteret"] = _rasteret_state()
    snap["threads_by_name"] = thread_names()
    if trim:
        malloc_trim()
        snap["rss_after_trim_bytes"] = process_stats().rss_bytes
    return snap


def _top_growth(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, limit: int = 10
) -> list[dict[str, Any]]:
    """The source lines whose live Python allocations grew most between two snapshots."""
    stats = after.compare_to(before, "lineno")
    return [
        {"where": str(s.traceback[0]), "size_diff_bytes": s.size_diff, "count_diff": s.count_diff}
        for s in stats[:limit]
    ]


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
    trim: bool = False,
    trace_python: bool = False,
) -> dict[str, Any]:
    """Read ``reads`` random chips, ``concurrency`` at a time; report growth.

    The first ``warmup`` reads fill the pools (connections, decode threads, obstore's
    runtime) and are not measured. The measured reads run in ``segments`` equal parts
    with a snapshot after each, so steady-state growth (a leak) can be told apart from
    pools filling up. After ``idle_s`` seconds of idleness one more snapshot shows what
    the runtimes give back (tokio's blocking threads retire after 10 s idle).

    ``trim``: after each snapshot, call glibc's ``malloc_trim(0)`` and record the RSS
    it leaves (``rss_after_trim_bytes``); the raw ``rss_bytes`` is taken before it.
    ``trace_python``: trace Python allocations (``tracemalloc``; slow) and report the
    source lines whose live allocations grew from the first segment to the last.

    Returns:
        A JSON-ready dict: reads, seconds, reads per second, errors by type, the
        snapshots at start, after each segment and after the idle wait (process stats,
        malloc's in-use and free bytes, live Python objects, threads by name), and the
        pending I/O tasks.
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
    if trace_python:
        tracemalloc.start(1)
    start = _snapshot(reads_done=0, trim=trim, traced=trace_python)
    series: list[dict[str, Any]] = []
    errors: Counter[str] = Counter()
    pixels = 0
    first_traced: tracemalloc.Snapshot | None = None
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
        series.append(
            _snapshot(reads_done=first + len(chunk) - warmup, trim=trim, traced=trace_python)
        )
        if trace_python and first_traced is None:
            first_traced = tracemalloc.take_snapshot()
    seconds = time.perf_counter() - started
    python_growth = None
    if trace_python and first_traced is not None:
        python_growth = _top_growth(first_traced, tracemalloc.take_snapshot())
        tracemalloc.stop()
    end = series[-1]
    if idle_s > 0:
        time.sleep(idle_s)
    idle = _snapshot(reads_done=reads, trim=False, traced=False)
    scalar = [k for k, v in end.items() if isinstance(v, int) and k != "reads_done"]
    report: dict[str, Any] = {
        "reads": reads,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "reads_per_second": round(reads / seconds, 1),
        "pixels": pixels,
        "errors": dict(errors),
        "malloc_env": {
            k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_TUNABLES"))
        },
        "trim_after_each_segment": trim,
        "start": start,
        "segments": series,
        "end": end,
        "after_idle": {"idle_s": idle_s, **idle},
        "growth": {k: end[k] - start[k] for k in scalar},
        "growth_after_first_segment": {k: end[k] - series[0][k] for k in scalar},
        "pending_io_tasks": pending_io_tasks(),
    }
    report["summary"] = _summary(start, series, idle)
    if python_growth is not None:
        report["python_growth_top_lines"] = python_growth
    return report


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / (1 << 20), 1)


def _summary(
    start: dict[str, Any], series: list[dict[str, Any]], idle: dict[str, Any]
) -> dict[str, Any]:
    """The answer in a few numbers: does anything grow once the pools are warm?

    ``plateau`` compares the end with the second snapshot (after two segments, when the
    connection pool, obstore's blocking threads and malloc's arenas have reached their
    working size): a leak keeps growing there, retention does not. ``malloc_in_use``
    is what live allocations hold; ``rss - rss_after_trim`` is what malloc kept free.
    """
    ref = series[min(1, len(series) - 1)]
    end = series[-1]

    def in_use(snap: dict[str, Any]) -> int | None:
        return None if snap.get("malloc") is None else int(snap["malloc"]["in_use_bytes"])

    def growth(key: str) -> int | None:
        a, b = ref.get(key), end.get(key)
        return None if a is None or b is None else int(b) - int(a)

    in_ref, in_end = in_use(ref), in_use(end)
    peak = max(series, key=lambda s: int(s["native_threads"]))
    return {
        "rss_mb": {
            "start": _mb(start["rss_bytes"]),
            "per_segment": [_mb(s["rss_bytes"]) for s in series],
            "max": _mb(max(int(s["rss_bytes"]) for s in series)),
            "after_idle": _mb(idle["rss_bytes"]),
        },
        "rss_after_trim_mb": [_mb(s.get("rss_after_trim_bytes")) for s in series],
        "malloc_in_use_mb": [_mb(in_use(s)) for s in series],
        "malloc_free_mb": [
            _mb(s["malloc"]["free_bytes"]) if s.get("malloc") else None for s in series
        ],
        "plateau": {
            "from_snapshot": series.index(ref) + 1,
            "rss_growth_mb": _mb(growth("rss_bytes")),
            "rss_after_trim_growth_mb": _mb(growth("rss_after_trim_bytes")),
            "malloc_in_use_growth_mb": _mb(
                None if in_ref is None or in_end is None else in_end - in_ref
            ),
            "python_objects_growth": growth("python_objects"),
            "fds_growth": growth("fds"),
            "native_threads_growth": growth("native_threads"),
        },
        "threads": {
            "start": start["threads_by_name"],
            "peak": {"after_segment": series.index(peak) + 1, **peak["threads_by_name"]},
            "after_idle": idle["threads_by_name"],
        },
    }
