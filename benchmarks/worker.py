"""Run one workload with one contender in this (fresh) process and report the timing.

``python -m benchmarks.worker CONFIG.json CONTENDER RESULT.json [--save OUT.npz]``

Imports and the contender's ``setup`` are not timed; everything after is: opening
files or the index, requests, decoding, assembling the output. Nothing is warm: the
process is new for every run. Peak memory is the high-water RSS of the timed part
above the RSS at its start (the kernel's VmHWM, reset through ``/proc/self/clear_refs``
just before timing), taken where the contender stops its clock when it reports that
itself (``stop_clock``). Before the clock, the worker writes and frees 1 GiB of memory
(:func:`_warm_memory`), the same for every contender.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.contenders import status_kib
from benchmarks.contenders.rasterio_ import GDAL_ENV

CONTENDERS = {
    "rasteret": ("benchmarks.contenders.rasteret_", {}),
    "rasterio": ("benchmarks.contenders.rasterio_", {"threads": 1}),
    "rasterio-16t": ("benchmarks.contenders.rasterio_", {"threads": 16}),
    "async-geotiff": ("benchmarks.contenders.async_geotiff_", {}),
    "floor": ("benchmarks.contenders.floor", {}),
}
"""Contender name -> (module, config overrides)."""


WARM_MEMORY_BYTES = 1 << 30
"""Memory written and freed before the clock starts (see :func:`_warm_memory`)."""


def _warm_memory(nbytes: int = WARM_MEMORY_BYTES) -> None:
    """Write ``nbytes`` of fresh memory, then free it, before timing.

    On this project's VM the first write to memory the guest has not used for a while is
    slow and erratic (the host backs the page then): 315 MB took 22-531 ms on first
    touch and 21-30 ms once touched, freed and allocated again. Which run pays it is
    chance, so it swamped the decode-bound workload (0.32-0.54 s for the same work at the
    same page-fault count). Touching more than any contender's peak first, the same for
    every contender, leaves the cost every machine pays (zeroing fresh pages) and drops
    the host's. The memory is freed before the baseline RSS is taken.
    """
    block = np.empty(nbytes, dtype=np.uint8)
    block.fill(1)
    del block


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("contender", choices=sorted(CONTENDERS))
    parser.add_argument("result")
    parser.add_argument("--save")
    parser.add_argument("--profile", help="write a pyinstrument text profile here")
    args = parser.parse_args(argv)

    os.environ.update(GDAL_ENV)
    os.environ.setdefault("RASTERET_PROGRESS", "0")
    cfg: dict[str, Any] = json.loads(Path(args.config).read_text())
    module_name, overrides = CONTENDERS[args.contender]
    cfg.update(overrides)
    cfg.update(cfg.get("overrides", {}).get(args.contender, {}))
    module = importlib.import_module(module_name)
    if args.contender.startswith("rasterio"):
        import rasterio  # noqa: F401 - load GDAL before timing, as a long-lived loader would

    fn = getattr(module, cfg["function"], None)
    if fn is None:
        Path(args.result).write_text(json.dumps({"skipped": "not supported"}))
        return 0
    setup = getattr(module, "setup", None)
    if setup is not None:
        cfg = setup(cfg)

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="enabled")
        profiler.start()
    _warm_memory()
    rss0 = status_kib("VmRSS")
    peak_ok = _reset_peak()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    out = fn(cfg)
    elapsed = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = status_kib("VmHWM")
    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=False, show_all=False))
    ids, data = out[0], out[1]
    extra: dict[str, float] = dict(out[2]) if len(out) > 2 else {}
    elapsed = extra.pop("elapsed_s", elapsed)
    peak = int(extra.pop("peak_rss_kib", peak))  # where the contender stopped its clock
    output_bytes = int(extra.pop("output_bytes", np.asarray(data).nbytes))
    result = {
        "elapsed_s": elapsed,
        "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "output_bytes": output_bytes,
        "peak_rss_delta_bytes": (peak - rss0) * 1024 if peak_ok else None,
        "extra": extra,
    }
    if args.save:
        np.savez(args.save, ids=np.array(ids), data=data)
    Path(args.result).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
