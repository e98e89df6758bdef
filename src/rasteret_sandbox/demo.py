"""The offline demo: a local STAC API and object store, a build, a filter, a cache hit.

Run ``python -m rasteret_sandbox.demo`` (or ``./dev demo``). It generates a small sample
catalog of Sentinel-2-, Landsat- and NAIP-like COGs, serves the files with nginx and
the items with stac-fastapi-pgstac on 127.0.0.1, then uses rasteret exactly as a user
would against Earth Search or the Planetary Computer.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import rasteret
from rasteret_sandbox.catalog import JAN_MAR, SF_BBOX, build_sample_catalog
from rasteret_sandbox.servers import NginxServer, StacApiServer


def _say(text: str) -> None:
    print(text, flush=True)


def _describe_layout(collection: rasteret.Collection, band: str) -> None:
    header = collection.headers(band)[0]
    if header is None:
        _say(f"    {band}: header could not be read")
        return
    full = header.full
    geo = header.geo
    _say(
        f"    {band}: {full.width}x{full.height} px {full.dtype}, "
        f"{full.tile_width}x{full.tile_height} tiles ({full.tiles_across}x{full.tiles_down}), "
        f"compression {full.compression}, predictor {full.predictor}, "
        f"overviews {[f'{o.width}x{o.height}' for o in header.overviews]}, "
        f"nodata {header.nodata}, EPSG:{geo.crs_epsg if geo else None}, "
        f"header {header.header_size} bytes of a {header.file_size}-byte file"
    )


def run(workdir: Path, cache: Path) -> None:
    """Run the demo in ``workdir`` (servers are stopped before it returns)."""
    served = workdir / "served"
    workspace = workdir / "workspace"
    served.mkdir(parents=True, exist_ok=True)
    params = {
        "name": "bay-area-s2",
        "collection": "sentinel-2-l2a",
        "bbox": SF_BBOX,
        "date_range": JAN_MAR,
        "workspace_dir": workspace,
    }
    with NginxServer(served) as store:
        _say("1. Generating the sample catalog (Sentinel-2, Landsat, NAIP, DEM-like COGs)...")
        t0 = time.perf_counter()
        catalog = build_sample_catalog(served, store.url, data_cache=cache, include_pc=False)
        n_items = sum(len(v) for v in catalog.items.values())
        _say(
            f"   {n_items} items in {len(catalog.items)} collections "
            f"({time.perf_counter() - t0:.1f} s); COGs served by nginx at {store.url}"
        )

        _say("2. Starting a STAC API (stac-fastapi-pgstac on PostgreSQL/PostGIS)...")
        with StacApiServer(workdir / "stac-api") as api:
            api.load_collections(catalog.collections.values())
            api.load_items(catalog.all_items())
            _say(f"   STAC API at {api.url}")

            _say("3. build_from_stac: search, then one ranged read per COG header...")
            store.clear_log()
            t0 = time.perf_counter()
            collection = rasteret.build_from_stac(stac_api=api.url, **params)  # type: ignore[arg-type]
            took = time.perf_counter() - t0
            reads = [r for r in store.requests() if r.path.endswith(".tif")]
            per_file = Counter(r.path for r in reads)
            _say(
                f"   built in {took:.2f} s: {len(per_file)} COG headers, {len(reads)} range "
                f"requests ({max(per_file.values())} per file at most)"
            )
            _say("   " + repr(collection).replace("\n", "\n   "))
            _say("   Layout stored for the first scene:")
            for band in ("B04", "B11", "SCL"):
                _describe_layout(collection, band)

            _say("4. Filtering the index (no network):")
            clear = collection.subset(cloud_cover_lt=10)
            _say(
                f"   cloud cover < 10 %: {len(clear)} of {len(collection)} scenes: "
                f"{[s.id for s in clear]}"
            )
            feb = collection.subset(date_range=("2024-02-01", "2024-02-29"))
            _say(f"   February 2024: {len(feb)} scenes")
            aoi = (-122.30, 37.72, -122.28, 37.74)
            looks = collection.plot(aoi, ["B04", "B03", "B02"], workdir / "quicklook.png")
            footprints = collection.plot_footprints(workdir / "footprints.png", aoi=aoi)
            _say(f"   pictures: quicklook {looks}\n             footprints {footprints}")

            _say("5. Other collections of the reference page's kind:")
            landsat = rasteret.build_from_stac(
                name="landsat-c2",
                stac_api=api.url,
                collection="landsat-c2l2-sr",
                data_source="usgs/landsat-c2l2-sr",
                band_map={"B02": "blue", "B03": "green", "B04": "red", "B05": "nir08"},
                bbox=SF_BBOX,
                date_range=JAN_MAR,
                workspace_dir=workspace,
            )
            _say(f"   Landsat with a band map: {len(landsat)} scenes, bands {landsat.bands}")
            naip = rasteret.build_from_stac(
                name="naip",
                stac_api=api.url,
                collection="naip-sample",
                data_source="pc/naip",
                bbox=SF_BBOX,
                date_range=("2024-01-01", "2024-12-31"),
                workspace_dir=workspace,
            )
            samples = {b: naip.band_info(b)["sample_index"] for b in naip.bands}
            _say(f"   NAIP, four bands in one COG (band_index_map): {len(naip)} scenes, {samples}")
            api_url = api.url

    _say("6. Servers stopped. The same call again is answered from the index alone:")
    t0 = time.perf_counter()
    again = rasteret.build_from_stac(stac_api=api_url, **params)  # type: ignore[arg-type]
    _say(
        f"   {len(again)} scenes in {1000 * (time.perf_counter() - t0):.0f} ms, index {again.path}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, help="keep servers' files and the index here")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "rasteret-sandbox",
        help="where generated COGs are kept between runs (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.workdir is not None:
        run(args.workdir, args.cache)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="rasteret-demo-"))
    try:
        run(workdir, args.cache)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _say("Done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
