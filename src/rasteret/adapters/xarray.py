"""ArrayResults as an :class:`xarray.Dataset` that rioxarray, odc-geo and GDAL understand.

Layout of the dataset (one AOI):

- one data variable per band, dims ``(time, y, x)``, in the read's native dtype (no float
  promotion: a uint16 band stays uint16, so memory and exact values are kept);
- one boolean variable ``<band>_valid`` per band with the same dims, True where the pixel
  is inside the AOI, inside the scene and not nodata. A mask per band rather than one
  ``valid`` variable with a band dimension keeps every variable on the same dims, so
  ``ds["B04"].where(ds["B04_valid"])`` aligns as is and ``isel``/``sel`` treat data and
  masks alike;
- coordinates ``time`` (``datetime64[ns]``, UTC without a time zone, as xarray prefers),
  ``id`` (scene ids along time), any scene properties along time, ``x``/``y`` at pixel
  centres, and a scalar ``spatial_ref`` holding the CF grid mapping (``crs_wkt``), GDAL's
  ``spatial_ref`` WKT and ``GeoTransform``, so CRS and transform survive ``to_netcdf``;
- each variable's ``grid_mapping`` attribute names ``spatial_ref``; band variables carry the
  fill value as ``_FillValue`` (CF, xarray and rioxarray) and ``nodata`` (odc-geo).

Several AOIs stack along a leading ``geometry`` dimension; smaller ones are padded at the
right and bottom to the largest (fill value, not valid). Their pixels sit in different
places, so ``x``/``y`` are plain dimensions and the pixel centres become 2-D coordinates
``xc`` ``(geometry, x)`` and ``yc`` ``(geometry, y)``; ``spatial_ref`` then holds the CRS
only. Select one AOI and restore its
1-D coordinates to georeference it again::

    one = ds.isel(geometry=i)
    one = one.assign_coords(x=("x", one.xc.values), y=("y", one.yc.values))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr
from affine import Affine
from pyproj import CRS

from rasteret.errors import InvalidInputError
from rasteret.read.reader import ArrayResult

__all__ = ["to_dataset"]

GRID_MAPPING = "spatial_ref"
"""Name of the scalar coordinate holding the CRS (rioxarray's and GDAL's default)."""

VALID_SUFFIX = "_valid"
"""Suffix of the boolean mask variable of each band."""


def to_dataset(
    results: ArrayResult | Sequence[ArrayResult],
    *,
    scene_properties: Mapping[str, Sequence[Any]] | None = None,
    geometry_ids: Sequence[Any] | None = None,
) -> xr.Dataset:
    """Turn one AOI's read, or several AOI reads, into a georeferenced Dataset.

    Args:
        results: One :class:`ArrayResult` (dims ``(time, y, x)``) or a sequence of them,
            one per AOI (dims ``(geometry, time, y, x)``, even for a sequence of one, so the
            shape depends on what was passed and not on how many AOIs there were).
        scene_properties: Extra per-scene coordinates along ``time`` (e.g.
            ``{"eo:cloud_cover": [...]}``), one value per scene in the results' order.
        geometry_ids: Labels of the ``geometry`` coordinate, one per result (default
            ``0..n-1``); only meaningful with a sequence of results.

    Returns:
        The dataset described in the module docstring.

    Raises:
        InvalidInputError: No results; AOIs with different scenes, bands, CRS, dtype or
            fill values (read such AOIs separately, one dataset each); property or
            id lengths that do not match; a rotated transform (no 1-D x/y coordinates); or
            names that would collide (a band called ``time``, say).
    """
    if isinstance(results, ArrayResult):
        if geometry_ids is not None:
            raise InvalidInputError(
                "geometry_ids", geometry_ids, "only applies to a sequence of results (AOIs)"
            )
        return _single(results, scene_properties)
    stack = list(results)
    if not stack:
        raise InvalidInputError("results", stack, "no results to convert")
    labels = list(range(len(stack))) if geometry_ids is None else list(geometry_ids)
    if len(labels) != len(stack):
        raise InvalidInputError(
            "geometry_ids", geometry_ids, f"needs one id per result ({len(stack)})"
        )
    _check_stackable(stack)
    return _stacked(_padded(stack), labels, scene_properties)


def _padded(stack: list[ArrayResult]) -> list[ArrayResult]:
    """AOIs of different sizes, padded at the right and bottom to the largest.

    The padding holds the fill value and is marked not valid; each AOI keeps its own
    origin, so its ``xc``/``yc`` centres stay right (they simply run on past the AOI).
    """
    height = max(r.data.shape[-2] for r in stack)
    width = max(r.data.shape[-1] for r in stack)
    out = []
    for r in stack:
        n, c, h, w = r.data.shape
        if (h, w) == (height, width):
            out.append(r)
            continue
        data = np.empty((n, c, height, width), dtype=r.data.dtype)
        for band, fill in enumerate(r.fill_values):
            data[:, band] = _fill_scalar(fill, r.data.dtype)
        data[:, :, :h, :w] = r.data
        valid = np.zeros((n, c, height, width), dtype=bool)
        valid[:, :, :h, :w] = r.valid
        out.append(dataclasses.replace(r, data=data, valid=valid))
    return out


def _single(
    result: ArrayResult, scene_properties: Mapping[str, Sequence[Any]] | None
) -> xr.Dataset:
    """Dataset of one AOI: 1-D ``x``/``y`` so rioxarray finds the transform from them."""
    _check_rectilinear(result.transform)
    _, _, height, width = result.data.shape
    xs, ys = _centres(result.transform, width, height)
    x_attrs, y_attrs = _axis_attrs(result.crs)
    coords: dict[str, Any] = _time_coords(result, scene_properties)
    coords["x"] = xr.Variable(("x",), xs, x_attrs)
    coords["y"] = xr.Variable(("y",), ys, y_attrs)
    coords[GRID_MAPPING] = xr.Variable((), 0, _grid_mapping_attrs(result.crs, result.transform))
    dims = ("time", "y", "x")
    return xr.Dataset(_variables(result, dims, lambda c: result.data[:, c], result.valid), coords)


def _stacked(
    stack: list[ArrayResult],
    labels: list[Any],
    scene_properties: Mapping[str, Sequence[Any]] | None,
) -> xr.Dataset:
    """Dataset of several (padded) AOIs along ``geometry``, pixel centres as 2-D coords."""
    first = stack[0]
    _, _, height, width = first.data.shape
    x_attrs, y_attrs = _axis_attrs(first.crs)
    xcs, ycs = [], []
    for result in stack:
        _check_rectilinear(result.transform)
        xs, ys = _centres(result.transform, width, height)
        xcs.append(xs)
        ycs.append(ys)
    coords: dict[str, Any] = _time_coords(first, scene_properties)
    coords["geometry"] = xr.Variable(("geometry",), _label_array(labels))
    coords["xc"] = xr.Variable(("geometry", "x"), np.stack(xcs).reshape(len(stack), width), x_attrs)
    coords["yc"] = xr.Variable(
        ("geometry", "y"), np.stack(ycs).reshape(len(stack), height), y_attrs
    )
    coords[GRID_MAPPING] = xr.Variable((), 0, _grid_mapping_attrs(first.crs, None))
    data = np.stack([r.data for r in stack])
    valid = np.stack([r.valid for r in stack])
    dims = ("geometry", "time", "y", "x")
    return xr.Dataset(_variables(first, dims, lambda c: data[:, :, c], valid), coords)


def _variables(
    result: ArrayResult,
    dims: tuple[str, ...],
    band_data: Callable[[int], npt.NDArray[Any]],
    valid: npt.NDArray[np.bool_],
) -> dict[str, xr.Variable]:
    """Band and mask variables; ``band_data(c)`` slices band ``c`` (a view, not a copy)."""
    band_axis = len(dims) - 2  # the masks' C axis sits just before (y, x)
    out: dict[str, xr.Variable] = {}
    for c, band in enumerate(result.bands):
        values = band_data(c)
        fill = _fill_scalar(result.fill_values[c], values.dtype)
        attrs = {"grid_mapping": GRID_MAPPING, "_FillValue": fill, "nodata": fill}
        out[band] = xr.Variable(dims, values, attrs)
        mask = np.take(valid, c, axis=band_axis)
        out[band + VALID_SUFFIX] = xr.Variable(
            dims,
            mask,
            {
                "grid_mapping": GRID_MAPPING,
                "long_name": f"valid pixels of {band}",
                "description": "inside the AOI, inside the scene and not nodata",
            },
        )
    return out


def _time_coords(
    result: ArrayResult, scene_properties: Mapping[str, Sequence[Any]] | None
) -> dict[str, Any]:
    """``time``, ``id`` and the scene properties, all along ``time``; names checked once."""
    n = len(result.ids)
    coords: dict[str, Any] = {
        "time": xr.Variable(("time",), _time_array(result.datetimes)),
        "id": xr.Variable(("time",), np.array(result.ids, dtype=object)),
    }
    reserved = {"time", "id", "x", "y", "xc", "yc", "geometry", GRID_MAPPING}
    for band in result.bands:
        for name in (band, band + VALID_SUFFIX):
            if name in reserved:
                raise InvalidInputError(
                    "bands", result.bands, f"{name!r} collides with another variable name"
                )
            reserved.add(name)
    for name, values in (scene_properties or {}).items():
        if name in reserved:
            raise InvalidInputError(
                "scene_properties", name, "collides with a coordinate or band name"
            )
        if len(values) != n:
            raise InvalidInputError(
                "scene_properties", name, f"has {len(values)} values for {n} scenes"
            )
        coords[name] = xr.Variable(("time",), _property_array(values))
    return coords


def _time_array(datetimes: Sequence[datetime | None]) -> npt.NDArray[np.datetime64]:
    """UTC wall times without a zone, NaT where a scene has no datetime.

    xarray and NetCDF have no time-zone-aware dtype; naive datetimes are taken as UTC.
    """
    values = [
        np.datetime64("NaT", "ns")
        if dt is None
        else np.datetime64(
            (dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt).isoformat(), "ns"
        )
        for dt in datetimes
    ]
    return np.array(values, dtype="datetime64[ns]")


def _property_array(values: Sequence[Any]) -> npt.NDArray[Any]:
    """Numbers with gaps become float with NaN (so they stay numeric and writable)."""
    items = list(values)
    present = [v for v in items if v is not None]
    if (
        len(present) < len(items)
        and present
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    ):
        return np.array([math.nan if v is None else float(v) for v in items], dtype=np.float64)
    arr = np.asarray(items)
    if arr.ndim != 1:  # sequences as values: keep them as objects, one per scene
        arr = np.empty(len(items), dtype=object)
        arr[:] = items
    return arr


def _label_array(labels: list[Any]) -> npt.NDArray[Any]:
    """1-D array of labels even when the labels are themselves sequences."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        arr = np.empty(len(labels), dtype=object)
        arr[:] = labels
    return arr


def _check_rectilinear(transform: Affine) -> None:
    if transform.b != 0 or transform.d != 0:
        raise InvalidInputError(
            "results",
            transform,
            "a rotated or sheared transform has no 1-D x/y pixel coordinates",
        )


def _centres(
    transform: Affine, width: int, height: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Pixel-centre coordinates (the CF convention, and what rioxarray expects)."""
    xs = transform.c + transform.a * (np.arange(width, dtype=np.float64) + 0.5)
    ys = transform.f + transform.e * (np.arange(height, dtype=np.float64) + 0.5)
    return xs, ys


def _axis_attrs(crs: CRS) -> tuple[dict[str, Any], dict[str, Any]]:
    """CF attributes of the x and y coordinates, matched by axis rather than by order.

    Geographic CRSs list latitude first; matching on ``axis`` keeps longitude on x.
    """
    found: dict[str, dict[str, Any]] = {}
    try:
        for attrs in crs.cs_to_cf():
            axis = attrs.get("axis")
            if axis in ("X", "Y"):
                found[axis] = dict(attrs)
    except Exception:  # noqa: BLE001 - exotic coordinate systems: plain coordinates
        found = {}
    return found.get("X", {"axis": "X"}), found.get("Y", {"axis": "Y"})


def _grid_mapping_attrs(crs: CRS, transform: Affine | None) -> dict[str, Any]:
    """CF grid mapping plus GDAL's ``spatial_ref`` and ``GeoTransform`` (as GDAL writes it)."""
    try:
        attrs: dict[str, Any] = dict(crs.to_cf())
    except Exception:  # noqa: BLE001 - no CF form for this CRS: the WKT alone still works
        attrs = {}
    wkt = crs.to_wkt()
    attrs["crs_wkt"] = wkt
    attrs["spatial_ref"] = wkt
    if transform is not None:
        attrs["GeoTransform"] = " ".join(str(v) for v in transform.to_gdal())
    return attrs


def _fill_scalar(value: float, dtype: np.dtype[Any]) -> Any:
    """The fill value in the variable's own dtype, as CF requires of ``_FillValue``."""
    if np.issubdtype(dtype, np.integer) and not math.isfinite(value):
        return dtype.type(0)  # the reader never writes a non-finite fill into integers
    return dtype.type(value)


def _check_stackable(stack: list[ArrayResult]) -> None:
    """Several AOIs share one array only when everything but their location agrees."""
    first = stack[0]
    checks: list[tuple[str, Any]] = [
        ("scene ids", lambda r: r.ids),
        ("bands", lambda r: r.bands),
        ("CRS", lambda r: r.crs),
        ("dtype", lambda r: r.data.dtype),
        ("fill values", lambda r: tuple(_nan_key(v) for v in r.fill_values)),
    ]
    for what, key in checks:
        values = [key(r) for r in stack]
        if any(v != values[0] for v in values[1:]):
            raise InvalidInputError(
                "results",
                [key(first), next(v for v in values if v != values[0])],
                f"AOIs differ in {what}; stack only reads of the same scenes and bands, "
                "or convert each AOI separately",
            )


def _nan_key(value: float) -> float | str:
    """NaN never equals itself; compare fills by a key that does."""
    return "nan" if isinstance(value, float) and math.isnan(value) else value
