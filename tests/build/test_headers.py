"""Header fetching: one request for a typical COG, growth for big headers, failures kept."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import tifffile

from rasteret.build.headers import INITIAL_READ, HeaderFailure, fetch_header, fetch_headers
from rasteret.errors import TiffFormatError
from rasteret.io import ObjectMeta, create_backend
from rasteret.tiff.header import parse_tiff_header
from rasteret_sandbox.cogs import write_cog


class CountingBackend:
    """A real StorageBackend (the user-facing protocol) that counts the reads it forwards."""

    def __init__(self) -> None:
        self.inner = create_backend()
        self.calls: list[tuple[str, int, int]] = []

    async def get_range_async(self, url: str, start: int, end: int) -> bytes:
        self.calls.append((url, start, end))
        return await self.inner.get_range_async(url, start, end)

    async def get_ranges_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[bytes]:
        return await self.inner.get_ranges_async(url, starts, ends)

    async def get_range_with_meta_async(
        self, url: str, start: int, end: int
    ) -> tuple[bytes, ObjectMeta]:
        self.calls.append((url, start, end))
        return await self.inner.get_range_with_meta_async(url, start, end)


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("headers")
    return {
        "typical": write_cog(
            root / "typical.tif",
            width=2048,
            height=2048,
            blocksize=1024,
            predictor=2,
            overview_levels=(2, 4, 8),
        ),
        # 8192 px with 64 px tiles: 16384 tiles, 128 KiB of offsets+counts: outgrows one read
        "big": write_cog(
            root / "big.tif",
            width=8192,
            height=8192,
            blocksize=64,
            dtype="uint8",
            data=np.zeros((1, 8192, 8192), dtype="uint8"),
            overview_levels=(2,),
            nodata=None,
        ),
        "small": write_cog(root / "small.tif", width=100, height=60, blocksize=256),
    }


def test_typical_cog_costs_one_request(cogs: dict[str, Path]) -> None:
    backend = CountingBackend()
    header = asyncio.run(fetch_header(backend, str(cogs["typical"])))
    assert len(backend.calls) == 1
    assert backend.calls[0][1:] == (0, INITIAL_READ)
    assert header.file_size == cogs["typical"].stat().st_size
    assert header.full.width == 2048
    assert len(header.overviews) == 3


def test_big_header_grows_and_matches_whole_file_parse(cogs: dict[str, Path]) -> None:
    backend = CountingBackend()
    header = asyncio.run(fetch_header(backend, str(cogs["big"])))
    assert 2 <= len(backend.calls) <= 3
    whole = parse_tiff_header(cogs["big"].read_bytes(), source="big")
    assert header.header_size == whole.header_size > INITIAL_READ
    np.testing.assert_array_equal(header.full.tile_offsets, whole.full.tile_offsets)
    with tifffile.TiffFile(cogs["big"]) as tif:
        np.testing.assert_array_equal(header.full.tile_byte_counts, tif.pages[0].databytecounts)


def test_file_smaller_than_speculative_read(cogs: dict[str, Path]) -> None:
    backend = CountingBackend()
    header = asyncio.run(fetch_header(backend, str(cogs["small"])))
    assert len(backend.calls) == 1
    assert header.file_size == cogs["small"].stat().st_size
    assert (header.full.width, header.full.height) == (100, 60)


def test_failures_are_kept_per_url(cogs: dict[str, Path], tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(cogs["big"].read_bytes()[:30_000])
    not_tiff = tmp_path / "notes.txt"
    not_tiff.write_text("not a tiff at all")
    urls = [str(cogs["typical"]), str(truncated), str(not_tiff), str(tmp_path / "missing.tif")]
    done: list[int] = []
    results = asyncio.run(
        fetch_headers(create_backend(), urls, max_concurrent=2, on_done=lambda: done.append(1))
    )
    assert len(done) == 4
    assert not isinstance(results[urls[0]], HeaderFailure)
    for url in urls[1:]:
        failure = results[url]
        assert isinstance(failure, HeaderFailure), url
        assert failure.url == url and failure.reason
    assert "TiffFormatError" in results[urls[1]].reason  # type: ignore[union-attr]
    assert "FetchError" in results[urls[3]].reason  # type: ignore[union-attr]


def test_truncated_header_raises_format_error(cogs: dict[str, Path], tmp_path: Path) -> None:
    truncated = tmp_path / "t.tif"
    truncated.write_bytes(cogs["big"].read_bytes()[:100_000])
    with pytest.raises(TiffFormatError):
        asyncio.run(fetch_header(create_backend(), str(truncated)))
