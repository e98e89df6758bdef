"""The sample catalog: STAC collections and items as data, plus the COGs they point to.

Tests, the demo and benchmarks need a STAC corpus whose answers are known in advance. This
package builds one deterministically:

* synthetic collections laid out like their public counterparts (asset keys, ``proj:*``,
  ``raster:bands``, ``eo:bands``): ``sentinel-2-l2a`` (Earth Search keys), ``landsat-c2l2-sr``
  (USGS keys), ``naip-sample`` and ``cop-dem-glo-30``; item counts are the constants of
  :mod:`~rasteret_sandbox.catalog.constants`;
* the 1,153 real Planetary Computer items in the project's ``shared/data/stac`` (collections
  ``landsat-8-c2-l2`` and ``naip``) with every COG href rewritten to a local, scaled-down
  COG shaped by the item's own ``proj:*`` fields;
* a PC-style Sentinel-2 static catalog (``catalog.json -> collection.json -> items/``)
  on disk, readable by pystac from disk or over HTTP.

Hrefs are ``base_url + "/data/<path>"`` so the same tree serves over nginx, the aiohttp
range server, or (``base_url=None``) as absolute local paths.

Non-COG assets: ``thumbnail`` and ``granule_metadata`` of the synthetic Sentinel-2 items
are small real files; every non-COG asset of the Planetary Computer items (MTL, ANG,
thumbnails, tilejson, previews) points to a local path that does NOT exist (404 over
HTTP), so code that wrongly fetches them fails visibly instead of reaching the internet.

Modules: ``constants`` (known answers), ``synthetic`` (synthetic items and their files),
``planetary`` (the Planetary Computer rewrite), ``static`` (the static catalog on disk),
``build`` (:func:`build_sample_catalog`, caching), ``_stac`` (item/collection dicts) and
``local`` (:func:`cog_item`: the item of COGs a test writes itself).
"""

from rasteret_sandbox.catalog.build import SampleCatalog, build_sample_catalog
from rasteret_sandbox.catalog.constants import (
    CONTENT_VERSION,
    DEM_COUNT,
    DEM_SF_COUNT,
    JAN_MAR,
    LANDSAT_SF_COUNT,
    LANDSAT_SF_JAN_MAR_COUNT,
    NAIP_SAMPLE_COUNT,
    PC_ITEMS_NAME,
    PC_LANDSAT_COUNT,
    PC_NAIP_COUNT,
    PC_S2_STATIC_COUNT,
    S2_EAST_COUNT,
    S2_SF_COUNT,
    S2_SF_LOW_CLOUD_COUNT,
    S2_TOTAL_COUNT,
    SF_BBOX,
    SF_JAN_MAR_COUNT,
    SF_JAN_MAR_LOW_CLOUD_COUNT,
)
from rasteret_sandbox.catalog.local import cog_item
from rasteret_sandbox.catalog.planetary import pc_items_path

__all__ = [
    "CONTENT_VERSION",
    "DEM_COUNT",
    "DEM_SF_COUNT",
    "JAN_MAR",
    "LANDSAT_SF_COUNT",
    "LANDSAT_SF_JAN_MAR_COUNT",
    "NAIP_SAMPLE_COUNT",
    "PC_ITEMS_NAME",
    "PC_LANDSAT_COUNT",
    "PC_NAIP_COUNT",
    "PC_S2_STATIC_COUNT",
    "S2_EAST_COUNT",
    "S2_SF_COUNT",
    "S2_SF_LOW_CLOUD_COUNT",
    "S2_TOTAL_COUNT",
    "SF_BBOX",
    "SF_JAN_MAR_COUNT",
    "SF_JAN_MAR_LOW_CLOUD_COUNT",
    "SampleCatalog",
    "build_sample_catalog",
    "cog_item",
    "pc_items_path",
]
