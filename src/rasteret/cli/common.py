"""What every command shares: exit codes, printing, and turning options into inputs.

Commands return plain JSON-ready dicts and let :func:`emit` print them, so ``--json``
output and the human-readable form can never drift apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from rasteret.errors import InputFileNotFoundError, InvalidInputError


class ExitCode(IntEnum):
    """Process exit statuses, documented in ``rasteret --help``."""

    OK = 0
    """Success."""
    UNEXPECTED = 1
    """A bug or an unforeseen failure (a traceback is printed with ``--verbose``)."""
    USAGE = 2
    """Bad command line or bad input (a file, a band, an option value, a missing extra)."""
    NOT_FOUND = 3
    """No such collection or dataset, a search that matched nothing, a missing file."""
    REMOTE = 4
    """A STAC API or object store failed (search, headers, pixels)."""


EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  unexpected error (use --verbose for the traceback)
  2  usage error or bad input (also: an output format whose optional extra is missing)
  3  not found: collection, dataset id, input file, or a search with no items
  4  remote failure: STAC API or object store could not be read
"""


def _default(value: Any) -> Any:
    """JSON fallback for dates, paths, tuples of numpy scalars and the like."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def to_json(value: Any) -> str:
    """Serialise a command's result (stable key order, for diffs and tests)."""
    return json.dumps(value, default=_default, indent=2)


def emit(args: argparse.Namespace, result: Any, text: str | None = None) -> None:
    """Print ``result`` as JSON with ``--json``, else ``text`` (or a key: value listing)."""
    if getattr(args, "json", False):
        print(to_json(result))
        return
    if text is None:
        text = _as_text(result)
    print(text)


def _as_text(result: Any, indent: str = "") -> str:
    if isinstance(result, dict):
        lines = []
        for key, value in result.items():
            if isinstance(value, dict) and value:
                lines.append(f"{indent}{key}:")
                lines.append(_as_text(value, indent + "  "))
            else:
                shown = json.loads(to_json(value)) if not isinstance(value, str) else value
                lines.append(f"{indent}{key}: {shown}")
        return "\n".join(lines)
    return f"{indent}{result}"


def input_file(parameter: str, value: str) -> Path:
    """An existing input file, else :class:`InputFileNotFoundError` naming the option.

    The error is rasteret's own (so ``--json`` reports its type and the parameter) and
    still a :class:`FileNotFoundError` (so the exit status stays 3, "not found").
    """
    path = Path(value).expanduser()
    if not path.is_file():
        raise InputFileNotFoundError(parameter, str(path), "no such file")
    return path


def read_aoi(args: argparse.Namespace) -> Any:
    """The AOI of ``--bbox`` (four numbers) or ``--geojson FILE`` (geometry/Feature/FC)."""
    if args.bbox is not None:
        return tuple(args.bbox)
    path = input_file("--geojson", args.geojson)
    try:
        return json.loads(path.read_text("utf-8"))
    except ValueError as err:
        raise InvalidInputError("--geojson", str(path), f"not JSON: {err}") from err


def parse_mapping(parameter: str, pairs: list[str] | None, value_type: type) -> dict[str, Any]:
    """``["B04=red", "B08=nir"]`` -> ``{"B04": "red", "B08": "nir"}`` (typed values)."""
    mapping: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise InvalidInputError(parameter, pair, "expected CODE=VALUE")
        try:
            mapping[key] = value_type(value)
        except ValueError as err:
            raise InvalidInputError(
                parameter, pair, f"value must be {value_type.__name__}"
            ) from err
    return mapping


def parse_json_option(parameter: str, text: str | None) -> Any:
    """A JSON-valued option such as ``--query '{"eo:cloud_cover": {"lt": 10}}'``."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as err:
        raise InvalidInputError(parameter, text, f"not JSON: {err}") from err


def warn(message: str) -> None:
    """A line for people on stderr (never mixed into ``--json`` stdout)."""
    print(message, file=sys.stderr)
