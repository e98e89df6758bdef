from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasteret.errors import InvalidInputError
from rasteret.stac.inputs import (
    is_valid_band_code,
    normalize_bbox,
    normalize_date_range,
    split_antimeridian,
    to_stac_datetime,
    validate_collection_id,
    validate_query,
)

# --------------------------------------------------------------------------- bbox


@pytest.mark.parametrize(
    ("bbox", "expected"),
    [
        (None, None),
        ((-122.5, 37.5, -122.0, 38.0), (-122.5, 37.5, -122.0, 38.0)),
        ([-122.5, 37.5, -122.0, 38.0], (-122.5, 37.5, -122.0, 38.0)),
        (np.array([-122.5, 37.5, -122.0, 38.0]), (-122.5, 37.5, -122.0, 38.0)),
        ((np.float32(1), np.int64(2), 3, 4), (1.0, 2.0, 3.0, 4.0)),
        ((-180, -90, 180, 90), (-180.0, -90.0, 180.0, 90.0)),
        ((5, 5, 5, 5), (5.0, 5.0, 5.0, 5.0)),  # a point is a valid (degenerate) bbox
        ((170, -10, -170, 10), (170.0, -10.0, -170.0, 10.0)),  # antimeridian
    ],
)
def test_normalize_bbox_accepts(bbox: object, expected: object) -> None:
    result = normalize_bbox(bbox)
    assert result == expected
    if result is not None:
        assert all(type(v) is float for v in result)


@pytest.mark.parametrize(
    ("bbox", "fragment"),
    [
        ((1, 2, 3), "got 3"),
        ((1, 2, 3, 4, 5), "got 5"),
        ("1,2,3,4", "sequence of four numbers"),
        ({"minx": 1}, "sequence of four numbers"),
        (42, "sequence of four numbers"),
        ((0, 0, "1", 1), "not a number"),
        ((0, 0, True, 1), "not a number"),
        ((0, 0, math.nan, 1), "not a finite"),
        ((0, 0, math.inf, 1), "not a finite"),
        ((0, 10, 1, 5), "miny=10.0 is greater than maxy=5.0"),
        ((0, -91, 1, 5), "latitude"),
        ((0, 0, 1, 90.5), "latitude"),
        ((-181, 0, 1, 1), "longitude"),
        ((190, 0, -170, 1), "longitude"),  # antimeridian form, but a lon out of range
    ],
)
def test_normalize_bbox_rejects(bbox: object, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        normalize_bbox(bbox)
    assert info.value.parameter == "bbox"
    assert "bbox=" in str(info.value)
    assert fragment in str(info.value)


def test_split_antimeridian() -> None:
    assert split_antimeridian((1.0, 2.0, 3.0, 4.0)) == ((1.0, 2.0, 3.0, 4.0),)
    assert split_antimeridian((170.0, -10.0, -170.0, 10.0)) == (
        (170.0, -10.0, 180.0, 10.0),
        (-180.0, -10.0, -170.0, 10.0),
    )


@given(
    st.floats(-180, 180),
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(-90, 90),
)
def test_normalize_bbox_is_idempotent(a: float, b: float, c: float, d: float) -> None:
    miny, maxy = sorted((b, d))
    once = normalize_bbox((a, miny, c, maxy))
    assert once is not None
    assert normalize_bbox(once) == once


# --------------------------------------------------------------------------- dates

JAN1 = datetime(2024, 1, 1, tzinfo=UTC)
MAR31_END = datetime(2024, 3, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("date_range", "expected"),
    [
        (None, None),
        (("2024-01-01", "2024-03-31"), (JAN1, MAR31_END)),
        (["2024-01-01", "2024-03-31"], (JAN1, MAR31_END)),
        ((date(2024, 1, 1), date(2024, 3, 31)), (JAN1, MAR31_END)),
        ("2024-01-01/2024-03-31", (JAN1, MAR31_END)),
        (("2024-01", "2024-03"), (JAN1, MAR31_END)),
        (("2024", "2024"), (JAN1, datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))),
        (
            ("2024-02", "2024-02"),
            (
                datetime(2024, 2, 1, tzinfo=UTC),
                datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
            ),
        ),
        (
            ("2024-12", "2024-12"),
            (
                datetime(2024, 12, 1, tzinfo=UTC),
                datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
            ),
        ),
        (
            ("2024-01-01T10:00:00Z", "2024-01-02T00:00:00+02:00"),
            (datetime(2024, 1, 1, 10, tzinfo=UTC), datetime(2024, 1, 1, 22, tzinfo=UTC)),
        ),
        (
            ("2024-01-01T10:00:00.5Z", "2024-01-01 11:00:00"),
            (
                datetime(2024, 1, 1, 10, 0, 0, 500_000, tzinfo=UTC),
                datetime(2024, 1, 1, 11, tzinfo=UTC),
            ),
        ),
        (
            (datetime(2024, 1, 1, 12), datetime(2024, 1, 2, tzinfo=timezone(timedelta(hours=-5)))),
            (datetime(2024, 1, 1, 12, tzinfo=UTC), datetime(2024, 1, 2, 5, tzinfo=UTC)),
        ),
        ((None, "2024-03-31"), (None, MAR31_END)),
        (("2024-01-01", ".."), (JAN1, None)),
        (("..", ""), None),
        ((None, None), None),
        (
            ("2024-01-01", "2024-01-01"),
            (JAN1, datetime(2024, 1, 1, 23, 59, 59, 999_999, tzinfo=UTC)),
        ),
    ],
)
def test_normalize_date_range_accepts(date_range: object, expected: object) -> None:
    assert normalize_date_range(date_range) == expected


@pytest.mark.parametrize(
    ("date_range", "fragment"),
    [
        (("2024-01-01",), "exactly 2"),
        (("2024-01-01", "2024-02-01", "2024-03-01"), "exactly 2"),
        ("2024-01-01", "interval string"),
        ("2024-01-01/2024-02-01/2024-03-01", "interval string"),
        (20240101, "pair"),
        (("2024-13-01", "2024-12-31"), "2024-13-01"),
        (("2024-02-30", "2024-03-01"), "2024-02-30"),
        (("2024-13", "2024-12"), "2024-13"),
        (("yesterday", "2024-01-01"), "not an ISO date"),
        (("20240101", "20240301"), "not an ISO date"),
        (("2024-01-01T25:00:00Z", "2024-02-01"), "2024-01-01T25"),
        (("2024-03-31", "2024-01-01"), "is after end"),
        (("2024-01-02T00:00:00Z", "2024-01-01"), "is after end"),
        ((1704067200, "2024-01-01"), "not a date string"),
    ],
)
def test_normalize_date_range_rejects(date_range: object, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        normalize_date_range(date_range)
    assert info.value.parameter == "date_range"
    assert "date_range=" in str(info.value)
    assert fragment in str(info.value)


def test_normalize_date_range_is_idempotent() -> None:
    once = normalize_date_range(("2024-01-01", "2024-03-31"))
    assert normalize_date_range(once) == once


@pytest.mark.parametrize(
    ("date_range", "expected"),
    [
        (("2024-01-01", "2024-03-31"), "2024-01-01T00:00:00Z/2024-03-31T23:59:59.999999Z"),
        (("2024-01-01", None), "2024-01-01T00:00:00Z/.."),
        ((None, "2024-01-01T12:30:00+01:00"), "../2024-01-01T11:30:00Z"),
        (None, None),
    ],
)
def test_to_stac_datetime(date_range: object, expected: str | None) -> None:
    assert to_stac_datetime(normalize_date_range(date_range)) == expected


# --------------------------------------------------------------------------- collection, codes


@pytest.mark.parametrize("collection", ["sentinel-2-l2a", "landsat-c2l2-sr", "naip", "a.b_c:d"])
def test_validate_collection_id_accepts(collection: str) -> None:
    assert validate_collection_id(collection) == collection


@pytest.mark.parametrize("collection", ["", " s2", "s2 ", "a/b", "a?b", "a#b", None, 3])
def test_validate_collection_id_rejects(collection: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_collection_id(collection)
    assert info.value.parameter == "collection"
    assert "collection=" in str(info.value)


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("B04", True),
        ("nir08", True),
        ("QA_PIXEL", True),
        ("B8A.v2-x", True),
        ("", False),
        ("B 4", False),
        ("B4/x", False),
        ("é", False),
        (4, False),
        (None, False),
    ],
)
def test_is_valid_band_code(code: object, valid: bool) -> None:
    assert is_valid_band_code(code) is valid


# --------------------------------------------------------------------------- query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (None, None),
        ({}, None),
        ({"eo:cloud_cover": {"lt": 10}}, {"eo:cloud_cover": {"lt": 10}}),
        ({"eo:cloud_cover": {"gte": 0, "lte": 10.5}}, {"eo:cloud_cover": {"gte": 0, "lte": 10.5}}),
        ({"platform": {"in": ("a", "b")}}, {"platform": {"in": ["a", "b"]}}),
        ({"platform": {"eq": "sentinel-2a"}}, {"platform": {"eq": "sentinel-2a"}}),
        ({"platform": {"neq": None}}, {"platform": {"neq": None}}),
        ({"s2:mgrs_tile": {"startsWith": "10S"}}, {"s2:mgrs_tile": {"startsWith": "10S"}}),
        (
            {"title": {"endsWith": "x", "contains": "y"}},
            {"title": {"endsWith": "x", "contains": "y"}},
        ),
        ({"datetime": {"gt": "2024-01-01"}}, {"datetime": {"gt": "2024-01-01"}}),
        ({"eo:cloud_cover": {"lt": np.int64(10)}}, {"eo:cloud_cover": {"lt": 10}}),
    ],
)
def test_validate_query_accepts(query: object, expected: object) -> None:
    result = validate_query(query)
    assert result == expected
    if result is not None and "eo:cloud_cover" in result and "lt" in result["eo:cloud_cover"]:
        assert type(result["eo:cloud_cover"]["lt"]) is int


def test_validate_query_returns_a_copy() -> None:
    query = {"platform": {"in": ["a"]}}
    result = validate_query(query)
    assert result is not None
    result["platform"]["in"].append("b")
    assert query == {"platform": {"in": ["a"]}}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ([("eo:cloud_cover", "lt", 10)], "expected a dict"),
        ("eo:cloud_cover<10", "expected a dict"),
        ({"eo:cloud_cover": 10}, "must map to a non-empty dict"),
        ({"eo:cloud_cover": {}}, "must map to a non-empty dict"),
        ({"": {"eq": 1}}, "non-empty strings"),
        ({1: {"eq": 1}}, "non-empty strings"),
        ({"eo:cloud_cover": {"less_than": 10}}, "unknown operator 'less_than'"),
        ({"eo:cloud_cover": {"<": 10}}, "unknown operator"),
        ({"platform": {"in": "sentinel-2a"}}, "'in' needs a list"),
        ({"platform": {"in": 3}}, "'in' needs a list"),
        ({"platform": {"startsWith": 3}}, "needs a string"),
        ({"eo:cloud_cover": {"lt": [1]}}, "needs a number or a string"),
        ({"eo:cloud_cover": {"lt": True}}, "needs a number or a string"),
        ({"eo:cloud_cover": {"lt": math.nan}}, "finite"),
        ({"platform": {"eq": object()}}, "not JSON-serialisable"),
    ],
)
def test_validate_query_rejects(query: object, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_query(query)
    assert info.value.parameter == "query"
    assert "query=" in str(info.value)
    assert fragment in str(info.value)


def test_invalid_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bbox"):
        normalize_bbox((1, 2, 3))
