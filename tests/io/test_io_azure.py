"""Azure Blob access against Azurite: SAS, account key, anonymous, and read-time signing.

Azurite checks every signature with the development account key, so a test that reads
a private container proves the request was signed correctly, and the negative tests
(wrong key, tampered SAS, no credentials) prove the emulator is not simply open.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np
import pyarrow.parquet as pq
import pytest
from aiohttp import web
from io_servers import DATA, LoopThread

import rasteret
from rasteret.errors import FetchError
from rasteret.io import CloudConfig, PlanetaryComputerSas, SasToken, create_backend
from rasteret.io.urls import StoreKind, locate
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import AzuriteServer, NginxServer
from rasteret_sandbox.servers.azurite import ACCOUNT, ACCOUNT_KEY, container_sas

PRIVATE, PUBLIC, OTHER = "private", "public", "other"
KEY = "cogs/data.bin"
ODD_KEY = "dir with space/a+b%c.bin"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def config_of(store: Any) -> dict[str, Any]:
    """The obstore store's config as a plain dict (its type is a union of TypedDicts)."""
    return dict(store.config)


@pytest.fixture(autouse=True)
def _no_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test states its credentials itself; a developer's AZURE_* must not leak in."""
    import os  # noqa: PLC0415

    for name in [k for k in os.environ if k.upper().startswith("AZURE_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def blobs(azurite: AzuriteServer) -> AzuriteServer:
    """Azurite with DATA in a private, a second private, and a public-read container."""
    azurite.create_container(PRIVATE)
    azurite.create_container(OTHER)
    azurite.create_container(PUBLIC, public=True)
    for container in (PRIVATE, OTHER, PUBLIC):
        azurite.upload(container, KEY, DATA)
    azurite.upload(PRIVATE, ODD_KEY, DATA[:300])
    return azurite


def azure_backend(server: AzuriteServer, **kwargs: Any) -> rasteret.io.ObstoreBackend:
    return create_backend(
        cloud_config=CloudConfig(azure_endpoint=server.url), max_retries=0, **kwargs
    )


# -- routing (pure) ------------------------------------------------------------------------


def test_path_style_urls_route_to_azure_only_under_the_endpoint() -> None:
    endpoint = "http://127.0.0.1:10000"
    loc = locate(f"{endpoint}/acct/cont/a/b%20c.tif?sv=1&sig=x", azure_endpoint=endpoint)
    assert loc.store.kind is StoreKind.AZURE
    assert (loc.store.account, loc.store.authority, loc.path) == ("acct", "cont", "a/b c.tif")
    assert (loc.store.endpoint, loc.store.query) == (endpoint, "sv=1&sig=x")
    # another port, another scheme, or no endpoint configured: plain HTTP
    for url, cfg in [
        ("http://127.0.0.1:10001/acct/cont/k.tif", endpoint),
        ("https://127.0.0.1:10000/acct/cont/k.tif", endpoint),
        (f"{endpoint}/acct/cont/k.tif", None),
    ]:
        assert locate(url, azure_endpoint=cfg).store.kind is StoreKind.HTTP
    # an endpoint with a path prefix (Azure Stack style)
    loc = locate("https://h.example/blob/acct/cont/k.tif", azure_endpoint="https://h.example/blob/")
    assert (loc.store.endpoint, loc.store.account, loc.path) == (
        "https://h.example/blob",
        "acct",
        "k.tif",
    )


def test_public_azure_url_without_credentials_is_unsigned() -> None:
    """No credentials anywhere: skip signing rather than asking the VM metadata service."""
    backend = create_backend()
    store, key = backend.resolve("https://acct.blob.core.windows.net/cont/a/k.tif")
    assert key == "a/k.tif"
    assert str(config_of(store).get("skip_signature")).lower() == "true"
    assert store.credential_provider is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("credentials", "env"),
    [
        ({"azure_storage_account_key": ACCOUNT_KEY}, {}),
        ({}, {"AZURE_STORAGE_ACCOUNT_KEY": ACCOUNT_KEY}),
        ({}, {"AZURE_STORAGE_SAS_TOKEN": "sv=1&sig=x"}),
        ({}, {"AZURE_CLIENT_ID": "id", "AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": "t"}),
    ],
)
def test_azure_credentials_anywhere_keep_signing(
    credentials: dict[str, str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store, _ = create_backend(credentials=credentials).resolve(
        "https://acct.blob.core.windows.net/cont/k.tif"
    )
    assert "skip_signature" not in config_of(store)


def test_account_name_alone_is_not_a_credential() -> None:
    store, _ = create_backend(credentials={"azure_storage_account_name": "acct"}).resolve(
        "https://acct.blob.core.windows.net/cont/k.tif"
    )
    assert str(config_of(store).get("skip_signature")).lower() == "true"


def test_sas_in_href_wins_over_everything() -> None:
    async def never(account: str, container: str) -> SasToken:
        raise AssertionError("the href's own SAS must be used")

    backend = create_backend(sas_provider=never)
    store, _ = backend.resolve("https://acct.blob.core.windows.net/cont/k.tif?sv=1&sig=abc")
    assert config_of(store)["sas_key"] == "sv=1&sig=abc"
    assert store.credential_provider is None  # type: ignore[union-attr]


# -- reads from Azurite ---------------------------------------------------------------------


def test_read_with_sas_in_href(blobs: AzuriteServer) -> None:
    backend = azure_backend(blobs)
    url = f"{blobs.blob_url(PRIVATE, KEY)}?{blobs.container_sas(PRIVATE)}"
    data, meta = run(backend.get_range_with_meta_async(url, 100, 200))
    assert (data, meta.size) == (DATA[100:200], len(DATA))
    assert meta.etag
    starts, ends = [0, 5000, 10200], [10, 5100, 10300]
    assert run(backend.get_ranges_async(url, starts, ends)) == [
        DATA[0:10],
        DATA[5000:5100],
        DATA[10200:],
    ]
    assert run(backend.get_range_async(url, len(DATA) + 5, len(DATA) + 10)) == b""


def test_read_with_account_key(blobs: AzuriteServer) -> None:
    backend = azure_backend(blobs, credentials={"azure_storage_account_key": ACCOUNT_KEY})
    assert run(backend.get_range_async(blobs.blob_url(PRIVATE, KEY), 0, 64)) == DATA[:64]
    odd = blobs.blob_url(PRIVATE, ODD_KEY)
    assert "%20" in odd and "%25" in odd
    assert run(backend.head_async(odd)).size == 300
    assert "Eby8" not in repr(backend)


def test_wrong_account_key_is_refused(blobs: AzuriteServer) -> None:
    wrong = "A" * 86 + "=="
    backend = azure_backend(blobs, credentials={"azure_storage_account_key": wrong})
    with pytest.raises(FetchError) as info:
        run(backend.get_range_async(blobs.blob_url(PRIVATE, KEY), 0, 10))
    assert info.value.status == 403
    assert wrong not in str(info.value)


def test_tampered_or_foreign_sas_is_refused(blobs: AzuriteServer) -> None:
    backend = azure_backend(blobs)
    good = blobs.container_sas(PRIVATE)
    tampered = good.replace("sp=rl", "sp=r")  # the signature no longer matches
    for sas in (tampered, blobs.container_sas(OTHER)):
        with pytest.raises(FetchError) as info:
            run(backend.get_range_async(f"{blobs.blob_url(PRIVATE, KEY)}?{sas}", 0, 10))
        assert info.value.status == 403
        assert "sig=" not in str(info.value)  # the token never reaches the message


def test_private_container_without_credentials_fails_fast(blobs: AzuriteServer) -> None:
    backend = azure_backend(blobs)
    begin = time.monotonic()
    with pytest.raises(FetchError) as info:
        run(backend.get_range_async(blobs.blob_url(PRIVATE, KEY), 0, 10))
    assert info.value.status == 403  # an unsigned request, not a metadata-service timeout
    assert time.monotonic() - begin < 5


def test_public_container_reads_without_credentials(blobs: AzuriteServer) -> None:
    for backend in (
        azure_backend(blobs),
        create_backend(cloud_config=CloudConfig(azure_endpoint=blobs.url, anonymous=True)),
    ):
        assert run(backend.get_range_async(blobs.blob_url(PUBLIC, KEY), 10, 20)) == DATA[10:20]


# -- read-time signing through a Planetary Computer-style token endpoint --------------------


class TokenEndpoint:
    """A fake ``/api/sas/v1/token/{account}/{container}`` handing out real Azurite SAS tokens."""

    def __init__(self, loop: LoopThread) -> None:
        self.calls: Counter[str] = Counter()
        self.lifetime = timedelta(hours=1)
        app = web.Application()
        app.router.add_get("/api/sas/v1/token/{account}/{container}", self.token)
        self.url = f"http://127.0.0.1:{loop.serve(app)}/api/sas/v1/token"

    async def token(self, request: web.Request) -> web.Response:
        account, container = request.match_info["account"], request.match_info["container"]
        if account != ACCOUNT:
            return web.json_response({"detail": "unknown account"}, status=404)
        self.calls[container] += 1
        expiry = datetime.now(UTC).replace(microsecond=0) + self.lifetime
        sas = container_sas(container, expiry=expiry)
        return web.json_response(
            {"msft:expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), "token": sas}
        )


@pytest.fixture
def token_endpoint(server_loop: LoopThread) -> TokenEndpoint:
    return TokenEndpoint(server_loop)


def test_signer_is_asked_once_per_container(
    blobs: AzuriteServer, token_endpoint: TokenEndpoint
) -> None:
    backend = azure_backend(blobs, sas_provider=PlanetaryComputerSas(token_endpoint.url))
    urls = [blobs.blob_url(c, KEY) for c in (PRIVATE, OTHER)] * 10

    async def read_all() -> list[bytes]:
        return await asyncio.gather(
            *(backend.get_range_async(u, i, i + 50) for i, u in enumerate(urls))
        )

    assert run(read_all()) == [DATA[i : i + 50] for i in range(len(urls))]
    assert backend.get_ranges(urls[0], [0, 9000], [10, 9010]) == [DATA[:10], DATA[9000:9010]]
    assert token_endpoint.calls == Counter({PRIVATE: 1, OTHER: 1})


def test_signer_renews_an_expired_token(
    blobs: AzuriteServer, token_endpoint: TokenEndpoint
) -> None:
    token_endpoint.lifetime = timedelta(seconds=2)
    backend = azure_backend(blobs, sas_provider=PlanetaryComputerSas(token_endpoint.url))
    url = blobs.blob_url(PRIVATE, KEY)
    assert backend.get_range(url, 0, 10) == DATA[:10]
    assert backend.get_range(url, 10, 20) == DATA[10:20]
    assert token_endpoint.calls[PRIVATE] == 1
    time.sleep(3.1)  # the first token is now refused by Azurite itself
    assert backend.get_range(url, 20, 30) == DATA[20:30]
    assert token_endpoint.calls[PRIVATE] == 2


def test_a_plain_async_function_is_a_sas_provider(blobs: AzuriteServer) -> None:
    seen: list[tuple[str, str]] = []

    async def provider(account: str, container: str) -> SasToken:
        seen.append((account, container))
        return SasToken(token=container_sas(container), expires_at=None)

    backend = azure_backend(blobs, sas_provider=provider)
    assert backend.get_range(blobs.blob_url(OTHER, KEY), 0, 10) == DATA[:10]
    assert backend.get_range(blobs.blob_url(OTHER, KEY), 10, 20) == DATA[10:20]
    assert seen == [(ACCOUNT, OTHER)]


def test_token_endpoint_failure_is_a_fetch_error(
    blobs: AzuriteServer, token_endpoint: TokenEndpoint
) -> None:
    signer = PlanetaryComputerSas(token_endpoint.url.replace("/token", "/nope"))
    backend = azure_backend(blobs, sas_provider=signer)
    with pytest.raises(FetchError):
        backend.get_range(blobs.blob_url(PRIVATE, KEY), 0, 10)


# -- end to end: build an index from Azurite hrefs, read pixels --------------------------------


def _azurite_items(
    items: Sequence[Mapping[str, Any]], nginx: NginxServer, server: AzuriteServer, container: str
) -> list[dict[str, Any]]:
    out = []
    for item in items:
        moved = copy.deepcopy(dict(item))
        for asset in moved["assets"].values():
            href = asset["href"]
            if href.startswith(f"{nginx.url}/"):
                name = href[len(nginx.url) + 1 :]
                asset["href"] = f"{server.account_url}/{container}/{quote(name)}"
        out.append(moved)
    return out


@pytest.fixture(scope="module")
def naip_on_azurite(
    azurite: AzuriteServer, sample_catalog: SampleCatalog, sample_root: Path
) -> Iterator[str]:
    container = "naip"
    azurite.create_container(container)
    azurite.upload_tree(container, sample_root / "data" / "naip-sample", prefix="data/naip-sample/")
    yield container


def test_build_and_read_from_azurite_with_signing(
    naip_on_azurite: str,
    azurite: AzuriteServer,
    sample_catalog: SampleCatalog,
    nginx: NginxServer,
    token_endpoint: TokenEndpoint,
    flat_collection: Callable[..., Path],
    tmp_path: Path,
) -> None:
    items = sample_catalog.items["naip-sample"]
    azure_items = _azurite_items(items, nginx, azurite, naip_on_azurite)
    assert any("/devstoreaccount1/naip/" in a["href"] for a in azure_items[0]["assets"].values())
    (tmp_path / "az").mkdir()
    (tmp_path / "http").mkdir()
    params: dict[str, Any] = {
        "collection": "naip-sample",
        "data_source": "pc/naip",
        "bbox": cat.SF_BBOX,
        "date_range": ("2024-01-01", "2024-12-31"),
        "static_catalog": True,
    }
    config = CloudConfig(azure_endpoint=azurite.url)
    backend = create_backend(
        cloud_config=config, sas_provider=PlanetaryComputerSas(token_endpoint.url)
    )
    nginx.clear_log()
    via_azure = rasteret.build_from_stac(
        name="naip-azure",
        stac_api=str(flat_collection(tmp_path / "az", "naip-sample", azure_items)),
        workspace_dir=tmp_path / "ws-az",
        cloud_config=config,
        backend=backend,
        **params,
    )
    assert not [r for r in nginx.requests() if r.path.endswith(".tif")]  # all from Azurite
    via_http = rasteret.build_from_stac(
        name="naip-http",
        stac_api=str(flat_collection(tmp_path / "http", "naip-sample", items)),
        workspace_dir=tmp_path / "ws-http",
        **params,
    )
    assert len(via_azure) == len(via_http) == cat.NAIP_SAMPLE_COUNT
    assert not via_azure.failures
    assert via_azure.path is not None
    table = pq.read_table(via_azure.path)
    index = json.dumps(table.to_pylist(), default=str) + str(table.schema.metadata)
    assert "/devstoreaccount1/naip/" in index and "sig=" not in index  # unsigned hrefs only
    footprint: Any = next(iter(via_http)).geometry
    assert footprint is not None
    minx, miny, maxx, maxy = footprint.bounds
    w, h = maxx - minx, maxy - miny
    aoi = (minx + 0.3 * w, miny + 0.3 * h, minx + 0.6 * w, miny + 0.5 * h)
    tifs_before = len([r for r in nginx.requests() if r.path.endswith(".tif")])
    azure_result = via_azure.get_numpy(aoi, ["R", "G", "B", "N"], backend=backend)
    assert len([r for r in nginx.requests() if r.path.endswith(".tif")]) == tifs_before
    http_result = via_http.get_numpy(aoi, ["R", "G", "B", "N"])
    assert not isinstance(azure_result, list) and not isinstance(http_result, list)
    np.testing.assert_array_equal(azure_result.data, http_result.data)
    assert azure_result.ids == http_result.ids
    assert token_endpoint.calls == Counter({naip_on_azurite: 1})  # build and read share it
    # the stored index alone (no signer) cannot read the private container
    with pytest.raises(FetchError):
        via_azure.get_numpy(aoi, "R")
