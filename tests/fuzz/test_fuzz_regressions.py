"""Inputs the fuzzer found that broke the rules once; each must now be refused cleanly."""

from __future__ import annotations

import struct
import subprocess
import sys
import tracemalloc
import zlib
from dataclasses import replace

import fuzz_seeds
import fuzz_targets
import imagecodecs
import numpy as np
import pytest

from rasteret.errors import TiffFormatError, UnsupportedTiffError
from rasteret.tiff import decode_tile, parse_tiff_header
from rasteret.tiff.limits import MAX_BLOCK_BYTES
from rasteret.tiff.lzw_check import check_lzw_stream

LZW_CRASHES = (
    "01000000" + "0f8f0000805d205037",  # new-style: Clear, then code 372 with no table
    "01012b1f41239a01" + "002b1f41239a0100",  # old-style (LSB-first) streams
    "1501000f06001501" + "000f060015321532",
    "292929a932292901" + "000f0f0000a9320000800020323211",
)
"""Decode inputs (8-byte layout prefix + LZW stream) that segfaulted imagecodecs 2026.3."""


def test_huge_declared_tile_is_refused_by_the_parser() -> None:
    data = fuzz_seeds.hostile_headers()["huge_tile_bomb"]
    with pytest.raises(UnsupportedTiffError, match=r"60000 x 60000 blocks of 3600000000 bytes"):
        parse_tiff_header(data, source="huge.tif")


def test_huge_tile_layout_is_refused_by_the_decoder_before_allocating() -> None:
    ifd, _, _, _ = fuzz_targets.decode_case(fuzz_seeds.decode_seeds(bomb_bytes=1024)["none_u8"])
    huge = replace(
        ifd, compression=8, tile_width=60000, tile_height=60000, width=60000, height=60000
    )
    bomb = zlib.compress(bytes(1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(UnsupportedTiffError, match=str(MAX_BLOCK_BYTES)):
            decode_tile(bomb, huge, byte_order="<", source="huge")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


def test_lzw_streams_that_crashed_imagecodecs_are_refused() -> None:
    # Run in a child: before the fix these inputs killed the interpreter (SIGSEGV), some
    # only after a few thousand other inputs had shaped the heap, so each runs 200 times.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import fuzz_targets as f\n"
        "from rasteret.errors import TiffFormatError\n"
        "for h in sys.argv[2:]:\n"
        "    for _ in range(200):\n"
        "        try:\n            f.decode_target(bytes.fromhex(h), f.Allowance())\n"
        "        except TiffFormatError as e:\n            msg = str(e)\n"
        "    print('refused:', msg)\n"
    )
    folder = str(fuzz_targets.__file__).rsplit("/", 1)[0]
    proc = subprocess.run(
        [sys.executable, "-c", code, folder, *LZW_CRASHES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(LZW_CRASHES)
    assert "names a table entry that does not exist" in lines[0]
    assert all("old-style LZW" in line for line in lines[1:])


def _nine_bit_codes(codes: list[int]) -> bytes:
    """Pack a few codes MSB-first at 9 bits (the width of the first 253 codes)."""
    bits = "".join(format(c, "09b") for c in codes)
    bits += "1" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


@pytest.mark.parametrize(
    "stream",
    [
        b"\x80] P7\xff\xff",  # Clear, then code 372 with no table yet
        _nine_bit_codes([256, 65, 300, 257]),  # Clear, literal, then 300 > next entry 258
    ],
)
def test_lzw_check_refuses_undefined_codes(stream: bytes) -> None:
    with pytest.raises(TiffFormatError, match="does not exist"):
        check_lzw_stream(stream)


@pytest.mark.parametrize("kind", ["random", "zeros", "ramp", "tiny"])
def test_lzw_check_accepts_what_encoders_write(kind: str) -> None:
    rng = np.random.default_rng(3)
    raw = {
        "random": rng.integers(0, 256, 300_000, dtype=np.uint8),
        "zeros": np.zeros(2_000_000, dtype=np.uint8),
        "ramp": (np.arange(400_000) // 5 % 256).astype(np.uint8),
        "tiny": np.array([7], dtype=np.uint8),
    }[kind].tobytes()
    stream = imagecodecs.lzw_encode(raw)
    check_lzw_stream(stream + b"\xff\xff")  # many Clears, table full, EOI
    assert bytes(imagecodecs.lzw_decode(stream)) == raw


def test_truncated_header_of_huge_count_stays_small() -> None:
    data = bytearray(fuzz_seeds.hostile_headers()["huge_offsets_count"])
    struct.pack_into("<I", data, 4, 8)
    with pytest.raises(TiffFormatError):
        parse_tiff_header(bytes(data), file_size=len(data))
