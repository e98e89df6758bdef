"""Index rows back from the table tools people query them with: DuckDB, Polars, GeoPandas.

The index is plain GeoParquet, so any of these can filter it (SQL with ``ST_Intersects``,
Polars expressions, a spatial join) far beyond what :meth:`Collection.subset` offers.
:func:`to_arrow` turns what they return back into an Arrow table with the index schema, so
``Collection.from_table(result, like=collection)`` reads pixels from the chosen rows with the
stored layouts (no header is fetched again).

Accepted: a ``pyarrow.Table`` or ``RecordBatchReader``, a DuckDB relation or result
(``.fetch_arrow_table()``/``.arrow()``), a Polars DataFrame or LazyFrame (``.to_arrow()``),
a GeoDataFrame (geometry back to WKB in CRS84), or anything speaking the Arrow PyCapsule
stream protocol. Column types the tools change on the way (``large_string``, ``string_view``,
``large_binary``, other timestamp units, a DuckDB ``GEOMETRY`` blob) are cast back to
the schema's; a missing column, or one that cannot be cast, is an
:class:`~rasteret.errors.InvalidInputError` that names it.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import shapely

from rasteret.errors import InvalidInputError
from rasteret.index import schema

__all__ = ["to_arrow"]


def _from_geodataframe(obj: Any) -> pa.Table:
    """A GeoDataFrame as Arrow, its active geometry as WKB in CRS84 (the index's)."""
    frame = obj
    if frame.crs is not None and not frame.crs.equals("OGC:CRS84") and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs("OGC:CRS84")
    column = frame.geometry.name
    plain = frame.drop(columns=[column]).copy()
    plain[schema.GEOMETRY] = frame.geometry.to_wkb()
    return pa.Table.from_pandas(plain, preserve_index=False)


def _as_table(obj: Any) -> pa.Table:
    """Whatever ``obj`` is, as an Arrow table (no casting yet)."""
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatchReader):
        return obj.read_all()
    if hasattr(obj, "geometry") and hasattr(obj, "to_wkb") and hasattr(obj, "crs"):
        return _from_geodataframe(obj)
    for method in ("to_arrow_table", "fetch_arrow_table", "to_arrow", "arrow"):  # DuckDB, Polars
        convert = getattr(obj, method, None)
        if callable(convert):
            if type(obj).__name__ == "LazyFrame":
                obj = obj.collect()
                convert = obj.to_arrow
            result = convert()
            if isinstance(result, pa.RecordBatchReader):
                return result.read_all()
            if isinstance(result, pa.Table):
                return result
            break
    if hasattr(obj, "__arrow_c_stream__"):
        return pa.table(obj)
    raise InvalidInputError(
        "table",
        type(obj).__name__,
        "expected an Arrow table, a DuckDB relation, a Polars or GeoPandas DataFrame",
    )


def _bbox_of(geometry: pa.ChunkedArray[Any]) -> pa.StructArray:
    """The bbox covering column from WKB footprints.

    DuckDB reads a GeoParquet 1.1 covering as metadata and leaves the ``bbox`` column
    out of ``SELECT *``; it is derived data, so it is rebuilt rather than required.
    """
    column = geometry.cast(pa.binary()) if not pa.types.is_binary(geometry.type) else geometry
    geoms = shapely.from_wkb(column.to_numpy(zero_copy_only=False))
    bounds = shapely.bounds(geoms)
    return pa.StructArray.from_arrays(
        [pa.array(bounds[:, i], pa.float64(), from_pandas=True) for i in range(4)],
        fields=list(schema.BBOX_TYPE),
    )


def to_arrow(obj: Any, band_codes: tuple[str, ...]) -> pa.Table:
    """Index rows from ``obj``, cast to the index schema with these band columns.

    Extra columns are kept as they are (the index tolerates them).

    Raises:
        InvalidInputError: Not a table; a core or band column missing; or a column whose
            values cannot be cast to the index type.
    """
    table = _as_table(obj)
    if schema.BBOX not in table.column_names and schema.GEOMETRY in table.column_names:
        table = table.append_column(schema.BBOX, _bbox_of(table.column(schema.GEOMETRY)))
    expected = schema.index_schema(band_codes)
    missing = [f.name for f in expected if f.name not in table.column_names]
    if missing:
        raise InvalidInputError(
            "table",
            missing,
            "is missing index column(s); select every column of the index "
            "(SELECT * ...) and filter rows only",
        )
    for field in expected:
        idx = table.schema.get_field_index(field.name)
        column = table.column(idx)
        if column.type.equals(field.type):
            continue
        try:
            if field.name == schema.GEOMETRY and pa.types.is_binary_view(column.type):
                column = column.cast(pa.binary())
            table = table.set_column(idx, field, column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise InvalidInputError(
                "table", field.name, f"is {column.type}, not castable to {field.type}: {err}"
            ) from err
    return table.replace_schema_metadata(None)
