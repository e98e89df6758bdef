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

import dataclasses
import itertools
import math
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine
from pyproj import CRS

from rasteret.errors import InvalidInputError, MixedGridWarning, UnsupportedReadError
from rasteret.io import StorageBackend
from rasteret.read.engine import decode_pool, execute_plan
from rasteret.read.grid import (
    Window,
    aligned_grid,
    geometry_window,
    is_aligned,
    offset_in,
    transform_geometry,
)
from rasteret.read.plan import ReadPlan, plan_window
from rasteret.read.rasterize import geometry_mask, keeps_every_pixel
from rasteret.read.warp import Resampling, WarpPlan, apply_warp, plan_warp
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
    scale: float | None = None
    """Scale to physical values (GDAL_METADATA, else the item's ``raster:bands``)."""
    offset: float | None = None
    """Offset to physical values, same sources as ``scale``."""


@dataclass(frozen=True, kw_only=True)
class SceneSource:
    """One scene of a read: its identity and its bands (None where not indexed)."""

    id: str
    """STAC item id."""
    datetime: datetime | None
    """Acquisition time."""
    cloud_cover: float | None = None
    """The item's ``eo:cloud_cover`` in percent, when it has one."""
    bands: Mapping[str, BandSource | None]
    """Band code -> source."""


@dataclass(frozen=True, kw_only=True)
class ArrayResult:
    """Pixels of one AOI over N scenes and C bands, on one grid."""

    data: npt.NDArray[Any]
    """``[N, C, H, W]`` in the bands' native dtype (common type when bands differ)."""
    valid: npt.NDArray[np.bool_]
    """``[N, C, H, W]``: inside the AOI, inside the scene, and valid by GDAL's mask of
    that scene's file (its internal mask when it has one, else its own nodata)."""
    ids: tuple[str, ...]
    """Scene id of each of the N slices."""
    datetimes: tuple[datetime | None, ...]
    """Acquisition time of each of the N slices."""
    cloud_cover: tuple[float | None, ...]
    """``eo:cloud_cover`` of each of the N slices (None where the item has none); taken
    from the slice's own row, so it stays right where item ids repeat."""
    bands: tuple[str, ...]
    """Band code of each of the C channels."""
    transform: Affine
    """Affine transform of the output grid (pixel corner convention)."""
    crs: CRS
    """CRS of the output grid."""
    fill_values: tuple[float, ...]
    """Value written where ``valid`` is False, per band."""
    nodata: tuple[float | None, ...]
    """Per band, the nodata of its first scene (None when it declares none); each scene's
    ``valid`` follows its own."""


_crs_cache = threading.local()


def _crs_key(header: TiffHeader, where: str) -> int | str:
    geo = header.geo
    if geo is None or geo.transform is None:
        raise UnsupportedReadError(f"{where}: the asset is not georeferenced")
    if geo.crs_epsg is not None:
        return geo.crs_epsg
    if geo.crs_wkt:
        return geo.crs_wkt
    raise UnsupportedReadError(f"{where}: the asset has no CRS")


def crs_of_header(header: TiffHeader, where: str) -> CRS:
    """The CRS of a header's georeferencing (EPSG when it has one).

    One object per EPSG code or WKT and thread: building a pyproj CRS costs about a
    millisecond, and a read of 60 scenes x 4 bands would build 240 identical ones. Per
    thread, because pyproj objects carry their thread's PROJ context.
    """
    key = _crs_key(header, where)
    cache: dict[int | str, CRS] | None = getattr(_crs_cache, "by_key", None)
    if cache is None:
        cache = _crs_cache.by_key = {}
    crs = cache.get(key)
    if crs is None:
        if len(cache) > 256:  # many distinct WKTs: keep the cache bounded
            cache.clear()
        crs = cache[key] = CRS.from_epsg(key) if isinstance(key, int) else CRS.from_wkt(key)
    return crs


def same_crs(a: CRS, b: CRS) -> bool:
    """``a == b``, answering at once for the same object (the cached CRSs of a read)."""
    return a is b or a == b


def transform_of_header(header: TiffHeader) -> Affine:
    """The full-resolution affine transform of a header."""
    assert header.geo is not None and header.geo.transform is not None
    return Affine(*header.geo.transform)


def overview_for_resolution(header: TiffHeader, resolution: tuple[float, float]) -> int | None:
    """The overview level to read for an output of ``resolution`` (None: full resolution).

    The coarsest level still at least as fine as asked: nothing finer than needed is
    fetched, and no detail the output could show is lost.
    """
    base = transform_of_header(header)
    native = max(abs(base.a), abs(base.e))
    wanted = min(resolution)
    full = header.full
    best: int | None = None
    for k, ifd in enumerate(header.overviews):
        if native * full.width / ifd.width <= wanted * (1 + 1e-9):
            best = k
    return best


def mask_of(header: TiffHeader, ifd: IfdLayout) -> IfdLayout | None:
    """The internal mask IFD that goes with ``ifd`` (same size), if the file has one."""
    for mask in header.masks:
        if (mask.width, mask.height) == (ifd.width, ifd.height):
            return mask
    return None


def alpha_of(ifd: IfdLayout, sample: int) -> int | None:
    """The sample GDAL masks ``sample`` by: the file's alpha (ExtraSamples 1 or 2), if any.

    The alpha sample itself is not masked (GDAL: all valid), nor are files without one.
    """
    first_extra = ifd.samples_per_pixel - len(ifd.extra_samples)
    for k, kind in enumerate(ifd.extra_samples):
        if kind in (1, 2) and first_extra + k != sample:
            return first_extra + k
    return None


def dataset_mask(header: TiffHeader, ifd: IfdLayout, sample: int) -> tuple[IfdLayout, int] | None:
    """Where GDAL's per-dataset mask of ``sample`` of ``ifd`` is: ``(ifd, sample)`` to read.

    The internal mask when the file has one, else its alpha sample; None for neither
    (the nodata then decides). 0 in the mask means no data, and the nodata is not used.
    """
    mask_ifd = mask_of(header, ifd)
    if mask_ifd is not None:
        return mask_ifd, 0
    alpha = alpha_of(ifd, sample)
    return None if alpha is None else (ifd, alpha)


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


def nodata_of(header: TiffHeader) -> float | None:
    """The file's nodata as GDAL applies it: None when the band's dtype cannot hold it.

    A GDAL_NODATA of -1 on uint8 data (such files exist) is ignored by GDAL, whose mask
    then keeps every pixel; it must not make the file unreadable either. NaN on integer
    data matches no pixel, so it is no nodata either.
    """
    nd = header.nodata
    if nd is None:
        return None
    dtype = np.dtype(header.full.dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if not (math.isfinite(nd) and info.min <= nd <= info.max):
            return None
    return nd


def sparse_value(header: TiffHeader) -> float:
    """What GDAL reads where a tile or strip has no bytes: the nodata, else 0."""
    nd = nodata_of(header)
    return 0 if nd is None else nd


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


@dataclass(frozen=True, kw_only=True)
class PreparedRead:
    """A planned AOI read: tiles to fetch into canvases, then ``finish`` for the result."""

    plan: ReadPlan
    """Tiles and pastes, targets indexing ``canvases``."""
    canvases: list[npt.NDArray[Any]]
    """Arrays the pastes write into (views of the result, or warp sources)."""
    finish: Callable[[], ArrayResult]
    """Warps, masks and wraps the canvases once every tile is pasted."""
    on_paste: Callable[[int, slice, slice], None] | None = None
    """Called on a decode thread after each paste (target, rows, cols), while the
    pixels are still in cache: marks them valid."""


@dataclass(frozen=True, kw_only=True)
class _Grid:
    """The output grid of one read and how it was chosen."""

    crs: CRS
    transform: Affine
    height: int
    width: int


@dataclass(frozen=True, kw_only=True)
class ReadFrame:
    """What every piece of one read shares: its output grid, dtype, nodata and fills.

    A read done in pieces (dask chunks, dataset chips) plans each piece inside its whole
    read's frame. Left to its own scenes, a piece chose otherwise: a chunk of a scene
    offset by a fraction of a pixel anchored the grid on it, and one without a band's
    float scene kept an integer dtype and filled 0 where the whole read has NaN. Plain
    values, so it travels to workers.
    """

    crs_wkt: str
    """The output CRS."""
    transform: tuple[float, float, float, float, float, float]
    """The whole read's grid (affine coefficients a, b, c, d, e, f)."""
    shape: tuple[int, int]
    """``(height, width)`` of the whole grid."""
    dtype: str
    """The read's dtype before any ``apply_scale``."""
    nodata: tuple[float | None, ...]
    """Per band, as :attr:`ArrayResult.nodata`."""
    fills: tuple[float, ...]
    """Per band, before any ``apply_scale``."""


def _band_values(
    present: Sequence[tuple[int, int, BandSource, int | None]],
    n_bands: int,
    fill_value: float | None,
) -> tuple[np.dtype[Any], list[float | None], list[float]]:
    """The dtype of a read, and per band its nodata (its first scene's) and fill."""
    dtype = np.result_type(*(np.dtype(s.header.full.dtype) for _, _, s, _ in present))
    nodata: list[float | None] = []
    fills: list[float] = []
    for c in range(n_bands):
        nd = next((nodata_of(s.header) for _, cc, s, _ in present if cc == c), None)
        nodata.append(nd)
        fills.append(_fill_for(dtype, nd, fill_value))
    return dtype, nodata, fills


def _present(
    scenes: Sequence[SceneSource],
    bands: Sequence[str],
    overview: int | None,
    resolution: tuple[float, float] | None,
) -> list[tuple[int, int, BandSource, int | None]]:
    """``(scene, band, source, level)`` of every source a read has (level None: full)."""
    present = [
        (
            n,
            c,
            src,
            overview
            if overview is not None or resolution is None
            else overview_for_resolution(src.header, resolution),
        )
        for n, scene in enumerate(scenes)
        for c, band in enumerate(bands)
        if (src := scene.bands.get(band)) is not None
    ]
    if not present:
        raise InvalidInputError("bands", list(bands), "none of the scenes has these bands indexed")
    return present


def read_frame(
    scenes: Sequence[SceneSource],
    geometry: shapely.Geometry,
    geometry_crs: CRS,
    bands: Sequence[str],
    *,
    fill_value: float | None = None,
    overview: int | None = None,
    target_crs: CRS | None = None,
    resolution: tuple[float, float] | None = None,
    **_: Any,
) -> ReadFrame:
    """The frame :func:`prepare_aoi_read` would choose for this read, without planning it.

    Other read options are accepted and do not change the frame.
    """
    present = _present(scenes, bands, overview, resolution)
    grid, _aoi = _choose_grid(
        present, geometry, geometry_crs, target_crs=target_crs, resolution=resolution
    )
    dtype, nodata, fills = _band_values(present, len(bands), fill_value)
    t = grid.transform
    return ReadFrame(
        crs_wkt=grid.crs.to_wkt(),
        transform=(t.a, t.b, t.c, t.d, t.e, t.f),
        shape=(grid.height, grid.width),
        dtype=dtype.str,
        nodata=tuple(nodata),
        fills=tuple(fills),
    )


def _most_common(values: Sequence[Any]) -> Any:
    counts = Counter(values)
    return max(counts, key=lambda v: (counts[v], -values.index(v)))


def _choose_grid(
    present: Sequence[tuple[int, int, BandSource, int | None]],
    aoi_in: shapely.Geometry,
    aoi_crs: CRS,
    *,
    target_crs: CRS | None,
    resolution: tuple[float, float] | None,
) -> tuple[_Grid, shapely.Geometry]:
    """Pick the output grid: the scenes' own when they share one, else the common one.

    With scenes on one grid (and nothing asked for), the AOI window is what
    ``geometry_window`` gives on that grid: no resampling at all. Otherwise the target
    CRS and resolution are the caller's, or the most common among the scenes (with a
    warning naming the alternatives), and the grid is anchored on a scene that lies
    on it, so scenes already on that grid are still read without resampling.
    """
    crss = [crs_of_header(s.header, s.url) for _, _, s, _ in present]
    levels = [level_of(s.header, lvl, s.url)[1] for _, _, s, lvl in present]
    distinct = {id(c): c for c in crss}  # the cached CRS objects, once each
    wkts = {key: c.to_wkt() for key, c in distinct.items()}
    keys = [wkts[id(c)] for c in crss]
    dst_crs = target_crs
    if dst_crs is None:
        common = _most_common(keys)
        dst_crs = next(c for c in crss if wkts[id(c)] == common)
        if len(set(keys)) > 1:
            names = sorted({c.to_string() for c in crss})
            warnings.warn(
                f"the scenes are in {len(names)} CRSs ({', '.join(names)}); reading onto "
                f"{dst_crs.to_string()}, the most common; pass target_crs= to choose",
                MixedGridWarning,
                stacklevel=4,
            )
    same = {key: same_crs(c, dst_crs) for key, c in distinct.items()}
    in_dst = [t for t, c in zip(levels, crss, strict=True) if same[id(c)] and t.b == 0 and t.d == 0]
    res = resolution
    if res is None:
        candidates = [(abs(t.a), abs(t.e)) for t in in_dst] or [
            (math.hypot(t.a, t.d), math.hypot(t.b, t.e))
            for t in levels  # rotated: pixel sides
        ]
        res = _most_common(candidates)
        if len(set(candidates)) > 1:
            warnings.warn(
                f"the scenes/bands have {len(set(candidates))} resolutions "
                f"({sorted(set(candidates))}); reading at {res}, the most common; pass "
                "resolution= to choose",
                MixedGridWarning,
                stacklevel=4,
            )
    anchor = next(
        (t for t in in_dst if math.isclose(abs(t.a), res[0]) and math.isclose(abs(t.e), res[1])),
        None,
    )
    aoi = transform_geometry(aoi_in, aoi_crs, dst_crs)
    if anchor is not None:
        win = geometry_window(aoi, anchor)
        transform = anchor @ Affine.translation(win.col_off, win.row_off)
        return _Grid(crs=dst_crs, transform=transform, height=win.height, width=win.width), aoi
    grid = aligned_grid(shapely.bounds(aoi).tolist(), res, dst_crs)
    return (
        _Grid(crs=dst_crs, transform=grid.transform, height=grid.height, width=grid.width),
        aoi,
    )


def _scaled(
    data: npt.NDArray[Any],
    valid: npt.NDArray[np.bool_],
    present: Sequence[tuple[int, int, BandSource, int | None]],
) -> npt.NDArray[Any]:
    """``raw * scale + offset`` per scene and band (1 and 0 where none is declared)."""
    out_dtype = np.float64 if data.dtype.itemsize >= 8 else np.float32
    out = data.astype(out_dtype)
    for n, c, src, _ in present:
        scale = 1.0 if src.scale is None else src.scale
        offset = 0.0 if src.offset is None else src.offset
        out[n, c] = out[n, c] * out_dtype(scale) + out_dtype(offset)
    out[~valid] = np.nan
    return out


def prepare_aoi_read(
    scenes: Sequence[SceneSource],
    geometry: shapely.Geometry,
    geometry_crs: CRS,
    bands: Sequence[str],
    *,
    all_touched: bool = False,
    fill_value: float | None = None,
    overview: int | None = None,
    target_crs: CRS | None = None,
    resolution: tuple[float, float] | None = None,
    resampling: str = "nearest",
    apply_scale: bool = False,
    frame: ReadFrame | None = None,
    piece: tuple[int, int, int, int] | None = None,
) -> PreparedRead:
    """Plan reading ``bands`` of ``scenes`` inside ``geometry`` onto one output grid.

    Scenes on the output grid are read window for window (no resampling); others are
    warped onto it with ``resampling`` (nearest by default, right for integer and
    categorical data). ``overview`` reads overview level ``overview`` (0 = the first
    reduced level) instead of the full resolution; without it, a coarser
    ``resolution`` reads from the coarsest overview still at least as fine.
    ``apply_scale`` returns physical values ``raw * scale + offset`` as floats (NaN
    where not valid) instead of the native dtype.

    ``frame`` (from :func:`read_frame` over the whole read) fixes the grid, dtype,
    nodata and fills instead of choosing them from ``scenes``; ``piece`` is then the
    part of the frame's grid to read, ``(row_off, col_off, height, width)``.
    """
    try:
        method = Resampling(str(resampling))
    except ValueError as err:
        raise InvalidInputError(
            "resampling", resampling, f"use one of {[m.value for m in Resampling]}"
        ) from err
    present = _present(scenes, bands, overview, resolution)
    if frame is None:
        grid, aoi = _choose_grid(
            present,
            geometry,
            geometry_crs,
            target_crs=target_crs,
            resolution=resolution,
        )
        dtype, nodata, fills = _band_values(present, len(bands), fill_value)
    else:
        row_off, col_off, piece_h, piece_w = piece or (0, 0, *frame.shape)
        crs = CRS.from_wkt(frame.crs_wkt)
        grid = _Grid(
            crs=crs,
            transform=Affine(*frame.transform) @ Affine.translation(col_off, row_off),
            height=piece_h,
            width=piece_w,
        )
        aoi = transform_geometry(geometry, geometry_crs, crs)
        dtype, nodata, fills = np.dtype(frame.dtype), list(frame.nodata), list(frame.fills)
    height, width = grid.height, grid.width
    # a piece's warps are the whole grid's, cut to the piece (see plan_warp's dst_window)
    whole_grid: dict[str, Any] = (
        {"dst_transform": grid.transform, "dst_shape": (height, width)}
        if frame is None
        else {
            "dst_transform": Affine(*frame.transform),
            "dst_shape": frame.shape,
            "dst_window": (row_off, col_off, height, width),
        }
    )

    # Each scene's pixels are valid by its own nodata, as GDAL's mask of that file says;
    # a band's fill (and its reported nodata) is its first scene's.
    scene_nodata = {(n, c): nodata_of(s.header) for n, c, s, _ in present}
    mask_planes: set[tuple[int, int]] = set()  # planes GDAL masks by an internal mask alone

    def nodata_valid(plane: npt.NDArray[Any], n: int, c: int, ok: npt.NDArray[np.bool_]) -> bool:
        """Write ``plane``'s nodata test into ``ok``; False when no nodata applies."""
        nd = scene_nodata.get((n, c))
        if nd is None or (n, c) in mask_planes:
            return False
        if math.isnan(nd):  # only float data has a NaN nodata (nodata_of)
            np.isnan(plane, out=ok)
            np.logical_not(ok, out=ok)
            return True
        np.not_equal(plane, nd, out=ok)
        return True

    # Neither array is pre-filled: tiles are decoded straight into ``data`` (by the
    # decode threads, in parallel, first-touching its pages there), and only what no
    # tile covers is filled afterwards. ``np.zeros`` maps zero pages lazily.
    data = np.empty((len(scenes), len(bands), height, width), dtype=dtype)
    valid = np.zeros(data.shape, dtype=bool)
    filled: set[tuple[int, int]] = set()  # planes with a value in every pixel after the plan
    rects: list[tuple[int, int, int, int, int, int]] = []  # (n, c, r0, r1, c0, c1) read
    plan = ReadPlan()
    canvases: list[npt.NDArray[Any]] = []
    warps: list[tuple[int, int, WarpPlan, int, float | None, int | None]] = []
    masks: list[tuple[int, int, int]] = []
    on_grid: dict[int, tuple[CRS, bool]] = {}  # by id of the (cached) source CRS
    # Warp plans by source grid: the bands of a scene, and the scenes of one tiling grid
    # over time, share one (24 plans of 2 ms each were half a cross-CRS read's planning).
    warp_plans: dict[tuple[int, tuple[float, ...], int, int], WarpPlan] = {}
    # canvases whose tiles cover their plane's read rectangle: masked tile by tile
    rect_targets: dict[int, tuple[int, int]] = {}

    def plan_mask(
        plane: tuple[int, int],
        src: BandSource,
        ifd: IfdLayout,
        window: Window,
        shape: tuple[int, int],
    ) -> int | None:
        """Plan ``window`` of the file's :func:`dataset_mask` into a canvas of its own."""
        found = dataset_mask(src.header, ifd, src.sample)
        if found is None:
            return None
        mask_ifd, sample = found
        mask_planes.add(plane)
        mask_target = len(canvases)
        canvases.append(np.zeros(shape, dtype=np.dtype(mask_ifd.dtype)))
        plan.add(
            *plan_window(
                url=src.url,
                ifd=mask_ifd,
                byte_order=src.header.byte_order,
                window=window,
                sample=sample,
                target=mask_target,
            )
        )
        return mask_target

    for n, c, src, lvl in present:
        ifd, level_transform = level_of(src.header, lvl, src.url)
        src_crs = crs_of_header(src.header, src.url)
        if id(src_crs) not in on_grid:  # the CRS is kept alive with it: ids stay unique
            on_grid[id(src_crs)] = (src_crs, same_crs(src_crs, grid.crs))
        if on_grid[id(src_crs)][1] and is_aligned(level_transform, grid.transform):
            off = offset_in(level_transform, grid.transform)
            window = Window(col_off=off[0], row_off=off[1], width=width, height=height)
            target = len(canvases)
            canvases.append(data[n, c])
            r0, c0 = max(0, -off[1]), max(0, -off[0])
            r1 = min(height, ifd.height - off[1])
            c1 = min(width, ifd.width - off[0])
            if r0 < r1 and c0 < c1:
                rects.append((n, c, r0, r1, c0, c1))
            mask_target = plan_mask((n, c), src, ifd, window, (height, width))
            if mask_target is not None:
                masks.append((n, c, mask_target))
        else:
            grid_key = (id(src_crs), tuple(level_transform)[:6], ifd.height, ifd.width)
            warp = warp_plans.get(grid_key)
            if warp is None:
                warp = warp_plans[grid_key] = plan_warp(
                    dst_crs=grid.crs,
                    src_crs=src_crs,
                    src_transform=level_transform,
                    src_shape=(ifd.height, ifd.width),
                    resampling=method,
                    **whole_grid,
                )
            col_off, row_off, w, h = warp.src_window
            window = Window(col_off=col_off, row_off=row_off, width=w, height=h)
            mask_target = plan_mask((n, c), src, ifd, window, (h, w))
            # with an internal mask, GDAL warps by the mask alone, as it reads
            src_nodata = nodata_of(src.header) if mask_target is None else None
            target = len(canvases)
            canvases.append(np.full((h, w), _fill_for(dtype, src_nodata, None), dtype=dtype))
            warps.append((n, c, warp, target, src_nodata, mask_target))
        jobs, pastes = plan_window(
            url=src.url,
            ifd=ifd,
            byte_order=src.header.byte_order,
            window=window,
            sample=src.sample,
            target=target,
        )
        plan.add(jobs, pastes)
        if warps and warps[-1][3] == target:
            filled.add((n, c))
        elif rects and rects[-1][:2] == (n, c):
            _, _, r0, r1, c0, c1 = rects[-1]
            area = sum(
                (p.out_rows.stop - p.out_rows.start) * (p.out_cols.stop - p.out_cols.start)
                for p in pastes
            )
            if area != (r1 - r0) * (c1 - c0):  # sparse tiles (no bytes): as GDAL reads them
                data[n, c, r0:r1, c0:c1] = sparse_value(src.header)
            else:
                rect_targets[target] = (n, c)

    def on_paste(target: int, rows: slice, cols: slice) -> None:
        """The nodata test of a pasted region, on the decode thread that pasted it."""
        plane = rect_targets.get(target)
        if plane is None:
            return
        n, c = plane
        ok = valid[n, c, rows, cols]
        if not nodata_valid(data[n, c, rows, cols], n, c, ok):
            ok[...] = True

    def finish() -> ArrayResult:
        """Warp, mask and wrap the canvases once the plan has run.

        Every pass here is over whole output planes, so they run per scene on the decode
        pool (NumPy releases the GIL) and touch only what needs it: the strips around a
        scene's read rectangle, the AOI's outside only when the AOI leaves some out.
        """

        def rect_pass(batch: Sequence[tuple[int, int, int, int, int, int]]) -> None:
            """Fill around each scene's read rectangle and mark its pixels valid.

            One pass per plane, on the decode pool: the nodata test writes the mask
            directly, so the mask is touched once and the data read once.
            """
            for n, c, r0, r1, c0, c1 in batch:
                plane, ok = data[n, c], valid[n, c]
                plane[:r0] = fills[c]
                plane[r1:] = fills[c]
                plane[r0:r1, :c0] = fills[c]
                plane[r0:r1, c1:] = fills[c]
                if (n, c) in masked:
                    continue  # every tile was tested as it was pasted
                inner = ok[r0:r1, c0:c1]
                if not nodata_valid(plane[r0:r1, c0:c1], n, c, inner):
                    inner[...] = True

        masked = set(rect_targets.values())
        tested: set[tuple[int, int]] = set()
        if rects:
            step = -(-len(rects) // min(len(rects), 8))
            list(
                decode_pool().map(
                    rect_pass, [rects[i : i + step] for i in range(0, len(rects), step)]
                )
            )
            for n, c, *_ in rects:
                filled.add((n, c))
                tested.add((n, c))
        for n, c, mask_target in masks:  # the stored values stay, as GDAL reads them
            valid[n, c] &= canvases[mask_target] > 0
        for n, c, warp, target, src_nodata, warp_mask in warps:
            src_mask = None if warp_mask is None else canvases[warp_mask] > 0
            warped, ok = apply_warp(
                warp, canvases[target], src_nodata=src_nodata, dst_fill=fills[c], src_mask=src_mask
            )
            data[n, c] = warped
            valid[n, c] = ok
            data[n, c][~ok] = fills[c]
        for n in range(len(scenes)):
            for c in range(len(bands)):
                if (n, c) not in filled:  # no source for this scene and band
                    data[n, c] = fills[c]

        outside: npt.NDArray[np.bool_] | None = None
        if not keeps_every_pixel([aoi], transform=grid.transform, shape=(height, width)):
            outside = geometry_mask(
                [aoi], transform=grid.transform, shape=(height, width), all_touched=all_touched
            )
        any_outside = outside is not None and bool(outside.any())

        def scene_pass(first: int, stop: int) -> None:
            for n, c in itertools.product(range(first, stop), range(len(bands))):
                plane, ok = data[n, c], valid[n, c]
                if any_outside:
                    ok[outside] = False
                    plane[outside] = fills[c]
                if (n, c) in tested:
                    continue  # the rectangle pass already applied nodata
                found = np.empty_like(ok)
                if nodata_valid(plane, n, c, found):
                    ok &= found

        # a few chunks per worker: enough to balance, few enough that a thousand small
        # scenes do not become a thousand futures
        bounds = np.linspace(0, len(scenes), min(len(scenes), 8) + 1).astype(int)
        list(decode_pool().map(scene_pass, bounds[:-1], bounds[1:]))
        out, out_fills = data, tuple(fills)
        if apply_scale:
            out, out_fills = _scaled(data, valid, present), (math.nan,) * len(bands)
        return ArrayResult(
            data=out,
            valid=valid,
            ids=tuple(s.id for s in scenes),
            datetimes=tuple(s.datetime for s in scenes),
            cloud_cover=tuple(s.cloud_cover for s in scenes),
            bands=tuple(bands),
            transform=grid.transform,
            crs=grid.crs,
            fill_values=out_fills,
            nodata=tuple(nodata),
        )

    return PreparedRead(plan=plan, canvases=canvases, finish=finish, on_paste=on_paste)


PIECE_OPTIONS = (
    "all_touched",
    "fill_value",
    "overview",
    "target_crs",
    "resolution",
    "resampling",
    "apply_scale",
    "max_concurrent",
)
"""Options of ``get_numpy`` a read done in pieces elsewhere (dask chunks, dataset items)
applies to every piece; the backend travels apart (a factory), ``crs`` is the AOI's."""


def indexed_headers(scenes: Sequence[SceneSource]) -> dict[str, TiffHeader]:
    """Indexed header per URL of a read: the ``expected`` of :func:`read_aois_async`."""
    return {
        src.url: src.header for scene in scenes for src in scene.bands.values() if src is not None
    }


async def read_aois_async(
    prepared: Sequence[PreparedRead],
    backend: StorageBackend,
    *,
    max_concurrent: int = 50,
    on_tile: Callable[[], None] | None = None,
    expected: Mapping[str, TiffHeader] | None = None,
) -> list[ArrayResult]:
    """Run several prepared reads as ONE plan, so a tile two AOIs need is fetched once.

    ``expected`` (indexed headers by URL) lets the engine refuse objects that changed.
    """
    plan = ReadPlan()
    canvases: list[npt.NDArray[Any]] = []
    owners: list[tuple[Callable[[int, slice, slice], None] | None, int]] = []
    for read in prepared:
        base = len(canvases)
        canvases.extend(read.canvases)
        owners.extend((read.on_paste, base) for _ in read.canvases)
        plan.add(
            read.plan.jobs.values(),
            (dataclasses.replace(p, target=p.target + base) for p in read.plan.pastes),
        )

    def on_paste(target: int, rows: slice, cols: slice) -> None:
        hook, base = owners[target]
        if hook is not None:
            hook(target - base, rows, cols)

    await execute_plan(
        plan,
        canvases,
        backend,
        max_concurrent=max_concurrent,
        on_tile=on_tile,
        on_paste=on_paste,
        expected=expected,
    )
    return [read.finish() for read in prepared]
