"""The ``rasteret`` command: argument parsing, logging set-up, errors to exit codes.

This is the only place in the package that configures logging. Every command
handler raises rasteret's own errors; :func:`exit_code_for` maps them onto the few
statuses scripts branch on, documented in ``rasteret --help``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from rasteret._version import __version__
from rasteret.cli.catalog_commands import add_build, add_collections, add_datasets
from rasteret.cli.common import EXIT_CODES_HELP, ExitCode, to_json
from rasteret.cli.pixel_commands import add_read, add_sample
from rasteret.errors import (
    BandMappingError,
    FetchError,
    InvalidInputError,
    MissingDependencyError,
    RasteretError,
    UnsupportedReadError,
)

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Index COG headers from STAC once into GeoParquet, then read satellite pixels fast.

examples:
  rasteret datasets list
  rasteret build earthsearch/sentinel-2-l2a --name bay-area \\
      --bbox -122.5 37.5 -122.0 38.0 --date-range 2024-01-01 2024-03-31
  rasteret collections info bay-area --json
  rasteret read bay-area --bbox -122.30 37.72 -122.28 37.74 --bands B04 B08 \\
      --out aoi.tif --quicklook aoi.png
  rasteret sample bay-area --points plots.csv --bands B04 B08 --out values.parquet

Every command takes --json (machine-readable stdout), --workspace DIR (default
$RASTERET_WORKSPACE or ~/rasteret_workspace) and -v. Progress bars are drawn only
when stderr is a terminal.
"""


def _common_options() -> argparse.ArgumentParser:
    """Options every command accepts, before or after its name.

    Defaults are suppressed so an option given before the command is not reset by
    the subcommand's parser; :func:`main` fills in the real defaults afterwards.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON to stdout"
    )
    common.add_argument(
        "--workspace",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="workspace of collections and user datasets",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log more (-vv for debug)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full parser (exposed for documentation and tests)."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="rasteret",
        description=DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"rasteret {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_datasets, add_build, add_collections, add_read, add_sample):
        add(commands, [common])
    return parser


def exit_code_for(err: BaseException) -> ExitCode:
    """The exit status of an error (see ``EXIT_CODES_HELP``)."""
    if isinstance(err, MissingDependencyError | BandMappingError | UnsupportedReadError):
        return ExitCode.USAGE
    if isinstance(err, InvalidInputError):
        # An unknown dataset id or a missing input file (InputFileNotFoundError) names a
        # parameter like any bad input, but scripts branch on "not found" for them.
        unknown_dataset = err.parameter == "dataset" and err.reason.startswith("unknown")
        missing_file = isinstance(err, FileNotFoundError)
        return ExitCode.NOT_FOUND if unknown_dataset or missing_file else ExitCode.USAGE
    if isinstance(err, FileNotFoundError | LookupError):  # incl. CollectionNotFound, NoItems
        return ExitCode.NOT_FOUND
    # FetchError is an OSError; rasteret's RuntimeErrors (search, build, stale source)
    # all mean the remote side did not cooperate.
    if isinstance(err, FetchError) or (
        isinstance(err, RasteretError) and isinstance(err, RuntimeError)
    ):
        return ExitCode.REMOTE
    if isinstance(err, RasteretError) and isinstance(err, ValueError):
        return ExitCode.USAGE  # e.g. IndexFormatError, TiffFormatError: a bad input file
    return ExitCode.UNEXPECTED


OPTION_OF: Final = {
    "geometries": "--bbox/--geojson",
    "points": "--points",
    "crs": "--crs",
    "overview": "--overview",
    "date_range": "--date-range",
    "bbox": "--bbox",
    "cloud_cover_lt": "--cloud-cover-lt",
    "bands": "--bands",
    "max_concurrent": "--max-concurrent",
    "target_crs": "--target-crs",
    "resolution": "--resolution",
    "resampling": "--resampling",
    "query": "--query",
    "band_map": "--band",
    "band_index_map": "--band-index",
    "stac_api": "--stac-api",
    "collection": "--collection",
    "data_source": "--data-source",
    "name": "--name",
}
"""The command-line option behind each Python parameter an error may name."""


def describe_error(err: BaseException) -> str:
    """The error as a command-line user reads it: options, not Python parameters."""
    if isinstance(err, InvalidInputError):
        option = OPTION_OF.get(err.parameter, err.parameter)
        if option.startswith("--"):
            return f"{option} {err.value!r}: {err.reason}"
    return str(err)


def _warning_line(command: str) -> Callable[..., None]:
    """Warnings as one line each on stderr, as the command's own, without source lines."""

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        print(f"rasteret {command}: warning: {message}", file=sys.stderr)

    return show


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (console script and ``python -m``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("json", False), ("workspace", None), ("verbose", 0)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.workspace is not None:
        args.workspace = Path(args.workspace).expanduser()
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], Any] = args.handler
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line(args.command)
            handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - every failure becomes an exit status
        code = exit_code_for(err)
        if code is ExitCode.UNEXPECTED or args.verbose >= 2:
            traceback.print_exc(file=sys.stderr)
        print(f"rasteret {args.command}: error: {describe_error(err)}", file=sys.stderr)
        if args.json:
            error: dict[str, Any] = {
                "type": type(err).__name__,
                "message": str(err),
                "exit_code": int(code),
            }
            if isinstance(err, InvalidInputError):
                error["parameter"] = OPTION_OF.get(err.parameter, err.parameter)
            print(to_json({"error": error}))
        return int(code)
    return int(ExitCode.OK)
