"""Progress bars for long work, quiet unless a person is watching.

A bar is shown when stderr is a terminal, unless ``RASTERET_PROGRESS=0`` (or tqdm's own
``TQDM_DISABLE=1``) says otherwise; ``RASTERET_PROGRESS=1`` forces bars on, e.g. in notebooks.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm.auto import tqdm


def progress_enabled() -> bool:
    """Whether progress bars should be drawn in this process."""
    setting = os.environ.get("RASTERET_PROGRESS", "").strip().lower()
    if setting in {"0", "false", "no", "off"}:
        return False
    if setting in {"1", "true", "yes", "on"}:
        return True
    if os.environ.get("TQDM_DISABLE", "").strip() not in {"", "0"}:
        return False
    return sys.stderr.isatty()


class ProgressBar:
    """A thin tqdm wrapper matching the ``update``/``set_total`` protocol of the stages.

    A bar nobody sees creates no tqdm object: tqdm's first bar sets up a
    multiprocessing lock (milliseconds), which a short read would pay for nothing.
    """

    def __init__(self, desc: str, *, unit: str, total: int | None = None) -> None:
        self._bar: Any = None
        if progress_enabled():
            self._bar = tqdm(desc=desc, unit=unit, total=total, leave=False, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        """Advance the bar by ``n`` units."""
        if self._bar is not None:
            self._bar.update(n)

    def set_total(self, total: int | None) -> None:
        """Set (or learn late) the total, e.g. when the STAC API reports ``matched``."""
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
