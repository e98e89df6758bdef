"""to_torchgeo_dataset: chips equal to get_numpy on the same windows, through forked
DataLoader workers after the parent process has already read (fork safety).

TorchGeo itself does not import on these machines (its torchvision wheel links CUDA), so
only the plain torch Dataset path runs here; the GeoDataset subclass is not exercised.
"""

from __future__ import annotations

import multiprocessing
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
import torch
from torch.utils.data import DataLoader

import rasteret
from rasteret.adapters import dask as dask_adapter
from rasteret.adapters import torch as torch_adapter
from rasteret.adapters.torch import ChipDataset, torchgeo_available

CHIP = 32


def _utm_area(s2: rasteret.Collection) -> shapely.Geometry:
    """A 3 x 2 chip area on the scenes' 10 m grid, in EPSG:32610 (read in the parent)."""
    ref = s2.get_numpy((-122.30, 37.72, -122.28, 37.74), "B04")
    assert not isinstance(ref, list)
    x0, y0 = ref.transform.c + 100, ref.transform.f - 100
    return shapely.box(x0, y0 - 2 * CHIP * 10, x0 + 3 * CHIP * 10, y0)


def _expected(s2: rasteret.Collection, bounds: torch.Tensor) -> rasteret.read.reader.ArrayResult:
    xmin, ymin, xmax, ymax = bounds.tolist()
    inset = shapely.box(xmin + 2.5, ymin + 2.5, xmax - 2.5, ymax - 2.5)  # quarter pixel
    res = s2.get_numpy(inset, ["B04", "B08"], crs="EPSG:32610")
    assert not isinstance(res, list)
    return res


def _check_batches(
    s2: rasteret.Collection,
    ds: ChipDataset,
    images: np.ndarray,
    masks: np.ndarray,
    bounds: np.ndarray,
) -> None:
    assert len(images) == len(ds)
    for i in range(len(ds)):
        _, _, scene = ds.chip(i)
        expected = _expected(s2, torch.from_numpy(bounds[i]))
        np.testing.assert_array_equal(images[i], expected.data[scene].astype(np.int32))
        np.testing.assert_array_equal(masks[i], expected.valid[scene])


def _collect(loader: DataLoader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images, masks, bounds = [], [], []
    for batch in loader:
        assert batch["image"].shape[1:] == (2, CHIP, CHIP)
        assert all("UTM zone 10N" in crs for crs in batch["crs"])
        images.append(batch["image"].numpy())
        masks.append(batch["mask"].numpy())
        bounds.append(batch["bounds"].numpy())
    return np.concatenate(images), np.concatenate(masks), np.concatenate(bounds)


def _dataset(s2: rasteret.Collection) -> ChipDataset:
    ds = s2.to_torchgeo_dataset(["B04", "B08"], CHIP, geometries=_utm_area(s2), crs="EPSG:32610")
    assert isinstance(ds, ChipDataset)
    return ds


def test_forkserver_workers_after_parent_read(s2: rasteret.Collection) -> None:
    ds = _dataset(s2)  # the parent has read pixels already (_utm_area)
    assert not torchgeo_available()  # see the module docstring
    assert len(ds) == 6 * len(s2)
    context = multiprocessing.get_context("forkserver")
    loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context=context)
    _check_batches(s2, ds, *_collect(loader))


def test_fork_after_parent_read_fails_fast(s2: rasteret.Collection) -> None:
    ds = _dataset(s2)
    context = multiprocessing.get_context("fork")
    loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context=context)
    with pytest.raises(Exception, match="forkserver"):
        next(iter(loader))


FORKED = """
import sys, multiprocessing, numpy as np, shapely, rasteret
from torch.utils.data import DataLoader
coll = rasteret.load(sys.argv[1])
ds = coll.to_torchgeo_dataset(["B04", "B08"], int(sys.argv[4]),
                              geometries=shapely.from_wkt(sys.argv[2]),
                              crs="EPSG:32610")
loader = DataLoader(ds, batch_size=4, num_workers=2,
                    multiprocessing_context=multiprocessing.get_context("fork"))
out = {"image": [], "mask": [], "bounds": []}
for batch in loader:
    for key in out:
        out[key].append(batch[key].numpy())
np.savez(sys.argv[3], **{k: np.concatenate(v) for k, v in out.items()})
"""


def test_forked_workers_of_a_fresh_parent(s2: rasteret.Collection, tmp_path: Path) -> None:
    area = _utm_area(s2)
    out = tmp_path / "chips.npz"
    subprocess.run(
        [sys.executable, "-c", FORKED, str(s2.path), area.wkt, str(out), str(CHIP)],
        check=True,
        timeout=120,
    )
    got = np.load(out)
    _check_batches(s2, _dataset(s2), got["image"], got["mask"], got["bounds"])


def test_time_series_items(s2: rasteret.Collection) -> None:
    ds = s2.to_torchgeo_dataset(
        "B04", CHIP, geometries=_utm_area(s2), crs="EPSG:32610", time_series=True, stride=16
    )
    assert len(ds) == 5 * 3  # stride 16 over 96 x 64 pixels
    item = ds[7]
    assert item["image"].shape == (len(s2), 1, CHIP, CHIP)
    expected = _expected(s2, item["bounds"])
    np.testing.assert_array_equal(item["image"][:, 0].numpy(), expected.data[:, 0].astype(np.int32))


def test_chip_arguments_are_checked(s2: rasteret.Collection) -> None:
    with pytest.raises(rasteret.InvalidInputError, match="chip_size"):
        s2.to_torchgeo_dataset("B04", 0)
    with pytest.raises(rasteret.InvalidInputError, match="chip_size"):
        s2.to_torchgeo_dataset("B04", 10_000, geometries=_utm_area(s2), crs="EPSG:32610")
    with pytest.raises(IndexError):
        s2.to_torchgeo_dataset("B04", CHIP, geometries=_utm_area(s2), crs="EPSG:32610")[10_000]
    with pytest.raises(rasteret.InvalidInputError, match="resamplin") as info:
        s2.to_torchgeo_dataset("B04", CHIP, geometries=_utm_area(s2), resamplin="bilinear")
    assert "resampling" in str(info.value)  # the options there are, listed


def test_items_decode_the_layouts_once_per_process(
    s2: rasteret.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items reuse the dataset's decoded sources; a pickled copy decodes them once."""
    ds = _dataset(s2)
    calls: list[int] = []
    real = dask_adapter.scene_sources

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dask_adapter, "scene_sources", counting)
    monkeypatch.setattr(torch_adapter, "scene_sources", counting)
    first = [ds[i] for i in (0, 1, len(ds) - 1)]
    assert calls == []  # decoded while the dataset was made
    copy = pickle.loads(pickle.dumps(ds))  # as a spawned DataLoader worker receives it
    again = [copy[i] for i in (0, 1, len(ds) - 1)]
    assert calls == [1]
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
