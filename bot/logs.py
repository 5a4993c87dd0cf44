"""Logging for every entry point: one format, to stderr, with secrets redacted from every record."""

from __future__ import annotations

import logging
import sys

from bot.secrets import install_log_redaction


def configure_logging(level: str = "INFO") -> None:
    """Send logs to stderr and redact tokens and collection URLs, whatever logger writes them."""
    install_log_redaction()
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # httpx logs every request URL at INFO; redaction covers it, but it is noise for people.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
