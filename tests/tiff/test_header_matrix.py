"""The parser agrees with tifffile (layout) and rasterio (georeferencing) on real GDAL files.

Each variant is written once per session by the COG factory, parsed with the speculative
protocol the build stage uses (64 KiB first, grow on HeaderTruncatedError), and compared
IFD by IFD.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import rasterio
import tifffile
from pyproj import CRS

from rasteret.errors import TiffFormatError
from rasteret.tiff import HeaderTruncatedError, IfdKind, TiffHeader, parse_tiff_header

NAN = math.nan
AEA = "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +datum=WGS84 +units=m"

# name -> (write_cog keyword arguments, most grows allowed)
VARIANTS: dict[str, tuple[dict[str, Any], int]] = {
    "u16_deflate_pred2_512": (
        {"width": 1100, "height": 900, "predictor": 2, "blocksize": 512},
        0,
    ),
    "u16_ragged_1024": ({"width": 2100, "height": 1100, "blocksize": 1024}, 0),
    "u8_lzw_256": (
        {"width": 600, "height": 400, "dtype": "uint8", "compress": "lzw", "blocksize": 256},
        0,
    ),
    "i16_zstd_pred2": (
        {
            "width": 700,
            "height": 500,
            "dtype": "int16",
            "compress": "zstd",
            "predictor": 2,
            "nodata": -9999,
            "blocksize": 256,
        },
        0,
    ),
    "u32_deflate": ({"width": 300, "height": 260, "dtype": "uint32", "blocksize": 256}, 0),
    "f32_pred3_nan": (
        {
            "width": 520,
            "height": 300,
            "dtype": "float32",
            "predictor": 3,
            "nodata": NAN,
            "blocksize": 256,
        },
        0,
    ),
    "f64_uncompressed": (
        {
            "width": 300,
            "height": 300,
            "dtype": "float64",
            "compress": None,
            "nodata": -1e30,
            "blocksize": 256,
            "overview_levels": (2,),
        },
        0,
    ),
    "jpeg_ycbcr_rgb": (
        {
            "width": 600,
            "height": 500,
            "dtype": "uint8",
            "count": 3,
            "compress": "jpeg",
            "nodata": None,
            "blocksize": 256,
        },
        0,
    ),
    "lerc_f32": (
        {
            "width": 500,
            "height": 400,
            "dtype": "float32",
            "compress": "lerc",
            "nodata": None,
            "blocksize": 256,
        },
        0,
    ),
    "planar_u16_x3": (
        {"width": 600, "height": 500, "count": 3, "interleave": "band", "blocksize": 256},
        0,
    ),
    "big_endian_i16": (
        {
            "width": 600,
            "height": 500,
            "dtype": "int16",
            "big_endian": True,
            "predictor": 2,
            "nodata": -1,
            "blocksize": 256,
        },
        0,
    ),
    "big_endian_planar_f32": (
        {
            "width": 400,
            "height": 300,
            "dtype": "float32",
            "count": 2,
            "interleave": "band",
            "big_endian": True,
            "predictor": 3,
            "nodata": NAN,
            "blocksize": 256,
        },
        0,
    ),
    "bigtiff_u16": ({"width": 700, "height": 600, "bigtiff": True, "blocksize": 256}, 0),
    "bigtiff_big_endian_x2": (
        {
            "width": 400,
            "height": 300,
            "count": 2,
            "bigtiff": True,
            "big_endian": True,
            "blocksize": 256,
        },
        0,
    ),
    "single_tile": ({"width": 100, "height": 80, "blocksize": 512, "overview_levels": ()}, 0),
    "internal_mask": ({"width": 700, "height": 500, "internal_mask": True, "blocksize": 256}, 0),
    "stripped": ({"width": 700, "height": 500, "tiled": False, "blocksize": 32}, 0),
    "stripped_planar": (
        {
            "width": 300,
            "height": 200,
            "count": 3,
            "tiled": False,
            "interleave": "band",
            "blocksize": 16,
        },
        0,
    ),
    "pixel_is_point": (
        {"width": 200, "height": 200, "tags": {"AREA_OR_POINT": "Point"}, "blocksize": 256},
        0,
    ),
    "int8_nodata_scale": (
        {
            "width": 300,
            "height": 200,
            "dtype": "int8",
            "nodata": -128,
            "scales": [0.5],
            "offsets": [-3.0],
            "blocksize": 256,
        },
        0,
    ),
    "scale_offset_x2": (
        {
            "width": 300,
            "height": 200,
            "count": 2,
            "scales": [0.0001, 0.0002],
            "offsets": [-0.1, 0.0],
            "blocksize": 256,
        },
        0,
    ),
    "rgba_extra_samples": (
        {
            "width": 300,
            "height": 200,
            "dtype": "uint8",
            "count": 4,
            "photometric": "RGB",
            "extra_creation_options": {"ALPHA": "YES"},
            "nodata": None,
            "blocksize": 256,
        },
        0,
    ),
    "user_crs_aea": ({"width": 200, "height": 150, "crs": AEA, "blocksize": 256}, 0),
    "geographic_4326": (
        {
            "width": 360,
            "height": 180,
            "crs": 4326,
            "transform": (1.0, 0.0, -180.0, 0.0, -1.0, 90.0),
            "blocksize": 256,
        },
        0,
    ),
    # 12000 strips of one row: the arrays (96 KB) do not fit the first 64 KiB read.
    "many_strips": (
        {
            "width": 64,
            "height": 12000,
            "dtype": "uint8",
            "tiled": False,
            "blocksize": 1,
            "compress": None,
            "overview_levels": (),
        },
        2,
    ),
}


def _tag(page: Any, code: int, default: Any = None) -> Any:
    tag = page.tags.get(code)
    if tag is None:
        return default
    value = tag.value
    if isinstance(value, tuple) and code in (258, 339):
        return value[0]
    return int(value) if code in (254, 259, 262, 284, 317) else value


def _assert_matches_tifffile(header: TiffHeader, path: Any) -> None:
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        assert header.byte_order == tif.byteorder
        assert header.bigtiff == tif.is_bigtiff
        assert len(header.ifds) == len(pages)
        for i, (ifd, page) in enumerate(zip(header.ifds, pages, strict=True)):
            assert ifd.ifd_index == i
            assert (ifd.width, ifd.height) == (page.imagewidth, page.imagelength)
            assert ifd.subfile_type == _tag(page, 254, 0)
            assert ifd.tiled == page.is_tiled
            if ifd.tiled:
                assert (ifd.tile_width, ifd.tile_height) == (page.tilewidth, page.tilelength)
            else:
                assert ifd.tile_width == page.imagewidth
                assert ifd.tile_height == min(page.rowsperstrip, page.imagelength)
            assert tuple(int(v) for v in ifd.tile_offsets) == tuple(page.dataoffsets)
            assert tuple(int(v) for v in ifd.tile_byte_counts) == tuple(page.databytecounts)
            assert ifd.tile_offsets.dtype == np.uint64
            assert ifd.compression == _tag(page, 259, 1)
            assert ifd.predictor == _tag(page, 317, 1)
            assert ifd.planar_config == _tag(page, 284, 1)
            assert ifd.photometric == _tag(page, 262)
            assert ifd.samples_per_pixel == page.samplesperpixel
            assert ifd.bits_per_sample == page.bitspersample
            assert ifd.sample_format == _tag(page, 339, 1)
            if ifd.bits_per_sample > 1:
                assert ifd.dtype == page.dtype.name
            assert ifd.jpeg_tables == page.jpegtables
            assert ifd.extra_samples == tuple(int(v) for v in page.extrasamples)
            planes = ifd.samples_per_pixel if ifd.planar_config == 2 else 1
            assert ifd.tiles_across * ifd.tiles_down * planes == len(ifd.tile_offsets)
            assert ifd.tiles_across == -(-ifd.width // ifd.tile_width)
            assert ifd.tiles_down == -(-ifd.height // ifd.tile_height)
            if ifd.photometric == 6:
                assert ifd.ycbcr_subsampling == tuple(page.subsampling)
            if ifd.compression == 34887:
                assert ifd.lerc_parameters is not None


def _assert_matches_rasterio(header: TiffHeader, path: Any) -> None:
    with rasterio.open(path) as src:
        assert header.geo is not None
        assert header.geo.transform is not None
        np.testing.assert_allclose(header.geo.transform, tuple(src.transform)[:6], rtol=1e-12)
        assert header.geo.crs_wkt is not None
        ours = CRS.from_wkt(header.geo.crs_wkt)
        theirs = CRS.from_wkt(src.crs.to_wkt(version="WKT2_2019"))
        assert ours.equals(theirs), (ours.to_wkt(), theirs.to_wkt())
        assert header.geo.crs_epsg == src.crs.to_epsg(confidence_threshold=100) or (
            header.geo.crs_epsg is None
        )
        if src.nodata is None:
            assert header.nodata is None
        elif math.isnan(src.nodata):
            assert header.nodata is not None and math.isnan(header.nodata)
        else:
            assert header.nodata == src.nodata
        assert (header.scales or (1.0,) * src.count) == pytest.approx(src.scales)
        assert (header.offsets or (0.0,) * src.count) == pytest.approx(src.offsets)
        assert header.full.width == src.width and header.full.height == src.height
        assert len(header.overviews) == len(src.overviews(1))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_matches_tifffile_and_rasterio(name: str, make_cog: Any, parse_grow: Any) -> None:
    kwargs, max_grows = VARIANTS[name]
    path = make_cog(name, **kwargs)
    header, grows = parse_grow(path)
    assert grows <= max_grows
    if max_grows:
        assert grows >= 1, "variant meant to exercise growing fitted in the first read"
    _assert_matches_tifffile(header, path)
    _assert_matches_rasterio(header, path)
    assert header.file_size is None and header.etag is None

    # header_size is exactly enough: that prefix parses, one byte less does not.
    data = path.read_bytes()
    again = parse_tiff_header(data[: header.header_size], source=name)
    assert again.ifds[0].tile_offsets.tolist() == header.ifds[0].tile_offsets.tolist()
    with pytest.raises(HeaderTruncatedError) as info:
        parse_tiff_header(data[: header.header_size - 1], source=name)
    assert info.value.needed >= header.header_size


def test_mask_kinds(make_cog: Any, parse_grow: Any) -> None:
    header, _ = parse_grow(make_cog("internal_mask", **VARIANTS["internal_mask"][0]))
    kinds = [ifd.kind for ifd in header.ifds]
    assert kinds.count(IfdKind.FULL) == 1
    assert kinds.count(IfdKind.MASK) == 1
    assert kinds.count(IfdKind.OVERVIEW) == 2
    assert kinds.count(IfdKind.OVERVIEW_MASK) == 2
    (mask,) = [m for m in header.masks if m.kind is IfdKind.MASK]
    assert mask.bits_per_sample == 1
    assert mask.dtype == "uint8"
    assert mask.photometric == 4
    assert header.full.kind is IfdKind.FULL and header.full.ifd_index == 0
    assert [o.width for o in header.overviews] == [350, 175]


def test_pixel_is_point_shift(make_cog: Any, parse_grow: Any) -> None:
    header, _ = parse_grow(make_cog("pixel_is_point", **VARIANTS["pixel_is_point"][0]))
    assert header.geo is not None
    assert header.geo.raster_type == 2
    # The factory asked for the default UTM-like grid; GDAL stores the tiepoint at the pixel
    # centre, the parser shifts it back to the corner.
    assert header.geo.transform == pytest.approx((10.0, 0.0, 500_000.0, 0.0, -10.0, 4_200_000.0))


def test_layout_details(make_cog: Any, parse_grow: Any) -> None:
    ragged, _ = parse_grow(make_cog("u16_ragged_1024", **VARIANTS["u16_ragged_1024"][0]))
    assert (ragged.full.tiles_across, ragged.full.tiles_down) == (3, 2)
    single, _ = parse_grow(make_cog("single_tile", **VARIANTS["single_tile"][0]))
    assert (single.full.tiles_across, single.full.tiles_down) == (1, 1)
    assert single.overviews == ()
    planar, _ = parse_grow(make_cog("planar_u16_x3", **VARIANTS["planar_u16_x3"][0]))
    assert planar.full.planar_config == 2
    assert len(planar.full.tile_offsets) == 3 * planar.full.tiles_across * planar.full.tiles_down
    strips, _ = parse_grow(make_cog("stripped", **VARIANTS["stripped"][0]))
    assert not strips.full.tiled
    assert (strips.full.tile_width, strips.full.tile_height) == (700, 32)
    assert strips.full.tiles_down == 16
    jpeg, _ = parse_grow(make_cog("jpeg_ycbcr_rgb", **VARIANTS["jpeg_ycbcr_rgb"][0]))
    assert jpeg.full.compression == 7 and jpeg.full.photometric == 6
    assert jpeg.full.ycbcr_subsampling == (2, 2)
    assert jpeg.full.jpeg_tables is not None and jpeg.full.jpeg_tables[:2] == b"\xff\xd8"
    big, _ = parse_grow(make_cog("big_endian_i16", **VARIANTS["big_endian_i16"][0]))
    assert big.byte_order == ">"
    assert big.full.tile_offsets.dtype == np.dtype("uint64")  # native order, not '>u8'
    assert not big.full.tile_offsets.flags.writeable


def test_nodata_and_metadata(make_cog: Any, parse_grow: Any) -> None:
    header, _ = parse_grow(make_cog("int8_nodata_scale", **VARIANTS["int8_nodata_scale"][0]))
    assert header.full.dtype == "int8"
    assert header.nodata == -128.0
    assert header.scales == (0.5,)
    assert header.offsets == (-3.0,)
    assert header.gdal_metadata is not None and "<GDALMetadata>" in header.gdal_metadata
    nan, _ = parse_grow(make_cog("f32_pred3_nan", **VARIANTS["f32_pred3_nan"][0]))
    assert nan.nodata is not None and math.isnan(nan.nodata)
    assert nan.scales is None and nan.offsets is None


def test_small_first_reads_converge(make_cog: Any, parse_grow: Any) -> None:
    path = make_cog("internal_mask", **VARIANTS["internal_mask"][0])
    reference, _ = parse_grow(path)
    for first in (1, 8, 100, 500):
        header, grows = parse_grow(path, first_read=first)
        assert grows <= 12
        assert header.header_size == reference.header_size
        assert len(header.ifds) == len(reference.ifds)


def test_file_size_turns_truncation_into_format_error(make_cog: Any) -> None:
    path = make_cog("many_strips", **VARIANTS["many_strips"][0])
    data = path.read_bytes()
    cut = data[:4096]
    with pytest.raises(HeaderTruncatedError):
        parse_tiff_header(cut)
    with pytest.raises(TiffFormatError) as info:
        parse_tiff_header(cut, file_size=len(cut), source="cut.tif")
    assert not isinstance(info.value, HeaderTruncatedError)
    assert "cut.tif" in str(info.value)
