"""Builds the Slack app from settings: the client with its retry handlers, and the listeners the
caller registers (`handlers.register_all`): this layer knows Bolt, never the listeners."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.redaction import install_log_redaction
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.delivery import repeats_guarded
from bot.slack.health import SlackHealth
from bot.slack.layouts import AnswerLayouts
from bot.slack.services import SERVICES_KEY, BotServices, TimedKind

logger = logging.getLogger(__name__)

Register = Callable[[AsyncApp], None]
"""Adds every listener to the app: `handlers.register_all`. Listeners find the services in
their request's context (`services_of(context)`)."""


class _CallCounter(AsyncRetryHandler):
    """Counts every Slack Web API answer by method and outcome; never asks for a retry.

    A retry handler, because Bolt gives each request a fresh client carrying only the
    original's retry handlers: this is the one place every call of the process passes.
    """

    def __init__(self, metrics: Metrics, health: SlackHealth | None = None) -> None:
        super().__init__(max_retry_count=0)
        self._metrics = metrics
        self._health = health

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0][:60]
        answered: str | None = None  # Slack's error, "" for ok; None: no usable answer
        if error is not None or response is None:
            outcome = "exception"
        elif response.status_code == 429:
            outcome = answered = "ratelimited"
        elif isinstance(response.body, dict):
            ok = response.body.get("ok")
            outcome = "ok" if ok else str(response.body.get("error") or "error")[:40]
            answered = "" if ok else outcome
        else:
            outcome = f"http_{response.status_code}"
            if response.status_code < 500:
                answered = outcome
        self._metrics.slack_calls.labels(method, outcome).inc()
        if self._health is not None:
            if answered is None:
                self._health.failed()
            else:
                self._health.answered(answered or None)
        return False


def _counted(handler: AsyncRetryHandler, metrics: Metrics | None, reason: str) -> AsyncRetryHandler:
    if metrics is None:
        return handler
    prepare = handler.prepare_for_next_attempt_async

    async def counted(**kwargs: Any) -> None:
        metrics.slack_retries.labels(reason).inc()
        await prepare(**kwargs)

    handler.prepare_for_next_attempt_async = counted  # type: ignore[method-assign]
    return handler


class _RepeatsUnlessGuarded(AsyncRetryHandler):
    """Leaves alone the calls whose repetition `bot.slack.delivery` looks after: repeated here
    after a dropped connection or a 5xx, a post Slack had applied would appear twice."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if repeats_guarded():
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class _ServerErrorRetries(_RepeatsUnlessGuarded, AsyncServerErrorRetryHandler):
    """slack_sdk's retries of 500 and 503, unless the call is guarded."""


class _ConnectionErrorRetries(_RepeatsUnlessGuarded, AsyncConnectionErrorRetryHandler):
    """slack_sdk's retries of dropped and reset connections, unless the call is guarded."""


def slack_client(
    settings: Settings, metrics: Metrics | None = None, health: SlackHealth | None = None
) -> AsyncWebClient:
    """A Web API client that waits out 429s and retries server and connection errors (not for
    a post whose repetition `deliver` guards); every answer is counted in `metrics` and judged
    in `health`."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    # Not slack_sdk's default handlers: its connection-error retry would repeat a guarded post.
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, retry_handlers=[])
    if metrics is not None:
        client.retry_handlers.append(_CallCounter(metrics, health))
    client.retry_handlers.extend(
        [
            _counted(AsyncRateLimitErrorRetryHandler(max_retry_count=2), metrics, "ratelimited"),
            _counted(_ServerErrorRetries(max_retry_count=2), metrics, "server_error"),
            _counted(_ConnectionErrorRetries(max_retry_count=2), metrics, "connection_error"),
        ]
    )
    return client


class MissingSlackCredentials(Exception):
    """The Slack tokens the chosen mode needs are missing, placeholders or malformed."""


SlackMode = Literal["socket", "http"]
_PLACEHOLDER = re.compile(r"\.\.\.|…|<|>|changeme|your[-_]", re.IGNORECASE)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9-]+")
_WHERE = {
    "SLACK_BOT_TOKEN": "your Slack app's page → OAuth & Permissions → Bot User OAuth Token "
    "(xoxb-…), after installing the app to the workspace",
    "SLACK_APP_TOKEN": "your Slack app's page → Basic Information → App-Level Tokens, with the "
    "connections:write scope (xapp-…)",
    "SLACK_SIGNING_SECRET": "your Slack app's page → Basic Information → App Credentials → "
    "Signing Secret",
}


def slack_mode(settings: Settings) -> tuple[SlackMode, str]:
    """The mode to serve in, and why: `SLACK_MODE` if set, else inferred from the tokens."""
    if settings.slack_mode is not None:
        return settings.slack_mode, "SLACK_MODE is set"
    if settings.slack_app_token is not None:
        return "socket", "SLACK_APP_TOKEN is set"
    if settings.slack_signing_secret is not None:
        return "http", "SLACK_SIGNING_SECRET is set and SLACK_APP_TOKEN is not"
    return "socket", "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set"


def require_credentials(settings: Settings) -> SlackMode:
    """The mode to serve in; raises, naming each variable, when a token it needs is wrong.

    A token is refused when it is missing, still the placeholder from `.env.example`, or not
    shaped like the token it should be. No message repeats a token's value.
    """
    mode, why = slack_mode(settings)
    problems: list[str] = []
    neither = settings.slack_mode is None and settings.slack_app_token is None
    neither = neither and settings.slack_signing_secret is None
    _check_token(problems, "SLACK_BOT_TOKEN", settings.slack_bot_token, "xoxb-")
    if neither:
        problems.append(
            "SLACK_APP_TOKEN is missing, which Socket Mode (the default) needs: "
            + _WHERE["SLACK_APP_TOKEN"]
            + ". For HTTP mode instead, set SLACK_MODE=http and SLACK_SIGNING_SECRET: "
            + _WHERE["SLACK_SIGNING_SECRET"]
            + "."
        )
    elif mode == "socket":
        _check_token(problems, "SLACK_APP_TOKEN", settings.slack_app_token, "xapp-")
    else:
        _check_token(problems, "SLACK_SIGNING_SECRET", settings.slack_signing_secret, "")
    if problems:
        label = "Socket Mode" if mode == "socket" else "HTTP mode"
        heading = (
            "Slack settings are not complete (put them in .env or the environment):"
            if neither
            else f"{label} ({why}) cannot start (put the settings in .env or the environment):"
        )
        raise MissingSlackCredentials(
            heading + "\n  " + "\n  ".join(problems) + "\nSee README.md, 'Create the Slack app'."
        )
    return mode


def _check_token(problems: list[str], name: str, value: SecretStr | None, prefix: str) -> None:
    text = value.get_secret_value().strip() if value is not None else ""
    if not text:
        problems.append(f"{name} is missing: {_WHERE[name]}")
    elif _PLACEHOLDER.search(text) or text == prefix:
        problems.append(f"{name} is still the placeholder from .env.example: {_WHERE[name]}")
    elif not text.startswith(prefix) or not _TOKEN_SHAPE.fullmatch(text):
        shape = f"start with {prefix} and hold" if prefix else "hold"
        problems.append(
            f"{name} is malformed (it should {shape} only letters, digits and dashes): "
            f"{_WHERE[name]}"
        )


class _SkipTokenWarning(logging.Filter):
    """Bolt warns that `token` is unused whenever SLACK_BOT_TOKEN is in the environment, even
    though the client it is given holds that very token: nothing for an operator to act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOGGER = logging.getLogger("slack_bolt")
_BOLT_LOGGER.addFilter(_SkipTokenWarning())


def create_app(
    settings: Settings,
    register: Register,
    layouts: AnswerLayouts,
    client: AsyncWebClient | None = None,
    *,
    services: BotServices | None = None,
    timed: Mapping[str, TimedKind] | None = None,
) -> AsyncApp:
    """The bot: every listener `register` adds, on one `AsyncApp`, answering in `layouts`
    (`handlers.ANSWER_LAYOUTS`); the checks other processes left unanswered are finished; with
    `timed` (`handlers.timed.KINDS`), timed work of those kinds is run as it comes due."""
    install_log_redaction()
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    options: dict[str, Any] = {}
    if signing_secret is None:
        options["request_verification_enabled"] = False  # Socket Mode: no HTTP to verify
    services = services or BotServices(settings)
    app = AsyncApp(
        # Named, Bolt does not walk the caller's stack (and read its source) to name the app.
        name="ecwid-connect",
        client=client or slack_client(settings, services.metrics, services.slack_health),
        signing_secret=signing_secret,
        logger=_BOLT_LOGGER,
        # Bolt answers Slack as soon as the listener returns, instead of looking for the ack
        # every 10 ms: every listener acks and leaves the work to `services.tasks`, whose work
        # starts once the answers in progress have left.
        process_before_response=True,
        **options,
    )

    async def provide_services(
        context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> None:
        context[SERVICES_KEY] = services
        await next()

    app.use(provide_services)
    services.keep_slack_connections(app.client)
    services.answer_with(app.client, layouts)
    register(app)
    if timed is not None:
        services.run_timed_work(app.client, timed)
    return app
