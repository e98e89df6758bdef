"""Shared fixtures: COGs written once per session, and the speculative-read protocol."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rasteret.tiff import HeaderTruncatedError, TiffHeader, parse_tiff_header
from rasteret_sandbox.cogs import write_cog

ParseGrow = Callable[..., tuple[TiffHeader, int]]
CogMaker = Callable[..., Path]


def speculative_parse(path: Path, first_read: int = 64 * 1024) -> tuple[TiffHeader, int]:
    """Parse like the build stage does: read a prefix, grow on HeaderTruncatedError.

    Returns the header and how many extra reads were needed.
    """
    data = path.read_bytes()
    size = len(data)
    n = min(first_read, size)
    grows = 0
    while True:
        try:
            return parse_tiff_header(data[:n], source=str(path), file_size=size), grows
        except HeaderTruncatedError as err:
            assert err.needed > n, "needed must ask for more than was given"
            assert err.needed <= size, "needed must not point past the end of the file"
            n = err.needed
            grows += 1
            assert grows < 50, "grow loop does not converge"


@pytest.fixture(scope="session")
def make_cog(tmp_path_factory: pytest.TempPathFactory) -> CogMaker:
    """Write a COG per distinct name once per session (files are reused across tests)."""
    folder = tmp_path_factory.mktemp("cogs")
    made: dict[str, Path] = {}

    def make(name: str, **kwargs: Any) -> Path:
        if name not in made:
            made[name] = write_cog(folder / f"{name}.tif", **kwargs)
        return made[name]

    return make


@pytest.fixture(scope="session")
def parse_grow() -> ParseGrow:
    """The speculative parse helper, as a fixture so test modules need no imports."""
    return speculative_parse
