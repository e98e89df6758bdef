"""Resample one scene onto another pixel grid, with the results GDAL's warper gives.

Scenes of a collection come in several UTM zones and resolutions; results are
delivered on one grid. This module plans (pure arithmetic, no I/O) which source pixels
each destination pixel takes, then applies that plan to the pixels read through
:attr:`WarpPlan.src_window`. The arithmetic follows ``GDALWarp`` (GDAL 3.10, what
``rasterio.warp.reproject`` runs) step by step, because the test oracle is GDAL and
users compare against it:

* Destination pixel centres ``(col + 0.5, row + 0.5)`` go through the destination
  geotransform, PROJ (``always_xy``) and the inverted source geotransform, in GDAL's
  order of operations. By default they go through GDAL's *approximate* transformer:
  each destination row is split in halves until linear interpolation between exactly
  transformed points errs by at most ``error_threshold`` source pixels (0.125, as
  rasterio asks GDAL for). That is both GDAL's default and what makes planning a
  2000 x 2000 grid take milliseconds; ``error_threshold=0`` transforms every pixel.
* A destination pixel is filled only when its source point lies in the source image
  (``0 <= x`` and ``x + 1e-10 <= width``) and, when the source has nodata, when the
  source pixel under that point is valid; otherwise it is ``dst_fill`` and invalid.
* Nearest takes the pixel ``int(x + 1e-10)``. Bilinear weighs the four pixels around
  the point, drops nodata and off-image pixels and renormalises; when the destination
  is coarser than the source by more than 5 % it becomes a tent filter stretched over
  the footprint (GDAL's antialiasing), with the scale GDAL derives from the source
  window. Cubic is Keys' a = -0.5 kernel the same way. Integers are rounded half up
  and clamped to the dtype.

What is not reproduced: GDAL splits very large warps into chunks (by memory), and
the approximate transformer then works on shorter rows, so coordinates may differ by
a few thousandths of a pixel from a chunked GDAL run (a nearest pick flips only where
a point is that close to a pixel edge).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, cast

import numpy as np
import shapely
from affine import Affine
from numpy.typing import DTypeLike, NDArray
from pyproj import CRS, Transformer

from rasteret.errors import InvalidInputError
from rasteret.read.grid import OutputGrid, aligned_grid, transform_geometry

__all__ = [
    "DEFAULT_ERROR_THRESHOLD",
    "IMPLEMENTED",
    "Resampling",
    "WarpPlan",
    "apply_warp",
    "choose_output_grid",
    "plan_warp",
]

logger = logging.getLogger(__name__)

DEFAULT_ERROR_THRESHOLD: Final = 0.125
"""Error, in source pixels, allowed to the approximate transformer (rasterio's value)."""

_EDGE_EPS: Final = 1e-10
"""GDAL adds this before truncating a source coordinate to a pixel index."""

_SAMPLE_STEPS: Final = 21
"""Points per destination edge GDAL transforms to size the source window."""

_MIN_SEGMENT: Final = 6
"""Rows (or row segments) shorter than this are transformed point by point, as in GDAL."""

_FOUR_SAMPLE_SCALE: Final = 0.95
"""Below this destination/source scale, bilinear and cubic widen their kernel."""

_BLOCK: Final = 1 << 16
"""Destination pixels resampled per vectorised step."""

Array = NDArray[np.float64]


class Resampling(StrEnum):
    """How a destination pixel is computed from the source pixels around its centre."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    CUBIC = "cubic"
    AVERAGE = "average"
    MODE = "mode"


IMPLEMENTED: Final = frozenset({Resampling.NEAREST, Resampling.BILINEAR, Resampling.CUBIC})
"""The methods :func:`apply_warp` implements (reads refuse the others up front)."""
_FILTER_RADIUS: Final = {Resampling.NEAREST: 0, Resampling.BILINEAR: 1, Resampling.CUBIC: 2}


@dataclass(frozen=True, kw_only=True)
class WarpPlan:
    """Where every destination pixel samples the source, computed once per grid pair."""

    src_window: tuple[int, int, int, int]
    """``(col_off, row_off, width, height)`` of the source pixels the warp reads
    (clipped to the image; ``width == height == 0`` when nothing overlaps)."""
    src_shape: tuple[int, int]
    """``(height, width)`` of the whole source image (edges are the image's, not the
    window's)."""
    dst_shape: tuple[int, int]
    """``(height, width)`` of the destination grid."""
    resampling: Resampling
    """The resampling the plan was made for."""
    src_x: Array
    """Source column coordinate (pixel units, 0 = left edge of the image) of every
    destination pixel centre; NaN where it could not be transformed."""
    src_y: Array
    """Source row coordinate, likewise."""
    inside: NDArray[np.bool_]
    """Destination pixels whose source point falls in the image (GDAL's test)."""
    nearest: NDArray[np.intp]
    """Flat index, into the ``src_window`` array, of the pixel under each source point
    (0 where not ``inside``)."""
    scale: tuple[float, float]
    """``(x, y)`` destination/source scale GDAL uses to size bilinear/cubic kernels."""

    @property
    def is_empty(self) -> bool:
        """Whether no destination pixel takes a value from the source."""
        return self.src_window[2] == 0 or self.src_window[3] == 0


# --------------------------------------------------------------------------- planning


def plan_warp(
    *,
    dst_crs: CRS,
    dst_transform: Affine,
    dst_shape: tuple[int, int],
    src_crs: CRS,
    src_transform: Affine,
    src_shape: tuple[int, int],
    resampling: Resampling | str = Resampling.NEAREST,
    error_threshold: float = DEFAULT_ERROR_THRESHOLD,
    dst_window: tuple[int, int, int, int] | None = None,
) -> WarpPlan:
    """Plan the resampling of a source image onto a destination grid.

    Args:
        dst_crs: CRS of the destination grid (anything pyproj reads).
        dst_transform: Pixel-to-CRS affine of the destination.
        dst_shape: ``(height, width)`` of the destination.
        src_crs: CRS of the source image.
        src_transform: Pixel-to-CRS affine of the whole source image.
        src_shape: ``(height, width)`` of the whole source image.
        resampling: Nearest, bilinear or cubic.
        error_threshold: Largest error, in source pixels, the approximate transformer
            may make (GDAL's ``-et``); 0 transforms every pixel centre exactly.
        dst_window: ``(row_off, col_off, height, width)``: plan only this part of the
            destination, every pixel exactly as the whole grid's plan has it (the
            approximation's row segments and the kernel scale are the whole grid's), so
            that a read done in pieces equals the read done at once.

    Raises:
        InvalidInputError: Unsupported resampling, bad shapes, degenerate transforms
            or a negative threshold.
    """
    method = _check_resampling(resampling)
    dst_h, dst_w = _check_shape(dst_shape, "dst_shape")
    src_h, src_w = _check_shape(src_shape, "src_shape")
    if not (isinstance(error_threshold, int | float) and error_threshold >= 0):
        raise InvalidInputError("error_threshold", error_threshold, "must be a number >= 0")
    transformer = _PixelTransformer(
        dst_crs=CRS.from_user_input(dst_crs),
        dst_transform=dst_transform,
        src_crs=CRS.from_user_input(src_crs),
        src_transform=src_transform,
    )
    window = _check_window(dst_window, dst_h, dst_w)
    src_x, src_y = transformer.grid(dst_h, dst_w, float(error_threshold), window=window)
    inside = _inside(src_x, src_y, src_w, src_h)
    # GDAL re-transforms, exactly, approximate points that land just outside the image.
    retry = ~inside & _near_image(src_x, src_y, src_w, src_h)
    if error_threshold > 0 and retry.any():
        rows, cols = np.nonzero(retry)
        ex, ey = transformer.exact(
            (cols + window[1]).astype(np.float64) + 0.5, (rows + window[0]).astype(np.float64) + 0.5
        )
        src_x[rows, cols] = ex
        src_y[rows, cols] = ey
        inside = _inside(src_x, src_y, src_w, src_h)
    scale = transformer.kernel_scale(dst_h, dst_w, src_h, src_w)
    needed = _needed_window(
        src_x, src_y, inside, width=src_w, height=src_h, method=method, scale=scale
    )
    col_off, row_off, width, _height = needed
    nearest = np.zeros(inside.shape, dtype=np.intp)
    if inside.any():
        cols_i, rows_i = _nearest_pixel(src_x[inside], src_y[inside], src_w, src_h)
        nearest[inside] = (rows_i - row_off) * width + (cols_i - col_off)
    for shared in (src_x, src_y, inside, nearest):
        shared.flags.writeable = False  # one plan may serve many reads of its grid pair
    return WarpPlan(
        src_window=needed,
        src_shape=(src_h, src_w),
        dst_shape=(window[2], window[3]),
        resampling=method,
        src_x=src_x,
        src_y=src_y,
        inside=inside,
        nearest=nearest,
        scale=scale,
    )


def choose_output_grid(
    aoi: shapely.Geometry,
    *,
    aoi_crs: object,
    crs: object,
    resolution: float | tuple[float, float],
    anchor: tuple[float, float] = (0.0, 0.0),
) -> OutputGrid:
    """The anchored grid of ``crs`` at ``resolution`` that covers an AOI.

    Every scene is warped onto this one grid, so results line up whatever zone or
    resolution each scene has; the anchor keeps grids of neighbouring AOIs aligned.
    """
    res = (resolution, resolution) if isinstance(resolution, int | float) else resolution
    geom = transform_geometry(aoi, aoi_crs, crs)
    minx, miny, maxx, maxy = (float(v) for v in shapely.bounds(geom))
    return aligned_grid((minx, miny, maxx, maxy), res, crs, anchor=anchor)


def _check_resampling(resampling: object) -> Resampling:
    """A supported :class:`Resampling`, or a named error."""
    try:
        method = Resampling(str(resampling))
    except ValueError as err:
        choices = ", ".join(r.value for r in Resampling)
        raise InvalidInputError("resampling", resampling, f"expected one of {choices}") from err
    if method not in IMPLEMENTED:
        raise InvalidInputError(
            "resampling", resampling, "not implemented yet (nearest, bilinear, cubic are)"
        )
    return method


def _check_window(
    window: tuple[int, int, int, int] | None, height: int, width: int
) -> tuple[int, int, int, int]:
    """``(row_off, col_off, height, width)`` inside the grid (the whole grid for None)."""
    if window is None:
        return (0, 0, height, width)
    r0, c0, h, w = (int(v) for v in window)
    if not (r0 >= 0 and c0 >= 0 and h >= 1 and w >= 1 and r0 + h <= height and c0 + w <= width):
        raise InvalidInputError(
            "dst_window", window, f"must lie inside the {height} x {width} grid"
        )
    return (r0, c0, h, w)


def _check_shape(shape: object, parameter: str) -> tuple[int, int]:
    """``(height, width)``, both positive integers."""
    try:
        height, width = cast("tuple[Any, Any]", shape)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(parameter, shape, "expected (height, width)") from err
    if not all(isinstance(v, int | np.integer) and v > 0 for v in (height, width)):
        raise InvalidInputError(parameter, shape, "height and width must be positive integers")
    return int(height), int(width)


def _inside(x: Array, y: Array, width: int, height: int) -> NDArray[np.bool_]:
    """GDAL's test that a source point lies in the image (NaN never does)."""
    with np.errstate(invalid="ignore"):
        return (x >= 0) & (y >= 0) & (x + _EDGE_EPS <= width) & (y + _EDGE_EPS <= height)


def _near_image(x: Array, y: Array, width: int, height: int) -> NDArray[np.bool_]:
    """Points within a pixel of the image, which GDAL re-checks with exact coordinates."""
    with np.errstate(invalid="ignore"):
        return (x > -1) & (y > -1) & (x < width + 1) & (y < height + 1)


def _nearest_pixel(
    x: Array, y: Array, width: int, height: int
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``int(coord + 1e-10)``, pulled back onto the last pixel at the far edges."""
    cols = np.minimum((x + _EDGE_EPS).astype(np.intp), width - 1)
    rows = np.minimum((y + _EDGE_EPS).astype(np.intp), height - 1)
    return cols, rows


def _needed_window(
    x: Array,
    y: Array,
    inside: NDArray[np.bool_],
    *,
    width: int,
    height: int,
    method: Resampling,
    scale: tuple[float, float],
) -> tuple[int, int, int, int]:
    """The bounding window of every pixel any kernel touches, clipped to the image."""
    if not inside.any():
        return (0, 0, 0, 0)
    xs = x[inside]
    ys = y[inside]
    cols, rows = _nearest_pixel(xs, ys, width, height)
    col0, col1 = int(cols.min()), int(cols.max())
    row0, row1 = int(rows.min()), int(rows.max())
    if method is not Resampling.NEAREST:
        rx, ry = (_kernel_radius(method, s) for s in scale)
        base_x = np.floor(xs - 0.5)
        base_y = np.floor(ys - 0.5)
        col0 = min(col0, int(base_x.min()) - rx)
        col1 = max(col1, int(base_x.max()) + rx + 1)
        row0 = min(row0, int(base_y.min()) - ry)
        row1 = max(row1, int(base_y.max()) + ry + 1)
    col0, row0 = max(col0, 0), max(row0, 0)
    col1, row1 = min(col1, width - 1), min(row1, height - 1)
    return (col0, row0, col1 - col0 + 1, row1 - row0 + 1)


def _kernel_radius(method: Resampling, scale: float) -> int:
    """Half-width, in source pixels, of the kernel at this scale (GDAL's ``nXRadius``)."""
    radius = _FILTER_RADIUS[method]
    return math.ceil(radius / scale) if scale < 1.0 else radius


# --------------------------------------------------------------------------- transforms


class _PixelTransformer:
    """Destination pixel coordinates to source pixel coordinates, as GDAL computes them.

    GDAL's ``GenImgProjTransformer``: destination geotransform, then PROJ (skipped
    when the CRSs are the same), then the inverse source geotransform from
    ``GDALInvGeoTransform``. Kept as explicit arithmetic, not ``Affine`` products,
    because ``int(x + 1e-10)`` of a point on a pixel edge depends on the last bit.
    """

    def __init__(
        self, *, dst_crs: CRS, dst_transform: Affine, src_crs: CRS, src_transform: Affine
    ) -> None:
        for name, value in (("dst_transform", dst_transform), ("src_transform", src_transform)):
            if not isinstance(value, Affine) or value.is_degenerate:
                raise InvalidInputError(name, value, "expected an invertible affine.Affine")
        self._dst_gt = _geotransform(dst_transform)
        self._src_inv = _inverse_geotransform(_geotransform(src_transform))
        self._proj = (
            None if dst_crs == src_crs else Transformer.from_crs(dst_crs, src_crs, always_xy=True)
        )

    def exact(self, px: Array, py: Array) -> tuple[Array, Array]:
        """Transform destination pixel coordinates; NaN where PROJ fails."""
        g0, g1, g2, g3, g4, g5 = self._dst_gt
        gx = g0 + px * g1 + py * g2
        gy = g3 + px * g4 + py * g5
        if self._proj is not None:
            gx, gy = self._proj.transform(gx, gy, errcheck=False)
            gx = np.asarray(gx, dtype=np.float64)
            gy = np.asarray(gy, dtype=np.float64)
            bad = ~(np.isfinite(gx) & np.isfinite(gy))
            gx[bad] = np.nan
            gy[bad] = np.nan
        i0, i1, i2, i3, i4, i5 = self._src_inv
        return i0 + gx * i1 + gy * i2, i3 + gx * i4 + gy * i5

    def grid(
        self,
        height: int,
        width: int,
        threshold: float,
        window: tuple[int, int, int, int] | None = None,
    ) -> tuple[Array, Array]:
        """Source coordinates of every destination pixel centre (GDAL's approx transformer).

        GDAL transforms one destination row at a time. For a segment of a row it
        transforms the first, middle (``(n - 1) // 2``) and last points; if linear
        interpolation from the ends misses the middle by more than ``threshold``
        (``|dx| + |dy|``), it splits the segment into ``[first, middle - 1]`` and
        ``[middle, last]`` and repeats; segments of five points or fewer are
        transformed point by point. All rows are processed together, level by level.

        ``window`` ``(row_off, col_off, h, w)``: only those pixels, with the segments
        of whole rows of the grid, so each value is the one the whole grid has.
        """
        r0, c0, h, w = window or (0, 0, height, width)
        cut = (c0, c0 + w)
        xs = np.arange(width, dtype=np.float64) + 0.5
        ys = np.arange(r0, r0 + h, dtype=np.float64) + 0.5
        out_x = np.empty((h, w), dtype=np.float64)
        out_y = np.empty((h, w), dtype=np.float64)
        rows = np.arange(h, dtype=np.intp)
        starts = np.zeros(h, dtype=np.intp)
        ends = np.full(h, width - 1, dtype=np.intp)
        exact = functools.partial(self._fill_exact, out_x, out_y, xs=xs, ys=ys, cut=cut)
        if threshold == 0 or width < _MIN_SEGMENT:
            exact(rows=rows, starts=starts, ends=ends)
            return out_x, out_y
        while rows.size:
            mids = starts + (ends - starts) // 2
            px = np.concatenate([xs[starts], xs[mids], xs[ends]])
            py = np.tile(ys[rows], 3)
            tx, ty = self.exact(px, py)
            n = rows.size
            x0, x1, x2 = tx[:n], tx[n : 2 * n], tx[2 * n :]
            y0, y1, y2 = ty[:n], ty[n : 2 * n], ty[2 * n :]
            span = xs[ends] - xs[starts]
            delta_x = (x2 - x0) / span
            delta_y = (y2 - y0) / span
            offset = xs[mids] - xs[starts]
            error = np.abs((x0 + delta_x * offset) - x1) + np.abs((y0 + delta_y * offset) - y1)
            failed = ~np.isfinite(error)
            good = ~failed & (error <= threshold)
            self._fill_linear(
                out_x,
                out_y,
                rows=rows[good],
                starts=starts[good],
                ends=ends[good],
                xs=xs,
                x0=x0[good],
                y0=y0[good],
                delta_x=delta_x[good],
                delta_y=delta_y[good],
                cut=cut,
            )
            exact(rows=rows[failed], starts=starts[failed], ends=ends[failed])
            split = ~failed & ~good
            rows, starts, ends, mids = rows[split], starts[split], ends[split], mids[split]
            rows = np.concatenate([rows, rows])
            new_starts = np.concatenate([starts, mids])
            new_ends = np.concatenate([mids - 1, ends])
            small = new_ends - new_starts + 1 < _MIN_SEGMENT
            exact(rows=rows[small], starts=new_starts[small], ends=new_ends[small])
            rows, starts, ends = rows[~small], new_starts[~small], new_ends[~small]
        return out_x, out_y

    def _fill_exact(
        self,
        out_x: Array,
        out_y: Array,
        *,
        rows: NDArray[np.intp],
        starts: NDArray[np.intp],
        ends: NDArray[np.intp],
        xs: Array,
        ys: Array,
        cut: tuple[int, int],
    ) -> None:
        """Transform every point of the given row segments within columns ``cut``."""
        lo, hi = np.maximum(starts, cut[0]), np.minimum(ends, cut[1] - 1)
        keep = lo <= hi
        if not keep.any():
            return
        seg_rows, cols, _seg = _expand(rows[keep], lo[keep], hi[keep])
        tx, ty = self.exact(xs[cols], ys[seg_rows])
        out_x[seg_rows, cols - cut[0]] = tx
        out_y[seg_rows, cols - cut[0]] = ty

    @staticmethod
    def _fill_linear(
        out_x: Array,
        out_y: Array,
        *,
        rows: NDArray[np.intp],
        starts: NDArray[np.intp],
        ends: NDArray[np.intp],
        xs: Array,
        x0: Array,
        y0: Array,
        delta_x: Array,
        delta_y: Array,
        cut: tuple[int, int],
    ) -> None:
        """Interpolate row segments from their first point, with GDAL's formula.

        Only columns ``cut`` are written (from the segments' own first points).
        """
        if rows.size == 0:
            return
        full = (starts == 0) & (ends == xs.size - 1)
        if full.any():  # whole rows (the usual case): broadcast instead of scattering
            dist_row = xs[cut[0] : cut[1]] - xs[0]
            out_x[rows[full]] = x0[full, None] + delta_x[full, None] * dist_row
            out_y[rows[full]] = y0[full, None] + delta_y[full, None] * dist_row
            part = ~full
            rows, starts, ends = rows[part], starts[part], ends[part]
            x0, y0, delta_x, delta_y = x0[part], y0[part], delta_x[part], delta_y[part]
        lo, hi = np.maximum(starts, cut[0]), np.minimum(ends, cut[1] - 1)
        keep = lo <= hi
        if not keep.any():
            return
        seg_rows, cols, seg = _expand(rows[keep], lo[keep], hi[keep])
        first = starts[keep][seg]
        dist = xs[cols] - xs[first]
        out_x[seg_rows, cols - cut[0]] = x0[keep][seg] + delta_x[keep][seg] * dist
        out_y[seg_rows, cols - cut[0]] = y0[keep][seg] + delta_y[keep][seg] * dist

    def kernel_scale(self, dst_h: int, dst_w: int, src_h: int, src_w: int) -> tuple[float, float]:
        """The destination/source scale GDAL sizes bilinear and cubic kernels with.

        ``GDALWarpOperation::ComputeSourceWindow`` transforms 21 points along each
        edge of the destination, takes their bounding box in source pixels (clipped on
        the far side by the image) and divides the destination size by its size;
        ``GDALWarpKernel`` then snaps scales near ``1/n`` to ``1/n``.
        """
        steps = np.zeros(_SAMPLE_STEPS, dtype=np.float64)
        step = 1.0 / (_SAMPLE_STEPS - 1)
        for i in range(1, _SAMPLE_STEPS):  # GDAL accumulates the ratio by addition
            steps[i] = steps[i - 1] + step
        along_x: Array = steps * float(dst_w)
        along_y: Array = steps * float(dst_h)
        px = np.concatenate(
            [
                along_x,
                along_x,
                np.zeros(_SAMPLE_STEPS),
                np.full(_SAMPLE_STEPS, float(dst_w)),
            ]
        )
        py = np.concatenate(
            [
                np.zeros(_SAMPLE_STEPS),
                np.full(_SAMPLE_STEPS, float(dst_h)),
                along_y,
                along_y,
            ]
        )
        sx, sy = self.exact(px, py)
        ok = np.isfinite(sx) & np.isfinite(sy)
        if not ok.any():
            return (1.0, 1.0)
        return (
            _axis_scale(dst_w, sx[ok], src_w),
            _axis_scale(dst_h, sy[ok], src_h),
        )


_NEAR_INT = 1e-6
"""A source window edge this close to a whole pixel counts as on it (measured against GDAL
3.10: an edge 9e-7 px short of a pixel boundary sizes the kernel as if on it, 1e-6 short
does not)."""


def _axis_scale(dst_size: int, coords: Array, src_size: int) -> float:
    """One axis of :meth:`_PixelTransformer.kernel_scale`."""
    lo, hi = float(coords.min()), float(coords.max())
    if abs(lo - round(lo)) < _NEAR_INT:  # GDAL snaps the window's start, then truncates
        lo = float(round(lo))
    lo_clamped = int(max(0.0, lo))
    raw = max(0.0, min(float(src_size - lo_clamped), hi - lo))
    if raw <= 0:
        return 1.0
    scale = dst_size / raw
    if scale < 1.0:
        reciprocal = 1.0 / scale
        nearest = int(reciprocal + 0.5)
        if abs(reciprocal - nearest) < 0.05:
            scale = 1.0 / nearest
    return scale


def _expand(
    rows: NDArray[np.intp], starts: NDArray[np.intp], ends: NDArray[np.intp]
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Every ``(row, col, segment)`` of a set of row segments, without a Python loop."""
    counts = ends - starts + 1
    seg = np.repeat(np.arange(rows.size, dtype=np.intp), counts)
    first = np.cumsum(counts) - counts
    cols = starts[seg] + (np.arange(seg.size, dtype=np.intp) - first[seg])
    return rows[seg], cols, seg


def _geotransform(t: Affine) -> tuple[float, float, float, float, float, float]:
    """GDAL's geotransform order of an affine."""
    return (t.c, t.a, t.b, t.f, t.d, t.e)


def _inverse_geotransform(
    gt: tuple[float, float, float, float, float, float],
) -> tuple[float, float, float, float, float, float]:
    """``GDALInvGeoTransform``, with its special case for north-up grids."""
    g0, g1, g2, g3, g4, g5 = gt
    if g2 == 0.0 and g4 == 0.0 and g1 != 0.0 and g5 != 0.0:
        return (-g0 / g1, 1.0 / g1, 0.0, -g3 / g5, 0.0, 1.0 / g5)
    inv_det = 1.0 / (g1 * g5 - g2 * g4)
    return (
        (g2 * g3 - g0 * g5) * inv_det,
        g5 * inv_det,
        -g2 * inv_det,
        (-g1 * g3 + g0 * g4) * inv_det,
        -g4 * inv_det,
        g1 * inv_det,
    )


# --------------------------------------------------------------------------- applying


def apply_warp(
    plan: WarpPlan,
    src: NDArray[np.generic],
    *,
    src_nodata: float | None,
    dst_fill: float,
    dst_dtype: DTypeLike | None = None,
    src_mask: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.generic], NDArray[np.bool_]]:
    """Resample the pixels of ``plan.src_window`` onto the destination grid.

    Args:
        plan: From :func:`plan_warp`.
        src: The source pixels of ``plan.src_window``, shape ``(height, width)``.
        src_nodata: Source value that marks missing pixels (NaN allowed); they are
            never used and a destination pixel over one stays unfilled.
        dst_fill: Value of destination pixels that get no data.
        dst_dtype: Output dtype; the source dtype when None. Integers are rounded
            half up and clamped, as GDAL writes them.
        src_mask: Where the source has data (a file's internal mask), shaped like
            ``src``; its False pixels are missing as nodata ones are.

    Returns:
        ``(pixels, valid)``: the destination array and where it holds data.

    Raises:
        InvalidInputError: ``src`` is not 2-D or does not match ``plan.src_window``.
    """
    _, _, win_w, win_h = plan.src_window
    src = np.asarray(src)
    if src.ndim != 2 or src.shape != (win_h, win_w):
        raise InvalidInputError(
            "src", src.shape, f"expected the ({win_h}, {win_w}) pixels of plan.src_window"
        )
    out_dtype = np.dtype(src.dtype if dst_dtype is None else dst_dtype)
    out = np.full(plan.dst_shape, dst_fill, dtype=out_dtype)
    valid = np.zeros(plan.dst_shape, dtype=bool)
    if plan.is_empty:
        return out, valid
    src_valid = _valid_pixels(src, src_nodata)
    if src_mask is not None:
        if src_mask.shape != src.shape:
            raise InvalidInputError("src_mask", src_mask.shape, f"expected {src.shape}")
        src_valid = src_mask if src_valid is None else src_valid & src_mask
    positions = np.flatnonzero(plan.inside)
    nearest = plan.nearest.ravel()[positions]
    if src_valid is not None:
        # GDAL skips a destination pixel whose nearest source pixel is nodata, for
        # every resampling (the kernel's other pixels are not consulted).
        keep = src_valid.ravel()[nearest]
        positions, nearest = positions[keep], nearest[keep]
    if plan.resampling is Resampling.NEAREST:
        picked = src.ravel()[nearest]
        if picked.dtype == out_dtype:
            out.ravel()[positions] = picked
        else:
            out.ravel()[positions] = _cast(picked.astype(np.float64), out_dtype)
        valid.ravel()[positions] = True
        return out, valid
    sampler = _Sampler(plan, src, src_valid)
    four_sample = min(plan.scale) >= _FOUR_SAMPLE_SCALE
    if plan.resampling is Resampling.BILINEAR and four_sample:
        method = sampler.bilinear4
    elif plan.resampling is Resampling.CUBIC and four_sample:
        method = sampler.cubic4
    else:
        method = sampler.kernel
    src_x = plan.src_x.ravel()
    src_y = plan.src_y.ravel()
    # Blocks keep the many float64 temporaries in cache instead of paging in new memory.
    for start in range(0, positions.size, _BLOCK):
        block = positions[start : start + _BLOCK]
        values, ok = method(src_x[block], src_y[block])
        out.ravel()[block[ok]] = _cast(values[ok], out_dtype)
        valid.ravel()[block[ok]] = True
    return out, valid


def _valid_pixels(src: NDArray[np.generic], nodata: float | None) -> NDArray[np.bool_] | None:
    """Where the source holds data, or None when every pixel does."""
    if nodata is None:
        return None
    if isinstance(nodata, float) and math.isnan(nodata):
        if not np.issubdtype(src.dtype, np.floating):
            return None
        return np.asarray(~np.isnan(src), dtype=bool)
    if np.issubdtype(src.dtype, np.integer):
        info = np.iinfo(cast("Any", src.dtype))
        if not (float(nodata).is_integer() and info.min <= nodata <= info.max):
            return None  # a nodata value the dtype cannot hold marks nothing
        return np.asarray(src != int(nodata))
    return np.asarray(src != src.dtype.type(nodata))


def _cast(values: Array, dtype: np.dtype[np.generic]) -> NDArray[np.generic]:
    """GDAL's write of a double: round half up and clamp for integers, cast for floats."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(cast("Any", dtype))
        return np.clip(np.floor(values + 0.5), info.min, info.max).astype(dtype)
    return values.astype(dtype)


class _Sampler:
    """The kernels of GDAL's warp kernel, vectorised over the destination pixels.

    The window is copied once into a float64 array padded with a border of unusable
    pixels, with nodata pixels zeroed, next to a 0/1 usability array. Every kernel
    tap is then two gathers and two multiply-adds: adding ``0 * weight`` is exactly
    GDAL's skipping of a pixel, so the sums stay bit-identical to GDAL's.
    """

    def __init__(
        self,
        plan: WarpPlan,
        src: NDArray[np.generic],
        src_valid: NDArray[np.bool_] | None,
    ) -> None:
        self._method = plan.resampling
        self._height, self._width = plan.src_shape
        self._scale = plan.scale
        self._masked = src_valid is not None
        col_off, row_off, win_w, win_h = plan.src_window
        radius = max(_kernel_radius(plan.resampling, s) for s in plan.scale)
        pad = radius + 2
        self._pad_w = win_w + 2 * pad
        values = np.zeros((win_h + 2 * pad, self._pad_w), dtype=np.float64)
        usable = np.zeros(values.shape, dtype=np.float64)
        inner = (slice(pad, pad + win_h), slice(pad, pad + win_w))
        values[inner] = src
        usable[inner] = 1.0
        if src_valid is not None:
            values[inner][~src_valid] = 0.0
            usable[inner][~src_valid] = 0.0
        self._values = values.ravel()
        self._usable = usable.ravel()
        self._origin = (col_off - pad, row_off - pad)

    def _index(self, cols: NDArray[np.intp], rows: NDArray[np.intp]) -> NDArray[np.intp]:
        """Flat index into the padded window of image pixels ``(cols, rows)``."""
        return (rows - self._origin[1]) * self._pad_w + (cols - self._origin[0])

    def _tap(self, index: NDArray[np.intp]) -> tuple[Array, Array]:
        """Value (0 where unusable) and usability (0.0 or 1.0) at flat indices."""
        return self._values.take(index), self._usable.take(index)

    def bilinear4(self, x: Array, y: Array) -> tuple[Array, NDArray[np.bool_]]:
        """``GWKBilinearResample4Sample``: four pixels, bad ones dropped, renormalised."""
        ix = np.floor(x - 0.5).astype(np.intp)
        iy = np.floor(y - 0.5).astype(np.intp)
        ratio_x = 1.5 - (x - ix)
        ratio_y = 1.5 - (y - iy)
        left = ix == -1
        ix[left] = 0
        ratio_x[left] = 1.0
        top = iy == -1
        iy[top] = 0
        ratio_y[top] = 1.0
        # Off-image neighbours (right of the last column, below the last row) are
        # unusable: the padding holds them, or they are columns of the next row.
        right_ok = (ix + 1 < self._width).astype(np.float64)
        below_ok = (iy + 1 < self._height).astype(np.float64)
        index = self._index(ix, iy)
        corners = (
            (index, ratio_x * ratio_y, None),
            (index + 1, (1.0 - ratio_x) * ratio_y, right_ok),
            (index + self._pad_w, ratio_x * (1.0 - ratio_y), below_ok),
            (index + self._pad_w + 1, (1.0 - ratio_x) * (1.0 - ratio_y), right_ok * below_ok),
        )
        acc = np.zeros_like(x)
        divisor = np.zeros_like(x)
        values = []
        for flat, weight, ok in corners:
            value, usable = self._tap(flat)
            if ok is not None:
                value *= ok
                usable *= ok
            values.append(value)
            acc += value * weight
            divisor += usable * weight
        with np.errstate(invalid="ignore", divide="ignore"):
            result = np.where(divisor == 1.0, acc, acc / divisor)
        if not self._masked:
            # Without masks GDAL uses a separable formula inside the image.
            interior = (right_ok * below_ok > 0) & ~left & ~top
            v00, v01, v10, v11 = values
            direct = (v00 * ratio_x + v01 * (1.0 - ratio_x)) * ratio_y + (
                v10 * ratio_x + v11 * (1.0 - ratio_x)
            ) * (1.0 - ratio_y)
            result = np.where(interior, direct, result)
        return result, divisor >= 0.00001

    def cubic4(self, x: Array, y: Array) -> tuple[Array, NDArray[np.bool_]]:
        """``GWKCubicResample4Sample``: 4 x 4 Catmull-Rom, bilinear near edges and holes."""
        ix = (x - 0.5).astype(np.intp)  # GDAL truncates here, unlike bilinear
        iy = (y - 0.5).astype(np.intp)
        coeff_x = _cubic_weights(x - 0.5 - ix)
        coeff_y = _cubic_weights(y - 0.5 - iy)
        all_usable = (ix >= 1) & (ix + 2 < self._width) & (iy >= 1) & (iy + 2 < self._height)
        index = self._index(ix, iy)
        rows_conv = []
        for j in range(-1, 3):
            row_value = np.zeros_like(x)
            for i in range(-1, 3):
                value, usable = self._tap(index + (j * self._pad_w + i))
                all_usable &= usable > 0
                row_value += coeff_x[i + 1] * value
            rows_conv.append(row_value)
        result = coeff_y[0] * rows_conv[0]
        for k in range(1, 4):
            result += coeff_y[k] * rows_conv[k]
        fallback, fallback_ok = self.bilinear4(x, y)
        return np.where(all_usable, result, fallback), all_usable | fallback_ok

    def kernel(self, x: Array, y: Array) -> tuple[Array, NDArray[np.bool_]]:
        """``GWKResample``: a kernel stretched by 1/scale over a coarser destination."""
        method = self._method
        base = _FILTER_RADIUS[method]
        weight_fn = _tent if method is Resampling.BILINEAR else _cubic_kernel
        scale_x, scale_y = (min(s, 1.0) for s in self._scale)
        radius_x = _kernel_radius(method, self._scale[0])
        radius_y = _kernel_radius(method, self._scale[1])
        ix = np.floor(x - 0.5).astype(np.intp)
        iy = np.floor(y - 0.5).astype(np.intp)
        dx = x - 0.5 - ix
        dy = y - 0.5 - iy
        index = self._index(ix, iy)
        # Columns/rows off the image are unusable; the padding only covers the window.
        taps_x = []
        for i in range((base + 1) % 2 - radius_x, radius_x + 1):
            weight = weight_fn((i - dx) * scale_x)
            if weight.any():  # GDAL adds these zero-weight taps too; skipping adds nothing
                weight *= (ix + i >= 0) & (ix + i < self._width)
                taps_x.append((i, weight))
        acc = np.zeros_like(x)
        total = np.zeros_like(x)
        local_acc = np.empty_like(x)
        local_total = np.empty_like(x)
        for j in range((base + 1) % 2 - radius_y, radius_y + 1):
            weight_y = weight_fn((j - dy) * scale_y)
            if not weight_y.any():
                continue
            weight_y *= (iy + j >= 0) & (iy + j < self._height)
            local_acc.fill(0.0)
            local_total.fill(0.0)
            for i, weight_x in taps_x:
                value, usable = self._tap(index + (j * self._pad_w + i))
                local_acc += value * weight_x
                local_total += usable * weight_x
            acc += local_acc * weight_y
            total += local_total * weight_y
        ok = total >= 0.000001
        with np.errstate(invalid="ignore", divide="ignore"):
            if not self._masked:
                result = acc / total
            else:
                near_one = (total >= 0.99999) & (total <= 1.00001)
                result = np.where(near_one, acc, acc / total)
        return result, ok


def _tent(d: Array) -> Array:
    """GDAL's bilinear weight ``max(0, 1 - |d|)``."""
    return np.maximum(1.0 - np.abs(d), 0.0)


def _cubic_kernel(d: Array) -> Array:
    """GDAL's ``CubicKernel`` (Keys, a = -0.5)."""
    a = np.abs(d)
    d2 = d * d
    inner = d2 * (1.5 * a - 2.5) + 1
    outer = d2 * (-0.5 * a + 2.5) - 4 * a + 2
    return np.where(a <= 1.0, inner, np.where(a <= 2.0, outer, 0.0))


def _cubic_weights(t: Array) -> tuple[Array, Array, Array, Array]:
    """``GWKCubicComputeWeights``: the four Catmull-Rom weights at offset ``t``."""
    half = 0.5 * t
    three = 3.0 * t
    half2 = half * t
    return (
        half * (-1 + t * (2 - t)),
        1 + half2 * (-5 + three),
        half * (1 + t * (4 - three)),
        half2 * (-1 + t),
    )
