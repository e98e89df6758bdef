"""Collection: an immutable, filterable view; Arrow stream; export/load; repr."""

from __future__ import annotations

import importlib.util
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import duckdb
import geopandas
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import shapely

from rasteret.collection import Collection, Scene, load
from rasteret.errors import (
    BandMappingError,
    CollectionNotFoundError,
    IndexFormatError,
    InvalidInputError,
)
from rasteret.index import schema
from rasteret.index.manifest import BuildSummary, Failure, Manifest
from rasteret.index.records import records_to_table
from rasteret.index.storage import MANIFEST_KEY
from rasteret.index.workspace import Workspace


def _factories() -> ModuleType:
    # The hand-built headers/items live next to the index tests; load them by path so this
    # file does not depend on how pytest arranges sys.path.
    path = Path(__file__).parent / "index" / "factories.py"
    spec = importlib.util.spec_from_file_location("rasteret_test_factories", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


F = _factories()


def make_collection(path: Path | None = None) -> Collection:
    items = [
        F.make_item("sf-1", day=1, cloud=5.0, bbox=(-122.5, 37.5, -122.0, 38.0)),
        F.make_item("sf-2", day=10, cloud=50.0, bbox=(-122.5, 37.5, -122.0, 38.0)),
        F.make_item("alps", day=20, cloud=None, bbox=(10.0, 45.0, 11.0, 46.0), epsg=32632),
        F.make_item("fiji", day=31, cloud=1.0, bbox=(178.0, -18.0, 179.5, -17.0), epsg=32760),
    ]
    records = [F.make_record(i, fail_nir=i["id"] == "alps") for i in items]
    manifest = Manifest.create(
        name="demo",
        params={"collection": "sentinel-2-l2a"},
        bands=F.BANDS,
        summary=BuildSummary(items=4, assets=8, indexed=7, failed=1, seconds=0.1),
        failures=[Failure(item_id="alps", band="B08", url="https://x", reason="HTTP 403")],
    )
    return Collection(records_to_table(records, tuple(F.BANDS)), manifest, path)


@pytest.fixture
def coll() -> Collection:
    return make_collection()


def ids(c: Collection) -> list[str]:
    return [s.id for s in c]


def test_basic_views(coll: Collection) -> None:
    assert len(coll) == 4
    assert coll.name == "demo"
    assert coll.bands == ("B04", "B08")
    assert coll.bounds == (-122.5, -18.0, 179.5, 46.0)
    assert coll.crs == (32610, 32632, 32760)
    assert coll.datetime_range == (
        datetime(2024, 1, 1, 18, 30, tzinfo=UTC),
        datetime(2024, 1, 31, 18, 30, tzinfo=UTC),
    )
    assert coll.failures[0].item_id == "alps"
    assert coll.band_info("B08") == {"asset_key": "nir", "sample_index": None}
    with pytest.raises(BandMappingError):
        coll.band_info("B99")


def test_iteration_yields_light_scenes(coll: Collection) -> None:
    scenes = list(coll)
    assert all(isinstance(s, Scene) for s in scenes)
    first = scenes[0]
    assert first.id == "sf-1"
    assert first.cloud_cover == 5.0
    assert first.geometry is not None
    assert first.geometry.equals(shapely.box(-122.5, 37.5, -122.0, 38.0))
    assert first.bands == {
        "B04": "https://example.com/sf-1/B04.tif",
        "B08": "https://example.com/sf-1/B08.tif",
    }


def test_headers_come_back(coll: Collection) -> None:
    nir = coll.headers("B08")
    assert [h is None for h in nir] == [False, False, True, False]
    red = coll.headers("B04")[0]
    assert red is not None and red.full.tiles_across == 4


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"bbox": (-123, 37, -121, 39)}, ["sf-1", "sf-2"]),
        ({"bbox": (170, -20, -170, -10)}, ["fiji"]),  # crosses the antimeridian
        ({"bbox": (50, 50, 51, 51)}, []),
        ({"date_range": ("2024-01-10", "2024-01-20")}, ["sf-2", "alps"]),  # inclusive days
        ({"date_range": ("2024-01-11", None)}, ["alps", "fiji"]),
        ({"date_range": ("..", "2024-01-01")}, ["sf-1"]),
        ({"date_range": "2024-01-02/2024-01-30"}, ["sf-2", "alps"]),
        ({"cloud_cover_lt": 10}, ["sf-1", "fiji"]),  # no cloud cover: excluded
        ({"geometries": shapely.Point(10.5, 45.5)}, ["alps"]),
        ({"geometries": {"type": "Point", "coordinates": [10.5, 45.5]}}, ["alps"]),
        ({"geometries": [shapely.Point(0, 0), shapely.Point(179, -17.5).wkb]}, ["fiji"]),
        ({"geometries": "POINT (-122.2 37.7)"}, ["sf-1", "sf-2"]),
        (
            {
                "geometries": {
                    "type": "FeatureCollection",
                    "features": [
                        {"type": "Feature", "geometry": shapely.Point(10.5, 45.5).__geo_interface__}
                    ],
                }
            },
            ["alps"],
        ),
        ({"bbox": (-180, -90, 180, 90), "cloud_cover_lt": 40}, ["sf-1", "fiji"]),
        ({"ids": "alps"}, ["alps"]),
        ({"ids": ["fiji", "no-such-item", "sf-1"]}, ["sf-1", "fiji"]),  # the table's order
        ({"ids": (i for i in ("sf-2", "alps"))}, ["sf-2", "alps"]),
        ({"ids": ["sf-1", "sf-2", "fiji"], "cloud_cover_lt": 10}, ["sf-1", "fiji"]),
        ({"ids": []}, []),
        # read as the build reads them: calendar periods, NumPy numbers and arrays
        ({"date_range": ("2024-01", "2024-01")}, ["sf-1", "sf-2", "alps", "fiji"]),
        ({"date_range": ("2023", "2024")}, ["sf-1", "sf-2", "alps", "fiji"]),
        ({"date_range": (None, None)}, ["sf-1", "sf-2", "alps", "fiji"]),
        ({"cloud_cover_lt": np.int64(10)}, ["sf-1", "fiji"]),
        ({"cloud_cover_lt": np.float32(10)}, ["sf-1", "fiji"]),
        ({"bbox": np.array([-123.0, 37.0, -121.0, 39.0])}, ["sf-1", "sf-2"]),
        # a GeoDataFrame's own CRS is used
        (
            {"geometries": geopandas.GeoSeries([shapely.Point(10.5, 45.5)], crs=4326).to_crs(3857)},
            ["alps"],
        ),
    ],
)
def test_subset(coll: Collection, kwargs: dict[str, object], expected: list[str]) -> None:
    assert ids(coll.subset(**kwargs)) == expected  # type: ignore[arg-type]


def test_date_range_overlaps_item_ranges() -> None:
    item = F.make_item("composite")
    props = item["properties"]
    props["datetime"] = None
    props["start_datetime"] = "2024-03-01T00:00:00Z"
    props["end_datetime"] = "2024-03-31T23:59:59Z"
    manifest = Manifest.create(name="r", params={}, bands=F.BANDS)
    c = Collection(records_to_table([F.make_record(item)], tuple(F.BANDS)), manifest)
    assert c.datetime_range == (
        datetime(2024, 3, 1, tzinfo=UTC),
        datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC),
    )
    assert len(c.subset(date_range=("2024-03-15", "2024-03-16"))) == 1
    assert len(c.subset(date_range=("2024-04-01", "2024-04-02"))) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bbox": (1, 2, 3)},
        {"bbox": (0, 10, 1, 5)},
        {"bbox": ("a", 0, 1, 1)},
        {"date_range": ("2024-02-01", "2024-01-01")},
        {"date_range": ("yesterday", None)},
        {"date_range": "2024-01-01"},
        {"cloud_cover_lt": "10"},
        {"geometries": 42},
        {"geometries": "not wkt"},
        {"ids": 42},
        {"ids": b"alps"},
        {"ids": ["alps", 7]},
        {"ids": {"alps": 1}},
        {"date_range": ("2024-01-01", "20240105")},  # the build refuses compact dates too
        {"date_range": ("2024-01-01", pd.NaT)},
        {"cloud_cover_lt": math.nan},
        {"geometries": {"type": "Blob", "coordinates": []}},
    ],
)
def test_subset_rejects_bad_input(coll: Collection, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        coll.subset(**kwargs)  # type: ignore[arg-type]


def test_filters_return_new_collections_and_never_mutate(coll: Collection) -> None:
    before = coll.to_table()
    sub = coll.subset(cloud_cover_lt=10).where(pc.field("platform") == "sentinel-2a")
    assert sub is not coll and len(sub) == 2 and len(coll) == 4
    assert coll.to_table().equals(before)
    assert sub.manifest is coll.manifest
    with pytest.raises(AttributeError):
        coll._table = pa.table({})  # type: ignore[misc]
    with pytest.raises(AttributeError):
        coll.name = "x"  # type: ignore[misc]


def test_where(coll: Collection) -> None:
    assert ids(coll.where(pc.field("proj:epsg") == 32632)) == ["alps"]
    assert ids(coll.where(pc.field("band:B08", "error").is_valid())) == ["alps"]
    with pytest.raises(InvalidInputError):
        coll.where(pc.field("no_such_column") == 1)
    with pytest.raises(InvalidInputError):
        coll.where("id = 'x'")  # type: ignore[arg-type]


def test_arrow_stream(coll: Collection) -> None:
    table = pa.table(coll)
    assert table.num_rows == 4
    assert table.schema.equals(schema.index_schema(coll.bands))
    coll_tbl = coll  # noqa: F841 (DuckDB finds it by name)
    assert duckdb.sql("select count(*) from coll_tbl").fetchone() == (4,)
    assert duckdb.sql('select count(*) from coll_tbl where "eo:cloud_cover" < 10').fetchone() == (
        2,
    )


def test_repr(coll: Collection) -> None:
    text = repr(coll)
    assert "'demo'" in text
    assert "scenes: 4" in text
    assert "2024-01-01 .. 2024-01-31" in text
    assert "B04, B08" in text
    assert "-122.5000" in text
    assert "EPSG:32610, EPSG:32632, EPSG:32760" in text
    assert "failed: 1" in text
    empty = coll.subset(bbox=(50, 50, 51, 51))
    assert "scenes: 0" in repr(empty) and "dates:  none" in repr(empty)


def test_repr_has_no_credentials() -> None:
    item = F.make_item("signed", signed=True)
    manifest = Manifest.create(name="s", params={}, bands=F.BANDS, cloud_config={"token": "T0K"})
    c = Collection(records_to_table([F.make_record(item)], tuple(F.BANDS)), manifest)
    assert "sig=" not in repr(c) and "T0K" not in repr(c)
    assert "sig=" not in json.dumps(pa.table(c).to_pylist(), default=str)


def test_export_and_load(coll: Collection, tmp_path: Path) -> None:
    sub = coll.subset(cloud_cover_lt=10)
    out = sub.export(tmp_path / "out" / "sub.parquet")
    assert out == tmp_path / "out" / "sub.parquet"
    loaded = load(out)
    assert ids(loaded) == ["sf-1", "fiji"]
    assert loaded.path == out and loaded.manifest.fingerprint == coll.manifest.fingerprint
    with pytest.raises(InvalidInputError, match="overwrite"):
        coll.export(out)
    coll.export(out, overwrite=True)
    assert len(Collection.load(out)) == 4
    # a directory target gets index.parquet inside, loadable by directory path
    (tmp_path / "d").mkdir()
    assert coll.export(tmp_path / "d") == tmp_path / "d" / "index.parquet"
    assert len(load(tmp_path / "d")) == 4


def test_load_by_name_from_workspace(coll: Collection, tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with ws.lock("demo"):
        coll.export(ws.index_path("demo"))
    c = load("demo", workspace_dir=tmp_path)
    assert len(c) == 4 and c.path == ws.index_path("demo")
    assert "source:" in repr(c)
    with pytest.raises(CollectionNotFoundError, match="available: demo"):
        load("other", workspace_dir=tmp_path)
    with pytest.raises(InvalidInputError):
        load("..", workspace_dir=tmp_path)
    with pytest.raises(CollectionNotFoundError):
        load(tmp_path / "missing.parquet")


def test_load_refuses_non_index_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"nope")
    with pytest.raises(IndexFormatError):
        load(bad)


def test_constructor_checks_bands_against_manifest(coll: Collection) -> None:
    with pytest.raises(IndexFormatError):
        Collection(coll.to_table(), Manifest.create(name="x", params={}, bands={}))


def test_bbox_only_items_across_the_antimeridian() -> None:
    # no geometry, and a bbox with xmin > xmax: the footprint is the two boxes either side
    item = F.make_item("dateline", bbox=(170.0, 20.0, -170.0, 30.0))
    item["geometry"] = None
    c = Collection(
        records_to_table([F.make_record(item)], tuple(F.BANDS)),
        Manifest.create(name="r", params={}, bands=F.BANDS),
    )
    assert ids(c.subset(bbox=(175, 22, -175, 28))) == ["dateline"]
    assert ids(c.subset(bbox=(-175, 22, -172, 28))) == ["dateline"]
    assert ids(c.subset(bbox=(-5, 22, 5, 28))) == []


def test_from_table_takes_columns_in_any_order_and_refuses_null_ids(coll: Collection) -> None:
    t = coll.to_table()
    reordered = Collection.from_table(t.select(t.column_names[::-1]), like=coll)
    assert reordered.to_table().equals(t)
    no_id = t.set_column(0, pa.field(schema.ID, pa.string()), pa.array([None, "a", "b", "c"]))
    with pytest.raises(InvalidInputError, match="null item id"):
        Collection.from_table(no_id, like=coll)


def test_from_pandas_keeps_a_nan_nodata(coll: Collection) -> None:
    # a NaN inside a band's layout dict is a value (the nodata), not pandas' missing float
    t = coll.to_table()
    col = t.schema.get_field_index("band:B04")
    rows = t.column(col).to_pylist()
    for row in rows:
        row["nodata"] = math.nan
    t = t.set_column(col, t.schema.field(col), pa.array(rows, t.schema.field(col).type))
    back = Collection.from_table(t.to_pandas(), like=coll)
    nodata = [h.nodata if h is not None else "no header" for h in back.headers("B04")]
    assert all(isinstance(v, float) and math.isnan(v) for v in nodata), nodata


def test_wrong_types_name_the_argument(coll: Collection) -> None:
    with pytest.raises(InvalidInputError, match="like"):
        Collection.from_table(coll.to_table(), like=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="manifest"):
        Collection(coll.to_table(), None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="table"):
        Collection("rows", coll.manifest)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="path"):
        Collection(coll.to_table(), coll.manifest, 5)  # type: ignore[arg-type]


def test_export_to_a_new_directory(coll: Collection, tmp_path: Path) -> None:
    out = coll.export(f"{tmp_path / 'new'}/")
    assert out == tmp_path / "new" / "index.parquet"
    assert len(load(tmp_path / "new")) == 4


def test_manifest_that_is_not_an_object_or_lacks_bands(coll: Collection, tmp_path: Path) -> None:
    meta = {MANIFEST_KEY: json.dumps([1, 2]).encode()}
    pq.write_table(coll.to_table().replace_schema_metadata(meta), tmp_path / "list.parquet")
    with pytest.raises(IndexFormatError, match="not a JSON object"):
        load(tmp_path / "list.parquet")
    data = coll.manifest.to_dict()
    del data["bands"]
    meta = {MANIFEST_KEY: json.dumps(data).encode()}
    pq.write_table(coll.to_table().replace_schema_metadata(meta), tmp_path / "nob.parquet")
    with pytest.raises(IndexFormatError, match=r"nob\.parquet: malformed rasteret manifest"):
        load(tmp_path / "nob.parquet")
