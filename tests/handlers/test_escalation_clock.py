"""Escalations nobody forgets, in the running bot with targets of seconds: the due time on the
triage post, the reminders (at the target, at most once more, none after a first response, the
owner's private one), "Did it help?" and "Still stuck", and the team's numbers in the App Home
and /metrics. The timed work runs as in production (`handlers.timed`)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.db.escalations import EscalationState
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.stage import Stage
from handlers.blocks import support as support_blocks
from handlers.blocks.reminders import FEEDBACK_STUCK_ACTION, FEEDBACK_YES_ACTION
from tests.handlers.test_bot import CHANNEL, settle, text_of, thread_replies
from tests.handlers.test_follow_ups import until
from tests.handlers.test_support import AGENTS, SUPPORT, agent, click, escalate, triage_now
from tests.stage import migrated_stage

TARGET_S = 2
TARGETS = f"blocking={TARGET_S}s,normal={TARGET_S}s,low={TARGET_S}s"


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with migrated_stage(
        support_channel_id=SUPPORT,
        credentials_key=Fernet.generate_key().decode(),
        escalation_response_targets=TARGETS,
    ) as running:
        running.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS])
        yield running


def escalation_id(triage: dict[str, Any]) -> str:
    return next(
        str(element["value"])
        for block in triage["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    )


def reminders(stage: Stage, triage: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        message
        for message in stage.slack.messages(SUPPORT, triage["ts"])
        if message.get("thread_ts") == triage["ts"] and ":alarm_clock:" in message.get("text", "")
    ]


async def no_timed_work_left(stage: Stage, escalation: str) -> bool:
    return not await stage.services.timed_work.open_items(subjects=[escalation])


async def test_the_triage_post_shows_when_a_first_response_is_due(stage: Stage) -> None:
    _root, triage = await escalate(stage)

    due = re.search(r"<!date\^(\d+)\^\{date_short_pretty\} at \{time\}\|[^>]+>", text_of(triage))
    assert due is not None
    escalated = await stage.services.database.escalation(escalation_id(triage))
    assert escalated is not None
    assert escalated.response_due_at is not None
    assert int(due[1]) == int(escalated.response_due_at.timestamp())


async def test_nobody_takes_it_two_reminders_and_no_more(stage: Stage) -> None:
    root, triage = await escalate(stage)
    escalation = escalation_id(triage)

    await until(lambda: len(reminders(stage, triage)) >= 1)
    first = reminders(stage, triage)[0]["text"]
    assert "<!here>" in first  # blocking, and no support user group
    assert CATALOGUE[Diagnosis.TOKEN_INVALID].title in first  # the catalogue's title, not a code
    assert "revoked" not in first.lower().replace("_", " ").split("“")[0]
    assert "fake.slack.test/archives" in first  # the customer's thread
    await until(lambda: "overdue" in text_of(triage_now(stage, triage)))
    await until(lambda: no_timed_work_left(stage, escalation))
    await settle(stage)

    sent = reminders(stage, triage)
    assert len(sent) == 2
    assert "last reminder" in sent[1]["text"]
    record = await stage.services.database.escalation(escalation)
    assert record is not None
    assert record.reminders_sent == 2
    assert not any(":alarm_clock:" in text_of(m) for m in thread_replies(stage, root["ts"]))


async def test_a_taken_escalation_gets_no_reminder_and_its_owner_one_private_nudge(
    stage: Stage,
) -> None:
    _root, triage = await escalate(stage)
    escalation = escalation_id(triage)

    await click(stage, agent(stage), triage, support_blocks.TAKE_ACTION)
    dm = stage.slack.open_dm(AGENTS[0])
    await until(lambda: any("four times" in m.get("text", "") for m in stage.slack.messages(dm)))
    await until(lambda: no_timed_work_left(stage, escalation))
    await settle(stage)

    assert reminders(stage, triage) == []
    nudges = [m for m in stage.slack.messages(dm) if "four times" in m.get("text", "")]
    assert len(nudges) == 1
    assert "fake.slack.test/archives" in nudges[0]["text"]
    assert "answered in" in text_of(triage_now(stage, triage))


async def test_an_agents_reply_in_the_customers_thread_is_the_first_response(
    stage: Stage,
) -> None:
    root, triage = await escalate(stage)
    escalation = escalation_id(triage)

    await agent(stage).reply("Looking at it now", channel_id=CHANNEL, thread_ts=root["ts"])
    await until(lambda: no_timed_work_left(stage, escalation))
    await settle(stage)

    record = await stage.services.database.escalation(escalation)
    assert record is not None
    assert record.responded_by == AGENTS[0]
    assert record.state is EscalationState.OPEN
    assert reminders(stage, triage) == []


async def test_the_askers_own_reply_is_no_response(stage: Stage) -> None:
    root, triage = await escalate(stage)

    await stage.user("U0OWNER", "jane").reply("Any news?", channel_id=CHANNEL, thread_ts=root["ts"])
    await until(lambda: len(reminders(stage, triage)) >= 1)

    record = await stage.services.database.escalation(escalation_id(triage))
    assert record is not None
    assert record.responded_at is None


def feedback_question(stage: Stage, root: dict[str, Any]) -> dict[str, Any]:
    return next(
        m for m in thread_replies(stage, root["ts"]) if FEEDBACK_YES_ACTION in json.dumps(m)
    )


async def test_resolved_asks_did_it_help_and_only_the_asker_answers_once(stage: Stage) -> None:
    root, triage = await escalate(stage)
    await click(stage, agent(stage), triage, support_blocks.RESOLVE_ACTION)
    question = feedback_question(stage, root)
    owner, stranger = stage.user("U0OWNER", "jane"), stage.user("U0STRANGER", "sam")

    await stranger.click_button(question, FEEDBACK_YES_ACTION, channel_id=CHANNEL)
    await settle(stage)
    # A double click: both reach the bot before the question is replaced by the answer.
    await asyncio.gather(
        owner.click_button(question, FEEDBACK_YES_ACTION, channel_id=CHANNEL),
        owner.click_button(question, FEEDBACK_YES_ACTION, channel_id=CHANNEL),
    )
    await settle(stage)

    told_stranger = text_of(stage.slack.ephemerals(CHANNEL, "U0STRANGER"))
    assert "Only <@U0OWNER>" in told_stranger
    assert "already been answered" in text_of(stage.slack.ephemerals(CHANNEL, "U0OWNER"))
    record = await stage.services.database.escalation(escalation_id(triage))
    assert record is not None
    assert record.state is EscalationState.RESOLVED
    assert record.feedback is not None
    assert record.feedback.value == "yes"
    assert "says it works" in text_of(feedback_question_or_answer(stage, root, question))


def feedback_question_or_answer(
    stage: Stage, root: dict[str, Any], question: dict[str, Any]
) -> dict[str, Any]:
    return next(m for m in thread_replies(stage, root["ts"]) if m["ts"] == question["ts"])


async def test_still_stuck_reopens_and_the_clock_starts_again(stage: Stage) -> None:
    root, triage = await escalate(stage)
    await click(stage, agent(stage), triage, support_blocks.TAKE_ACTION)
    await click(stage, agent(stage), triage, support_blocks.RESOLVE_ACTION)
    question = feedback_question(stage, root)

    await stage.user("U0OWNER", "jane").click_button(
        question, FEEDBACK_STUCK_ACTION, channel_id=CHANNEL
    )
    await settle(stage)

    record = await stage.services.database.escalation(escalation_id(triage))
    assert record is not None
    assert record.state is EscalationState.OPEN
    assert record.reopenings == 1
    shown = text_of(triage_now(stage, triage))
    assert support_blocks.TAKE_ACTION in shown
    told = [m for m in stage.slack.messages(SUPPORT, triage["ts"]) if "Reopened" in text_of(m)]
    assert len(told) == 1
    (call,) = [c for c in stage.slack.calls_to("chat.postMessage") if "Reopened" in str(c.args)]
    assert call.args.get("reply_broadcast") in (True, "true", "1")  # the channel sees it too
    await until(lambda: len(reminders(stage, triage)) >= 1)


async def test_the_app_home_and_metrics_show_the_teams_numbers(stage: Stage) -> None:
    _root, overdue = await escalate(stage)
    _root, answered = await escalate(stage)
    await click(stage, agent(stage), answered, support_blocks.TAKE_ACTION)
    await click(stage, agent(stage), answered, support_blocks.RESOLVE_ACTION)
    await until(lambda: "overdue" in text_of(triage_now(stage, overdue)))

    await agent(stage).send_event({"type": "app_home_opened", "user": AGENTS[0], "tab": "home"})
    await settle(stage)
    home = json.dumps(stage.slack.calls_to("views.publish")[-1].args["view"], ensure_ascii=False)
    assert home.index("Overdue escalations (1)") < home.index("First response, median")
    assert "Resolution, median" in home
    assert "Answered “it works”" in home

    metrics_url = stage.bot_url.rsplit("/slack/", 1)[0] + "/metrics"
    async with httpx.AsyncClient() as http:
        exposition = (await http.get(metrics_url)).text
    assert "ecwid_connect_escalations_overdue 1.0" in exposition
    assert 'ecwid_connect_escalation_response_seconds_count{urgency="blocking"} 1.0' in exposition
    assert 'ecwid_connect_escalation_resolution_seconds_count{urgency="blocking"} 1.0' in exposition


async def test_history_shows_each_escalations_response_time(stage: Stage) -> None:
    _root, triage = await escalate(stage)
    await click(stage, agent(stage), triage, support_blocks.TAKE_ACTION)
    record = await stage.services.database.escalation(escalation_id(triage))
    assert record is not None
    assert record.store_id is not None

    answer = await agent(stage).slash_command(
        "/ecwid-connect", f"history {record.store_id}", channel_id=SUPPORT
    )
    await settle(stage)

    assert answer.status_code == 200
    shown = json.dumps([c.args for c in stage.slack.calls], ensure_ascii=False)
    assert "first response in" in shown


async def test_outside_support_hours_the_clock_waits_for_the_next_opening() -> None:
    # Open only on the day after tomorrow: nothing is due before that day's 09:00 (UTC).
    now = datetime.now(UTC)
    opening_day = now + timedelta(days=2)
    day = opening_day.strftime("%a")
    async with migrated_stage(
        support_channel_id=SUPPORT,
        escalation_response_targets=TARGETS,
        support_hours=f"{day} 09:00-10:00 UTC",
    ) as stage:
        stage.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS])
        _root, triage = await escalate(stage)
        escalation = escalation_id(triage)

        record = await stage.services.database.escalation(escalation)
        assert record is not None
        opens = datetime.combine(opening_day.date(), datetime.min.time(), UTC) + timedelta(hours=9)
        assert record.response_due_at == opens + timedelta(seconds=TARGET_S)
        (item,) = await stage.services.timed_work.open_items(subjects=[escalation])
        assert item.due_at == record.response_due_at
        assert "overdue" not in text_of(triage_now(stage, triage))
        assert reminders(stage, triage) == []
