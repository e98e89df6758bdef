"""The throttle probe: where it may go (pure routing), what it reports, how the loop uses it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from io_servers import HttpServer

from rasteret.errors import FetchError
from rasteret.io.cloud import CloudConfig
from rasteret.io.retry import ProbeOutcome, RetryPolicy, TransientFetchError, retry_async
from rasteret.io.signing import SasToken
from rasteret.io.throttle import ProbeTarget, plan_probe, probe_once
from rasteret.io.urls import locate

OPTIONS = {"user_agent": "rasteret/test", "default_headers": {"x-extra": "1"}}


def _plan(
    url: str,
    config: CloudConfig | None = None,
    *,
    azure_credentials: bool = False,
    sas_provider: bool = False,
) -> ProbeTarget | None:
    config = config or CloudConfig()
    rewritten = config.rewrite(url)
    return plan_probe(
        rewritten,
        locate(rewritten, azure_endpoint=config.azure_endpoint),
        config=config,
        client_options=OPTIONS,
        azure_credentials=azure_credentials,
        has_sas_provider=sas_provider,
    )


def test_http_urls_are_probed_with_their_query_and_headers() -> None:
    target = _plan("https://example.com/a%20b/c.tif?X-Amz-Signature=abc#frag")
    assert target is not None
    assert target.url == "https://example.com/a%20b/c.tif?X-Amz-Signature=abc"
    assert target.headers == {"x-extra": "1", "User-Agent": "rasteret/test"}
    assert "abc" not in repr(target)  # the signed query never reaches a log line


def test_azure_targets_follow_the_backends_signing_order() -> None:
    sas = _plan("https://acct.blob.core.windows.net/cont/dir/b.tif?sv=1&sig=s")
    assert (
        sas is not None
        and sas.url == "https://acct.blob.core.windows.net/cont/dir/b.tif?sv=1&sig=s"
    )
    provider = _plan("az://cont@acct.dfs.core.windows.net/b.tif", sas_provider=True)
    assert provider is not None and provider.azure_sas == ("acct", "cont")
    assert provider.url == "https://acct.blob.core.windows.net/cont/b.tif"
    public = _plan("https://acct.blob.core.windows.net/cont/b.tif")
    assert public is not None and public.azure_sas is None
    assert _plan("https://acct.blob.core.windows.net/cont/b.tif", azure_credentials=True) is None
    azurite = CloudConfig(azure_endpoint="http://127.0.0.1:10000", allow_http=True)
    emulated = _plan("http://127.0.0.1:10000/devacct/cont/b.tif", azurite)
    assert emulated is not None and emulated.url == "http://127.0.0.1:10000/devacct/cont/b.tif"


def test_buckets_are_probed_only_when_read_anonymously() -> None:
    assert _plan("s3://bucket/k.tif") is None  # SigV4: only obstore can sign
    assert _plan("gs://bucket/k.tif") is None  # OAuth
    anon = CloudConfig(anonymous=True, region="us-west-2", requester_pays=True)
    s3 = _plan("s3://bucket/a b.tif", anon)
    assert s3 is not None and s3.url == "https://s3.us-west-2.amazonaws.com/bucket/a%20b.tif"
    assert s3.headers["x-amz-request-payer"] == "requester"
    minio = _plan("s3://bucket/k.tif", CloudConfig(anonymous=True, endpoint="http://h:9000/"))
    assert minio is not None and minio.url == "http://h:9000/bucket/k.tif"
    gcs = _plan("gs://bucket/k.tif", CloudConfig(anonymous=True))
    assert gcs is not None and gcs.url == "https://storage.googleapis.com/bucket/k.tif"
    assert _plan("/tmp/local.tif") is None


def test_probe_reports_status_of_a_real_server(http_server: HttpServer) -> None:
    ok = asyncio.run(probe_once(ProbeTarget(url=f"{http_server.base}/files/data.bin")))
    assert ok == ProbeOutcome(status=206, requests=1) and ok.verdict == "clear"
    failing = asyncio.run(probe_once(ProbeTarget(url=f"{http_server.base}/err/500.bin")))
    assert failing.status == 500 and failing.verdict == "unknown" and failing.requests == 1


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_probe_never_raises(silent_port: int) -> None:
    silent = ProbeTarget(url=f"http://127.0.0.1:{silent_port}/x?sig=s")
    outcome = asyncio.run(probe_once(silent, timeout_s=0.3))
    assert outcome == ProbeOutcome(requests=1) and outcome.verdict == "unknown"

    async def broken(account: str, container: str) -> SasToken:
        raise RuntimeError(f"token service down for {account}/{container}")

    needs_sas = ProbeTarget(url="https://a.blob.core.windows.net/c/b", azure_sas=("a", "c"))
    assert asyncio.run(probe_once(needs_sas, sas_provider=broken)) == ProbeOutcome()
    assert asyncio.run(probe_once(needs_sas)) == ProbeOutcome()  # no provider at all


def _throttled_then_ok(outcome: ProbeOutcome) -> list[float]:
    """Run the loop over one 429 then a success; return the waits it slept."""
    waits: list[float] = []
    failures = [TransientFetchError(FetchError("throttled", url="u", status=429, attempts=3))]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def once() -> bytes:
        if failures:
            raise failures.pop()
        return b"ok"

    async def probe() -> ProbeOutcome:
        return outcome

    policy = RetryPolicy(base_delay_s=0.01, max_delay_s=5.0, throttle_floor_s=1.0)
    assert asyncio.run(retry_async(once, policy=policy, sleep=sleep, probe=probe)) == b"ok"
    return waits


@pytest.mark.parametrize(
    ("outcome", "low", "high"),
    [
        (ProbeOutcome(status=429, retry_after_s=3.0, requests=1), 3.0, 3.0),
        (ProbeOutcome(status=503, retry_after_s=999.0, requests=1), 5.0, 5.0),  # capped
        (ProbeOutcome(status=206, requests=1), 0.0, 0.01),  # lifted: short backoff only
        (ProbeOutcome(status=429, requests=1), 1.0, 2.0),  # no Retry-After: the floor
        (ProbeOutcome(), 1.0, 2.0),  # no answer: the floor
    ],
)
def test_loop_waits_what_the_probe_says(outcome: ProbeOutcome, low: float, high: float) -> None:
    waits = _throttled_then_ok(outcome)
    assert len(waits) == 1 and low <= waits[0] <= high


def test_probe_requests_count_as_attempts() -> None:
    async def sleep(_: float) -> None:
        return None

    async def always() -> bytes:
        raise TransientFetchError(FetchError("throttled", url="u", status=429, attempts=3))

    calls = 0

    async def probe() -> ProbeOutcome:
        nonlocal calls
        calls += 1
        return ProbeOutcome(status=429, retry_after_s=0.0, requests=1)

    policy = RetryPolicy(attempts=3, base_delay_s=0.01)
    with pytest.raises(FetchError) as info:
        asyncio.run(retry_async(always, policy=policy, sleep=sleep, probe=probe))
    assert calls == 2  # before each retry, not after the last failure
    assert info.value.attempts == 3 * 3 + 2 and info.value.status == 429
