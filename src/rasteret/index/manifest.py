"""The manifest: what an index was built from, by which version, and how the build went.

It travels inside the Parquet footer (key ``rasteret``), so an index file is
self-describing when copied out of the workspace. The fingerprint of the
search-defining parameters is how the build decides whether a cached index answers
the same question; canonicalisation makes ``(1, 2)`` and ``[1.0, 2.0]`` the same search.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

from rasteret._version import __version__
from rasteret.errors import IndexFormatError, InvalidInputError
from rasteret.index.schema import SCHEMA_VERSION


def _canonical(value: Any, where: str) -> Any:  # noqa: PLR0911 (one return per input kind)
    """``value`` as plain JSON types with one spelling per meaning (see :func:`fingerprint`)."""
    if value is None or isinstance(value, bool | str):
        return value
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, Mapping):
        value = value.item()  # NumPy scalars
        if isinstance(value, bool):
            return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(where, value, "parameters must be finite numbers")
        # 1.0 and 1 are the same search; repr of other floats is the shortest exact form.
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(where, k, "parameter keys must be strings")
            out[k] = _canonical(v, f"{where}.{k}")
        return out
    if isinstance(value, set | frozenset):
        items = [_canonical(v, where) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, Sequence):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise InvalidInputError(where, value, f"{type(value).__name__} is not JSON-able")


def canonical_json(params: Mapping[str, Any]) -> str:
    """The canonical JSON text of ``params`` (sorted keys, no whitespace)."""
    return json.dumps(
        _canonical(params, "params"), sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def fingerprint(params: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``params``.

    Canonical means: keys sorted, tuples and lists alike, sets sorted, integral floats
    written as integers, other floats in Python's shortest round-trip ``repr``, dates in
    ISO 8601. Non-finite numbers and objects with no JSON form are refused, because a
    fingerprint that silently depends on ``str(obj)`` would not be stable.
    """
    return hashlib.sha256(canonical_json(params).encode("utf-8")).hexdigest()


_fingerprint = fingerprint  # create() takes a parameter of the same name

_SECRET_KEY = re.compile(
    r"secret|password|passwd|token|credential|signature|session|private|access_key|sas|api_?key",
    re.IGNORECASE,
)


def scrub_secrets(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A plain copy of ``config`` without any key that looks like a secret (recursively).

    The manifest is written into a file users share; a cloud configuration may carry keys.
    """
    if not config:
        return {}
    out: dict[str, Any] = {}
    for key, value in config.items():
        if _SECRET_KEY.search(str(key)):
            continue
        out[str(key)] = scrub_secrets(value) if isinstance(value, Mapping) else value
    return out


@dataclass(frozen=True, kw_only=True)
class BuildSummary:
    """Counts and timing of the build that produced the index."""

    items: int = 0
    """STAC items the search returned."""
    assets: int = 0
    """Band assets the build tried to index (items x bands present)."""
    indexed: int = 0
    """Assets whose header was parsed and stored."""
    failed: int = 0
    """Assets whose layout is null (see ``Manifest.failures``)."""
    seconds: float = 0.0
    """Wall-clock duration of the build."""
    files: int | None = None
    """Distinct files whose headers were fetched (assets can share a file), if counted."""
    missing_assets: int | None = None
    """Item/band pairs for which the item had no such asset, if counted."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BuildSummary:
        """Build from a plain dict (unknown keys are ignored, missing ones default)."""

        def opt(key: str) -> int | None:
            return None if data.get(key) is None else int(data[key])

        return cls(
            items=int(data.get("items", 0)),
            assets=int(data.get("assets", 0)),
            indexed=int(data.get("indexed", 0)),
            failed=int(data.get("failed", 0)),
            seconds=float(data.get("seconds", 0.0)),
            files=opt("files"),
            missing_assets=opt("missing_assets"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form; optional counts are left out when unknown."""
        out: dict[str, Any] = {
            "items": self.items,
            "assets": self.assets,
            "indexed": self.indexed,
            "failed": self.failed,
            "seconds": self.seconds,
        }
        if self.files is not None:
            out["files"] = self.files
        if self.missing_assets is not None:
            out["missing_assets"] = self.missing_assets
        return out


@dataclass(frozen=True, kw_only=True)
class Failure:
    """One asset whose header could not be indexed."""

    item_id: str
    """STAC item id."""
    band: str
    """Band code."""
    url: str
    """Asset URL (signing tokens stripped)."""
    reason: str
    """Why it failed, as the error said."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Failure:
        """Build from ``{"item_id", "band", "url", "reason"}``."""
        return cls(
            item_id=str(data["item_id"]),
            band=str(data["band"]),
            url=str(data["url"]),
            reason=str(data["reason"]),
        )

    def to_dict(self) -> dict[str, str]:
        """Plain JSON-able form."""
        return {"item_id": self.item_id, "band": self.band, "url": self.url, "reason": self.reason}


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Everything about an index that is not a row: provenance, parameters, outcome."""

    name: str
    """Collection name."""
    params: Mapping[str, Any]
    """The search-defining build parameters (JSON-able), as canonicalised."""
    fingerprint: str
    """sha256 of the canonical JSON of ``params``; equal fingerprints = same search."""
    band_codes: tuple[str, ...]
    """Band codes in column order."""
    bands: Mapping[str, Mapping[str, Any]]
    """Band code -> ``{"asset_key": str, "sample_index": int | None}``."""
    schema_version: int = SCHEMA_VERSION
    """Version of the column layout (see ``rasteret.index.schema``)."""
    rasteret_version: str = __version__
    """Version of rasteret that wrote the index."""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    """When the index was written (ISO 8601, UTC)."""
    cloud_config: Mapping[str, Any] = field(default_factory=dict)
    """Cloud settings used to read headers, secrets removed."""
    summary: BuildSummary = field(default_factory=BuildSummary)
    """Build counts and duration."""
    failures: tuple[Failure, ...] = ()
    """Assets whose layout is null, and why."""

    @classmethod
    def create(
        cls,
        *,
        name: str,
        params: Mapping[str, Any],
        bands: Mapping[str, Mapping[str, Any]],
        band_codes: Sequence[str] | None = None,
        fingerprint: str | None = None,
        rasteret_version: str = __version__,
        cloud_config: Mapping[str, Any] | None = None,
        summary: BuildSummary | Mapping[str, Any] | None = None,
        failures: Sequence[Failure | Mapping[str, Any]] = (),
    ) -> Manifest:
        """A manifest for a new build: fingerprint, version and timestamp filled in.

        ``bands`` is ordered: its key order is the band column order unless ``band_codes``
        says otherwise. A ``fingerprint`` passed in must equal the one computed from
        ``params`` (a mismatch means the caller hashed something else). ``summary`` and
        ``failures`` may be plain dicts.

        Raises:
            InvalidInputError: Inconsistent bands or fingerprint, or params not JSON-able.
        """
        computed = _fingerprint(params)
        if fingerprint is not None and fingerprint != computed:
            raise InvalidInputError("fingerprint", fingerprint, "does not match params")
        codes = tuple(bands) if band_codes is None else tuple(band_codes)
        if sorted(codes) != sorted(bands) or len(set(codes)) != len(codes):
            raise InvalidInputError("band_codes", list(codes), f"must order {list(bands)}")
        if summary is None:
            summary = BuildSummary()
        elif not isinstance(summary, BuildSummary):
            summary = BuildSummary.from_mapping(summary)
        return cls(
            name=name,
            params=json.loads(canonical_json(params)),
            fingerprint=computed,
            band_codes=codes,
            bands={
                code: {
                    "asset_key": bands[code]["asset_key"],
                    "sample_index": bands[code].get("sample_index"),
                }
                for code in codes
            },
            rasteret_version=rasteret_version,
            cloud_config=scrub_secrets(cloud_config),
            summary=summary,
            failures=tuple(
                f if isinstance(f, Failure) else Failure.from_mapping(f) for f in failures
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the layout of the ``rasteret`` footer key)."""
        return {
            "schema_version": self.schema_version,
            "rasteret_version": self.rasteret_version,
            "name": self.name,
            "created": self.created,
            "params": dict(self.params),
            "fingerprint": self.fingerprint,
            "band_codes": list(self.band_codes),
            "bands": {k: dict(v) for k, v in self.bands.items()},
            "cloud_config": dict(self.cloud_config),
            "summary": self.summary.to_dict(),
            "failures": [f.to_dict() for f in self.failures],
        }

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict` (stable key order)."""
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Inverse of :meth:`to_dict`.

        Raises:
            IndexFormatError: A required key is missing or has the wrong shape.
        """
        try:
            manifest = cls(
                schema_version=int(data["schema_version"]),
                rasteret_version=str(data.get("rasteret_version", "")),
                name=str(data["name"]),
                created=str(data.get("created", "")),
                params=dict(data.get("params") or {}),
                fingerprint=str(data["fingerprint"]),
                band_codes=tuple(str(c) for c in data["band_codes"]),
                bands={str(k): dict(v) for k, v in data["bands"].items()},
                cloud_config=dict(data.get("cloud_config") or {}),
                summary=BuildSummary.from_mapping(data.get("summary") or {}),
                failures=tuple(Failure.from_mapping(f) for f in data.get("failures") or ()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise IndexFormatError(f"malformed rasteret manifest: {err!r}") from err
        if sorted(manifest.bands) != sorted(manifest.band_codes):
            raise IndexFormatError(
                f"malformed rasteret manifest: bands {sorted(manifest.bands)} are not "
                f"the band columns {list(manifest.band_codes)}"
            )
        return manifest

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse :meth:`to_json` output.

        Raises:
            IndexFormatError: The text is not JSON or not a manifest.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise IndexFormatError(f"rasteret manifest is not valid JSON: {err}") from err
        if not isinstance(data, Mapping):
            raise IndexFormatError("rasteret manifest is not a JSON object")
        return cls.from_dict(data)
