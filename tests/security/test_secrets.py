"""Signed query strings and credentials never reach the index, manifest, logs, reprs or errors.

Hrefs carry a SAS-style query (``?sig=...&se=...``) that is unique to each test, and
credentials carry a unique secret key; every artefact a user or a log collector could
see is then searched for those strings.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import rasteret
from rasteret import CloudConfig, create_backend
from rasteret.errors import RasteretError
from rasteret.io.sync import run_sync
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import NginxServer, RangeServer

SIG = "S3CRETsig0123456789"
SECRET_KEY = "AKIAsecretKEYvalue987"
SIGNED_QUERY = f"?sv=2024-01-01&se=2030-01-01T00%3A00Z&sp=r&sig={SIG}"

FlatCollection = Callable[[Path, str, Sequence[Mapping[str, Any]]], Path]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signed_items(
    sample_catalog: SampleCatalog, nginx: NginxServer, base: str, *, suffix: str = ""
) -> list[dict[str, Any]]:
    """The static Sentinel-2 items with hrefs moved to ``base`` and signed."""
    items = copy.deepcopy(sample_catalog.static_items)
    for item in items:
        for asset in item["assets"].values():
            href = asset["href"].replace(nginx.url, base)
            if href.endswith(".tif"):
                href = href[: -len(".tif")] + suffix + ".tif"
            asset["href"] = href + SIGNED_QUERY
    return items


def _leaks(text: str) -> list[str]:
    return [s for s in (SIG, SECRET_KEY, "sig=") if s in text]


def _build(path: Path, workspace: Path, **extra: Any) -> rasteret.Collection:
    return rasteret.build_from_stac(
        name="signed",
        stac_api=str(path),
        collection="sentinel-2-l2a",
        data_source="pc/sentinel-2-l2a",
        bbox=cat.SF_BBOX,
        date_range=cat.JAN_MAR,
        workspace_dir=workspace,
        static_catalog=True,
        **extra,
    )


def _all_text(workspace: Path) -> str:
    """Every byte written under the workspace, decoded leniently."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in workspace.rglob("*") if p.is_file())


def test_signed_hrefs_leave_no_trace_in_a_successful_build(
    sample_catalog: SampleCatalog,
    nginx: NginxServer,
    range_server: RangeServer,
    flat_collection: FlatCollection,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    items = _signed_items(sample_catalog, nginx, range_server.url)
    path = flat_collection(tmp_path, "sentinel-2-l2a", items)
    caplog.set_level(logging.DEBUG)
    coll = _build(path, tmp_path / "ws")
    assert len(coll) > 0
    index = tmp_path / "ws" / "signed" / "index.parquet"
    assert _leaks(index.read_bytes().decode("latin-1")) == []
    assert _leaks(_all_text(tmp_path / "ws")) == []
    manifest = pq.read_schema(index).metadata
    assert _leaks(json.dumps({k.decode(): v.decode() for k, v in manifest.items()})) == []
    assert _leaks(repr(coll)) == []
    assert _leaks(caplog.text) == []
    loaded = rasteret.load("signed", workspace_dir=tmp_path / "ws")
    assert _leaks(repr(loaded)) == [] and _leaks(str(loaded.to_table().to_pylist())) == []


@pytest.mark.parametrize("where", ["closed-port", "http-404", "http-500"])
def test_signed_hrefs_leave_no_trace_in_failures(
    where: str,
    sample_catalog: SampleCatalog,
    nginx: NginxServer,
    range_server: RangeServer,
    flat_collection: FlatCollection,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if where == "closed-port":
        items = _signed_items(sample_catalog, nginx, f"http://127.0.0.1:{_closed_port()}")
    elif where == "http-404":
        items = _signed_items(sample_catalog, nginx, range_server.url, suffix=".missing")
    else:
        items = _signed_items(sample_catalog, nginx, range_server.url)
        for item in items:
            for asset in item["assets"].values():
                range_server.fail_paths.add(asset["href"].split("?")[0][len(range_server.url) :])
    path = flat_collection(tmp_path, "sentinel-2-l2a", items)
    caplog.set_level(logging.DEBUG)
    backend = create_backend(max_retries=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RasteretError) as info:
            _build(path, tmp_path / "ws", backend=backend)
    texts = [str(info.value), repr(info.value), caplog.text]
    texts += [str(w.message) for w in caught]
    cause: BaseException | None = info.value
    while cause is not None:  # the chained errors end up in tracebacks too
        texts.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    assert [t[max(0, t.find(SIG) - 400) : t.find(SIG) + 40] for t in texts if _leaks(t)] == []
    assert _leaks(_all_text(tmp_path / "ws")) == []


def test_fetch_errors_redact_signed_urls(range_server: RangeServer) -> None:
    backend = create_backend(max_retries=0)
    for url in (
        f"http://127.0.0.1:{_closed_port()}/x.tif{SIGNED_QUERY}",
        f"{range_server.url}/nope.tif{SIGNED_QUERY}",
        f"http://user:{SECRET_KEY}@127.0.0.1:{_closed_port()}/x.tif",
    ):
        with pytest.raises(rasteret.FetchError) as info:
            run_sync(backend.get_range_async(url, 0, 16))
        assert _leaks(str(info.value)) == [] and _leaks(info.value.url) == []


def test_stac_api_with_a_token_is_redacted(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/stac?token={SIG}"
    with pytest.raises(rasteret.StacSearchError) as info:
        rasteret.build_from_stac(
            name="tok", stac_api=url, collection="c", bbox=cat.SF_BBOX, workspace_dir=tmp_path
        )
    assert _leaks(str(info.value)) == []


def test_credentials_and_secret_options_stay_out_of_reprs_and_manifest(
    moto_s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = CloudConfig(
        endpoint=f"http://user:{SECRET_KEY}@127.0.0.1:9/",
        allow_http=True,
        client_options={"authorization": f"Bearer {SIG}", "timeout": "5s"},
    )
    assert _leaks(json.dumps(config.to_public_dict())) == []
    assert _leaks(repr(config)) == [] and _leaks(str(config)) == []
    bucket = "rasteret-secret-test"
    moto_s3.create_bucket(bucket)
    backend = create_backend(
        cloud_config=CloudConfig(endpoint=moto_s3.endpoint, allow_http=True, region="us-east-1"),
        credentials={"aws_access_key_id": "nobody", "aws_secret_access_key": SECRET_KEY},
        max_retries=0,
    )
    assert _leaks(repr(backend)) == []
    with pytest.raises(RasteretError) as info:
        run_sync(backend.get_range_async(f"s3://{bucket}/missing.tif", 0, 16))
    assert _leaks(str(info.value)) == []
    assert _leaks(caplog.text) == []
