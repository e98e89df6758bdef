"""Scenes in two UTM zones read onto one grid equal rasterio's reproject onto that grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.features
import rasterio.warp
import shapely
from pyproj import CRS, Transformer

import rasteret
from rasteret.read import reader
from rasteret.read.grid import transform_geometry
from rasteret_sandbox.catalog import cog_item
from rasteret_sandbox.cogs import write_cog

METHODS = [
    ("nearest", rasterio.warp.Resampling.nearest),
    ("bilinear", rasterio.warp.Resampling.bilinear),
]
"""Resamplings compared with GDAL's: rasteret's name, rasterio's enum."""

# a 12 km x 8 km area across the UTM 10 / 11 boundary at -120 degrees
AREA = (-120.07, 37.90, -119.93, 37.97)


def _scene(
    root: Path, name: str, epsg: int, day: str, res: float, *, shift: float = 0.0
) -> dict[str, Any]:
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    minx, miny, maxx, maxy = to_utm.transform_bounds(*AREA)
    x0, y1 = np.floor(minx / res) * res - 200, np.ceil(maxy / res) * res + 200
    width = int(np.ceil((maxx + 200 - x0) / res))
    height = int(np.ceil((y1 - (miny - 200)) / res))
    x0 += shift  # the same size, moved
    path = write_cog(
        root / f"{name}.tif",
        width=width,
        height=height,
        dtype="uint16",
        crs=f"EPSG:{epsg}",
        transform=(res, 0.0, x0, 0.0, -res, y1),
        blocksize=256,
        predictor=2,
        seed=epsg + int(shift) + int(day[-2:]),
    )
    return cog_item(
        name,
        epsg=epsg,
        transform=(res, 0.0, x0, 0.0, -res, y1),
        shape=(height, width),
        day=day,
        hrefs={"B04": path},
    )


def _collection(
    root: Path, name: str, items: list[dict[str, Any]], flat: Any
) -> rasteret.Collection:
    return rasteret.build_from_stac(
        name=name,
        stac_api=str(flat(root, name, items)),
        collection=name,
        band_map={"B04": "B04"},
        static_catalog=True,
        workspace_dir=root / "ws",
    )


@pytest.fixture(scope="module")
def two_zones(
    tmp_path_factory: pytest.TempPathFactory, flat_collection: Any
) -> rasteret.Collection:
    root = tmp_path_factory.mktemp("zones")
    items = [
        _scene(root, "zone10-a", 32610, "2024-05-01", 10.0),
        _scene(root, "zone11-a", 32611, "2024-05-02", 10.0),
        _scene(root, "zone10-b", 32610, "2024-05-06", 10.0),
    ]
    return _collection(root, "zones", items, flat_collection)


def _oracle(
    path: str, result: Any, aoi: shapely.Geometry, resampling: rasterio.warp.Resampling
) -> np.ndarray:
    height, width = result.data.shape[-2:]
    out = np.zeros((height, width), dtype=result.data.dtype)
    with rasterio.open(path) as src:
        rasterio.warp.reproject(
            rasterio.band(src, 1),
            out,
            dst_transform=result.transform,
            dst_crs=result.crs.to_wkt(),
            resampling=resampling,
            src_nodata=src.nodata,
            dst_nodata=0,
        )
    aoi_dst = transform_geometry(aoi, CRS.from_epsg(4326), result.crs)
    outside = rasterio.features.geometry_mask(
        [aoi_dst], transform=result.transform, out_shape=(height, width)
    )
    out[outside] = 0
    return out


@pytest.mark.parametrize(("method", "resampling"), METHODS)
def test_two_utm_zones_onto_one_grid(
    two_zones: rasteret.Collection, method: str, resampling: rasterio.warp.Resampling
) -> None:
    aoi = shapely.box(-120.03, 37.92, -119.97, 37.95)
    with pytest.warns(rasteret.MixedGridWarning, match="2 CRSs"):
        result = two_zones.get_numpy(aoi, "B04", resampling=method)
    assert not isinstance(result, list)
    assert result.crs == CRS.from_epsg(32610)  # the most common zone
    assert result.data.dtype == np.uint16
    hrefs = {s.id: s.bands["B04"] for s in two_zones}
    for n, scene_id in enumerate(result.ids):
        want = _oracle(hrefs[scene_id], result, aoi, resampling)
        got = result.data[n]
        np.testing.assert_array_equal(got, want, err_msg=f"{scene_id} {method}")


def test_target_crs_and_resolution_chosen_by_caller(two_zones: rasteret.Collection) -> None:
    aoi = shapely.box(-120.03, 37.92, -119.97, 37.95)
    result = two_zones.get_numpy(aoi, "B04", target_crs="EPSG:32611", resolution=20)
    assert not isinstance(result, list)
    assert result.crs == CRS.from_epsg(32611)
    assert (result.transform.a, -result.transform.e) == (20.0, 20.0)
    assert result.valid.mean() > 0.9


@pytest.fixture(scope="module")
def shared_grids(
    tmp_path_factory: pytest.TempPathFactory, flat_collection: Any
) -> rasteret.Collection:
    """Three zone-11 dates, two on one grid and one on a grid 30 m to the east."""
    root = tmp_path_factory.mktemp("grids")
    items = [
        _scene(root, "zone10-a", 32610, "2024-05-01", 10.0),
        _scene(root, "zone11-a", 32611, "2024-05-02", 10.0),
        _scene(root, "zone11-b", 32611, "2024-05-07", 10.0),
        _scene(root, "zone11-east", 32611, "2024-05-12", 10.0, shift=30.0),
    ]
    return _collection(root, "grids", items, flat_collection)


@pytest.mark.parametrize(("method", "resampling"), METHODS)
def test_scenes_on_one_source_grid_share_a_warp_plan(
    shared_grids: rasteret.Collection,
    method: str,
    resampling: rasterio.warp.Resampling,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One plan per source grid, and each scene still equals GDAL's reproject.

    The scene 30 m east has other pixels under the same destination grid: a plan
    shared across grids that differ only by origin would give it the others' pixels.
    """
    planned: list[tuple[float, ...]] = []
    real_plan = reader.plan_warp

    def counting_plan(**kwargs: Any) -> Any:
        planned.append(tuple(kwargs["src_transform"])[:6])
        return real_plan(**kwargs)

    monkeypatch.setattr(reader, "plan_warp", counting_plan)
    aoi = shapely.box(-120.03, 37.92, -119.97, 37.95)
    result = shared_grids.get_numpy(aoi, "B04", resampling=method, target_crs="EPSG:32610")
    assert not isinstance(result, list)
    assert len(planned) == len(set(planned)) == 2  # zone 11's two grids, once each
    hrefs = {s.id: s.bands["B04"] for s in shared_grids}
    assert sorted(result.ids) == sorted(hrefs)
    for n, scene_id in enumerate(result.ids):
        want = _oracle(hrefs[scene_id], result, aoi, resampling)
        np.testing.assert_array_equal(result.data[n], want, err_msg=f"{scene_id} {method}")
