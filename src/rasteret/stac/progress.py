"""What STAC searches report their progress to.

Apart from the searches themselves, so that naming the protocol (the build stage does)
does not import pystac-client.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ProgressLike"]


class ProgressLike(Protocol):
    """What search functions report progress to; the build stage adapts tqdm to it.

    Kept as a protocol so this package does not depend on any progress-bar library.
    """

    def update(self, n: int) -> None:
        """Add ``n`` newly received items (an increment, like ``tqdm.update``)."""

    def set_total(self, n: int) -> None:
        """Announce the total number of items expected, once the API reports it."""
