"""rasterio/GDAL over /vsicurl, configured the way COG experts configure it.

The GDAL options are set in the environment by the worker before rasterio is imported
(:data:`GDAL_ENV`), so every thread sees them. ``threads`` in the config picks sequential
(1) or a thread pool (e.g. 16), each task opening its own dataset, as TorchGeo and
stackstac-style loaders do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from benchmarks.contenders import (
    Result,
    by_scene,
    chip_stacks,
    chip_windows,
    point_rowcols,
    search_items,
    window_of,
)

GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(256 * 1024 * 1024),
    "GDAL_CACHEMAX": "512",
    "GDAL_NUM_THREADS": "ALL_CPUS",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    "CPL_VSIL_CURL_CACHE_SIZE": str(256 * 1024 * 1024),
    "GDAL_HTTP_MAX_RETRY": "0",
}
"""What a COG-savvy user sets (HTTP/2 is asked for; the loopback proxy speaks HTTP/1.1)."""

T = TypeVar("T")
R = TypeVar("R")


def _map(cfg: dict[str, Any], fn: Callable[[T], R], tasks: Iterable[T]) -> list[R]:
    threads = int(cfg.get("threads", 1))
    if threads <= 1:
        return [fn(t) for t in tasks]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, tasks))


def _read_window(href: str, bounds: list[float]) -> np.ndarray[Any, Any]:
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(href) as src:
        col, row, w, h = window_of(list(src.transform)[:6], bounds)
        return src.read(1, window=Window(col, row, w, h))


def _reproject(href: str, cfg: dict[str, Any]) -> np.ndarray[Any, Any]:
    import rasterio
    from rasterio.transform import Affine
    from rasterio.warp import Resampling, reproject

    minx, miny, maxx, maxy = cfg["bounds"]
    res = float(cfg["resolution"])
    width, height = round((maxx - minx) / res), round((maxy - miny) / res)
    out = np.zeros((height, width), dtype=np.uint16)
    with rasterio.open(href) as src:
        reproject(
            source=rasterio.band(src, 1),
            destination=out,
            dst_transform=Affine(res, 0.0, minx, 0.0, -res, maxy),
            dst_crs=f"EPSG:{cfg['target_crs']}",
            dst_nodata=0,
            resampling=Resampling.nearest,
        )
    return out


def window_stack(cfg: dict[str, Any]) -> Result:
    """The AOI window of every (scene, band), reprojected where the scene's CRS differs."""
    scenes = sorted(cfg["scenes"], key=lambda s: s["id"])
    target = cfg.get("target_crs")
    tasks = [(s, b) for s in scenes for b in cfg["bands"]]

    def one(task: tuple[dict[str, Any], str]) -> np.ndarray[Any, Any]:
        scene, band = task
        if target and scene["epsg"] != target:
            return _reproject(scene["hrefs"][band], cfg)
        return _read_window(scene["hrefs"][band], cfg["bounds"])

    arrays = _map(cfg, one, tasks)
    data = by_scene(arrays, len(cfg["bands"]))
    return [s["id"] for s in scenes], data


def chips(cfg: dict[str, Any]) -> tuple[list[str], np.ndarray[Any, Any], dict[str, float]]:
    """Every chip's time stack, one dataset open per (chip, date, band)."""
    started = time.perf_counter()
    arrays = _map(cfg, lambda t: _read_window(t[1], t[0]), chip_windows(cfg))
    return chip_stacks(cfg, arrays, started)


def points(cfg: dict[str, Any]) -> Result:
    """Values at the points: read the window that holds them, then index it (no per-point IO)."""
    import rasterio
    from rasterio.windows import Window

    xy = np.load(cfg["points_file"])
    scenes = sorted(cfg["scenes"], key=lambda s: s["id"])
    tasks = [(s, b) for s in scenes for b in cfg["bands"]]

    def one(task: tuple[dict[str, Any], str]) -> np.ndarray[Any, Any]:
        scene, band = task
        with rasterio.open(scene["hrefs"][band]) as src:
            rows, cols = point_rowcols(list(src.transform)[:6], xy[:, 0], xy[:, 1])
            r0, c0 = int(rows.min()), int(cols.min())
            win = Window(c0, r0, int(cols.max()) - c0 + 1, int(rows.max()) - r0 + 1)
            block = src.read(1, window=win)
        return block[rows - r0, cols - c0]

    values = _map(cfg, one, tasks)
    data = by_scene(values, len(cfg["bands"]))
    return [s["id"] for s in scenes], data


def build(cfg: dict[str, Any]) -> Result:
    """Search STAC, then open every asset (what a loader without an index does at start)."""
    import rasterio

    items = search_items(cfg)
    hrefs = [(it.id, a.href) for it in items for a in it.assets.values()]

    def one(task: tuple[str, str]) -> int:
        with rasterio.open(task[1]) as src:
            return int(src.width)

    widths = _map(cfg, one, hrefs)
    return sorted(it.id for it in items), np.array([len(widths)], dtype=np.int64)
