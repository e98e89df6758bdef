"""Lazy AOI reads: a dask-backed :class:`xarray.Dataset` whose chunks read through the engine.

``Collection.get_xarray(aoi, bands, chunks=...)`` lands here. Nothing is fetched when the
dataset is built: the client plans the *output grid* only (a one-pixel probe read picks the
CRS, resolution, dtype and fill values exactly as the eager read does; a one-scene plan of
the AOI gives the grid), then writes a dask graph with one task per ``(time, y, x)`` chunk.

Each task carries everything it needs as plain, picklable values: the index rows of its
scenes (Arrow, so headers are never fetched again), the chunk's pixel grid, the AOI in
the output CRS and the read options. A worker turns the rows into sources, plans the
chunk with :func:`~rasteret.read.reader.prepare_aoi_read` (an exact pixel box of the
output grid), runs it with :func:`~rasteret.read.reader.read_aois_async` on a storage
backend it creates itself (one per process, keyed by ``os.getpid()``: an obstore store or
event loop never crosses a pickle or a fork), and applies the AOI mask with GDAL's rule,
as the eager read does on the whole grid. The result equals ``get_xarray`` pixel for pixel.

Key names are ``tokenize``-d from the rows' bytes, the AOI, bands, options and chunking, so
building the same lazy read twice yields the same graph keys (dask then shares results).
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from affine import Affine
from dask.base import tokenize
from pyproj import CRS

from rasteret.errors import InvalidInputError, MixedGridWarning
from rasteret.io import CloudConfig, StorageBackend, create_backend
from rasteret.io.sync import run_sync
from rasteret.read.grid import transform_geometry
from rasteret.read.rasterize import geometry_mask
from rasteret.read.reader import (
    ArrayResult,
    ReadFrame,
    SceneSource,
    indexed_headers,
    prepare_aoi_read,
    read_aois_async,
    read_frame,
)
from rasteret.read.sources import scene_sources

__all__ = [
    "BackendFactory",
    "ChunkSpec",
    "lazy_read",
    "normalize_chunks",
    "plan_grid",
    "read_chunk",
    "read_chunk_async",
]

BackendFactory = Callable[[], StorageBackend]
"""A picklable zero-argument callable returning a backend (e.g. one with credentials)."""

DEFAULT_CHUNKS = {"time": 1, "y": 1024, "x": 1024}
"""One scene per chunk (scenes are separate files), 1024 pixels square (a few COG tiles)."""

_PROBE_FRACTION = 1e-7  # probe box size, relative to the AOI's extent: well under a pixel


def normalize_chunks(chunks: Any) -> dict[str, int]:
    """Chunk sizes per dim from what users pass.

    Accepts an int (the y and x size; one scene per time chunk), ``"auto"`` or True
    (the defaults), or a mapping with any of ``time``, ``y``, ``x`` (-1 means the
    whole dimension).

    Raises:
        InvalidInputError: Any other value, or a size that is not a positive int or -1.
    """
    if chunks is True or chunks == "auto":
        return dict(DEFAULT_CHUNKS)
    if isinstance(chunks, int) and not isinstance(chunks, bool):
        chunks = {"y": chunks, "x": chunks}
    if not isinstance(chunks, Mapping):
        raise InvalidInputError("chunks", chunks, "expected an int, 'auto' or {dim: size}")
    unknown = set(chunks) - set(DEFAULT_CHUNKS)
    if unknown:
        raise InvalidInputError("chunks", dict(chunks), f"unknown dims {sorted(unknown)}")
    out = dict(DEFAULT_CHUNKS)
    for dim, size in chunks.items():
        if isinstance(size, bool) or not isinstance(size, int) or (size < 1 and size != -1):
            raise InvalidInputError("chunks", dict(chunks), f"{dim} must be an int >= 1 or -1")
        out[dim] = size
    return out


def _splits(total: int, size: int) -> tuple[int, ...]:
    """Dask chunk lengths of a dim of ``total`` in pieces of ``size`` (-1: one piece)."""
    if size == -1 or size >= total:
        return (total,)
    full, rest = divmod(total, size)
    return (size,) * full + ((rest,) if rest else ())


@dataclass(frozen=True, kw_only=True)
class ChunkSpec:
    """Everything one chunk task needs, as plain picklable values (no live objects)."""

    bands: tuple[str, ...]
    """Band codes, in output order."""
    cloud_config: Mapping[str, Any]
    """The collection's cloud config (URL rewrites), applied to the rows' hrefs."""
    transform: tuple[float, float, float, float, float, float]
    """Affine coefficients (a, b, c, d, e, f) of the chunk's pixel grid."""
    height: int
    """Chunk rows."""
    width: int
    """Chunk columns."""
    aoi_wkb: bytes
    """The AOI in the output CRS (masking uses GDAL's rule, as the eager read)."""
    dtype: str
    """Output dtype (the eager read's)."""
    fill_values: tuple[float, ...]
    """Fill per band, where pixels are not valid."""
    options: Mapping[str, Any]
    """get_numpy read options (``target_crs`` as WKT, the rest as given)."""
    frame: ReadFrame
    """The whole read's grid, dtype, nodata and fills, which every chunk plans in."""
    backend_factory: BackendFactory | None = None
    """Makes the backend in the worker; None: ``create_backend`` with ``cloud_config``."""

    @property
    def crs_wkt(self) -> str:
        """The output CRS (the frame's)."""
        return self.frame.crs_wkt


# --- the worker side ---------------------------------------------------------------------------

MAX_WORKER_BACKENDS = 8
"""Backends a worker process keeps (the most recently used); one per store is the norm."""

_backends: OrderedDict[tuple[int, str], StorageBackend] = OrderedDict()
_backends_lock = threading.Lock()


def _worker_backend(spec: ChunkSpec) -> StorageBackend:
    """The backend of this process, made on first use (never inherited across a fork).

    Keyed by ``os.getpid()``: a forked child sees its parent's entries but never uses
    them, since the obstore runtime and connections behind them did not survive the
    fork; it drops them when it makes its own. At most :data:`MAX_WORKER_BACKENDS` are
    kept, least recently used first out, so a factory whose token differs per task
    (a closure over fresh objects, say) costs a backend per task but no growing cache.
    A dropped backend stays alive as long as a read still holds it.
    """
    pid = os.getpid()
    if spec.backend_factory is not None:
        key = (pid, f"factory:{tokenize(spec.backend_factory)}")
    else:
        key = (pid, json.dumps(dict(spec.cloud_config), sort_keys=True, default=str))
    with _backends_lock:
        backend = _backends.get(key)
        if backend is not None:
            _backends.move_to_end(key)
            return backend
        if spec.backend_factory is not None:
            backend = spec.backend_factory()
        else:
            backend = create_backend(cloud_config=CloudConfig.from_dict(dict(spec.cloud_config)))
        for stale in [k for k in _backends if k[0] != pid]:
            del _backends[stale]
        _backends[key] = backend
        while len(_backends) > MAX_WORKER_BACKENDS:
            _backends.popitem(last=False)
        return backend


def _empty_chunk(spec: ChunkSpec, scenes: int) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    shape = (scenes, len(spec.bands), spec.height, spec.width)
    data = np.empty(shape, dtype=np.dtype(spec.dtype))
    for c, fill in enumerate(spec.fill_values):
        data[:, c] = _fill_scalar(fill, data.dtype)
    return data, np.zeros(shape, dtype=bool)


def _fill_scalar(value: float, dtype: np.dtype[Any]) -> Any:
    if np.issubdtype(dtype, np.integer) and not math.isfinite(value):
        return dtype.type(0)
    return dtype.type(value)


def read_chunk(rows: pa.Table, spec: ChunkSpec) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """:func:`read_chunk_async` of the rows' scenes through the sync bridge (a dask task)."""
    scenes = scene_sources(rows, list(spec.bands), cloud_config=spec.cloud_config)
    return run_sync(read_chunk_async(scenes, spec))


async def read_chunk_async(
    scenes: Sequence[SceneSource], spec: ChunkSpec
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """Read one chunk: ``(data [n, C, h, w], valid [n, C, h, w])`` for ``scenes``.

    The chunk is planned as an exact pixel box of the output grid (inset by a quarter
    pixel so the window cannot grow by floating-point noise), then masked by the AOI.
    ``scenes``: index rows decoded with ``spec``'s bands and cloud config
    (:func:`~rasteret.read.sources.scene_sources`; a dataset decodes its rows once).

    The chunk is planned in the whole read's frame (``spec.frame``): the same grid,
    dtype, nodata and fills whichever of the read's scenes this chunk holds.
    """
    if not any(s.bands.get(b) is not None for s in scenes for b in spec.bands):
        return _empty_chunk(spec, len(scenes))
    transform = Affine(*spec.transform)
    crs = CRS.from_wkt(spec.crs_wkt)
    inset = transform @ (0.25, 0.25), transform @ (spec.width - 0.25, spec.height - 0.25)
    box = shapely.box(
        min(inset[0][0], inset[1][0]),
        min(inset[0][1], inset[1][1]),
        max(inset[0][0], inset[1][0]),
        max(inset[0][1], inset[1][1]),
    )
    options = dict(spec.options)
    options.pop("target_crs", None)  # the frame fixes the grid
    max_concurrent = int(options.pop("max_concurrent", 50))
    all_touched = bool(options.pop("all_touched", False))
    col_off, row_off = ~Affine(*spec.frame.transform) @ (transform.c, transform.f)
    prepared = prepare_aoi_read(
        scenes,
        box,
        crs,
        list(spec.bands),
        frame=spec.frame,
        piece=(round(row_off), round(col_off), spec.height, spec.width),
        **options,
    )
    backend = _worker_backend(spec)
    (result,) = await read_aois_async(
        [prepared], backend, max_concurrent=max_concurrent, expected=indexed_headers(scenes)
    )
    aoi = shapely.from_wkb(spec.aoi_wkb)
    outside = geometry_mask(
        [aoi], transform=transform, shape=(spec.height, spec.width), all_touched=all_touched
    )
    data = result.data.astype(np.dtype(spec.dtype), copy=False)
    valid = result.valid & ~outside[np.newaxis, np.newaxis]
    for c, fill in enumerate(spec.fill_values):
        plane = data[:, c]
        plane[:, outside] = _fill_scalar(fill, data.dtype)
    return data, valid


# --- the client side ---------------------------------------------------------------------------


def _probe_box(aoi: shapely.Geometry) -> shapely.Geometry:
    """A box far smaller than a pixel at a point inside the AOI (for a one-pixel read)."""
    xmin, ymin, xmax, ymax = shapely.bounds(aoi).tolist()
    size = max(xmax - xmin, ymax - ymin, 1e-9) * _PROBE_FRACTION
    point = shapely.point_on_surface(aoi)
    px, py = float(shapely.get_x(point)), float(shapely.get_y(point))
    box: shapely.Geometry = shapely.box(px - size, py - size, px + size, py + size)
    return box


def plan_grid(
    scenes: Sequence[SceneSource],
    aoi: shapely.Geometry,
    aoi_crs: CRS,
    bands: Sequence[str],
    options: Mapping[str, Any],
) -> tuple[ArrayResult, ReadFrame]:
    """The eager read's output grid and values without allocating it for every scene.

    A probe read of a sub-pixel box runs the same choices (CRS, resolution, the
    warnings) and gives the output dtype and fills after any ``apply_scale``; the frame
    is the whole read's grid, chosen by the very code the eager read runs.
    """
    probe = prepare_aoi_read(scenes, _probe_box(aoi), aoi_crs, bands, **options).finish()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MixedGridWarning)  # the probe gave them once
        frame = read_frame(scenes, aoi, aoi_crs, bands, **options)
    return probe, frame


def _rows_digest(rows: pa.Table) -> str:
    """Content hash of the rows (so tokens follow the index, not object identity)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def lazy_read(
    rows: pa.Table,
    aoi: shapely.Geometry,
    aoi_crs: CRS,
    bands: Sequence[str],
    *,
    cloud_config: Mapping[str, Any],
    chunks: Any,
    options: Mapping[str, Any],
    backend_factory: BackendFactory | None = None,
) -> ArrayResult:
    """An :class:`ArrayResult` whose ``data`` and ``valid`` are dask arrays.

    Args:
        rows: Index rows of the scenes the AOI touches, in output order.
        aoi: The AOI (one polygonal geometry) in ``aoi_crs``.
        aoi_crs: CRS of ``aoi``.
        bands: Band codes.
        cloud_config: The collection's cloud config (hrefs are rewritten in the worker).
        chunks: See :func:`normalize_chunks`.
        options: get_numpy read options (``target_crs`` and ``resolution`` parsed).
        backend_factory: Picklable callable making the backend in each worker.

    Returns:
        The eager read's :class:`ArrayResult` with lazy ``[N, C, H, W]`` arrays, chunked
        ``(time, all bands, y, x)``; ``xarray`` wraps it without computing anything.
    """
    sizes = normalize_chunks(chunks)
    read_options = {k: v for k, v in options.items() if k != "max_concurrent"}
    scenes = scene_sources(rows, list(bands), cloud_config=cloud_config)
    probe, frame = plan_grid(scenes, aoi, aoi_crs, bands, read_options)
    transform, (height, width) = Affine(*frame.transform), frame.shape
    dst_aoi = transform_geometry(aoi, aoi_crs, probe.crs)
    dtype = probe.data.dtype
    crs_wkt = frame.crs_wkt
    spec_options = dict(options)
    spec_options["target_crs"] = crs_wkt
    spec_options.pop("resolution", None)
    if options.get("resolution") is not None:
        spec_options["resolution"] = options["resolution"]

    tchunks = _splits(len(scenes), sizes["time"])
    ychunks = _splits(height, sizes["y"])
    xchunks = _splits(width, sizes["x"])
    token = tokenize(
        _rows_digest(rows),
        shapely.to_wkb(dst_aoi),
        crs_wkt,
        tuple(bands),
        json.dumps(dict(cloud_config), sort_keys=True, default=str),
        json.dumps(spec_options, sort_keys=True, default=str),
        tuple(transform)[:6],
        (height, width),
        (tchunks, ychunks, xchunks),
        backend_factory,
    )
    rows_name, read_name = f"rasteret-rows-{token}", f"rasteret-read-{token}"
    data_name, valid_name = f"rasteret-data-{token}", f"rasteret-valid-{token}"
    graph: dict[Any, Any] = {}
    t0 = 0
    for i, tn in enumerate(tchunks):
        graph[(rows_name, i)] = rows.slice(t0, tn).combine_chunks()
        t0 += tn
        y0 = 0
        for j, yn in enumerate(ychunks):
            x0 = 0
            for k, xn in enumerate(xchunks):
                chunk_transform = transform @ Affine.translation(x0, y0)
                spec = ChunkSpec(
                    bands=tuple(bands),
                    cloud_config=dict(cloud_config),
                    transform=tuple(chunk_transform)[:6],
                    height=yn,
                    width=xn,
                    aoi_wkb=shapely.to_wkb(dst_aoi),
                    dtype=dtype.str,
                    fill_values=tuple(probe.fill_values),
                    options=spec_options,
                    frame=frame,
                    backend_factory=backend_factory,
                )
                graph[(read_name, i, j, k)] = (read_chunk, (rows_name, i), spec)
                graph[(data_name, i, 0, j, k)] = (operator.getitem, (read_name, i, j, k), 0)
                graph[(valid_name, i, 0, j, k)] = (operator.getitem, (read_name, i, j, k), 1)
                x0 += xn
            y0 += yn
    array_chunks = (tchunks, (len(bands),), ychunks, xchunks)
    data = da.Array(graph, data_name, array_chunks, dtype=dtype)  # type: ignore[no-untyped-call]
    valid = da.Array(graph, valid_name, array_chunks, dtype=bool)  # type: ignore[no-untyped-call]
    return ArrayResult(
        data=data,  # type: ignore[arg-type]  # dask stands in for NumPy until computed
        valid=valid,  # type: ignore[arg-type]
        ids=tuple(s.id for s in scenes),
        datetimes=tuple(s.datetime for s in scenes),
        cloud_cover=tuple(s.cloud_cover for s in scenes),
        bands=tuple(bands),
        transform=transform,
        crs=probe.crs,
        fill_values=tuple(probe.fill_values),
        nodata=tuple(probe.nodata),
    )
