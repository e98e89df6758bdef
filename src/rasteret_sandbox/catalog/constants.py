"""The sample catalog's known answers: search box, dates and item counts per collection.

Tests assert against these numbers instead of counting items themselves, so a change to
the generated corpus shows up as a failing constant. :data:`CONTENT_VERSION` keys the
on-disk cache of generated COGs.
"""

from __future__ import annotations

CONTENT_VERSION = "1"
"""Bump whenever a generated file changes, so cached data dirs are rebuilt."""

PC_ITEMS_NAME = "planetary-computer-landsat-naip-items.ndjson"
"""Real Planetary Computer items (read-only input)."""

SF_BBOX = (-122.5, 37.5, -122.0, 38.0)
"""San Francisco Bay area search box of the build_from_stac examples."""
JAN_MAR = ("2024-01-01", "2024-03-31")
"""Date range of the build_from_stac examples."""

# --- sentinel-2-l2a (synthetic, Earth Search keys)
S2_SF_COUNT = 12
"""sentinel-2-l2a items (EPSG:32610, tile 10SEG) inside SF_BBOX, Jan..Jun 2024."""
SF_JAN_MAR_COUNT = 6
"""sentinel-2-l2a items in SF_BBOX within JAN_MAR."""
SF_JAN_MAR_LOW_CLOUD_COUNT = 3
"""... of which ``eo:cloud_cover < 10`` (the spec's ``query`` example)."""
S2_SF_LOW_CLOUD_COUNT = 6
"""sentinel-2-l2a items in SF_BBOX with ``eo:cloud_cover < 10`` (all dates)."""
S2_EAST_COUNT = 3
"""sentinel-2-l2a items in EPSG:32611 near (-117.5, 37.4), outside SF_BBOX."""
S2_TOTAL_COUNT = S2_SF_COUNT + S2_EAST_COUNT
"""All sentinel-2-l2a items."""
PC_S2_STATIC_COUNT = S2_TOTAL_COUNT
"""Items in the PC-style static catalog (same scenes, PC asset keys)."""

# --- other synthetic collections
LANDSAT_SF_COUNT = 8
"""landsat-c2l2-sr items (EPSG:32610) inside SF_BBOX, Jan..May 2024."""
LANDSAT_SF_JAN_MAR_COUNT = 6
"""landsat-c2l2-sr items in SF_BBOX within JAN_MAR."""
NAIP_SAMPLE_COUNT = 2
"""naip-sample items (EPSG:26910), both inside SF_BBOX, May 2024."""
DEM_COUNT = 2
"""cop-dem-glo-30 tiles (N37 W123 and N36 W123)."""
DEM_SF_COUNT = 1
"""cop-dem-glo-30 tiles intersecting SF_BBOX."""

# --- Planetary Computer items
PC_LANDSAT_COUNT = 716
"""landsat-8-c2-l2 items from the Planetary Computer file."""
PC_NAIP_COUNT = 437
"""naip items from the Planetary Computer file."""
