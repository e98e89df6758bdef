"""ObstoreBackend against real stores: local files, an aiohttp range server, moto S3."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from io_servers import BUCKET, DATA, PAYER_BUCKET, HttpServer, S3Server
from obstore.store import HTTPStore, LocalStore, S3Store

from rasteret.errors import FetchError, InvalidInputError
from rasteret.io import (
    CloudConfig,
    MetaRangeBackend,
    ObjectMeta,
    ObstoreBackend,
    StorageBackend,
    create_backend,
)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def backend() -> ObstoreBackend:
    return create_backend(cloud_config=CloudConfig(allow_http=True), max_retries=1)


def s3_backend(server: S3Server, **kwargs: object) -> ObstoreBackend:
    config = CloudConfig(endpoint=server.endpoint, allow_http=True, region="us-east-1", **kwargs)  # type: ignore[arg-type]
    return create_backend(cloud_config=config, max_retries=1)


def test_backend_satisfies_both_protocols(backend: ObstoreBackend) -> None:
    assert isinstance(backend, StorageBackend)
    assert isinstance(backend, MetaRangeBackend)


# -- sources: the same assertions for every store -------------------------------------


@pytest.fixture(params=["local", "file_url", "http", "s3"])
def data_url(
    request: pytest.FixtureRequest, served_dir: Path, backend: ObstoreBackend
) -> tuple[ObstoreBackend, str]:
    """A (backend, url) pair whose object holds DATA."""
    if request.param == "local":
        return backend, str(served_dir / "data.bin")
    if request.param == "file_url":
        return backend, (served_dir / "data.bin").as_uri()
    if request.param == "http":
        server: HttpServer = request.getfixturevalue("http_server")
        return backend, f"{server.base}/files/data.bin"
    s3: S3Server = request.getfixturevalue("s3_server")
    return s3_backend(s3), f"s3://{BUCKET}/cogs/data.bin"


def test_range_and_meta(data_url: tuple[ObstoreBackend, str]) -> None:
    backend, url = data_url
    data, meta = run(backend.get_range_with_meta_async(url, 10, 300))
    assert data == DATA[10:300]
    assert isinstance(meta, ObjectMeta)
    assert meta.size == len(DATA)
    assert meta.etag
    assert meta.last_modified and "T" in meta.last_modified


def test_short_read_past_end(data_url: tuple[ObstoreBackend, str]) -> None:
    backend, url = data_url
    n = len(DATA)
    assert run(backend.get_range_async(url, n - 7, n + 5000)) == DATA[-7:]
    data, meta = run(backend.get_range_with_meta_async(url, 0, n + 1))
    assert data == DATA
    assert meta.size == n


@pytest.mark.parametrize("offset", [0, 1, 10_000])
def test_range_starting_at_or_after_end_is_empty(
    data_url: tuple[ObstoreBackend, str], offset: int
) -> None:
    backend, url = data_url
    start = len(DATA) + offset
    data, meta = run(backend.get_range_with_meta_async(url, start, start + 100))
    assert data == b""
    assert meta.size == len(DATA)


def test_empty_range_needs_no_bytes(data_url: tuple[ObstoreBackend, str]) -> None:
    backend, url = data_url
    data, meta = run(backend.get_range_with_meta_async(url, 5, 5))
    assert data == b""
    assert meta.size == len(DATA)


def test_get_ranges_matches_slices(data_url: tuple[ObstoreBackend, str]) -> None:
    backend, url = data_url
    n = len(DATA)
    starts = [100, 0, 5000, 5000, 50, n - 3, n + 10, 7, 200]
    ends = [200, 10, 5100, 5050, 150, n + 30, n + 20, 7, 9000]
    out = run(backend.get_ranges_async(url, starts, ends))
    assert out == [DATA[s:e] for s, e in zip(starts, ends, strict=True)]


def test_get_ranges_without_coalescing(served_dir: Path) -> None:
    backend = ObstoreBackend(coalesce=0)
    url = str(served_dir / "data.bin")
    starts, ends = [0, 11, 500], [10, 20, 20_000]
    out = run(backend.get_ranges_async(url, starts, ends))
    assert out == [DATA[0:10], DATA[11:20], DATA[500:]]


def test_missing_object_is_fetch_error_404(data_url: tuple[ObstoreBackend, str]) -> None:
    backend, url = data_url
    missing = url.replace("data.bin", "nope.bin")
    with pytest.raises(FetchError) as info:
        run(backend.get_range_async(missing, 0, 10))
    err = info.value
    assert err.status == 404
    assert (err.start, err.end) == (0, 10)
    assert err.attempts == 1
    assert isinstance(err, OSError)
    assert isinstance(err.__cause__, FileNotFoundError)


def test_empty_object(backend: ObstoreBackend, served_dir: Path, http_server: HttpServer) -> None:
    for url in (str(served_dir / "empty.bin"), f"{http_server.base}/files/empty.bin"):
        data, meta = run(backend.get_range_with_meta_async(url, 0, 16384))
        assert (data, meta.size) == (b"", 0)


# -- URL handling ------------------------------------------------------------------------


def test_percent_encoded_http_path(backend: ObstoreBackend, http_server: HttpServer) -> None:
    url = f"{http_server.base}/files/dir%20with%20space/a%2Bb%25c.bin"
    assert run(backend.get_range_async(url, 0, 1000)) == DATA[:300]


def test_percent_encoded_s3_key(s3_server: S3Server) -> None:
    backend = s3_backend(s3_server)
    url = f"s3://{BUCKET}/dir%20with%20space/a%2Bb%25c.bin"
    assert run(backend.get_range_async(url, 0, 1000)) == DATA[:300]


def test_rewrite_https_to_s3(s3_server: S3Server) -> None:
    backend = s3_backend(
        s3_server,
        url_rewrites=((f"https://{BUCKET}.s3.us-west-2.amazonaws.com/", f"s3://{BUCKET}/"),),
    )
    url = f"https://{BUCKET}.s3.us-west-2.amazonaws.com/cogs/data.bin"
    store, path = backend.resolve(url)
    assert isinstance(store, S3Store)
    assert path == "cogs/data.bin"
    assert run(backend.get_range_async(url, 0, 64)) == DATA[:64]


def test_query_string_is_sent_but_redacted_in_errors(
    backend: ObstoreBackend, http_server: HttpServer
) -> None:
    http_server.recorder.clear()
    url = f"{http_server.base}/files/data.bin?sig=s3cr3t&se=2030"
    assert run(backend.get_range_async(url, 0, 10)) == DATA[:10]
    assert http_server.recorder.requests[-1][1] == "/files/data.bin?sig=s3cr3t&se=2030"
    with pytest.raises(FetchError) as info:
        run(backend.get_range_async(url.replace("data.bin", "nope.bin"), 0, 10))
    assert info.value.url == f"{http_server.base}/files/nope.bin"
    assert "s3cr3t" not in str(info.value)


def test_unsupported_url_is_invalid_input(backend: ObstoreBackend) -> None:
    with pytest.raises(InvalidInputError):
        run(backend.get_range_async("ftp://example.com/a.tif", 0, 10))


@pytest.mark.parametrize(("start", "end"), [(-1, 10), (10, 5), (0.5, 10)])
def test_bad_ranges_are_invalid_input(
    backend: ObstoreBackend, served_dir: Path, start: int, end: int
) -> None:
    with pytest.raises(InvalidInputError):
        run(backend.get_range_async(str(served_dir / "data.bin"), start, end))


# -- store reuse -------------------------------------------------------------------------


def test_one_store_per_host_or_bucket(
    backend: ObstoreBackend, http_server: HttpServer, s3_server: S3Server, served_dir: Path
) -> None:
    a, path_a = backend.resolve(f"{http_server.base}/files/data.bin")
    b, path_b = backend.resolve(f"{http_server.base}/files/small.bin")
    assert a is b
    assert isinstance(a, HTTPStore)
    assert (path_a, path_b) == ("files/data.bin", "files/small.bin")
    other_port = http_server.base.replace("127.0.0.1", "localhost")
    assert backend.resolve(f"{other_port}/files/data.bin")[0] is not a

    local_a, _ = backend.resolve(str(served_dir / "data.bin"))
    local_b, _ = backend.resolve((served_dir / "small.bin").as_uri())
    assert local_a is local_b
    assert isinstance(local_a, LocalStore)

    s3 = s3_backend(s3_server)
    x, _ = s3.resolve(f"s3://{BUCKET}/cogs/data.bin")
    y, _ = s3.resolve(f"s3://{BUCKET}/cogs/other.bin")
    z, _ = s3.resolve(f"s3://{PAYER_BUCKET}/paid.bin")
    assert x is y
    assert x is not z
    assert run(s3.get_range_async(f"s3://{BUCKET}/cogs/other.bin", 0, 1000)) == DATA[:500]


def test_http_requests_reuse_connections(backend: ObstoreBackend, http_server: HttpServer) -> None:
    url = f"{http_server.base}/files/data.bin"

    async def many() -> list[bytes]:
        return await asyncio.gather(*(backend.get_range_async(url, i, i + 10) for i in range(50)))

    assert run(many()) == [DATA[i : i + 10] for i in range(50)]
    assert len(backend._stores) == 1


# -- failures -----------------------------------------------------------------------------


def test_server_errors_are_retried_then_reported(
    backend: ObstoreBackend, http_server: HttpServer
) -> None:
    http_server.recorder.clear()
    with pytest.raises(FetchError) as info:
        run(backend.get_range_async(f"{http_server.base}/err/500.bin", 0, 10))
    assert info.value.status == 500
    assert info.value.attempts == 2  # max_retries=1
    hits = [r for r in http_server.recorder.requests if r[1] == "/err/500.bin"]
    assert len(hits) == 2


def test_transient_errors_recover(http_server: HttpServer) -> None:
    backend = create_backend(cloud_config=CloudConfig(allow_http=True), max_retries=3)
    url = f"{http_server.base}/err/flaky.bin?case=recover"
    assert run(backend.get_range_async(url, 0, 10)) == DATA[:10]


def test_server_ignoring_range_is_reported(
    backend: ObstoreBackend, http_server: HttpServer
) -> None:
    with pytest.raises(FetchError, match="ignores HTTP Range"):
        run(backend.get_range_async(f"{http_server.base}/err/norange.bin", 0, 10))


def test_s3_missing_bucket_is_404(s3_server: S3Server) -> None:
    backend = s3_backend(s3_server)
    with pytest.raises(FetchError) as info:
        run(backend.get_range_async("s3://no-such-bucket/x.tif", 0, 10))
    assert info.value.status == 404


# -- S3 options ---------------------------------------------------------------------------


def test_requester_pays_header_is_sent(s3_server: S3Server) -> None:
    s3_server.recorder.clear()
    backend = s3_backend(s3_server, requester_pays=True)
    assert run(backend.get_range_async(f"s3://{PAYER_BUCKET}/paid.bin", 0, 10)) == DATA[:10]
    headers = s3_server.recorder.requests[-1][2]
    assert {k.lower(): v for k, v in headers.items()}.get("x-amz-request-payer") == "requester"
    assert "Authorization" in headers  # signed with the environment's (dummy) credentials


def test_requester_pays_off_sends_no_header(s3_server: S3Server) -> None:
    s3_server.recorder.clear()
    backend = s3_backend(s3_server)
    run(backend.get_range_async(f"s3://{BUCKET}/cogs/data.bin", 0, 10))
    headers = {k.lower() for k in s3_server.recorder.requests[-1][2]}
    assert "x-amz-request-payer" not in headers
    assert s3_server.recorder.requests[-1][1] == f"/{BUCKET}/cogs/data.bin"  # path style


def test_anonymous_requests_are_unsigned(s3_server: S3Server) -> None:
    s3_server.recorder.clear()
    backend = s3_backend(s3_server, anonymous=True)
    with pytest.raises(FetchError) as info:  # moto's bucket is private
        run(backend.get_range_async(f"s3://{BUCKET}/cogs/data.bin", 0, 10))
    assert info.value.status == 403
    assert "Authorization" not in s3_server.recorder.requests[-1][2]


def test_explicit_credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    s3_server.recorder.clear()
    backend = create_backend(
        cloud_config=CloudConfig(endpoint=s3_server.endpoint, allow_http=True, region="us-east-1"),
        credentials={"AWS_ACCESS_KEY_ID": "explicit", "aws_secret_access_key": "explicit"},
    )
    assert run(backend.get_range_async(f"s3://{BUCKET}/cogs/data.bin", 0, 10)) == DATA[:10]
    assert "Credential=explicit/" in s3_server.recorder.requests[-1][2]["Authorization"]
    assert "explicit" not in repr(backend)


def test_credentials_need_a_provider_prefix() -> None:
    with pytest.raises(InvalidInputError, match="aws_"):
        create_backend(credentials={"access_key_id": "x"})


def test_anonymous_and_credentials_conflict() -> None:
    with pytest.raises(InvalidInputError):
        create_backend(
            cloud_config=CloudConfig(anonymous=True), credentials={"aws_access_key_id": "x"}
        )


# -- sync twins ---------------------------------------------------------------------------


def test_sync_twins(backend: ObstoreBackend, http_server: HttpServer) -> None:
    url = f"{http_server.base}/files/data.bin"
    assert backend.get_range(url, 0, 10) == DATA[:10]
    assert backend.get_ranges(url, [0, 20], [10, 30]) == [DATA[:10], DATA[20:30]]
    data, meta = backend.get_range_with_meta(url, len(DATA) - 2, len(DATA) + 2)
    assert (data, meta.size) == (DATA[-2:], len(DATA))
    assert backend.head(url).size == len(DATA)


# -- Azure and GCS: routing and store construction only (no emulator here) ---------------


def test_azure_and_gcs_urls_build_their_stores() -> None:
    backend = create_backend(cloud_config=CloudConfig(anonymous=True))
    gcs, key = backend.resolve("gs://bucket/a%20b.tif")
    assert (type(gcs).__name__, key) == ("GCSStore", "a b.tif")
    signed = "https://acct.blob.core.windows.net/cont/a/k.tif?sv=1&sig=x"
    azure, key = backend.resolve(signed)
    assert (type(azure).__name__, key) == ("AzureStore", "a/k.tif")
    assert backend.resolve("abfss://cont@acct.dfs.core.windows.net/k.tif")[0] is not azure


def test_azure_without_account_is_a_clear_config_error() -> None:
    with pytest.raises(InvalidInputError, match="Account must be specified"):
        create_backend().resolve("az://container/k.tif")
