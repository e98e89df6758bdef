"""Quicklook and footprint PNGs: written, decodable, of the promised size, not blank."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from rasteret import Collection
from rasteret.adapters import plot as plot_adapter
from rasteret.adapters._optional import MissingDependencyError, require
from rasteret.errors import InvalidInputError

AOI = (-122.30, 37.72, -122.28, 37.74)


def _pixels(path: Path) -> npt.NDArray[np.uint8]:
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def _not_blank(pixels: npt.NDArray[np.uint8]) -> None:
    """More than a background: many distinct colours, not all white."""
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 20
    assert (pixels < 250).any()


def test_plot_single_band_grid(s2_sf: Collection, tmp_path: Path) -> None:
    result = s2_sf.get_numpy(AOI, ["B04"])
    assert not isinstance(result, list)
    n, _, height, width = result.data.shape
    out = s2_sf.plot(AOI, "B04", tmp_path / "look" / "b04.png", cols=3, tile_px=100)
    assert out == tmp_path / "look" / "b04.png"
    pixels = _pixels(out)
    rows = math.ceil(n / min(3, n))
    assert pixels.shape[1] == min(3, n) * 100
    assert pixels.shape[0] > rows * round(100 * height / width)
    _not_blank(pixels)


def test_plot_rgb_image_follows_the_data(s2_sf: Collection, tmp_path: Path) -> None:
    bands = ["B04", "B03", "B02"]
    out = s2_sf.plot(AOI, bands, tmp_path / "rgb.png", cols=1, tile_px=64, max_scenes=1)
    pixels = _pixels(out)
    assert pixels.shape[1] == 64
    _not_blank(pixels)
    # The drawn tile is the stretched first scene: its brightest data pixel is drawn
    # brighter than its darkest (the picture really shows the read, not a placeholder).
    result = s2_sf.get_numpy(AOI, bands)
    assert not isinstance(result, list)
    tile_h = round(64 * result.data.shape[2] / result.data.shape[3])
    tile = pixels[-tile_h:, :, :].astype(int).sum(axis=2)
    assert tile.max() - tile.min() > 100


def test_plot_rejects_two_bands(s2_sf: Collection, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        s2_sf.plot(AOI, ["B04", "B03"], tmp_path / "x.png")
    assert info.value.parameter == "bands"
    assert not (tmp_path / "x.png").exists()


def test_plot_bad_layout_option(s2_sf: Collection, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        s2_sf.plot(AOI, "B04", tmp_path / "x.png", cols=0)
    assert info.value.parameter == "cols"


def test_plot_footprints_png(s2_sf: Collection, tmp_path: Path) -> None:
    out = s2_sf.plot_footprints(tmp_path / "fp.png", aoi=AOI, width_px=640, height_px=480)
    pixels = _pixels(out)
    assert pixels.shape == (480, 640, 3)
    _not_blank(pixels)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 20  # the AOI outline


def test_plot_footprints_size_checked(s2_sf: Collection, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        s2_sf.plot_footprints(tmp_path / "fp.png", width_px=10)
    assert info.value.parameter == "width_px"


def test_missing_extra_is_named() -> None:
    with pytest.raises(MissingDependencyError) as info:
        require("rasteret_no_such_module", extra="plot", feature="Collection.plot")
    assert "rasteret[plot]" in str(info.value)
    assert isinstance(info.value, ModuleNotFoundError)
    assert {"cols", "tile_px"} <= plot_adapter.QUICKLOOK_OPTIONS
