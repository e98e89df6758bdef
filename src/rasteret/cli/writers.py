"""Files the CLI writes: rasters as GeoTIFF / NetCDF / Zarr, tables as CSV / Parquet.

The format follows the file extension. Each raster writer takes the read's
:class:`~rasteret.read.reader.ArrayResult`, so the file holds exactly the pixels
``get_numpy`` returns. Writers with optional packages import them here, late, and name
the extra that installs them when they are missing.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from rasteret.adapters._optional import require
from rasteret.errors import InvalidInputError
from rasteret.read.reader import ArrayResult

RASTER_SUFFIXES: Final = {".tif": "GeoTIFF", ".tiff": "GeoTIFF", ".nc": "NetCDF", ".zarr": "Zarr"}
TABLE_SUFFIXES: Final = {".csv": "CSV", ".parquet": "Parquet", ".geoparquet": "GeoParquet"}
QUICKLOOK_SUFFIXES: Final = {".png": "PNG"}


def _suffix(path: Path, known: dict[str, str], parameter: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in known:
        raise InvalidInputError(
            parameter, str(path), f"unknown output type; use one of {', '.join(sorted(known))}"
        )
    return suffix


_NEEDS: Final = {
    ".tif": ("rasterio",),
    ".tiff": ("rasterio",),
    ".nc": ("xarray", "h5netcdf", "h5py"),
    ".zarr": ("xarray", "zarr"),
}
"""Optional packages (all in ``rasteret[io]``) each raster format needs."""


_FOLDER_FORMATS: Final = frozenset({".zarr"})
"""Outputs that are folders, not files."""


def check_output(
    path: Path, *, overwrite: bool, parameter: str = "--out", suffixes: dict[str, str] | None = None
) -> None:
    """Refuse an output that cannot or may not be written, before any read.

    A long read should not end in an error that could have been seen first: an unknown
    extension, an existing file without ``--overwrite``, a folder where a file goes (or
    the reverse), or a parent that is a file.
    """
    suffix = _suffix(path, suffixes or RASTER_SUFFIXES, parameter)
    for module in _NEEDS.get(suffix, ()):
        require(module, extra="io", feature=f"writing {RASTER_SUFFIXES[suffix]}")
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInputError(parameter, str(path), f"{parent} is not a folder")
            break
    if not path.exists() and not path.is_symlink():
        return
    if not overwrite:
        raise InvalidInputError(parameter, str(path), "exists; pass --overwrite to replace it")
    if path.is_dir() != (suffix in _FOLDER_FORMATS):
        kind = "a folder" if path.is_dir() else "a file"
        raise InvalidInputError(
            parameter, str(path), f"is {kind}; --overwrite replaces only an output of its kind"
        )


@contextlib.contextmanager
def replaced_on_success(path: Path) -> Iterator[Path]:
    """A scratch path beside ``path``; it replaces ``path`` only if the block succeeds.

    Nothing half-written is ever left at ``path``: a failed write (a full disk, an
    interrupt) leaves the previous output, if any, as it was, and removes the scratch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
    try:
        yield scratch
        if path.is_dir() and not path.is_symlink():
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
            path.rename(old)
            scratch.rename(path)
            shutil.rmtree(old)
        else:
            scratch.replace(path)
    finally:
        if scratch.is_dir():
            shutil.rmtree(scratch, ignore_errors=True)
        elif scratch.exists():
            scratch.unlink()


def write_raster(result: ArrayResult, path: Path) -> str:
    """Write ``result`` in the format of ``path``'s extension; returns the format name.

    The caller has checked ``path`` (:func:`check_output`); the file appears only
    once it is complete.
    """
    suffix = _suffix(path, RASTER_SUFFIXES, "--out")
    writers: dict[str, Callable[[ArrayResult, Path], None]] = {
        ".tif": _geotiff,
        ".tiff": _geotiff,
        ".nc": _netcdf,
        ".zarr": _zarr,
    }
    with replaced_on_success(path) as scratch:
        writers[suffix](result, scratch)
    return RASTER_SUFFIXES[suffix]


def _geotiff(result: ArrayResult, path: Path) -> None:
    """One GeoTIFF band per (scene, band), scene-major, each described and tagged.

    A GeoTIFF has no time axis, so scene ``n`` band ``c`` is band ``n * C + c + 1``;
    the description (``<date> <scene id> <band>``) and tags say which is which.
    """
    rasterio = require("rasterio", extra="io", feature="writing GeoTIFF")
    n, c, height, width = result.data.shape
    fills = {"nan" if math.isnan(f) else f for f in result.fill_values}
    if len(fills) > 1:
        # a GeoTIFF has one nodata for all its bands; any one choice would mark some
        # band's invalid pixels valid, or valid ones invalid
        per_band = ", ".join(
            f"{b}: {f:g}" for b, f in zip(result.bands, result.fill_values, strict=True)
        )
        raise InvalidInputError(
            "--bands",
            list(result.bands),
            f"have different nodata ({per_band}); a GeoTIFF holds one nodata for all "
            "bands: read them into separate .tif files, or write .nc or .zarr",
        )
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": n * c,
        "dtype": result.data.dtype.name,
        "crs": result.crs.to_wkt(),
        "transform": result.transform,
        "compress": "deflate",
        "nodata": result.fill_values[0],
    }
    if width >= 256 and height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(result.data.reshape(n * c, height, width))
        for i in range(n):
            when = result.datetimes[i]
            stamp = when.isoformat() if when is not None else ""
            for j, band in enumerate(result.bands):
                index = i * c + j + 1
                dst.set_band_description(index, f"{stamp} {result.ids[i]} {band}".strip())
                dst.update_tags(index, scene_id=result.ids[i], datetime=stamp, band=band)
        dst.update_tags(bands=",".join(result.bands), scenes=str(n))


def _dataset(result: ArrayResult) -> Any:
    """The xarray form of a read (CF georeferencing), encodable by any backend."""
    require("xarray", extra="io", feature="writing NetCDF/Zarr")
    from rasteret.adapters.xarray import to_dataset  # noqa: PLC0415 - needs xarray

    dataset = to_dataset(result)
    for name in list(dataset.variables):
        var = dataset[name]
        if var.dtype == np.bool_:  # NetCDF has no bool type; keep masks as 0/1 bytes
            dataset[name] = var.astype(np.uint8)
    for attrs in [dataset.attrs, *(dataset[v].attrs for v in dataset.variables)]:
        for key, value in list(attrs.items()):
            if isinstance(value, bool):
                attrs[key] = int(value)
            elif value is None:
                del attrs[key]
    return dataset


def _netcdf(result: ArrayResult, path: Path) -> None:
    for module in _NEEDS[".nc"]:
        require(module, extra="io", feature="writing NetCDF")
    _dataset(result).to_netcdf(path, engine="h5netcdf")


def _zarr(result: ArrayResult, path: Path) -> None:
    require("zarr", extra="io", feature="writing Zarr")
    with warnings.catch_warnings():
        # zarr 3 notes that consolidated metadata is not in the v3 spec yet; xarray
        # writes it so that readers open the store with one request
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        _dataset(result).to_zarr(path, mode="w-")


def write_table(table: pa.Table, path: Path, *, geometry: Any = None) -> str:
    """Write point values as CSV, Parquet or GeoParquet; returns the format name.

    ``geometry`` (a GeoSeries, one point per row) is required for ``.geoparquet``,
    which stores it with its CRS; the caller has checked ``path``
    (:func:`check_output`), and the file appears only once complete.
    """
    suffix = _suffix(path, TABLE_SUFFIXES, "--out")
    with replaced_on_success(path) as scratch:
        if suffix == ".csv":
            import pyarrow.csv as pa_csv  # noqa: PLC0415 - only for CSV output

            flat = table.select(
                [
                    name
                    for name, kind in zip(table.column_names, table.schema.types, strict=True)
                    if not pa.types.is_nested(kind)
                ]
            )
            pa_csv.write_csv(flat, scratch)
        elif suffix == ".geoparquet":
            geopandas = require("geopandas", extra="geopandas", feature="GeoParquet output")
            frame = geopandas.GeoDataFrame(table.to_pandas(), geometry=geometry)
            frame.to_parquet(scratch, index=False)
        else:
            import pyarrow.parquet as pq  # noqa: PLC0415 - only for Parquet output

            pq.write_table(table, scratch)
    return TABLE_SUFFIXES[suffix]
