"""Accept the AOIs and points users already have; normalise them once.

Users hold bboxes, shapely objects, GeoJSON (geometries, Features, FeatureCollections),
WKB/WKT, anything with ``__geo_interface__``, GeoPandas frames and Arrow tables with a
WKB column. Every read entry point calls :func:`normalize_geometries` or
:func:`normalize_points` first, so the read code sees one strict type (:class:`AoiSet`,
:class:`PointSet`) with its CRS, and a bad input fails before any request with an
:class:`~rasteret.errors.InvalidInputError` naming the parameter and the value's type.

Nothing here re-orients or repairs geometries: the mask must equal GDAL's for the
geometry the user gave. Geometries with no CRS of their own are taken to be in
EPSG:4326 (as GeoJSON is), unless ``crs=`` says otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Final

import numpy as np
import pyarrow as pa
import shapely
from numpy.typing import NDArray
from pyproj import CRS
from pyproj.exceptions import CRSError

from rasteret.errors import InvalidInputError

__all__ = ["DEFAULT_CRS", "AoiSet", "PointSet", "normalize_geometries", "normalize_points"]

DEFAULT_CRS: Final = CRS.from_epsg(4326)
"""CRS of inputs that carry none (GeoJSON's, and what users of lon/lat expect)."""

_POLYGONAL: Final = frozenset({shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON})
_GEOMETRY_COLUMNS: Final = ("geometry", "geom", "wkb_geometry", "wkb")
_X_COLUMNS: Final = (("x", "y"), ("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"))


@dataclass(frozen=True, kw_only=True)
class AoiSet:
    """Areas of interest, one strict form for the read path."""

    geometries: tuple[shapely.Geometry, ...]
    """Non-empty, finite Polygons or MultiPolygons, in the order given."""
    crs: CRS
    """CRS of the coordinates of ``geometries``."""
    attributes: pa.Table | None
    """The user's other columns (plot ids, labels), one row per geometry, or None."""


@dataclass(frozen=True, kw_only=True)
class PointSet:
    """Points to sample, as coordinate arrays."""

    xs: NDArray[np.float64]
    """X (easting or longitude) of each point."""
    ys: NDArray[np.float64]
    """Y (northing or latitude) of each point."""
    crs: CRS
    """CRS of ``xs``/``ys``."""
    attributes: pa.Table | None
    """The user's other columns, one row per point, or None."""


# --------------------------------------------------------------------------- AOIs


def normalize_geometries(geometries: object, *, crs: object = None) -> AoiSet:
    """Turn any supported AOI input into an :class:`AoiSet`.

    Accepted forms:

    * a bbox: a tuple/list of four numbers ``(minx, miny, maxx, maxy)``;
    * a shapely Polygon/MultiPolygon, or a list/tuple of them (or of any form below);
    * GeoJSON: a geometry dict, a Feature (its ``properties`` become attributes) or a
      FeatureCollection, as dicts or as a JSON string;
    * WKB bytes, or a WKT string;
    * any object with ``__geo_interface__``;
    * a GeoPandas GeoDataFrame or GeoSeries (its CRS wins over the default; other
      columns become attributes);
    * a pyarrow Table with a WKB geometry column (CRS from GeoParquet ``geo`` or
      GeoArrow field metadata when present).

    Args:
        geometries: The AOI(s).
        crs: CRS of the input when it carries none, or to override what it declares
            (anything ``pyproj.CRS.from_user_input`` reads). Default EPSG:4326.

    Returns:
        The AOIs with their CRS and attributes.

    Raises:
        InvalidInputError: ``parameter="geometries"`` for unparseable input, empty or
            non-polygonal geometries, NaN coordinates or a reversed bbox; ``"crs"`` for
            an unreadable CRS.
    """
    return _shapes(geometries, crs, polygonal=True)


def normalize_shapes(geometries: object, *, crs: object = None) -> AoiSet:
    """Like :func:`normalize_geometries`, but any geometry type (points, lines too).

    For filters that ask "which footprints does this touch", where a point is as good a
    question as a polygon.
    """
    return _shapes(geometries, crs, polygonal=False)


def _shapes(geometries: object, crs: object, *, polygonal: bool) -> AoiSet:
    geoms, found_crs, attributes = _parse(geometries, "geometries")
    if not geoms:
        raise InvalidInputError("geometries", _describe(geometries), "no geometry given")
    for geom in geoms:
        _check_geometry(geom, geometries, polygonal=polygonal)
    return AoiSet(
        geometries=tuple(geoms),
        crs=_resolve_crs(crs, found_crs),
        attributes=attributes,
    )


def _check_geometry(geom: shapely.Geometry, original: object, *, polygonal: bool) -> None:
    """Refuse empty, non-finite and (for AOIs) non-polygonal geometries."""
    if shapely.is_empty(geom):
        raise InvalidInputError("geometries", _describe(original), "a geometry is empty")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InvalidInputError(
            "geometries", _describe(original), "coordinates must be finite (no NaN or inf)"
        )
    if polygonal and shapely.get_type_id(geom) not in _POLYGONAL:
        raise InvalidInputError(
            "geometries",
            _describe(original),
            f"an AOI must be a Polygon or MultiPolygon, got {_type_name(geom)}; "
            "sample points with sample_points instead",
        )


# --------------------------------------------------------------------------- points


def normalize_points(points: object, *, crs: object = None) -> PointSet:
    """Turn any supported point input into a :class:`PointSet`.

    Accepted forms (one unambiguous reading each):

    * one point: an ``(x, y)`` tuple/list of two numbers, or a shapely Point;
    * several: a list/tuple of ``(x, y)`` pairs, an ``N x 2`` NumPy array, a list of
      shapely Points, a MultiPoint;
    * GeoJSON Point/MultiPoint geometries, Features, FeatureCollections;
      ``__geo_interface__`` objects; WKB/WKT;
    * a GeoDataFrame/GeoSeries of points (its CRS wins; other columns are attributes);
    * a pyarrow Table with ``x``/``y``, ``lon``/``lat``, ``longitude``/``latitude`` or
      ``lng``/``lat`` columns, or a WKB point column.

    Two separate coordinate arrays are *not* accepted as a tuple ``(xs, ys)``: a pair of
    two-element arrays would be indistinguishable from two points. Stack them instead:
    ``np.column_stack([xs, ys])``.

    Raises:
        InvalidInputError: ``parameter="points"`` for anything else, empty input,
            non-point geometries or non-finite coordinates.
    """
    attributes: pa.Table | None = None
    found_crs: CRS | None = None
    array = _as_xy_array(points)
    if array is not None:
        xs, ys = array[:, 0], array[:, 1]
    elif isinstance(points, pa.Table) and (pair := _xy_columns(points)) is not None:
        xs = _float_column(points, pair[0])
        ys = _float_column(points, pair[1])
        rest = [c for c in points.column_names if c not in pair]
        attributes = points.select(rest) if rest else None
    else:
        geoms, found_crs, attributes = _parse(points, "points")
        parts: list[NDArray[np.float64]] = []
        for geom in geoms:
            if shapely.get_type_id(geom) not in (
                shapely.GeometryType.POINT,
                shapely.GeometryType.MULTIPOINT,
            ):
                raise InvalidInputError(
                    "points", _describe(points), f"expected points, got {_type_name(geom)}"
                )
            if shapely.is_empty(geom):
                raise InvalidInputError("points", _describe(points), "a point is empty")
            parts.append(shapely.get_coordinates(geom))
        if attributes is not None and any(len(p) != 1 for p in parts):
            # Multi-points with attributes: repeat each row for each of its points.
            repeat = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
            attributes = attributes.take(repeat)
        coords = np.concatenate(parts) if parts else np.empty((0, 2))
        xs, ys = coords[:, 0], coords[:, 1]
    xs = np.ascontiguousarray(xs, dtype=np.float64)
    ys = np.ascontiguousarray(ys, dtype=np.float64)
    if xs.size == 0:
        raise InvalidInputError("points", _describe(points), "no point given")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise InvalidInputError("points", _describe(points), "coordinates must be finite")
    resolved = _resolve_crs(crs, found_crs)
    if resolved.is_geographic and np.abs(ys).max() > 90.0:  # x, y are lon, lat here
        raise InvalidInputError(
            "points",
            _describe(points),
            f"latitude {ys[np.abs(ys).argmax()]:g} is outside [-90, 90] in {resolved.name}; "
            "points are (x, y) = (longitude, latitude): swapped, or another CRS (crs=)?",
        )
    return PointSet(xs=xs, ys=ys, crs=resolved, attributes=attributes)


def _as_xy_array(points: object) -> NDArray[np.float64] | None:
    """Read the plain-number forms: ``(x, y)``, a list of pairs, an ``N x 2`` array."""
    if isinstance(points, np.ndarray):
        if points.ndim == 2 and points.shape[1] == 2 and points.dtype.kind in "iuf":
            return points.astype(np.float64)
        if points.ndim == 1 and points.shape == (2,) and points.dtype.kind in "iuf":
            return points.astype(np.float64).reshape(1, 2)
        raise InvalidInputError(
            "points", _describe(points), f"expected an N x 2 array, got shape {points.shape}"
        )
    if not isinstance(points, tuple | list) or not points:
        return None
    if len(points) == 2 and all(_is_number(v) for v in points):
        return np.array([points], dtype=np.float64)
    if all(
        isinstance(p, tuple | list | np.ndarray) and len(p) == 2 and all(_is_number(v) for v in p)
        for p in points
    ):
        return np.array(points, dtype=np.float64)
    if all(_is_number(v) for v in points) or all(
        isinstance(p, tuple | list) and p and all(_is_number(v) for v in p) for p in points
    ):  # numbers, but not in pairs: say so rather than fail on one of them later
        raise InvalidInputError("points", _describe(points), "expected (x, y) pairs of numbers")
    return None


def _xy_columns(table: pa.Table) -> tuple[str, str] | None:
    """The coordinate column pair of a table, matched case-insensitively."""
    lower = {name.lower(): name for name in table.column_names}
    for x, y in _X_COLUMNS:
        if x in lower and y in lower:
            return lower[x], lower[y]
    return None


def _float_column(table: pa.Table, name: str) -> NDArray[np.float64]:
    """A numeric column as float64; nulls become NaN (and are refused later)."""
    column = table.column(name)
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise InvalidInputError("points", "pyarrow.Table", f"column {name!r} is not numeric")
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


# --------------------------------------------------------------------------- parsing


def _parse(
    value: object, parameter: str
) -> tuple[list[shapely.Geometry], CRS | None, pa.Table | None]:
    """Geometries, the CRS the input declares (if any) and its attribute table."""
    try:
        return _parse_inner(value, parameter)
    except InvalidInputError:
        raise
    except (shapely.errors.ShapelyError, ValueError, TypeError, KeyError) as err:
        raise InvalidInputError(
            parameter, _describe(value), f"could not read geometries: {err}"
        ) from err


def _parse_inner(  # noqa: PLR0911  (one return per accepted input form)
    value: object, parameter: str
) -> tuple[list[shapely.Geometry], CRS | None, pa.Table | None]:
    """Dispatch on the input form; see :func:`normalize_geometries` for the list."""
    if isinstance(value, shapely.Geometry):
        return [value], None, None
    frame = _from_geopandas(value)
    if frame is not None:
        return frame
    if isinstance(value, pa.Table):
        return _from_arrow(value, parameter)
    if isinstance(value, bytes | bytearray | memoryview):
        return [shapely.from_wkb(bytes(value))], None, None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            return _from_geojson(json.loads(text), parameter)
        return [shapely.from_wkt(text)], None, None
    if isinstance(value, Mapping):
        return _from_geojson(value, parameter)
    if hasattr(value, "__geo_interface__"):
        return _from_geojson(value.__geo_interface__, parameter)
    if isinstance(value, tuple | list) and value:
        if len(value) == 4 and all(_is_number(v) for v in value) and parameter == "geometries":
            return [_bbox_polygon(value)], None, None
        geoms: list[shapely.Geometry] = []
        tables: list[pa.Table | None] = []
        crss: set[CRS] = set()
        for item in value:
            sub, sub_crs, sub_attrs = _parse_inner(item, parameter)
            geoms.extend(sub)
            tables.append(sub_attrs)
            if sub_crs is not None:
                crss.add(sub_crs)
        if len(crss) > 1:
            raise InvalidInputError(parameter, _describe(value), "items declare different CRSs")
        return geoms, next(iter(crss), None), _concat_attributes(tables)
    raise InvalidInputError(
        parameter,
        _describe(value),
        "expected a bbox, shapely geometry, GeoJSON, WKB/WKT, __geo_interface__ object, "
        "GeoDataFrame or Arrow table",
    )


def _concat_attributes(tables: Sequence[pa.Table | None]) -> pa.Table | None:
    """Stack per-item attributes (e.g. a list of Features) when every item had some."""
    if not tables or any(t is None for t in tables):
        return None
    return pa.concat_tables([t for t in tables if t is not None], promote_options="permissive")


def _bbox_polygon(values: Sequence[object]) -> shapely.Geometry:
    """A bbox as a polygon, refusing non-finite or reversed bounds."""
    minx, miny, maxx, maxy = (float(v) for v in values)  # type: ignore[arg-type]
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidInputError("geometries", tuple(values), "bbox values must be finite")
    if minx >= maxx or miny >= maxy:
        raise InvalidInputError(
            "geometries",
            tuple(values),
            "bbox must be (minx, miny, maxx, maxy) with minx < maxx and miny < maxy",
        )
    return shapely.box(minx, miny, maxx, maxy)


def _from_geojson(
    obj: Mapping[str, Any], parameter: str
) -> tuple[list[shapely.Geometry], CRS | None, pa.Table | None]:
    """Read a GeoJSON geometry, Feature or FeatureCollection (properties as attributes)."""
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = list(obj.get("features") or [])
        geoms = [_geojson_geometry(f.get("geometry"), parameter, obj) for f in features]
        rows = [dict(f.get("properties") or {}) for f in features]
        attributes = pa.Table.from_pylist(rows) if any(rows) else None
        return geoms, None, attributes
    if kind == "Feature":
        geom = _geojson_geometry(obj.get("geometry"), parameter, obj)
        props = dict(obj.get("properties") or {})
        return [geom], None, pa.Table.from_pylist([props]) if props else None
    return [_geojson_geometry(obj, parameter, obj)], None, None


def _geojson_geometry(obj: object, parameter: str, original: object) -> shapely.Geometry:
    """One GeoJSON geometry dict as shapely."""
    if not isinstance(obj, Mapping) or "type" not in obj:
        raise InvalidInputError(parameter, _describe(original), "a Feature has no geometry")
    return shapely.geometry.shape(dict(obj))


def _from_geopandas(
    value: object,
) -> tuple[list[shapely.Geometry], CRS | None, pa.Table | None] | None:
    """GeoDataFrame/GeoSeries without importing GeoPandas (an optional dependency)."""
    module = type(value).__module__
    if not module.startswith("geopandas"):
        return None
    name = type(value).__name__
    raw_crs = getattr(value, "crs", None)
    found = CRS.from_user_input(raw_crs) if raw_crs is not None else None
    if name == "GeoSeries":
        return list(np.asarray(value, dtype=object)), found, None
    if name == "GeoDataFrame":
        geometry = value.geometry  # type: ignore[attr-defined]
        geoms = list(np.asarray(geometry, dtype=object))
        rest = value.drop(columns=[geometry.name])  # type: ignore[attr-defined]
        attributes = pa.Table.from_pandas(rest, preserve_index=False) if len(rest.columns) else None
        return geoms, found, attributes
    return None


def _from_arrow(
    table: pa.Table, parameter: str
) -> tuple[list[shapely.Geometry], CRS | None, pa.Table | None]:
    """A table with a WKB geometry column; CRS from GeoParquet or GeoArrow metadata."""
    column_name, declared = _arrow_geometry_column(table)
    if column_name is None:
        raise InvalidInputError(
            parameter, "pyarrow.Table", f"no WKB geometry column (looked for {_GEOMETRY_COLUMNS})"
        )
    column = table.column(column_name)
    if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        raise InvalidInputError(
            parameter, "pyarrow.Table", f"column {column_name!r} is not WKB (binary)"
        )
    wkb = np.asarray(column.to_pylist(), dtype=object)
    if any(w is None for w in wkb):
        raise InvalidInputError(parameter, "pyarrow.Table", "the geometry column has nulls")
    geoms = list(shapely.from_wkb(wkb))
    rest = [c for c in table.column_names if c != column_name]
    return geoms, declared, table.select(rest) if rest else None


def _arrow_geometry_column(table: pa.Table) -> tuple[str | None, CRS | None]:
    """Name and CRS of the geometry column, from GeoParquet ``geo``, GeoArrow, or name."""
    meta = table.schema.metadata or {}
    if b"geo" in meta:
        geo = json.loads(meta[b"geo"])
        name = geo.get("primary_column")
        info = geo.get("columns", {}).get(name, {})
        if name in table.column_names:
            # GeoParquet: a missing "crs" means OGC:CRS84; an explicit null means unknown.
            raw = info.get("crs", "OGC:CRS84")
            return name, CRS.from_user_input(raw) if raw is not None else None
    for field in table.schema:
        fmeta = field.metadata or {}
        if fmeta.get(b"ARROW:extension:name") == b"geoarrow.wkb":
            ext = json.loads(fmeta.get(b"ARROW:extension:metadata") or b"{}")
            raw = ext.get("crs")
            return field.name, CRS.from_user_input(raw) if raw else None
    for name in _GEOMETRY_COLUMNS:
        if name in table.column_names:
            return name, None
    return None, None


# --------------------------------------------------------------------------- shared


def _resolve_crs(given: object, found: CRS | None) -> CRS:
    """``crs=`` if given, else the input's own CRS, else EPSG:4326."""
    if given is None:
        return found if found is not None else DEFAULT_CRS
    try:
        return CRS.from_user_input(given)
    except CRSError as err:
        raise InvalidInputError("crs", given, f"not a CRS pyproj can read: {err}") from err


def _type_name(geom: shapely.Geometry) -> str:
    """GeoJSON-style name of a geometry's type, for messages."""
    return (
        shapely.GeometryType(int(shapely.get_type_id(geom)))
        .name.title()
        .replace("string", "String")
    )


def _is_number(value: object) -> bool:
    """A real number that is not a bool (True as a coordinate is always a bug)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _describe(value: object) -> object:
    """The value for messages when it is small, else its type (it may be a huge table).

    Numbers, short strings, short sequences and shapely geometries (whose repr shapely
    shortens) are shown as they are, so the message names the offending value.
    """
    if isinstance(value, tuple | list) and len(value) <= 4:
        return repr(value)
    if isinstance(value, Real | shapely.Geometry) or (
        isinstance(value, str | bytes) and len(value) <= 200
    ):
        return value
    return type(value).__name__
