"""get_xarray and get_gdf over a real collection: same pixels as get_numpy, georeferenced."""

from __future__ import annotations

import geopandas
import numpy as np
import pyarrow as pa
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import shapely

import rasteret

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


AOI = (-122.30, 37.72, -122.28, 37.74)


def test_get_xarray_matches_get_numpy(s2_sf: rasteret.Collection) -> None:
    ds = s2_sf.get_xarray(AOI, ["B04", "B08"])
    arrays = s2_sf.get_numpy(AOI, ["B04", "B08"])
    assert not isinstance(arrays, list)
    assert ds["B04"].dims == ("time", "y", "x")
    assert ds["B04"].dtype == np.uint16
    np.testing.assert_array_equal(ds["B04"].values, arrays.data[:, 0])
    np.testing.assert_array_equal(ds["B08_valid"].values, arrays.valid[:, 1])
    assert list(ds["id"].values) == list(arrays.ids)
    assert ds.rio.crs.to_epsg() == 32610
    assert ds.rio.transform() == arrays.transform
    assert ds["B04"].rio.nodata == 0
    assert "eo:cloud_cover" in ds.coords


def test_get_gdf_keeps_aoi_columns(s2_sf: rasteret.Collection) -> None:
    plots = geopandas.GeoDataFrame(
        {"plot": ["a", "b"], "label": [1, 2]},
        geometry=[shapely.box(*AOI), shapely.box(-122.25, 37.75, -122.24, 37.76)],
        crs="EPSG:4326",
    )
    gdf = s2_sf.get_gdf(plots, "B04")
    assert len(gdf) == 2 * len(s2_sf)
    assert {"plot", "label", "scene_id", "datetime", "B04", "transform"} <= set(gdf.columns)
    assert gdf.crs.to_epsg() == 4326
    first = gdf[gdf["plot"] == "a"].iloc[0]
    arrays = s2_sf.get_numpy(AOI, "B04")
    assert not isinstance(arrays, list)
    np.testing.assert_array_equal(
        first["B04"], arrays.data[list(arrays.ids).index(first["scene_id"])]
    )


def test_get_xarray_stacks_aois_of_different_sizes(s2_sf: rasteret.Collection) -> None:
    small = shapely.box(-122.25, 37.75, -122.24, 37.76)
    ds = s2_sf.get_xarray([shapely.box(*AOI), small], "B04")
    assert ds["B04"].dims == ("geometry", "time", "y", "x")
    alone = s2_sf.get_numpy(small, "B04")
    assert not isinstance(alone, list)
    h, w = alone.data.shape[-2:]
    np.testing.assert_array_equal(ds["B04"].values[1, :, :h, :w], alone.data)
    assert not ds["B04_valid"].values[1, :, h:, :].any()


@pytest.mark.parametrize("chunks", [None, {"x": 64, "y": 64}])
def test_cloud_cover_follows_each_row_where_ids_repeat(
    s2_sf: rasteret.Collection, chunks: dict[str, int] | None
) -> None:
    # The same items twice with other cloud covers (say, one item id in two STAC
    # collections): each slice carries the cover of the row it was read from.
    table = s2_sf.to_table()
    col = table.schema.get_field_index("eo:cloud_cover")
    first = table.column(col).to_pylist()
    twins = table.set_column(
        col, table.schema.field(col), pa.array([90.0 + i for i in range(len(first))])
    )
    doubled = rasteret.Collection(pa.concat_tables([table, twins]), s2_sf.manifest)
    ds = doubled.get_xarray(AOI, "B04", chunks=chunks)
    assert list(ds["id"].values) == [*table.column("id").to_pylist()] * 2
    np.testing.assert_array_equal(
        ds["eo:cloud_cover"].values,
        np.array([*first, *(90.0 + i for i in range(len(first)))], dtype=float),
    )
    arrays = doubled.get_numpy(AOI, "B04")
    assert not isinstance(arrays, list)
    assert list(arrays.cloud_cover) == [*first, *(90.0 + i for i in range(len(first)))]
