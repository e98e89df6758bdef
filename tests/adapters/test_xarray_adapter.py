"""to_dataset: layout, and rioxarray / GDAL / odc-geo as the oracles of georeferencing."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from pyproj import CRS

from rasteret.adapters.xarray import to_dataset
from rasteret.errors import InvalidInputError
from rasteret.read.reader import ArrayResult

pytestmark = pytest.mark.filterwarnings(
    # rioxarray (the test oracle) still multiplies Affine with `*`; not ours to fix
    "ignore:Use `@` matmul:PendingDeprecationWarning:rioxarray"
)

UTM = CRS.from_epsg(32610)
GRID = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 4190000.0)


def make_result(
    *,
    transform: Affine = GRID,
    shape: tuple[int, int] = (6, 7),
    ids: tuple[str, ...] = ("S2A_1", "S2B_2", "S2A_3"),
    seed: int = 0,
) -> ArrayResult:
    """3 scenes x 2 bands of uint16 with nodata 0 and a corner outside the AOI."""
    rng = np.random.default_rng(seed)
    n, (h, w) = len(ids), shape
    data = rng.integers(1, 10_000, size=(n, 2, h, w), dtype=np.uint16)
    data[1, :, 0, :2] = 0  # nodata inside scene 2
    data[:, :, -1, -1] = 0  # outside the AOI: fill
    valid = data != 0
    return ArrayResult(
        data=data,
        valid=valid,
        ids=ids,
        datetimes=tuple(datetime(2024, 1, 1 + 5 * i, 18, 30, tzinfo=UTC) for i in range(n)),
        cloud_cover=(None,) * n,
        bands=("B04", "B08"),
        transform=transform,
        crs=UTM,
        fill_values=(0.0, 0.0),
        nodata=(0.0, 0.0),
    )


@pytest.fixture
def result() -> ArrayResult:
    return make_result()


def test_dims_coords_and_native_dtypes(result: ArrayResult) -> None:
    ds = to_dataset(result, scene_properties={"eo:cloud_cover": [12.5, None, 3]})

    assert dict(ds.sizes) == {"time": 3, "y": 6, "x": 7}
    assert set(ds.data_vars) == {"B04", "B04_valid", "B08", "B08_valid"}
    for c, band in enumerate(("B04", "B08")):
        assert ds[band].dims == ("time", "y", "x")
        assert ds[band].dtype == np.uint16
        np.testing.assert_array_equal(ds[band].values, result.data[:, c])
        assert ds[f"{band}_valid"].dtype == np.bool_
        np.testing.assert_array_equal(ds[f"{band}_valid"].values, result.valid[:, c])
        assert ds[band].attrs["grid_mapping"] == "spatial_ref"
        assert ds[band].attrs["_FillValue"] == 0
        assert ds[band].attrs["_FillValue"].dtype == np.uint16
        assert ds[band].attrs["nodata"] == 0

    assert ds.time.dtype == np.dtype("datetime64[ns]")
    assert ds.time.values[0] == np.datetime64("2024-01-01T18:30:00", "ns")
    assert list(ds.id.values) == list(result.ids)
    assert ds["eo:cloud_cover"].dims == ("time",)
    np.testing.assert_array_equal(ds["eo:cloud_cover"].values, [12.5, np.nan, 3.0])

    np.testing.assert_allclose(ds.x.values, 600005.0 + 10.0 * np.arange(7))
    np.testing.assert_allclose(ds.y.values, 4189995.0 - 10.0 * np.arange(6))
    assert ds.x.attrs["standard_name"] == "projection_x_coordinate"
    assert ds.y.attrs["axis"] == "Y"

    ref = ds.spatial_ref.attrs
    assert ref["GeoTransform"] == "600000.0 10.0 0.0 4190000.0 0.0 -10.0"
    assert CRS.from_wkt(ref["crs_wkt"]) == UTM
    assert CRS.from_wkt(ref["spatial_ref"]) == UTM
    assert ref["grid_mapping_name"] == "transverse_mercator"


def test_data_is_not_copied(result: ArrayResult) -> None:
    ds = to_dataset(result)
    assert np.shares_memory(ds["B04"].values, result.data)


def test_rioxarray_reads_crs_transform_and_nodata(result: ArrayResult) -> None:
    ds = to_dataset(result)
    assert CRS.from_user_input(ds.rio.crs) == UTM
    assert ds.rio.transform() == GRID
    assert ds.rio.transform(recalc=True).almost_equals(GRID)
    assert ds["B04"].rio.crs.to_epsg() == 32610
    assert ds["B04"].rio.transform() == GRID
    assert ds["B04"].rio.nodata == 0
    assert ds["B08"].isel(time=2).rio.transform() == GRID
    assert ds.rio.width == 7
    assert ds.rio.height == 6


def test_one_pixel_grid_transform_comes_from_geotransform() -> None:
    one = make_result(shape=(1, 1))
    ds = to_dataset(one)
    assert ds.rio.transform() == GRID


def test_gdal_round_trip(result: ArrayResult, tmp_path: Path) -> None:
    ds = to_dataset(result)
    path = tmp_path / "b04.tif"
    ds["B04"].isel(time=1).rio.to_raster(path)

    with rasterio.open(path) as src:
        assert src.transform == GRID
        assert CRS.from_user_input(src.crs) == UTM
        assert src.nodata == 0
        assert src.dtypes[0] == "uint16"
        np.testing.assert_array_equal(src.read(1), result.data[1, 0])


def test_float_band_with_nan_fill_keeps_dtype_and_nodata() -> None:
    base = make_result()
    data = base.data.astype(np.float32)
    data[~base.valid] = np.nan
    ds = to_dataset(replace(base, data=data, fill_values=(math.nan, math.nan)))
    assert ds["B04"].dtype == np.float32
    assert math.isnan(ds["B04"].attrs["_FillValue"])
    assert math.isnan(ds["B04"].rio.nodata)


def test_times_are_utc_without_zone_and_missing_is_nat() -> None:
    base = make_result()
    plus2 = timezone(timedelta(hours=2))
    r = replace(
        base,
        datetimes=(datetime(2024, 3, 1, 12, tzinfo=plus2), datetime(2024, 3, 2, 9), None),
    )
    times = to_dataset(r).time.values
    assert times[0] == np.datetime64("2024-03-01T10:00", "ns")
    assert times[1] == np.datetime64("2024-03-02T09:00", "ns")
    assert np.isnat(times[2])


def test_scene_property_errors(result: ArrayResult) -> None:
    with pytest.raises(InvalidInputError, match="2 values for 3 scenes"):
        to_dataset(result, scene_properties={"eo:cloud_cover": [1, 2]})
    with pytest.raises(InvalidInputError, match="collides"):
        to_dataset(result, scene_properties={"B04": [1, 2, 3]})


def test_geometry_ids_need_a_sequence(result: ArrayResult) -> None:
    with pytest.raises(InvalidInputError, match="sequence"):
        to_dataset(result, geometry_ids=["a"])


def test_rotated_transform_is_refused() -> None:
    rotated = make_result(transform=GRID @ Affine.rotation(10))
    with pytest.raises(InvalidInputError, match="rotated"):
        to_dataset(rotated)


def test_same_shape_aois_stack_along_geometry() -> None:
    a = make_result(seed=1)
    b_transform = GRID @ Affine.translation(100, 40)
    b = make_result(transform=b_transform, seed=2)

    ds = to_dataset([a, b], geometry_ids=["plot-1", "plot-2"], scene_properties={"p": [1, 2, 3]})

    assert dict(ds.sizes) == {"geometry": 2, "time": 3, "y": 6, "x": 7}
    assert ds["B08"].dims == ("geometry", "time", "y", "x")
    assert ds["B08"].dtype == np.uint16
    assert list(ds.geometry.values) == ["plot-1", "plot-2"]
    np.testing.assert_array_equal(ds["B08"].sel(geometry="plot-2").values, b.data[:, 1])
    np.testing.assert_array_equal(ds["B04_valid"].isel(geometry=0).values, a.valid[:, 0])
    assert ds.xc.dims == ("geometry", "x")
    assert ds.yc.dims == ("geometry", "y")
    np.testing.assert_allclose(ds.xc.values[1], b_transform.c + 5 + 10 * np.arange(7))
    assert "GeoTransform" not in ds.spatial_ref.attrs  # pixels sit elsewhere per AOI
    assert CRS.from_user_input(ds.rio.crs) == UTM

    # the documented recipe georeferences one AOI again
    for i, expected in enumerate((GRID, b_transform)):
        one = ds.isel(geometry=i)
        one = one.assign_coords(x=("x", one.xc.values), y=("y", one.yc.values))
        assert one["B04"].rio.transform().almost_equals(expected)
        assert one["B04"].rio.nodata == 0


def test_a_sequence_of_one_still_has_a_geometry_dim(result: ArrayResult) -> None:
    ds = to_dataset([result])
    assert ds["B04"].dims == ("geometry", "time", "y", "x")
    assert list(ds.geometry.values) == [0]


def test_different_shapes_are_padded_and_marked_invalid() -> None:
    a = make_result(shape=(6, 7))
    b = make_result(shape=(5, 4))
    ds = to_dataset([a, b])
    band = a.bands[0]
    assert ds[band].shape[-2:] == (6, 7)
    np.testing.assert_array_equal(ds[band].values[1, :, :5, :4], b.data[:, 0])
    assert not ds[f"{band}_valid"].values[1, :, 5:, :].any()
    assert not ds[f"{band}_valid"].values[1, :, :, 4:].any()
    assert (ds[band].values[1, :, 5:, :] == b.fill_values[0]).all()
    centres = b.transform.c + (np.arange(7) + 0.5) * b.transform.a  # b's own origin
    np.testing.assert_allclose(ds["xc"].values[1], centres)


def test_mismatched_scenes_are_refused() -> None:
    a = make_result()
    b = make_result(ids=("S2A_1", "S2B_2", "other"))
    with pytest.raises(InvalidInputError, match="scene ids"):
        to_dataset([a, b])


def test_geometry_ids_length_and_empty_input(result: ArrayResult) -> None:
    with pytest.raises(InvalidInputError, match="one id per result"):
        to_dataset([result, result], geometry_ids=["only-one"])
    with pytest.raises(InvalidInputError, match="no results"):
        to_dataset([])


def test_odc_geo_reads_the_geobox(result: ArrayResult) -> None:
    pytest.importorskip("odc.geo.xr", reason="odc-geo is not installed")
    ds = to_dataset(result)
    geobox = ds["B04"].odc.geobox
    assert geobox.crs.epsg == 32610
    assert geobox.affine == GRID
    assert geobox.shape == (6, 7)
    assert ds["B04"].odc.nodata == 0


def test_dataset_survives_xarray_operations(result: ArrayResult) -> None:
    ds = to_dataset(result)
    masked = ds["B04"].where(ds["B04_valid"])
    assert isinstance(masked, xr.DataArray)
    assert int(masked.isnull().sum()) == int((~result.valid[:, 0]).sum())
    sub = ds.isel(x=slice(2, 5), y=slice(1, 4))
    assert sub.rio.transform() == GRID @ Affine.translation(2, 1)
