"""The GDAL oracle for AOI reads, shared by the read tests."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window


def gdal_aoi_read(
    path: str | Path,
    aoi: shapely.Geometry,
    *,
    all_touched: bool = False,
    band: int = 1,
    overview_level: int | None = None,
) -> tuple[np.ndarray, Affine]:
    """What GDAL gives for an AOI: geometry_window (boundless), a boundless read filled
    with nodata (else 0), pixels outside the rasterized AOI set to that fill."""
    with rasterio.open(path, overview_level=overview_level) as src:
        win = rasterio.features.geometry_window(src, [aoi], boundless=True)
        win = Window(int(win.col_off), int(win.row_off), int(win.width), int(win.height))
        fill = src.nodata if src.nodata is not None else 0
        if isinstance(fill, float) and np.isnan(fill) and src.dtypes[0].startswith("int"):
            fill = 0
        with warnings.catch_warnings():
            # rasterio's boundless read goes through an in-memory VRT it warns about
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            arr = src.read(band, window=win, boundless=True, fill_value=fill)
        outside = rasterio.features.geometry_mask(
            [aoi],
            transform=src.window_transform(win),
            out_shape=arr.shape,
            all_touched=all_touched,
        )
        arr[outside] = fill
        return arr, src.window_transform(win)


@pytest.fixture(scope="session")
def gdal_read() -> Callable[..., tuple[np.ndarray, Affine]]:
    """:func:`gdal_aoi_read` as a fixture (test modules here are not a package)."""
    return gdal_aoi_read
