"""From index rows to read sources: hrefs rewritten, layouts decoded, bands resolved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret.errors import BandMappingError
from rasteret.index import schema
from rasteret.io import CloudConfig
from rasteret.read.reader import BandSource, SceneSource


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
    times = table.column(schema.DATETIME).to_pylist()
    per_band: dict[str, list[BandSource | None]] = {}
    for code in bands:
        column = table.column(schema.band_column(code))
        headers = schema.headers_from_array(column)
        hrefs = pc.struct_field(column, ["href"]).to_pylist()
        samples = pc.struct_field(column, ["sample_index"]).to_pylist()
        per_band[code] = [
            None
            if header is None or href is None
            else BandSource(url=config.rewrite(href), header=header, sample=int(sample or 0))
            for header, href, sample in zip(headers, hrefs, samples, strict=True)
        ]
    return [
        SceneSource(
            id=str(item_id),
            datetime=times[i],
            bands={code: per_band[code][i] for code in bands},
        )
        for i, item_id in enumerate(ids)
    ]
