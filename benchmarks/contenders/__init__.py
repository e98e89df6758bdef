"""One module per contender; each exposes a function per workload it can run.

Every workload function takes the workload's config dict (written by the harness) and
returns ``(ids, array)``: the scene ids in the order of the array's first axis and the
pixels in a canonical layout, so the harness can check that all contenders returned the
same pixels. A contender that cannot run a workload simply has no function for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Result = tuple[list[str], np.ndarray[Any, Any]]
"""What a workload returns: scene ids (first axis) and pixels."""


def by_scene(arrays: list[np.ndarray[Any, Any]], n_bands: int) -> np.ndarray[Any, Any]:
    """Stack per-(scene, band) arrays, listed scene-major, into ``[scene, band, ...]``."""
    return np.stack([np.stack(arrays[i : i + n_bands]) for i in range(0, len(arrays), n_bands)])


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
