"""Point sampling: the value of each band at each point, per scene, as GDAL samples it.

A point falls in the pixel whose row and column are the floor of its inverse-affine
image coordinates (``rasterio.sample``'s rule). Points are grouped by tile, so each
tile is fetched and decoded once however many points land in it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from affine import Affine
from pyproj import CRS, Transformer

from rasteret.index.arrow_np import array_of, micros, string_array
from rasteret.io import StorageBackend
from rasteret.read.engine import fetch_and_decode, scratch_for
from rasteret.read.inflight import RowSpan
from rasteret.read.plan import TileJob, TileKey
from rasteret.read.reader import SceneSource, crs_of_header, transform_of_header
from rasteret.tiff.types import TiffHeader

_POINT_INDEX = "point_index"
_SCENE_ID = "scene_id"
_DATETIME = "datetime"
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def pixel_of(
    transform: Affine, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rows and columns of the pixels containing the points (floor rule)."""
    inv = ~transform
    cols = np.floor(inv.a * xs + inv.b * ys + inv.c).astype(np.int64)
    rows = np.floor(inv.d * xs + inv.e * ys + inv.f).astype(np.int64)
    return rows, cols


async def sample_points_async(
    scenes: Sequence[SceneSource],
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    *,
    points_crs: CRS,
    bands: Sequence[str],
    backend: StorageBackend,
    max_concurrent: int = 50,
    on_tile: Callable[[], None] | None = None,
    expected: Mapping[str, TiffHeader] | None = None,
) -> pa.Table:
    """Sample ``bands`` of ``scenes`` at the points.

    Returns:
        One row per (point, scene) where the point lies inside the scene's image for
        at least one band: ``point_index``, ``scene_id``, ``datetime`` and one column
        per band in its native dtype, null where the point is outside that band's
        image or the value is the file's nodata.
    """
    n_points = len(xs)
    values: dict[tuple[int, int], npt.NDArray[Any]] = {}
    hits: dict[tuple[int, int], npt.NDArray[np.bool_]] = {}
    nodata: dict[int, float | None] = {}
    jobs: dict[TileKey, TileJob] = {}
    gathers: dict[TileKey, list[tuple[tuple[int, int], npt.NDArray[np.int64], Any, Any, int]]]
    gathers = defaultdict(list)
    projected: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}
    for n, scene in enumerate(scenes):
        for c, band in enumerate(bands):
            src = scene.bands.get(band)
            if src is None:
                continue
            ifd = src.header.full
            crs = crs_of_header(src.header, src.url)
            key_crs = crs.to_wkt()
            if key_crs not in projected:
                if crs == points_crs:
                    projected[key_crs] = (xs, ys)
                else:
                    tr = Transformer.from_crs(points_crs, crs, always_xy=True)
                    px, py = tr.transform(xs, ys)
                    projected[key_crs] = (np.asarray(px), np.asarray(py))
            px, py = projected[key_crs]
            rows, cols = pixel_of(transform_of_header(src.header), px, py)
            inside = (rows >= 0) & (rows < ifd.height) & (cols >= 0) & (cols < ifd.width)
            values[(n, c)] = np.zeros(n_points, dtype=np.dtype(ifd.dtype))
            hits[(n, c)] = np.zeros(n_points, dtype=bool)
            nodata[c] = nodata.get(c, src.header.nodata)
            idx = np.nonzero(inside)[0]
            if idx.size == 0:
                continue
            r, k = rows[idx], cols[idx]
            th, tw = ifd.tile_height, ifd.tile_width
            tile_index = (r // th) * ifd.tiles_across + (k // tw)
            if ifd.planar_config == 2 and ifd.samples_per_pixel > 1:
                tile_index = tile_index + src.sample * ifd.tiles_across * ifd.tiles_down
            sample = 0 if ifd.planar_config == 2 else src.sample
            order = np.argsort(tile_index, kind="stable")
            tile_sorted = tile_index[order]
            bounds = np.flatnonzero(np.diff(tile_sorted)) + 1
            for chunk in np.split(order, bounds):
                t = int(tile_index[chunk[0]])
                length = int(ifd.tile_byte_counts[t])
                if length == 0:  # sparse tile: GDAL reads nodata / 0
                    continue
                key = TileKey(url=src.url, ifd_index=ifd.ifd_index, tile_index=t)
                if key not in jobs:
                    tile_row = t % (ifd.tiles_across * ifd.tiles_down) // ifd.tiles_across
                    jobs[key] = TileJob(
                        key=key,
                        offset=int(ifd.tile_offsets[t]),
                        length=length,
                        rows=th if ifd.tiled else min(th, ifd.height - tile_row * th),
                        ifd=ifd,
                        byte_order=src.header.byte_order,
                    )
                pts = idx[chunk]
                gathers[key].append(((n, c), pts, r[chunk] % th, k[chunk] % tw, sample))
            hits[(n, c)][idx] = True

    def rows_needed(job: TileJob) -> RowSpan:
        """From the highest to the lowest row a point falls in: deflate stops at the lowest."""
        rows = [(int(tr_.min()), int(tr_.max())) for _, _, tr_, _, _ in gathers[job.key]]
        return min(r[0] for r in rows), max(r[1] for r in rows) + 1

    def consume(job: TileJob, tile: npt.NDArray[Any]) -> None:
        for target, pts, tr_, tc_, sample in gathers[job.key]:
            values[target][pts] = tile[tr_, tc_, sample]

    await fetch_and_decode(
        jobs.values(),
        backend,
        max_concurrent=max_concurrent,
        consume=consume,
        destination=scratch_for,  # consume copies the values it keeps
        rows_needed=rows_needed,
        on_tile=on_tile,
        expected=expected,
    )
    return _to_table(scenes, bands, n_points=n_points, values=values, hits=hits, nodata=nodata)


def _to_table(
    scenes: Sequence[SceneSource],
    bands: Sequence[str],
    *,
    n_points: int,
    values: dict[tuple[int, int], npt.NDArray[Any]],
    hits: dict[tuple[int, int], npt.NDArray[np.bool_]],
    nodata: dict[int, float | None],
) -> pa.Table:
    point_idx: list[npt.NDArray[np.int64]] = []
    scene_idx: list[npt.NDArray[np.int64]] = []
    columns: dict[str, list[pa.Array[Any]]] = {b: [] for b in bands}
    for n in range(len(scenes)):
        any_hit = np.zeros(n_points, dtype=bool)
        for c in range(len(bands)):
            if (n, c) in hits:
                any_hit |= hits[(n, c)]
        idx = np.nonzero(any_hit)[0]
        if idx.size == 0:
            continue
        point_idx.append(idx)
        scene_idx.append(np.full(idx.size, n, dtype=np.int64))
        for c, band in enumerate(bands):
            if (n, c) not in values:
                columns[band].append(pa.nulls(idx.size))
                continue
            vals = values[(n, c)][idx]
            null = ~hits[(n, c)][idx]
            nd = nodata.get(c)
            if nd is not None:
                null |= np.isnan(vals) if np.isnan(nd) else vals == nd
            columns[band].append(array_of(vals, valid=~null))
    if not point_idx:
        empty = {
            _POINT_INDEX: array_of(np.zeros(0, dtype=np.int64)),
            _SCENE_ID: string_array([]),
            _DATETIME: array_of(np.zeros(0, dtype=np.int64), _TIMESTAMP),
        }
        return pa.table({**empty, **{b: pa.nulls(0) for b in bands}})
    # one value per scene, repeated per row by Arrow (millions of rows are common: a
    # Python object per row would cost more than the whole read)
    # (built from buffers: pa.array on NumPy or Python values would import pandas)
    rows = array_of(np.concatenate(scene_idx))
    stamps = np.array(
        [0 if s.datetime is None else micros(s.datetime) for s in scenes], dtype=np.int64
    )
    dated = np.array([s.datetime is not None for s in scenes], dtype=bool)
    table = {
        _POINT_INDEX: array_of(np.concatenate(point_idx)),
        _SCENE_ID: pc.take(string_array([s.id for s in scenes]), rows),
        _DATETIME: pc.take(array_of(stamps, _TIMESTAMP, valid=dated), rows),
    }
    for band in bands:
        chunks = columns[band]
        typed = [ch for ch in chunks if not pa.types.is_null(ch.type)]
        target = typed[0].type if typed else pa.null()
        table[band] = pa.concat_arrays([ch.cast(target) for ch in chunks])
    return pa.table(table)
