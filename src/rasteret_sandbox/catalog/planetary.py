"""The real Planetary Computer items, rewritten to point at local scaled-down COGs.

The 1,153 items in the project's ``shared/data/stac`` (collections ``landsat-8-c2-l2`` and
``naip``) keep their properties and geometry; every COG href is rewritten to a local COG
shaped by the item's own ``proj:*`` fields (shrunk by a fixed factor), one shared file per
distinct grid, dtype and band count, reached through per-asset symlinks. Non-COG assets
point to local paths that do not exist, so code that wrongly fetches them fails visibly.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rasteret_sandbox.catalog.constants import PC_ITEMS_NAME
from rasteret_sandbox.catalog.synthetic import _S2_SCENES, _pc_s2_links
from rasteret_sandbox.cogs import write_cog
from rasteret_sandbox.scenes import (
    synthetic_field,
)
from rasteret_sandbox.shared import shared_dir


def pc_items_path() -> Path:
    """Where the real Planetary Computer items are.

    ``$RASTERET_PC_ITEMS`` when set, else the project's read-only ``shared/data/stac``
    folder (see :func:`rasteret_sandbox.shared.shared_dir`).
    """
    env = os.environ.get("RASTERET_PC_ITEMS")
    if env:
        return Path(env)
    return shared_dir() / "data" / "stac" / PC_ITEMS_NAME


_PC_SCALE = 32
"""Planetary Computer grids shrink by this factor (pixel size grows by it)."""

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
