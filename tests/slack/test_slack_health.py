"""`/ready` follows what Slack's answers say after start-up: a token Slack refuses (the app was
uninstalled, its token rotated) and a Slack unreachable for a minute make the bot not ready."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.stage import Stage
from bot.slack.app import slack_client
from bot.slack.health import SlackHealth
from bot.slack.http_app import EVENTS_PATH
from handlers.commands import COMMAND
from tests.stage import migrated_stage

CHANNEL = "C0READY"


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with migrated_stage() as running:
        # What `ecwid-connect serve` does before it listens: auth.test with the bot token.
        await running.services.authenticate(slack_client(running.settings))
        yield running


async def ready(stage: Stage) -> tuple[int, dict[str, object]]:
    base = stage.bot_url.removesuffix(EVENTS_PATH)
    response = await stage.http.get(f"{base}/ready")
    return response.status_code, response.json()


async def test_a_token_slack_refuses_after_start_makes_the_bot_not_ready(stage: Stage) -> None:
    user = stage.user()
    assert (await ready(stage))[0] == 200
    stage.slack.fail_next("chat.postMessage", error="token_revoked")

    await user.slash_command(COMMAND, "", channel_id=CHANNEL)  # the guide's post is refused
    await stage.services.tasks.drain(10)
    status, body = await ready(stage)

    assert status == 503
    assert body["slack"] == {"ok": False, "token_refused": "token_revoked", "team_id": "T0001"}

    await user.slash_command(COMMAND, "", channel_id=CHANNEL)  # Slack takes the token again
    await stage.services.tasks.drain(10)
    assert (await ready(stage))[0] == 200


def test_slack_is_unreachable_once_calls_only_failed_for_a_minute() -> None:
    now = [100.0]
    health = SlackHealth(clock=lambda: now[0], unreachable_after_s=60)
    health.failed()
    now[0] += 59
    assert health.snapshot() == {"ok": True, "failing_for_s": 59.0}
    health.failed()
    now[0] += 1
    assert health.snapshot() == {"ok": False, "failing_for_s": 60.0}

    health.answered("ratelimited")  # any answer shows Slack is there
    assert health.snapshot() == {"ok": True}


def test_an_error_about_something_else_does_not_clear_a_refused_token() -> None:
    health = SlackHealth()
    health.answered("invalid_auth")
    health.answered("channel_not_found")
    assert health.snapshot() == {"ok": False, "token_refused": "invalid_auth"}
    health.answered()
    assert health.snapshot() == {"ok": True}
