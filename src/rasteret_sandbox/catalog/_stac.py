"""STAC JSON building blocks shared by the sample items: item and collection dicts, footprints."""

from __future__ import annotations

from typing import Any

from pyproj import Transformer

_COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_EXT = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
}


def _footprint(
    epsg: int, transform: tuple[float, ...], shape: tuple[int, int]
) -> tuple[dict[str, Any], list[float]]:
    """GeoJSON polygon and bbox (lon/lat) of a north-up grid, corners reprojected."""
    a, _, c, _, e, f = transform[:6]
    height, width = shape
    xs = [c, c + a * width, c + a * width, c]
    ys = [f, f, f + e * height, f + e * height]
    if epsg == 4326:
        lons, lats = xs, ys
    else:
        to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
        lons, lats = (list(v) for v in to_wgs84.transform(xs, ys))
    ring = [[round(x, 7), round(y, 7)] for x, y in zip(lons, lats, strict=True)]
    ring.append(ring[0])
    bbox = [round(min(lons), 7), round(min(lats), 7), round(max(lons), 7), round(max(lats), 7)]
    return {"type": "Polygon", "coordinates": [ring]}, bbox


def _proj(epsg: int, shape: tuple[int, int], transform: tuple[float, ...]) -> dict[str, Any]:
    """Projection-extension fields (both ``proj:epsg`` and its successor ``proj:code``)."""
    return {
        "proj:epsg": epsg,
        "proj:code": f"EPSG:{epsg}",
        "proj:shape": list(shape),
        "proj:transform": list(transform),
    }


def _item(
    *,
    item_id: str,
    collection: str,
    geometry: dict[str, Any],
    bbox: list[float],
    properties: dict[str, Any],
    assets: dict[str, Any],
) -> dict[str, Any]:
    """A STAC 1.0 item dict."""
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": list(_EXT.values()),
        "id": item_id,
        "collection": collection,
        "geometry": geometry,
        "bbox": bbox,
        "properties": properties,
        "links": [],
        "assets": assets,
    }


def _collection(cid: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A STAC collection whose extent covers ``items``; ``item_assets`` from the first."""
    west = min(i["bbox"][0] for i in items)
    south = min(i["bbox"][1] for i in items)
    east = max(i["bbox"][2] for i in items)
    north = max(i["bbox"][3] for i in items)
    times = sorted(i["properties"]["datetime"] for i in items)
    item_assets = {
        k: {f: v for f, v in a.items() if f not in ("href", "proj:shape", "proj:transform")}
        for k, a in items[0]["assets"].items()
    }
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": cid,
        "title": cid,
        "description": f"rasteret sandbox sample of {cid} (local files, offline).",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[west, south, east, north]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "item_assets": item_assets,
        "links": [],
    }
