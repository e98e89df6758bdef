"""Every accepted AOI/point form normalises to one strict type; bad forms name the parameter."""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pytest
import shapely
from pyproj import CRS

from rasteret.errors import InvalidInputError
from rasteret.read.geometry import AoiSet, PointSet, normalize_geometries, normalize_points

WGS84 = CRS.from_epsg(4326)
UTM10 = CRS.from_epsg(32610)
BOX = shapely.box(-122.5, 37.5, -122.0, 38.0)


class _GeoInterface:
    __geo_interface__ = shapely.geometry.mapping(BOX)


def _feature(geom: shapely.Geometry, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props}


def _arrow_with_geo_metadata(crs: CRS | None) -> pa.Table:
    table = pa.table({"geometry": [shapely.to_wkb(BOX)], "plot": ["a"]})
    column: dict[str, Any] = {"encoding": "WKB", "geometry_types": ["Polygon"]}
    if crs is not None:
        column["crs"] = crs.to_json_dict()
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    return table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ((-122.5, 37.5, -122.0, 38.0), 1),
        ([-122.5, 37.5, -122.0, 38.0], 1),
        (BOX, 1),
        (shapely.MultiPolygon([BOX, shapely.box(0, 0, 1, 1)]), 1),
        ([BOX, shapely.box(0, 0, 1, 1)], 2),
        (shapely.geometry.mapping(BOX), 1),
        (json.dumps(shapely.geometry.mapping(BOX)), 1),
        (_feature(BOX, plot="a"), 1),
        ({"type": "FeatureCollection", "features": [_feature(BOX), _feature(BOX)]}, 2),
        (shapely.to_wkb(BOX), 1),
        (shapely.to_wkt(BOX), 1),
        (_GeoInterface(), 1),
        (gpd.GeoSeries([BOX, BOX]), 2),
        (pa.table({"geometry": [shapely.to_wkb(BOX)]}), 1),
    ],
    ids=[
        "bbox-tuple",
        "bbox-list",
        "shapely",
        "multipolygon",
        "list",
        "geojson",
        "geojson-str",
        "feature",
        "feature-collection",
        "wkb",
        "wkt",
        "geo-interface",
        "geoseries",
        "arrow",
    ],
)
def test_accepted_aoi_forms(value: object, count: int) -> None:
    aois = normalize_geometries(value)
    assert isinstance(aois, AoiSet)
    assert len(aois.geometries) == count
    assert aois.crs == WGS84
    assert all(g.geom_type in ("Polygon", "MultiPolygon") for g in aois.geometries)


def test_bbox_becomes_its_polygon() -> None:
    (geom,) = normalize_geometries((1, 2, 3, 4)).geometries
    assert geom.equals(shapely.box(1, 2, 3, 4))


def test_feature_properties_become_attributes() -> None:
    fc = {
        "type": "FeatureCollection",
        "features": [_feature(BOX, plot="a", n=1), _feature(BOX, plot="b", n=2)],
    }
    aois = normalize_geometries(fc)
    assert aois.attributes is not None
    assert aois.attributes.to_pydict() == {"plot": ["a", "b"], "n": [1, 2]}
    listed = normalize_geometries([_feature(BOX, plot="a"), _feature(BOX, plot="b")])
    assert listed.attributes is not None and listed.attributes.column("plot").to_pylist() == [
        "a",
        "b",
    ]
    assert normalize_geometries(BOX).attributes is None


def test_geodataframe_crs_wins_and_columns_become_attributes() -> None:
    utm_box = shapely.box(500000, 4100000, 500100, 4100100)
    frame = gpd.GeoDataFrame(
        {"plot": ["p1", "p2"], "label": [3, 4]}, geometry=[utm_box, utm_box], crs="EPSG:32610"
    )
    aois = normalize_geometries(frame)
    assert aois.crs == UTM10
    assert aois.attributes is not None
    assert aois.attributes.to_pydict() == {"plot": ["p1", "p2"], "label": [3, 4]}
    assert aois.geometries[0].equals(utm_box)
    # crs= overrides what the input declares.
    assert normalize_geometries(frame, crs="EPSG:32611").crs == CRS.from_epsg(32611)


def test_crs_declared_for_plain_inputs() -> None:
    assert normalize_geometries(BOX, crs=32610).crs == UTM10
    assert normalize_geometries(BOX, crs="EPSG:32610").crs == UTM10
    assert normalize_geometries(BOX, crs=UTM10).crs == UTM10


def test_arrow_crs_from_geoparquet_and_geoarrow_metadata() -> None:
    aois = normalize_geometries(_arrow_with_geo_metadata(UTM10))
    assert aois.crs == UTM10
    assert aois.attributes is not None and aois.attributes.column_names == ["plot"]
    # GeoParquet without "crs" means OGC:CRS84 (lon/lat).
    assert normalize_geometries(_arrow_with_geo_metadata(None)).crs == CRS.from_user_input(
        "OGC:CRS84"
    )
    field = pa.field(
        "geom",
        pa.binary(),
        metadata={
            b"ARROW:extension:name": b"geoarrow.wkb",
            b"ARROW:extension:metadata": json.dumps({"crs": "EPSG:32610"}).encode(),
        },
    )
    table = pa.Table.from_arrays([pa.array([shapely.to_wkb(BOX)])], schema=pa.schema([field]))
    assert normalize_geometries(table).crs == UTM10


@pytest.mark.parametrize(
    ("value", "parameter"),
    [
        (shapely.Polygon(), "geometries"),
        (shapely.Point(1, 2), "geometries"),
        (shapely.LineString([(0, 0), (1, 1)]), "geometries"),
        (shapely.box(0, 0, float("nan"), 1), "geometries"),
        ((3, 0, 1, 1), "geometries"),  # reversed bbox
        ((0, 0, 1, float("inf")), "geometries"),
        ("not wkt at all", "geometries"),
        (b"\x00\x01garbage", "geometries"),
        ({"type": "Polygon", "coordinates": "nope"}, "geometries"),
        ({"type": "Feature", "geometry": None, "properties": {}}, "geometries"),
        (42, "geometries"),
        ([], "geometries"),
        (pa.table({"x": [1]}), "geometries"),
    ],
    ids=[
        "empty",
        "point",
        "line",
        "nan",
        "reversed-bbox",
        "inf-bbox",
        "bad-wkt",
        "bad-wkb",
        "bad-geojson",
        "null-feature",
        "int",
        "empty-list",
        "arrow-no-geometry",
    ],
)
def test_bad_aoi_forms_name_the_parameter(value: object, parameter: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        normalize_geometries(value)
    assert info.value.parameter == parameter


def test_bad_crs_names_crs() -> None:
    with pytest.raises(InvalidInputError) as info:
        normalize_geometries(BOX, crs="EPSG:not-a-code")
    assert info.value.parameter == "crs"


# --------------------------------------------------------------------------- points


@pytest.mark.parametrize(
    ("value", "xs"),
    [
        ((1.0, 2.0), [1.0]),
        ([1, 2], [1.0]),
        ([(1.0, 2.0), (3.0, 4.0)], [1.0, 3.0]),
        (np.array([[1.0, 2.0], [3.0, 4.0]]), [1.0, 3.0]),
        (np.array([1.0, 2.0]), [1.0]),
        (shapely.Point(1, 2), [1.0]),
        (shapely.MultiPoint([(1, 2), (3, 4)]), [1.0, 3.0]),
        ([shapely.Point(1, 2), shapely.Point(3, 4)], [1.0, 3.0]),
        ({"type": "Point", "coordinates": [1, 2]}, [1.0]),
        ("POINT (1 2)", [1.0]),
        (shapely.to_wkb(shapely.Point(1, 2)), [1.0]),
        (pa.table({"x": [1.0, 3.0], "y": [2.0, 4.0]}), [1.0, 3.0]),
        (pa.table({"lon": [1.0, 3.0], "lat": [2.0, 4.0]}), [1.0, 3.0]),
        (pa.table({"geometry": [shapely.to_wkb(shapely.Point(1, 2))]}), [1.0]),
    ],
)
def test_accepted_point_forms(value: object, xs: list[float]) -> None:
    pts = normalize_points(value)
    assert isinstance(pts, PointSet)
    assert pts.xs.dtype == np.float64 and pts.xs.tolist() == xs
    assert pts.ys.tolist() == [x + 1.0 for x in xs]
    assert pts.crs == WGS84


def test_point_attributes_and_crs() -> None:
    frame = gpd.GeoDataFrame(
        {"id": [7, 8]},
        geometry=[shapely.Point(500000, 4100000), shapely.Point(500010, 4100010)],
        crs="EPSG:32610",
    )
    pts = normalize_points(frame)
    assert pts.crs == UTM10
    assert pts.attributes is not None and pts.attributes.column("id").to_pylist() == [7, 8]
    table = normalize_points(pa.table({"LON": [1.0], "LAT": [2.0], "site": ["s"]}))
    assert table.attributes is not None and table.attributes.column_names == ["site"]
    fc = {"type": "FeatureCollection", "features": [_feature(shapely.Point(1, 2), site="s")]}
    assert normalize_points(fc).attributes.to_pydict() == {"site": ["s"]}  # type: ignore[union-attr]
    assert normalize_points((1, 2), crs=32610).crs == UTM10


@pytest.mark.parametrize(
    "value",
    [
        BOX,
        shapely.Point(),
        (float("nan"), 1.0),
        np.zeros((3, 3)),
        [],
        "garbage",
        pa.table({"x": ["a"], "y": ["b"]}),
        (np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])),  # (xs, ys) is ambiguous
        [(-122.3, 37.7), (37.7, -122.3)],  # a latitude of -122.3 in EPSG:4326: swapped
    ],
    ids=[
        "polygon",
        "empty",
        "nan",
        "nx3",
        "empty-list",
        "garbage",
        "text-columns",
        "xs-ys",
        "latitude",
    ],
)
def test_bad_point_forms_name_the_parameter(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        normalize_points(value)
    assert info.value.parameter == "points"


def test_projected_points_may_exceed_ninety() -> None:
    pts = normalize_points([(552_000.0, 4_175_000.0)], crs="EPSG:32610")
    assert pts.ys.tolist() == [4_175_000.0]
