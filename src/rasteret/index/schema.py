"""The Parquet index schema: every column name and type, defined once and versioned.

One row per STAC item. Core columns hold what filters need (time, footprint, cloud
cover, projection); ``properties`` and ``assets`` keep the full STAC JSON so nothing
the search returned is lost. Each requested band gets one struct column, named by
:func:`band_column`, that holds the asset href plus the complete parsed TIFF layout
(every IFD with its tile offsets and byte counts), so reads never fetch a header again.

:func:`header_to_struct` and :func:`struct_to_header` convert a
:class:`~rasteret.tiff.types.TiffHeader` to and from the struct value and round-trip
exactly. Tile arrays stay NumPy arrays on the way in and come back as NumPy views on
the Arrow buffers on the way out (:func:`headers_from_array`), so a layout with
hundreds of thousands of tiles never becomes Python integers.

Bump :data:`SCHEMA_VERSION` whenever a reader of the old layout would misread the new
one; the reader refuses versions it does not know rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rasteret.errors import IndexFormatError, InvalidInputError
from rasteret.index.arrow_np import numeric_values, one_chunk
from rasteret.index.pool import POOL
from rasteret.tiff.types import GeoInfo, IfdKind, IfdLayout, TiffHeader

SCHEMA_VERSION = 1
"""Version of the column layout below; stored in every index's manifest."""

# --- core column names -------------------------------------------------------------------

ID = "id"
COLLECTION = "collection"
DATETIME = "datetime"
START_DATETIME = "start_datetime"
END_DATETIME = "end_datetime"
GEOMETRY = "geometry"
BBOX = "bbox"
CLOUD_COVER = "eo:cloud_cover"
PLATFORM = "platform"
CONSTELLATION = "constellation"
EPSG = "proj:epsg"
PROJ_CODE = "proj:code"
PROPERTIES = "properties"
ASSETS = "assets"

BAND_PREFIX = "band:"
"""Prefix of every per-band struct column; use :func:`band_column`, never concatenate."""

BBOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")
"""Child names of the ``bbox`` covering struct (GeoParquet 1.1 convention)."""

TIMESTAMP = pa.timestamp("us", tz="UTC")
BBOX_TYPE = pa.struct([pa.field(name, pa.float64()) for name in BBOX_FIELDS])

CORE_FIELDS: tuple[pa.Field[Any], ...] = (
    pa.field(ID, pa.string(), nullable=False),
    pa.field(COLLECTION, pa.string()),
    pa.field(DATETIME, TIMESTAMP),
    pa.field(START_DATETIME, TIMESTAMP),
    pa.field(END_DATETIME, TIMESTAMP),
    pa.field(GEOMETRY, pa.binary()),
    pa.field(BBOX, BBOX_TYPE),
    pa.field(CLOUD_COVER, pa.float64()),
    pa.field(PLATFORM, pa.string()),
    pa.field(CONSTELLATION, pa.string()),
    pa.field(EPSG, pa.int32()),
    pa.field(PROJ_CODE, pa.string()),
    pa.field(PROPERTIES, pa.string()),
    pa.field(ASSETS, pa.string()),
)
"""The item-level columns, in file order, before the band columns."""

CORE_COLUMNS: tuple[str, ...] = tuple(f.name for f in CORE_FIELDS)

# --- per-band layout struct ----------------------------------------------------------------

_INT32_LIST = pa.list_(pa.int32())
_UINT64_LIST = pa.list_(pa.uint64())
_FLOAT64_LIST = pa.list_(pa.float64())

# (name, arrow type) of every IfdLayout field; order is the struct's child order.
_IFD_SCALARS: tuple[tuple[str, pa.DataType], ...] = (
    ("ifd_index", pa.int32()),
    ("kind", pa.string()),
    ("width", pa.int64()),
    ("height", pa.int64()),
    ("tile_width", pa.int64()),
    ("tile_height", pa.int64()),
    ("tiled", pa.bool_()),
    ("samples_per_pixel", pa.int32()),
    ("bits_per_sample", pa.int32()),
    ("sample_format", pa.int32()),
    ("dtype", pa.string()),
    ("compression", pa.int32()),
    ("predictor", pa.int32()),
    ("planar_config", pa.int32()),
    ("photometric", pa.int32()),
    ("subfile_type", pa.int64()),
    ("tiles_across", pa.int64()),
    ("tiles_down", pa.int64()),
)
_IFD_TILE_ARRAYS = ("tile_offsets", "tile_byte_counts")
_IFD_EXTRAS: tuple[tuple[str, pa.DataType], ...] = (
    ("jpeg_tables", pa.binary()),
    ("lerc_parameters", _INT32_LIST),
    ("extra_samples", _INT32_LIST),
    ("ycbcr_subsampling", _INT32_LIST),
)

IFD_TYPE = pa.struct(
    [pa.field(n, t) for n, t in _IFD_SCALARS]
    + [pa.field(n, _UINT64_LIST) for n in _IFD_TILE_ARRAYS]
    + [pa.field(n, t) for n, t in _IFD_EXTRAS]
)
"""One IFD: geometry of the tile grid, decoding parameters and the tile byte ranges."""

# Fields that describe where the band lives (set even when its header failed).
_BAND_SOURCE: tuple[tuple[str, pa.DataType], ...] = (
    ("href", pa.string()),
    ("asset_key", pa.string()),
    ("sample_index", pa.int32()),
    ("error", pa.string()),
)
# Fields produced by header_to_struct (all null when the header could not be read).
_HEADER_SCALARS: tuple[tuple[str, pa.DataType], ...] = (
    ("file_size", pa.int64()),
    ("etag", pa.string()),
    ("last_modified", pa.string()),
    ("header_size", pa.int64()),
    ("byte_order", pa.string()),
    ("bigtiff", pa.bool_()),
    ("crs_epsg", pa.int32()),
    ("crs_wkt", pa.string()),
    ("crs_projjson", pa.string()),
    ("transform", pa.list_(pa.float64(), 6)),
    ("raster_type", pa.int32()),
    ("nodata", pa.float64()),
    ("scales", _FLOAT64_LIST),
    ("offsets", _FLOAT64_LIST),
    ("gdal_metadata", pa.string()),
)
_IFDS_TYPE = pa.list_(IFD_TYPE)

BAND_TYPE = pa.struct(
    [pa.field(n, t) for n, t in _BAND_SOURCE]
    + [pa.field(n, t) for n, t in _HEADER_SCALARS]
    + [pa.field("ifds", _IFDS_TYPE)]
)
"""One band of one item: where it is, why its layout is missing (``error``), or the layout.

``raster_type`` is null exactly when the file has no georeferencing (``geo is None``);
``ifds`` is null exactly when the header could not be read.
"""

HEADER_FIELDS: tuple[str, ...] = (*(n for n, _ in _HEADER_SCALARS), "ifds")
"""Keys of the dict :func:`header_to_struct` returns."""


def band_column(code: str) -> str:
    """Name of the struct column holding band ``code`` (the only place names are built)."""
    if not isinstance(code, str) or not code:
        raise InvalidInputError("band code", code, "must be a non-empty string")
    return BAND_PREFIX + code


def band_code(column: str) -> str | None:
    """The band code of a band column name, or None for any other column."""
    if column.startswith(BAND_PREFIX) and len(column) > len(BAND_PREFIX):
        return column[len(BAND_PREFIX) :]
    return None


def index_schema(band_codes: Sequence[str]) -> pa.Schema:
    """The full Arrow schema of an index with these bands, in this order."""
    if len(set(band_codes)) != len(band_codes):
        raise InvalidInputError("band_codes", list(band_codes), "band codes must be unique")
    return pa.schema([*CORE_FIELDS, *(pa.field(band_column(c), BAND_TYPE) for c in band_codes)])


def band_codes_of(schema: pa.Schema) -> tuple[str, ...]:
    """Band codes present in ``schema``, in column order."""
    return tuple(code for name in schema.names if (code := band_code(name)) is not None)


def check_schema(schema: pa.Schema, *, source: str = "<table>") -> None:
    """Raise :class:`IndexFormatError` unless every core and band column is present, typed as here.

    Extra columns are tolerated (a caller may append its own), missing or retyped ones
    are not: every reader downstream relies on these types.
    """
    for field in CORE_FIELDS:
        idx = schema.get_field_index(field.name)
        if idx < 0:
            raise IndexFormatError(f"{source}: index has no column {field.name!r}")
        if not schema.field(idx).type.equals(field.type):
            raise IndexFormatError(
                f"{source}: column {field.name!r} is {schema.field(idx).type}, "
                f"expected {field.type}"
            )
    for code in band_codes_of(schema):
        got = schema.field(band_column(code)).type
        if not got.equals(BAND_TYPE):
            raise IndexFormatError(f"{source}: band column {band_column(code)!r} has type {got}")


# --- TiffHeader <-> struct value ------------------------------------------------------------


def _ifd_to_struct(ifd: IfdLayout) -> dict[str, Any]:
    d: dict[str, Any] = {name: getattr(ifd, name) for name, _ in _IFD_SCALARS}
    d["kind"] = str(ifd.kind.value)
    d["tile_offsets"] = np.asarray(ifd.tile_offsets, dtype=np.uint64)
    d["tile_byte_counts"] = np.asarray(ifd.tile_byte_counts, dtype=np.uint64)
    d["jpeg_tables"] = ifd.jpeg_tables
    d["lerc_parameters"] = None if ifd.lerc_parameters is None else list(ifd.lerc_parameters)
    d["extra_samples"] = list(ifd.extra_samples)
    d["ycbcr_subsampling"] = None if ifd.ycbcr_subsampling is None else list(ifd.ycbcr_subsampling)
    return d


def header_to_struct(header: TiffHeader) -> dict[str, Any]:
    """The band-struct fields that describe ``header`` (keys: :data:`HEADER_FIELDS`).

    Tile offsets and byte counts stay ``uint64`` NumPy arrays, so building a column
    from many of these dicts (:func:`band_array`) copies them once, with no Python loop.
    """
    geo = header.geo
    return {
        "file_size": header.file_size,
        "etag": header.etag,
        "last_modified": header.last_modified,
        "header_size": header.header_size,
        "byte_order": header.byte_order,
        "bigtiff": header.bigtiff,
        "crs_epsg": None if geo is None else geo.crs_epsg,
        "crs_wkt": None if geo is None else geo.crs_wkt,
        "crs_projjson": None if geo is None else geo.crs_projjson,
        "transform": None if geo is None or geo.transform is None else list(geo.transform),
        "raster_type": None if geo is None else geo.raster_type,
        "nodata": header.nodata,
        "scales": None if header.scales is None else list(header.scales),
        "offsets": None if header.offsets is None else list(header.offsets),
        "gdal_metadata": header.gdal_metadata,
        "ifds": [_ifd_to_struct(ifd) for ifd in header.ifds],
    }


def _opt_tuple(value: Any, cast: type) -> tuple[Any, ...] | None:
    return None if value is None else tuple(cast(v) for v in value)


def _ifd_from_struct(d: Mapping[str, Any], offsets: Any, counts: Any) -> IfdLayout:
    ycbcr = d["ycbcr_subsampling"]
    return IfdLayout(
        ifd_index=int(d["ifd_index"]),
        kind=IfdKind(d["kind"]),
        width=int(d["width"]),
        height=int(d["height"]),
        tile_width=int(d["tile_width"]),
        tile_height=int(d["tile_height"]),
        tiled=bool(d["tiled"]),
        samples_per_pixel=int(d["samples_per_pixel"]),
        bits_per_sample=int(d["bits_per_sample"]),
        sample_format=int(d["sample_format"]),
        dtype=str(d["dtype"]),
        compression=int(d["compression"]),
        predictor=int(d["predictor"]),
        planar_config=int(d["planar_config"]),
        photometric=int(d["photometric"]),
        subfile_type=int(d["subfile_type"]),
        tiles_across=int(d["tiles_across"]),
        tiles_down=int(d["tiles_down"]),
        tile_offsets=np.asarray(offsets, dtype=np.uint64),
        tile_byte_counts=np.asarray(counts, dtype=np.uint64),
        jpeg_tables=None if d["jpeg_tables"] is None else bytes(d["jpeg_tables"]),
        lerc_parameters=_opt_tuple(d["lerc_parameters"], int),
        extra_samples=tuple(int(v) for v in (d["extra_samples"] or ())),
        ycbcr_subsampling=None if ycbcr is None else (int(ycbcr[0]), int(ycbcr[1])),
    )


def _header_from_parts(d: Mapping[str, Any], ifds: tuple[IfdLayout, ...]) -> TiffHeader:
    geo = None
    if d["raster_type"] is not None:
        transform = d["transform"]
        geo = GeoInfo(
            transform=None if transform is None else tuple(float(v) for v in transform),  # type: ignore[arg-type]
            raster_type=int(d["raster_type"]),
            crs_epsg=None if d["crs_epsg"] is None else int(d["crs_epsg"]),
            crs_wkt=d["crs_wkt"],
            crs_projjson=d["crs_projjson"],
        )
    return TiffHeader(
        byte_order=str(d["byte_order"]),
        bigtiff=bool(d["bigtiff"]),
        ifds=ifds,
        geo=geo,
        nodata=None if d["nodata"] is None else float(d["nodata"]),
        scales=_opt_tuple(d["scales"], float),
        offsets=_opt_tuple(d["offsets"], float),
        gdal_metadata=d["gdal_metadata"],
        header_size=int(d["header_size"]),
        file_size=None if d["file_size"] is None else int(d["file_size"]),
        etag=d["etag"],
        last_modified=d["last_modified"],
    )


def struct_to_header(d: Mapping[str, Any]) -> TiffHeader:
    """Rebuild the :class:`TiffHeader` stored in a band struct value.

    The inverse of :func:`header_to_struct`.

    Accepts the dict :func:`header_to_struct` made or the ``as_py()`` of a stored value
    (extra band-level keys such as ``href`` are ignored).

    Raises:
        IndexFormatError: The value holds no layout (its header failed; ``error`` says why).
    """
    if d.get("ifds") is None:
        reason = d.get("error") or "no layout stored"
        raise IndexFormatError(f"band {d.get('href')!r} has no layout: {reason}")
    ifds = tuple(_ifd_from_struct(i, i["tile_offsets"], i["tile_byte_counts"]) for i in d["ifds"])
    return _header_from_parts(d, ifds)


# --- columnar conversion ---------------------------------------------------------------------


def _list_array(
    items: Sequence[Any | None], value_type: pa.DataType, values: pa.Array[Any]
) -> pa.ListArray[Any]:
    """A list array whose i-th list holds ``len(items[i])`` consecutive ``values`` (None = null)."""
    lengths = np.fromiter((0 if x is None else len(x) for x in items), np.int32, len(items))
    offsets = np.zeros(len(items) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    mask = np.fromiter((x is None for x in items), np.bool_, len(items))
    offsets_array: Any = pa.array(offsets, type=pa.int32())
    return pa.ListArray.from_arrays(
        offsets_array,
        values,
        type=pa.list_(value_type),
        mask=pa.array(mask) if mask.any() else None,
    )


def _uint64_lists(arrays: Sequence[npt.NDArray[np.uint64]]) -> pa.ListArray[Any]:
    flat = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.uint64)
    return _list_array(arrays, pa.uint64(), pa.array(flat, type=pa.uint64()))


def _ifd_array(ifds: Sequence[Mapping[str, Any]]) -> pa.StructArray:
    children: list[pa.Array[Any]] = [
        pa.array([i[n] for i in ifds], type=t) for n, t in _IFD_SCALARS
    ]
    children += [_uint64_lists([i[n] for i in ifds]) for n in _IFD_TILE_ARRAYS]
    children += [pa.array([i[n] for i in ifds], type=t) for n, t in _IFD_EXTRAS]
    return pa.StructArray.from_arrays(children, fields=list(IFD_TYPE))


def band_array(values: Sequence[Mapping[str, Any] | None]) -> pa.StructArray:
    """Build one band column from per-row struct dicts (None = the item lacks this band).

    Each dict holds the band-level keys (``href``, ``asset_key``, ``sample_index``,
    ``error``) plus, when the header was read, the :func:`header_to_struct` keys.
    Tile arrays of all rows are concatenated once, so the cost does not grow with a
    Python loop over tiles.
    """
    rows: list[Mapping[str, Any]] = [v if v is not None else {} for v in values]
    children: list[pa.Array[Any]] = [
        pa.array([r.get(n) for r in rows], type=t) for n, t in (*_BAND_SOURCE, *_HEADER_SCALARS)
    ]
    ifd_lists: list[Sequence[Mapping[str, Any]] | None] = [r.get("ifds") for r in rows]
    flat = [ifd for lst in ifd_lists if lst is not None for ifd in lst]
    children.append(_list_array(ifd_lists, IFD_TYPE, _ifd_array(flat)))
    mask = pa.array([v is None for v in values], type=pa.bool_())
    return pa.StructArray.from_arrays(children, fields=list(BAND_TYPE), mask=mask)


def headers_from_array(column: pa.Array[Any] | pa.ChunkedArray[Any]) -> list[TiffHeader | None]:
    """Every stored header of one band column, None where the layout is null.

    Tile offsets and byte counts come back as read-only NumPy views on the Arrow
    buffers (no per-tile Python objects), which is what the read path wants.
    """
    column = one_chunk(column)
    if not column.type.equals(BAND_TYPE):
        raise IndexFormatError(f"not a band column: {column.type}")
    struct: Any = column  # a StructArray; flatten() applies its offset and validity
    fields = {f.name: arr for f, arr in zip(BAND_TYPE, struct.flatten(POOL), strict=True)}
    ifd_lists = fields["ifds"]
    ifd_counts = numeric_values(pc.list_value_length(ifd_lists, memory_pool=POOL), null=-1)
    ifd_struct = ifd_lists.flatten()  # all IFDs of all non-null rows, in row order
    ifd_cols = {f.name: arr for f, arr in zip(IFD_TYPE, ifd_struct.flatten(POOL), strict=True)}
    ifd_rows = pa.Table.from_arrays(
        [ifd_cols[n] for n, _ in (*_IFD_SCALARS, *_IFD_EXTRAS)],
        names=[n for n, _ in (*_IFD_SCALARS, *_IFD_EXTRAS)],
    ).to_pylist()
    tiles: dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.uint64]]] = {}
    for name in _IFD_TILE_ARRAYS:
        lists = ifd_cols[name]
        offsets = numeric_values(lists.offsets)
        values = numeric_values(lists.values)
        tiles[name] = (offsets, values)
    ifds: list[IfdLayout] = []
    for k, row in enumerate(ifd_rows):
        (o1, v1), (o2, v2) = tiles["tile_offsets"], tiles["tile_byte_counts"]
        ifds.append(_ifd_from_struct(row, v1[o1[k] : o1[k + 1]], v2[o2[k] : o2[k + 1]]))
    header_rows = pa.Table.from_arrays(
        [fields[n] for n, _ in _HEADER_SCALARS], names=[n for n, _ in _HEADER_SCALARS]
    ).to_pylist()
    out: list[TiffHeader | None] = []
    pos = 0
    for count, row in zip(ifd_counts, header_rows, strict=True):
        if count < 0:
            out.append(None)
            continue
        out.append(_header_from_parts(row, tuple(ifds[pos : pos + count])))
        pos += count
    return out
