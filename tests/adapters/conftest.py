"""Fixtures shared by the adapter tests."""

from __future__ import annotations

import pytest

import rasteret
from rasteret_sandbox.catalog import JAN_MAR, SF_BBOX, SampleCatalog


@pytest.fixture(scope="session")
def s2(
    sample_catalog: SampleCatalog, tmp_path_factory: pytest.TempPathFactory
) -> rasteret.Collection:
    """Sentinel-2 B04/B08 over San Francisco, January to March (static catalog, read-only)."""
    return rasteret.build_from_stac(
        name="s2-adapters",
        stac_api=str(sample_catalog.static_catalog),
        collection="sentinel-2-l2a",
        static_catalog=True,
        band_map={"B04": "B04", "B08": "B08"},
        bbox=SF_BBOX,
        date_range=JAN_MAR,
        workspace_dir=tmp_path_factory.mktemp("ws-adapters"),
    )
