"""A factory for real Cloud-Optimized GeoTIFFs, written by GDAL through rasterio.

Tests and the demo need files that look like what satellites publish (tiled, compressed,
with overviews, nodata edges) but also the odd corners of the format (planar layout,
big-endian, BigTIFF, strips, internal masks). Writing them with GDAL rather than by hand
means the parser is checked against the implementation everybody else reads with.

The usual case goes through GDAL's ``COG`` driver, which lays out the header exactly as a
cloud publisher would (all IFDs first, ghost area, tiles after). Variants the COG driver
cannot produce (band interleave, big-endian, stripped files, explicit photometric) go
through ``GTiff`` with ``COPY_SRC_OVERVIEWS=YES``, which keeps the header-first layout.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine

__all__ = ["default_data", "write_cog"]

_DEFAULT_ORIGIN = (500_000.0, 4_200_000.0)
"""UTM-like upper-left corner (metres) used when no transform is given."""
_DEFAULT_PIXEL = 10.0
"""Pixel size in metres of the default transform (Sentinel-2 visible bands)."""


_VALUE_RANGES: dict[str, tuple[float, float]] = {
    "uint8": (10.0, 245.0),
    "int8": (-100.0, 100.0),
    "uint16": (1.0, 10_000.0),  # surface reflectance scaled by 1e4
    "int16": (-2_000.0, 8_000.0),  # e.g. elevation in metres
}
"""Realistic value ranges per dtype, so compressors see imagery-like numbers."""


def _value_range(dtype: np.dtype[Any]) -> tuple[float, float]:
    """Pick the value range of generated pixels for ``dtype``."""
    if dtype.name in _VALUE_RANGES:
        return _VALUE_RANGES[dtype.name]
    if np.issubdtype(dtype, np.unsignedinteger):
        return 1.0, 1_000_000.0
    if np.issubdtype(dtype, np.signedinteger):
        return -500_000.0, 500_000.0
    return 0.0, 1.0  # float reflectance


def default_data(
    *,
    width: int,
    height: int,
    dtype: str = "uint16",
    count: int = 1,
    nodata: float | None = 0,
    seed: int = 0,
) -> npt.NDArray[Any]:
    """Make deterministic smooth-plus-noise pixels shaped ``[count, height, width]``.

    The smooth part (a few sinusoids per band) compresses like terrain or vegetation
    does; the noise keeps codecs from collapsing tiles to nothing. When ``nodata`` fits
    the dtype, a wedge in the lower-left corner is set to it, like the black edge of a
    satellite swath that does not fill its grid.

    Args:
        width: Image width in pixels.
        height: Image height in pixels.
        dtype: NumPy dtype name of the result.
        count: Number of bands.
        nodata: Value written into the swath-edge wedge; NaN allowed for floats.
        seed: Seed of the noise; the same seed gives the same bytes.

    Returns:
        An array of the requested dtype.
    """
    np_dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    lo, hi = _value_range(np_dtype)
    y = np.linspace(0.0, 1.0, height, dtype=np.float64)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float64)[None, :]
    out = np.empty((count, height, width), dtype=np_dtype)
    for band in range(count):
        phase = band * 0.7
        smooth = (
            0.5
            + 0.25 * np.sin(2 * math.pi * (1.5 * x + phase))
            + 0.15 * np.cos(2 * math.pi * (2.0 * y - phase))
            + 0.08 * np.sin(2 * math.pi * 7.0 * (x + y))
        )
        noise = rng.normal(0.0, 0.02, size=(height, width))
        values = lo + (hi - lo) * np.clip(smooth + noise, 0.0, 1.0)
        if np.issubdtype(np_dtype, np.integer):
            values = np.rint(values)
        out[band] = values.astype(np_dtype)
    if nodata is not None and width > 1 and height > 1:
        wedge = (y * height) - (height * 0.75) > (x * width) * 0.5  # lower-left triangle
        if np.issubdtype(np_dtype, np.floating) or _fits(nodata, np_dtype):
            out[:, wedge] = nodata
    return out


def _fits(value: float, dtype: np.dtype[Any]) -> bool:
    """Tell whether ``value`` is exactly representable in an integer dtype."""
    if math.isnan(value) or math.isinf(value) or value != int(value):
        return False
    info = np.iinfo(dtype)
    return bool(info.min <= int(value) <= info.max)


def _as_affine(transform: Affine | tuple[float, ...] | None) -> Affine:
    """Accept an Affine, a 6-tuple in rasterio order or a 9-tuple, default to UTM-like."""
    if transform is None:
        return Affine(
            _DEFAULT_PIXEL, 0.0, _DEFAULT_ORIGIN[0], 0.0, -_DEFAULT_PIXEL, _DEFAULT_ORIGIN[1]
        )
    if isinstance(transform, Affine):
        return transform
    return Affine(*transform[:6])


def _as_crs(crs: str | int | None) -> CRS | None:
    """Accept an EPSG integer, an authority string, WKT or a PROJ string."""
    if crs is None:
        return None
    if isinstance(crs, int):
        return CRS.from_epsg(crs)
    return CRS.from_user_input(crs)


def write_cog(
    path: str | Path,
    *,
    width: int,
    height: int,
    dtype: str = "uint16",
    count: int = 1,
    crs: str | int | None = "EPSG:32610",
    transform: Affine | tuple[float, ...] | None = None,
    blocksize: int = 1024,
    compress: str | None = "deflate",
    predictor: int | None = None,
    nodata: float | None = 0,
    overview_levels: Sequence[int] = (2, 4),
    interleave: str = "pixel",
    data: npt.NDArray[Any] | None = None,
    seed: int = 0,
    bigtiff: bool = False,
    big_endian: bool = False,
    internal_mask: bool = False,
    tiled: bool = True,
    photometric: str | None = None,
    extra_creation_options: Mapping[str, str] | None = None,
    scales: Sequence[float] | None = None,
    offsets: Sequence[float] | None = None,
    tags: Mapping[str, str] | None = None,
    overview_resampling: str = "average",
) -> Path:
    """Write a real GeoTIFF (a COG unless a variant forbids it) and return its path.

    Args:
        path: Destination file; its folder must exist.
        width: Image width in pixels.
        height: Image height in pixels.
        dtype: Sample type (``"uint8"``, ``"int16"``, ``"float32"``, ...).
        count: Number of bands.
        crs: EPSG code, ``"EPSG:n"``, WKT or PROJ string (user-defined CRSs), or None.
        transform: Affine or a 6-tuple in rasterio order; a UTM-like 10 m grid if None.
        blocksize: Tile size (square), or rows per strip when ``tiled`` is False.
        compress: GDAL codec name (``deflate``, ``lzw``, ``zstd``, ``jpeg``, ``lerc``...)
            or None for uncompressed.
        predictor: TIFF predictor (2 horizontal, 3 floating point), None for the default.
        nodata: Nodata value (NaN allowed for floats), None for no GDAL_NODATA tag.
        overview_levels: Decimation factors of the internal overviews; empty for none.
        interleave: ``"pixel"`` (chunky) or ``"band"`` (planar configuration 2).
        data: Pixels shaped ``[count, height, width]``; generated with
            :func:`default_data` when None.
        seed: Seed of the generated pixels.
        bigtiff: Force BigTIFF (version 43, 8-byte offsets) even for small files.
        big_endian: Write a Motorola ("MM") byte-order file.
        internal_mask: Add an internal per-dataset mask (NewSubfileType 4) that hides
            the nodata wedge; its overviews are built too.
        tiled: False writes a stripped TIFF with ``blocksize`` rows per strip.
        photometric: GDAL PHOTOMETRIC option (e.g. ``"YCBCR"`` or ``"RGB"``).
        extra_creation_options: More GDAL creation options, passed through verbatim.
        scales: Per-band scale written to GDAL_METADATA.
        offsets: Per-band offset written to GDAL_METADATA.
        tags: Dataset metadata items, e.g. ``{"AREA_OR_POINT": "Point"}`` for PixelIsPoint.
        overview_resampling: Resampling used to build overviews (GDAL name).

    Returns:
        The path written, as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If ``data`` has the wrong shape or an option is unknown.
    """
    out_path = Path(path)
    if interleave not in ("pixel", "band"):
        raise ValueError(f"interleave={interleave!r}: expected 'pixel' or 'band'")
    if data is None:
        data = default_data(
            width=width, height=height, dtype=dtype, count=count, nodata=nodata, seed=seed
        )
    if data.shape != (count, height, width):
        raise ValueError(f"data shape {data.shape} != {(count, height, width)}")
    data = data.astype(dtype, copy=False)

    use_cog_driver = tiled and interleave == "pixel" and not big_endian and photometric is None
    options: dict[str, str] = {}
    if compress is not None:
        options["COMPRESS"] = compress.upper()
    else:
        options["COMPRESS"] = "NONE"
    if predictor is not None:
        options["PREDICTOR"] = str(predictor)
    if bigtiff:
        options["BIGTIFF"] = "YES"
    if use_cog_driver:
        driver = "COG"
        options["BLOCKSIZE"] = str(blocksize)
        options["OVERVIEWS"] = "FORCE_USE_EXISTING" if overview_levels else "NONE"
    else:
        driver = "GTiff"
        options["COPY_SRC_OVERVIEWS"] = "YES"
        options["INTERLEAVE"] = interleave.upper()
        if tiled:
            options["TILED"] = "YES"
            options["BLOCKXSIZE"] = str(blocksize)
            options["BLOCKYSIZE"] = str(blocksize)
        else:
            options["TILED"] = "NO"
            options["BLOCKYSIZE"] = str(blocksize)
        if big_endian:
            options["ENDIANNESS"] = "BIG"
        if photometric is not None:
            options["PHOTOMETRIC"] = photometric.upper()
    options.update(extra_creation_options or {})

    with (
        tempfile.TemporaryDirectory(prefix="rasteret-cog-") as tmp,
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_NUM_THREADS="1"),
    ):
        staging = Path(tmp) / "staging.tif"
        _write_staging(
            staging,
            data=data,
            crs=_as_crs(crs),
            transform=_as_affine(transform),
            nodata=nodata,
            blocksize=blocksize,
            internal_mask=internal_mask,
            overview_levels=overview_levels,
            overview_resampling=overview_resampling,
            scales=scales,
            offsets=offsets,
            tags=tags,
        )
        rasterio.shutil.copy(str(staging), str(out_path), driver=driver, **options)
    return out_path


def _write_staging(
    path: Path,
    *,
    data: npt.NDArray[Any],
    crs: CRS | None,
    transform: Affine,
    nodata: float | None,
    blocksize: int,
    internal_mask: bool,
    overview_levels: Sequence[int],
    overview_resampling: str,
    scales: Sequence[float] | None,
    offsets: Sequence[float] | None,
    tags: Mapping[str, str] | None,
) -> None:
    """Write an uncompressed source with overviews, which the final copy re-encodes.

    Building the overviews here (rather than letting the COG driver pick them) is what
    makes ``overview_levels`` exact and identical between the COG and GTiff paths.
    """
    count, height, width = data.shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": str(data.dtype),
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": max(16, min(blocksize, 512)),
        "blockysize": max(16, min(blocksize, 512)),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if internal_mask:
            mask = np.full((height, width), 255, dtype=np.uint8)
            if nodata is not None:
                valid = ~np.all(np.isnan(data) if np.isnan(nodata) else data == nodata, axis=0)
                mask[~valid] = 0
            dst.write_mask(mask)
        if scales is not None:
            dst.scales = tuple(scales)
        if offsets is not None:
            dst.offsets = tuple(offsets)
        if tags:
            dst.update_tags(**tags)
        if overview_levels:
            dst.build_overviews(list(overview_levels), Resampling[overview_resampling])
