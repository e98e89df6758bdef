"""One module per contender; each exposes a function per workload it can run.

Every workload function takes the workload's config dict (written by the harness) and
returns ``(ids, array)``: the scene ids in the order of the array's first axis and the
pixels in a canonical layout, so the harness can check that all contenders returned the
same pixels. A contender that cannot run a workload simply has no function for it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

Result = tuple[list[str], np.ndarray[Any, Any]]
"""What a workload returns: scene ids (first axis) and pixels."""


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``); 0 where there is none."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def stop_clock(started: float, **extra: float) -> dict[str, float]:
    """End a contender's timed part here: its elapsed time and the memory high-water mark.

    For a workload whose output needs harness work after the read (reshaping for the
    pixel check), the worker would otherwise count that work's memory as the read's.
    """
    elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "peak_rss_kib": float(status_kib("VmHWM")), **extra}


def by_scene(arrays: list[np.ndarray[Any, Any]], n_bands: int) -> np.ndarray[Any, Any]:
    """Stack per-(scene, band) arrays, listed scene-major, into ``[scene, band, ...]``."""
    return np.stack([np.stack(arrays[i : i + n_bands]) for i in range(0, len(arrays), n_bands)])


def chip_windows(cfg: dict[str, Any]) -> list[tuple[list[float], str]]:
    """``(bounds, href)`` of every window the chips workload reads: chip, date, then band."""
    by_id = {s["id"]: s for s in cfg["scenes"]}
    return [
        (chip["bounds"], by_id[i]["hrefs"][b])
        for chip in cfg["chips"]
        for i in sorted(chip["ids"])
        for b in cfg["bands"]
    ]


def chip_stacks(
    cfg: dict[str, Any], arrays: list[np.ndarray[Any, Any]], started: float
) -> tuple[list[str], np.ndarray[Any, Any], dict[str, float]]:
    """The windows read in :func:`chip_windows`' order as one time stack per chip."""
    nb, nt = len(cfg["bands"]), len(cfg["chips"][0]["ids"])
    per = nb * nt
    stacks = [
        np.stack(arrays[i : i + per]).reshape(nt, nb, *arrays[0].shape)
        for i in range(0, len(arrays), per)
    ]
    ids = [i for chip in cfg["chips"] for i in sorted(chip["ids"])]
    return chip_batch(ids, stacks, started)


def chip_batch(
    ids: list[str], stacks: list[np.ndarray[Any, Any]], started: float, **extra: float
) -> tuple[list[str], np.ndarray[Any, Any], dict[str, float]]:
    """End the chips workload's clock at its output, one time stack per chip.

    Stacking the chips into the single array the pixel check compares is harness work,
    done after the clock stops (and the memory high-water mark is taken) for every
    contender alike: on this VM, writing 128 MiB into memory the process has not touched
    yet takes from 11 to 283 ms (first touch costs about 1.7 ms per MiB here), noise that
    would otherwise land on the read, and the stack doubles the chips' memory.
    """
    timed = stop_clock(started, **extra)
    return ids, np.stack(stacks), timed


def search_items(cfg: dict[str, Any]) -> list[Any]:
    """The index-build workload's STAC search with pystac-client (what loaders do first)."""
    from pystac_client import Client

    search = Client.open(cfg["stac_api"]).search(
        collections=[cfg["collection"]],
        bbox=cfg["bbox"],
        datetime="/".join(cfg["date_range"]),
        query=cfg["query"],
        limit=100,
    )
    return list(search.items())


def window_of(transform: list[float], bounds: list[float]) -> tuple[int, int, int, int]:
    """``(col_off, row_off, width, height)`` of pixel-aligned ``bounds`` on a north-up grid."""
    a, _, c, _, e, f = transform[:6]
    minx, miny, maxx, maxy = bounds
    col = round((minx - c) / a)
    row = round((maxy - f) / e)
    return col, row, round((maxx - minx) / a), round((miny - maxy) / e)


def point_rowcols(
    transform: list[float], xs: np.ndarray[Any, Any], ys: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Row and column of each point (floor of the inverse transform, as GDAL does)."""
    a, _, c, _, e, f = transform[:6]
    cols = np.floor((xs - c) / a).astype(np.int64)
    rows = np.floor((ys - f) / e).astype(np.int64)
    return rows, cols
