"""Polygon masks equal to GDAL's rasterizer, pixel for pixel, without GDAL.

rasteret promises pixels equal to GDAL's, and ``rasterio.features.geometry_mask``
(GDAL's ``GDALRasterizeGeometries``) decides which pixels an AOI keeps. A mask that is
"nearly" GDAL's differs exactly on the pixels users compare first: the ones on the AOI
edge. So this module re-implements, vectorised with NumPy, the two algorithms of GDAL's
``llrasterize.cpp`` that rasterio uses for polygons, with their tie rules:

Default rule (GDAL's scanline fill, even-odd over all rings of one polygon):
    Vertices go to pixel space with GDAL's inverse geotransform. Row ``r`` is sampled at
    ``y = r + 0.5``; an edge crosses it when ``ymin <= y < ymax`` (half-open, so a
    vertex is counted once). A crossing at ``x`` becomes ``floor(x + 0.5)``; between
    consecutive crossings ``a, b`` columns ``a .. b - 1`` are burnt. In effect a pixel
    whose centre lies exactly on a left or top edge is *in*, on a right or bottom edge
    *out*. One exception: a horizontal edge lying exactly on a row of pixel centres is
    burnt on its own when it runs from right to left after GDAL has oriented every ring
    clockwise in world coordinates (learnt by comparison: GDAL ignores the orientation
    the caller gave, and the burnt edge is the lower one in world space for exteriors).

``all_touched`` (GDAL's ``GDALdllImageLineAllTouched`` over every ring edge, unioned
with the fill above):
    A digital differential analyser walks each edge from left to right and burns the
    cell that contains the start of each step (``floor`` of both coordinates), so a
    point exactly on a pixel boundary belongs to the pixel right of / below it. Edges
    that are nearly vertical (same column, or ``|dx| < 0.01``) burn one column,
    ``floor(x_right)``, from ``floor(ymin)`` to the row before ``ymax`` when ``ymax``
    is within ``1e-4`` px of a boundary, else to ``floor(ymax)``; nearly horizontal
    ones likewise burn one row. An axis-parallel edge whose two ends both lie within
    ``1e-4`` px of a pixel boundary burns nothing ("intersect only"), which is why a
    box exactly on pixel edges does not grow by a row and a column. Sloped edges take
    a closed form (start cell, then the cell entered at each boundary crossing); the
    few whose crossings are float ties (through a pixel corner, or ending on a
    boundary) are walked step by step with GDAL's own arithmetic, because there its
    accumulated rounding decides.

Multipolygons and geometry collections are burnt part by part (rasterio splits them),
so overlapping parts union rather than cancel. Every step is vectorised over edges and
crossings; the only per-pixel work is one cumulative XOR over the AOI's bounding box.

Verified against rasterio 1.4.4 / GDAL 3.10.3 on random polygons (tests/read); the tie
rules above were learnt by comparison, as GDAL documents none of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray

from rasteret.errors import InvalidInputError

__all__ = ["geometry_mask", "keeps_every_pixel", "rasterize_polygons"]

_MIN_STEP: Final = 1e-9
"""GDAL's smallest step across a row boundary in its line walker (px)."""

_TIE_TOLERANCE: Final = 1e-6
"""Crossings this close (px) to a pixel corner are walked exactly as GDAL walks them."""

_NEAR_AXIS: Final = 0.01
"""GDAL treats an edge whose ends differ by less than this (px) as axis-parallel."""

_INTERSECT_ONLY_EPSILON: Final = 1e-4
"""An axis-parallel edge this close (px) to a pixel boundary burns no line pixels."""

_CENTRE_MARGIN: Final = 1e-3
"""How far (px) inside the polygons every pixel centre must be for
:func:`keeps_every_pixel` to skip the rasterizer: far beyond GDAL's float ties."""

_FloatArray = NDArray[np.float64]
_IntArray = NDArray[np.int64]


@dataclass(frozen=True, kw_only=True)
class _Edges:
    """Directed ring edges in pixel space, oriented as GDAL orients rings."""

    x0: _FloatArray
    """Column coordinate of each edge start."""
    y0: _FloatArray
    """Row coordinate of each edge start."""
    x1: _FloatArray
    """Column coordinate of each edge end."""
    y1: _FloatArray
    """Row coordinate of each edge end."""
    polygon: _IntArray
    """Index of the polygon each edge belongs to (even-odd is per polygon)."""


def geometry_mask(
    geoms: shapely.Geometry | Iterable[shapely.Geometry],
    *,
    transform: Affine,
    shape: tuple[int, int],
    all_touched: bool = False,
    invert: bool = False,
) -> NDArray[np.bool_]:
    """Mask of the pixels outside polygons, equal to ``rasterio.features.geometry_mask``.

    Args:
        geoms: A polygonal shapely geometry (Polygon, MultiPolygon, or a collection of
            them) or an iterable of such, in the CRS of ``transform``.
        transform: Pixel-to-CRS affine of the grid (rasterio's convention).
        shape: ``(height, width)`` of the grid.
        all_touched: Keep every pixel the polygons touch, not only those whose centre
            is inside.
        invert: Return True *inside* the polygons instead.

    Returns:
        A boolean array of ``shape``: True where masked (outside), as NumPy masked
        arrays expect, unless ``invert``.

    Raises:
        InvalidInputError: Non-polygonal, empty or non-finite geometries, a bad shape,
            or a degenerate transform.
    """
    burnt = rasterize_polygons(geoms, transform=transform, shape=shape, all_touched=all_touched)
    return burnt if invert else ~burnt


def keeps_every_pixel(
    geoms: shapely.Geometry | Iterable[shapely.Geometry],
    *,
    transform: Affine,
    shape: tuple[int, int],
) -> bool:
    """Whether the mask would keep every pixel of the grid, known without rasterizing.

    True when the parallelogram through the outermost pixel centres, grown by
    ``_CENTRE_MARGIN``, lies in the polygons' interior: every centre is then strictly
    inside, which both of GDAL's rules burn. A whole-scene or grid-snapped rectangular
    AOI is the common case; its mask would cost a full-size array and a pass over it
    (11-38 ms for 2560 x 2560 px on 2 cores) to say nothing. False means "rasterize to
    know", not "some pixel is out".
    """
    height, width = _check_shape(shape)
    polygons = _polygons(geoms)
    if polygons.size == 0:
        return False
    first, last_col, last_row = (
        0.5 - _CENTRE_MARGIN,
        width - 0.5 + _CENTRE_MARGIN,
        height - 0.5 + _CENTRE_MARGIN,
    )
    corners = [(first, first), (last_col, first), (last_col, last_row), (first, last_row)]
    centres = shapely.Polygon([transform @ corner for corner in corners])
    return bool(shapely.contains_properly(shapely.union_all(polygons), centres))


def rasterize_polygons(
    geoms: shapely.Geometry | Iterable[shapely.Geometry],
    *,
    transform: Affine,
    shape: tuple[int, int],
    all_touched: bool = False,
) -> NDArray[np.bool_]:
    """Return True where GDAL would burn the polygons (the inverse of the mask).

    See :func:`geometry_mask` for the arguments; this is the positive form the read
    path wants (pixels to keep).
    """
    height, width = _check_shape(shape)
    burnt = np.zeros((height, width), dtype=bool)
    polygons = _polygons(geoms)
    if polygons.size == 0:
        return burnt
    edges = _pixel_edges(polygons, transform)
    _burn_fill(edges, burnt)
    if all_touched:
        _burn_touched(edges, burnt)
    return burnt


# --------------------------------------------------------------------------- inputs


def _check_shape(shape: object) -> tuple[int, int]:
    """Validate ``(height, width)``; GDAL refuses empty rasters, so do we."""
    try:
        height, width = (int(v) for v in shape)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as err:
        raise InvalidInputError("shape", shape, "expected (height, width) integers") from err
    if height <= 0 or width <= 0:
        raise InvalidInputError("shape", shape, "height and width must be positive")
    return height, width


def _polygons(geoms: object) -> NDArray[np.object_]:
    """Flatten the input into an array of non-empty shapely Polygons."""
    try:
        items = [geoms] if isinstance(geoms, shapely.Geometry) else list(geoms)  # type: ignore[call-overload]
    except TypeError as err:
        raise InvalidInputError(
            "geoms", type(geoms).__name__, "expected a shapely geometry or an iterable of them"
        ) from err
    array: NDArray[np.object_] = np.empty(len(items), dtype=np.object_)
    array[:] = items
    if array.size and not all(isinstance(g, shapely.Geometry) for g in array):
        raise InvalidInputError("geoms", type(geoms).__name__, "expected shapely geometries")
    if array.size and shapely.is_empty(array).any():
        raise InvalidInputError("geoms", type(geoms).__name__, "empty geometries cannot be burnt")
    # Explode multi-parts and collections until only simple geometries remain.
    while array.size:
        multi = shapely.get_type_id(array) >= 4
        if not multi.any():
            break
        array = np.concatenate([array[~multi], shapely.get_parts(array[multi])])
    array = array[~shapely.is_empty(array)] if array.size else array
    types = shapely.get_type_id(array)
    if array.size and (types != shapely.GeometryType.POLYGON).any():
        bad = shapely.get_type_id(array[types != shapely.GeometryType.POLYGON][0])
        raise InvalidInputError(
            "geoms",
            type(geoms).__name__,
            f"only polygonal geometries are masks; got {shapely.GeometryType(bad).name}",
        )
    if array.size and not np.isfinite(shapely.get_coordinates(array)).all():
        raise InvalidInputError("geoms", type(geoms).__name__, "coordinates must be finite")
    return array


def _gdal_inverse(transform: Affine) -> tuple[float, float, float, float, float, float]:
    """GDAL's ``GDALInvGeoTransform``, operation for operation.

    The scanline tie rules compare pixel coordinates with ``row + 0.5`` exactly, so the
    last bit matters: this reproduces GDAL's arithmetic (its no-rotation special case
    included) rather than ``~transform``, which rounds differently.
    """
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    if b == 0.0 and d == 0.0 and a != 0.0 and e != 0.0:
        return (-c / a, 1.0 / a, 0.0, -f / e, 0.0, 1.0 / e)
    det = a * e - b * d
    magnitude = max(abs(a), abs(b), abs(d), abs(e))
    if not abs(det) > 1e-10 * magnitude * magnitude:
        raise InvalidInputError("transform", transform, "the affine transform is not invertible")
    inv = 1.0 / det
    return (
        (b * f - c * e) * inv,
        e * inv,
        -b * inv,
        (-a * f + c * d) * inv,
        -d * inv,
        a * inv,
    )


def _pixel_edges(polygons: NDArray[np.object_], transform: Affine) -> _Edges:
    """Every ring edge in pixel space, each ring oriented clockwise in world space."""
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    g0, g1, g2, g3, g4, g5 = _gdal_inverse(transform)
    wx = coords[:, 0]
    wy = coords[:, 1]
    px = g0 + wx * g1 + wy * g2
    py = g3 + wx * g4 + wy * g5
    start = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
    end = start + 1
    ring = coord_ring[start]
    # Signed area (shoelace) of each ring in pixel space, relative to the ring's first
    # vertex to keep precision; its sign times the transform's handedness gives the
    # world orientation, which is what GDAL normalises.
    first = np.searchsorted(coord_ring, np.arange(len(rings)))
    ox = px[first][ring]
    oy = py[first][ring]
    cross = (px[start] - ox) * (py[end] - oy) - (px[end] - ox) * (py[start] - oy)
    area = np.bincount(ring, weights=cross, minlength=len(rings))
    world_ccw = area * np.sign(transform.determinant) > 0
    flip = world_ccw[ring]
    x0 = np.where(flip, px[end], px[start])
    y0 = np.where(flip, py[end], py[start])
    x1 = np.where(flip, px[start], px[end])
    y1 = np.where(flip, py[start], py[end])
    return _Edges(x0=x0, y0=y0, x1=x1, y1=y1, polygon=ring_polygon[ring].astype(np.int64))


# --------------------------------------------------------------------------- helpers


def _expand(lo: _FloatArray, hi: _FloatArray) -> tuple[_IntArray, _IntArray]:
    """All integers ``lo[i] .. hi[i]`` (inclusive), with the index ``i`` they came from.

    ``lo`` and ``hi`` are integral floats already clipped to the grid, so the total is
    bounded by the number of rows or columns each item spans.
    """
    counts = np.maximum(hi - lo + 1, 0).astype(np.int64)
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    if owner.size == 0:
        return owner, owner
    starts = np.cumsum(counts) - counts
    values = lo.astype(np.int64)[owner] + (np.arange(owner.size, dtype=np.int64) - starts[owner])
    return owner, values


def _floor_int(values: _FloatArray, low: int, high: int) -> _IntArray:
    """``floor`` clipped to ``[low, high]`` before the integer cast (no overflow)."""
    return np.clip(np.floor(values), low, high).astype(np.int64)


def _burn_spans(burnt: NDArray[np.bool_], rows: _IntArray, a: _IntArray, b: _IntArray) -> None:
    """Burn columns ``a .. b - 1`` of each row.

    Spans are merged per row first (a running maximum of their ends), so the merged
    spans are disjoint and a cumulative XOR of their start/stop toggles paints them:
    one boolean pass over the spans' bounding box, no integer canvas.
    """
    height, width = burnt.shape
    a = np.clip(a, 0, width)
    b = np.clip(b, 0, width)
    keep = (a < b) & (rows >= 0) & (rows < height)
    rows, a, b = rows[keep], a[keep], b[keep]
    if rows.size == 0:
        return
    order = np.lexsort((a, rows))
    rows, a, b = rows[order], a[order], b[order]
    # Per-row running max of the ends: offset each row so one global max suffices.
    stride = width + 1
    reach = np.maximum.accumulate(rows * stride + b) - rows * stride
    new = np.ones(rows.size, dtype=bool)
    new[1:] = (rows[1:] != rows[:-1]) | (a[1:] > reach[:-1])
    first = np.flatnonzero(new)
    last = np.append(first[1:], rows.size) - 1
    rows, a, b = rows[first], a[first], reach[last]
    r0, r1 = int(rows.min()), int(rows.max()) + 1
    c0, c1 = int(a.min()), int(b.max())
    toggles = np.zeros((r1 - r0, c1 - c0 + 1), dtype=bool)
    toggles[rows - r0, a - c0] = True
    toggles[rows - r0, b - c0] = True
    burnt[r0:r1, c0:c1] |= np.logical_xor.accumulate(toggles, axis=1)[:, :-1]


# --------------------------------------------------------------------------- default rule


def _burn_fill(edges: _Edges, burnt: NDArray[np.bool_]) -> None:
    """GDAL's ``GDALdllImageFilledPolygon``: even-odd scanline fill at pixel centres."""
    height, width = burnt.shape
    x0, y0, x1, y1 = edges.x0, edges.y0, edges.x1, edges.y1
    sloped = y0 != y1
    up = y0 < y1
    ylo = np.where(up, y0, y1)[sloped]
    yhi = np.where(up, y1, y0)[sloped]
    xlo = np.where(up, x0, x1)[sloped]
    xhi = np.where(up, x1, x0)[sloped]
    polygon = edges.polygon[sloped]
    # Candidate rows one wider than needed on both sides, then GDAL's exact test.
    first = np.clip(np.floor(ylo - 0.5), 0, height)
    last = np.clip(np.ceil(yhi - 0.5), -1, height - 1)
    owner, rows = _expand(first, last)
    centre = rows + 0.5
    hit = (centre >= ylo[owner]) & (centre < yhi[owner])
    owner, rows, centre = owner[hit], rows[hit], centre[hit]
    lo = ylo[owner]
    intersect = (centre - lo) * (xhi[owner] - xlo[owner]) / (yhi[owner] - lo) + xlo[owner]
    # Clipping is monotone, so it keeps the sort order and the pairing below.
    cols = _floor_int(intersect + 0.5, -1, width + 1)
    order = np.lexsort((cols, rows, polygon[owner]))
    rows, cols = rows[order], cols[order]
    # Each (polygon, row) has an even number of crossings (each closed ring changes
    # side an even number of times), so consecutive pairs are the filled spans.
    _burn_spans(burnt, rows[0::2], cols[0::2], cols[1::2])

    # Horizontal edges exactly on a row of centres, running right to left.
    flat = ~sloped & (x0 > x1)
    row = np.floor(y0[flat])
    on_centre = (row + 0.5 == y0[flat]) & (row >= 0) & (row < height)
    _burn_spans(
        burnt,
        row[on_centre].astype(np.int64),
        _floor_int(x1[flat][on_centre] + 0.5, -1, width + 1),
        _floor_int(x0[flat][on_centre] + 0.5, -1, width + 1),
    )


# --------------------------------------------------------------------------- all touched


def _near_boundary(values: _FloatArray) -> NDArray[np.bool_]:
    """Whether pixel coordinates lie within GDAL's intersect-only epsilon of an integer."""
    return np.abs(values - np.round(values)) < _INTERSECT_ONLY_EPSILON


def _last_index(end: _FloatArray) -> _FloatArray:
    """Last pixel an axis-parallel edge burns.

    An end on (or within the intersect-only epsilon of) a pixel boundary stops before
    that boundary; otherwise the pixel containing the end.
    """
    rounded = np.round(end)
    return np.where(np.abs(end - rounded) < _INTERSECT_ONLY_EPSILON, rounded - 1, np.floor(end))


def _burn_touched(edges: _Edges, burnt: NDArray[np.bool_]) -> None:
    """GDAL's ``GDALdllImageLineAllTouched`` (intersect-only mode) over every edge."""
    height, width = burnt.shape
    x0, y0, x1, y1 = edges.x0, edges.y0, edges.x1, edges.y1
    outside = (
        ((y0 < 0) & (y1 < 0))
        | ((y0 > height) & (y1 > height))
        | ((x0 < 0) & (x1 < 0))
        | ((x0 > width) & (x1 > width))
    )
    # Walk every edge from left to right, as GDAL does.
    swap = x0 > x1
    x0, x1 = np.where(swap, x1, x0)[~outside], np.where(swap, x0, x1)[~outside]
    y0, y1 = np.where(swap, y1, y0)[~outside], np.where(swap, y0, y1)[~outside]

    vertical = (np.floor(x0) == np.floor(x1)) | (np.abs(x0 - x1) < _NEAR_AXIS)
    horizontal = ~vertical & ((np.floor(y0) == np.floor(y1)) | (np.abs(y0 - y1) < _NEAR_AXIS))
    sloped = ~vertical & ~horizontal
    cell_rows: list[_IntArray] = []
    cell_cols: list[_IntArray] = []

    # Near-vertical: one column, floor(x_right), rows floor(ymin) .. last(ymax).
    v = vertical & ~(_near_boundary(x0) & _near_boundary(x1))
    col = np.floor(x1[v])
    in_grid = (col >= 0) & (col < width)
    owner, rows = _expand(
        np.clip(np.floor(np.minimum(y0[v], y1[v])), 0, height)[in_grid],
        np.clip(_last_index(np.maximum(y0[v], y1[v])), -1, height - 1)[in_grid],
    )
    cell_rows.append(rows)
    cell_cols.append(col[in_grid].astype(np.int64)[owner])

    # Near-horizontal: one row, floor(y_left), columns floor(x0) .. last(x1).
    h = horizontal & ~(_near_boundary(y0) & _near_boundary(y1))
    row = np.floor(y0[h])
    in_grid = (row >= 0) & (row < height)
    owner, cols = _expand(
        np.clip(np.floor(x0[h]), 0, width)[in_grid],
        np.clip(_last_index(x1[h]), -1, width - 1)[in_grid],
    )
    cell_rows.append(row[in_grid].astype(np.int64)[owner])
    cell_cols.append(cols)

    rows, cols = _sloped_cells(x0[sloped], y0[sloped], x1[sloped], y1[sloped], width, height)
    cell_rows.append(rows)
    cell_cols.append(cols)

    rows_all = np.concatenate(cell_rows)
    cols_all = np.concatenate(cell_cols)
    keep = (rows_all >= 0) & (rows_all < height) & (cols_all >= 0) & (cols_all < width)
    burnt[rows_all[keep], cols_all[keep]] = True


def _sloped_cells(  # noqa: PLR0917  (four coordinate arrays and the grid size)
    x0: _FloatArray, y0: _FloatArray, x1: _FloatArray, y1: _FloatArray, width: int, height: int
) -> tuple[_IntArray, _IntArray]:
    """Cells GDAL's line walker burns for edges that are neither vertical nor horizontal.

    Closed form, vectorised: the cell of the start point, then the cell entered at each
    crossing of a pixel boundary inside the edge. GDAL walks incrementally, so where a
    crossing is a float tie (an edge through a pixel corner, or ending on a boundary)
    its accumulated rounding decides; those few edges are walked exactly as GDAL does
    (:func:`_walk_like_gdal`), the rest take the closed form.
    """
    slope = (y1 - y0) / (x1 - x0)
    tie = _near_integer(x0) | _near_integer(y0) | _near_integer(x1) | _near_integer(y1)
    rows: list[_IntArray] = [_floor_int(y0, -1, height)]
    cols: list[_IntArray] = [_floor_int(x0, -1, width)]
    owners: list[_IntArray] = [np.arange(x0.size, dtype=np.int64)]
    # Vertical boundaries x = k: the cell right of k, at the edge's height there.
    owner, ks = _expand(
        np.clip(np.floor(x0) + 1, 0, width), np.clip(np.ceil(x1) - 1, -1, width - 1)
    )
    ys = y0[owner] + (ks - x0[owner]) * slope[owner]
    tie[owner[_near_integer(ys)]] = True
    rows.append(_floor_int(ys, -1, height))
    cols.append(ks)
    owners.append(owner)
    # Horizontal boundaries y = m: the cell the edge enters. Going down (slope > 0)
    # that is row m, at every m strictly inside the edge. Going up, GDAL steps to
    # y = m - 1e-9 (its minimum step), so the cell is row m - 1 at x nudged right by
    # 1e-9 / |slope|; an integer start y counts too, and a nudge past the end stops.
    down = slope > 0
    lo = np.where(down, np.floor(y0) + 1, np.floor(y1) + 1)
    hi = np.where(down, np.ceil(y1) - 1, np.floor(y0))
    owner, ms = _expand(np.clip(lo, 0, height), np.clip(hi, -1, height))
    k = slope[owner]
    up = k < 0
    xs = x0[owner] + (ms - y0[owner]) / k
    tie[owner[_near_integer(xs)]] = True
    xs = np.where(up, xs + _MIN_STEP / np.abs(k), xs)
    before_end = xs < x1[owner]
    rows.append((ms - up.astype(np.int64))[before_end])
    cols.append(_floor_int(xs[before_end], -1, width))
    owners.append(owner[before_end])

    closed = ~tie[np.concatenate(owners)]
    walked = [
        _walk_like_gdal(*v, width, height)
        for v in zip(
            x0[tie].tolist(), y0[tie].tolist(), x1[tie].tolist(), y1[tie].tolist(), strict=True
        )
    ]
    walked_rows = [np.asarray([c[0] for c in w], dtype=np.int64) for w in walked]
    walked_cols = [np.asarray([c[1] for c in w], dtype=np.int64) for w in walked]
    return (
        np.concatenate([np.concatenate(rows)[closed], *walked_rows]),
        np.concatenate([np.concatenate(cols)[closed], *walked_cols]),
    )


def _near_integer(values: _FloatArray) -> NDArray[np.bool_]:
    """Coordinates close enough to a pixel boundary for GDAL's rounding to decide."""
    return np.abs(values - np.round(values)) < _TIE_TOLERANCE


def _walk_like_gdal(  # noqa: PLR0917  (mirrors GDAL's C signature)
    x: float, y: float, x_end: float, y_end: float, width: int, height: int
) -> list[tuple[int, int]]:
    """GDAL's incremental line walk (``GDALdllImageLineAllTouched``), float for float.

    Only used for edges whose crossings are float ties, so the scalar loop runs over
    a handful of boundary pixels, never over the AOI's interior.
    """
    cells: list[tuple[int, int]] = []
    slope = (y_end - y) / (x_end - x)
    if x_end > width:
        y_end -= (x_end - width) * slope
        x_end = float(width)
    if x < 0.0:
        y += (0.0 - x) * slope
        x = 0.0
    # Where the edge leaves the raster's rows GDAL moves the end back to that crossing
    # when the edge leaves through the top, but (by comparison with GDAL) not through
    # the bottom: a corner cell on the last row is burnt there.
    if y_end > y:
        if y < 0.0:
            x += (0.0 - y) / slope
            y = 0.0
    else:
        if y >= height:
            x += (height - y) / slope
            y = float(height)
        if y_end < 0.0:
            x_end -= (y_end - 0.0) / slope
    while 0.0 <= x < x_end:
        col = math.floor(x)
        row = math.floor(y)
        if 0 <= row < height:
            cells.append((row, col))
        step_x = math.floor(x + 1.0) - x
        step_y = step_x * slope
        if math.floor(y + step_y) == row:
            x += step_x
            y += step_y
        elif slope < 0:
            step_y = min(row - y, -_MIN_STEP)
            x += step_y / slope
            y += step_y
        else:
            step_y = max((row + 1) - y, _MIN_STEP)
            x += step_y / slope
            y += step_y
    return cells
