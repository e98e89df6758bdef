"""URL routing and percent-decoding (pure, no I/O)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasteret.errors import InvalidInputError
from rasteret.io.urls import StoreKey, StoreKind, locate, redact_url

K = StoreKind


@pytest.mark.parametrize(
    ("url", "store", "path"),
    [
        (
            "https://example.com/a/b.tif",
            StoreKey(kind=K.HTTP, scheme="https", authority="example.com"),
            "a/b.tif",
        ),
        (
            "http://127.0.0.1:8080/x/y%20z.tif",
            StoreKey(kind=K.HTTP, scheme="http", authority="127.0.0.1:8080"),
            "x/y z.tif",
        ),
        (
            "HTTPS://Example.COM/A.tif",
            StoreKey(kind=K.HTTP, scheme="https", authority="example.com"),
            "A.tif",
        ),
        (
            "https://h.org/a.tif?sig=1&se=2",
            StoreKey(kind=K.HTTP, scheme="https", authority="h.org", query="sig=1&se=2"),
            "a.tif",
        ),
        ("s3://bucket/key/x.tif", StoreKey(kind=K.S3, authority="bucket"), "key/x.tif"),
        ("s3a://bucket/a%2Bb.tif", StoreKey(kind=K.S3, authority="bucket"), "a+b.tif"),
        ("gs://b/k.tif", StoreKey(kind=K.GCS, authority="b"), "k.tif"),
        ("az://container/dir/k.tif", StoreKey(kind=K.AZURE, authority="container"), "dir/k.tif"),
        (
            "abfss://fs@acct.dfs.core.windows.net/k.tif",
            StoreKey(kind=K.AZURE, authority="fs", account="acct"),
            "k.tif",
        ),
        (
            "https://acct.blob.core.windows.net/cont/a/k.tif?sv=1&sig=x",
            StoreKey(kind=K.AZURE, authority="cont", account="acct", query="sv=1&sig=x"),
            "a/k.tif",
        ),
        ("file:///data/x%20y.tif", StoreKey(kind=K.LOCAL), "data/x y.tif"),
        ("file://localhost/data/x.tif", StoreKey(kind=K.LOCAL), "data/x.tif"),
        ("/data/x%20y.tif", StoreKey(kind=K.LOCAL), "data/x%20y.tif"),  # paths are literal
        ("/data/../other/x.tif", StoreKey(kind=K.LOCAL), "other/x.tif"),
    ],
)
def test_locate(url: str, store: StoreKey, path: str) -> None:
    location = locate(url)
    assert location.store == store
    assert location.path == path


def test_relative_path_is_resolved_against_cwd() -> None:
    location = locate("some/file.tif")
    assert "/" + location.path == str(Path.cwd() / "some" / "file.tif")


@pytest.mark.parametrize(
    "url",
    ["", "ftp://h/a.tif", "s3://bucket", "s3:///key.tif", "https://host/", "file://other/x.tif"],
)
def test_locate_rejects(url: str) -> None:
    with pytest.raises(InvalidInputError):
        locate(url)


segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))


@given(st.lists(segment, min_size=1, max_size=4))
def test_percent_encoding_round_trips(segments: list[str]) -> None:
    key = "/".join(segments)
    encoded = "/".join(quote(s, safe="") for s in segments)
    for url in (f"s3://bucket/{encoded}", f"https://host.org/{encoded}", f"gs://b/{encoded}"):
        assert locate(url).path == key


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://user:pw@h.org:8443/a.tif?sig=1#f", "https://h.org:8443/a.tif"),
        ("s3://b/k.tif", "s3://b/k.tif"),
        ("/local/path?.tif", "/local/path?.tif"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
