"""Smoke tests of the local stand-ins: real servers, real sockets, known answers."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import obstore
import pystac
import pytest
import rasterio
from obstore.store import S3Store
from pystac_client import Client

from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import (
    MotoS3Server,
    NginxServer,
    RangeServer,
    ServerStartError,
    StacApiServer,
    _process,
)


def _get(
    url: str, *, range_: str | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; HTTP errors are returned, not raised."""
    headers = {"Range": range_} if range_ else {}
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status), dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return int(err.code), dict(err.headers), err.read()


def _first_cog(sample: SampleCatalog, collection: str) -> tuple[str, Path]:
    """(href, local path) of the first COG asset of a collection's first item."""
    item = sample.items[collection][0]
    for asset in item["assets"].values():
        if "image/tiff" in asset.get("type", ""):
            rel = asset["href"].removeprefix(f"{sample.base_url}/")
            return asset["href"], sample.root / rel
    raise AssertionError(f"no COG asset in {item['id']}")


# --------------------------------------------------------------------------- nginx


def test_nginx_range_returns_exact_bytes_and_is_logged(
    nginx: NginxServer, sample_catalog: SampleCatalog
) -> None:
    href, path = _first_cog(sample_catalog, "sentinel-2-l2a")
    url_path = href.removeprefix(nginx.url)
    expected = path.read_bytes()[100:1100]
    before = len(nginx.requests(url_path))

    status, headers, body = _get(href, range_="bytes=100-1099")

    assert status == 206
    assert body == expected
    assert headers["Content-Range"] == f"bytes 100-1099/{path.stat().st_size}"
    assert "ETag" in headers and "Last-Modified" in headers
    entries = nginx.requests(url_path)
    assert len(entries) == before + 1
    assert entries[-1].range == "bytes=100-1099"
    assert entries[-1].status == 206
    assert entries[-1].method == "GET"


def test_nginx_serves_symlinked_assets_and_416(
    nginx: NginxServer, sample_catalog: SampleCatalog
) -> None:
    href, path = _first_cog(sample_catalog, "landsat-8-c2-l2")  # a symlink to a shared COG
    assert path.is_symlink()
    size = path.stat().st_size
    status, headers, _ = _get(href, method="HEAD")
    assert status == 200 and int(headers["Content-Length"]) == size
    status, headers, _ = _get(href, range_=f"bytes={size + 10}-{size + 20}")
    assert status == 416
    status, _, _ = _get(f"{nginx.url}/data/does-not-exist.tif")
    assert status == 404


def test_nginx_first_byte_delay_keeps_ranges_and_logs_timing(
    sample_catalog: SampleCatalog,
) -> None:
    """The benchmarks' object store: every file request waits, then is served as usual."""
    href, path = _first_cog(sample_catalog, "sentinel-2-l2a")
    rel = href.removeprefix(sample_catalog.base_url)
    size = path.stat().st_size
    with NginxServer(sample_catalog.root, latency_ms=60) as delayed:
        url = f"{delayed.url}{rel}"
        took = []
        for range_, method in (("bytes=100-1099", "GET"), (None, "HEAD"), (None, "GET")):
            t0 = time.perf_counter()
            status, headers, body = _get(url, range_=range_, method=method)
            took.append(time.perf_counter() - t0)
            if range_:
                assert status == 206 and body == path.read_bytes()[100:1100]
                assert headers["Content-Range"] == f"bytes 100-1099/{size}"
            else:
                assert status == 200 and int(headers["Content-Length"]) == size
        status, _, _ = _get(f"{delayed.url}/data/does-not-exist.tif")
        assert status == 404
        entries = delayed.requests()
    assert min(took) >= 0.06
    assert [e.status for e in entries] == [206, 200, 200, 404]
    assert all(e.duration_s is not None and e.duration_s >= 0.059 for e in entries)
    assert all(e.finished_s is not None and abs(e.finished_s - time.time()) < 60 for e in entries)


def test_nginx_rejects_a_negative_delay(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="latency_ms"):
        NginxServer(tmp_path, latency_ms=-1)


def test_every_sample_collection_href_is_served(
    nginx: NginxServer, sample_catalog: SampleCatalog
) -> None:
    for collection in sample_catalog.items:
        href, _ = _first_cog(sample_catalog, collection)
        status, _, body = _get(href, range_="bytes=0-3")
        assert status == 206, href
        assert body in (b"II*\x00", b"II+\x00", b"MM\x00*"), href


# --------------------------------------------------------------------------- RangeServer


def test_range_server_counts_max_in_flight(range_server: RangeServer, tmp_path: Path) -> None:
    href = _write_blob(range_server, "blob.bin")
    range_server.latency_s = 0.5  # long enough that all six overlap even on a busy machine

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: _get(href, range_=f"bytes={i}-{i + 9}"), range(6)))
    assert all(status == 206 for status, _, _ in results)
    assert range_server.max_in_flight == 6
    assert range_server.request_count == 6

    # A client bounded to 2 concurrent requests must be seen as exactly that.
    range_server.reset_counters()
    bound = threading.Semaphore(2)

    def bounded(i: int) -> int:
        with bound:
            return _get(href, range_=f"bytes={i}-{i}")[0]

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(bounded, range(6))) == {206}
    assert range_server.max_in_flight == 2
    assert range_server.in_flight == 0


def test_range_server_ranges_headers_and_failures(range_server: RangeServer) -> None:
    href = _write_blob(range_server, "blob2.bin")
    data = bytes(range(256)) * 4
    status, headers, body = _get(href, range_="bytes=-10")
    assert (status, body) == (206, data[-10:])
    assert headers["Content-Range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    assert "ETag" in headers and "Last-Modified" in headers
    status, headers, body = _get(href, method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(data)))
    assert _get(href, range_="bytes=5000-")[0] == 416
    assert _get(f"{range_server.url}/missing.bin")[0] == 404
    range_server.fail_paths.add("blob2.bin")
    assert _get(href)[0] == 500
    assert [e.status for e in range_server.requests("blob2.bin")] == [206, 200, 416, 500]


def _write_blob(server: RangeServer, name: str) -> str:
    """Put a 1 KiB file with distinguishable bytes in the served root; return its URL."""
    (server.root / name).write_bytes(bytes(range(256)) * 4)
    return f"{server.url}/{name}"


# --------------------------------------------------------------------------- moto


def test_moto_s3_range_read_with_obstore(moto_s3: MotoS3Server, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 64
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.tif").write_bytes(payload)
    moto_s3.create_bucket("sandbox-smoke", public_read=True)
    assert moto_s3.upload_tree("sandbox-smoke", tmp_path) == ["sub/x.tif"]

    signed = S3Store(
        "sandbox-smoke",
        endpoint=moto_s3.endpoint,
        client_options={"allow_http": True},
        access_key_id="x",
        secret_access_key="x",
        region="us-east-1",
    )
    assert bytes(obstore.get_range(signed, "sub/x.tif", start=1000, end=1100)) == payload[1000:1100]
    anonymous = S3Store(
        "sandbox-smoke",
        endpoint=moto_s3.endpoint,
        client_options={"allow_http": True},
        skip_signature=True,
        region="us-east-1",
    )
    assert bytes(obstore.get_range(anonymous, "sub/x.tif", start=0, end=4)) == payload[:4]


# --------------------------------------------------------------------------- STAC API


@pytest.mark.stac_api
def test_stac_api_paging_bbox_datetime_query(stac_api: StacApiServer) -> None:
    client = Client.open(stac_api.url)
    assert {c.id for c in client.get_collections()} >= {
        "sentinel-2-l2a", "landsat-c2l2-sr", "naip-sample", "cop-dem-glo-30",
        "landsat-8-c2-l2", "naip",
    }  # fmt: skip

    search = client.search(collections=["sentinel-2-l2a"], limit=4)
    pages = list(search.pages_as_dicts())
    assert len(pages) == 4  # 15 items, 4 per page
    ids = [f["id"] for page in pages for f in page["features"]]
    assert len(ids) == len(set(ids)) == cat.S2_TOTAL_COUNT

    sf: dict[str, Any] = {"collections": ["sentinel-2-l2a"], "bbox": cat.SF_BBOX, "limit": 5}
    assert len(list(client.search(**sf).items_as_dicts())) == cat.S2_SF_COUNT
    jan_mar = "2024-01-01/2024-03-31"
    everything = {i["id"] for i in client.search(**sf, datetime=jan_mar).items_as_dicts()}
    low = {
        i["id"]
        for i in client.search(
            **sf, datetime=jan_mar, query={"eo:cloud_cover": {"lt": 10}}
        ).items_as_dicts()
    }
    assert len(everything) == cat.SF_JAN_MAR_COUNT
    assert len(low) == cat.SF_JAN_MAR_LOW_CLOUD_COUNT
    assert low < everything

    landsat = client.search(
        collections=["landsat-c2l2-sr"], bbox=cat.SF_BBOX, datetime=jan_mar, limit=100
    )
    assert len(list(landsat.items_as_dicts())) == cat.LANDSAT_SF_JAN_MAR_COUNT
    dem = client.search(collections=["cop-dem-glo-30"], bbox=cat.SF_BBOX)
    assert len(list(dem.items_as_dicts())) == cat.DEM_SF_COUNT
    assert client.search(collections=["naip"], limit=1).matched() == cat.PC_NAIP_COUNT
    assert client.search(collections=["landsat-8-c2-l2"], limit=1).matched() == (
        cat.PC_LANDSAT_COUNT
    )


@pytest.mark.stac_api
def test_stac_api_items_point_at_nginx(stac_api: StacApiServer, nginx: NginxServer) -> None:
    item = next(
        Client.open(stac_api.url).search(collections=["landsat-8-c2-l2"], max_items=1).items()
    )
    hrefs = [a.href for a in item.assets.values() if "image/tiff" in (a.media_type or "")]
    assert hrefs and all(h.startswith(nginx.url) for h in hrefs)
    assert _get(hrefs[0], range_="bytes=0-1")[0] == 206


# --------------------------------------------------------------------------- static catalog


def test_static_catalog_from_disk_and_over_http(
    nginx: NginxServer, sample_catalog: SampleCatalog
) -> None:
    for source in (str(sample_catalog.static_catalog), sample_catalog.static_catalog_url):
        catalog = pystac.Catalog.from_file(source)
        items = list(catalog.get_items(recursive=True))
        assert len(items) == cat.PC_S2_STATIC_COUNT, source
        assert {"B02", "B8A", "SCL", "visual"} <= set(items[0].assets)
        assert items[0].collection_id == "sentinel-2-l2a"
    href = items[0].assets["B04"].get_absolute_href()
    assert href is not None and href.startswith(nginx.url)
    status, _, body = _get(href, range_="bytes=0-3")
    assert (status, body) == (206, b"II*\x00")


def test_sample_catalog_is_cached_and_consistent(
    sample_catalog: SampleCatalog, tmp_path: Path
) -> None:
    counts = {k: len(v) for k, v in sample_catalog.items.items()}
    assert counts == {
        "sentinel-2-l2a": cat.S2_TOTAL_COUNT,
        "landsat-c2l2-sr": cat.LANDSAT_SF_COUNT,
        "naip-sample": cat.NAIP_SAMPLE_COUNT,
        "cop-dem-glo-30": cat.DEM_COUNT,
        "landsat-8-c2-l2": cat.PC_LANDSAT_COUNT,
        "naip": cat.PC_NAIP_COUNT,
    }
    lines = sample_catalog.items_file.read_text().splitlines()
    assert len(lines) == sum(counts.values())
    assert json.loads(lines[0])["collection"] == "sentinel-2-l2a"
    # A second build over the same data writes only JSON.
    again = cat.build_sample_catalog(
        sample_catalog.root, sample_catalog.base_url,
        data_cache=sample_catalog.data_dir.resolve().parent
        if sample_catalog.data_dir.is_symlink() else None,
    )  # fmt: skip
    assert again.timings["generate"] < 1.0
    assert again.items == sample_catalog.items


def test_pc_item_grids_match_their_files(sample_catalog: SampleCatalog) -> None:
    checked: dict[str, Any] = {}
    for collection in ("landsat-8-c2-l2", "naip"):
        item = sample_catalog.items[collection][0]
        props = item["properties"]
        for key, asset in item["assets"].items():
            if "image/tiff" not in asset.get("type", ""):
                continue
            rel = asset["href"].removeprefix(f"{sample_catalog.base_url}/")
            shape = asset.get("proj:shape") or props["proj:shape"]
            transform = asset.get("proj:transform") or props["proj:transform"]
            with rasterio.open(sample_catalog.root / rel) as src:
                assert list(src.shape) == shape, (collection, key)
                assert list(src.transform)[:6] == pytest.approx(transform[:6])
            checked[collection] = key
    assert set(checked) == {"landsat-8-c2-l2", "naip"}


def test_a_port_clash_is_retried_on_a_fresh_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process binding the port between free_port() and the server's bind is survived."""
    real_free_port = _process.free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        offered = iter([busy])
        monkeypatch.setattr(_process, "free_port", lambda: next(offered, None) or real_free_port())
        with NginxServer(tmp_path) as srv:
            assert srv.port not in (None, busy)
            assert _get(f"{srv.url}/missing.tif")[0] == 404


def test_a_start_failure_other_than_a_clash_is_not_retried(tmp_path: Path) -> None:
    """A server that dies for another reason fails at once, with its log in the message."""
    launched: list[int] = []

    def argv(port: int) -> list[str]:
        launched.append(port)
        return [sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"]

    with pytest.raises(ServerStartError, match=r"(?s)exited with code 3.*bad config"):
        _process._spawn_on_free_port(
            argv, lambda _port: False, what="doomed", log=tmp_path / "log", timeout_s=10.0
        )
    assert len(launched) == 1
