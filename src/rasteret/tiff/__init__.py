"""Pure TIFF/GeoTIFF parsing and tile decoding: bytes in, headers and arrays out. No I/O."""

from rasteret.tiff.decode import decode_tile, expected_tile_nbytes, tile_shape
from rasteret.tiff.header import HeaderTruncatedError, parse_tiff_header
from rasteret.tiff.types import GeoInfo, IfdKind, IfdLayout, TiffHeader

__all__ = [
    "GeoInfo",
    "HeaderTruncatedError",
    "IfdKind",
    "IfdLayout",
    "TiffHeader",
    "decode_tile",
    "expected_tile_nbytes",
    "parse_tiff_header",
    "tile_shape",
]
