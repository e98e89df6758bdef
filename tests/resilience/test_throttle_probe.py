"""Retry-After through obstore: the throttle probe asks the server how long to wait.

obstore hides the headers of a 429, so after it gives up the backend sends one
``Range: bytes=0-0`` GET of its own (:mod:`rasteret.io.throttle`) and waits what that
answer's ``Retry-After`` says. The proxy throttles every ``.tif`` request for a short
window; the probe lands inside it, so the read must wait the server's delay (measured
on the proxy's clock, between the first probe and the first request let through) and
then return the clean pixels.

======================================  ==========================================
throttle (429 for ~1.5 s)               outcome
======================================  ==========================================
Retry-After: 2                          clean pixels; first success >= probe + 2 s
Retry-After: <HTTP date ~3 s ahead>     clean pixels; first success >= probe + 1.4 s
Retry-After: 86400, max_delay_s=1.5     clean pixels; waited the cap, not a day
always, probe to a dead host            FetchError 429, probes counted, no secrets
======================================  ==========================================
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from resilience_helpers import (
    OBSTORE_RETRIES,
    POLICY,
    build_red,
    make_backend,
    read_red,
)

import rasteret
from rasteret.errors import FetchError
from rasteret.io.retry import RetryPolicy
from rasteret.io.throttle import ProbeTarget
from rasteret_sandbox.servers import Fault, FaultProxy
from rasteret_sandbox.servers._process import free_port

TIF = r"\.tif"
PROBE_RANGE = "bytes=0-0"
WINDOW_S = 1.5
"""How long the proxy throttles: past obstore's own retries, before the server's delay ends."""
PATIENT = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=10.0, throttle_floor_s=0.05)
"""A floor far below every Retry-After here, so only the probe can explain a long wait."""


@dataclass(frozen=True)
class Clean:
    """A fault-free build and read of the proxied catalog."""

    collection: rasteret.Collection
    aoi: tuple[float, float, float, float]
    pixels: np.ndarray
    href: str


@pytest.fixture(scope="module")
def clean(
    proxied_catalog: Path,
    _fault_proxy_session: FaultProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Clean:
    _fault_proxy_session.clear()
    backend = make_backend()
    coll = build_red(
        proxied_catalog,
        tmp_path_factory.mktemp("throttle"),
        name="throttle",
        backend=backend,
        force=True,
    )
    minx, miny, maxx, maxy = next(iter(coll)).geometry.bounds
    w, h = maxx - minx, maxy - miny
    aoi = (minx + 0.3 * w, miny + 0.3 * h, minx + 0.6 * w, miny + 0.5 * h)
    pixels = read_red(coll, aoi, backend)
    assert pixels.size and np.any(pixels)
    first = sorted(p for p in proxied_catalog.parent.glob("*.json") if p != proxied_catalog)[0]
    item = json.loads(first.read_text())
    return Clean(coll, aoi, pixels, item["assets"]["red"]["href"])


def _throttle(proxy: FaultProxy, retry_after: float | str) -> None:
    proxy.set_faults(
        [
            Fault(
                kind="status",
                status=429,
                retry_after=retry_after,
                path=TIF,
                times=None,
                window_s=WINDOW_S,
            )
        ]
    )


def _waited(proxy: FaultProxy) -> float:
    """Seconds (proxy clock) from the first probe to the first .tif request let through."""
    log = proxy.requests(".tif")
    probes = [e["time"] for e in log if e["range"] == PROBE_RANGE]
    passed = [e["time"] for e in log if e["fault"] is None]
    assert probes, f"no probe reached the proxy: {log}"
    assert passed, f"nothing got through: {log}"
    assert all(p >= probes[0] for p in passed), "a request got through before the probe"
    return float(min(passed) - probes[0])


def test_retry_after_seconds_is_waited(clean: Clean, fault_proxy: FaultProxy) -> None:
    _throttle(fault_proxy, 2)
    started = time.perf_counter()
    pixels = read_red(clean.collection, clean.aoi, make_backend(retry_policy=PATIENT))
    assert time.perf_counter() - started >= 2.0
    np.testing.assert_array_equal(pixels, clean.pixels)
    assert _waited(fault_proxy) >= 2.0


def test_retry_after_http_date_is_waited(clean: Clean, fault_proxy: FaultProxy) -> None:
    # An HTTP date has whole seconds: 3 s ahead is 2 to 3 s ahead, less the time to the probe.
    _throttle(fault_proxy, email.utils.formatdate(time.time() + 3, usegmt=True))
    pixels = read_red(clean.collection, clean.aoi, make_backend(retry_policy=PATIENT))
    np.testing.assert_array_equal(pixels, clean.pixels)
    assert _waited(fault_proxy) >= 1.4


def test_huge_retry_after_is_capped(clean: Clean, fault_proxy: FaultProxy) -> None:
    _throttle(fault_proxy, 86400)
    capped = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=1.6, throttle_floor_s=0.05)
    started = time.perf_counter()
    pixels = read_red(clean.collection, clean.aoi, make_backend(retry_policy=capped))
    assert time.perf_counter() - started < 6.0
    np.testing.assert_array_equal(pixels, clean.pixels)
    assert 1.5 <= _waited(fault_proxy) < 4.0


def test_signed_url_is_probed_as_is_and_never_logged(
    clean: Clean, fault_proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sig=t0p-s3cret-token"
    signed = f"{clean.href}?sv=2024&{secret}"
    expected = make_backend().get_range(clean.href, 0, 4096)
    _throttle(fault_proxy, 2)
    caplog.set_level(logging.DEBUG)
    data = make_backend(retry_policy=PATIENT).get_range(signed, 0, 4096)
    assert data == expected
    probes = [e for e in fault_proxy.requests(".tif") if e["range"] == PROBE_RANGE]
    assert probes and all(secret in e["uri"] for e in probes)  # the query is the credential
    assert _waited(fault_proxy) >= 2.0
    assert "throttle probe" in caplog.text  # the probe did log, without the query
    assert "t0p-s3cret" not in caplog.text


def test_probe_to_dead_host_keeps_error_reporting(
    clean: Clean, fault_proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    fault_proxy.set_faults([Fault(kind="status", status=429, path=TIF, times=None)])
    backend = make_backend()
    dead = ProbeTarget(url=f"http://127.0.0.1:{free_port()}/x.tif?sig=d34d-s3cret")

    def dead_target(_: str) -> ProbeTarget:
        return dead

    backend._probe_target = dead_target  # type: ignore[method-assign]
    caplog.set_level(logging.DEBUG)
    started = time.perf_counter()
    with pytest.raises(FetchError) as info:
        backend.get_range(clean.href, 0, 4096)
    assert time.perf_counter() - started < 5.0
    err = info.value
    # every obstore request, plus one probe before each outer retry
    assert err.attempts == (OBSTORE_RETRIES + 1) * POLICY.attempts + POLICY.attempts - 1
    assert err.status == 429 and err.url == clean.href and (err.start, err.end) == (0, 4096)
    assert "d34d-s3cret" not in str(err) and "d34d-s3cret" not in caplog.text
    assert "got no answer" in caplog.text
