"""search_items against the scripted API in conftest (no pgstac needed)."""

from __future__ import annotations

import time
from typing import Any

import pytest

import rasteret.stac as stac
from rasteret.errors import InvalidInputError, RasteretWarning, StacSearchError
from rasteret.stac import search as search_module
from rasteret.stac import static
from rasteret.stac.search import make_retry, search_items


def run(api: Any, **kwargs: Any) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"stac_api": api.url, "collection": "s2"}
    params.update(kwargs)
    return search_items(**params)


def test_pages_through_all_items_in_order(fake_stac_api: Any, progress: Any) -> None:
    fake_stac_api.add("s2", [f"i{n}" for n in range(7)])
    items = run(fake_stac_api, limit_per_page=3, progress=progress)
    assert [i["id"] for i in items] == [f"i{n}" for n in range(7)]
    assert len(fake_stac_api.search_bodies) == 3  # 3 + 3 + 1
    assert progress.updates == [3, 3, 1]
    assert progress.totals[0] == 7  # from numberMatched on the first page
    assert progress.totals[-1] == 7


def test_request_carries_filters(fake_stac_api: Any) -> None:
    fake_stac_api.add("s2", ["a"])
    run(
        fake_stac_api,
        bbox=(1, 2, 3, 4),
        date_range=("2024-01-01", "2024-03-31"),
        query={"eo:cloud_cover": {"lt": 10}},
        limit_per_page=5,
    )
    (body,) = fake_stac_api.search_bodies
    assert body["collections"] == ["s2"]
    assert body["bbox"] == [1, 2, 3, 4]
    assert body["datetime"] == "2024-01-01T00:00:00Z/2024-03-31T23:59:59.999999Z"
    assert body["query"] == {"eo:cloud_cover": {"lt": 10}}
    assert body["limit"] == 5


def test_antimeridian_bbox_is_searched_as_two_boxes(fake_stac_api: Any) -> None:
    fake_stac_api.add("s2", ["a", "b"])
    items = run(fake_stac_api, bbox=(170, -10, -170, 10))
    assert [b["bbox"] for b in fake_stac_api.search_bodies] == [
        [170, -10, 180, 10],
        [-180, -10, -170, 10],
    ]
    # the fake ignores bbox, so both halves return a and b: duplicates are dropped
    assert [i["id"] for i in items] == ["a", "b"]


def test_duplicate_ids_are_dropped(fake_stac_api: Any, progress: Any) -> None:
    fake_stac_api.add("s2", ["a", "b", "a", "c", "b"])
    items = run(fake_stac_api, limit_per_page=2, progress=progress)
    assert [i["id"] for i in items] == ["a", "b", "c"]
    assert sum(progress.updates) == 3
    assert progress.totals[-1] == 3


def test_no_matches(fake_stac_api: Any, progress: Any) -> None:
    fake_stac_api.add("s2", [])
    assert run(fake_stac_api, progress=progress) == []
    assert progress.totals == [0]


def test_without_number_matched(fake_stac_api: Any, progress: Any) -> None:
    fake_stac_api.report_matched = False
    fake_stac_api.add("s2", ["a", "b", "c"])
    assert len(run(fake_stac_api, limit_per_page=2, progress=progress)) == 3
    assert progress.totals == [3]  # only the final count


def test_unknown_collection_lists_available(fake_stac_api: Any) -> None:
    fake_stac_api.add("sentinel-2-l2a", ["a"])
    fake_stac_api.add("landsat-c2l2-sr", ["b"])
    with pytest.raises(StacSearchError) as info:
        run(fake_stac_api, collection="sentinel-2")
    message = str(info.value)
    assert "'sentinel-2' not found" in message
    assert fake_stac_api.url in message
    assert "available collections: landsat-c2l2-sr, sentinel-2-l2a" in message
    assert fake_stac_api.search_bodies == []  # failed before searching


def test_retries_transient_errors(fake_stac_api: Any) -> None:
    fake_stac_api.add("s2", ["a"])
    fake_stac_api.fail_search_with = [503, 429]
    assert [i["id"] for i in run(fake_stac_api)] == ["a"]
    assert len(fake_stac_api.search_bodies) == 3


def test_persistent_server_error_names_status_and_url(
    fake_stac_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the retry *delay* is shortened (same retry policy, no sleeping) so the test
    # stays fast; the requests still go to the real local server.
    monkeypatch.setattr(search_module, "make_retry", lambda: make_retry(backoff_factor=0))
    fake_stac_api.add("s2", ["a"])
    fake_stac_api.fail_search_with = [503] * 10
    with pytest.raises(StacSearchError) as info:
        run(fake_stac_api)
    message = str(info.value)
    assert "HTTP 503" in message and fake_stac_api.url in message
    assert isinstance(info.value.__cause__, Exception)
    assert len(fake_stac_api.search_bodies) == 5  # first try + 4 retries


def test_client_error_is_not_retried(fake_stac_api: Any) -> None:
    fake_stac_api.add("s2", ["a"])
    fake_stac_api.fail_search_with = [400]
    with pytest.raises(StacSearchError, match="HTTP 400"):
        run(fake_stac_api)
    assert len(fake_stac_api.search_bodies) == 1


def test_unreachable_api_fails_fast(closed_port_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(StacSearchError) as info:
        search_items(stac_api=closed_port_url, collection="s2")
    assert time.monotonic() - started < 10
    assert closed_port_url in str(info.value)
    assert "could not open STAC API" in str(info.value)
    assert info.value.__cause__ is not None


def test_not_an_http_url() -> None:
    with pytest.raises(StacSearchError, match="static_catalog=True"):
        search_items(stac_api="/tmp/catalog.json", collection="s2")


@pytest.mark.filterwarnings("ignore::pystac_client.warnings.NoConformsTo")
def test_static_catalog_over_http_suggests_static_flag(http_static_catalog: str) -> None:
    with pytest.raises(StacSearchError, match="static_catalog=True"):
        search_items(stac_api=http_static_catalog, collection="s2")


@pytest.mark.filterwarnings("ignore::pystac_client.warnings.DoesNotConformTo")
def test_query_without_conformance_warns(fake_stac_api: Any) -> None:
    fake_stac_api.conforms_to_query = False
    fake_stac_api.add("s2", ["a"])
    with pytest.warns(RasteretWarning, match="query extension"):
        run(fake_stac_api, query={"eo:cloud_cover": {"lt": 10}})


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"bbox": (0, 0, 1)}, "bbox"),
        ({"date_range": ("2024-13-01", "2024-12-01")}, "date_range"),
        ({"query": {"eo:cloud_cover": {"below": 3}}}, "query"),
        ({"collection": "a b"}, "collection"),
    ],
)
def test_bad_inputs_fail_before_any_request(
    fake_stac_api: Any, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        run(fake_stac_api, **kwargs)
    assert info.value.parameter == parameter
    assert fake_stac_api.search_bodies == []


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_bad_limit(fake_stac_api: Any, limit: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        run(fake_stac_api, limit_per_page=limit)
    assert info.value.parameter == "limit_per_page"


def test_search_functions_load_on_first_use() -> None:
    """``rasteret.stac`` names its searches without importing pystac-client for them."""
    assert stac.search_items is search_module.search_items
    assert stac.search_static_catalog is static.search_static_catalog
    assert stac.matches_query is static.matches_query
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = stac.no_such_name  # type: ignore[attr-defined]
