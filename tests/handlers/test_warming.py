"""Opening the paste modal warms the checker's connections: a check is likely seconds away."""

from __future__ import annotations

import pytest

from bot.sandbox.slack.user import SlackUser
from bot.sandbox.stage import Stage
from handlers.blocks import check as check_blocks
from tests.handlers.test_bot import guide_root, open_modal_from, settle


async def test_opening_the_modal_warms_the_checker_while_the_person_pastes(
    stage: Stage, owner: SlackUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = await guide_root(stage, owner)
    warmed: list[str] = []
    real_warm = stage.services.checker.warm

    async def warm() -> None:
        warmed.append("warm")
        await real_warm()

    monkeypatch.setattr(stage.services.checker, "warm", warm)
    await open_modal_from(stage, owner, root, check_blocks.OPEN_CHECK_MODAL_ACTION)
    await settle(stage)
    assert warmed == ["warm"]
    assert stage.sandbox.requests == []  # warming opens connections, sends no request
