"""End-to-end read matrix: build an index over GDAL-written variants, read AOIs, compare.

Every variant (codec x dtype x predictor x chunky/planar x byte order x tile size) is one
STAC item of a static catalog on disk; ``get_numpy`` over each AOI shape must equal what
rasterio reads from the same file and window, pixel for pixel (lossy codecs within the
codec's tolerance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
import rasterio
import rasterio.features
import shapely
from pyproj import Transformer
from rasterio.windows import Window

import rasteret
from rasteret_sandbox.cogs import write_cog

WIDTH, HEIGHT = 300, 200
ORIGIN = (500_000.0, 4_200_000.0)
RES = 10.0

# name -> (write_cog arguments, tolerance)
VARIANTS: dict[str, tuple[dict[str, Any], float]] = {
    "u8-none": ({"dtype": "uint8", "compress": None}, 0),
    "i8-deflate": ({"dtype": "int8", "compress": "deflate", "nodata": -5}, 0),
    "u16-deflate-p2": ({"dtype": "uint16", "compress": "deflate", "predictor": 2}, 0),
    "i16-lzw-p2": ({"dtype": "int16", "compress": "lzw", "predictor": 2, "nodata": -9999}, 0),
    "u32-zstd": ({"dtype": "uint32", "compress": "zstd"}, 0),
    "i32-packbits": ({"dtype": "int32", "compress": "packbits"}, 0),
    "f32-deflate-p3": (
        {"dtype": "float32", "compress": "deflate", "predictor": 3, "nodata": float("nan")},
        0,
    ),
    "f64-lzma": ({"dtype": "float64", "compress": "lzma", "nodata": -1.0}, 0),
    "f32-lerc": ({"dtype": "float32", "compress": "lerc"}, 0),
    "f32-lerc-zstd": ({"dtype": "float32", "compress": "lerc_zstd"}, 0),
    "u16-big-endian-p2": (
        {"dtype": "uint16", "compress": "deflate", "predictor": 2, "big_endian": True},
        0,
    ),
    "f32-big-endian-p3": (
        {
            "dtype": "float32",
            "compress": "zstd",
            "predictor": 3,
            "big_endian": True,
            "nodata": None,
        },
        0,
    ),
    "u16-tile256": ({"dtype": "uint16", "compress": "deflate", "blocksize": 256}, 0),
    "u16-tile512": ({"dtype": "uint16", "compress": "zstd", "blocksize": 512}, 0),
    "u16-stripped": ({"dtype": "uint16", "compress": "deflate", "tiled": False}, 0),
    "u8-jpeg-grey": ({"dtype": "uint8", "compress": "jpeg", "nodata": None}, 0),
    "u16-bigtiff": ({"dtype": "uint16", "compress": "deflate", "bigtiff": True}, 0),
    "u16-internal-mask": (
        {"dtype": "uint16", "compress": "deflate", "nodata": None, "internal_mask": True},
        0,
    ),
}
MULTI: dict[str, tuple[dict[str, Any], float]] = {
    "rgb-chunky-deflate": (
        {"dtype": "uint8", "count": 3, "compress": "deflate", "interleave": "pixel"},
        0,
    ),
    "rgb-planar-lzw-p2": (
        {"dtype": "uint16", "count": 3, "compress": "lzw", "predictor": 2, "interleave": "band"},
        0,
    ),
    "rgb-webp-lossless": (
        {
            "dtype": "uint8",
            "count": 3,
            "compress": "webp",
            "nodata": None,
            "extra_creation_options": {"WEBP_LOSSLESS": "TRUE"},
        },
        0,
    ),
    "rgb-jpeg-ycbcr": ({"dtype": "uint8", "count": 3, "compress": "jpeg", "nodata": None}, 32),
}

AOIS = {  # in pixel coordinates of the image (col, row), turned into map coordinates
    "inside-one-tile": shapely.box(10.3, 10.6, 60.2, 50.9),
    "across-tiles": shapely.box(100.5, 90.5, 170.5, 150.5),
    "across-image-edge": shapely.box(250.2, 150.7, 340.0, 230.0),
    "partly-outside": shapely.box(-30.0, -20.0, 40.4, 35.6),
    "polygon": shapely.Polygon([(20, 30), (280, 60), (150, 190), (60, 120)]),
}


def to_map(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(
        geom, lambda xy: np.column_stack([ORIGIN[0] + xy[:, 0] * RES, ORIGIN[1] - xy[:, 1] * RES])
    )


def _item(name: str, path: Path) -> dict[str, Any]:
    to_lonlat = Transformer.from_crs("EPSG:32610", "EPSG:4326", always_xy=True)
    box = list(
        to_lonlat.transform_bounds(
            ORIGIN[0], ORIGIN[1] - HEIGHT * RES, ORIGIN[0] + WIDTH * RES, ORIGIN[1]
        )
    )
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": name,
        "geometry": shapely.geometry.mapping(shapely.box(*box)),
        "bbox": box,
        "properties": {"datetime": "2024-05-01T00:00:00Z"},
        "assets": {"data": {"href": str(path), "type": "image/tiff; application=geotiff"}},
        "links": [],
    }


def _catalog(
    root: Path, variants: dict[str, tuple[dict[str, Any], float]], flat_collection: Any
) -> Path:
    items = []
    for name, (args, _tol) in variants.items():
        kwargs = {
            "width": WIDTH,
            "height": HEIGHT,
            "blocksize": 128,
            "transform": (RES, 0.0, ORIGIN[0], 0.0, -RES, ORIGIN[1]),
            "crs": "EPSG:32610",
            "overview_levels": (2,),
            **args,
        }
        items.append(_item(name, write_cog(root / f"{name}.tif", **kwargs)))
    return Path(flat_collection(root, "variants", items))


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, flat_collection: Any) -> rasteret.Collection:
    root = tmp_path_factory.mktemp("variants")
    return rasteret.build_from_stac(
        name="variants",
        stac_api=str(_catalog(root, VARIANTS, flat_collection)),
        collection="variants",
        band_map={"v": "data"},
        static_catalog=True,
        workspace_dir=root / "ws",
    )


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory, flat_collection: Any) -> rasteret.Collection:
    root = tmp_path_factory.mktemp("multi")
    return rasteret.build_from_stac(
        name="multi",
        stac_api=str(_catalog(root, MULTI, flat_collection)),
        collection="variants",
        band_map={"r": "data", "g": "data", "b": "data"},
        band_index_map={"r": 0, "g": 1, "b": 2},
        static_catalog=True,
        workspace_dir=root / "ws",
    )


def _one(coll: rasteret.Collection, name: str) -> rasteret.Collection:
    return coll.where(pc.field("id") == name)


def _compare(got: np.ndarray, want: np.ndarray, tol: float, label: str) -> None:
    assert got.dtype == want.dtype, label
    assert got.shape == want.shape, label
    if tol == 0:
        np.testing.assert_array_equal(got, want, err_msg=label)
    else:
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        assert diff.max() <= tol and diff.mean() < 1, label


@pytest.mark.parametrize("all_touched", [False, True])
@pytest.mark.parametrize("aoi", list(AOIS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_single_band_variants(
    single: rasteret.Collection, variant: str, aoi: str, all_touched: bool, gdal_read: Any
) -> None:
    geom = to_map(AOIS[aoi])
    coll = _one(single, variant)
    result = coll.get_numpy(geom, "v", crs="EPSG:32610", all_touched=all_touched)
    assert not isinstance(result, list)
    path = next(iter(coll)).bands["v"]
    want, _ = gdal_read(path, geom, all_touched=all_touched, band=1)
    _compare(result.data[0], want, VARIANTS[variant][1], f"{variant} {aoi}")


@pytest.mark.parametrize("aoi", ["across-tiles", "partly-outside", "polygon"])
@pytest.mark.parametrize("variant", list(MULTI))
def test_multi_sample_variants(
    multi: rasteret.Collection, variant: str, aoi: str, gdal_read: Any
) -> None:
    geom = to_map(AOIS[aoi])
    coll = _one(multi, variant)
    result = coll.get_numpy(geom, ["r", "g", "b"], crs="EPSG:32610")
    assert not isinstance(result, list)
    path = next(iter(coll)).bands["r"]
    for c in range(3):
        want, _ = gdal_read(path, geom, all_touched=False, band=c + 1)
        _compare(result.data[0, c], want, MULTI[variant][1], f"{variant} {aoi} band {c}")


@pytest.mark.parametrize("aoi", list(AOIS))
def test_valid_mask_follows_nodata_and_internal_masks(
    single: rasteret.Collection, aoi: str, gdal_read: Any
) -> None:
    geom = to_map(AOIS[aoi])
    for variant in ("u16-internal-mask", "u16-deflate-p2", "f32-deflate-p3"):
        coll = _one(single, variant)
        result = coll.get_numpy(geom, "v", crs="EPSG:32610")
        assert not isinstance(result, list)
        path = next(iter(coll)).bands["v"]
        inside, _ = gdal_read(path, geom)  # only for the window's shape
        with rasterio.open(path) as src:
            win = rasterio.features.geometry_window(src, [geom], boundless=True)
            win = Window(int(win.col_off), int(win.row_off), int(win.width), int(win.height))
            gdal_valid = src.read_masks(1, window=win, boundless=True) > 0
            outside = rasterio.features.geometry_mask(
                [geom], transform=src.window_transform(win), out_shape=inside.shape
            )
        np.testing.assert_array_equal(result.valid[0], gdal_valid & ~outside, err_msg=variant)


def test_tile_wide_windows_decode_straight_into_the_canvas(
    tmp_path: Path, gdal_read: Any, monkeypatch: pytest.MonkeyPatch, flat_collection: Any
) -> None:
    # A spy on rasteret's own decoder (behaviour unchanged) records whether the engine
    # handed it a canvas region to decode into.
    import rasteret.read.engine as engine  # noqa: PLC0415

    calls: list[bool] = []
    real = engine.decode_tile

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("out") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "decode_tile", spy)
    root = tmp_path / "chips"
    root.mkdir()
    variants = {"chip": ({"dtype": "uint16", "compress": "deflate", "predictor": 2}, 0)}
    cat_path = _catalog(root, variants, flat_collection)
    coll = rasteret.build_from_stac(
        name="chips",
        stac_api=str(cat_path),
        collection="variants",
        band_map={"v": "data"},
        static_catalog=True,
        workspace_dir=root / "ws",
    )
    # write_cog used 300 x 200 px with 128 px tiles: tile (row 0, col 1) is a full tile
    chip = to_map(shapely.box(128, 0, 256, 128))
    result = coll.get_numpy(chip, "v", crs="EPSG:32610")
    assert not isinstance(result, list)
    assert result.data.shape == (1, 128, 128)
    assert calls == [True]
    want, _ = gdal_read(next(iter(coll)).bands["v"], chip)
    np.testing.assert_array_equal(result.data[0], want)
