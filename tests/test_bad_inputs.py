"""Bad input across the public API: the right error, naming the parameter and value, no debris.

One table drives every case. A row says which surface it exercises (``api``, or ``cli``
with an argv run as ``python -m rasteret --json``), what to call, which
:mod:`rasteret.errors` class must come out (for the CLI: the error type it reports, and its
exit code), and which words its message must contain: the parameter's name and the
offending value. Every row also checks that nothing was left in the workspace or the
temporary directory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import shapely

import rasteret
from rasteret import CloudConfig, Collection, create_backend
from rasteret.errors import (
    BandMappingError,
    CollectionNotFoundError,
    FetchError,
    IndexFormatError,
    InputFileNotFoundError,
    InvalidInputError,
    RasteretError,
    StacSearchError,
)
from rasteret.io.sync import run_sync
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog


@dataclass(frozen=True)
class Ctx:
    """What a row may use: a clean workspace, a built collection, reachable and dead URLs."""

    workspace: Path
    """Empty workspace directory for this row (checked for debris afterwards)."""
    coll: Collection
    """A small Sentinel-2 collection built from the sandbox's static catalog."""
    static: str
    """Path of the sandbox's static catalog."""
    closed_url: str
    """``http://127.0.0.1:<port>`` where nothing listens."""
    s3: Any
    """The moto S3 server (``endpoint``, ``create_bucket``)."""

    def build(self, **overrides: Any) -> Collection:
        """build_from_stac with valid arguments, except ``overrides``."""
        args: dict[str, Any] = {
            "name": "bad-input",
            "stac_api": self.static,
            "collection": "sentinel-2-l2a",
            "data_source": "pc/sentinel-2-l2a",
            "bbox": cat.SF_BBOX,
            "date_range": cat.JAN_MAR,
            "workspace_dir": self.workspace,
            "static_catalog": True,
        }
        args.update(overrides)
        return rasteret.build_from_stac(**args)


@dataclass(frozen=True)
class Row:
    """One bad input and what it must produce."""

    id: str
    error: type[RasteretError]
    words: tuple[str, ...]
    """Substrings the message must contain (parameter name and value)."""
    call: Callable[[Ctx], Any] | None = None
    """The API call (surface ``api``)."""
    surface: str = "api"
    """``api``, or ``cli`` for rows that run the command line (argv in ``argv``)."""
    argv: tuple[str, ...] = field(default_factory=tuple)
    """Command-line arguments of a ``cli`` row."""
    exit_code: int = 0
    """The exit code a ``cli`` row must end with (2 bad input, 3 not found)."""


def _aoi(ctx: Ctx) -> shapely.Geometry:
    return shapely.box(-122.30, 37.72, -122.28, 37.74)


def _a_file(ctx: Ctx, name: str = "a-file") -> Path:
    path = ctx.workspace.parent / name
    path.write_text("not what you expected")
    return path


def _read(backend: Any, url: str) -> bytes:
    data: bytes = run_sync(backend.get_range_async(url, 0, 100))
    return data


def _read_s3_bad_credentials(ctx: Ctx) -> bytes:
    bucket = "rasteret-bad-creds"
    ctx.s3.create_bucket(bucket)
    config = CloudConfig(endpoint=ctx.s3.endpoint, allow_http=True, region="us-east-1")
    backend = create_backend(
        cloud_config=config,
        credentials={"aws_access_key_id": "nobody", "aws_secret_access_key": "wrong"},
        max_retries=0,
    )
    return _read(backend, f"s3://{bucket}/x.tif")


def _cli_build(
    *,
    dataset: str = "earthsearch/sentinel-2-l2a",
    name: str = "ok",
    maxy: str = "1",
    start: str = "2024-01-01",
) -> tuple[str, ...]:
    """``rasteret build`` argv, valid except for the argument a row changes."""
    bbox = ("0", "0", "1", maxy)
    return ("build", dataset, "--name", name, "--bbox", *bbox, "--date-range", start, "2024-02-01")


def _cli_read(out: str) -> tuple[str, ...]:
    """``rasteret read`` argv of a collection that does not exist, writing to ``out``."""
    return ("read", "nosuch", "--bbox", "0", "0", "1", "1", "--bands", "B04", "--out", out)


def _cli_sample(points: str) -> tuple[str, ...]:
    """``rasteret sample`` argv reading ``points`` (checked before the collection is opened)."""
    return ("sample", "nosuch", "--points", points, "--bands", "B04", "--out", "{out}.csv")


ROWS: list[Row] = [
    # ------------------------------------------------------------ build_from_stac
    Row("build-name-int", InvalidInputError, ("name", "42"), lambda c: c.build(name=42)),
    Row("build-name-empty", InvalidInputError, ("name", "''"), lambda c: c.build(name="")),
    Row("build-stac-api-int", InvalidInputError, ("stac_api", "7"), lambda c: c.build(stac_api=7)),
    Row(
        "build-stac-api-bad-scheme",
        StacSearchError,
        ("stac_api", "ftp://example.invalid/stac"),
        lambda c: c.build(stac_api="ftp://example.invalid/stac", static_catalog=False),
    ),
    Row(
        "build-stac-api-closed-port",
        StacSearchError,
        ("stac_api", "127.0.0.1"),
        lambda c: c.build(stac_api=c.closed_url, static_catalog=False),
    ),
    Row(
        "build-static-missing-file",
        StacSearchError,
        ("stac_api", "nope.json"),
        lambda c: c.build(stac_api=str(c.workspace.parent / "nope.json")),
    ),
    Row(
        "build-collection-int",
        InvalidInputError,
        ("collection", "5"),
        lambda c: c.build(collection=5),
    ),
    Row(
        "build-collection-unknown",
        StacSearchError,
        ("collection", "no-such-collection"),
        lambda c: c.build(collection="no-such-collection", data_source=None),
    ),
    Row(
        "build-bbox-reversed-lat",
        InvalidInputError,
        ("bbox", "38.0", "37.5"),
        lambda c: c.build(bbox=(-122.5, 38.0, -122.0, 37.5)),
    ),
    Row(
        "build-bbox-out-of-range",
        InvalidInputError,
        ("bbox", "200"),
        lambda c: c.build(bbox=(-122.5, 37.5, 200.0, 38.0)),
    ),
    Row(
        "build-bbox-three-values",
        InvalidInputError,
        ("bbox", "(1, 2, 3)"),
        lambda c: c.build(bbox=(1, 2, 3)),
    ),
    Row(
        "build-bbox-string",
        InvalidInputError,
        ("bbox", "'-122,37,-121,38'"),
        lambda c: c.build(bbox="-122,37,-121,38"),
    ),
    Row(
        "build-bbox-nan",
        InvalidInputError,
        ("bbox", "nan"),
        lambda c: c.build(bbox=(float("nan"), 37.5, -122.0, 38.0)),
    ),
    Row(
        "build-date-malformed",
        InvalidInputError,
        ("date_range", "2024-13-45"),
        lambda c: c.build(date_range=("2024-13-45", "2024-03-31")),
    ),
    Row(
        "build-date-reversed",
        InvalidInputError,
        ("date_range", "2024-03-31", "2024-01-01"),
        lambda c: c.build(date_range=("2024-03-31", "2024-01-01")),
    ),
    Row(
        "build-date-one-value",
        InvalidInputError,
        ("date_range", "2024-01-01"),
        lambda c: c.build(date_range=("2024-01-01",)),
    ),
    Row(
        "build-date-empty-range",
        rasteret.NoItemsError,
        ("date_range", "1999-01-01"),
        lambda c: c.build(date_range=("1999-01-01", "1999-01-02")),
    ),
    Row(
        "build-band-map-unknown-asset",
        BandMappingError,
        ("band_map", "no_such_asset"),
        lambda c: c.build(band_map={"B04": "no_such_asset"}),
    ),
    Row(
        "build-band-map-not-dict",
        InvalidInputError,
        ("band_map", "['B04']"),
        lambda c: c.build(band_map=["B04"]),
    ),
    Row(
        "build-band-index-negative",
        BandMappingError,
        ("band_index_map", "-1"),
        lambda c: c.build(band_map={"B04": "red"}, band_index_map={"B04": -1}),
    ),
    Row(
        "build-data-source-int",
        InvalidInputError,
        ("data_source", "7"),
        lambda c: c.build(data_source=7),
    ),
    Row(
        "build-max-concurrent-zero",
        InvalidInputError,
        ("max_concurrent", "0"),
        lambda c: c.build(max_concurrent=0),
    ),
    Row(
        "build-max-concurrent-str",
        InvalidInputError,
        ("max_concurrent", "'8'"),
        lambda c: c.build(max_concurrent="8"),
    ),
    Row(
        "build-force-str",
        InvalidInputError,
        ("force", "'yes'"),
        lambda c: c.build(force="yes"),
    ),
    Row(
        "build-query-not-dict",
        InvalidInputError,
        ("query", "'eo:cloud_cover<10'"),
        lambda c: c.build(query="eo:cloud_cover<10"),
    ),
    Row(
        "build-cloud-config-str",
        InvalidInputError,
        ("cloud_config", "'str'"),  # a config string may be a signed URL: type only
        lambda c: c.build(cloud_config="s3"),
    ),
    Row(
        "build-backend-wrong-type",
        InvalidInputError,
        ("backend", "'str'"),
        lambda c: c.build(backend="obstore"),
    ),
    Row(
        "build-workspace-is-a-file",
        InvalidInputError,
        ("workspace_dir", "a-file"),
        lambda c: c.build(workspace_dir=_a_file(c)),
    ),
    # ------------------------------------------------------------ Collection.subset
    Row(
        "subset-bbox-reversed-lat",
        InvalidInputError,
        ("bbox", "38.0", "37.5"),
        lambda c: c.coll.subset(bbox=(-122.5, 38.0, -122.0, 37.5)),
    ),
    Row(
        "subset-bbox-lat-out-of-range",
        InvalidInputError,
        ("bbox", "95"),
        lambda c: c.coll.subset(bbox=(-122.5, 37.5, -122.0, 95.0)),
    ),
    Row(
        "subset-date-malformed",
        InvalidInputError,
        ("date_range", "yesterday"),
        lambda c: c.coll.subset(date_range=("yesterday", "2024-01-01")),
    ),
    Row(
        "subset-date-reversed",
        InvalidInputError,
        ("date_range", "2024-03-01"),
        lambda c: c.coll.subset(date_range=("2024-03-01", "2024-01-01")),
    ),
    Row(
        "subset-cloud-str",
        InvalidInputError,
        ("cloud_cover_lt", "'low'"),
        lambda c: c.coll.subset(cloud_cover_lt="low"),  # type: ignore[arg-type]
    ),
    Row(
        "subset-geometries-empty",
        InvalidInputError,
        ("geometries", "EMPTY"),
        lambda c: c.coll.subset(geometries=shapely.Polygon()),
    ),
    # ------------------------------------------------------------ get_numpy / get_xarray
    Row(
        "numpy-unknown-band",
        BandMappingError,
        ("bands", "B99"),
        lambda c: c.coll.get_numpy(_aoi(c), "B99"),
    ),
    Row(
        "numpy-no-bands",
        InvalidInputError,
        ("bands", "[]"),
        lambda c: c.coll.get_numpy(_aoi(c), []),
    ),
    Row(
        "numpy-empty-geometry",
        InvalidInputError,
        ("geometries", "EMPTY"),
        lambda c: c.coll.get_numpy(shapely.Polygon(), "B04"),
    ),
    Row(
        "numpy-geometry-int",
        InvalidInputError,
        ("geometries", "12"),
        lambda c: c.coll.get_numpy(12, "B04"),
    ),
    Row(
        "numpy-bbox-reversed",
        InvalidInputError,
        ("geometries", "37.74", "37.72"),
        lambda c: c.coll.get_numpy((-122.30, 37.74, -122.28, 37.72), "B04"),
    ),
    Row(
        "numpy-crs-garbage",
        InvalidInputError,
        ("crs", "EPSG:0"),
        lambda c: c.coll.get_numpy(_aoi(c), "B04", crs="EPSG:0"),
    ),
    Row(
        "numpy-target-crs-no-epsg",
        InvalidInputError,
        ("target_crs", "LOCAL_CS"),
        lambda c: c.coll.get_numpy(_aoi(c), "B04", target_crs='LOCAL_CS["engineering grid"]'),
    ),
    Row(
        "numpy-resolution-negative",
        InvalidInputError,
        ("resolution", "-10"),
        lambda c: c.coll.get_numpy(_aoi(c), "B04", resolution=-10),
    ),
    Row(
        "numpy-resampling-unknown",
        InvalidInputError,
        ("resampling", "lanczos9"),
        lambda c: c.coll.get_numpy(_aoi(c), "B04", resampling="lanczos9"),
    ),
    Row(
        "numpy-overview-too-deep",
        InvalidInputError,
        ("overview", "99"),
        lambda c: c.coll.get_numpy(_aoi(c), "B04", overview=99),
    ),
    Row(
        "numpy-max-concurrent-neg",
        InvalidInputError,
        ("max_concurrent", "-3"),
        lambda c: c.coll.get_numpy(_aoi(c), "B04", max_concurrent=-3),
    ),
    Row(
        "numpy-aoi-outside-every-scene",
        InvalidInputError,
        ("geometries", "POLYGON ((10.1 45"),
        lambda c: c.coll.get_numpy(shapely.box(10.0, 45.0, 10.1, 45.1), "B04"),
    ),
    Row(
        "numpy-antimeridian-bbox",
        InvalidInputError,
        ("geometries", "179.5", "-179.5"),
        lambda c: c.coll.get_numpy((179.5, -17.0, -179.5, -16.0), "B04"),
    ),
    Row(
        "xarray-unknown-band",
        BandMappingError,
        ("bands", "nir99"),
        lambda c: c.coll.get_xarray(_aoi(c), ["B04", "nir99"]),
    ),
    Row(
        "xarray-fill-value-str",
        InvalidInputError,
        ("fill_value", "'zero'"),
        lambda c: c.coll.get_xarray(_aoi(c), "B04", fill_value="zero"),
    ),
    # ------------------------------------------------------------ sample_points
    Row(
        # sample_points gives an empty table for such points (its documented contract);
        # an AOI read, get_gdf included, has nothing to return and says so.
        "gdf-plots-outside-every-scene",
        InvalidInputError,
        ("geometries", "POLYGON ((11 45", "intersects none"),
        lambda c: c.coll.get_gdf([shapely.box(10.0, 45.0, 11.0, 46.0)], "B04"),
    ),
    Row(
        "points-wrong-shape",
        InvalidInputError,
        ("points", "[(1, 2, 3)]"),
        lambda c: c.coll.sample_points([(1, 2, 3)], "B04"),
    ),
    Row(
        "points-unknown-band",
        BandMappingError,
        ("bands", "B77"),
        lambda c: c.coll.sample_points([(-122.29, 37.73)], "B77"),
    ),
    Row(
        "points-crs-garbage",
        InvalidInputError,
        ("crs", "not-a-crs"),
        lambda c: c.coll.sample_points([(-122.29, 37.73)], "B04", crs="not-a-crs"),
    ),
    # ------------------------------------------------------------ export / load
    Row(
        "export-exists",
        InvalidInputError,
        ("path", "exists"),
        lambda c: c.coll.export(_a_file(c)),
    ),
    Row(
        "export-path-int",
        InvalidInputError,
        ("path", "3"),
        lambda c: c.coll.export(3),  # type: ignore[arg-type]
    ),
    Row(
        "load-missing-name",
        CollectionNotFoundError,
        ("no-such-coll",),
        lambda c: rasteret.load("no-such-coll", workspace_dir=c.workspace),
    ),
    Row(
        "load-bad-name",
        InvalidInputError,
        ("name", "bad name!"),
        lambda c: rasteret.load("bad name!", workspace_dir=c.workspace),
    ),
    Row(
        "load-not-parquet",
        IndexFormatError,
        ("a-file",),
        lambda c: rasteret.load(_a_file(c, "a-file.parquet")),
    ),
    Row(
        "load-int",
        InvalidInputError,
        ("name_or_path", "17"),
        lambda c: rasteret.load(17),  # type: ignore[arg-type]
    ),
    # ------------------------------------------------------------ CloudConfig / backends
    Row(
        "cloud-region-int",
        InvalidInputError,
        ("region", "5"),
        lambda c: CloudConfig(region=5),  # type: ignore[arg-type]
    ),
    Row(
        "cloud-rewrite-single",
        InvalidInputError,
        ("url_rewrites", "https://a/"),
        lambda c: CloudConfig(url_rewrites=(("https://a/",),)),  # type: ignore[arg-type]
    ),
    Row(
        "cloud-anonymous-str",
        InvalidInputError,
        ("anonymous", "'true'"),
        lambda c: CloudConfig(anonymous="true"),  # type: ignore[arg-type]
    ),
    Row(
        "cloud-from-dict-unknown-key",
        InvalidInputError,
        ("cloud_config", "reqester_pays"),
        lambda c: CloudConfig.from_dict({"reqester_pays": True}),
    ),
    Row(
        "backend-retries-negative",
        InvalidInputError,
        ("max_retries", "-1"),
        lambda c: create_backend(max_retries=-1),
    ),
    Row(
        "backend-credentials-not-mapping",
        InvalidInputError,
        ("credentials", "<redacted>"),  # secrets are never echoed
        lambda c: create_backend(credentials="key"),  # type: ignore[arg-type]
    ),
    Row(
        "backend-cloud-config-dict",
        InvalidInputError,
        ("cloud_config", "'dict'"),  # may hold auth client options: type only
        lambda c: create_backend(cloud_config={"region": "x"}),  # type: ignore[arg-type]
    ),
    Row(
        "backend-read-closed-port",
        FetchError,
        ("127.0.0.1",),
        lambda c: _read(create_backend(), c.closed_url + "/x.tif"),
    ),
    Row(
        "backend-s3-bad-credentials",
        FetchError,
        ("s3://", "x.tif"),
        _read_s3_bad_credentials,
    ),
    # --- the command line (python -m rasteret --json ...) --------------------------------
    *(
        Row(rid, error, words, surface="cli", argv=argv, exit_code=code)
        for rid, error, words, code, argv in (
            (
                "cli-read-unknown-collection",
                CollectionNotFoundError,
                ("nosuch",),
                3,
                _cli_read("{out}.tif"),
            ),
            (
                "cli-collections-info-unknown",
                CollectionNotFoundError,
                ("nosuch",),
                3,
                ("collections", "info", "nosuch"),
            ),
            (
                "cli-datasets-info-unknown",
                InvalidInputError,
                ("dataset", "nope"),
                3,
                ("datasets", "info", "nope"),
            ),
            (
                "cli-build-unknown-dataset",
                InvalidInputError,
                ("dataset", "nosuch/dataset"),
                3,
                _cli_build(dataset="nosuch/dataset"),
            ),
            (
                "cli-build-name-traversal",
                InvalidInputError,
                ("name", "../evil"),
                2,
                _cli_build(name="../evil"),
            ),
            (
                "cli-build-malformed-date",
                InvalidInputError,
                ("date_range", "2024-13-01"),
                2,
                _cli_build(start="2024-13-01"),
            ),
            (
                "cli-build-latitude-out-of-range",
                InvalidInputError,
                ("bbox", "200"),
                2,
                _cli_build(maxy="200"),
            ),
            (
                "cli-sample-missing-points",
                InputFileNotFoundError,
                ("--points", "no-such-points.csv", "no such file"),
                3,
                _cli_sample("no-such-points.csv"),
            ),
            (
                "cli-read-unknown-output-type",
                InvalidInputError,
                ("--out", "unknownext"),
                2,
                _cli_read("{out}.unknownext"),
            ),
        )
    ),
]


# ---------------------------------------------------------------------- harness


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def built(sample_catalog: SampleCatalog, tmp_path_factory: pytest.TempPathFactory) -> Collection:
    return rasteret.build_from_stac(
        name="bad-inputs",
        stac_api=str(sample_catalog.static_catalog),
        collection="sentinel-2-l2a",
        data_source="pc/sentinel-2-l2a",
        bbox=cat.SF_BBOX,
        date_range=cat.JAN_MAR,
        workspace_dir=tmp_path_factory.mktemp("bad-inputs-ws"),
        static_catalog=True,
    )


@pytest.fixture
def ctx(
    built: Collection,
    sample_catalog: SampleCatalog,
    moto_s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Ctx]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("RASTERET_WORKSPACE", str(workspace))
    yield Ctx(
        workspace=workspace,
        coll=built,
        static=str(sample_catalog.static_catalog),
        closed_url=f"http://127.0.0.1:{_closed_port()}",
        s3=moto_s3,
    )


def _snapshot(*folders: Path) -> set[str]:
    return {str(p) for folder in folders for p in folder.rglob("*")}


def _run_cli(row: Row, ctx: Ctx) -> dict[str, Any]:
    """Run ``python -m rasteret --json`` with the row's argv; return the reported error."""
    argv = [a.replace("{out}", str(ctx.workspace.parent / "out")) for a in row.argv]
    env = {**os.environ, "TMPDIR": tempfile.gettempdir(), "RASTERET_PROGRESS": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "rasteret", "--workspace", str(ctx.workspace), "--json", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == row.exit_code, f"{row.id}: exit {proc.returncode}: {proc.stderr}"
    error: dict[str, Any] = json.loads(proc.stdout)["error"]
    return error


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row: Row, ctx: Ctx) -> None:
    folders = (ctx.workspace, Path(tempfile.gettempdir()))
    before = _snapshot(*folders)
    if row.surface == "cli":
        error = _run_cli(row, ctx)
        assert error["type"] == row.error.__name__, error
        for word in row.words:
            assert word in error["message"], f"{word!r} not in {error['message']!r}"
        assert _snapshot(*folders) == before, "files left behind"
        return
    with pytest.raises(RasteretError) as info:
        assert row.call is not None
        row.call(ctx)
    err = info.value
    assert isinstance(err, row.error), f"{type(err).__name__}: {err}"
    message = str(err)
    for word in row.words:
        assert word in message, f"{word!r} not in {message!r}"
    assert _snapshot(*folders) == before, "files left behind"


def test_table_is_big_and_ids_unique() -> None:
    assert len(ROWS) >= 40
    assert len({r.id for r in ROWS}) == len(ROWS)
