"""The workloads: what each reads, as config dicts the workers receive.

Every AOI is a pixel-aligned box in the scenes' own CRS, so each contender's window is
unambiguous and the pixel comparison is exact (the mask and geometry semantics are
tested elsewhere against GDAL; here the question is speed on equal work).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import dataset as ds


@dataclass(frozen=True)
class Workload:
    """A named workload and what the report says about it."""

    name: str
    title: str
    kind: str
    """``"latency"``, ``"decode"``, ``"build"`` or ``"mixed"``: which targets apply."""
    contenders: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict)
    origin: bool = False
    """Read straight from nginx (no latency proxy)."""


def _scene(item: dict[str, Any], root: Path) -> dict[str, Any]:
    return {
        "id": item["id"],
        "date": item["properties"]["datetime"][:10],
        "epsg": item["properties"]["proj:epsg"],
        "hrefs": {k: a["href"] for k, a in item["assets"].items()},
        "local": {k: str(root / a["relpath"]) for k, a in item["assets"].items()},
    }


ALL = ("rasteret", "rasterio", "rasterio-16t", "async-geotiff")


def define(
    items: dict[str, list[dict[str, Any]]], root: Path, scratch: Path, *, seed: int = 42
) -> list[Workload]:
    """All workloads over the loaded items (``items[cid]`` with resolved hrefs + relpath)."""
    rng = np.random.default_rng(seed)
    s2 = items["bench-s2"]
    tile_a = [_scene(i, root) for i in s2 if i["properties"]["proj:epsg"] == 32610]
    b_dates = {i["id"].split("_")[-1] for i in s2 if i["properties"]["proj:epsg"] == 32611}
    both = [_scene(i, root) for i in s2 if i["id"].split("_")[-1] in b_dates]
    x0, y1 = ds.TILE_A["origin"]  # type: ignore[misc]
    size = ds.TILE_A["size"] * ds.PIXEL  # type: ignore[operator]
    west_only = 750_000.0  # east of this, tile B (zone 11) overlaps tile A
    # the same bound on requests in flight for rasteret and async-geotiff (rasteret's
    # default); rasterio gets 16 threads, or 50 for the small files
    common = {"epsg": 32610, "max_concurrent": 50, "limit": 50}

    points = np.column_stack(
        [rng.uniform(x0 + 1, west_only - 1, 20_000), rng.uniform(y1 - size + 1, y1 - 1, 20_000)]
    )
    points_file = scratch / "points.npy"
    np.save(points_file, points)

    chips = []
    n_dates = len(tile_a)
    for _ in range(64):
        cx = x0 + 10.0 * int(rng.integers(0, (west_only - x0) / 10 - 256))
        cy = y1 - 10.0 * int(rng.integers(0, size / 10 - 256))
        start = int(rng.integers(0, n_dates - 4))
        stack = tile_a[start : start + 4]
        chips.append(
            {
                "bounds": [cx, cy - 2560.0, cx + 2560.0, cy],
                "ids": [s["id"] for s in stack],
                "dates": [stack[0]["date"], stack[-1]["date"]],
            }
        )

    small = [_scene(i, root) for i in items["bench-small"]]
    s256 = [_scene(i, root) for i in items["bench-s2-256"]]
    origin = [_scene(i, root) for i in items["bench-s2-origin"]][:4]
    return [
        Workload(
            "time-series",
            "2 km AOI x 60 scenes x 2 bands (1024 px tiles)",
            "mixed",
            ALL,
            {
                **common,
                "function": "window_stack",
                "collection": "bench-s2",
                "scenes": tile_a,
                "bands": ["B04", "B08"],
                "bounds": [749_300.0, 4_205_000.0, 751_300.0, 4_207_000.0],
            },
        ),
        Workload(
            "ml-chips",
            "64 random 256 px chips x 4 bands x 4-date stacks",
            "mixed",
            ALL,
            {
                **common,
                "function": "chips",
                "collection": "bench-s2",
                "scenes": tile_a,
                "bands": list(ds.BANDS),
                "chips": chips,
            },
        ),
        Workload(
            "points",
            "20,000 points x 60 scenes x 2 bands",
            "latency",
            ALL,
            {
                **common,
                "function": "points",
                "collection": "bench-s2",
                "scenes": tile_a,
                "bands": ["B04", "B08"],
                "points_file": str(points_file),
            },
        ),
        Workload(
            "time-series-256",
            "2 km AOI x 60 scenes x 2 bands (256 px tiles)",
            "latency",
            ALL,
            {
                **common,
                "function": "window_stack",
                "collection": "bench-s2-256",
                "scenes": s256,
                "bands": ["B04", "B08"],
                "bounds": [752_000.0, 4_205_000.0, 754_000.0, 4_207_000.0],
            },
        ),
        Workload(
            "small-files",
            "1,024 single-tile files, whole file each, max_concurrent=50",
            "latency",
            ALL,
            {
                **common,
                "function": "window_stack",
                "collection": "bench-small",
                "scenes": small,
                "bands": ["B04"],
                "bounds": [752_000.0, 4_202_440.0, 754_560.0, 4_205_000.0],
                "limit": 50,
                "overrides": {"rasterio-16t": {"threads": 50}},
            },
        ),
        Workload(
            "cross-crs",
            "2 km AOI over 12 dates x 2 UTM zones (24 scenes) x 2 bands onto EPSG:32610",
            "mixed",
            ("rasteret", "rasterio", "rasterio-16t"),
            {
                **common,
                "function": "window_stack",
                "collection": "bench-s2",
                "scenes": both,
                "select": "ids",
                "bands": ["B04", "B08"],
                "bounds": [756_000.0, 4_200_000.0, 758_000.0, 4_202_000.0],
                "target_crs": 32610,
                "resolution": 10.0,
            },
        ),
        Workload(
            "decode-bound",
            "4 whole scenes x 4 bands (2560 px) at 0 ms, vs libdeflate floor",
            "decode",
            (*ALL, "floor"),
            {
                **common,
                "function": "window_stack",
                "collection": "bench-s2-origin",
                "scenes": origin,
                "select": "dates",
                "bands": list(ds.BANDS),
                "bounds": [x0, y1 - size, x0 + size, y1],
                "overrides": {"floor": {"function": "decode"}},
            },
            origin=True,
        ),
    ]


def build_workload(stac_api: str) -> Workload:
    """Index build over tile A's 60 scenes x 4 bands (240 assets)."""
    return Workload(
        "index-build",
        "STAC search + 240 COG headers",
        "build",
        ALL,
        {
            "function": "build",
            "stac_api": stac_api,
            "collection": "bench-s2",
            "bbox": [-121.0, 37.0, -119.0, 39.0],
            "date_range": ["2025-01-01", "2025-12-31"],
            "query": {"proj:epsg": {"eq": 32610}},
            "max_concurrent": 50,
            "limit": 50,
        },
    )
