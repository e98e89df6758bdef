"""``build_from_stac``: search once, read every header once, keep it all in GeoParquet.

The order of work is chosen so that nothing is fetched in vain and nothing half-done is
kept: every input is validated before any network call, band mappings are checked
against the searched items before any header is read, and the index file only appears
(atomically) once it is complete.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from numbers import Integral
from pathlib import Path
from typing import Any

import pyarrow as pa

from rasteret._version import __version__
from rasteret.build.headers import HeaderFailure, fetch_headers
from rasteret.collection import Collection
from rasteret.errors import (
    BuildError,
    IndexFormatError,
    InvalidInputError,
    NoItemsError,
    PartialBuildWarning,
    RasteretWarning,
)
from rasteret.index import (
    BandRecord,
    ItemRecord,
    Manifest,
    Workspace,
    fingerprint,
    read_manifest,
    records_to_table,
    write_index,
)
from rasteret.index.records import strip_secrets
from rasteret.io import CloudConfig, StorageBackend, create_backend
from rasteret.io.sync import run_sync
from rasteret.progress import ProgressBar
from rasteret.stac import (
    BandSpec,
    BBox,
    DateRange,
    ProgressLike,
    Query,
    default_registry,
    normalize_bbox,
    normalize_date_range,
    resolve_bands,
    select_data_source,
    validate_query,
)

logger = logging.getLogger(__name__)


def _check_str(parameter: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(parameter, value, "must be a non-empty string")
    return value.strip()


def _check_mapping(parameter: str, value: object, value_type: type) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise InvalidInputError(parameter, value, "must be a non-empty dict")
    for key, val in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(parameter, value, f"key {key!r} is not a non-empty string")
        if not isinstance(val, value_type) or isinstance(val, bool):
            raise InvalidInputError(
                parameter, value, f"value of {key!r} must be {value_type.__name__}"
            )
    return dict(value)


def _cloud_config(value: object) -> CloudConfig:
    if isinstance(value, CloudConfig):
        return value
    if isinstance(value, Mapping):
        return CloudConfig.from_dict(dict(value))
    raise InvalidInputError(
        "cloud_config", type(value).__name__, "must be a rasteret.CloudConfig, a dict, or None"
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, kw_only=True)
class BuildRequest:
    """The validated, normalised inputs of one build, shared by every way of building.

    ``build_from_stac`` and the sharded Dask build both start here, so that the same
    call validates the same way and hashes to the same cache key whichever builds it.
    """

    workspace: Workspace
    """Where the collection lives."""
    name: str
    """Collection name (validated)."""
    stac_api: str
    """STAC API URL or static catalog location."""
    collection: str
    """STAC collection id."""
    data_source: str | None
    """Registry key for band maps and cloud settings, if given."""
    band_map: dict[str, str] | None
    """Band code -> asset key, if given."""
    band_index_map: dict[str, int] | None
    """Band code -> sample index, if given."""
    bbox: BBox | None
    """Normalised search bbox."""
    dates: DateRange | None
    """Normalised inclusive UTC date range."""
    query: Query | None
    """Validated STAC query filter."""
    static_catalog: bool
    """Whether ``stac_api`` is a static catalog."""
    force: bool
    """Rebuild even when a matching index exists."""
    max_concurrent: int
    """Most header fetches in flight at once (per process)."""
    user_config: CloudConfig | None
    """The caller's cloud config; None means the data source's."""
    params: dict[str, Any]
    """The search-defining parameters stored in the manifest."""
    key: str
    """Fingerprint of ``params``: the cache key."""

    @property
    def index_path(self) -> Path:
        """Where the index of this collection is (or will be) written."""
        return self.workspace.index_path(self.name)


def prepare_build(
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
    static_catalog: bool = False,
) -> BuildRequest:
    """Validate every search input before any network call; see :func:`build_from_stac`.

    Raises:
        InvalidInputError: A parameter is malformed (the message names it).
    """
    workspace = Workspace(workspace_dir)
    workspace.validate_name(name)
    stac_api = _check_str("stac_api", stac_api)
    collection = _check_str("collection", collection)
    if data_source is not None:
        data_source = _check_str("data_source", data_source)
        if data_source == collection:  # the documented default, spelled out: the same build
            data_source = None
    norm_bbox = normalize_bbox(bbox)
    norm_dates = normalize_date_range(date_range)
    query = validate_query(query)
    band_map = _check_mapping("band_map", band_map, str)
    band_index_map = _check_mapping("band_index_map", band_index_map, int)
    if (
        not isinstance(max_concurrent, Integral)
        or isinstance(max_concurrent, bool)
        or max_concurrent < 1
    ):
        raise InvalidInputError("max_concurrent", max_concurrent, "must be an integer >= 1")
    max_concurrent = int(max_concurrent)
    if not isinstance(force, bool):
        raise InvalidInputError("force", force, "must be True or False")
    if not isinstance(static_catalog, bool):
        raise InvalidInputError("static_catalog", static_catalog, "must be True or False")
    user_config = _cloud_config(cloud_config) if cloud_config is not None else None
    params: dict[str, Any] = {
        "stac_api": strip_secrets(stac_api),  # stored in the index: no tokens, no user info
        "collection": collection,
        "data_source": data_source,
        "band_map": band_map,
        "band_index_map": band_index_map,
        "bbox": list(norm_bbox) if norm_bbox else None,
        "date_range": [_iso(d) for d in norm_dates] if norm_dates else None,
        "query": query,
        "static_catalog": static_catalog,
    }
    return BuildRequest(
        workspace=workspace,
        name=name,
        stac_api=stac_api,
        collection=collection,
        data_source=data_source,
        band_map=band_map,
        band_index_map=band_index_map,
        bbox=norm_bbox,
        dates=norm_dates,
        query=query,
        static_catalog=static_catalog,
        force=force,
        max_concurrent=max_concurrent,
        user_config=user_config,
        params=params,
        key=fingerprint(params),
    )


def cached_collection(request: BuildRequest, *, quiet: bool = False) -> Collection | None:
    """The existing index when it answers exactly this request (never when ``force``).

    Called once before taking the build lock (warning about a changed search) and once
    after (``quiet``), since another process may have finished the same build meanwhile.
    """
    if request.force:
        return None
    found = _reusable(request.index_path, request.key, request.name, request.params, quiet=quiet)
    if found is None:
        return None
    manifest = found.manifest
    if request.user_config is not None:
        # How objects are reached (URL rewrites, endpoints) is not part of the search: a
        # config given now is what this collection's reads use.
        public = request.user_config.to_public_dict()
        if dict(manifest.cloud_config) != public:
            found = Collection(
                found.to_table(),
                dataclasses.replace(manifest, cloud_config=public),
                found.path,
            )
    if not quiet and manifest.failures:
        first = manifest.failures[0]
        warnings.warn(
            f"collection {request.name!r}: the cached index lacks {len(manifest.failures)} "
            f"asset layout(s) whose headers could not be read when it was built (first: "
            f"{first.url}: {first.reason}); those scenes read as not valid. Rebuild with "
            "force=True to read them again",
            PartialBuildWarning,
            stacklevel=4,
        )
    return found


async def build_from_stac_async(
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
) -> Collection:
    """Async twin of :func:`build_from_stac`; see there."""
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
    if backend is not None and not hasattr(backend, "get_range_async"):
        raise InvalidInputError(
            "backend", type(backend).__name__, "must implement get_range_async (StorageBackend)"
        )

    cached = cached_collection(request)
    if cached is not None:
        return cached

    with request.workspace.lock(name):
        cached = cached_collection(request, quiet=True)
        if cached is not None:
            return cached
        return await _build(request, backend=backend)


def _reusable(
    path: Path, key: str, name: str, params: Mapping[str, Any], *, quiet: bool = False
) -> Collection | None:
    """Return the cached collection when it was built with exactly these parameters."""
    if not path.exists():
        return None
    try:
        manifest = read_manifest(path)
    except IndexFormatError as err:
        if not quiet:
            warnings.warn(
                f"collection {name!r}: cached index unreadable ({err}); rebuilding",
                RasteretWarning,
                stacklevel=5,
            )
        return None
    if manifest.fingerprint == key:
        logger.info("collection %r: reusing cached index %s", name, path)
        return Collection.load(path)
    if not quiet:
        old = manifest.params
        changed = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
        warnings.warn(
            f"collection {name!r} was built with other search parameters; rebuilding it "
            f"(use another name to keep both){': ' + ', '.join(changed) if changed else ''}",
            RasteretWarning,
            stacklevel=5,
        )
    return None


def _warm_arrow_conversions() -> None:
    """Convert one Python value to Arrow, so that pyarrow's lazy imports happen now."""
    pa.array([0])


def search_stac(
    *,
    stac_api: str,
    collection: str,
    bbox: BBox | None,
    dates: DateRange | None,
    query: Query | None,
    static_catalog: bool,
    progress: ProgressLike | None = None,
) -> list[dict[str, Any]]:
    """Items of one search, from a STAC API or a static catalog (blocking).

    One function for both sources, so a sharded build searches each shard exactly as
    :func:`build_from_stac` searches the whole range.
    """
    # imported here: pystac and pystac-client cost ~60 ms that reading an index never needs
    if static_catalog:
        from rasteret.stac.static import search_static_catalog  # noqa: PLC0415

        return search_static_catalog(
            catalog=stac_api,
            collection=collection,
            bbox=bbox,
            date_range=dates,
            query=query,
            progress=progress,
        )
    from rasteret.stac.search import search_items  # noqa: PLC0415

    return search_items(
        stac_api=stac_api,
        collection=collection,
        bbox=bbox,
        date_range=dates,
        query=query,
        progress=progress,
    )


def choose_bands(
    items: Sequence[Mapping[str, Any]], request: BuildRequest
) -> tuple[tuple[BandSpec, ...], CloudConfig]:
    """Band specs and the cloud config for these items, before any header is read.

    The cloud config is the caller's, else the provider's settings chosen by the same
    rule as its band map.

    Raises:
        BandMappingError: Bands do not map onto the items' assets.
    """
    registry = default_registry()
    if request.user_config is not None:
        config = request.user_config
    else:
        source = select_data_source(
            items=items,
            collection=request.collection,
            data_source=request.data_source,
            registry=registry,
        )
        config = CloudConfig.from_dict(source.cloud_dict() if source else {})
    bands = resolve_bands(
        items=items,
        collection=request.collection,
        data_source=request.data_source,
        band_map=request.band_map,
        band_index_map=request.band_index_map,
        registry=registry,
    )
    return bands, config


@dataclass(frozen=True, kw_only=True)
class IndexedItems:
    """The index rows of some items, and what it took to make them."""

    table: pa.Table
    """Rows in the index schema, one per item, in item order."""
    failures: list[dict[str, Any]]
    """Assets whose header could not be read (the manifest's ``failures`` entries)."""
    assets: int
    """Item/band pairs tried."""
    files: int
    """Distinct files whose header was fetched."""
    indexed: int
    """Files whose header was parsed."""
    missing_assets: int
    """Item/band pairs where the item lacks the asset."""


async def index_items(
    items: Sequence[Mapping[str, Any]],
    bands: tuple[BandSpec, ...],
    config: CloudConfig,
    store: StorageBackend,
    *,
    max_concurrent: int,
    on_urls: Callable[[int], None] | None = None,
    on_done: Callable[[], None] | None = None,
) -> IndexedItems:
    """Fetch every band header of ``items`` once and turn them into index rows.

    Args:
        items: STAC item dicts.
        bands: What each band code reads.
        config: Rewrites hrefs to the URLs actually read.
        store: Where header bytes come from.
        max_concurrent: Most header fetches in flight at once.
        on_urls: Told the number of distinct files before fetching (progress totals).
        on_done: Called once per file fetched (progress).
    """
    # (item index, band code) -> (href, url); None where the item lacks the asset
    wanted: dict[tuple[int, str], tuple[str, str] | None] = {}
    for i, item in enumerate(items):
        assets = item.get("assets") or {}
        for band in bands:
            asset = assets.get(band.asset_key)
            href = asset.get("href") if isinstance(asset, Mapping) else None
            wanted[(i, band.code)] = (href, config.rewrite(href)) if href else None
    urls = [v[1] for v in wanted.values() if v is not None]
    if on_urls is not None:
        on_urls(len(set(urls)))
    headers = await fetch_headers(store, urls, max_concurrent=max_concurrent, on_done=on_done)
    records, failures = _records(items, bands, wanted, headers)
    return IndexedItems(
        table=records_to_table(records, [b.code for b in bands]),
        failures=failures,
        assets=len(wanted),
        files=len(headers),
        indexed=sum(1 for h in headers.values() if not isinstance(h, HeaderFailure)),
        missing_assets=sum(1 for v in wanted.values() if v is None),
    )


def make_manifest(
    request: BuildRequest,
    bands: tuple[BandSpec, ...],
    config: CloudConfig,
    *,
    summary: Mapping[str, Any],
    failures: Sequence[Mapping[str, Any]],
) -> Manifest:
    """The manifest of a finished build: parameters, fingerprint, bands, outcome."""
    return Manifest.create(
        name=request.name,
        rasteret_version=__version__,
        params=request.params,
        fingerprint=request.key,
        band_codes=[b.code for b in bands],
        bands={b.code: {"asset_key": b.asset_key, "sample_index": b.sample_index} for b in bands},
        cloud_config=config.to_public_dict(),
        summary=summary,
        failures=failures,
    )


def warn_partial(name: str, failures: Sequence[Mapping[str, Any]], assets: int) -> None:
    """Say (as a :class:`PartialBuildWarning`) that some assets kept a null layout."""
    if failures:
        warnings.warn(
            f"collection {name!r}: {len(failures)} of {assets} assets could not be "
            f"indexed (see collection.failures); first: {failures[0]['url']}: "
            f"{failures[0]['reason']}",
            PartialBuildWarning,
            stacklevel=3,
        )


async def _build(request: BuildRequest, *, backend: StorageBackend | None) -> Collection:
    started = time.perf_counter()
    name = request.name
    # while the search and header reads wait on the network, load what pyarrow pulls in
    # on its first conversion of Python values (pandas, ~0.1-0.3 s), needed at the end
    asyncio.get_running_loop().run_in_executor(None, _warm_arrow_conversions)
    with ProgressBar(f"{name}: searching STAC", unit="item") as bar:
        items = await asyncio.to_thread(
            search_stac,
            stac_api=request.stac_api,
            collection=request.collection,
            bbox=request.bbox,
            dates=request.dates,
            query=request.query,
            static_catalog=request.static_catalog,
            progress=bar,
        )
    if not items:
        raise NoItemsError(no_items_message(request))
    logger.info("collection %r: %d items found", name, len(items))

    bands, config = choose_bands(items, request)
    store = backend if backend is not None else create_backend(cloud_config=config)
    with ProgressBar(f"{name}: reading COG headers", unit="file") as bar:
        done = await index_items(
            items,
            bands,
            config,
            store,
            max_concurrent=request.max_concurrent,
            on_urls=bar.set_total,
            on_done=lambda: bar.update(1),
        )
    if done.indexed == 0:
        raise BuildError(nothing_indexed_message(name, done.files, done.failures))
    summary = {
        "items": len(items),
        "assets": done.assets,
        "files": done.files,
        "indexed": done.indexed,
        "failed": done.files - done.indexed,
        "missing_assets": done.missing_assets,
        "seconds": round(time.perf_counter() - started, 3),
    }
    manifest = make_manifest(request, bands, config, summary=summary, failures=done.failures)
    path = request.index_path
    write_index(path, done.table, manifest)
    warn_partial(name, done.failures, done.assets)
    logger.info("collection %r: indexed %s", name, summary)
    return Collection.load(path)


def no_items_message(request: BuildRequest) -> str:
    """Why a build that matched nothing stops (the search it ran, spelled out)."""
    return (
        f"collection {request.name!r}: the search of {request.collection!r} at "
        f"{request.params['stac_api']} matched no items (bbox={request.bbox}, "
        f"date_range={request.params['date_range']}, query={request.query})"
    )


def nothing_indexed_message(name: str, files: int, failures: Sequence[Mapping[str, Any]]) -> str:
    """Why a build whose every header failed writes nothing (first failures listed)."""
    sample = "; ".join(f"{f['url']}: {f['reason']}" for f in failures[:3])
    return (
        f"collection {name!r}: none of the {files} asset headers could be read, "
        f"nothing was written. First failures: {sample}"
    )


def _records(
    items: Sequence[Mapping[str, Any]],
    bands: tuple[BandSpec, ...],
    wanted: Mapping[tuple[int, str], tuple[str, str] | None],
    headers: Mapping[str, Any],
) -> tuple[list[ItemRecord], list[dict[str, Any]]]:
    records: list[ItemRecord] = []
    failures: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        per_band: dict[str, BandRecord | None] = {}
        for band in bands:
            target = wanted[(i, band.code)]
            if target is None:
                per_band[band.code] = None
                continue
            href, url = target
            result = headers[url]
            if isinstance(result, HeaderFailure):
                failures.append(
                    {
                        "item_id": item.get("id"),
                        "band": band.code,
                        "url": strip_secrets(url),  # kept in the manifest and messages
                        "reason": result.reason,
                    }
                )
                per_band[band.code] = BandRecord(
                    href=href,
                    asset_key=band.asset_key,
                    sample_index=band.sample_index,
                    header=None,
                    error=result.reason,
                )
            else:
                per_band[band.code] = BandRecord(
                    href=href,
                    asset_key=band.asset_key,
                    sample_index=band.sample_index,
                    header=result,
                    error=None,
                )
        records.append(ItemRecord(item=item, bands=per_band))
    return records, failures


def build_from_stac(
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
) -> Collection:
    """Build or load a local GeoParquet-backed collection from a STAC API.

    Searches STAC, parses each matching COG header once (one ranged request for a
    typical COG), and stores scene metadata plus every asset's full tile layout in
    ``<workspace_dir>/<name>/index.parquet``. Called again with the same search
    parameters, it returns the cached index without any network access. Changing a
    search-defining parameter (``stac_api``, ``collection``, ``bbox``, ``date_range``,
    ``query``, ``band_map``, ``band_index_map``, ``data_source``, ``static_catalog``)
    rebuilds the index (with a :class:`~rasteret.errors.RasteretWarning`) instead of
    returning one built for other parameters.

    Args:
        name: Logical name of the collection; letters, digits, ``.``, ``_`` and ``-``.
        stac_api: STAC API endpoint URL, or the catalog location when ``static_catalog``.
        collection: STAC collection id, e.g. ``"sentinel-2-l2a"``.
        data_source: Rasteret data-source key (e.g. ``"earthsearch/sentinel-2-l2a"``)
            for built-in band maps and cloud settings; defaults to ``collection`` (then
            the provider whose asset keys the items use is picked).
        band_map: Band code -> STAC asset key. Defaults to the data source's map, or
            every COG asset under its own key for unknown sources.
        band_index_map: Band code -> 0-based sample index inside a multi-band asset;
            needed when several bands share one asset.
        bbox: ``(minx, miny, maxx, maxy)`` in WGS84 degrees.
        date_range: ``(start, end)`` ISO dates; the end day is included.
        workspace_dir: Cache directory, default ``~/rasteret_workspace``.
        force: Rebuild even when a matching index exists (replaced atomically).
        max_concurrent: Most header fetches in flight at once.
        cloud_config: :class:`~rasteret.CloudConfig` (or a dict of its fields) for URL
            rewriting, requester pays and region. Not part of the search: given on a
            cache hit, the returned collection reads with it.
        query: STAC ``query`` extension filter, e.g. ``{"eo:cloud_cover": {"lt": 10}}``.
        backend: A :class:`~rasteret.StorageBackend` for the header reads, e.g. from
            :func:`~rasteret.create_backend` with credentials.
        static_catalog: ``stac_api`` points at a static catalog (no ``/search``).

    Returns:
        The :class:`~rasteret.Collection` over the index.

    Raises:
        InvalidInputError: A parameter is malformed (the message names it).
        StacSearchError: The API or catalog could not be searched.
        NoItemsError: The search matched nothing.
        BandMappingError: Bands do not map onto the items' assets.
        BuildError: No asset header at all could be read.
    """
    return run_sync(
        build_from_stac_async(
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
            backend=backend,
            static_catalog=static_catalog,
        )
    )
