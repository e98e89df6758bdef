"""Optional dependencies: import them late, and say which extra installs them.

Plotting and file outputs need packages most users of the index never touch, so they
live in extras (``rasteret[plot]``, ``rasteret[io]``). A missing one should fail with
the command that fixes it, not a bare ``ModuleNotFoundError`` from deep inside.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rasteret.errors import RasteretError


class MissingDependencyError(RasteretError, ModuleNotFoundError):
    """An optional package a feature needs is not installed (the message names the extra)."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        self.module = module
        self.extra = extra
        self.feature = feature
        super().__init__(
            f"{feature} needs the optional package {module!r}: pip install 'rasteret[{extra}]'",
            name=module,
        )


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
