"""The :class:`Collection`: an immutable, filterable view of one index.

A collection is an Arrow table (one row per STAC item, the schema of
:mod:`rasteret.index.schema`) plus its manifest. Filters build a new table and wrap it
in a new collection; nothing is ever modified in place, so a collection handed to a
reader or another thread cannot change underneath it. It speaks the Arrow PyCapsule
stream protocol, so ``pyarrow.table(c)``, DuckDB and Polars consume it directly.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from numbers import Real
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import shapely
import shapely.geometry
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from rasteret.errors import (
    BandMappingError,
    CollectionNotFoundError,
    IndexFormatError,
    InvalidInputError,
    PartialBuildWarning,
    StaleSourceError,
)
from rasteret.index import schema
from rasteret.index.arrow_np import (
    bool_array,
    datetimes,
    from_micros,
    micros,
    numeric_values,
    string_array,
    timestamp_micros,
)
from rasteret.index.manifest import Failure, Manifest
from rasteret.index.pool import POOL, filter_rows
from rasteret.index.storage import read_index, write_index
from rasteret.index.workspace import INDEX_FILE, Workspace, validate_name
from rasteret.io import CloudConfig, StorageBackend, create_backend
from rasteret.io.sync import on_bridge, run_sync
from rasteret.progress import ProgressBar
from rasteret.read.geometry import normalize_geometries, normalize_points, normalize_shapes
from rasteret.read.grid import transform_geometry
from rasteret.read.points import sample_points_async
from rasteret.read.reader import (
    PIECE_OPTIONS,
    ArrayResult,
    SceneSource,
    indexed_headers,
    prepare_aoi_read,
    read_aois_async,
)
from rasteret.read.sources import SourceCache, scene_sources
from rasteret.read.warp import IMPLEMENTED as _WARP_METHODS
from rasteret.read.warp import Resampling
from rasteret.refresh import refresh_stale
from rasteret.stac.inputs import normalize_bbox, normalize_date_range, split_antimeridian
from rasteret.tiff.types import TiffHeader

__all__ = ["Collection", "Scene", "as_collection", "load"]


@dataclass(frozen=True, kw_only=True)
class Scene:
    """One item of a collection, light enough to iterate over thousands."""

    id: str
    """STAC item id."""
    datetime: datetime | None
    """Acquisition time (UTC); ``start_datetime`` for items that only have a range."""
    cloud_cover: float | None
    """``eo:cloud_cover`` in percent, when the item has it."""
    geometry: shapely.Geometry | None
    """Footprint in CRS84."""
    bands: Mapping[str, str] = field(default_factory=dict)
    """Band code -> asset href, for the bands this item has."""
    collection: str | None = None
    """STAC collection id."""


# --- input normalisation: bboxes and dates as the build reads them -----------------------------


def _item_spans(
    table: pa.Table,
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.bool_]
]:
    """Each item's first and last instant (epoch microseconds) and where it has one.

    ``start_datetime``/``end_datetime`` where given, else ``datetime`` at both ends.
    NumPy on the columns' buffers: Arrow scalars of a zoned timestamp would import pandas,
    and Arrow kernels cost more than this arithmetic on a few thousand rows.
    """
    when, has_when = timestamp_micros(table.column(schema.DATETIME))
    first, has_first = timestamp_micros(table.column(schema.START_DATETIME))
    last, has_last = timestamp_micros(table.column(schema.END_DATETIME))
    return (
        np.where(has_first, first, when),
        has_first | has_when,
        np.where(has_last, last, when),
        has_last | has_when,
    )


def _id_list(value: Any) -> list[str]:
    """Item ids as a list of strings; a single id may be given bare."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidInputError("ids", value, "expected an id or an iterable of ids")
    ids = list(value)
    bad = [v for v in ids if not isinstance(v, str)]
    if bad:
        raise InvalidInputError("ids", bad[0], "item ids are strings")
    return ids


def _bbox_boxes(value: Any) -> list[shapely.Geometry]:
    """CRS84 boxes of a bbox, read as the build reads it (antimeridian: two boxes)."""
    bbox = normalize_bbox(value)
    assert bbox is not None  # the caller passes a bbox, not None
    return [shapely.box(*part) for part in split_antimeridian(bbox)]


def _geometries(table: pa.Table) -> npt.NDArray[np.object_]:
    """The index's WKB geometry column decoded (None where null).

    Through ``to_pylist``: pyarrow's ``to_numpy`` on a binary column imports pandas.
    """
    wkb = np.array(table.column(schema.GEOMETRY).to_pylist(), dtype=object)
    return np.asarray(shapely.from_wkb(wkb), dtype=object)


def _footprints(table: pa.Table) -> npt.NDArray[np.object_]:
    """Item footprints in CRS84: the geometry, or the bbox covering where it is null."""
    geoms = _geometries(table)
    missing = shapely.is_missing(geoms)
    if missing.any():
        bbox = table.column(schema.BBOX)
        xmin, ymin, xmax, ymax = (
            np.asarray(
                pc.struct_field(bbox, [i], memory_pool=POOL).to_numpy(zero_copy_only=False),
                np.float64,
            )
            for i in range(4)
        )
        boxes = shapely.box(xmin, ymin, xmax, ymax)
        for i in np.flatnonzero(missing & (xmin > xmax)):  # across the antimeridian
            parts = split_antimeridian((xmin[i], ymin[i], xmax[i], ymax[i]))
            boxes[i] = shapely.MultiPolygon([shapely.box(*part) for part in parts])
        geoms = np.where(missing, boxes, geoms)
    return np.asarray(geoms, dtype=object)


def _intersecting(table: pa.Table, queries: Sequence[shapely.Geometry]) -> pa.BooleanArray:
    """Boolean mask of rows whose footprint intersects any of ``queries``."""
    mask = np.zeros(table.num_rows, dtype=bool)
    if table.num_rows and queries:
        footprints = _footprints(table)
        tree = shapely.STRtree(footprints)
        hits = tree.query(np.asarray(queries, dtype=object), predicate="intersects")
        mask[hits[1]] = True  # repeated rows are fine: no np.unique (a cold import)
    return bool_array(mask)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _bridged(
    method: Callable[Concatenate[Collection, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[Collection, _P], Coroutine[Any, Any, _R]]:
    """Run an async read on rasteret's I/O loop (:func:`~rasteret.io.sync.on_bridge`).

    Not when the caller passes its own ``backend``: that one may be bound to the
    caller's loop, so the read stays there.
    """

    @functools.wraps(method)
    async def bridged(self: Collection, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        read = method(self, *args, **kwargs)
        if kwargs.get("backend") is not None:
            return await read
        return await on_bridge(read)

    return bridged


def _fmt_day(value: datetime | None) -> str:
    return "?" if value is None else value.strftime("%Y-%m-%d")


class _Lineage:
    """What a collection shares with every collection filtered from it.

    One backend (so one connection pool per store: a loop over 1,000 subsets must not
    open 1,000 pools) and one cache of decoded band layouts.
    """

    __slots__ = ("_backend", "_cache", "_lock", "_root")

    def __init__(self, root: pa.Table) -> None:
        self._root: pa.Table | None = root
        self._backend: StorageBackend | None = None
        self._cache: SourceCache | None = None
        self._lock = threading.Lock()

    def with_new_layouts(self, root: pa.Table) -> _Lineage:
        """A lineage for re-indexed rows: the same backend, an empty layout cache."""
        fresh = _Lineage(root)
        with self._lock:
            fresh._backend = self._backend
        return fresh

    def backend(self, manifest: Manifest) -> StorageBackend:
        with self._lock:
            if self._backend is None:
                config = CloudConfig.from_dict(dict(manifest.cloud_config or {}))
                self._backend = create_backend(cloud_config=config)
            return self._backend

    def sources(self) -> SourceCache:
        with self._lock:
            if self._cache is None:
                assert self._root is not None
                ids = self._root.column(schema.ID)
                unique = pc.count_distinct(ids, memory_pool=POOL).as_py() == self._root.num_rows
                self._cache = SourceCache(unique_ids=unique)
                self._root = None  # the check is done: do not keep the root rows alive
            return self._cache


class Collection:
    """An immutable view of one index: rows are STAC items, columns the index schema.

    Build one with ``rasteret.build_from_stac`` or :func:`load`; narrow it with
    :meth:`subset` and :meth:`where`, which return new collections.

    Args:
        table: Index rows (see :func:`rasteret.index.schema.index_schema`).
        manifest: The build's manifest (bands, parameters, failures).
        path: File the rows came from, when they came from one.
    """

    __slots__ = ("_lineage", "_manifest", "_path", "_table")

    _table: pa.Table
    _manifest: Manifest
    _path: Path | None
    _lineage: _Lineage

    def __init__(self, table: pa.Table, manifest: Manifest, path: Path | None = None) -> None:
        if not isinstance(table, pa.Table):
            raise InvalidInputError(
                "table",
                type(table).__name__,
                "expected a pyarrow.Table of index rows; Collection.from_table reads others",
            )
        if not isinstance(manifest, Manifest):
            raise InvalidInputError("manifest", type(manifest).__name__, "expected a Manifest")
        if path is not None and not isinstance(path, str | os.PathLike):
            raise InvalidInputError("path", path, "expected a file path or None")
        schema.check_schema(table.schema, source=str(path or "<table>"))
        codes = schema.band_codes_of(table.schema)
        if codes != tuple(manifest.band_codes):
            raise IndexFormatError(
                f"table bands {list(codes)} differ from manifest bands {list(manifest.band_codes)}"
            )
        object.__setattr__(self, "_table", table.replace_schema_metadata(None))
        object.__setattr__(self, "_manifest", manifest)
        object.__setattr__(self, "_path", None if path is None else Path(path))
        object.__setattr__(self, "_lineage", _Lineage(self._table))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Collection is immutable; filters return a new Collection")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Collection is immutable")

    def _derive(self, table: pa.Table, *, new_layouts: bool = False) -> Collection:
        """A collection of ``table``'s rows, filtered from this one's.

        It shares this one's backend and decoded layouts, unless ``new_layouts`` (the
        rows were re-indexed: the same ids now have other layouts).
        """
        derived = Collection(table, self._manifest, self._path)
        lineage = self._lineage.with_new_layouts(table) if new_layouts else self._lineage
        object.__setattr__(derived, "_lineage", lineage)
        return derived

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def from_table(cls, table: Any, *, like: Collection) -> Collection:
        """Rows chosen with DuckDB, Polars, GeoPandas or Arrow, as a collection like ``like``.

        ``table`` holds index rows (e.g. ``SELECT * FROM 'index.parquet' WHERE ...``); the
        manifest (bands, cloud config) comes from ``like``. See
        :mod:`rasteret.adapters.tables`.

        Raises:
            InvalidInputError: A required index column is missing or cannot be cast, an
                item id is null, or ``like`` is not a Collection.
        """
        from rasteret.adapters.tables import to_arrow  # noqa: PLC0415 - adapters sit above

        if not isinstance(like, Collection):
            raise InvalidInputError(
                "like", type(like).__name__, "expected the Collection the rows come from"
            )
        return cls(to_arrow(table, like.bands), like._manifest)

    @classmethod
    def load(cls, path_or_name: str | Path, workspace_dir: str | Path | None = None) -> Collection:
        """Open a collection by workspace name or index path (see :func:`load`)."""
        return load(path_or_name, workspace_dir=workspace_dir)

    # --- basic views ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def __iter__(self) -> Iterator[Scene]:
        t = self._table
        ids = t.column(schema.ID).to_pylist()
        times = datetimes(t.column(schema.DATETIME))  # to_pylist would import pandas
        clouds = t.column(schema.CLOUD_COVER).to_pylist()
        colls = t.column(schema.COLLECTION).to_pylist()
        geoms = _geometries(t)
        hrefs = {
            code: pc.struct_field(
                t.column(schema.band_column(code)), ["href"], memory_pool=POOL
            ).to_pylist()
            for code in self.bands
        }
        for i, item_id in enumerate(ids):
            yield Scene(
                id=str(item_id),
                datetime=times[i],
                cloud_cover=clouds[i],
                geometry=geoms[i],
                bands={c: h[i] for c, h in hrefs.items() if h[i] is not None},
                collection=colls[i],
            )

    def to_table(self) -> pa.Table:
        """The rows as an Arrow table (immutable, so no copy is needed)."""
        return self._table

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """Arrow PyCapsule stream of the rows (``pa.table(c)``, DuckDB, Polars)."""
        table: Any = self._table  # pyarrow-stubs leave this method untyped
        return table.__arrow_c_stream__(requested_schema)

    @property
    def name(self) -> str:
        """Collection name from the manifest."""
        return self._manifest.name

    @property
    def manifest(self) -> Manifest:
        """How the index was built (parameters, fingerprint, summary, failures)."""
        return self._manifest

    @property
    def path(self) -> Path | None:
        """Index file these rows were read from, if any."""
        return self._path

    @property
    def failures(self) -> tuple[Failure, ...]:
        """Assets of the build whose layout could not be indexed."""
        return self._manifest.failures

    @property
    def bands(self) -> tuple[str, ...]:
        """Band codes, in column order."""
        return tuple(self._manifest.band_codes)

    def band_info(self, code: str) -> dict[str, Any]:
        """``{"asset_key": ..., "sample_index": ...}`` for band ``code``.

        Raises:
            BandMappingError: The collection has no such band.
        """
        info = self._manifest.bands.get(code)
        if info is None:
            raise BandMappingError(f"band {code!r} not in collection (bands: {list(self.bands)})")
        return dict(info)

    def headers(self, code: str) -> list[TiffHeader | None]:
        """The stored TIFF layout of band ``code`` for every row (None where it failed)."""
        if code not in self.bands:
            raise BandMappingError(f"band {code!r} not in collection (bands: {list(self.bands)})")
        return schema.headers_from_array(self._table.column(schema.band_column(code)))

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """(minx, miny, maxx, maxy) over all footprints, CRS84; None when empty."""
        bbox = self._table.column(schema.BBOX)
        values = [
            (pc.min if i < 2 else pc.max)(
                pc.struct_field(bbox, [i], memory_pool=POOL), memory_pool=POOL
            ).as_py()
            for i in range(4)
        ]
        if any(v is None for v in values):
            return None
        return (float(values[0]), float(values[1]), float(values[2]), float(values[3]))

    @property
    def crs(self) -> tuple[int, ...]:
        """EPSG codes of the assets (from the headers and ``proj:epsg``), sorted."""
        columns = [self._table.column(schema.EPSG)] + [
            pc.struct_field(
                self._table.column(schema.band_column(code)), ["crs_epsg"], memory_pool=POOL
            )
            for code in self.bands
        ]
        codes = {
            int(v)
            for c in columns
            for v in pc.unique(c, memory_pool=POOL).to_pylist()
            if v is not None
        }
        return tuple(sorted(codes))

    @property
    def datetime_range(self) -> tuple[datetime, datetime] | None:
        """Earliest start and latest end of the items (UTC); None when empty."""
        starts, has_start, ends, has_end = _item_spans(self._table)
        if not has_start.any() or not has_end.any():
            return None
        return from_micros(starts[has_start].min()), from_micros(ends[has_end].max())

    # --- filters -------------------------------------------------------------------------------

    def subset(
        self,
        *,
        bbox: Sequence[float] | None = None,
        date_range: Sequence[Any] | str | None = None,
        cloud_cover_lt: float | None = None,
        geometries: Any = None,
        ids: str | Iterable[str] | None = None,
    ) -> Collection:
        """A new collection with the items matching every given filter.

        Args:
            bbox: (minx, miny, maxx, maxy) in CRS84 (a sequence or NumPy array); items
                whose footprint intersects it. ``minx > maxx`` means the box crosses the
                antimeridian.
            date_range: (start, end) read as the build reads it: ``"YYYY"``, ``"YYYY-MM"``
                and ``"YYYY-MM-DD"`` cover the whole period at either end (inclusive),
                ISO datetimes, dates and datetimes are taken as given (naive ones as UTC),
                None or ``".."`` leaves a side open; a ``"start/end"`` string works too.
                Items with a start/end range match when it overlaps; with a bound given,
                items with no time at all match nothing. Both ends open: no filter.
            cloud_cover_lt: Keep items with ``eo:cloud_cover`` strictly below this; items
                without cloud cover are dropped, since they cannot be shown to qualify.
            geometries: One or more geometries of any type (shapely, GeoJSON, WKB, WKT,
                ``__geo_interface__``, a GeoDataFrame/GeoSeries, whose CRS is used;
                others are CRS84); items whose footprint intersects any of them.
            ids: One item id or several; items with one of these ids. Ids the collection
                does not hold select nothing (as a date range with no items would). Unlike
                ``where(pc.field("id").isin([...]))``, this does not import pandas (pyarrow
                does when it converts a Python list), which costs a cold process ~0.1 s.

        Raises:
            InvalidInputError: A filter value is malformed (the message names it).
        """
        t = self._table
        if ids is not None:
            t = filter_rows(
                t,
                pc.is_in(
                    t.column(schema.ID), value_set=string_array(_id_list(ids)), memory_pool=POOL
                ),
            )
        dates = normalize_date_range(date_range)  # None: no filter, or both ends open
        if dates is not None:
            start, stop = dates
            starts, keep, ends, has_end = _item_spans(t)  # no time at all: matches no range
            if stop is not None:
                keep &= starts <= micros(stop)
            if start is not None:
                keep &= has_end & (ends >= micros(start))
            t = filter_rows(t, bool_array(keep))
        if cloud_cover_lt is not None:
            if (
                isinstance(cloud_cover_lt, bool)
                or not isinstance(cloud_cover_lt, Real)
                or math.isnan(cloud_cover_lt)
            ):
                raise InvalidInputError("cloud_cover_lt", cloud_cover_lt, "must be a number")
            cover = numeric_values(t.column(schema.CLOUD_COVER), null=math.nan)
            t = filter_rows(t, bool_array(cover < float(cloud_cover_lt)))  # NaN (no cover) is False
        if bbox is not None:
            t = filter_rows(t, _intersecting(t, _bbox_boxes(bbox)))
        if geometries is not None:
            shapes = normalize_shapes(geometries)
            crs84 = CRS.from_epsg(4326)
            t = filter_rows(
                t,
                _intersecting(
                    t, [transform_geometry(g, shapes.crs, crs84) for g in shapes.geometries]
                ),
            )
        return self._derive(t)

    # --- pixel reads ---------------------------------------------------------------------------

    def _warn_unindexed(self, scenes: Sequence[SceneSource], bands: Sequence[str]) -> None:
        """Say when a read covers scenes whose band header failed at the build.

        Those scenes read as not valid, which is right, but without this nothing would
        tell an all-False mask from a cloud or a gap in coverage.
        """
        failed = {(f.item_id, f.band): f for f in self._manifest.failures}
        if not failed:
            return
        hit = [
            failed[(s.id, b)]
            for s in scenes
            for b in bands
            if s.bands.get(b) is None and (s.id, b) in failed
        ]
        if hit:
            warnings.warn(
                f"collection {self.name!r}: {len(hit)} scene band(s) of this read have no "
                f"layout (their headers failed at the build; first: {hit[0].item_id} "
                f"{hit[0].band}: {hit[0].reason}) and read as not valid; see .failures",
                PartialBuildWarning,
                stacklevel=3,
            )

    def _storage(self, backend: StorageBackend | None) -> StorageBackend:
        """The caller's backend, else one per collection (one connection pool per store)."""
        if backend is not None:
            return backend
        return self._lineage.backend(self._manifest)

    @_bridged
    async def get_numpy_async(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        all_touched: bool = False,
        fill_value: float | None = None,
        crs: Any = None,
        overview: int | None = None,
        target_crs: Any = None,
        resolution: float | tuple[float, float] | None = None,
        resampling: str = "nearest",
        apply_scale: bool = False,
        max_concurrent: int = 50,
        backend: StorageBackend | None = None,
        on_stale: str = "raise",
    ) -> ArrayResult | list[ArrayResult]:
        """Async twin of :meth:`get_numpy`."""
        checked = _checked_read_options(
            {
                "all_touched": all_touched,
                "fill_value": fill_value,
                "overview": overview,
                "target_crs": target_crs,
                "resolution": resolution,
                "resampling": resampling,
                "apply_scale": apply_scale,
                "max_concurrent": max_concurrent,
                "on_stale": on_stale,
            }
        )
        single_band = isinstance(bands, str)
        band_list = _band_list(bands)
        aois = normalize_geometries(geometries, crs=crs)
        dst_crs, res = checked["target_crs"], checked["resolution"]
        store = self._storage(backend)
        wgs84 = CRS.from_epsg(4326)
        queries = [transform_geometry(g, aois.crs, wgs84) for g in aois.geometries]
        # one scene list for every AOI (the scenes any AOI touches), so results stack
        hits = _intersecting(self._table, queries)
        if not hits.true_count:
            raise InvalidInputError(
                "geometries",
                "; ".join(shapely.to_wkt(g, rounding_precision=6) for g in aois.geometries),
                f"intersects none of the {len(self)} scenes of collection {self.name!r}",
            )
        scenes = scene_sources(
            self._table,
            band_list,
            cloud_config=self._manifest.cloud_config,
            cache=self._lineage.sources(),
            rows=hits,
        )
        self._warn_unindexed(scenes, band_list)
        prepared = [
            prepare_aoi_read(
                scenes,
                geom,
                aois.crs,
                band_list,
                all_touched=all_touched,
                fill_value=fill_value,
                overview=overview,
                target_crs=dst_crs,
                resolution=res,
                resampling=resampling,
                apply_scale=apply_scale,
            )
            for geom in aois.geometries
        ]
        total = len({key for p in prepared for key in p.plan.jobs})  # shared tiles count once
        expected = indexed_headers(scenes)
        try:
            with ProgressBar(f"{self.name}: reading", unit="tile", total=total) as bar:
                results = await read_aois_async(
                    prepared,
                    store,
                    max_concurrent=max_concurrent,
                    on_tile=lambda: bar.update(1),
                    expected=expected,
                )
        except StaleSourceError as err:
            if on_stale != "reindex":
                raise
            table = await refresh_stale(
                self._table,
                self._manifest,
                self._path,
                store,
                list(expected),
                error=err,
                max_concurrent=max_concurrent,
            )
            return await self._derive(table, new_layouts=True).get_numpy_async(
                geometries,
                bands,
                all_touched=all_touched,
                fill_value=fill_value,
                crs=crs,
                overview=overview,
                target_crs=target_crs,
                resolution=resolution,
                resampling=resampling,
                apply_scale=apply_scale,
                max_concurrent=max_concurrent,
                backend=store,
            )
        if single_band:
            results = [
                dataclasses.replace(r, data=r.data[:, 0], valid=r.valid[:, 0]) for r in results
            ]
        return results[0] if len(results) == 1 else results

    def get_numpy(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        all_touched: bool = False,
        fill_value: float | None = None,
        crs: Any = None,
        overview: int | None = None,
        target_crs: Any = None,
        resolution: float | tuple[float, float] | None = None,
        resampling: str = "nearest",
        apply_scale: bool = False,
        max_concurrent: int = 50,
        backend: StorageBackend | None = None,
        on_stale: str = "raise",
    ) -> ArrayResult | list[ArrayResult]:
        """Read the pixels of ``bands`` inside ``geometries`` from every scene they touch.

        Only the tiles the AOI needs are fetched (concurrently, each once) and decoded in
        parallel. Results equal GDAL's: the window rasterio's ``geometry_window`` gives,
        pixels outside the AOI (centre rule, or ``all_touched``) and outside a scene set to
        the fill value (the file's nodata, else 0, else ``fill_value``); the native dtype
        is kept.

        Args:
            geometries: One AOI or several: a bbox tuple, shapely geometry, GeoJSON,
                WKB/WKT, ``__geo_interface__`` objects, or a GeoDataFrame / Arrow table.
            bands: A band code (result ``[N, H, W]``) or a list (``[N, C, H, W]``).
            all_touched: Keep every pixel the AOI touches, as GDAL's ``ALL_TOUCHED``.
            fill_value: Value for pixels outside the AOI or the scene; default nodata/0.
            crs: CRS of ``geometries`` when they do not carry one (default EPSG:4326).
            overview: Read this overview level (0 = first reduced level) instead of the
                full resolution; the window and mask are computed on that level's grid.
            target_crs: CRS of the output grid when scenes differ (default: the most
                common among the scenes, with a ``MixedGridWarning``).
            resolution: Output pixel size in ``target_crs`` units, one number or
                ``(xres, yres)`` (default: the most common, with a warning).
            resampling: ``"nearest"`` (default; right for integer and categorical data),
                ``"bilinear"`` or ``"cubic"``, for scenes that are not on the output grid.
            apply_scale: Return physical values ``raw * scale + offset`` (float, NaN
                where not valid), with scale/offset from the file's GDAL metadata, else
                the item's ``raster:bands``.
            max_concurrent: Most range requests in flight.
            backend: A :class:`~rasteret.StorageBackend` to read with (e.g. credentials).
            on_stale: What to do when an object changed since it was indexed (its size
                or ETag differ; checked on the tile responses, at no extra request):
                ``"raise"`` a :class:`~rasteret.errors.StaleSourceError`, or
                ``"reindex"``: read the headers of this read's objects again, patch
                the index on disk, and read with the fresh layout.

        Returns:
            An :class:`~rasteret.read.reader.ArrayResult` (``data``, ``valid``, ``ids``,
            ``datetimes``, ``transform``, ``crs``) per AOI; a list for several AOIs.

        Raises:
            StaleSourceError: An object changed since the build (``on_stale="raise"``).
            FetchError: A range could not be read after retries.
        """
        return run_sync(
            self.get_numpy_async(
                geometries,
                bands,
                all_touched=all_touched,
                fill_value=fill_value,
                crs=crs,
                overview=overview,
                target_crs=target_crs,
                resolution=resolution,
                resampling=resampling,
                apply_scale=apply_scale,
                max_concurrent=max_concurrent,
                backend=backend,
                on_stale=on_stale,
            )
        )

    async def get_xarray_async(
        self, geometries: Any, bands: str | Sequence[str], **options: Any
    ) -> Any:
        """Async twin of :meth:`get_xarray`."""
        from rasteret.adapters.xarray import to_dataset  # noqa: PLC0415 - xarray is optional

        chunks = options.pop("chunks", None)
        factory = _check_backend_factory(options.pop("backend_factory", None))
        if chunks is not None:  # lazy: dask chunks read in the workers (adapters/dask.py)
            result: Any = self._lazy_result(geometries, _band_list(bands), chunks, factory, options)
        else:
            if factory is not None:  # the backend the workers would make, made here once
                if options.get("backend") is not None:
                    raise InvalidInputError(
                        "backend_factory",
                        factory,
                        "pass backend= or backend_factory=, not both",
                    )
                options["backend"] = factory()
            result = await self.get_numpy_async(geometries, _band_list(bands), **options)
        first = result[0] if isinstance(result, list) else result
        return to_dataset(result, scene_properties={"eo:cloud_cover": list(first.cloud_cover)})

    def _lazy_result(
        self,
        geometries: Any,
        bands: list[str],
        chunks: Any,
        backend_factory: Any,
        options: dict[str, Any],
    ) -> ArrayResult:
        """The dask-backed read of :meth:`get_xarray` with ``chunks`` (one AOI)."""
        from rasteret.adapters.dask import lazy_read  # noqa: PLC0415 - dask is optional

        if options.pop("backend", None) is not None:
            raise InvalidInputError(
                "backend",
                "<backend>",
                "a live backend cannot travel to dask workers; "
                "pass backend_factory= (a picklable callable returning one)",
            )
        rows, aoi, aoi_crs, options = self._aoi_rows(geometries, options)
        return lazy_read(
            rows,
            aoi,
            aoi_crs,
            bands,
            cloud_config=dict(self._manifest.cloud_config or {}),
            chunks=chunks,
            options=options,
            backend_factory=backend_factory,
        )

    def _aoi_rows(
        self, geometries: Any, options: dict[str, Any]
    ) -> tuple[pa.Table, shapely.Geometry, CRS, dict[str, Any]]:
        """Rows, AOI, AOI CRS and parsed options of a read of ONE AOI done in workers.

        The options are checked by the helper :meth:`get_numpy_async` uses, so a value
        the eager read refuses never reaches a worker. ``on_stale="raise"`` is what the
        pieces do anyway (they raise :class:`StaleSourceError`), so it is accepted and
        dropped; they cannot re-index, so ``"reindex"`` is refused.
        """
        options = dict(options)
        aois = normalize_geometries(geometries, crs=options.pop("crs", None))
        on_stale = options.pop("on_stale", "raise")
        unknown = set(options) - set(PIECE_OPTIONS)
        if unknown:
            raise InvalidInputError(
                "options",
                sorted(unknown),
                f"not read options here; these are: {[*PIECE_OPTIONS, 'on_stale']}",
            )
        if len(aois.geometries) != 1:
            raise InvalidInputError("geometries", len(aois.geometries), "expected one AOI")
        options = _checked_read_options({**options, "on_stale": on_stale})
        if options.pop("on_stale") == "reindex":
            raise InvalidInputError(
                "on_stale",
                on_stale,
                "lazy and dataset reads cannot re-index; rebuild the collection with "
                "force=True, or read eagerly with on_stale='reindex'",
            )
        query = transform_geometry(aois.geometries[0], aois.crs, CRS.from_epsg(4326))
        rows = filter_rows(self._table, _intersecting(self._table, [query]))
        if rows.num_rows == 0:
            raise InvalidInputError(
                "geometries",
                shapely.to_wkt(aois.geometries[0], rounding_precision=6),
                f"intersects none of the {len(self)} scenes of collection {self.name!r}",
            )
        return rows, aois.geometries[0], aois.crs, options

    def to_torchgeo_dataset(
        self,
        bands: str | Sequence[str],
        chip_size: int,
        *,
        geometries: Any = None,
        stride: int | None = None,
        time_series: bool = False,
        backend_factory: Any = None,
        **options: Any,
    ) -> Any:
        """Chips of the AOI's output grid as a PyTorch dataset (TorchGeo's when it imports).

        Items are ``{"image", "mask", "bounds", "crs"}``: ``image`` is ``[C, H, W]`` (an
        item per chip and scene) or, with ``time_series``, ``[T, C, H, W]``, equal to the
        chip's window of what :meth:`get_numpy` reads for the whole AOI (warped scenes
        included). Safe in forked DataLoader workers
        (each process makes its own backend and event loop). ``geometries`` defaults to
        the collection's bounds (in CRS84); ``options`` are those of :meth:`get_numpy`
        (``crs`` is the CRS of ``geometries``, so it needs them; ``target_crs`` sets
        the chips' CRS), except ``on_stale="reindex"``: items cannot re-index. See
        :mod:`rasteret.adapters.torch`.
        """
        from rasteret.adapters.torch import make_dataset  # noqa: PLC0415 - torch is optional

        backend_factory = _check_backend_factory(backend_factory)
        if geometries is None and options.get("crs") is not None:
            raise InvalidInputError(
                "crs",
                options["crs"],
                "names the CRS of geometries=, which is not given (the default AOI is the "
                "collection's bounds in CRS84); pass geometries= in that CRS, or "
                "target_crs= to set the CRS of the chips",
            )
        aoi = shapely.box(*self.bounds) if geometries is None and self.bounds else geometries
        rows, geom, crs, options = self._aoi_rows(aoi, options)
        return make_dataset(
            rows,
            geom,
            crs,
            _band_list(bands),
            chip_size=chip_size,
            stride=stride,
            time_series=time_series,
            cloud_config=dict(self._manifest.cloud_config or {}),
            options=options,
            backend_factory=backend_factory,
        )

    def get_xarray(self, geometries: Any, bands: str | Sequence[str], **options: Any) -> Any:
        """Read like :meth:`get_numpy` and return an ``xarray.Dataset``.

        One variable per band with dims ``(time, y, x)`` (a leading ``geometry`` dim for
        several AOIs, smaller ones padded and marked not valid), native dtype,
        ``_FillValue``, a ``<band>_valid`` mask, scene ids and ``eo:cloud_cover`` along
        ``time``, and a CF ``spatial_ref`` that rioxarray and odc-geo read. ``options``
        are those of :meth:`get_numpy`.

        ``chunks=`` (an int, ``"auto"`` or ``{"time": 1, "y": 512, "x": 512}``) returns
        the same dataset backed by dask instead, with nothing read yet: each chunk
        reads its tiles in whichever worker computes it (``dask.distributed`` too),
        from the index rows carried in the graph. Use ``backend_factory=`` (a picklable
        callable) for credentials. See :mod:`rasteret.adapters.dask`. Lazy reads check
        objects against the index as eager ones do (``on_stale="raise"``), but cannot
        re-index them, so ``on_stale="reindex"`` is refused there.

        ``backend_factory`` without ``chunks`` is called once per call, here, and the
        eager read uses the backend it returns (as ``backend=``, so not together with
        one), so one way of passing credentials works with and without chunks.
        """
        return run_sync(self.get_xarray_async(geometries, bands, **options))

    async def get_gdf_async(
        self, geometries: Any, bands: str | Sequence[str], **options: Any
    ) -> Any:
        """Async twin of :meth:`get_gdf`."""
        from rasteret.adapters.geopandas import to_geodataframe  # noqa: PLC0415 - optional dep

        aois = normalize_geometries(geometries, crs=options.get("crs"))
        result = await self.get_numpy_async(
            list(aois.geometries), _band_list(bands), **{**options, "crs": aois.crs}
        )
        results = result if isinstance(result, list) else [result]
        return to_geodataframe(results, list(aois.geometries), aois.crs, attributes=aois.attributes)

    def get_gdf(self, geometries: Any, bands: str | Sequence[str], **options: Any) -> Any:
        """Read like :meth:`get_numpy` and return a GeoDataFrame, a row per scene x AOI.

        The AOIs' own columns (plot ids, labels) are kept; each band column holds that
        AOI's pixels as a 2-D array, with ``<band>_valid``, ``transform`` and ``crs``
        to georeference them. ``options`` are those of :meth:`get_numpy`.
        """
        return run_sync(self.get_gdf_async(geometries, bands, **options))

    @_bridged
    async def sample_points_async(
        self,
        points: Any,
        bands: str | Sequence[str],
        *,
        crs: Any = None,
        max_concurrent: int = 50,
        backend: StorageBackend | None = None,
    ) -> pa.Table:
        """Async twin of :meth:`sample_points`."""
        band_list = _band_list(bands)
        _check_max_concurrent(max_concurrent)
        pts = normalize_points(points, crs=crs)
        store = self._storage(backend)
        wgs84 = CRS.from_epsg(4326)
        if pts.crs == wgs84:
            lon, lat = pts.xs, pts.ys
        else:
            lon, lat = Transformer.from_crs(pts.crs, wgs84, always_xy=True).transform(
                pts.xs, pts.ys
            )
        hull = shapely.box(np.min(lon), np.min(lat), np.max(lon), np.max(lat))
        scenes = scene_sources(
            self._table,
            band_list,
            cloud_config=self._manifest.cloud_config,
            cache=self._lineage.sources(),
            rows=_intersecting(self._table, [hull]),
        )
        self._warn_unindexed(scenes, band_list)
        with ProgressBar(f"{self.name}: sampling", unit="tile") as bar:
            table = await sample_points_async(
                scenes,
                pts.xs,
                pts.ys,
                points_crs=pts.crs,
                bands=band_list,
                backend=store,
                max_concurrent=max_concurrent,
                on_tile=lambda: bar.update(1),
                expected=indexed_headers(scenes),
            )
        if pts.attributes is not None and pts.attributes.num_columns:
            extra = pts.attributes.take(table.column("point_index"))
            for name in extra.column_names:
                kept = name
                while kept in table.column_names:  # e.g. the points' own "datetime"
                    kept = f"{kept}_point"
                table = table.append_column(kept, extra.column(name))
        return table

    def sample_points(
        self,
        points: Any,
        bands: str | Sequence[str],
        *,
        crs: Any = None,
        max_concurrent: int = 50,
        backend: StorageBackend | None = None,
    ) -> pa.Table:
        """Value of each band at each point, for every scene the point falls in.

        Args:
            points: ``(x, y)``, a list of them, an ``N x 2`` array, shapely points,
                GeoJSON, or a GeoDataFrame / Arrow table (its other columns are kept).
            bands: Band code or codes.
            crs: CRS of the points when they carry none (default EPSG:4326).
            max_concurrent: Most range requests in flight.
            backend: A :class:`~rasteret.StorageBackend` to read with.

        Returns:
            An Arrow table, one row per (point, scene): ``point_index``, ``scene_id``
            (dictionary-encoded strings), ``datetime``, one column per band (native
            dtype; null outside the image or at nodata), then the caller's point columns
            (one named like a column before it gets a ``_point`` suffix).
        """
        return run_sync(
            self.sample_points_async(
                points, bands, crs=crs, max_concurrent=max_concurrent, backend=backend
            )
        )

    def plot(
        self, geometry: Any, bands: str | Sequence[str], path: str | Path, **options: Any
    ) -> Path:
        """Write a quicklook PNG of one AOI over time: a grid of small images with dates.

        One band is colour-mapped, three make an RGB composite; every scene shares one
        percentile stretch, so brightness compares across dates. Needs ``rasteret[plot]``.

        Args:
            geometry: One AOI, as :meth:`get_numpy` takes it.
            bands: One band code, or three for RGB (e.g. ``["B04", "B03", "B02"]``).
            path: The PNG file to write.
            **options: ``cols``, ``max_scenes``, ``tile_px``, ``stretch``, ``cmap``,
                ``title`` shape the picture; the rest go to :meth:`get_numpy`.

        Returns:
            The path of the PNG.
        """
        from rasteret.adapters.plot import (  # noqa: PLC0415 - optional dep
            QUICKLOOK_OPTIONS,
            quicklook_png,
        )

        look = {key: options.pop(key) for key in QUICKLOOK_OPTIONS & set(options)}
        band_list = _band_list(bands)
        result = self.get_numpy(geometry, band_list, **options)
        if isinstance(result, list):
            raise InvalidInputError("geometry", len(result), "plot draws exactly one AOI")
        title = f"{self.name}: {' / '.join(band_list)}"
        return quicklook_png(result, path, **{"title": title, **look})

    def plot_footprints(
        self, path: str | Path, *, aoi: Any = None, crs: Any = None, **options: Any
    ) -> Path:
        """Write a PNG map of the scene footprints in the index, coloured by date.

        Reads nothing but the index, so it shows what a build found before any pixel is
        fetched. Needs ``rasteret[plot]``.

        Args:
            path: The PNG file to write.
            aoi: Optional geometry (any form :meth:`get_numpy` takes) drawn in red.
            crs: CRS of ``aoi`` when it carries none (default EPSG:4326).
            **options: ``title``, ``width_px``, ``height_px``.
        """
        from rasteret.adapters.plot import footprints_png  # noqa: PLC0415 - optional dep

        outline = None
        if aoi is not None:
            aois = normalize_geometries(aoi, crs=crs)
            outline = shapely.union_all(
                [transform_geometry(g, aois.crs, CRS.from_epsg(4326)) for g in aois.geometries]
            )
        when = [scene.datetime for scene in self]
        title = options.pop("title", self.name)
        return footprints_png(
            list(_footprints(self._table)), when, path, aoi=outline, title=title, **options
        )

    def where(self, expr: pc.Expression) -> Collection:
        """A new collection with the rows for which the Arrow expression is true.

        Example: ``c.where(pc.field("platform") == "sentinel-2a")``.

        Raises:
            InvalidInputError: ``expr`` is not an expression or does not apply to the index.
        """
        if not isinstance(expr, pc.Expression):
            raise InvalidInputError("expr", expr, "expected a pyarrow.compute.Expression")
        try:
            return self._derive(self._table.filter(expr))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
            raise InvalidInputError("expr", str(expr), str(err)) from err

    # --- output --------------------------------------------------------------------------------

    def export(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write these rows and the manifest as a standalone GeoParquet file.

        ``path`` may be a directory (an existing one, or any path written with a
        trailing separator), in which case ``index.parquet`` is written inside it (so
        the result can be passed to :func:`load`). Missing parent directories are
        created. The write is atomic.

        Raises:
            InvalidInputError: The target exists and ``overwrite`` is False.
        """
        if not isinstance(path, str | os.PathLike):
            raise InvalidInputError("path", path, "must be a str or os.PathLike")
        text = os.fspath(path)
        target = Path(text).expanduser()
        if target.is_dir() or str(text).endswith(("/", os.sep)):
            target = target / INDEX_FILE
        if target.exists() and not overwrite:
            raise InvalidInputError("path", str(target), "exists; pass overwrite=True to replace")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_index(target, self._table, self._manifest)
        return target

    def __repr__(self) -> str:
        rng = self.datetime_range
        dates = "none" if rng is None else f"{_fmt_day(rng[0])} .. {_fmt_day(rng[1])}"
        bounds = self.bounds
        bounds_text = (
            "none" if bounds is None else "(" + ", ".join(f"{v:.4f}" for v in bounds) + ") CRS84"
        )
        crs = ", ".join(f"EPSG:{c}" for c in self.crs) or "unknown"
        lines = [
            f"<Collection {self.name!r}",
            f"  scenes: {len(self)}",
            f"  dates:  {dates}",
            f"  bands:  {', '.join(self.bands) or 'none'}",
            f"  bounds: {bounds_text}",
            f"  crs:    {crs}",
        ]
        if self._manifest.failures:
            lines.append(f"  failed: {len(self._manifest.failures)} asset(s), see .failures")
        if self._path is not None:
            lines.append(f"  source: {self._path}")
        return "\n".join(lines) + ">"


def _band_list(bands: str | Sequence[str]) -> list[str]:
    """The requested band codes as a list (a lone code becomes a list of one)."""
    band_list = [bands] if isinstance(bands, str) else list(bands)
    if not band_list:
        raise InvalidInputError("bands", bands, "name at least one band")
    repeated = sorted({b for b in band_list if band_list.count(b) > 1})
    if repeated:
        raise InvalidInputError("bands", bands, f"names {', '.join(repeated)} more than once")
    return band_list


def _check_max_concurrent(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError("max_concurrent", value, "must be an integer >= 1")


_RESAMPLINGS = ", ".join(m.value for m in Resampling if m in _WARP_METHODS)
"""The resampling methods the warp implements, in the enum's order, for messages."""


def _check_resampling(value: Any) -> None:
    """Refuse a method warp does not implement now, not when a scene needs a warp.

    The reader would accept every :class:`Resampling` member and only the warp refuses
    ``average`` and ``mode``, so a read whose scenes all sit on the output grid used to
    ignore them silently.
    """
    try:
        method = Resampling(value)
    except ValueError as err:
        raise InvalidInputError("resampling", value, f"expected one of {_RESAMPLINGS}") from err
    if method not in _WARP_METHODS:
        raise InvalidInputError(
            "resampling", value, f"not implemented yet; use one of {_RESAMPLINGS}"
        )


def _check_flag(parameter: str, value: Any) -> None:
    """A real bool: ``"no"`` is truthy, so it would silently mean True."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidInputError(parameter, value, "must be True or False")


def _checked_read_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` of a pixel read, checked, with ``target_crs`` and ``resolution`` parsed.

    The one check of :meth:`Collection.get_numpy_async` and of the reads done in pieces
    elsewhere (dask chunks, dataset items), so no path accepts a value another refuses,
    and none lets it fail later, in a worker, with a bare ``TypeError``. Options absent
    from ``options`` are left absent (their defaults are valid).
    """
    checked = dict(options)
    if "on_stale" in checked and checked["on_stale"] not in ("raise", "reindex"):
        raise InvalidInputError("on_stale", checked["on_stale"], "must be 'raise' or 'reindex'")
    for flag in ("all_touched", "apply_scale"):
        if flag in checked:
            _check_flag(flag, checked[flag])
    fill_value = checked.get("fill_value")
    if fill_value is not None and (
        isinstance(fill_value, bool) or not isinstance(fill_value, int | float)
    ):
        raise InvalidInputError("fill_value", fill_value, "must be a number or None")
    overview = checked.get("overview")
    if overview is not None and (
        isinstance(overview, bool) or not isinstance(overview, int | np.integer) or overview < 0
    ):
        raise InvalidInputError(
            "overview", overview, "must be None or an integer >= 0 (0 = first overview)"
        )
    if "resampling" in checked:
        _check_resampling(checked["resampling"])
    if "max_concurrent" in checked:
        _check_max_concurrent(checked["max_concurrent"])
    if "target_crs" in checked:
        checked["target_crs"] = _parse_crs("target_crs", checked["target_crs"])
    if "resolution" in checked:
        checked["resolution"] = _parse_resolution(checked["resolution"])
    return checked


def _check_backend_factory(value: Any) -> Callable[[], StorageBackend] | None:
    """A callable (or None): anything else would fail later, in a worker, when called."""
    if value is not None and not callable(value):
        raise InvalidInputError(
            "backend_factory", value, "must be a callable returning a StorageBackend"
        )
    factory: Callable[[], StorageBackend] | None = value
    return factory


def _parse_crs(parameter: str, value: Any) -> CRS | None:
    if value is None:
        return None
    try:
        parsed = CRS.from_user_input(value)
    except (CRSError, TypeError) as err:
        raise InvalidInputError(
            parameter, value, f"is not a CRS pyproj understands: {err}"
        ) from err
    try:  # an engineering or other-body CRS parses but cannot be reached from CRS84
        Transformer.from_crs(CRS.from_epsg(4326), parsed, always_xy=True)
    except ProjError as err:
        raise InvalidInputError(
            parameter, value, f"cannot be transformed from geographic coordinates: {err}"
        ) from err
    return parsed


def _parse_resolution(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int | float) else value
    try:
        xres, yres = (float(v) for v in pair)
    except (TypeError, ValueError) as err:
        raise InvalidInputError("resolution", value, "expected a number or (xres, yres)") from err
    if not (xres > 0 and yres > 0 and np.isfinite(xres) and np.isfinite(yres)):
        raise InvalidInputError("resolution", value, "must be positive and finite")
    return xres, yres


def _is_path_like(value: str | os.PathLike[str]) -> bool:
    """Path objects, and strings with a separator or a ``.parquet`` suffix, are paths."""
    if not isinstance(value, str):
        return True
    return "/" in value or "\\" in value or value.endswith(".parquet") or value.startswith("~")


def load(name_or_path: str | Path, *, workspace_dir: str | Path | None = None) -> Collection:
    """Open a collection from the workspace by name, or from an index file or directory.

    A :class:`~pathlib.Path`, or a string containing a path separator, starting with ``~``
    or ending in ``.parquet``, is a path (a directory means its ``index.parquet``);
    any other string is a collection name in the workspace (``workspace_dir``, else
    ``$RASTERET_WORKSPACE``, else ``~/rasteret_workspace``).

    Raises:
        CollectionNotFoundError: No such collection or file.
        IndexFormatError: The file is not a rasteret index this version reads.
        InvalidInputError: The name is not a valid collection name.
    """
    if not isinstance(name_or_path, str | os.PathLike):
        raise InvalidInputError("name_or_path", name_or_path, "must be a name, str or path")
    if _is_path_like(name_or_path):
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            path = path / INDEX_FILE
        if not path.is_file():
            raise CollectionNotFoundError(f"no index file at {path}")
    else:
        name = validate_name(str(name_or_path))
        workspace = Workspace(workspace_dir)
        path = workspace.index_path(name)
        if not path.is_file():
            known = workspace.list()
            raise CollectionNotFoundError(
                f"no collection {name!r} in {workspace.root}"
                + (f" (available: {', '.join(known)})" if known else "")
            )
    table, manifest = read_index(path)
    return Collection(table, manifest, path)


def as_collection(obj: Any, *, like: Collection) -> Collection:
    """``obj`` (DuckDB, Polars, GeoPandas or Arrow rows of an index) as a collection.

    Same as :meth:`Collection.from_table`; a Collection passes through unchanged.
    """
    if isinstance(obj, Collection):
        return obj
    return Collection.from_table(obj, like=like)
