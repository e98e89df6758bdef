"""Synthetic collections laid out like their public counterparts, and the files they point to.

``sentinel-2-l2a`` (Earth Search keys), ``landsat-c2l2-sr`` (USGS keys), ``naip-sample`` and
``cop-dem-glo-30``: the scenes (where, when, how cloudy), their ids, their STAC item dicts
(asset keys, ``proj:*``, ``raster:bands``, ``eo:bands``), the Planetary-Computer-style
Sentinel-2 items of the static catalog, and the Sentinel-2 extras written beside the bands
(true-colour ``visual``, a JPEG thumbnail, granule metadata XML).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from rasteret_sandbox.catalog._stac import _COG_TYPE, _EXT, _footprint, _item, _proj
from rasteret_sandbox.catalog.constants import CONTENT_VERSION
from rasteret_sandbox.cogs import write_cog
from rasteret_sandbox.scenes import (
    grid,
    synthetic_field,
    write_sentinel2_scene,
)

_S2_SIZE_10M = 1098
"""Synthetic Sentinel-2 10 m bands are 1/10 of the real 10980 px (exact 10/20/60 m ratios)."""
_LANDSAT_SIZE = 512

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


# =========================================================================== files


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
