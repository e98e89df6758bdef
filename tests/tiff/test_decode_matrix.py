"""decode_tile agrees with GDAL on every block of real GDAL-written files.

Each case is written once per session by the COG factory (300 x 200 with 128-pixel tiles
unless it says otherwise, so edge tiles are partial). Every block of the full-resolution
IFD, of the first overview and of the mask is decoded, the blocks are assembled, cropped
to the image and compared with rasterio: exactly (NaN-aware) for lossless codecs, within
a stated tolerance for lossy ones.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio

from rasteret.tiff import IfdLayout, TiffHeader, parse_tiff_header
from rasteret.tiff.decode import decode_tile

NAN = math.nan

JPEG_TOLERANCE = 32
"""Max |difference| allowed for YCbCr JPEG (the mean difference must also stay below 1).

GDAL in the rasterio wheel links IJG libjpeg 9 while imagecodecs uses libjpeg-turbo; they
upsample the 2x2-subsampled chroma differently, so RGB values differ by a few levels on a
quarter of the pixels (mean ~0.4) and by up to ~30 next to sharp edges such as the nodata
wedge. Grey, RGB and planar JPEG (no colour conversion), and lossy WebP, match exactly.
"""

CODE = {
    None: 1,
    "lzw": 5,
    "jpeg": 7,
    "deflate": 8,
    "packbits": 32773,
    "lerc": 34887,
    "lerc_deflate": 34887,
    "lerc_zstd": 34887,
    "lzma": 34925,
    "zstd": 50000,
    "webp": 50001,
}
"""GDAL COMPRESS name -> the Compression tag value the file must carry."""

LERC_EXTRA = {"lerc": 0, "lerc_deflate": 1, "lerc_zstd": 2}
"""GDAL COMPRESS name -> LercParameters additional compression."""

INT_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64")
FLOAT_DTYPES = ("float32", "float64")


def _case(compress: str | None, dtype: str, **kw: Any) -> dict[str, Any]:
    """write_cog arguments for one case, with the small defaults of this module."""
    args: dict[str, Any] = {
        "width": 300,
        "height": 200,
        "blocksize": 128,
        "compress": compress,
        "dtype": dtype,
        "overview_levels": (2,),
    }
    args.update(kw)
    return args


CASES: dict[str, tuple[dict[str, Any], float]] = {}
"""Case id -> (write_cog arguments, tolerance; 0 means bit-exact)."""

# every lossless stream codec x every dtype, no predictor
for _codec in (None, "lzw", "deflate", "zstd", "lzma", "packbits"):
    for _dt in INT_DTYPES + FLOAT_DTYPES:
        CASES[f"{_codec or 'none'}-{_dt}"] = (_case(_codec, _dt), 0)
# horizontal differencing: all integer widths, and floats (GDAL writes them)
for _codec in ("lzw", "deflate", "zstd"):  # GDAL writes no predictor with LZMA
    for _dt in INT_DTYPES + FLOAT_DTYPES:
        CASES[f"{_codec}-{_dt}-pred2"] = (_case(_codec, _dt, predictor=2), 0)
    for _dt in FLOAT_DTYPES:
        CASES[f"{_codec}-{_dt}-pred3"] = (_case(_codec, _dt, predictor=3), 0)
CASES.update(
    {
        "deflate-f32-pred3-nan": (_case("deflate", "float32", predictor=3, nodata=NAN), 0),
        # LERC (lossless by default), its deflate/zstd wrappers, lossy and NaN masks
        "lerc-u8": (_case("lerc", "uint8"), 0),
        "lerc-i16": (_case("lerc", "int16", nodata=-9999), 0),
        "lerc-u16": (_case("lerc", "uint16"), 0),
        "lerc-f32": (_case("lerc", "float32"), 0),
        "lerc-f64": (_case("lerc", "float64"), 0),
        "lerc-f32-nan": (_case("lerc", "float32", nodata=NAN), 0),
        "lerc-u16-3band": (_case("lerc", "uint16", count=3), 0),
        "lerc-f32-band": (_case("lerc", "float32", count=2, interleave="band"), 0),
        "lerc-f32-maxz": (
            _case("lerc", "float32", extra_creation_options={"MAX_Z_ERROR": "0.01"}),
            0.01,
        ),
        "lerc_deflate-u16": (_case("lerc_deflate", "uint16"), 0),
        "lerc_deflate-f32-nan": (_case("lerc_deflate", "float32", nodata=NAN), 0),
        "lerc_zstd-i16": (_case("lerc_zstd", "int16", nodata=-9999), 0),
        "lerc_zstd-f64": (_case("lerc_zstd", "float64"), 0),
        "lerc_zstd-f32-maxz": (
            _case("lerc_zstd", "float32", extra_creation_options={"MAX_Z_ERROR": "0.001"}),
            0.001,
        ),
        # JPEG: grey, YCbCr (GDAL's default for 3 bands), plain RGB, planar
        "jpeg-u8-1band": (_case("jpeg", "uint8", nodata=None), 0),
        "jpeg-u8-ycbcr": (_case("jpeg", "uint8", count=3, nodata=None), JPEG_TOLERANCE),
        "jpeg-u8-rgb": (_case("jpeg", "uint8", count=3, nodata=None, photometric="RGB"), 0),
        "jpeg-u8-band": (_case("jpeg", "uint8", count=3, nodata=None, interleave="band"), 0),
        "jpeg-u8-ycbcr-q95": (
            _case(
                "jpeg",
                "uint8",
                count=3,
                nodata=None,
                extra_creation_options={"QUALITY": "95"},
            ),
            JPEG_TOLERANCE,
        ),
        # WebP: RGB and RGBA, lossless and lossy
        "webp-u8-3band-lossless": (
            _case(
                "webp",
                "uint8",
                count=3,
                nodata=None,
                extra_creation_options={"WEBP_LOSSLESS": "TRUE"},
            ),
            0,
        ),
        "webp-u8-4band-lossless": (
            _case(
                "webp",
                "uint8",
                count=4,
                nodata=None,
                extra_creation_options={"WEBP_LOSSLESS": "TRUE"},
            ),
            0,
        ),
        "webp-u8-3band-lossy": (_case("webp", "uint8", count=3, nodata=None), 0),
        "webp-u8-4band-lossy": (_case("webp", "uint8", count=4, nodata=None), 0),
        # multi-sample chunky and planar
        "deflate-u16-3band-pred2": (_case("deflate", "uint16", count=3, predictor=2), 0),
        "lzw-i16-4band-pred2": (_case("lzw", "int16", count=4, predictor=2), 0),
        "zstd-f32-3band-pred3": (_case("zstd", "float32", count=3, predictor=3), 0),
        "deflate-f64-2band-pred2": (_case("deflate", "float64", count=2, predictor=2), 0),
        "none-u8-band": (_case(None, "uint8", count=3, interleave="band"), 0),
        "deflate-u16-band-pred2": (
            _case("deflate", "uint16", count=3, interleave="band", predictor=2),
            0,
        ),
        "zstd-i32-band": (_case("zstd", "int32", count=2, interleave="band"), 0),
        "lzw-f32-band-pred3": (
            _case("lzw", "float32", count=3, interleave="band", predictor=3),
            0,
        ),
        "packbits-u8-band": (_case("packbits", "uint8", count=3, interleave="band"), 0),
        # big-endian files: the predictor must run on values, not on swapped bytes
        "be-none-u16": (_case(None, "uint16", big_endian=True), 0),
        "be-none-f64": (_case(None, "float64", big_endian=True), 0),
        "be-deflate-u16-pred2": (_case("deflate", "uint16", big_endian=True, predictor=2), 0),
        "be-deflate-i32-3band-pred2": (
            _case("deflate", "int32", count=3, big_endian=True, predictor=2),
            0,
        ),
        "be-lzw-u64-pred2": (_case("lzw", "uint64", big_endian=True, predictor=2), 0),
        "be-zstd-f32-pred2": (_case("zstd", "float32", big_endian=True, predictor=2), 0),
        "be-deflate-f32-pred3": (_case("deflate", "float32", big_endian=True, predictor=3), 0),
        "be-zstd-f64-3band-pred3": (
            _case("zstd", "float64", count=3, big_endian=True, predictor=3),
            0,
        ),
        "be-deflate-i16-band-pred2": (
            _case("deflate", "int16", count=2, big_endian=True, interleave="band", predictor=2),
            0,
        ),
        "be-packbits-i16": (_case("packbits", "int16", big_endian=True), 0),
        "be-lerc-f32": (_case("lerc", "float32", big_endian=True, nodata=NAN), 0),
        "be-jpeg-ycbcr": (
            _case("jpeg", "uint8", count=3, nodata=None, big_endian=True, photometric="YCBCR"),
            JPEG_TOLERANCE,
        ),
        # strips (64 rows per strip: the last of 200 rows holds 8)
        "strip-none-u16": (_case(None, "uint16", tiled=False, blocksize=64), 0),
        "strip-deflate-u16-pred2": (
            _case("deflate", "uint16", tiled=False, blocksize=64, predictor=2),
            0,
        ),
        "strip-lzw-f32-3band-pred3": (
            _case("lzw", "float32", count=3, tiled=False, blocksize=64, predictor=3),
            0,
        ),
        "strip-zstd-i16-band-pred2": (
            _case(
                "zstd", "int16", count=2, tiled=False, blocksize=64, interleave="band", predictor=2
            ),
            0,
        ),
        "strip-be-deflate-i32-pred2": (
            _case("deflate", "int32", tiled=False, blocksize=64, big_endian=True, predictor=2),
            0,
        ),
        "strip-lerc-f32": (_case("lerc", "float32", tiled=False, blocksize=64), 0),
        "strip-jpeg-ycbcr": (
            _case(
                "jpeg",
                "uint8",
                count=3,
                nodata=None,
                tiled=False,
                blocksize=64,
                photometric="YCBCR",
            ),
            JPEG_TOLERANCE,
        ),
        "strip-jpeg-1band": (_case("jpeg", "uint8", nodata=None, tiled=False, blocksize=64), 0),
        "strip-webp-rgba": (
            _case("webp", "uint8", count=4, nodata=None, tiled=False, blocksize=64),
            0,
        ),
        # internal masks (1-bit, deflate) next to various image codecs
        "mask-deflate-u8": (_case("deflate", "uint8", internal_mask=True), 0),
        "mask-deflate-u16-pred2": (_case("deflate", "uint16", predictor=2, internal_mask=True), 0),
        "mask-jpeg-ycbcr": (_case("jpeg", "uint8", count=3, internal_mask=True), JPEG_TOLERANCE),
        "mask-be-f32": (_case("zstd", "float32", internal_mask=True, big_endian=True), 0),
        # a bilevel (NBITS=1) image is 0/1, unlike a mask
        "nbits1-deflate": (
            _case(
                "deflate",
                "uint8",
                nodata=None,
                extra_creation_options={"NBITS": "1"},
                data=(np.indices((200, 300)).sum(axis=0)[None] % 3 == 0).astype("uint8"),
            ),
            0,
        ),
        # other tile sizes, BigTIFF
        "deflate-u16-pred2-512": (
            _case("deflate", "uint16", width=1100, height=600, blocksize=512, predictor=2),
            0,
        ),
        "zstd-f32-pred3-1024": (
            _case("zstd", "float32", width=1300, height=1100, blocksize=1024, predictor=3),
            0,
        ),
        "jpeg-ycbcr-512": (
            _case("jpeg", "uint8", count=3, nodata=None, width=700, height=600, blocksize=512),
            JPEG_TOLERANCE,
        ),
        "bigtiff-lzw-i16-pred2": (_case("lzw", "int16", bigtiff=True, predictor=2), 0),
    }
)


def _read_ifd(buf: bytes, header: TiffHeader, ifd: IfdLayout, name: str) -> npt.NDArray[Any]:
    """Decode every block of ``ifd`` and assemble them as ``[samples, height, width]``."""
    th, tw = ifd.tile_height, ifd.tile_width
    per_plane = ifd.tiles_across * ifd.tiles_down
    planes = ifd.samples_per_pixel if ifd.planar_config == 2 else 1
    out = np.zeros(
        (ifd.tiles_down * th, ifd.tiles_across * tw, ifd.samples_per_pixel), dtype=ifd.dtype
    )
    for plane in range(planes):
        for index in range(per_plane):
            block = plane * per_plane + index
            start = int(ifd.tile_offsets[block])
            count = int(ifd.tile_byte_counts[block])
            assert count > 0, "GDAL wrote a sparse block in a test file"
            row, col = divmod(index, ifd.tiles_across)
            rows = th if ifd.tiled else min(th, ifd.height - row * th)
            tile = decode_tile(
                buf[start : start + count],
                ifd,
                byte_order=header.byte_order,
                rows=rows,
                source=f"{name} block {block}",
            )
            assert tile.dtype == np.dtype(ifd.dtype)
            assert tile.dtype.isnative
            assert tile.shape == (rows, tw, ifd.samples_per_pixel if planes == 1 else 1)
            window = (slice(row * th, row * th + rows), slice(col * tw, (col + 1) * tw))
            if planes == 1:
                out[window] = tile
            else:
                out[(*window, plane)] = tile[..., 0]
    return out[: ifd.height, : ifd.width].transpose(2, 0, 1)


def _compare(name: str, got: npt.NDArray[Any], want: npt.NDArray[Any], tol: float) -> None:
    """Assert equality (NaN-aware), or closeness within ``tol`` for lossy codecs."""
    assert got.shape == want.shape, name
    assert got.dtype == want.dtype, name
    if tol == 0:
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        got64, want64 = got.astype(np.float64), want.astype(np.float64)
        np.testing.assert_allclose(got64, want64, rtol=0, atol=tol, err_msg=name)
        if tol == JPEG_TOLERANCE:
            assert np.nanmean(np.abs(got64 - want64)) < 1.0, name


@pytest.fixture(scope="module")
def cog(make_cog: Any, request: pytest.FixtureRequest) -> tuple[Path, bytes, TiffHeader]:
    """The case's file, its bytes and its parsed header."""
    name: str = request.param
    path: Path = make_cog(f"decode-{name}", **CASES[name][0])
    buf = path.read_bytes()
    return path, buf, parse_tiff_header(buf, source=name)


@pytest.mark.parametrize("cog", list(CASES), indirect=True)
def test_matches_gdal(cog: tuple[Path, bytes, TiffHeader]) -> None:
    path, buf, header = cog
    name = path.stem.removeprefix("decode-")
    args, tol = CASES[name]
    full = header.full
    # the file really exercises what the case claims
    assert full.compression == CODE[args["compress"]]
    if args["compress"] in LERC_EXTRA:
        assert full.lerc_parameters is not None
        assert full.lerc_parameters[1] == LERC_EXTRA[args["compress"]]
    if "predictor" in args:
        assert full.predictor == args["predictor"]
    if args.get("photometric") == "YCBCR" or "ycbcr" in name:
        assert full.photometric == 6
    assert full.planar_config == (2 if args.get("interleave") == "band" else 1)
    assert header.byte_order == (">" if args.get("big_endian") else "<")
    assert full.tiled == args.get("tiled", True)
    if not full.tiled:
        assert full.height % full.tile_height != 0, "the last strip should be short"

    with rasterio.open(path) as src:
        _compare(name, _read_ifd(buf, header, full, name), src.read(), tol)
        if header.masks:
            mask = _read_ifd(buf, header, header.masks[0], name)
            np.testing.assert_array_equal(mask[0], src.read_masks(1), err_msg=f"{name} mask")
        else:
            assert not args.get("internal_mask")
    if header.overviews:
        with rasterio.open(path, overview_level=0) as src:
            got = _read_ifd(buf, header, header.overviews[0], name)
            _compare(f"{name} overview", got, src.read(), tol)


def test_thread_pool_decoding_is_deterministic(make_cog: Any) -> None:
    """Decoding the same tiles on many threads gives the serial result (no shared state)."""
    path: Path = make_cog(
        "decode-threads",
        width=1024,
        height=1024,
        blocksize=256,
        dtype="uint16",
        count=3,
        predictor=2,
        overview_levels=(),
    )
    buf = path.read_bytes()
    header = parse_tiff_header(buf)
    ifd = header.full
    blocks = [
        buf[int(o) : int(o) + int(n)]
        for o, n in zip(ifd.tile_offsets, ifd.tile_byte_counts, strict=True)
    ]

    def one(block: bytes) -> npt.NDArray[Any]:
        return decode_tile(block, ifd, byte_order=header.byte_order)

    serial = [one(b) for b in blocks]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(one, blocks * 4))
    for i, arr in enumerate(threaded):
        np.testing.assert_array_equal(arr, serial[i % len(serial)])
