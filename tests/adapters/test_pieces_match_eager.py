"""Reads done in pieces (dask chunks, torch chips) equal the eager read of the whole AOI.

Each piece is planned in the whole read's frame (grid, dtype, nodata, fills), and its
warps are the whole grid's cut to the piece. The collection here has everything a piece
alone would have decided otherwise:

- scene ``a`` on UTM 10 anchors the grid; ``b`` is on UTM 10 too but 5 m (half a pixel)
  east, so it is resampled; ``c`` is on UTM 11 and warped;
- B08 exists only in ``a``, as float32 with NaN nodata, so the read is float32 and the
  other scenes' B08 is NaN.

Chunks of 37 x 41 pixels and 16 px chips cut the warps in uneven places.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import shapely.geometry
from pyproj import Transformer

import rasteret
from rasteret_sandbox.catalog import cog_item
from rasteret_sandbox.cogs import write_cog

LON, LAT = -120.0, 37.93  # the UTM 10 / 11 boundary
AOI = shapely.Polygon([(-120.012, 37.922), (-119.99, 37.924), (-119.992, 37.94), (-120.01, 37.937)])
OPTIONS = {"resampling": "bilinear"}


def _item(
    root: Path, name: str, day: str, epsg: int, shift: float, bands: dict[str, str]
) -> dict[str, Any]:
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(LON, LAT)
    x0, y1 = round(x / 10) * 10 - 1500 + shift, round(y / 10) * 10 + 1500
    transform = (10.0, 0.0, x0, 0.0, -10.0, y1)
    hrefs: dict[str, Path] = {}
    for seed, (band, dtype) in enumerate(bands.items()):
        path = write_cog(
            root / f"{name}_{band}.tif",
            width=300,
            height=300,
            dtype=dtype,
            crs=f"EPSG:{epsg}",
            transform=transform,
            blocksize=128,
            nodata=float("nan") if dtype == "float32" else 0,
            seed=seed + int(day[-2:]),
        )
        hrefs[band] = path
    return cog_item(name, epsg=epsg, transform=transform, shape=(300, 300), day=day, hrefs=hrefs)


@pytest.fixture(scope="module")
def mixed(
    tmp_path_factory: pytest.TempPathFactory, flat_collection: Callable[..., Path]
) -> rasteret.Collection:
    root = tmp_path_factory.mktemp("pieces")
    items = [
        _item(root, "a", "2024-05-01", 32610, 0.0, {"B04": "uint16", "B08": "float32"}),
        _item(root, "b", "2024-05-02", 32610, 5.0, {"B04": "uint16"}),
        _item(root, "c", "2024-05-03", 32611, 0.0, {"B04": "uint16"}),
    ]
    return rasteret.build_from_stac(
        name="pieces",
        stac_api=str(flat_collection(root, "pieces", items)),
        collection="pieces",
        band_map={"B04": "B04", "B08": "B08"},
        static_catalog=True,
        workspace_dir=root / "ws",
    )


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", rasteret.MixedGridWarning)  # two CRSs, said once


def test_dask_chunks_equal_the_eager_read(mixed: rasteret.Collection) -> None:
    eager = mixed.get_xarray(AOI, ["B04", "B08"], **OPTIONS)
    assert eager["B08"].dtype == np.float32 and len(eager.time) == 3
    for chunks in ({"time": 1, "y": 37, "x": 41}, {"time": -1, "y": 64, "x": 64}):
        lazy = mixed.get_xarray(AOI, ["B04", "B08"], chunks=chunks, **OPTIONS)
        got = lazy.compute()
        assert got.identical(eager), chunks


def test_torch_chips_equal_the_eager_read(mixed: rasteret.Collection) -> None:
    eager = mixed.get_numpy(AOI, ["B04", "B08"], **OPTIONS)
    assert not isinstance(eager, list)
    ds = mixed.to_torchgeo_dataset(["B04", "B08"], 16, geometries=AOI, **OPTIONS)
    assert len(ds) > 3 * 10
    for i in range(0, len(ds), 7):
        row, col, scene = ds.chip(i)
        item = ds[i]
        window = (scene, slice(None), slice(row, row + 16), slice(col, col + 16))
        np.testing.assert_array_equal(item["image"].numpy(), eager.data[window], err_msg=str(i))
        np.testing.assert_array_equal(item["mask"].numpy(), eager.valid[window], err_msg=str(i))
