"""STAC API faults mid-pagination: retried when transient, StacSearchError (and no index) when not.

The real stac-fastapi-pgstac sits behind a :class:`FaultProxy`; the proxy forwards the
``Host`` header, so the API's ``next`` links point back at the proxy and later pages can
fail too. Pages are 5 items, so the 15 Sentinel-2 items take 3 pages.

====================================  ==============================================
fault on /search                      outcome
====================================  ==============================================
503 on page 2, twice                  every item, once (urllib3 retry)
429 + Retry-After: 1 on page 3        every item, waited >= 1 s
page 2 stalls past the read timeout   every item (read timeout retried)
500 on page 2, always                 StacSearchError naming the URL and HTTP 500
build, /search always 404 or 503      StacSearchError; no index; old index intact
====================================  ==============================================
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

import rasteret
from rasteret.errors import StacSearchError
from rasteret.stac import search_items
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import Fault, FaultProxy

pytestmark = pytest.mark.stac_api

COLLECTION = "sentinel-2-l2a"
SEARCH = r"/search"
PAGE = 5


def _search(stac_proxy: FaultProxy) -> list[str]:
    items = search_items(
        stac_api=stac_proxy.url, collection=COLLECTION, limit_per_page=PAGE, timeout=(2.0, 1.0)
    )
    return [item["id"] for item in items]


@pytest.fixture(scope="module")
def all_ids(stac_proxy_session: FaultProxy, sample_catalog: SampleCatalog) -> list[str]:
    stac_proxy_session.clear()
    ids = _search(stac_proxy_session)
    assert sorted(ids) == sorted(i["id"] for i in sample_catalog.items[COLLECTION])
    pages = stac_proxy_session.requests("/search")
    assert len(pages) >= 3, pages  # really paginated, through the proxy
    return ids


def _faulted(stac_proxy: FaultProxy) -> list[dict[str, object]]:
    return [e for e in stac_proxy.requests("/search") if e["fault"] is not None]


def test_5xx_mid_pagination_is_retried(stac_proxy: FaultProxy, all_ids: list[str]) -> None:
    stac_proxy.set_faults([Fault(kind="status", status=503, path=SEARCH, skip=1, times=2)])
    assert _search(stac_proxy) == all_ids
    assert len(_faulted(stac_proxy)) == 2


def test_429_retry_after_is_honoured(stac_proxy: FaultProxy, all_ids: list[str]) -> None:
    stac_proxy.set_faults(
        [Fault(kind="status", status=429, retry_after=1, path=SEARCH, skip=2, times=1)]
    )
    started = time.perf_counter()
    assert _search(stac_proxy) == all_ids
    assert time.perf_counter() - started >= 1.0
    assert len(_faulted(stac_proxy)) == 1


def test_timeout_mid_pagination_is_retried(stac_proxy: FaultProxy, all_ids: list[str]) -> None:
    stac_proxy.set_faults([Fault(kind="stall", delay_s=2.5, path=SEARCH, skip=1, times=1)])
    assert _search(stac_proxy) == all_ids
    assert len(_faulted(stac_proxy)) == 1


def test_page_that_keeps_failing_raises(stac_proxy: FaultProxy, all_ids: list[str]) -> None:
    stac_proxy.set_faults([Fault(kind="status", status=500, path=SEARCH, skip=1, times=None)])
    with pytest.raises(StacSearchError, match="HTTP 500") as info:
        _search(stac_proxy)
    assert stac_proxy.url in str(info.value)
    assert len(_faulted(stac_proxy)) >= 2  # retried before giving up


def test_failed_search_writes_no_index_and_keeps_the_old_one(
    stac_proxy: FaultProxy, tmp_path: Path
) -> None:
    params = {
        "stac_api": stac_proxy.url,
        "collection": COLLECTION,
        "band_map": {"red": "red"},
        "workspace_dir": tmp_path,
    }
    stac_proxy.set_faults([Fault(kind="status", status=404, path=SEARCH, times=None)])
    with pytest.raises(StacSearchError):
        rasteret.build_from_stac(name="never", **params)  # type: ignore[arg-type]
    assert not (tmp_path / "never").exists()

    stac_proxy.clear()
    built = rasteret.build_from_stac(name="kept", **params)  # type: ignore[arg-type]
    before = built.to_table()
    stac_proxy.set_faults([Fault(kind="status", status=503, path=SEARCH, times=None)])
    with pytest.raises(StacSearchError):
        rasteret.build_from_stac(name="kept", force=True, **params)  # type: ignore[arg-type]
    after = rasteret.load("kept", workspace_dir=tmp_path)
    assert after.to_table().equals(before)
    assert {p.name for p in (tmp_path / "kept").iterdir()} <= {".lock", "index.parquet"}


SECRET = "s3cr3t-t0ken-value"


def test_retry_warnings_never_log_query_strings(
    stac_proxy: FaultProxy, all_ids: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    # A STAC API URL with a key in its query (as some providers hand out), and the
    # first request carrying it cut off, so urllib3 warns that it retries that URL.
    stac_proxy.set_faults([Fault(kind="reset", path=SECRET, times=1)])
    caplog.set_level(logging.DEBUG)
    items = search_items(
        stac_api=f"{stac_proxy.url}/?api_key={SECRET}",
        collection=COLLECTION,
        limit_per_page=PAGE,
        timeout=(2.0, 1.0),
    )
    assert [item["id"] for item in items] == all_ids
    assert [e["fault"] for e in stac_proxy.requests(SECRET)] == ["reset", None]  # really retried
    retried = [r for r in caplog.records if "Retrying" in r.getMessage()]
    assert retried, "urllib3 logged no retry warning: the test tests nothing"
    assert all(r.levelno == logging.WARNING for r in retried)
    assert any("?<redacted>" in r.getMessage() for r in retried)
    leaked = [r.getMessage() for r in caplog.records if SECRET in r.getMessage()]
    assert not leaked
    assert SECRET not in caplog.text
