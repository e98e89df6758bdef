"""The COG factory writes the files it promises, checked with rasterio and tifffile."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import tifffile
from rasterio.crs import CRS

from rasteret_sandbox.cogs import default_data, write_cog


def test_default_cog_profile(tmp_path: Path) -> None:
    path = write_cog(tmp_path / "a.tif", width=1100, height=900)
    with rasterio.open(path) as src:
        assert src.profile["tiled"]
        assert src.block_shapes[0] == (1024, 1024)
        assert src.compression is not None and src.compression.name == "deflate"
        assert src.overviews(1) == [2, 4]
        assert src.dtypes[0] == "uint16"
        assert src.nodata == 0
        assert src.crs == CRS.from_epsg(32610)
        assert src.transform.a == 10.0 and src.transform.e == -10.0
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        values = src.read(1)
    assert values.max() <= 10_000
    assert (values == 0).any(), "expected a nodata wedge"
    with tifffile.TiffFile(path) as tif:
        assert tif.byteorder == "<"
        assert not tif.is_bigtiff
        assert len(tif.pages) == 3


def test_default_data_is_deterministic() -> None:
    a = default_data(width=64, height=32, seed=3)
    b = default_data(width=64, height=32, seed=3)
    c = default_data(width=64, height=32, seed=4)
    assert a.shape == (1, 32, 64)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_planar_big_endian_bigtiff(tmp_path: Path) -> None:
    path = write_cog(
        tmp_path / "b.tif",
        width=600,
        height=500,
        count=3,
        dtype="int16",
        blocksize=256,
        interleave="band",
        big_endian=True,
        bigtiff=True,
        compress="lzw",
        predictor=2,
    )
    with rasterio.open(path) as src:
        assert src.interleaving is not None and src.interleaving.name == "band"
        assert src.block_shapes[0] == (256, 256)
        assert src.compression is not None and src.compression.name == "lzw"
        assert src.dtypes == ("int16",) * 3
    with tifffile.TiffFile(path) as tif:
        assert tif.byteorder == ">"
        assert tif.is_bigtiff
        page = tif.pages.first
        assert page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
        assert page.predictor == 2


def test_explicit_data_and_nan_nodata(tmp_path: Path) -> None:
    data = np.arange(2 * 40 * 30, dtype="float32").reshape(2, 40, 30)
    data[:, 0, 0] = np.nan
    path = write_cog(
        tmp_path / "c.tif",
        width=30,
        height=40,
        count=2,
        dtype="float32",
        data=data,
        nodata=math.nan,
        blocksize=256,
        overview_levels=(),
        predictor=3,
    )
    with rasterio.open(path) as src:
        assert math.isnan(src.nodata)
        assert src.overviews(1) == []
        np.testing.assert_array_equal(src.read(), data)


def test_internal_mask_and_strips(tmp_path: Path) -> None:
    masked = write_cog(tmp_path / "m.tif", width=700, height=500, blocksize=256, internal_mask=True)
    with rasterio.open(masked) as src:
        assert src.mask_flag_enums[0][0].name == "per_dataset"
    with tifffile.TiffFile(masked) as tif:
        kinds = [int(p.subfiletype) for p in tif.pages]
    assert kinds.count(4) == 1 and kinds.count(5) == 2

    strips = write_cog(tmp_path / "s.tif", width=700, height=500, blocksize=64, tiled=False)
    with rasterio.open(strips) as src:
        assert not src.profile["tiled"]
        assert src.block_shapes[0] == (64, 700)
        assert src.overviews(1) == [2, 4]


def test_jpeg_ycbcr_and_user_crs(tmp_path: Path) -> None:
    path = write_cog(
        tmp_path / "j.tif",
        width=300,
        height=200,
        count=3,
        dtype="uint8",
        compress="jpeg",
        blocksize=256,
    )
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.photometric == tifffile.PHOTOMETRIC.YCBCR
        assert tif.pages.first.jpegtables is not None

    proj = "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +datum=WGS84 +units=m"
    user = write_cog(tmp_path / "u.tif", width=64, height=64, crs=proj, blocksize=256)
    with rasterio.open(user) as src:
        assert src.crs.to_epsg() is None
        assert src.crs.to_dict()["proj"] == "aea"


def test_pixel_is_point_scales_offsets(tmp_path: Path) -> None:
    path = write_cog(
        tmp_path / "p.tif",
        width=64,
        height=64,
        dtype="int8",
        nodata=-128,
        tags={"AREA_OR_POINT": "Point"},
        scales=[0.5],
        offsets=[3.0],
        blocksize=256,
    )
    with rasterio.open(path) as src:
        assert src.tags()["AREA_OR_POINT"] == "Point"
        assert src.scales == (0.5,)
        assert src.offsets == (3.0,)
        assert src.nodata == -128


def test_bad_data_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        write_cog(tmp_path / "x.tif", width=4, height=4, data=np.zeros((1, 3, 4), "uint16"))
