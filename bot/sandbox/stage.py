"""The whole product on loopback: the Ecwid sandbox, a stand-in for Slack's Web API, and the real
bot serving HTTP with Slack's request signing. The demo, the tests and the benchmarks share it."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from slack_bolt.async_app import AsyncApp

from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import SampleStore
from bot.sandbox.loopback import AppServer
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from bot.settings import Settings, load_settings
from bot.slack.app import create_app
from bot.slack.http_app import EVENTS_PATH, http_app
from bot.slack.services import BotServices
from handlers import ANSWER_LAYOUTS, register_all
from handlers.timed import KINDS


@dataclass
class Stage:
    """Everything running, and the handles to drive and observe it."""

    sandbox: EcwidSandbox
    slack: FakeSlack
    services: BotServices
    bot_url: str
    signing_secret: str
    http: httpx.AsyncClient
    app: AsyncApp
    """The Bolt app behind `bot_url`, for tests that dispatch signed requests in-process."""

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def user(
        self, user_id: str = "U0OWNER", name: str = "jane", *, enterprise_id: str | None = None
    ) -> SlackUser:
        """Someone using Slack (in an organisation the app is installed for as a whole, with
        `enterprise_id`); every user shares one HTTP client, closed with the stage."""
        return SlackUser(
            self.bot_url,
            self.signing_secret,
            self.slack,
            user_id=user_id,
            user_name=name,
            client=self.http,
            enterprise_id=enterprise_id,
        )


def standin_values(
    sandbox: EcwidSandbox,
    slack: FakeSlack | None = None,
    signing_secret: str | None = None,
    *,
    bot_token: str | None = None,
) -> dict[str, str]:
    """The settings, by name, that point the bot at the local stand-ins: the Ecwid sandbox and,
    when given, the Slack stand-in (with `bot_token`) and the secret Slack signs with. What the
    stage, the tests' in-process settings and a bot process's environment are all made from."""
    values = {"ecwid_api_url": sandbox.api_url, "collection_hosts": sandbox.collection_host}
    if slack is not None:
        values |= {
            "slack_api_url": slack.api_url,
            "slack_bot_token": bot_token or "xoxb-local-stage",
        }
    if signing_secret is not None:
        values["slack_signing_secret"] = signing_secret
    return values


def stage_settings(
    sandbox: EcwidSandbox,
    slack: FakeSlack | None = None,
    signing_secret: str | None = None,
    **overrides: object,
) -> Settings:
    """Settings pointing the bot at the local stand-ins (and at nothing from a local `.env`), a
    check's deadline 5 s; `overrides` by setting name."""
    values = standin_values(sandbox, slack, signing_secret) | {"check_timeout_s": 5.0}
    return load_settings(env_file=None, **(values | overrides))


@asynccontextmanager
async def running_stage(
    stores: Sequence[SampleStore] | None = None, *, latency_ms: float = 0, **settings: object
) -> AsyncIterator[Stage]:
    """Start the sandbox, the Slack stand-in and the bot; stop them in reverse order."""
    signing_secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="ecwid-connect-stage-") as data_dir:
        async with (
            EcwidSandbox(stores, latency_ms=latency_ms) as sandbox,
            FakeSlack() as slack,
            httpx.AsyncClient(timeout=10) as http,
        ):
            values = {"data_dir": data_dir} | settings
            services = BotServices(stage_settings(sandbox, slack, signing_secret, **values))
            app = create_app(
                services.settings, register_all, ANSWER_LAYOUTS, services=services, timed=KINDS
            )
            async with AppServer(http_app(app, services)) as server:
                url = f"{server.base_url}{EVENTS_PATH}"
                yield Stage(sandbox, slack, services, url, signing_secret, http, app)
