"""Hand-built TIFF headers and STAC items for the index tests (no network, no files)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rasteret.index.records import BandRecord, ItemRecord
from rasteret.tiff.types import GeoInfo, IfdKind, IfdLayout, TiffHeader


def make_ifd(
    *, index: int = 0, kind: IfdKind = IfdKind.FULL, size: int = 1024, tile: int = 256
) -> IfdLayout:
    across = -(-size // tile)
    n = across * across
    return IfdLayout(
        ifd_index=index,
        kind=kind,
        width=size,
        height=size,
        tile_width=tile,
        tile_height=tile,
        tiled=True,
        samples_per_pixel=1,
        bits_per_sample=16,
        sample_format=1,
        dtype="uint16",
        compression=8,
        predictor=2,
        planar_config=1,
        photometric=1,
        subfile_type=0 if kind is IfdKind.FULL else 1,
        tiles_across=across,
        tiles_down=across,
        tile_offsets=np.arange(1000, 1000 + n * 500, 500, dtype=np.uint64),
        tile_byte_counts=np.full(n, 400, dtype=np.uint64),
    )


def make_header(*, epsg: int = 32610, size: int = 1024) -> TiffHeader:
    return TiffHeader(
        byte_order="<",
        bigtiff=False,
        ifds=(make_ifd(size=size), make_ifd(index=1, kind=IfdKind.OVERVIEW, size=size // 2)),
        geo=GeoInfo(
            transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 4200000.0),
            raster_type=1,
            crs_epsg=epsg,
            crs_wkt=f"PROJCRS[EPSG:{epsg}]",
        ),
        nodata=0.0,
        header_size=16384,
        file_size=10_000_000,
        etag='"abc"',
    )


def make_item(
    item_id: str,
    *,
    day: int = 1,
    cloud: float | None = 10.0,
    bbox: tuple[float, float, float, float] = (-122.5, 37.5, -122.0, 38.0),
    platform: str = "sentinel-2a",
    epsg: int = 32610,
    signed: bool = False,
) -> dict[str, Any]:
    xmin, ymin, xmax, ymax = bbox
    query = "?st=2024-01-01&se=2024-01-02&sp=r&sv=2021&sr=b&sig=SECRET" if signed else ""
    props: dict[str, Any] = {
        "datetime": f"2024-01-{day:02d}T18:30:00Z",
        "platform": platform,
        "constellation": "sentinel-2",
        "proj:epsg": epsg,
    }
    if cloud is not None:
        props["eo:cloud_cover"] = cloud
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": "sentinel-2-l2a",
        "bbox": list(bbox),
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax], [xmin, ymin]]],
        },
        "properties": props,
        "assets": {
            "red": {"href": f"https://example.com/{item_id}/B04.tif{query}", "type": "image/tiff"},
            "nir": {"href": f"https://example.com/{item_id}/B08.tif{query}", "type": "image/tiff"},
        },
        "links": [],
    }


def make_record(item: dict[str, Any], *, fail_nir: bool = False) -> ItemRecord:
    epsg = item["properties"].get("proj:epsg", 32610)
    red = BandRecord(item["assets"]["red"]["href"], "red", None, make_header(epsg=epsg), None)
    nir = BandRecord(
        item["assets"]["nir"]["href"],
        "nir",
        None,
        None if fail_nir else make_header(epsg=epsg),
        "HTTP 403" if fail_nir else None,
    )
    return ItemRecord(item, {"B04": red, "B08": nir})


BANDS = {"B04": {"asset_key": "red"}, "B08": {"asset_key": "nir"}}
