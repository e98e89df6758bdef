"""The sample catalog: STAC collections and items as data, plus the COGs they point to.

Tests, the demo and benchmarks need a STAC corpus whose answers are known in advance. This
module builds one deterministically:

* synthetic collections laid out like their public counterparts (asset keys, ``proj:*``,
  ``raster:bands``, ``eo:bands``): ``sentinel-2-l2a`` (Earth Search keys), ``landsat-c2l2-sr``
  (USGS keys), ``naip-sample`` and ``cop-dem-glo-30``; item counts are the constants below;
* the 1,153 real Planetary Computer items in the project's ``shared/data/stac`` (collections
  ``landsat-8-c2-l2`` and ``naip``) with every COG href rewritten to a local, scaled-down
  COG shaped by the item's own ``proj:*`` fields;
* a PC-style Sentinel-2 static catalog (``catalog.json -> collection.json -> items/``)
  on disk, readable by pystac from disk or over HTTP.

Hrefs are ``base_url + "/data/<path>"`` so the same tree serves over nginx, the aiohttp
range server, or (``base_url=None``) as absolute local paths.

Non-COG assets: ``thumbnail`` and ``granule_metadata`` of the synthetic Sentinel-2 items
are small real files; every non-COG asset of the Planetary Computer items (MTL, ANG,
thumbnails, tilejson, previews) points to a local path that does NOT exist (404 over
HTTP), so code that wrongly fetches them fails visibly instead of reaching the internet.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import numpy as np
import rasterio
import rasterio.shutil
from pyproj import Transformer
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from rasteret_sandbox.cogs import write_cog
from rasteret_sandbox.scenes import (
    grid,
    synthetic_field,
    write_dem_tile,
    write_landsat_scene,
    write_naip_scene,
    write_sentinel2_scene,
)

__all__ = [
    "CONTENT_VERSION",
    "DEM_COUNT",
    "DEM_SF_COUNT",
    "JAN_MAR",
    "LANDSAT_SF_COUNT",
    "LANDSAT_SF_JAN_MAR_COUNT",
    "NAIP_SAMPLE_COUNT",
    "PC_ITEMS_NAME",
    "PC_LANDSAT_COUNT",
    "PC_NAIP_COUNT",
    "PC_S2_STATIC_COUNT",
    "S2_EAST_COUNT",
    "S2_SF_COUNT",
    "S2_SF_LOW_CLOUD_COUNT",
    "S2_TOTAL_COUNT",
    "SF_BBOX",
    "SF_JAN_MAR_COUNT",
    "SF_JAN_MAR_LOW_CLOUD_COUNT",
    "SampleCatalog",
    "build_sample_catalog",
    "pc_items_path",
]

logger = logging.getLogger(__name__)

CONTENT_VERSION = "1"
"""Bump whenever a generated file changes, so cached data dirs are rebuilt."""

PC_ITEMS_NAME = "planetary-computer-landsat-naip-items.ndjson"


def pc_items_path() -> Path:
    """Where the real Planetary Computer items are.

    ``$RASTERET_PC_ITEMS`` when set, else the project's read-only ``shared/data/stac``
    folder that sits beside the repository.
    """
    env = os.environ.get("RASTERET_PC_ITEMS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "stac" / PC_ITEMS_NAME


"""Real Planetary Computer items (read-only input)."""

SF_BBOX = (-122.5, 37.5, -122.0, 38.0)
"""San Francisco Bay area search box of the build_from_stac examples."""
JAN_MAR = ("2024-01-01", "2024-03-31")
"""Date range of the build_from_stac examples."""

# --- sentinel-2-l2a (synthetic, Earth Search keys)
S2_SF_COUNT = 12
"""sentinel-2-l2a items (EPSG:32610, tile 10SEG) inside SF_BBOX, Jan..Jun 2024."""
SF_JAN_MAR_COUNT = 6
"""sentinel-2-l2a items in SF_BBOX within JAN_MAR."""
SF_JAN_MAR_LOW_CLOUD_COUNT = 3
"""... of which ``eo:cloud_cover < 10`` (the spec's ``query`` example)."""
S2_SF_LOW_CLOUD_COUNT = 6
"""sentinel-2-l2a items in SF_BBOX with ``eo:cloud_cover < 10`` (all dates)."""
S2_EAST_COUNT = 3
"""sentinel-2-l2a items in EPSG:32611 near (-117.5, 37.4), outside SF_BBOX."""
S2_TOTAL_COUNT = S2_SF_COUNT + S2_EAST_COUNT
"""All sentinel-2-l2a items."""
PC_S2_STATIC_COUNT = S2_TOTAL_COUNT
"""Items in the PC-style static catalog (same scenes, PC asset keys)."""

# --- other synthetic collections
LANDSAT_SF_COUNT = 8
"""landsat-c2l2-sr items (EPSG:32610) inside SF_BBOX, Jan..May 2024."""
LANDSAT_SF_JAN_MAR_COUNT = 6
"""landsat-c2l2-sr items in SF_BBOX within JAN_MAR."""
NAIP_SAMPLE_COUNT = 2
"""naip-sample items (EPSG:26910), both inside SF_BBOX, May 2024."""
DEM_COUNT = 2
"""cop-dem-glo-30 tiles (N37 W123 and N36 W123)."""
DEM_SF_COUNT = 1
"""cop-dem-glo-30 tiles intersecting SF_BBOX."""

# --- Planetary Computer items
PC_LANDSAT_COUNT = 716
"""landsat-8-c2-l2 items from the Planetary Computer file."""
PC_NAIP_COUNT = 437
"""naip items from the Planetary Computer file."""

_S2_SIZE_10M = 1098
"""Synthetic Sentinel-2 10 m bands are 1/10 of the real 10980 px (exact 10/20/60 m ratios)."""
_LANDSAT_SIZE = 512
_PC_SCALE = 32
"""Planetary Computer grids shrink by this factor (pixel size grows by it)."""
_COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_MARKER = ".rasteret-sandbox-version"
_EXT = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
}


# =========================================================================== plans


@dataclass(frozen=True, kw_only=True)
class _Scene:
    """One synthetic acquisition: where, when, how cloudy."""

    date: str
    cloud: float
    epsg: int
    origin: tuple[float, float]
    tile: str
    platform: str
    seed: int


_SF_DATES = (
    ("2024-01-05", 3.2), ("2024-01-20", 45.1), ("2024-02-04", 8.7), ("2024-02-19", 62.0),
    ("2024-03-05", 0.5), ("2024-03-20", 27.3), ("2024-04-04", 12.9), ("2024-04-19", 5.4),
    ("2024-05-04", 88.0), ("2024-05-19", 9.9), ("2024-06-03", 33.3), ("2024-06-18", 1.1),
)  # fmt: skip
_EAST_DATES = (("2024-01-10", 2.0), ("2024-02-15", 50.0), ("2024-04-12", 7.5))
_LANDSAT_DATES = (
    ("2024-01-08", 1.5), ("2024-01-24", 35.0), ("2024-02-09", 6.1), ("2024-02-25", 71.2),
    ("2024-03-12", 0.2), ("2024-03-28", 22.8), ("2024-04-13", 4.4), ("2024-05-15", 15.0),
)  # fmt: skip

_S2_SCENES = tuple(
    _Scene(date=d, cloud=c, epsg=32610, origin=(560_000.0, 4_184_000.0), tile="10SEG",
           platform=("sentinel-2a", "sentinel-2b")[i % 2], seed=100 + i)
    for i, (d, c) in enumerate(_SF_DATES)
) + tuple(
    _Scene(date=d, cloud=c, epsg=32611, origin=(450_000.0, 4_156_000.0), tile="11SLB",
           platform=("sentinel-2b", "sentinel-2a")[i % 2], seed=200 + i)
    for i, (d, c) in enumerate(_EAST_DATES)
)  # fmt: skip
_LANDSAT_SCENES = tuple(
    _Scene(date=d, cloud=c, epsg=32610, origin=(552_000.0, 4_192_000.0), tile="044034",
           platform=("landsat-8", "landsat-9")[i % 2], seed=300 + i)
    for i, (d, c) in enumerate(_LANDSAT_DATES)
)  # fmt: skip

# Earth Search asset key -> (band file, common name, centre wavelength um, FWHM um)
_S2_ASSETS: dict[str, tuple[str, str, float, float]] = {
    "coastal": ("B01", "coastal", 0.443, 0.027),
    "blue": ("B02", "blue", 0.490, 0.098),
    "green": ("B03", "green", 0.560, 0.045),
    "red": ("B04", "red", 0.665, 0.038),
    "rededge1": ("B05", "rededge", 0.704, 0.019),
    "rededge2": ("B06", "rededge", 0.740, 0.018),
    "rededge3": ("B07", "rededge", 0.783, 0.028),
    "nir": ("B08", "nir", 0.842, 0.145),
    "nir08": ("B8A", "nir08", 0.865, 0.033),
    "nir09": ("B09", "nir09", 0.945, 0.026),
    "swir16": ("B11", "swir16", 1.610, 0.143),
    "swir22": ("B12", "swir22", 2.190, 0.242),
}
_S2_RES = {"B01": 60, "B09": 60, "B02": 10, "B03": 10, "B04": 10, "B08": 10, "SCL": 20}
_LANDSAT_ASSETS: dict[str, tuple[str, str, float]] = {
    "coastal": ("SR_B1", "coastal", 0.44),
    "blue": ("SR_B2", "blue", 0.48),
    "green": ("SR_B3", "green", 0.56),
    "red": ("SR_B4", "red", 0.65),
    "nir08": ("SR_B5", "nir08", 0.86),
    "swir16": ("SR_B6", "swir16", 1.6),
    "swir22": ("SR_B7", "swir22", 2.2),
}
_NAIP_SCENES = (
    ("ca_m_3712213_ne_10_060_20240520", (565_000.0, 4_180_000.0), "2024-05-20"),
    ("ca_m_3712213_nw_10_060_20240520", (565_614.4, 4_180_000.0), "2024-05-20"),
)
_DEM_TILES = ((-123, 37), (-123, 36))

# Landsat C2 L2 asset key -> (dtype, nodata) for PC items, which carry no raster:bands.
_PC_LANDSAT_DTYPES: dict[str, tuple[str, float | None]] = {
    **{f"SR_B{i}": ("uint16", 0) for i in range(1, 8)},
    "ST_B10": ("uint16", 0),
    "QA_PIXEL": ("uint16", 1),
    "QA_RADSAT": ("uint16", None),
    "SR_QA_AEROSOL": ("uint8", 1),
    **dict.fromkeys(
        ("ST_ATRAN", "ST_CDIST", "ST_DRAD", "ST_EMIS", "ST_EMSD", "ST_QA", "ST_TRAD", "ST_URAD"),
        ("int16", -9999),
    ),
}  # fmt: skip


# =========================================================================== result


@dataclass(frozen=True, kw_only=True)
class SampleCatalog:
    """What :func:`build_sample_catalog` wrote, with the item dicts ready to load."""

    root: Path
    """Folder served over HTTP; hrefs are relative to it."""
    data_dir: Path
    """``root/data``: the COGs (possibly a symlink to a shared cache)."""
    base_url: str | None
    """URL prefix of hrefs, or None for absolute local paths."""
    collections: dict[str, dict[str, Any]]
    """STAC API collections by id (synthetic and Planetary Computer)."""
    items: dict[str, list[dict[str, Any]]]
    """STAC API items per collection id, in a stable order."""
    static_catalog: Path
    """``catalog.json`` of the PC-style Sentinel-2 static catalog."""
    static_items: list[dict[str, Any]]
    """Items of the static catalog (collection ``sentinel-2-l2a``, PC asset keys)."""
    collections_file: Path
    """JSON list of :attr:`collections`, for ``pypgstac load collections``."""
    items_file: Path
    """NDJSON of all :attr:`items`, for ``pypgstac load items``."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per build step (generation is ~0 when cached)."""

    def href(self, relpath: str) -> str:
        """The href of ``root/relpath`` as items use it."""
        return _href(self.root, self.base_url, relpath)

    @property
    def static_catalog_url(self) -> str | None:
        """URL of the static catalog over HTTP, when a base URL was given."""
        if self.base_url is None:
            return None
        return self.href(self.static_catalog.relative_to(self.root).as_posix())

    def all_items(self) -> Iterator[dict[str, Any]]:
        """Every API item, collection after collection."""
        for items in self.items.values():
            yield from items


def _href(root: Path, base_url: str | None, relpath: str) -> str:
    """Join a root-relative path to the base URL, or make it an absolute path."""
    if base_url is None:
        return str((root / relpath).absolute())
    return f"{base_url.rstrip('/')}/{relpath}"


# =========================================================================== entry point


def build_sample_catalog(
    root: Path,
    base_url: str | None = None,
    *,
    data_cache: Path | None = None,
    workers: int = 2,
    include_pc: bool = True,
) -> SampleCatalog:
    """Write the sample COGs and STAC JSON under ``root`` and return the item dicts.

    COG generation (~25 s on two shared cores; ~1,800 files, ~390 MB) is skipped when
    ``root/data`` already holds this :data:`CONTENT_VERSION`; the JSON (which depends on
    ``base_url``) is rewritten on every call and takes about a second.

    Args:
        root: Output folder (created). Serve it over HTTP at ``base_url``.
        base_url: URL at which ``root`` is served, or None for local-path hrefs.
        data_cache: Optional folder shared between runs: the COGs are generated there once
            per content version (under a file lock, atomically) and ``root/data`` becomes
            a symlink to them. Every test session then skips generation.
        workers: Threads writing COGs (GDAL releases the GIL while encoding).
        include_pc: Also load the real Planetary Computer items (from the project's
            shared data, see :func:`pc_items_path`); the demo leaves them out.

    Returns:
        The :class:`SampleCatalog`.
    """
    t0 = time.perf_counter()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    pc_raw = _read_pc_items() if include_pc else []
    pc_plan = _plan_pc(pc_raw)
    timings: dict[str, float] = {"read_pc": time.perf_counter() - t0}

    t1 = time.perf_counter()
    if data_cache is None:
        _ensure_data(data, pc_plan, workers=workers)
    else:
        target = Path(data_cache) / f"v{CONTENT_VERSION}{'' if include_pc else '-synthetic'}"
        _ensure_shared_data(target, pc_plan, workers=workers)
        if data.is_symlink() and data.resolve() != target.resolve():
            data.unlink()
        if not data.exists():
            data.symlink_to(target.resolve(), target_is_directory=True)
    timings["generate"] = time.perf_counter() - t1

    t2 = time.perf_counter()

    def href(rel: str) -> str:
        return _href(root, base_url, f"data/{rel}")

    items = {
        "sentinel-2-l2a": [_s2_item(s, href) for s in _S2_SCENES],
        "landsat-c2l2-sr": [_landsat_item(s, href) for s in _LANDSAT_SCENES],
        "naip-sample": [_naip_item(n, o, d, href) for n, o, d in _NAIP_SCENES],
        "cop-dem-glo-30": [_dem_item(lon, lat, href) for lon, lat in _DEM_TILES],
        **_pc_items(pc_raw, pc_plan, href),
    }
    collections = {cid: _collection(cid, its) for cid, its in items.items()}
    stac_dir = root / "stac"
    api_dir = stac_dir / "api"
    api_dir.mkdir(parents=True, exist_ok=True)
    collections_file = api_dir / "collections.json"
    _atomic_write(collections_file, json.dumps(list(collections.values())))
    items_file = api_dir / "items.ndjson"
    _atomic_write(items_file, "".join(json.dumps(i) + "\n" for its in items.values() for i in its))
    static_items = [_pc_s2_item(s, href) for s in _S2_SCENES]
    static_catalog = _write_static_catalog(stac_dir / "pc-sentinel-2-l2a", static_items)
    timings["json"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    logger.info("sample catalog at %s: %s", root, {k: round(v, 2) for k, v in timings.items()})
    return SampleCatalog(
        root=root,
        data_dir=data,
        base_url=base_url,
        collections=collections,
        items=items,
        static_catalog=static_catalog,
        static_items=static_items,
        collections_file=collections_file,
        items_file=items_file,
        timings=timings,
    )


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a concurrent reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# =========================================================================== generation


def _ensure_data(data: Path, pc_plan: _PcPlan, *, workers: int) -> None:
    """Generate the COGs into ``data`` unless its marker says this version is there."""
    marker = data / _MARKER
    if marker.is_file() and marker.read_text() == CONTENT_VERSION:
        return
    if data.is_symlink():
        data.unlink()
    data.mkdir(parents=True, exist_ok=True)
    _generate(data, pc_plan, workers=workers)
    marker.write_text(CONTENT_VERSION)


def _ensure_shared_data(target: Path, pc_plan: _PcPlan, *, workers: int) -> None:
    """Generate into a shared cache once: lock, build in a temp sibling, rename in place."""
    marker = target / _MARKER
    if marker.is_file() and marker.read_text() == CONTENT_VERSION:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be generating it right now
        if marker.is_file() and marker.read_text() == CONTENT_VERSION:
            return
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            _generate(staging, pc_plan, workers=workers)
            (staging / _MARKER).write_text(CONTENT_VERSION)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _generate(data: Path, pc_plan: _PcPlan, *, workers: int) -> None:
    """Write every COG and small file of the sample set under ``data``."""
    jobs: list[Callable[[], object]] = []
    for s in _S2_SCENES:
        jobs.append(lambda s=s: _write_s2(data, s))  # type: ignore[misc]
    for s in _LANDSAT_SCENES:
        jobs.append(
            lambda s=s: write_landsat_scene(  # type: ignore[misc]
                data / "landsat-c2l2-sr",
                scene_id=_landsat_id(s),
                epsg=s.epsg,
                origin_xy=s.origin,
                size=_LANDSAT_SIZE,
                seed=s.seed,
            )
        )
    for i, (name, origin, _date) in enumerate(_NAIP_SCENES):
        jobs.append(
            lambda name=name, origin=origin, i=i: write_naip_scene(  # type: ignore[misc]
                data / "naip-sample", scene_id=name, epsg=26910, origin_xy=origin, seed=400 + i
            )
        )
    for i, (lon, lat) in enumerate(_DEM_TILES):
        jobs.append(
            lambda lon=lon, lat=lat, i=i: write_dem_tile(  # type: ignore[misc]
                data / "cop-dem-glo-30", tile_id=_dem_id(lon, lat), lon=lon, lat=lat, seed=500 + i
            )
        )
    for spec in pc_plan.cogs.values():
        jobs.append(lambda spec=spec: _write_pc_cog(data, spec))  # type: ignore[misc]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    for link, target in pc_plan.links.items():
        path = data / link
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        path.symlink_to(os.path.relpath(data / target, path.parent))


def _write_s2(data: Path, s: _Scene) -> None:
    """One Sentinel-2 scene: bands, a true-colour ``visual``, a thumbnail, metadata XML."""
    scene_dir = data / "sentinel-2-l2a"
    sid = _s2_id(s)
    paths = write_sentinel2_scene(
        scene_dir, scene_id=sid, epsg=s.epsg, origin_xy=s.origin, size_10m=_S2_SIZE_10M,
        seed=s.seed,
    )  # fmt: skip
    field_, outside = synthetic_field(width=_S2_SIZE_10M, height=_S2_SIZE_10M, seed=s.seed)
    rgb = np.stack([np.rint(20 + g * field_) for g in (200.0, 180.0, 160.0)]).astype(np.uint8)
    rgb[:, outside] = 0
    (_, _), transform = grid(origin_xy=s.origin, extent=_S2_SIZE_10M * 10.0, resolution=10.0)
    write_cog(
        scene_dir / sid / "TCI.tif", width=_S2_SIZE_10M, height=_S2_SIZE_10M, dtype="uint8",
        count=3, crs=f"EPSG:{s.epsg}", transform=transform, predictor=2, nodata=0, data=rgb,
    )  # fmt: skip
    _write_jpeg(scene_dir / sid / "thumbnail.jpg", rgb[:, ::16, ::16])
    (scene_dir / sid / "granule_metadata.xml").write_text(
        f'<?xml version="1.0"?>\n<granule id="{sid}" tile="{s.tile}" date="{s.date}"/>\n'
    )
    assert "B02" in paths


def _write_jpeg(path: Path, rgb: np.ndarray[Any, Any]) -> None:
    """Write a small real JPEG (a non-COG asset that readers must skip)."""
    count, height, width = rgb.shape
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # thumbnails have no CRS
        with mem.open(
            driver="GTiff", width=width, height=height, count=count, dtype="uint8"
        ) as tmp:
            tmp.write(rgb)
        with mem.open() as src:
            rasterio.shutil.copy(src, str(path), driver="JPEG")


# =========================================================================== synthetic items


def _s2_id(s: _Scene) -> str:
    """Earth Search style id, e.g. ``S2B_10SEG_20240105_0_L2A``."""
    sat = "S2A" if s.platform.endswith("a") else "S2B"
    return f"{sat}_{s.tile}_{s.date.replace('-', '')}_0_L2A"


def _landsat_id(s: _Scene) -> str:
    """USGS style id, e.g. ``LC09_L2SP_044034_20240108_02_T1``."""
    sat = "LC08" if s.platform == "landsat-8" else "LC09"
    return f"{sat}_L2SP_{s.tile}_{s.date.replace('-', '')}_02_T1"


def _dem_id(lon: int, lat: int) -> str:
    """Copernicus DEM tile id for the 1x1 degree cell with this south-west corner."""
    ns = f"N{lat:02d}" if lat >= 0 else f"S{-lat:02d}"
    ew = f"E{lon:03d}" if lon >= 0 else f"W{-lon:03d}"
    return f"Copernicus_DSM_COG_10_{ns}_00_{ew}_00_DEM"


def _footprint(
    epsg: int, transform: tuple[float, ...], shape: tuple[int, int]
) -> tuple[dict[str, Any], list[float]]:
    """GeoJSON polygon and bbox (lon/lat) of a north-up grid, corners reprojected."""
    a, _, c, _, e, f = transform[:6]
    height, width = shape
    xs = [c, c + a * width, c + a * width, c]
    ys = [f, f, f + e * height, f + e * height]
    if epsg == 4326:
        lons, lats = xs, ys
    else:
        to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
        lons, lats = (list(v) for v in to_wgs84.transform(xs, ys))
    ring = [[round(x, 7), round(y, 7)] for x, y in zip(lons, lats, strict=True)]
    ring.append(ring[0])
    bbox = [round(min(lons), 7), round(min(lats), 7), round(max(lons), 7), round(max(lats), 7)]
    return {"type": "Polygon", "coordinates": [ring]}, bbox


def _proj(epsg: int, shape: tuple[int, int], transform: tuple[float, ...]) -> dict[str, Any]:
    """Projection-extension fields (both ``proj:epsg`` and its successor ``proj:code``)."""
    return {
        "proj:epsg": epsg,
        "proj:code": f"EPSG:{epsg}",
        "proj:shape": list(shape),
        "proj:transform": list(transform),
    }


def _item(
    *,
    item_id: str,
    collection: str,
    geometry: dict[str, Any],
    bbox: list[float],
    properties: dict[str, Any],
    assets: dict[str, Any],
) -> dict[str, Any]:
    """A STAC 1.0 item dict."""
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": list(_EXT.values()),
        "id": item_id,
        "collection": collection,
        "geometry": geometry,
        "bbox": bbox,
        "properties": properties,
        "links": [],
        "assets": assets,
    }


def _s2_item(s: _Scene, href: Callable[[str], str]) -> dict[str, Any]:
    """An Earth-Search-like sentinel-2-l2a item."""
    sid = _s2_id(s)
    base = f"sentinel-2-l2a/{sid}"
    extent = _S2_SIZE_10M * 10.0
    shape10, transform10 = grid(origin_xy=s.origin, extent=extent, resolution=10.0)
    geometry, bbox = _footprint(s.epsg, transform10, shape10)
    assets: dict[str, Any] = {}
    for key, (band, common, wl, fwhm) in _S2_ASSETS.items():
        res = _S2_RES.get(band, 20)
        shape, transform = grid(origin_xy=s.origin, extent=extent, resolution=res)
        assets[key] = {
            "href": href(f"{base}/{band}.tif"),
            "type": _COG_TYPE,
            "title": f"{common} ({band}) - {res}m",
            "roles": ["data", "reflectance"],
            "gsd": res,
            "proj:shape": list(shape),
            "proj:transform": list(transform),
            "eo:bands": [
                {"name": key, "common_name": common, "center_wavelength": wl,
                 "full_width_half_max": fwhm}
            ],
            "raster:bands": [
                {"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                 "spatial_resolution": res, "scale": 0.0001, "offset": -0.1}
            ],
        }  # fmt: skip
    shape20, transform20 = grid(origin_xy=s.origin, extent=extent, resolution=20.0)
    assets["scl"] = {
        "href": href(f"{base}/SCL.tif"),
        "type": _COG_TYPE,
        "title": "Scene classification map (SCL)",
        "roles": ["data"],
        "gsd": 20,
        "proj:shape": list(shape20),
        "proj:transform": list(transform20),
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
    }
    assets["visual"] = {
        "href": href(f"{base}/TCI.tif"),
        "type": _COG_TYPE,
        "title": "True color image",
        "roles": ["visual"],
        "proj:shape": list(shape10),
        "proj:transform": list(transform10),
        "raster:bands": [{"nodata": 0, "data_type": "uint8"}] * 3,
    }
    assets["thumbnail"] = {
        "href": href(f"{base}/thumbnail.jpg"),
        "type": "image/jpeg",
        "title": "Thumbnail image",
        "roles": ["thumbnail"],
    }
    assets["granule_metadata"] = {
        "href": href(f"{base}/granule_metadata.xml"),
        "type": "application/xml",
        "roles": ["metadata"],
    }
    properties = {
        "datetime": f"{s.date}T18:55:21.024000Z",
        "created": "2024-07-01T00:00:00.000000Z",
        "platform": s.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": s.cloud,
        "s2:mgrs_tile": s.tile,
        "mgrs:utm_zone": int(s.tile[:2]),
        "mgrs:latitude_band": s.tile[2],
        "mgrs:grid_square": s.tile[3:],
        "grid:code": f"MGRS-{s.tile}",
        "processing:software": {"rasteret-sandbox": CONTENT_VERSION},
        **_proj(s.epsg, shape10, transform10),
    }
    return _item(
        item_id=sid, collection="sentinel-2-l2a", geometry=geometry, bbox=bbox,
        properties=properties, assets=assets,
    )  # fmt: skip


def _landsat_item(s: _Scene, href: Callable[[str], str]) -> dict[str, Any]:
    """A USGS-like landsat-c2l2-sr item."""
    sid = _landsat_id(s)
    shape, transform = grid(origin_xy=s.origin, extent=_LANDSAT_SIZE * 30.0, resolution=30.0)
    geometry, bbox = _footprint(s.epsg, transform, shape)
    common_proj = {"proj:shape": list(shape), "proj:transform": list(transform)}
    assets: dict[str, Any] = {}
    for key, (band, common, wl) in _LANDSAT_ASSETS.items():
        assets[key] = {
            "href": href(f"landsat-c2l2-sr/{sid}/{sid}_{band}.TIF"),
            "type": _COG_TYPE,
            "title": f"{common} ({band})",
            "roles": ["data", "reflectance"],
            "gsd": 30,
            **common_proj,
            "eo:bands": [{"name": band, "common_name": common, "center_wavelength": wl}],
            "raster:bands": [
                {"nodata": 0, "data_type": "uint16", "spatial_resolution": 30,
                 "scale": 2.75e-05, "offset": -0.2}
            ],
        }  # fmt: skip
    assets["qa_pixel"] = {
        "href": href(f"landsat-c2l2-sr/{sid}/{sid}_QA_PIXEL.TIF"),
        "type": _COG_TYPE,
        "title": "Pixel Quality Assessment Band (QA_PIXEL)",
        "roles": ["cloud", "cloud-shadow", "snow-ice", "water-mask"],
        **common_proj,
        "raster:bands": [
            {"nodata": 1, "data_type": "uint16", "spatial_resolution": 30, "unit": "bit index"}
        ],
    }
    properties = {
        "datetime": f"{s.date}T18:42:11.533000Z",
        "platform": s.platform,
        "instruments": ["oli", "tirs"],
        "eo:cloud_cover": s.cloud,
        "landsat:wrs_path": s.tile[:3],
        "landsat:wrs_row": s.tile[3:],
        "landsat:collection_category": "T1",
        "landsat:correction": "L2SP",
        **_proj(s.epsg, shape, transform),
    }
    return _item(
        item_id=sid, collection="landsat-c2l2-sr", geometry=geometry, bbox=bbox,
        properties=properties, assets=assets,
    )  # fmt: skip


def _naip_item(
    name: str, origin: tuple[float, float], date: str, href: Callable[[str], str]
) -> dict[str, Any]:
    """A NAIP-like item with one 4-band ``image`` asset."""
    shape = (1280, 1024)
    transform = (0.6, 0.0, origin[0], 0.0, -0.6, origin[1])
    geometry, bbox = _footprint(26910, transform, shape)
    eo_bands = [{"name": n, "common_name": n.lower()} for n in ("Red", "Green", "Blue")] + [
        {"name": "NIR", "common_name": "nir", "description": "near-infrared"}
    ]
    assets = {
        "image": {
            "href": href(f"naip-sample/{name}.tif"),
            "type": _COG_TYPE,
            "title": "RGBIR COG tile",
            "roles": ["data"],
            "eo:bands": eo_bands,
            "raster:bands": [{"data_type": "uint8", "spatial_resolution": 0.6}] * 4,
        }
    }
    properties = {
        "datetime": f"{date}T16:00:00Z",
        "gsd": 0.6,
        "naip:state": "ca",
        "naip:year": date[:4],
        **_proj(26910, shape, transform),
    }
    return _item(
        item_id=name, collection="naip-sample", geometry=geometry, bbox=bbox,
        properties=properties, assets=assets,
    )  # fmt: skip


def _dem_item(lon: int, lat: int, href: Callable[[str], str]) -> dict[str, Any]:
    """A Copernicus-DEM-like item with one float32 ``data`` asset."""
    tid = _dem_id(lon, lat)
    size = 600
    transform = (1.0 / size, 0.0, float(lon), 0.0, -1.0 / size, float(lat + 1))
    geometry, bbox = _footprint(4326, transform, (size, size))
    assets = {
        "data": {
            "href": href(f"cop-dem-glo-30/{tid}.tif"),
            "type": _COG_TYPE,
            "title": tid,
            "roles": ["data"],
            "raster:bands": [
                {"nodata": -32767, "data_type": "float32", "spatial_resolution": 30, "unit": "m"}
            ],
        }
    }
    properties = {
        "datetime": "2021-04-22T00:00:00Z",
        "gsd": 30,
        "platform": "TanDEM-X",
        **_proj(4326, (size, size), transform),
    }
    return _item(
        item_id=tid, collection="cop-dem-glo-30", geometry=geometry, bbox=bbox,
        properties=properties, assets=assets,
    )  # fmt: skip


def _pc_s2_item(s: _Scene, href: Callable[[str], str]) -> dict[str, Any]:
    """A Planetary-Computer-like Sentinel-2 item (keys B01..B12, B8A, SCL, visual).

    It points at the same pixels as the Earth Search item through distinct symlinked
    paths, so request counts per URL stay meaningful when both are used.
    """
    e84 = _s2_item(s, href)
    sat = "S2A" if s.platform.endswith("a") else "S2B"
    day = s.date.replace("-", "")
    pid = f"{sat}_MSIL2A_{day}T185521_R070_T{s.tile}_{day}T230000"
    base = f"pc-sentinel-2-l2a/{pid}"
    assets: dict[str, Any] = {}
    for key, asset in e84["assets"].items():
        if key in ("thumbnail", "granule_metadata"):
            continue
        band = {"scl": "SCL", "visual": "visual"}.get(key) or _S2_ASSETS[key][0]
        new = {k: v for k, v in asset.items() if k != "raster:bands"}
        new["href"] = href(f"{base}/{band}.tif")
        if "eo:bands" in new:
            new["eo:bands"] = [{**new["eo:bands"][0], "name": band}]
        assets[band] = new
    properties = {
        "datetime": e84["properties"]["datetime"],
        "platform": "Sentinel-2A" if sat == "S2A" else "Sentinel-2B",
        "constellation": "Sentinel 2",
        "instruments": ["msi"],
        "eo:cloud_cover": s.cloud,
        "s2:mgrs_tile": s.tile,
        "proj:epsg": s.epsg,
    }
    item = _item(
        item_id=pid, collection="sentinel-2-l2a", geometry=e84["geometry"], bbox=e84["bbox"],
        properties=properties, assets=assets,
    )  # fmt: skip
    item["stac_extensions"] = [_EXT["eo"], _EXT["proj"]]
    return item


def _pc_s2_links(s: _Scene) -> dict[str, str]:
    """Symlinks (data-relative) that give the PC-style items their own file paths."""
    e84 = f"sentinel-2-l2a/{_s2_id(s)}"
    pc = _pc_s2_item(s, lambda rel: rel)
    links = {}
    for band, asset in pc["assets"].items():
        target = "TCI.tif" if band == "visual" else f"{band}.tif"
        links[asset["href"]] = f"{e84}/{target}"
    return links


# =========================================================================== collections


def _collection(cid: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A STAC collection whose extent covers ``items``; ``item_assets`` from the first."""
    west = min(i["bbox"][0] for i in items)
    south = min(i["bbox"][1] for i in items)
    east = max(i["bbox"][2] for i in items)
    north = max(i["bbox"][3] for i in items)
    times = sorted(i["properties"]["datetime"] for i in items)
    item_assets = {
        k: {f: v for f, v in a.items() if f not in ("href", "proj:shape", "proj:transform")}
        for k, a in items[0]["assets"].items()
    }
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": cid,
        "title": cid,
        "description": f"rasteret sandbox sample of {cid} (local files, offline).",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[west, south, east, north]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "item_assets": item_assets,
        "links": [],
    }


# =========================================================================== static catalog


def _write_static_catalog(folder: Path, items: list[dict[str, Any]]) -> Path:
    """Write ``catalog.json -> sentinel-2-l2a/collection.json -> items/*.json``, relative links.

    Relative links make the same tree readable from disk and over HTTP.
    """
    coll_dir = folder / "sentinel-2-l2a"
    items_dir = coll_dir / "items"
    items_dir.mkdir(parents=True, exist_ok=True)
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "pc-sample",
        "description": "Planetary-Computer-style static Sentinel-2 L2A catalog (offline).",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {"rel": "child", "href": "./sentinel-2-l2a/collection.json",
             "type": "application/json"},
        ],
    }  # fmt: skip
    collection = _collection("sentinel-2-l2a", items)
    collection["links"] = [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
    ] + [
        {"rel": "item", "href": f"./items/{i['id']}.json", "type": "application/geo+json"}
        for i in items
    ]
    for item in items:
        doc = dict(item)
        doc["links"] = [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        ]
        _atomic_write(items_dir / f"{item['id']}.json", json.dumps(doc, indent=1))
    _atomic_write(coll_dir / "collection.json", json.dumps(collection, indent=1))
    _atomic_write(folder / "catalog.json", json.dumps(catalog, indent=1))
    return folder / "catalog.json"


# =========================================================================== Planetary Computer


@dataclass(frozen=True, kw_only=True)
class _PcCog:
    """One distinct local COG standing in for many PC assets with the same grid."""

    relpath: str
    epsg: int
    shape: tuple[int, int]
    transform: tuple[float, ...]
    dtype: str
    count: int
    nodata: float | None
    seed: int


@dataclass(frozen=True, kw_only=True)
class _PcPlan:
    """Which COGs to write and which per-asset symlinks point at them."""

    cogs: dict[tuple[Any, ...], _PcCog]
    links: dict[str, str]
    """Asset path -> COG path, both relative to the data dir."""
    assets: dict[tuple[str, str], tuple[str, _PcCog | None]]
    """(item id, asset key) -> (asset path, its COG or None for a missing non-COG file)."""


def _read_pc_items() -> list[dict[str, Any]]:
    """Load the Planetary Computer items (fail loudly if the shared data is missing)."""
    path = pc_items_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the Planetary Computer sample items are not at {path}; set RASTERET_PC_ITEMS "
            "or pass include_pc=False"
        )
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _file_epsg(epsg: int) -> int:
    """EPSG code to write into the file for an item's ``proj:epsg``.

    Some PC Landsat items in UTM zones 1-9 say ``3271`` where they mean ``32701`` (the
    zone number lost its leading zero). The item keeps the bad value, as served; the
    file gets the real CRS, which is what a reader should trust.
    """
    if 3261 <= epsg <= 3269:
        return 32600 + epsg - 3260
    if 3271 <= epsg <= 3279:
        return 32700 + epsg - 3270
    return epsg


def _pc_grid(
    asset: dict[str, Any], props: dict[str, Any]
) -> tuple[tuple[int, int], tuple[float, ...]] | None:
    """Scaled-down (shape, 6-term transform) of an asset, or None if it has no grid."""
    shape = asset.get("proj:shape") or props.get("proj:shape")
    transform = asset.get("proj:transform") or props.get("proj:transform")
    if not shape or not transform:
        return None
    a, b, c, d, e, f = (float(v) for v in transform[:6])
    scaled = (a * _PC_SCALE, b, c, d, e * _PC_SCALE, f)
    return (math.ceil(shape[0] / _PC_SCALE), math.ceil(shape[1] / _PC_SCALE)), scaled


def _pc_band_type(coll: str, key: str, asset: dict[str, Any]) -> tuple[str, int, float | None]:
    """(dtype, band count, nodata) from ``raster:bands`` or the product's known layout."""
    bands = asset.get("raster:bands") or []
    if bands:
        return bands[0].get("data_type", "uint16"), len(bands), bands[0].get("nodata")
    if coll == "naip":
        return "uint8", len(asset.get("eo:bands") or []) or 4, None
    dtype, nodata = _PC_LANDSAT_DTYPES.get(key, ("uint16", 0))
    return dtype, 1, nodata


def _plan_pc(raw: list[dict[str, Any]]) -> _PcPlan:
    """Map each PC COG asset to one shared COG per distinct grid/dtype/band count."""
    cogs: dict[tuple[Any, ...], _PcCog] = {}
    links: dict[str, str] = {}
    assets: dict[tuple[str, str], tuple[str, _PcCog | None]] = {}
    for item in raw:
        coll = item["collection"]
        props = item["properties"]
        for key, asset in item["assets"].items():
            name = PurePosixPath(urlparse(asset["href"]).path).name or key
            path = f"pc/{coll}/{item['id']}/{name}"
            grid_ = _pc_grid(asset, props)
            if "image/tiff" not in (asset.get("type") or "") or grid_ is None:
                assets[(item["id"], key)] = (path, None)
                continue
            if not path.lower().endswith((".tif", ".tiff")):
                path += ".tif"
            dtype, count, nodata = _pc_band_type(coll, key, asset)
            epsg = _file_epsg(int(props["proj:epsg"]))
            shape, transform = grid_
            cog_key = (epsg, shape, transform, dtype, count, nodata)
            cog = cogs.get(cog_key)
            if cog is None:
                digest = zlib.crc32(repr(cog_key).encode())
                cog = _PcCog(
                    relpath=f"pc/cogs/{coll}/{epsg}_{shape[0]}x{shape[1]}_{dtype}x{count}_"
                    f"{digest:08x}.tif",
                    epsg=epsg, shape=shape, transform=transform, dtype=dtype, count=count,
                    nodata=nodata, seed=digest,
                )  # fmt: skip
                cogs[cog_key] = cog
            links[path] = cog.relpath
            assets[(item["id"], key)] = (path, cog)
    for s in _S2_SCENES:  # the PC-style static Sentinel-2 items symlink to the synthetic files
        links.update(_pc_s2_links(s))
    return _PcPlan(cogs=cogs, links=links, assets=assets)


def _write_pc_cog(data: Path, cog: _PcCog) -> None:
    """Write one shared PC stand-in COG (values in a plausible range for its dtype)."""
    height, width = cog.shape
    field_, outside = synthetic_field(
        width=width, height=height, seed=cog.seed, wedge=cog.nodata is not None, noise=0.0005
    )
    info_lo, info_hi = {"uint8": (1, 255), "int16": (-2000, 8000)}.get(cog.dtype, (7000, 30000))
    values = np.rint(info_lo + (info_hi - info_lo) * field_)
    stack = np.repeat(values[None, ...], cog.count, axis=0).astype(cog.dtype)
    if cog.nodata is not None:
        stack[:, outside] = cog.nodata
    path = data / cog.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    write_cog(
        path,
        width=width,
        height=height,
        dtype=cog.dtype,
        count=cog.count,
        crs=f"EPSG:{cog.epsg}",
        transform=cog.transform,
        blocksize=512 if cog.count > 1 else 256,
        predictor=2,
        nodata=cog.nodata,
        data=stack,
    )


def _pc_items(
    raw: list[dict[str, Any]], plan: _PcPlan, href: Callable[[str], str]
) -> dict[str, list[dict[str, Any]]]:
    """The PC items with local hrefs and ``proj:shape``/``proj:transform`` scaled to match.

    Properties and geometry are kept as served (including odd ``proj:epsg`` values);
    remote ``links`` are dropped so nothing points at the internet.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for item in raw:
        new = json.loads(json.dumps(item))
        new["links"] = []
        props = new["properties"]
        for key, asset in new["assets"].items():
            path, cog = plan.assets[(item["id"], key)]
            asset["href"] = href(path)
            if cog is None:
                continue
            target = asset if "proj:shape" in asset else props
            target["proj:shape"] = list(cog.shape)
            transform = list(cog.transform)
            if len(target.get("proj:transform", [])) == 9:
                transform += [0.0, 0.0, 1.0]
            target["proj:transform"] = transform
        out.setdefault(item["collection"], []).append(new)
    return out
