"""Slack listeners, grouped by Slack feature; each group has one `register(app, services)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.services import BotServices
from handlers import actions, commands, events, home, shortcuts, support, views


def register_all(app: AsyncApp, services: BotServices) -> None:
    for group in (commands, actions, shortcuts, views, events, support, home):
        group.register(app, services)
