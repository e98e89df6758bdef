"""CloudConfig: rewrites, validation, and a manifest form without secrets."""

from __future__ import annotations

import json

import pytest

from rasteret.errors import InvalidInputError
from rasteret.io import CloudConfig, s3_https_rewrites

EARTH_SEARCH = ("https://sentinel-cogs.s3.us-west-2.amazonaws.com/", "s3://sentinel-cogs/")


def test_rewrite_first_match_only() -> None:
    config = CloudConfig(
        url_rewrites=(EARTH_SEARCH, ("s3://sentinel-cogs/", "s3://mirror/")),
    )
    url = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/10/S/B04.tif"
    assert config.rewrite(url) == "s3://sentinel-cogs/sentinel-s2-l2a-cogs/10/S/B04.tif"
    assert config.rewrite("https://other.org/x.tif") == "https://other.org/x.tif"


def test_rewrite_keeps_encoding() -> None:
    config = CloudConfig(url_rewrites=(EARTH_SEARCH,))
    url = EARTH_SEARCH[0] + "a%20b.tif"
    assert config.rewrite(url) == "s3://sentinel-cogs/a%20b.tif"


def test_public_dict_round_trips_through_json() -> None:
    config = CloudConfig(
        url_rewrites=(EARTH_SEARCH,),
        requester_pays=True,
        region="us-west-2",
        endpoint="http://127.0.0.1:9000",
        anonymous=False,
        allow_http=True,
        client_options={"timeout": "60s"},
    )
    data = json.loads(json.dumps(config.to_public_dict()))
    again = CloudConfig.from_dict(data)
    assert again == config
    assert hash(again) == hash(config)


def test_public_dict_has_no_secrets() -> None:
    config = CloudConfig(
        endpoint="https://key:secret@minio.internal:9000",
        client_options={
            "timeout": "10s",
            "proxy_url": "http://bob:hunter2@proxy:3128",
            "default_headers": "Authorization: Bearer abc",
            "root_certificate": "-----BEGIN",
        },
    )
    text = json.dumps(config.to_public_dict())
    for secret in ("secret", "hunter2", "Bearer", "BEGIN"):
        assert secret not in text
    assert config.to_public_dict()["client_options"] == {
        "proxy_url": "http://proxy:3128",
        "timeout": "10s",
    }


def test_from_dict_accepts_mapping_rewrites_and_empty() -> None:
    assert CloudConfig.from_dict({}) == CloudConfig()
    config = CloudConfig.from_dict({"url_rewrites": {EARTH_SEARCH[0]: EARTH_SEARCH[1]}})
    assert config.url_rewrites == (EARTH_SEARCH,)


def test_from_dict_refuses_unknown_keys() -> None:
    with pytest.raises(InvalidInputError, match="requester_pay"):
        CloudConfig.from_dict({"requester_pay": True})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url_rewrites": "https://a/"},
        {"url_rewrites": (("", "s3://b/"),)},
        {"url_rewrites": (("a", "b", "c"),)},
        {"requester_pays": "yes"},
        {"region": ""},
        {"client_options": ["timeout"]},
    ],
)
def test_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        CloudConfig(**kwargs)  # type: ignore[arg-type]


def test_config_is_immutable() -> None:
    config = CloudConfig(client_options={"timeout": "1s"})
    with pytest.raises(AttributeError):
        config.region = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.client_options["timeout"] = "2s"  # type: ignore[index]


def test_s3_https_rewrites_cover_both_url_styles() -> None:
    config = CloudConfig(url_rewrites=s3_https_rewrites("sentinel-cogs", "us-west-2"))
    for url in (
        "https://sentinel-cogs.s3.us-west-2.amazonaws.com/k.tif",
        "https://sentinel-cogs.s3.amazonaws.com/k.tif",
        "https://s3.us-west-2.amazonaws.com/sentinel-cogs/k.tif",
        "https://s3.amazonaws.com/sentinel-cogs/k.tif",
    ):
        assert config.rewrite(url) == "s3://sentinel-cogs/k.tif"
