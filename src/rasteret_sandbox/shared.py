"""Where the project's read-only ``shared/`` folder (spec, test data) is.

It sits beside the repository. A checkout cloned elsewhere (CI clones into a temporary
folder) finds it beside the repository it was cloned from, read from git's ``origin``.
``$RASTERET_SHARED`` overrides both.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["shared_dir"]

_CHECKOUT = Path(__file__).resolve().parents[2]
"""This checkout's root (``src/rasteret_sandbox/shared.py`` is two levels down)."""


def shared_dir() -> Path:
    """The ``shared/`` folder.

    From ``$RASTERET_SHARED``, beside this checkout, or beside the local repository it
    was cloned from; the first candidate when none exists, so errors name that place.
    """
    env = os.environ.get("RASTERET_SHARED")
    if env:
        return Path(env)
    candidates = [_CHECKOUT.parent / "shared"]
    origin = _origin_checkout()
    if origin is not None:
        candidates.append(origin.parent / "shared")
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _origin_checkout() -> Path | None:
    """The local repository this checkout was cloned from, if ``origin`` is a path."""
    try:
        url = subprocess.run(
            ["git", "-C", str(_CHECKOUT), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(url.removeprefix("file://"))
    return path.resolve() if url and path.is_absolute() and path.is_dir() else None
