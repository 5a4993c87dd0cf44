"""The request gate: whether an HTTP request is a genuine, fresh Slack request worth dispatching.

The signature comes first, over the raw bytes: nothing is parsed, not even decoded, before it
holds. A signed body is then looked at only to see that the fields every listener relies on are
there; one that lacks them is acknowledged (Slack would retry an error) and logged, never
dispatched. Refusals are counted in the metrics and logged at most once per reason every
REJECTION_LOG_EVERY_S, so a flood of forged requests cannot flood the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.metrics import Metrics

logger = logging.getLogger(__name__)
MAX_TIMESTAMP_SKEW_S = 300
REJECTION_LOG_EVERY_S = 10.0


class RateLimitedLog:
    """At most one log line per reason every REJECTION_LOG_EVERY_S; the rest are counted."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, reason: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, float("-inf")) < REJECTION_LOG_EVERY_S:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last[reason] = now
        more = self._suppressed.pop(reason, 0)
        suffix = f" ({more} more like it since the last line)" if more else ""
        logger.warning(message + suffix, *args)


class RequestGate:
    """Lets through what Slack signed (with `signing_secret`; None lets every body through
    unsigned, for tests of what lies behind) and what a listener can act on."""

    def __init__(self, signing_secret: str | None, metrics: Metrics | None = None) -> None:
        self._secret = signing_secret.encode() if signing_secret else None
        self._metrics = metrics
        self._log = RateLimitedLog()

    def refusal(self, headers: Any, body: bytes, content_type: str) -> web.Response | None:
        """The answer to a request that may not pass (401/400 unsigned, 200 incomplete), or None."""
        if self._secret is not None:
            refused = verify_request(self._secret, headers, body)
            if refused is not None:
                status, reason = refused
                if self._metrics is not None:
                    self._metrics.rejected.labels(reason).inc()
                self._log.warning(reason, "refused a Slack request: %s", reason)
                return web.json_response({"ok": False, "error": reason}, status=status)
        why = incomplete(body, content_type)
        if why is not None:
            if self._metrics is not None:
                self._metrics.ignored.inc()
            self._log.warning("incomplete", "ignored a signed Slack request: %s", why)
            return web.Response(status=200)
        return None


def verify_request(signing_secret: bytes, headers: Any, body: bytes) -> tuple[int, str] | None:
    """Why the raw `body` is not a genuine, fresh Slack request (HTTP status, reason), or None.

    Looks only at the headers and the bytes. The signature is Slack's v0 scheme, as
    `slack_sdk.signature` computes it, but over the bytes (slack_sdk decodes the body first,
    which fails on non-UTF-8 bodies).
    """
    stamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not stamp or not signature:
        return 401, "unsigned"
    if not stamp.isascii() or not stamp.strip().isdigit() or len(stamp.strip()) > 12:
        return 400, "malformed_timestamp"
    if abs(time.time() - int(stamp)) > MAX_TIMESTAMP_SKEW_S:
        return 401, "stale_timestamp"
    if not signature.isascii():
        return 401, "bad_signature"
    base = b"v0:" + stamp.strip().encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return 401, "bad_signature"
    return None


def incomplete(body: bytes, content_type: str) -> str | None:
    """Why a signed body is not something the bot can act on, or None when it is.

    Slack sends a form (slash commands; interactions as a JSON `payload` field) or JSON (Events
    API). The fields every listener relies on must be there with the right types.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    if content_type == "application/json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return "not JSON"
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return "no type"
        if data["type"] == "url_verification":
            return None if isinstance(data.get("challenge"), str) else "no challenge"
        if data["type"] == "event_callback":
            event = data.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                return "no event"
            if not isinstance(data.get("team_id", ""), str):
                return "bad team_id"
            return None
        # Interactions come as a form's `payload`, never as a JSON body; Slack's own notices
        # (`app_rate_limited`) need no listener: acknowledged here, with a log line.
        return f"a JSON body of type {data['type'][:40]!r}"
    form = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
        except ValueError:
            return "payload is not JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return "payload has no type"
        user = payload.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return "payload has no user"
        team = payload.get("team")
        if team is not None and not isinstance(team, dict):
            return "payload has a bad team"
        for field in (
            "actions",
            "response_urls",
            "view",
            "channel",
            "container",
            "message",
            "state",
        ):
            expected = list if field in ("actions", "response_urls") else dict
            if field in payload and not isinstance(payload[field], expected):
                return f"payload has a bad {field}"
        if "view" in payload and not isinstance(payload["view"].get("type"), str):
            return "payload has a view without a type"  # Bolt reads it before any listener
        return None
    if "command" in form:
        for field in ("user_id", "team_id", "channel_id"):
            if not form.get(field):
                return f"command without {field}"
        return None
    if form.get("ssl_check"):
        return None
    return "neither a command, an interaction nor an event"
