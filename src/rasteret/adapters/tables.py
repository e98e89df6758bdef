"""Index rows back from the table tools people query them with: DuckDB, Polars, GeoPandas.

The index is plain GeoParquet, so any of these can filter it (SQL with ``ST_Intersects``,
Polars expressions, a spatial join) far beyond what :meth:`Collection.subset` offers.
:func:`to_arrow` turns what they return back into an Arrow table with the index schema, so
``Collection.from_table(result, like=collection)`` reads pixels from the chosen rows with the
stored layouts (no header is fetched again).

Accepted: a ``pyarrow.Table`` or ``RecordBatchReader``, a DuckDB relation or result
(``.fetch_arrow_table()``/``.arrow()``), a Polars DataFrame (``.to_arrow()``) or LazyFrame
(collected first: ``pl.scan_parquet(index).filter(...)`` is the natural Polars query), a
GeoDataFrame (geometry back to WKB in CRS84), or anything speaking the Arrow PyCapsule
stream protocol. Column types the tools change on the way (``large_string``, ``string_view``,
``large_binary``, other timestamp units, a DuckDB ``GEOMETRY`` blob, pandas' floats for
integers) are cast back to the schema's; a missing column, or one that cannot be cast, is
an :class:`~rasteret.errors.InvalidInputError` that names it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    return _from_pandas(plain)


def _from_pandas(frame: Any) -> pa.Table:
    """A pandas DataFrame as Arrow, the dict columns (band layouts) converted NaN-safe."""
    structs = {
        name: _struct_from_pandas(name, frame[name])
        for name in frame.columns
        if frame[name].dtype == object and any(isinstance(v, Mapping) for v in frame[name])
    }
    # the layout columns are converted once, above; from_pandas only holds their places
    rest = pa.Table.from_pandas(frame.assign(**dict.fromkeys(structs)), preserve_index=False)
    for name, array in structs.items():
        rest = rest.set_column(rest.schema.get_field_index(name), str(name), array)
    return rest


def _is_pandas(obj: Any) -> bool:
    """A pandas DataFrame (checked by type, so pandas is never imported for it)."""
    kind = type(obj)
    return kind.__name__ == "DataFrame" and kind.__module__.split(".", 1)[0] == "pandas"


def _struct_from_pandas(name: str, values: Any) -> pa.Array[Any]:
    """A column of dicts (a band's layout) as Arrow, a NaN inside a dict kept a NaN.

    ``Table.from_pandas`` reads every NaN as null, the pandas way of writing a missing
    float; but in these dicts pyarrow wrote a null as None, and a NaN is a value: a
    band's ``nodata`` of NaN would be lost, and with it which pixels are valid. A NaN
    in place of a whole dict is still a missing band (pandas' concat and reindex put one
    there).
    """
    rows = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
    try:
        array: pa.Array[Any] = pa.array(rows, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InvalidInputError(
            "table", name, f"holds values that are not index rows: {err}"
        ) from err
    return array


def _is_polars_lazy(obj: Any) -> bool:
    """A Polars LazyFrame: a query plan with none of the Arrow exports, only ``collect``."""
    kind = type(obj)
    return (
        kind.__name__ == "LazyFrame"
        and kind.__module__.split(".", 1)[0] == "polars"
        and callable(getattr(obj, "collect", None))
    )


def _as_table(obj: Any) -> pa.Table:  # noqa: PLR0911 (one return per input kind)
    """Whatever ``obj`` is, as an Arrow table (no casting yet)."""
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatchReader):
        return obj.read_all()
    if hasattr(obj, "geometry") and hasattr(obj, "to_wkb") and hasattr(obj, "crs"):
        return _from_geodataframe(obj)
    if _is_pandas(obj):  # before the Arrow stream, which reads a NaN nodata as null
        return _from_pandas(obj)
    if _is_polars_lazy(obj):
        obj = obj.collect()
    for method in ("to_arrow_table", "fetch_arrow_table", "to_arrow", "arrow"):  # DuckDB, Polars
        convert = getattr(obj, method, None)
        if callable(convert):
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


def _nulls_into_children(column: pa.ChunkedArray[Any]) -> pa.ChunkedArray[Any]:
    """A struct column whose fields are null wherever the struct itself is.

    pandas has no null struct: a GeoDataFrame row that lacks a band holds None, and
    Arrow rebuilds that slot with field values of its own (an empty ``transform`` list),
    which the cast to the schema's fixed-size list refuses although nothing reads them.
    """
    chunks: list[pa.Array[Any]] = []
    for chunk in column.chunks:
        if chunk.null_count and isinstance(chunk, pa.StructArray):
            # flatten() merges the struct's validity into each field
            chunks.append(
                pa.StructArray.from_arrays(
                    chunk.flatten(), fields=list(chunk.type), mask=chunk.is_null()
                )
            )
        else:
            chunks.append(chunk)
    return pa.chunked_array(chunks, type=column.type)


def to_arrow(obj: Any, band_codes: tuple[str, ...]) -> pa.Table:
    """Index rows from ``obj``, cast to the index schema with these band columns.

    Columns come back in the index's order; extra columns are kept after them (the
    index tolerates them).

    Raises:
        InvalidInputError: Not a table; a core or band column missing; a column whose
            values cannot be cast to the index type; or a null item id.
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
            if pa.types.is_struct(column.type) and column.null_count:
                column = _nulls_into_children(column)
            table = table.set_column(idx, field, column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise InvalidInputError(
                "table", field.name, f"is {column.type}, not castable to {field.type}: {err}"
            ) from err
    if table.column(schema.ID).null_count:
        raise InvalidInputError(
            "table", schema.ID, f"has {table.column(schema.ID).null_count} null item id(s)"
        )
    # the index's column order (tools reorder columns freely), extra columns after it
    names = [f.name for f in expected]
    extra = [n for n in table.column_names if n not in set(names)]
    return table.select([*names, *extra]).replace_schema_metadata(None)
