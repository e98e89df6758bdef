"""Soak: 10,000 chip reads at sustained concurrency through the fault/latency proxy.

Not a test: a record. It starts nginx over the sandbox COGs, puts the fault proxy in
front (a few ms of latency on every request, plus a sprinkle of 503s, resets and short
bodies that the retry layer must absorb), builds a Sentinel-2 collection through it and
reads random chips, ``--concurrency`` at a time. It prints one JSON object (also written
to ``--out``): throughput, errors by type, RSS / fds / sockets / threads at start and end
of the measured phase, and tasks left pending on rasteret's I/O loop. The process must
exit 0 (an abort at interpreter shutdown would be a bug).

Every snapshot also carries glibc malloc's view (bytes in use by live allocations versus
free bytes it keeps in its arenas), live Python objects and threads by name; ``--trim``
adds the RSS right after ``malloc_trim(0)``, and ``summary.plateau`` the growth from the
second snapshot to the end. Allocator retention shows as RSS and ``free`` levelling off
with ``in_use`` flat; a leak as ``in_use``, objects or descriptors growing
(benchmarks/results/soak-analysis.md).

    .venv/bin/python benchmarks/soak.py --reads 10000 --trim --out benchmarks/results/soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import obstore

import rasteret
from rasteret.io import ObstoreBackend
from rasteret_sandbox.catalog import build_sample_catalog
from rasteret_sandbox.servers import Fault, FaultProxy, NginxServer
from rasteret_sandbox.soak import run_soak

COLLECTION = "sentinel-2-l2a"
REPO = Path(__file__).resolve().parents[1]

FAULTS = (
    Fault(kind="latency", path=r"\.tif", times=None, delay_s=0.002),
    Fault(kind="status", status=503, path=r"\.tif", times=None, skip=100, every=397),
    Fault(kind="reset", path=r"\.tif", times=None, skip=200, every=911),
    Fault(kind="bad_length", path=r"\.tif", times=None, skip=300, every=1499),
)
"""Transient faults only: every read is expected to succeed after retries."""


def _data_cache() -> Path | None:
    env = os.environ.get("RASTERET_SANDBOX_CACHE")
    if env:
        return Path(env)
    cache = REPO / ".pytest_cache" / "d" / "rasteret-sandbox"
    return cache if cache.is_dir() else None


def main() -> int:
    """Run the soak and print/write its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--idle", type=float, default=12.0, help="seconds idle before last sample")
    parser.add_argument(
        "--trim", action="store_true", help="malloc_trim(0) after each snapshot, record RSS after"
    )
    parser.add_argument(
        "--trace-python", action="store_true", help="tracemalloc: Python lines that grew (slow)"
    )
    args = parser.parse_args()
    os.environ.setdefault("RASTERET_PROGRESS", "0")
    with tempfile.TemporaryDirectory(prefix="rasteret-soak-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        with NginxServer(root) as nginx, FaultProxy(nginx.url) as proxy:
            sample = build_sample_catalog(root, proxy.url, data_cache=_data_cache())
            items = sample.items[COLLECTION]
            folder = Path(tmp) / "catalog"
            folder.mkdir()
            for item in items:
                (folder / f"{item['id']}.json").write_text(json.dumps({**item, "links": []}))
            collection = {k: v for k, v in sample.collections[COLLECTION].items() if k != "links"}
            collection["links"] = [{"rel": "item", "href": f"./{i['id']}.json"} for i in items]
            (folder / "collection.json").write_text(json.dumps(collection))
            backend = ObstoreBackend(client_options={"timeout": "5s"})
            coll = rasteret.build_from_stac(
                name="soak",
                stac_api=str(folder / "collection.json"),
                collection=COLLECTION,
                band_map={"red": "red"},
                static_catalog=True,
                workspace_dir=Path(tmp) / "ws",
                backend=backend,
            )
            proxy.set_faults(FAULTS)
            report = run_soak(
                coll,
                reads=args.reads,
                concurrency=args.concurrency,
                backend=backend,
                seed=args.seed,
                segments=args.segments,
                idle_s=args.idle,
                trim=args.trim,
                trace_python=args.trace_python,
            )
            injected: dict[str, int] = {}
            for entry in proxy.requests(".tif"):
                kind = str(entry["fault"])
                injected[kind] = injected.get(kind, 0) + 1
    report = {
        "benchmark": "soak",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "obstore": obstore.__version__,
        "rasteret": rasteret.__version__,
        "cpus": len(os.sched_getaffinity(0)),
        "scenes": len(coll),
        "proxy_requests_by_fault": injected,
        **report,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
