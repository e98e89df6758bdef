"""Windows equal rasterio's, reprojection densifies, grids snap to a shared anchor."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import rasterio
import rasterio.mask
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer
from rasterio.features import geometry_window as rio_geometry_window
from rasterio.io import MemoryFile

from rasteret.errors import InvalidInputError
from rasteret.read.grid import (
    OutputGrid,
    Window,
    aligned_grid,
    bounds_window,
    geometry_window,
    is_aligned,
    offset_in,
    transform_bounds,
    transform_geometry,
)

HEIGHT, WIDTH = 37, 41


def _dataset(transform: Affine) -> Iterator[rasterio.io.DatasetWriter]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            MemoryFile() as memfile,
            memfile.open(
                driver="GTiff",
                width=WIDTH,
                height=HEIGHT,
                count=1,
                dtype="uint8",
                transform=transform,
                crs="EPSG:32610",
            ) as ds,
        ):
            ds.write(np.arange(HEIGHT * WIDTH, dtype=np.uint8).reshape(1, HEIGHT, WIDTH))
            yield ds


@st.composite
def cases(draw: st.DrawFn, *, rotation: bool = False) -> tuple[Affine, shapely.Geometry]:
    res = draw(st.sampled_from([10.0, 30.0, 0.5, 0.1, 3.7, 0.000269494585236]))
    e = -res if draw(st.integers(0, 4)) else res
    transform = Affine(
        res,
        0.0,
        draw(st.sampled_from([0.0, 499980.0, 12.3456])),
        0.0,
        e,
        draw(st.sampled_from([0.0, 4100040.0, 7.89])),
    )
    if rotation:
        transform = transform @ Affine.rotation(draw(st.floats(-30, 30)))
    quantum = draw(st.sampled_from([None, 1.0, 0.5]))
    pts = np.array(
        draw(
            st.lists(
                st.tuples(st.floats(-10, WIDTH + 10), st.floats(-10, HEIGHT + 10)),
                min_size=3,
                max_size=8,
            )
        )
    )
    if quantum is not None:
        pts = np.round(pts / quantum) * quantum
    world = np.c_[
        transform.a * pts[:, 0] + transform.b * pts[:, 1] + transform.c,
        transform.d * pts[:, 0] + transform.e * pts[:, 1] + transform.f,
    ]
    geom = shapely.Polygon(world).convex_hull
    return transform, geom


def _window_tuple(window: object) -> tuple[int, int, int, int]:
    w = window
    return (int(w.col_off), int(w.row_off), int(w.width), int(w.height))  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_geometry_window_equals_rasterio(case: tuple[Affine, shapely.Geometry]) -> None:
    transform, geom = case
    if geom.area == 0:
        return
    for ds in _dataset(transform):
        expected = rio_geometry_window(ds, [geom], boundless=True)
        got = geometry_window(geom, transform)
        assert _window_tuple(got) == _window_tuple(expected)
        try:
            clipped = rio_geometry_window(ds, [geom])
        except rasterio.errors.WindowError:
            with pytest.raises(InvalidInputError):
                geometry_window(geom, transform, width=WIDTH, height=HEIGHT, boundless=False)
        else:
            got = geometry_window(geom, transform, width=WIDTH, height=HEIGHT, boundless=False)
            assert _window_tuple(got) == _window_tuple(clipped)


@settings(max_examples=100, deadline=None)
@given(case=cases(rotation=True))
def test_geometry_window_rotated_equals_rasterio(case: tuple[Affine, shapely.Geometry]) -> None:
    transform, geom = case
    for ds in _dataset(transform):
        expected = rio_geometry_window(ds, [geom], boundless=True)
        assert _window_tuple(geometry_window([geom], transform)) == _window_tuple(expected)


@settings(max_examples=150, deadline=None)
@given(case=cases(), all_touched=st.booleans())
def test_crop_matches_rasterio_mask(
    case: tuple[Affine, shapely.Geometry], all_touched: bool
) -> None:
    """The window and out_transform of rasterio.mask.mask(crop=True)."""
    transform, geom = case
    if geom.area == 0:
        return
    for ds in _dataset(transform):
        try:
            data, out_transform = rasterio.mask.mask(ds, [geom], crop=True, all_touched=all_touched)
        except ValueError:  # shapes do not overlap the raster
            with pytest.raises(InvalidInputError):
                geometry_window(geom, transform, width=WIDTH, height=HEIGHT, boundless=False)
            return
        window = geometry_window(geom, transform, width=WIDTH, height=HEIGHT, boundless=False)
        assert window.shape == data.shape[1:]
        assert window.transform(transform).almost_equals(out_transform, precision=1e-12)


def test_bounds_window_equals_geometry_window_and_mask_crop() -> None:
    transform = Affine(10.0, 0.0, 499980.0, 0.0, -10.0, 4100040.0)
    for bounds in [
        (500000.0, 4099800.0, 500100.0, 4100000.0),  # exactly on pixel edges
        (500005.0, 4099805.0, 500095.0, 4099995.0),  # through pixel centres
        (500001.3, 4099811.7, 500123.4, 4099988.8),
    ]:
        box = shapely.box(*bounds)
        window = bounds_window(bounds, transform)
        assert window == geometry_window(box, transform)
        for ds in _dataset(transform):
            data, _ = rasterio.mask.mask(ds, [box], crop=True)
            assert window.shape == data.shape[1:]
    assert bounds_window((500000.0, 4099800.0, 500100.0, 4100000.0), transform) == Window(
        col_off=2, row_off=4, width=10, height=20
    )


def test_window_helpers() -> None:
    a = Window(col_off=-2, row_off=3, width=10, height=5)
    b = Window(col_off=0, row_off=0, width=4, height=6)
    assert a.intersection(b) == Window(col_off=0, row_off=3, width=4, height=3)
    assert a.intersection(Window(col_off=20, row_off=0, width=1, height=1)) is None
    transform = Affine(10, 0, 100, 0, -10, 200)
    assert a.transform(transform) == Affine(10, 0, 80, 0, -10, 170)
    with pytest.raises(InvalidInputError):
        geometry_window(shapely.box(0, 0, 1, 1), transform, boundless=False)
    with pytest.raises(InvalidInputError):
        geometry_window(shapely.Polygon(), transform)
    with pytest.raises(InvalidInputError):
        geometry_window(shapely.box(0, 0, 1, 1), Affine(0, 0, 0, 0, 0, 0))


def test_geometry_window_padding_matches_rasterio() -> None:
    transform = Affine(10.0, 0.0, 499980.0, 0.0, -10.0, 4100040.0)
    geom = shapely.box(500003.0, 4099803.0, 500097.0, 4099997.0)
    for ds in _dataset(transform):
        expected = rio_geometry_window(ds, [geom], pad_x=0.5, pad_y=0.5, boundless=True)
        assert _window_tuple(geometry_window(geom, transform, pad_x=0.5, pad_y=0.5)) == (
            _window_tuple(expected)
        )


# --------------------------------------------------------------------------- reprojection

UTM10 = CRS.from_epsg(32610)
WGS84 = CRS.from_epsg(4326)


def test_densified_latlon_box_in_utm_matches_pyproj_bounds() -> None:
    bbox = (-123.9, 37.1, -121.1, 39.9)  # a large box: its edges curve in UTM
    projected = transform_geometry(shapely.box(*bbox), WGS84, UTM10)
    expected = Transformer.from_crs(WGS84, UTM10, always_xy=True).transform_bounds(
        *bbox, densify_pts=21
    )
    assert np.allclose(projected.bounds, expected, rtol=0, atol=1e-6)
    assert np.allclose(transform_bounds(bbox, WGS84, UTM10), expected, rtol=0, atol=1e-6)
    # Projecting only the corners straightens the curved parallels: bounds off by 379 m.
    corners_only = transform_geometry(shapely.box(*bbox), WGS84, UTM10, densify=0)
    assert np.abs(np.subtract(corners_only.bounds, expected)).max() > 300.0
    assert len(projected.exterior.coords) == 4 * 22 + 1


def test_transform_geometry_keeps_holes_and_parts() -> None:
    outer = shapely.box(-122.5, 37.5, -122.0, 38.0)
    hole = shapely.box(-122.4, 37.6, -122.1, 37.9)
    polygon = shapely.Polygon(outer.exterior, [hole.exterior])
    multi = shapely.MultiPolygon([polygon, shapely.box(-121.9, 37.5, -121.8, 37.6)])
    out = transform_geometry(multi, "EPSG:4326", 32610)
    assert out.geom_type == "MultiPolygon" and len(out.geoms) == 2
    assert len(out.geoms[0].interiors) == 1
    back = transform_geometry(out, UTM10, WGS84, densify=0)
    assert back.symmetric_difference(multi).area < 1e-10
    assert transform_geometry(polygon, WGS84, WGS84) is polygon
    point = transform_geometry(shapely.Point(-123.0, 38.0), WGS84, UTM10)
    assert point.distance(shapely.Point(500000.0, 4205815.02)) < 0.01


def test_transform_geometry_refuses_unprojectable() -> None:
    with pytest.raises(InvalidInputError):
        transform_geometry(shapely.box(0, 0, 1, 1), WGS84, WGS84, densify=-1)
    with pytest.raises(InvalidInputError):
        transform_geometry(shapely.box(-10, -95, 10, 95), WGS84, UTM10)


# --------------------------------------------------------------------------- grids


def test_aligned_grid_snaps_outward_to_anchor() -> None:
    grid = aligned_grid((500003.0, 4099807.0, 500091.0, 4099990.0), (10.0, 10.0), UTM10)
    assert grid.transform == Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4099990.0)
    assert (grid.width, grid.height) == (10, 19)
    minx, miny, maxx, maxy = grid.bounds
    assert minx <= 500003.0 and miny <= 4099807.0 and maxx >= 500091.0 and maxy >= 4099990.0
    # Bounds already on the grid (up to float noise) do not grow.
    exact = aligned_grid((500000.0, 4099800.0, 500100.0 + 1e-9, 4100000.0), (10.0, 10.0), UTM10)
    assert (exact.width, exact.height) == (10, 20)
    # Another anchor shifts the lattice; two grids on one anchor are aligned.
    shifted = aligned_grid(
        (500003.0, 4099807.0, 500091.0, 4099990.0), (10.0, 10.0), UTM10, anchor=(5.0, 5.0)
    )
    assert shifted.transform.c == 499995.0 and shifted.transform.f == 4099995.0
    other = aligned_grid((499000.0, 4098000.0, 499500.0, 4099000.0), (10.0, 10.0), UTM10)
    assert is_aligned(grid.transform, other.transform)
    assert offset_in(other.transform, grid.transform) == (100, -99)
    assert not is_aligned(grid.transform, shifted.transform)
    with pytest.raises(InvalidInputError):
        offset_in(grid.transform, shifted.transform)


@settings(max_examples=200, deadline=None)
@given(
    minx=st.floats(-1e6, 1e6),
    miny=st.floats(-1e6, 1e6),
    w=st.floats(0, 5e4),
    h=st.floats(0, 5e4),
    res=st.sampled_from([10.0, 20.0, 30.0, 60.0, 0.0001]),
)
def test_aligned_grid_properties(minx: float, miny: float, w: float, h: float, res: float) -> None:
    grid = aligned_grid((minx, miny, minx + w, miny + h), (res, res), UTM10)
    gx0, gy0, gx1, gy1 = grid.bounds
    tol = res * 1e-6
    assert gx0 <= minx + tol and gy0 <= miny + tol
    assert gx1 >= minx + w - tol and gy1 >= miny + h - tol
    assert grid.width <= math.ceil(w / res) + 2 and grid.height <= math.ceil(h / res) + 2
    assert abs(gx0 / res - round(gx0 / res)) < 1e-6
    assert abs(gy1 / res - round(gy1 / res)) < 1e-6


def test_grid_window_and_alignment_edge_cases() -> None:
    grid = OutputGrid(crs=UTM10, transform=Affine(10, 0, 0, 0, -10, 100), width=10, height=10)
    sub = grid.window(Window(col_off=2, row_off=3, width=4, height=5))
    assert sub.transform == Affine(10, 0, 20, 0, -10, 70) and sub.shape == (5, 4)
    assert is_aligned(grid.transform, sub.transform)
    assert offset_in(grid.transform, sub.transform) == (2, 3)
    assert not is_aligned(grid.transform, Affine(20, 0, 0, 0, -20, 100))
    assert not is_aligned(grid.transform, grid.transform @ Affine.rotation(1))
    assert is_aligned(grid.transform, Affine(10, 0, 20.000000001, 0, -10, 70))
    assert not is_aligned(grid.transform, Affine(10, 0, 20.5, 0, -10, 70))
    with pytest.raises(InvalidInputError):
        aligned_grid((0, 0, 1, 1), (0.0, 1.0), UTM10)
    with pytest.raises(InvalidInputError):
        aligned_grid((1, 0, 0, 1), (1.0, 1.0), UTM10)
