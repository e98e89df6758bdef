"""Tile planning: which tiles a window needs, and where each decoded piece lands.

Pure functions over :class:`~rasteret.tiff.types.IfdLayout`: no I/O, so they are tested
without a server. A plan deduplicates tiles by (url, IFD, tile index): when several
outputs (scenes x bands x AOIs) need the same tile, it is fetched and decoded once and
pasted into every canvas that wants it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rasteret.errors import InvalidInputError
from rasteret.read.grid import Window
from rasteret.tiff.types import IfdLayout


@dataclass(frozen=True, kw_only=True)
class TileKey:
    """Identity of one stored tile, the unit of fetching and decoding."""

    url: str
    """Object the tile lives in (after URL rewrites)."""
    ifd_index: int
    """IFD the tile belongs to."""
    tile_index: int
    """Index into the IFD's tile offset array."""


@dataclass(frozen=True, kw_only=True)
class TileJob:
    """How to fetch and decode one tile."""

    key: TileKey
    """Which tile."""
    offset: int
    """First byte of the tile in the object."""
    length: int
    """Byte count of the tile."""
    rows: int
    """Rows the decoded tile holds (short for the last strip of a stripped file)."""
    ifd: IfdLayout
    """Layout of the IFD (codec, predictor, dtype, tile size)."""
    byte_order: str
    """``"<"`` or ``">"``, the file's byte order."""

    @property
    def filled_rows(self) -> int:
        """Rows of the tile inside the image: those of an edge tile below it are padding."""
        ifd = self.ifd
        tile_row = (self.key.tile_index % (ifd.tiles_across * ifd.tiles_down)) // ifd.tiles_across
        return max(1, min(self.rows, ifd.height - tile_row * ifd.tile_height))


@dataclass(frozen=True, kw_only=True)
class Paste:
    """Copy ``tile[tile_rows, tile_cols, sample]`` into ``canvas[target][out_rows, out_cols]``."""

    key: TileKey
    """The decoded tile to copy from."""
    target: int
    """Index of the output canvas."""
    sample: int
    """Sample (band) of the decoded tile to copy."""
    tile_rows: slice
    """Rows of the decoded tile."""
    tile_cols: slice
    """Columns of the decoded tile."""
    out_rows: slice
    """Rows of the canvas."""
    out_cols: slice
    """Columns of the canvas."""


@dataclass
class ReadPlan:
    """Every tile to fetch (once) and every paste to make, for one read call."""

    jobs: dict[TileKey, TileJob] = field(default_factory=dict)
    """Unique tiles, in planning order."""
    pastes: list[Paste] = field(default_factory=list)
    """Copies from decoded tiles into canvases."""

    def add(self, jobs: Iterable[TileJob], pastes: Iterable[Paste]) -> None:
        """Merge another window's plan, keeping each tile once."""
        for job in jobs:
            self.jobs.setdefault(job.key, job)
        self.pastes.extend(pastes)


def plan_window(
    *,
    url: str,
    ifd: IfdLayout,
    byte_order: str,
    window: Window,
    sample: int,
    target: int,
) -> tuple[list[TileJob], list[Paste]]:
    """Plan the tiles of ``ifd`` that cover ``window`` for one sample.

    The part of the window outside the image gets no paste: the caller pre-fills the
    canvas (nodata, or 0), as GDAL does for boundless reads. Sparse tiles (byte count
    0) are skipped for the same reason: GDAL reads them as nodata/0.

    Args:
        url: Object holding the tiles.
        ifd: The IFD to read (full resolution or an overview).
        byte_order: The file's byte order.
        window: Pixels wanted, in the IFD's grid; canvas pixel (0, 0) is its corner.
        sample: 0-based sample (band) within the IFD.
        target: Canvas index the pastes go to.

    Returns:
        The tile jobs and the pastes, both possibly empty.
    """
    if not 0 <= sample < ifd.samples_per_pixel:
        raise InvalidInputError(
            "band_index", sample, f"the asset has {ifd.samples_per_pixel} sample(s)"
        )
    r0 = max(window.row_off, 0)
    r1 = min(window.row_off + window.height, ifd.height)
    c0 = max(window.col_off, 0)
    c1 = min(window.col_off + window.width, ifd.width)
    jobs: list[TileJob] = []
    pastes: list[Paste] = []
    if r0 >= r1 or c0 >= c1:
        return jobs, pastes
    th, tw = ifd.tile_height, ifd.tile_width
    per_plane = ifd.tiles_across * ifd.tiles_down
    planar = ifd.planar_config == 2 and ifd.samples_per_pixel > 1
    for trow in range(r0 // th, (r1 - 1) // th + 1):
        tile_top = trow * th
        rows = min(th, ifd.height - tile_top) if not ifd.tiled else th
        for tcol in range(c0 // tw, (c1 - 1) // tw + 1):
            tile_left = tcol * tw
            index = trow * ifd.tiles_across + tcol
            if planar:
                index += sample * per_plane
            if index >= len(ifd.tile_offsets):
                continue
            length = int(ifd.tile_byte_counts[index])
            if length == 0:
                continue
            key = TileKey(url=url, ifd_index=ifd.ifd_index, tile_index=index)
            jobs.append(
                TileJob(
                    key=key,
                    offset=int(ifd.tile_offsets[index]),
                    length=length,
                    rows=rows,
                    ifd=ifd,
                    byte_order=byte_order,
                )
            )
            ir0, ir1 = max(r0, tile_top), min(r1, tile_top + th)
            ic0, ic1 = max(c0, tile_left), min(c1, tile_left + tw)
            pastes.append(
                Paste(
                    key=key,
                    target=target,
                    sample=0 if planar else sample,
                    tile_rows=slice(ir0 - tile_top, ir1 - tile_top),
                    tile_cols=slice(ic0 - tile_left, ic1 - tile_left),
                    out_rows=slice(ir0 - window.row_off, ir1 - window.row_off),
                    out_cols=slice(ic0 - window.col_off, ic1 - window.col_off),
                )
            )
    return jobs, pastes
