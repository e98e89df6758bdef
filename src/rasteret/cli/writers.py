"""Files the CLI writes: rasters as GeoTIFF / NetCDF / Zarr, tables as CSV / Parquet.

The format follows the file extension. Each raster writer takes the read's
:class:`~rasteret.read.reader.ArrayResult`, so the file holds exactly the pixels
``get_numpy`` returns. Writers with optional packages import them here, late, and name
the extra that installs them when they are missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from rasteret.adapters._optional import require
from rasteret.errors import InvalidInputError
from rasteret.read.reader import ArrayResult

RASTER_SUFFIXES: Final = {".tif": "GeoTIFF", ".tiff": "GeoTIFF", ".nc": "NetCDF", ".zarr": "Zarr"}
TABLE_SUFFIXES: Final = {".csv": "CSV", ".parquet": "Parquet", ".geoparquet": "Parquet"}


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


def check_raster_path(path: Path, *, overwrite: bool) -> None:
    """Refuse a bad extension, a missing extra or an existing output before any read.

    A long read should not end in an error that could have been seen first.
    """
    suffix = _suffix(path, RASTER_SUFFIXES, "--out")
    for module in _NEEDS[suffix]:
        require(module, extra="io", feature=f"writing {RASTER_SUFFIXES[suffix]}")
    if path.exists() and not overwrite:
        raise InvalidInputError("--out", str(path), "exists; pass --overwrite to replace it")


def write_raster(result: ArrayResult, path: Path, *, overwrite: bool = False) -> str:
    """Write ``result`` in the format of ``path``'s extension; returns the format name."""
    suffix = _suffix(path, RASTER_SUFFIXES, "--out")
    writers: dict[str, Callable[[ArrayResult, Path], None]] = {
        ".tif": _geotiff,
        ".tiff": _geotiff,
        ".nc": _netcdf,
        ".zarr": _zarr,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and overwrite:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    writers[suffix](result, path)
    return RASTER_SUFFIXES[suffix]


def _geotiff(result: ArrayResult, path: Path) -> None:
    """One GeoTIFF band per (scene, band), scene-major, each described and tagged.

    A GeoTIFF has no time axis, so scene ``n`` band ``c`` is band ``n * C + c + 1``;
    the description (``<date> <scene id> <band>``) and tags say which is which.
    """
    rasterio = require("rasterio", extra="io", feature="writing GeoTIFF")
    n, c, height, width = result.data.shape
    fills = set(result.fill_values)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": n * c,
        "dtype": result.data.dtype.name,
        "crs": result.crs.to_wkt(),
        "transform": result.transform,
        "compress": "deflate",
        "nodata": fills.pop() if len(fills) == 1 else None,
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
    _dataset(result).to_zarr(path, mode="w-")


def write_table(table: pa.Table, path: Path) -> str:
    """Write point values as CSV or Parquet; returns the format name."""
    suffix = _suffix(path, TABLE_SUFFIXES, "--out")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        import pyarrow.csv as pa_csv  # noqa: PLC0415 - only for CSV output

        flat = table.select(
            [
                name
                for name, kind in zip(table.column_names, table.schema.types, strict=True)
                if not pa.types.is_nested(kind)
            ]
        )
        pa_csv.write_csv(flat, path)
    else:
        import pyarrow.parquet as pq  # noqa: PLC0415 - only for Parquet output

        pq.write_table(table, path)
    return TABLE_SUFFIXES[suffix]
