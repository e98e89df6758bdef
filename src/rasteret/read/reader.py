"""AOI reads: one output grid for all scenes, the tiles it needs, GDAL's masking rules.

The output grid is the pixel grid of the scenes themselves (no resampling): the AOI's
window is computed exactly as ``rasterio.features.geometry_window`` would on the first
scene, and every other scene on the same grid (same CRS and resolution, origin an
integer number of pixels away, as Sentinel-2 and Landsat tiles of one zone are) reads
the same ground window. Pixels outside the AOI (GDAL's rasterize rule, optionally
``all_touched``) or outside a scene get the fill value: the file's nodata, else 0, else
the caller's ``fill_value``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine
from pyproj import CRS

from rasteret.errors import InvalidInputError, UnsupportedReadError
from rasteret.io import StorageBackend
from rasteret.read.engine import execute_plan
from rasteret.read.grid import (
    Window,
    geometry_window,
    is_aligned,
    offset_in,
    transform_geometry,
)
from rasteret.read.plan import ReadPlan, plan_window
from rasteret.read.rasterize import geometry_mask
from rasteret.tiff.types import IfdLayout, TiffHeader


@dataclass(frozen=True, kw_only=True)
class BandSource:
    """Where one band of one scene lives and how it is laid out."""

    url: str
    """Object URL after the collection's cloud rewrites."""
    header: TiffHeader
    """The indexed layout."""
    sample: int
    """0-based sample of the band within the asset."""


@dataclass(frozen=True, kw_only=True)
class SceneSource:
    """One scene of a read: its identity and its bands (None where not indexed)."""

    id: str
    """STAC item id."""
    datetime: datetime | None
    """Acquisition time."""
    bands: Mapping[str, BandSource | None]
    """Band code -> source."""


@dataclass(frozen=True, kw_only=True)
class ArrayResult:
    """Pixels of one AOI over N scenes and C bands, on one grid."""

    data: npt.NDArray[Any]
    """``[N, C, H, W]`` in the bands' native dtype (common type when bands differ)."""
    valid: npt.NDArray[np.bool_]
    """``[N, C, H, W]``: inside the AOI, inside the scene, and not nodata."""
    ids: tuple[str, ...]
    """Scene id of each of the N slices."""
    datetimes: tuple[datetime | None, ...]
    """Acquisition time of each of the N slices."""
    bands: tuple[str, ...]
    """Band code of each of the C channels."""
    transform: Affine
    """Affine transform of the output grid (pixel corner convention)."""
    crs: CRS
    """CRS of the output grid."""
    fill_values: tuple[float, ...]
    """Value written where ``valid`` is False, per band."""
    nodata: tuple[float | None, ...]
    """The files' nodata per band (None when they declare none)."""


def crs_of_header(header: TiffHeader, where: str) -> CRS:
    """The CRS of a header's georeferencing (EPSG when it has one)."""
    geo = header.geo
    if geo is None or geo.transform is None:
        raise UnsupportedReadError(f"{where}: the asset is not georeferenced")
    if geo.crs_epsg is not None:
        return CRS.from_epsg(geo.crs_epsg)
    if geo.crs_wkt:
        return CRS.from_wkt(geo.crs_wkt)
    raise UnsupportedReadError(f"{where}: the asset has no CRS")


def transform_of_header(header: TiffHeader) -> Affine:
    """The full-resolution affine transform of a header."""
    assert header.geo is not None and header.geo.transform is not None
    return Affine(*header.geo.transform)


def level_of(header: TiffHeader, overview: int | None, where: str) -> tuple[IfdLayout, Affine]:
    """The IFD to read and its transform: full resolution, or overview ``overview``.

    An overview's transform is the full-resolution one scaled by the size ratio,
    exactly as GDAL derives it.
    """
    base = transform_of_header(header)
    if overview is None:
        return header.full, base
    levels = header.overviews
    if not 0 <= overview < len(levels):
        raise InvalidInputError(
            "overview", overview, f"{where} has {len(levels)} overview level(s)"
        )
    ifd = levels[overview]
    full = header.full
    return ifd, base @ Affine.scale(full.width / ifd.width, full.height / ifd.height)


def _fill_for(dtype: np.dtype[Any], nodata: float | None, fill_value: float | None) -> float:
    value = fill_value if fill_value is not None else nodata
    if value is None:
        return 0
    if np.issubdtype(dtype, np.integer):
        if not math.isfinite(value):
            return 0
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise InvalidInputError(
                "fill_value", value, f"does not fit the bands' dtype {dtype.name}"
            )
    return value


async def read_aoi_async(
    scenes: Sequence[SceneSource],
    geometry: shapely.Geometry,
    geometry_crs: CRS,
    bands: Sequence[str],
    backend: StorageBackend,
    *,
    all_touched: bool = False,
    fill_value: float | None = None,
    max_concurrent: int = 50,
    overview: int | None = None,
    on_tile: Callable[[], None] | None = None,
) -> ArrayResult:
    """Read ``bands`` of ``scenes`` inside ``geometry`` onto the scenes' common grid.

    ``overview`` reads overview level ``overview`` (0 = the first reduced level)
    instead of the full resolution.

    Raises:
        UnsupportedReadError: Scenes or bands on different grids (CRS, resolution or
            alignment): resampling is not available yet.
    """
    sources = [
        (n, c, scene.bands.get(band))
        for n, scene in enumerate(scenes)
        for c, band in enumerate(bands)
    ]
    present = [(n, c, s) for n, c, s in sources if s is not None]
    if not present:
        raise InvalidInputError("bands", list(bands), "none of the scenes has these bands indexed")
    _, _, first = present[0]
    crs = crs_of_header(first.header, first.url)
    _, ref = level_of(first.header, overview, first.url)
    for n, c, src in present:
        if crs_of_header(src.header, src.url) != crs:
            raise UnsupportedReadError(
                f"scene {scenes[n].id!r} band {bands[c]!r} is in another CRS than "
                f"{scenes[0].id!r}; reading scenes in several CRSs onto one grid "
                "(reprojection) is not supported yet: subset the collection by CRS"
            )
        if not is_aligned(level_of(src.header, overview, src.url)[1], ref):
            raise UnsupportedReadError(
                f"scene {scenes[n].id!r} band {bands[c]!r} is not on the pixel grid of "
                f"{scenes[present[0][0]].id!r} band {bands[present[0][1]]!r} (resolution or "
                "alignment differ); resampling is not supported yet: read such bands "
                "in separate calls"
            )

    aoi = transform_geometry(geometry, geometry_crs, crs)
    win = geometry_window(aoi, ref)
    height, width = int(win.height), int(win.width)
    out_transform = ref @ Affine.translation(win.col_off, win.row_off)

    dtypes = [np.dtype(s.header.full.dtype) for _, _, s in present]  # same at every level
    dtype = np.result_type(*dtypes)
    nodata: list[float | None] = []
    fills: list[float] = []
    for c, _band in enumerate(bands):
        band_sources = [s for _, cc, s in present if cc == c]
        nd = band_sources[0].header.nodata if band_sources else None
        nodata.append(nd)
        fills.append(_fill_for(dtype, nd, fill_value))

    data = np.empty((len(scenes), len(bands), height, width), dtype=dtype)
    for c in range(len(bands)):
        data[:, c] = fills[c]
    covered = np.zeros(data.shape, dtype=bool)
    plan = ReadPlan()
    canvases: list[npt.NDArray[Any]] = []
    for n, c, src in present:
        full, level_transform = level_of(src.header, overview, src.url)
        off = offset_in(level_transform, out_transform)
        window = Window(col_off=off[0], row_off=off[1], width=width, height=height)
        jobs, pastes = plan_window(
            url=src.url,
            ifd=full,
            byte_order=src.header.byte_order,
            window=window,
            sample=src.sample,
            target=len(canvases),
        )
        canvases.append(data[n, c])
        plan.add(jobs, pastes)
        r0, c0 = max(0, -off[1]), max(0, -off[0])
        r1 = min(height, full.height - off[1])
        c1 = min(width, full.width - off[0])
        if r0 < r1 and c0 < c1:
            covered[n, c, r0:r1, c0:c1] = True

    await execute_plan(plan, canvases, backend, max_concurrent=max_concurrent, on_tile=on_tile)

    outside = geometry_mask(
        [aoi], transform=out_transform, shape=(height, width), all_touched=all_touched
    )
    valid = covered & ~outside[np.newaxis, np.newaxis]
    for c in range(len(bands)):
        plane = data[:, c]
        plane[:, outside] = fills[c]
        nd = nodata[c]
        if nd is None:
            continue
        if math.isnan(nd):
            if np.issubdtype(dtype, np.floating):
                valid[:, c] &= ~np.isnan(plane)
        else:
            valid[:, c] &= plane != nd
    return ArrayResult(
        data=data,
        valid=valid,
        ids=tuple(s.id for s in scenes),
        datetimes=tuple(s.datetime for s in scenes),
        bands=tuple(bands),
        transform=out_transform,
        crs=crs,
        fill_values=tuple(fills),
        nodata=tuple(nodata),
    )
