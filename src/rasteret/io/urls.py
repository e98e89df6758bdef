"""Pure URL routing: which object store serves a URL, and under which key.

Kept free of obstore and of I/O so the rules can be tested exhaustively (and with
hypothesis) without a server. :mod:`rasteret.io.backend` turns a :class:`StoreKey`
into a real obstore store, once per key.

Percent-encoding: every URL form (``http(s)``, ``s3``, ``gs``, ``az``, ``file``) is
a URL, so its path is percent-decoded segment by segment into the object key that
the store expects (obstore encodes keys again on the wire). A plain filesystem path
(no scheme) is taken literally. A ``%2F`` inside a segment decodes to ``/`` and so
cannot be told apart from a real separator; object stores do not distinguish them
either.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from rasteret.errors import InvalidInputError

__all__ = ["Location", "StoreKey", "StoreKind", "locate", "redact_text", "redact_url"]

_S3_SCHEMES = frozenset({"s3", "s3a"})
_GCS_SCHEMES = frozenset({"gs", "gcs"})
_AZURE_SCHEMES = frozenset({"az", "azure", "abfs", "abfss", "adl"})
_AZURE_HOST_SUFFIXES = (".blob.core.windows.net", ".dfs.core.windows.net")


class StoreKind(StrEnum):
    """The obstore store family that serves a location."""

    HTTP = "http"
    S3 = "s3"
    GCS = "gcs"
    AZURE = "azure"
    LOCAL = "local"


@dataclass(frozen=True, kw_only=True)
class StoreKey:
    """Identity of one store: everything that must differ for two stores to differ.

    A backend keeps exactly one store (one connection pool) per key.
    """

    kind: StoreKind
    """Store family."""
    scheme: str = ""
    """``http`` or ``https`` for HTTP stores; empty otherwise."""
    authority: str = ""
    """``host[:port]`` (HTTP), bucket (S3, GCS), container (Azure), empty (local)."""
    account: str = ""
    """Azure storage account when the URL names it; empty otherwise."""
    query: str = ""
    """Query string of a signed URL (HTTP) or SAS token (Azure), part of the identity
    because the store sends it with every request."""
    endpoint: str = ""
    """Azure only: the path-style service endpoint (Azurite, Azure Stack) the URL was
    found under, without the account; empty for ``*.blob.core.windows.net``."""


@dataclass(frozen=True, kw_only=True)
class Location:
    """Where one object lives: the store that serves it and its key in that store."""

    store: StoreKey
    """The store identity."""
    path: str
    """Decoded object key relative to the store root (no leading slash)."""


def redact_url(url: str) -> str:
    """Return ``url`` without user info, query string or fragment.

    Signed URLs carry credentials in the query (S3 presigned, Azure SAS), so this
    is what goes into error messages, logs and the index.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0]
    if not parts.scheme or len(parts.scheme) == 1:  # plain path (or a Windows drive)
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_QUERY_IN_TEXT = re.compile(r"\?[^\s'\"<>)]*")
_USERINFO_IN_TEXT = re.compile(r"(?<=://)[^\s/@'\"<>]+@")


def redact_text(text: str) -> str:
    """``text`` (e.g. a third-party error message) with URL queries and user info removed.

    Messages from HTTP clients quote the URL or path they failed on, query string
    included, so a signed URL's token would otherwise travel into rasteret's errors.
    """
    return _USERINFO_IN_TEXT.sub("", _QUERY_IN_TEXT.sub("?<redacted>", text))


def _decode_path(path: str) -> str:
    return "/".join(unquote(segment) for segment in path.lstrip("/").split("/"))


def _require(value: str, url: str, what: str) -> str:
    if not value:
        raise InvalidInputError("url", redact_url(url), f"has no {what}")
    return value


def locate(url: str, *, azure_endpoint: str | None = None) -> Location:
    """Route ``url`` (already rewritten by :class:`~rasteret.io.cloud.CloudConfig`) to a store.

    Args:
        url: ``http(s)://host/path``, ``s3://bucket/key``, ``gs://bucket/key``,
            ``az://container/key``, ``abfs[s]://container@account.dfs.core.windows.net/key``,
            ``https://account.blob.core.windows.net/container/key``, ``file:///abs/path``
            or a filesystem path.
        azure_endpoint: A path-style Azure Blob endpoint such as Azurite's
            ``http://127.0.0.1:10000``. URLs under it, ``{endpoint}/{account}/{container}/{key}``,
            go to an Azure store rather than a plain HTTP one: nothing in such a URL says
            "Azure", so only the caller can.

    Returns:
        The store identity and the decoded key within it.

    Raises:
        InvalidInputError: The URL has an unsupported scheme or lacks a bucket/host/key.
    """
    if not isinstance(url, str) or not url:
        raise InvalidInputError("url", url, "must be a non-empty string")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if not scheme or len(scheme) == 1:  # no scheme, or a Windows drive letter
        return Location(store=StoreKey(kind=StoreKind.LOCAL), path=_local_key(url))
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidInputError(
                "url", redact_url(url), "file URLs on another host are not supported"
            )
        return Location(store=StoreKey(kind=StoreKind.LOCAL), path=_local_key(unquote(parts.path)))
    if scheme in _AZURE_SCHEMES:
        return _azure_scheme(url, parts.netloc, parts.path)
    if scheme in ("http", "https"):
        if azure_endpoint and (emulated := _azure_path_style(url, parts, azure_endpoint)):
            return emulated
        return _http(url, scheme, parts)
    kind = StoreKind.S3 if scheme in _S3_SCHEMES else StoreKind.GCS
    if scheme not in _S3_SCHEMES | _GCS_SCHEMES:
        raise InvalidInputError("url", redact_url(url), f"unsupported scheme {scheme!r}")
    bucket = _require(parts.netloc, url, "bucket")
    key = _require(_decode_path(parts.path), url, "object key")
    return Location(store=StoreKey(kind=kind, authority=bucket), path=key)


def _http(url: str, scheme: str, parts: SplitResult) -> Location:
    host = (parts.hostname or "").lower()
    if host.endswith(_AZURE_HOST_SUFFIXES):
        return _azure_https(url, host, parts.path, parts.query)
    netloc = _require(host, url, "host")
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    key = _require(_decode_path(parts.path), url, "path")
    store = StoreKey(kind=StoreKind.HTTP, scheme=scheme, authority=netloc, query=parts.query)
    return Location(store=store, path=key)


def _local_key(path: str) -> str:
    # LocalStore() with no prefix is rooted at the filesystem root and wants the path
    # without its leading separator; relative paths are resolved against the cwd once.
    absolute = os.path.abspath(path)  # noqa: PTH100 - normalises '..' without filesystem I/O
    return _require(absolute.replace(os.sep, "/").lstrip("/"), path, "file name")


def _azure_scheme(url: str, netloc: str, path: str) -> Location:
    # az://container/key (fsspec) or abfs[s]://container@account.dfs.core.windows.net/key
    container, _, host = netloc.partition("@")
    account = host.split(".", 1)[0] if host else ""
    key = _require(_decode_path(path), url, "object key")
    store = StoreKey(
        kind=StoreKind.AZURE, authority=_require(container, url, "container"), account=account
    )
    return Location(store=store, path=key)


def _azure_path_style(url: str, parts: SplitResult, endpoint: str) -> Location | None:
    base = urlsplit(endpoint.rstrip("/"))
    same_origin = (
        base.scheme.lower() == parts.scheme.lower()
        and (base.hostname or "").lower() == (parts.hostname or "").lower()
        and base.port == parts.port
    )
    if not same_origin or not parts.path.startswith(base.path + "/"):
        return None
    account, _, rest = parts.path[len(base.path) + 1 :].partition("/")
    container, _, blob = rest.partition("/")
    key = _require(_decode_path(blob), url, "object key")
    store = StoreKey(
        kind=StoreKind.AZURE,
        authority=_require(unquote(container), url, "container"),
        account=_require(unquote(account), url, "storage account"),
        query=parts.query,
        endpoint=urlunsplit((base.scheme.lower(), base.netloc.lower(), base.path, "", "")),
    )
    return Location(store=store, path=key)


def _azure_https(url: str, host: str, path: str, query: str) -> Location:
    account = host.split(".", 1)[0]
    container, _, rest = path.lstrip("/").partition("/")
    key = _require(_decode_path(rest), url, "object key")
    store = StoreKey(
        kind=StoreKind.AZURE,
        authority=_require(unquote(container), url, "container"),
        account=account,
        query=query,
    )
    return Location(store=store, path=key)
