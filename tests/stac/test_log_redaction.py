"""The log filter that keeps URL query strings (tokens) out of urllib3/pystac records."""

from __future__ import annotations

import logging

import pytest

import rasteret.stac  # noqa: F401 - importing it installs the filter
from rasteret.stac import log_redaction

SECRET = "sig=very-secret"


def test_installed_once_on_every_url_logging_logger() -> None:
    log_redaction.install()
    log_redaction.install()
    for name in log_redaction.REDACTED_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, log_redaction.QueryRedactingFilter) for f in filters) == 1


def test_message_args_and_traceback_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("urllib3.connectionpool")
    log.warning(
        "Retrying (%r) after connection broken by '%r': %s",
        "Retry(total=3)",
        None,
        f"/search?{SECRET}&bbox=1",
    )
    try:
        raise OSError(f"Max retries exceeded with url: /items?{SECRET}")
    except OSError:
        log.debug("failed", exc_info=True)
    assert SECRET not in caplog.text
    assert "Retrying ('Retry(total=3)')" in caplog.text and "/search?<redacted>" in caplog.text
    assert "/items?<redacted>" in caplog.text  # the traceback is kept, redacted
