"""Pixel grids, windows and the reprojection of AOIs onto them.

Transforms are :class:`affine.Affine` in rasterio's convention
(``x = a*col + b*row + c``, ``y = d*col + e*row + f``). Windows are computed with the
same arithmetic as rasterio (``~transform`` applied to every vertex, ``floor`` of the
minimum, ``ceil`` of the maximum), so a read covers exactly the pixels
``rasterio.mask.mask(..., crop=True)`` would, down to AOIs whose bounds fall exactly on
pixel edges. Grids that several scenes share are snapped to a common anchor so pixels
line up across scenes without resampling.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from pyproj import CRS, Transformer

from rasteret.errors import InvalidInputError

__all__ = [
    "OutputGrid",
    "Window",
    "aligned_grid",
    "bounds_window",
    "geometry_window",
    "is_aligned",
    "offset_in",
    "transform_bounds",
    "transform_geometry",
]

Bounds = tuple[float, float, float, float]
"""``(minx, miny, maxx, maxy)`` in some CRS."""

_ALIGN_TOLERANCE_PX: Final = 1e-6
"""Offsets within this many pixels of an integer count as aligned (float noise)."""


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True, kw_only=True)
class Window:
    """A rectangle of pixels; offsets may be negative (boundless reads)."""

    col_off: int
    """First column, relative to the parent grid."""
    row_off: int
    """First row, relative to the parent grid."""
    width: int
    """Number of columns (>= 0)."""
    height: int
    """Number of rows (>= 0)."""

    def intersection(self, other: Window) -> Window | None:
        """The pixels both windows cover, or None when they do not overlap."""
        col0 = max(self.col_off, other.col_off)
        row0 = max(self.row_off, other.row_off)
        col1 = min(self.col_off + self.width, other.col_off + other.width)
        row1 = min(self.row_off + self.height, other.row_off + other.height)
        if col1 <= col0 or row1 <= row0:
            return None
        return Window(col_off=col0, row_off=row0, width=col1 - col0, height=row1 - row0)

    def transform(self, parent_transform: Affine) -> Affine:
        """The affine of this window's pixel (0, 0), as ``dataset.window_transform``."""
        return parent_transform @ Affine.translation(self.col_off, self.row_off)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``, the shape of an array read through this window."""
        return (self.height, self.width)


def geometry_window(
    geom: shapely.Geometry | Iterable[shapely.Geometry],
    transform: Affine,
    *,
    width: int | None = None,
    height: int | None = None,
    boundless: bool = True,
    pad_x: float = 0.0,
    pad_y: float = 0.0,
) -> Window:
    """The pixel window covering a geometry's vertices, as rasterio computes it.

    Equal to ``rasterio.features.geometry_window`` (rasterio 1.4): every vertex goes
    through ``~transform``, the window starts at ``floor`` of the smallest pixel
    coordinate and ends at ``ceil`` of the largest. Bounds exactly on a pixel edge
    therefore add no pixel, and rotated transforms get the window around the rotated
    vertices. This is also the window ``rasterio.mask.mask(crop=True)`` reads.

    Args:
        geom: A geometry or several, in the CRS of ``transform``.
        transform: The raster's pixel-to-CRS affine.
        width: Raster width in pixels, needed when ``boundless=False``.
        height: Raster height in pixels, needed when ``boundless=False``.
        boundless: Keep parts of the window outside the raster (negative offsets, or
            past its size); False clips to the raster.
        pad_x: Padding in pixels added left and right (``rasterio.mask`` ``pad_width``).
        pad_y: Padding in pixels added top and bottom.

    Raises:
        InvalidInputError: Empty or non-finite geometry, a degenerate transform,
            ``boundless=False`` without the raster size, or a geometry that misses
            the raster when clipping.
    """
    geoms = [geom] if isinstance(geom, shapely.Geometry) else list(geom)
    if not geoms or not all(isinstance(g, shapely.Geometry) for g in geoms):
        raise InvalidInputError("geom", type(geom).__name__, "expected shapely geometries")
    coords = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    if coords.size == 0:
        raise InvalidInputError("geom", type(geom).__name__, "the geometry is empty")
    return _window_of_points(
        coords, transform, width=width, height=height, boundless=boundless, pad=(pad_x, pad_y)
    )


def bounds_window(
    bounds: Bounds,
    transform: Affine,
    *,
    width: int | None = None,
    height: int | None = None,
    boundless: bool = True,
) -> Window:
    """The window of a bbox, equal to :func:`geometry_window` of ``box(*bounds)``.

    That is what ``rasterio.mask.mask(crop=True)`` reads for a box AOI (it calls
    ``geometry_window``, not ``windows.from_bounds``, whose rounding differs).
    """
    minx, miny, maxx, maxy = _check_bounds(bounds, "bounds")
    corners = np.array([[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy]])
    return _window_of_points(
        corners, transform, width=width, height=height, boundless=boundless, pad=(0.0, 0.0)
    )


def _window_of_points(
    coords: NDArray[np.float64],
    transform: Affine,
    *,
    width: int | None,
    height: int | None,
    boundless: bool,
    pad: tuple[float, float],
) -> Window:
    """Shared body of the window functions: rasterio's arithmetic, vectorised."""
    if not np.isfinite(coords).all():
        raise InvalidInputError("geom", "coordinates", "coordinates must be finite")
    inverse = _invert(transform)
    xs = coords[:, 0]
    ys = coords[:, 1]
    # Same operations, in the same order, as Affine.__matmul__ on a vector.
    cols = xs * inverse.a + ys * inverse.b + inverse.c
    rows = xs * inverse.d + ys * inverse.e + inverse.f
    pad_x, pad_y = pad
    col0 = math.floor(float(cols.min()) - pad_x)
    col1 = math.ceil(float(cols.max()) + pad_x)
    row0 = math.floor(float(rows.min()) - pad_y)
    row1 = math.ceil(float(rows.max()) + pad_y)
    window = Window(
        col_off=col0, row_off=row0, width=max(col1 - col0, 0), height=max(row1 - row0, 0)
    )
    if boundless:
        return window
    if width is None or height is None:
        raise InvalidInputError(
            "boundless", boundless, "clipping to the raster needs its width and height"
        )
    clipped = window.intersection(Window(col_off=0, row_off=0, width=width, height=height))
    if clipped is None:
        raise InvalidInputError("geom", window, f"does not overlap the {width} x {height} raster")
    return clipped


def _invert(transform: Affine) -> Affine:
    """``~transform``, refusing degenerate transforms with a named error."""
    if not isinstance(transform, Affine):
        raise InvalidInputError("transform", transform, "expected an affine.Affine")
    if transform.is_degenerate:
        raise InvalidInputError("transform", transform, "the affine transform is not invertible")
    inverse: Affine = ~transform
    return inverse


# --------------------------------------------------------------------------- reprojection


def transform_geometry(
    geom: shapely.Geometry, src_crs: object, dst_crs: object, *, densify: int = 21
) -> shapely.Geometry:
    """Reproject a geometry, densifying its edges first so they bend as they should.

    A straight edge in one CRS is a curve in another (the long edge of a lat/lon box
    is curved in UTM); projecting only the vertices would cut that curve off, and the
    AOI would lose pixels along it. Each edge of every ring (holes and multipolygon
    parts included) and of every line gets ``densify`` evenly spaced points before
    projection; points are projected as they are.

    Args:
        geom: Geometry in ``src_crs``.
        src_crs: Anything ``pyproj.CRS.from_user_input`` reads.
        dst_crs: Likewise.
        densify: Points inserted per edge (pyproj's ``densify_pts`` default).

    Returns:
        The geometry in ``dst_crs`` (the input itself when the CRSs are equal).

    Raises:
        InvalidInputError: A bad ``densify``, or coordinates outside the area where the
            projection is defined.
    """
    if not isinstance(densify, int) or densify < 0:
        raise InvalidInputError("densify", densify, "must be an integer >= 0")
    src = CRS.from_user_input(src_crs)
    dst = CRS.from_user_input(dst_crs)
    if src == dst:
        return geom
    transformer = _transformer(src, dst)
    dense = _densify(geom, densify)

    def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    out = shapely.transform(dense, project)
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise InvalidInputError(
            "geometry",
            shapely.to_wkt(geom, rounding_precision=6),
            f"cannot be projected from {src.to_string()} to {dst.to_string()}",
        )
    return out


_transformers = threading.local()


def _transformer(src: CRS, dst: CRS) -> Transformer:
    """An ``always_xy`` transformer from ``src`` to ``dst``, one per pair and thread.

    Building one costs a few hundred microseconds, and a batch of chip reads asks for
    the same pair every time; pyproj transformers must not be shared across threads.
    """
    cache: dict[tuple[str, str], Transformer] | None = getattr(_transformers, "by_pair", None)
    if cache is None:
        cache = _transformers.by_pair = {}
    key = (src.to_wkt(), dst.to_wkt())
    found = cache.get(key)
    if found is None:
        if len(cache) > 64:
            cache.clear()
        found = cache[key] = Transformer.from_crs(src, dst, always_xy=True)
    return found


def _densify(geom: shapely.Geometry, count: int) -> shapely.Geometry:  # noqa: PLR0911
    """Insert ``count`` points on every edge of every ring and line, vectorised."""
    if count == 0 or shapely.is_empty(geom):
        return geom
    kind = shapely.get_type_id(geom)
    if kind in (
        shapely.GeometryType.MULTIPOLYGON,
        shapely.GeometryType.MULTILINESTRING,
        shapely.GeometryType.GEOMETRYCOLLECTION,
    ):
        parts = [_densify(part, count) for part in shapely.get_parts(geom)]
        if kind == shapely.GeometryType.MULTIPOLYGON:
            return shapely.MultiPolygon(parts)  # type: ignore[arg-type]  # parts are Polygons
        if kind == shapely.GeometryType.MULTILINESTRING:
            return shapely.MultiLineString(parts)  # type: ignore[arg-type]  # parts are lines
        return shapely.GeometryCollection(parts)
    if kind == shapely.GeometryType.POLYGON:
        rings = shapely.get_rings(geom)
        dense = [_densify_coords(shapely.get_coordinates(r), count) for r in rings]
        return shapely.Polygon(dense[0], dense[1:])
    if kind == shapely.GeometryType.LINESTRING:
        return shapely.LineString(_densify_coords(shapely.get_coordinates(geom), count))
    if kind == shapely.GeometryType.LINEARRING:
        return shapely.LinearRing(_densify_coords(shapely.get_coordinates(geom), count))
    return geom


def _densify_coords(coords: NDArray[np.float64], count: int) -> NDArray[np.float64]:
    """``count`` evenly spaced points on each segment of a coordinate sequence."""
    start = coords[:-1]
    step = coords[1:] - start
    fractions = np.arange(count + 1, dtype=np.float64) / (count + 1)
    points = start[:, None, :] + fractions[None, :, None] * step[:, None, :]
    return np.concatenate([points.reshape(-1, 2), coords[-1:]])


def transform_bounds(
    bounds: Bounds, src_crs: object, dst_crs: object, *, densify: int = 21
) -> Bounds:
    """Reproject a bbox to the bbox of its densified outline (as GDAL and pyproj do).

    Handles the antimeridian as pyproj does: a geographic result may have
    ``minx > maxx``.
    """
    minx, miny, maxx, maxy = _check_bounds(bounds, "bounds")
    src = CRS.from_user_input(src_crs)
    dst = CRS.from_user_input(dst_crs)
    if src == dst:
        return (minx, miny, maxx, maxy)
    transformer = Transformer.from_crs(src, dst, always_xy=True)
    out = transformer.transform_bounds(minx, miny, maxx, maxy, densify_pts=densify)
    return (float(out[0]), float(out[1]), float(out[2]), float(out[3]))


def _check_bounds(bounds: object, parameter: str) -> Bounds:
    """Four finite numbers with min <= max."""
    try:
        minx, miny, maxx, maxy = (float(v) for v in bounds)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as err:
        raise InvalidInputError(parameter, bounds, "expected (minx, miny, maxx, maxy)") from err
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidInputError(parameter, bounds, "bounds must be finite")
    if minx > maxx or miny > maxy:
        raise InvalidInputError(parameter, bounds, "min is greater than max")
    return (minx, miny, maxx, maxy)


# --------------------------------------------------------------------------- grids


@dataclass(frozen=True, kw_only=True)
class OutputGrid:
    """A north-up pixel grid that results are delivered on."""

    crs: CRS
    """CRS of the grid."""
    transform: Affine
    """Pixel-to-CRS affine of pixel (0, 0)."""
    width: int
    """Number of columns."""
    height: int
    """Number of rows."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    @property
    def bounds(self) -> Bounds:
        """``(minx, miny, maxx, maxy)`` of the grid's outer pixel edges."""
        corners = [self.transform @ (c, r) for c in (0, self.width) for r in (0, self.height)]
        xs = [p[0] for p in corners]
        ys = [p[1] for p in corners]
        return (min(xs), min(ys), max(xs), max(ys))

    def window(self, window: Window) -> OutputGrid:
        """The sub-grid (or boundless super-grid) a window of this grid covers."""
        return OutputGrid(
            crs=self.crs,
            transform=window.transform(self.transform),
            width=window.width,
            height=window.height,
        )


def aligned_grid(
    bounds: Bounds,
    resolution: tuple[float, float],
    crs: object,
    *,
    anchor: tuple[float, float] = (0.0, 0.0),
    tolerance: float = _ALIGN_TOLERANCE_PX,
) -> OutputGrid:
    """The smallest north-up grid covering ``bounds`` whose pixel edges sit on ``anchor``.

    Edges are snapped outward to ``anchor + k * resolution``, so every grid made with
    the same resolution and anchor shares pixel edges, whatever bounds asked for it
    (odc-geo's ``GeoBox.from_bbox(..., tight=False)``). Bounds within ``tolerance``
    pixels of a grid line snap to it instead of growing by a pixel of float noise.

    Args:
        bounds: ``(minx, miny, maxx, maxy)`` in ``crs``.
        resolution: ``(xres, yres)``, both positive, in CRS units.
        crs: The grid's CRS.
        anchor: A point on a pixel corner of the grid.
        tolerance: Snapping tolerance in pixels.

    Raises:
        InvalidInputError: Bad bounds or non-positive resolution.
    """
    minx, miny, maxx, maxy = _check_bounds(bounds, "bounds")
    try:
        xres, yres = (float(v) for v in resolution)
    except (TypeError, ValueError) as err:
        raise InvalidInputError("resolution", resolution, "expected (xres, yres)") from err
    if not (xres > 0 and yres > 0 and math.isfinite(xres) and math.isfinite(yres)):
        raise InvalidInputError("resolution", resolution, "must be two positive numbers")
    ax, ay = (float(v) for v in anchor)

    def snap(value: float, origin: float, res: float, *, up: bool) -> int:
        steps = (value - origin) / res
        nearest = round(steps)
        if abs(steps - nearest) <= tolerance:
            return int(nearest)
        return math.ceil(steps) if up else math.floor(steps)

    col0 = snap(minx, ax, xres, up=False)
    col1 = max(snap(maxx, ax, xres, up=True), col0 + 1)
    row0 = snap(miny, ay, yres, up=False)
    row1 = max(snap(maxy, ay, yres, up=True), row0 + 1)
    return OutputGrid(
        crs=CRS.from_user_input(crs),
        transform=Affine(xres, 0.0, ax + col0 * xres, 0.0, -yres, ay + row1 * yres),
        width=col1 - col0,
        height=row1 - row0,
    )


def grid_of_scene(transform: Affine, width: int, height: int, crs: object) -> OutputGrid:
    """A scene's own pixel grid, to read it natively (no snapping)."""
    return OutputGrid(crs=CRS.from_user_input(crs), transform=transform, width=width, height=height)


def is_aligned(
    scene_transform: Affine, grid_transform: Affine, *, tolerance: float = _ALIGN_TOLERANCE_PX
) -> bool:
    """Whether a scene's pixels coincide with a grid's, so it can be read without resampling.

    True when both are unrotated, have the same resolution (relative 1e-9), and the
    grid origin lies an integer number of scene pixels (within ``tolerance``) from the
    scene origin.
    """
    return _pixel_offset(scene_transform, grid_transform, tolerance) is not None


def offset_in(scene_transform: Affine, grid_transform: Affine) -> tuple[int, int]:
    """``(col, row)`` of the grid's pixel (0, 0) in the scene's pixel grid.

    Raises:
        InvalidInputError: The grids are not aligned (see :func:`is_aligned`).
    """
    offset = _pixel_offset(scene_transform, grid_transform, _ALIGN_TOLERANCE_PX)
    if offset is None:
        raise InvalidInputError(
            "grid_transform", grid_transform, f"is not aligned with the scene {scene_transform}"
        )
    return offset


def _pixel_offset(scene: Affine, grid: Affine, tolerance: float) -> tuple[int, int] | None:
    """The integer pixel offset of ``grid`` in ``scene``, or None if not aligned."""
    if scene.b != 0 or scene.d != 0 or grid.b != 0 or grid.d != 0:
        return None
    if scene.a == 0 or scene.e == 0:
        return None
    if not (
        math.isclose(scene.a, grid.a, rel_tol=1e-9) and math.isclose(scene.e, grid.e, rel_tol=1e-9)
    ):
        return None
    col = (grid.c - scene.c) / scene.a
    row = (grid.f - scene.f) / scene.e
    col_int = round(col)
    row_int = round(row)
    if abs(col - col_int) > tolerance or abs(row - row_int) > tolerance:
        return None
    return (int(col_int), int(row_int))
