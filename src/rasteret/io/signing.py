"""Signing Azure Blob reads at fetch time, so the index only ever holds unsigned hrefs.

Planetary Computer (and services like it) hand out short-lived, per-container SAS
tokens. Baking a token into an href would put a credential in the index and make the
index stop working when the token expires. Instead the backend asks a
:class:`SasTokenProvider` for a token when it first reads from a container, and again
only after that token expires; obstore keeps the token for the store in between.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rasteret.errors import FetchError, InvalidInputError
from rasteret.io.urls import redact_url

if TYPE_CHECKING:
    from obstore.store import AzureSASToken

__all__ = ["PlanetaryComputerSas", "SasToken", "SasTokenProvider"]

logger = logging.getLogger(__name__)

PLANETARY_COMPUTER_TOKEN_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token"  # noqa: S105
"""Planetary Computer's SAS endpoint: ``GET {url}/{account}/{container}``."""

_MAX_MARGIN = timedelta(minutes=5)
"""A token is renewed at most this long before it expires (never used up to the last second)."""


@dataclass(frozen=True, kw_only=True)
class SasToken:
    """A shared access signature for one container, and when it stops working."""

    token: str
    """The SAS query string, without a leading ``?`` (``sv=...&sig=...``)."""
    expires_at: datetime | None = None
    """Timezone-aware expiry; None means it never expires (it is then asked for once)."""


@runtime_checkable
class SasTokenProvider(Protocol):
    """Something that hands out a SAS token for an Azure storage account and container.

    Called on the backend's event loop when a container is first read and again after
    its token expires, never per request. Pass one to
    :func:`rasteret.io.backend.create_backend` ``sas_provider=``.
    """

    async def __call__(self, account: str, container: str) -> SasToken:
        """Return a token that lets this reader GET blobs in ``account``/``container``."""
        ...


class PlanetaryComputerSas:
    """:class:`SasTokenProvider` for Planetary Computer-style token endpoints.

    ``GET {token_url}/{account}/{container}`` answers ``{"token": "...", "msft:expiry":
    "2024-01-01T00:00:00Z"}``. Tokens are cached per container until shortly before
    they expire, and concurrent first reads of a container share one request, so the
    endpoint (which rate-limits) is asked once per container per expiry.

    Args:
        token_url: The endpoint; Planetary Computer's public one by default.
        subscription_key: Sent as ``Ocp-Apim-Subscription-Key`` when given (higher
            rate limits on Planetary Computer). Never logged.
        timeout_s: Timeout of one token request.
    """

    def __init__(
        self,
        token_url: str = PLANETARY_COMPUTER_TOKEN_URL,
        *,
        subscription_key: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if not isinstance(token_url, str) or not token_url.startswith(("http://", "https://")):
            raise InvalidInputError("token_url", token_url, "must be an http(s) URL")
        self.token_url = token_url.rstrip("/")
        self._subscription_key = subscription_key
        self._timeout_s = timeout_s
        self._tokens: dict[tuple[str, str], SasToken] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __repr__(self) -> str:
        return f"PlanetaryComputerSas(token_url={self.token_url!r})"

    async def __call__(self, account: str, container: str) -> SasToken:
        """Return a cached, still-fresh token for the container, fetching one if needed."""
        # A thread and a threading lock, not aiohttp and asyncio.Lock: obstore may call
        # this from whichever event loop awaits the read, and neither must be loop-bound.
        return await asyncio.to_thread(self._token, account, container)

    def _token(self, account: str, container: str) -> SasToken:
        key = (account, container)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._tokens.get(key)
            if cached is not None and self._fresh(cached):
                return cached
            token = self._fetch(account, container)
            self._tokens[key] = token
            return token

    def _fresh(self, token: SasToken) -> bool:
        if token.expires_at is None:
            return True
        remaining = token.expires_at - self._clock()
        return remaining > min(_MAX_MARGIN, remaining / 10)

    def _fetch(self, account: str, container: str) -> SasToken:
        url = f"{self.token_url}/{account}/{container}"
        headers = {"Accept": "application/json"}
        if self._subscription_key:
            headers["Ocp-Apim-Subscription-Key"] = self._subscription_key
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) checked)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as resp:  # noqa: S310
                body = json.loads(resp.read())
            token = SasToken(token=str(body["token"]).lstrip("?"), expires_at=_expiry(body))
        except urllib.error.HTTPError as err:
            raise FetchError(
                f"SAS token request failed with HTTP {err.code}",
                url=redact_url(url),
                status=err.code,
            ) from err
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise FetchError(
                f"SAS token request failed: {type(err).__name__}", url=redact_url(url)
            ) from err
        logger.debug("SAS token for %s/%s expires %s", account, container, token.expires_at)
        return token


def _expiry(body: dict[str, object]) -> datetime | None:
    value = body.get("msft:expiry")
    if value is None:
        return None
    expires = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return expires if expires.tzinfo is not None else expires.replace(tzinfo=UTC)


def obstore_credential_provider(
    provider: SasTokenProvider, account: str, container: str
) -> Callable[[], object]:
    """Adapt a :class:`SasTokenProvider` to obstore's ``AzureStore(credential_provider=)``.

    obstore caches the credential for the store until ``expires_at``, so the provider
    is called once per container per expiry.
    """

    async def provide() -> AzureSASToken:
        token = await provider(account, container)
        if not isinstance(token, SasToken):
            raise InvalidInputError(
                "sas_provider", type(token).__name__, "must return a rasteret SasToken"
            )
        return {"sas_token": token.token, "expires_at": token.expires_at}

    return provide
