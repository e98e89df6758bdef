"""A COG that changes after the build fails the read clearly, instead of decoding wrong bytes.

The index records each asset's size, ETag and Last-Modified (from the header's own
response). Every tile response carries them again (Content-Range total, ETag), so the
read engine compares them before decoding, at no extra request. nginx's ETag is
``mtime-size``, so rewriting a file, even with the same size, changes it.

=================================  ==========================================
change after the build             read outcome
=================================  ==========================================
none                               pixels; only GET ranges (no HEAD, no extra)
replaced by another COG (size)     StaleSourceError naming URL, size and ETag
same size, one byte and mtime      StaleSourceError naming URL and ETag
same change, sample_points         StaleSourceError
same change, dask chunks, torch    StaleSourceError
replaced, on_stale="reindex"       the new file's pixels; index patched on disk
=================================  ==========================================
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
from resilience_helpers import COLLECTION

import rasteret
from rasteret.errors import InvalidInputError, RasteretError, StaleSourceError
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import NginxServer


@pytest.fixture
def one_scene(
    sample_catalog: SampleCatalog, sample_root: Path, nginx: NginxServer, tmp_path: Path
) -> tuple[rasteret.Collection, Path, str]:
    """A one-scene collection over a private copy of a B04 COG; returns (coll, file, url)."""
    item = json.loads(json.dumps(sample_catalog.items[COLLECTION][0]))
    source = sample_root / item["assets"]["red"]["href"].removeprefix(nginx.url + "/")
    rel = f"stale-{uuid.uuid4().hex[:8]}/B04.tif"
    copy = sample_root / rel
    copy.parent.mkdir()
    shutil.copyfile(source, copy)
    url = f"{nginx.url}/{rel}"
    item["assets"] = {"red": {**item["assets"]["red"], "href": url}}
    item["links"] = []
    (tmp_path / "item.json").write_text(json.dumps(item))
    collection = {k: v for k, v in sample_catalog.collections[COLLECTION].items() if k != "links"}
    collection["links"] = [{"rel": "item", "href": "./item.json"}]
    (tmp_path / "collection.json").write_text(json.dumps(collection))
    coll = rasteret.build_from_stac(
        name="stale",
        stac_api=str(tmp_path / "collection.json"),
        collection=COLLECTION,
        band_map={"red": "red"},
        static_catalog=True,
        workspace_dir=tmp_path / "ws",
    )
    (header,) = coll.headers("red")
    assert header is not None and header.etag and header.file_size == copy.stat().st_size
    return coll, copy, url


def _aoi(coll: rasteret.Collection) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = next(iter(coll)).geometry.bounds
    w, h = maxx - minx, maxy - miny
    return (minx + 0.3 * w, miny + 0.3 * h, minx + 0.5 * w, miny + 0.5 * h)


def test_unchanged_source_reads_with_no_extra_request(
    one_scene: tuple[rasteret.Collection, Path, str], nginx: NginxServer
) -> None:
    coll, copy, _ = one_scene
    nginx.clear_log()
    result = coll.get_numpy(_aoi(coll), "red")
    assert not isinstance(result, list) and np.any(result.data)
    seen = nginx.requests(copy.parent.name)
    assert seen and all(r.method == "GET" and r.range for r in seen), seen


def test_replaced_source_raises(
    one_scene: tuple[rasteret.Collection, Path, str], sample_root: Path
) -> None:
    coll, copy, url = one_scene
    other = next((sample_root / "data" / COLLECTION).glob("*/B08.tif"))
    assert other.stat().st_size != copy.stat().st_size
    shutil.copyfile(other, copy)
    with pytest.raises(StaleSourceError) as info:
        coll.get_numpy(_aoi(coll), "red")
    assert isinstance(info.value, RasteretError)
    assert info.value.url == url and url in str(info.value)
    assert set(info.value.changed) >= {"size", "etag"}


def test_same_size_rewrite_raises(one_scene: tuple[rasteret.Collection, Path, str]) -> None:
    coll, copy, _ = one_scene
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0xFF  # a tile byte; the size stays the same
    copy.write_bytes(bytes(data))
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    with pytest.raises(StaleSourceError) as info:
        coll.get_numpy(_aoi(coll), "red")
    assert set(info.value.changed) == {"etag"}
    minx, miny, maxx, maxy = _aoi(coll)
    with pytest.raises(StaleSourceError):
        coll.sample_points([((minx + maxx) / 2, (miny + maxy) / 2)], "red")


def test_same_size_rewrite_raises_in_lazy_and_dataset_reads(
    one_scene: tuple[rasteret.Collection, Path, str],
) -> None:
    """The dask chunks and the torch dataset's items refuse a changed object too."""
    coll, copy, url = one_scene
    lazy = coll.get_xarray(_aoi(coll), "red", chunks={"x": 64, "y": 64})
    dataset = coll.to_torchgeo_dataset("red", 16, geometries=_aoi(coll))
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0xFF
    copy.write_bytes(bytes(data))
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    with pytest.raises(StaleSourceError) as info:
        lazy.compute()
    assert info.value.url == url and set(info.value.changed) == {"etag"}
    with pytest.raises(StaleSourceError):
        dataset[0]


def test_reindex_reads_the_new_file_and_patches_the_index(
    one_scene: tuple[rasteret.Collection, Path, str], sample_root: Path, tmp_path: Path
) -> None:
    coll, copy, _ = one_scene
    other = next((sample_root / "data" / COLLECTION).glob("*/B08.tif"))
    shutil.copyfile(other, copy)
    aoi = _aoi(coll)
    result = coll.get_numpy(aoi, "red", on_stale="reindex")
    # The truth: a fresh build over the changed file.
    fresh = rasteret.build_from_stac(
        name="fresh",
        stac_api=str(tmp_path / "collection.json"),
        collection=COLLECTION,
        band_map={"red": "red"},
        static_catalog=True,
        workspace_dir=tmp_path / "ws",
    )
    truth = fresh.get_numpy(aoi, "red")
    assert not isinstance(result, list) and not isinstance(truth, list)
    np.testing.assert_array_equal(result.data, truth.data)
    reloaded = rasteret.load("stale", workspace_dir=tmp_path / "ws")
    (header,) = reloaded.headers("red")
    assert header is not None and header.file_size == copy.stat().st_size
    assert reloaded.to_table().equals(fresh.to_table())
    with pytest.raises(InvalidInputError):
        coll.get_numpy(aoi, "red", on_stale="ignore")
