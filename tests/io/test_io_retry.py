"""The outer retry loop: backoff bounds, Retry-After parsing, body-length checks, attempt counts."""

from __future__ import annotations

import asyncio
import email.utils
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasteret.errors import FetchError, InvalidInputError
from rasteret.io.retry import (
    RetryPolicy,
    TransientFetchError,
    backoff_delay,
    check_body_length,
    parse_retry_after,
    retry_async,
)


def test_parse_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(7.0)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0


@given(
    attempt=st.integers(1, 30),
    status=st.sampled_from([None, 500, 429, 503]),
    retry_after=st.one_of(st.none(), st.floats(0, 100)),
    seed=st.integers(0, 2**32 - 1),
)
def test_backoff_is_bounded_and_honours_retry_after(
    attempt: int, status: int | None, retry_after: float | None, seed: int
) -> None:
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=5.0, throttle_floor_s=1.0)
    delay = backoff_delay(
        attempt, policy, status=status, retry_after_s=retry_after, rng=random.Random(seed)
    )
    cap = min(5.0, 0.1 * 2 ** (attempt - 1))
    assert cap / 2 <= delay <= 5.0
    if status in (429, 503):
        assert delay >= 1.0
    if retry_after is not None:
        assert delay >= min(retry_after, 5.0)


def test_body_length_check() -> None:
    check_body_length(b"x" * 10, url="u", start=0, end=10, size=100, status=206)
    check_body_length(b"x" * 5, url="u", start=95, end=110, size=100, status=206)  # at EOF
    with pytest.raises(TransientFetchError) as info:
        check_body_length(b"x" * 5, url="u", start=0, end=10, size=100, status=206)
    assert "short body: got 5 of 10" in str(info.value.error)
    with pytest.raises(TransientFetchError, match="over-long"):
        check_body_length(b"x" * 11, url="u", start=0, end=10, size=100, status=206)


def _run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_retry_counts_every_attempt_and_gives_up() -> None:
    calls = 0
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def always_short() -> bytes:
        nonlocal calls
        calls += 1
        raise TransientFetchError(FetchError("short body", url="u", start=0, end=9, attempts=3))

    policy = RetryPolicy(attempts=4, base_delay_s=0.01)
    with pytest.raises(FetchError) as info:
        _run(retry_async(always_short, policy=policy, sleep=sleep))
    assert calls == 4 and len(waits) == 3
    assert info.value.attempts == 12  # 4 outer x 3 obstore requests
    assert info.value.start == 0 and info.value.end == 9


def test_retry_succeeds_after_transient_and_stops_at_final_errors() -> None:
    outcomes: list[Exception | bytes] = [
        TransientFetchError(FetchError("cut", url="u")),
        b"ok",
    ]

    async def sleep(_: float) -> None:
        return None

    async def flaky() -> bytes:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert _run(retry_async(flaky, policy=RetryPolicy(), sleep=sleep)) == b"ok"

    async def not_found() -> bytes:
        raise FetchError("object not found", url="u", status=404)

    with pytest.raises(FetchError) as info:
        _run(retry_async(not_found, policy=RetryPolicy(), sleep=sleep))
    assert info.value.attempts == 1


def test_policy_validation() -> None:
    with pytest.raises(InvalidInputError):
        RetryPolicy(attempts=0)
    with pytest.raises(InvalidInputError):
        RetryPolicy(base_delay_s=-1)
