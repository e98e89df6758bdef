"""A short soak: hundreds of chip reads through the latency/fault proxy leak nothing.

The long run (10,000 reads) is ``benchmarks/soak.py``; this one reads enough chips, at
sustained concurrency, for a per-read leak to show: one socket, descriptor or thread
per read would grow by hundreds. Measured from the end of the first segment (the pools
are full by then) to the end of the last.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from resilience_helpers import build_red, make_backend

import rasteret
from rasteret_sandbox.servers import Fault, FaultProxy
from rasteret_sandbox.soak import run_soak

READS = 300
CONCURRENCY = 8
RSS_BOUND = 96 * 1024 * 1024
"""Allowed RSS growth over the measured reads (allocator noise, not 0.24 MB per read)."""
IN_USE_BOUND = 16 * 1024 * 1024
"""Allowed growth of malloc's live allocations: RSS also counts the free memory glibc
keeps in its arenas (measured: about 150 MB after the first thousand reads of the long
soak, then flat), live allocations do not."""
OBJECTS_BOUND = 150
"""Allowed growth of live Python objects (one object leaked per read would add 225)."""


@pytest.fixture
def soak_collection(
    proxied_catalog: Path, fault_proxy: FaultProxy, tmp_path: Path
) -> rasteret.Collection:
    return build_red(proxied_catalog, tmp_path, name="soak")


def test_short_soak_leaks_nothing(
    soak_collection: rasteret.Collection, fault_proxy: FaultProxy
) -> None:
    fault_proxy.set_faults(
        [
            Fault(kind="latency", path=r"\.tif", times=None, delay_s=0.002),
            Fault(kind="status", status=503, path=r"\.tif", times=None, skip=50, every=97),
            Fault(kind="reset", path=r"\.tif", times=None, skip=60, every=193),
        ]
    )
    report = run_soak(
        soak_collection,
        reads=READS,
        concurrency=CONCURRENCY,
        backend=make_backend(client_options={"timeout": "5s"}),
        warmup=40,
        segments=4,
    )
    assert report["errors"] == {}, report
    assert report["pending_io_tasks"] == 0
    first, last = report["segments"][0], report["segments"][-1]
    assert last["fds"] - first["fds"] <= 4, report
    assert last["sockets"] - first["sockets"] <= 4, report
    assert last["python_threads"] == first["python_threads"], report
    assert last["native_threads"] - first["native_threads"] <= 8, report
    assert last["rss_bytes"] - first["rss_bytes"] <= RSS_BOUND, report
    assert last["python_objects"] - first["python_objects"] <= OBJECTS_BOUND, report
    if first["malloc"] is not None:  # glibc: live allocations, free arena memory excluded
        grown = last["malloc"]["in_use_bytes"] - first["malloc"]["in_use_bytes"]
        assert grown <= IN_USE_BOUND, report
    faulted = [e for e in fault_proxy.requests(".tif") if e["fault"] in ("status", "reset")]
    assert faulted, "no fault was injected: the soak did not exercise the retry path"
