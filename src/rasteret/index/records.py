"""STAC items plus parsed headers in, one Arrow table (one row per item) out.

The build stage hands over plain records; this module is the only place that knows
how a STAC item maps onto the index columns, so the build never assembles columns.
Signed URLs are stripped of their signature here, because the index is a file users
copy and share: it must never carry credentials (readers sign again at read time).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
import shapely.geometry

from rasteret.errors import InvalidInputError
from rasteret.index import schema
from rasteret.tiff.types import TiffHeader


@dataclass(frozen=True)
class BandRecord:
    """One band of one item as the build found it."""

    href: str
    """Asset URL as STAC gave it (signing tokens are stripped when stored)."""
    asset_key: str
    """STAC asset key the band maps to."""
    sample_index: int | None = None
    """0-based sample within a multi-band asset, None for single-band assets."""
    header: TiffHeader | None = None
    """The parsed layout, None when it could not be read."""
    error: str | None = None
    """Why ``header`` is None (stored so users see it without rebuilding)."""


@dataclass(frozen=True)
class ItemRecord:
    """One STAC item and its bands (None: the item has no asset for that band)."""

    item: Mapping[str, Any]
    """The STAC item dict as the search returned it."""
    bands: Mapping[str, BandRecord | None]
    """Band code -> record; codes absent here are stored as null."""


# --- URL hygiene ------------------------------------------------------------------------------

# Query parameters that are themselves a signature, credential or token (AWS SigV4 and
# CloudFront, Azure SAS, Google signed URLs, bearer tokens). Matching is case-insensitive.
_SECRET_PARAMS = frozenset(
    p.lower()
    for p in (
        "sig", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "AWSAccessKeyId",
        "Signature", "X-Goog-Signature", "X-Goog-Credential", "GoogleAccessId",
        "token", "access_token", "api_key", "apikey", "skoid", "sktid", "skt", "ske", "sks",
        "skv", "saoid", "suoid",
    )
)  # fmt: skip
# Parameters that only mean something next to a signature (expiry, permissions, SAS version):
# dropped together with it, kept when the URL carries no signature (they may be ordinary).
_SIGNING_COMPANIONS = frozenset(
    p.lower()
    for p in (
        "se", "st", "sp", "sv", "sr", "spr", "srt", "ss", "si", "sdd", "scid",
        "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Algorithm",
        "X-Amz-Content-Sha256", "Expires", "Key-Pair-Id", "Policy",
        "X-Goog-Date", "X-Goog-Expires", "X-Goog-SignedHeaders", "X-Goog-Algorithm",
    )
)  # fmt: skip


def strip_secrets(url: str) -> str:
    """``url`` without signing/token query parameters and without ``user:password@``.

    Other query parameters (e.g. a ``versionId``) are kept byte for byte and in order,
    since they can change which object the URL names.
    """
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pieces = query.split("&")
        keys = [unquote_plus(piece.partition("=")[0]).lower() for piece in pieces]
        signed = any(k in _SECRET_PARAMS for k in keys)
        drop = _SECRET_PARAMS | _SIGNING_COMPANIONS if signed else _SECRET_PARAMS
        query = "&".join(p for p, k in zip(pieces, keys, strict=True) if k not in drop)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _sanitize_assets(value: Any) -> Any:
    """Copy of an assets tree with every ``href`` (alternates included) stripped of secrets."""
    if isinstance(value, Mapping):
        return {
            k: strip_secrets(v) if k == "href" and isinstance(v, str) else _sanitize_assets(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_sanitize_assets(v) for v in value]
    return value


# --- property parsing --------------------------------------------------------------------------

_FRACTION = re.compile(r"(\.\d{6})\d+")


def _parse_datetime(value: Any, *, item_id: str, key: str) -> datetime | None:
    """An RFC 3339 STAC datetime as an aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            # Python keeps microseconds; STAC servers sometimes send nanoseconds.
            parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
        except ValueError as err:
            raise InvalidInputError(f"item {item_id!r} {key}", value, "not RFC 3339") from err
    else:
        raise InvalidInputError(f"item {item_id!r} {key}", value, "not a datetime string")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_EPSG_CODE = re.compile(r"^\s*EPSG:(\d+)\s*$", re.IGNORECASE)


def _projection(props: Mapping[str, Any], record: ItemRecord) -> tuple[int | None, str | None]:
    """(EPSG code, proj:code) from item properties, else from the first band asset that has it."""
    sources: list[Mapping[str, Any]] = [props]
    assets = record.item.get("assets") or {}
    for band in record.bands.values():
        if band is not None and isinstance(assets.get(band.asset_key), Mapping):
            sources.append(assets[band.asset_key])
    for src in sources:
        epsg, code = src.get("proj:epsg"), src.get("proj:code")
        if epsg is None and isinstance(code, str) and (m := _EPSG_CODE.match(code)):
            epsg = int(m.group(1))
        if epsg is not None or code is not None:
            if isinstance(epsg, bool) or not isinstance(epsg, int | float | type(None)):
                epsg = None
            epsg_int = None if epsg is None else int(epsg)
            if code is None and epsg_int is not None:
                code = f"EPSG:{epsg_int}"
            return epsg_int, code if isinstance(code, str) else None
    return None, None


def _float_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _footprint(item: Mapping[str, Any], item_id: str) -> shapely.Geometry | None:
    """The item geometry as shapely; None when STAC gives none (allowed by the spec)."""
    geom = item.get("geometry")
    if geom is not None:
        try:
            return shapely.geometry.shape(geom)
        except (AttributeError, TypeError, ValueError, KeyError) as err:
            raise InvalidInputError(f"item {item_id!r} geometry", geom, str(err)) from err
    return None


def _covering(geom: shapely.Geometry | None, bbox: Any) -> dict[str, float] | None:
    """The GeoParquet covering: bounds of the geometry, else the item bbox (2D or 3D)."""
    if geom is not None and not shapely.is_empty(geom):
        xmin, ymin, xmax, ymax = (float(v) for v in shapely.bounds(geom))
    elif isinstance(bbox, Sequence) and len(bbox) in (4, 6):
        half = len(bbox) // 2
        xmin, ymin, xmax, ymax = (float(bbox[i]) for i in (0, 1, half, half + 1))
    else:
        return None
    return dict(zip(schema.BBOX_FIELDS, (xmin, ymin, xmax, ymax), strict=True))


def _band_value(band: BandRecord | None) -> dict[str, Any] | None:
    if band is None:
        return None
    value: dict[str, Any] = {
        "href": strip_secrets(band.href),
        "asset_key": band.asset_key,
        "sample_index": band.sample_index,
        "error": band.error,
    }
    if band.header is not None:
        value.update(schema.header_to_struct(band.header))
    return value


def records_to_table(records: Iterable[ItemRecord], band_codes: Sequence[str]) -> pa.Table:
    """One index row per item, typed by :func:`rasteret.index.schema.index_schema`.

    Rows are sorted by datetime, then id (nulls last), so the same search always
    produces the same file regardless of the order in which headers arrived.

    Raises:
        InvalidInputError: An item lacks an id, has an unparsable datetime or geometry,
            or a record names a band not in ``band_codes``.
    """
    band_codes = tuple(band_codes)
    table_schema = schema.index_schema(band_codes)
    core: dict[str, list[Any]] = {name: [] for name in schema.CORE_COLUMNS}
    geoms: list[shapely.Geometry | None] = []
    bands: dict[str, list[dict[str, Any] | None]] = {code: [] for code in band_codes}
    for record in records:
        item = record.item
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise InvalidInputError("item id", item_id, "every STAC item needs a string id")
        unknown = set(record.bands) - set(band_codes)
        if unknown:
            raise InvalidInputError(
                f"item {item_id!r} bands", sorted(unknown), f"not among {list(band_codes)}"
            )
        props: Mapping[str, Any] = item.get("properties") or {}
        start = _parse_datetime(props.get("start_datetime"), item_id=item_id, key="start")
        end = _parse_datetime(props.get("end_datetime"), item_id=item_id, key="end")
        when = _parse_datetime(props.get("datetime"), item_id=item_id, key="datetime") or start
        epsg, proj_code = _projection(props, record)
        geom = _footprint(item, item_id)
        geoms.append(geom)
        core[schema.ID].append(item_id)
        core[schema.COLLECTION].append(_str_or_none(item.get("collection")))
        core[schema.DATETIME].append(when)
        core[schema.START_DATETIME].append(start)
        core[schema.END_DATETIME].append(end)
        core[schema.BBOX].append(_covering(geom, item.get("bbox")))
        core[schema.CLOUD_COVER].append(_float_or_none(props.get("eo:cloud_cover")))
        core[schema.PLATFORM].append(_str_or_none(props.get("platform")))
        core[schema.CONSTELLATION].append(_str_or_none(props.get("constellation")))
        core[schema.EPSG].append(epsg)
        core[schema.PROJ_CODE].append(proj_code)
        core[schema.PROPERTIES].append(json.dumps(props, default=str))
        core[schema.ASSETS].append(
            json.dumps(_sanitize_assets(item.get("assets") or {}), default=str)
        )
        for code in band_codes:
            bands[code].append(_band_value(record.bands.get(code)))

    wkb = shapely.to_wkb(np.array(geoms, dtype=object), flavor="iso")  # None stays None
    core[schema.GEOMETRY] = list(wkb)
    arrays: list[pa.Array[Any]] = [pa.array(core[f.name], type=f.type) for f in schema.CORE_FIELDS]
    arrays += [schema.band_array(bands[code]) for code in band_codes]
    table = pa.Table.from_arrays(arrays, schema=table_schema)
    order = pc.sort_indices(
        table,
        sort_keys=[(schema.DATETIME, "ascending"), (schema.ID, "ascending")],
    )  # nulls sort last by default
    return table.take(order)
