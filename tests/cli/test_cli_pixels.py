"""rasteret read / sample as real processes; files compared with get_numpy/sample_points."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
import xarray as xr
from PIL import Image

from rasteret import Collection

Runner = Callable[..., Any]  # the ``cli`` fixture of tests/cli/conftest.py

AOI = (-122.30, 37.72, -122.28, 37.74)
BANDS = ["B04", "B03"]


def _read_args(collection: Collection, *extra: str) -> list[str]:
    assert collection.path is not None
    return [
        "read", "s2", "--workspace", str(collection.path.parent.parent),
        "--bbox", *map(str, AOI), "--bands", *BANDS, *extra, "--json",
    ]  # fmt: skip


def test_read_geotiff_and_quicklook(cli: Runner, cli_s2: Collection, tmp_path: Path) -> None:
    out, look = tmp_path / "aoi.tif", tmp_path / "aoi.png"
    done = cli(*_read_args(cli_s2, "--out", str(out), "--quicklook", str(look)), script=True)
    assert done.returncode == 0, done.stderr
    summary = done.json()
    assert summary["format"] == "GeoTIFF" and summary["quicklook"] == str(look)

    ref = cli_s2.get_numpy(AOI, BANDS)
    assert not isinstance(ref, list)
    n, c, h, w = ref.data.shape
    assert summary["shape"] == [n, c, h, w] and summary["scene_ids"] == list(ref.ids)
    with rasterio.open(out) as src:
        assert (src.count, src.height, src.width) == (n * c, h, w)
        assert src.crs.to_epsg() == ref.crs.to_epsg()
        assert src.transform.almost_equals(ref.transform)
        np.testing.assert_array_equal(src.read(), ref.data.reshape(n * c, h, w))
        assert src.descriptions[1].endswith(f"{ref.ids[0]} B03")
        assert src.tags(c + 1)["scene_id"] == ref.ids[1]
    with Image.open(look) as image:
        assert image.format == "PNG" and image.width > 0
        assert len(np.unique(np.asarray(image.convert("L")))) > 10


def test_read_netcdf_from_geojson(cli: Runner, cli_s2: Collection, tmp_path: Path) -> None:
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon",
        "coordinates": [[[-122.30, 37.72], [-122.28, 37.72], [-122.29, 37.74], [-122.30, 37.72]]],
    }}))  # fmt: skip
    out = tmp_path / "aoi.nc"
    assert cli_s2.path is not None
    done = cli(
        "read", "s2", "--workspace", str(cli_s2.path.parent.parent), "--geojson", str(aoi),
        "--bands", "B04", "--out", str(out), "--date-range", "2024-02-01", "2024-03-31",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ref = cli_s2.subset(date_range=("2024-02-01", "2024-03-31")).get_numpy(
        json.loads(aoi.read_text()), ["B04"]
    )
    assert not isinstance(ref, list)
    with xr.open_dataset(out, engine="h5netcdf", mask_and_scale=False) as ds:
        assert list(ds["id"].values) == list(ref.ids)
        assert ds["B04"].dtype == ref.data.dtype
        np.testing.assert_array_equal(ds["B04"].values, ref.data[:, 0])
        assert ds["B04"].dims == ("time", "y", "x")


def test_read_zarr_and_overwrite_rules(cli: Runner, cli_s2: Collection, tmp_path: Path) -> None:
    out = tmp_path / "aoi.zarr"
    assert cli(*_read_args(cli_s2, "--out", str(out))).returncode == 0
    ref = cli_s2.get_numpy(AOI, BANDS)
    assert not isinstance(ref, list)
    with xr.open_zarr(out, mask_and_scale=False) as ds:
        np.testing.assert_array_equal(ds["B03"].values, ref.data[:, 1])
    again = cli(*_read_args(cli_s2, "--out", str(out)))
    assert again.returncode == 2 and again.json()["error"]["parameter"] == "--out"
    assert cli(*_read_args(cli_s2, "--out", str(out), "--overwrite")).returncode == 0


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (["--out", "x.jpg"], 2),  # unknown format
        (["--out", "x.tif", "--cloud-cover-lt", "-1"], 3),  # filters leave no scene
    ],
)
def test_read_bad_input(
    cli: Runner, cli_s2: Collection, tmp_path: Path, extra: list[str], code: int
) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in extra]
    done = cli(*_read_args(cli_s2, *args))
    assert done.returncode == code, done.stderr
    assert not (tmp_path / "x.tif").exists() and not (tmp_path / "x.jpg").exists()


def test_read_unknown_band_and_collection(cli: Runner, cli_s2: Collection, tmp_path: Path) -> None:
    assert cli_s2.path is not None
    ws = str(cli_s2.path.parent.parent)
    bad_band = cli("read", "s2", "--workspace", ws, "--bbox", *map(str, AOI),
                   "--bands", "B99", "--out", str(tmp_path / "a.tif"))  # fmt: skip
    assert bad_band.returncode == 2 and "B99" in bad_band.stderr
    missing = cli("read", "nope", "--workspace", ws, "--bbox", *map(str, AOI),
                  "--bands", "B04", "--out", str(tmp_path / "a.tif"))  # fmt: skip
    assert missing.returncode == 3


def test_missing_extra_is_named(cli_s2: Collection, tmp_path: Path) -> None:
    """With h5netcdf unimportable, NetCDF output fails with exit 2 naming rasteret[io]."""
    assert cli_s2.path is not None
    code = (
        "import sys; sys.modules['h5netcdf'] = None\n"
        "from rasteret.cli import main\n"
        f"sys.exit(main({_read_args(cli_s2, '--out', str(tmp_path / 'a.nc'))!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "rasteret[io]" in done.stderr
    assert not (tmp_path / "a.nc").exists()


def test_sample_csv_and_geoparquet(cli: Runner, cli_s2: Collection, tmp_path: Path) -> None:
    assert cli_s2.path is not None
    ws = str(cli_s2.path.parent.parent)
    lon = [-122.295, -122.285, -122.25]
    lat = [37.725, 37.735, 37.76]
    points = pa.table({"lon": lon, "lat": lat, "plot": ["a", "b", "c"]})
    pa_csv.write_csv(points, tmp_path / "pts.csv")
    done = cli("sample", "s2", "--workspace", ws, "--points", str(tmp_path / "pts.csv"),
               "--bands", "B04", "B02", "--out", str(tmp_path / "v.csv"), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = pa_csv.read_csv(tmp_path / "v.csv")
    ref = cli_s2.sample_points(points, ["B04", "B02"])
    assert done.json()["rows"] == ref.num_rows == got.num_rows > 0
    assert got.column("B04").to_pylist() == ref.column("B04").to_pylist()
    assert got.column("plot").to_pylist() == ref.column("plot").to_pylist()

    frame = gpd.GeoDataFrame({"plot": ["a", "b", "c"]}, geometry=shapely.points(lon, lat),
                             crs="EPSG:4326").to_crs("EPSG:32610")  # fmt: skip
    frame.to_parquet(tmp_path / "pts.parquet")
    done = cli("sample", "s2", "--workspace", ws, "--points", str(tmp_path / "pts.parquet"),
               "--bands", "B04", "--out", str(tmp_path / "v.parquet"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    values = pq.read_table(tmp_path / "v.parquet")
    assert values.column("B04").to_pylist() == ref.column("B04").to_pylist()

    missing = cli("sample", "s2", "--workspace", ws, "--points", str(tmp_path / "no.csv"),
                  "--bands", "B04", "--out", str(tmp_path / "w.csv"))  # fmt: skip
    assert missing.returncode == 3
