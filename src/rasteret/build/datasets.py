"""Datasets by name: ``rasteret.build("earthsearch/sentinel-2-l2a", ...)``.

A dataset id names a registry entry (endpoint, collection, band map, cloud settings,
licence). :func:`build` fills those into :func:`~rasteret.build_from_stac`, so a user
never has to remember asset keys or bucket rules. Users add entries with
:func:`register_dataset`; they are kept in ``datasets.json`` inside the workspace (or
the file ``$RASTERET_DATASETS`` names), never in a process-wide dictionary, so every
call reads exactly the file it was pointed at.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from rasteret.build.pipeline import build_from_stac
from rasteret.collection import Collection
from rasteret.errors import InvalidInputError, RasteretWarning
from rasteret.index.workspace import default_root
from rasteret.io import CloudConfig
from rasteret.stac import DataSource, DataSourceRegistry, default_registry
from rasteret.stac.catalog import USER_FILE_NAME, add_entry, find, load_user_registry, merge
from rasteret.stac.catalog import remove_entry as _remove_entry

logger = logging.getLogger(__name__)

DATASETS_ENV_VAR: Final = "RASTERET_DATASETS"
"""Environment variable naming the user's dataset file (overrides the workspace default)."""

_FILLED: Final = frozenset({"stac_api", "collection", "data_source"})


def datasets_file(workspace_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where user datasets are kept.

    ``<workspace_dir>/datasets.json`` when a workspace is given; else the file named by
    ``$RASTERET_DATASETS``; else ``datasets.json`` in the default workspace
    (``$RASTERET_WORKSPACE`` or ``~/rasteret_workspace``).
    """
    if workspace_dir is not None:
        return Path(workspace_dir).expanduser() / USER_FILE_NAME
    env = os.environ.get(DATASETS_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_root() / USER_FILE_NAME


def dataset_registry(workspace_dir: str | os.PathLike[str] | None = None) -> DataSourceRegistry:
    """The built-in registry plus the user's entries (read fresh from disk each call)."""
    return merge(default_registry(), load_user_registry(datasets_file(workspace_dir)))


def datasets(*, workspace_dir: str | os.PathLike[str] | None = None) -> list[DataSource]:
    """Every known dataset, built-in and user-registered, sorted by id.

    Each entry carries ``id``, ``title``, ``description``, ``license``, ``stac_api``,
    ``collection``, ``band_map`` and ``cloud``; :func:`is_builtin` tells the two apart.

    Args:
        workspace_dir: Workspace whose ``datasets.json`` holds the user's entries.
    """
    return list(dataset_registry(workspace_dir))


def dataset_info(
    dataset_id: str, *, workspace_dir: str | os.PathLike[str] | None = None
) -> DataSource:
    """Return the entry for ``dataset_id`` (an id or alias such as ``naip``).

    Raises:
        InvalidInputError: ``parameter="dataset"``, with the closest known ids.
    """
    return find(dataset_registry(workspace_dir), dataset_id)


def is_builtin(dataset_id: str) -> bool:
    """Whether ``dataset_id`` ships with rasteret (rather than being user-registered)."""
    return dataset_id in default_registry().sources


def register_dataset(
    dataset_id: str,
    *,
    collection: str,
    band_map: Mapping[str, str],
    stac_api: str | None = None,
    band_index_map: Mapping[str, int] | None = None,
    cloud: Mapping[str, Any] | None = None,
    title: str = "",
    description: str = "",
    license: str = "",
    signing: str | None = None,
    replace: bool = False,
    workspace_dir: str | os.PathLike[str] | None = None,
) -> DataSource:
    """Add a dataset of your own, kept in ``datasets.json`` for later sessions.

    Example:
        >>> rasteret.register_dataset(
        ...     "me/s2-mirror",
        ...     collection="sentinel-2-l2a",
        ...     stac_api="https://stac.example.org",
        ...     band_map={"B04": "red", "B08": "nir"},
        ...     cloud={"requester_pays": True},
        ...     license="CC-BY-4.0",
        ... )

    Args:
        dataset_id: The new id, conventionally ``provider/collection``.
        collection: STAC collection id at the provider.
        band_map: Band code -> asset key.
        stac_api: The provider's STAC API root (may be overridden per build).
        band_index_map: Band code -> sample index, for multi-band assets.
        cloud: ``url_rewrites``, ``requester_pays``, ``region``, ``anonymous``.
        title: Short human name for listings.
        description: A sentence or two for listings.
        license: The data licence.
        signing: ``"planetary-computer"`` when hrefs need SAS signing, else ``None``.
        replace: Overwrite your own earlier entry of the same id.
        workspace_dir: Workspace to keep the entry in (see :func:`datasets_file`).

    Returns:
        The stored, validated entry.

    Raises:
        InvalidInputError: ``parameter="dataset"`` when the id is built in or already
            registered; ``parameter="data_source"`` when a field is invalid.
    """
    if not isinstance(dataset_id, str) or not dataset_id.strip():
        raise InvalidInputError("dataset", dataset_id, "must be a non-empty string")
    raw: dict[str, Any] = {
        "collection": collection,
        "band_map": dict(band_map) if isinstance(band_map, Mapping) else band_map,
        "cloud": dict(cloud) if isinstance(cloud, Mapping) else cloud,
        "title": title,
        "description": description,
        "license": license,
        "signing": signing,
    }
    if stac_api is not None:
        raw["stac_api"] = stac_api
    if band_index_map is not None:
        raw["band_index_map"] = band_index_map
    entry = DataSource.from_dict(dataset_id.strip(), raw)
    add_entry(datasets_file(workspace_dir), entry, builtin=default_registry(), replace=replace)
    return entry


def unregister_dataset(
    dataset_id: str, *, workspace_dir: str | os.PathLike[str] | None = None
) -> None:
    """Remove one of your registered datasets (built-in ones cannot be removed).

    Raises:
        InvalidInputError: ``parameter="dataset"`` when no such user entry exists.
    """
    _remove_entry(datasets_file(workspace_dir), dataset_id)


def build(
    dataset_id: str,
    *,
    name: str,
    bbox: tuple[float, float, float, float] | None = None,
    date_range: tuple[str, str] | None = None,
    stac_api: str | None = None,
    workspace_dir: str | Path | None = None,
    **options: Any,
) -> Collection:
    """Build (or load) a collection of a known dataset, by id.

    A thin layer over :func:`~rasteret.build_from_stac`: the entry supplies the STAC
    endpoint, collection, band map and cloud settings, and ``options`` pass through
    (``force``, ``query``, ``max_concurrent``, ``backend``; ``band_map`` or
    ``cloud_config`` replace the entry's).

    Example:
        >>> s2 = rasteret.build(
        ...     "earthsearch/sentinel-2-l2a",
        ...     name="bay-area",
        ...     bbox=(-122.5, 37.5, -122.0, 38.0),
        ...     date_range=("2024-01-01", "2024-03-31"),
        ... )

    Args:
        dataset_id: A dataset id or alias (see :func:`datasets`).
        name: Collection name in the workspace.
        bbox: ``(minx, miny, maxx, maxy)`` in WGS84 degrees.
        date_range: ``(start, end)`` ISO dates.
        stac_api: Use this STAC API instead of the entry's (a mirror, a test server).
        workspace_dir: Workspace for the index and for looking up user datasets.
        **options: Further :func:`~rasteret.build_from_stac` keyword arguments.

    Raises:
        InvalidInputError: Unknown ``dataset`` (with close matches), an entry without a
            STAC API and none given, or an option the entry already decides.
    """
    entry = find(dataset_registry(workspace_dir), dataset_id)
    clash = sorted(_FILLED & set(options))
    if clash:
        raise InvalidInputError(
            clash[0], options[clash[0]], f"is set by dataset {entry.id!r}; use build_from_stac"
        )
    endpoint = stac_api if stac_api is not None else entry.stac_api
    if endpoint is None:
        raise InvalidInputError(
            "stac_api", None, f"dataset {entry.id!r} names no STAC API; pass stac_api="
        )
    if entry.signing is not None and options.get("backend") is None:
        warnings.warn(
            f"dataset {entry.id!r}: asset hrefs need {entry.signing} signing; without a "
            "signing backend= (e.g. create_backend(sas_provider=...)) the reads are refused",
            RasteretWarning,
            stacklevel=2,
        )
    if is_builtin(entry.id):
        # The pipeline looks built-in entries up itself (same band map, same cloud rule).
        filled: dict[str, Any] = {"data_source": entry.id}
    else:
        filled = {
            "band_map": dict(entry.band_map),
            "band_index_map": dict(entry.band_index_map) or None,
            "cloud_config": CloudConfig.from_dict(entry.cloud_dict()),
        }
    filled.update(options)
    logger.info("building %r from dataset %s at %s", name, entry.id, endpoint)
    return build_from_stac(
        name=name,
        stac_api=endpoint,
        collection=entry.collection,
        bbox=bbox,
        date_range=date_range,
        workspace_dir=workspace_dir,
        **filled,
    )
