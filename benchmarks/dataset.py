"""The benchmark dataset: Sentinel-2-like COGs over two UTM zones, generated once and cached.

Three collections, all written by GDAL (rasterio) so every contender reads files laid out
the way cloud publishers lay them out:

* ``bench-s2``: 60 dates of tile A (EPSG:32610) plus 12 same-day dates of tile B
  (EPSG:32611), which overlaps A across the zone boundary at 120 W. Four bands (B02,
  B03, B04, B08), uint16, deflate + predictor 2, 1024 px tiles, overviews 2 and 4,
  2560 x 2560 px at 10 m (3 x 3 tiles, the last row and column partial, as the
  10980 px Sentinel-2 tiles are).
* ``bench-s2-256``: the same 60 dates of tile A, 1024 x 1024 px, 256 px tiles, two bands:
  the latency-bound layout (small tiles, so requests dominate).
* ``bench-small``: 1,024 single-tile 256 x 256 px files on one footprint (one per day):
  many small objects, one band.

Pixels come from a smooth field plus noise scaled to reflectance-like uint16 values, which
deflate about as well as real Sentinel-2 L2A bands. Files and STAC item JSON are written
under a cache folder keyed by :data:`DATASET_VERSION`; hrefs are relative paths resolved
against the object store's URL when the items are loaded into the STAC API.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer

DATASET_VERSION = 1
"""Bump when the generated files change; a new version gets a new cache folder."""

PIXEL = 10.0
"""Ground sample distance of every collection (metres)."""
TILE_A = {"epsg": 32610, "origin": (740_000.0, 4_220_000.0), "size": 2560}
"""Zone 10 tile, reaching the zone boundary (120 W) at its east edge."""
TILE_B = {"epsg": 32611, "origin": (225_000.0, 4_220_000.0), "size": 2560}
"""Zone 11 tile, overlapping tile A by about 13 km across the boundary."""
BANDS = ("B02", "B03", "B04", "B08")
"""Band asset keys of ``bench-s2`` (blue, green, red, near infrared at 10 m)."""
BANDS_256 = ("B04", "B08")
"""Band asset keys of ``bench-s2-256``."""
N_DATES = 60
"""Dates of tile A; tile B has every fifth of them."""
N_SMALL = 1024
"""Files of ``bench-small``."""
FIRST_DAY = datetime(2025, 1, 2, 18, 30, tzinfo=UTC)
"""Acquisition time of the first date; dates follow every five days."""


@dataclass(frozen=True, slots=True)
class CogSpec:
    """One file to write."""

    relpath: str
    epsg: int
    origin: tuple[float, float]
    size: int
    blocksize: int
    seed: int
    overviews: tuple[int, ...]


def dataset_root(cache: Path | None = None) -> Path:
    """Where the dataset lives (``$RASTERET_BENCH_DATA`` or ``~/.cache/rasteret-bench``)."""
    base = cache or Path(
        os.environ.get("RASTERET_BENCH_DATA", Path.home() / ".cache" / "rasteret-bench")
    )
    return base / f"v{DATASET_VERSION}"


def dates() -> list[datetime]:
    """The acquisition times of tile A (tile B uses every fifth)."""
    return [FIRST_DAY + timedelta(days=5 * i) for i in range(N_DATES)]


def _field(size: int, seed: int) -> np.ndarray[Any, np.dtype[np.uint16]]:
    """Reflectance-like uint16 pixels: a smooth landscape, texture and sensor noise."""
    rng = np.random.default_rng(seed)
    px, py, pz = rng.uniform(0.0, 2 * math.pi, size=3)
    x = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    f = 0.45 + 0.2 * np.sin(2 * np.pi * 2.5 * x + px) + 0.15 * np.cos(2 * np.pi * 3.0 * y + py)
    f = f + 0.06 * np.sin(2 * np.pi * 23.0 * (x - 0.7 * y) + pz)
    f = f + rng.standard_normal((size, size), dtype=np.float32) * np.float32(0.004)
    return np.clip(f * 5000.0 + 300.0, 1.0, 10_000.0).astype(np.uint16)


def _write(spec_and_root: tuple[CogSpec, Path]) -> None:
    """Write one COG (in a worker process) unless it already exists."""
    from rasteret_sandbox.cogs import write_cog  # rasterio only in workers

    spec, root = spec_and_root
    path = root / spec.relpath
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.tif")
    x0, y0 = spec.origin
    write_cog(
        tmp,
        width=spec.size,
        height=spec.size,
        dtype="uint16",
        crs=spec.epsg,
        transform=(PIXEL, 0.0, x0, 0.0, -PIXEL, y0),
        blocksize=spec.blocksize,
        compress="deflate",
        predictor=2,
        nodata=0,
        overview_levels=spec.overviews,
        data=_field(spec.size, spec.seed)[None],
    )
    tmp.replace(path)


def _footprint(epsg: int, origin: tuple[float, float], size: int) -> dict[str, Any]:
    x0, y0 = origin
    x1, y1 = x0 + size * PIXEL, y0 - size * PIXEL
    to_ll = Transformer.from_crs(epsg, 4326, always_xy=True)
    xs, ys = [x0, x1, x1, x0], [y0, y0, y1, y1]
    lons, lats = to_ll.transform(xs, ys)
    ring = [[round(float(a), 8), round(float(b), 8)] for a, b in zip(lons, lats, strict=True)]
    ring.append(ring[0])
    bbox = [min(lons), min(lats), max(lons), max(lats)]
    return {"geometry": {"type": "Polygon", "coordinates": [ring]}, "bbox": bbox}


def _item(
    collection: str,
    item_id: str,
    when: datetime,
    specs: dict[str, CogSpec],
    cloud: float,
) -> dict[str, Any]:
    first = next(iter(specs.values()))
    fp = _footprint(first.epsg, first.origin, first.size)
    x0, y0 = first.origin
    transform = [PIXEL, 0.0, x0, 0.0, -PIXEL, y0]
    assets = {
        band: {
            "href": spec.relpath,
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
            "proj:shape": [spec.size, spec.size],
            "proj:transform": transform,
        }
        for band, spec in specs.items()
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
        ],
        "id": item_id,
        "collection": collection,
        "geometry": fp["geometry"],
        "bbox": fp["bbox"],
        "properties": {
            "datetime": when.isoformat().replace("+00:00", "Z"),
            "eo:cloud_cover": cloud,
            "proj:epsg": first.epsg,
            "proj:code": f"EPSG:{first.epsg}",
        },
        "links": [],
        "assets": assets,
    }


def _s2_items() -> Iterator[tuple[dict[str, Any], list[CogSpec]]]:
    rng = np.random.default_rng(7)
    for i, when in enumerate(dates()):
        tiles = [("A", TILE_A)] + ([("B", TILE_B)] if i % 5 == 0 else [])
        for name, tile in tiles:
            item_id = f"S2B_T{name}_{when:%Y%m%d}"
            specs = {
                band: CogSpec(
                    relpath=f"bench-s2/{item_id}/{band}.tif",
                    epsg=int(tile["epsg"]),  # type: ignore[call-overload]
                    origin=tile["origin"],  # type: ignore[arg-type]
                    size=int(tile["size"]),  # type: ignore[call-overload]
                    blocksize=1024,
                    seed=10_000 + 97 * i + 13 * b + (5000 if name == "B" else 0),
                    overviews=(2, 4),
                )
                for b, band in enumerate(BANDS)
            }
            cloud = round(float(rng.uniform(0, 60)), 2)
            yield _item("bench-s2", item_id, when, specs, cloud), list(specs.values())


def _s2_256_items() -> Iterator[tuple[dict[str, Any], list[CogSpec]]]:
    origin = (750_000.0, 4_210_000.0)
    for i, when in enumerate(dates()):
        item_id = f"S2B_T256_{when:%Y%m%d}"
        specs = {
            band: CogSpec(
                relpath=f"bench-s2-256/{item_id}/{band}.tif",
                epsg=32610,
                origin=origin,
                size=1024,
                blocksize=256,
                seed=20_000 + 31 * i + b,
                overviews=(2, 4),
            )
            for b, band in enumerate(BANDS_256)
        }
        yield _item("bench-s2-256", item_id, when, specs, 10.0), list(specs.values())


def _small_items() -> Iterator[tuple[dict[str, Any], list[CogSpec]]]:
    origin = (752_000.0, 4_205_000.0)
    start = datetime(2022, 1, 1, 18, 0, tzinfo=UTC)
    for i in range(N_SMALL):
        when = start + timedelta(days=i)
        item_id = f"SMALL_{when:%Y%m%d}"
        spec = CogSpec(
            relpath=f"bench-small/{item_id}.tif",
            epsg=32610,
            origin=origin,
            size=256,
            blocksize=256,
            seed=30_000 + i,
            overviews=(),
        )
        yield _item("bench-small", item_id, when, {"B04": spec}, 5.0), [spec]


COLLECTIONS = {"bench-s2": _s2_items, "bench-s2-256": _s2_256_items, "bench-small": _small_items}
"""Collection id -> generator of (item, files)."""


def _collection_json(cid: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    bbox = [
        min(i["bbox"][0] for i in items),
        min(i["bbox"][1] for i in items),
        max(i["bbox"][2] for i in items),
        max(i["bbox"][3] for i in items),
    ]
    times = sorted(i["properties"]["datetime"] for i in items)
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "description": f"rasteret benchmark collection {cid} (generated locally)",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [bbox]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "links": [],
    }


def ensure_dataset(root: Path, *, workers: int | None = None, log: Any = print) -> Path:
    """Generate every file and item JSON under ``root`` (skipping what exists); return it."""
    root.mkdir(parents=True, exist_ok=True)
    done = root / "COMPLETE"
    if done.exists():
        return root
    jobs: list[tuple[CogSpec, Path]] = []
    for cid, gen in COLLECTIONS.items():
        items = []
        for item, specs in gen():
            items.append(item)
            jobs.extend((s, root) for s in specs)
        (root / f"{cid}.collection.json").write_text(json.dumps(_collection_json(cid, items)))
        with (root / f"{cid}.items.ndjson").open("w") as fh:
            for item in items:
                fh.write(json.dumps(item) + "\n")
    log(f"dataset: writing {len(jobs)} COGs under {root} (once; cached)")
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for n, _ in enumerate(pool.map(_write, jobs, chunksize=8), start=1):
            if n % 100 == 0:
                log(f"dataset: {n}/{len(jobs)}")
    done.write_text(datetime.now(UTC).isoformat())
    return root


def load_items(root: Path, cid: str, base_url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The collection JSON and its items with hrefs resolved against ``base_url``."""
    collection = json.loads((root / f"{cid}.collection.json").read_text())
    items = []
    for line in (root / f"{cid}.items.ndjson").read_text().splitlines():
        item = json.loads(line)
        for asset in item["assets"].values():
            asset["relpath"] = asset["href"]
            asset["href"] = f"{base_url.rstrip('/')}/{asset['href']}"
        items.append(item)
    return collection, items
