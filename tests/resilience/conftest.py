"""Fixtures for the resilience tests: a fault-injecting proxy in front of nginx.

Fixtures:
    fault_proxy: :class:`FaultProxy` in front of the session's nginx (one process per
        session), with every rule cleared before each test.
    proxied_catalog: a static collection of two Sentinel-2 items whose hrefs point at
        the proxy, so both builds and reads go through it.
    fast_backend: a factory of :class:`ObstoreBackend` with a 1 s client timeout and
        short backoffs, so a faulty run costs well under a second per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from resilience_helpers import make_backend, write_proxied_catalog

from rasteret.io import ObstoreBackend
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import FaultProxy, NginxServer


@pytest.fixture(scope="session")
def _fault_proxy_session(nginx: NginxServer) -> Iterator[FaultProxy]:
    with FaultProxy(nginx.url) as proxy:
        yield proxy


@pytest.fixture
def fault_proxy(_fault_proxy_session: FaultProxy) -> FaultProxy:
    """The proxy with no rules, no latency and an empty request log."""
    _fault_proxy_session.clear()
    return _fault_proxy_session


@pytest.fixture
def fast_backend() -> Callable[..., ObstoreBackend]:
    """:func:`make_backend` as a fixture."""
    return make_backend


@pytest.fixture(scope="session")
def proxied_catalog(
    tmp_path_factory: pytest.TempPathFactory,
    sample_catalog: SampleCatalog,
    nginx: NginxServer,
    _fault_proxy_session: FaultProxy,
) -> Path:
    """Two Sentinel-2 items whose asset hrefs go through the fault proxy."""
    return write_proxied_catalog(
        tmp_path_factory.mktemp("proxied-catalog"),
        sample_catalog,
        nginx.url,
        _fault_proxy_session.url,
    )
