"""to_geodataframe: a row per scene x AOI, attributes kept, pixels georeferenceable again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pytest
import shapely
from affine import Affine
from pyproj import CRS

from rasteret.adapters.geopandas import to_geodataframe
from rasteret.errors import InvalidInputError
from rasteret.read.reader import ArrayResult

UTM = CRS.from_epsg(32610)
WGS84 = CRS.from_epsg(4326)


def make_result(
    ids: tuple[str, ...], shape: tuple[int, int], origin: tuple[float, float]
) -> ArrayResult:
    n, (h, w) = len(ids), shape
    data = np.arange(n * 2 * h * w, dtype=np.uint16).reshape(n, 2, h, w)
    return ArrayResult(
        data=data,
        valid=data % 3 != 0,
        ids=ids,
        datetimes=tuple(datetime(2024, 5, 1 + i, 19, tzinfo=UTC) for i in range(n)),
        cloud_cover=(None,) * n,
        bands=("B04", "B08"),
        transform=Affine(10.0, 0.0, origin[0], 0.0, -10.0, origin[1]),
        crs=UTM,
        fill_values=(0.0, 0.0),
        nodata=(0.0, None),
    )


@pytest.fixture
def reads() -> tuple[list[ArrayResult], list[shapely.Geometry], pa.Table]:
    results = [
        make_result(("s1", "s2", "s3"), (4, 5), (600000.0, 4190000.0)),
        make_result(("s1", "s3"), (2, 3), (601000.0, 4191000.0)),
    ]
    aois = [shapely.box(-122.2, 37.8, -122.19, 37.81), shapely.Point(-122.1, 37.9).buffer(0.001)]
    attributes = pa.table({"plot_id": ["p-1", "p-2"], "label": [3, 7]})
    return results, aois, attributes


def test_rows_columns_and_crs(
    reads: tuple[list[ArrayResult], list[shapely.Geometry], pa.Table],
) -> None:
    results, aois, attributes = reads
    gdf = to_geodataframe(results, aois, WGS84, attributes=attributes)

    assert isinstance(gdf, gpd.GeoDataFrame)
    assert len(gdf) == 5
    assert list(gdf.columns) == [
        "plot_id",
        "label",
        "geometry",
        "scene_id",
        "datetime",
        "B04",
        "B04_valid",
        "B08",
        "B08_valid",
        "transform",
        "crs",
    ]
    assert gdf.crs == WGS84
    assert gdf.geometry.name == "geometry"
    assert list(gdf.plot_id) == ["p-1", "p-1", "p-1", "p-2", "p-2"]
    assert list(gdf.label) == [3, 3, 3, 7, 7]
    assert list(gdf.scene_id) == ["s1", "s2", "s3", "s1", "s3"]
    assert gdf.geometry.iloc[0].equals(aois[0])
    assert gdf.geometry.iloc[4].equals(aois[1])
    assert str(gdf["datetime"].dtype) == "datetime64[ns, UTC]"
    assert gdf["datetime"].iloc[3].isoformat() == "2024-05-01T19:00:00+00:00"


def test_band_cells_are_native_2d_arrays(
    reads: tuple[list[ArrayResult], list[shapely.Geometry], pa.Table],
) -> None:
    results, aois, _ = reads
    gdf = to_geodataframe(results, aois, WGS84)

    assert gdf["B04"].dtype == object
    for row, (g, s) in enumerate([(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]):
        for c, band in enumerate(("B04", "B08")):
            cell = gdf[band].iloc[row]
            assert isinstance(cell, np.ndarray)
            assert cell.dtype == np.uint16
            np.testing.assert_array_equal(cell, results[g].data[s, c])
            np.testing.assert_array_equal(gdf[f"{band}_valid"].iloc[row], results[g].valid[s, c])
    assert gdf["B08"].iloc[4].shape == (2, 3)


def test_transform_and_crs_georeference_the_arrays_again(
    reads: tuple[list[ArrayResult], list[shapely.Geometry], pa.Table],
) -> None:
    results, aois, _ = reads
    gdf = to_geodataframe(results, aois, WGS84)

    for row, g in enumerate([0, 0, 0, 1, 1]):
        transform = gdf["transform"].iloc[row]
        assert isinstance(transform, tuple)
        assert len(transform) == 6
        assert Affine(*transform) == results[g].transform
        assert CRS.from_wkt(gdf["crs"].iloc[row]) == UTM


def test_same_shaped_arrays_are_not_fused() -> None:
    results = [make_result(("s1", "s2"), (3, 3), (600000.0, 4190000.0))]
    gdf = to_geodataframe(results, [shapely.box(0, 0, 1, 1)], UTM)
    assert gdf["B04"].shape == (2,)
    assert gdf["B04"].iloc[1].shape == (3, 3)


def test_counts_must_match(
    reads: tuple[list[ArrayResult], list[shapely.Geometry], pa.Table],
) -> None:
    results, aois, attributes = reads
    with pytest.raises(InvalidInputError, match="one result per AOI"):
        to_geodataframe(results, aois[:1], WGS84)
    with pytest.raises(InvalidInputError, match="one row per AOI"):
        to_geodataframe(results, aois, WGS84, attributes=attributes.slice(0, 1))


def test_attribute_names_must_not_collide(
    reads: tuple[list[ArrayResult], list[shapely.Geometry], pa.Table],
) -> None:
    results, aois, _ = reads
    for clash in ("geometry", "B04", "scene_id"):
        with pytest.raises(InvalidInputError, match="rename them"):
            to_geodataframe(results, aois, WGS84, attributes=pa.table({clash: [1, 2]}))


def test_bands_must_agree(
    reads: tuple[list[ArrayResult], list[shapely.Geometry], pa.Table],
) -> None:
    results, aois, _ = reads
    other = replace(results[1], bands=("B02", "B03"))
    with pytest.raises(InvalidInputError, match="different bands"):
        to_geodataframe([results[0], other], aois, WGS84)


def test_no_aois_gives_an_empty_frame() -> None:
    gdf = to_geodataframe([], [], WGS84)
    assert len(gdf) == 0
    assert gdf.crs == WGS84
    assert list(gdf.columns) == ["geometry", "scene_id", "datetime", "transform", "crs"]
