"""Scene presets: sets of COGs laid out like the products rasteret indexes in the cloud.

Each preset writes real GeoTIFFs through :func:`rasteret_sandbox.cogs.write_cog` with the
structure of a public product (band set, resolutions, dtype, tiling, codec, predictor,
nodata), scaled down in pixels so that the whole sample catalog generates in seconds:

* Sentinel-2 L2A (Earth Search / Planetary Computer): one single-band COG per band, UTM,
  uint16 reflectance at 10/20/60 m, a uint8 scene classification (SCL), deflate with the
  horizontal predictor, 1024 px tiles, internal overviews, nodata 0.
* Landsat Collection 2 Level-2: uint16 surface reflectance bands plus the uint16 QA_PIXEL
  bit mask, 30 m.
* NAIP: one 4-band (red, green, blue, NIR) uint8 pixel-interleaved COG.
* Copernicus DEM: float32 elevation in geographic coordinates, floating-point predictor.

Pixels come from :func:`synthetic_field`, a cheap deterministic smooth-plus-noise field:
the band values of one scene are linear functions of one field (so bands correlate like
real reflectance) and differ between scenes through the seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rasteret_sandbox.cogs import write_cog

__all__ = [
    "LANDSAT_BANDS",
    "SENTINEL2_BANDS",
    "BandSpec",
    "synthetic_field",
    "write_dem_tile",
    "write_landsat_scene",
    "write_naip_scene",
    "write_sentinel2_scene",
]


@dataclass(frozen=True, kw_only=True)
class BandSpec:
    """How one band of a preset is written."""

    name: str
    """Band name as the product's file names use it (``B02``, ``SR_B2``)."""
    resolution: float
    """Pixel size in CRS units."""
    dtype: str
    """Sample type."""
    nodata: float | None
    """Nodata value written to GDAL_NODATA."""
    gain: float
    """Multiplier applied to the shared field (0..1) to make this band's values."""
    bias: float
    """Added after ``gain``."""


SENTINEL2_BANDS: tuple[BandSpec, ...] = (
    BandSpec(name="B01", resolution=60, dtype="uint16", nodata=0, gain=1500, bias=1100),
    BandSpec(name="B02", resolution=10, dtype="uint16", nodata=0, gain=2000, bias=1100),
    BandSpec(name="B03", resolution=10, dtype="uint16", nodata=0, gain=2400, bias=1150),
    BandSpec(name="B04", resolution=10, dtype="uint16", nodata=0, gain=2800, bias=1100),
    BandSpec(name="B05", resolution=20, dtype="uint16", nodata=0, gain=3000, bias=1300),
    BandSpec(name="B06", resolution=20, dtype="uint16", nodata=0, gain=3500, bias=1600),
    BandSpec(name="B07", resolution=20, dtype="uint16", nodata=0, gain=3800, bias=1700),
    BandSpec(name="B08", resolution=10, dtype="uint16", nodata=0, gain=4200, bias=1800),
    BandSpec(name="B8A", resolution=20, dtype="uint16", nodata=0, gain=4300, bias=1800),
    BandSpec(name="B09", resolution=60, dtype="uint16", nodata=0, gain=2000, bias=1200),
    BandSpec(name="B11", resolution=20, dtype="uint16", nodata=0, gain=3200, bias=1500),
    BandSpec(name="B12", resolution=20, dtype="uint16", nodata=0, gain=2600, bias=1200),
    BandSpec(name="SCL", resolution=20, dtype="uint8", nodata=0, gain=0, bias=0),
)
"""Sentinel-2 L2A bands (baseline 04.00 offsets: reflectance = DN * 1e-4 - 0.1)."""

LANDSAT_BANDS: tuple[BandSpec, ...] = (
    BandSpec(name="SR_B1", resolution=30, dtype="uint16", nodata=0, gain=9000, bias=7500),
    BandSpec(name="SR_B2", resolution=30, dtype="uint16", nodata=0, gain=9500, bias=7600),
    BandSpec(name="SR_B3", resolution=30, dtype="uint16", nodata=0, gain=10500, bias=7800),
    BandSpec(name="SR_B4", resolution=30, dtype="uint16", nodata=0, gain=11500, bias=7700),
    BandSpec(name="SR_B5", resolution=30, dtype="uint16", nodata=0, gain=16000, bias=8500),
    BandSpec(name="SR_B6", resolution=30, dtype="uint16", nodata=0, gain=14000, bias=8200),
    BandSpec(name="SR_B7", resolution=30, dtype="uint16", nodata=0, gain=12000, bias=7900),
    BandSpec(name="QA_PIXEL", resolution=30, dtype="uint16", nodata=1, gain=0, bias=0),
)
"""Landsat C2 L2 bands (reflectance = DN * 2.75e-5 - 0.2; QA_PIXEL fill value 1)."""

_SCL_CLASSES = np.array([4, 5, 6, 7, 8, 9, 10, 11, 3, 2], dtype=np.uint8)
"""SCL codes (vegetation .. snow, shadows) that a field value bucket maps to; 0 stays nodata."""
_QA_CLEAR = 21824  # Landsat 8/9 QA_PIXEL: clear, low confidence cloud/cirrus/shadow/snow
_QA_CLOUD = 22280  # high-confidence cloud
_QA_WATER = 21952


def synthetic_field(
    *, width: int, height: int, seed: int, wedge: bool = True, noise: float = 0.003
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Make a deterministic smooth-plus-noise field in ``[0, 1]`` and a swath-edge mask.

    It costs a few float32 passes, about ten times less than generating each band
    separately, which is what lets the sample catalog write hundreds of COGs quickly.

    Args:
        width: Field width in pixels.
        height: Field height in pixels.
        seed: Changes the phase of the pattern and the noise.
        noise: Standard deviation of the noise; small keeps files small (a few DN).
        wedge: Mark a lower-left triangle as outside the swath (nodata), as real
            satellite tiles at the edge of an orbit are.

    Returns:
        ``(field, outside)`` where ``outside`` is True where pixels are nodata.
    """
    rng = np.random.default_rng(seed)
    phase_x, phase_y = rng.uniform(0.0, 2 * math.pi, size=2)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    field = (
        0.5
        + 0.25 * np.sin(2 * np.pi * 1.5 * x + phase_x)
        + 0.15 * np.cos(2 * np.pi * 2.0 * y + phase_y)
    ).astype(np.float32)
    field += 0.08 * np.sin(2 * np.pi * 7.0 * (x + y) + phase_x).astype(np.float32)
    field += rng.standard_normal((height, width), dtype=np.float32) * np.float32(noise)
    np.clip(field, 0.0, 1.0, out=field)
    outside = np.zeros((height, width), dtype=bool)
    if wedge:
        outside = (y * height - height * 0.75) > (x * width * 0.5)
        outside = np.broadcast_to(outside, (height, width))
    return field, outside


def grid(
    *, origin_xy: tuple[float, float], extent: float, resolution: float
) -> tuple[tuple[int, int], tuple[float, float, float, float, float, float]]:
    """Shape and north-up transform of a band covering ``extent`` CRS units from an origin.

    Items need the same numbers as the files (``proj:shape``, ``proj:transform``), so both
    come from here rather than from reading the files back.

    Returns:
        ``((height, width), (a, b, c, d, e, f))`` in rasterio/STAC order.
    """
    size = math.ceil(round(extent / resolution, 6))
    x0, y0 = origin_xy
    return (size, size), (float(resolution), 0.0, float(x0), 0.0, -float(resolution), float(y0))


def _band_values(
    spec: BandSpec, field: npt.NDArray[np.float32], outside: npt.NDArray[np.bool_]
) -> npt.NDArray[Any]:
    """Turn the shared field into one band's pixels (reflectance, SCL or QA bits)."""
    if spec.name == "SCL":
        idx = np.clip((field * len(_SCL_CLASSES)).astype(np.intp), 0, len(_SCL_CLASSES) - 1)
        values: npt.NDArray[Any] = _SCL_CLASSES[idx]
    elif spec.name == "QA_PIXEL":
        values = np.full(field.shape, _QA_CLEAR, dtype=np.uint16)
        values[field > 0.85] = _QA_CLOUD
        values[field < 0.2] = _QA_WATER
    else:
        info = np.iinfo(np.dtype(spec.dtype))
        values = np.clip(np.rint(spec.bias + spec.gain * field), info.min + 1, info.max)
        values = values.astype(spec.dtype)
    if spec.nodata is not None:
        values[outside] = spec.nodata
    return values[None, ...]


def _decimate(
    field: npt.NDArray[np.float32], outside: npt.NDArray[np.bool_], step: int, size: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Sample the base-resolution field every ``step`` pixels, padded or cut to ``size``."""
    sub = field[::step, ::step][:size, :size]
    sub_out = outside[::step, ::step][:size, :size]
    if sub.shape != (size, size):
        pad = ((0, size - sub.shape[0]), (0, size - sub.shape[1]))
        sub = np.pad(sub, pad, mode="edge")
        sub_out = np.pad(sub_out, pad, mode="edge")
    return np.ascontiguousarray(sub), np.ascontiguousarray(sub_out)


def _write_band_set(
    out_dir: Path,
    *,
    bands: Sequence[BandSpec],
    file_names: dict[str, str],
    epsg: int,
    origin_xy: tuple[float, float],
    extent: float,
    base_resolution: float,
    seed: int,
    blocksize: int,
    overview_levels: Sequence[int],
) -> dict[str, Path]:
    """Write one single-band COG per band, all views of one field, and return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (base_size, _), _ = grid(origin_xy=origin_xy, extent=extent, resolution=base_resolution)
    field, outside = synthetic_field(width=base_size, height=base_size, seed=seed)
    paths: dict[str, Path] = {}
    for spec in bands:
        (size, _), transform = grid(origin_xy=origin_xy, extent=extent, resolution=spec.resolution)
        step = max(1, round(spec.resolution / base_resolution))
        sub, sub_out = _decimate(field, outside, step, size)
        is_float = np.issubdtype(np.dtype(spec.dtype), np.floating)
        paths[spec.name] = write_cog(
            out_dir / file_names[spec.name],
            width=size,
            height=size,
            dtype=spec.dtype,
            crs=f"EPSG:{epsg}",
            transform=transform,
            blocksize=blocksize,
            compress="deflate",
            predictor=3 if is_float else 2,
            nodata=spec.nodata,
            overview_levels=overview_levels,
            data=_band_values(spec, sub, sub_out),
            overview_resampling="nearest" if spec.gain == 0 else "average",
        )
    return paths


def write_sentinel2_scene(
    out_dir: Path,
    *,
    scene_id: str,
    epsg: int,
    origin_xy: tuple[float, float],
    size_10m: int = 2048,
    seed: int = 0,
    blocksize: int = 1024,
    overview_levels: Sequence[int] = (2, 4),
    bands: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write a Sentinel-2 L2A-like scene: one COG per band under ``out_dir/scene_id``.

    Real tiles are 10980 px at 10 m; ``size_10m`` scales that down (1098 keeps the exact
    10/20/60 m ratios; other sizes round the coarser grids up). Files are named
    ``B02.tif`` etc.

    Args:
        out_dir: Parent folder; the scene gets its own subfolder.
        scene_id: Subfolder name.
        epsg: UTM EPSG code (326xx/327xx).
        origin_xy: Upper-left corner in CRS metres.
        size_10m: Width and height of the 10 m bands.
        seed: Makes the pixels of this scene differ from others.
        blocksize: Tile size (1024 as Earth Search and Planetary Computer publish).
        overview_levels: Internal overview factors.
        bands: Subset of band names to write (all of :data:`SENTINEL2_BANDS` by default).

    Returns:
        Band name (``B01`` .. ``B12``, ``B8A``, ``SCL``) to file path.
    """
    specs = [b for b in SENTINEL2_BANDS if bands is None or b.name in bands]
    return _write_band_set(
        Path(out_dir) / scene_id,
        bands=specs,
        file_names={b.name: f"{b.name}.tif" for b in specs},
        epsg=epsg,
        origin_xy=origin_xy,
        extent=size_10m * 10.0,
        base_resolution=10.0,
        seed=seed,
        blocksize=blocksize,
        overview_levels=overview_levels,
    )


def write_landsat_scene(
    out_dir: Path,
    *,
    scene_id: str,
    epsg: int,
    origin_xy: tuple[float, float],
    size: int = 1024,
    seed: int = 0,
    blocksize: int = 256,
    overview_levels: Sequence[int] = (2, 4),
) -> dict[str, Path]:
    """Write a Landsat C2 L2-like scene: uint16 SR bands and QA_PIXEL, 30 m, one COG each.

    Real scenes are about 7800 px; ``size`` scales that down. Files are named
    ``{scene_id}_SR_B2.TIF`` and ``{scene_id}_QA_PIXEL.TIF`` as USGS names them.

    Returns:
        Band name (``SR_B1`` .. ``SR_B7``, ``QA_PIXEL``) to file path.
    """
    return _write_band_set(
        Path(out_dir) / scene_id,
        bands=LANDSAT_BANDS,
        file_names={b.name: f"{scene_id}_{b.name}.TIF" for b in LANDSAT_BANDS},
        epsg=epsg,
        origin_xy=origin_xy,
        extent=size * 30.0,
        base_resolution=30.0,
        seed=seed,
        blocksize=blocksize,
        overview_levels=overview_levels,
    )


def write_naip_scene(
    out_dir: Path,
    *,
    scene_id: str,
    epsg: int,
    origin_xy: tuple[float, float],
    width: int = 1024,
    height: int = 1280,
    resolution: float = 0.6,
    seed: int = 0,
    blocksize: int = 512,
    overview_levels: Sequence[int] = (2, 4),
) -> dict[str, Path]:
    """Write a NAIP-like quarter quad: one 4-band (R, G, B, NIR) uint8 pixel-interleaved COG.

    NAIP has no nodata; the file has none either, which readers must cope with.

    Returns:
        ``{"image": path}`` (the STAC asset key NAIP uses).
    """
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    field, _ = synthetic_field(width=width, height=height, seed=seed, wedge=False)
    gains = ((150.0, 40.0), (130.0, 50.0), (110.0, 45.0), (170.0, 60.0))
    data = np.stack([np.rint(bias + gain * field) for gain, bias in gains]).astype(np.uint8)
    x0, y0 = origin_xy
    path = write_cog(
        Path(out_dir) / f"{scene_id}.tif",
        width=width,
        height=height,
        dtype="uint8",
        count=4,
        crs=f"EPSG:{epsg}",
        transform=(resolution, 0.0, x0, 0.0, -resolution, y0),
        blocksize=blocksize,
        compress="deflate",
        predictor=2,
        nodata=None,
        overview_levels=overview_levels,
        interleave="pixel",
        data=data,
    )
    return {"image": path}


def write_dem_tile(
    out_dir: Path,
    *,
    tile_id: str,
    lon: int,
    lat: int,
    size: int = 600,
    nodata: float = -32767.0,
    seed: int = 0,
    blocksize: int = 1024,
    overview_levels: Sequence[int] = (2, 4),
) -> dict[str, Path]:
    """Write a Copernicus-DEM-like 1x1 degree tile: float32, EPSG:4326, predictor 3.

    ``lon``/``lat`` are the west and south edges. The lowest values (sea) become
    ``nodata`` (``-32767`` or NaN) so nodata handling of float files gets exercised.

    Returns:
        ``{"data": path}`` (the STAC asset key Copernicus DEM uses).
    """
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    field, _ = synthetic_field(width=size, height=size, seed=seed, wedge=False)
    data = (-50.0 + 1500.0 * field).astype(np.float32)
    data[field < 0.12] = nodata
    pixel = 1.0 / size
    path = write_cog(
        Path(out_dir) / f"{tile_id}.tif",
        width=size,
        height=size,
        dtype="float32",
        crs="EPSG:4326",
        transform=(pixel, 0.0, float(lon), 0.0, -pixel, float(lat + 1)),
        blocksize=blocksize,
        compress="deflate",
        predictor=3,
        nodata=nodata,
        overview_levels=overview_levels,
        data=data[None, ...],
    )
    return {"data": path}
