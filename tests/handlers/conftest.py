"""The running product every listener test drives: the stage (sandbox, Slack stand-in, the bot
over signed HTTP) and a store owner using Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.slack.user import SlackUser
from bot.sandbox.stage import Stage
from tests.stage import migrated_stage


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with migrated_stage() as running:
        yield running


@pytest.fixture
def owner(stage: Stage) -> SlackUser:
    return stage.user("U0OWNER", "jane")
