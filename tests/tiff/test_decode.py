"""decode_tile on synthetic blocks: predictors, byte order, bits, and hostile input.

The GDAL comparison lives in test_decode_matrix.py; here the blocks are built by hand so
that each rule (predictor on values not bytes, 1-bit padding, bounded output) is pinned
down on its own, and so that corrupt, truncated and bomb-like blocks can be fed in.
"""

from __future__ import annotations

import lzma
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import numpy.typing as npt
import pytest
import rasterio
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasteret.errors import InvalidInputError, TiffFormatError, UnsupportedTiffError
from rasteret.tiff import IfdKind, IfdLayout, TiffHeader, parse_tiff_header
from rasteret.tiff.decode import decode_tile, expected_tile_nbytes

SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}


def layout(
    *,
    dtype: str = "uint16",
    width: int = 64,
    height: int = 32,
    tile_width: int = 64,
    tile_height: int = 32,
    samples: int = 1,
    compression: int = 8,
    predictor: int = 1,
    planar: int = 1,
    photometric: int = 1,
    bits: int | None = None,
    **extra: Any,
) -> IfdLayout:
    """A one-block IfdLayout with the fields decode_tile reads."""
    np_dtype = np.dtype(dtype)
    return IfdLayout(
        ifd_index=0,
        kind=IfdKind.FULL,
        width=width,
        height=height,
        tile_width=tile_width,
        tile_height=tile_height,
        tiled=True,
        samples_per_pixel=samples,
        bits_per_sample=bits if bits is not None else np_dtype.itemsize * 8,
        sample_format=SAMPLE_FORMAT[np_dtype.kind],
        dtype=np_dtype.name,
        compression=compression,
        predictor=predictor,
        planar_config=planar,
        photometric=photometric,
        subfile_type=0,
        tiles_across=-(-width // tile_width),
        tiles_down=-(-height // tile_height),
        tile_offsets=np.zeros(1, dtype=np.uint64),
        tile_byte_counts=np.zeros(1, dtype=np.uint64),
        **extra,
    )


def values(dtype: str, shape: tuple[int, ...], seed: int = 0) -> npt.NDArray[Any]:
    """Random samples spanning the whole range of ``dtype`` (NaN and inf for floats)."""
    rng = np.random.default_rng(seed)
    np_dtype = np.dtype(dtype)
    if np_dtype.kind == "f":
        arr = rng.normal(0, 1e3, size=shape).astype(np_dtype)
        arr.flat[:3] = [np.nan, np.inf, -0.0]
        return arr
    info = np.iinfo(np_dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=np_dtype, endpoint=True)


def in_file_order(arr: npt.NDArray[Any], byte_order: str) -> bytes:
    """The bytes of ``arr`` as a file of ``byte_order`` stores them."""
    return arr.astype(arr.dtype.newbyteorder(byte_order)).tobytes()


# ------------------------------------------------------------------- predictors


ALL_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64")


@pytest.mark.parametrize("byte_order", ["<", ">"])
@pytest.mark.parametrize("samples", [1, 3])
@pytest.mark.parametrize("dtype", [*ALL_DTYPES, "float32", "float64"])
def test_horizontal_predictor_runs_on_values(dtype: str, samples: int, byte_order: str) -> None:
    """Predictor 2: per-sample integer differences of the values, stored in file order."""
    arr = values(dtype, (32, 64, samples))
    ints = arr.view(f"u{arr.dtype.itemsize}") if arr.dtype.kind == "f" else arr
    diffs = imagecodecs.delta_encode(ints, axis=-2).view(arr.dtype)
    block = zlib.compress(in_file_order(diffs, byte_order))
    ifd = layout(dtype=dtype, samples=samples, predictor=2)
    got = decode_tile(block, ifd, byte_order=byte_order)
    assert got.dtype == arr.dtype
    assert got.dtype.isnative
    assert got.flags.writeable
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("samples", [1, 4])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_predictor_ignores_file_byte_order(dtype: str, samples: int) -> None:
    """Predictor 3 stores big-endian byte planes in files of either byte order."""
    arr = values(dtype, (32, 64, samples))
    block = zlib.compress(imagecodecs.floatpred_encode(arr, axis=-2).tobytes())
    ifd = layout(dtype=dtype, samples=samples, predictor=3)
    for byte_order in "<>":
        np.testing.assert_array_equal(decode_tile(block, ifd, byte_order=byte_order), arr)


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_lzma_with_predictor(byte_order: str) -> None:
    """libtiff wires the predictor into LZMA too, although GDAL does not write it."""
    arr = values("int32", (32, 64, 2))
    diffs = imagecodecs.delta_encode(arr, axis=-2)
    block = lzma.compress(in_file_order(diffs, byte_order))
    ifd = layout(dtype="int32", samples=2, compression=34925, predictor=2)
    np.testing.assert_array_equal(decode_tile(block, ifd, byte_order=byte_order), arr)


@pytest.mark.parametrize("compression", [1, 32773])
def test_predictor_tag_is_ignored_where_libtiff_ignores_it(compression: int) -> None:
    """No predictor for uncompressed and PackBits blocks, exactly like libtiff."""
    arr = values("uint16", (32, 64, 1))
    raw = in_file_order(arr, ">")
    block = raw if compression == 1 else imagecodecs.packbits_encode(raw)
    ifd = layout(compression=compression, predictor=2)
    np.testing.assert_array_equal(decode_tile(block, ifd, byte_order=">"), arr)


def test_float_predictor_on_integers_is_a_format_error() -> None:
    ifd = layout(dtype="uint16", predictor=3)
    with pytest.raises(TiffFormatError, match="floating-point predictor"):
        decode_tile(zlib.compress(bytes(64 * 32 * 2)), ifd, byte_order="<")


def test_unknown_predictor_is_unsupported() -> None:
    ifd = layout(predictor=34892)
    with pytest.raises(UnsupportedTiffError, match="34892"):
        decode_tile(zlib.compress(bytes(64 * 32 * 2)), ifd, byte_order="<")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from([*ALL_DTYPES, "float32", "float64"]),
    rows=st.integers(1, 9),
    cols=st.integers(1, 17),
    samples=st.integers(1, 5),
    byte_order=st.sampled_from("<>"),
    seed=st.integers(0, 2**16),
)
def test_predictor_round_trip_any_shape(
    dtype: str, rows: int, cols: int, samples: int, byte_order: str, seed: int
) -> None:
    """Odd sizes (1 column, 1 row, 5 samples) decode like the regular ones."""
    arr = values(dtype, (rows, cols, samples), seed)
    is_float = arr.dtype.kind == "f"
    if is_float and seed % 2:
        predictor, raw = 3, imagecodecs.floatpred_encode(arr, axis=-2).tobytes()
    else:
        ints = arr.view(f"u{arr.dtype.itemsize}") if is_float else arr
        predictor = 2
        raw = in_file_order(imagecodecs.delta_encode(ints, axis=-2).view(arr.dtype), byte_order)
    ifd = layout(
        dtype=dtype,
        width=cols,
        height=rows,
        tile_width=cols,
        tile_height=rows,
        samples=samples,
        compression=50000,
        predictor=predictor,
    )
    got = decode_tile(imagecodecs.zstd_encode(raw), ifd, byte_order=byte_order)
    np.testing.assert_array_equal(got, arr)


# ------------------------------------------------------------------- layout


def test_planar_block_has_one_sample() -> None:
    arr = values("int16", (32, 64, 1))
    ifd = layout(dtype="int16", samples=3, planar=2, compression=1)
    got = decode_tile(in_file_order(arr, "<"), ifd, byte_order="<")
    assert got.shape == (32, 64, 1)
    np.testing.assert_array_equal(got, arr)


def test_short_last_strip() -> None:
    """The caller passes the rows a short strip holds; the codec must produce just those."""
    arr = values("uint16", (5, 64, 2))
    ifd = layout(samples=2, height=37, tile_height=32, predictor=2)
    block = zlib.compress(in_file_order(imagecodecs.delta_encode(arr, axis=-2), "<"))
    got = decode_tile(block, ifd, byte_order="<", rows=5)
    assert got.shape == (5, 64, 2)
    np.testing.assert_array_equal(got, arr)
    with pytest.raises(TiffFormatError, match="decodes to"):
        decode_tile(block, ifd, byte_order="<")  # a full strip was expected


def test_uncompressed_tolerates_trailing_bytes_but_not_missing_ones() -> None:
    arr = values("float32", (32, 64, 1))
    raw = in_file_order(arr, ">")
    ifd = layout(dtype="float32", compression=1)
    np.testing.assert_array_equal(decode_tile(raw + b"\0" * 7, ifd, byte_order=">"), arr)
    with pytest.raises(TiffFormatError, match="source-x"):
        decode_tile(raw[:-1], ifd, byte_order=">", source="source-x")


def test_memoryview_and_bytearray_input() -> None:
    arr = values("uint32", (32, 64, 1))
    block = zlib.compress(arr.tobytes())
    ifd = layout(dtype="uint32")
    padded = bytearray(b"xx" + block + b"yy")
    np.testing.assert_array_equal(decode_tile(memoryview(padded)[2:-2], ifd, byte_order="<"), arr)
    np.testing.assert_array_equal(decode_tile(bytearray(block), ifd, byte_order="<"), arr)
    typed = memoryview(arr.view(np.uint16).reshape(32, 128))  # a 2-D, 2-byte-item view
    got = decode_tile(typed, layout(dtype="uint32", compression=1), byte_order="<")
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize(("photometric", "on"), [(4, 255), (1, 1), (0, 1)])
def test_one_bit_samples(photometric: int, on: int) -> None:
    """Bits are MSB first with rows padded to bytes; masks read 0/255, images 0/1."""
    bits = np.random.default_rng(3).integers(0, 2, size=(32, 61), dtype=np.uint8)
    packed = np.packbits(bits, axis=1)  # 61 columns -> 8 bytes per row
    ifd = layout(dtype="uint8", bits=1, width=61, tile_width=61, photometric=photometric)
    assert expected_tile_nbytes(ifd) == 32 * 8
    got = decode_tile(zlib.compress(packed.tobytes()), ifd, byte_order=">")
    assert got.shape == (32, 61, 1)
    np.testing.assert_array_equal(got[..., 0], bits * on)


def test_expected_tile_nbytes() -> None:
    assert expected_tile_nbytes(layout(dtype="float64", samples=3)) == 32 * 64 * 3 * 8
    assert expected_tile_nbytes(layout(dtype="float64", samples=3, planar=2)) == 32 * 64 * 8
    assert expected_tile_nbytes(layout(dtype="int8"), rows=7) == 7 * 64


# ------------------------------------------------------------------- refusals


def test_empty_block_is_a_format_error() -> None:
    with pytest.raises(TiffFormatError, match="empty"):
        decode_tile(b"", layout(), byte_order="<")


@pytest.mark.parametrize("compression", [99999, 34712, 2, 4])
def test_unknown_compression_names_the_value(compression: int) -> None:
    with pytest.raises(UnsupportedTiffError, match=rf"s3://b/k\.tif.*Compression {compression}"):
        decode_tile(b"x", layout(compression=compression), byte_order="<", source="s3://b/k.tif")


def test_old_jpeg_is_unsupported_by_name() -> None:
    with pytest.raises(UnsupportedTiffError, match="old-style JPEG"):
        decode_tile(b"x", layout(compression=6), byte_order="<")


@pytest.mark.parametrize(("name", "value"), [("rows", 0), ("rows", 33), ("byte_order", "=")])
def test_bad_arguments(name: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"byte_order": "<", name: value}
    with pytest.raises(InvalidInputError, match=name):
        decode_tile(b"x", layout(), **kwargs)


# ------------------------------------------------------------------- corrupt blocks of real files

HOSTILE_CODECS: dict[str, dict[str, Any]] = {
    "none": {"compress": None},
    "lzw": {"compress": "lzw", "predictor": 2},
    "deflate": {"compress": "deflate", "predictor": 2},
    "zstd": {"compress": "zstd"},
    "lzma": {"compress": "lzma"},
    "packbits": {"compress": "packbits"},
    "lerc": {"compress": "lerc", "dtype": "float32"},
    "lerc_deflate": {"compress": "lerc_deflate"},
    "lerc_zstd": {"compress": "lerc_zstd"},
    "jpeg": {"compress": "jpeg", "dtype": "uint8", "count": 3, "nodata": None},
    "webp": {"compress": "webp", "dtype": "uint8", "count": 3, "nodata": None},
}


RealBlock = tuple[bytes, IfdLayout, str]
"""(first block, its IFD, the file's byte order)."""


@pytest.fixture(scope="module")
def real_block(make_cog: Any) -> Any:
    """Return a function giving the first block of a small GDAL-written file per codec."""
    cache: dict[str, RealBlock] = {}

    def get(name: str) -> RealBlock:
        if name in cache:
            return cache[name]
        args = {"width": 256, "height": 256, "blocksize": 256, "overview_levels": ()}
        args.update(HOSTILE_CODECS[name])
        path: Path = make_cog(f"hostile-{name}", **args)
        buf = path.read_bytes()
        header: TiffHeader = parse_tiff_header(buf)
        ifd = header.full
        start, count = int(ifd.tile_offsets[0]), int(ifd.tile_byte_counts[0])
        block = buf[start : start + count]
        with rasterio.open(path) as src:  # the intact block decodes like GDAL (sanity)
            want = src.read().transpose(1, 2, 0)
        got = decode_tile(block, ifd, byte_order=header.byte_order)
        tol = 32 if name == "jpeg" else 0
        np.testing.assert_allclose(got.astype(float), want.astype(float), atol=tol, rtol=0)
        cache[name] = (block, ifd, header.byte_order)
        return cache[name]

    return get


@pytest.mark.parametrize("cut", ["half", "minus_one", "first_byte"])
@pytest.mark.parametrize("name", list(HOSTILE_CODECS))
def test_truncated_block_is_a_format_error(real_block: Any, name: str, cut: str) -> None:
    """A short block raises, unless all its pixels survived the cut.

    LZW and LZMA blocks that lose only their last byte (the end code, the xz footer)
    may still hold every pixel; if those decode, they must decode to the right pixels.
    """
    block, ifd, byte_order = real_block(name)
    short = {"half": block[: len(block) // 2], "minus_one": block[:-1], "first_byte": block[:1]}
    if cut == "minus_one" and name in ("lzw", "lzma"):
        intact = decode_tile(block, ifd, byte_order=byte_order)
        try:
            got = decode_tile(short[cut], ifd, byte_order=byte_order)
        except TiffFormatError:
            return
        np.testing.assert_array_equal(got, intact)
        return
    with pytest.raises(TiffFormatError, match="the-source"):
        decode_tile(short[cut], ifd, byte_order=byte_order, source="the-source")


@pytest.mark.parametrize("name", [n for n in HOSTILE_CODECS if n != "none"])
def test_garbage_block_is_a_format_error(real_block: Any, name: str) -> None:
    """Random bytes of the block's length (any such bytes are valid uncompressed pixels)."""
    block, ifd, byte_order = real_block(name)
    garbage = np.random.default_rng(7).integers(0, 256, len(block), dtype=np.uint8).tobytes()
    with pytest.raises(TiffFormatError):
        decode_tile(garbage, ifd, byte_order=byte_order)


@pytest.mark.parametrize("name", ["deflate", "lerc", "lerc_deflate"])
def test_checksummed_codecs_catch_a_flipped_byte(real_block: Any, name: str) -> None:
    """Codecs that carry a checksum (Adler-32, LERC's) detect damage inside the stream.

    The others (LZW, PackBits, ZSTD frames as libtiff writes them, JPEG, lossy WebP)
    have no checksum: a flipped byte there decodes to wrong pixels, in GDAL as here.
    """
    block, ifd, byte_order = real_block(name)
    middle = len(block) // 2
    damaged = block[:middle] + bytes([block[middle] ^ 0x5A]) + block[middle + 1 :]
    with pytest.raises(TiffFormatError):
        decode_tile(damaged, ifd, byte_order=byte_order)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    compression=st.sampled_from([5, 7, 8, 32773, 34887, 34925, 50000, 50001]),
    lerc_extra=st.sampled_from([0, 1, 2]),
    data=st.binary(min_size=1, max_size=512),
)
def test_fuzzed_bytes_only_raise_format_errors(
    compression: int, lerc_extra: int, data: bytes
) -> None:
    """Arbitrary bytes under any codec: a TiffFormatError or a correct-size array."""
    samples = 3 if compression in (7, 50001) else 1
    ifd = layout(
        dtype="uint8",
        width=16,
        height=16,
        tile_width=16,
        tile_height=16,
        samples=samples,
        compression=compression,
        predictor=2 if compression in (5, 8, 34925, 50000) else 1,
        lerc_parameters=(4, lerc_extra),
    )
    try:
        got = decode_tile(data, ifd, byte_order="<")
    except TiffFormatError:
        return
    assert got.shape == (16, 16, samples)


# ------------------------------------------------------------------- bombs

TILE = 256
"""Bombs are presented as one 256 x 256 uint16 tile (128 KiB)."""


def _bomb_ifd(compression: int, **extra: Any) -> IfdLayout:
    return layout(
        dtype="uint16",
        width=TILE,
        height=TILE,
        tile_width=TILE,
        tile_height=TILE,
        compression=compression,
        **extra,
    )


def _zlib_zeros(nbytes: int) -> bytes:
    """A zlib stream of ``nbytes`` zeros, built without holding them all in memory."""
    comp = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [comp.compress(chunk) for _ in range(nbytes >> 20)]
    return b"".join([*parts, comp.flush()])


def _bombs() -> dict[str, tuple[bytes, IfdLayout]]:
    """Name -> (tiny stream that inflates far beyond the tile, the tile's IFD)."""
    deflated = _zlib_zeros(100 << 20)
    zstd = imagecodecs.zstd_encode(bytes(100 << 20))
    return {
        "deflate-100MB": (deflated, _bomb_ifd(8)),
        "zstd-100MB": (zstd, _bomb_ifd(50000)),
        "lzma-100MB": (lzma.compress(bytes(100 << 20), preset=0), _bomb_ifd(34925)),
        "lzw-4MB": (imagecodecs.lzw_encode(bytes(4 << 20)), _bomb_ifd(5)),
        # PackBits tops out at 64:1 (a 2-byte run of 128 bytes)
        "packbits-8MB": (b"\x81\x00" * ((8 << 20) // 128), _bomb_ifd(32773)),
        "lerc_deflate-100MB": (deflated, _bomb_ifd(34887, lerc_parameters=(4, 1))),
        "lerc_zstd-100MB": (zstd, _bomb_ifd(34887, lerc_parameters=(4, 2))),
    }


@pytest.fixture(scope="module")
def bombs() -> dict[str, tuple[bytes, IfdLayout]]:
    return _bombs()


@pytest.mark.parametrize(
    "name",
    [
        "deflate-100MB",
        "zstd-100MB",
        "lzma-100MB",
        "lzw-4MB",
        "packbits-8MB",
        "lerc_deflate-100MB",
        "lerc_zstd-100MB",
    ],
)
def test_decompression_bomb_is_bounded(
    bombs: dict[str, tuple[bytes, IfdLayout]], name: str
) -> None:
    """The bomb is refused and costs at most a few tiles of memory, never its 100 MB."""
    data, ifd = bombs[name]
    assert len(data) < 1 << 20
    tile_bytes = expected_tile_nbytes(ifd)
    tracemalloc.start()
    try:
        with pytest.raises(TiffFormatError):
            decode_tile(data, ifd, byte_order="<", source=name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * tile_bytes + (256 << 10), f"{name} allocated {peak} bytes"


@pytest.mark.parametrize("codec", ["jpeg", "webp", "lerc"])
def test_image_claiming_huge_size_is_refused_before_allocating(codec: str) -> None:
    """An image codec's embedded size must match the tile: no 65000 x 65000 allocation."""
    small = np.zeros((16, 16, 3), dtype=np.uint8)
    if codec == "jpeg":
        data = bytearray(imagecodecs.jpeg8_encode(small))
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = (65000).to_bytes(2, "big") * 2  # height, width
        ifd = layout(dtype="uint8", samples=3, compression=7, photometric=2)
    elif codec == "webp":
        data = bytearray(imagecodecs.webp_encode(np.zeros((4000, 4000, 3), dtype=np.uint8)))
        ifd = layout(dtype="uint8", samples=3, compression=50001, photometric=2)
    else:
        data = bytearray(imagecodecs.lerc_encode(np.zeros((4000, 4000), dtype=np.float32)))
        ifd = layout(dtype="float32", compression=34887, lerc_parameters=(4, 0))
    tracemalloc.start()
    try:
        with pytest.raises(TiffFormatError):
            decode_tile(bytes(data), ifd, byte_order="<")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * expected_tile_nbytes(ifd) + (256 << 10) + len(data)


# ------------------------------------------------------------------- other writers


TIFFFILE_CASES: dict[str, dict[str, Any]] = {
    "lzma-u16-pred2": {"dtype": "uint16", "compression": "lzma", "predictor": 2},
    "lzma-f32-pred3": {"dtype": "float32", "compression": "lzma", "predictor": 3},
    "be-lzma-i32-3band-pred2": {
        "dtype": "int32",
        "samples": 3,
        "compression": "lzma",
        "predictor": 2,
        "byteorder": ">",
    },
    "be-lzma-f64-pred3": {
        "dtype": "float64",
        "compression": "lzma",
        "predictor": 3,
        "byteorder": ">",
    },
}


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("name", list(TIFFFILE_CASES))
def test_tifffile_written_lzma_predictor_matches_gdal(tmp_path: Path, name: str) -> None:
    """LZMA + predictor, which GDAL reads but does not write, written by tifffile."""
    opts = dict(TIFFFILE_CASES[name])
    samples = opts.pop("samples", 1)
    dtype = opts.pop("dtype")
    data = values(dtype, (200, 300, samples))
    if data.dtype.kind == "f":
        data[~np.isfinite(data)] = 0.0  # keep the comparison about the predictor
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(
        path,
        data if samples > 1 else data[..., 0],
        tile=(128, 128),
        photometric="minisblack",
        planarconfig="contig",
        **opts,
    )
    buf = path.read_bytes()
    header = parse_tiff_header(buf)
    ifd = header.full
    assert ifd.predictor == opts["predictor"]
    out = np.zeros((256, 384, samples), dtype=dtype)
    for index, (start, count) in enumerate(
        zip(ifd.tile_offsets, ifd.tile_byte_counts, strict=True)
    ):
        row, col = divmod(index, ifd.tiles_across)
        block = buf[int(start) : int(start) + int(count)]
        out[row * 128 : (row + 1) * 128, col * 128 : (col + 1) * 128] = decode_tile(
            block, ifd, byte_order=header.byte_order
        )
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(out[:200, :300].transpose(2, 0, 1), src.read())
