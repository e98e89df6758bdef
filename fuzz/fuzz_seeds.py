"""Seed inputs for the fuzz targets: real COGs, hand-made hostile headers, codec bombs.

Mutating real files reaches deep into the parser quickly (every tag a GDAL COG carries is
already there), while the hand-made seeds start the fuzzer next to the known hazards:
IFD loops, absurd counts and block sizes, and compressed streams that expand thousands of
times beyond their block.
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
from fuzz_targets import decode_case, decode_encoded

from rasteret.tiff import IfdLayout
from rasteret_sandbox.cogs import write_cog

SHORT, LONG, LONG8 = 3, 4, 16

COG_VARIANTS: dict[str, dict[str, Any]] = {
    "deflate_u16": {"width": 256, "height": 200, "blocksize": 128},
    "lzw_pred_i16_be_planar": {
        "width": 150,
        "height": 100,
        "count": 2,
        "dtype": "int16",
        "interleave": "band",
        "big_endian": True,
        "compress": "lzw",
        "predictor": 2,
        "blocksize": 64,
        "nodata": -1,
    },
    "zstd_f32_pred3_bigtiff": {
        "width": 128,
        "height": 128,
        "dtype": "float32",
        "compress": "zstd",
        "predictor": 3,
        "bigtiff": True,
        "blocksize": 64,
        "nodata": None,
    },
    "jpeg_rgb_ycbcr": {
        "width": 128,
        "height": 128,
        "dtype": "uint8",
        "count": 3,
        "compress": "jpeg",
        "photometric": "YCBCR",
        "blocksize": 64,
        "nodata": None,
    },
    "lerc_f32": {
        "width": 96,
        "height": 96,
        "dtype": "float32",
        "compress": "lerc_deflate",
        "blocksize": 32,
        "nodata": None,
    },
    "mask_strips_aea": {
        "width": 120,
        "height": 60,
        "tiled": False,
        "blocksize": 8,
        "dtype": "uint8",
        "compress": "packbits",
        "crs": "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +datum=WGS84",
        "scales": [0.5],
        "offsets": [1.0],
    },
    "internal_mask_webp": {
        "width": 128,
        "height": 128,
        "dtype": "uint8",
        "count": 3,
        "compress": "webp",
        "internal_mask": True,
        "blocksize": 64,
        "nodata": None,
    },
}
"""Small COGs written with GDAL (via rasterio) covering codecs, layouts and byte orders."""


def real_cogs(names: list[str] | None = None) -> dict[str, bytes]:
    """Write the COG variants with GDAL and return their complete bytes."""
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="rasteret-fuzz-seeds-") as tmp:
        for name, kwargs in COG_VARIANTS.items():
            if names is not None and name not in names:
                continue
            path = write_cog(Path(tmp) / f"{name}.tif", **kwargs)
            out[name] = path.read_bytes()
    return out


def _classic(entries: list[tuple[int, int, int, int]], *, next_ifd: int = 0) -> bytes:
    """A little-endian classic TIFF with one IFD at offset 8 and 256 spare bytes."""
    out = bytearray(b"II" + struct.pack("<HI", 42, 8))
    out += struct.pack("<H", len(entries))
    for tag, ftype, count, value in entries:
        if ftype == SHORT and count == 1:
            out += struct.pack("<HHIHH", tag, ftype, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, ftype, count, value)
    out += struct.pack("<I", next_ifd)
    return bytes(out + bytes(256))


def _tiled_entries(size: int, tile: int, *, compression: int = 8, data_at: int = 300) -> list[Any]:
    """Entries of a one-tile 8-bit grey image whose tile sits at ``data_at``."""
    return [
        (256, LONG, 1, size),
        (257, LONG, 1, size),
        (258, SHORT, 1, 8),
        (259, SHORT, 1, compression),
        (262, SHORT, 1, 1),
        (277, SHORT, 1, 1),
        (322, LONG, 1, tile),
        (323, LONG, 1, tile),
        (324, LONG, 1, data_at),
        (325, LONG, 1, 0),
    ]


def hostile_headers() -> dict[str, bytes]:
    """Hand-made headers next to known hazards (each a regression for a past or likely bug)."""
    seeds: dict[str, bytes] = {}
    loop = _classic(_tiled_entries(16, 16), next_ifd=8)
    seeds["ifd_loop_self"] = loop
    huge_count = bytearray(_classic(_tiled_entries(16, 16)))
    struct.pack_into("<HHII", huge_count, 10 + 12 * 8, 324, LONG, 0xFFFFFFFF, 64)
    seeds["huge_offsets_count"] = bytes(huge_count)
    # A 60000 x 60000 tile whose deflate stream fills it: gigabytes from a small input
    # before MAX_BLOCK_BYTES existed.
    bomb = zlib.compress(bytes(4 * 1024 * 1024), 9)
    entries = _tiled_entries(60000, 60000)
    entries[-1] = (325, LONG, 1, len(bomb))
    seeds["huge_tile_bomb"] = _classic(entries)[:300].ljust(300, b"\x00") + bomb
    small = _tiled_entries(64, 64)
    small[-1] = (325, LONG, 1, len(bomb))
    seeds["small_tile_bomb"] = _classic(small)[:300].ljust(300, b"\x00") + bomb
    big = bytearray(b"II" + struct.pack("<HHHQ", 43, 8, 0, 16))
    big += struct.pack("<Q", 3)
    for tag, value in ((256, 4), (257, 4), (273, 2**62)):
        big += struct.pack("<HHQQ", tag, LONG8, 1, value)
    big += struct.pack("<Q", 16)  # loops back to the first IFD
    seeds["bigtiff_loop_implausible"] = bytes(big + bytes(64))
    seeds["truncated_magic"] = b"II*\x00"
    return seeds


def _layout(compression: int, dtype: str, bits: int, size: int, samples: int = 1) -> IfdLayout:
    """A decode-target layout (the all-zero prefix's, with the given codec and shape)."""
    return replace(
        decode_case(bytes(8))[0],
        compression=compression,
        dtype=dtype,
        bits_per_sample=bits,
        sample_format=3 if dtype.startswith("float") else 1,
        tile_width=size,
        tile_height=size,
        width=size,
        height=size,
        samples_per_pixel=samples,
        photometric=2 if samples >= 3 else 1,
        predictor=1,
    )


def decode_seeds(*, bomb_bytes: int = 64 * 1024 * 1024) -> dict[str, bytes]:
    """Valid blocks for every codec, and bombs expanding to ``bomb_bytes`` for a 16x16 tile."""
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (32, 32), dtype=np.uint8)
    rgb = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    u16 = rng.integers(0, 4000, (32, 32), dtype=np.uint16)
    f32 = rng.random((32, 32), dtype=np.float32)
    seeds: dict[str, bytes] = {}

    def add(name: str, ifd: IfdLayout, payload: bytes | bytearray) -> None:
        seeds[name] = decode_encoded(ifd, "<", None, bytes(payload))

    add("none_u8", _layout(1, "uint8", 8, 32), grey.tobytes())
    add("deflate_u16", _layout(8, "uint16", 16, 32), zlib.compress(u16.tobytes()))
    add("lzw_u16", _layout(5, "uint16", 16, 32), imagecodecs.lzw_encode(u16.tobytes()))
    add("zstd_f32", _layout(50000, "float32", 32, 32), imagecodecs.zstd_encode(f32.tobytes()))
    add("lzma_u8", _layout(34925, "uint8", 8, 32), imagecodecs.lzma_encode(grey.tobytes()))
    add("packbits_u8", _layout(32773, "uint8", 8, 32), imagecodecs.packbits_encode(grey))
    add("jpeg_rgb", _layout(7, "uint8", 8, 32, 3), imagecodecs.jpeg8_encode(rgb))
    add("webp_rgb", _layout(50001, "uint8", 8, 32, 3), imagecodecs.webp_encode(rgb, lossless=True))
    add("lerc_f32", _layout(34887, "float32", 32, 32), imagecodecs.lerc_encode(f32))
    zeros = bytes(bomb_bytes)
    tiny = 16
    add("bomb_deflate", _layout(8, "uint8", 8, tiny), zlib.compress(zeros, 9))
    add("bomb_zstd", _layout(50000, "uint8", 8, tiny), imagecodecs.zstd_encode(zeros, level=19))
    add("bomb_lzma", _layout(34925, "uint8", 8, tiny), imagecodecs.lzma_encode(zeros))
    add("bomb_lzw", _layout(5, "uint8", 8, tiny), imagecodecs.lzw_encode(zeros[: bomb_bytes // 16]))
    add(
        "bomb_packbits",
        _layout(32773, "uint8", 8, tiny),
        imagecodecs.packbits_encode(np.zeros(bomb_bytes // 64, dtype=np.uint8)),
    )
    return seeds


def header_seeds(*, with_cogs: bool = True, cog_names: list[str] | None = None) -> dict[str, bytes]:
    """Seeds of the header target: real COGs (when rasterio is at hand) and hostile headers."""
    seeds = hostile_headers()
    if with_cogs:
        seeds.update({f"cog_{k}": v for k, v in real_cogs(cog_names).items()})
    return seeds


def write_corpus(folder: Path, seeds: dict[str, bytes]) -> None:
    """Write seeds as one file each (libFuzzer reads a corpus folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (folder / f"seed_{name}").write_bytes(data)
