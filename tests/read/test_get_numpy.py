"""get_numpy against rasterio on the same files and windows (GDAL is the oracle)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely

import rasteret
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.servers import NginxServer


def scene_frame(s2_sf: rasteret.Collection) -> tuple[float, float, float, float]:
    header = s2_sf.headers("B04")[0]
    assert header is not None and header.geo is not None and header.geo.transform is not None
    a, _, c, _, e, f = header.geo.transform
    return c, f + e * header.full.height, c + a * header.full.width, f


AOIS: dict[str, Any] = {
    # fractions of the scene frame: (x0, y0, x1, y1) or polygon vertices
    "inside-one-tile": (0.1, 0.1, 0.3, 0.25),
    "across-tiles": (0.8, 0.8, 0.99, 0.97),  # 1098 px with 1024 px tiles: crosses the seam
    "across-image-edge": (0.9, 0.4, 1.2, 0.6),
    "partly-outside-corner": (-0.1, -0.1, 0.05, 0.05),
    "triangle": [(0.2, 0.2), (0.7, 0.3), (0.4, 0.9)],
}


def make_aoi(spec: Any, frame: tuple[float, float, float, float]) -> shapely.Geometry:
    x0, y0, x1, y1 = frame

    def pt(u: float, v: float) -> tuple[float, float]:
        return (x0 + u * (x1 - x0), y0 + v * (y1 - y0))

    if isinstance(spec, tuple):
        (ax, ay), (bx, by) = pt(spec[0], spec[1]), pt(spec[2], spec[3])
        return shapely.box(ax, ay, bx, by)
    return shapely.Polygon([pt(u, v) for u, v in spec])


@pytest.mark.parametrize("all_touched", [False, True])
@pytest.mark.parametrize("aoi_name", list(AOIS))
def test_get_numpy_equals_rasterio(
    s2_sf: rasteret.Collection, local_file: Any, gdal_read: Any, aoi_name: str, all_touched: bool
) -> None:
    aoi = make_aoi(AOIS[aoi_name], scene_frame(s2_sf))
    result = s2_sf.get_numpy(aoi, ["B04", "B03"], crs="EPSG:32610", all_touched=all_touched)
    assert not isinstance(result, list)
    assert result.data.dtype.name == "uint16"  # the native dtype, no float promotion
    hrefs = {scene.id: scene.bands for scene in s2_sf}
    assert len(result.ids) == len(s2_sf)
    for n, scene_id in enumerate(result.ids):
        for c, band in enumerate(("B04", "B03")):
            expected, _ = gdal_read(local_file(hrefs[scene_id][band]), aoi, all_touched=all_touched)
            got = result.data[n, c]
            assert got.shape == expected.shape, (scene_id, band)
            np.testing.assert_array_equal(got, expected, err_msg=f"{scene_id} {band}")


def test_single_band_shape_ids_and_valid_mask(s2_sf: rasteret.Collection) -> None:
    frame = scene_frame(s2_sf)
    aoi = make_aoi(AOIS["across-image-edge"], frame)
    result = s2_sf.get_numpy(aoi, "B04", crs="EPSG:32610")
    assert not isinstance(result, list)
    assert result.data.ndim == 3 and result.data.shape[0] == len(s2_sf)
    assert set(result.ids) == {s.id for s in s2_sf}
    assert all(d is not None for d in result.datetimes)
    # beyond the image edge nothing is valid, and the fill is the file's nodata (0)
    assert not result.valid[:, :, -1].any()
    assert (result.data[~result.valid] == 0).all()


def test_aoi_in_wgs84_reads_the_same_pixels_region(s2_sf: rasteret.Collection) -> None:
    result = s2_sf.get_numpy((-122.30, 37.72, -122.28, 37.74), "B04")
    assert not isinstance(result, list)
    # ~1.8 km x 2.2 km at 10 m
    assert 150 < result.data.shape[1] < 260 and 150 < result.data.shape[2] < 260
    assert result.valid.mean() > 0.9


def test_reads_fetch_no_header_and_each_tile_once(
    s2_sf: rasteret.Collection, nginx: NginxServer
) -> None:
    frame = scene_frame(s2_sf)
    aoi = make_aoi(AOIS["across-tiles"], frame)
    nginx.clear_log()
    s2_sf.get_numpy(aoi, ["B02", "B03", "B04"], crs="EPSG:32610")
    reqs = [r for r in nginx.requests() if r.path.endswith(".tif")]
    assert reqs, "the read must fetch tiles"
    assert not [r for r in reqs if r.range and r.range.startswith("bytes=0-")]
    headers = [h for b in ("B02", "B03", "B04") for h in s2_sf.headers(b)]
    # across-tiles touches the 2 x 2 tiles of every file; each byte range is asked once,
    # and neighbouring tiles of one file may share a request
    assert len({r.path for r in reqs}) == len(headers)
    assert len(reqs) <= 4 * len(headers)
    assert len({(r.path, r.range) for r in reqs}) == len(reqs)


def test_unknown_band_and_empty_intersection(s2_sf: rasteret.Collection) -> None:
    with pytest.raises(rasteret.BandMappingError, match="B04"):
        s2_sf.get_numpy(cat.SF_BBOX, ["nope"])
    with pytest.raises(rasteret.InvalidInputError, match="geometries"):
        s2_sf.get_numpy((10.0, 10.0, 10.1, 10.1), "B04")


@pytest.mark.parametrize("level", [0, 1])
def test_overview_reads_equal_rasterio_overview_level(
    s2_sf: rasteret.Collection, local_file: Any, gdal_read: Any, level: int
) -> None:
    aoi = make_aoi(AOIS["triangle"], scene_frame(s2_sf))
    result = s2_sf.get_numpy(aoi, "B04", crs="EPSG:32610", overview=level)
    assert not isinstance(result, list)
    hrefs = {scene.id: scene.bands for scene in s2_sf}
    for n, scene_id in enumerate(result.ids):
        path = local_file(hrefs[scene_id]["B04"])
        arr, transform = gdal_read(path, aoi, overview_level=level)
        assert result.transform.almost_equals(transform)
        np.testing.assert_array_equal(result.data[n], arr, err_msg=scene_id)
    with pytest.raises(rasteret.InvalidInputError, match="overview"):
        s2_sf.get_numpy(aoi, "B04", crs="EPSG:32610", overview=5)


def test_coarser_resolution_reads_the_matching_overview(
    s2_sf: rasteret.Collection, local_file: Any, nginx: NginxServer
) -> None:
    aoi = make_aoi(AOIS["triangle"], scene_frame(s2_sf))
    header = s2_sf.headers("B04")[0]
    assert header is not None
    # 10 m native (1098 px); overviews of 549 px (20 m) and 275 px (39.93 m): a 40 m
    # output reads the 39.93 m level, the coarsest that is not coarser than asked
    nginx.clear_log()
    coarse = s2_sf.get_numpy(aoi, "B04", crs="EPSG:32610", resolution=40)
    assert not isinstance(coarse, list)
    assert (coarse.transform.a, -coarse.transform.e) == (40.0, 40.0)
    assert coarse.valid.any()
    level1 = header.overviews[1]
    offsets = {int(o) for o in level1.tile_offsets}
    fetched = [r for r in nginx.requests() if r.path.endswith("B04.tif")]
    assert fetched and all(int(r.range.split("=")[1].split("-")[0]) in offsets for r in fetched)


def test_apply_scale_uses_raster_bands(s2_sf: rasteret.Collection) -> None:
    aoi = (-122.30, 37.72, -122.28, 37.74)
    raw = s2_sf.get_numpy(aoi, "B04")
    phys = s2_sf.get_numpy(aoi, "B04", apply_scale=True)
    assert not isinstance(raw, list) and not isinstance(phys, list)
    assert phys.data.dtype == np.float32
    # the sample items declare raster:bands scale 0.0001, offset -0.1 for reflectance
    expected = raw.data.astype(np.float32) * np.float32(0.0001) + np.float32(-0.1)
    np.testing.assert_array_equal(phys.data[raw.valid], expected[raw.valid])
    assert np.isnan(phys.data[~raw.valid]).all()


def test_several_aois_are_planned_together(s2_sf: rasteret.Collection, nginx: NginxServer) -> None:
    frame = scene_frame(s2_sf)
    first = make_aoi((0.05, 0.05, 0.3, 0.3), frame)
    second = make_aoi((0.1, 0.1, 0.35, 0.35), frame)  # overlaps the first: same tiles
    nginx.clear_log()
    both = s2_sf.get_numpy([first, second], "B04", crs="EPSG:32610")
    assert isinstance(both, list) and len(both) == 2
    requests = [r for r in nginx.requests() if r.path.endswith("B04.tif")]
    assert len(requests) == len(s2_sf)  # one tile per file, fetched once for both AOIs
    alone = s2_sf.get_numpy(second, "B04", crs="EPSG:32610")
    assert not isinstance(alone, list)
    np.testing.assert_array_equal(both[1].data, alone.data)
