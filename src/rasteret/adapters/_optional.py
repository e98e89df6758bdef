"""Optional dependencies: import them late, and say which extra installs them.

Plotting and file outputs need packages most users of the index never touch, so they
live in extras (``rasteret[plot]``, ``rasteret[io]``). A missing one should fail with
the command that fixes it, not a bare ``ModuleNotFoundError`` from deep inside.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rasteret.errors import MissingDependencyError

# MissingDependencyError is defined with the other errors in rasteret.errors; it stays
# importable from here for code written before it moved.
__all__ = ["MissingDependencyError", "require"]


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``.

    Args:
        module: Dotted module name, e.g. ``"matplotlib"``.
        extra: The rasteret extra that installs it, e.g. ``"plot"``.
        feature: What the user asked for, for the message (``"Collection.plot"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(module, extra, feature) from err
