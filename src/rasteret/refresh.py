"""Re-indexing objects that changed after the build (``on_stale="reindex"``).

A read refuses an object whose size or ETag no longer match the index
(:class:`~rasteret.errors.StaleSourceError`), because the indexed tile offsets then
point at the wrong bytes. A caller who opts in gets the layout refreshed instead: the
headers of the read's objects are fetched again, every band struct that points at one
of them is replaced, in memory for the retry and on disk (atomically, under the
collection's build lock) for every later load. Only the affected structs are rebuilt;
the rest of the table is taken over as is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rasteret.build.headers import HeaderFailure, fetch_headers
from rasteret.errors import StaleSourceError
from rasteret.index import schema
from rasteret.index.manifest import Manifest
from rasteret.index.storage import read_index, write_index
from rasteret.index.workspace import INDEX_FILE, Workspace
from rasteret.io import CloudConfig, StorageBackend
from rasteret.tiff.types import TiffHeader

__all__ = ["patch_table", "refresh_stale"]

logger = logging.getLogger(__name__)


def patch_table(
    table: pa.Table, headers: Mapping[str, TiffHeader], rewrite: Callable[[str], str]
) -> pa.Table:
    """Return ``table`` with the layout of every band struct whose URL is in ``headers`` replaced.

    ``rewrite`` maps a stored href to the URL reads use (the collection's cloud rewrites).
    """
    for code in schema.band_codes_of(table.schema):
        name = schema.band_column(code)
        column = table.column(name).combine_chunks()
        hrefs = pc.struct_field(column, ["href"]).to_pylist()
        keys = pc.struct_field(column, ["asset_key"]).to_pylist()
        samples = pc.struct_field(column, ["sample_index"]).to_pylist()
        order = list(range(len(hrefs)))
        extra: list[dict[str, Any]] = []
        slots: dict[tuple[str, Any, Any], int] = {}
        for i, href in enumerate(hrefs):
            url = rewrite(href) if href is not None else None
            if url is None or url not in headers:
                continue
            slot_key = (url, keys[i], samples[i])
            if slot_key not in slots:
                slots[slot_key] = len(hrefs) + len(extra)
                extra.append(
                    {
                        "href": href,
                        "asset_key": keys[i],
                        "sample_index": samples[i],
                        "error": None,
                        **schema.header_to_struct(headers[url]),
                    }
                )
            order[i] = slots[slot_key]
        if extra:
            merged = pa.concat_arrays([column, schema.band_array(extra)])
            index = table.schema.get_field_index(name)
            table = table.set_column(index, table.schema.field(name), merged.take(pa.array(order)))
    return table


def _rewrite_index(path: Path, manifest: Manifest, headers: Mapping[str, TiffHeader]) -> None:
    """Patch the index file at ``path`` in place (atomic replace), under its build lock."""
    rewrite = CloudConfig.from_dict(dict(manifest.cloud_config or {})).rewrite

    def patch() -> None:
        full, current = read_index(path)
        write_index(path, patch_table(full, headers, rewrite), current)

    if path.name == INDEX_FILE and path.parent.name == manifest.name:
        with Workspace(path.parent.parent).lock(manifest.name):
            patch()
    else:  # an exported index: no workspace lock, but the write is still atomic
        patch()


async def refresh_stale(
    table: pa.Table,
    manifest: Manifest,
    path: Path | None,
    backend: StorageBackend,
    urls: Sequence[str],
    *,
    error: StaleSourceError,
    max_concurrent: int,
) -> pa.Table:
    """Fetch the headers of ``urls`` again; return ``table`` patched with them.

    The index at ``path`` (if any) is patched too, so the next load is fresh.

    Raises:
        StaleSourceError: ``error`` again, when a header can no longer be read (the
            object was deleted or is not a TIFF any more).
    """
    fresh = await fetch_headers(backend, urls, max_concurrent=max_concurrent)
    failed = [f for f in fresh.values() if isinstance(f, HeaderFailure)]
    if failed:
        raise StaleSourceError(
            error.url, {**error.changed, "reindex": (None, failed[0].reason)}
        ) from error
    headers = {u: h for u, h in fresh.items() if isinstance(h, TiffHeader)}
    rewrite = CloudConfig.from_dict(dict(manifest.cloud_config or {})).rewrite
    if path is not None:
        await asyncio.to_thread(_rewrite_index, path, manifest, headers)
    logger.info("re-indexed %d object(s) after %s", len(headers), error)
    return patch_table(table, headers, rewrite)
