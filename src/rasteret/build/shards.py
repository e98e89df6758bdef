"""Cutting one search into date and space shards whose union is exactly the search.

A very large build is split into independent searches that workers run side by side.
The planning is pure (no I/O, no Dask) so it can be checked on its own: date shards are
consecutive inclusive ranges at microsecond resolution (one ends one microsecond before
the next starts, the last ends where the search ends), so every instant of the range
is in exactly one shard; space shards are a grid of closed boxes sharing their edges,
so every footprint that touches the bbox touches at least one cell. An item can still
match two shards (a footprint across a cell edge, an item with a ``start_datetime`` /
``end_datetime`` interval across a date boundary); the build keeps it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

from rasteret.errors import InvalidInputError
from rasteret.stac import BBox, DateRange, to_stac_datetime

DateShards: TypeAlias = int | str | timedelta
"""How to split the date range: a count of equal pieces, a calendar unit, or a length."""

SpaceShards: TypeAlias = int | tuple[int, int]
"""How to split the bbox: ``n`` (an n x n grid) or ``(columns, rows)``."""

CALENDAR_UNITS: Final = ("year", "month", "week", "day")
"""Calendar units ``date_shards`` accepts; pieces start on the unit's boundaries (UTC,
weeks on Mondays), so the first and last piece may be shorter."""

MAX_SHARDS: Final = 10_000
"""Most shards one build may have: each is a task and a search, so more is a mistake
(a one-second timedelta over a decade) rather than a plan."""

_ONE_US: Final = timedelta(microseconds=1)
_DATE_HELP: Final = (
    f"expected one of {', '.join(map(repr, CALENDAR_UNITS))}, an int >= 1 (equal pieces) "
    "or a positive datetime.timedelta"
)


@dataclass(frozen=True, kw_only=True)
class Shard:
    """One piece of a sharded search: its own bbox and date range."""

    index: int
    """Position in the plan (date-major); earlier shards win duplicate items."""
    bbox: BBox | None
    """Search bbox of this shard (may cross the antimeridian); None: no spatial filter."""
    dates: DateRange | None
    """Inclusive UTC range of this shard; None: no time filter."""

    @property
    def label(self) -> str:
        """A short description for messages: number, dates and bbox."""
        parts = [f"shard {self.index}"]
        if self.dates is not None:
            parts.append(f"dates {to_stac_datetime(self.dates)}")
        if self.bbox is not None:
            parts.append(f"bbox {tuple(round(v, 6) for v in self.bbox)}")
        return " ".join(parts)


def plan_shards(
    *,
    bbox: BBox | None,
    dates: DateRange | None,
    date_shards: DateShards | None,
    space_shards: SpaceShards | None,
) -> tuple[Shard, ...]:
    """The shards of a search, date-major (all cells of the first date range first).

    Args:
        bbox: The normalised search bbox.
        dates: The normalised search date range.
        date_shards: See :data:`DateShards`; None keeps the range whole.
        space_shards: See :data:`SpaceShards`; None keeps the bbox whole.

    Raises:
        InvalidInputError: A malformed sharding value, a split of something the search
            does not bound (dates with an open end, no bbox), or more than
            :data:`MAX_SHARDS` shards. The message names the parameter and value.
    """
    date_ranges: tuple[DateRange | None, ...] = (dates,)
    if date_shards is not None:
        date_ranges = split_dates(dates, date_shards)
    boxes: tuple[BBox | None, ...] = (bbox,)
    if space_shards is not None:
        boxes = split_bbox(bbox, space_shards)
    total = len(date_ranges) * len(boxes)
    if total > MAX_SHARDS:
        raise InvalidInputError(
            "space_shards" if len(boxes) > 1 else "date_shards",
            space_shards if len(boxes) > 1 else date_shards,
            f"gives {total} shards with date_shards={date_shards!r}, "
            f"space_shards={space_shards!r}; at most {MAX_SHARDS} are allowed",
        )
    return tuple(
        Shard(index=i, bbox=box, dates=rng)
        for i, (rng, box) in enumerate((r, b) for r in date_ranges for b in boxes)
    )


def split_dates(dates: DateRange | None, by: DateShards) -> tuple[DateRange, ...]:
    """Consecutive inclusive pieces of ``dates`` whose union is exactly ``dates``.

    Raises:
        InvalidInputError: ``by`` is malformed, ``dates`` has an open end, or the split
            gives more than :data:`MAX_SHARDS` pieces.
    """
    if dates is None or dates[0] is None or dates[1] is None:
        raise InvalidInputError(
            "date_shards", by, "needs a date_range with both a start and an end to split"
        )
    start: datetime = dates[0]
    end: datetime = dates[1]
    stop = end + _ONE_US  # exclusive
    bounds: list[datetime]
    if isinstance(by, bool):
        raise InvalidInputError("date_shards", by, _DATE_HELP)
    if isinstance(by, int):
        if by < 1:
            raise InvalidInputError("date_shards", by, _DATE_HELP)
        _check_count("date_shards", by, by)
        span = (stop - start) // _ONE_US
        if by > span:
            raise InvalidInputError(
                "date_shards", by, f"more pieces than the {span} microseconds of the range"
            )
        bounds = [start + _ONE_US * (span * k // by) for k in range(by)]
    elif isinstance(by, timedelta):
        if by <= timedelta(0):
            raise InvalidInputError("date_shards", by, _DATE_HELP)
        _check_count("date_shards", by, -(-(stop - start) // by))
        bounds = []
        moment = start
        while moment < stop:
            bounds.append(moment)
            moment += by
    elif isinstance(by, str) and by.strip().lower() in CALENDAR_UNITS:
        bounds = [start]
        moment = _next_boundary(start, by.strip().lower())
        while moment < stop:
            bounds.append(moment)
            _check_count("date_shards", by, len(bounds))
            moment = _next_boundary(moment, by.strip().lower())
    else:
        raise InvalidInputError("date_shards", by, _DATE_HELP)
    ends = [b - _ONE_US for b in bounds[1:]] + [end]
    return tuple(zip(bounds, ends, strict=True))


def _next_boundary(moment: datetime, unit: str) -> datetime:
    """The first boundary of ``unit`` strictly after ``moment`` (UTC)."""
    moment = moment.astimezone(UTC)
    day = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(days=7 - day.weekday())
    if unit == "month":
        if moment.month == 12:
            return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
        return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)
    return datetime(moment.year + 1, 1, 1, tzinfo=UTC)


def split_bbox(bbox: BBox | None, by: SpaceShards) -> tuple[BBox, ...]:
    """A grid of boxes covering ``bbox``, row by row from the south-west corner.

    Neighbouring cells share their edge coordinates exactly (no gap, however the floats
    round). A bbox crossing the antimeridian is split in unwrapped longitudes and the
    cells wrapped back, so one cell may itself cross the antimeridian.

    Raises:
        InvalidInputError: ``by`` is malformed or there is no bbox to split.
    """
    columns, rows = _grid(by)
    if bbox is None:
        raise InvalidInputError("space_shards", by, "needs a bbox to split")
    _check_count("space_shards", by, columns * rows)
    minx, miny, maxx, maxy = bbox
    if maxx < minx:  # crosses the antimeridian: work in [minx, maxx + 360]
        maxx += 360.0
    xs = [minx + (maxx - minx) * k / columns for k in range(columns)] + [maxx]
    ys = [miny + (maxy - miny) * k / rows for k in range(rows)] + [maxy]
    return tuple(
        (_wrap(xs[c], low=True), ys[r], _wrap(xs[c + 1], low=False), ys[r + 1])
        for r in range(rows)
        for c in range(columns)
    )


def _wrap(lon: float, *, low: bool) -> float:
    """An unwrapped longitude back in [-180, 180] (180 itself starts the next turn)."""
    if lon > 180.0 or (low and lon == 180.0):
        return lon - 360.0
    return lon


def _grid(by: object) -> tuple[int, int]:
    """``(columns, rows)`` from ``n`` or ``(columns, rows)``."""
    help_ = "expected an int >= 1 (an n x n grid) or a (columns, rows) pair of ints >= 1"
    values: tuple[object, ...]
    if isinstance(by, tuple | list):
        values = tuple(by)
        if len(values) != 2:
            raise InvalidInputError("space_shards", by, help_)
    else:
        values = (by, by)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError("space_shards", by, help_)
    columns, rows = values
    assert isinstance(columns, int) and isinstance(rows, int)
    return columns, rows


def _check_count(parameter: str, value: object, count: int) -> None:
    """Refuse a split into more than :data:`MAX_SHARDS` pieces before making them."""
    if count > MAX_SHARDS:
        raise InvalidInputError(
            parameter, value, f"gives {count} shards; at most {MAX_SHARDS} are allowed"
        )
