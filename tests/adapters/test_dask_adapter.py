"""Lazy get_xarray(chunks=...): dask graphs that read through the engine, locally and on
dask.distributed worker processes, equal to the eager read pixel for pixel."""

from __future__ import annotations

import collections
import functools
import pickle
from types import SimpleNamespace
from typing import Any

import dask
import numpy as np
import pytest
import shapely
from distributed import Client, LocalCluster

import rasteret
from rasteret.adapters import dask as lazy
from rasteret.adapters.dask import normalize_chunks
from rasteret.io.backend import ObstoreBackend

AOI = shapely.Polygon([(-122.30, 37.72), (-122.28, 37.725), (-122.285, 37.74), (-122.30, 37.735)])
CHUNKS = {"time": 2, "y": 64, "x": 50}


def test_lazy_equals_eager_threaded(s2: rasteret.Collection) -> None:
    eager = s2.get_xarray(AOI, ["B04", "B08"])
    lazy = s2.get_xarray(AOI, ["B04", "B08"], chunks=CHUNKS)
    assert lazy["B04"].chunks is not None
    assert lazy["B04"].data.chunksize == (2, 64, 50)
    assert lazy["B04"].data.npartitions > 4  # really split in time, y and x
    with dask.config.set(scheduler="threads"):
        got = lazy.compute()
    assert got.identical(eager)
    assert got["B08_valid"].values.any() and not got["B08_valid"].values.all()


def test_tokens_are_deterministic_and_graph_pickles(s2: rasteret.Collection) -> None:
    a = s2.get_xarray(AOI, "B04", chunks=CHUNKS)["B04"].data
    b = s2.get_xarray(AOI, "B04", chunks=CHUNKS)["B04"].data
    c = s2.get_xarray(AOI, "B04", chunks={"y": 32})["B04"].data
    assert a.name == b.name
    assert set(a.__dask_graph__()) == set(b.__dask_graph__())
    assert a.name != c.name
    blob = pickle.dumps(dict(a.__dask_graph__()))
    assert b"obstore" not in blob and b"asyncio" not in blob  # nothing live travels


def test_lazy_read_on_distributed_processes(s2: rasteret.Collection) -> None:
    eager = s2.get_xarray(AOI, ["B04", "B08"], all_touched=True)
    lazy = s2.get_xarray(AOI, ["B04", "B08"], all_touched=True, chunks=CHUNKS)
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        got = client.compute(lazy).result()
        where = client.run(lambda: __import__("os").getpid())
    assert len(set(where.values())) == 2
    assert got.identical(eager)


def test_chunk_argument_validation(s2: rasteret.Collection) -> None:
    assert normalize_chunks(256) == {"time": 1, "y": 256, "x": 256}
    assert normalize_chunks("auto")["y"] == 1024
    with pytest.raises(rasteret.InvalidInputError, match="chunks"):
        normalize_chunks({"band": 1})
    with pytest.raises(rasteret.InvalidInputError, match="chunks"):
        normalize_chunks({"y": 0})
    with pytest.raises(rasteret.InvalidInputError, match="backend_factory"):
        s2.get_xarray(AOI, "B04", chunks=64, backend=rasteret.create_backend())
    with pytest.raises(rasteret.InvalidInputError, match="expected one AOI"):
        s2.get_xarray([AOI, AOI], "B04", chunks=64)


def test_backend_factory_reads(s2: rasteret.Collection) -> None:
    eager = s2.get_xarray(AOI, "B04")
    lazy = s2.get_xarray(AOI, "B04", chunks=64, backend_factory=rasteret.create_backend)
    np.testing.assert_array_equal(lazy["B04"].values, eager["B04"].values)


_MADE: list[int] = []


def _made(n: int) -> Any:
    """A backend factory with a stable dask token per ``n``, counting what it makes."""
    _MADE.append(n)
    return ObstoreBackend()


def test_worker_backends_are_few_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lazy, "_backends", collections.OrderedDict())
    made = _MADE
    made.clear()

    def spec(n: int) -> Any:  # the two fields _worker_backend reads of a ChunkSpec
        return SimpleNamespace(backend_factory=functools.partial(_made, n), cloud_config={})

    # a forked child inherits its parent's entries; they must not be kept or used
    lazy._backends[(-1, "factory:parent")] = ObstoreBackend()
    first = lazy._worker_backend(spec(0))
    assert (-1, "factory:parent") not in lazy._backends
    assert lazy._worker_backend(spec(0)) is first and made == [0]  # reused, not remade
    for n in range(1, 20):  # a factory per task (its token differs each time)
        lazy._worker_backend(spec(n))
    assert len(lazy._backends) == lazy.MAX_WORKER_BACKENDS
    assert made == list(range(20))
    lazy._worker_backend(spec(19))
    assert made == list(range(20))  # the latest ones are still there
    lazy._worker_backend(spec(0))
    assert made == [*range(20), 0]  # the oldest was dropped and is made anew
