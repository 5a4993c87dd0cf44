"""Logging for every entry point: one format, to stderr, with secrets redacted from every record."""

from __future__ import annotations

import logging
import sys

from bot.engine.redaction import install_log_redaction


def configure_logging(level: str = "INFO") -> None:
    """Send logs to stderr and redact tokens and collection URLs, whatever logger writes them."""
    install_log_redaction()
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    numeric = logging.getLevelName(level)
    # httpx logs every request URL at INFO; redaction covers it, but it is noise for people.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, numeric))
    # slack_sdk's DEBUG lines carry whole response bodies, including what users typed into a
    # modal (a legacy token has no prefix for redaction to find): never below INFO.
    logging.getLogger("slack_sdk").setLevel(max(logging.INFO, numeric))
    # aiosqlite logs every database operation at DEBUG: noise, never needed.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, numeric))
