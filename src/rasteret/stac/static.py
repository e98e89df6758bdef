"""Search a static STAC catalog: a tree of JSON files with no /search endpoint.

A static catalog cannot filter for us, so this module walks it with pystac and applies
the same bbox, date-range and query semantics a STAC API would, returning the same plain
item dicts as :func:`rasteret.stac.search.search_items`. Asset hrefs are made absolute,
because a relative href means nothing once the item is copied into the index.
"""

from __future__ import annotations

import json
import logging
import operator
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse
from urllib.request import url2pathname

import pystac
import pystac.errors
import shapely.geometry
import urllib3.exceptions
from shapely.geometry.base import BaseGeometry

from rasteret.errors import StacSearchError
from rasteret.io.urls import redact_text, redact_url
from rasteret.stac.inputs import (
    BBox,
    DateRange,
    Query,
    normalize_bbox,
    normalize_date_range,
    split_antimeridian,
    validate_collection_id,
    validate_query,
)
from rasteret.stac.progress import ProgressLike

logger = logging.getLogger(__name__)

_ROOT_NAMES: Final = ("catalog.json", "collection.json")
"""Files looked for when ``catalog`` names a directory, in this order."""

# What pystac raises for unreadable or malformed catalogs: I/O failures are OSErrors
# (urllib's HTTPError/URLError included) or, when pystac reads over urllib3, urllib3
# errors; bad JSON is a ValueError; JSON that is not STAC, or lacks fields, surfaces as
# pystac's own errors (which derive from plain Exception) or KeyError/TypeError.
_READ_ERRORS: Final = (
    OSError,
    urllib3.exceptions.HTTPError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    pystac.STACError,
    pystac.STACTypeError,
    pystac.errors.RequiredPropertyMissing,
    pystac.errors.DuplicateObjectKeyError,
)


def search_static_catalog(
    *,
    catalog: str | os.PathLike[str],
    collection: str,
    bbox: object = None,
    date_range: object = None,
    query: Mapping[str, Any] | None = None,
    progress: ProgressLike | None = None,
) -> list[dict[str, Any]]:
    """Walk a static catalog and return the items of one collection that match.

    Args:
        catalog: A local path (file or directory holding ``catalog.json`` or
            ``collection.json``), a ``file://`` URL, or an ``http(s)://`` URL of a
            catalog.json / collection.json. A collection.json is accepted directly when
            its id is ``collection``.
        collection: Id of the collection to search, anywhere below the root.
        bbox: ``(minx, miny, maxx, maxy)``; an item matches when its geometry (or, if it
            has none, its bbox) intersects it. Antimeridian bboxes are split in two.
        date_range: ``(start, end)``, inclusive; an item matches on its ``datetime``, or
            when its ``start_datetime``/``end_datetime`` interval overlaps the range.
        query: STAC query-extension filter applied to item properties (see
            :func:`matches_query`).
        progress: Told about each matching item; the total is set at the end, since a
            static catalog cannot count matches in advance.

    Returns:
        Matching item dicts in catalog order, each id once, with absolute asset hrefs.

    Raises:
        InvalidInputError: A malformed bbox, date range, collection id or query.
        StacSearchError: The catalog cannot be read or parsed, or has no such collection
            (the message lists the collection ids it does have).
    """
    collection = validate_collection_id(collection)
    normalized_bbox = normalize_bbox(bbox)
    boxes = (
        [shapely.geometry.box(*part) for part in split_antimeridian(normalized_bbox)]
        if normalized_bbox is not None
        else []
    )
    dates = normalize_date_range(date_range)
    checked_query = validate_query(query)

    href = _root_href(catalog)
    root = _read(href)
    target = _find_collection(root, collection, href)

    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in _walk_items(target, href):
        if item.id in seen:
            logger.info("skipping duplicate item id %r in %s", item.id, redact_url(href))
            continue
        if not _item_matches(item, boxes, dates, checked_query, normalized_bbox):
            continue
        seen.add(item.id)
        items.append(_item_dict(item, href))
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.set_total(len(items))
    logger.debug(
        "found %d item(s) in %s of static catalog %s", len(items), collection, redact_url(href)
    )
    return items


# --------------------------------------------------------------------------- reading


def _root_href(catalog: str | os.PathLike[str]) -> str:
    """Turn the user's catalog reference into an href pystac can read."""
    if not isinstance(catalog, str | os.PathLike):
        raise StacSearchError(
            f"static catalog {catalog!r} must be a path or a file:// or http(s):// URL"
        )
    text = os.fspath(catalog)
    parsed = urlparse(text)
    if parsed.scheme in {"http", "https"}:
        return text
    if parsed.scheme == "file":
        path = Path(url2pathname(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive
        raise StacSearchError(
            f"static catalog {text!r}: unsupported URL scheme {parsed.scheme!r}; "
            "use a local path, file:// or http(s)://"
        )
    else:
        path = Path(text)
    path = path.expanduser().resolve()
    if path.is_dir():
        for name in _ROOT_NAMES:
            if (path / name).is_file():
                return str(path / name)
        raise StacSearchError(
            f"static catalog directory {path} contains neither {' nor '.join(_ROOT_NAMES)}"
        )
    if not path.is_file():
        raise StacSearchError(f"static catalog {path} does not exist (stac_api={text!r})")
    return str(path)


def _read(href: str) -> pystac.STACObject:
    """Read the root STAC object, wrapping every failure in StacSearchError."""
    try:
        return pystac.read_file(href)
    except _READ_ERRORS as err:
        raise StacSearchError(
            f"could not read static catalog {redact_url(href)}: {_why(err)}"
        ) from err


def _find_collection(root: pystac.STACObject, collection: str, href: str) -> pystac.Collection:
    """Return the collection with id ``collection`` at or below ``root``."""
    if isinstance(root, pystac.Collection) and root.id == collection:
        return root
    if not isinstance(root, pystac.Catalog):  # an Item, or something else entirely
        raise StacSearchError(
            f"static catalog {redact_url(href)} is a STAC {type(root).__name__}, "
            "not a catalog or collection"
        )
    available: list[str] = [root.id] if isinstance(root, pystac.Collection) else []
    try:
        for child in root.get_all_collections():
            if child.id == collection:
                return child
            available.append(child.id)
    except _READ_ERRORS as err:
        raise StacSearchError(
            f"could not walk static catalog {redact_url(href)}: {_why(err)}"
        ) from err
    listing = ", ".join(sorted(set(available))) or "(none)"
    raise StacSearchError(
        f"collection {collection!r} not found in static catalog {redact_url(href)}; "
        f"available collections: {listing}"
    )


def _walk_items(target: pystac.Collection, href: str) -> Iterable[pystac.Item]:
    """Yield every item below ``target``, wrapping read failures in StacSearchError."""
    items = target.get_items(recursive=True)
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except _READ_ERRORS as err:
            raise StacSearchError(
                f"could not read an item of collection {target.id!r} in static catalog "
                f"{redact_url(href)}: {_why(err)}"
            ) from err
        yield item


def _item_dict(item: pystac.Item, href: str) -> dict[str, Any]:
    """Serialise an item to plain JSON-ready data with absolute asset hrefs."""
    try:
        data = item.to_dict(include_self_link=True, transform_hrefs=False)
        for key, asset in item.assets.items():
            absolute = asset.get_absolute_href()
            if absolute is not None:
                data["assets"][key]["href"] = absolute
        # A round trip through JSON drops any non-JSON value (tuples, datetimes) an
        # extension may have left in the dict, so callers can hash and store it as is.
        result: dict[str, Any] = json.loads(json.dumps(data, default=str))
    except _READ_ERRORS as err:
        raise StacSearchError(
            f"item {item.id!r} in static catalog {redact_url(href)} cannot be serialised: "
            f"{_why(err)}"
        ) from err
    return result


def _why(err: BaseException) -> str:
    """An error's type and text for a message, without URL queries (signed tokens)."""
    return f"{type(err).__name__}: {redact_text(str(err))}"


# --------------------------------------------------------------------------- filtering


def _item_matches(
    item: pystac.Item,
    boxes: Sequence[BaseGeometry],
    dates: DateRange | None,
    query: Query | None,
    bbox: BBox | None,
) -> bool:
    """Apply the bbox, date and query filters a STAC API would apply server-side."""
    if bbox is not None and not _intersects(item, boxes):
        return False
    if dates is not None and not _in_date_range(item, dates):
        return False
    return query is None or matches_query(item.properties, query)


def _intersects(item: pystac.Item, boxes: Sequence[BaseGeometry]) -> bool:
    """Whether the item's footprint touches any of the search boxes.

    Items without geometry fall back to their bbox; items with neither never match a
    spatial search, as on a STAC API.
    """
    footprint: BaseGeometry | None = None
    if item.geometry:
        try:
            footprint = shapely.geometry.shape(item.geometry)
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            raise StacSearchError(f"item {item.id!r} has an invalid geometry: {err}") from err
    elif item.bbox and len(item.bbox) >= 4:
        half = len(item.bbox) // 2
        minx, miny, maxx, maxy = (
            item.bbox[0],
            item.bbox[1],
            item.bbox[half],
            item.bbox[half + 1],
        )
        # an item bbox with minx > maxx crosses the antimeridian, as a search bbox does
        footprint = shapely.MultiPolygon(
            [shapely.geometry.box(*part) for part in split_antimeridian((minx, miny, maxx, maxy))]
        )
    if footprint is None:
        return False
    return any(footprint.intersects(box) for box in boxes)


def _in_date_range(item: pystac.Item, dates: DateRange) -> bool:
    """Whether the item's instant or interval overlaps the inclusive search range.

    The interval is ``start_datetime``/``end_datetime`` where given, else ``datetime``
    at that end, as pgstac (and a collection's ``subset``) take it.
    """
    start, end = dates
    first_raw = item.common_metadata.start_datetime or item.datetime
    last_raw = item.common_metadata.end_datetime or item.datetime
    if first_raw is None and last_raw is None:
        return False
    first = _utc(first_raw) if first_raw is not None else None
    last = _utc(last_raw) if last_raw is not None else None
    if end is not None and first is not None and first > end:
        return False
    return not (start is not None and last is not None and last < start)


def _utc(value: datetime) -> datetime:
    """Make item datetimes comparable with the aware UTC search range."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def matches_query(properties: Mapping[str, Any], query: Query) -> bool:
    """Evaluate a STAC query-extension filter against item properties.

    All conditions must hold. A missing property, or a comparison between
    incompatible types (a number against a string), does not match, mirroring how
    SQL-backed APIs treat NULL. ``contains`` is a substring test on strings and a
    membership test on arrays; ``in`` tests the property against a list of values.

    Args:
        properties: The item's ``properties``.
        query: A query already checked by :func:`~rasteret.stac.inputs.validate_query`.
    """
    for prop, condition in query.items():
        if prop not in properties:
            return False
        actual = properties[prop]
        for op, expected in condition.items():
            if not _apply(op, actual, expected):
                return False
    return True


def _apply(op: str, actual: Any, expected: Any) -> bool:
    """Apply one query operator; type mismatches are a non-match, not an error."""
    if op in _ORDERINGS:
        return _comparable(actual, expected) and bool(_ORDERINGS[op](actual, expected))
    test = _TESTS.get(op)
    if test is None:
        raise StacSearchError(f"unsupported query operator {op!r}")
    return test(actual, expected)


def _contains(actual: Any, expected: Any) -> bool:
    """Substring test on strings, membership test on arrays."""
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    return isinstance(actual, list) and expected in actual


_ORDERINGS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
_TESTS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": lambda actual, expected: bool(actual == expected),
    "neq": lambda actual, expected: bool(actual != expected),
    "in": lambda actual, expected: any(actual == candidate for candidate in expected),
    "startsWith": lambda actual, expected: isinstance(actual, str) and actual.startswith(expected),
    "endsWith": lambda actual, expected: isinstance(actual, str) and actual.endswith(expected),
    "contains": _contains,
}


def _comparable(actual: Any, expected: Any) -> bool:
    """Whether two JSON values can be ordered: both numbers or both strings."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    numbers = (int, float)
    if isinstance(actual, numbers) and isinstance(expected, numbers):
        return True
    return isinstance(actual, str) and isinstance(expected, str)
