"""The retries obstore does not make: short bodies, cut-off streams, throttling.

obstore 0.12.1 already retries, with exponential backoff and jitter, every request
that fails with a 5xx, a 429, a connection error, a reset, or a timeout, and it
resumes a body cut off mid-stream (measured with
:class:`rasteret_sandbox.servers.fault_proxy.FaultProxy`). Three gaps remain, and
this module closes them for :class:`~rasteret.io.backend.ObstoreBackend`:

* **Short bodies.** A response whose ``Content-Length`` is smaller than the range
  asked for is a complete HTTP message, so obstore returns the short bytes as if they
  were the tile. Decoding them would give garbage pixels (or, worse, plausible ones).
  The backend compares what arrived with ``min(end, size) - start`` and retries.
* **Cut-off streams that keep failing.** When every retry of a body read is cut off,
  obstore gives up after the first stream error, reporting no attempt count.
* **Throttling.** obstore retries a 429 or 503 after its usual 100 ms backoff, and its
  errors carry no response headers, so ``Retry-After`` cannot be read through it.
  Once obstore gives up on a throttling status, this loop asks a
  :data:`ThrottleProbe` (one cheap request outside obstore, see
  :mod:`rasteret.io.throttle`) what the server says now: a ``Retry-After`` is waited
  (capped by :attr:`RetryPolicy.max_delay_s`), a 2xx means retry after the short
  jittered backoff, and anything else, or no probe (stores whose request signing
  only obstore can do: S3 with credentials, GCS, Azure shared key), falls back to
  waiting at least :attr:`RetryPolicy.throttle_floor_s`. The probe's request counts
  in the attempts reported.

Every other failure (404, 403, a server that ignores Range) is final at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from rasteret.errors import FetchError, InvalidInputError

__all__ = [
    "THROTTLE_STATUS",
    "ProbeOutcome",
    "RetryPolicy",
    "ThrottleProbe",
    "TransientFetchError",
    "backoff_delay",
    "check_body_length",
    "parse_retry_after",
    "retry_async",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

THROTTLE_STATUS = frozenset({429, 503})
"""Statuses that mean "slow down": worth a longer wait than obstore's own backoff."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How the outer retry loop (on top of obstore's own retries) waits and gives up."""

    attempts: int = 4
    """Outer attempts per request, the first included (each may hide obstore retries)."""
    base_delay_s: float = 0.2
    """Backoff before the second outer attempt; doubles each time."""
    max_delay_s: float = 20.0
    """Upper bound of a single wait (a longer ``Retry-After`` is capped to it)."""
    throttle_floor_s: float = 1.0
    """Least wait after a 429/503 that obstore already retried (a typical Retry-After)."""

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise InvalidInputError("attempts", self.attempts, "must be an integer >= 1")
        if self.attempts < 1:
            raise InvalidInputError("attempts", self.attempts, "must be an integer >= 1")
        for name in ("base_delay_s", "max_delay_s", "throttle_floor_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(name, value, "must be a number >= 0")


@dataclass(frozen=True, kw_only=True)
class ProbeOutcome:
    """What one throttle probe learned: the interface between this loop and its probe."""

    status: int | None = None
    """HTTP status of the probe's answer; None when none came (timeout, refused, no probe)."""
    retry_after_s: float | None = None
    """Seconds the server asked to wait (a throttling answer with ``Retry-After`` only)."""
    requests: int = 0
    """Requests the probe made (0 or 1), added to the attempt count of the read."""

    @property
    def verdict(self) -> Literal["wait", "clear", "unknown"]:
        """``wait`` (the server named a delay), ``clear`` (2xx) or ``unknown``."""
        if self.status in THROTTLE_STATUS and self.retry_after_s is not None:
            return "wait"
        if self.status is not None and 200 <= self.status < 300:
            return "clear"
        return "unknown"


ThrottleProbe = Callable[[], Awaitable[ProbeOutcome]]
"""Called by :func:`retry_async` after obstore gave up on a 429/503; must never raise."""


class TransientFetchError(Exception):
    """Raised by a fetch attempt that may succeed if tried again.

    Carries the :class:`FetchError` to report if no attempt succeeds, and the wait the
    server asked for (``Retry-After``), when known.
    """

    def __init__(self, error: FetchError, *, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns None for a missing or unparseable value, never a negative number.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_delay(
    attempt: int,
    policy: RetryPolicy,
    *,
    status: int | None = None,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before outer attempt ``attempt + 1`` (``attempt`` >= 1 failed).

    Exponential with "equal jitter" (half fixed, half random), so synchronized clients
    spread out but never retry immediately. A throttling status raises the wait to the
    floor; a known ``Retry-After`` raises it to that value; both capped at the maximum.
    Pass ``status=None`` for a throttle known to have lifted (the probe got a 2xx).
    """
    cap = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
    draw = (rng or random).uniform(0.0, cap / 2)
    delay = cap / 2 + draw
    if status in THROTTLE_STATUS:
        delay = max(delay, policy.throttle_floor_s + draw)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return float(min(delay, max(policy.max_delay_s, policy.throttle_floor_s)))


def check_body_length(
    data: bytes | memoryview, *, url: str, start: int, end: int, size: int, status: int | None
) -> None:
    """Raise :class:`TransientFetchError` when a range body is not exactly as long as asked.

    ``size`` is the object size the same response reported, so a range that runs past
    the end legitimately comes back shorter: only ``min(end, size) - start`` bytes are due.
    """
    due = max(0, min(end, size) - start)
    if len(data) == due:
        return
    what = "short body" if len(data) < due else "over-long body"
    raise TransientFetchError(
        FetchError(
            f"{what}: got {len(data)} of {due} bytes (Content-Length disagrees with the range)",
            url=url,
            start=start,
            end=end,
            status=status,
        )
    )


async def retry_async(
    attempt_once: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    probe: ThrottleProbe | None = None,
) -> T:
    """Call ``attempt_once`` until it succeeds, retrying :class:`TransientFetchError`.

    ``probe``, when given, is asked once per throttled failure that will be retried
    (and whose error carries no ``Retry-After`` of its own), so the wait follows what
    the server says instead of a guess.

    Raises:
        FetchError: The last attempt's error, its ``attempts`` the total number of
            requests made (obstore's own retries included).
    """
    spent = 0
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_once()
        except TransientFetchError as transient:
            err = transient.error
            spent += err.attempts
            if attempt >= policy.attempts:
                raise err.with_attempts(spent) from transient
            status, retry_after = err.status, transient.retry_after_s
            if probe is not None and status in THROTTLE_STATUS and retry_after is None:
                outcome = await probe()
                spent += outcome.requests
                if outcome.verdict == "wait":
                    retry_after = outcome.retry_after_s
                elif outcome.verdict == "clear":
                    status = None  # the throttle lifted: the short backoff is enough
            delay = backoff_delay(attempt, policy, status=status, retry_after_s=retry_after)
            logger.info("retrying %s in %.2f s after: %s", err.url, delay, err.reason)
            await sleep(delay)
        except FetchError as err:
            if spent:
                raise err.with_attempts(spent + err.attempts) from err
            raise
