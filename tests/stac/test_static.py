from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rasteret.errors import InvalidInputError, StacSearchError
from rasteret.stac.static import matches_query, search_static_catalog


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def search(catalog: Path | str, **kwargs: Any) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"collection": "s2", "bbox": None, "date_range": None, "query": None}
    params.update(kwargs)
    return search_static_catalog(catalog=catalog, **params)


def test_all_items_including_nested_catalog(static_catalog: Path) -> None:
    assert sorted(ids(search(static_catalog))) == ["a", "b", "c", "d", "e", "f"]


def test_items_are_plain_json(static_catalog: Path) -> None:
    items = search(static_catalog)
    assert json.loads(json.dumps(items)) == items
    assert all(isinstance(item, dict) for item in items)


def test_relative_asset_hrefs_become_absolute(static_catalog: Path) -> None:
    (item,) = search(static_catalog, bbox=(9, 9, 12, 12))
    root = static_catalog.parent.resolve()
    assets = item["assets"]
    assert assets["red"]["href"] == str(root / "s2" / "items" / "a" / "a_red.tif")
    assert assets["shared"]["href"] == str(root / "s2" / "shared" / "mask.tif")
    assert assets["remote"]["href"] == "https://example.com/data/x.tif"
    assert Path(assets["red"]["href"]).is_absolute()


def test_bbox_filter(static_catalog: Path) -> None:
    assert ids(search(static_catalog, bbox=(9, 9, 12, 12))) == ["a"]
    assert sorted(ids(search(static_catalog, bbox=[9, 9, 20.5, 20.5]))) == ["a", "b"]
    assert ids(search(static_catalog, bbox=(-10, -80, -9, -79))) == []


def test_bbox_touching_edge_intersects(static_catalog: Path) -> None:
    assert ids(search(static_catalog, bbox=(11, 11, 12, 12))) == ["a"]


def test_antimeridian_bbox(static_catalog: Path) -> None:
    # 178..180 and -180..-178: items "c" (east of 179) and "d" (west of -179).
    assert sorted(ids(search(static_catalog, bbox=(178, -1, -178, 2)))) == ["c", "d"]
    # Without the wrap, the same numbers would cover almost the whole globe.
    assert sorted(ids(search(static_catalog, bbox=(-178, -1, 178, 2)))) == []


def test_date_range_end_date_is_inclusive(static_catalog: Path) -> None:
    found = ids(search(static_catalog, date_range=("2024-01-01", "2024-03-31")))
    # c is at 23:00 on 31 March (inside); d at 00:00 on 1 April (outside);
    # e has no datetime but its interval (Dec 2023 - Jan 5 2024) overlaps.
    assert sorted(found) == ["a", "b", "c", "e", "f"]


def test_date_range_open_ends_and_intervals(static_catalog: Path) -> None:
    assert sorted(ids(search(static_catalog, date_range=("2024-03-15", None)))) == ["c", "d"]
    assert ids(search(static_catalog, date_range=(None, "2023-12-31"))) == ["e"]
    assert ids(search(static_catalog, date_range=("2024-01-06", "2024-01-10"))) == []
    assert ids(search(static_catalog, date_range=("2024-04-01T00:00:00Z", ".."))) == ["d"]


def test_query_filter(static_catalog: Path) -> None:
    # e has no eo:cloud_cover: a missing property never matches.
    assert sorted(ids(search(static_catalog, query={"eo:cloud_cover": {"lt": 20}}))) == [
        "a",
        "d",
        "f",
    ]
    assert sorted(
        ids(search(static_catalog, query={"eo:cloud_cover": {"gte": 10, "lte": 20}}))
    ) == ["c", "d"]
    assert sorted(
        ids(search(static_catalog, query={"platform": {"startsWith": "sentinel-2"}}))
    ) == ["a", "b", "c", "e"]
    assert sorted(ids(search(static_catalog, query={"platform": {"in": ["landsat-8"]}}))) == ["d"]


def test_filters_combine(static_catalog: Path) -> None:
    found = search(
        static_catalog,
        bbox=(0, -10, 50, 50),
        date_range=("2024-01-01", "2024-03-31"),
        query={"platform": {"neq": "sentinel-2b"}},
    )
    assert sorted(ids(found)) == ["a", "f"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"n": {"eq": 5}}, True),
        ({"n": {"neq": 5}}, False),
        ({"n": {"lt": 6, "gt": 4}}, True),
        ({"n": {"lte": 5, "gte": 5}}, True),
        ({"n": {"lt": "6"}}, False),  # number vs string: no match, no TypeError
        ({"s": {"lt": "b"}}, True),
        ({"s": {"gt": 1}}, False),
        ({"s": {"startsWith": "ab"}}, True),
        ({"s": {"endsWith": "bc"}}, True),
        ({"s": {"contains": "b"}}, True),
        ({"s": {"contains": "z"}}, False),
        ({"tags": {"contains": "x"}}, True),
        ({"tags": {"contains": "q"}}, False),
        ({"n": {"contains": "5"}}, False),
        ({"n": {"startsWith": "5"}}, False),
        ({"s": {"in": ["abc", "def"]}}, True),
        ({"s": {"in": ["def"]}}, False),
        ({"flag": {"eq": True}}, True),
        ({"flag": {"gt": 0}}, False),  # booleans are not ordered
        ({"missing": {"neq": 1}}, False),
        ({"n": {"eq": 5}, "s": {"eq": "x"}}, False),  # every condition must hold
    ],
)
def test_matches_query(query: dict[str, dict[str, Any]], expected: bool) -> None:
    properties = {"n": 5, "s": "abc", "tags": ["x", "y"], "flag": True}
    assert matches_query(properties, query) is expected


def test_progress_reports_items_and_total(static_catalog: Path, progress: Any) -> None:
    items = search(static_catalog, progress=progress)
    assert sum(progress.updates) == len(items) == 6
    assert progress.totals[-1] == 6


@pytest.mark.parametrize("form", ["dir", "file_url", "str", "collection_json"])
def test_catalog_reference_forms(static_catalog: Path, form: str) -> None:
    reference: Path | str = {
        "dir": static_catalog.parent,
        "file_url": static_catalog.resolve().as_uri(),
        "str": str(static_catalog),
        "collection_json": static_catalog.parent / "s2" / "collection.json",
    }[form]
    assert sorted(ids(search(reference))) == ["a", "b", "c", "d", "e", "f"]


def test_over_http(http_static_catalog: str) -> None:
    items = search(http_static_catalog, bbox=(9, 9, 12, 12))
    assert ids(items) == ["a"]
    base = http_static_catalog.rsplit("/", 1)[0]
    assert items[0]["assets"]["red"]["href"] == f"{base}/s2/items/a/a_red.tif"


def test_missing_collection_lists_ids(static_catalog: Path) -> None:
    with pytest.raises(StacSearchError) as info:
        search(static_catalog, collection="sentinel-2-l2a")
    message = str(info.value)
    assert "'sentinel-2-l2a' not found" in message
    assert "available collections: other, s2" in message


def test_collection_json_with_other_id(static_catalog: Path) -> None:
    with pytest.raises(StacSearchError, match="available collections: s2"):
        search(static_catalog.parent / "s2" / "collection.json", collection="other")


def test_other_collection_is_separate(static_catalog: Path) -> None:
    assert ids(search(static_catalog, collection="other")) == ["z"]


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(StacSearchError, match="does not exist"):
        search(tmp_path / "nope" / "catalog.json")


def test_directory_without_catalog(tmp_path: Path) -> None:
    with pytest.raises(StacSearchError, match=r"neither catalog\.json nor collection\.json"):
        search(tmp_path)


def test_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text("{not json")
    with pytest.raises(StacSearchError, match="could not read static catalog"):
        search(path)


def test_not_stac(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(StacSearchError, match="could not read static catalog"):
        search(path)


def test_broken_item_link(static_catalog: Path) -> None:
    (static_catalog.parent / "s2" / "items" / "b" / "b.json").unlink()
    with pytest.raises(StacSearchError, match="could not read an item of collection 's2'"):
        search(static_catalog)


def test_unreachable_http_catalog(closed_port_url: str) -> None:
    with pytest.raises(StacSearchError, match="could not read static catalog"):
        search(f"{closed_port_url}/catalog.json")


def test_unsupported_scheme() -> None:
    with pytest.raises(StacSearchError, match="unsupported URL scheme 'ftp'"):
        search("ftp://example.com/catalog.json")


def test_item_as_root_is_rejected(static_catalog: Path) -> None:
    with pytest.raises(StacSearchError, match="is a STAC Item"):
        search(static_catalog.parent / "s2" / "items" / "a" / "a.json")


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"bbox": (1, 2, 3)}, "bbox"),
        ({"date_range": ("2024-02-01", "2024-01-01")}, "date_range"),
        ({"query": {"x": {"like": 1}}}, "query"),
        ({"collection": ""}, "collection"),
    ],
)
def test_bad_inputs_fail_before_reading(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        search("/definitely/not/there/catalog.json", **kwargs)
    assert info.value.parameter == parameter


_ONE = {
    "type": "Collection",
    "stac_version": "1.0.0",
    "id": "s2",
    "description": "one item",
    "license": "proprietary",
    "extent": {
        "spatial": {"bbox": [[-180, -90, 180, 90]]},
        "temporal": {"interval": [[None, None]]},
    },
}


def _one_item_catalog(write: Callable[..., Path], root: Path, item: dict[str, Any]) -> Path:
    """A static catalog of one item (the fields a test does not care about filled in)."""
    base = {"type": "Feature", "stac_version": "1.0.0", "collection": "s2", "links": []}
    base["assets"] = {"red": {"href": "./red.tif", "type": "image/tiff"}}
    return write(root, _ONE, [{**base, **item}])


def test_an_items_range_wins_over_its_datetime(
    tmp_path: Path, static_catalog_writer: Callable[..., Path]
) -> None:
    # pgstac (and a collection's subset) match an item on start/end_datetime where given
    catalog = _one_item_catalog(
        static_catalog_writer,
        tmp_path / "c",
        {
            "id": "range",
            "geometry": None,
            "bbox": [0, 0, 1, 1],
            "properties": {
                "datetime": "2024-01-20T00:00:00Z",
                "start_datetime": "2024-01-15T00:00:00Z",
                "end_datetime": "2024-01-25T00:00:00Z",
            },
        },
    )
    assert ids(search(catalog, date_range=("2024-01-16", "2024-01-16"))) == ["range"]
    assert ids(search(catalog, date_range=("2024-01-26", None))) == []


def test_a_bbox_only_item_across_the_antimeridian(
    tmp_path: Path, static_catalog_writer: Callable[..., Path]
) -> None:
    catalog = _one_item_catalog(
        static_catalog_writer,
        tmp_path / "c",
        {
            "id": "dateline",
            "geometry": None,
            "bbox": [170, 20, -170, 30],
            "properties": {"datetime": "2024-01-20T00:00:00Z"},
        },
    )
    assert ids(search(catalog, bbox=(175, 22, -175, 28))) == ["dateline"]
    assert ids(search(catalog, bbox=(-5, 22, 5, 28))) == []
