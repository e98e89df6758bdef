"""The registry of known data sources, kept as data in ``data/sources.json``.

A data source names one provider's publication of a collection (``earthsearch/
sentinel-2-l2a`` vs ``pc/sentinel-2-l2a``): the same scenes under different asset keys,
buckets and access rules. Keeping them as JSON means adding a provider is a data change,
not a new ``if collection == ...`` branch, and the registry is a frozen value: adding a
source returns a new registry, so tests and concurrent builds never see each other's
registrations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from numbers import Integral
from types import MappingProxyType
from typing import Any, Final

from rasteret.errors import InvalidInputError
from rasteret.stac.inputs import is_valid_band_code, validate_collection_id

SOURCES_RESOURCE: Final = "data/sources.json"
"""Location of the built-in registry inside the ``rasteret.stac`` package."""

FORMAT_VERSION: Final = 1
"""Version of the sources.json layout this module reads."""

CLOUD_KEYS: Final = frozenset({"url_rewrites", "requester_pays", "region", "anonymous"})
"""Keys a source's ``cloud`` settings may carry (the build turns them into a CloudConfig)."""

_ENTRY_KEYS: Final = frozenset(
    {
        "collection",
        "stac_api",
        "band_map",
        "band_index_map",
        "cloud",
        "license",
        "description",
        "title",
        "signing",
    }
)

SIGNING_SCHEMES: Final = frozenset({"planetary-computer"})
"""Known ways a provider's asset hrefs must be signed before reading (``signing``)."""


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class DataSource:
    """One provider's publication of a STAC collection."""

    id: str
    """Registry key, conventionally ``provider/collection`` (e.g. ``pc/naip``)."""
    collection: str
    """The STAC collection id on that provider."""
    band_map: Mapping[str, str]
    """Band code -> STAC asset key (read-only)."""
    band_index_map: Mapping[str, int] = field(default_factory=_empty_mapping)
    """Band code -> 0-based sample index, for bands sharing a multi-sample asset."""
    stac_api: str | None = None
    """The provider's STAC API root URL, when it has one."""
    cloud: Mapping[str, Any] = field(default_factory=_empty_mapping)
    """Access settings: ``url_rewrites`` (href prefix -> replacement), ``requester_pays``,
    ``region``, ``anonymous``. Read-only; :meth:`cloud_dict` gives a plain copy."""
    license: str = ""
    """The data licence as the provider states it."""
    description: str = ""
    """One or two sentences a user sees when listing sources."""
    title: str = ""
    """A short human name (e.g. ``Sentinel-2 L2A (Earth Search)``) for listings."""
    signing: str | None = None
    """How asset hrefs must be signed before they can be read (e.g.
    ``planetary-computer``: SAS tokens), or ``None`` when they are readable as-is; the
    build cannot sign by itself, so users pass a signing backend."""

    def cloud_dict(self) -> dict[str, Any]:
        """Return the cloud settings as plain, mutable dicts (a deep copy)."""
        thawed: dict[str, Any] = _thaw(self.cloud)
        return thawed

    def to_dict(self) -> dict[str, Any]:
        """Return the entry in its sources.json form (without the id)."""
        data: dict[str, Any] = {
            "collection": self.collection,
            "band_map": dict(self.band_map),
            "cloud": self.cloud_dict(),
            "license": self.license,
            "description": self.description,
        }
        if self.stac_api is not None:
            data["stac_api"] = self.stac_api
        if self.band_index_map:
            data["band_index_map"] = dict(self.band_index_map)
        if self.title:
            data["title"] = self.title
        if self.signing is not None:
            data["signing"] = self.signing
        return data

    @classmethod
    def from_dict(cls, source_id: str, data: Mapping[str, Any]) -> DataSource:
        """Build and validate an entry from its sources.json form.

        Raises:
            InvalidInputError: With ``parameter="data_source"`` naming the entry and the
                field at fault.
        """
        if not isinstance(source_id, str) or not source_id.strip():
            raise InvalidInputError("data_source", source_id, "id must be a non-empty string")
        if not isinstance(data, Mapping):
            raise InvalidInputError("data_source", source_id, "entry must be a mapping")
        unknown = set(data) - _ENTRY_KEYS
        if unknown:
            raise InvalidInputError(
                "data_source",
                source_id,
                f"unknown field(s) {sorted(unknown)}; allowed: {sorted(_ENTRY_KEYS)}",
            )
        try:
            collection = validate_collection_id(data.get("collection"))
        except InvalidInputError as err:
            raise InvalidInputError(
                "data_source", source_id, f"bad 'collection': {err.reason}"
            ) from err
        band_map = _check_band_map(source_id, data.get("band_map"))
        band_index_map = _check_band_index_map(source_id, data.get("band_index_map"), band_map)
        stac_api = data.get("stac_api")
        if stac_api is not None and (
            not isinstance(stac_api, str) or not stac_api.startswith(("http://", "https://"))
        ):
            raise InvalidInputError(
                "data_source", source_id, f"'stac_api' must be an http(s) URL, got {stac_api!r}"
            )
        cloud = _check_cloud(source_id, data.get("cloud"))
        license_text = data.get("license", "")
        description = data.get("description", "")
        title = data.get("title", "")
        if not all(isinstance(text, str) for text in (license_text, description, title)):
            raise InvalidInputError(
                "data_source", source_id, "'license', 'description' and 'title' must be strings"
            )
        signing = data.get("signing")
        if signing is not None and signing not in SIGNING_SCHEMES:
            raise InvalidInputError(
                "data_source",
                source_id,
                f"'signing' must be one of {sorted(SIGNING_SCHEMES)} or null, got {signing!r}",
            )
        return cls(
            id=source_id,
            collection=collection,
            band_map=MappingProxyType(band_map),
            band_index_map=MappingProxyType(band_index_map),
            stac_api=stac_api,
            cloud=_freeze(cloud),
            license=license_text,
            description=description,
            title=title,
            signing=signing,
        )


def _check_band_map(source_id: str, band_map: object) -> dict[str, str]:
    """Validate an entry's band map: valid band codes onto non-empty asset keys."""
    if not isinstance(band_map, Mapping) or not band_map:
        raise InvalidInputError(
            "data_source", source_id, "'band_map' must be a non-empty mapping of code -> asset"
        )
    checked: dict[str, str] = {}
    for code, asset in band_map.items():
        if not is_valid_band_code(code):
            raise InvalidInputError(
                "data_source",
                source_id,
                f"band code {code!r} must be a non-empty string of [A-Za-z0-9_.-]",
            )
        if not isinstance(asset, str) or not asset:
            raise InvalidInputError(
                "data_source", source_id, f"band {code!r} must map to an asset key string"
            )
        checked[code] = asset
    return checked


def _check_band_index_map(
    source_id: str, band_index_map: object, band_map: Mapping[str, str]
) -> dict[str, int]:
    """Validate an entry's band index map against its band map."""
    if band_index_map is None:
        return {}
    if not isinstance(band_index_map, Mapping):
        raise InvalidInputError(
            "data_source", source_id, "'band_index_map' must be a mapping of code -> index"
        )
    checked: dict[str, int] = {}
    for code, index in band_index_map.items():
        if code not in band_map:
            raise InvalidInputError(
                "data_source",
                source_id,
                f"band_index_map code {code!r} is not in band_map {sorted(band_map)}",
            )
        if isinstance(index, bool) or not isinstance(index, Integral) or index < 0:
            raise InvalidInputError(
                "data_source", source_id, f"band {code!r} index must be an int >= 0, got {index!r}"
            )
        checked[code] = int(index)
    return checked


def _check_cloud(source_id: str, cloud: object) -> dict[str, Any]:
    """Validate an entry's cloud settings and fill in the defaults."""
    if cloud is None:
        cloud = {}
    if not isinstance(cloud, Mapping):
        raise InvalidInputError("data_source", source_id, "'cloud' must be a mapping")
    unknown = set(cloud) - CLOUD_KEYS
    if unknown:
        raise InvalidInputError(
            "data_source",
            source_id,
            f"unknown cloud setting(s) {sorted(unknown)}; allowed: {sorted(CLOUD_KEYS)}",
        )
    rewrites = cloud.get("url_rewrites", {})
    if not isinstance(rewrites, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in rewrites.items()
    ):
        raise InvalidInputError(
            "data_source", source_id, "'cloud.url_rewrites' must map href prefixes to strings"
        )
    region = cloud.get("region")
    if region is not None and not isinstance(region, str):
        raise InvalidInputError("data_source", source_id, "'cloud.region' must be a string")
    flags = {name: cloud.get(name, False) for name in ("requester_pays", "anonymous")}
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise InvalidInputError("data_source", source_id, f"'cloud.{name}' must be a bool")
    return {"url_rewrites": dict(rewrites), "region": region, **flags}


def _freeze(value: Any) -> Any:
    """Deep-freeze JSON data: dicts become read-only proxies, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    return value


def _thaw(value: Any) -> Any:
    """Inverse of :func:`_freeze`: plain dicts and lists again."""
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


@dataclass(frozen=True)
class DataSourceRegistry:
    """An immutable set of data sources plus aliases (plain collection id -> source id).

    ``build_from_stac`` defaults ``data_source`` to the collection id, so aliases map
    plain ids such as ``sentinel-2-l2a`` to the provider entry used when the user names
    none. Build one with :func:`default_registry` and extend it with
    :meth:`with_source`, which returns a new registry.
    """

    sources: Mapping[str, DataSource] = field(default_factory=_empty_mapping)
    """Source id -> entry (read-only)."""
    aliases: Mapping[str, str] = field(default_factory=_empty_mapping)
    """Alias -> source id (read-only)."""

    def __post_init__(self) -> None:
        # Freeze whatever mappings the caller passed, so the value cannot change later.
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "aliases", MappingProxyType(dict(self.aliases)))
        for alias, target in self.aliases.items():
            if target not in self.sources:
                raise InvalidInputError(
                    "data_source", alias, f"alias points to unknown source {target!r}"
                )

    def lookup(self, key: str) -> DataSource | None:
        """Return the source with id ``key`` (or that ``key`` aliases), else ``None``."""
        if key in self.sources:
            return self.sources[key]
        target = self.aliases.get(key)
        return self.sources[target] if target is not None else None

    def candidates(self, collection: str) -> tuple[DataSource, ...]:
        """Every source that publishes ``collection``: the aliased one first, then by id.

        Used when the user names no data source, to find the provider whose asset keys
        match the items actually returned.
        """
        ordered: list[DataSource] = []
        if (aliased := self.lookup(collection)) is not None:
            ordered.append(aliased)
        for source_id in sorted(self.sources):
            source = self.sources[source_id]
            if source.collection == collection and all(o.id != source_id for o in ordered):
                ordered.append(source)
        return tuple(ordered)

    def with_source(
        self, entry: DataSource, *, aliases: tuple[str, ...] = ()
    ) -> DataSourceRegistry:
        """Return a new registry that also holds ``entry`` (replacing one with its id).

        Args:
            entry: The source to add, e.g. ``DataSource.from_dict("me/x", {...})``.
            aliases: Extra keys that should resolve to ``entry``.
        """
        if not isinstance(entry, DataSource):
            raise InvalidInputError(
                "data_source", entry, "expected a DataSource (see DataSource.from_dict)"
            )
        return DataSourceRegistry(
            {**self.sources, entry.id: entry},
            {**self.aliases, **dict.fromkeys(aliases, entry.id)},
        )

    def ids(self) -> tuple[str, ...]:
        """Sorted source ids (aliases excluded)."""
        return tuple(sorted(self.sources))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.lookup(key) is not None

    def __iter__(self) -> Iterator[DataSource]:
        return (self.sources[source_id] for source_id in self.ids())

    def __len__(self) -> int:
        return len(self.sources)

    @classmethod
    def from_json(cls, text: str | bytes) -> DataSourceRegistry:
        """Parse a registry in the sources.json layout.

        Raises:
            InvalidInputError: The JSON is malformed or an entry is invalid.
        """
        try:
            data = json.loads(text)
        except ValueError as err:
            raise InvalidInputError("data_source", "<sources.json>", f"not JSON: {err}") from err
        if not isinstance(data, Mapping) or data.get("format_version") != FORMAT_VERSION:
            raise InvalidInputError(
                "data_source",
                "<sources.json>",
                f"expected an object with format_version {FORMAT_VERSION}",
            )
        raw_sources = data.get("sources", {})
        raw_aliases = data.get("aliases", {})
        if not isinstance(raw_sources, Mapping) or not isinstance(raw_aliases, Mapping):
            raise InvalidInputError(
                "data_source", "<sources.json>", "'sources' and 'aliases' must be objects"
            )
        sources = {key: DataSource.from_dict(key, entry) for key, entry in raw_sources.items()}
        return cls(sources, dict(raw_aliases))


@cache
def default_registry() -> DataSourceRegistry:
    """Return the built-in registry, loaded once from the package data.

    Cached safely because the registry is immutable; callers extend it with
    :meth:`DataSourceRegistry.with_source`, which never changes this instance.
    """
    text = resources.files("rasteret.stac").joinpath(SOURCES_RESOURCE).read_text("utf-8")
    return DataSourceRegistry.from_json(text)
