"""Every flow on an organisation-wide install (Enterprise Grid): Slack's payloads then say
`is_enterprise_install: true`, carry `enterprise`, and an interactive payload's `team` can be null
(docs/slack-facts: bolt-python #734, tests/scenario_tests_async/test_events_say_stream.py)."""

from __future__ import annotations

import pytest

from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.stage import Stage
from handlers.commands import COMMAND
from tests.handlers.test_bot import CHANNEL, check_via_modal, settle, text_of, url_values
from tests.handlers.test_workflow import step_checked

ORGANISATION = "E0ORG"


@pytest.fixture
def member(stage: Stage) -> SlackUser:
    """A store owner in a workspace of an organisation the app is installed for as a whole."""
    return stage.user("W0OWNER", "kim", enterprise_id=ORGANISATION)


async def test_the_slash_command_posts_the_guide_on_an_org_wide_install(
    stage: Stage, member: SlackUser
) -> None:
    response = await member.slash_command(COMMAND, "", channel_id=CHANNEL)
    await settle(stage)

    assert response.status_code == 200
    (guide,) = stage.slack.messages(CHANNEL)
    assert "Connect your Ecwid store" in text_of(guide)


async def test_the_button_and_the_modal_check_a_store_on_an_org_wide_install(
    stage: Stage, member: SlackUser
) -> None:
    root, answer, _ = await check_via_modal(stage, member, url_values(stage, "connected"))

    assert answer.status_code == 200
    assert answer.json()["response_action"] == "update"
    replies = [m for m in stage.slack.messages(CHANNEL, root["ts"]) if m["ts"] != root["ts"]]
    assert CATALOGUE[Diagnosis.OK].title in text_of(replies[-1])
    (record,) = await stage.services.database.checks_by_requester(member.user_id)
    assert record.destination.team == stage.slack.team_id  # the installation, never ""


async def test_a_paste_in_the_command_is_checked_on_an_org_wide_install(
    stage: Stage, member: SlackUser
) -> None:
    await member.slash_command(
        COMMAND, stage.sandbox.collection_url("free_plan"), channel_id=CHANNEL
    )
    await settle(stage)

    (root, reply) = stage.slack.messages(CHANNEL)
    assert reply["thread_ts"] == root["ts"]
    assert "plan_free" in text_of(reply)


async def test_the_workflow_step_completes_on_an_org_wide_install(
    stage: Stage, member: SlackUser
) -> None:
    execution, outputs = await step_checked(stage, member, "connected")

    assert outputs["connected"] is True
    row = await stage.services.steps.executions.get(execution.id)
    assert row is not None
    assert row.team == stage.slack.team_id
