"""rasteret read / sample as real processes; files compared with get_numpy/sample_points."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import warnings
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
from affine import Affine
from PIL import Image
from pyproj import CRS

from rasteret import Collection
from rasteret.cli import main, pixel_commands
from rasteret.cli.writers import write_raster
from rasteret.errors import InvalidInputError, RasteretWarning
from rasteret.read.reader import ArrayResult

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


def _no_scratch_left(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if ".partial" in p.name or p.name.endswith(".old")]


def test_a_failed_write_keeps_the_previous_output(cli_s2: Collection, tmp_path: Path) -> None:
    # a full disk, simulated: files may not grow past 40 KiB (Python ignores SIGXFSZ,
    # so the write fails with EFBIG instead of the process dying)
    out = tmp_path / "aoi.tif"
    out.write_bytes(b"the previous output")
    args = _read_args(cli_s2, "--out", str(out), "--overwrite")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_960, 40_960))

    done = subprocess.run(
        [sys.executable, "-m", "rasteret", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files,
    )
    assert done.returncode != 0
    assert out.read_bytes() == b"the previous output"
    _no_scratch_left(tmp_path)


def test_output_paths_are_checked_before_the_read(
    cli: Runner, cli_s2: Collection, tmp_path: Path
) -> None:
    (tmp_path / "dir.tif").mkdir()
    folder = cli(*_read_args(cli_s2, "--out", str(tmp_path / "dir.tif"), "--overwrite"))
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    assert (tmp_path / "dir.tif").is_dir()
    (tmp_path / "file").write_text("x")
    parent = cli(*_read_args(cli_s2, "--out", str(tmp_path / "file" / "a.tif")))
    assert parent.returncode == 2 and "not a folder" in parent.stderr, parent.stderr
    jpeg = cli(*_read_args(cli_s2, "--quicklook", str(tmp_path / "q.jpg")))
    assert jpeg.returncode == 2 and jpeg.json()["error"]["parameter"] == "--quicklook"
    (tmp_path / "q.png").write_bytes(b"old")
    kept = cli(*_read_args(cli_s2, "--quicklook", str(tmp_path / "q.png")))
    assert kept.returncode == 2 and (tmp_path / "q.png").read_bytes() == b"old"
    twice = cli(*_read_args(cli_s2, "--out", str(tmp_path / "a.tif"), "--bands", "B04", "B04"))
    assert twice.returncode == 2 and twice.json()["error"]["parameter"] == "--bands"
    assert "Traceback" not in folder.stderr + parent.stderr + twice.stderr
    # ~ is the user's home in --out, as in every other path option
    home = cli(*_read_args(cli_s2, "--out", "~/home.tif"), env={"HOME": str(tmp_path / "h")})
    assert home.returncode == 0, home.stderr
    assert (tmp_path / "h" / "home.tif").is_file()


def test_read_onto_another_grid(cli: Runner, cli_s2: Collection, tmp_path: Path) -> None:
    out = tmp_path / "wgs.nc"
    extra = ["--target-crs", "EPSG:4326", "--resolution", "0.0002", "--resampling", "bilinear"]
    done = cli(*_read_args(cli_s2, "--out", str(out), *extra))
    assert done.returncode == 0, done.stderr
    ref = cli_s2.get_numpy(
        AOI, BANDS, target_crs="EPSG:4326", resolution=0.0002, resampling="bilinear"
    )
    assert not isinstance(ref, list)
    with xr.open_dataset(out, engine="h5netcdf", mask_and_scale=False) as ds:
        np.testing.assert_array_equal(ds["B04"].values, ref.data[:, 0])


def test_geotiff_refuses_bands_with_different_nodata(tmp_path: Path) -> None:
    # one nodata per GeoTIFF: writing either would mislabel the other band's pixels
    result = ArrayResult(
        data=np.zeros((1, 2, 3, 3), np.uint16),
        valid=np.ones((1, 2, 3, 3), bool),
        ids=("s",),
        datetimes=(None,),
        cloud_cover=(None,),
        bands=("B04", "QA"),
        transform=Affine(10, 0, 0, 0, -10, 0),
        crs=CRS.from_epsg(32610),
        fill_values=(0.0, 1.0),
        nodata=(0.0, 1.0),
    )
    with pytest.raises(InvalidInputError, match="B04: 0, QA: 1"):
        write_raster(result, tmp_path / "x.tif")
    assert list(tmp_path.iterdir()) == []


def test_sample_output_rules_and_coordinates(
    cli: Runner, cli_s2: Collection, tmp_path: Path
) -> None:
    assert cli_s2.path is not None
    ws = str(cli_s2.path.parent.parent)
    lon, lat = [-122.295, -122.285], [37.725, 37.735]
    points = pa.table({"lon": lon, "lat": lat, "datetime": ["2023-07-01", "2023-07-02"]})
    pa_csv.write_csv(points, tmp_path / "pts.csv")

    def sample(out: Path, *extra: str) -> Any:
        return cli("sample", "s2", "--workspace", ws, "--points", str(tmp_path / "pts.csv"),
                   "--bands", "B04", "--out", str(out), "--json", *extra)  # fmt: skip

    itself = sample(tmp_path / "pts.csv", "--overwrite")
    assert itself.returncode == 2 and "--points file itself" in itself.stderr
    (tmp_path / "v.csv").write_text("keep me")
    assert sample(tmp_path / "v.csv").returncode == 2
    assert (tmp_path / "v.csv").read_text() == "keep me"
    assert sample(tmp_path / "v.csv", "--overwrite").returncode == 0
    got = pa_csv.read_csv(tmp_path / "v.csv")
    ref = cli_s2.sample_points(points, "B04")
    index = ref.column("point_index").to_pylist()
    assert got.column("lon").to_pylist() == [lon[i] for i in index]  # each row's point
    # the points' own datetime is kept beside the scene's
    assert {str(d) for d in got.column("datetime_point").to_pylist()} <= {
        "2023-07-01",
        "2023-07-02",
    }
    assert sample(tmp_path / "v.geoparquet").returncode == 0
    frame = gpd.read_parquet(tmp_path / "v.geoparquet")
    assert frame.crs.to_epsg() == 4326
    assert list(frame.geometry.x) == [lon[i] for i in index]
    assert frame["B04"].tolist() == ref.column("B04").to_pylist()
    _no_scratch_left(tmp_path)


def test_warnings_are_one_line_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def warns(args: Any) -> None:
        warnings.warn("look out", RasteretWarning, stacklevel=1)

    monkeypatch.setattr(pixel_commands, "run_read", warns)  # the handler, looked up at parse
    code = main(["read", "x", "--bbox", "0", "0", "1", "1", "--bands", "B04",
                 "--out", str(tmp_path / "a.tif")])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().err == "rasteret read: warning: look out\n"
