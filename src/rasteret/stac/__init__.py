"""STAC search, static catalogs, band mapping and the data-source registry.

The build stage calls, in order: the validators of :mod:`~rasteret.stac.inputs`,
:func:`search_items` or :func:`search_static_catalog` (plain item dicts), then
:func:`resolve_bands` (before any header fetch). Known providers live as data in
``data/sources.json`` behind :func:`default_registry`.
"""

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
from rasteret.stac.search import ProgressLike, search_items
from rasteret.stac.sources import DataSource, DataSourceRegistry, default_registry
from rasteret.stac.static import matches_query, search_static_catalog

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
