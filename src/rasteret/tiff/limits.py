"""Bounds the header parser enforces, so hostile bytes cannot make it allocate or loop.

Every count, size and offset read from a file is checked against one of these before it is
used. The values are generous for real Cloud-Optimized GeoTIFFs (a Sentinel-2 band has 4
IFDs, ~30 tags each and 121 tiles at full resolution) and small enough that the worst case
costs megabytes, not gigabytes.

What these bounds guarantee (and ``fuzz/run.py`` checks, see ``docs/SECURITY.md``):

* :func:`~rasteret.tiff.header.parse_tiff_header` only ever asks for, and allocates in
  proportion to, at most :data:`MAX_HEADER_BYTES` of input; in practice its peak Python
  allocation is a small multiple of the prefix it is given.
* :func:`~rasteret.tiff.decode.decode_tile` allocates the declared block (at most
  :data:`MAX_BLOCK_BYTES`) plus a constant, whatever the compressed stream expands to:
  a decompression bomb is refused once it overflows the block, never inflated.
* Both are linear-time in their input: no value read from a file drives a loop that is
  not bounded by one of these limits (IFD chains are cut at :data:`MAX_IFDS` and loops
  are detected).
"""

from __future__ import annotations

MAX_IFDS = 64
"""IFDs followed in one chain. COGs carry one per overview plus masks (rarely above 30)."""

MAX_TAGS_PER_IFD = 512
"""Entries in one IFD. Real files have 15-40; the TIFF spec allows 65535."""

MAX_ARRAY_COUNT = 4 * 1024 * 1024
"""Values in one offsets or byte-counts array: 4M tiles (a 2M x 2M image of 1024 tiles)."""

MAX_SAMPLES_PER_PIXEL = 65535
"""Samples (bands) per pixel; the field is 16 bits wide in TIFF anyway."""

MAX_HEADER_BYTES = 64 * 1024 * 1024
"""Bytes from the start of the file the parser will ask for.

Structures past this point mean the file is not laid out for cloud reading (e.g. IFDs
written at the end of a multi-gigabyte GeoTIFF); the parser refuses rather than download
the file.
"""

MAX_PLAUSIBLE_OFFSET = 1 << 48
"""Largest offset or byte count believed at all (256 TiB, beyond any object store object).

Anything larger is corruption or hostility, reported as a format error.
"""

MAX_ASCII_BYTES = 4 * 1024 * 1024
"""Length of one ASCII value (GDAL_METADATA XML, GeoAsciiParams, GDAL_NODATA)."""

MAX_BYTES_LENGTH = 1024 * 1024
"""Length of one opaque byte value (JPEGTables is a few hundred bytes)."""

MAX_GEO_KEYS = 1024
"""Keys in a GeoKeyDirectory; GeoTIFF defines fewer than 100."""

MAX_GEO_DOUBLES = 65536
"""Values in ModelTiepoint, GeoDoubleParams and similar double arrays."""

MAX_SMALL_ARRAY = 64
"""Values in small fixed-purpose arrays (LercParameters, YCbCrSubSampling, ModelPixelScale)."""

MAX_BLOCK_BYTES = 256 * 1024 * 1024
"""Decoded size of one tile or strip (a 4096 x 4096 tile of four float32 samples).

The decoder allocates one block before decompressing into it, so without this bound a
few bytes of header declaring a 60000 x 60000 tile would make it allocate gigabytes.
COGs use 256-1024 pixel tiles (a few MiB); larger blocks are refused as unsupported,
both when the header is parsed and when a block is decoded.
"""
