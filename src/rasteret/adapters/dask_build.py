"""``build_from_stac_distributed``: one index built by many Dask workers, date/space shards.

A search too large for one process is cut into shards (:mod:`rasteret.build.shards`):
date ranges, bbox cells, or both. The build then runs in two rounds of Dask tasks, with
the same pipeline pieces as :func:`~rasteret.build_from_stac` (nothing is parsed twice
differently):

1. **Search** (one task per shard, results kept on the workers with ``persist``): each
   worker searches its shard. Only a survey travels back: the item ids and one asset
   signature per distinct asset layout (:func:`~rasteret.stac.bands.asset_signature`).
   The driver resolves bands and the cloud config once, on those representatives, so
   every shard indexes the same columns as a plain build would; it also gives every
   item id to the first shard that found it, so an item matched by two shards (a
   footprint across a cell edge) is fetched and stored once.
2. **Index** (one task per shard, next to its search results): each worker fetches its
   items' headers and writes a part file, in the index schema, into a staging
   directory inside the collection's directory. Workers must therefore see the
   workspace at the same path (a ``LocalCluster``, or a shared filesystem).

The driver holds the collection's build lock throughout. Only when every shard has
succeeded and every part is on disk with the row count its worker reported are the
parts concatenated and committed with the same atomic write as a plain build, under
the same manifest parameters, so a repeat call (of either function) reuses the index
without a STAC query. Any failure raises (:class:`~rasteret.errors.ShardFailedError`
lists every failed shard) with nothing written: a previous index stays as it was, and
the staging directory is removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rasteret.adapters._optional import require
from rasteret.build.pipeline import (
    BuildRequest,
    cached_collection,
    choose_bands,
    index_items,
    make_manifest,
    no_items_message,
    nothing_indexed_message,
    prepare_build,
    search_stac,
    warn_partial,
)
from rasteret.build.shards import Shard, plan_shards
from rasteret.collection import Collection
from rasteret.errors import BuildError, InvalidInputError, NoItemsError, ShardFailedError
from rasteret.index import schema, write_index
from rasteret.io import CloudConfig, StorageBackend, create_backend
from rasteret.io.sync import run_sync
from rasteret.stac import BandSpec, Query
from rasteret.stac.bands import asset_signature

__all__ = ["ShardPart", "ShardSearch", "ShardSurvey", "build_from_stac_distributed"]

logger = logging.getLogger(__name__)

BackendFactory = Callable[[], StorageBackend]
"""A picklable zero-argument callable returning a backend, called on each worker."""


# --- what travels between driver and workers (plain, picklable values) -----------------------


@dataclass(frozen=True, kw_only=True)
class _SearchTask:
    """What one worker needs to search one shard."""

    stac_api: str
    collection: str
    query: Query | None
    static_catalog: bool
    shard: Shard


@dataclass(frozen=True, kw_only=True)
class ShardSearch:
    """One shard's search result, kept in worker memory between the two rounds."""

    shard: Shard
    """The shard searched."""
    items: list[dict[str, Any]]
    """Its items, in search order."""
    error: str | None = None
    """Why the search failed (``"Type: message"``); None on success."""


@dataclass(frozen=True, kw_only=True)
class ShardSurvey:
    """The small summary of a search the driver needs: ids and asset layouts."""

    shard: Shard
    """The shard searched."""
    ids: tuple[str, ...]
    """Item ids, in search order."""
    signatures: tuple[dict[str, Any], ...]
    """One asset signature per distinct asset layout, first seen first."""
    error: str | None = None
    """The search's error, passed through."""


@dataclass(frozen=True, kw_only=True)
class _IndexTask:
    """What one worker needs to index one shard's items."""

    bands: tuple[BandSpec, ...]
    config: CloudConfig
    max_concurrent: int
    backend_factory: BackendFactory | None
    part_path: str
    skip_ids: frozenset[str]
    """Items another (earlier) shard owns."""


@dataclass(frozen=True, kw_only=True)
class ShardPart:
    """What one worker wrote, reported so the driver can check the part arrived."""

    shard: Shard
    """The shard indexed."""
    path: str
    """The part file in the staging directory."""
    rows: int = 0
    """Rows written."""
    failures: tuple[dict[str, Any], ...] = ()
    """Assets whose header could not be read."""
    assets: int = 0
    """Item/band pairs tried."""
    files: int = 0
    """Distinct files fetched."""
    indexed: int = 0
    """Files whose header was parsed."""
    missing_assets: int = 0
    """Item/band pairs where the item lacks the asset."""
    error: str | None = None
    """Why indexing failed; None on success."""


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


# --- the worker side -----------------------------------------------------------------------


def search_shard(task: _SearchTask) -> ShardSearch:
    """Search one shard (a Dask task). Errors are returned, so the driver can name the shard."""
    try:
        items = search_stac(
            stac_api=task.stac_api,
            collection=task.collection,
            bbox=task.shard.bbox,
            dates=task.shard.dates,
            query=task.query,
            static_catalog=task.static_catalog,
        )
    except Exception as err:  # any failure fails the build; reported per shard
        logger.exception("%s: search failed", task.shard.label)
        return ShardSearch(shard=task.shard, items=[], error=_reason(err))
    return ShardSearch(shard=task.shard, items=items)


def survey_shard(result: ShardSearch) -> ShardSurvey:
    """Reduce a search to ids and distinct asset signatures (a Dask task, on the worker)."""
    signatures: dict[str, dict[str, Any]] = {}
    for item in result.items:
        signature = asset_signature(item)
        signatures.setdefault(json.dumps(signature, sort_keys=True, default=str), signature)
    return ShardSurvey(
        shard=result.shard,
        ids=tuple(str(item["id"]) for item in result.items),
        signatures=tuple(signatures.values()),
        error=result.error,
    )


def index_shard(result: ShardSearch, task: _IndexTask) -> ShardPart:
    """Fetch one shard's headers and write its part file (a Dask task).

    The part is written to a temporary name and renamed, so a part file the driver
    sees is always complete, even if Dask ran the task twice (a lost worker).
    """
    path = Path(task.part_path)
    try:
        items = [item for item in result.items if str(item["id"]) not in task.skip_ids]
        store = (
            task.backend_factory()
            if task.backend_factory is not None
            else create_backend(cloud_config=task.config)
        )
        done = run_sync(
            index_items(items, task.bands, task.config, store, max_concurrent=task.max_concurrent)
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(done.table, tmp, compression="zstd")
        tmp.replace(path)
    except Exception as err:  # any failure fails the build; reported per shard
        logger.exception("%s: indexing failed", result.shard.label)
        return ShardPart(shard=result.shard, path=str(path), error=_reason(err))
    return ShardPart(
        shard=result.shard,
        path=str(path),
        rows=done.table.num_rows,
        failures=tuple(done.failures),
        assets=done.assets,
        files=done.files,
        indexed=done.indexed,
        missing_assets=done.missing_assets,
    )


# --- the driver side -----------------------------------------------------------------------


def build_from_stac_distributed(
    *,
    name: str,
    stac_api: str,
    collection: str,
    data_source: str | None = None,
    band_map: dict[str, str] | None = None,
    band_index_map: dict[str, int] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    date_range: tuple[str, str] | None = None,
    workspace_dir: str | Path | None = None,
    force: bool = False,
    max_concurrent: int = 50,
    cloud_config: Any = None,
    query: dict[str, Any] | None = None,
    backend: StorageBackend | None = None,
    static_catalog: bool = False,
    date_shards: int | str | timedelta | None = None,
    space_shards: int | tuple[int, int] | None = None,
    client: Any = None,
    backend_factory: BackendFactory | None = None,
) -> Collection:
    """:func:`~rasteret.build_from_stac` with the search and header reads spread over Dask.

    Takes every parameter of ``build_from_stac`` with the same meaning and validation,
    and produces the same index (the same rows; row order may differ), under the same
    manifest parameters: a repeat call of either function with the same search reuses
    it without any network access. The sharding options change how the work is done,
    never the result, so they are not part of the cache key.

    Workers write part files into a staging directory inside
    ``<workspace_dir>/<name>/``, so they must see the workspace at the same path as the
    caller (true of a ``LocalCluster``; on a multi-machine cluster, use a shared
    filesystem). A shard of a static catalog walks the whole catalog and filters it, so
    sharding pays off mostly against STAC APIs.

    Args:
        name: As in ``build_from_stac``.
        stac_api: As in ``build_from_stac``.
        collection: As in ``build_from_stac``.
        data_source: As in ``build_from_stac``.
        band_map: As in ``build_from_stac``.
        band_index_map: As in ``build_from_stac``.
        bbox: As in ``build_from_stac``; required by ``space_shards``.
        date_range: As in ``build_from_stac``; both ends required by ``date_shards``.
        workspace_dir: As in ``build_from_stac``; must be reachable from the workers.
        force: As in ``build_from_stac``.
        max_concurrent: Most header fetches in flight at once, per shard task.
        cloud_config: As in ``build_from_stac``.
        query: As in ``build_from_stac``.
        backend: Not supported (a live backend cannot travel to workers); pass
            ``backend_factory`` instead.
        static_catalog: As in ``build_from_stac``.
        date_shards: Split the date range: ``"year"``, ``"month"``, ``"week"`` or
            ``"day"`` (calendar pieces, UTC), an int (that many equal pieces) or a
            ``timedelta`` (pieces of that length). None keeps it whole.
        space_shards: Split the bbox into a grid: ``n`` (n x n) or ``(columns, rows)``.
            None keeps it whole. Shards are every date piece times every cell.
        client: A ``distributed.Client``; None uses the current Dask scheduler (the
            active distributed client if there is one, else local threads).
        backend_factory: Picklable callable making the header-read backend on each
            worker (e.g. ``functools.partial(create_backend, credentials=...)``);
            None: ``create_backend`` with the cloud config.

    Returns:
        The :class:`~rasteret.Collection` over the committed index.

    Raises:
        InvalidInputError: A parameter is malformed, including the sharding options
            (the message names the parameter and value).
        BandMappingError: Bands do not map onto the items' assets.
        NoItemsError: No shard matched any item.
        ShardFailedError: One or more shards failed (each is listed); nothing was written.
        BuildError: No header at all could be read, a part file did not arrive (workers
            not sharing the workspace), or the cluster itself failed.
        MissingDependencyError: Dask is not installed (``pip install 'rasteret[dask]'``).
    """
    request = prepare_build(
        name=name,
        stac_api=stac_api,
        collection=collection,
        data_source=data_source,
        band_map=band_map,
        band_index_map=band_index_map,
        bbox=bbox,
        date_range=date_range,
        workspace_dir=workspace_dir,
        force=force,
        max_concurrent=max_concurrent,
        cloud_config=cloud_config,
        query=query,
        static_catalog=static_catalog,
    )
    if backend is not None:
        raise InvalidInputError(
            "backend",
            type(backend).__name__,
            "a live backend cannot be sent to Dask workers; pass backend_factory= (a "
            "picklable callable returning one)",
        )
    if backend_factory is not None and not callable(backend_factory):
        raise InvalidInputError(
            "backend_factory", backend_factory, "must be a callable returning a backend"
        )
    if client is not None and not all(
        callable(getattr(client, m, None)) for m in ("persist", "compute", "gather")
    ):
        raise InvalidInputError(
            "client", type(client).__name__, "must be a dask.distributed Client or None"
        )
    shards = plan_shards(
        bbox=request.bbox,
        dates=request.dates,
        date_shards=date_shards,
        space_shards=space_shards,
    )
    dask = require("dask", extra="dask", feature="build_from_stac_distributed")

    cached = cached_collection(request)
    if cached is not None:
        return cached
    with request.workspace.lock(name):
        cached = cached_collection(request, quiet=True)
        if cached is not None:
            return cached
        staging = request.workspace.staging_dir(name)
        try:
            return _build(
                request,
                shards=shards,
                dask=dask,
                client=client,
                backend_factory=backend_factory,
                staging=staging,
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)


class _Scheduler:
    """Persist and compute through the given client, or Dask's current scheduler."""

    def __init__(self, dask: Any, client: Any, name: str) -> None:
        self._dask = dask
        self._client = client
        self._name = name

    def _run(self, what: str, work: Callable[[], list[Any]]) -> list[Any]:
        try:
            return work()
        except Exception as err:  # the cluster itself failed (a worker died, ...)
            raise BuildError(
                f"collection {self._name!r}: the Dask {what} round failed ({_reason(err)}); "
                "nothing was written"
            ) from err

    def persist(self, tasks: Sequence[Any]) -> list[Any]:
        """Run ``tasks`` and keep their results where they are (worker memory)."""
        if self._client is not None:
            return self._run("search", lambda: list(self._client.persist(list(tasks))))
        return self._run("search", lambda: list(self._dask.persist(*tasks)))

    def compute(self, what: str, tasks: Sequence[Any]) -> list[Any]:
        """Run ``tasks`` and bring their (small) results to this process."""
        if self._client is not None:
            client = self._client
            return self._run(what, lambda: list(client.gather(client.compute(list(tasks)))))
        return self._run(what, lambda: list(self._dask.compute(*tasks)))


def _check_shards(name: str, results: Sequence[ShardSurvey | ShardPart], total: int) -> None:
    failed = {r.shard.label: r.error for r in results if r.error is not None}
    if failed:
        raise ShardFailedError(name, failed, total)


def _build(
    request: BuildRequest,
    *,
    shards: tuple[Shard, ...],
    dask: Any,
    client: Any,
    backend_factory: BackendFactory | None,
    staging: Path,
) -> Collection:
    started = time.perf_counter()
    name = request.name
    scheduler = _Scheduler(dask, client, name)
    delayed = dask.delayed
    logger.info("collection %r: searching %d shard(s)", name, len(shards))
    searches = scheduler.persist(
        [
            delayed(search_shard, pure=False)(
                _SearchTask(
                    stac_api=request.stac_api,
                    collection=request.collection,
                    query=request.query,
                    static_catalog=request.static_catalog,
                    shard=shard,
                )
            )
            for shard in shards
        ]
    )
    surveys: list[ShardSurvey] = scheduler.compute(
        "survey", [delayed(survey_shard, pure=False)(s) for s in searches]
    )
    _check_shards(name, surveys, len(shards))

    owner: dict[str, int] = {}
    representatives: dict[str, dict[str, Any]] = {}
    for survey in surveys:  # shard order: the earliest shard owns a duplicate
        for item_id in survey.ids:
            owner.setdefault(item_id, survey.shard.index)
        for signature in survey.signatures:
            key = json.dumps(signature, sort_keys=True, default=str)
            representatives.setdefault(key, signature)
    if not owner:
        raise NoItemsError(no_items_message(request))
    logger.info("collection %r: %d items found", name, len(owner))
    bands, config = choose_bands(list(representatives.values()), request)

    tasks = []
    for search, survey in zip(searches, surveys, strict=True):
        index = survey.shard.index
        task = _IndexTask(
            bands=bands,
            config=config,
            max_concurrent=request.max_concurrent,
            backend_factory=backend_factory,
            part_path=str(staging / f"part-{index:05d}.parquet"),
            skip_ids=frozenset(i for i in survey.ids if owner[i] != index),
        )
        tasks.append(delayed(index_shard, pure=False)(search, task))
    parts: list[ShardPart] = scheduler.compute("index", tasks)
    del searches  # release the items held on the workers
    _check_shards(name, parts, len(shards))

    table = _collect(name, parts, staging)
    if table.num_rows != len(owner):
        raise BuildError(
            f"collection {name!r}: the parts hold {table.num_rows} rows for {len(owner)} "
            "distinct items; nothing was written"
        )
    failures = [f for part in parts for f in part.failures]
    files = sum(p.files for p in parts)
    indexed = sum(p.indexed for p in parts)
    if indexed == 0:
        raise BuildError(nothing_indexed_message(name, files, failures))
    assets = sum(p.assets for p in parts)
    summary = {
        "items": len(owner),
        "assets": assets,
        "files": files,
        "indexed": indexed,
        "failed": files - indexed,
        "missing_assets": sum(p.missing_assets for p in parts),
        "seconds": round(time.perf_counter() - started, 3),
    }
    manifest = make_manifest(request, bands, config, summary=summary, failures=failures)
    write_index(request.index_path, table, manifest)
    warn_partial(name, failures, assets)
    logger.info("collection %r: indexed %s over %d shard(s)", name, summary, len(shards))
    return Collection.load(request.index_path)


def _collect(name: str, parts: Sequence[ShardPart], staging: Path) -> pa.Table:
    """Read every part back, checking it is where and as long as its worker said."""
    tables = []
    for part in parts:
        path = Path(part.path)
        try:
            # ParquetFile, not read_table: the latter imports pandas through pyarrow.dataset
            with pq.ParquetFile(path) as pf:
                table = pf.read()
        except (OSError, pa.ArrowException) as err:
            raise BuildError(
                f"collection {name!r}: the part of {part.shard.label} is missing or unreadable "
                f"in {staging} ({err}); workers must see the workspace at the same path as "
                "the caller (a shared filesystem). Nothing was written"
            ) from err
        if table.num_rows != part.rows:
            raise BuildError(
                f"collection {name!r}: the part of {part.shard.label} has {table.num_rows} "
                f"rows, its worker wrote {part.rows}; nothing was written"
            )
        schema.check_schema(table.schema, source=str(path))
        tables.append(table.replace_schema_metadata(None))
    with contextlib.suppress(pa.ArrowInvalid):
        return pa.concat_tables(tables)
    raise BuildError(f"collection {name!r}: the parts disagree on their columns")
