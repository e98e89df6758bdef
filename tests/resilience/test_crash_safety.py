"""Crash safety of the index: SIGKILL at random points never breaks the previous index.

A child process rebuilds one collection in a loop (``force=True``) and is SIGKILLed after
a random delay (seeded, so a failure replays), many times. After every kill the index
must load with exactly the rows of the clean build (old or new file, never half of one),
and a final build must complete and leave no temporary file behind. Children come from
a forkserver that has already imported rasteret, so a kill costs the random delay, not
an interpreter start-up. Three more kills land the moment the writer's temp file appears,
so some kills certainly hit a half-written index. Two processes building the same
collection at once, with different bands, must end with one complete index, from one of
them, never a mix.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import resilience_helpers
from resilience_helpers import COLLECTION, build_forever, write_proxied_catalog

import rasteret
from rasteret.index import schema
from rasteret.index.storage import temp_files
from rasteret_sandbox.catalog import SampleCatalog
from rasteret_sandbox.servers import NginxServer

SEED = 20261123
KILLS = 15
BANDS = ("red", "nir")


@pytest.fixture(scope="module")
def forkserver() -> Iterator[multiprocessing.context.ForkServerContext]:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["rasteret", resilience_helpers.__name__])
    yield ctx


@pytest.fixture(scope="module")
def catalog(
    tmp_path_factory: pytest.TempPathFactory, sample_catalog: SampleCatalog, nginx: NginxServer
) -> str:
    root = tmp_path_factory.mktemp("crash-catalog")
    count = len(sample_catalog.items[COLLECTION])
    return str(write_proxied_catalog(root, sample_catalog, nginx.url, nginx.url, count=count))


def _build(catalog: str, workspace: Path, bands: tuple[str, ...]) -> rasteret.Collection:
    return rasteret.build_from_stac(
        name="crash",
        stac_api=catalog,
        collection=COLLECTION,
        band_map={band: band for band in bands},
        static_catalog=True,
        workspace_dir=workspace,
        force=True,
    )


def test_sigkill_at_random_points_keeps_the_previous_index(
    forkserver: multiprocessing.context.ForkServerContext, catalog: str, tmp_path: Path
) -> None:
    reference = _build(catalog, tmp_path, BANDS).to_table()
    index = tmp_path / "crash" / "index.parquet"
    rng = random.Random(SEED)
    # Calibrate: how long one child build takes (the forkserver warm), so the kills
    # spread over whole builds, from process start to the rename of the index.
    for _ in range(2):
        started = time.perf_counter()
        child = forkserver.Process(target=build_forever, args=(catalog, str(tmp_path), BANDS, 1))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        one_build = time.perf_counter() - started
    mid_write = 0
    for _ in range(KILLS):
        child = forkserver.Process(target=build_forever, args=(catalog, str(tmp_path), BANDS, 1000))
        child.start()
        time.sleep(rng.uniform(0.0, 1.2 * one_build))
        assert child.pid is not None and child.is_alive()
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        mid_write += bool(temp_files(index))
        loaded = rasteret.load("crash", workspace_dir=tmp_path)
        assert loaded.to_table().equals(reference)
    # Kills timed on observation: the moment the writer's temp file appears, i.e. while
    # the new index is half written.
    for _ in range(3):
        child = forkserver.Process(target=build_forever, args=(catalog, str(tmp_path), BANDS, 1000))
        child.start()
        deadline = time.monotonic() + 30
        while not temp_files(index) and time.monotonic() < deadline:
            time.sleep(0.0005)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        mid_write += bool(temp_files(index))
        assert rasteret.load("crash", workspace_dir=tmp_path).to_table().equals(reference)
    assert mid_write, "no kill landed inside a write: the test proved nothing about it"
    final = _build(catalog, tmp_path, BANDS)
    assert final.to_table().equals(reference)
    assert not temp_files(index), "a later build must clean up what killed writers left"
    print(f"{KILLS} kills (one build {one_build:.2f} s), {mid_write} left a temp file mid-write")


def test_concurrent_builds_end_with_one_whole_index(
    forkserver: multiprocessing.context.ForkServerContext, catalog: str, tmp_path: Path
) -> None:
    expected = {
        bands: _build(catalog, tmp_path / "ref" / bands[0], bands).to_table()
        for bands in (("red",), ("nir", "green"))
    }
    for _round in range(2):
        children = [
            forkserver.Process(target=build_forever, args=(catalog, str(tmp_path), bands, 2))
            for bands in expected
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(120)
            assert child.exitcode == 0
        table = rasteret.load("crash", workspace_dir=tmp_path).to_table()
        codes = schema.band_codes_of(table.schema)
        assert codes in expected, codes
        assert table.equals(expected[codes])  # exactly one build's index, not a mix
