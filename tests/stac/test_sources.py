from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from rasteret.errors import InvalidInputError
from rasteret.stac.sources import (
    CLOUD_KEYS,
    DataSource,
    DataSourceRegistry,
    default_registry,
)

S2_EARTHSEARCH = {
    "B01": "coastal",
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B05": "rededge1",
    "B06": "rededge2",
    "B07": "rededge3",
    "B08": "nir",
    "B8A": "nir08",
    "B09": "nir09",
    "B11": "swir16",
    "B12": "swir22",
    "SCL": "scl",
}


def test_sources_json_is_package_data() -> None:
    text = resources.files("rasteret.stac").joinpath("data/sources.json").read_text("utf-8")
    assert json.loads(text)["format_version"] == 1


def test_required_sources_present() -> None:
    registry = default_registry()
    for source_id in [
        "earthsearch/sentinel-2-l2a",
        "pc/sentinel-2-l2a",
        "earthsearch/landsat-c2-l2",
        "pc/landsat-c2-l2",
        "pc/landsat-8-c2-l2",
        "usgs/landsat-c2l2-sr",
        "pc/naip",
        "earthsearch/naip",
        "earthsearch/cop-dem-glo-30",
    ]:
        assert source_id in registry, source_id


def test_sentinel2_band_maps() -> None:
    registry = default_registry()
    earthsearch = registry.lookup("earthsearch/sentinel-2-l2a")
    pc = registry.lookup("pc/sentinel-2-l2a")
    assert earthsearch is not None and pc is not None
    assert dict(earthsearch.band_map) == S2_EARTHSEARCH
    assert "B10" not in earthsearch.band_map  # Earth Search publishes no cirrus band
    assert dict(pc.band_map) == {code: code for code in S2_EARTHSEARCH}
    assert earthsearch.collection == pc.collection == "sentinel-2-l2a"


def test_landsat_and_naip_and_dem_maps() -> None:
    registry = default_registry()
    pc8 = registry.lookup("pc/landsat-8-c2-l2")
    usgs = registry.lookup("usgs/landsat-c2l2-sr")
    naip = registry.lookup("pc/naip")
    dem = registry.lookup("earthsearch/cop-dem-glo-30")
    assert pc8 is not None and usgs is not None and naip is not None and dem is not None
    assert pc8.band_map["B04"] == "SR_B4" and pc8.band_map["B10"] == "ST_B10"
    assert pc8.band_map["QA_PIXEL"] == "QA_PIXEL"
    assert set(usgs.band_map.values()) == {
        "coastal",
        "blue",
        "green",
        "red",
        "nir08",
        "swir16",
        "swir22",
        "qa_pixel",
    }
    assert usgs.cloud["requester_pays"] is True
    assert set(naip.band_map.values()) == {"image"}
    assert dict(naip.band_index_map) == {"R": 0, "G": 1, "B": 2, "N": 3}
    assert dict(dem.band_map) == {"DEM": "data"}


def test_every_entry_is_complete() -> None:
    for source in default_registry():
        assert source.collection
        assert source.band_map
        assert set(source.cloud) == CLOUD_KEYS
        assert source.license and source.description
        assert set(source.band_index_map) <= set(source.band_map)
        # round trip through the JSON form
        assert DataSource.from_dict(source.id, source.to_dict()) == source


@pytest.mark.parametrize(
    ("alias", "target"),
    [
        ("sentinel-2-l2a", "earthsearch/sentinel-2-l2a"),
        ("landsat-8-c2-l2", "pc/landsat-8-c2-l2"),
        ("landsat-c2l2-sr", "usgs/landsat-c2l2-sr"),
        ("landsat-c2-l2", "earthsearch/landsat-c2-l2"),
        ("naip", "pc/naip"),
        ("cop-dem-glo-30", "earthsearch/cop-dem-glo-30"),
    ],
)
def test_aliases_resolve(alias: str, target: str) -> None:
    source = default_registry().lookup(alias)
    assert source is not None
    assert source.id == target


def test_lookup_unknown_is_none() -> None:
    assert default_registry().lookup("nope/nothing") is None
    assert "nope/nothing" not in default_registry()


def test_candidates_put_the_alias_first() -> None:
    ids = [c.id for c in default_registry().candidates("sentinel-2-l2a")]
    assert ids == ["earthsearch/sentinel-2-l2a", "pc/sentinel-2-l2a"]
    assert default_registry().candidates("unknown") == ()


def test_default_registry_is_cached_and_immutable() -> None:
    registry = default_registry()
    assert default_registry() is registry
    source = registry.lookup("pc/naip")
    assert source is not None
    with pytest.raises(TypeError):
        registry.sources["x"] = source  # type: ignore[index]
    with pytest.raises(TypeError):
        source.band_map["X"] = "y"  # type: ignore[index]
    with pytest.raises(TypeError):
        source.cloud["url_rewrites"]["a"] = "b"  # type: ignore[index]
    with pytest.raises(AttributeError):
        source.collection = "other"  # type: ignore[misc]
    copy = source.cloud_dict()
    copy["url_rewrites"]["a"] = "b"
    assert "a" not in source.cloud["url_rewrites"]


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "collection": "my-collection",
        "band_map": {"R": "image", "G": "image"},
        "band_index_map": {"R": 0, "G": 1},
        "cloud": {"anonymous": True},
        "license": "CC0-1.0",
        "description": "mine",
    }
    entry.update(overrides)
    return entry


def test_with_source_returns_a_new_registry() -> None:
    base = default_registry()
    before = set(base.ids())
    mine = DataSource.from_dict("me/my-collection", _entry())
    extended = base.with_source(mine, aliases=("my-collection",))
    assert extended is not base
    assert set(base.ids()) == before  # the original is unchanged
    assert base.lookup("me/my-collection") is None
    assert extended.lookup("me/my-collection") == mine
    assert extended.lookup("my-collection") == mine
    assert len(extended) == len(base) + 1
    assert mine.cloud_dict() == {
        "url_rewrites": {},
        "region": None,
        "requester_pays": False,
        "anonymous": True,
    }


def test_with_source_replaces_same_id() -> None:
    base = default_registry()
    replacement = DataSource.from_dict("pc/naip", _entry(collection="naip"))
    extended = base.with_source(replacement)
    assert extended.lookup("naip") == replacement  # the alias follows the id
    assert base.lookup("naip") != replacement


def test_with_source_rejects_non_entries() -> None:
    with pytest.raises(InvalidInputError):
        default_registry().with_source({"collection": "x"})  # type: ignore[arg-type]


def test_registry_from_json_and_bad_alias() -> None:
    text = json.dumps({"format_version": 1, "sources": {"a/b": _entry()}, "aliases": {"b": "a/b"}})
    registry = DataSourceRegistry.from_json(text)
    assert registry.ids() == ("a/b",)
    assert registry.lookup("b") is not None
    with pytest.raises(InvalidInputError, match="alias points to unknown source"):
        DataSourceRegistry.from_json(
            json.dumps({"format_version": 1, "sources": {}, "aliases": {"b": "a/b"}})
        )
    with pytest.raises(InvalidInputError, match="format_version"):
        DataSourceRegistry.from_json(json.dumps({"format_version": 99}))
    with pytest.raises(InvalidInputError, match="not JSON"):
        DataSourceRegistry.from_json("{")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"collection": ""}, "collection"),
        ({"band_map": {}}, "band_map"),
        ({"band_map": {"bad code": "image"}}, "band code 'bad code'"),
        ({"band_map": {"R": ""}}, "asset key"),
        ({"band_index_map": {"Z": 0}}, "not in band_map"),
        ({"band_index_map": {"R": -1}}, "index must be an int >= 0"),
        ({"cloud": {"endpoint": "x"}}, "unknown cloud setting"),
        ({"cloud": {"anonymous": "yes"}}, "cloud.anonymous"),
        ({"cloud": {"url_rewrites": ["a"]}}, "url_rewrites"),
        ({"stac_api": "ftp://x"}, "stac_api"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_data_source_from_dict_rejects(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        DataSource.from_dict("me/x", _entry(**overrides))
    assert info.value.parameter == "data_source"
    assert fragment in str(info.value)
