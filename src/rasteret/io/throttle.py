"""Ask a throttling server how long to wait: one cheap probe, outside obstore.

obstore 0.12.1 retries a 429/503 with its own short backoff and then reports the
failure without the response headers, so the ``Retry-After`` the server sent is lost.
After obstore gives up on a throttling status, :func:`rasteret.io.retry.retry_async`
asks this module once, through a :data:`~rasteret.io.retry.ThrottleProbe` that
:class:`~rasteret.io.backend.ObstoreBackend` builds from :func:`plan_probe` and
:func:`probe_once`: a single ``GET`` of ``Range: bytes=0-0`` made with the standard
library (in a worker thread, with a short timeout), to the same URL and with the same
extra headers the backend would send. Its answer decides the next wait:

* 429/503 with ``Retry-After`` (seconds or an HTTP date): wait that long, capped by
  :attr:`~rasteret.io.retry.RetryPolicy.max_delay_s`;
* 2xx: the throttle has lifted, so retry after the small jittered backoff;
* anything else (no answer, a timeout, 429 without ``Retry-After``, 403...): unknown,
  so the loop falls back to :attr:`~rasteret.io.retry.RetryPolicy.throttle_floor_s`.

The probe only works where the request can be reproduced without obstore's signing:

* plain ``http(s)`` URLs, signed ones included (S3 presigned, Planetary Computer or any
  SAS in the query string: the query *is* the credential, so it is sent as is);
* Azure Blob with a SAS in the href, with a :class:`~rasteret.io.signing.SasTokenProvider`
  (its cached token is appended), or anonymous (public container);
* S3 and GCS read anonymously (``CloudConfig(anonymous=True)``), as unsigned HTTPS.

S3 with credentials (SigV4), GCS with a service account (OAuth) and Azure with a shared
key sign every request inside obstore; reproducing that here would mean a second
implementation of each scheme, so those keep the fixed floor. So do local files.

The probe never raises (every failure is "unknown"), never logs a query string, and
counts as one request in the attempt total the caller reports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import quote

from rasteret.io.cloud import CloudConfig
from rasteret.io.retry import THROTTLE_STATUS, ProbeOutcome, parse_retry_after
from rasteret.io.signing import SasToken, SasTokenProvider
from rasteret.io.urls import Location, StoreKind, redact_text, redact_url

__all__ = [
    "PROBE_TIMEOUT_S",
    "ProbeTarget",
    "plan_probe",
    "probe_once",
]

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0
"""Timeout of the probe: it is a hint, so a slow answer is not worth waiting for."""


@dataclass(frozen=True, kw_only=True)
class ProbeTarget:
    """A request that stands in for the throttled one, reproducible without obstore."""

    url: str
    """Full URL, signed query included: a secret, never logged (use :func:`redact_url`)."""
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Extra headers the backend sends too (user agent, default headers, requester pays)."""
    proxy: str | None = None
    """The backend's ``proxy_url``, so the probe leaves through the same proxy."""
    azure_sas: tuple[str, str] | None = None
    """(account, container) whose provider SAS must be appended at probe time."""

    def __repr__(self) -> str:
        return f"ProbeTarget(url={redact_url(self.url)!r}, headers={sorted(self.headers)!r})"


def plan_probe(
    url: str,
    location: Location,
    *,
    config: CloudConfig,
    client_options: Mapping[str, object],
    azure_credentials: bool,
    has_sas_provider: bool,
) -> ProbeTarget | None:
    """Where to probe for ``url`` (already rewritten and located), or None if nowhere.

    Pure: no I/O, so the routing rules are tested without servers. None means the
    store signs its requests in a way this module does not reproduce (see the module
    docstring), and the retry loop keeps its fixed floor.

    Args:
        url: The URL after :meth:`CloudConfig.rewrite` (the one obstore reads).
        location: ``locate(url)``.
        config: The backend's cloud config (anonymous, requester pays, endpoints).
        client_options: The backend's obstore client options (user agent, default
            headers, proxy).
        azure_credentials: Whether obstore would sign Azure requests itself (an
            account key or OAuth credentials, given or in the environment).
        has_sas_provider: Whether the backend signs Azure reads with a SAS provider.
    """
    key = location.store
    headers = _base_headers(client_options)
    proxy = client_options.get("proxy_url")
    azure_sas: tuple[str, str] | None = None
    if key.kind is StoreKind.HTTP:
        target: str | None = url.split("#", 1)[0]
    elif key.kind is StoreKind.AZURE:
        target, azure_sas = _azure_target(
            location, config, azure_credentials=azure_credentials, has_sas_provider=has_sas_provider
        )
    elif config.anonymous and key.kind in (StoreKind.S3, StoreKind.GCS):
        target = _unsigned_bucket_target(location, config)
        if key.kind is StoreKind.S3 and config.requester_pays:
            headers["x-amz-request-payer"] = "requester"
    else:
        # S3 with SigV4 or GCS with OAuth (explicit or environment credentials): obstore
        # signs each request. Local files are never throttled.
        target = None
    if target is None or not target.startswith(("http://", "https://")):
        return None
    return ProbeTarget(
        url=target,
        headers=MappingProxyType(headers),
        proxy=proxy if isinstance(proxy, str) and proxy else None,
        azure_sas=azure_sas,
    )


def _azure_target(
    location: Location, config: CloudConfig, *, azure_credentials: bool, has_sas_provider: bool
) -> tuple[str | None, tuple[str, str] | None]:
    """The blob's HTTPS URL and, when a provider signs it, whose SAS to append.

    Checked in the backend's order: the href's own SAS, the provider, a signer.
    """
    key = location.store
    if not key.account:
        return None, None
    if key.endpoint:
        base = f"{key.endpoint}/{quote(key.account)}"
    else:
        base = f"https://{key.account}.blob.core.windows.net"
    target = f"{base}/{quote(key.authority)}/{quote(location.path, safe='/~')}"
    if key.query:
        return f"{target}?{key.query}", None
    if has_sas_provider and not config.anonymous:
        return target, (key.account, key.authority)
    if azure_credentials and not config.anonymous:
        return None, None  # shared key or OAuth: obstore signs each request
    return target, None


def _unsigned_bucket_target(location: Location, config: CloudConfig) -> str:
    """Path-style HTTPS URL of an anonymously read S3 or GCS object."""
    bucket = quote(location.store.authority)
    path = quote(location.path, safe="/~")
    if location.store.kind is StoreKind.GCS:
        return f"https://storage.googleapis.com/{bucket}/{path}"
    if config.endpoint:
        return f"{config.endpoint.rstrip('/')}/{bucket}/{path}"
    region = (
        config.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    return f"https://s3.{region}.amazonaws.com/{bucket}/{path}"


async def probe_once(
    target: ProbeTarget,
    *,
    sas_provider: SasTokenProvider | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> ProbeOutcome:
    """Make the probe request and report what it says. Never raises.

    The request runs in a worker thread (the standard library blocks), so the event
    loop keeps serving other reads while one object is throttled.
    """
    url = target.url
    try:
        if target.azure_sas is not None:
            if sas_provider is None:
                return ProbeOutcome()
            token = await sas_provider(*target.azure_sas)
            if not isinstance(token, SasToken):
                return ProbeOutcome()
            url = f"{url}?{token.token}"
        return await asyncio.to_thread(_request, url, target, timeout_s)
    except asyncio.CancelledError:
        raise
    except Exception as err:  # noqa: BLE001 - a hint that failed is "unknown", never an error
        logger.debug(
            "throttle probe of %s failed before a request: %s",
            redact_url(url),
            redact_text(f"{type(err).__name__}: {err}"),
        )
        return ProbeOutcome()


def _request(url: str, target: ProbeTarget, timeout_s: float) -> ProbeOutcome:
    """The blocking probe: GET one byte, read the status and ``Retry-After``."""
    headers = {**target.headers, "Range": "bytes=0-0"}
    request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310
    proxies = {"http": target.proxy, "https": target.proxy} if target.proxy else {}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read(1)
            status = int(response.status)
            retry_after = response.headers.get("Retry-After")
    except urllib.error.HTTPError as err:
        status = int(err.code)
        retry_after = err.headers.get("Retry-After") if err.headers is not None else None
        err.close()
    except Exception as err:  # noqa: BLE001 - timeouts, refusals, TLS: no answer
        logger.debug(
            "throttle probe of %s got no answer: %s",
            redact_url(url),
            redact_text(f"{type(err).__name__}: {err}"),
        )
        return ProbeOutcome(requests=1)
    wait = parse_retry_after(retry_after) if status in THROTTLE_STATUS else None
    logger.debug(
        "throttle probe of %s: status %s, Retry-After %r", redact_url(url), status, retry_after
    )
    return ProbeOutcome(status=status, retry_after_s=wait, requests=1)


def _base_headers(client_options: Mapping[str, object]) -> dict[str, str]:
    """User agent and default headers, as obstore sends them with every request."""
    headers: dict[str, str] = {}
    defaults = client_options.get("default_headers")
    if isinstance(defaults, Mapping):
        for name, value in defaults.items():
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            headers[str(name)] = text
    agent = client_options.get("user_agent")
    if isinstance(agent, str) and agent:
        headers["User-Agent"] = agent
    return headers
