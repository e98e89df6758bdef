"""S3 access modes against moto: requester pays (enforced), anonymous, credentials, region.

moto accepts a requester-pays bucket's reads with or without the header, so a test that
only asked moto would pass either way. Here a small proxy in front of moto behaves as
AWS does for a requester-pays bucket: a request without ``x-amz-request-payer:
requester`` gets ``403 AccessDenied``. The end-to-end test therefore fails if any
header or tile read forgets the header.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from io_servers import LoopThread

import rasteret
from rasteret.errors import FetchError
from rasteret.io import CloudConfig, create_backend
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import MotoS3Server, NginxServer

_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied (requester pays)</Message></Error>"
)
CREDENTIALS = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}


@dataclass
class PayerProxy:
    """A requester-pays front for moto that records the headers of every request."""

    endpoint: str
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def headers(self) -> list[dict[str, str]]:
        with self.lock:
            return [{k.lower(): v for k, v in h.items()} for h in self.requests]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()


@pytest.fixture(scope="module")
def payer_proxy(server_loop: LoopThread, moto_s3: MotoS3Server) -> Iterator[PayerProxy]:
    """The proxy; request ``sample_catalog`` before ``naip_s3`` so the bucket is filled."""
    upstream = moto_s3.endpoint
    box: list[aiohttp.ClientSession] = []
    proxy = PayerProxy(endpoint="")

    async def forward(
        request: web.Request,
    ) -> web.Response:
        with proxy.lock:
            proxy.requests.append(dict(request.headers))
        if request.headers.get("x-amz-request-payer", "").lower() != "requester":
            return web.Response(status=403, text=_ACCESS_DENIED, content_type="application/xml")
        if not box:
            box.append(aiohttp.ClientSession(auto_decompress=False))
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        headers["Host"] = request.host  # the signature covers the host the client used
        async with box[0].request(
            request.method, upstream + request.path_qs, headers=headers, allow_redirects=False
        ) as resp:
            body = await resp.read()
            keep = {
                k: v
                for k, v in resp.headers.items()
                if k.lower() not in {"transfer-encoding", "connection", "content-length"}
            }
            if request.method == "HEAD":
                keep["Content-Length"] = resp.headers.get("Content-Length", "0")
                return web.Response(status=resp.status, headers=keep)
            return web.Response(status=resp.status, body=body, headers=keep)

    handler: Callable[[web.Request], Awaitable[web.Response]] = forward
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    proxy.endpoint = f"http://127.0.0.1:{server_loop.serve(app)}"
    yield proxy
    if box:
        server_loop.run(box[0].close())


def payer_config(proxy: PayerProxy, naip_s3: Any, **kwargs: Any) -> CloudConfig:
    return CloudConfig(
        url_rewrites=naip_s3.config.url_rewrites,
        endpoint=proxy.endpoint,
        allow_http=True,
        region="us-east-1",
        **kwargs,
    )


def test_proxy_refuses_requests_without_the_payer_header(
    sample_catalog: SampleCatalog, payer_proxy: PayerProxy, naip_s3: Any, nginx: NginxServer
) -> None:
    href = next(iter(sample_catalog.items["naip-sample"][0]["assets"].values()))["href"]
    assert href.startswith(nginx.url)
    backend = create_backend(
        cloud_config=payer_config(payer_proxy, naip_s3), credentials=CREDENTIALS, max_retries=0
    )
    with pytest.raises(FetchError) as info:
        backend.get_range(href, 0, 100)
    assert info.value.status == 403
    paid = create_backend(
        cloud_config=payer_config(payer_proxy, naip_s3, requester_pays=True),
        credentials=CREDENTIALS,
    )
    assert paid.get_range(href, 0, 4) in (b"II*\x00", b"MM\x00*")


def test_requester_pays_build_and_read(
    sample_catalog: SampleCatalog,
    payer_proxy: PayerProxy,
    naip_s3: Any,
    nginx: NginxServer,
    flat_collection: Callable[..., Path],
    tmp_path: Path,
) -> None:
    config = payer_config(payer_proxy, naip_s3, requester_pays=True)
    backend = create_backend(cloud_config=config, credentials=CREDENTIALS)
    items = sample_catalog.items["naip-sample"]
    params: dict[str, Any] = {
        "collection": "naip-sample",
        "data_source": "pc/naip",
        "bbox": cat.SF_BBOX,
        "date_range": ("2024-01-01", "2024-12-31"),
        "static_catalog": True,
        "stac_api": str(flat_collection(tmp_path, "naip-sample", items)),
    }
    payer_proxy.clear()
    nginx.clear_log()
    paid = rasteret.build_from_stac(
        name="naip-paid",
        workspace_dir=tmp_path / "paid",
        cloud_config=config,
        backend=backend,
        **params,
    )
    assert len(paid) == cat.NAIP_SAMPLE_COUNT and not paid.failures
    assert paid.manifest.cloud_config["requester_pays"] is True
    plain = rasteret.build_from_stac(name="naip-http", workspace_dir=tmp_path / "http", **params)
    footprint: Any = next(iter(plain)).geometry
    assert footprint is not None
    minx, miny, maxx, maxy = footprint.bounds
    w, h = maxx - minx, maxy - miny
    aoi = (minx + 0.3 * w, miny + 0.3 * h, minx + 0.6 * w, miny + 0.5 * h)
    paid_result = paid.get_numpy(aoi, ["R", "G", "B", "N"], backend=backend)
    plain_result = plain.get_numpy(aoi, ["R", "G", "B", "N"])
    assert not isinstance(paid_result, list) and not isinstance(plain_result, list)
    np.testing.assert_array_equal(paid_result.data, plain_result.data)
    seen = payer_proxy.headers()
    assert len(seen) > cat.NAIP_SAMPLE_COUNT  # headers and tiles went through the proxy
    assert all(h.get("x-amz-request-payer") == "requester" for h in seen)
    assert all("authorization" in h for h in seen)


def test_anonymous_reads_a_public_bucket(moto_s3: MotoS3Server) -> None:
    moto_s3.create_bucket("rasteret-public-read", public_read=True)
    moto_s3.client().put_object(Bucket="rasteret-public-read", Key="k.bin", Body=b"0123456789")
    anonymous = CloudConfig(endpoint=moto_s3.endpoint, allow_http=True, anonymous=True)
    backend = create_backend(cloud_config=anonymous, max_retries=0)
    assert backend.get_range("s3://rasteret-public-read/k.bin", 2, 6) == b"2345"
    store, _ = backend.resolve("s3://rasteret-public-read/k.bin")
    assert str(dict(store.config)["skip_signature"]).lower() == "true"  # type: ignore[union-attr]


def test_region_and_credentials_sign_the_request(
    sample_catalog: SampleCatalog, payer_proxy: PayerProxy, naip_s3: Any
) -> None:
    href = next(iter(sample_catalog.items["naip-sample"][0]["assets"].values()))["href"]
    config = CloudConfig(
        url_rewrites=naip_s3.config.url_rewrites,
        endpoint=payer_proxy.endpoint,
        allow_http=True,
        region="eu-central-1",
        requester_pays=True,
    )
    backend = create_backend(
        cloud_config=config,
        credentials={"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "x"},
    )
    payer_proxy.clear()
    backend.get_range(href, 0, 16)
    auth = payer_proxy.headers()[-1]["authorization"]
    assert "Credential=AKIDEXAMPLE/" in auth and "/eu-central-1/s3/aws4_request" in auth
