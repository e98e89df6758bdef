"""Search a STAC API with pystac-client and return plain item dicts.

The build stage only needs JSON: items are stored in the index and hashed into cache
keys, so this module never hands out pystac objects. It owns the parts of talking to a
STAC API that users otherwise rediscover one failure at a time: retries with backoff on
429/5xx, a clear error naming the URL when the host is unreachable, a check that the
collection exists (listing the ones that do), paging, de-duplication, and progress.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Final

import pystac
import pystac.errors
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from pystac_client.warnings import DoesNotConformTo
from urllib3.util.retry import Retry

from rasteret.errors import InvalidInputError, RasteretWarning, StacSearchError
from rasteret.io.urls import redact_text, redact_url
from rasteret.stac import log_redaction
from rasteret.stac.inputs import (
    BBox,
    DateRange,
    Query,
    normalize_bbox,
    normalize_date_range,
    split_antimeridian,
    to_stac_datetime,
    validate_collection_id,
    validate_query,
)
from rasteret.stac.progress import ProgressLike

logger = logging.getLogger(__name__)

# urllib3 and pystac-client log request URLs, query strings (tokens) included; every
# STAC request rasteret makes goes through this module or static.py, which imports it.
log_redaction.install()

RETRY_STATUS: Final = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: rate limiting and transient server failures."""

DEFAULT_TIMEOUT: Final = (10.0, 60.0)
"""(connect, read) seconds: fail fast on a dead host, be patient with slow searches."""

# Errors that pystac/pystac-client raise for an unreachable or misbehaving API:
# APIError wraps every requests failure and non-2xx status, STACError/ValueError cover
# JSON that is not (valid) STAC. pystac-client raises its DoesNotConformTo *warning*
# class as an exception when an API lacks a capability (e.g. a static catalog has no
# /search), and pystac raises NotImplementedError for some unsupported objects.
_CLIENT_ERRORS: Final = (
    APIError,
    DoesNotConformTo,
    pystac.STACError,
    pystac.STACTypeError,
    pystac.errors.RequiredPropertyMissing,
    ValueError,
    KeyError,
    TypeError,
    OSError,
    NotImplementedError,
)


def make_retry(*, total: int = 4, backoff_factor: float = 0.5) -> Retry:
    """Build the urllib3 retry policy used for every STAC API request.

    Rate limits (429) and gateway errors are common on public STAC APIs under load;
    retrying them with exponential backoff turns most into a short delay. POST is retried
    too because a STAC search is read-only. Connection errors get a single retry so that
    a host that is simply down fails within a second or two. After the last retry the
    response is returned (``raise_on_status=False``) so the error keeps its status code.
    """
    return Retry(
        total=total,
        connect=1,
        read=2,
        status=total,
        backoff_factor=backoff_factor,
        status_forcelist=sorted(RETRY_STATUS),
        allowed_methods=frozenset({"GET", "POST", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def open_client(
    stac_api: str,
    *,
    retry: Retry | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> Client:
    """Open a STAC API with retries and timeouts, wrapping failures in StacSearchError.

    Args:
        stac_api: Root URL of the STAC API (its landing page).
        retry: urllib3 retry policy; defaults to :func:`make_retry`.
        timeout: Requests-style timeout for every request.

    Raises:
        StacSearchError: The URL could not be reached or is not a STAC API/catalog.
    """
    if not isinstance(stac_api, str) or not stac_api.startswith(("http://", "https://")):
        raise StacSearchError(
            f"stac_api={redact_url(stac_api)!r} is not an http(s) URL; for a catalog on disk pass "
            "static_catalog=True"
        )
    stac_io = StacApiIO(max_retries=retry or make_retry(), timeout=timeout)
    try:
        return Client.open(stac_api, stac_io=stac_io, timeout=timeout)
    except _CLIENT_ERRORS as err:
        raise StacSearchError(
            f"could not open STAC API stac_api={redact_url(stac_api)!r}: {_describe(err)}"
        ) from err


def search_items(
    *,
    stac_api: str,
    collection: str,
    bbox: object = None,
    date_range: object = None,
    query: Mapping[str, Any] | None = None,
    limit_per_page: int = 100,
    progress: ProgressLike | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> list[dict[str, Any]]:
    """Search one collection of a STAC API and return every matching item as a dict.

    Inputs go through :mod:`rasteret.stac.inputs` (idempotent, so already-normalised
    values are fine). A bbox that crosses the antimeridian is searched as its two halves
    and the results merged, because servers disagree on what ``minx > maxx`` means.

    Args:
        stac_api: Root URL of the STAC API.
        collection: Collection id; checked to exist before searching.
        bbox: ``(minx, miny, maxx, maxy)`` or ``None``.
        date_range: ``(start, end)`` (see :func:`~rasteret.stac.inputs.normalize_date_range`)
            or ``None``.
        query: STAC query-extension filter, e.g. ``{"eo:cloud_cover": {"lt": 10}}``.
        limit_per_page: Page size asked of the API (servers may cap it).
        progress: Told about each page (``update``) and the total (``set_total``).
        timeout: Requests-style (connect, read) timeout of every request; a request
            that times out is retried like a 5xx (see :func:`make_retry`).

    Returns:
        Item dicts in API order, each id once (the first occurrence wins).

    Raises:
        InvalidInputError: A malformed bbox, date range, collection id, query or limit.
        StacSearchError: The API is unreachable, the collection does not exist, or the
            search failed; the message names the URL and the cause.
    """
    collection = validate_collection_id(collection)
    boxes: tuple[BBox | None, ...] = (None,)
    if (normalized_bbox := normalize_bbox(bbox)) is not None:
        boxes = split_antimeridian(normalized_bbox)
    dates: DateRange | None = normalize_date_range(date_range)
    checked_query = validate_query(query)
    if (
        isinstance(limit_per_page, bool)
        or not isinstance(limit_per_page, int)
        or limit_per_page < 1
    ):
        raise InvalidInputError("limit_per_page", limit_per_page, "must be an int >= 1")

    client = open_client(stac_api, timeout=timeout)
    # Messages and logs name the API without its query: it may hold an API key or token.
    shown = redact_url(stac_api)
    if not client.conforms_to(ConformanceClasses.ITEM_SEARCH):
        # Checked before the collection lookup, which on such a catalog would fall back
        # to crawling every child link.
        raise StacSearchError(
            f"{shown} does not advertise STAC item search (no /search endpoint); if it "
            "is a static catalog, pass static_catalog=True"
        )
    _require_collection(client, shown, collection)
    if checked_query is not None and not client.conforms_to(ConformanceClasses.QUERY):
        # pystac-client sends the query anyway; a server that ignores it returns
        # unfiltered results, so say so loudly rather than index the wrong scenes.
        warnings.warn(
            f"{shown} does not advertise the STAC query extension; the query "
            f"{checked_query!r} may be ignored by the server",
            RasteretWarning,
            stacklevel=2,
        )

    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    duplicates = 0
    announced_total = 0
    for box in boxes:
        parameters = _search_parameters(collection, box, dates, checked_query, limit_per_page)
        first_page = True
        for page in _pages(client, shown, parameters):
            if first_page and progress is not None:
                matched = _matched(page)
                if matched is not None:
                    announced_total += matched
                    progress.set_total(announced_total)
            first_page = False
            new = 0
            for feature in page.get("features", []):
                item_id = feature.get("id") if isinstance(feature, dict) else None
                if not isinstance(item_id, str):
                    raise StacSearchError(
                        f"STAC API {shown} returned a feature without a string id "
                        f"in collection {collection!r}"
                    )
                if item_id in seen:
                    duplicates += 1
                    continue
                seen.add(item_id)
                items.append(feature)
                new += 1
            if progress is not None and new:
                progress.update(new)
    if duplicates:
        logger.info(
            "dropped %d duplicate item(s) returned by %s for %s", duplicates, shown, collection
        )
    if progress is not None:
        progress.set_total(len(items))
    logger.debug("found %d item(s) in %s at %s", len(items), collection, shown)
    return items


def _search_parameters(
    collection: str,
    box: BBox | None,
    dates: DateRange | None,
    query: Query | None,
    limit: int,
) -> dict[str, Any]:
    """Keyword arguments for ``Client.search``, leaving out filters that are not set."""
    parameters: dict[str, Any] = {"collections": [collection], "limit": limit}
    if box is not None:
        parameters["bbox"] = list(box)
    if (interval := to_stac_datetime(dates)) is not None:
        parameters["datetime"] = interval
    if query is not None:
        parameters["query"] = query
    return parameters


def _require_collection(client: Client, stac_api: str, collection: str) -> None:
    """Fail early, listing what exists, when the collection id is not on the API.

    Without this, most APIs answer a search for an unknown collection with zero items,
    which the user would read as "no data here" rather than "typo".
    """
    try:
        found = client.get_collection(collection)
    except _CLIENT_ERRORS as err:
        raise StacSearchError(
            f"could not look up collection {collection!r} on {stac_api}: {_describe(err)}"
        ) from err
    if found is not None:
        return
    try:
        available = sorted(c.id for c in client.get_collections())
    except _CLIENT_ERRORS as err:
        raise StacSearchError(
            f"collection {collection!r} not found on {stac_api} "
            f"(listing the available collections failed too: {_describe(err)})"
        ) from err
    listing = ", ".join(available) if available else "(none)"
    raise StacSearchError(
        f"collection {collection!r} not found on {stac_api}; available collections: {listing}"
    )


def _pages(client: Client, stac_api: str, parameters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield raw result pages, turning every client failure into StacSearchError."""
    try:
        search = client.search(**parameters)
        pages = search.pages_as_dicts()
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            if not isinstance(page, dict):
                raise StacSearchError(f"STAC API {stac_api} returned a page that is not an object")
            yield page
    except (NotImplementedError, DoesNotConformTo) as err:
        raise StacSearchError(
            f"{stac_api} does not support item search ({redact_text(str(err))}); if it is a "
            "static catalog, "
            "pass static_catalog=True"
        ) from err
    except _CLIENT_ERRORS as err:
        raise StacSearchError(
            f"search of {parameters['collections'][0]!r} on {stac_api} failed: {_describe(err)}"
        ) from err


def _matched(page: Mapping[str, Any]) -> int | None:
    """Read the total match count from a page, if the API reports one.

    Reading it from the first page avoids the extra request ``ItemSearch.matched()``
    makes; APIs use either ``numberMatched`` or the older ``context.matched``.
    """
    value = page.get("numberMatched")
    if value is None and isinstance(page.get("context"), Mapping):
        value = page["context"].get("matched")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _describe(err: BaseException) -> str:
    """Summarise a client error: its type, HTTP status if any, and a short message."""
    status = getattr(err, "status_code", None)
    text = redact_text(" ".join(str(err).split()))
    if len(text) > 300:
        text = text[:297] + "..."
    prefix = type(err).__name__ + (f" (HTTP {status})" if status else "")
    return f"{prefix}: {text}" if text else prefix
