"""Benchmark harness: rasteret against rasterio/GDAL and async-geotiff on cloud-like storage.

``python -m benchmarks.run [--latency-ms 20] [--runs 5] [--only time-series,points]``

It generates the dataset once (cached, see :mod:`benchmarks.dataset`), starts on
127.0.0.1 the object store and a STAC API (stac-fastapi-pgstac) holding the items, builds
rasteret's indexes (untimed: that is the index-build workload's job), then runs every
workload x contender in a fresh process per run, interleaving contenders so that drifts
in machine load hit all of them.
The first run of each contender saves its output, and all outputs are compared pixel for
pixel with rasteret's; a mismatch is reported and fails the run (exit code 1).

The object store is nginx adding the first-byte delay itself (``echo_sleep``), so the
body goes out on nginx's sendfile path as from a remote store, without a relay copying
every byte on the two cores the contenders run on. A bandwidth cap (``--bandwidth-mbps``)
needs per-response pacing nginx cannot do for short responses (its ``limit_rate`` grants
the first second's allowance at once), so with a cap the delay and the pacing come from
:mod:`benchmarks.latency_proxy` in front of a plain nginx instead. Request counts, bytes
and overlap come from nginx's access log, or from the proxy's counters.

Results go to ``benchmarks/results/<name>.json``, ``<name>.md`` (the table) and
``<name>.png`` (speed-up chart), with the machine and settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import dataset as ds
from benchmarks import report
from benchmarks.workloads import Workload, build_workload, define
from rasteret_sandbox.servers import LogEntry, NginxServer

RESULTS = Path(__file__).resolve().parent / "results"


def traffic_of(entries: list[LogEntry]) -> dict[str, Any]:
    """Requests, body bytes, header reads and peak overlap, from nginx's access log."""
    events = []
    for e in entries:
        end = e.finished_s or 0.0
        events += [(end - (e.duration_s or 0.0), 1), (end, -1)]
    in_flight = peak = 0
    for _, step in sorted(events, key=lambda ev: (ev[0], ev[1])):  # ends first on ties
        in_flight += step
        peak = max(peak, in_flight)
    return {
        "requests": len(entries),
        "bytes": sum(e.bytes_sent for e in entries),
        "max_in_flight": peak,
        "distinct_objects": len({e.path for e in entries}),
        "header_requests": sum((e.range or "").startswith("bytes=0-") for e in entries),
    }


class DelayedNginx:
    """The object store when there is no bandwidth cap: nginx delays each request itself."""

    def __init__(self, delayed: NginxServer, origin: NginxServer) -> None:
        self.url, self.origin_url = delayed.url, origin.url
        self._servers = (delayed, origin)
        self.description = (
            "nginx (2 workers) with a first-byte delay from its echo module (echo_sleep)"
        )

    def reset(self) -> None:
        for server in self._servers:
            server.clear_log()

    def traffic(self) -> dict[str, Any]:
        return traffic_of([e for server in self._servers for e in server.requests()])


class LatencyProxy:
    """The latency proxy in its own process (so it never competes for our GIL)."""

    description = "nginx (2 workers) behind benchmarks.latency_proxy (HTTP/1.1), paced"

    def __init__(self, upstream: str, latency_ms: float, bandwidth_mbps: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.latency_proxy",
                "--upstream",
                upstream.removeprefix("http://"),
                "--latency-ms",
                str(latency_ms),
                "--bandwidth-mbps",
                str(bandwidth_mbps),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "listening":
            raise RuntimeError(f"latency proxy did not start: {line}")
        self.url = f"http://127.0.0.1:{line[1]}"
        self.origin_url = upstream

    def reset(self) -> None:
        self._counters("__reset", "POST")

    def traffic(self) -> dict[str, Any]:
        return self._counters("__stats", "GET")

    def _counters(self, path: str, method: str) -> dict[str, Any]:
        req = urllib.request.Request(f"{self.url}/{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return dict(json.loads(resp.read()))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import imagecodecs
    import rasterio

    import rasteret

    versions = {
        "python": platform.python_version(),
        "rasteret": rasteret.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
        "imagecodecs": imagecodecs.__version__,
    }
    try:
        import async_geotiff

        versions["async-geotiff"] = getattr(async_geotiff, "__version__", "?")
    except ImportError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "versions": versions,
    }


def _build_indexes(stac_api: str, workspace: Path) -> None:
    import rasteret

    for cid in ("bench-s2", "bench-s2-256", "bench-small", "bench-s2-origin"):
        rasteret.build_from_stac(
            name=cid,
            stac_api=stac_api,
            collection=cid,
            bbox=(-121.0, 37.0, -119.0, 39.0),
            date_range=("2020-01-01", "2026-12-31"),
            workspace_dir=workspace,
            max_concurrent=50,
        )


def _run_one(
    workload: Workload,
    contender: str,
    config_path: Path,
    scratch: Path,
    store: DelayedNginx | LatencyProxy,
    *,
    save: Path | None,
    profile: Path | None,
) -> dict[str, Any]:
    result_path = scratch / f"{workload.name}-{contender}.result.json"
    argv = [
        sys.executable,
        "-m",
        "benchmarks.worker",
        str(config_path),
        contender,
        str(result_path),
    ]
    if save is not None:
        argv += ["--save", str(save)]
    if profile is not None:
        argv += ["--profile", str(profile)]
    store.reset()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    traffic = store.traffic()
    if proc.returncode != 0:
        error = proc.stderr.strip()[-2000:] or f"exited with code {proc.returncode}, no message"
        return {"error": error, "exit_code": proc.returncode}
    out = dict(json.loads(result_path.read_text()))
    out["exit_code"] = proc.returncode
    out["traffic"] = traffic
    return out


def _compare(saved: dict[str, Path], reference: str) -> dict[str, str]:
    """Pixel comparison of every contender's saved output with the reference's."""
    verdict: dict[str, str] = {}
    if reference not in saved:
        return dict.fromkeys(saved, "no reference output")
    ref = np.load(saved[reference])
    for name, path in saved.items():
        if name == reference:
            continue
        got = np.load(path)
        same_ids = list(got["ids"]) == list(ref["ids"])
        same_px = got["data"].shape == ref["data"].shape and np.array_equal(
            got["data"], ref["data"]
        )
        if same_ids and same_px:
            verdict[name] = "equal"
        else:
            diff = "shape differs"
            if got["data"].shape == ref["data"].shape:
                diff = f"{int((got['data'] != ref['data']).sum())} pixels differ"
            verdict[name] = f"MISMATCH ({'ids differ; ' if not same_ids else ''}{diff})"
    return verdict


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--bandwidth-mbps", type=float, default=0.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--contenders", help="comma-separated contender names")
    parser.add_argument("--name", default=None, help="results file name (default from latency)")
    parser.add_argument("--profile", action="store_true", help="pyinstrument rasteret's runs")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="set everything up, print the worker command lines, and wait (for profiling)",
    )
    args = parser.parse_args(argv)
    # SIGTERM (and SIGINT, which background jobs ignore) unwind through the `with`
    # blocks below, so nginx and PostgreSQL stop with the harness
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)

    from rasteret_sandbox.servers import StacApiServer

    name = args.name or f"cloud-{int(args.latency_ms)}ms"
    root = ds.ensure_dataset(ds.dataset_root())
    RESULTS.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="rasteret-bench-"))
    t_start = time.time()
    with contextlib.ExitStack() as stack:
        # last out, once the servers have stopped: indexes, the STAC database and the saved
        # outputs of the pixel check (about 2 GB a run; results go to benchmarks/results)
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        nginx = stack.enter_context(NginxServer(root, workers=2))
        stac = stack.enter_context(StacApiServer(scratch / "stac"))
        store: DelayedNginx | LatencyProxy
        if args.bandwidth_mbps:
            store = LatencyProxy(nginx.url, args.latency_ms, args.bandwidth_mbps)
            stack.callback(store.stop)
        else:
            delayed = NginxServer(root, workers=2, latency_ms=args.latency_ms)
            store = DelayedNginx(stack.enter_context(delayed), nginx)
        items: dict[str, list[dict[str, Any]]] = {}
        for cid, base, source in (
            ("bench-s2", store.url, "bench-s2"),
            ("bench-s2-256", store.url, "bench-s2-256"),
            ("bench-small", store.url, "bench-small"),
            ("bench-s2-origin", store.origin_url, "bench-s2"),
        ):
            coll, its = ds.load_items(root, source, base)
            if cid != source:
                coll = {**coll, "id": cid}
                its = [{**i, "collection": cid} for i in its if "_TA_" in i["id"]][:8]
            stac.load_collections([coll])
            stac.load_items(its)
            items[cid] = its
        workspace = scratch / "workspace"
        print("building rasteret indexes (untimed setup)", flush=True)
        _build_indexes(stac.url, workspace)
        workloads = define(items, root, scratch)
        workloads.insert(0, build_workload(stac.url))
        if args.only:
            wanted = set(args.only.split(","))
            workloads = [w for w in workloads if w.name in wanted]
        chosen = set(args.contenders.split(",")) if args.contenders else None
        for wl in workloads:
            cfg = dict(wl.config)
            if wl.name != "index-build":
                cfg["index"] = {"name": cfg["collection"], "workspace": str(workspace)}
            (scratch / f"{wl.name}.config.json").write_text(json.dumps(cfg))
        if args.serve:
            for wl in workloads:
                print(
                    f"python -m benchmarks.worker {scratch}/{wl.name}.config.json "
                    f"CONTENDER {scratch}/out.json",
                    flush=True,
                )
            print(f"store {store.url} origin {store.origin_url} stac {stac.url}", flush=True)
            while True:
                time.sleep(3600)

        results: dict[str, Any] = {}
        for wl in workloads:
            config_path = scratch / f"{wl.name}.config.json"
            contenders = [c for c in wl.contenders if chosen is None or c in chosen]
            runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
            saved: dict[str, Path] = {}
            print(f"\n== {wl.name}: {wl.title}", flush=True)
            for r in range(args.runs):
                order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
                for c in order:
                    # the pixels of each contender's first run that finished are compared
                    save = scratch / f"{wl.name}-{c}.npz" if c not in saved else None
                    prof = None
                    if args.profile and c == "rasteret" and r == 0:
                        prof = RESULTS / f"{name}-{wl.name}-profile.txt"
                    out = _run_one(wl, c, config_path, scratch, store, save=save, profile=prof)
                    runs[c].append(out)
                    if save is not None and "error" not in out and "skipped" not in out:
                        saved[c] = save
                    shown = out.get("error", "").splitlines()[-1:] or [
                        f"{out.get('elapsed_s', float('nan')):.3f} s"
                    ]
                    print(f"  run {r} {c:14s} {shown[0]}", flush=True)
            verdict = _compare(saved, "rasteret")
            results[wl.name] = report.summarise(wl, runs, verdict)
            print(report.line(wl.name, results[wl.name]), flush=True)
    doc = {
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": round(time.time() - t_start, 1),
        "settings": {
            "latency_ms": args.latency_ms,
            "bandwidth_mbps": args.bandwidth_mbps or None,
            "runs": args.runs,
            "dataset_version": ds.DATASET_VERSION,
            "object_store": store.description,
            "stac_api": "stac-fastapi-pgstac 7.2 on PostgreSQL 15 + pgstac",
        },
        "machine": _machine(),
        "workloads": results,
    }
    doc["targets"] = report.targets(doc)
    report.write(doc, RESULTS / name)
    print(f"\nwrote {RESULTS / name}.json, .md, .png")
    bad = [w for w, r in results.items() if any("MISMATCH" in v for v in r["pixels"].values())]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
