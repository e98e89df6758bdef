"""ArrayResults as a :class:`geopandas.GeoDataFrame`: one row per scene and AOI.

The table suits per-plot work (labels next to pixels, groupby on plot ids, export of
statistics) where AOIs have different sizes and so cannot share one array. Each row keeps
the user's AOI attributes and geometry (in the caller's CRS), the scene's id and time, and
per band the AOI's pixels as a 2-D NumPy array (a view into the read, not a copy) with
its boolean mask ``<band>_valid``, plus the grid's ``transform`` and ``crs`` so the arrays can
be georeferenced again (``Affine(*row.transform)``, ``CRS.from_wkt(row.crs)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]  # no stubs installed; values stay Any
import pyarrow as pa
import shapely
from pyproj import CRS

from rasteret.errors import InvalidInputError
from rasteret.read.reader import ArrayResult

__all__ = ["to_geodataframe"]

VALID_SUFFIX = "_valid"
"""Suffix of the column holding each band's validity mask (as in the xarray adapter)."""

_BASE_COLUMNS = ("geometry", "scene_id", "datetime", "transform", "crs")
"""Columns every table has, whatever the bands and attributes."""


def to_geodataframe(
    results: Sequence[ArrayResult],
    aois: Sequence[shapely.Geometry],
    aoi_crs: CRS,
    *,
    attributes: pa.Table | None = None,
) -> gpd.GeoDataFrame:
    """One row per scene x AOI, ordered AOI by AOI and, within an AOI, scene by scene.

    Args:
        results: One read per AOI, in the order of ``aois``.
        aois: The AOIs as the caller gave them (not the reprojected ones), so the geometry
            column matches the caller's own data.
        aoi_crs: CRS of ``aois``; it becomes the GeoDataFrame's CRS.
        attributes: The caller's per-AOI columns (plot ids, labels), one row per AOI,
            repeated on every scene row of that AOI.

    Returns:
        Columns: the attribute columns, ``geometry``, ``scene_id``, ``datetime`` (UTC,
        time-zone aware; naive datetimes are taken as UTC), per band ``<band>`` (2-D array
        in the native dtype, fill value outside the AOI) and ``<band>_valid`` (2-D bool
        mask), ``transform`` (the grid's affine as a 6-tuple ``(a, b, c, d, e, f)``) and
        ``crs`` (WKT of the pixels' CRS, which may differ from ``aoi_crs``).

    Raises:
        InvalidInputError: Counts that do not match, reads with different bands, or
            attribute columns whose names collide with the columns above.
    """
    results = list(results)
    aois = list(aois)
    if len(results) != len(aois):
        raise InvalidInputError(
            "results", f"{len(results)} results", f"needs one result per AOI ({len(aois)})"
        )
    if attributes is not None and attributes.num_rows != len(aois):
        raise InvalidInputError(
            "attributes",
            f"{attributes.num_rows} rows",
            f"needs one row per AOI ({len(aois)})",
        )
    bands = _common_bands(results)
    band_columns = [name for band in bands for name in (band, band + VALID_SUFFIX)]
    _check_names(bands, band_columns, attributes)

    # which AOI (g) and which of its scenes (s) each row comes from
    rows = [(g, s) for g, r in enumerate(results) for s in range(len(r.ids))]
    aoi_index = np.array([g for g, _ in rows], dtype=np.intp)

    columns: dict[str, Any] = {}
    if attributes is not None:
        frame = attributes.to_pandas().take(aoi_index).reset_index(drop=True)
        columns.update({name: frame[name] for name in frame.columns})
    columns["scene_id"] = [results[g].ids[s] for g, s in rows]
    columns["datetime"] = _utc_times([results[g].datetimes[s] for g, s in rows])
    for c, band in enumerate(bands):
        columns[band] = _objects([results[g].data[s, c] for g, s in rows])
        columns[band + VALID_SUFFIX] = _objects([results[g].valid[s, c] for g, s in rows])
    transforms = [tuple(r.transform)[:6] for r in results]
    wkts = [r.crs.to_wkt() for r in results]
    columns["transform"] = _objects([transforms[g] for g, _ in rows])
    columns["crs"] = [wkts[g] for g, _ in rows]

    geometry = gpd.GeoSeries(_objects([aois[g] for g, _ in rows]), crs=aoi_crs)
    leading = [] if attributes is None else list(attributes.column_names)
    order = [*leading, "geometry", "scene_id", "datetime", *band_columns, "transform", "crs"]
    gdf = gpd.GeoDataFrame(columns, geometry=geometry, crs=aoi_crs)
    return gdf[order]


def _common_bands(results: list[ArrayResult]) -> tuple[str, ...]:
    """All reads must name the same bands, so every row has the same columns."""
    if not results:
        return ()
    bands = results[0].bands
    for r in results[1:]:
        if r.bands != bands:
            raise InvalidInputError(
                "results", r.bands, f"AOI reads name different bands (first read: {bands})"
            )
    return bands


def _check_names(
    bands: tuple[str, ...], band_columns: list[str], attributes: pa.Table | None
) -> None:
    """Refuse names that would silently overwrite one another."""
    taken = set(_BASE_COLUMNS)
    for name in band_columns:
        if name in taken:
            raise InvalidInputError("bands", bands, f"{name!r} collides with another column")
        taken.add(name)
    if attributes is None:
        return
    clashes = sorted(set(attributes.column_names) & taken)
    if clashes or len(set(attributes.column_names)) != attributes.num_columns:
        raise InvalidInputError(
            "attributes",
            attributes.column_names,
            f"column names must be unique and not among {sorted(taken)} "
            f"(clashing: {clashes}); rename them first",
        )


def _objects(values: list[Any]) -> npt.NDArray[np.object_]:
    """An object array of exactly ``len(values)`` items.

    ``np.array`` would fuse equally shaped pixel arrays (or tuples) into one N-D array.
    """
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _utc_times(datetimes: list[datetime | None]) -> Any:
    """Time-zone-aware UTC timestamps (``datetime64[ns, UTC]``), NaT where unknown.

    ``utc=True`` converts aware datetimes and takes naive ones as UTC, the same rule the
    xarray adapter follows.
    """
    return pd.to_datetime(pd.Series(datetimes, dtype=object), utc=True).astype(
        "datetime64[ns, UTC]"
    )
