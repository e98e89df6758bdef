"""Value types produced by the TIFF header parser.

They are plain frozen data: the index stores them column for column and the read
path plans tile requests from them without touching the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class IfdKind(StrEnum):
    """What an IFD holds, following GDAL's reading of NewSubfileType."""

    FULL = "full"
    """The full-resolution image (the first non-mask IFD)."""
    OVERVIEW = "overview"
    """A reduced-resolution image (NewSubfileType bit 0)."""
    MASK = "mask"
    """The full-resolution transparency mask (NewSubfileType bit 2)."""
    OVERVIEW_MASK = "overview_mask"
    """A reduced-resolution mask (bits 0 and 2)."""


@dataclass(frozen=True, kw_only=True)
class IfdLayout:
    """Everything needed to locate and decode the tiles of one IFD."""

    ifd_index: int
    """Position of this IFD in the file's IFD chain (0 = first)."""
    kind: IfdKind
    """Full resolution, overview, or mask."""
    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""
    tile_width: int
    """Tile width; for stripped files the image width."""
    tile_height: int
    """Tile height; for stripped files RowsPerStrip (clamped to the height)."""
    tiled: bool
    """True for TileWidth/TileLength files, False for strips indexed as full-width tiles."""
    samples_per_pixel: int
    """Number of samples (bands) per pixel."""
    bits_per_sample: int
    """Bits per sample (all samples share it; mixed widths are refused)."""
    sample_format: int
    """TIFF SampleFormat: 1 uint, 2 int, 3 IEEE float (4 undefined is read as uint)."""
    dtype: str
    """NumPy dtype name of one sample, e.g. ``"uint16"``; byte order is separate.

    1-bit samples (GDAL's transparency masks) are reported as ``"uint8"`` with
    ``bits_per_sample == 1``: the bits are packed and must be unpacked when decoded.
    """
    compression: int
    """TIFF Compression code (1 none, 5 LZW, 8 deflate, 7 JPEG, 34887 LERC, ...)."""
    predictor: int
    """TIFF Predictor (1 none, 2 horizontal, 3 floating point)."""
    planar_config: int
    """1 chunky (pixel-interleaved), 2 planar (one tile grid per sample)."""
    photometric: int
    """PhotometricInterpretation (1 min-is-black, 2 RGB, 4 mask, 6 YCbCr, ...)."""
    subfile_type: int
    """Raw NewSubfileType value."""
    tiles_across: int
    """Number of tile columns."""
    tiles_down: int
    """Number of tile rows."""
    tile_offsets: npt.NDArray[np.uint64]
    """Byte offset of every tile (planar files: all tiles of sample 0, then 1, ...)."""
    tile_byte_counts: npt.NDArray[np.uint64]
    """Byte count of every tile, same order as ``tile_offsets``; 0 means sparse."""
    jpeg_tables: bytes | None = None
    """JPEGTables (tag 347) to prepend when decoding JPEG tiles."""
    lerc_parameters: tuple[int, ...] | None = None
    """LercParameters (tag 50674): version and additional compression."""
    extra_samples: tuple[int, ...] = ()
    """ExtraSamples values (alpha meaning), empty when absent."""
    ycbcr_subsampling: tuple[int, int] | None = None
    """YCbCrSubSampling when photometric is YCbCr."""


@dataclass(frozen=True, kw_only=True)
class GeoInfo:
    """GeoTIFF georeferencing of the full-resolution image."""

    transform: tuple[float, float, float, float, float, float] | None
    """Affine (a, b, c, d, e, f) in rasterio order: x = a*col + b*row + c; y = d*col + e*row + f.

    Always for the pixel *corner* convention (PixelIsArea): PixelIsPoint files are shifted by
    half a pixel exactly as GDAL does, unless GTIFF_POINT_GEO_IGNORE semantics are wanted.
    """
    raster_type: int
    """GTRasterTypeGeoKey: 1 PixelIsArea (default), 2 PixelIsPoint."""
    crs_epsg: int | None
    """EPSG code when the GeoKeys name one (projected or geographic)."""
    crs_wkt: str | None
    """WKT2 of the CRS; set for every georeferenced file, user-defined CRSs included."""
    crs_projjson: str | None = None
    """PROJJSON of the CRS, for CRSs that have no EPSG code."""


@dataclass(frozen=True, kw_only=True)
class TiffHeader:
    """A parsed TIFF/GeoTIFF header: every IFD plus georeferencing and file metadata."""

    byte_order: str
    """``"<"`` little-endian (II) or ``">"`` big-endian (MM)."""
    bigtiff: bool
    """True for BigTIFF (version 43)."""
    ifds: tuple[IfdLayout, ...]
    """All IFDs in file order: full resolution, overviews, masks."""
    geo: GeoInfo | None
    """Georeferencing, None for a plain (non-geo) TIFF."""
    nodata: float | None
    """GDAL_NODATA (tag 42113) parsed as a number; NaN allowed."""
    scales: tuple[float, ...] | None = None
    """Per-sample scale from GDAL_METADATA, None when absent."""
    offsets: tuple[float, ...] | None = None
    """Per-sample offset from GDAL_METADATA, None when absent."""
    gdal_metadata: str | None = None
    """Raw GDAL_METADATA XML (tag 42112), kept for callers that need more."""
    header_size: int
    """Bytes from the start of the file needed to parse every IFD and its arrays."""
    file_size: int | None = None
    """Object size in bytes when the storage reported it."""
    etag: str | None = None
    """Object ETag when the storage reported it (guards against stale layouts)."""
    last_modified: str | None = None
    """Object Last-Modified (ISO 8601) when the storage reported it."""

    @property
    def full(self) -> IfdLayout:
        """The full-resolution image IFD."""
        for ifd in self.ifds:
            if ifd.kind is IfdKind.FULL:
                return ifd
        raise LookupError("TIFF has no full-resolution IFD")

    @property
    def overviews(self) -> tuple[IfdLayout, ...]:
        """Overview IFDs, finest first."""
        return tuple(i for i in self.ifds if i.kind is IfdKind.OVERVIEW)

    @property
    def masks(self) -> tuple[IfdLayout, ...]:
        """Mask IFDs (full resolution first)."""
        return tuple(i for i in self.ifds if i.kind in (IfdKind.MASK, IfdKind.OVERVIEW_MASK))
