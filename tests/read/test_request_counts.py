"""Reads cost no header request and no more range requests than planned (nginx counts)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
import shapely

import rasteret
from rasteret.io import ObstoreBackend
from rasteret.io.backend import DEFAULT_COALESCE, coalesce_ranges
from rasteret.io.sync import run_sync
from rasteret.read import engine
from rasteret.read import points as points_module
from rasteret.read.grid import Window
from rasteret.read.plan import plan_window
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.servers import NginxServer, StacApiServer


@pytest.fixture(scope="module")
def ten_scenes(
    stac_api: StacApiServer, tmp_path_factory: pytest.TempPathFactory
) -> rasteret.Collection:
    coll = rasteret.build_from_stac(
        name="s2-counts",
        stac_api=stac_api.url,
        collection="sentinel-2-l2a",
        bbox=cat.SF_BBOX,
        date_range=("2024-01-01", "2024-06-30"),
        workspace_dir=tmp_path_factory.mktemp("ws"),
    )
    ids = [s.id for s in coll][:10]
    assert len(ids) == 10
    return coll.where(pc.field("id").isin(ids))


def test_ten_scenes_three_bands_request_count(
    ten_scenes: rasteret.Collection, nginx: NginxServer, tmp_path: Path
) -> None:
    header = ten_scenes.headers("B04")[0]
    assert header is not None and header.geo is not None and header.geo.transform is not None
    a, _, c, _, e, f = header.geo.transform
    # 400 m x 300 m around the tile seam at 1024 px: touches 4 tiles of every 10 m file
    x, y = c + 1024 * a, f + 1024 * e
    aoi = shapely.box(x - 200, y - 150, x + 200, y + 150)
    bands = ["B02", "B03", "B04"]
    # the plan, computed independently from the stored layouts
    planned_groups = 0
    planned_tiles = 0
    for band in bands:
        for hdr in ten_scenes.headers(band):
            assert hdr is not None
            ifd = hdr.full
            col0 = int((aoi.bounds[0] - c) // a)
            row0 = int((aoi.bounds[3] - f) // e)
            window = Window(col_off=col0, row_off=row0, width=41, height=31)
            jobs, _ = plan_window(
                url="x", ifd=ifd, byte_order=hdr.byte_order, window=window, sample=0, target=0
            )
            planned_tiles += len(jobs)
            planned_groups += len(
                coalesce_ranges(
                    [j.offset for j in jobs],
                    [j.offset + j.length for j in jobs],
                    gap=DEFAULT_COALESCE,
                )
            )
    assert planned_tiles == 10 * 3 * 4

    nginx.clear_log()
    result = ten_scenes.get_numpy(aoi, bands, crs="EPSG:32610")
    assert not isinstance(result, list)
    assert result.data.shape[:2] == (10, 3)
    requests = [r for r in nginx.requests() if r.path.endswith(".tif")]
    assert not [r for r in requests if r.range is None or r.range.startswith("bytes=0-")], (
        "a read must never fetch a header again"
    )
    assert all(r.status == 206 for r in requests)
    assert len({r.path for r in requests}) == 30  # every file read ...
    assert len(requests) <= planned_groups  # ... in no more requests than planned groups


@pytest.mark.parametrize("limit", [1, 3])
def test_max_concurrent_bounds_read_requests_in_flight(
    s2_sf: rasteret.Collection, nginx: NginxServer, range_server: Any, limit: int
) -> None:
    # the same files through the counting range server, reached by a URL rewrite
    backend = rasteret.create_backend(
        cloud_config=rasteret.CloudConfig(url_rewrites=((nginx.url, range_server.url),))
    )
    range_server.latency_s = 0.05
    header = s2_sf.headers("B04")[0]
    assert header is not None and header.geo is not None and header.geo.transform is not None
    a, _, c, _, e, f = header.geo.transform
    aoi = shapely.box(c + 100 * a, f + 1000 * e, c + 1050 * a, f + 100 * e)  # 4 tiles a file
    result = s2_sf.get_numpy(
        aoi, ["B02", "B03"], crs="EPSG:32610", max_concurrent=limit, backend=backend
    )
    assert not isinstance(result, list) and result.valid.any()
    assert range_server.request_count >= 2 * len(s2_sf)
    assert range_server.max_in_flight == limit


def test_async_reads_run_on_the_io_loop_unless_given_a_backend(
    ten_scenes: rasteret.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An awaited read runs on rasteret's I/O thread; with the caller's backend it stays."""
    threads: list[str] = []
    fetch = engine.fetch_and_decode

    async def recording(*args: Any, **kwargs: Any) -> None:
        threads.append(threading.current_thread().name)
        await fetch(*args, **kwargs)

    monkeypatch.setattr(engine, "fetch_and_decode", recording)  # under get_numpy
    monkeypatch.setattr(points_module, "fetch_and_decode", recording)  # under sample_points
    header = ten_scenes.headers("B04")[0]
    assert header is not None and header.geo is not None and header.geo.transform is not None
    _, _, c, _, _, f = header.geo.transform
    aoi = (c + 100, f - 300, c + 300, f - 100)
    points = np.array([[c + 150, f - 150]])

    async def reads(backend: Any) -> None:
        await ten_scenes.get_numpy_async(aoi, "B04", crs="EPSG:32610", backend=backend)
        await ten_scenes.sample_points_async(points, "B04", crs="EPSG:32610", backend=backend)

    asyncio.run(reads(None))
    assert threads == ["rasteret-io", "rasteret-io"]
    threads.clear()
    asyncio.run(reads(ObstoreBackend()))
    assert threads == [threading.current_thread().name] * 2


def test_concurrent_reads_of_the_same_tiles_fetch_them_once(
    ten_scenes: rasteret.Collection, nginx: NginxServer
) -> None:
    header = ten_scenes.headers("B04")[0]
    assert header is not None and header.geo is not None and header.geo.transform is not None
    a, _, c, _, e, f = header.geo.transform
    x, y = c + 1024 * a, f + 1024 * e
    aoi = shapely.box(x - 200, y - 150, x + 200, y + 150)  # 4 tiles of every file

    async def three_at_once() -> list[Any]:
        calls = [ten_scenes.get_numpy_async(aoi, "B04", crs="EPSG:32610") for _ in range(3)]
        return list(await asyncio.gather(*calls))

    nginx.clear_log()
    alone = ten_scenes.get_numpy(aoi, "B04", crs="EPSG:32610")
    assert not isinstance(alone, list)
    one_read = [r for r in nginx.requests() if r.path.endswith(".tif")]

    nginx.clear_log()
    results = run_sync(three_at_once())
    together = [r for r in nginx.requests() if r.path.endswith(".tif")]
    # the second and third read wait for the first one's tiles instead of fetching them
    assert sorted((r.path, r.range) for r in together) == sorted(
        (r.path, r.range) for r in one_read
    )
    for result in results:
        assert np.array_equal(result.data, alone.data)
        assert np.array_equal(result.valid, alone.valid)

    # the same from a caller's own event loop: the reads run on rasteret's I/O loop,
    # so they still share their tiles (and the caller's loop only awaits them)
    nginx.clear_log()
    results = asyncio.run(three_at_once())
    from_own_loop = [r for r in nginx.requests() if r.path.endswith(".tif")]
    assert sorted((r.path, r.range) for r in from_own_loop) == sorted(
        (r.path, r.range) for r in one_read
    )
    for result in results:
        assert np.array_equal(result.data, alone.data)
