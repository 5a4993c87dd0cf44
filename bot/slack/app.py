"""Builds the Slack app from settings: the client with its retry handlers, and the listeners the
caller registers (`handlers.register_all`): this layer knows Bolt, never the listeners."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.redaction import install_log_redaction
from bot.settings import Settings
from bot.slack.services import SERVICES_KEY, BotServices, Resume

logger = logging.getLogger(__name__)

Register = Callable[[AsyncApp], None]
"""Adds every listener to the app: `handlers.register_all`. Listeners find the services in
their request's context (`services_of(context)`)."""


class MissingSlackCredentials(Exception):
    """The Slack tokens the chosen mode needs are not configured."""


def slack_client(settings: Settings) -> AsyncWebClient:
    """A Web API client that waits out 429s and retries server and connection errors."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url)
    client.retry_handlers.extend(
        [
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ]
    )
    return client


def require_credentials(settings: Settings, *, socket_mode: bool) -> None:
    """Fail early, in words, when a token the mode needs is missing."""
    missing = []
    if settings.slack_bot_token is None:
        missing.append(
            "SLACK_BOT_TOKEN (xoxb-…): your Slack app's page → OAuth & Permissions → "
            "Bot User OAuth Token, after installing the app to the workspace"
        )
    if not socket_mode and settings.slack_signing_secret is None:
        missing.append(
            "SLACK_SIGNING_SECRET: your Slack app's page → Basic Information → App Credentials "
            "(or set SLACK_APP_TOKEN to use Socket Mode instead)"
        )
    if missing:
        raise MissingSlackCredentials(
            "Missing Slack settings (put them in .env or the environment):\n  "
            + "\n  ".join(missing)
            + "\nSee README.md, 'Create the Slack app'."
        )


def create_app(
    settings: Settings,
    register: Register,
    client: AsyncWebClient | None = None,
    *,
    services: BotServices | None = None,
    resume: Resume | None = None,
) -> AsyncApp:
    """The bot: every listener `register` adds, on one `AsyncApp`; with `resume`
    (`handlers.recovery.resume`), the checks other processes left unanswered are finished."""
    install_log_redaction()
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    options: dict[str, Any] = {}
    if signing_secret is None:
        options["request_verification_enabled"] = False  # Socket Mode: no HTTP to verify
    app = AsyncApp(
        client=client or slack_client(settings),
        signing_secret=signing_secret,
        logger=logging.getLogger("slack_bolt"),
        **options,
    )
    shared = services or BotServices(settings)

    async def provide_services(
        context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> None:
        context[SERVICES_KEY] = shared
        await next()

    app.use(provide_services)
    register(app)
    if resume is not None:
        shared.resume_with(app.client, resume)
    return app
