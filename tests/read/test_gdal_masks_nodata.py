"""Nodata, internal masks and sparse tiles as GDAL applies them, in AOI reads and points.

GDAL (through rasterio) is the oracle: ``read`` for the stored values, ``read_masks`` for
what is valid, ``sample`` for points. Each case here once differed from it:

- scenes on one grid with different nodata: each scene's pixels are valid by its own;
- a nodata the dtype cannot hold (-1 on uint8) is no nodata, not an unreadable file;
- sparse tiles (no bytes) read as the nodata, else 0, whatever ``fill_value`` says, in
  reads and in points;
- an internal mask alone says what is valid (the nodata is not tested as well), and the
  stored values under mask 0 are returned as GDAL reads them;
- a 90 degree rotated grid reads at its pixel size instead of a zero resolution.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.enums
import rasterio.features
import rasterio.warp
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.windows import Window

from rasteret.io import ObstoreBackend
from rasteret.read.points import sample_points_async
from rasteret.read.reader import (
    ArrayResult,
    BandSource,
    SceneSource,
    prepare_aoi_read,
    read_aois_async,
)
from rasteret.tiff import parse_tiff_header

UTM10 = CRS.from_epsg(32610)
T = Affine(10, 0, 500_000, 0, -10, 4_200_000)
W, H = 300, 200
AOI = shapely.box(500_000 + 103, 4_200_000 - 1805, 500_000 + 2907, 4_200_000 - 202)


def _write(path: Path, data: np.ndarray, **profile: Any) -> Path:
    options = _profile(
        {"width": data.shape[-1], "height": data.shape[-2], "dtype": data.dtype.name}
    )
    options.update(profile)
    mask = options.pop("mask", None)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **options) as dst:
        dst.write(data, 1)
        if mask is not None:
            dst.write_mask(mask)
    return path


def _scene(path: Path) -> SceneSource:
    raw = path.read_bytes()
    header = parse_tiff_header(raw, source=str(path), file_size=len(raw))
    source = BandSource(url=path.as_uri(), header=header, sample=0)
    return SceneSource(id=path.stem, datetime=None, bands={"b": source})


def _read(paths: list[Path], aoi: shapely.Geometry = AOI, **options: Any) -> ArrayResult:
    prepared = prepare_aoi_read([_scene(p) for p in paths], aoi, UTM10, ["b"], **options)
    (result,) = asyncio.run(read_aois_async([prepared], ObstoreBackend()))
    return result


def _gdal(path: Path, result: ArrayResult) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's stored values and mask over ``result``'s grid (inside the image)."""
    with rasterio.open(path) as src:
        col, row = ~src.transform @ (result.transform.c, result.transform.f)
        h, w = result.data.shape[-2:]
        win = Window(round(col), round(row), w, h)
        return src.read(1, window=win), src.read_masks(1, window=win) > 0


def _points(path: Path, n: int = 300) -> tuple[np.ndarray, np.ndarray, Any]:
    rng = np.random.default_rng(3)
    xs = rng.uniform(500_000, 500_000 + 10 * W, n)
    ys = rng.uniform(4_200_000 - 10 * H, 4_200_000, n)
    table = asyncio.run(
        sample_points_async(
            [_scene(path)], xs, ys, points_crs=UTM10, bands=["b"], backend=ObstoreBackend()
        )
    )
    return xs, ys, table


def _gdal_points(path: Path, xs: np.ndarray, ys: np.ndarray) -> np.ma.MaskedArray:
    with rasterio.open(path) as src:
        return np.ma.concatenate(list(src.sample(zip(xs, ys, strict=True), masked=True)))


def _inside_box() -> shapely.Geometry:
    """An AOI wholly inside the image, so every pixel of the read is GDAL-readable."""
    return shapely.box(500_000 + 10, 4_200_000 - 1990, 500_000 + 2990, 4_200_000 - 10)


def test_scenes_with_different_nodata_are_each_valid_by_their_own(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4, (H, W)).astype("uint16")
    data[data == 3] = 65535
    paths = [
        _write(tmp_path / "nd0.tif", data, nodata=0),
        _write(tmp_path / "nd65535.tif", data, nodata=65535),
        _write(tmp_path / "none.tif", data),
    ]
    result = _read(paths, _inside_box())
    assert result.nodata == (0,)  # the band's reported nodata and fill: its first scene's
    for n, path in enumerate(paths):
        stored, mask = _gdal(path, result)
        np.testing.assert_array_equal(result.valid[n, 0], mask, err_msg=path.name)
        np.testing.assert_array_equal(result.data[n, 0], stored, err_msg=path.name)
    for path in paths:
        xs, ys, table = _points(path)
        want = _gdal_points(path, xs, ys)
        got = table.column("b")
        assert got.null_count == int(want.mask.sum()), path.name
        np.testing.assert_array_equal(
            np.asarray(got.is_null()), np.ma.getmaskarray(want), err_msg=path.name
        )


def test_nodata_the_dtype_cannot_hold_is_no_nodata(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 255, (H, W)).astype("uint8")
    path = _write(tmp_path / "u8.tif", data, nodata=255)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"255\x00")  # the GDAL_NODATA tag's ASCII value, rewritten in place
    raw[at : at + 4] = b"-1\x00\x00"
    path.write_bytes(bytes(raw))
    with rasterio.open(path) as src:
        assert src.nodata is None  # GDAL ignores it: every pixel valid
    assert _scene(path).bands["b"].header.nodata == -1  # kept in the index as stored
    result = _read([path], _inside_box())
    stored, mask = _gdal(path, result)
    np.testing.assert_array_equal(result.data[0, 0], stored)
    np.testing.assert_array_equal(result.valid[0, 0], mask)
    assert result.fill_values == (0,)
    xs, ys, table = _points(path)
    assert table.column("b").null_count == 0
    np.testing.assert_array_equal(table.column("b").to_numpy(), _gdal_points(path, xs, ys).data)


@pytest.mark.parametrize("nodata", [7, None])
def test_sparse_tiles_read_as_gdal_reads_them(tmp_path: Path, nodata: int | None) -> None:
    path = tmp_path / "sparse.tif"
    profile: dict[str, Any] = {"width": W, "height": H, "nodata": nodata, "sparse_ok": True}
    with rasterio.open(path, "w", **_profile(profile)) as dst:  # only the first tile written
        dst.write(np.full((128, 128), 4000, dtype="uint16"), 1, window=Window(0, 0, 128, 128))
    assert (_scene(path).bands["b"].header.full.tile_byte_counts == 0).sum() == 5
    result = _read([path], _inside_box(), fill_value=9)  # the fill is for outside only
    stored, mask = _gdal(path, result)
    np.testing.assert_array_equal(result.data[0, 0], stored)
    np.testing.assert_array_equal(result.valid[0, 0], mask)
    xs, ys, table = _points(path)
    want = _gdal_points(path, xs, ys)
    got = table.column("b")
    np.testing.assert_array_equal(np.asarray(got.is_null()), np.ma.getmaskarray(want))
    np.testing.assert_array_equal(got.fill_null(0).to_numpy(), want.filled(0))


def _profile(extra: dict[str, Any]) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32610",
        "transform": T,
        "tiled": True,
        "blockxsize": 128,
        "blockysize": 128,
        "compress": "deflate",
    }
    profile.update(extra)
    return profile


@pytest.mark.parametrize("nodata", [None, 0])
def test_an_internal_mask_alone_says_what_is_valid(tmp_path: Path, nodata: int | None) -> None:
    rng = np.random.default_rng(2)
    data = rng.integers(0, 5, (H, W)).astype("uint16")  # zeros among the values
    mask = np.where(rng.random((H, W)) < 0.3, 0, 255).astype("uint8")
    path = _write(tmp_path / "masked.tif", data, nodata=nodata, mask=mask)
    with rasterio.open(path) as src:
        assert src.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
    result = _read([path], _inside_box())
    stored, valid = _gdal(path, result)
    np.testing.assert_array_equal(result.valid[0, 0], valid)
    np.testing.assert_array_equal(result.data[0, 0], stored)  # values under mask 0 kept
    assert not valid.all() and (stored[~valid] != 0).any()  # the case is not trivial
    xs, ys, table = _points(path)  # points are null where GDAL's sample masks them
    want = _gdal_points(path, xs, ys)
    got = table.column("b")
    np.testing.assert_array_equal(np.asarray(got.is_null()), np.ma.getmaskarray(want))
    np.testing.assert_array_equal(got.fill_null(0).to_numpy(), want.filled(0))
    assert 0 < got.null_count < len(got)


def test_a_quarter_turned_grid_reads_at_its_pixel_size(tmp_path: Path) -> None:
    rotated = Affine(0, 10, 500_000, 10, 0, 4_197_000)
    data = np.random.default_rng(4).integers(1, 5000, (H, W)).astype("uint16")
    path = _write(tmp_path / "rot90.tif", data, nodata=0, transform=rotated)
    corners = [rotated @ (col, row) for col in (0, W) for row in (0, H)]
    left, bottom = min(x for x, _ in corners), min(y for _, y in corners)
    result = _read([path], shapely.box(left + 200, bottom + 300, left + 900, bottom + 1700))
    assert (result.transform.a, result.transform.e) == (10, -10)
    np.testing.assert_array_equal(result.data[0, 0], _gdal_warp(path, result, "nearest"))


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_an_internal_mask_holds_when_the_scene_is_warped(tmp_path: Path, resampling: str) -> None:
    """GDAL's warper leaves out the masked source pixels, as it does nodata ones."""
    rng = np.random.default_rng(6)
    data = rng.integers(1, 5000, (H, W)).astype("uint16")  # no zeros: 0 = no data below
    mask = np.where(rng.random((H, W)) < 0.3, 0, 255).astype("uint8")
    path = _write(tmp_path / "masked.tif", data, mask=mask)
    aoi = shapely.box(500_000 + 300, 4_200_000 - 1800, 500_000 + 2700, 4_200_000 - 300)
    result = _read([path], aoi, resolution=(15.0, 15.0), resampling=resampling)
    assert (result.transform.a, result.transform.e) == (15, -15)
    want = _gdal_warp(path, result, resampling)
    inside = ~rasterio.features.geometry_mask(
        [aoi], transform=result.transform, out_shape=want.shape
    )  # GDAL's pixels outside the AOI are not part of the read
    np.testing.assert_array_equal(result.data[0, 0][inside], want[inside])
    np.testing.assert_array_equal(result.valid[0, 0], inside & (want != 0))
    assert 0.1 < (want[inside] == 0).mean() < 0.9  # the mask matters here


def _gdal_warp(path: Path, result: ArrayResult, resampling: str) -> np.ndarray:
    """GDAL's warp of the file's band (its mask included) onto ``result``'s grid, 0 = none."""
    want = np.zeros(result.data.shape[-2:], dtype="uint16")
    with rasterio.open(path) as src:
        rasterio.warp.reproject(
            rasterio.band(src, 1),
            want,
            dst_transform=result.transform,
            dst_crs=src.crs,
            dst_nodata=0,
            resampling=rasterio.warp.Resampling[resampling],
        )
    return want


def test_an_alpha_sample_masks_the_other_bands(tmp_path: Path) -> None:
    """RGBA: GDAL's mask of R, G and B is the alpha; the alpha band itself is all valid."""
    rng = np.random.default_rng(7)
    alpha = np.where(rng.random((H, W)) < 0.3, 0, 255).astype("uint8")
    rgba = np.concatenate([rng.integers(0, 255, (3, H, W)), alpha[None]]).astype("uint8")
    path = tmp_path / "rgba.tif"
    profile = _profile({"width": W, "height": H, "count": 4, "dtype": "uint8"})
    with rasterio.open(path, "w", photometric="RGB", alpha="YES", **profile) as dst:
        dst.write(rgba)
    raw = path.read_bytes()
    header = parse_tiff_header(raw, source=str(path), file_size=len(raw))
    bands = {f"b{s}": BandSource(url=path.as_uri(), header=header, sample=s) for s in range(4)}
    scene = SceneSource(id="rgba", datetime=None, bands=bands)
    prepared = prepare_aoi_read([scene], _inside_box(), UTM10, list(bands))
    (result,) = asyncio.run(read_aois_async([prepared], ObstoreBackend()))
    for s in range(4):
        with rasterio.open(path) as src:
            win = Window(1, 1, W - 2, H - 2)  # _inside_box: one pixel in from each edge
            stored, mask = src.read(s + 1, window=win), src.read_masks(s + 1, window=win) > 0
        np.testing.assert_array_equal(result.data[0, s], stored, err_msg=str(s))
        np.testing.assert_array_equal(result.valid[0, s], mask, err_msg=str(s))
    assert not result.valid[0, 0].all() and result.valid[0, 3].all()
    xs, ys = rng.uniform(500_000, 503_000, 300), rng.uniform(4_198_000, 4_200_000, 300)
    table = asyncio.run(
        sample_points_async(
            [scene], xs, ys, points_crs=UTM10, bands=["b0"], backend=ObstoreBackend()
        )
    )
    with rasterio.open(path) as src:
        want = np.ma.concatenate(list(src.sample(zip(xs, ys, strict=True), indexes=1, masked=True)))
    np.testing.assert_array_equal(
        np.asarray(table.column("b0").is_null()), np.ma.getmaskarray(want)
    )
