"""search_items against the real local STAC API (stac-fastapi-pgstac, session fixture).

The fixture ``stac_api`` (tests/conftest.py) serves collections such as
``sentinel-2-l2a`` and ``landsat-c2l2-sr``. These tests do not hard-code item ids:
they read a collection unfiltered, then check every filtered search against the same
filter applied locally (shapely for bboxes, :func:`matches_query` for queries), so they
hold for whatever corpus the fixture loads.
"""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from typing import Any

import pytest
import shapely.geometry

from rasteret.errors import StacSearchError
from rasteret.stac.inputs import normalize_date_range
from rasteret.stac.search import search_items
from rasteret.stac.static import matches_query

pytestmark = pytest.mark.stac_api

PREFERRED = ("sentinel-2-l2a", "landsat-c2l2-sr")


@pytest.fixture(scope="module")
def corpus(stac_api: Any) -> tuple[str, list[dict[str, Any]]]:
    """(collection id, every item of it) for a collection with at least 3 items."""
    from pystac_client import Client  # noqa: PLC0415 - only this fixture needs the client

    ids = [c.id for c in Client.open(stac_api.url).get_collections()]
    for collection in [*PREFERRED, *sorted(ids)]:
        if collection not in ids:
            continue
        items = search_items(stac_api=stac_api.url, collection=collection, limit_per_page=500)
        if len(items) >= 3:
            return collection, items
    raise AssertionError(f"no collection with >= 3 items on {stac_api.url}: {ids}")


def _ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


def _instant(item: dict[str, Any]) -> datetime:
    props = item["properties"]
    text = props.get("datetime") or props["start_datetime"]
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_paging_with_small_limit(stac_api: Any, corpus: tuple[str, list[dict[str, Any]]],
                                 progress: Any) -> None:  # fmt: skip
    collection, everything = corpus
    limit = max(2, len(everything) // 5)  # several pages, whatever the corpus size
    paged = search_items(
        stac_api=stac_api.url, collection=collection, limit_per_page=limit, progress=progress
    )
    assert [i["id"] for i in paged] == [i["id"] for i in everything]
    assert len(progress.updates) == math.ceil(len(everything) / limit) >= 2
    assert sum(progress.updates) == len(everything)
    assert progress.totals[-1] == len(everything)


def test_items_are_plain_dicts(corpus: tuple[str, list[dict[str, Any]]]) -> None:
    _, everything = corpus
    assert all(type(item) is dict and "assets" in item for item in everything)
    assert len(_ids(everything)) == len(everything)


def test_bbox(stac_api: Any, corpus: tuple[str, list[dict[str, Any]]]) -> None:
    collection, everything = corpus
    centre = shapely.geometry.shape(everything[0]["geometry"]).representative_point()
    bbox = (centre.x - 0.01, centre.y - 0.01, centre.x + 0.01, centre.y + 0.01)
    found = search_items(stac_api=stac_api.url, collection=collection, bbox=bbox)
    box = shapely.geometry.box(*bbox)
    expected = {
        i["id"] for i in everything if shapely.geometry.shape(i["geometry"]).intersects(box)
    }
    assert everything[0]["id"] in expected
    assert _ids(found) == expected


def test_antimeridian_bbox_is_accepted(
    stac_api: Any, corpus: tuple[str, list[dict[str, Any]]]
) -> None:
    collection, everything = corpus
    bbox = (179.0, -89.0, -179.0, 89.0)
    found = search_items(stac_api=stac_api.url, collection=collection, bbox=bbox)
    boxes = [shapely.geometry.box(179, -89, 180, 89), shapely.geometry.box(-180, -89, -179, 89)]
    expected = {
        i["id"]
        for i in everything
        if any(shapely.geometry.shape(i["geometry"]).intersects(b) for b in boxes)
    }
    assert _ids(found) == expected


def test_date_range_is_inclusive_of_end_day(
    stac_api: Any, corpus: tuple[str, list[dict[str, Any]]]
) -> None:
    collection, everything = corpus
    day = sorted(_instant(i) for i in everything)[len(everything) // 2].date().isoformat()
    found = search_items(stac_api=stac_api.url, collection=collection, date_range=(day, day))
    start, end = normalize_date_range((day, day)) or (None, None)
    assert start is not None and end is not None
    expected = {i["id"] for i in everything if start <= _instant(i) <= end}
    assert expected  # the median item's own day
    assert _ids(found) == expected


def test_query(stac_api: Any, corpus: tuple[str, list[dict[str, Any]]]) -> None:
    collection, everything = corpus
    covers = [
        i["properties"]["eo:cloud_cover"]
        for i in everything
        if isinstance(i["properties"].get("eo:cloud_cover"), int | float)
    ]
    assert covers, f"{collection} items carry no eo:cloud_cover to query on"
    query = {"eo:cloud_cover": {"lte": statistics.median(covers)}}
    found = search_items(stac_api=stac_api.url, collection=collection, query=query)
    expected = {i["id"] for i in everything if matches_query(i["properties"], query)}
    assert expected
    assert _ids(found) == expected


def test_combined_filters(stac_api: Any, corpus: tuple[str, list[dict[str, Any]]]) -> None:
    collection, everything = corpus
    first = everything[0]
    minx, miny, maxx, maxy = shapely.geometry.shape(first["geometry"]).bounds
    day = _instant(first).date().isoformat()
    found = search_items(
        stac_api=stac_api.url,
        collection=collection,
        bbox=(minx, miny, maxx, maxy),
        date_range=(day, day),
        limit_per_page=1,
    )
    assert first["id"] in _ids(found)


def test_unknown_collection_lists_ids(
    stac_api: Any, corpus: tuple[str, list[dict[str, Any]]]
) -> None:
    collection, _ = corpus
    with pytest.raises(StacSearchError) as info:
        search_items(stac_api=stac_api.url, collection="no-such-collection")
    message = str(info.value)
    assert "'no-such-collection' not found" in message
    assert collection in message.split("available collections:")[1]


def test_unreachable_api(closed_port_url: str) -> None:
    with pytest.raises(StacSearchError, match="could not open STAC API"):
        search_items(stac_api=closed_port_url, collection="sentinel-2-l2a")
