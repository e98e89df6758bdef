"""geometry_mask equals rasterio.features.geometry_mask (GDAL) pixel for pixel.

Polygons are drawn in pixel space and mapped to world coordinates through the grid's
transform, so that the cases GDAL's tie rules decide are common: vertices and edges
exactly on pixel edges (integer pixel coordinates), exactly through pixel centres
(half-integers), on quarter pixels, or anywhere.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.features import geometry_mask as gdal_mask

from rasteret.errors import InvalidInputError
from rasteret.read.rasterize import geometry_mask, keeps_every_pixel, rasterize_polygons

HEIGHT, WIDTH = 23, 29
QUANTA = (None, 1.0, 0.5, 0.25)  # None: any float; 1: pixel edges; 0.5: edges and centres


@st.composite
def transforms(draw: st.DrawFn, *, rotation: bool = False) -> Affine:
    res = draw(st.sampled_from([1.0, 10.0, 30.0, 0.5, 0.1, 0.25, 3.7, 0.000269494585236]))
    ratio = draw(st.sampled_from([1.0, 2.0, 0.5]))
    ox = draw(st.sampled_from([0.0, 500000.0, -180.0, 12.3456, 699960.0]))
    oy = draw(st.sampled_from([0.0, 4100040.0, 90.0, 7.89, -33.3]))
    sx = res if draw(st.booleans()) or not rotation else -res
    sy = -res * ratio if draw(st.integers(0, 9)) < 7 else res * ratio
    transform = Affine(sx, 0.0, ox, 0.0, sy, oy)
    if rotation:
        transform = transform @ Affine.rotation(draw(st.floats(-45, 45)))
    return transform


def _quantise(values: np.ndarray, quantum: float | None) -> np.ndarray:
    return values if quantum is None else np.round(values / quantum) * quantum


@st.composite
def pixel_polygons(draw: st.DrawFn) -> shapely.Geometry:
    """A polygonal geometry in pixel coordinates, of one of several tricky kinds."""
    kind = draw(st.sampled_from(["box", "star", "convex", "holed", "multi", "sliver", "tiny"]))
    quantum = draw(st.sampled_from(QUANTA))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "box":
        x0, x1 = np.sort(_quantise(rng.uniform(-4, WIDTH + 4, 2), quantum))
        y0, y1 = np.sort(_quantise(rng.uniform(-4, HEIGHT + 4, 2), quantum))
        geom = shapely.box(x0, y0, x1, y1)
    elif kind in ("star", "convex"):
        n = int(rng.integers(3, 14))
        centre = rng.uniform(0, [WIDTH, HEIGHT])
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        radius = rng.uniform(0.3, 14) * (rng.uniform(0.3, 1, n) if kind == "star" else 1)
        pts = centre + np.c_[np.cos(angles), np.sin(angles)] * np.c_[radius, radius]
        geom = shapely.Polygon(_quantise(pts, quantum))
        if kind == "convex":
            geom = geom.convex_hull
    elif kind == "holed":
        x0, y0 = _quantise(rng.uniform(-3, 12, 2), quantum)
        w, h = _quantise(rng.uniform(4, 20, 2), quantum)
        hx, hy = _quantise(np.array([x0 + w * 0.2, y0 + h * 0.2]), quantum)
        hole = shapely.box(hx, hy, hx + w * 0.5, hy + h * 0.5)
        if rng.random() < 0.5:
            hole = shapely.Polygon(
                [(hx, hy), (hx + w * 0.6, hy + h * 0.1), (hx + w * 0.3, hy + h * 0.6)]
            )
        geom = shapely.Polygon(shapely.box(x0, y0, x0 + w, y0 + h).exterior, [hole.exterior])
    elif kind == "multi":
        parts = []
        for _ in range(int(rng.integers(2, 4))):
            x, y = _quantise(rng.uniform(-2, 22, 2), quantum)
            w, h = _quantise(rng.uniform(0.5, 8, 2), quantum)
            parts.append(shapely.box(x, y, x + max(w, 0.25), y + max(h, 0.25)))
        geom = shapely.MultiPolygon(parts)  # parts may overlap: GDAL unions them
    elif kind == "sliver":
        x, y = rng.uniform(0, [WIDTH - 5, HEIGHT - 5])
        geom = shapely.box(x, y, x + rng.uniform(5, 25), y + rng.uniform(0.01, 0.6))
        geom = shapely.affinity.rotate(geom, rng.uniform(0, 180))
    else:  # tiny: smaller than a pixel
        x, y = rng.uniform(0, [WIDTH, HEIGHT])
        geom = shapely.box(x, y, x + rng.uniform(0.01, 0.9), y + rng.uniform(0.01, 0.9))
    if draw(st.booleans()):
        geom = shapely.reverse(geom)  # GDAL ignores the orientation the caller gives
    return geom


def _to_world(geom: shapely.Geometry, transform: Affine) -> shapely.Geometry:
    return shapely.transform(
        geom,
        lambda xy: np.c_[
            transform.a * xy[:, 0] + transform.b * xy[:, 1] + transform.c,
            transform.d * xy[:, 0] + transform.e * xy[:, 1] + transform.f,
        ],
    )


def _gdal(geom: shapely.Geometry, transform: Affine, all_touched: bool) -> np.ndarray:
    """GDAL's mask (True outside), less pixels it burns away from the geometry.

    On grids with both axes flipped (a 180-degree rotation), GDAL's all-touched walk
    can burn a stray pixel far from the polygon (see
    ``test_gdal_stray_pixel_on_flipped_grid_is_not_copied``). No rule burns a pixel
    whose square lies more than half a pixel from the geometry, so the oracle leaves
    those out, and rasteret must leave them out too.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio warns about identity-like transforms
        mask = gdal_mask(
            [geom], out_shape=(HEIGHT, WIDTH), transform=transform, all_touched=all_touched
        )
    rows, cols = np.nonzero(~mask)
    in_pixels = _to_world(geom, ~transform)  # the geometry in pixel coordinates
    squares = shapely.box(cols, rows, cols + 1, rows + 1)
    far = shapely.distance(squares, in_pixels) > 0.5
    mask[rows[far], cols[far]] = True
    return mask


def _assert_equal(geom: shapely.Geometry, transform: Affine) -> None:
    for all_touched in (False, True):
        expected = _gdal(geom, transform, all_touched)
        got = geometry_mask(
            geom, transform=transform, shape=(HEIGHT, WIDTH), all_touched=all_touched
        )
        diff = np.argwhere(expected != got)
        assert diff.size == 0, (
            f"all_touched={all_touched} {transform!r} {geom.wkt}: differs at {diff[:5].tolist()}"
        )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transform=transforms(), pixel_geom=pixel_polygons())
def test_mask_equals_gdal_north_up(transform: Affine, pixel_geom: shapely.Geometry) -> None:
    geom = _to_world(pixel_geom, transform)
    if geom.is_empty or not geom.is_valid or geom.area == 0:
        return
    _assert_equal(geom, transform)


@settings(max_examples=200, deadline=None)
@given(transform=transforms(rotation=True), pixel_geom=pixel_polygons())
def test_mask_equals_gdal_rotated(transform: Affine, pixel_geom: shapely.Geometry) -> None:
    geom = _to_world(pixel_geom, transform)
    if geom.is_empty or not geom.is_valid or geom.area == 0:
        return
    _assert_equal(geom, transform)


def test_gdal_stray_pixel_on_flipped_grid_is_not_copied() -> None:
    """A case hypothesis found: GDAL burns pixel (1, 2), 20 px from the polygon.

    The grid has both axes flipped and the polygon runs off its right edge. rasteret
    burns exactly the pixels the polygon touches.
    """
    transform = Affine(-1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
    geom = shapely.from_wkt(
        "POLYGON ((-29 3, -23 -1, -23 -2, -27 -8, -30 -8, -31 -7, -34 -3, -29 3))"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = gdal_mask([geom], out_shape=(HEIGHT, WIDTH), transform=transform, all_touched=True)
    got = geometry_mask(geom, transform=transform, shape=(HEIGHT, WIDTH), all_touched=True)
    assert not raw[1, 2]  # GDAL's stray pixel (this test notices if GDAL changes)
    assert got[1, 2]
    assert np.array_equal(got, _gdal(geom, transform, all_touched=True))


NORTH_UP = Affine(1.0, 0.0, 0.0, 0.0, -1.0, float(HEIGHT))
SOUTH_UP = Affine(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize("transform", [NORTH_UP, SOUTH_UP], ids=["north_up", "south_up"])
@pytest.mark.parametrize(
    "pixel_wkt",
    [
        # Box exactly on pixel edges: all_touched must not grow it by a row and column.
        "POLYGON ((1 1, 3 1, 3 3, 1 3, 1 1))",
        # Edges through pixel centres: centres on left/top edges are in, right/bottom out.
        "POLYGON ((1.5 1.5, 3.5 1.5, 3.5 3.5, 1.5 3.5, 1.5 1.5))",
        # Horizontal edge on a row of centres, at the bottom: GDAL burns it on north-up
        # grids only (rings are re-oriented clockwise in world space).
        "POLYGON ((1.5 4.5, 4.5 4.5, 3 1.8, 1.5 4.5))",
        "POLYGON ((1.5 1.5, 4.5 1.5, 3 4.2, 1.5 1.5))",
        # Hole whose top edge lies on a row of centres.
        "POLYGON ((0.2 0.2, 7.8 0.2, 7.8 7.8, 0.2 7.8, 0.2 0.2), "
        "(1.5 2.5, 5.5 2.5, 3.5 5.7, 1.5 2.5))",
        # Axis-parallel edges within 1e-4 px of a pixel edge: "intersect only".
        "POLYGON ((1.00005 1, 3.00005 1, 3.00005 3, 1.00005 3, 1.00005 1))",
        "POLYGON ((0.9999 1, 2.9999 1, 2.9999 3, 0.9999 3, 0.9999 1))",
        # Sloped edges through pixel corners (GDAL's incremental walk decides).
        "POLYGON ((6 22, 12 26, 13 32, 19 18, 19 16, 6 22))",
        "POLYGON ((27.5 25.5, 26.5 20.5, 26.5 25.5, 27.5 25.5))",
        # Smaller than a pixel: no centre inside, but all_touched burns it.
        "POLYGON ((2.2 2.2, 2.4 2.2, 2.4 2.4, 2.2 2.4, 2.2 2.2))",
        # Overlapping multipolygon parts union (rasterio burns parts separately).
        "MULTIPOLYGON (((0.2 0.2, 3.2 0.2, 3.2 3.2, 0.2 3.2, 0.2 0.2)), "
        "((1.2 1.2, 4.2 1.2, 4.2 4.2, 1.2 4.2, 1.2 1.2)))",
        # Reaching past the raster on every side.
        "POLYGON ((-5 -5, 40 -3, 35 30, -2 28, -5 -5))",
    ],
)
def test_mask_tie_rules(pixel_wkt: str, transform: Affine) -> None:
    pixel_geom = shapely.from_wkt(pixel_wkt)
    for geom in (pixel_geom, shapely.reverse(pixel_geom)):
        _assert_equal(_to_world(geom, transform), transform)


# Random cases that once differed from GDAL: sloped edges leaving the raster through
# its top or bottom exactly at a pixel corner (GDAL clips its line walk there).
@pytest.mark.parametrize(
    ("transform", "wkt"),
    [
        (
            Affine(-10, 0, 500000, 0, -5, 4100000),
            "POLYGON ((499835 4099987.5, 499835 4099990, 499840 4100000, 499840 4100002.5, "
            "499805 4100007.5, 499805 4100002.5, 499835 4099987.5))",
        ),
        (
            Affine(-1, 0, 500000, 0, 1, 0),
            "POLYGON ((499972.5 6.5, 499971.5 10.5, 499980.5 12.5, 499983.5 11.5, "
            "499982.5 7.5, 499983.5 6.5, 499982.5 3.5, 499976.5 -2.5, 499974.5 -1.5, "
            "499975.5 1.5, 499971.5 0.5, 499972.5 6.5))",
        ),
        (
            Affine(0.25, 0, 0, 0, -0.25, 7.89),
            "POLYGON ((5.75 7.64, 5.75 7.89, 6.25 8.14, 5 8.39, 5 9.64, 3.5 8.39, 3 8.39, "
            "3.25 8.14, 3.25 8.14, 3.75 7.14, 5 7.14, 5.75 7.64))",
        ),
        (
            Affine(1, 0, 500000, 0, -1, 4100000),
            "POLYGON ((500021.5 4099999.5, 500026 4100003.5, 500024 4100000, 500021.5 4099999.5))",
        ),
        (
            Affine(1, 0, -180, 0, -0.5, 0),
            "POLYGON ((-152.5 -12.75, -153.5 -10.25, -153.5 -12.75, -152.5 -12.75))",
        ),
    ],
)
def test_mask_regressions(transform: Affine, wkt: str) -> None:
    _assert_equal(shapely.from_wkt(wkt), transform)


@st.composite
def near_covering_polygons(draw: st.DrawFn) -> shapely.Geometry:
    """Pixel-space polygons whose edges pass near the outer pixel centres (in or out)."""
    out = st.floats(-0.2, 1.5, allow_nan=False)  # how far outside the outer centres
    x0, y0 = 0.5 - draw(out), 0.5 - draw(out)
    x1, y1 = WIDTH - 0.5 + draw(out), HEIGHT - 0.5 + draw(out)
    geom = shapely.box(x0, y0, x1, y1)
    kind = draw(st.sampled_from(["box", "rotated", "holed", "notched"]))
    if kind == "rotated":
        geom = shapely.affinity.rotate(geom, draw(st.floats(-2, 2)))
    elif kind == "holed":  # a hole anywhere in the grid takes pixels out
        hx = draw(st.floats(0, WIDTH - 1))
        hy = draw(st.floats(0, HEIGHT - 1))
        geom = geom.difference(shapely.box(hx, hy, hx + 0.8, hy + 0.8))
    elif kind == "notched":  # a bite out of one corner
        geom = geom.difference(shapely.box(x1 - draw(st.floats(0.1, 3)), y1 - 2, x1 + 1, y1 + 1))
    return geom


@settings(max_examples=300, deadline=None)
@given(transform=transforms(rotation=True), pixel_geom=near_covering_polygons())
def test_keeps_every_pixel_only_when_gdal_keeps_every_pixel(
    transform: Affine, pixel_geom: shapely.Geometry
) -> None:
    """The shortcut may say "rasterize to know" wrongly, never "all kept" wrongly."""
    geom = _to_world(pixel_geom, transform)
    if keeps_every_pixel(geom, transform=transform, shape=(HEIGHT, WIDTH)):
        for all_touched in (False, True):
            mask = gdal_mask(
                [geom], out_shape=(HEIGHT, WIDTH), transform=transform, all_touched=all_touched
            )
            assert not mask.any(), f"all_touched={all_touched} {transform!r} {geom.wkt}"


@pytest.mark.parametrize(
    ("pixel_wkt", "keeps"),
    [
        (f"POLYGON ((0 0, {WIDTH} 0, {WIDTH} {HEIGHT}, 0 {HEIGHT}, 0 0))", True),  # the extent
        (f"POLYGON ((0.4 0.4, {WIDTH} 0, {WIDTH} {HEIGHT}, 0 {HEIGHT}, 0.4 0.4))", True),
        (f"POLYGON ((0.5 0, {WIDTH} 0, {WIDTH} {HEIGHT}, 0.5 {HEIGHT}, 0.5 0))", False),  # ties
        (f"POLYGON ((0 0, {WIDTH - 0.6} 0, {WIDTH - 0.6} {HEIGHT}, 0 {HEIGHT}, 0 0))", False),
    ],
)
@pytest.mark.parametrize("transform", [NORTH_UP, SOUTH_UP], ids=["north_up", "south_up"])
def test_keeps_every_pixel_cases(pixel_wkt: str, keeps: bool, transform: Affine) -> None:
    geom = _to_world(shapely.from_wkt(pixel_wkt), transform)
    assert keeps_every_pixel([geom], transform=transform, shape=(HEIGHT, WIDTH)) is keeps
    if keeps:
        assert not _gdal(geom, transform, all_touched=False).any()


def test_invert_and_burn_agree() -> None:
    geom = shapely.box(2.3, 3.1, 9.7, 8.8)
    mask = geometry_mask(geom, transform=SOUTH_UP, shape=(HEIGHT, WIDTH))
    inverted = geometry_mask([geom], transform=SOUTH_UP, shape=(HEIGHT, WIDTH), invert=True)
    burnt = rasterize_polygons([geom], transform=SOUTH_UP, shape=(HEIGHT, WIDTH))
    assert np.array_equal(mask, ~inverted)
    assert np.array_equal(inverted, burnt)
    assert mask.dtype == np.bool_ and mask.shape == (HEIGHT, WIDTH)


def test_several_geometries_union() -> None:
    geoms = [shapely.box(0.2, 0.2, 5.5, 5.5), shapely.box(3.2, 3.2, 9.5, 9.5)]
    expected = _gdal(shapely.GeometryCollection(geoms), SOUTH_UP, False)
    assert np.array_equal(geometry_mask(geoms, transform=SOUTH_UP, shape=(HEIGHT, WIDTH)), expected)


def test_no_geometries_masks_everything() -> None:
    assert geometry_mask([], transform=SOUTH_UP, shape=(3, 4)).all()


def test_large_mask_is_fast_enough() -> None:
    """A 10k x 10k grid and an 8k-pixel circle: vectorised, no per-pixel Python."""
    transform = Affine(10, 0, 500000, 0, -10, 4200000)
    circle = shapely.Point(550000, 4150000).buffer(40000, quad_segs=128)
    got = geometry_mask(circle, transform=transform, shape=(10000, 10000), all_touched=True)
    expected = gdal_mask([circle], out_shape=(10000, 10000), transform=transform, all_touched=True)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"geoms": shapely.Point(1, 1)}, "geoms"),
        ({"geoms": shapely.LineString([(0, 0), (3, 3)])}, "geoms"),
        ({"geoms": shapely.Polygon()}, "geoms"),
        ({"geoms": shapely.box(0, 0, float("nan"), 2)}, "geoms"),
        ({"geoms": ["not a geometry"]}, "geoms"),
        ({"geoms": 42}, "geoms"),
        ({"shape": (0, 3)}, "shape"),
        ({"shape": "ab"}, "shape"),
        ({"transform": Affine(1, 0, 0, 2, 0, 0)}, "transform"),
    ],
)
def test_bad_inputs_name_the_parameter(kwargs: dict[str, object], parameter: str) -> None:
    args: dict[str, object] = {
        "geoms": shapely.box(0, 0, 2, 2),
        "transform": SOUTH_UP,
        "shape": (4, 4),
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError) as info:
        geometry_mask(args.pop("geoms"), **args)  # type: ignore[arg-type]
    assert info.value.parameter == parameter
