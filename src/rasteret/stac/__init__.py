"""STAC search, static catalogs, band mapping and the data-source registry.

The build stage calls, in order: the validators of :mod:`~rasteret.stac.inputs`,
:func:`search_items` or :func:`search_static_catalog` (plain item dicts), then
:func:`resolve_bands` (before any header fetch). Known providers live as data in
``data/sources.json`` behind :func:`default_registry`.
"""

from typing import TYPE_CHECKING, Any

from rasteret.stac.bands import BandSpec, resolve_bands, select_data_source
from rasteret.stac.inputs import (
    QUERY_OPERATORS,
    BBox,
    DateRange,
    Query,
    normalize_bbox,
    normalize_date_range,
    to_stac_datetime,
    validate_collection_id,
    validate_query,
)
from rasteret.stac.progress import ProgressLike
from rasteret.stac.sources import DataSource, DataSourceRegistry, default_registry

if TYPE_CHECKING:
    from rasteret.stac.search import search_items
    from rasteret.stac.static import matches_query, search_static_catalog

_LAZY = {
    "search_items": "rasteret.stac.search",
    "search_static_catalog": "rasteret.stac.static",
    "matches_query": "rasteret.stac.static",
}
"""Names whose modules import pystac and pystac-client (about 60 ms): loaded on first use,
so ``import rasteret`` and reads of a built index do not pay for them."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - only for the lazy names above

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "QUERY_OPERATORS",
    "BBox",
    "BandSpec",
    "DataSource",
    "DataSourceRegistry",
    "DateRange",
    "ProgressLike",
    "Query",
    "default_registry",
    "matches_query",
    "normalize_bbox",
    "normalize_date_range",
    "resolve_bands",
    "search_items",
    "search_static_catalog",
    "select_data_source",
    "to_stac_datetime",
    "validate_collection_id",
    "validate_query",
]
