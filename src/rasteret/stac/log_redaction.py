"""Keep URL query strings out of the log records our HTTP libraries write.

pystac-client and pystac talk HTTP through requests and urllib3, which log the URLs they
fetch: urllib3 warns ``Retrying (Retry(total=3, ...)) after connection broken by ...:
/search?token=...&bbox=...`` and logs every request at DEBUG, and pystac-client logs each
prepared request. Query strings can carry secrets (signed tokens, API keys passed in a
STAC API URL), and those records go wherever the application's handlers send them.

:func:`install` attaches :class:`QueryRedactingFilter` to exactly the loggers that
write such records. It is called when :mod:`rasteret.stac` is imported, is idempotent,
and only rewrites records: it never drops one (a retry warning still says that a
retry happened, and where) and never configures handlers or levels, which remain the
application's business. A filter on a logger sees only that logger's own records
(not those of its children), hence the explicit list.
"""

from __future__ import annotations

import logging
from typing import Final

from rasteret.io.urls import redact_text

__all__ = ["REDACTED_LOGGERS", "QueryRedactingFilter", "install"]

REDACTED_LOGGERS: Final = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "pystac_client.stac_api_io",
    "pystac.stac_io",
)
"""Loggers that write request URLs (query included) during STAC searches and reads."""


class QueryRedactingFilter(logging.Filter):
    """Rewrite a record so its message (and traceback text) holds no URL query strings.

    The message is formatted once with its arguments, redacted with
    :func:`~rasteret.io.urls.redact_text` (the same helper the errors use), and stored
    without arguments, so no handler can format the secret back in later.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: redact what there is
            message = f"{record.msg} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info:
            # Tracebacks quote URLs too (e.g. a MaxRetryError); format them now, redacted.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def install() -> None:
    """Attach one :class:`QueryRedactingFilter` to each of :data:`REDACTED_LOGGERS`.

    Safe to call any number of times (from any import order): a logger that already has
    the filter is left alone.
    """
    for name in REDACTED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, QueryRedactingFilter) for f in target.filters):
            target.addFilter(QueryRedactingFilter())
