"""rasteret.build / datasets / register_dataset against the local STAC API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rasteret
from rasteret import Collection, InvalidInputError, RasteretWarning
from rasteret.build.datasets import DATASETS_ENV_VAR, datasets_file, is_builtin
from rasteret.stac.catalog import load_user_registry
from rasteret_sandbox.catalog import DEM_SF_COUNT, JAN_MAR, SF_BBOX, SF_JAN_MAR_COUNT
from rasteret_sandbox.servers import StacApiServer

AOI = (-122.30, 37.72, -122.28, 37.74)

REQUIRED = {
    "earthsearch/sentinel-2-l2a",
    "earthsearch/landsat-c2-l2",
    "earthsearch/naip",
    "earthsearch/cop-dem-glo-30",
    "pc/sentinel-2-l2a",
    "pc/landsat-c2-l2",
    "pc/naip",
    "pc/esa-worldcover",
    "pc/cop-dem-glo-30",
}


@pytest.fixture(autouse=True)
def _no_user_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read or write the real user's datasets file."""
    monkeypatch.setenv(DATASETS_ENV_VAR, str(tmp_path / "env-datasets.json"))


def _register_s2(workspace: Path | None, stac_url: str | None, **extra: object) -> None:
    rasteret.register_dataset(
        "test/s2-red-nir",
        collection="sentinel-2-l2a",
        stac_api=stac_url,
        band_map={"RED": "red", "NIR": "nir"},
        cloud={"anonymous": True},
        title="Sentinel-2 red and NIR (local)",
        license="CC0-1.0",
        workspace_dir=workspace,
        **extra,  # type: ignore[arg-type]
    )


def test_catalog_has_the_common_collections() -> None:
    entries = {entry.id: entry for entry in rasteret.datasets()}
    assert set(entries) >= REQUIRED
    for dataset_id in REQUIRED:
        entry = entries[dataset_id]
        assert entry.stac_api and entry.stac_api.startswith("https://")
        assert entry.license and entry.title and entry.band_map
        assert (entry.signing == "planetary-computer") == dataset_id.startswith("pc/")
    assert entries["earthsearch/landsat-c2-l2"].cloud["requester_pays"] is True
    assert entries["earthsearch/sentinel-2-l2a"].cloud["requester_pays"] is False
    assert dict(entries["pc/esa-worldcover"].band_map)["MAP"] == "map"


def test_build_through_registered_entry(
    stac_api: StacApiServer, s2_sf: Collection, tmp_path: Path
) -> None:
    _register_s2(tmp_path, stac_api.url)
    built = rasteret.build(
        "test/s2-red-nir",
        name="mine",
        bbox=SF_BBOX,
        date_range=JAN_MAR,
        workspace_dir=tmp_path,
    )
    assert len(built) == SF_JAN_MAR_COUNT
    assert set(built.bands) == {"RED", "NIR"}
    assert built.band_info("RED")["asset_key"] == "red"
    assert built.manifest.cloud_config["anonymous"] is True
    # The user's band names read the same pixels as the built-in map's B04.
    mine = built.get_numpy(AOI, "RED")
    ref = s2_sf.get_numpy(AOI, "B04")
    assert not isinstance(mine, list) and not isinstance(ref, list)
    assert mine.ids == ref.ids
    np.testing.assert_array_equal(mine.data, ref.data)


def test_builtin_dataset_with_local_stac_api(stac_api: StacApiServer, tmp_path: Path) -> None:
    dem = rasteret.build(
        "earthsearch/cop-dem-glo-30",
        name="dem",
        bbox=SF_BBOX,
        stac_api=stac_api.url,
        workspace_dir=tmp_path,
    )
    assert len(dem) == DEM_SF_COUNT
    assert dem.bands == ("DEM",)
    assert dem.manifest.params["data_source"] == "earthsearch/cop-dem-glo-30"
    assert dem.manifest.params["stac_api"] == stac_api.url


def test_registration_persists_for_a_fresh_load(tmp_path: Path) -> None:
    _register_s2(tmp_path, "https://stac.example.org/v1")
    path = datasets_file(tmp_path)
    assert path == tmp_path / "datasets.json"
    raw = json.loads(path.read_text("utf-8"))
    assert raw["sources"]["test/s2-red-nir"]["band_map"] == {"RED": "red", "NIR": "nir"}
    fresh = load_user_registry(path)  # what a new process would read
    entry = fresh.lookup("test/s2-red-nir")
    assert entry is not None and entry.license == "CC0-1.0"
    listed = {e.id: e for e in rasteret.datasets(workspace_dir=tmp_path)}
    assert "test/s2-red-nir" in listed and set(listed) >= REQUIRED
    assert not is_builtin("test/s2-red-nir")
    # Scoped: another workspace (and the env-var file) does not see it.
    assert "test/s2-red-nir" not in {e.id for e in rasteret.datasets(workspace_dir=tmp_path / "o")}
    assert "test/s2-red-nir" not in {e.id for e in rasteret.datasets()}
    rasteret.unregister_dataset("test/s2-red-nir", workspace_dir=tmp_path)
    assert "test/s2-red-nir" not in {e.id for e in rasteret.datasets(workspace_dir=tmp_path)}


def test_env_var_names_the_default_file(tmp_path: Path) -> None:
    _register_s2(None, "https://stac.example.org/v1")
    assert (tmp_path / "env-datasets.json").is_file()
    assert rasteret.dataset_info("test/s2-red-nir").title == "Sentinel-2 red and NIR (local)"


def test_unknown_id_names_dataset_and_close_matches(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        rasteret.build("earthsearch/sentinel2-l2a", name="x", workspace_dir=tmp_path)
    assert info.value.parameter == "dataset"
    assert info.value.value == "earthsearch/sentinel2-l2a"
    assert "'earthsearch/sentinel-2-l2a'" in str(info.value)
    with pytest.raises(InvalidInputError) as info:
        rasteret.dataset_info("", workspace_dir=tmp_path)
    assert info.value.parameter == "dataset"
    assert not (tmp_path / "x").exists()


def test_register_refuses_builtin_duplicate_and_bad_entries(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="built-in") as info:
        rasteret.register_dataset(
            "pc/naip", collection="naip", band_map={"R": "image"}, workspace_dir=tmp_path
        )
    assert info.value.parameter == "dataset"
    _register_s2(tmp_path, "https://a.example.org")
    with pytest.raises(InvalidInputError, match="already registered"):
        _register_s2(tmp_path, "https://b.example.org")
    _register_s2(tmp_path, "https://b.example.org", replace=True)
    assert rasteret.dataset_info("test/s2-red-nir", workspace_dir=tmp_path).stac_api == (
        "https://b.example.org"
    )
    with pytest.raises(InvalidInputError) as info:
        rasteret.register_dataset(
            "me/bad", collection="c", band_map={"B 4": "red"}, workspace_dir=tmp_path
        )
    assert info.value.parameter == "data_source"
    with pytest.raises(InvalidInputError):
        rasteret.register_dataset(
            "me/bad",
            collection="c",
            band_map={"B4": "red"},
            signing="magic",
            workspace_dir=tmp_path,
        )
    assert "me/bad" not in {e.id for e in rasteret.datasets(workspace_dir=tmp_path)}


def test_build_needs_an_endpoint_and_refuses_clashes(tmp_path: Path) -> None:
    _register_s2(tmp_path, None)
    with pytest.raises(InvalidInputError) as info:
        rasteret.build("test/s2-red-nir", name="x", workspace_dir=tmp_path)
    assert info.value.parameter == "stac_api"
    with pytest.raises(InvalidInputError) as info:
        rasteret.build(
            "test/s2-red-nir",
            name="x",
            stac_api="https://a.example.org",
            collection="other",
            workspace_dir=tmp_path,
        )
    assert info.value.parameter == "collection"


def test_corrupt_user_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "datasets.json").write_text("{not json", "utf-8")
    with pytest.raises(InvalidInputError) as info:
        rasteret.datasets(workspace_dir=tmp_path)
    assert info.value.parameter == "datasets_file"
    assert str(tmp_path / "datasets.json") in str(info.value)


def test_signing_dataset_warns_without_backend(stac_api: StacApiServer, tmp_path: Path) -> None:
    _register_s2(tmp_path, stac_api.url, signing="planetary-computer")
    with pytest.warns(RasteretWarning, match="signing"):
        built = rasteret.build(
            "test/s2-red-nir",
            name="signed",
            bbox=SF_BBOX,
            date_range=JAN_MAR,
            workspace_dir=tmp_path,
        )
    assert len(built) == SF_JAN_MAR_COUNT
