"""Summaries, target checks and the JSON / markdown / PNG outputs of a benchmark run."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.workloads import Workload

TARGETS = {
    "mixed": {"rasterio": 20.0, "rasterio-16t": 12.0, "async-geotiff": 1.5},
    "latency": {"async-geotiff": 2.0},
}
"""Speed-up of rasteret over each peer that the issue asks for, per workload kind."""
BUILD_ASSETS_PER_S = 500.0
DECODE_FLOOR_RATIO = 1.1
PEAK_MEMORY_RATIO = 2.0


def _med(values: list[float]) -> float | None:
    return median(values) if values else None


def summarise(
    wl: Workload, runs: dict[str, list[dict[str, Any]]], verdict: dict[str, str]
) -> dict[str, Any]:
    """Medians and ratios of one workload."""
    contenders: dict[str, Any] = {}
    for name, outs in runs.items():
        ok = [o for o in outs if "elapsed_s" in o]
        errors = [o.get("error", o.get("skipped", "")) for o in outs if "elapsed_s" not in o]
        times = [o["elapsed_s"] for o in ok]
        entry: dict[str, Any] = {
            "runs_s": [round(t, 4) for t in times],
            "median_s": _med(times),
            "errors": errors[:2],
            "failed_runs": len(errors),
        }
        if ok:
            traffic = [o.get("traffic", {}) for o in ok]
            entry.update(
                requests=_med([t.get("requests", 0) for t in traffic]),
                bytes=_med([t.get("bytes", 0) for t in traffic]),
                header_requests=_med([t.get("header_requests", 0) for t in traffic]),
                max_in_flight=max(t.get("max_in_flight", 0) for t in traffic),
                output_bytes=ok[0]["output_bytes"],
                peak_rss_delta_bytes=_med(
                    [o["peak_rss_delta_bytes"] for o in ok if o["peak_rss_delta_bytes"] is not None]
                ),
                extra={k: _med([o["extra"][k] for o in ok]) for k in ok[0].get("extra", {})},
            )
        contenders[name] = entry
    base = contenders.get("rasteret", {}).get("median_s")
    speedup = {
        name: (e["median_s"] / base if base and e.get("median_s") else None)
        for name, e in contenders.items()
        if name != "rasteret"
    }
    out = {
        "title": wl.title,
        "kind": wl.kind,
        "contenders": contenders,
        "speedup_of_rasteret": speedup,
        "pixels": verdict,
    }
    if wl.name == "index-build" and base:
        out["rasteret_assets_per_s"] = 240 / base
    return out


def line(name: str, summary: dict[str, Any]) -> str:
    """One console line: medians and speed-ups."""
    parts = []
    for c, e in summary["contenders"].items():
        m = e.get("median_s")
        parts.append(f"{c}={m:.3f}s" if m is not None else f"{c}=n/a")
    ups = ", ".join(f"{c} {r:.1f}x" for c, r in summary["speedup_of_rasteret"].items() if r)
    return f"{name}: {' '.join(parts)} | rasteret faster than: {ups} | pixels: {summary['pixels']}"


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured value and whether it is met."""
    rows: list[dict[str, Any]] = []
    for name, s in doc["workloads"].items():
        for peer, want in TARGETS.get(s["kind"], {}).items():
            got = s["speedup_of_rasteret"].get(peer)
            if got is not None:
                rows.append(
                    {
                        "target": f"{name}: >= {want}x faster than {peer}",
                        "measured": round(got, 2),
                        "met": got >= want,
                    }
                )
        if name == "index-build" and "rasteret_assets_per_s" in s:
            got = s["rasteret_assets_per_s"]
            rows.append(
                {
                    "target": f"index build >= {BUILD_ASSETS_PER_S:.0f} assets/s",
                    "measured": round(got, 1),
                    "met": got >= BUILD_ASSETS_PER_S,
                }
            )
        floor = s["contenders"].get("floor", {}).get("median_s")
        ours = s["contenders"].get("rasteret", {}).get("median_s")
        if floor and ours:
            rows.append(
                {
                    "target": f"{name}: within {DECODE_FLOOR_RATIO}x of the decode floor",
                    "measured": round(ours / floor, 3),
                    "met": ours / floor <= DECODE_FLOOR_RATIO,
                }
            )
        r = s["contenders"].get("rasteret", {})
        if name != "index-build" and r.get("peak_rss_delta_bytes") and r.get("output_bytes"):
            ratio = r["peak_rss_delta_bytes"] / r["output_bytes"]
            rows.append(
                {
                    "target": f"{name}: peak memory <= {PEAK_MEMORY_RATIO}x the output arrays",
                    "measured": round(ratio, 2),
                    "met": ratio <= PEAK_MEMORY_RATIO,
                }
            )
        if name != "index-build" and "header_requests" in r:
            rows.append(
                {
                    "target": f"{name}: rasteret reads fetch no header",
                    "measured": r["header_requests"],
                    "met": r["header_requests"] == 0,
                }
            )
    return rows


def markdown(doc: dict[str, Any]) -> str:
    """The results table (medians, speed-ups, traffic) and the targets."""
    s = doc["settings"]
    m = doc["machine"]
    out = [
        f"# Benchmark `{doc['name']}`",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + ".",
        f"Latency {s['latency_ms']:g} ms per request (first byte), "
        f"{'no bandwidth cap' if not s['bandwidth_mbps'] else str(s['bandwidth_mbps']) + ' Mbit/s'}"
        f"; median of {s['runs']} cold runs (fresh process each); {s['object_store']}.",
        "Peak RSS is the high-water mark of the timed part above the RSS at its start; the "
        "output it is compared with is rasteret's data plus its valid mask (the peers return "
        "no mask).",
        "",
        "| workload | contender | median s | rasteret faster by | requests | MiB "
        "| peak RSS / output | pixels |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, w in doc["workloads"].items():
        for c, e in w["contenders"].items():
            med = e.get("median_s")
            up = w["speedup_of_rasteret"].get(c)
            mem = (
                f"{e['peak_rss_delta_bytes'] / e['output_bytes']:.2f}"
                if e.get("peak_rss_delta_bytes") and e.get("output_bytes") and name != "index-build"
                else ""
            )
            mib = f"{e['bytes'] / 2**20:.1f}" if e.get("bytes") else ""
            pix = "reference" if c == "rasteret" else w["pixels"].get(c, "not compared")
            if med is None:
                pix = (e.get("errors") or ["n/a"])[0][:60]
            elif e.get("failed_runs"):
                first = (e.get("errors") or [""])[0].splitlines()[:1] or [""]
                pix += f"; {e['failed_runs']} run(s) failed: {first[0][:60]}"
            out.append(
                f"| {name} | {c} | {'' if med is None else f'{med:.3f}'} | "
                f"{'' if not up else f'{up:.1f}x'} | {e.get('requests', '') or ''} | "
                f"{mib} | {mem} | {pix} |"
            )
    out += ["", "| target | measured | met |", "|---|---:|---|"]
    out += [
        f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |"
        for t in doc["targets"]
    ]
    return "\n".join(out) + "\n"


def chart(doc: dict[str, Any], path: Path) -> None:
    """Horizontal bars: rasteret's speed-up over each peer per workload (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values = [], []
    for name, w in doc["workloads"].items():
        for peer, up in w["speedup_of_rasteret"].items():
            if up:
                labels.append(f"{name} vs {peer}")
                values.append(up)
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(labels) + 1.5))
    colors = ["tab:green" if v >= 1 else "tab:red" for v in values]
    ax.barh(labels, values, color=colors)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.1f}x", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("rasteret speed-up (peer median / rasteret median), log scale")
    ax.set_title(f"{doc['name']}: {doc['settings']['latency_ms']:g} ms per request")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(doc: dict[str, Any], stem: Path) -> None:
    """``<stem>.json``, ``<stem>.md`` and ``<stem>.png``."""
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(doc))
    chart(doc, stem.with_suffix(".png"))
