"""Helpers of the resilience tests (a uniquely named module, imported by conftest and tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import rasteret
from rasteret.io import ObstoreBackend
from rasteret.io.retry import RetryPolicy
from rasteret_sandbox.catalog import SampleCatalog

COLLECTION = "sentinel-2-l2a"
OBSTORE_RETRIES = 2
"""obstore's own retries in the test backend (so each obstore call makes 3 requests)."""
POLICY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.2, throttle_floor_s=0.05)
"""The outer retry loop of the test backend: quick, but the same code as the default."""


def make_backend(**overrides: Any) -> ObstoreBackend:
    """An ObstoreBackend tuned for tests: 1 s timeouts, short backoffs."""
    options: dict[str, Any] = {
        "client_options": {"timeout": "1s", "connect_timeout": "1s"},
        "max_retries": OBSTORE_RETRIES,
        "retry_policy": POLICY,
    }
    options.update(overrides)
    return ObstoreBackend(**options)


def build_red(
    catalog: Path | str, workspace: Path, *, name: str, **options: Any
) -> rasteret.Collection:
    """Index the red band of a proxied static catalog (what the fault and soak tests read)."""
    return rasteret.build_from_stac(
        name=name,
        stac_api=str(catalog),
        collection=COLLECTION,
        band_map={"red": "red"},
        static_catalog=True,
        workspace_dir=workspace,
        **options,
    )


def read_red(
    coll: rasteret.Collection, aoi: tuple[float, ...], backend: ObstoreBackend | None = None
) -> np.ndarray:
    """The red band of one AOI (a single array: one AOI, one band)."""
    result = coll.get_numpy(aoi, "red", backend=backend)
    assert not isinstance(result, list)
    return result.data


def write_proxied_catalog(
    root: Path, sample_catalog: SampleCatalog, nginx_url: str, proxy_url: str, count: int = 2
) -> Path:
    """Write a static collection of ``count`` items with hrefs on the proxy; return its path.

    Pass ``proxy_url=nginx_url`` for a catalog whose hrefs stay on nginx.
    """
    root.mkdir(parents=True, exist_ok=True)
    items = json.loads(json.dumps(sample_catalog.items[COLLECTION][:count]))
    for item in items:
        item["links"] = []
        for asset in item["assets"].values():
            asset["href"] = asset["href"].replace(nginx_url, proxy_url)
        (root / f"{item['id']}.json").write_text(json.dumps(item))
    source = sample_catalog.collections[COLLECTION]
    collection = {key: value for key, value in source.items() if key != "links"}
    collection["links"] = [{"rel": "item", "href": f"./{item['id']}.json"} for item in items]
    path = root / "collection.json"
    path.write_text(json.dumps(collection))
    return path


def build_forever(catalog: str, workspace: str, bands: tuple[str, ...], loops: int) -> None:
    """Rebuild collection ``crash`` ``loops`` times (a child process the tests SIGKILL)."""
    import threading  # noqa: PLC0415

    from tqdm import tqdm  # noqa: PLC0415

    import rasteret  # noqa: PLC0415 (preloaded by the forkserver; kept local for clarity)

    # tqdm's default lock is a multiprocessing semaphore, which a SIGKILL leaks (and the
    # resource tracker then warns about); a thread lock is all one process needs.
    tqdm.set_lock(threading.RLock())
    for _ in range(loops):
        rasteret.build_from_stac(
            name="crash",
            stac_api=catalog,
            collection=COLLECTION,
            band_map={band: band for band in bands},
            static_catalog=True,
            workspace_dir=workspace,
            force=True,
        )
