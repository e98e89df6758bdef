"""Fetching COG headers: one speculative read per file, grown only when needed.

A typical COG keeps every IFD and tile array in its first few kilobytes, so one ranged
GET of ``INITIAL_READ`` bytes is enough and the file costs exactly one request. When the
parser reports that it needs more (big tile arrays, many overviews), the next read
covers at least what it asked for and doubles the prefix, so even large headers settle
in a couple of round trips.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rasteret.errors import FetchError, TiffFormatError
from rasteret.io import ObjectMeta, StorageBackend
from rasteret.io.urls import redact_url
from rasteret.tiff import limits
from rasteret.tiff.header import HeaderTruncatedError, parse_tiff_header
from rasteret.tiff.types import TiffHeader

INITIAL_READ = 64 * 1024
"""Bytes of the speculative first read; GDAL-written COGs of 10980 px fit in it."""


@dataclass(frozen=True, kw_only=True)
class HeaderFailure:
    """Why one asset's header could not be indexed."""

    url: str
    """The URL that was read."""
    reason: str
    """A one-line, credential-free explanation."""


async def _read(
    backend: StorageBackend, url: str, start: int, end: int
) -> tuple[bytes, ObjectMeta | None]:
    with_meta = getattr(backend, "get_range_with_meta_async", None)
    if with_meta is not None:
        data, meta = await with_meta(url, start, end)
        return bytes(data), meta
    return bytes(await backend.get_range_async(url, start, end)), None


async def fetch_header(
    backend: StorageBackend, url: str, *, initial_read: int = INITIAL_READ
) -> TiffHeader:
    """Read and parse the header of one TIFF.

    Args:
        backend: Where the bytes come from.
        url: The object to read (already rewritten by the cloud config).
        initial_read: Size of the speculative first read.

    Returns:
        The parsed header, with the object's size, ETag and Last-Modified when the
        backend reports them.

    Raises:
        TiffFormatError: The bytes are not a readable TIFF (or the header is larger
            than ``limits.MAX_HEADER_BYTES``).
        FetchError: The storage could not deliver the bytes.
    """
    data, meta = await _read(backend, url, 0, initial_read)
    file_size = meta.size if meta is not None else None
    if file_size is None and len(data) < initial_read:
        file_size = len(data)  # a short read means we hold the whole object
    while True:
        try:
            header = parse_tiff_header(data, source=redact_url(url), file_size=file_size)
            break
        except HeaderTruncatedError as err:
            want = max(err.needed, 2 * len(data))
            if file_size is not None:
                want = min(want, file_size)
            if want > limits.MAX_HEADER_BYTES:
                raise TiffFormatError(
                    f"{url}: header needs {err.needed} bytes, more than the "
                    f"{limits.MAX_HEADER_BYTES}-byte limit"
                ) from err
            if want <= len(data):
                raise TiffFormatError(f"{url}: file is truncated inside its header") from err
            more, _ = await _read(backend, url, len(data), want)
            if not more:
                raise TiffFormatError(f"{url}: file is truncated inside its header") from err
            data += more
            if file_size is None and len(data) < want:
                file_size = len(data)
    if meta is not None:
        header = dataclasses.replace(
            header,
            file_size=meta.size,
            etag=meta.etag,
            last_modified=meta.last_modified,
        )
    elif file_size is not None:
        header = dataclasses.replace(header, file_size=file_size)
    return header


async def fetch_headers(
    backend: StorageBackend,
    urls: Iterable[str],
    *,
    max_concurrent: int,
    on_done: Callable[[], None] | None = None,
) -> dict[str, TiffHeader | HeaderFailure]:
    """Fetch many headers with at most ``max_concurrent`` files in flight.

    A failure of one file never stops the others: it is returned as a
    :class:`HeaderFailure` so the build can record it and carry on.
    """
    semaphore = asyncio.Semaphore(max_concurrent)
    results: dict[str, TiffHeader | HeaderFailure] = {}

    async def one(url: str) -> None:
        async with semaphore:
            try:
                results[url] = await fetch_header(backend, url)
            except (TiffFormatError, FetchError, NotImplementedError) as err:
                results[url] = HeaderFailure(url=url, reason=f"{type(err).__name__}: {err}")
            except OSError as err:
                results[url] = HeaderFailure(url=url, reason=f"{type(err).__name__}: {err}")
        if on_done is not None:
            on_done()

    unique = list(dict.fromkeys(urls))
    await asyncio.gather(*(one(u) for u in unique))
    return {u: results[u] for u in unique}
