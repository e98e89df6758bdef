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


def scene_sources(
    table: pa.Table,
    bands: Sequence[str],
    *,
    cloud_config: Mapping[str, Any] | None,
) -> list[SceneSource]:
    """One :class:`SceneSource` per row of ``table`` for the requested ``bands``.

    Raises:
        BandMappingError: A requested band is not in the index (lists those that are).
    """
    available = schema.band_codes_of(table.schema)
    unknown = [b for b in bands if b not in available]
    if unknown:
        raise BandMappingError(
            f"bands {unknown} are not in this collection; it has {list(available)}"
        )
    config = CloudConfig.from_dict(dict(cloud_config or {}))
    ids = table.column(schema.ID).to_pylist()
    times = datetimes(table.column(schema.DATETIME))
    assets = [json.loads(a) if a else {} for a in table.column(schema.ASSETS).to_pylist()]
    per_band: dict[str, list[BandSource | None]] = {}
    for code in bands:
        column = table.column(schema.band_column(code))
        headers = schema.headers_from_array(column)
        hrefs = pc.struct_field(column, ["href"]).to_pylist()
        samples = pc.struct_field(column, ["sample_index"]).to_pylist()
        keys = pc.struct_field(column, ["asset_key"]).to_pylist()
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
    return [
        SceneSource(
            id=str(item_id),
            datetime=times[i],
            bands={code: per_band[code][i] for code in bands},
        )
        for i, item_id in enumerate(ids)
    ]
