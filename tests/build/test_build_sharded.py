"""build_from_stac_distributed: date/space shards on real Dask worker processes, against the
real local STAC API, equal to a plain build_from_stac; reuse, shard failure, bad options."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import dask
import pyarrow as pa
import pytest
import shapely
from distributed import Client, LocalCluster, get_task_stream

import rasteret
from rasteret.build.shards import MAX_SHARDS, plan_shards, split_bbox, split_dates
from rasteret.stac import default_registry, normalize_date_range, resolve_bands
from rasteret.stac.bands import asset_signature
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import Fault, FaultProxy, StacApiServer

pytestmark = pytest.mark.stac_api

COLLECTION = "sentinel-2-l2a"
WIDE_BBOX = (-127.0, 37.0, -112.75, 39.0)  # 3 columns: edges cross both scene groups
HALF_YEAR = ("2024-01-01", "2024-06-30")


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(scope="module")
def plain_wide(
    stac_api: StacApiServer, tmp_path_factory: pytest.TempPathFactory
) -> rasteret.Collection:
    """The reference: a plain build of the wide search."""
    return rasteret.build_from_stac(
        name="plain",
        stac_api=stac_api.url,
        collection=COLLECTION,
        bbox=WIDE_BBOX,
        date_range=HALF_YEAR,
        workspace_dir=tmp_path_factory.mktemp("ws-plain"),
    )


def sharded_wide(
    name: str, stac_api: StacApiServer, workspace: Path, **sharding: Any
) -> rasteret.Collection:
    """The wide search (the ``plain_wide`` reference's), built in shards."""
    return rasteret.build_from_stac_distributed(
        name=name,
        stac_api=stac_api.url,
        collection=COLLECTION,
        bbox=WIDE_BBOX,
        date_range=HALF_YEAR,
        workspace_dir=workspace,
        **sharding,
    )


def rows(coll: rasteret.Collection) -> pa.Table:
    """The index rows, order-independent (sorted by id), without file metadata."""
    return coll.to_table().replace_schema_metadata(None).sort_by("id")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != ".lock")


def test_date_shards_on_worker_processes_equal_plain_build(
    stac_api: StacApiServer, plain_wide: rasteret.Collection, client: Client, tmp_path: Path
) -> None:
    with get_task_stream(client) as stream:
        sharded = sharded_wide(
            "by-month",
            stac_api,
            tmp_path,
            date_shards="month",
            client=client,
        )
    searches = [t for t in stream.data if t["key"].startswith("search_shard")]
    assert len(searches) == 6  # January .. June
    assert len({t["worker"] for t in stream.data}) == 2  # really spread over both processes
    assert rows(sharded).equals(rows(plain_wide))
    assert len(sharded) == len(plain_wide) > 6
    assert sharded.bands == plain_wide.bands
    assert sharded.manifest.fingerprint == plain_wide.manifest.fingerprint
    assert sharded.manifest.summary.items == len(plain_wide)
    assert leftovers(tmp_path / "by-month") == ["index.parquet"]  # staging removed


def test_space_and_date_shards_keep_each_item_once(
    stac_api: StacApiServer, plain_wide: rasteret.Collection, client: Client, tmp_path: Path
) -> None:
    cells = split_bbox(WIDE_BBOX, (3, 2))
    footprints = [shapely.geometry.shape(s.geometry) for s in plain_wide]
    # the oracle of the dedupe: some scenes touch several cells, so several shards find them
    assert all(sum(f.intersects(shapely.box(*c)) for c in cells) > 1 for f in footprints)
    sharded = sharded_wide(
        "grid",
        stac_api,
        tmp_path,
        date_shards=2,
        space_shards=(3, 2),
        client=client,
    )
    table = rows(sharded)
    assert len(set(table.column("id").to_pylist())) == table.num_rows
    assert table.equals(rows(plain_wide))


def test_default_scheduler_without_client(
    stac_api: StacApiServer, plain_wide: rasteret.Collection, tmp_path: Path
) -> None:
    with dask.config.set(scheduler="threads"):
        sharded = sharded_wide(
            "threads",
            stac_api,
            tmp_path,
            date_shards=timedelta(days=45),
            space_shards=2,
        )
    assert rows(sharded).equals(rows(plain_wide))


def test_repeat_call_reuses_the_index_without_stac_queries(
    stac_proxy: FaultProxy, client: Client, tmp_path: Path
) -> None:
    params: dict[str, Any] = {
        "name": "reused",
        "stac_api": stac_proxy.url,
        "collection": COLLECTION,
        "bbox": cat.SF_BBOX,
        "date_range": cat.JAN_MAR,
        "workspace_dir": tmp_path,
    }
    first = rasteret.build_from_stac_distributed(**params, date_shards="month", client=client)
    assert len(first) == cat.SF_JAN_MAR_COUNT
    assert stac_proxy.requests("/search")  # the first build did search, through the proxy
    index = tmp_path / "reused" / "index.parquet"
    mtime = index.stat().st_mtime_ns
    stac_proxy.clear()
    again = rasteret.build_from_stac_distributed(**params, date_shards=3, client=client)
    plain = rasteret.build_from_stac(**params)  # same search: the plain build reuses it too
    assert stac_proxy.requests() == []  # not one request reached the STAC API
    assert index.stat().st_mtime_ns == mtime
    assert rows(again).equals(rows(first)) and rows(plain).equals(rows(first))


def test_failed_shard_writes_nothing_and_keeps_the_old_index(
    stac_proxy: FaultProxy, client: Client, tmp_path: Path
) -> None:
    params: dict[str, Any] = {
        "stac_api": stac_proxy.url,
        "collection": COLLECTION,
        "bbox": cat.SF_BBOX,
        "date_range": cat.JAN_MAR,
        "workspace_dir": tmp_path,
        "date_shards": "month",
        "client": client,
    }
    kept = rasteret.build_from_stac_distributed(name="kept", **params)
    before = rows(kept)
    index = tmp_path / "kept" / "index.parquet"
    mtime = index.stat().st_mtime_ns
    # the first search request of the build gets a 400 (not retried): one shard fails
    stac_proxy.set_faults([Fault(kind="status", status=400, path=r"/search", times=1)])
    with pytest.raises(rasteret.ShardFailedError, match=r"1 of 3 shard\(s\) failed") as info:
        rasteret.build_from_stac_distributed(name="kept", force=True, **params)
    assert isinstance(info.value, rasteret.BuildError)
    ((label, reason),) = info.value.failures.items()
    assert re.match(r"shard [012] dates 2024-0[123]-01T00:00:00Z/", label)
    assert "StacSearchError" in reason and "400" in reason
    assert index.stat().st_mtime_ns == mtime
    assert rows(rasteret.load("kept", workspace_dir=tmp_path)).equals(before)
    assert leftovers(tmp_path / "kept") == ["index.parquet"]  # no part, no staging dir

    stac_proxy.set_faults([Fault(kind="status", status=400, path=r"/search", times=1)])
    with pytest.raises(rasteret.ShardFailedError):
        rasteret.build_from_stac_distributed(name="never", **params)
    assert not (tmp_path / "never").exists()


BAD_SHARDING = [
    ({"date_shards": "fortnight"}, "date_shards", "'fortnight'"),
    ({"date_shards": 0}, "date_shards", "0"),
    ({"date_shards": True}, "date_shards", "True"),
    ({"date_shards": timedelta(0)}, "date_shards", "datetime.timedelta(0)"),
    ({"date_shards": 2.5}, "date_shards", "2.5"),
    ({"date_shards": "month", "date_range": ("2024-01-01", None)}, "date_shards", "'month'"),
    ({"date_shards": timedelta(seconds=1)}, "date_shards", "datetime.timedelta(seconds=1)"),
    ({"space_shards": 0}, "space_shards", "0"),
    ({"space_shards": (2,)}, "space_shards", "(2,)"),
    ({"space_shards": (2, -1)}, "space_shards", "(2, -1)"),
    ({"space_shards": "2"}, "space_shards", "'2'"),
    ({"space_shards": 2, "bbox": None}, "space_shards", "2"),
    ({"space_shards": 100, "date_shards": "day"}, "space_shards", "100"),
    ({"backend": rasteret.create_backend()}, "backend", "backend_factory"),
    ({"client": object()}, "client", "'object'"),
    ({"max_concurrent": 0}, "max_concurrent", "0"),
]


@pytest.mark.parametrize(("change", "parameter", "value"), BAD_SHARDING, ids=lambda v: str(v)[:40])
def test_bad_options_raise_invalid_input_naming_them(
    change: dict[str, Any], parameter: str, value: str, tmp_path: Path
) -> None:
    params: dict[str, Any] = {
        "name": "bad",
        "stac_api": "http://127.0.0.1:9/never-contacted",
        "collection": COLLECTION,
        "bbox": cat.SF_BBOX,
        "date_range": cat.JAN_MAR,
        "workspace_dir": tmp_path / "ws",
        **change,
    }
    with pytest.raises(rasteret.InvalidInputError, match=re.escape(parameter)) as info:
        rasteret.build_from_stac_distributed(**params)
    assert info.value.parameter == parameter
    assert value in str(info.value)
    assert not (tmp_path / "ws").exists()


# --- the pure pieces: shard plans cover the search exactly; signatures resolve alike ---------


def test_date_shards_are_contiguous_and_cover_the_range() -> None:
    dates = normalize_date_range(("2024-01-15", "2024-12-31"))
    assert dates is not None
    for by in ("year", "month", "week", "day", 7, timedelta(days=10)):
        pieces = split_dates(dates, by)
        assert pieces[0][0] == dates[0] and pieces[-1][1] == dates[1]
        for (_, end), (start, _) in pairwise(pieces):
            assert start - end == timedelta(microseconds=1)
    assert len(split_dates(dates, "month")) == 12
    assert len(split_dates(dates, 7)) == 7
    shards = plan_shards(bbox=None, dates=dates, date_shards=None, space_shards=None)
    assert len(shards) == 1 and shards[0].dates == dates
    with pytest.raises(rasteret.InvalidInputError, match=str(MAX_SHARDS)):
        plan_shards(bbox=cat.SF_BBOX, dates=dates, date_shards="day", space_shards=10)


def test_space_shards_tile_the_bbox_across_the_antimeridian() -> None:
    cells = split_bbox((170.0, -10.0, -170.0, 10.0), (4, 2))
    assert len(cells) == 8
    assert {c[0] for c in cells} == {170.0, 175.0, -180.0, -175.0}
    assert {c[2] for c in cells} == {175.0, 180.0, -175.0, -170.0}
    plain = split_bbox(cat.SF_BBOX, 3)
    union = shapely.union_all([shapely.box(*c) for c in plain])
    assert union.equals(shapely.box(*cat.SF_BBOX))


def test_asset_signatures_resolve_bands_like_the_items(sample_catalog: SampleCatalog) -> None:
    registry = default_registry()
    for collection, items in sample_catalog.items.items():
        signatures = {repr(sorted(asset_signature(i)["assets"])): asset_signature(i) for i in items}
        for source in (None, collection):
            try:
                want = resolve_bands(
                    items=items,
                    collection=collection,
                    data_source=source,
                    band_map=None,
                    band_index_map=None,
                    registry=registry,
                )
            except rasteret.BandMappingError:
                continue
            got = resolve_bands(
                items=list(signatures.values()),
                collection=collection,
                data_source=source,
                band_map=None,
                band_index_map=None,
                registry=registry,
            )
            assert got == want, collection
