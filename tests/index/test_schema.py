"""Schema round-trip: TiffHeader -> struct -> Arrow -> Parquet -> TiffHeader, exactly."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import make_header
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rasteret.errors import IndexFormatError, InvalidInputError
from rasteret.index import schema
from rasteret.tiff.types import GeoInfo, IfdKind, IfdLayout, TiffHeader

# --- exact comparison (dataclass == cannot compare NumPy arrays or NaN) ---------------------


def assert_same(a: Any, b: Any, path: str = "header") -> None:
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), path
        assert b.dtype == a.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert isinstance(b, float), path
        if math.isnan(a):
            assert math.isnan(b), path
        else:
            assert a == b and math.copysign(1, a) == math.copysign(1, b), path
    else:
        assert type(a) is type(b) and a == b, f"{path}: {a!r} != {b!r}"


# --- strategies ----------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
small = st.integers(0, 2**16 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
text = st.text(max_size=20)
floats = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def ifds(draw: st.DrawFn, index: int) -> IfdLayout:
    n = draw(st.integers(0, 40))
    tiles = hnp.arrays(np.uint64, n, elements=st.integers(0, 2**64 - 1))
    return IfdLayout(
        ifd_index=index,
        kind=draw(st.sampled_from(list(IfdKind))),
        width=draw(u32),
        height=draw(u32),
        tile_width=draw(u32),
        tile_height=draw(u32),
        tiled=draw(st.booleans()),
        samples_per_pixel=draw(small),
        bits_per_sample=draw(small),
        sample_format=draw(small),
        dtype=draw(st.sampled_from(["uint8", "int16", "float32", "complex64"])),
        compression=draw(small),
        predictor=draw(small),
        planar_config=draw(st.sampled_from([1, 2])),
        photometric=draw(small),
        subfile_type=draw(u32),
        tiles_across=draw(u32),
        tiles_down=draw(u32),
        tile_offsets=draw(tiles),
        tile_byte_counts=draw(tiles),
        jpeg_tables=draw(st.none() | st.binary(max_size=30)),
        lerc_parameters=draw(st.none() | st.tuples(i32, i32)),
        extra_samples=draw(st.lists(small, max_size=3).map(tuple)),
        ycbcr_subsampling=draw(st.none() | st.tuples(small, small)),
    )


@st.composite
def headers(draw: st.DrawFn) -> TiffHeader:
    n_ifds = draw(st.integers(0, 4))
    geo = draw(
        st.none()
        | st.builds(
            GeoInfo,
            transform=st.none() | st.tuples(*[floats] * 6),
            raster_type=st.sampled_from([1, 2]),
            crs_epsg=st.none() | st.integers(1024, 2**31 - 1),
            crs_wkt=st.none() | text,
            crs_projjson=st.none() | text,
        )
    )
    return TiffHeader(
        byte_order=draw(st.sampled_from(["<", ">"])),
        bigtiff=draw(st.booleans()),
        ifds=tuple(draw(ifds(i)) for i in range(n_ifds)),
        geo=geo,
        nodata=draw(st.none() | floats),
        scales=draw(st.none() | st.lists(floats, max_size=4).map(tuple)),
        offsets=draw(st.none() | st.lists(floats, max_size=4).map(tuple)),
        gdal_metadata=draw(st.none() | text),
        header_size=draw(st.integers(0, 2**63 - 1)),
        file_size=draw(st.none() | st.integers(0, 2**63 - 1)),
        etag=draw(st.none() | text),
        last_modified=draw(st.none() | text),
    )


# --- round trips ---------------------------------------------------------------------------


@given(headers())
@settings(max_examples=150, deadline=None)
def test_struct_roundtrip_is_exact(header: TiffHeader) -> None:
    assert_same(header, schema.struct_to_header(schema.header_to_struct(header)))


@given(st.lists(st.none() | headers(), min_size=1, max_size=4))
@settings(max_examples=80, deadline=None)
def test_arrow_roundtrip_is_exact(hs: list[TiffHeader | None]) -> None:
    values = [
        {"href": "h", "asset_key": "a", "sample_index": None, "error": "boom"}
        if h is None
        else {"href": "h", "asset_key": "a", "sample_index": 0, **schema.header_to_struct(h)}
        for h in hs
    ]
    column = schema.band_array(values)
    assert column.type.equals(schema.BAND_TYPE)
    # fast columnar path
    for h, back in zip(hs, schema.headers_from_array(column), strict=True):
        if h is None:
            assert back is None
        else:
            assert back is not None
            assert_same(h, back)
    # per-value path (as_py) agrees
    for h, value in zip(hs, column.to_pylist(), strict=True):
        if h is not None:
            assert_same(h, schema.struct_to_header(value))


@given(st.lists(headers(), min_size=1, max_size=3))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_parquet_roundtrip_is_exact(tmp_path: Path, hs: list[TiffHeader]) -> None:
    values = [
        {"href": "h", "asset_key": "a", "sample_index": None, "error": None}
        | schema.header_to_struct(h)
        for h in hs
    ]
    table = pa.table({"b": schema.band_array(values)})
    # slice to exercise array offsets on the way back
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    back = pq.read_table(tmp_path / "t.parquet").column("b")
    for h, got in zip(hs, schema.headers_from_array(back), strict=True):
        assert got is not None
        assert_same(h, got)
    sliced = schema.headers_from_array(back.combine_chunks().slice(1))
    for h, got in zip(hs[1:], sliced, strict=True):
        assert got is not None
        assert_same(h, got)


def test_band_struct_distinguishes_missing_band_failed_header_and_layout() -> None:
    column = schema.band_array(
        [
            None,
            {"href": "u", "asset_key": "red", "sample_index": None, "error": "HTTP 403"},
            {"href": "u", "asset_key": "red", "sample_index": 2, "error": None}
            | schema.header_to_struct(make_header()),
        ]
    )
    assert column.null_count == 1
    rows = column.to_pylist()
    assert rows[1]["ifds"] is None and rows[1]["error"] == "HTTP 403"
    assert rows[2]["sample_index"] == 2
    assert schema.headers_from_array(column)[:2] == [None, None]
    with pytest.raises(IndexFormatError, match="HTTP 403"):
        schema.struct_to_header(rows[1])


def test_big_tile_arrays_convert_without_python_loops() -> None:
    n = 2_000_000
    ifd = dataclasses.replace(
        make_header().ifds[0],
        tile_offsets=np.arange(n, dtype=np.uint64),
        tile_byte_counts=np.ones(n, dtype=np.uint64),
    )
    header = dataclasses.replace(make_header(), ifds=(ifd,))
    start = time.perf_counter()
    column = schema.band_array([{"href": "h", "asset_key": "a"} | schema.header_to_struct(header)])
    (back,) = schema.headers_from_array(column)
    elapsed = time.perf_counter() - start
    assert back is not None
    assert back.ifds[0].tile_offsets.dtype == np.uint64
    np.testing.assert_array_equal(back.ifds[0].tile_offsets, ifd.tile_offsets)
    # A Python loop over 2M tiles takes seconds; the vectorised path takes milliseconds.
    assert elapsed < 1.0, elapsed


# --- names and schema checks ---------------------------------------------------------------


def test_band_column_is_the_one_naming_rule() -> None:
    assert schema.band_column("B04") == "band:B04"
    assert schema.band_code("band:B04") == "B04"
    assert schema.band_code("geometry") is None
    with pytest.raises(InvalidInputError):
        schema.band_column("")


def test_index_schema_orders_core_then_bands_and_refuses_duplicates() -> None:
    s = schema.index_schema(["B08", "B04"])
    assert s.names[: len(schema.CORE_COLUMNS)] == list(schema.CORE_COLUMNS)
    assert schema.band_codes_of(s) == ("B08", "B04")
    assert s.field(schema.ID).nullable is False
    assert s.field(schema.DATETIME).type == pa.timestamp("us", tz="UTC")
    with pytest.raises(InvalidInputError):
        schema.index_schema(["B04", "B04"])


def test_check_schema_names_the_bad_column() -> None:
    good = schema.index_schema(["B04"])
    schema.check_schema(good)
    with pytest.raises(IndexFormatError, match="'bbox'"):
        schema.check_schema(good.remove(good.get_field_index(schema.BBOX)))
    retyped = good.set(good.get_field_index(schema.EPSG), pa.field(schema.EPSG, pa.string()))
    with pytest.raises(IndexFormatError, match="proj:epsg"):
        schema.check_schema(retyped)
