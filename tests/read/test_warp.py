"""Warping onto another grid equals rasterio.warp.reproject (GDAL 3.10) pixel for pixel.

GDAL is run as rasterio runs it by default: with the approximate transformer (error
threshold 0.125 source pixels). rasterio does not forward an error threshold to the
transformer it builds (``ERROR_THRESHOLD`` / ``tolerance`` change nothing, checked
below), so the oracle cannot be made exact; :func:`plan_warp` reproduces the
approximate transformer instead, and its exact mode is checked against pyproj.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from rasterio.warp import Resampling as RioResampling
from rasterio.warp import reproject

from rasteret.errors import InvalidInputError
from rasteret.read.warp import (
    Resampling,
    WarpPlan,
    apply_warp,
    choose_output_grid,
    plan_warp,
)

UTM10 = CRS.from_epsg(32610)
UTM11 = CRS.from_epsg(32611)
WGS84 = CRS.from_epsg(4326)
SRC_T = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0)
SRC_SHAPE = (120, 130)


@dataclass(frozen=True)
class Grid:
    crs: CRS
    transform: Affine
    shape: tuple[int, int]


def smooth_source(
    rng: np.random.Generator, shape: tuple[int, int], dtype: str, *, holes: bool = True
) -> NDArray[np.generic]:
    """A smooth field plus noise; 5 % nodata pixels (0 for integers, NaN for floats)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] / 7.0
    field = 1000 + 500 * np.sin(cols * rng.uniform(0.2, 1) + rng.uniform(0, 6)) * np.cos(
        rows * rng.uniform(0.2, 1)
    )
    data = (field + 50 * rng.standard_normal(shape)).astype(dtype)
    if holes:
        data[rng.random(shape) < 0.05] = 0 if np.dtype(dtype).kind == "u" else np.nan
    return data


def gdal_warp(
    src: NDArray[np.generic],
    src_t: Affine,
    src_crs: CRS,
    dst: Grid,
    resampling: Resampling,
    nodata: float | None,
    fill: float,
    dst_dtype: str | None = None,
    **options: object,
) -> tuple[NDArray[np.generic], NDArray[np.bool_]]:
    out = np.full(dst.shape, fill, dtype=dst_dtype or src.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reproject(
            src,
            out,
            src_transform=src_t,
            src_crs=src_crs,
            dst_transform=dst.transform,
            dst_crs=dst.crs,
            resampling=getattr(RioResampling, resampling.value),
            src_nodata=nodata,
            dst_nodata=fill,
            **options,
        )
    valid = ~np.isnan(out) if np.isnan(fill) else out != fill
    return out, valid


def our_warp(
    src: NDArray[np.generic],
    src_t: Affine,
    src_crs: CRS,
    dst: Grid,
    resampling: Resampling,
    nodata: float | None,
    fill: float,
    dst_dtype: str | None = None,
) -> tuple[NDArray[np.generic], NDArray[np.bool_]]:
    plan = plan_warp(
        dst_crs=dst.crs,
        dst_transform=dst.transform,
        dst_shape=dst.shape,
        src_crs=src_crs,
        src_transform=src_t,
        src_shape=src.shape,
        resampling=resampling,
    )
    col, row, width, height = plan.src_window
    assert col >= 0 and row >= 0
    assert col + width <= src.shape[1] and row + height <= src.shape[0]
    window = src[row : row + height, col : col + width]
    return apply_warp(plan, window, src_nodata=nodata, dst_fill=fill, dst_dtype=dst_dtype)


def assert_matches(
    ours: tuple[NDArray[np.generic], NDArray[np.bool_]],
    gdal: tuple[NDArray[np.generic], NDArray[np.bool_]],
    resampling: Resampling,
) -> None:
    out, valid = ours
    expected, expected_valid = gdal
    assert out.dtype == expected.dtype
    mismatched = int((valid != expected_valid).sum())
    assert mismatched == 0, f"{mismatched} pixels differ in validity"
    if resampling is Resampling.NEAREST:
        np.testing.assert_array_equal(out[valid], expected[valid])
    elif np.issubdtype(out.dtype, np.integer):
        diff = np.abs(out[valid].astype(np.int64) - expected[valid].astype(np.int64))
        assert diff.max(initial=0) <= 1
    else:
        np.testing.assert_allclose(out[valid], expected[valid], rtol=1e-4)
    fill_ok = ~valid
    np.testing.assert_array_equal(out[fill_ok], expected[fill_ok])


def _utm11_origin() -> tuple[float, float]:
    x, y = Transformer.from_crs(UTM10, UTM11, always_xy=True).transform(500_000, 4_200_000)
    return round(x), round(y)


def _lonlat_origin() -> tuple[float, float]:
    lon, lat = Transformer.from_crs(UTM10, WGS84, always_xy=True).transform(500_000, 4_200_000)
    return float(lon), float(lat)


UX, UY = _utm11_origin()
LON, LAT = _lonlat_origin()

CASES: dict[str, Grid] = {
    # (a) same CRS, other resolution / offset (some grids overhang the source)
    "10m->20m aligned": Grid(UTM10, Affine(20, 0, 500_100, 0, -20, 4_199_800), (50, 55)),
    "10m->25m offset": Grid(UTM10, Affine(25, 0, 500_033, 0, -25, 4_199_870), (40, 45)),
    "10m->60m": Grid(UTM10, Affine(60, 0, 499_970, 0, -60, 4_200_030), (22, 24)),
    "10m->5m": Grid(UTM10, Affine(5, 0, 500_200, 0, -5, 4_199_800), (200, 210)),
    "10m->7m shifted": Grid(UTM10, Affine(7, 0, 500_013, 0, -7, 4_199_950), (150, 160)),
    "10m->10m half pixel": Grid(UTM10, Affine(10, 0, 500_005, 0, -10, 4_199_995), (130, 140)),
    # (b) the neighbouring UTM zone
    "utm10->utm11 10m": Grid(UTM11, Affine(10, 0, UX - 50, 0, -10, UY + 30), (140, 140)),
    "utm10->utm11 20m": Grid(UTM11, Affine(20, 0, UX + 100, 0, -20, UY - 100), (50, 50)),
    # (c) geographic
    "utm10->4326 fine": Grid(WGS84, Affine(1e-4, 0, LON - 1e-3, 0, -1e-4, LAT + 1e-3), (160, 170)),
    "utm10->4326 coarse": Grid(WGS84, Affine(4e-4, 0, LON - 1e-3, 0, -4e-4, LAT + 1e-3), (40, 40)),
}

RESAMPLINGS = [Resampling.NEAREST, Resampling.BILINEAR, Resampling.CUBIC]


@pytest.mark.parametrize("resampling", RESAMPLINGS, ids=lambda r: r.value)
@pytest.mark.parametrize(("dtype", "nodata"), [("uint16", 0), ("float32", np.nan)])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_gdal(case: str, dtype: str, nodata: float, resampling: Resampling) -> None:
    rng = np.random.default_rng(abs(hash((case, dtype))) % 2**32)
    src = smooth_source(rng, SRC_SHAPE, dtype)
    args = (src, SRC_T, UTM10, CASES[case], resampling, nodata, nodata)
    assert_matches(our_warp(*args), gdal_warp(*args), resampling)


@pytest.mark.parametrize("resampling", RESAMPLINGS, ids=lambda r: r.value)
@pytest.mark.parametrize("case", ["10m->25m offset", "utm10->utm11 10m", "utm10->4326 fine"])
def test_matches_gdal_without_nodata(case: str, resampling: Resampling) -> None:
    """No source nodata: GDAL's unmasked kernels (and off-image pixels still excluded)."""
    src = smooth_source(np.random.default_rng(7), SRC_SHAPE, "uint16", holes=False)
    args = (src, SRC_T, UTM10, CASES[case], resampling, None, 0)
    assert_matches(our_warp(*args), gdal_warp(*args), resampling)


@pytest.mark.parametrize("resampling", RESAMPLINGS, ids=lambda r: r.value)
def test_float_source_to_integer_destination(resampling: Resampling) -> None:
    """Writing doubles into uint16 rounds half up and clamps, as GDAL does.

    Negative values clamp to 0, so the fill is 65535: GDAL's output could not tell a
    clamped 0 from a fill of 0.
    """
    src = smooth_source(np.random.default_rng(3), SRC_SHAPE, "float32") - 900
    args = (src, SRC_T, UTM10, CASES["utm10->utm11 20m"], resampling, np.nan, 65535, "uint16")
    assert_matches(our_warp(*args), gdal_warp(*args), resampling)


@st.composite
def grid_pairs(draw: st.DrawFn) -> tuple[Affine, tuple[int, int], Grid]:
    """A random UTM 10 source and a destination overlapping it in some CRS."""
    height = draw(st.integers(8, 70))
    width = draw(st.integers(8, 70))
    res = draw(st.sampled_from([10.0, 20.0, 30.0, 60.0, 7.3]))
    x0 = draw(st.floats(300_000, 700_000))
    y0 = draw(st.floats(3_500_000, 5_500_000))
    if draw(st.booleans()):
        x0, y0 = round(x0 / res) * res, round(y0 / res) * res
    src_t = Affine(res, 0, x0, 0, -res, y0)
    cx = x0 + width * res * draw(st.floats(0, 1))
    cy = y0 - height * res * draw(st.floats(0, 1))
    xres = res * draw(st.sampled_from([0.37, 0.5, 0.96, 1.0, 1.02, 1.05, 1.3, 2.0, 3.0]))
    yres = xres * draw(st.sampled_from([1.0, 0.5, 2.5]))
    crs = draw(st.sampled_from([UTM10, UTM11, WGS84]))
    if crs == UTM10:
        x, y = cx, cy
        if draw(st.booleans()):
            x, y = round(x / res) * res, round(y / res) * res
    else:
        x, y = Transformer.from_crs(UTM10, crs, always_xy=True).transform(cx, cy)
        if crs == WGS84:
            xres /= 111_000 * np.cos(np.radians(y))
            yres /= 111_000
    dst_h = draw(st.integers(4, 60))
    dst_w = draw(st.integers(4, 60))
    left = x - xres * dst_w * draw(st.floats(0, 1))
    top = y + yres * dst_h * draw(st.floats(0, 1))
    return src_t, (height, width), Grid(crs, Affine(xres, 0, left, 0, -yres, top), (dst_h, dst_w))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=grid_pairs(),
    kind=st.sampled_from([("uint16", 0), ("float32", np.nan)]),
    resampling=st.sampled_from(RESAMPLINGS),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_grids_match_gdal(
    pair: tuple[Affine, tuple[int, int], Grid],
    kind: tuple[str, float],
    resampling: Resampling,
    seed: int,
) -> None:
    src_t, shape, dst = pair
    dtype, nodata = kind
    src = smooth_source(np.random.default_rng(seed), shape, dtype)
    args = (src, src_t, UTM10, dst, resampling, nodata, nodata)
    assert_matches(our_warp(*args), gdal_warp(*args), resampling)


@pytest.mark.xfail(strict=True, reason="GDAL sizes the bilinear kernel otherwise here")
def test_destination_mostly_beyond_the_source_matches_gdal() -> None:
    """A case hypothesis found, not yet matched: one valid pixel differs by 0.5%.

    The destination (UTM 11, 20 x 10 m pixels) lies mostly below the UTM 10 source, and
    its one valid pixel sits on the source's last row. rasteret sizes the bilinear
    kernel from the source window the destination's edges span (x scale 0.4); GDAL's
    value (1287.857) needs a scale of about 0.51, between the 0.5 of the part over the
    source and 0.45 of the clipped integer window, so its rule here is not yet known.
    """
    src_t = Affine(10.0, 0, 300_000.0, 0, -10.0, 4_216_224.0)
    dst = Grid(UTM11, Affine(20.0, 0, -226_869.24875627586, 0, -10.0, 4_246_203.803200144), (40, 5))
    src = smooth_source(np.random.default_rng(0), (8, 13), "float32")
    args = (src, src_t, UTM10, dst, Resampling.BILINEAR, np.nan, np.nan)
    assert_matches(our_warp(*args), gdal_warp(*args), Resampling.BILINEAR)


def test_large_grid_matches_gdal_and_is_fast() -> None:
    """A 1500 x 1500 zone change: equal to GDAL; nearest plans and applies quickly."""
    size = 1500
    src = smooth_source(np.random.default_rng(11), (size + 100, size + 100), "uint16")
    src_t = Affine(10, 0, 600_000, 0, -10, 4_300_000)
    x, y = Transformer.from_crs(UTM10, UTM11, always_xy=True).transform(601_000, 4_299_000)
    dst = Grid(UTM11, Affine(10, 0, round(x), 0, -10, round(y)), (size, size))
    our_warp(src[:50, :50], src_t, UTM10, dst, Resampling.NEAREST, 0, 0)  # warm PROJ up
    start = time.perf_counter()
    ours = our_warp(src, src_t, UTM10, dst, Resampling.NEAREST, 0, 0)
    elapsed = time.perf_counter() - start
    assert_matches(
        ours, gdal_warp(src, src_t, UTM10, dst, Resampling.NEAREST, 0, 0), Resampling.NEAREST
    )
    assert elapsed < 2.0  # ~0.15 s on one core; generous for shared CI machines


def test_exact_mode_is_pyproj_per_pixel() -> None:
    dst = CASES["utm10->4326 fine"]
    exact = plan_warp(
        dst_crs=dst.crs,
        dst_transform=dst.transform,
        dst_shape=dst.shape,
        src_crs=UTM10,
        src_transform=SRC_T,
        src_shape=SRC_SHAPE,
        error_threshold=0,
    )
    rows, cols = np.mgrid[0 : dst.shape[0], 0 : dst.shape[1]] + 0.5
    lon, lat = dst.transform @ (cols, rows)
    x, y = Transformer.from_crs(dst.crs, UTM10, always_xy=True).transform(lon, lat)
    src_col, src_row = ~SRC_T @ (x, y)
    np.testing.assert_allclose(exact.src_x, src_col, atol=1e-8)
    np.testing.assert_allclose(exact.src_y, src_row, atol=1e-8)
    approx = plan_warp(
        dst_crs=dst.crs,
        dst_transform=dst.transform,
        dst_shape=dst.shape,
        src_crs=UTM10,
        src_transform=SRC_T,
        src_shape=SRC_SHAPE,
    )
    error = np.abs(approx.src_x - exact.src_x) + np.abs(approx.src_y - exact.src_y)
    assert error.max() <= 0.125


def test_rasterio_ignores_error_threshold_options() -> None:
    """Why the oracle runs approximate: these options do not reach GDAL's transformer."""
    src = smooth_source(np.random.default_rng(5), SRC_SHAPE, "float32", holes=False)
    dst = Grid(UTM11, Affine(7, 0, UX + 13, 0, -7, UY - 17), (150, 160))
    plain = gdal_warp(src, SRC_T, UTM10, dst, Resampling.BILINEAR, None, np.nan)[0]
    for option in ({"ERROR_THRESHOLD": 0}, {"tolerance": 0}):
        other = gdal_warp(src, SRC_T, UTM10, dst, Resampling.BILINEAR, None, np.nan, **option)
        np.testing.assert_array_equal(other[0], plain)


def test_window_is_what_the_kernel_needs() -> None:
    dst = CASES["10m->20m aligned"]
    plans = {
        r: plan_warp(
            dst_crs=dst.crs,
            dst_transform=dst.transform,
            dst_shape=dst.shape,
            src_crs=UTM10,
            src_transform=SRC_T,
            src_shape=SRC_SHAPE,
            resampling=r,
        )
        for r in RESAMPLINGS
    }
    # 20 m centres fall on 10 m pixel corners: centre 500110 is column 11.0 exactly
    assert plans[Resampling.NEAREST].src_window == (11, 21, 109, 99)
    # scale 0.5 doubles the kernels (bilinear radius 2, cubic 4) around floor(x - 0.5);
    # the last rows are clipped to the image (120 rows)
    assert plans[Resampling.BILINEAR].src_window == (8, 18, 114, 102)
    assert plans[Resampling.CUBIC].src_window == (6, 16, 118, 104)


def test_no_overlap_gives_an_empty_window_and_fill() -> None:
    far = Grid(UTM10, Affine(10, 0, 900_000, 0, -10, 4_200_000), (5, 6))
    plan = plan_warp(
        dst_crs=far.crs,
        dst_transform=far.transform,
        dst_shape=far.shape,
        src_crs=UTM10,
        src_transform=SRC_T,
        src_shape=SRC_SHAPE,
        resampling="bilinear",
    )
    assert plan.is_empty
    assert plan.src_window[2:] == (0, 0)
    out, valid = apply_warp(plan, np.zeros((0, 0), np.uint16), src_nodata=0, dst_fill=7)
    assert not valid.any()
    assert (out == 7).all()
    assert out.dtype == np.uint16


@pytest.mark.parametrize("name", ["average", "mode", "lanczos"])
def test_unsupported_resampling_is_refused(name: str) -> None:
    with pytest.raises(InvalidInputError, match="resampling"):
        plan_warp(
            dst_crs=UTM10,
            dst_transform=SRC_T,
            dst_shape=(2, 2),
            src_crs=UTM10,
            src_transform=SRC_T,
            src_shape=(2, 2),
            resampling=name,
        )


def test_bad_inputs_are_refused() -> None:
    kwargs = {"dst_crs": UTM10, "dst_transform": SRC_T, "src_crs": UTM10, "src_transform": SRC_T}
    with pytest.raises(InvalidInputError, match="dst_shape"):
        plan_warp(**kwargs, dst_shape=(0, 3), src_shape=(2, 2))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="error_threshold"):
        plan_warp(**kwargs, dst_shape=(2, 2), src_shape=(2, 2), error_threshold=-1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="src_transform"):
        plan_warp(
            dst_crs=UTM10,
            dst_transform=SRC_T,
            dst_shape=(2, 2),
            src_crs=UTM10,
            src_transform=Affine(0, 0, 0, 0, 0, 0),
            src_shape=(2, 2),
        )
    plan = plan_warp(**kwargs, dst_shape=(2, 2), src_shape=(2, 2))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="src"):
        apply_warp(plan, np.zeros((3, 3)), src_nodata=None, dst_fill=0)


def test_choose_output_grid_covers_the_aoi_on_the_anchor() -> None:
    aoi = shapely.box(LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01)
    grid = choose_output_grid(aoi, aoi_crs=WGS84, crs=UTM11, resolution=20)
    assert grid.crs == UTM11
    assert grid.transform.a == 20 and grid.transform.e == -20
    assert grid.transform.c % 20 == 0 and grid.transform.f % 20 == 0
    to_utm = Transformer.from_crs(WGS84, UTM11, always_xy=True)
    dense = shapely.segmentize(aoi, 0.001)
    projected = shapely.bounds(
        shapely.transform(dense, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    )
    minx, miny, maxx, maxy = grid.bounds
    assert minx <= projected[0] and miny <= projected[1]
    assert maxx >= projected[2] and maxy >= projected[3]


def test_a_window_edge_a_rounding_error_short_of_a_pixel_sizes_the_kernel_as_gdal() -> None:
    """Found by hypothesis: a destination top 5e-10 m above a source row boundary (float
    noise) must size the bilinear kernel as GDAL does, as if on the boundary."""
    src = smooth_source(np.random.default_rng(0), (9, 8), "float32")
    for top in (3_499_960.0, 3_499_960.0000000005, 3_499_960.0 + 9e-6, 3_499_960.0 + 1e-5):
        dst = Grid(UTM10, Affine(13, 0, 300_000, 0, -32.5, top), (5, 4))
        args = (src, Affine(10, 0, 300_000, 0, -10, 3_500_000), UTM10, dst)
        rest = (Resampling.BILINEAR, np.nan, np.nan)
        assert_matches(our_warp(*args, *rest), gdal_warp(*args, *rest), Resampling.BILINEAR)


@settings(max_examples=60, deadline=None)
@given(
    case=st.sampled_from(["utm10->utm11 10m", "utm10->4326 fine", "10m->7m shifted"]),
    resampling=st.sampled_from(RESAMPLINGS),
    data=st.data(),
)
def test_a_window_of_the_plan_is_the_plan_of_the_window(
    case: str, resampling: Resampling, data: st.DataObject
) -> None:
    """``dst_window`` gives each pixel exactly what the whole grid's plan gives it.

    Reads done in pieces rely on it: planning a piece as a grid of its own moves the
    approximate transformer's row segments and the kernel scale, and values change.
    """
    dst = CASES[case]
    h, w = dst.shape
    r0 = data.draw(st.integers(0, h - 1))
    c0 = data.draw(st.integers(0, w - 1))
    window = (r0, c0, data.draw(st.integers(1, h - r0)), data.draw(st.integers(1, w - c0)))
    common = {
        "dst_crs": dst.crs,
        "dst_transform": dst.transform,
        "dst_shape": dst.shape,
        "src_crs": UTM10,
        "src_transform": SRC_T,
        "src_shape": SRC_SHAPE,
        "resampling": resampling,
    }
    whole, part = plan_warp(**common), plan_warp(**common, dst_window=window)
    cut = (slice(r0, r0 + window[2]), slice(c0, c0 + window[3]))
    assert part.scale == whole.scale and part.dst_shape == window[2:]
    np.testing.assert_array_equal(part.src_x, whole.src_x[cut])
    np.testing.assert_array_equal(part.src_y, whole.src_y[cut])
    np.testing.assert_array_equal(part.inside, whole.inside[cut])
    src = smooth_source(np.random.default_rng(5), SRC_SHAPE, "float32")
    (all_values, all_ok), (values, ok) = (
        apply_warp(p, _source_window(src, p), src_nodata=np.nan, dst_fill=np.nan)
        for p in (whole, part)
    )
    np.testing.assert_array_equal(values, all_values[cut])
    np.testing.assert_array_equal(ok, all_ok[cut])


def _source_window(src: NDArray[np.generic], plan: WarpPlan) -> NDArray[np.generic]:
    col_off, row_off, width, height = plan.src_window
    return src[row_off : row_off + height, col_off : col_off + width]


def test_a_window_outside_the_grid_is_refused() -> None:
    dst = CASES["utm10->utm11 10m"]
    with pytest.raises(InvalidInputError, match="dst_window"):
        plan_warp(
            dst_crs=dst.crs,
            dst_transform=dst.transform,
            dst_shape=dst.shape,
            src_crs=UTM10,
            src_transform=SRC_T,
            src_shape=SRC_SHAPE,
            dst_window=(0, 0, dst.shape[0] + 1, 1),
        )
