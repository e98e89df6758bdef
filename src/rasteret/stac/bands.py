"""Map band codes onto the assets the search actually returned, before any fetch.

A band map that names an asset the items do not have, or two bands on one multi-band
asset without sample indices, would otherwise surface as thousands of failed header
reads or, worse, a silently wrong index. :func:`resolve_bands` checks the request
against the items once, and every error it raises lists what does exist (asset keys,
band codes, band counts) so the user can fix the call without opening the STAC JSON.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

from rasteret.errors import BandMappingError, InvalidInputError
from rasteret.stac.inputs import is_valid_band_code
from rasteret.stac.sources import DataSource, DataSourceRegistry

logger = logging.getLogger(__name__)

_TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True, kw_only=True)
class BandSpec:
    """One requested band: where it lives in each item."""

    code: str
    """The user-facing band name (e.g. ``B04``); becomes a column name in the index."""
    asset_key: str
    """The STAC asset key holding the band (e.g. ``red``)."""
    sample_index: int | None = None
    """0-based sample within a multi-sample asset; ``None`` means the whole asset."""


@dataclass(kw_only=True)
class _AssetInfo:
    """What the items say about one asset key (accumulated over all items)."""

    items: int = 0
    """How many items have this asset."""
    tiff: bool = False
    """Whether any item declares it a (Geo)TIFF: by media type, or by file suffix when
    it has no media type."""
    typed: bool = True
    """Whether every occurrence has a media type (so non-TIFF can be trusted)."""
    roles: set[str] = field(default_factory=set)
    band_counts: set[int] = field(default_factory=set)
    """Lengths of ``eo:bands`` / ``raster:bands`` seen for this asset."""
    band_names: list[str] = field(default_factory=list)
    """``eo:bands``/``raster:bands`` names from the first occurrence, for messages."""

    @property
    def cog_like(self) -> bool:
        """Whether the asset is worth reading as a COG by default."""
        return self.tiff or (not self.typed and "data" in self.roles)


def resolve_bands(
    *,
    items: Sequence[Mapping[str, Any]],
    collection: str,
    data_source: str | None,
    band_map: Mapping[str, str] | None,
    band_index_map: Mapping[str, int] | None,
    registry: DataSourceRegistry,
) -> tuple[BandSpec, ...]:
    """Decide which asset (and sample) each band code reads, validating against the items.

    The band map comes from, in order: ``band_map`` if given; else the registry entry for
    ``data_source``; else (``data_source`` is ``None``) the first registry source
    publishing ``collection`` whose asset keys the items actually have; else every COG
    asset of the items, each under its own asset key as band code (logged).
    ``band_index_map`` defaults to the chosen entry's when the band map came from it.

    Items lacking a mapped asset are allowed as long as at least one item has it (the
    build records a null layout for those rows). With no items there is nothing to check
    asset keys against, so only the maps themselves are validated.

    Returns:
        One :class:`BandSpec` per band, in band-map order.

    Raises:
        InvalidInputError: ``band_map``/``band_index_map`` is not a mapping.
        BandMappingError: Invalid band codes, asset keys no item has, index entries for
            unknown bands, negative or out-of-range indices, or several bands on one
            asset without an index each. The message lists what exists.
    """
    inventory = _inventory(items)
    chosen_map: Mapping[str, str]
    chosen_index: Mapping[str, int] | None = band_index_map
    if band_map is not None:
        chosen_map = _check_mapping_type("band_map", band_map)
    else:
        source = select_data_source(
            items=items, collection=collection, data_source=data_source, registry=registry
        )
        if source is not None:
            chosen_map = source.band_map
            if chosen_index is None:
                chosen_index = source.band_index_map
            logger.debug("using band map of data source %r", source.id)
        else:
            chosen_map = _default_band_map(inventory, collection, data_source, registry)
    index_map = _check_index_map(chosen_index, chosen_map)
    _check_codes(chosen_map)
    if items:
        _check_assets_exist(chosen_map, inventory, len(items))
    _check_shared_assets(chosen_map, index_map)
    _check_index_ranges(chosen_map, index_map, inventory)
    return tuple(
        BandSpec(code=code, asset_key=asset, sample_index=index_map.get(code))
        for code, asset in chosen_map.items()
    )


def select_data_source(
    *,
    items: Sequence[Mapping[str, Any]],
    collection: str,
    data_source: str | None,
    registry: DataSourceRegistry,
) -> DataSource | None:
    """Pick the registry entry that describes these items, if any.

    An explicit ``data_source`` is used as given (``None`` if the registry lacks it).
    Without one, ``data_source`` defaults to the collection id, and since several
    providers publish the same collection id under different asset keys, the first
    candidate whose band-map assets all appear in the items wins. The build stage uses
    the same choice for cloud settings.
    """
    if data_source is not None:
        source = registry.lookup(data_source)
        if source is None:
            suggestions = difflib.get_close_matches(data_source, registry.ids(), n=3)
            hint = f" (did you mean {', '.join(map(repr, suggestions))}?)" if suggestions else ""
            logger.warning(
                "data source %r is not in the registry%s; known sources: %s",
                data_source,
                hint,
                ", ".join(registry.ids()),
            )
        return source
    candidates = registry.candidates(collection)
    if not items:
        return candidates[0] if candidates else None
    present = {key for item in items for key in _assets_of(item)}
    for candidate in candidates:
        if set(candidate.band_map.values()) <= present:
            return candidate
    if candidates:
        logger.warning(
            "no known data source for collection %r matches the items' assets (tried %s)",
            collection,
            ", ".join(c.id for c in candidates),
        )
    return None


# --------------------------------------------------------------------------- inventory


def _assets_of(item: Mapping[str, Any]) -> Mapping[str, Any]:
    assets = item.get("assets")
    return assets if isinstance(assets, Mapping) else {}


def _inventory(items: Sequence[Mapping[str, Any]]) -> dict[str, _AssetInfo]:
    """Summarise every asset key over all items, in first-seen order."""
    inventory: dict[str, _AssetInfo] = {}
    for item in items:
        for key, asset in _assets_of(item).items():
            info = inventory.setdefault(key, _AssetInfo())
            info.items += 1
            if not isinstance(asset, Mapping):
                info.typed = False
                continue
            media_type = asset.get("type")
            href = asset.get("href")
            path = href.split("?", 1)[0].lower() if isinstance(href, str) else ""
            # A declared media type wins; the file suffix only speaks for untyped assets.
            if isinstance(media_type, str) and media_type:
                info.tiff |= "tiff" in media_type.lower()
            else:
                info.typed = False
                info.tiff |= path.endswith(_TIFF_SUFFIXES)
            roles = asset.get("roles")
            if isinstance(roles, list):
                info.roles.update(r for r in roles if isinstance(r, str))
            for ext in ("eo:bands", "raster:bands", "bands"):
                bands = asset.get(ext)
                if isinstance(bands, list) and bands:
                    info.band_counts.add(len(bands))
                    if not info.band_names:
                        info.band_names = [
                            str(b.get("name", "?")) if isinstance(b, Mapping) else "?"
                            for b in bands
                        ]
    return inventory


def asset_signature(item: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an item that :func:`resolve_bands` and :func:`select_data_source` read.

    Two items with equal signatures contribute the same facts to the asset inventory
    (keys, media types, TIFF suffixes, roles, band counts and names), so a build that
    searches on many workers can resolve bands on one representative item per distinct
    signature instead of shipping every item to one process. Kept next to
    ``_inventory`` so that what one reads and the other keeps stay in step.

    Returns:
        A JSON-able ``{"assets": {key: reduced asset}}`` item stand-in.
    """
    reduced: dict[str, Any] = {}
    for key, asset in _assets_of(item).items():
        if not isinstance(asset, Mapping):
            reduced[key] = None
            continue
        href = asset.get("href")
        path = href.split("?", 1)[0].lower() if isinstance(href, str) else ""
        entry: dict[str, Any] = {
            "type": asset.get("type"),
            "href": "asset.tif" if path.endswith(_TIFF_SUFFIXES) else "asset",
            "roles": asset.get("roles"),
        }
        for ext in ("eo:bands", "raster:bands", "bands"):
            bands = asset.get(ext)
            if isinstance(bands, list) and bands:
                entry[ext] = [
                    {"name": b.get("name", "?")} if isinstance(b, Mapping) else None for b in bands
                ]
        reduced[key] = entry
    return {"assets": reduced}


def _describe_assets(inventory: Mapping[str, _AssetInfo]) -> str:
    """List asset keys, marking COGs, e.g. ``blue (COG), thumbnail``."""
    if not inventory:
        return "(the items have no assets)"
    return ", ".join(
        f"{key} (COG)" if info.cog_like else key for key, info in sorted(inventory.items())
    )


def _default_band_map(
    inventory: Mapping[str, _AssetInfo],
    collection: str,
    data_source: str | None,
    registry: DataSourceRegistry,
) -> dict[str, str]:
    """Every COG asset as its own band, for collections nobody described to us."""
    band_map: dict[str, str] = {}
    skipped: list[str] = []
    for key, info in inventory.items():
        if not info.cog_like:
            continue
        if is_valid_band_code(key):
            band_map[key] = key
        else:
            skipped.append(key)
    if skipped:
        logger.warning(
            "skipping COG asset(s) whose keys are not valid band codes: %s (pass a band_map)",
            ", ".join(skipped),
        )
    if not band_map:
        raise BandMappingError(
            f"no band_map given, no known data source for "
            f"{data_source or collection!r} (known: {', '.join(registry.ids())}), and the "
            f"items have no COG assets to default to; assets: {_describe_assets(inventory)}"
        )
    logger.info(
        "no band_map given and no known data source for %r: using every COG asset as a "
        "band, named by its asset key: %s",
        data_source or collection,
        ", ".join(band_map),
    )
    return band_map


# --------------------------------------------------------------------------- checks


def _check_mapping_type(parameter: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(parameter, value, "expected a dict of band code -> value")
    return value


def _check_index_map(
    band_index_map: Mapping[str, int] | None, band_map: Mapping[str, str]
) -> dict[str, int]:
    """Validate index entries: known band codes and non-negative ints."""
    if band_index_map is None:
        return {}
    _check_mapping_type("band_index_map", band_index_map)
    unknown = [code for code in band_index_map if code not in band_map]
    if unknown:
        raise BandMappingError(
            f"band_index_map has code(s) {', '.join(map(repr, unknown))} that are not in "
            f"the band map; band codes: {', '.join(band_map) or '(none)'}"
        )
    checked: dict[str, int] = {}
    for code, index in band_index_map.items():
        if isinstance(index, bool) or not isinstance(index, Integral):
            raise BandMappingError(
                f"band_index_map[{code!r}] must be an int sample index, got {index!r}"
            )
        if index < 0:
            raise BandMappingError(
                f"band_index_map[{code!r}] = {index} is negative; sample indices are "
                f"0-based (0 is the first sample of asset {band_map[code]!r})"
            )
        checked[code] = int(index)
    return checked


def _check_codes(band_map: Mapping[str, Any]) -> None:
    """Band codes become column names, so they must be plain identifiers."""
    if not band_map:
        raise BandMappingError("band_map is empty; map at least one band code to an asset key")
    bad = [code for code in band_map if not is_valid_band_code(code)]
    if bad:
        raise BandMappingError(
            f"invalid band code(s) {', '.join(map(repr, bad))}: codes must be non-empty "
            f"strings of letters, digits, '_', '.' or '-'; valid codes given: "
            f"{', '.join(c for c in band_map if c not in bad) or '(none)'}"
        )
    bad_assets = [
        code for code, asset in band_map.items() if not isinstance(asset, str) or not asset
    ]
    if bad_assets:
        raise BandMappingError(
            f"band(s) {', '.join(map(repr, bad_assets))} must map to a non-empty asset key string"
        )


def _check_assets_exist(
    band_map: Mapping[str, str], inventory: Mapping[str, _AssetInfo], n_items: int
) -> None:
    """Every mapped asset must exist in at least one item and be readable as a TIFF."""
    missing = {code: asset for code, asset in band_map.items() if asset not in inventory}
    if missing:
        wanted = ", ".join(f"{code} -> {asset!r}" for code, asset in missing.items())
        raise BandMappingError(
            f"band_map: no item has the asset(s) for {wanted}; available asset keys over "
            f"{n_items} item(s): {_describe_assets(inventory)}"
        )
    not_tiff = {
        code: asset
        for code, asset in band_map.items()
        if inventory[asset].typed and not inventory[asset].tiff
    }
    if not_tiff:
        wanted = ", ".join(f"{code} -> {asset!r}" for code, asset in not_tiff.items())
        raise BandMappingError(
            f"asset(s) for {wanted} are not GeoTIFFs by media type, so their headers cannot "
            f"be indexed; available asset keys: {_describe_assets(inventory)}"
        )
    for code, asset in band_map.items():
        count = inventory[asset].items
        if count < n_items:
            logger.info(
                "band %s: asset %r is missing from %d of %d item(s); those rows get no layout",
                code,
                asset,
                n_items - count,
                n_items,
            )


def _check_shared_assets(band_map: Mapping[str, str], index_map: Mapping[str, int]) -> None:
    """Bands sharing one asset must each say which sample they are, distinctly."""
    by_asset: dict[str, list[str]] = {}
    for code, asset in band_map.items():
        by_asset.setdefault(asset, []).append(code)
    for asset, codes in by_asset.items():
        if len(codes) < 2:
            continue
        lacking = [code for code in codes if code not in index_map]
        if lacking:
            raise BandMappingError(
                f"bands {', '.join(codes)} all map to asset {asset!r}, so each needs a "
                f"band_index_map entry (its 0-based sample); missing for: {', '.join(lacking)}"
            )
        by_index: dict[int, list[str]] = {}
        for code in codes:
            by_index.setdefault(index_map[code], []).append(code)
        clashes = {index: names for index, names in by_index.items() if len(names) > 1}
        if clashes:
            detail = "; ".join(f"{', '.join(names)} -> {index}" for index, names in clashes.items())
            raise BandMappingError(
                f"bands on asset {asset!r} share a sample index ({detail}); "
                f"indices in use: {dict(sorted(index_map.items()))}"
            )


def _check_index_ranges(
    band_map: Mapping[str, str],
    index_map: Mapping[str, int],
    inventory: Mapping[str, _AssetInfo],
) -> None:
    """An index past the asset's band count (when the items state it) cannot be read."""
    for code, index in index_map.items():
        info = inventory.get(band_map[code])
        if info is None or not info.band_counts:
            continue
        count = min(info.band_counts)
        if index >= count:
            names = ", ".join(f"{i}={name}" for i, name in enumerate(info.band_names))
            raise BandMappingError(
                f"band_index_map[{code!r}] = {index} but asset {band_map[code]!r} has "
                f"{count} band(s) (valid indices 0..{count - 1}: {names})"
            )
