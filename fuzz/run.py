"""Fuzz rasteret's TIFF parser and tile decoders for a time budget and write a summary.

Usage::

    .venv/bin/python fuzz/run.py --minutes 10                 # atheris, both targets
    .venv/bin/python fuzz/run.py --minutes 1 --engine random  # no atheris needed

The atheris engine runs libFuzzer (coverage-guided) in a child process per target,
restarting it after each finding until the target's share of the budget is spent; a
per-input hard timeout (``-timeout``) turns hangs into findings and ``-rss_limit_mb``
bounds the process. Afterwards every corpus entry and finding is replayed in this process
under :mod:`tracemalloc`, which gives the per-input time and allocation numbers of the
summary. The random engine is a seeded mutator with the same rules (the test suite runs
it for a few seconds).

The summary (inputs executed, crashes, hangs, allocation-cap breaches, peak memory) goes
to ``fuzz/results/<date>.json``; findings are kept under ``fuzz/work/artifacts``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import fuzz_seeds
import fuzz_targets
from fuzz_targets import TARGETS, Outcome, check_input

from rasteret.tiff.limits import MAX_BLOCK_BYTES

HERE = Path(__file__).resolve().parent
MAX_LEN = 262_144
"""Largest input libFuzzer builds (the biggest seed COG is ~120 kB)."""
RSS_LIMIT_MB = 2048
"""libFuzzer kills the child above this resident size (an out-of-memory finding)."""
INTERESTING = (0, 1, 2, 7, 8, 16, 255, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**40, 2**64 - 1)
"""Values the random engine writes over fields (boundaries of TIFF's integer types)."""


@dataclass(kw_only=True)
class TargetSummary:
    """Numbers of one target's run."""

    target: str
    engine: str
    seconds: float = 0.0
    executed: int = 0
    restarts: int = 0
    crashes: int = 0
    hangs: int = 0
    alloc_breaches: int = 0
    oom: int = 0
    coverage: int | None = None
    corpus_size: int = 0
    peak_rss_mb: int | None = None
    replayed: int = 0
    replay_max_seconds: float = 0.0
    replay_peak_alloc_bytes: int = 0
    replay_peak_alloc_ratio: float = 0.0
    findings: list[dict[str, str]] = field(default_factory=list)


def replay(target_name: str, inputs: Iterable[tuple[str, bytes]], summary: TargetSummary) -> None:
    """Run inputs once more under tracemalloc, recording time, allocation and findings."""
    target = TARGETS[target_name]
    for name, data in inputs:
        out = check_input(target, data)
        summary.replayed += 1
        summary.replay_max_seconds = max(summary.replay_max_seconds, out.seconds)
        summary.replay_peak_alloc_bytes = max(summary.replay_peak_alloc_bytes, out.peak_bytes)
        summary.replay_peak_alloc_ratio = max(
            summary.replay_peak_alloc_ratio, out.peak_bytes / out.cap_bytes
        )
        _record(summary, name, out, count=False)


def _record(summary: TargetSummary, name: str, out: Outcome, *, count: bool = True) -> None:
    """Count a violation and keep its description (once per input name)."""
    if out.status in ("ok", "rejected"):
        return
    if count:
        attr = {"crash": "crashes", "hang": "hangs", "alloc": "alloc_breaches"}[out.status]
        setattr(summary, attr, getattr(summary, attr) + 1)
    if all(f["input"] != name for f in summary.findings):
        summary.findings.append({"input": name, "kind": out.status, "detail": out.detail})


# ---------------------------------------------------------------------- random engine


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to eight structure-blind edits: bytes, integer fields, truncation, splices."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not buf:
            buf = bytearray(rng.randbytes(rng.randint(1, 64)))
        pos = rng.randrange(len(buf))
        kind = rng.randrange(6)
        if kind == 0:
            buf[pos] = rng.randrange(256)
        elif kind == 1:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 2:
            width = rng.choice((2, 4, 8))
            value = rng.choice(INTERESTING) % (1 << (8 * width))
            order: Literal["little", "big"] = rng.choice(("little", "big"))
            buf[pos : pos + width] = value.to_bytes(width, order)[: len(buf) - pos]
        elif kind == 3:
            del buf[rng.randrange(len(buf)) :]
        elif kind == 4:
            start = rng.randrange(len(buf))
            chunk = buf[start : start + rng.randint(1, 64)]
            buf[pos:pos] = chunk
        else:
            del buf[pos : pos + rng.randint(1, 16)]
    return bytes(buf[:MAX_LEN])


def run_random(
    target_name: str, seeds: dict[str, bytes], seconds: float, *, seed: int = 0
) -> TargetSummary:
    """Mutate seeds at random for ``seconds``, checking every input against the rules."""
    summary = TargetSummary(target=target_name, engine="random")
    target = TARGETS[target_name]
    rng = random.Random(seed)  # noqa: S311 -- reproducible mutations, not secrets
    pool = list(seeds.values())
    started = time.perf_counter()
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        for name, data in seeds.items():
            _record(summary, f"seed_{name}", check_input(target, data))
            summary.executed += 1
        while time.perf_counter() - started < seconds:
            data = mutate(rng.choice(pool), rng)
            out = check_input(target, data)
            summary.executed += 1
            summary.replay_max_seconds = max(summary.replay_max_seconds, out.seconds)
            summary.replay_peak_alloc_bytes = max(summary.replay_peak_alloc_bytes, out.peak_bytes)
            summary.replay_peak_alloc_ratio = max(
                summary.replay_peak_alloc_ratio, out.peak_bytes / out.cap_bytes
            )
            _record(summary, f"random#{summary.executed}:{data[:32].hex()}", out)
            if out.status == "ok" and len(pool) < 512 and rng.random() < 0.05:
                pool.append(data)  # keep some valid mutants: they reach deeper code
    finally:
        if not tracing:
            tracemalloc.stop()
    summary.seconds = time.perf_counter() - started
    summary.corpus_size = len(pool)
    return summary


# ---------------------------------------------------------------------- atheris engine

_STAT = re.compile(r"stat::(\w+):\s+(\d+)")
_COV = re.compile(r"cov: (\d+)")


def run_atheris(
    target_name: str, seeds: dict[str, bytes], seconds: float, work: Path
) -> TargetSummary:
    """Run libFuzzer on one target for ``seconds``, restarting after each finding."""
    summary = TargetSummary(target=target_name, engine="atheris")
    seed_dir, corpus = work / "seeds" / target_name, work / "corpus" / target_name
    artifacts = work / "artifacts" / target_name
    fuzz_seeds.write_corpus(seed_dir, seeds)
    for folder in (corpus, artifacts):
        folder.mkdir(parents=True, exist_ok=True)
    log = work / f"{target_name}.log"
    started = time.perf_counter()
    with log.open("w") as log_file:
        while (left := seconds - (time.perf_counter() - started)) > 5:
            cmd = [
                sys.executable,
                str(HERE / "atheris_main.py"),
                target_name,
                str(corpus),
                str(seed_dir),
                f"-max_total_time={int(left)}",
                f"-timeout={int(fuzz_targets.TIME_CAP_S)}",
                f"-rss_limit_mb={RSS_LIMIT_MB}",
                f"-max_len={MAX_LEN}",
                "-print_final_stats=1",
                f"-artifact_prefix={artifacts}/",
            ]
            proc = subprocess.run(  # noqa: S603 -- our own interpreter and script
                cmd, capture_output=True, text=True, check=False, cwd=HERE
            )
            text = proc.stderr + proc.stdout
            log_file.write(text)
            stats = {k: int(v) for k, v in _STAT.findall(text)}
            summary.executed += stats.get("number_of_executed_units", 0)
            if "peak_rss_mb" in stats:
                summary.peak_rss_mb = max(summary.peak_rss_mb or 0, stats["peak_rss_mb"])
            if covs := _COV.findall(text):
                summary.coverage = max(summary.coverage or 0, int(covs[-1]))
            if proc.returncode != 0:
                summary.restarts += 1
                if "libFuzzer: timeout" in text:
                    summary.hangs += 1
                elif "out-of-memory" in text:
                    summary.oom += 1
                elif "AllocationCapExceededError" in text:
                    summary.alloc_breaches += 1
                else:
                    summary.crashes += 1
                tail = (
                    text[text.find("=== Uncaught") :][:1500]
                    if "=== Uncaught" in text
                    else text[-1500:]
                )
                summary.findings.append(
                    {"input": "see artifacts", "kind": "atheris", "detail": tail}
                )
    summary.seconds = time.perf_counter() - started
    entries = sorted(corpus.iterdir())
    summary.corpus_size = len(entries)
    for path in sorted(artifacts.iterdir()):
        # A finding may kill the interpreter (a crash in a C codec): replay it apart.
        code = (
            "import sys, tracemalloc, fuzz_targets as f; tracemalloc.start(); "
            "o = f.check_input(f.TARGETS[sys.argv[1]], open(sys.argv[2], 'rb').read()); "
            "print(o.status, o.detail)"
        )
        proc = subprocess.run(  # noqa: S603 -- our own interpreter and targets
            [sys.executable, "-c", code, target_name, str(path)],
            capture_output=True,
            text=True,
            check=False,
            cwd=HERE,
        )
        status = proc.stdout.strip() or f"killed by signal {-proc.returncode}"
        summary.findings.append({"input": path.name, "kind": "replay", "detail": status})
    tracemalloc.start()
    replay(
        target_name,
        ((p.name, p.read_bytes()) for p in [*entries, *sorted(seed_dir.iterdir())]),
        summary,
    )
    tracemalloc.stop()
    return summary


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, fuzz each target for its share of the budget, write the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="total budget")
    parser.add_argument("--engine", choices=("atheris", "random"), default="atheris")
    parser.add_argument("--targets", default="header,decode", help="comma-separated")
    parser.add_argument("--seed", type=int, default=0, help="random engine seed")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--out", type=Path, default=None, help="summary JSON path")
    args = parser.parse_args(argv)
    names = [n for n in args.targets.split(",") if n]
    seeds = {"header": fuzz_seeds.header_seeds(), "decode": fuzz_seeds.decode_seeds()}
    share = args.minutes * 60 / len(names)
    summaries = []
    for name in names:
        if args.engine == "atheris":
            summaries.append(run_atheris(name, seeds[name], share, args.work))
        else:
            summaries.append(run_random(name, seeds[name], share, seed=args.seed))
        print(json.dumps(asdict(summaries[-1]), indent=1)[:2000], flush=True)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = args.out or HERE / "results" / f"{today}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "date": today,
        "engine": args.engine,
        "minutes": args.minutes,
        "limits": {
            "time_cap_s": fuzz_targets.TIME_CAP_S,
            "rss_limit_mb": RSS_LIMIT_MB,
            "alloc_cap": "8 MiB + 16 x input bytes + 3 x declared block bytes (tracemalloc)",
            "max_block_bytes": MAX_BLOCK_BYTES,
        },
        "totals": {
            "executed": sum(s.executed for s in summaries),
            "crashes": sum(s.crashes for s in summaries),
            "hangs": sum(s.hangs for s in summaries),
            "alloc_breaches": sum(s.alloc_breaches for s in summaries),
            "oom": sum(s.oom for s in summaries),
            "peak_rss_mb": max((s.peak_rss_mb or 0) for s in summaries),
            "replay_peak_alloc_bytes": max(s.replay_peak_alloc_bytes for s in summaries),
        },
        "targets": [asdict(s) for s in summaries],
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"summary written to {out}")
    bad = report["totals"]
    return 1 if bad["crashes"] or bad["hangs"] or bad["alloc_breaches"] or bad["oom"] else 0


if __name__ == "__main__":
    sys.exit(main())
