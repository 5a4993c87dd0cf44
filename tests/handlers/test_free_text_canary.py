"""The canary for what users type: secrets in an escalation's goal and note reach no triage post,
no reminder, no "Did it help?", no Slack call, no log line and no database row (timed work's
included)."""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.db.models import Base
from bot.sandbox.ecwid.stores import sample_stores
from handlers.blocks.reminders import FEEDBACK_STUCK_ACTION
from handlers.blocks.support import (
    ESCALATE_ACTION,
    GOAL_BLOCK,
    GOAL_INPUT,
    NOTE_BLOCK,
    NOTE_INPUT,
    RESOLVE_ACTION,
    TAKE_ACTION,
    URGENCY_BLOCK,
    URGENCY_INPUT,
)
from tests.handlers.test_bot import CHANNEL, check_via_modal, settle, thread_replies, url_values
from tests.stage import migrated_stage

SUPPORT = "C0SUPPORT"
LEGACY_TOKEN = "0123456789abcdefCANARYlegacy0123456789"
JSON_URL_PATH = "1003_CANARYjsonPATH.json"


async def test_secrets_typed_in_an_escalation_reach_nobody(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stores = sample_stores(seed="canary-free-text")
    with caplog.at_level(logging.DEBUG):
        async with migrated_stage(
            stores,
            support_channel_id=SUPPORT,
            credentials_key=Fernet.generate_key().decode(),
            escalation_response_targets="blocking=1s",
        ) as stage:
            stage.slack.set_channel_members(SUPPORT, ["UBOT", "U0AGENT"])
            own_token = stage.sandbox.store("revoked").token
            other_url = stage.sandbox.collection_url("connected")
            owner = stage.user("U0OWNER", "jane")
            root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "revoked"))
            (result,) = thread_replies(stage, root["ts"])
            since = len(stage.slack.calls)
            await owner.click_button(result, ESCALATE_ACTION, channel_id=CHANNEL)
            opened = await stage.slack.wait_for(lambda c: c.method == "views.open", since=since)
            await owner.submit_view(
                str(opened.response["view"]["id"]),
                {
                    GOAL_BLOCK: {GOAL_INPUT: f"Move everything; my old token is {LEGACY_TOKEN}"},
                    URGENCY_BLOCK: {URGENCY_INPUT: "blocking"},
                    NOTE_BLOCK: {
                        NOTE_INPUT: f"Tried {own_token} and {other_url}, also "
                        f"https://ecwid-api-playground.s3.amazonaws.com/{JSON_URL_PATH} and "
                        f"secure_CANARYsecureCANARY0123456789"
                    },
                },
            )
            await settle(stage)
            # Every message of the escalation's clock: a reminder, the owner's nudge, the
            # question after Resolved, and the support channel told of "Still stuck".
            await stage.slack.wait_for(lambda c: ":alarm_clock:" in str(c.args), timeout=20)
            posted = next(m for m in stage.slack.messages(SUPPORT) if "blocks" in m)
            agent = stage.user("U0AGENT", "agent")
            await agent.click_button(posted, TAKE_ACTION, channel_id=SUPPORT)
            await stage.slack.wait_for(lambda c: "four times" in str(c.args), timeout=20)
            current = next(m for m in stage.slack.messages(SUPPORT) if m["ts"] == posted["ts"])
            await agent.click_button(current, RESOLVE_ACTION, channel_id=SUPPORT)
            await settle(stage)
            question = thread_replies(stage, root["ts"])[-1]
            await owner.click_button(question, FEEDBACK_STUCK_ACTION, channel_id=CHANNEL)
            await stage.slack.wait_for(lambda c: "Reopened" in str(c.args), timeout=20)
            await settle(stage)
            triage = stage.slack.messages(SUPPORT)
            seen_by_slack = "\n".join(
                json.dumps(call.args, ensure_ascii=False)
                for call in stage.slack.calls
                if call.method != "views.submit"  # the user's own typing, Slack's to hold
            )
            rows = []
            async with stage.services.database.engine.connect() as connection:
                for table in Base.metadata.sorted_tables:
                    result_rows = await connection.execute(text(f"SELECT * FROM {table.name}"))
                    rows += [" ".join(str(value) for value in row) for row in result_rows]

    assert triage, "the escalation reached the support channel"
    assert "Tried" in json.dumps(triage), "the note is shown, redacted"
    everything = "\n".join([json.dumps(triage), seen_by_slack, caplog.text, *rows])
    for secret in (
        LEGACY_TOKEN,
        own_token,
        other_url,
        JSON_URL_PATH,
        "CANARYsecure",
        *(store.token for store in stores),
    ):
        assert secret not in everything, f"{secret!r} leaked"
