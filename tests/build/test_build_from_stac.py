"""build_from_stac end to end against the real local STAC API and object stores."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import geopandas
import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
import tifffile

import rasteret
from rasteret.index import schema
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog, build_sample_catalog
from rasteret_sandbox.servers import NginxServer, RangeServer, StacApiServer
from rasteret_sandbox.shared import shared_dir

pytestmark = pytest.mark.stac_api

SPEC = shared_dir() / "spec" / "build_from_stac.md"
SPEC_URLS = (
    "https://earth-search.aws.element84.com/v1",
    "https://landsatlook.usgs.gov/stac-server",
)


def expected_ids(
    items: list[dict[str, Any]],
    bbox: tuple[float, ...],
    start: str,
    end: str,
    pred: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> set[str]:
    """Independent oracle for a search: footprint intersects bbox, date inside, predicate."""
    box = shapely.box(*bbox)
    return {
        it["id"]
        for it in items
        if shapely.geometry.shape(it["geometry"]).intersects(box)
        and start <= it["properties"]["datetime"][:10] <= end
        and pred(it)
    }


def assert_layout_matches_file(header: Any, path: Path) -> None:
    """Stored layout equals tifffile's IFD by IFD, georeferencing equals rasterio's."""
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        assert len(header.ifds) == len(pages)
        for ifd, page in zip(header.ifds, pages, strict=True):
            assert (ifd.height, ifd.width) == page.shape[:2] or (
                page.planarconfig == 2 and (ifd.height, ifd.width) == page.shape[1:3]
            )
            assert ifd.compression == int(page.compression)
            assert ifd.predictor == int(page.predictor)
            np.testing.assert_array_equal(ifd.tile_offsets, page.dataoffsets)
            np.testing.assert_array_equal(ifd.tile_byte_counts, page.databytecounts)
            if page.is_tiled:
                assert (ifd.tile_height, ifd.tile_width) == (page.tilelength, page.tilewidth)
            assert np.dtype(ifd.dtype) == page.dtype.newbyteorder("=")
    with rasterio.open(path) as src:
        assert header.geo.transform == pytest.approx(tuple(src.transform)[:6])
        assert rasterio.crs.CRS.from_wkt(header.geo.crs_wkt) == src.crs
        if src.nodata is None:
            assert header.nodata is None
        elif np.isnan(src.nodata):
            assert header.nodata is not None and np.isnan(header.nodata)
        else:
            assert header.nodata == src.nodata
    assert header.file_size == path.stat().st_size
    assert header.etag  # nginx sends one; it guards against stale layouts later


# --- the reference page's four examples, run as a user would paste them ------------------


def test_spec_examples_run_unchanged(
    stac_api: StacApiServer, sample_catalog: SampleCatalog, tmp_path: Path
) -> None:
    text = SPEC.read_text()  # the reference page is part of the repository's contract
    code = text[text.index("import rasteret") : text.index("```", text.index("import rasteret"))]
    for url in SPEC_URLS:
        assert url in code
        code = code.replace(url, stac_api.url)
    code += (
        "\nfor c in (collection,):\n    print('final', len(c))\n"
        "print('names', sorted(p.name for p in (__import__('pathlib').Path.home()"
        " / 'rasteret_workspace').iterdir()))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "RASTERET_PROGRESS": "0"}
    env.pop("RASTERET_WORKSPACE", None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Built collection with {cat.SF_JAN_MAR_COUNT} scenes" in proc.stdout
    assert f"final {cat.SF_JAN_MAR_COUNT}" in proc.stdout  # the forced rebuild
    assert "names ['bay-area-s2', 'landsat-c2', 'low-cloud']" in proc.stdout
    ws = tmp_path / "rasteret_workspace"
    assert len(rasteret.load("landsat-c2", workspace_dir=ws)) == cat.LANDSAT_SF_JAN_MAR_COUNT
    assert rasteret.load("landsat-c2", workspace_dir=ws).bands == ("B02", "B03", "B04", "B05")
    assert len(rasteret.load("low-cloud", workspace_dir=ws)) == cat.SF_JAN_MAR_LOW_CLOUD_COUNT
    # no stale files next to the index after the forced rebuild
    assert sorted(p.name for p in (ws / "bay-area-s2").iterdir() if p.name != ".lock") == [
        "index.parquet"
    ]


# --- what the index holds ------------------------------------------------------------------


def test_scene_ids_equal_independent_search(
    s2_sf: rasteret.Collection, sample_catalog: SampleCatalog
) -> None:
    ids = {scene.id for scene in s2_sf}
    assert ids == expected_ids(sample_catalog.items["sentinel-2-l2a"], cat.SF_BBOX, *cat.JAN_MAR)
    assert len(ids) == cat.SF_JAN_MAR_COUNT


def test_layouts_equal_tifffile_and_rasterio(s2_sf: rasteret.Collection, local_file: Any) -> None:
    table = s2_sf.to_table()
    assert s2_sf.bands == (
        "B01",
        "B02",
        "B03",
        "B04",
        "B05",
        "B06",
        "B07",
        "B08",
        "B8A",
        "B09",
        "B11",
        "B12",
        "SCL",
    )
    for code in ("B02", "B05", "B01", "SCL"):
        hrefs = table.column(schema.band_column(code)).combine_chunks().field("href").to_pylist()
        for header, href in zip(s2_sf.headers(code), hrefs, strict=True):
            assert header is not None
            assert_layout_matches_file(header, local_file(href))


def test_one_request_per_cog_counted_by_nginx(
    stac_api: StacApiServer, nginx: NginxServer, tmp_path: Path
) -> None:
    nginx.clear_log()
    coll = rasteret.build_from_stac(
        name="counted",
        stac_api=stac_api.url,
        collection="sentinel-2-l2a",
        bbox=cat.SF_BBOX,
        date_range=cat.JAN_MAR,
        workspace_dir=tmp_path,
    )
    tif_requests = [r for r in nginx.requests() if r.path.endswith(".tif")]
    per_file: dict[str, int] = {}
    for r in tif_requests:
        per_file[r.path] = per_file.get(r.path, 0) + 1
    assert len(per_file) == len(coll) * len(coll.bands)
    assert set(per_file.values()) == {1}
    assert all(r.range == "bytes=0-65535" and r.status == 206 for r in tif_requests)
    assert not [r for r in nginx.requests() if not r.path.endswith(".tif") and "/data/" in r.path]


def test_geoparquet_opens_in_geopandas_and_duckdb(s2_sf: rasteret.Collection) -> None:
    assert s2_sf.path is not None
    gdf = geopandas.read_parquet(s2_sf.path)
    assert len(gdf) == len(s2_sf) and gdf.crs.to_string() == "OGC:CRS84"
    con = duckdb.connect()
    con.load_extension("spatial")
    n = con.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE ST_Intersects(geometry, "
        'ST_MakeEnvelope(-122.5, 37.5, -122.0, 38.0)) AND "eo:cloud_cover" < 10',
        [str(s2_sf.path)],
    ).fetchone()
    assert n == (cat.SF_JAN_MAR_LOW_CLOUD_COUNT,)
    meta = pq.read_metadata(s2_sf.path).metadata
    geo = json.loads(meta[b"geo"])
    assert geo["version"] == "1.1.0" and geo["columns"]["geometry"]["covering"]["bbox"]
    assert json.loads(meta[b"rasteret"])["schema_version"] == schema.SCHEMA_VERSION


# --- cache semantics -----------------------------------------------------------------------


def test_cache_hit_with_servers_stopped(
    tmp_path: Path, sample_data_cache: Path | None, sample_catalog: SampleCatalog
) -> None:
    root = tmp_path / "served"
    root.mkdir()
    ws = tmp_path / "ws"
    with NginxServer(root) as store:
        own = build_sample_catalog(root, store.url, data_cache=sample_data_cache)
        with StacApiServer(tmp_path / "api") as api:
            api.load_collections([own.collections["sentinel-2-l2a"]])
            api.load_items(own.items["sentinel-2-l2a"])
            params: dict[str, Any] = {
                "name": "offline",
                "stac_api": api.url,
                "collection": "sentinel-2-l2a",
                "bbox": cat.SF_BBOX,
                "date_range": cat.JAN_MAR,
                "workspace_dir": ws,
            }
            first = rasteret.build_from_stac(**params)
            mtime = (ws / "offline" / "index.parquet").stat().st_mtime_ns
    # both servers are gone: the same parameters must not touch the network at all
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = rasteret.build_from_stac(**params)
        # the documented default spelled out, and a NumPy count: the same build
        same = rasteret.build_from_stac(
            **params, data_source="sentinel-2-l2a", max_concurrent=np.int64(4)
        )
    assert again.to_table().equals(first.to_table())
    assert same.to_table().equals(first.to_table())
    assert (ws / "offline" / "index.parquet").stat().st_mtime_ns == mtime
    # a changed parameter is not answered from the cache: it goes to the (dead) API
    with (
        pytest.raises(rasteret.StacSearchError),
        pytest.warns(rasteret.RasteretWarning, match="bbox"),
    ):
        rasteret.build_from_stac(**{**params, "bbox": (-122.4, 37.6, -122.1, 37.9)})
    # ... and the failed rebuild left the previous index intact
    assert rasteret.load("offline", workspace_dir=ws).to_table().equals(first.to_table())


def test_changed_bbox_or_query_gives_a_different_correct_result(
    stac_api: StacApiServer, sample_catalog: SampleCatalog, tmp_path: Path
) -> None:
    base: dict[str, Any] = {
        "name": "same-name",
        "stac_api": stac_api.url,
        "collection": "sentinel-2-l2a",
        "date_range": ("2024-01-01", "2024-06-30"),
        "workspace_dir": tmp_path,
    }
    items = sample_catalog.items["sentinel-2-l2a"]
    wide = (-123.0, 37.0, -115.0, 39.0)
    first = rasteret.build_from_stac(**base, bbox=wide)
    assert {s.id for s in first} == expected_ids(items, wide, "2024-01-01", "2024-06-30")
    with pytest.warns(rasteret.RasteretWarning, match="bbox"):
        second = rasteret.build_from_stac(**base, bbox=cat.SF_BBOX)
    assert {s.id for s in second} == expected_ids(items, cat.SF_BBOX, "2024-01-01", "2024-06-30")
    assert len(second) < len(first)
    with pytest.warns(rasteret.RasteretWarning, match="query"):
        third = rasteret.build_from_stac(
            **base, bbox=cat.SF_BBOX, query={"eo:cloud_cover": {"lt": 10}}
        )
    assert {s.id for s in third} == expected_ids(
        items,
        cat.SF_BBOX,
        "2024-01-01",
        "2024-06-30",
        lambda it: it["properties"]["eo:cloud_cover"] < 10,
    )
    assert len(third) == cat.S2_SF_LOW_CLOUD_COUNT < len(second)


def test_force_replaces_atomically(stac_api: StacApiServer, tmp_path: Path) -> None:
    params: dict[str, Any] = {
        "name": "forced",
        "stac_api": stac_api.url,
        "collection": "sentinel-2-l2a",
        "bbox": cat.SF_BBOX,
        "date_range": cat.JAN_MAR,
        "workspace_dir": tmp_path,
    }
    first = rasteret.build_from_stac(**params)
    second = rasteret.build_from_stac(**params, force=True)
    assert second.manifest.created != first.manifest.created
    assert len(second) == len(first)
    files = sorted(p.name for p in (tmp_path / "forced").iterdir())
    assert files in (["index.parquet"], [".lock", "index.parquet"])


# --- band maps -----------------------------------------------------------------------------


def test_naip_band_index_map_from_data_source(
    stac_api: StacApiServer, tmp_path: Path, sample_root: Path
) -> None:
    coll = rasteret.build_from_stac(
        name="naip",
        stac_api=stac_api.url,
        collection="naip-sample",
        data_source="pc/naip",
        bbox=cat.SF_BBOX,
        date_range=("2024-01-01", "2024-12-31"),
        workspace_dir=tmp_path,
    )
    assert len(coll) == cat.NAIP_SAMPLE_COUNT
    assert [coll.band_info(b)["sample_index"] for b in coll.bands] == [0, 1, 2, 3]
    header = coll.headers(coll.bands[0])[0]
    assert header is not None and header.full.samples_per_pixel == 4
    assert header.full.planar_config == 1


def test_bands_on_one_asset_without_index_fail_before_headers(
    stac_api: StacApiServer, nginx: NginxServer, tmp_path: Path
) -> None:
    nginx.clear_log()
    with pytest.raises(rasteret.BandMappingError, match="image"):
        rasteret.build_from_stac(
            name="naip-bad",
            stac_api=stac_api.url,
            collection="naip-sample",
            band_map={"R": "image", "G": "image"},
            bbox=cat.SF_BBOX,
            date_range=("2024-01-01", "2024-12-31"),
            workspace_dir=tmp_path,
        )
    assert not [r for r in nginx.requests() if r.path.endswith(".tif")]
    assert not (tmp_path / "naip-bad").exists()


def test_real_planetary_computer_landsat_items(
    stac_api: StacApiServer, sample_catalog: SampleCatalog, local_file: Any, tmp_path: Path
) -> None:
    bbox = (3.0, 50.0, 12.0, 56.0)
    coll = rasteret.build_from_stac(
        name="pc-landsat",
        stac_api=stac_api.url,
        collection="landsat-8-c2-l2",
        band_map={"red": "SR_B4", "qa": "QA_PIXEL"},
        bbox=bbox,
        date_range=("2016-01-01", "2021-12-31"),
        workspace_dir=tmp_path,
    )
    ids = expected_ids(sample_catalog.items["landsat-8-c2-l2"], bbox, "2016-01-01", "2021-12-31")
    assert {s.id for s in coll} == ids and len(ids) > 100  # paging over several pages
    table = coll.to_table()
    hrefs = table.column(schema.band_column("red")).combine_chunks().field("href").to_pylist()
    for header, href in list(zip(coll.headers("red"), hrefs, strict=True))[:5]:
        assert_layout_matches_file(header, local_file(href))


# --- failures, concurrency, static catalogs --------------------------------------------------


def static_s2(name: str, catalog: Path, ws: Path, band_map: dict[str, str]) -> dict[str, Any]:
    """build_from_stac arguments for a Sentinel-2 static catalog written by a test."""
    return {
        "name": name,
        "stac_api": str(catalog),
        "collection": "sentinel-2-l2a",
        "band_map": band_map,
        "static_catalog": True,
        "workspace_dir": ws,
    }


def test_unreadable_asset_is_recorded_not_fatal(
    sample_catalog: SampleCatalog, tmp_path: Path, static_catalog_writer: Callable[..., Path]
) -> None:
    items = list(sample_catalog.items["sentinel-2-l2a"])[:3]
    broken = json.loads(json.dumps(items))
    broken[1]["assets"]["red"]["href"] = broken[1]["assets"]["red"]["href"].replace(
        "B04.tif", "missing.tif"
    )
    path = static_catalog_writer(
        tmp_path / "cat", sample_catalog.collections["sentinel-2-l2a"], broken
    )
    params = static_s2("partial", path, tmp_path / "ws", {"red": "red", "nir": "nir"})
    with pytest.warns(rasteret.PartialBuildWarning, match="missing.tif"):
        coll = rasteret.build_from_stac(**params)
    assert len(coll) == 3
    (failure,) = coll.failures
    assert failure.item_id == broken[1]["id"] and failure.band == "red"
    assert "missing.tif" in failure.url and "404" in failure.reason
    reds = coll.headers("red")
    by_id = dict(zip([s.id for s in coll], reds, strict=True))
    assert by_id[broken[1]["id"]] is None
    assert sum(h is not None for h in reds) == 2
    assert all(h is not None for h in coll.headers("nir"))
    # stored in the index, not only reported
    assert rasteret.load("partial", workspace_dir=tmp_path / "ws").failures == coll.failures
    # the cache answers the same call, and says the index is partial
    with pytest.warns(rasteret.PartialBuildWarning, match="lacks 1 asset layout"):
        again = rasteret.build_from_stac(**params)
    # a read over that scene says why its mask is empty
    with pytest.warns(rasteret.PartialBuildWarning, match=f"{broken[1]['id']} red"):
        res = again.get_numpy(cat.SF_BBOX, "red")
    assert not res.valid[list(res.ids).index(broken[1]["id"])].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again.get_numpy(cat.SF_BBOX, "nir")  # nothing failed for this band


def test_cloud_config_given_on_a_cache_hit_is_used_by_reads(
    sample_catalog: SampleCatalog,
    sample_root: Path,
    nginx: NginxServer,
    tmp_path: Path,
    static_catalog_writer: Callable[..., Path],
) -> None:
    # the first build reads through mirror A, which then goes away; the same call with a
    # config naming mirror B must read from B (nginx both: the same ETags as the origin)
    items = sample_catalog.items["sentinel-2-l2a"][:2]
    path = static_catalog_writer(
        tmp_path / "cat", sample_catalog.collections["sentinel-2-l2a"], items
    )
    params = static_s2("mirrored", path, tmp_path / "ws", {"red": "red"})
    with NginxServer(sample_root) as mirror_a:
        via_a = rasteret.CloudConfig(url_rewrites=((nginx.url, mirror_a.url),))
        rasteret.build_from_stac(**params, cloud_config=via_a)
    with NginxServer(sample_root) as mirror_b:
        via_b = rasteret.CloudConfig(url_rewrites=((nginx.url, mirror_b.url),))
        coll = rasteret.build_from_stac(**params, cloud_config=via_b)
        assert coll.manifest.cloud_config["url_rewrites"] == [[nginx.url, mirror_b.url]]
        assert coll.get_numpy(cat.SF_BBOX, "red").valid.any()
    # no cloud_config: the one the index was built with (mirror A, gone)
    stored = rasteret.build_from_stac(**params)
    with pytest.raises(rasteret.FetchError):
        stored.get_numpy(cat.SF_BBOX, "red")


def test_secrets_in_stac_api_stay_out_of_the_index_and_messages(
    stac_api: StacApiServer, tmp_path: Path
) -> None:
    params: dict[str, Any] = {
        "stac_api": f"{stac_api.url}?token=SECRET-T",
        "collection": "sentinel-2-l2a",
        "date_range": cat.JAN_MAR,
        "workspace_dir": tmp_path,
    }
    coll = rasteret.build_from_stac(name="tok", bbox=cat.SF_BBOX, **params)
    assert coll.manifest.params["stac_api"] == stac_api.url
    assert b"SECRET-T" not in (tmp_path / "tok" / "index.parquet").read_bytes()
    with pytest.raises(rasteret.NoItemsError) as err:
        rasteret.build_from_stac(name="none", bbox=(10.0, 10.0, 10.1, 10.1), **params)
    assert "SECRET-T" not in str(err.value)


def test_nothing_indexed_fails_and_leaves_nothing(
    sample_catalog: SampleCatalog, tmp_path: Path, static_catalog_writer: Callable[..., Path]
) -> None:
    items = sample_catalog.items["sentinel-2-l2a"][:2]
    path = static_catalog_writer(
        tmp_path / "cat",
        sample_catalog.collections["sentinel-2-l2a"],
        items,
        href_map=lambda h: h.replace(".tif", ".gone.tif"),
    )
    with pytest.raises(rasteret.BuildError, match="none of the"):
        rasteret.build_from_stac(
            name="empty",
            stac_api=str(path),
            collection="sentinel-2-l2a",
            band_map={"red": "red"},
            static_catalog=True,
            workspace_dir=tmp_path / "ws",
        )
    assert not (tmp_path / "ws" / "empty").exists()


def test_max_concurrent_bounds_requests_in_flight(
    sample_catalog: SampleCatalog,
    range_server: RangeServer,
    nginx: NginxServer,
    tmp_path: Path,
    static_catalog_writer: Callable[..., Path],
) -> None:
    path = static_catalog_writer(
        tmp_path / "cat",
        sample_catalog.collections["sentinel-2-l2a"],
        sample_catalog.items["sentinel-2-l2a"],
        href_map=lambda h: h.replace(nginx.url, range_server.url),
    )
    range_server.latency_s = 0.05
    for limit in (1, 4):
        range_server.reset_counters()
        coll = rasteret.build_from_stac(
            name=f"bounded-{limit}",
            stac_api=str(path),
            collection="sentinel-2-l2a",
            band_map={"B02": "blue", "B03": "green", "B04": "red"},
            static_catalog=True,
            workspace_dir=tmp_path / "ws",
            max_concurrent=limit,
        )
        assert range_server.request_count == len(coll) * 3
        assert range_server.max_in_flight == limit


def test_static_catalog_over_http_and_disk(sample_catalog: SampleCatalog, tmp_path: Path) -> None:
    url = sample_catalog.static_catalog_url
    assert url is not None
    results = {}
    for where in (url, str(sample_catalog.static_catalog), sample_catalog.static_catalog.as_uri()):
        coll = rasteret.build_from_stac(
            name="pc-s2",
            stac_api=where,
            collection="sentinel-2-l2a",
            data_source="pc/sentinel-2-l2a",
            bbox=cat.SF_BBOX,
            date_range=cat.JAN_MAR,
            static_catalog=True,
            workspace_dir=tmp_path / str(len(results)),
        )
        results[where] = {s.id for s in coll}
        assert "B04" in coll.bands and coll.band_info("B04")["asset_key"] == "B04"
    expected = expected_ids(sample_catalog.static_items, cat.SF_BBOX, *cat.JAN_MAR)
    assert expected and all(ids == expected for ids in results.values())


def test_cloud_config_rewrites_to_s3(
    naip_s3: Any, nginx: NginxServer, stac_api: StacApiServer, tmp_path: Path
) -> None:
    config = naip_s3.config
    nginx.clear_log()
    backend = rasteret.create_backend(cloud_config=config, credentials=naip_s3.credentials)
    coll = rasteret.build_from_stac(
        name="via-s3",
        stac_api=stac_api.url,
        collection="naip-sample",
        data_source="pc/naip",
        bbox=cat.SF_BBOX,
        date_range=("2024-01-01", "2024-12-31"),
        workspace_dir=tmp_path,
        cloud_config=config,
        backend=backend,
    )
    assert len(coll) == cat.NAIP_SAMPLE_COUNT and not coll.failures
    assert not [r for r in nginx.requests() if r.path.endswith(".tif")]  # all went to S3
    assert coll.manifest.cloud_config["url_rewrites"]
    text = coll.path.read_bytes() if coll.path else b""
    assert b"aws_secret_access_key" not in text


# --- bad inputs ----------------------------------------------------------------------------

BAD_INPUTS = [
    ({"bbox": (-122.0, 37.5, -122.5, 38.0, 1)}, rasteret.InvalidInputError, "bbox"),
    ({"bbox": (-122.5, 38.0, -122.0, 37.5)}, rasteret.InvalidInputError, "bbox"),
    ({"date_range": ("2024-03-31", "2024-01-01")}, rasteret.InvalidInputError, "date_range"),
    ({"date_range": ("2024-13-01", "2024-12-31")}, rasteret.InvalidInputError, "date_range"),
    ({"date_range": ("yesterday", "today")}, rasteret.InvalidInputError, "date_range"),
    ({"collection": "no-such-collection"}, rasteret.StacSearchError, "sentinel-2-l2a"),
    ({"stac_api": "http://127.0.0.1:9/v1"}, rasteret.StacSearchError, "127.0.0.1:9"),
    ({"band_map": {"B04": "not-an-asset"}}, rasteret.BandMappingError, "red"),
    ({"band_map": {"B04": "red"}, "band_index_map": {"B05": 0}}, rasteret.BandMappingError, "B04"),
    ({"date_range": ("1990-01-01", "1990-12-31")}, rasteret.NoItemsError, "no items"),
    ({"name": "../escape"}, rasteret.InvalidInputError, "name"),
    ({"max_concurrent": 0}, rasteret.InvalidInputError, "max_concurrent"),
    ({"query": {"eo:cloud_cover": {"less": 10}}}, rasteret.InvalidInputError, "query"),
]


@pytest.mark.parametrize(("change", "error", "text"), BAD_INPUTS, ids=lambda v: str(v)[:40])
def test_bad_inputs_raise_clear_errors_and_leave_nothing(
    stac_api: StacApiServer, tmp_path: Path, change: dict[str, Any], error: type, text: str
) -> None:
    params: dict[str, Any] = {
        "name": "bad",
        "stac_api": stac_api.url,
        "collection": "sentinel-2-l2a",
        "bbox": cat.SF_BBOX,
        "date_range": cat.JAN_MAR,
        "workspace_dir": tmp_path / "ws",
        **change,
    }
    with pytest.raises(error, match=re.escape(text)):
        rasteret.build_from_stac(**params)
    leftovers = list((tmp_path / "ws").rglob("*")) if (tmp_path / "ws").exists() else []
    assert leftovers == []
