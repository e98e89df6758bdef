"""``rasteret read`` (AOI -> raster file, quicklook) and ``rasteret sample`` (points)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pyarrow as pa
import shapely

from rasteret.adapters._optional import require
from rasteret.cli.common import emit, input_file, read_aoi
from rasteret.cli.writers import (
    QUICKLOOK_SUFFIXES,
    TABLE_SUFFIXES,
    check_output,
    replaced_on_success,
    write_raster,
    write_table,
)
from rasteret.collection import Collection, load
from rasteret.errors import InvalidInputError
from rasteret.read.geometry import normalize_geometries, normalize_points
from rasteret.read.reader import ArrayResult

READ_EXAMPLES = """\
examples:
  rasteret read bay-area --bbox -122.30 37.72 -122.28 37.74 --bands B04 B08 --out aoi.tif
  rasteret read bay-area --geojson field.geojson --bands B04 --out field.nc \\
      --date-range 2024-02-01 2024-02-29 --quicklook field.png
  rasteret read bay-area --bbox 552000 4175000 553000 4176000 --crs EPSG:32610 \\
      --bands B04 B03 B02 --out rgb.zarr --json

The extension of --out picks the format: .tif/.tiff GeoTIFF (one band per scene x band,
described "<date> <scene id> <band>"), .nc NetCDF, .zarr Zarr (time, y, x per band).
"""

SAMPLE_EXAMPLES = """\
examples:
  rasteret sample bay-area --points plots.csv --bands B04 B08 --out values.csv
  rasteret sample bay-area --points plots.parquet --bands B04 --out values.parquet --json

CSV points need lon/lat (or x/y, longitude/latitude) columns; other columns are kept.
GeoParquet points keep their CRS and attribute columns.
"""


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date-range", nargs=2, metavar=("START", "END"))
    parser.add_argument("--cloud-cover-lt", type=float, metavar="PERCENT")
    parser.add_argument("--crs", help="CRS of the AOI/points when they carry none (EPSG:4326)")


def add_read(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``read``."""
    parser = commands.add_parser(
        "read",
        parents=parents,
        help="read an AOI's pixels into GeoTIFF, NetCDF or Zarr",
        description="Read the pixels of an AOI from every matching scene of a collection.",
        epilog=READ_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("collection", help="collection name (or index path)")
    aoi = parser.add_mutually_exclusive_group(required=True)
    aoi.add_argument("--bbox", nargs=4, type=float, metavar=("MINX", "MINY", "MAXX", "MAXY"))
    aoi.add_argument("--geojson", metavar="FILE", help="GeoJSON geometry/Feature/collection")
    parser.add_argument("--bands", nargs="+", required=True, metavar="CODE")
    parser.add_argument("--out", type=_path, help="output file (.tif, .nc, .zarr)")
    parser.add_argument("--quicklook", type=_path, metavar="PNG", help="also draw a grid PNG")
    parser.add_argument("--overview", type=int, help="overview level (0 = first)")
    parser.add_argument("--all-touched", action="store_true", help="mask like all_touched")
    parser.add_argument("--target-crs", metavar="CRS", help="output CRS (scenes are warped)")
    parser.add_argument(
        "--resolution", type=float, nargs="+", metavar="RES", help="output pixel size (x [y])"
    )
    parser.add_argument(
        "--resampling", default="nearest", help="warp kernel: nearest, bilinear, cubic, ..."
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out / --quicklook"
    )
    _add_filters(parser)
    parser.set_defaults(handler=run_read)


def _path(text: str) -> Path:
    """An output path as given, ``~`` expanded (the shell leaves ``--out=~/x`` alone)."""
    return Path(text).expanduser()


def _filtered(args: argparse.Namespace) -> Collection:
    collection = load(args.collection, workspace_dir=args.workspace)
    if args.date_range or args.cloud_cover_lt is not None:
        collection = collection.subset(
            date_range=tuple(args.date_range) if args.date_range else None,
            cloud_cover_lt=args.cloud_cover_lt,
        )
    return collection


def run_read(args: argparse.Namespace) -> None:
    """Read once; write the raster file and/or the quicklook from the same pixels."""
    if args.out is None and args.quicklook is None:
        raise InvalidInputError("--out", None, "give --out, --quicklook, or both")
    if args.out is not None:
        check_output(args.out, overwrite=args.overwrite)
    if args.quicklook is not None:
        require("matplotlib", extra="plot", feature="--quicklook")
        check_output(
            args.quicklook,
            overwrite=args.overwrite,
            parameter="--quicklook",
            suffixes=QUICKLOOK_SUFFIXES,
        )
    aoi = read_aoi(args)
    if args.geojson is not None and len(normalize_geometries(aoi, crs=args.crs).geometries) > 1:
        raise InvalidInputError("--geojson", args.geojson, "read takes one AOI (one geometry)")
    collection = _nonempty(_filtered(args), args)
    resolution: float | tuple[float, float] | None = None
    if args.resolution is not None:
        if len(args.resolution) not in (1, 2):
            raise InvalidInputError(
                "--resolution", args.resolution, "give one or two numbers (x [y])"
            )
        resolution = args.resolution[0] if len(args.resolution) == 1 else tuple(args.resolution)
    result = collection.get_numpy(
        aoi,
        list(args.bands),
        crs=args.crs,
        overview=args.overview,
        all_touched=args.all_touched,
        target_crs=args.target_crs,
        resolution=resolution,
        resampling=args.resampling,
    )
    assert not isinstance(result, list)  # one AOI, checked above
    summary: dict[str, Any] = {
        "collection": collection.name,
        "scenes": len(result.ids),
        "scene_ids": list(result.ids),
        "bands": list(result.bands),
        "shape": list(result.data.shape),
        "dtype": result.data.dtype.name,
        "crs": result.crs.to_string(),
        "transform": list(result.transform)[:6],
    }
    if args.out is not None:
        summary["format"] = write_raster(result, args.out)
        summary["out"] = str(args.out)
    if args.quicklook is not None:
        from rasteret.adapters.plot import quicklook_png  # noqa: PLC0415 - optional dep

        drawn = _drawable(result)
        title = f"{collection.name}: {' / '.join(drawn.bands)}"
        with replaced_on_success(args.quicklook) as scratch:
            quicklook_png(drawn, scratch, title=title)
        summary["quicklook"] = str(args.quicklook)
    written = ", ".join(str(summary[k]) for k in ("out", "quicklook") if k in summary)
    emit(args, summary, f"{summary['scenes']} scenes x {len(result.bands)} bands -> {written}")


def _drawable(result: ArrayResult) -> ArrayResult:
    """The read itself for 1 or 3 bands (grey or RGB); else its first band alone."""
    if len(result.bands) in (1, 3):
        return result
    return dataclasses.replace(
        result,
        data=result.data[:, :1],
        valid=result.valid[:, :1],
        bands=result.bands[:1],
        fill_values=result.fill_values[:1],
        nodata=result.nodata[:1],
    )


def add_sample(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``sample``."""
    parser = commands.add_parser(
        "sample",
        parents=parents,
        help="band values at points (CSV or GeoParquet) into CSV or Parquet",
        epilog=SAMPLE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("collection", help="collection name (or index path)")
    parser.add_argument("--points", required=True, metavar="FILE", help=".csv or .parquet")
    parser.add_argument("--bands", nargs="+", required=True, metavar="CODE")
    parser.add_argument(
        "--out", type=_path, required=True, help="output .csv, .parquet or .geoparquet"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    _add_filters(parser)
    parser.set_defaults(handler=run_sample)


def _read_points(path: Path) -> Any:
    """Points as the read core takes them: an Arrow table, or a GeoDataFrame (keeps CRS)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import pyarrow.csv as pa_csv  # noqa: PLC0415 - only for CSV input

        try:
            return pa_csv.read_csv(path)
        except pa.ArrowInvalid as err:
            raise InvalidInputError("--points", str(path), f"unreadable CSV: {err}") from err
    if suffix in {".parquet", ".geoparquet"}:
        geopandas = require("geopandas", extra="geopandas", feature="GeoParquet points")
        try:
            return geopandas.read_parquet(path)
        except ValueError as err:  # not GeoParquet: plain Parquet with lon/lat columns
            import pyarrow.parquet as pq  # noqa: PLC0415

            if "geo" in str(err).lower():
                return pq.read_table(path)
            raise InvalidInputError("--points", str(path), str(err)) from err
    raise InvalidInputError("--points", str(path), "expected a .csv or .parquet file")


def _nonempty(collection: Collection, args: argparse.Namespace) -> Collection:
    if len(collection) == 0:
        raise LookupError(f"no scene of {args.collection!r} matches the filters")
    return collection


def run_sample(args: argparse.Namespace) -> None:
    """Sample every band at every point in every scene; write a row per point x scene.

    Each row also gets its point: the input's coordinate columns (CSV or plain Parquet
    points) or ``x``/``y`` in the points' CRS, and a point geometry in ``.geoparquet``.
    """
    points_path = input_file("--points", args.points)
    check_output(args.out, overwrite=args.overwrite, suffixes=TABLE_SUFFIXES)
    if args.out.resolve() == points_path.resolve():
        raise InvalidInputError("--out", str(args.out), "is the --points file itself")
    points = _read_points(points_path)
    try:
        pts = normalize_points(points, crs=args.crs)  # the same reading sample_points makes
    except InvalidInputError as err:
        if err.parameter != "points":
            raise
        raise InvalidInputError(
            "--points",
            str(points_path),
            f"{err.reason} (CSV and Parquet points need lon/lat, x/y or longitude/latitude "
            "columns; GeoParquet a point geometry)",
        ) from err
    collection = _nonempty(_filtered(args), args)
    table = collection.sample_points(points, list(args.bands), crs=args.crs)
    index = table.column("point_index")
    rows = index.to_numpy()
    if isinstance(points, pa.Table):  # the coordinate columns the read took as the points
        for name in points.column_names:
            if name not in table.column_names:
                table = table.append_column(name, points.column(name).take(index))
    else:
        for name, values in (("x", pts.xs), ("y", pts.ys)):
            if name not in table.column_names:
                table = table.append_column(name, pa.array(values[rows]))
    geometry = None
    if args.out.suffix.lower() == ".geoparquet":
        geopandas = require("geopandas", extra="geopandas", feature="GeoParquet output")
        geometry = geopandas.GeoSeries(
            shapely.points(pts.xs[rows], pts.ys[rows]), crs=pts.crs.to_wkt()
        )
    fmt = write_table(table, args.out, geometry=geometry)
    summary = {
        "collection": collection.name,
        "out": str(args.out),
        "format": fmt,
        "rows": table.num_rows,
        "columns": table.column_names,
    }
    emit(args, summary, f"{table.num_rows} rows -> {args.out}")
