"""Entry point: build the sample catalog (COGs and STAC JSON) under a folder, cached.

COG generation runs once per :data:`CONTENT_VERSION` (optionally into a shared cache under
a file lock); the JSON, which depends on the base URL, is rewritten on every call.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasteret_sandbox.catalog._stac import _collection
from rasteret_sandbox.catalog.constants import CONTENT_VERSION
from rasteret_sandbox.catalog.planetary import (
    _pc_items,
    _PcPlan,
    _plan_pc,
    _read_pc_items,
    _write_pc_cog,
)
from rasteret_sandbox.catalog.static import _atomic_write, _write_static_catalog
from rasteret_sandbox.catalog.synthetic import (
    _DEM_TILES,
    _LANDSAT_SCENES,
    _LANDSAT_SIZE,
    _NAIP_SCENES,
    _S2_SCENES,
    _dem_id,
    _dem_item,
    _landsat_id,
    _landsat_item,
    _naip_item,
    _pc_s2_item,
    _s2_item,
    _write_s2,
)
from rasteret_sandbox.scenes import (
    write_dem_tile,
    write_landsat_scene,
    write_naip_scene,
)

logger = logging.getLogger(__name__)

_MARKER = ".rasteret-sandbox-version"


# =========================================================================== result


@dataclass(frozen=True, kw_only=True)
class SampleCatalog:
    """What :func:`build_sample_catalog` wrote, with the item dicts ready to load."""

    root: Path
    """Folder served over HTTP; hrefs are relative to it."""
    data_dir: Path
    """``root/data``: the COGs (possibly a symlink to a shared cache)."""
    base_url: str | None
    """URL prefix of hrefs, or None for absolute local paths."""
    collections: dict[str, dict[str, Any]]
    """STAC API collections by id (synthetic and Planetary Computer)."""
    items: dict[str, list[dict[str, Any]]]
    """STAC API items per collection id, in a stable order."""
    static_catalog: Path
    """``catalog.json`` of the PC-style Sentinel-2 static catalog."""
    static_items: list[dict[str, Any]]
    """Items of the static catalog (collection ``sentinel-2-l2a``, PC asset keys)."""
    collections_file: Path
    """JSON list of :attr:`collections`, for ``pypgstac load collections``."""
    items_file: Path
    """NDJSON of all :attr:`items`, for ``pypgstac load items``."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per build step (generation is ~0 when cached)."""

    def href(self, relpath: str) -> str:
        """The href of ``root/relpath`` as items use it."""
        return _href(self.root, self.base_url, relpath)

    @property
    def static_catalog_url(self) -> str | None:
        """URL of the static catalog over HTTP, when a base URL was given."""
        if self.base_url is None:
            return None
        return self.href(self.static_catalog.relative_to(self.root).as_posix())

    def all_items(self) -> Iterator[dict[str, Any]]:
        """Every API item, collection after collection."""
        for items in self.items.values():
            yield from items


def _href(root: Path, base_url: str | None, relpath: str) -> str:
    """Join a root-relative path to the base URL, or make it an absolute path."""
    if base_url is None:
        return str((root / relpath).absolute())
    return f"{base_url.rstrip('/')}/{relpath}"


# =========================================================================== entry point


def build_sample_catalog(
    root: Path,
    base_url: str | None = None,
    *,
    data_cache: Path | None = None,
    workers: int = 2,
    include_pc: bool = True,
) -> SampleCatalog:
    """Write the sample COGs and STAC JSON under ``root`` and return the item dicts.

    COG generation (~25 s on two shared cores; ~1,800 files, ~390 MB) is skipped when
    ``root/data`` already holds this :data:`CONTENT_VERSION`; the JSON (which depends on
    ``base_url``) is rewritten on every call and takes about a second.

    Args:
        root: Output folder (created). Serve it over HTTP at ``base_url``.
        base_url: URL at which ``root`` is served, or None for local-path hrefs.
        data_cache: Optional folder shared between runs: the COGs are generated there once
            per content version (under a file lock, atomically) and ``root/data`` becomes
            a symlink to them. Every test session then skips generation.
        workers: Threads writing COGs (GDAL releases the GIL while encoding).
        include_pc: Also load the real Planetary Computer items (from the project's
            shared data, see :func:`pc_items_path`); the demo leaves them out.

    Returns:
        The :class:`SampleCatalog`.
    """
    t0 = time.perf_counter()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    pc_raw = _read_pc_items() if include_pc else []
    pc_plan = _plan_pc(pc_raw)
    timings: dict[str, float] = {"read_pc": time.perf_counter() - t0}

    t1 = time.perf_counter()
    if data_cache is None:
        _ensure_data(data, pc_plan, workers=workers)
    else:
        target = Path(data_cache) / f"v{CONTENT_VERSION}{'' if include_pc else '-synthetic'}"
        _ensure_shared_data(target, pc_plan, workers=workers)
        if data.is_symlink() and data.resolve() != target.resolve():
            data.unlink()
        if not data.exists():
            data.symlink_to(target.resolve(), target_is_directory=True)
    timings["generate"] = time.perf_counter() - t1

    t2 = time.perf_counter()

    def href(rel: str) -> str:
        return _href(root, base_url, f"data/{rel}")

    items = {
        "sentinel-2-l2a": [_s2_item(s, href) for s in _S2_SCENES],
        "landsat-c2l2-sr": [_landsat_item(s, href) for s in _LANDSAT_SCENES],
        "naip-sample": [_naip_item(n, o, d, href) for n, o, d in _NAIP_SCENES],
        "cop-dem-glo-30": [_dem_item(lon, lat, href) for lon, lat in _DEM_TILES],
        **_pc_items(pc_raw, pc_plan, href),
    }
    collections = {cid: _collection(cid, its) for cid, its in items.items()}
    stac_dir = root / "stac"
    api_dir = stac_dir / "api"
    api_dir.mkdir(parents=True, exist_ok=True)
    collections_file = api_dir / "collections.json"
    _atomic_write(collections_file, json.dumps(list(collections.values())))
    items_file = api_dir / "items.ndjson"
    _atomic_write(items_file, "".join(json.dumps(i) + "\n" for its in items.values() for i in its))
    static_items = [_pc_s2_item(s, href) for s in _S2_SCENES]
    static_catalog = _write_static_catalog(stac_dir / "pc-sentinel-2-l2a", static_items)
    timings["json"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    logger.info("sample catalog at %s: %s", root, {k: round(v, 2) for k, v in timings.items()})
    return SampleCatalog(
        root=root,
        data_dir=data,
        base_url=base_url,
        collections=collections,
        items=items,
        static_catalog=static_catalog,
        static_items=static_items,
        collections_file=collections_file,
        items_file=items_file,
        timings=timings,
    )


# =========================================================================== generation


def _ensure_data(data: Path, pc_plan: _PcPlan, *, workers: int) -> None:
    """Generate the COGs into ``data`` unless its marker says this version is there."""
    marker = data / _MARKER
    if marker.is_file() and marker.read_text() == CONTENT_VERSION:
        return
    if data.is_symlink():
        data.unlink()
    data.mkdir(parents=True, exist_ok=True)
    _generate(data, pc_plan, workers=workers)
    marker.write_text(CONTENT_VERSION)


def _ensure_shared_data(target: Path, pc_plan: _PcPlan, *, workers: int) -> None:
    """Generate into a shared cache once: lock, build in a temp sibling, rename in place."""
    marker = target / _MARKER
    if marker.is_file() and marker.read_text() == CONTENT_VERSION:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be generating it right now
        if marker.is_file() and marker.read_text() == CONTENT_VERSION:
            return
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            _generate(staging, pc_plan, workers=workers)
            (staging / _MARKER).write_text(CONTENT_VERSION)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _generate(data: Path, pc_plan: _PcPlan, *, workers: int) -> None:
    """Write every COG and small file of the sample set under ``data``."""
    jobs: list[Callable[[], object]] = []
    for s in _S2_SCENES:
        jobs.append(lambda s=s: _write_s2(data, s))  # type: ignore[misc]
    for s in _LANDSAT_SCENES:
        jobs.append(
            lambda s=s: write_landsat_scene(  # type: ignore[misc]
                data / "landsat-c2l2-sr",
                scene_id=_landsat_id(s),
                epsg=s.epsg,
                origin_xy=s.origin,
                size=_LANDSAT_SIZE,
                seed=s.seed,
            )
        )
    for i, (name, origin, _date) in enumerate(_NAIP_SCENES):
        jobs.append(
            lambda name=name, origin=origin, i=i: write_naip_scene(  # type: ignore[misc]
                data / "naip-sample", scene_id=name, epsg=26910, origin_xy=origin, seed=400 + i
            )
        )
    for i, (lon, lat) in enumerate(_DEM_TILES):
        jobs.append(
            lambda lon=lon, lat=lat, i=i: write_dem_tile(  # type: ignore[misc]
                data / "cop-dem-glo-30", tile_id=_dem_id(lon, lat), lon=lon, lat=lat, seed=500 + i
            )
        )
    for spec in pc_plan.cogs.values():
        jobs.append(lambda spec=spec: _write_pc_cog(data, spec))  # type: ignore[misc]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    for link, target in pc_plan.links.items():
        path = data / link
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        path.symlink_to(os.path.relpath(data / target, path.parent))
