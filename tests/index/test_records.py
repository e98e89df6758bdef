"""STAC items + headers -> index table."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
import shapely
from factories import make_header, make_item, make_record

from rasteret.errors import InvalidInputError
from rasteret.index import schema
from rasteret.index.records import BandRecord, ItemRecord, records_to_table, strip_secrets

BANDS = ("B04", "B08")


def test_one_row_per_item_sorted_by_datetime_then_id() -> None:
    items = [make_item("c", day=3), make_item("b", day=1), make_item("a", day=1)]
    table = records_to_table([make_record(i) for i in items], BANDS)
    assert table.schema.equals(schema.index_schema(BANDS))
    assert table.column(schema.ID).to_pylist() == ["a", "b", "c"]
    assert table.column(schema.DATETIME).to_pylist()[0] == datetime(2024, 1, 1, 18, 30, tzinfo=UTC)


def test_core_columns_from_the_item() -> None:
    item = make_item("x", cloud=12.5, epsg=32611)
    row = records_to_table([make_record(item)], BANDS).to_pylist()[0]
    assert row[schema.COLLECTION] == "sentinel-2-l2a"
    assert row[schema.CLOUD_COVER] == 12.5
    assert row[schema.PLATFORM] == "sentinel-2a"
    assert row[schema.CONSTELLATION] == "sentinel-2"
    assert row[schema.EPSG] == 32611
    assert row[schema.PROJ_CODE] == "EPSG:32611"
    assert row[schema.BBOX] == {"xmin": -122.5, "ymin": 37.5, "xmax": -122.0, "ymax": 38.0}
    assert shapely.from_wkb(row[schema.GEOMETRY]).equals(shapely.box(-122.5, 37.5, -122.0, 38.0))
    assert json.loads(row[schema.PROPERTIES]) == item["properties"]
    assert row[schema.band_column("B04")]["asset_key"] == "red"
    assert row[schema.band_column("B04")]["ifds"][0]["tiles_across"] == 4


def test_proj_code_parsed_and_range_items_use_start_datetime() -> None:
    item = make_item("r")
    props = item["properties"]
    del props["proj:epsg"]
    props["proj:code"] = "EPSG:3857"
    props["datetime"] = None
    props["start_datetime"] = "2024-02-01T00:00:00.123456789Z"  # nanoseconds happen
    props["end_datetime"] = "2024-02-03T00:00:00+02:00"
    row = records_to_table([make_record(item)], BANDS).to_pylist()[0]
    assert row[schema.EPSG] == 3857
    assert row[schema.DATETIME] == datetime(2024, 2, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert row[schema.START_DATETIME] == row[schema.DATETIME]
    assert row[schema.END_DATETIME] == datetime(2024, 2, 2, 22, 0, tzinfo=UTC)


def test_projection_falls_back_to_band_assets() -> None:
    item = make_item("p")
    del item["properties"]["proj:epsg"]
    item["assets"]["red"]["proj:epsg"] = 32633
    row = records_to_table([make_record(item)], BANDS).to_pylist()[0]
    assert row[schema.EPSG] == 32633


def test_failed_and_missing_bands() -> None:
    item = make_item("f")
    rec = make_record(item, fail_nir=True)
    missing = ItemRecord(make_item("g"), {"B04": rec.bands["B04"]})
    rows = records_to_table([rec, missing], BANDS).to_pylist()
    nir = rows[0][schema.band_column("B08")]
    assert nir["error"] == "HTTP 403" and nir["ifds"] is None and nir["href"].endswith("B08.tif")
    assert rows[1][schema.band_column("B08")] is None


def test_signing_tokens_never_reach_the_index() -> None:
    item = make_item("s", signed=True)
    item["assets"]["red"]["alternate"] = {"s3": {"href": "s3://b/k?X-Amz-Signature=zzz&v=1"}}
    table = records_to_table([make_record(item)], BANDS)
    text = json.dumps(table.to_pylist(), default=str)
    assert "SECRET" not in text and "zzz" not in text and "sig=" not in text
    row = table.to_pylist()[0]
    assert row[schema.band_column("B04")]["href"] == "https://example.com/s/B04.tif"
    assets = json.loads(row[schema.ASSETS])
    assert assets["red"]["alternate"]["s3"]["href"] == "s3://b/k?v=1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a/b.tif", "https://a/b.tif"),
        ("https://a/b.tif?versionId=3", "https://a/b.tif?versionId=3"),
        ("https://a/b.tif?sv=1&sig=x%2By&se=2", "https://a/b.tif"),
        ("https://a/b.tif?sv=1&sp=r", "https://a/b.tif?sv=1&sp=r"),  # unsigned: kept
        ("https://u:p@a/b.tif?X-Amz-Signature=1&X-Amz-Date=2&x=3", "https://a/b.tif?x=3"),
        ("https://a/b.tif?token=abc", "https://a/b.tif"),
    ],
)
def test_strip_secrets(url: str, expected: str) -> None:
    assert strip_secrets(url) == expected


def test_empty_records_give_an_empty_typed_table() -> None:
    table = records_to_table([], BANDS)
    assert table.num_rows == 0
    assert table.schema.equals(schema.index_schema(BANDS))


def test_null_geometry_uses_item_bbox_as_covering() -> None:
    item = make_item("n")
    item["geometry"] = None
    row = records_to_table([make_record(item)], BANDS).to_pylist()[0]
    assert row[schema.GEOMETRY] is None
    assert row[schema.BBOX]["xmin"] == -122.5


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda i: i.pop("id"), "item id"),
        (lambda i: i["properties"].update(datetime="not a date"), "datetime"),
        (lambda i: i.update(geometry={"type": "Polygon", "coordinates": "x"}), "geometry"),
    ],
)
def test_bad_items_are_named(mutate: object, match: str) -> None:
    item = make_item("bad")
    mutate(item)  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match=match):
        records_to_table([ItemRecord(item, {})], BANDS)


def test_unknown_band_code_is_refused() -> None:
    rec = ItemRecord(make_item("u"), {"B99": BandRecord("h", "x", None, make_header(), None)})
    with pytest.raises(InvalidInputError, match="B99"):
        records_to_table([rec], BANDS)


def test_table_is_valid_arrow() -> None:
    table = records_to_table([make_record(make_item(str(i), day=i + 1)) for i in range(5)], BANDS)
    table.validate(full=True)
    assert isinstance(table, pa.Table)


def test_items_without_any_datetime_sort_last() -> None:
    undated = make_item("0-undated")
    undated["properties"]["datetime"] = None
    table = records_to_table([make_record(undated), make_record(make_item("z"))], BANDS)
    assert table.column(schema.ID).to_pylist() == ["z", "0-undated"]
    assert table.column(schema.DATETIME).null_count == 1
