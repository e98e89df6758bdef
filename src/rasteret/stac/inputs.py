"""Normalise and validate the search inputs of ``build_from_stac`` once.

Users hand us what they have: bboxes as tuples, lists or NumPy arrays; date ranges as
``("2024-01-01", "2024-03-31")``, ISO datetimes or ``datetime`` objects; query dicts in the
STAC query-extension form. Everything is checked here and turned into one strict type, so
that the search code, the static-catalog filter and the cache key all see the same values,
and a bad input fails before any network request with an :class:`InvalidInputError` that
names the parameter.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from numbers import Integral, Real
from typing import Any, Final, TypeAlias

from rasteret.errors import InvalidInputError

BBox: TypeAlias = tuple[float, float, float, float]
"""``(minx, miny, maxx, maxy)`` in WGS84 degrees; ``minx > maxx`` crosses the antimeridian."""

DateRange: TypeAlias = tuple[datetime | None, datetime | None]
"""``(start, end)`` as timezone-aware UTC datetimes, both inclusive; ``None`` is an open end."""

Query: TypeAlias = dict[str, dict[str, Any]]
"""STAC query extension: ``{property: {operator: value}}``."""

QUERY_OPERATORS: Final = frozenset(
    {"eq", "neq", "lt", "lte", "gt", "gte", "startsWith", "endsWith", "contains", "in"}
)
"""Operators of the STAC API query extension, the only ones a query may use."""

_ORDER_OPERATORS: Final = frozenset({"lt", "lte", "gt", "gte"})
_STRING_OPERATORS: Final = frozenset({"startsWith", "endsWith", "contains"})

# Calendar-only forms: a date given without a time covers the whole period it names,
# so "2024-03" as an end means "through the last instant of March".
_YEAR = re.compile(r"^(\d{4})$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# A datetime must at least start with a full date and a time separator; this keeps
# fromisoformat's compact forms ("20240101") from slipping through as exact instants.
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}")
_OPEN_END: Final = frozenset({"", ".."})

# Collection ids travel in URL paths (/collections/{id}); these characters would
# change the path or query rather than name a collection.
_COLLECTION_FORBIDDEN = re.compile(r"[\s/?#%\\]")

_END_OF_DAY = time(23, 59, 59, 999_999, tzinfo=UTC)

BAND_CODE_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]+$")
"""Band codes become Parquet column names and attribute-like keys, so keep them plain."""


# --------------------------------------------------------------------------- bbox


def normalize_bbox(bbox: object) -> BBox | None:
    """Validate a bounding box and return it as a tuple of four floats.

    Accepts any non-string sequence of four real numbers (tuple, list, NumPy array).
    A bbox whose ``minx`` is greater than its ``maxx`` is accepted as crossing the
    antimeridian (e.g. ``(170, -10, -170, 10)`` spans 20 degrees around 180), as the STAC
    API spec and pystac-client allow; both longitudes must still lie in [-180, 180].
    Latitudes are never swapped: ``miny > maxy`` is always a mistake.

    Args:
        bbox: ``(minx, miny, maxx, maxy)`` in WGS84 degrees, or ``None`` for no filter.

    Returns:
        The bbox as floats, or ``None`` when ``bbox`` is ``None``.

    Raises:
        InvalidInputError: The bbox has the wrong shape, non-numeric or non-finite
            values, or coordinates outside WGS84.
    """
    if bbox is None:
        return None
    if isinstance(bbox, str | bytes | Mapping) or not hasattr(bbox, "__len__"):
        raise InvalidInputError(
            "bbox", bbox, "expected a sequence of four numbers (minx, miny, maxx, maxy)"
        )
    values = list(bbox)  # type: ignore[call-overload]  # any iterable with a length
    if len(values) != 4:
        raise InvalidInputError(
            "bbox", bbox, f"expected 4 numbers (minx, miny, maxx, maxy), got {len(values)}"
        )
    numbers: list[float] = []
    for value in values:
        # bool is an int subclass; True as a coordinate is always a bug.
        if isinstance(value, bool) or not isinstance(value, Real):
            raise InvalidInputError("bbox", bbox, f"{value!r} is not a number")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidInputError("bbox", bbox, f"{value!r} is not a finite number")
        numbers.append(number)
    minx, miny, maxx, maxy = numbers
    for name, lon in (("minx", minx), ("maxx", maxx)):
        if not -180.0 <= lon <= 180.0:
            raise InvalidInputError(
                "bbox", bbox, f"{name}={lon} is outside the longitude range [-180, 180]"
            )
    for name, lat in (("miny", miny), ("maxy", maxy)):
        if not -90.0 <= lat <= 90.0:
            raise InvalidInputError(
                "bbox", bbox, f"{name}={lat} is outside the latitude range [-90, 90]"
            )
    if miny > maxy:
        raise InvalidInputError("bbox", bbox, f"miny={miny} is greater than maxy={maxy}")
    return (minx, miny, maxx, maxy)


def crosses_antimeridian(bbox: BBox) -> bool:
    """Return whether a normalised bbox wraps around longitude 180."""
    return bbox[0] > bbox[2]


def split_antimeridian(bbox: BBox) -> tuple[BBox, ...]:
    """Split a bbox that crosses the antimeridian into its east and west parts.

    Servers and geometry libraries disagree on what ``minx > maxx`` means (some build
    the complementary box); two ordinary boxes mean the same thing everywhere.

    Returns:
        ``(bbox,)`` for an ordinary bbox, else ``((minx, miny, 180, maxy),
        (-180, miny, maxx, maxy))``.
    """
    minx, miny, maxx, maxy = bbox
    if not crosses_antimeridian(bbox):
        return (bbox,)
    return ((minx, miny, 180.0, maxy), (-180.0, miny, maxx, maxy))


# --------------------------------------------------------------------------- dates


def normalize_date_range(date_range: object) -> DateRange | None:
    """Validate a date range and return it as inclusive UTC datetimes.

    Each end may be:

    * a calendar string ``"YYYY"``, ``"YYYY-MM"`` or ``"YYYY-MM-DD"``: the start is the
      first instant of that period, the end the last one, so
      ``("2024-01-01", "2024-03-31")`` includes all of 31 March (UTC);
    * a full ISO 8601 datetime (``"2024-01-01T10:00:00Z"``, ``"...+02:00"``): used as is;
    * a ``datetime`` (naive ones are taken as UTC) or a ``date`` (whole day as above);
    * ``None``, ``""`` or ``".."``: an open end.

    A single ``"start/end"`` string, as STAC writes intervals, is accepted too.

    Args:
        date_range: ``(start, end)``, an interval string, or ``None`` for no filter.

    Returns:
        ``(start, end)`` as aware UTC datetimes (either may be ``None`` for an open end),
        or ``None`` when there is no time filter at all.

    Raises:
        InvalidInputError: Malformed values, a wrong number of ends, or start after end.
    """
    if date_range is None:
        return None
    ends: list[object]
    if isinstance(date_range, str):
        if date_range.count("/") != 1:
            raise InvalidInputError(
                "date_range",
                date_range,
                "expected a (start, end) pair or a 'start/end' interval string",
            )
        ends = list(date_range.split("/"))
    elif isinstance(date_range, tuple | list):
        ends = list(date_range)
    else:
        raise InvalidInputError(
            "date_range", date_range, "expected a (start, end) pair of dates or datetimes"
        )
    if len(ends) != 2:
        raise InvalidInputError(
            "date_range", date_range, f"expected exactly 2 values (start, end), got {len(ends)}"
        )
    start = _parse_date_end(ends[0], is_end=False, original=date_range)
    end = _parse_date_end(ends[1], is_end=True, original=date_range)
    if start is not None and end is not None and start > end:
        raise InvalidInputError(
            "date_range",
            date_range,
            f"start {start.isoformat()} is after end {end.isoformat()}",
        )
    if start is None and end is None:
        return None
    return (start, end)


def _parse_date_end(value: object, *, is_end: bool, original: object) -> datetime | None:
    """Turn one end of a date range into an aware UTC datetime (``None`` if open)."""
    if value is None:
        return None
    if isinstance(value, datetime):  # before date: datetime is a date subclass
        if value != value:  # noqa: PLR0124 - pandas' NaT, a datetime equal to nothing
            raise InvalidInputError(
                "date_range", original, "NaT is not a time; use None or '..' for an open end"
            )
        return _as_utc(value)
    if isinstance(value, date):
        return _day_bounds(value, is_end=is_end)
    if not isinstance(value, str):
        raise InvalidInputError(
            "date_range", original, f"{value!r} is not a date string, date or datetime"
        )
    text = value.strip()
    if text in _OPEN_END:
        return None
    try:
        if (calendar := _parse_calendar(text, is_end=is_end)) is not None:
            return calendar
        if _DATETIME.match(text):
            # Python 3.11's fromisoformat reads "Z", offsets and fractional seconds.
            return _as_utc(datetime.fromisoformat(text))
    except ValueError as err:
        raise InvalidInputError("date_range", original, f"{value!r}: {err}") from err
    raise InvalidInputError(
        "date_range",
        original,
        f"{value!r} is not an ISO date ('2024-01-31') or datetime ('2024-01-31T12:00:00Z')",
    )


def _parse_calendar(text: str, *, is_end: bool) -> datetime | None:
    """Read ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as the start or end of that period.

    Returns ``None`` when ``text`` is not one of these forms; raises ValueError for an
    impossible date such as ``2024-02-30``.
    """
    if match := _DAY.match(text):
        year, month, day = (int(group) for group in match.groups())
        return _day_bounds(date(year, month, day), is_end=is_end)
    if match := _YEAR_MONTH.match(text):
        year, month = (int(group) for group in match.groups())
        if not is_end:
            return _day_bounds(date(year, month, 1), is_end=False)
        if not 1 <= month <= 12:
            raise ValueError(f"month must be in 1..12, got {month}")
        next_month = date(year + month // 12, month % 12 + 1, 1)
        return _day_bounds(next_month - timedelta(days=1), is_end=True)
    if match := _YEAR.match(text):
        year = int(match.group(1))
        return _day_bounds(date(year, 12, 31) if is_end else date(year, 1, 1), is_end=is_end)
    return None


def _as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC, taking a naive datetime to already be UTC (as STAC does)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _day_bounds(day: date, *, is_end: bool) -> datetime:
    """Return the first (start) or last (end) instant of ``day`` in UTC."""
    if is_end:
        return datetime.combine(day, _END_OF_DAY)
    return datetime.combine(day, time(0, 0, tzinfo=UTC))


def to_stac_datetime(date_range: DateRange | None) -> str | None:
    """Format a normalised date range as a STAC ``datetime`` interval string.

    Whole seconds are written without a fraction, so the usual
    ``("2024-01-01", "2024-03-31")`` becomes
    ``"2024-01-01T00:00:00Z/2024-03-31T23:59:59.999999Z"``; open ends become ``".."``.

    Returns:
        The interval, or ``None`` when there is no time filter.
    """
    if date_range is None:
        return None
    start, end = date_range
    if start is None and end is None:
        return None
    return f"{_format_instant(start)}/{_format_instant(end)}"


def _format_instant(value: datetime | None) -> str:
    """Write one end of an interval in RFC 3339 UTC, or ``..`` when open."""
    if value is None:
        return ".."
    value = _as_utc(value)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(pattern)


# --------------------------------------------------------------------------- ids and query


def is_valid_band_code(code: object) -> bool:
    """Whether ``code`` is a non-empty string of letters, digits, ``_``, ``.`` or ``-``."""
    return isinstance(code, str) and BAND_CODE_PATTERN.fullmatch(code) is not None


def validate_collection_id(collection: object) -> str:
    """Check that a STAC collection id is a usable, non-empty string.

    The id becomes part of URLs (``/collections/{id}``) and of the cache key, so
    whitespace and URL delimiters are refused rather than silently escaped.

    Returns:
        The id unchanged.

    Raises:
        InvalidInputError: The id is not a string, is empty, or has forbidden characters.
    """
    if not isinstance(collection, str):
        raise InvalidInputError("collection", collection, "expected a collection id string")
    if not collection:
        raise InvalidInputError("collection", collection, "must not be empty")
    if bad := _COLLECTION_FORBIDDEN.search(collection):
        raise InvalidInputError(
            "collection",
            collection,
            f"contains {bad.group()!r}; collection ids may not contain whitespace or / ? # % \\",
        )
    return collection


def validate_query(query: object) -> Query | None:
    """Validate a STAC query-extension filter and return a normalised copy.

    The form is ``{property: {operator: value}}``, e.g. ``{"eo:cloud_cover": {"lt": 10}}``,
    with operators from :data:`QUERY_OPERATORS`. Values are checked against what each
    operator can mean (``in`` takes a list, ``startsWith`` a string, ``lt`` a number or
    string), so a typo fails here instead of as an opaque HTTP 400 or, worse, a filter the
    server silently ignores.

    Returns:
        A deep copy with tuples turned into lists (JSON arrays), or ``None`` when
        ``query`` is ``None`` or empty.

    Raises:
        InvalidInputError: With ``parameter="query"`` for any malformed part.
    """
    if query is None:
        return None
    if not isinstance(query, Mapping):
        raise InvalidInputError("query", query, "expected a dict of property -> {operator: value}")
    normalized: Query = {}
    for prop, condition in query.items():
        if not isinstance(prop, str) or not prop:
            raise InvalidInputError(
                "query", query, f"property names must be non-empty strings, got {prop!r}"
            )
        if not isinstance(condition, Mapping) or not condition:
            raise InvalidInputError(
                "query",
                query,
                f"{prop!r} must map to a non-empty dict of operator -> value, "
                f"e.g. {{'lt': 10}}; got {condition!r}",
            )
        ops: dict[str, Any] = {}
        for op, value in condition.items():
            ops[op] = _validate_operator(prop, op, value, query)
        normalized[prop] = ops
    return normalized or None


def _validate_operator(prop: str, op: object, value: object, query: object) -> Any:
    """Check one ``{op: value}`` pair of a query and return its JSON-ready value."""
    if op not in QUERY_OPERATORS:
        raise InvalidInputError(
            "query",
            query,
            f"unknown operator {op!r} for {prop!r}; use one of {sorted(QUERY_OPERATORS)}",
        )
    if op == "in":
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
            raise InvalidInputError(
                "query", query, f"{prop!r}: 'in' needs a list of values, got {value!r}"
            )
        value = list(value)
    elif op in _STRING_OPERATORS:
        if not isinstance(value, str):
            raise InvalidInputError(
                "query", query, f"{prop!r}: {op!r} needs a string, got {value!r}"
            )
    elif op in _ORDER_OPERATORS:
        if isinstance(value, bool) or not isinstance(value, Real | str):
            raise InvalidInputError(
                "query", query, f"{prop!r}: {op!r} needs a number or a string, got {value!r}"
            )
        if isinstance(value, Real) and not math.isfinite(float(value)):
            raise InvalidInputError(
                "query", query, f"{prop!r}: {op!r} needs a finite number, got {value!r}"
            )
    if isinstance(value, Real) and not isinstance(value, bool | int | float):
        # NumPy scalars: plain Python numbers serialise to JSON and hash in cache keys.
        value = int(value) if isinstance(value, Integral) else float(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            "query", query, f"{prop!r}: {op!r} value {value!r} is not JSON-serialisable"
        ) from err
    return value
