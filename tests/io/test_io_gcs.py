"""GCS: routing and store construction only.

No GCS emulator works with obstore offline here: ``gcp-storage-emulator`` (PyPI) is
reached through a service-account file's ``gcs_base_url`` with ``disable_oauth``, but
its downloads lack ``Last-Modified``, which obstore 0.12.1 requires (``GenericError:
Last-Modified Header missing``); fake-gcs-server is a Go binary outside the registries.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rasteret.io import CloudConfig, create_backend
from rasteret.io.urls import StoreKind, locate


@pytest.mark.parametrize("scheme", ["gs", "gcs"])
def test_gcs_urls_route_to_one_store_per_bucket(scheme: str) -> None:
    loc = locate(f"{scheme}://bucket/a%20b/c.tif")
    assert (loc.store.kind, loc.store.authority, loc.path) == (StoreKind.GCS, "bucket", "a b/c.tif")
    backend = create_backend(cloud_config=CloudConfig(anonymous=True))
    first, _ = backend.resolve(f"{scheme}://bucket/a.tif")
    again, _ = backend.resolve("gs://bucket/b.tif")
    other, _ = backend.resolve("gs://other/a.tif")
    assert type(first).__name__ == "GCSStore"
    assert first is again and other is not first


def test_anonymous_gcs_store_is_unsigned() -> None:
    store: Any = create_backend(cloud_config=CloudConfig(anonymous=True)).resolve("gs://b/k")[0]
    assert str(dict(store.config)["skip_signature"]).lower() == "true"
    key = json.dumps(
        {"client_email": "a@b", "private_key": "", "private_key_id": "", "disable_oauth": True}
    )
    signed: Any = create_backend(credentials={"google_service_account_key": key}).resolve(
        "gs://b/k"
    )[0]
    assert "skip_signature" not in dict(signed.config)
