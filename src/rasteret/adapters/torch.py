"""PyTorch datasets of chips read through the engine, safe in forked DataLoader workers.

``Collection.to_torchgeo_dataset(bands, chip_size)`` tiles the output grid of an AOI (the
grid the eager ``get_numpy`` read would use: the scenes' own pixels) into square chips and
returns a dataset whose items are ``{"image", "mask", "bounds", "crs"}``:

- ``image``: ``[C, H, W]`` for one scene (an item per chip and scene) or, with
  ``time_series=True``, ``[T, C, H, W]`` for every scene of the collection (an item per chip);
  native dtype where torch has it (uint16 becomes int32: torch has no unsigned 16-bit
  arithmetic), float with ``apply_scale``;
- ``mask``: the ``valid`` flags of the same shape (inside the AOI and the scene, not nodata);
- ``bounds``: ``[minx, miny, maxx, maxy]`` of the chip in the output CRS (float64 tensor);
- ``crs``: the output CRS as WKT.

Chips read exactly the chip's window of what ``get_numpy`` reads for the whole AOI, warped
scenes included (the same chunk reader as the dask adapter,
:func:`rasteret.adapters.dask.read_chunk_async`, in the whole read's frame).

Fork safety: the dataset holds only picklable values (Arrow rows, numbers, WKT). The
storage backend and the event loop are made lazily *in the process that reads*, keyed by
``os.getpid()``; a DataLoader worker never touches the parent's obstore store, connection
pool or loop thread (none of them survive a fork). One limit is obstore's: its global
native runtime does not survive ``fork()`` either, so a worker *forked after the parent
already read pixels* cannot read at all; it raises :class:`UnsupportedReadError` naming
the fix (``multiprocessing_context="forkserver"`` or ``"spawn"``, both tested) instead of
hanging. Forked workers of a parent that has not read yet (build the dataset, then the
DataLoader, then train) work, and are tested too.

When TorchGeo imports, the dataset is also a :class:`torchgeo.datasets.GeoDataset`
(``index`` of chip footprints and times, ``crs``, ``res``; integer indices still work).
TorchGeo cannot be imported on the machines this project is tested on (its torchvision
wheel links CUDA), so that path is written against TorchGeo 0.8's documented interface but
is not exercised by the test suite; the plain ``torch.utils.data.Dataset`` path is.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
import torch
from affine import Affine
from pyproj import CRS
from torch.utils.data import Dataset

from rasteret.adapters.dask import BackendFactory, ChunkSpec, plan_grid, read_chunk_async
from rasteret.errors import InvalidInputError, UnsupportedReadError
from rasteret.io import sync
from rasteret.io.sync import run_sync
from rasteret.read.grid import transform_geometry
from rasteret.read.reader import SceneSource
from rasteret.read.sources import scene_sources

__all__ = ["ChipDataset", "make_dataset", "torchgeo_available"]

T = TypeVar("T")

_loops: dict[int, asyncio.AbstractEventLoop] = {}
_loops_lock = threading.Lock()


def torchgeo_available() -> bool:
    """Whether ``torchgeo.datasets`` imports here (it needs a working torchvision)."""
    try:
        import torchgeo.datasets  # noqa: F401, PLC0415 - optional, and heavy to import
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    return True


def _run_in_process(coro: Coroutine[Any, Any, T], owner_pid: int) -> T:
    """Run ``coro`` on an event loop that belongs to this process.

    In the process that built the dataset, the shared sync bridge (works inside Jupyter
    too). In any other (a forked or spawned DataLoader worker), a private loop made on
    first use there: the bridge's thread did not survive the fork, and its state must not
    be trusted.
    """
    pid = os.getpid()
    if pid == owner_pid:
        return run_sync(coro)
    try:
        sync.check_native_runtime()  # before a loop is made for a worker that cannot read
    except UnsupportedReadError:
        coro.close()
        raise
    with _loops_lock:
        loop = _loops.get(pid)
        if loop is None:
            loop = asyncio.new_event_loop()
            _loops[pid] = loop
    return loop.run_until_complete(coro)


def _as_tensor(array: npt.NDArray[Any]) -> torch.Tensor:
    """A tensor of ``array``, widening the unsigned types torch cannot hold."""
    widen = {np.dtype(np.uint16): np.int32, np.dtype(np.uint32): np.int64}
    target = widen.get(array.dtype)
    return torch.from_numpy(np.ascontiguousarray(array if target is None else array.astype(target)))


class ChipDataset(Dataset[dict[str, Any]]):
    """Square chips on one output grid; see the module docstring for the items.

    Args:
        rows: Index rows of the scenes (time order of the output).
        spec: The read of a chip at the grid origin (only its transform moves).
        origins: ``(row, col)`` pixel offset of each chip in the grid.
        time_series: One item per chip with every scene, instead of per chip and scene.
        scenes: The rows' sources, when already decoded (see :meth:`scenes`).
    """

    def __init__(
        self,
        rows: pa.Table,
        spec: ChunkSpec,
        origins: Sequence[tuple[int, int]],
        *,
        time_series: bool,
        scenes: list[SceneSource] | None = None,
    ) -> None:
        self.rows = rows
        self.spec = spec
        self.origins = list(origins)
        self.time_series = time_series
        self.ids = [str(v) for v in rows.column("id").to_pylist()]
        self.owner_pid = os.getpid()
        self._scenes = scenes

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_scenes"] = None  # decoded again where used: cheaper than pickling layouts
        return state

    def scenes(self) -> list[SceneSource]:
        """The rows' band sources, decoded on first use in each process.

        Decoding the stored layouts is about 0.3 ms per scene and band of pure Python:
        redone for every item, it was a tenth of a one-scene chip's read (measured on
        local nginx, 4 bands of 256 px).
        """
        if self._scenes is None:
            spec = self.spec
            self._scenes = scene_sources(
                self.rows, list(spec.bands), cloud_config=spec.cloud_config
            )
        return self._scenes

    def __len__(self) -> int:
        return len(self.origins) * (1 if self.time_series else len(self.ids))

    def chip(self, index: int) -> tuple[int, int, int | None]:
        """``(row, col, scene)`` of item ``index`` (scene None for a time series)."""
        if not 0 <= index < len(self):
            raise IndexError(f"chip index {index} out of range 0..{len(self) - 1}")
        if self.time_series:
            row, col = self.origins[index]
            return row, col, None
        row, col = self.origins[index // len(self.ids)]
        return row, col, index % len(self.ids)

    def window_transform(self, row: int, col: int) -> Affine:
        """The affine transform of the chip at pixel ``(row, col)`` of the grid."""
        return Affine(*self.spec.transform) @ Affine.translation(col, row)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row, col, scene = self.chip(int(index))
        transform = self.window_transform(row, col)
        scenes = self.scenes() if scene is None else self.scenes()[scene : scene + 1]
        spec = replace(self.spec, transform=tuple(transform)[:6])
        data, valid = _run_in_process(read_chunk_async(scenes, spec), self.owner_pid)
        if scene is not None:
            data, valid = data[0], valid[0]
        x0, y0 = transform.c, transform.f
        x1, y1 = transform @ (spec.width, spec.height)
        bounds = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
        return {
            "image": _as_tensor(data),
            "mask": torch.from_numpy(np.ascontiguousarray(valid)),
            "bounds": torch.tensor(bounds, dtype=torch.float64),
            "crs": self.spec.crs_wkt,
        }


def _geo_dataset_class() -> type[ChipDataset]:
    """A ChipDataset that is also a TorchGeo ``GeoDataset`` (TorchGeo 0.8 interface).

    Not exercised by the test suite: TorchGeo does not import on its machines.
    """
    import pandas as pd  # type: ignore[import-untyped]  # noqa: PLC0415 - TorchGeo needs it
    from geopandas import GeoDataFrame  # noqa: PLC0415
    from torchgeo.datasets import GeoDataset  # noqa: PLC0415

    class RasteretGeoDataset(ChipDataset, GeoDataset):  # type: ignore[misc]
        """Chips of a rasteret collection as a TorchGeo dataset (integer or geo queries)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            ChipDataset.__init__(self, *args, **kwargs)
            crs = CRS.from_wkt(self.spec.crs_wkt)
            times = pd.to_datetime(self.rows.column("datetime").to_pylist(), utc=True)
            lo, hi = times.min(), times.max()
            geoms, intervals = [], []
            for row, col in self.origins:
                t = self.window_transform(row, col)
                x1, y1 = t @ (self.spec.width, self.spec.height)
                geoms.append(shapely.box(min(t.c, x1), min(t.f, y1), max(t.c, x1), max(t.f, y1)))
                intervals.append((lo, hi))
            index = pd.IntervalIndex.from_tuples(intervals, closed="both", name="datetime")
            self.index = GeoDataFrame(index=index, geometry=geoms, crs=crs)
            transform = Affine(*self.spec.transform)
            self._res = (abs(transform.a), abs(transform.e))

        def __getitem__(self, query: Any) -> dict[str, Any]:
            if isinstance(query, int | np.integer):
                return ChipDataset.__getitem__(self, int(query))
            xs = query[0] if isinstance(query, tuple) else query
            ys = query[1] if isinstance(query, tuple) and len(query) > 1 else slice(None)
            transform = Affine(*self.spec.transform)
            col = round((float(xs.start) - transform.c) / transform.a)
            row = round((float(ys.stop) - transform.f) / transform.e)
            spec = replace(self.spec, transform=tuple(self.window_transform(row, col))[:6])
            data, valid = _run_in_process(read_chunk_async(self.scenes(), spec), self.owner_pid)
            return {
                "image": _as_tensor(data if self.time_series else data[0]),
                "mask": torch.from_numpy(valid if self.time_series else valid[0]),
                "bounds": torch.tensor([xs.start, ys.start, xs.stop, ys.stop], dtype=torch.float64),
                "crs": self.spec.crs_wkt,
            }

    return RasteretGeoDataset


def make_dataset(
    rows: pa.Table,
    aoi: shapely.Geometry,
    aoi_crs: CRS,
    bands: Sequence[str],
    *,
    chip_size: int,
    stride: int | None,
    time_series: bool,
    cloud_config: Mapping[str, Any],
    options: Mapping[str, Any],
    backend_factory: BackendFactory | None = None,
    use_torchgeo: bool | None = None,
) -> ChipDataset:
    """Tile the AOI's output grid into chips and wrap them as a dataset.

    Chips lie wholly inside the grid (a partial row or column at the far edge is left
    out), ``stride`` pixels apart (default ``chip_size``: no overlap).

    Args:
        rows: Index rows of the scenes the AOI touches.
        aoi: The area to tile, in ``aoi_crs``.
        aoi_crs: CRS of ``aoi``.
        bands: Band codes (the C axis).
        chip_size: Chip side in output pixels.
        stride: Pixels between chip origins.
        time_series: One item per chip holding every scene (``[T, C, H, W]``).
        cloud_config: The collection's cloud config.
        options: get_numpy read options (parsed ``target_crs``/``resolution``).
        backend_factory: Picklable callable making the backend in each process.
        use_torchgeo: Force (True) or refuse (False) the TorchGeo subclass; None: use it
            when TorchGeo imports.

    Raises:
        InvalidInputError: A chip size or stride below 1, or an AOI smaller than a chip.
    """
    for name, value in (("chip_size", chip_size), ("stride", stride)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInputError(name, value, "must be an integer >= 1")
        if value is not None and value < 1:
            raise InvalidInputError(name, value, "must be an integer >= 1")
    step = chip_size if stride is None else stride
    read_options = {k: v for k, v in options.items() if k != "max_concurrent"}
    scenes = scene_sources(rows, list(bands), cloud_config=cloud_config)
    probe, frame = plan_grid(scenes, aoi, aoi_crs, bands, read_options)
    transform, (height, width) = Affine(*frame.transform), frame.shape
    if height < chip_size or width < chip_size:
        raise InvalidInputError(
            "chip_size", chip_size, f"the AOI's grid is only {height} x {width} pixels"
        )
    origins = [
        (r, c)
        for r in range(0, height - chip_size + 1, step)
        for c in range(0, width - chip_size + 1, step)
    ]
    spec_options = {**options, "target_crs": probe.crs.to_wkt()}
    spec = ChunkSpec(
        bands=tuple(bands),
        cloud_config=dict(cloud_config),
        transform=tuple(transform)[:6],
        height=chip_size,
        width=chip_size,
        aoi_wkb=shapely.to_wkb(transform_geometry(aoi, aoi_crs, probe.crs)),
        dtype=probe.data.dtype.str,
        fill_values=tuple(probe.fill_values),
        options=spec_options,
        frame=frame,
        backend_factory=backend_factory,
    )
    geo = torchgeo_available() if use_torchgeo is None else use_torchgeo
    cls = _geo_dataset_class() if geo else ChipDataset
    return cls(rows, spec, origins, time_series=time_series, scenes=scenes)
