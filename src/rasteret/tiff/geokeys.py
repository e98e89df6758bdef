"""GeoTIFF georeferencing: the GeoKey directory, the model transform, and the CRS.

The pixel-to-model transform follows GDAL's reading exactly (tiepoint + pixel scale first,
then ModelTransformation; PixelIsPoint shifted half a pixel; a negative ScaleY read as
north-up), because the index must agree with what rasterio reports for the same file.

CRSs named by an EPSG code come straight from PROJ's database. User-defined CRSs (key value
32767) are rebuilt from the keys as a PROJJSON document: datum or ellipsoid, prime
meridian, units and a projection method with EPSG-coded parameters. Built that way, PROJ
sees the same method and parameters GDAL derived, so ``CRS.equals`` holds between the two.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyproj import CRS

# pyproj.crs re-exports these at run time, but only pyproj._crs declares them for mypy.
from pyproj._crs import CoordinateOperation, Datum, Ellipsoid, PrimeMeridian
from pyproj.database import get_units_map
from pyproj.enums import WktVersion
from pyproj.exceptions import ProjError

from rasteret.errors import TiffFormatError, UnsupportedTiffError
from rasteret.tiff.constants import (
    USER_DEFINED,
    CoordTrans,
    GeoKey,
    ModelType,
    RasterType,
    Tag,
)
from rasteret.tiff.limits import MAX_GEO_KEYS

__all__ = ["CrsInfo", "GeoKeyValue", "crs_from_geokeys", "model_transform", "parse_geokeys"]

logger = logging.getLogger(__name__)

GeoKeyValue = int | float | str | tuple[int, ...] | tuple[float, ...]
"""A decoded GeoKey: a SHORT, a DOUBLE, an ASCII string, or an array of either."""

Affine6 = tuple[float, float, float, float, float, float]
"""An affine transform in rasterio order (a, b, c, d, e, f)."""

_DEGREE = math.pi / 180.0
"""Radians per degree, the conversion factor PROJ expects for angular units."""


@dataclass(frozen=True, kw_only=True)
class CrsInfo:
    """The CRS of a GeoTIFF in the three forms the index stores."""

    epsg: int | None
    """EPSG code when the keys name one."""
    wkt: str | None
    """WKT2 (2019) of the CRS."""
    projjson: str | None
    """PROJJSON text, only for CRSs without an EPSG code."""


class _CrsBuildError(Exception):
    """The keys describe a CRS this module cannot express; turned into UnsupportedTiffError."""


# --------------------------------------------------------------------------- GeoKey directory


def parse_geokeys(
    directory: Sequence[int],
    doubles: Sequence[float] | None,
    ascii_params: str | None,
    *,
    source: str,
) -> dict[int, GeoKeyValue]:
    """Decode a GeoKeyDirectory (tag 34735) with its double and ASCII parameter tags.

    Args:
        directory: The SHORT values of GeoKeyDirectoryTag.
        doubles: GeoDoubleParamsTag values, None when absent.
        ascii_params: GeoAsciiParamsTag text, None when absent.
        source: Name of the file, for error messages.

    Returns:
        Key id to value. Keys stored in an unknown tag are skipped, as libgeotiff does.

    Raises:
        TiffFormatError: If the directory is malformed or a key points outside its tag.
    """
    if len(directory) < 4:
        raise TiffFormatError(f"{source}: GeoKeyDirectory has {len(directory)} values, needs 4")
    version, _revision, _minor, count = (int(v) for v in directory[:4])
    if version != 1:
        raise TiffFormatError(f"{source}: GeoKeyDirectory version {version} is not 1")
    if count > MAX_GEO_KEYS:
        raise TiffFormatError(f"{source}: GeoKeyDirectory declares {count} keys (> {MAX_GEO_KEYS})")
    if 4 + 4 * count > len(directory):
        raise TiffFormatError(
            f"{source}: GeoKeyDirectory declares {count} keys but holds {len(directory)} values"
        )
    keys: dict[int, GeoKeyValue] = {}
    for k in range(count):
        key_id, location, n, value = (int(v) for v in directory[4 + 4 * k : 8 + 4 * k])
        if location == 0:
            keys[key_id] = value
        elif location == Tag.GEO_DOUBLE_PARAMS:
            if doubles is None or value + n > len(doubles) or n == 0:
                raise TiffFormatError(
                    f"{source}: GeoKey {key_id} points at doubles [{value}, {value + n}) "
                    f"outside GeoDoubleParams ({0 if doubles is None else len(doubles)} values)"
                )
            vals = tuple(float(d) for d in doubles[value : value + n])
            keys[key_id] = vals[0] if n == 1 else vals
        elif location == Tag.GEO_ASCII_PARAMS:
            if ascii_params is None or value + n > len(ascii_params):
                raise TiffFormatError(
                    f"{source}: GeoKey {key_id} points at characters [{value}, {value + n}) "
                    "outside GeoAsciiParams"
                )
            text = ascii_params[value : value + n]
            keys[key_id] = text[:-1] if text.endswith("|") else text
        elif location == Tag.GEO_KEY_DIRECTORY:
            if value + n > len(directory) or n == 0:
                raise TiffFormatError(f"{source}: GeoKey {key_id} points outside the directory")
            shorts = tuple(int(v) for v in directory[value : value + n])
            keys[key_id] = shorts[0] if n == 1 else shorts
        else:
            logger.debug("%s: GeoKey %d stored in unknown tag %d skipped", source, key_id, location)
    return keys


# --------------------------------------------------------------------------- transform


def model_transform(
    pixel_scale: Sequence[float] | None,
    tiepoints: Sequence[float] | None,
    matrix: Sequence[float] | None,
    raster_type: int,
    *,
    source: str,
) -> Affine6 | None:
    """Compute the pixel-corner affine transform the way GDAL does by default.

    Args:
        pixel_scale: ModelPixelScale values (ScaleX, ScaleY, ScaleZ).
        tiepoints: ModelTiepoint values, six per tiepoint; only the first is used.
        matrix: ModelTransformation, 16 values in row-major order.
        raster_type: GTRasterTypeGeoKey; PixelIsPoint shifts by half a pixel up-left.
        source: Name of the file, for error messages.

    Returns:
        ``(a, b, c, d, e, f)`` in rasterio order, or None when the file has no affine
        georeferencing (no tags, or ground control points without a scale).

    Raises:
        TiffFormatError: If the transform has non-finite coefficients.
    """
    if (
        pixel_scale is not None
        and len(pixel_scale) >= 2
        and pixel_scale[0] != 0
        and pixel_scale[1] != 0
        and tiepoints is not None
        and len(tiepoints) >= 6
    ):
        a = float(pixel_scale[0])
        # GDAL reads a negative ScaleY as north-up too (GTIFF_HONOUR_NEGATIVE_SCALEY=NO).
        e = -abs(float(pixel_scale[1]))
        b = d = 0.0
        c = float(tiepoints[3]) - float(tiepoints[0]) * a
        f = float(tiepoints[4]) - float(tiepoints[1]) * e
    elif matrix is not None and len(matrix) == 16:
        a, b, c = float(matrix[0]), float(matrix[1]), float(matrix[3])
        d, e, f = float(matrix[4]), float(matrix[5]), float(matrix[7])
    else:
        return None
    if raster_type == RasterType.PIXEL_IS_POINT:
        c -= 0.5 * a + 0.5 * b
        f -= 0.5 * d + 0.5 * e
    out = (a, b, c, d, e, f)
    if not all(math.isfinite(v) for v in out):
        raise TiffFormatError(f"{source}: georeferencing transform is not finite: {out}")
    return out


# --------------------------------------------------------------------------- CRS


def crs_from_geokeys(keys: Mapping[int, GeoKeyValue], *, source: str) -> CrsInfo:
    """Resolve GeoKeys to a CRS (EPSG code, WKT2 and, for custom CRSs, PROJJSON).

    Results are cached by the key set, since every scene of a collection usually shares
    its CRS and PROJ lookups cost milliseconds.

    Args:
        keys: Decoded GeoKeys as returned by :func:`parse_geokeys`.
        source: Name of the file, for error messages.

    Returns:
        The CRS; every field None when the keys define no CRS at all.

    Raises:
        UnsupportedTiffError: If the keys describe a CRS that PROJ or this module cannot
            build (unknown EPSG code, projection method not supported).
    """
    frozen = tuple(sorted((int(k), v) for k, v in keys.items() if k not in _IGNORED_KEYS))
    try:
        return _crs_cached(frozen)
    except _CrsBuildError as err:
        raise UnsupportedTiffError(f"{source}: {err}") from err


_IGNORED_KEYS = frozenset({GeoKey.GT_RASTER_TYPE})
"""Keys that do not affect the CRS, dropped from the cache key."""


@functools.lru_cache(maxsize=256)
def _crs_cached(frozen: tuple[tuple[int, GeoKeyValue], ...]) -> CrsInfo:
    """Build the CRS of one key set (cached: see :func:`crs_from_geokeys`)."""
    keys = dict(frozen)
    for citation_key in (GeoKey.PCS_CITATION, GeoKey.GT_CITATION):
        citation = keys.get(citation_key)
        if isinstance(citation, str) and citation.startswith("ESRI PE String = "):
            crs = _checked(CRS.from_wkt, citation[len("ESRI PE String = ") :])
            return _user_info(crs)

    model = _as_int(keys.get(GeoKey.GT_MODEL_TYPE))
    pcs = _as_int(keys.get(GeoKey.PROJECTED_CS_TYPE))
    gcs = _as_int(keys.get(GeoKey.GEOGRAPHIC_TYPE))
    if pcs is not None and 0 < pcs < USER_DEFINED and model != ModelType.GEOGRAPHIC:
        return _epsg_info(pcs)
    if model == ModelType.GEOGRAPHIC or (
        model is None and pcs is None and GeoKey.PROJ_COORD_TRANS not in keys and gcs is not None
    ):
        if gcs is not None and 0 < gcs < USER_DEFINED:
            return _epsg_info(gcs)
        return _user_info(_checked(CRS.from_json_dict, _geographic_json(keys)))
    if model == ModelType.GEOCENTRIC:
        raise _CrsBuildError("geocentric GeoTIFF model is not supported")
    if pcs == USER_DEFINED or GeoKey.PROJ_COORD_TRANS in keys or GeoKey.PROJECTION in keys:
        return _user_info(_checked(CRS.from_json_dict, _projected_json(keys)))
    if model == ModelType.PROJECTED:
        # A projected model with no way to build the projection: GDAL reports a LOCAL_CS.
        logger.debug("GeoKeys declare a projected model without a projection: no CRS")
    return CrsInfo(epsg=None, wkt=None, projjson=None)


def _checked(factory: Callable[[Any], CRS], arg: Any) -> CRS:
    """Call a pyproj factory, turning its errors into :class:`_CrsBuildError`."""
    try:
        return factory(arg)
    except (ProjError, ValueError, TypeError, KeyError) as err:
        detail = str(err)
        if len(detail) > 300:  # PROJ echoes the whole input; keep the reason at the end
            detail = "..." + detail[-300:]
        raise _CrsBuildError(f"PROJ cannot build the CRS: {detail}") from err


def _epsg_info(code: int) -> CrsInfo:
    """Look up an EPSG CRS."""
    crs = _checked(CRS.from_epsg, code)
    return CrsInfo(epsg=code, wkt=crs.to_wkt(WktVersion.WKT2_2019), projjson=None)


def _user_info(crs: CRS) -> CrsInfo:
    """Describe a CRS without an EPSG code of its own."""
    return CrsInfo(epsg=None, wkt=crs.to_wkt(WktVersion.WKT2_2019), projjson=crs.to_json())


def _as_int(value: GeoKeyValue | None) -> int | None:
    """A SHORT key value, or None when absent or of the wrong kind."""
    return value if isinstance(value, int) else None


def _as_float(value: GeoKeyValue | None) -> float | None:
    """A DOUBLE key value (SHORTs accepted), or None when absent or of the wrong kind."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    out = float(value)
    if not math.isfinite(out):
        raise _CrsBuildError(f"GeoKey value {value!r} is not finite")
    return out


def _citation_names(citation: GeoKeyValue | None) -> dict[str, str]:
    """Split GDAL's ``"GCS Name = x|Datum = y|Ellipsoid = z|Primem = w"`` citations."""
    if not isinstance(citation, str):
        return {}
    names: dict[str, str] = {}
    for part in citation.split("|"):
        key, sep, value = part.partition("=")
        if sep and value.strip():
            names[key.strip()] = value.strip()
    return names


# --- units


@functools.lru_cache(maxsize=2)
def _epsg_units(category: str) -> dict[int, tuple[str, float]]:
    """EPSG unit code -> (name, factor to SI) from PROJ's database."""
    units: dict[int, tuple[str, float]] = {}
    for unit in get_units_map(auth_name="EPSG", category=category).values():
        if unit.code.isdigit():
            units[int(unit.code)] = (unit.name, float(unit.conv_factor))
    return units


def _unit(
    keys: Mapping[int, GeoKeyValue], code_key: int, size_key: int, category: str
) -> dict[str, Any]:
    """PROJJSON unit for a units key (EPSG code, or user-defined with a size key)."""
    unit_type = "LinearUnit" if category == "linear" else "AngularUnit"
    code = _as_int(keys.get(code_key))
    if code is None:
        code = 9001 if category == "linear" else 9102
    if code == USER_DEFINED:
        size = _as_float(keys.get(size_key))
        if size is None or size <= 0:
            raise _CrsBuildError(f"user-defined {category} unit without a valid size")
        return {"type": unit_type, "name": "unknown", "conversion_factor": size}
    known = _epsg_units(category).get(code)
    if known is None:
        raise _CrsBuildError(f"unknown EPSG {category} unit {code}")
    name, factor = known
    return {
        "type": unit_type,
        "name": name,
        "conversion_factor": factor,
        "id": {"authority": "EPSG", "code": code},
    }


# --- geographic part


def _geographic_json(keys: Mapping[int, GeoKeyValue]) -> dict[str, Any]:
    """PROJJSON of the geographic (base) CRS: EPSG, or built from datum/ellipsoid keys."""
    gcs = _as_int(keys.get(GeoKey.GEOGRAPHIC_TYPE))
    if gcs is not None and 0 < gcs < USER_DEFINED:
        crs = _checked(CRS.from_epsg, gcs)
        if not crs.is_geographic:
            raise _CrsBuildError(f"GeographicTypeGeoKey EPSG:{gcs} is not a geographic CRS")
        doc = crs.to_json_dict()
        doc.pop("$schema", None)
        return doc
    names = _citation_names(keys.get(GeoKey.GEOG_CITATION))
    angular = _unit(keys, GeoKey.GEOG_ANGULAR_UNITS, GeoKey.GEOG_ANGULAR_UNIT_SIZE, "angular")
    datum_code = _as_int(keys.get(GeoKey.GEOG_GEODETIC_DATUM))
    datum: dict[str, Any]
    if datum_code is not None and 0 < datum_code < USER_DEFINED:
        datum = _epsg_object_json("datum", datum_code)
        if datum.get("type") == "DatumEnsemble":
            # WGS 84 and others are ensembles in EPSG; GDAL reads the key as the plain
            # datum with the ensemble's name, code and ellipsoid. Do the same, so a prime
            # meridian can be attached and CRS.equals agrees with rasterio.
            datum = {
                "type": "GeodeticReferenceFrame",
                "name": str(datum["name"]).removesuffix(" ensemble"),
                "ellipsoid": datum["ellipsoid"],
                "id": {"authority": "EPSG", "code": datum_code},
            }
    else:
        datum = {
            "type": "GeodeticReferenceFrame",
            "name": names.get("Datum", "unknown"),
            "ellipsoid": _ellipsoid_json(keys, names),
        }
    prime = _prime_meridian_json(keys, names, angular)
    if prime is not None:
        datum["prime_meridian"] = prime
    axis_unit = angular
    return {
        "type": "GeographicCRS",
        "name": names.get("GCS Name", "unknown"),
        "datum": datum,
        "coordinate_system": {
            "subtype": "ellipsoidal",
            "axis": [
                {
                    "name": "Geodetic latitude",
                    "abbreviation": "Lat",
                    "direction": "north",
                    "unit": axis_unit,
                },
                {
                    "name": "Geodetic longitude",
                    "abbreviation": "Lon",
                    "direction": "east",
                    "unit": axis_unit,
                },
            ],
        },
    }


def _epsg_object_json(kind: str, code: int) -> dict[str, Any]:
    """PROJJSON of an EPSG datum, ellipsoid or prime meridian."""
    factories: dict[str, Callable[[int], Any]] = {
        "datum": Datum.from_epsg,
        "ellipsoid": Ellipsoid.from_epsg,
        "prime_meridian": PrimeMeridian.from_epsg,
    }
    try:
        doc: dict[str, Any] = factories[kind](code).to_json_dict()
    except (ProjError, ValueError, TypeError) as err:
        raise _CrsBuildError(f"unknown EPSG {kind} {code}: {err}") from err
    doc.pop("$schema", None)
    return doc


def _ellipsoid_json(keys: Mapping[int, GeoKeyValue], names: Mapping[str, str]) -> dict[str, Any]:
    """PROJJSON ellipsoid: EPSG code, or semi-major axis with inverse flattening/semi-minor."""
    code = _as_int(keys.get(GeoKey.GEOG_ELLIPSOID))
    if code is not None and 0 < code < USER_DEFINED:
        return _epsg_object_json("ellipsoid", code)
    factor = 1.0
    if GeoKey.GEOG_LINEAR_UNITS in keys:
        unit = _unit(keys, GeoKey.GEOG_LINEAR_UNITS, GeoKey.GEOG_LINEAR_UNIT_SIZE, "linear")
        factor = float(unit["conversion_factor"])
    major = _as_float(keys.get(GeoKey.GEOG_SEMI_MAJOR_AXIS))
    if major is None or major <= 0:
        # libgeotiff's default when nothing describes the ellipsoid is WGS 84.
        if GeoKey.GEOG_SEMI_MINOR_AXIS in keys or GeoKey.GEOG_INV_FLATTENING in keys:
            raise _CrsBuildError("user-defined ellipsoid without a semi-major axis")
        return _epsg_object_json("ellipsoid", 7030)
    major *= factor
    name = names.get("Ellipsoid", "unknown")
    inv_f = _as_float(keys.get(GeoKey.GEOG_INV_FLATTENING))
    minor = _as_float(keys.get(GeoKey.GEOG_SEMI_MINOR_AXIS))
    if inv_f is not None and inv_f > 0:
        return {"name": name, "semi_major_axis": major, "inverse_flattening": inv_f}
    if minor is not None and minor > 0 and minor * factor != major:
        return {"name": name, "semi_major_axis": major, "semi_minor_axis": minor * factor}
    return {"name": name, "radius": major}


def _prime_meridian_json(
    keys: Mapping[int, GeoKeyValue], names: Mapping[str, str], angular: Mapping[str, Any]
) -> dict[str, Any] | None:
    """PROJJSON prime meridian, None for Greenwich (the PROJJSON default)."""
    code = _as_int(keys.get(GeoKey.GEOG_PRIME_MERIDIAN))
    if code is not None and 0 < code < USER_DEFINED:
        return None if code == 8901 else _epsg_object_json("prime_meridian", code)
    longitude = _as_float(keys.get(GeoKey.GEOG_PRIME_MERIDIAN_LONG))
    if not longitude:
        return None
    return {
        "name": names.get("Primem", "unknown"),
        "longitude": {"value": longitude, "unit": dict(angular)},
    }


# --- projection


_NAT_LAT = (GeoKey.PROJ_NAT_ORIGIN_LAT, GeoKey.PROJ_FALSE_ORIGIN_LAT, GeoKey.PROJ_CENTER_LAT)
_NAT_LON = (GeoKey.PROJ_NAT_ORIGIN_LONG, GeoKey.PROJ_FALSE_ORIGIN_LONG, GeoKey.PROJ_CENTER_LONG)
_FO_LAT = (GeoKey.PROJ_FALSE_ORIGIN_LAT, GeoKey.PROJ_NAT_ORIGIN_LAT, GeoKey.PROJ_CENTER_LAT)
_FO_LON = (GeoKey.PROJ_FALSE_ORIGIN_LONG, GeoKey.PROJ_NAT_ORIGIN_LONG, GeoKey.PROJ_CENTER_LONG)
_CTR_LAT = (GeoKey.PROJ_CENTER_LAT, GeoKey.PROJ_NAT_ORIGIN_LAT, GeoKey.PROJ_FALSE_ORIGIN_LAT)
_CTR_LON = (GeoKey.PROJ_CENTER_LONG, GeoKey.PROJ_NAT_ORIGIN_LONG, GeoKey.PROJ_FALSE_ORIGIN_LONG)
_FE = (GeoKey.PROJ_FALSE_EASTING, GeoKey.PROJ_FALSE_ORIGIN_EASTING, GeoKey.PROJ_CENTER_EASTING)
_FN = (GeoKey.PROJ_FALSE_NORTHING, GeoKey.PROJ_FALSE_ORIGIN_NORTHING, GeoKey.PROJ_CENTER_NORTHING)
_FOE = (GeoKey.PROJ_FALSE_ORIGIN_EASTING, GeoKey.PROJ_FALSE_EASTING, GeoKey.PROJ_CENTER_EASTING)
_FON = (
    GeoKey.PROJ_FALSE_ORIGIN_NORTHING,
    GeoKey.PROJ_FALSE_NORTHING,
    GeoKey.PROJ_CENTER_NORTHING,
)
_CTR_E = (GeoKey.PROJ_CENTER_EASTING, GeoKey.PROJ_FALSE_EASTING)
_CTR_N = (GeoKey.PROJ_CENTER_NORTHING, GeoKey.PROJ_FALSE_NORTHING)
_SCALE = (GeoKey.PROJ_SCALE_AT_NAT_ORIGIN, GeoKey.PROJ_SCALE_AT_CENTER)
_CTR_SCALE = (GeoKey.PROJ_SCALE_AT_CENTER, GeoKey.PROJ_SCALE_AT_NAT_ORIGIN)
_SP1 = (GeoKey.PROJ_STD_PARALLEL1,)
_SP2 = (GeoKey.PROJ_STD_PARALLEL2,)
_AZIMUTH = (GeoKey.PROJ_AZIMUTH_ANGLE,)
_POLE_LON = (GeoKey.PROJ_STRAIGHT_VERT_POLE_LONG, *_NAT_LON)


@dataclass(frozen=True)
class _Param:
    """One projection parameter: EPSG name/code, the GeoKeys to try in order, its unit kind."""

    name: str
    code: int
    keys: tuple[int, ...]
    kind: str  # "angle", "linear" or "scale"
    default: float = 0.0


def _p(name: str, code: int, keys: tuple[int, ...], kind: str, default: float = 0.0) -> _Param:
    """Shorthand constructor keeping the method table below readable."""
    return _Param(name, code, keys, kind, default)


_LAT0 = _p("Latitude of natural origin", 8801, _NAT_LAT, "angle")
_LON0 = _p("Longitude of natural origin", 8802, _NAT_LON, "angle")
_K0 = _p("Scale factor at natural origin", 8805, _SCALE, "scale", 1.0)
_X0 = _p("False easting", 8806, _FE, "linear")
_Y0 = _p("False northing", 8807, _FN, "linear")
_LAT_FO = _p("Latitude of false origin", 8821, _FO_LAT, "angle")
_LON_FO = _p("Longitude of false origin", 8822, _FO_LON, "angle")
_LAT1 = _p("Latitude of 1st standard parallel", 8823, _SP1, "angle")
_LAT2 = _p("Latitude of 2nd standard parallel", 8824, _SP2, "angle")
_X_FO = _p("Easting at false origin", 8826, _FOE, "linear")
_Y_FO = _p("Northing at false origin", 8827, _FON, "linear")
_CLAT0 = _p("Latitude of natural origin", 8801, _CTR_LAT, "angle")
_CLON0 = _p("Longitude of natural origin", 8802, _CTR_LON, "angle")

_METHODS: dict[int, tuple[str, int | None, tuple[_Param, ...]]] = {
    CoordTrans.TRANSVERSE_MERCATOR: ("Transverse Mercator", 9807, (_LAT0, _LON0, _K0, _X0, _Y0)),
    CoordTrans.LAMBERT_CONF_CONIC_1SP: (
        "Lambert Conic Conformal (1SP)",
        9801,
        (_LAT0, _LON0, _K0, _X0, _Y0),
    ),
    CoordTrans.LAMBERT_CONF_CONIC_2SP: (
        "Lambert Conic Conformal (2SP)",
        9802,
        (_LAT_FO, _LON_FO, _LAT1, _LAT2, _X_FO, _Y_FO),
    ),
    CoordTrans.ALBERS_EQUAL_AREA: (
        "Albers Equal Area",
        9822,
        (_LAT_FO, _LON_FO, _LAT1, _LAT2, _X_FO, _Y_FO),
    ),
    CoordTrans.LAMBERT_AZIM_EQUAL_AREA: (
        "Lambert Azimuthal Equal Area",
        9820,
        (_CLAT0, _CLON0, _X0, _Y0),
    ),
    CoordTrans.OBLIQUE_STEREOGRAPHIC: (
        "Oblique Stereographic",
        9809,
        (_LAT0, _LON0, _K0, _X0, _Y0),
    ),
    CoordTrans.STEREOGRAPHIC: ("Stereographic", None, (_CLAT0, _CLON0, _K0, _X0, _Y0)),
    CoordTrans.EQUIRECTANGULAR: (
        "Equidistant Cylindrical",
        1028,
        (_LAT1, _CLAT0, _CLON0, _X0, _Y0),
    ),
    CoordTrans.SINUSOIDAL: ("Sinusoidal", None, (_CLON0, _X0, _Y0)),
    CoordTrans.CASSINI_SOLDNER: ("Cassini-Soldner", 9806, (_LAT0, _LON0, _X0, _Y0)),
    CoordTrans.POLYCONIC: ("American Polyconic", 9818, (_LAT0, _LON0, _X0, _Y0)),
    CoordTrans.ORTHOGRAPHIC: ("Orthographic", 9840, (_CLAT0, _CLON0, _X0, _Y0)),
    CoordTrans.AZIMUTHAL_EQUIDISTANT: (
        "Azimuthal Equidistant",
        1125,
        (_CLAT0, _CLON0, _X0, _Y0),
    ),
    CoordTrans.NEW_ZEALAND_MAP_GRID: ("New Zealand Map Grid", 9811, (_LAT0, _LON0, _X0, _Y0)),
    CoordTrans.CYLINDRICAL_EQUAL_AREA: (
        "Lambert Cylindrical Equal Area",
        9835,
        (_LAT1, _LON0, _X0, _Y0),
    ),
    CoordTrans.GNOMONIC: ("Gnomonic", None, (_CLAT0, _CLON0, _X0, _Y0)),
    CoordTrans.MILLER_CYLINDRICAL: ("Miller Cylindrical", None, (_CLON0, _X0, _Y0)),
    CoordTrans.ROBINSON: ("Robinson", None, (_CLON0, _X0, _Y0)),
    CoordTrans.VAN_DER_GRINTEN: ("Van Der Grinten", None, (_CLON0, _X0, _Y0)),
    CoordTrans.OBLIQUE_MERCATOR: (
        "Hotine Oblique Mercator (variant A)",
        9812,
        (
            _p("Latitude of projection centre", 8811, _CTR_LAT, "angle"),
            _p("Longitude of projection centre", 8812, _CTR_LON, "angle"),
            _p("Azimuth of initial line", 8813, _AZIMUTH, "angle"),
            _p(
                "Angle from Rectified to Skew Grid",
                8814,
                (GeoKey.PROJ_RECTIFIED_GRID_ANGLE, GeoKey.PROJ_AZIMUTH_ANGLE),
                "angle",
            ),
            _p("Scale factor on initial line", 8815, _CTR_SCALE, "scale", 1.0),
            _X0,
            _Y0,
        ),
    ),
}
"""CT code -> (PROJ/EPSG method name, EPSG method code, parameters), as GDAL maps them."""

_MERCATOR_1SP = ("Mercator (variant A)", 9804, (_LAT0, _LON0, _K0, _X0, _Y0))
_MERCATOR_2SP = ("Mercator (variant B)", 9805, (_LAT1, _LON0, _X0, _Y0))
_POLAR_A = (
    "Polar Stereographic (variant A)",
    9810,
    (_LAT0, _p("Longitude of natural origin", 8802, _POLE_LON, "angle"), _K0, _X0, _Y0),
)
_POLAR_B = (
    "Polar Stereographic (variant B)",
    9829,
    (
        _p("Latitude of standard parallel", 8832, _NAT_LAT, "angle", 90.0),
        _p("Longitude of origin", 8833, _POLE_LON, "angle"),
        _X0,
        _Y0,
    ),
)


def _first(keys: Mapping[int, GeoKeyValue], candidates: tuple[int, ...]) -> float | None:
    """Value of the first GeoKey present among ``candidates`` (libgeotiff's fallbacks)."""
    for key in candidates:
        value = _as_float(keys.get(key))
        if value is not None:
            return value
    return None


def _method_for(
    ct: int, keys: Mapping[int, GeoKeyValue], angular: Mapping[str, Any]
) -> tuple[str, int | None, tuple[_Param, ...]]:
    """Pick the projection method, resolving CTs whose variant depends on the keys."""
    if ct == CoordTrans.MERCATOR:
        return _MERCATOR_2SP if GeoKey.PROJ_STD_PARALLEL1 in keys else _MERCATOR_1SP
    if ct == CoordTrans.POLAR_STEREOGRAPHIC:
        lat = _first(keys, _NAT_LAT)
        lat_deg = None if lat is None else lat * float(angular["conversion_factor"]) / _DEGREE
        # GDAL: a pole latitude means variant A (scale factor), anything else variant B.
        if lat_deg is None or abs(abs(lat_deg) - 90.0) < 1e-9:
            return _POLAR_A
        return _POLAR_B
    method = _METHODS.get(ct)
    if method is None:
        raise _CrsBuildError(f"projection method ProjCoordTransGeoKey={ct} is not supported")
    return method


def _conversion_json(
    keys: Mapping[int, GeoKeyValue], angular: Mapping[str, Any], linear: Mapping[str, Any]
) -> dict[str, Any]:
    """PROJJSON conversion from ProjectionGeoKey (EPSG) or ProjCoordTransGeoKey + parameters."""
    projection = _as_int(keys.get(GeoKey.PROJECTION))
    if projection is not None and 0 < projection < USER_DEFINED:
        try:
            doc: dict[str, Any] = CoordinateOperation.from_epsg(projection).to_json_dict()
        except (ProjError, ValueError, TypeError) as err:
            raise _CrsBuildError(f"unknown EPSG projection {projection}: {err}") from err
        doc.pop("$schema", None)
        return doc
    ct = _as_int(keys.get(GeoKey.PROJ_COORD_TRANS))
    if ct is None:
        raise _CrsBuildError("user-defined projected CRS without ProjCoordTransGeoKey")
    name, code, params = _method_for(ct, keys, angular)
    units = {"angle": dict(angular), "linear": dict(linear), "scale": "unity"}
    method: dict[str, Any] = {"name": name}
    if code is not None:
        method["id"] = {"authority": "EPSG", "code": code}
    parameters = []
    for param in params:
        value = _first(keys, param.keys)
        parameters.append(
            {
                "name": param.name,
                "value": param.default if value is None else value,
                "unit": units[param.kind],
                "id": {"authority": "EPSG", "code": param.code},
            }
        )
    return {"type": "Conversion", "name": "unnamed", "method": method, "parameters": parameters}


def _projected_json(keys: Mapping[int, GeoKeyValue]) -> dict[str, Any]:
    """PROJJSON of a user-defined projected CRS."""
    base = _geographic_json(keys)
    angular = _unit(keys, GeoKey.GEOG_ANGULAR_UNITS, GeoKey.GEOG_ANGULAR_UNIT_SIZE, "angular")
    linear = _unit(keys, GeoKey.PROJ_LINEAR_UNITS, GeoKey.PROJ_LINEAR_UNIT_SIZE, "linear")
    names = _citation_names(keys.get(GeoKey.PCS_CITATION))
    name = names.get("PCS Name")
    if name is None:
        for key in (GeoKey.PCS_CITATION, GeoKey.GT_CITATION):
            citation = keys.get(key)
            if isinstance(citation, str) and citation and "=" not in citation:
                name = citation
                break
    conversion = _conversion_json(keys, angular, linear)
    return {
        "$schema": "https://proj.org/schemas/v0.7/projjson.schema.json",
        "type": "ProjectedCRS",
        "name": name or "unknown",
        "base_crs": base,
        "conversion": conversion,
        "coordinate_system": {"subtype": "Cartesian", "axis": _projected_axes(conversion, linear)},
    }


def _projected_axes(conversion: Mapping[str, Any], linear: Mapping[str, Any]) -> list[Any]:
    """Easting/northing axes; polar stereographic uses PROJ's (and GDAL's) polar directions.

    PROJ treats a north-polar stereographic CRS with east/north axes as a different CRS
    from one with the polar axes GDAL builds, so match GDAL to keep ``CRS.equals`` true.
    """
    code = conversion.get("method", {}).get("id", {}).get("code")
    if code in (9810, 9829):
        lat = float(conversion["parameters"][0]["value"])
        north = lat > 0
        direction = "south" if north else "north"
        meridians = (90.0, 180.0) if north else (90.0, 0.0)
        return [
            {
                "name": label,
                "abbreviation": abbreviation,
                "direction": direction,
                "meridian": {"longitude": {"value": meridian, "unit": "degree"}},
                "unit": dict(linear),
            }
            for label, abbreviation, meridian in zip(
                ("Easting", "Northing"), ("E", "N"), meridians, strict=True
            )
        ]
    return [
        {"name": "Easting", "abbreviation": "E", "direction": "east", "unit": dict(linear)},
        {"name": "Northing", "abbreviation": "N", "direction": "north", "unit": dict(linear)},
    ]
