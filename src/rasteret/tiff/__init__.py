"""Pure TIFF/GeoTIFF parsing: bytes in, header structures out. No I/O here."""

from rasteret.tiff.header import HeaderTruncatedError, parse_tiff_header
from rasteret.tiff.types import GeoInfo, IfdKind, IfdLayout, TiffHeader

__all__ = [
    "GeoInfo",
    "HeaderTruncatedError",
    "IfdKind",
    "IfdLayout",
    "TiffHeader",
    "parse_tiff_header",
]
