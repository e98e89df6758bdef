"""Quicklook pictures: an AOI's time series as a grid of small images, and index footprints.

Both are PNG files written with matplotlib's Agg canvas on a private ``Figure`` (never
``pyplot``), so they work without a screen, in threads and in servers, and leave no
global figure state behind. Pixel sizes are exact (no ``bbox_inches="tight"``), so a
caller can lay the pictures out or test them. The stretch is shared by every scene of a
grid, which keeps a bright day looking brighter than a dull one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from rasteret.adapters._optional import require
from rasteret.errors import InvalidInputError
from rasteret.read.reader import ArrayResult

QUICKLOOK_OPTIONS: Final = frozenset({"cols", "max_scenes", "tile_px", "stretch", "cmap", "title"})
"""Keyword options of :func:`quicklook_png` (the rest of a ``plot`` call goes to the read)."""

_LABEL_PX: Final = 18
_TITLE_PX: Final = 26
_DPI: Final = 100
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _new_figure(feature: str, width_px: int, height_px: int) -> Any:
    """A private Agg-backed matplotlib figure of exact pixel size (or name the extra)."""
    figure = require("matplotlib.figure", extra="plot", feature=feature)
    agg = require("matplotlib.backends.backend_agg", extra="plot", feature=feature)
    fig = figure.Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI, facecolor="white")
    agg.FigureCanvasAgg(fig)
    return fig


def _stretch_limits(
    data: npt.NDArray[Any], valid: npt.NDArray[np.bool_], percentiles: tuple[float, float]
) -> tuple[float, float]:
    """Percentile limits over the valid pixels of every scene (one stretch for the grid)."""
    values = data[valid]
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values.astype(np.float64), percentiles)
    if not high > low:
        high = low + 1.0
    return float(low), float(high)


def _scaled(
    data: npt.NDArray[Any], valid: npt.NDArray[np.bool_], percentiles: tuple[float, float]
) -> npt.NDArray[np.float64]:
    """Every band of ``data`` [N, C, H, W] stretched to 0..1, NaN where not valid."""
    out = np.full(data.shape, np.nan, dtype=np.float64)
    for c in range(data.shape[1]):
        low, high = _stretch_limits(data[:, c], valid[:, c], percentiles)
        scaled = np.clip((data[:, c].astype(np.float64) - low) / (high - low), 0.0, 1.0)
        out[:, c] = np.where(valid[:, c], scaled, np.nan)
    return out


def _date_label(value: datetime | None, scene_id: str) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else scene_id[:24]


def quicklook_png(
    result: ArrayResult,
    path: str | Path,
    *,
    cols: int = 4,
    max_scenes: int = 24,
    tile_px: int = 160,
    stretch: tuple[float, float] = (2.0, 98.0),
    cmap: str = "gray",
    title: str | None = None,
) -> Path:
    """Write the scenes of one AOI read as a grid of small images labelled with dates.

    One band is colour-mapped with ``cmap``; three bands make an RGB composite (in the
    order given, so pass ``["B04", "B03", "B02"]`` for true colour). Pixels outside the
    AOI or the scene are transparent.

    Args:
        result: One AOI's :class:`~rasteret.read.reader.ArrayResult`.
        path: The PNG to write (parent folders are created).
        cols: Images per row.
        max_scenes: At most this many scenes, evenly spaced in time, are drawn.
        tile_px: Width of each image in pixels (height follows the AOI's aspect).
        stretch: Lower and upper percentile of the valid pixels mapped to black/white.
        cmap: Matplotlib colour map for single-band pictures.
        title: Text above the grid (default: the bands).

    Returns:
        The path written. The PNG is ``min(cols, n) * tile_px`` pixels wide.

    Raises:
        InvalidInputError: No scene to draw, a band count other than 1 or 3, or a bad
            layout option.
    """
    for name, value, least in (("cols", cols, 1), ("max_scenes", max_scenes, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise InvalidInputError(name, value, f"must be an integer >= {least}")
    if not isinstance(tile_px, int) or isinstance(tile_px, bool) or tile_px < 16:
        raise InvalidInputError("tile_px", tile_px, "must be an integer >= 16")
    if (
        len(stretch) != 2
        or not all(isinstance(p, int | float) for p in stretch)
        or not 0 <= stretch[0] < stretch[1] <= 100
    ):
        raise InvalidInputError("stretch", stretch, "must be (low, high) percentiles, 0-100")
    data, valid = result.data, result.valid
    if data.ndim == 3:  # a single band read as [N, H, W]
        data, valid = data[:, None], valid[:, None]
    n_scenes, n_bands, height, width = data.shape
    if n_scenes == 0 or height == 0 or width == 0:
        raise InvalidInputError("geometry", result.ids, "no scene pixels to plot for this AOI")
    if n_bands not in (1, 3):
        raise InvalidInputError(
            "bands", result.bands, "plot takes one band (colour-mapped) or three (RGB)"
        )
    chosen = np.unique(np.linspace(0, n_scenes - 1, min(n_scenes, max_scenes)).round().astype(int))
    scaled = _scaled(data[chosen], valid[chosen], (float(stretch[0]), float(stretch[1])))

    n_cols = min(cols, len(chosen))
    n_rows = math.ceil(len(chosen) / n_cols)
    tile_h = max(8, round(tile_px * height / width))
    fig_w = n_cols * tile_px
    fig_h = _TITLE_PX + n_rows * (tile_h + _LABEL_PX)
    fig = _new_figure("Collection.plot", fig_w, fig_h)
    text = title if title is not None else " / ".join(result.bands)
    if len(chosen) < n_scenes:
        text += f" ({len(chosen)} of {n_scenes} scenes)"
    fig.text(0.5, 1 - (_TITLE_PX / 2) / fig_h, text, ha="center", va="center", fontsize=10)
    for k, index in enumerate(chosen):
        row, col = divmod(k, n_cols)
        top = _TITLE_PX + row * (tile_h + _LABEL_PX) + _LABEL_PX
        ax = fig.add_axes(
            (col * tile_px / fig_w, 1 - (top + tile_h) / fig_h, tile_px / fig_w, tile_h / fig_h)
        )
        ax.set_axis_off()
        if n_bands == 1:
            ax.imshow(
                np.ma.masked_invalid(scaled[k, 0]),
                cmap=cmap,
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest",
                aspect="auto",
            )
        else:
            rgb = np.moveaxis(scaled[k], 0, -1)
            alpha = np.all(np.isfinite(rgb), axis=-1).astype(np.float64)
            ax.imshow(
                np.dstack([np.nan_to_num(rgb), alpha]), interpolation="nearest", aspect="auto"
            )
        label = _date_label(result.datetimes[index], result.ids[index])
        fig.text(
            (col + 0.5) * tile_px / fig_w,
            1 - (top - _LABEL_PX / 2) / fig_h,
            label,
            ha="center",
            va="center",
            fontsize=7,
        )
    return _save(fig, path)


def footprints_png(
    footprints: Sequence[shapely.Geometry],
    datetimes: Sequence[datetime | None],
    path: str | Path,
    *,
    aoi: shapely.Geometry | None = None,
    title: str = "",
    width_px: int = 800,
    height_px: int = 600,
) -> Path:
    """Write a map of scene footprints (CRS84), coloured by acquisition date.

    Args:
        footprints: One polygon per scene, lon/lat.
        datetimes: The scenes' acquisition times (``None`` drawn grey).
        path: The PNG to write (parent folders are created).
        aoi: An optional lon/lat geometry drawn in red on top, e.g. the area of a read.
        title: Text above the map.
        width_px: Picture width in pixels.
        height_px: Picture height in pixels.

    Returns:
        The path written; the PNG is exactly ``width_px`` x ``height_px``.

    Raises:
        InvalidInputError: No footprints, or a bad size.
    """
    for name, value in (("width_px", width_px), ("height_px", height_px)):
        if not isinstance(value, int) or isinstance(value, bool) or not 64 <= value <= 8000:
            raise InvalidInputError(name, value, "must be an integer from 64 to 8000")
    fig = _new_figure("Collection.plot_footprints", width_px, height_px)
    from matplotlib import cm, colormaps, colors, ticker  # noqa: PLC0415 - checked above
    from matplotlib.patches import PathPatch  # noqa: PLC0415
    from matplotlib.path import Path as MplPath  # noqa: PLC0415

    shapes = [g for g in footprints if g is not None and not shapely.is_empty(g)]
    if not shapes:
        raise InvalidInputError("collection", len(footprints), "has no footprints to plot")
    stamps = [_days(d) for d in datetimes if d is not None]
    norm = colors.Normalize(min(stamps), max(stamps) + 1e-9) if stamps else colors.Normalize()
    colour_map = colormaps["viridis"]

    ax = fig.add_axes((0.14, 0.1, 0.64, 0.8))
    for geom, when in zip(footprints, datetimes, strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        colour = colour_map(norm(_days(when))) if when is not None else (0.5, 0.5, 0.5, 1)
        for polygon in getattr(geom, "geoms", [geom]):
            if polygon.geom_type != "Polygon":
                continue
            patch = PathPatch(
                _polygon_path(polygon, MplPath), facecolor=colour, edgecolor=colour, alpha=0.35
            )
            ax.add_patch(patch)
    if aoi is not None:
        for polygon in getattr(aoi, "geoms", [aoi]):
            if polygon.geom_type == "Polygon":
                ax.add_patch(
                    PathPatch(_polygon_path(polygon, MplPath), fill=False, edgecolor="red", lw=1.5)
                )
            else:
                xs, ys = shapely.get_coordinates(polygon).T
                ax.plot(xs, ys, "r.", markersize=4)
    everything = shapely.union_all([*shapes, *([aoi] if aoi is not None else [])])
    xmin, ymin, xmax, ymax = everything.bounds
    pad_x, pad_y = max((xmax - xmin) * 0.05, 1e-4), max((ymax - ymin) * 0.05, 1e-4)
    ax.set_xlim(xmin - pad_x, xmax + pad_x)
    ax.set_ylim(ymin - pad_y, ymax + pad_y)
    ax.set_aspect(1 / max(math.cos(math.radians((ymin + ymax) / 2)), 0.05), adjustable="box")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(f"{title} ({len(shapes)} footprints)".strip(), fontsize=10)
    if stamps:
        mappable = cm.ScalarMappable(norm=norm, cmap=colour_map)
        bar = fig.colorbar(mappable, cax=fig.add_axes((0.82, 0.1, 0.03, 0.8)))
        bar.ax.yaxis.set_major_formatter(ticker.FuncFormatter(_day_label))
    return _save(fig, path)


def _days(value: datetime) -> float:
    """Days since 1970 (naive times taken as UTC): a colour scale for dates."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (aware - _EPOCH).total_seconds() / 86400.0


def _day_label(days: float, _position: int | None = None) -> str:
    """Inverse of :func:`_days`, formatted as a date for the colour bar."""
    return (_EPOCH + timedelta(days=days)).strftime("%Y-%m-%d")


def _polygon_path(polygon: shapely.Polygon, path_type: Any) -> Any:
    """A matplotlib path of a polygon with its holes (even-odd filled)."""
    rings = [polygon.exterior, *polygon.interiors]
    vertices = np.concatenate([np.asarray(ring.coords)[:, :2] for ring in rings])
    codes: list[int] = []
    for ring in rings:
        count = len(ring.coords)
        codes += [path_type.MOVETO] + [path_type.LINETO] * (count - 2) + [path_type.CLOSEPOLY]
    return path_type(vertices, codes)


def _save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as PNG at its exact pixel size."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", dpi=_DPI)
    return target
