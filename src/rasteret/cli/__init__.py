"""The ``rasteret`` command line (``rasteret --help``; also ``python -m rasteret``).

Commands live in small modules by theme: :mod:`~rasteret.cli.catalog_commands`
(``build``, ``collections``, ``datasets``), :mod:`~rasteret.cli.pixel_commands`
(``read``, ``sample``), with file writers in :mod:`~rasteret.cli.writers`.
"""

from rasteret.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
