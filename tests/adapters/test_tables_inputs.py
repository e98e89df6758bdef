"""from_table inputs the module docstring promises: Polars LazyFrames, and GeoDataFrames
of indexes where some rows lack a band (a null band struct) or a band has NaN nodata."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import shapely

import rasteret
from rasteret.index import schema
from rasteret_sandbox.catalog import cog_item
from rasteret_sandbox.cogs import write_cog

AOI = (-122.30, 37.72, -122.28, 37.74)


def _same_read(a: rasteret.Collection, b: rasteret.Collection, bands: list[str]) -> None:
    left, right = a.get_numpy(AOI, bands), b.get_numpy(AOI, bands)
    assert not isinstance(left, list) and not isinstance(right, list)
    assert left.ids == right.ids
    np.testing.assert_array_equal(left.data, right.data)
    np.testing.assert_array_equal(left.valid, right.valid)


def test_polars_lazyframe_is_collected(s2: rasteret.Collection) -> None:
    lazy = pl.scan_parquet(s2.path).filter(pl.col("eo:cloud_cover") < 30)
    assert isinstance(lazy, pl.LazyFrame)
    chosen = rasteret.Collection.from_table(lazy, like=s2)
    expected = s2.subset(cloud_cover_lt=30)
    assert 0 < len(chosen) < len(s2)
    assert [s.id for s in chosen] == [s.id for s in expected]
    _same_read(chosen, expected, ["B04"])


def _without_band(s2: rasteret.Collection, code: str, rows: list[int]) -> rasteret.Collection:
    """``s2`` with band ``code`` missing (a null struct) in ``rows``, as a build leaves it."""
    table = s2.to_table()
    name = schema.band_column(code)
    column = table.column(name).combine_chunks()
    missing = np.zeros(table.num_rows, dtype=bool)
    missing[rows] = True
    nulled = pa.StructArray.from_arrays(
        column.flatten(), fields=list(column.type), mask=pa.array(missing)
    )
    table = table.set_column(table.schema.get_field_index(name), name, nulled)
    return rasteret.Collection(table, s2.manifest)


def test_geodataframe_of_an_index_with_a_missing_band(
    s2: rasteret.Collection, tmp_path: Path
) -> None:
    """pandas has no null struct: the missing band comes back as None, and Arrow rebuilds
    it with an empty ``transform`` list under the null, which the cast to the schema's
    fixed-size list used to refuse."""
    partial = _without_band(s2, "B08", [0, 2])
    path = partial.export(tmp_path / "partial.parquet")
    gdf = geopandas.read_parquet(path)
    assert gdf["band:B08"].isna().sum() == 2

    back = rasteret.Collection.from_table(gdf, like=partial)

    for code in ("B04", "B08"):
        got = back.to_table().column(schema.band_column(code))
        want = partial.to_table().column(schema.band_column(code))
        assert pc.is_null(got).to_pylist() == pc.is_null(want).to_pylist()
        assert got.equals(want)  # every layout field, cast back to the schema's type
    assert [h is None for h in back.headers("B08")] == [True, False, True] + [False] * (len(s2) - 3)
    _same_read(back, partial, ["B04", "B08"])


def _scene(root: Path, name: str, day: str, dtypes: dict[str, str]) -> dict[str, Any]:
    """A 300 x 300 px item on UTM 10N, its bands local COGs (float ones: NaN nodata, a hole)."""
    x0, y1, res, size = 500_000.0, 4_200_000.0, 10.0, 300
    hrefs = {}
    for n, (band, dtype) in enumerate(dtypes.items()):
        rng = np.random.default_rng(n + int(day[-2:]))
        data = rng.integers(1, 1000, (1, size, size)).astype(dtype)
        nodata = math.nan if dtype.startswith("float") else 0
        if dtype.startswith("float"):
            data[0, 80:120, 80:120] = nodata  # a hole inside the test's AOI
        path = write_cog(
            root / f"{name}_{band}.tif",
            width=size,
            height=size,
            dtype=dtype,
            transform=(res, 0.0, x0, 0.0, -res, y1),
            blocksize=128,
            nodata=nodata,
            data=data,
        )
        hrefs[band] = path
    return cog_item(
        name,
        epsg=32610,
        transform=(res, 0.0, x0, 0.0, -res, y1),
        shape=(size, size),
        day=day,
        hrefs=hrefs,
    )


def test_geodataframe_keeps_a_nan_nodata_and_a_missing_band(
    tmp_path: Path, flat_collection: Callable[..., Path]
) -> None:
    """The reviewer's index: scene a has a float B08 with NaN nodata, scene b no B08.

    pandas hands the NaN nodata back as NaN and the missing layout fields as None;
    Arrow's pandas conversion read both as null, so B08's NaN pixels came back valid.
    """
    items = [
        _scene(tmp_path, "a", "2024-05-01", {"B04": "uint16", "B08": "float32"}),
        _scene(tmp_path, "b", "2024-05-02", {"B04": "uint16"}),
    ]
    built = rasteret.build_from_stac(
        name="nan-missing",
        stac_api=str(flat_collection(tmp_path, "nan-missing", items)),
        collection="nan-missing",
        band_map={"B04": "B04", "B08": "B08"},
        static_catalog=True,
        workspace_dir=tmp_path / "ws",
    )
    assert built.path is not None
    back = rasteret.Collection.from_table(geopandas.read_parquet(built.path), like=built)

    nodata = pc.struct_field(back.to_table().column(schema.band_column("B08")), ["nodata"])
    assert pc.is_null(back.to_table().column(schema.band_column("B08"))).to_pylist() == [
        False,
        True,
    ]
    assert math.isnan(nodata[0].as_py())
    aoi = shapely.box(500_500, 4_197_500, 502_500, 4_199_500)
    want = built.get_numpy(aoi, ["B04", "B08"], crs="EPSG:32610")
    got = back.get_numpy(aoi, ["B04", "B08"], crs="EPSG:32610")
    assert not isinstance(want, list) and not isinstance(got, list)
    assert not want.valid[0, 1].all()  # scene a's B08 has NaN (nodata) pixels here
    assert not want.valid[1, 1].any()  # scene b has no B08
    assert got.ids == want.ids
    np.testing.assert_array_equal(got.valid, want.valid)
    np.testing.assert_array_equal(got.data, want.data)
