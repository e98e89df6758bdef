"""Point sampling: the value of each band at each point, per scene, as GDAL samples it.

A point falls in the pixel whose row and column are the floor of its inverse-affine
image coordinates (``rasterio.sample``'s rule). Points are grouped by tile, so each
tile is fetched and decoded once however many points land in it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from affine import Affine
from pyproj import CRS, Transformer

from rasteret.index.arrow_np import array_of, micros, string_array
from rasteret.io import StorageBackend
from rasteret.read.engine import fetch_and_decode, scratch_for
from rasteret.read.inflight import RowSpan
from rasteret.read.plan import TileJob, TileKey
from rasteret.read.reader import (
    BandSource,
    SceneSource,
    crs_of_header,
    dataset_mask,
    nodata_of,
    sparse_value,
    transform_of_header,
)
from rasteret.tiff.types import IfdLayout, TiffHeader

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
    nodata: dict[tuple[int, int], float | None] = {}  # each scene's own, as GDAL's mask
    masks: dict[tuple[int, int], npt.NDArray[Any]] = {}  # internal masks or alpha, 0 = no data
    jobs: dict[TileKey, TileJob] = {}
    gathers: dict[TileKey, list[tuple[npt.NDArray[Any], npt.NDArray[np.int64], Any, Any, int]]]
    gathers = defaultdict(list)
    projected: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}
    placed: dict[tuple[Any, ...], _Placement] = {}

    def gather(
        src: BandSource,
        ifd: IfdLayout,
        placement: _Placement,
        into: npt.NDArray[Any],
        *,
        empty: float,
        of_sample: int,
    ) -> None:
        """Plan reading ``ifd``'s sample ``of_sample`` at the placed points into ``into``.

        ``empty``: what sparse tiles (no bytes) hold.
        """
        th = ifd.tile_height
        planes = ifd.planar_config == 2 and ifd.samples_per_pixel > 1
        shift = of_sample * ifd.tiles_across * ifd.tiles_down if planes else 0
        sample = 0 if ifd.planar_config == 2 or ifd.samples_per_pixel == 1 else of_sample
        for t0, pts, tile_rows, tile_cols in placement.tiles:
            t = t0 + shift
            length = int(ifd.tile_byte_counts[t])
            if length == 0:  # sparse tile: GDAL reads nodata / 0
                into[pts] = empty
                continue
            key = TileKey(url=src.url, ifd_index=ifd.ifd_index, tile_index=t)
            if key not in jobs:
                tile_row = t0 // ifd.tiles_across
                jobs[key] = TileJob(
                    key=key,
                    offset=int(ifd.tile_offsets[t]),
                    length=length,
                    rows=th if ifd.tiled else min(th, ifd.height - tile_row * th),
                    ifd=ifd,
                    byte_order=src.header.byte_order,
                )
            gathers[key].append((into, pts, tile_rows, tile_cols, sample))

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
            transform = transform_of_header(src.header)
            grid = (
                key_crs,
                tuple(transform),
                ifd.width,
                ifd.height,
                ifd.tile_width,
                ifd.tile_height,
                ifd.tiles_across,
                ifd.tiles_down,
            )
            placement = placed.get(grid)
            if placement is None:
                placement = placed[grid] = _place(ifd, transform, *projected[key_crs])
            values[(n, c)] = np.zeros(n_points, dtype=np.dtype(ifd.dtype))
            hits[(n, c)] = np.zeros(n_points, dtype=bool)
            mask = dataset_mask(src.header, ifd, src.sample)  # GDAL's mask, else the nodata
            nodata[(n, c)] = None if mask is not None else nodata_of(src.header)
            if placement.inside.size == 0:
                continue
            empty = sparse_value(src.header)
            gather(src, ifd, placement, values[(n, c)], empty=empty, of_sample=src.sample)
            if mask is not None:
                mask_ifd, mask_sample = mask
                masks[(n, c)] = np.zeros(n_points, dtype=np.dtype(mask_ifd.dtype))
                mask_place = (
                    placement
                    if mask_ifd is ifd
                    else _place(mask_ifd, transform, *projected[key_crs])
                )
                gather(src, mask_ifd, mask_place, masks[(n, c)], empty=0, of_sample=mask_sample)
            hits[(n, c)][placement.inside] = True

    def rows_needed(job: TileJob) -> RowSpan:
        """From the highest to the lowest row a point falls in: deflate stops at the lowest."""
        rows = [(int(tr_.min()), int(tr_.max())) for _, _, tr_, _, _ in gathers[job.key]]
        return min(r[0] for r in rows), max(r[1] for r in rows) + 1

    def consume(job: TileJob, tile: npt.NDArray[Any]) -> None:
        for into, pts, tr_, tc_, sample in gathers[job.key]:
            into[pts] = tile[tr_, tc_, sample]

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
    return _to_table(
        scenes, bands, n_points=n_points, values=values, hits=hits, nodata=nodata, masks=masks
    )


@dataclass(frozen=True)
class _Placement:
    """Where the points fall on one pixel grid, grouped by tile.

    Computed once per grid: the bands of a scene, and every scene of a time series
    over one tiling grid, share it (60 scenes x 2 bands of 20,000 points were 120
    argsorts before the first request could leave).
    """

    inside: npt.NDArray[np.intp]
    """Indices of the points inside the image."""
    tiles: list[tuple[int, npt.NDArray[np.intp], npt.NDArray[np.int64], npt.NDArray[np.int64]]]
    """Per tile touched (index in the first sample's plane): the points, their rows
    and columns within the tile."""


def _place(
    ifd: IfdLayout, transform: Affine, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
) -> _Placement:
    rows, cols = pixel_of(transform, xs, ys)
    inside = (rows >= 0) & (rows < ifd.height) & (cols >= 0) & (cols < ifd.width)
    idx = np.nonzero(inside)[0]
    if idx.size == 0:
        return _Placement(idx, [])
    r, k = rows[idx], cols[idx]
    th, tw = ifd.tile_height, ifd.tile_width
    tile_index = (r // th) * ifd.tiles_across + (k // tw)
    order = np.argsort(tile_index, kind="stable")
    bounds = np.flatnonzero(np.diff(tile_index[order])) + 1
    tiles = [
        (int(tile_index[chunk[0]]), idx[chunk], r[chunk] % th, k[chunk] % tw)
        for chunk in np.split(order, bounds)
    ]
    return _Placement(idx, tiles)


def _to_table(
    scenes: Sequence[SceneSource],
    bands: Sequence[str],
    *,
    n_points: int,
    values: dict[tuple[int, int], npt.NDArray[Any]],
    hits: dict[tuple[int, int], npt.NDArray[np.bool_]],
    nodata: dict[tuple[int, int], float | None],
    masks: Mapping[tuple[int, int], npt.NDArray[Any]] | None = None,
) -> pa.Table:
    """One row per (scene, point) the scene covers in any band, scene by scene.

    Every column is built once in NumPy and handed to Arrow without a copy: a points
    read easily makes millions of rows, and each pass over fresh pages shows in its
    time. ``scene_id`` is dictionary-encoded (a scene's id is repeated on each of its
    rows).
    """
    covered: list[npt.NDArray[np.intp]] = []
    for n in range(len(scenes)):
        any_hit = np.zeros(n_points, dtype=bool)
        for c in range(len(bands)):
            if (n, c) in hits:
                any_hit |= hits[(n, c)]
        covered.append(np.flatnonzero(any_hit))
    counts = np.array([idx.size for idx in covered], dtype=np.int64)
    scene_of_row = np.repeat(np.arange(len(scenes), dtype=np.int32), counts)
    stamps = np.array(
        [0 if s.datetime is None else micros(s.datetime) for s in scenes], dtype=np.int64
    )
    dated = np.array([s.datetime is not None for s in scenes], dtype=bool)
    point_index = np.concatenate([np.zeros(0, dtype=np.int64), *covered]).astype(
        np.int64, copy=False
    )
    table: dict[str, pa.Array[Any]] = {
        _POINT_INDEX: array_of(point_index, copy=False),
        _SCENE_ID: pa.DictionaryArray.from_arrays(
            array_of(scene_of_row, copy=False), string_array([s.id for s in scenes])
        ),
        _DATETIME: array_of(
            stamps[scene_of_row], _TIMESTAMP, valid=dated[scene_of_row], copy=False
        ),
    }
    for c, band in enumerate(bands):
        table[band] = _band_column(
            c, covered, values=values, hits=hits, nodata=nodata, masks=masks or {}
        )
    return pa.table(table)


def _band_column(
    c: int,
    covered: list[npt.NDArray[np.intp]],
    *,
    values: dict[tuple[int, int], npt.NDArray[Any]],
    hits: dict[tuple[int, int], npt.NDArray[np.bool_]],
    nodata: dict[tuple[int, int], float | None],
    masks: Mapping[tuple[int, int], npt.NDArray[Any]],
) -> pa.Array[Any]:
    """Band ``c`` over the covered points of every scene, null outside it or at nodata."""
    parts: list[tuple[npt.NDArray[Any] | None, npt.NDArray[np.bool_]]] = []
    for n, idx in enumerate(covered):
        if (n, c) not in values:
            parts.append((None, np.zeros(idx.size, dtype=bool)))
            continue
        vals = values[(n, c)][idx]
        valid = hits[(n, c)][idx]
        mask = masks.get((n, c))
        if mask is not None:
            valid &= mask[idx] != 0
        nd = nodata.get((n, c))
        if nd is not None:
            valid &= ~np.isnan(vals) if np.isnan(nd) else vals != nd
        parts.append((vals, valid))
    dtypes = {vals.dtype for vals, _ in parts if vals is not None}
    total = sum(valid.size for _, valid in parts)
    if not dtypes:
        return pa.nulls(total)
    if len(dtypes) > 1:  # scenes disagree on the band's type: Arrow casts to the first
        chunks = [
            pa.nulls(valid.size) if vals is None else array_of(vals, valid=valid)
            for vals, valid in parts
        ]
        target = next(ch.type for ch in chunks if not pa.types.is_null(ch.type))
        return pa.concat_arrays([ch.cast(target) for ch in chunks])
    (dtype,) = dtypes
    data = np.concatenate(
        [
            np.zeros(0, dtype=dtype),
            *(np.zeros(v.size, dtype) if vals is None else vals for vals, v in parts),
        ]
    )
    valid = np.concatenate([np.zeros(0, dtype=bool), *(v for _, v in parts)])
    return array_of(data, valid=valid, copy=False)
