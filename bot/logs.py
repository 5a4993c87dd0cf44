"""Logging for every entry point: one format, to stderr, with secrets redacted from every record.

`LOG_FORMAT=text` (the default) is for people; `json` gives one JSON object a line for a log
collector. Either way a line written while a check runs carries that check's id.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from bot.engine.redaction import install_log_redaction, redact
from bot.engine.trace import current_check

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s:%(check)s %(message)s"


class _CheckId(logging.Filter):
    """Adds `check_id` (None outside a check) and `check` (" [check …]" or "") to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace = current_check()
        record.check_id = trace.id if trace is not None else None
        record.check = f" [check {trace.id}]" if trace is not None else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, check_id, and the error if any.

    The message is the record's, already redacted by `install_log_redaction`; an exception's
    text is redacted again here since a traceback quotes values from the code it went through.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        check_id = getattr(record, "check_id", None)
        if check_id is not None:
            entry["check_id"] = check_id
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["error"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Send logs to stderr and redact tokens and collection URLs, whatever logger writes them."""
    install_log_redaction()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_CheckId())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    numeric = logging.getLevelName(level)
    # httpx logs every request URL at INFO; redaction covers it, but it is noise for people.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, numeric))
    # slack_sdk's DEBUG lines carry whole response bodies, including what users typed into a
    # modal (a legacy token has no prefix for redaction to find): never below INFO.
    logging.getLogger("slack_sdk").setLevel(max(logging.INFO, numeric))
    # Alembic names each of its plugins at INFO on every start.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, numeric))
    # aiosqlite logs every database operation at DEBUG: noise, never needed.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, numeric))
