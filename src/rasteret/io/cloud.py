"""Cloud access settings that are safe to store in an index manifest.

A :class:`CloudConfig` says *how* to reach the data (URL rewrites, requester pays,
region, endpoint, anonymous access, client options), never *who* is reading it:
credentials come from the environment or from
:func:`rasteret.io.backend.create_backend` ``credentials=``. That split is what lets
the build record the config next to the index without leaking secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rasteret.errors import InvalidInputError
from rasteret.io.urls import redact_url

__all__ = ["CloudConfig", "s3_https_rewrites"]

# Client options whose values may carry secrets; they are used but never serialised.
_SECRET_OPTION_WORDS = ("auth", "token", "secret", "password", "key", "header", "certificate")


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in value.items()})


@dataclass(frozen=True, kw_only=True)
class CloudConfig:
    """How to reach cloud-hosted assets: URL rewrites and store settings.

    Example:
        Read Earth Search's Sentinel-2 COGs through the S3 API (anonymous, us-west-2)
        instead of HTTPS::

            CloudConfig(
                url_rewrites=(("https://sentinel-cogs.s3.us-west-2.amazonaws.com/",
                               "s3://sentinel-cogs/"),),
                region="us-west-2",
                anonymous=True,
            )
    """

    url_rewrites: tuple[tuple[str, str], ...] = ()
    """``(from_prefix, to_prefix)`` pairs; the first whose prefix matches is applied once."""
    requester_pays: bool = False
    """Send ``x-amz-request-payer: requester`` (S3), so the reader's account pays."""
    region: str | None = None
    """S3 region; obstore's default (environment, else ``us-east-1``) when None."""
    endpoint: str | None = None
    """S3-compatible endpoint (MinIO, moto, R2...); path-style requests are used with it."""
    azure_endpoint: str | None = None
    """Path-style Azure Blob endpoint (Azurite's ``http://127.0.0.1:10000``, Azure Stack):
    hrefs ``{azure_endpoint}/{account}/{container}/{blob}`` are read through obstore's
    AzureStore (SAS, account key, signing) instead of as plain HTTP."""
    anonymous: bool = False
    """Do not look up credentials or sign requests (public buckets)."""
    allow_http: bool = False
    """Allow plain-HTTP connections (local endpoints, test servers)."""
    client_options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """obstore ``ClientConfig`` entries (``timeout``, ``connect_timeout``, ``user_agent``...)."""

    def __post_init__(self) -> None:
        rewrites = tuple(_rewrite_pair(pair) for pair in _iter_rewrites(self.url_rewrites))
        object.__setattr__(self, "url_rewrites", rewrites)
        if not isinstance(self.client_options, Mapping):
            raise InvalidInputError(
                "client_options", self.client_options, "must be a mapping of str to str"
            )
        object.__setattr__(self, "client_options", _frozen_mapping(self.client_options))
        for name in ("requester_pays", "anonymous", "allow_http"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(name, getattr(self, name), "must be a bool")
        for name in ("region", "endpoint", "azure_endpoint"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidInputError(name, value, "must be a non-empty string or None")

    def __hash__(self) -> int:
        # client_options is a mapping, which the generated __hash__ cannot hash.
        return hash(
            (
                self.url_rewrites,
                self.requester_pays,
                self.region,
                self.endpoint,
                self.azure_endpoint,
                self.anonymous,
                self.allow_http,
                tuple(sorted(self.client_options.items())),
            )
        )

    def __repr__(self) -> str:
        # The generated repr would print client options (auth headers) and endpoint
        # user info; show what the manifest stores instead.
        public = self.to_public_dict()
        fields = ", ".join(f"{k}={v!r}" for k, v in public.items())
        return f"CloudConfig({fields})"

    def rewrite(self, url: str) -> str:
        """Apply the first matching URL rewrite, or return ``url`` unchanged.

        Rewrites are plain prefix replacements, so the rest of the URL (including its
        percent-encoding) is carried over verbatim.
        """
        for old, new in self.url_rewrites:
            if url.startswith(old):
                return new + url[len(old) :]
        return url

    def to_public_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with no secrets, for the index manifest.

        Client options whose names suggest a secret (headers, tokens, keys...) are
        left out, and user info is stripped from the endpoint and proxy URLs.
        """
        options = {
            k: (redact_url(v) if k == "proxy_url" else v)
            for k, v in sorted(self.client_options.items())
            if not any(word in k.lower() for word in _SECRET_OPTION_WORDS)
        }
        return {
            "url_rewrites": [list(pair) for pair in self.url_rewrites],
            "requester_pays": self.requester_pays,
            "region": self.region,
            "endpoint": redact_url(self.endpoint) if self.endpoint else None,
            "azure_endpoint": redact_url(self.azure_endpoint) if self.azure_endpoint else None,
            "anonymous": self.anonymous,
            "allow_http": self.allow_http,
            "client_options": options,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CloudConfig:
        """Build a config from :meth:`to_public_dict` output or a registry entry.

        ``url_rewrites`` may be a list of pairs or a ``{from: to}`` mapping (JSON has
        no tuples). Unknown keys are refused rather than silently ignored, so a typo
        in a data-source entry does not quietly disable requester pays.
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError("cloud_config", data, "must be a mapping")
        known = {
            "url_rewrites",
            "requester_pays",
            "region",
            "endpoint",
            "azure_endpoint",
            "anonymous",
            "allow_http",
            "client_options",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(
                "cloud_config", unknown, f"unknown keys; expected some of {sorted(known)}"
            )
        values = dict(data)
        rewrites = values.pop("url_rewrites", ())
        options = values.pop("client_options", None) or {}
        return cls(url_rewrites=tuple(_iter_rewrites(rewrites)), client_options=options, **values)


def s3_https_rewrites(bucket: str, region: str | None = None) -> tuple[tuple[str, str], ...]:
    """Rewrites that send a bucket's HTTPS URL forms to ``s3://bucket/``.

    Covers virtual-hosted (``https://bucket.s3[.region].amazonaws.com/``) and
    path-style (``https://s3[.region].amazonaws.com/bucket/``) URLs, which STAC
    catalogs use interchangeably for the same objects.
    """
    hosts = ["s3.amazonaws.com"]
    if region:
        hosts.insert(0, f"s3.{region}.amazonaws.com")
    target = f"s3://{bucket}/"
    virtual = tuple((f"https://{bucket}.{host}/", target) for host in hosts)
    path_style = tuple((f"https://{host}/{bucket}/", target) for host in hosts)
    return virtual + path_style


def _iter_rewrites(value: object) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInputError("url_rewrites", value, "must be a sequence of (from, to) pairs")
    return list(value)


def _rewrite_pair(pair: object) -> tuple[str, str]:
    if (
        isinstance(pair, str | bytes)
        or not isinstance(pair, Iterable)
        or len(items := list(pair)) != 2
        or not all(isinstance(p, str) for p in items)
        or not items[0]
    ):
        raise InvalidInputError(
            "url_rewrites", pair, "each rewrite must be a (from_prefix, to_prefix) pair of strings"
        )
    return (items[0], items[1])
