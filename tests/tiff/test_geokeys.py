"""GeoKeys to CRS and transform, checked against what rasterio (GDAL) reads from the same file."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import rasterio
from pyproj import CRS

from rasteret.errors import TiffFormatError, UnsupportedTiffError
from rasteret.tiff.constants import GeoKey
from rasteret.tiff.geokeys import crs_from_geokeys, model_transform, parse_geokeys

USER_CRSS = {
    "aea_wgs84": "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +datum=WGS84 +units=m",
    "aea_sphere": "+proj=aea +lat_1=20 +lat_2=60 +lat_0=40 +lon_0=10 +R=6371000 +units=m",
    "lcc2sp_sphere": (
        "+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +x_0=1000 +y_0=2000 +R=6371000"
    ),
    "lcc1sp_grs80": "+proj=lcc +lat_1=46.5 +lat_0=46.5 +lon_0=3 +k_0=0.9999 +x_0=700000 "
    "+y_0=6600000 +ellps=GRS80 +units=m",
    "tmerc_feet": "+proj=tmerc +lat_0=31 +lon_0=-110.1666666666667 +k=0.9999 +x_0=213360 "
    "+y_0=0 +ellps=GRS80 +units=ft",
    "tmerc_us_ft": "+proj=tmerc +lat_0=30 +lon_0=-90 +k=0.9999 +x_0=200000 +y_0=0 "
    "+ellps=clrk66 +units=us-ft",
    "polar_b_north": "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +datum=WGS84 +units=m",
    "polar_a_south": "+proj=stere +lat_0=-90 +lon_0=0 +k=0.994 +x_0=2000000 +y_0=2000000 "
    "+datum=WGS84 +units=m",
    "laea_grs80": "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80",
    "sinusoidal_modis": "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m",
    "mercator_1sp": "+proj=merc +lon_0=20 +k=0.997 +x_0=100 +y_0=200 +datum=WGS84",
    "mercator_2sp": "+proj=merc +lat_ts=30 +lon_0=10 +datum=WGS84",
    "equirectangular": "+proj=eqc +lat_ts=30 +lon_0=10 +datum=WGS84",
    "oblique_stereo": "+proj=sterea +lat_0=52.15616055555555 +lon_0=5.38763888888889 "
    "+k=0.9999079 +x_0=155000 +y_0=463000 +ellps=bessel +units=m",
    "geographic_sphere": "+proj=longlat +R=6371000",
    "geographic_custom_ellps": "+proj=longlat +a=6378000 +rf=300",
    "wkt_custom_names": (
        'PROJCS["My Albers",GEOGCS["My GCS",DATUM["My_Datum",SPHEROID["My Spheroid",6378000,'
        '299]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],'
        'PROJECTION["Albers_Conic_Equal_Area"],PARAMETER["latitude_of_center",10],'
        'PARAMETER["longitude_of_center",20],PARAMETER["standard_parallel_1",5],'
        'PARAMETER["standard_parallel_2",15],PARAMETER["false_easting",1],'
        'PARAMETER["false_northing",2],UNIT["metre",1]]'
    ),
    "paris_meridian": "+proj=lcc +lat_1=46.8 +lat_0=46.8 +lon_0=0 +k_0=0.99987742 "
    "+x_0=600000 +y_0=2200000 +a=6378249.2 +b=6356515 +pm=paris +units=m",
    "epsg_utm": "EPSG:32633",
    "epsg_3413_polar": "EPSG:3413",
    "epsg_lcc_3035": "EPSG:3035",
    "epsg_geographic": "EPSG:4326",
}


@pytest.mark.parametrize("name", sorted(USER_CRSS))
def test_crs_equals_rasterio(name: str, make_cog: Any, parse_grow: Any) -> None:
    path = make_cog(
        f"crs_{name}",
        width=32,
        height=32,
        crs=USER_CRSS[name],
        blocksize=256,
        overview_levels=(),
        transform=(0.01, 0.0, 1.0, 0.0, -0.01, 50.0)
        if "geographic" in name
        else (30.0, 0.0, 1000.0, 0.0, -30.0, 2000.0),
    )
    header, grows = parse_grow(path)
    assert grows == 0
    assert header.geo is not None and header.geo.crs_wkt is not None
    ours = CRS.from_wkt(header.geo.crs_wkt)
    with rasterio.open(path) as src:
        theirs = CRS.from_wkt(src.crs.to_wkt(version="WKT2_2019"))
    assert ours.equals(theirs), f"\nours:   {ours.to_wkt()}\ntheirs: {theirs.to_wkt()}"
    if name.startswith("epsg_"):
        assert header.geo.crs_epsg == int(USER_CRSS[name].split(":")[1])
        assert header.geo.crs_projjson is None
    else:
        assert header.geo.crs_epsg is None
        assert header.geo.crs_projjson is not None
        assert CRS.from_json(header.geo.crs_projjson).equals(ours)


def test_gdal_names_kept(make_cog: Any, parse_grow: Any) -> None:
    path = make_cog(
        "crs_named",
        width=16,
        height=16,
        crs=USER_CRSS["wkt_custom_names"],
        blocksize=256,
        overview_levels=(),
    )
    header, _ = parse_grow(path)
    assert header.geo is not None and header.geo.crs_projjson is not None
    doc = json.loads(header.geo.crs_projjson)
    assert doc["base_crs"]["datum"]["name"] == "My_Datum"
    assert doc["base_crs"]["datum"]["ellipsoid"]["name"] == "My Spheroid"


def _directory(*keys: tuple[int, int, int, int]) -> list[int]:
    out = [1, 1, 0, len(keys)]
    for key in keys:
        out.extend(key)
    return out


def test_parse_geokeys_locations() -> None:
    directory = _directory(
        (GeoKey.GT_MODEL_TYPE, 0, 1, 1),
        (GeoKey.GT_CITATION, 34737, 6, 0),
        (GeoKey.GEOG_SEMI_MAJOR_AXIS, 34736, 1, 1),
        (GeoKey.PROJ_STD_PARALLEL1, 34736, 2, 0),
        (4099, 34735, 1, 4),  # a key stored inside the directory: points at the "1"
        (5000, 9999, 1, 0),  # unknown location: skipped
    )
    keys = parse_geokeys(directory, [1.5, 2.5], "hello|", source="t")
    assert keys[GeoKey.GT_MODEL_TYPE] == 1
    assert keys[GeoKey.GT_CITATION] == "hello"
    assert keys[GeoKey.GEOG_SEMI_MAJOR_AXIS] == 2.5
    assert keys[GeoKey.PROJ_STD_PARALLEL1] == (1.5, 2.5)
    assert keys[4099] == GeoKey.GT_MODEL_TYPE
    assert 5000 not in keys


@pytest.mark.parametrize(
    ("directory", "doubles", "text"),
    [
        ([1, 1], None, None),  # too short
        ([2, 1, 0, 0], None, None),  # wrong version
        ([1, 1, 0, 5, 1024, 0, 1, 1], None, None),  # declares more keys than present
        (_directory((2057, 34736, 1, 3)), [1.0], None),  # double index out of range
        (_directory((1026, 34737, 10, 0)), None, "short"),  # ascii out of range
        (_directory((1026, 34737, 1, 0)), None, None),  # no ascii tag at all
        ([1, 1, 0, 2000, *([0] * 8000)], None, None),  # more keys than the limit
    ],
)
def test_parse_geokeys_rejects(directory: list[int], doubles: Any, text: Any) -> None:
    with pytest.raises(TiffFormatError, match="src"):
        parse_geokeys(directory, doubles, text, source="src")


def test_model_transform_variants() -> None:
    tie = [0.0, 0.0, 0.0, 100.0, 200.0, 0.0]
    assert model_transform([2.0, 3.0, 0.0], tie, None, 1, source="t") == (
        2.0,
        0.0,
        100.0,
        0.0,
        -3.0,
        200.0,
    )
    # Negative ScaleY is read north-up, as GDAL does by default.
    assert model_transform([2.0, -3.0, 0.0], tie, None, 1, source="t") == (
        2.0,
        0.0,
        100.0,
        0.0,
        -3.0,
        200.0,
    )
    # Tiepoint at a pixel other than (0, 0).
    shifted = model_transform([2.0, 3.0, 0.0], [10, 20, 0, 100, 200, 0], None, 1, source="t")
    assert shifted == (2.0, 0.0, 80.0, 0.0, -3.0, 260.0)
    # PixelIsPoint moves the corner half a pixel up-left.
    point = model_transform([2.0, 3.0, 0.0], tie, None, 2, source="t")
    assert point == (2.0, 0.0, 99.0, 0.0, -3.0, 201.5)
    matrix = [2.0, 0.5, 0, 100.0, 0.25, -3.0, 0, 200.0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert model_transform(None, None, matrix, 1, source="t") == (
        2.0,
        0.5,
        100.0,
        0.25,
        -3.0,
        200.0,
    )
    assert model_transform(None, tie * 3, None, 1, source="t") is None  # GCPs only
    assert model_transform(None, None, None, 1, source="t") is None
    with pytest.raises(TiffFormatError):
        model_transform([math.nan, 1.0, 0.0], tie, None, 1, source="t")


def test_crs_from_keys_direct() -> None:
    assert crs_from_geokeys({GeoKey.PROJECTED_CS_TYPE: 32610}, source="t").epsg == 32610
    empty = crs_from_geokeys({}, source="t")
    assert (empty.epsg, empty.wkt, empty.projjson) == (None, None, None)
    # A projection given only by its EPSG conversion code (UTM zone 10N = 16010).
    utm = crs_from_geokeys(
        {
            GeoKey.GT_MODEL_TYPE: 1,
            GeoKey.PROJECTED_CS_TYPE: 32767,
            GeoKey.GEOGRAPHIC_TYPE: 4326,
            GeoKey.PROJECTION: 16010,
        },
        source="t",
    )
    assert utm.wkt is not None and CRS.from_wkt(utm.wkt).equals(CRS.from_epsg(32610))
    with pytest.raises(UnsupportedTiffError, match="t:"):
        crs_from_geokeys({GeoKey.PROJECTED_CS_TYPE: 1}, source="t")
    with pytest.raises(UnsupportedTiffError, match="not supported"):
        crs_from_geokeys(
            {GeoKey.GT_MODEL_TYPE: 1, GeoKey.PROJECTED_CS_TYPE: 32767, GeoKey.PROJ_COORD_TRANS: 99},
            source="t",
        )
