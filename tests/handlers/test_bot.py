"""The Slack bot end to end: the real app over HTTP on loopback, signed requests, the Slack fake
recording every Web API call, the Ecwid sandbox behind the checks."""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.db.models import Base
from bot.db.vault import new_key
from bot.engine.catalogue import CATALOGUE, PAID_PLAN_NAMES
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.stores import sample_stores
from bot.sandbox.slack.user import SlackUser, sign
from bot.sandbox.slack.workspace import SlackCall
from bot.sandbox.stage import Stage
from bot.slack import ladder
from handlers.blocks import check as check_blocks
from handlers.commands import COMMAND
from handlers.shortcuts import CHECK_SHORTCUT
from tests.conftest import PRODUCT_PACING
from tests.stage import migrated_stage

CHANNEL = "C0MIGRATE"
FREE_PLAN = CATALOGUE[Diagnosis.PLAN_FREE]


def posted(stage: Stage) -> list[SlackCall]:
    return [call for call in stage.slack.calls_to("chat.postMessage") if call.response.get("ok")]


def thread_replies(stage: Stage, thread_ts: str) -> list[dict[str, Any]]:
    return [
        message
        for message in stage.slack.messages(CHANNEL, thread_ts)
        if message.get("thread_ts") == thread_ts and message["ts"] != thread_ts
    ]


async def settle(stage: Stage) -> None:
    """Wait until the bot's background work (checks, replies, reactions) is done."""
    await stage.services.tasks.drain(10)


async def guide_root(stage: Stage, user: SlackUser) -> dict[str, Any]:
    """`/ecwid-connect` in CHANNEL; returns the guide message the bot posted."""
    response = await user.slash_command(COMMAND, "", channel_id=CHANNEL)
    assert response.status_code == 200
    await settle(stage)
    return stage.slack.messages(CHANNEL)[-1]


async def open_modal_from(
    stage: Stage, user: SlackUser, message: dict[str, Any], action: str
) -> str:
    since = len(stage.slack.calls)
    await user.click_button(message, action, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    assert opened.response["ok"], opened.response
    return str(opened.response["view"]["id"])


async def check_via_modal(
    stage: Stage, user: SlackUser, values: dict[str, dict[str, str]]
) -> tuple[dict[str, Any], httpx.Response, str]:
    """Guide → button → modal → submit. Returns the thread root, the submit's answer, the view."""
    root = await guide_root(stage, user)
    view_id = await open_modal_from(stage, user, root, check_blocks.OPEN_CHECK_MODAL_ACTION)
    answer = await user.submit_view(view_id, values)
    await settle(stage)
    return root, answer, view_id


def url_values(stage: Stage, key: str) -> dict[str, dict[str, str]]:
    return {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: stage.sandbox.collection_url(key)}}


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


# The slash command


async def test_slash_command_posts_the_guide_as_thread_root(stage: Stage, owner: SlackUser) -> None:
    root = await guide_root(stage, owner)

    assert "thread_ts" not in root
    assert "Connect your Ecwid store" in text_of(root)
    assert PAID_PLAN_NAMES in text_of(root)
    assert check_blocks.OPEN_CHECK_MODAL_ACTION in text_of(root)
    assert "https://api-playground.ecwid.com/" in text_of(root)


async def test_help_is_answered_privately_at_once(stage: Stage, owner: SlackUser) -> None:
    response = await owner.slash_command(COMMAND, "help", channel_id=CHANNEL)

    assert response.status_code == 200
    assert "Check Ecwid connection" in response.text
    await settle(stage)
    assert posted(stage) == []


async def test_url_given_to_the_command_is_checked_in_a_new_thread_and_never_echoed(
    stage: Stage, owner: SlackUser
) -> None:
    url = stage.sandbox.collection_url("connected")

    await owner.slash_command(COMMAND, url, channel_id=CHANNEL)
    await settle(stage)

    root, reply = stage.slack.messages(CHANNEL)
    assert reply["thread_ts"] == root["ts"]
    assert CATALOGUE[Diagnosis.OK].title in text_of(reply)
    assert "1,234" in text_of(reply)
    assert stage.slack.reactions(CHANNEL, root["ts"]) == {"white_check_mark"}
    assert all(url not in json.dumps(call.args) for call in stage.slack.calls)


async def test_malformed_paste_in_the_command_gets_a_private_specific_answer(
    stage: Stage, owner: SlackUser
) -> None:
    response = await owner.slash_command(
        COMMAND, "https://my.ecwid.com/cp/#products", channel_id=CHANNEL
    )

    assert "admin page" in response.text
    await settle(stage)
    assert posted(stage) == []
    assert stage.sandbox.requests == []


# The modal


async def test_connected_store_through_the_modal_answers_in_the_thread(
    stage: Stage, owner: SlackUser
) -> None:
    root, answer, view_id = await check_via_modal(stage, owner, url_values(stage, "connected"))

    assert answer.json()["response_action"] == "update"
    (reply,) = thread_replies(stage, root["ts"])
    assert CATALOGUE[Diagnosis.OK].title in text_of(reply)
    assert "Example Shop" in text_of(reply)
    assert "secret_…" in text_of(reply)
    assert CATALOGUE[Diagnosis.OK].title in text_of(stage.slack.views[view_id])
    assert stage.slack.reactions(CHANNEL, root["ts"]) == {"white_check_mark"}
    added = [call.args["name"] for call in stage.slack.calls_to("reactions.add")]
    assert added == ["eyes", "white_check_mark"]


async def test_the_modals_ladder_fills_in_as_the_steps_finish_and_ends_with_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Slack's own pacing here, not the tests' brisk one: the first update half a second after
    # the ack, then at most one a second. Every sandbox answer takes a second, as a slow
    # Ecwid's would: the check outlasts the first update whatever the machine's speed.
    for name, value in PRODUCT_PACING.items():
        monkeypatch.setattr(ladder, name, value)
    async with migrated_stage(latency_ms=1000) as stage:
        owner = stage.user("U0OWNER", "jane")
        since = len(stage.slack.calls)
        _root, _answer, view_id = await check_via_modal(
            stage, owner, url_values(stage, "connected")
        )

    updates = [
        call.args["view"]
        for call in stage.slack.calls[since:]
        if call.method == "views.update" and call.args.get("view_id") == view_id
    ]
    *progress, result = updates
    assert progress, "at least one update while the check ran"
    ack = next(c for c in stage.slack.calls[since:] if c.method == "ack" and "view" in c.args)
    times = [
        call.done_at
        for call in stage.slack.calls[since:]
        if call.method == "views.update" and call.args.get("view_id") == view_id
    ][: len(progress)]
    # The ack's view lands first; progress no oftener than Slack allows (a few ms of loopback
    # between the bot's clock and the stand-in's record aside).
    assert times[0] - ack.done_at >= 0.5 - 0.05
    assert all(b - a >= 1.0 - 0.05 for a, b in itertools.pairwise(times))
    assert all("Checking the connection" in text_of(view) for view in progress)
    assert ":white_check_mark: What was pasted" in text_of(progress[0])
    assert CATALOGUE[Diagnosis.OK].title in text_of(result), "the result comes last"


async def test_free_plan_store_is_told_to_upgrade(stage: Stage, owner: SlackUser) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))

    (reply,) = thread_replies(stage, root["ts"])
    assert FREE_PLAN.title in text_of(reply)
    assert PAID_PLAN_NAMES in text_of(reply)
    assert stage.slack.reactions(CHANNEL, root["ts"]) == {"warning"}


async def test_revoked_token_is_told_to_reconnect(stage: Stage, owner: SlackUser) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "revoked"))

    (reply,) = thread_replies(stage, root["ts"])
    assert CATALOGUE[Diagnosis.TOKEN_INVALID].title in text_of(reply)
    assert "Connect with Ecwid" in text_of(reply)


async def test_malformed_paste_gets_an_inline_error_and_no_check(
    stage: Stage, owner: SlackUser
) -> None:
    root, answer, view_id = await check_via_modal(
        stage,
        owner,
        {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: "https://api-playground.ecwid.com/"}},
    )

    body = answer.json()
    assert body["response_action"] == "errors"
    assert "API Playground page" in body["errors"][check_blocks.URL_BLOCK]
    assert thread_replies(stage, root["ts"]) == []
    assert stage.sandbox.requests == []
    assert stage.slack.views[view_id]["callback_id"]  # the modal stays open for a new paste


async def test_empty_modal_asks_for_the_url(stage: Stage, owner: SlackUser) -> None:
    _root, answer, _view = await check_via_modal(stage, owner, {})

    assert answer.json()["errors"][check_blocks.URL_BLOCK]


async def test_store_id_and_token_work_instead_of_the_url(stage: Stage, owner: SlackUser) -> None:
    store = stage.sandbox.store("connected")

    root, _answer, _view = await check_via_modal(
        stage,
        owner,
        {
            check_blocks.STORE_ID_BLOCK: {check_blocks.STORE_ID_INPUT: str(store.store_id)},
            check_blocks.TOKEN_BLOCK: {check_blocks.TOKEN_INPUT: store.token},
        },
    )

    (reply,) = thread_replies(stage, root["ts"])
    assert "Connected" in text_of(reply)
    assert store.token not in text_of(reply)


async def test_a_bad_store_id_is_flagged_under_its_own_field(
    stage: Stage, owner: SlackUser
) -> None:
    _root, answer, _view = await check_via_modal(
        stage,
        owner,
        {
            check_blocks.STORE_ID_BLOCK: {check_blocks.STORE_ID_INPUT: "my shop"},
            check_blocks.TOKEN_BLOCK: {check_blocks.TOKEN_INPUT: "secret_" + "a" * 32},
        },
    )

    assert set(answer.json()["errors"]) == {check_blocks.STORE_ID_BLOCK}


async def test_a_double_clicked_submit_runs_one_check(stage: Stage, owner: SlackUser) -> None:
    root = await guide_root(stage, owner)
    view_id = await open_modal_from(stage, owner, root, check_blocks.OPEN_CHECK_MODAL_ACTION)
    view = stage.slack.views[view_id]
    values = url_values(stage, "connected")
    await owner.submit_view(view_id, values)
    stage.slack.views[view_id] = view  # the second click was sent before Slack swapped the view
    await owner.submit_view(view_id, values)
    await settle(stage)

    downloads = [r for r in stage.sandbox.requests if r.path.endswith(".postman_collection")]
    assert len(downloads) == 1
    assert len(thread_replies(stage, root["ts"])) == 1


async def test_closing_the_modal_still_leaves_the_answer_in_the_thread(
    stage: Stage, owner: SlackUser
) -> None:
    root = await guide_root(stage, owner)
    view_id = await open_modal_from(stage, owner, root, check_blocks.OPEN_CHECK_MODAL_ACTION)
    await owner.submit_view(view_id, url_values(stage, "connected"))
    await owner.close_modal(view_id)
    await settle(stage)

    assert len(thread_replies(stage, root["ts"])) == 1
    assert stage.slack.calls_to("views.update")[-1].response["error"] == "not_found"


async def test_check_again_opens_the_modal_for_the_same_thread(
    stage: Stage, owner: SlackUser
) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "revoked"))
    (reply,) = thread_replies(stage, root["ts"])

    view_id = await open_modal_from(stage, owner, reply, check_blocks.CHECK_AGAIN_ACTION)
    await owner.submit_view(view_id, url_values(stage, "connected"))
    await settle(stage)

    replies = thread_replies(stage, root["ts"])
    assert len(replies) == 2
    assert "Connected" in text_of(replies[1])


# Support agents: message shortcut and mentions


async def test_message_shortcut_answers_in_that_messages_thread(stage: Stage) -> None:
    agent = stage.user("U0AGENT", "sam")
    escalation = stage.slack.post_user_message(CHANNEL, "U0OWNER", "My store can't be read")
    reply_in_thread = stage.slack.post_user_message(
        CHANNEL, "U0OWNER", "Still broken", thread_ts=escalation["ts"]
    )

    await agent.message_shortcut(CHECK_SHORTCUT, reply_in_thread, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open")
    view_id = str(opened.response["view"]["id"])
    await agent.submit_view(view_id, url_values(stage, "no_customer_scope"))
    await settle(stage)

    answers = [m for m in thread_replies(stage, escalation["ts"]) if m.get("bot_id")]
    assert len(answers) == 1
    assert "customers" in text_of(answers[0])
    assert "Checked for <@U0AGENT>" in text_of(answers[0])


async def test_a_mention_in_a_thread_gets_the_guide_there_once_despite_retries(
    stage: Stage,
) -> None:
    agent = stage.user("U0AGENT", "sam")
    thread = stage.slack.post_user_message(CHANNEL, "U0OWNER", "Help me connect")
    event = {
        "type": "app_mention",
        "user": "U0AGENT",
        "text": "<@UBOT> guide please",
        "ts": "1700000999.000100",
        "thread_ts": thread["ts"],
        "channel": CHANNEL,
    }

    first = await agent.send_event(event, event_id="Ev0001")
    retry = await agent.send_event(event, event_id="Ev0001", retry_num=1)
    await settle(stage)

    assert (first.status_code, retry.status_code) == (200, 200)
    guides = [m for m in thread_replies(stage, thread["ts"]) if m.get("bot_id")]
    assert len(guides) == 1
    assert "Connect your Ecwid store" in text_of(guides[0])


# Reliability


async def test_a_bad_signature_is_refused(stage: Stage) -> None:
    body = b"command=%2Fecwid-connect&text=&user_id=U1&channel_id=C1"
    headers = sign(body, "not-the-secret") | {"Content-Type": "application/x-www-form-urlencoded"}

    response = await stage.http.post(stage.bot_url, content=body, headers=headers)

    assert response.status_code == 401
    assert posted(stage) == []


async def test_where_the_bot_cannot_post_the_answer_goes_through_response_url(
    stage: Stage, owner: SlackUser
) -> None:
    stage.slack.set_channel_members(CHANNEL, ["U0OWNER"])  # a private channel without the bot

    await owner.slash_command(
        COMMAND, stage.sandbox.collection_url("connected"), channel_id=CHANNEL
    )
    await settle(stage)

    via_url = stage.slack.calls_to("response_url")
    assert len(via_url) == 2  # the thread root, then the result
    assert CATALOGUE[Diagnosis.OK].title in json.dumps(via_url[1].args, ensure_ascii=False)
    # In the channel, Slack would show the command, paste included, next to a public answer.
    assert {call.args["response_type"] for call in via_url} == {"ephemeral"}


async def test_the_guide_falls_back_to_a_public_answer(stage: Stage, owner: SlackUser) -> None:
    stage.slack.set_channel_members(CHANNEL, ["U0OWNER"])

    await owner.slash_command(COMMAND, "", channel_id=CHANNEL)
    await settle(stage)

    (via_url,) = stage.slack.calls_to("response_url")
    assert via_url.args["response_type"] == "in_channel"
    assert "Connect your Ecwid store" in json.dumps(via_url.args)


async def test_slack_rate_limits_are_waited_out(stage: Stage, owner: SlackUser) -> None:
    stage.slack.fail_next("chat.postMessage", status=429, retry_after=1)

    root = await guide_root(stage, owner)

    assert "Connect your Ecwid store" in text_of(root)
    assert [call.status for call in stage.slack.calls_to("chat.postMessage")] == [429, 200]


async def test_a_failure_after_the_ack_reaches_the_user_with_a_reference(
    stage: Stage, owner: SlackUser, caplog: pytest.LogCaptureFixture
) -> None:
    root = await guide_root(stage, owner)
    view_id = await open_modal_from(stage, owner, root, check_blocks.OPEN_CHECK_MODAL_ACTION)
    stage.slack.fail_next("chat.postMessage", error="fatal_error")

    with caplog.at_level(logging.ERROR):
        await owner.submit_view(view_id, url_values(stage, "connected"))
        await settle(stage)

    (reply,) = thread_replies(stage, root["ts"])
    assert "something went wrong on our side" in text_of(reply)
    reference = text_of(reply).split("reference `")[1].split("`")[0]
    assert reference in caplog.text
    assert "Traceback" not in text_of(reply)


async def test_health_answers(stage: Stage) -> None:
    response = await stage.http.get(stage.bot_url.replace("/slack/events", "/health"))

    assert response.json()["ok"] is True


# Secrets


async def test_canary_no_secret_reaches_slack_or_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    stores = sample_stores(seed="canary-slack")
    keys = [
        "connected",
        "free_plan",
        "revoked",
        "no_customer_scope",
        "public_token",
        "empty_collection",
        "token_echo",  # Ecwid's answers repeat the token: store name, URL, plan, error code
    ]
    with caplog.at_level(logging.DEBUG):
        async with migrated_stage(stores, credentials_key=new_key()) as stage:
            user = stage.user()
            for key in keys:
                await check_via_modal(stage, user, url_values(stage, key))
                await user.slash_command(
                    COMMAND, stage.sandbox.collection_url(key), channel_id=CHANNEL
                )
                await settle(stage)
            store = stage.sandbox.store("connected")
            await check_via_modal(
                stage,
                user,
                {
                    check_blocks.STORE_ID_BLOCK: {check_blocks.STORE_ID_INPUT: str(store.store_id)},
                    check_blocks.TOKEN_BLOCK: {check_blocks.TOKEN_INPUT: store.token},
                },
            )
            # What the bot sent. (Slack's own answers echo the modal's state: what the user typed
            # is Slack's to hold, never the bot's to repeat.)
            seen_by_slack = "\n".join(
                json.dumps(call.args, ensure_ascii=False) for call in stage.slack.calls
            )
            urls = [stage.sandbox.collection_url(key) for key in keys]
            # What the bot kept: every row of every table, the check journal's included.
            stored = ""
            async with stage.services.database.engine.connect() as connection:
                for table in Base.metadata.sorted_tables:
                    stored += repr((await connection.execute(sa.select(table))).all())

    assert CATALOGUE[Diagnosis.OK].title in seen_by_slack
    assert "pending_checks" in [table.name for table in Base.metadata.sorted_tables]
    everything = seen_by_slack + caplog.text + stored
    for store in stores:
        assert store.token not in everything
        assert store.collection_name not in everything
    for url in urls:
        assert url not in everything


async def test_background_work_that_fails_is_told_privately_with_a_reference(
    stage: Stage, owner: SlackUser, caplog: pytest.LogCaptureFixture
) -> None:
    stage.slack.fail_next("chat.postMessage", error="fatal_error")

    with caplog.at_level(logging.ERROR):
        await owner.slash_command(COMMAND, "", channel_id=CHANNEL)
        await settle(stage)

    (told,) = stage.slack.calls_to("response_url")
    assert told.args["response_type"] == "ephemeral"
    reference = str(told.args["text"]).split("reference `")[1].split("`")[0]
    assert reference in caplog.text


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("connected", CATALOGUE[Diagnosis.OK].title),
        ("free_plan", FREE_PLAN.title),
        ("revoked", CATALOGUE[Diagnosis.TOKEN_INVALID].title),
    ],
)
async def test_the_shortcut_answers_each_case_in_the_thread(
    stage: Stage, key: str, expected: str
) -> None:
    agent = stage.user("U0AGENT", "sam")
    message = stage.slack.post_user_message(CHANNEL, "U0OWNER", "Please check my store")
    await agent.message_shortcut(CHECK_SHORTCUT, message, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open")

    await agent.submit_view(str(opened.response["view"]["id"]), url_values(stage, key))
    await settle(stage)

    (answer,) = [m for m in thread_replies(stage, message["ts"]) if m.get("bot_id")]
    assert expected in text_of(answer)


async def test_the_shortcut_modal_refuses_a_malformed_paste_inline(stage: Stage) -> None:
    agent = stage.user("U0AGENT", "sam")
    message = stage.slack.post_user_message(CHANNEL, "U0OWNER", "Please check my store")
    await agent.message_shortcut(CHECK_SHORTCUT, message, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open")

    answer = await agent.submit_view(
        str(opened.response["view"]["id"]),
        {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: "https://my.ecwid.com/"}},
    )

    assert "admin page" in answer.json()["errors"][check_blocks.URL_BLOCK]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("free_plan", FREE_PLAN.title),
        ("revoked", CATALOGUE[Diagnosis.TOKEN_INVALID].title),
    ],
)
async def test_the_command_with_a_url_answers_each_case_in_its_thread(
    stage: Stage, owner: SlackUser, key: str, expected: str
) -> None:
    await owner.slash_command(COMMAND, stage.sandbox.collection_url(key), channel_id=CHANNEL)
    await settle(stage)

    root, reply = stage.slack.messages(CHANNEL)
    assert reply["thread_ts"] == root["ts"]
    assert expected in text_of(reply)
