"""Reads through S3 (moto, via obstore) and local paths equal the same reads over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rasteret
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.servers import NginxServer, StacApiServer

NAIP_PARAMS: dict[str, Any] = {
    "collection": "naip-sample",
    "data_source": "pc/naip",
    "bbox": cat.SF_BBOX,
    "date_range": ("2024-01-01", "2024-12-31"),
}


@pytest.fixture(scope="module")
def naip_http(stac_api: StacApiServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return rasteret.build_from_stac(
        name="naip-http",
        stac_api=stac_api.url,
        workspace_dir=tmp_path_factory.mktemp("ws"),
        **NAIP_PARAMS,
    )


def _aoi(coll: rasteret.Collection) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = next(iter(coll)).geometry.bounds
    w, h = maxx - minx, maxy - miny
    return (minx + 0.3 * w, miny + 0.3 * h, minx + 0.6 * w, miny + 0.5 * h)


def test_s3_reads_equal_http_reads(
    naip_http: rasteret.Collection,
    naip_s3: Any,
    stac_api: StacApiServer,
    nginx: NginxServer,
    tmp_path: Path,
) -> None:
    config = naip_s3.config
    backend = rasteret.create_backend(cloud_config=config, credentials=naip_s3.credentials)
    via_s3 = rasteret.build_from_stac(
        name="naip-s3",
        stac_api=stac_api.url,
        workspace_dir=tmp_path,
        cloud_config=config,
        backend=backend,
        **NAIP_PARAMS,
    )
    aoi = _aoi(naip_http)
    nginx.clear_log()
    s3_result = via_s3.get_numpy(aoi, ["R", "G", "B", "N"], backend=backend)
    assert not [r for r in nginx.requests() if r.path.endswith(".tif")]  # all from S3
    http_result = naip_http.get_numpy(aoi, ["R", "G", "B", "N"])
    assert not isinstance(s3_result, list) and not isinstance(http_result, list)
    assert s3_result.data.dtype == np.uint8
    np.testing.assert_array_equal(s3_result.data, http_result.data)
    assert s3_result.ids == http_result.ids


def test_local_file_reads_equal_http_reads(
    naip_http: rasteret.Collection,
    stac_api: StacApiServer,
    nginx: NginxServer,
    sample_root: Path,
    tmp_path: Path,
) -> None:
    config = rasteret.CloudConfig(url_rewrites=((f"{nginx.url}/", f"{sample_root}/"),))
    local = rasteret.build_from_stac(
        name="naip-local",
        stac_api=stac_api.url,
        workspace_dir=tmp_path,
        cloud_config=config,
        **NAIP_PARAMS,
    )
    aoi = _aoi(naip_http)
    nginx.clear_log()
    got = local.get_numpy(aoi, ["R", "N"])
    assert not [r for r in nginx.requests() if r.path.endswith(".tif")]
    want = naip_http.get_numpy(aoi, ["R", "N"])
    assert not isinstance(got, list) and not isinstance(want, list)
    np.testing.assert_array_equal(got.data, want.data)
