"""Manifest JSON round trip, fingerprint canonicalisation, secret scrubbing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from rasteret._version import __version__
from rasteret.errors import IndexFormatError, InvalidInputError
from rasteret.index.manifest import BuildSummary, Failure, Manifest, fingerprint, scrub_secrets
from rasteret.index.schema import SCHEMA_VERSION


def make_manifest() -> Manifest:
    return Manifest.create(
        name="bay",
        params={"collection": "s2", "bbox": (-122.5, 37.5, -122.0, 38.0), "query": None},
        bands={"B04": {"asset_key": "red"}, "B08": {"asset_key": "image", "sample_index": 3}},
        cloud_config={"region": "us-west-2", "aws_secret_access_key": "S", "token": "T"},
        summary=BuildSummary(items=2, assets=4, indexed=3, failed=1, seconds=1.5),
        failures=[Failure(item_id="a", band="B08", url="https://x/a.tif", reason="403")],
    )


def test_json_roundtrip() -> None:
    m = make_manifest()
    back = Manifest.from_json(m.to_json())
    assert back == m
    assert back.schema_version == SCHEMA_VERSION
    assert back.band_codes == ("B04", "B08")
    assert back.bands["B08"] == {"asset_key": "image", "sample_index": 3}
    assert back.bands["B04"]["sample_index"] is None
    assert back.failures[0].reason == "403"
    assert back.fingerprint == fingerprint(m.params)


def test_no_secrets_in_manifest() -> None:
    text = make_manifest().to_json()
    assert '"S"' not in text and '"T"' not in text and "us-west-2" in text
    assert scrub_secrets({"nested": {"password": 1, "ok": 2}}) == {"nested": {"ok": 2}}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"bbox": (1, 2, 3, 4)}, {"bbox": [1.0, 2.0, 3.0, 4.0]}),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ({"d": date(2024, 1, 1)}, {"d": "2024-01-01"}),
        ({"p": Path("/x")}, {"p": "/x"}),
        ({"n": np.float64(0.1)}, {"n": 0.1}),
        ({"s": {"b", "a"}}, {"s": ["a", "b"]}),
    ],
)
def test_fingerprint_equal_for_same_meaning(a: dict[str, object], b: dict[str, object]) -> None:
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"bbox": (1, 2, 3, 4)}, {"bbox": (1, 2, 3, 4.000001)}),
        ({"flag": True}, {"flag": 1}),
        ({"x": None}, {}),
        ({"v": 0.1}, {"v": 0.10000000000000002}),  # adjacent doubles
    ],
)
def test_fingerprint_differs_for_different_searches(
    a: dict[str, object], b: dict[str, object]
) -> None:
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_is_sha256_hex() -> None:
    fp = fingerprint({"a": 1})
    assert len(fp) == 64 and int(fp, 16) >= 0


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": object()}, {"x": {1: 2}}])
def test_fingerprint_refuses_unstable_values(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        fingerprint(bad)


@pytest.mark.parametrize("text", ["not json", "[]", '{"name": "x"}'])
def test_malformed_manifest_raises_index_format_error(text: str) -> None:
    with pytest.raises(IndexFormatError):
        Manifest.from_json(text)


def test_create_accepts_plain_dicts_and_checks_consistency() -> None:
    params = {"collection": "s2", "bbox": [1, 2, 3, 4]}
    m = Manifest.create(
        name="x",
        params=params,
        fingerprint=fingerprint(params),
        band_codes=["B08", "B04"],
        bands={"B04": {"asset_key": "red"}, "B08": {"asset_key": "nir", "sample_index": None}},
        rasteret_version="9.9",
        summary={"items": 1, "assets": 2, "indexed": 1, "failed": 1, "seconds": 0.5, "files": 2},
        failures=[{"item_id": "i", "band": "B08", "url": "u", "reason": "r"}],
    )
    assert m.band_codes == ("B08", "B04")
    assert list(m.bands) == ["B08", "B04"]
    assert m.rasteret_version == "9.9"
    assert m.summary.files == 2 and m.summary.missing_assets is None
    assert m.failures == (Failure(item_id="i", band="B08", url="u", reason="r"),)
    assert Manifest.from_json(m.to_json()) == m
    with pytest.raises(InvalidInputError, match="fingerprint"):
        Manifest.create(name="x", params=params, bands={}, fingerprint="0" * 64)
    with pytest.raises(InvalidInputError, match="band_codes"):
        Manifest.create(name="x", params=params, bands={"B04": {"asset_key": "r"}}, band_codes=[])


def test_default_version_is_the_package_version() -> None:
    assert make_manifest().rasteret_version == __version__
