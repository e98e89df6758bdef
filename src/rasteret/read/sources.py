"""From index rows to read sources: hrefs rewritten, layouts decoded, bands resolved."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret.errors import BandMappingError
from rasteret.index import schema
from rasteret.index.arrow_np import datetimes
from rasteret.index.pool import POOL, filter_rows
from rasteret.io import CloudConfig
from rasteret.read.reader import BandSource, SceneSource
from rasteret.tiff.types import TiffHeader


def _scale_offset(
    header: TiffHeader, asset: Mapping[str, Any], sample: int
) -> tuple[float | None, float | None]:
    """Scale and offset of one sample.

    The file's GDAL_METADATA comes first (it is what GDAL reports), else the STAC
    asset's ``raster:bands`` entry.
    """
    if header.scales is not None and sample < len(header.scales):
        offsets = header.offsets or ()
        return header.scales[sample], offsets[sample] if sample < len(offsets) else None
    bands = asset.get("raster:bands") if isinstance(asset, Mapping) else None
    if isinstance(bands, list) and sample < len(bands) and isinstance(bands[sample], Mapping):
        entry = bands[sample]
        scale, offset = entry.get("scale"), entry.get("offset")
        return (
            float(scale) if isinstance(scale, int | float) else None,
            float(offset) if isinstance(offset, int | float) else None,
        )
    return None, None


class SourceCache:
    """Band sources already decoded from one index's rows, by item id and band.

    Decoding a row's stored layouts into headers is pure Python object building (about
    0.3 ms per scene and band); a training loop that subsets the same collection for
    every sample would otherwise redo it each time. Collections filtered from one
    another share one cache, which is only used when item ids are unique in the table
    they were all filtered from (``unique_ids``), so that an id always names one row.
    """

    def __init__(self, *, unique_ids: bool) -> None:
        self._sources: dict[tuple[str, str], BandSource | None] = {}
        self._usable = unique_ids

    def lookup(self, ids: Sequence[str], code: str) -> list[BandSource | None] | None:
        """The sources of ``code`` for every id, or None if any is missing."""
        if not self._usable:
            return None
        got = [self._sources.get((i, code), _MISSING) for i in ids]
        if any(g is _MISSING for g in got):
            return None
        return got

    def store(self, ids: Sequence[str], code: str, sources: Sequence[BandSource | None]) -> None:
        """Remember ``sources``, one per id (rows of the table whose ids were checked)."""
        if self._usable:
            self._sources.update(((i, code), src) for i, src in zip(ids, sources, strict=True))


_MISSING: Any = object()


def scene_sources(
    table: pa.Table,
    bands: Sequence[str],
    *,
    cloud_config: Mapping[str, Any] | None,
    cache: SourceCache | None = None,
    rows: pa.BooleanArray | None = None,
) -> list[SceneSource]:
    """One :class:`SceneSource` per row of ``table`` for the requested ``bands``.

    ``rows`` selects some rows only. ``cache`` (shared by collections filtered from one
    index) skips decoding the layouts of rows seen before; the band columns, whose
    nested tile lists are the costly part of filtering, are then not even filtered.

    Raises:
        BandMappingError: A requested band is not in the index (lists those that are).
    """
    available = schema.band_codes_of(table.schema)
    unknown = [b for b in bands if b not in available]
    if unknown:
        raise BandMappingError(
            f"bands {unknown} are not in this collection; it has {list(available)}"
        )
    head = table.select([schema.ID, schema.DATETIME, schema.CLOUD_COVER])
    if rows is not None:
        head = filter_rows(head, rows)
    ids = [str(i) for i in head.column(schema.ID).to_pylist()]
    times = datetimes(head.column(schema.DATETIME))
    clouds = head.column(schema.CLOUD_COVER).to_pylist()
    per_band: dict[str, list[BandSource | None]] = {}
    missing = []
    for code in bands:
        known = cache.lookup(ids, code) if cache is not None else None
        if known is None:
            missing.append(code)
        else:
            per_band[code] = known
    if missing:
        needed = table.select([schema.ASSETS, *(schema.band_column(c) for c in missing)])
        if rows is not None:
            needed = filter_rows(needed, rows)
        per_band.update(_band_sources(needed, missing, cloud_config))
        if cache is not None:
            for code in missing:
                cache.store(ids, code, per_band[code])
    return [
        SceneSource(
            id=item_id,
            datetime=times[i],
            cloud_cover=clouds[i],
            bands={code: per_band[code][i] for code in bands},
        )
        for i, item_id in enumerate(ids)
    ]


def _band_sources(
    table: pa.Table, bands: Sequence[str], cloud_config: Mapping[str, Any] | None
) -> dict[str, list[BandSource | None]]:
    """Decode the stored layouts of ``bands`` for every row of ``table``."""
    config = CloudConfig.from_dict(dict(cloud_config or {}))
    assets = [json.loads(a) if a else {} for a in table.column(schema.ASSETS).to_pylist()]
    per_band: dict[str, list[BandSource | None]] = {}
    for code in bands:
        column = table.column(schema.band_column(code))
        headers = schema.headers_from_array(column)
        hrefs = pc.struct_field(column, ["href"], memory_pool=POOL).to_pylist()
        samples = pc.struct_field(column, ["sample_index"], memory_pool=POOL).to_pylist()
        keys = pc.struct_field(column, ["asset_key"], memory_pool=POOL).to_pylist()
        per_band[code] = []
        for i, (header, href, sample, key) in enumerate(
            zip(headers, hrefs, samples, keys, strict=True)
        ):
            if header is None or href is None:
                per_band[code].append(None)
                continue
            index = int(sample or 0)
            scale, offset = _scale_offset(header, assets[i].get(key or "", {}), index)
            per_band[code].append(
                BandSource(
                    url=config.rewrite(href),
                    header=header,
                    sample=index,
                    scale=scale,
                    offset=offset,
                )
            )
    return per_band
