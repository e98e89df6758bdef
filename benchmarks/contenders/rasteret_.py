"""rasteret: indexes built beforehand (except in ``build``), reads through Collection.

Imports are untimed for every contender (GDAL loads with ``import rasterio``), but
rasteret makes some imports at first use rather than at ``import rasteret``: uvloop when
the I/O bridge starts, imagecodecs' deflate and delta codecs (imagecodecs loads them
lazily), and pystac-client when a build searches. This module imports them, and ``setup``
loads the codecs, before the clock starts (about 5 ms for a read, 60 ms for a build), so
that a cold read or build pays here what it pays in a long-lived process, as the other
contenders' do.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from typing import Any

import imagecodecs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pystac_client  # noqa: F401 - see the module docstring
import uvloop  # noqa: F401 - see the module docstring

import rasteret
from benchmarks.contenders import Result, chip_batch, stop_clock


def setup(cfg: dict[str, Any]) -> dict[str, Any]:
    """Load the codecs imagecodecs imports lazily (see the module docstring)."""
    assert imagecodecs.deflate_decode is not None and imagecodecs.delta_decode is not None
    return cfg


def _collection(cfg: dict[str, Any]) -> rasteret.Collection:
    return rasteret.load(cfg["index"]["name"], workspace_dir=cfg["index"]["workspace"])


def _select(coll: rasteret.Collection, cfg: dict[str, Any]) -> rasteret.Collection:
    """The configured scenes, picked as a user would pick them.

    By the AOI alone (the default, where it touches exactly those scenes), by dates, or
    by ids (``subset(ids=...)``; an Arrow ``isin`` over a Python list would import pandas,
    about 0.1 s inside the timed part).
    """
    scenes = cfg["scenes"]
    how = cfg.get("select", "aoi")
    if how == "dates":
        dates = sorted(s["date"] for s in scenes)
        return coll.subset(date_range=(dates[0], dates[-1]))
    if how == "ids":
        return coll.subset(ids=[s["id"] for s in scenes])
    return coll


def build(cfg: dict[str, Any]) -> Result:
    """Search the STAC API and index every header (a fresh workspace per run)."""
    with tempfile.TemporaryDirectory(prefix="rasteret-bench-build-") as ws:
        coll = rasteret.build_from_stac(
            name=f"build-{uuid.uuid4().hex[:8]}",
            stac_api=cfg["stac_api"],
            collection=cfg["collection"],
            bbox=tuple(cfg["bbox"]),
            date_range=tuple(cfg["date_range"]),
            query=cfg["query"],
            workspace_dir=ws,
            max_concurrent=cfg["max_concurrent"],
        )
        ids = sorted(s.id for s in coll)
        widths = np.array([len(ids) * len(coll.bands)], dtype=np.int64)
    return ids, widths


def window_stack(cfg: dict[str, Any]) -> tuple[list[str], np.ndarray[Any, Any], dict[str, float]]:
    """One AOI over the configured scenes: time series, small files, decode-bound."""
    coll = _select(_collection(cfg), cfg)
    kwargs: dict[str, Any] = {"crs": cfg["epsg"], "max_concurrent": cfg["max_concurrent"]}
    if cfg.get("target_crs"):
        kwargs.update(target_crs=cfg["target_crs"], resolution=cfg["resolution"])
    result = coll.get_numpy(tuple(cfg["bounds"]), list(cfg["bands"]), **kwargs)
    assert not isinstance(result, list)
    ids, data = _sorted(list(result.ids), result.data)
    # the valid mask is an output too (the other contenders return no mask)
    return ids, data, {"output_bytes": float(result.data.nbytes + result.valid.nbytes)}


def _sorted(ids: list[str], data: np.ndarray[Any, Any]) -> Result:
    """Scenes ordered by id, as the other contenders return them (no copy if they are)."""
    order = np.argsort(ids, kind="stable")
    if (order == np.arange(len(ids))).all():
        return ids, data
    return [ids[i] for i in order], data[order]


async def _chips(
    cfg: dict[str, Any],
) -> tuple[list[str], list[np.ndarray[Any, Any]], dict[str, float]]:
    coll = _collection(cfg)

    async def one(chip: dict[str, Any]) -> Any:
        sub = coll.subset(date_range=tuple(chip["dates"]))
        return await sub.get_numpy_async(
            tuple(chip["bounds"]),
            list(cfg["bands"]),
            crs=cfg["epsg"],
            max_concurrent=cfg["max_concurrent"],
        )

    results = await asyncio.gather(*(one(c) for c in cfg["chips"]))
    ids: list[str] = []
    stacks = []
    for r in results:
        chip_ids, chip_data = _sorted(list(r.ids), r.data)
        ids.extend(chip_ids)
        stacks.append(chip_data)
    return (
        ids,
        stacks,
        {"output_bytes": float(sum(r.data.nbytes + r.valid.nbytes for r in results))},
    )


def chips(cfg: dict[str, Any]) -> tuple[list[str], np.ndarray[Any, Any], dict[str, float]]:
    """Random chips, each a time stack of its own dates, all requested at once."""
    started = time.perf_counter()
    ids, stacks, extra = asyncio.run(_chips(cfg))
    return chip_batch(ids, stacks, started, **extra)


def points(cfg: dict[str, Any]) -> tuple[list[str], np.ndarray[Any, Any], dict[str, float]]:
    """Values at every point, for every scene and band.

    The timed part (and the memory high-water mark) ends with rasteret's own output, the
    Arrow table; reshaping it into the dense (scene, band, point) array the pixel check
    compares is harness work.
    """
    t0 = time.perf_counter()
    coll = _select(_collection(cfg), cfg)
    xy = np.load(cfg["points_file"])
    table = coll.sample_points(xy, list(cfg["bands"]), crs=cfg["epsg"])
    timed = stop_clock(t0)
    ids = sorted(pc.unique(table.column("scene_id")).to_pylist())
    out = np.zeros((len(ids), len(cfg["bands"]), len(xy)), dtype=np.uint16)
    scene = pc.index_in(table.column("scene_id"), value_set=pa.array(ids)).to_numpy()
    point = table.column("point_index").to_numpy()
    for b, band in enumerate(cfg["bands"]):
        out[scene, b, point] = table.column(band).fill_null(0).to_numpy()
    return ids, out, timed
