"""sample_points against rasterio.sample for thousands of points across scenes."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
from affine import Affine
from pyproj import CRS, Transformer

import rasteret
from rasteret.io import ObstoreBackend
from rasteret.read.points import _to_table, sample_points_async
from rasteret.read.reader import BandSource, SceneSource
from rasteret.tiff import parse_tiff_header
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.cogs import write_cog
from rasteret_sandbox.servers import StacApiServer


@pytest.fixture(scope="module")
def s2(stac_api: StacApiServer, tmp_path_factory: pytest.TempPathFactory) -> rasteret.Collection:
    return rasteret.build_from_stac(
        name="s2-points",
        stac_api=stac_api.url,
        collection="sentinel-2-l2a",
        bbox=(-123.0, 37.0, -115.0, 39.0),  # both UTM zones
        date_range=("2024-01-01", "2024-06-30"),
        workspace_dir=tmp_path_factory.mktemp("ws"),
    )


def test_points_equal_rasterio_sample(s2: rasteret.Collection, local_file: Any) -> None:
    rng = np.random.default_rng(7)
    # around every footprint (some points fall outside all scenes, most inside several)
    boxes = np.array([scene.geometry.bounds for scene in s2])
    n = 5000
    pick = boxes[rng.integers(0, len(boxes), n)]
    lon = rng.uniform(pick[:, 0] - 0.01, pick[:, 2] + 0.01)
    lat = rng.uniform(pick[:, 1] - 0.01, pick[:, 3] + 0.01)
    plots = pa.table({"lon": lon, "lat": lat, "plot": [f"p{i}" for i in range(n)]})
    table = s2.sample_points(plots, ["B04", "B11"])
    assert table.num_rows > 0
    assert table.column("plot").to_pylist()[:3] == [
        f"p{i}" for i in table.column("point_index").to_pylist()[:3]
    ]
    hrefs = {scene.id: scene.bands for scene in s2}
    checked = 0
    for band in ("B04", "B11"):
        for scene_id in set(table.column("scene_id").to_pylist()):
            rows = table.filter(pa.compute.equal(table.column("scene_id"), scene_id))
            idx = rows.column("point_index").to_numpy()
            got = rows.column(band).to_numpy(zero_copy_only=False)
            with rasterio.open(local_file(hrefs[scene_id][band])) as src:
                tr = Transformer.from_crs("EPSG:4326", src.crs.to_wkt(), always_xy=True)
                xs, ys = tr.transform(lon[idx], lat[idx])
                expected = np.array([v[0] for v in src.sample(zip(xs, ys, strict=False))])
                inside = np.array(
                    [
                        0 <= r < src.height and 0 <= c < src.width
                        for r, c in (src.index(x, y) for x, y in zip(xs, ys, strict=False))
                    ]
                )
                nodata = src.nodata
            valid = inside & (expected != nodata)
            assert np.array_equal(np.isnan(got.astype(float)), ~valid), (scene_id, band)
            np.testing.assert_array_equal(got[valid].astype(expected.dtype), expected[valid])
            checked += int(valid.sum())
    assert checked > 2000
    assert table.schema.field("B04").type == pa.uint16()
    assert table.schema.field("scene_id").type == pa.dictionary(pa.int32(), pa.string())


def test_points_outside_every_scene_give_an_empty_table(s2: rasteret.Collection) -> None:
    table = s2.sample_points([(10.0, 10.0), (11.0, 11.0)], "B04")
    assert table.num_rows == 0
    assert "B04" in table.column_names


def test_points_in_scene_crs(s2: rasteret.Collection, local_file: Any) -> None:
    scene = next(iter(s2))
    with rasterio.open(local_file(scene.bands["B04"])) as src:
        xs = src.bounds.left + np.arange(5) * 1000 + 5
        ys = src.bounds.top - np.arange(5) * 1000 - 5
        expected = [v[0] for v in src.sample(zip(xs, ys, strict=False))]
        crs = src.crs.to_string()
    table = s2.sample_points(np.column_stack([xs, ys]), "B04", crs=crs)
    mine = table.filter(pa.compute.equal(table.column("scene_id"), scene.id))
    got = dict(
        zip(mine.column("point_index").to_pylist(), mine.column("B04").to_pylist(), strict=False)
    )
    assert [got.get(i) if got.get(i) is not None else 0 for i in range(5)] == expected
    assert cat.S2_EAST_COUNT > 0


def test_points_on_grids_that_differ_only_by_origin(tmp_path: Path) -> None:
    """Same CRS, size and tiling, shifted origin: each scene places the points itself.

    Placements are shared between scenes on one grid; two grids that agree on
    everything but the transform must not share one.
    """
    paths = [
        write_cog(
            tmp_path / f"{name}.tif",
            width=600,
            height=600,
            blocksize=256,
            overview_levels=(),
            transform=Affine(10, 0, 500_000 + shift, 0, -10, 4_200_000 - shift),
            seed=seed,
        )
        for name, shift, seed in (("a", 0, 1), ("b", 1230, 2))
    ]
    rng = np.random.default_rng(3)
    xs = rng.uniform(500_000, 507_000, 2000)
    ys = rng.uniform(4_193_000, 4_200_000, 2000)
    scenes = []
    for path in paths:
        header = parse_tiff_header(path.read_bytes())
        band = BandSource(url=path.as_uri(), header=header, sample=0)
        scenes.append(SceneSource(id=path.stem, datetime=None, bands={"b1": band}))
    table = asyncio.run(
        sample_points_async(
            scenes, xs, ys, points_crs=CRS.from_epsg(32610), bands=["b1"], backend=ObstoreBackend()
        )
    )
    for scene, path in zip(scenes, paths, strict=True):
        mine = table.filter(pa.compute.equal(table.column("scene_id"), scene.id))
        idx = mine.column("point_index").to_numpy()
        with rasterio.open(path) as src:
            expected = np.array([v[0] for v in src.sample(zip(xs[idx], ys[idx], strict=True))])
        got = mine.column("b1").to_numpy(zero_copy_only=False)
        valid = expected != 0  # nodata 0 comes back null
        assert valid.sum() > 500
        np.testing.assert_array_equal(got[valid].astype(expected.dtype), expected[valid])


def test_point_table_columns() -> None:
    """The result table from per-(scene, band) values: nulls, nodata, types and order.

    Scene ``b`` stores the band as int32 where ``a`` has uint16 (Arrow then casts to the
    first scene's type, refusing values that do not fit), scene ``c`` lacks the band, and
    NaN nodata nulls only NaNs.
    """
    when = datetime(2024, 5, 1, tzinfo=UTC)
    scenes = [SceneSource(id=i, datetime=when if i != "c" else None, bands={}) for i in "abc"]
    values = {
        (0, 0): np.array([1, 0, 3], dtype=np.uint16),
        (1, 0): np.array([7, 8, 9], dtype=np.int32),
        (0, 1): np.array([0.5, np.nan, 2.0]),
        (1, 1): np.array([np.nan, 1.5, 2.5]),
        (2, 1): np.array([4.0, 5.0, 6.0]),
    }
    hits = {key: np.array([True, True, key[0] != 1]) for key in values}
    table = _to_table(
        scenes,
        ["u", "f"],
        n_points=3,
        values=values,
        hits=hits,
        nodata={key: 0.0 if key[1] == 0 else math.nan for key in values},  # each scene's own
    )
    assert table.column("point_index").to_pylist() == [0, 1, 2, 0, 1, 0, 1, 2]
    assert table.column("scene_id").to_pylist() == list("aaabbccc")
    assert table.column("datetime").to_pylist()[4:6] == [when, None]
    assert table.schema.field("u").type == pa.uint16()
    assert table.column("u").to_pylist() == [1, None, 3, 7, 8, None, None, None]
    assert table.column("f").to_pylist() == [0.5, None, 2.0, None, 1.5, 4.0, 5.0, 6.0]


def test_point_table_refuses_values_the_first_type_cannot_hold() -> None:
    scenes = [SceneSource(id=i, datetime=None, bands={}) for i in "ab"]
    values = {(0, 0): np.array([1], dtype=np.uint16), (1, 0): np.array([-5], dtype=np.int32)}
    hits = {key: np.array([True]) for key in values}
    with pytest.raises(pa.ArrowInvalid):
        _to_table(scenes, ["u"], n_points=1, values=values, hits=hits, nodata={})
