from __future__ import annotations

import logging
from typing import Any

import pytest

from rasteret.errors import BandMappingError, InvalidInputError
from rasteret.stac.bands import BandSpec, resolve_bands, select_data_source
from rasteret.stac.sources import default_registry

COG = "image/tiff; application=geotiff; profile=cloud-optimized"
ES_S2_KEYS = [
    "coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3",
    "nir", "nir08", "nir09", "swir16", "swir22", "scl",
]  # fmt: skip


SUFFIXES = {"image/jpeg": ".jpg", "image/jp2": ".jp2", "application/json": ".json"}


PC_S2_KEYS = [
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "SCL",
]  # fmt: skip


def _asset(key: str, media_type: str | None = COG, **extra: Any) -> dict[str, Any]:
    suffix = SUFFIXES.get(media_type or "", ".tif")
    asset: dict[str, Any] = {"href": f"https://example.com/{key}{suffix}", **extra}
    if media_type is not None:
        asset["type"] = media_type
    return asset


def _item(item_id: str, assets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "Feature", "id": item_id, "properties": {}, "assets": assets}


def es_s2_item(item_id: str = "s2", drop: tuple[str, ...] = ()) -> dict[str, Any]:
    assets = {k: _asset(k) for k in ES_S2_KEYS if k not in drop}
    assets["thumbnail"] = _asset("thumbnail", "image/jpeg", roles=["thumbnail"])
    assets["blue-jp2"] = _asset("blue-jp2", "image/jp2", roles=["data"])
    return _item(item_id, assets)


def naip_item(item_id: str = "naip") -> dict[str, Any]:
    bands = [{"name": n} for n in ("Red", "Green", "Blue", "NIR")]
    return _item(
        item_id,
        {
            "image": _asset("image", roles=["data"], **{"eo:bands": bands}),
            "thumbnail": _asset("thumbnail", "image/jpeg", roles=["thumbnail"]),
        },
    )


def resolve(items: list[dict[str, Any]], **kwargs: Any) -> tuple[BandSpec, ...]:
    params: dict[str, Any] = {
        "collection": "sentinel-2-l2a",
        "data_source": None,
        "band_map": None,
        "band_index_map": None,
        "registry": default_registry(),
    }
    params.update(kwargs)
    return resolve_bands(items=items, **params)


# --------------------------------------------------------------------------- happy paths


def test_known_collection_uses_registry() -> None:
    specs = resolve([es_s2_item()])
    assert [s.code for s in specs][:4] == ["B01", "B02", "B03", "B04"]
    assert BandSpec(code="B04", asset_key="red", sample_index=None) in specs
    assert len(specs) == 13


def test_collection_default_picks_the_provider_matching_the_items() -> None:
    pc_item = _item(
        "pc",
        {k: _asset(k) for k in PC_S2_KEYS},
    )
    specs = resolve([pc_item])
    assert {s.code: s.asset_key for s in specs}["B04"] == "B04"
    source = select_data_source(
        items=[pc_item],
        collection="sentinel-2-l2a",
        data_source=None,
        registry=default_registry(),
    )
    assert source is not None and source.id == "pc/sentinel-2-l2a"


def test_explicit_data_source() -> None:
    specs = resolve([naip_item()], collection="naip-copy", data_source="pc/naip")
    assert specs == (
        BandSpec(code="R", asset_key="image", sample_index=0),
        BandSpec(code="G", asset_key="image", sample_index=1),
        BandSpec(code="B", asset_key="image", sample_index=2),
        BandSpec(code="N", asset_key="image", sample_index=3),
    )


def test_explicit_band_map_with_indices() -> None:
    specs = resolve(
        [naip_item()],
        collection="naip",
        band_map={"nir": "image", "red": "image"},
        band_index_map={"nir": 3, "red": 0},
    )
    assert specs == (
        BandSpec(code="nir", asset_key="image", sample_index=3),
        BandSpec(code="red", asset_key="image", sample_index=0),
    )


def test_band_index_map_on_single_asset_band() -> None:
    specs = resolve([naip_item()], band_map={"N": "image"}, band_index_map={"N": 3})
    assert specs == (BandSpec(code="N", asset_key="image", sample_index=3),)


def test_user_index_map_overrides_registry_indices() -> None:
    specs = resolve(
        [naip_item()], collection="naip", band_index_map={"R": 3, "G": 2, "B": 1, "N": 0}
    )
    assert [s.sample_index for s in specs] == [3, 2, 1, 0]


def test_unknown_collection_defaults_to_every_cog_asset(caplog: pytest.LogCaptureFixture) -> None:
    items = [
        _item("1", {"a": _asset("a"), "meta": _asset("meta", "application/json")}),
        _item("2", {"b": {"href": "s3://x/b.TIF"}, "c": {"href": "x", "roles": ["data"]},
                    "d": {"href": "x.jp2", "type": "image/jp2", "roles": ["data"]}}),
    ]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="rasteret.stac.bands"):
        specs = resolve(items, collection="my-collection")
    assert [(s.code, s.asset_key) for s in specs] == [("a", "a"), ("b", "b"), ("c", "c")]
    assert "using every COG asset" in caplog.text
    assert "'my-collection'" in caplog.text


def test_unknown_data_source_warns_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rasteret.stac.bands"):
        specs = resolve([naip_item()], collection="naip", data_source="pc/naipp")
    assert [s.code for s in specs] == ["image"]
    assert "did you mean 'pc/naip'" in caplog.text


def test_items_missing_an_asset_are_allowed_if_some_have_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="rasteret.stac.bands"):
        specs = resolve(
            [es_s2_item("full"), es_s2_item("partial", drop=("red",))],
            band_map={"B04": "red"},
        )
    assert specs == (BandSpec(code="B04", asset_key="red", sample_index=None),)
    assert "missing from 1 of 2" in caplog.text


def test_no_items_checks_only_the_maps() -> None:
    specs = resolve([], band_map={"x": "anything"})
    assert specs == (BandSpec(code="x", asset_key="anything", sample_index=None),)
    with pytest.raises(BandMappingError, match="band codes: x"):
        resolve([], band_map={"x": "a"}, band_index_map={"y": 0})


# ------------------------------------------------------------------ errors list what exists


def test_missing_asset_lists_available_keys_marking_cogs() -> None:
    with pytest.raises(BandMappingError) as info:
        resolve([es_s2_item()], band_map={"B04": "B04", "B03": "green"})
    message = str(info.value)
    assert "B04 -> 'B04'" in message
    assert "green" not in message.split("available", maxsplit=1)[0]  # only the missing one is named
    assert "red (COG)" in message and "blue (COG)" in message
    assert "thumbnail" in message and "thumbnail (COG)" not in message
    assert "blue-jp2," in message  # listed, not marked as a COG
    assert not message.startswith("'")  # BandMappingError is not quoted like KeyError


def test_registry_map_not_matching_items_falls_back_for_default_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Neither provider's keys are on these items, so the default map is every COG asset.
    with caplog.at_level(logging.WARNING, logger="rasteret.stac.bands"):
        specs = resolve([_item("x", {"visual": _asset("visual")})])
    assert [s.code for s in specs] == ["visual"]
    assert "tried earthsearch/sentinel-2-l2a, pc/sentinel-2-l2a" in caplog.text


def test_explicit_source_not_matching_items_lists_assets() -> None:
    with pytest.raises(BandMappingError) as info:
        resolve([es_s2_item()], data_source="pc/sentinel-2-l2a")
    assert "B04 -> 'B04'" in str(info.value)
    assert "red (COG)" in str(info.value)


def test_index_map_unknown_code_lists_band_codes() -> None:
    with pytest.raises(BandMappingError) as info:
        resolve([naip_item()], band_map={"R": "image"}, band_index_map={"R": 0, "NIR": 3})
    assert "'NIR'" in str(info.value)
    assert "band codes: R" in str(info.value)


@pytest.mark.parametrize("index", [-1, -5])
def test_negative_index(index: int) -> None:
    with pytest.raises(BandMappingError, match=r"band_index_map\['R'\] = -\d+ is negative"):
        resolve([naip_item()], band_map={"R": "image"}, band_index_map={"R": index})


@pytest.mark.parametrize("index", [1.0, "0", True, None])
def test_non_int_index(index: object) -> None:
    with pytest.raises(BandMappingError, match="must be an int"):
        resolve([naip_item()], band_map={"R": "image"}, band_index_map={"R": index})


def test_shared_asset_without_indices_names_asset_and_bands() -> None:
    with pytest.raises(BandMappingError) as info:
        resolve(
            [naip_item()],
            band_map={"R": "image", "G": "image", "N": "image"},
            band_index_map={"R": 0},
        )
    message = str(info.value)
    assert "R, G, N all map to asset 'image'" in message
    assert "missing for: G, N" in message


def test_shared_asset_same_index_is_an_error() -> None:
    with pytest.raises(BandMappingError, match=r"share a sample index \(R, G -> 0\)"):
        resolve(
            [naip_item()],
            band_map={"R": "image", "G": "image"},
            band_index_map={"R": 0, "G": 0},
        )


def test_index_past_band_count_lists_bands() -> None:
    with pytest.raises(BandMappingError) as info:
        resolve([naip_item()], band_map={"X": "image"}, band_index_map={"X": 4})
    message = str(info.value)
    assert "has 4 band(s)" in message
    assert "0=Red, 1=Green, 2=Blue, 3=NIR" in message


def test_index_checked_against_raster_bands_too() -> None:
    item = _item("r", {"image": _asset("image", **{"raster:bands": [{}, {}]})})
    with pytest.raises(BandMappingError, match="has 2 band"):
        resolve([item], band_map={"X": "image"}, band_index_map={"X": 2})


def test_index_unchecked_when_band_count_unknown() -> None:
    item = _item("r", {"image": _asset("image")})
    specs = resolve([item], band_map={"X": "image"}, band_index_map={"X": 7})
    assert specs[0].sample_index == 7


@pytest.mark.parametrize("code", ["", "B 04", "B04/red", "ñ", "a\n"])
def test_invalid_band_codes_listed(code: str) -> None:
    with pytest.raises(BandMappingError) as info:
        resolve([es_s2_item()], band_map={code: "red", "B03": "green"})
    message = str(info.value)
    assert repr(code) in message
    assert "valid codes given: B03" in message


def test_empty_band_map() -> None:
    with pytest.raises(BandMappingError, match="band_map is empty"):
        resolve([es_s2_item()], band_map={})


def test_band_map_value_must_be_a_string() -> None:
    with pytest.raises(BandMappingError, match="must map to a non-empty asset key"):
        resolve([es_s2_item()], band_map={"B04": 4})


def test_non_tiff_asset_is_rejected_with_listing() -> None:
    with pytest.raises(BandMappingError) as info:
        resolve([es_s2_item()], band_map={"TCI": "thumbnail"})
    assert "not GeoTIFFs" in str(info.value)
    assert "red (COG)" in str(info.value)


def test_no_cog_assets_and_no_source() -> None:
    items = [_item("1", {"meta": _asset("meta", "application/json")})]
    with pytest.raises(BandMappingError) as info:
        resolve(items, collection="mystery")
    message = str(info.value)
    assert "no COG assets" in message
    assert "assets: meta" in message
    assert "earthsearch/sentinel-2-l2a" in message  # lists the known sources


@pytest.mark.parametrize("parameter", ["band_map", "band_index_map"])
def test_maps_must_be_mappings(parameter: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        if parameter == "band_map":
            resolve([naip_item()], band_map=[("R", "image")])
        else:
            resolve([naip_item()], band_map={"R": "image"}, band_index_map=[("R", 0)])
    assert info.value.parameter == parameter


def test_band_mapping_error_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        resolve([es_s2_item()], band_map={"B04": "nope"})
