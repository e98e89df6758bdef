"""STAC items for COGs a test or benchmark writes itself, on local paths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import shapely
import shapely.geometry
from pyproj import Transformer


def cog_item(
    item_id: str,
    *,
    epsg: int,
    transform: Sequence[float],
    shape: tuple[int, int],
    day: str,
    hrefs: Mapping[str, Path | str],
) -> dict[str, Any]:
    """A STAC item of local COGs on one north-up grid.

    Its bbox and footprint come from the grid (``transform``: affine coefficients a, b,
    c, d, e, f; ``shape``: height, width), one asset per band (``hrefs``: band -> file),
    acquired at 18:00 UTC on ``day`` (``YYYY-MM-DD``).
    """
    res_x, _, x0, _, res_y, y1 = transform[:6]
    height, width = shape
    to_ll = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    west, south, east, north = (
        float(v) for v in to_ll.transform_bounds(x0, y1 + res_y * height, x0 + res_x * width, y1)
    )
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "bbox": [west, south, east, north],
        "geometry": shapely.geometry.mapping(shapely.box(west, south, east, north)),
        "properties": {"datetime": f"{day}T18:00:00Z", "proj:epsg": epsg},
        "assets": {
            band: {"href": str(href), "type": "image/tiff; application=geotiff"}
            for band, href in hrefs.items()
        },
        "links": [],
    }
