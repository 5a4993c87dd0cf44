"""Slack as Slack behaves: real payloads and Web API refusals (tests/fixtures/slack, with their
sources) replayed through the running bot over signed HTTP, with the Slack stand-in modelling
what Slack does with them (threads-only channels, response_url threads, DMs)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.db.check_rows import CheckRecord
from bot.destination import EntryPoint
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.stores import sample_stores
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.stage import Stage
from handlers.blocks import check as check_blocks
from handlers.blocks import support as support_blocks
from handlers.commands import COMMAND
from handlers.shortcuts import CHECK_SHORTCUT
from tests.handlers.test_bot import settle, text_of, url_values
from tests.handlers.test_support import AGENTS, SUPPORT, click, escalate
from tests.paths import FIXTURES
from tests.stage import migrated_stage

SHAPES = FIXTURES / "slack"
GUIDE = "Connect your Ecwid store"
SOMETHING_WRONG = "something went wrong"


def shape(name: str) -> dict[str, Any]:
    loaded = json.loads((SHAPES / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


WEB_API_ERRORS = shape("web_api_errors.json")
POST_REFUSALS = sorted(WEB_API_ERRORS["chat.postMessage"])
MEMBERS_REFUSALS = sorted(WEB_API_ERRORS["conversations.members"])


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with migrated_stage() as running:
        yield running


def bot_messages(stage: Stage, channel: str) -> list[dict[str, Any]]:
    return [m for m in stage.slack.messages(channel) if m.get("bot_id")]


def everything_sent(stage: Stage) -> str:
    return "\n".join(json.dumps(call.args, ensure_ascii=False) for call in stage.slack.calls)


async def own_checks(stage: Stage, user: str) -> list[CheckRecord]:
    return await stage.services.database.checks_by_requester(user, limit=10)


def click_on(stage: Stage, payload: dict[str, Any], user: str, action_id: str) -> dict[str, Any]:
    """`payload` (a recorded click) on the bot's button `action_id`, with the trigger_id and
    response_url the stand-in mints for this interaction."""
    clicked = copy.deepcopy(payload)
    channel = clicked["container"]["channel_id"]
    thread = clicked["container"].get("thread_ts")
    clicked["actions"][0]["action_id"] = action_id
    clicked["trigger_id"] = stage.slack.issue_trigger_id(user)
    clicked["response_url"] = stage.slack.new_response_url(
        channel=channel, user=user, message_ts=clicked["container"]["message_ts"]
    )
    assert thread is None or isinstance(thread, str)
    return clicked


async def opened_view(stage: Stage, since: int) -> str:
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    assert opened.response["ok"], opened.response
    return str(opened.response["view"]["id"])


# Mentions, and their edits


async def test_a_mention_gets_the_guide_in_its_thread_and_its_edit_nothing_more(
    stage: Stage,
) -> None:
    mention, edited = shape("app_mention.json"), shape("app_mention_edited.json")
    author = stage.user(mention["event"]["user"], "kaz")

    first = await author.send_event_body(mention)
    await settle(stage)
    again = await author.send_event_body(edited)  # a new event_id: not a retry
    await settle(stage)

    assert (first.status_code, again.status_code) == (200, 200)
    (guide,) = bot_messages(stage, "C111")
    assert GUIDE in text_of(guide)
    assert guide["thread_ts"] == mention["event"]["ts"]


async def test_editing_a_mention_in_slack_posts_no_second_guide(stage: Stage) -> None:
    agent = stage.user("U0AGENT", "sam")
    thread = stage.slack.post_user_message("C0HELP", "U0OWNER", "Help me connect")

    await agent.mention("guide please", channel_id="C0HELP", thread_ts=thread["ts"])
    await settle(stage)
    mention = stage.slack.messages("C0HELP")[1]
    await agent.edit_mention(mention, "the guide, please", channel_id="C0HELP")
    await settle(stage)

    assert len(bot_messages(stage, "C0HELP")) == 1


# Posting refused: every documented refusal is answered, never "something went wrong"


@pytest.mark.parametrize("refusal", POST_REFUSALS)
async def test_a_refused_post_after_a_command_answers_through_response_url(
    stage: Stage, refusal: str
) -> None:
    owner = stage.user()
    stage.slack.fail_next(
        "chat.postMessage", response=WEB_API_ERRORS["chat.postMessage"][refusal], times=2
    )

    await owner.slash_command(COMMAND, stage.sandbox.collection_url("connected"), channel_id="C1")
    await settle(stage)

    answers = [json.dumps(call.args) for call in stage.slack.calls_to("response_url")]
    assert any(CATALOGUE[Diagnosis.OK].title in answer for answer in answers)
    assert SOMETHING_WRONG not in everything_sent(stage)


@pytest.mark.parametrize("refusal", POST_REFUSALS)
async def test_a_refused_post_without_response_url_is_told_privately_in_words(
    stage: Stage, refusal: str
) -> None:
    mention = shape("app_mention.json")
    author = stage.user(mention["event"]["user"], "kaz")
    stage.slack.fail_next("chat.postMessage", response=WEB_API_ERRORS["chat.postMessage"][refusal])

    await author.send_event_body(mention)
    await settle(stage)

    (private,) = stage.slack.ephemerals("C111", author.user_id)
    assert private["thread_ts"] == mention["event"]["ts"]
    assert GUIDE in text_of(private)
    assert "Only you can see this" in text_of(private)
    assert SOMETHING_WRONG not in everything_sent(stage)


async def test_where_even_an_ephemeral_is_refused_the_dm_says_why(stage: Stage) -> None:
    owner = stage.user("U0OWNER", "jane")
    stage.slack.set_channel_members("C0GONE", ["U0OWNER"])  # the bot was removed
    thread = stage.slack.post_user_message("C0GONE", "U0OWNER", "Help")

    await owner.mention("guide", channel_id="C0GONE", thread_ts=thread["ts"])
    await settle(stage)

    (dm,) = [c for c in stage.slack.calls_to("chat.postMessage") if c.args["channel"] == "U0OWNER"]
    assert dm.response["ok"]
    assert "I am not a member of <#C0GONE>" in json.dumps(dm.args)
    assert GUIDE in json.dumps(dm.args)


async def test_in_a_threads_only_channel_a_mention_is_answered_in_its_thread(
    stage: Stage,
) -> None:
    stage.slack.set_posting_policy("C0THREADS", "threads_only")
    owner = stage.user()
    thread = stage.slack.post_user_message("C0THREADS", owner.user_id, "How do I connect?")

    await owner.mention("help", channel_id="C0THREADS", thread_ts=thread["ts"])
    await settle(stage)

    (guide,) = bot_messages(stage, "C0THREADS")
    assert guide["thread_ts"] == thread["ts"]


async def test_in_a_threads_only_channel_the_command_answers_privately(stage: Stage) -> None:
    stage.slack.set_posting_policy("C0THREADS", "threads_only")
    owner = stage.user()

    await owner.slash_command(COMMAND, "", channel_id="C0THREADS")
    await settle(stage)

    refused = stage.slack.calls_to("chat.postMessage")[0].response
    assert refused["error"] == "restricted_action_thread_only_channel"
    (via_url,) = stage.slack.calls_to("response_url")
    # A public answer there would be a top-level post, refused the same way.
    assert via_url.args["response_type"] == "ephemeral"
    assert via_url.response["ok"]
    assert GUIDE in text_of(stage.slack.ephemerals("C0THREADS", owner.user_id)[0])


# Threads kept: response_url answers, and clicks on an ephemeral message in a thread


async def test_a_response_url_answer_stays_in_the_thread(stage: Stage) -> None:
    agent = stage.user("U0AGENT", "sam")
    stage.slack.set_channel_members("C0PRIVATE", ["U0OWNER", "U0AGENT"])  # no bot
    root = stage.slack.post_user_message("C0PRIVATE", "U0OWNER", "My store can't be read")
    reply = stage.slack.post_user_message("C0PRIVATE", "U0OWNER", "Still", thread_ts=root["ts"])

    since = len(stage.slack.calls)
    await agent.message_shortcut(CHECK_SHORTCUT, reply, channel_id="C0PRIVATE")
    await agent.submit_view(await opened_view(stage, since), url_values(stage, "connected"))
    await settle(stage)

    (via_url,) = stage.slack.calls_to("response_url")
    assert via_url.args["thread_ts"] == root["ts"]
    (answer,) = bot_messages(stage, "C0PRIVATE")
    assert answer["thread_ts"] == root["ts"]
    assert CATALOGUE[Diagnosis.OK].title in text_of(answer)


async def test_a_click_on_an_ephemeral_message_in_a_thread_answers_in_that_thread(
    stage: Stage,
) -> None:
    click_shape = shape("block_actions_ephemeral_in_thread.json")
    clicker = stage.user(click_shape["user"]["id"], "primary-owner")
    thread_ts = click_shape["container"]["thread_ts"]

    since = len(stage.slack.calls)
    await clicker.send_payload(
        click_on(stage, click_shape, clicker.user_id, check_blocks.OPEN_CHECK_MODAL_ACTION)
    )
    await clicker.submit_view(await opened_view(stage, since), url_values(stage, "connected"))
    await settle(stage)

    (answer,) = bot_messages(stage, "C111")
    assert answer["thread_ts"] == thread_ts
    assert CATALOGUE[Diagnosis.OK].title in text_of(answer)


async def test_a_read_only_channel_keeps_the_whole_flow_private_and_in_the_thread(
    stage: Stage,
) -> None:
    """The guide cannot be posted, so it comes as an ephemeral in the thread; its button's
    click (on an ephemeral, in a thread) answers privately in that thread too."""
    stage.slack.set_posting_policy("C0NEWS", "read_only")
    owner = stage.user()
    thread = stage.slack.post_user_message("C0NEWS", owner.user_id, "Help")
    await owner.mention("guide", channel_id="C0NEWS", thread_ts=thread["ts"])
    await settle(stage)
    (guide,) = stage.slack.ephemerals("C0NEWS", owner.user_id)

    since = len(stage.slack.calls)
    await owner.click_button(guide, check_blocks.OPEN_CHECK_MODAL_ACTION)
    await owner.submit_view(await opened_view(stage, since), url_values(stage, "connected"))
    await settle(stage)

    answer = stage.slack.ephemerals("C0NEWS", owner.user_id)[-1]
    assert answer["thread_ts"] == thread["ts"]
    assert CATALOGUE[Diagnosis.OK].title in text_of(answer)
    assert bot_messages(stage, "C0NEWS") == []
    assert SOMETHING_WRONG not in everything_sent(stage)


# Slack Connect: the installing workspace is recorded, not the clicker's organisation


async def test_a_slack_connect_click_records_the_installing_workspace(stage: Stage) -> None:
    click_shape = shape("block_actions_slack_connect.json")
    other_side = click_shape["user"]["team_id"]
    clicker = SlackUser(
        stage.bot_url,
        stage.signing_secret,
        stage.slack,
        user_id=click_shape["user"]["id"],
        user_name="kaz",
        team_id=other_side,
        client=stage.http,
    )

    since = len(stage.slack.calls)
    await clicker.send_payload(
        click_on(stage, click_shape, clicker.user_id, check_blocks.OPEN_CHECK_MODAL_ACTION)
    )
    await clicker.submit_view(await opened_view(stage, since), url_values(stage, "connected"))
    await settle(stage)

    (check,) = await own_checks(stage, clicker.user_id)
    assert check.destination.team == stage.slack.team_id != other_side
    assert check.destination.thread_ts == click_shape["container"]["message_ts"]


# Direct messages


async def test_a_collection_url_sent_in_a_dm_is_checked_in_its_thread(stage: Stage) -> None:
    dm = shape("message_im.json")
    url = stage.sandbox.collection_url("connected")
    dm["event"]["text"] = f"<{url}>"  # Slack sends a pasted link wrapped in <…>
    writer = stage.user(dm["event"]["user"], "writer")

    response = await writer.send_event_body(dm)
    await settle(stage)

    assert response.status_code == 200
    result, note = bot_messages(stage, "D111")
    assert result["thread_ts"] == note["thread_ts"] == dm["event"]["ts"]
    assert CATALOGUE[Diagnosis.OK].title in text_of(result)
    assert "direct messages" in text_of(note)
    assert "disconnect the API Playground app" in text_of(note)
    assert stage.slack.reactions("D111", dm["event"]["ts"]) == {"white_check_mark"}
    assert url not in everything_sent(stage)
    (check,) = await own_checks(stage, writer.user_id)
    assert check.destination.entry is EntryPoint.DM
    assert check.destination.team == stage.slack.team_id  # not the payload's T111


async def test_a_dm_in_a_thread_is_answered_in_that_thread(stage: Stage) -> None:
    dm = shape("message_im_in_thread.json")
    store = stage.sandbox.store("revoked")
    dm["event"]["text"] = f"{store.store_id} {store.token}"
    writer = stage.user(dm["event"]["user"], "writer")

    await writer.send_event_body(dm)
    await settle(stage)

    result, note = bot_messages(stage, "D111")
    assert result["thread_ts"] == dm["event"]["thread_ts"]
    assert CATALOGUE[Diagnosis.TOKEN_INVALID].title in text_of(result)
    assert "Store ID and token" in text_of(note)
    assert store.token not in everything_sent(stage)


async def test_anything_else_in_a_dm_gets_the_guide_and_no_check(stage: Stage) -> None:
    dm = shape("message_im.json")
    writer = stage.user(dm["event"]["user"], "writer")

    await writer.send_event_body(dm)  # "When Slack was released?"
    await settle(stage)

    (guide,) = bot_messages(stage, "D111")
    assert GUIDE in text_of(guide)
    assert "send me the URL right here" in text_of(guide)
    assert check_blocks.OPEN_CHECK_MODAL_ACTION in text_of(guide)
    assert stage.sandbox.requests == []


async def test_a_wrong_paste_in_a_dm_says_what_is_wrong_with_the_guide(stage: Stage) -> None:
    owner = stage.user()

    await owner.send_dm("<https://my.ecwid.com/cp/#products>")
    await settle(stage)

    (answer,) = bot_messages(stage, stage.slack.open_dm(owner.user_id))
    assert "admin page" in text_of(answer)
    assert GUIDE in text_of(answer)
    assert stage.sandbox.requests == []


@pytest.mark.parametrize("name", ["message_im_changed.json", "message_im_bot.json"])
async def test_edits_and_bot_messages_in_a_dm_are_ignored(stage: Stage, name: str) -> None:
    event = shape(name)
    sender = stage.user("W222", "writer")

    response = await sender.send_event_body(event)
    await settle(stage)

    assert response.status_code == 200  # acknowledged, or Slack would count a failure
    assert stage.slack.calls_to("chat.postMessage") == []


async def test_the_bots_own_dm_messages_are_ignored(stage: Stage) -> None:
    dm = shape("message_im.json")
    dm["event"].update(user=stage.slack.bot_user_id, bot_id="B0001", text="Connect your store")
    sender = stage.user("W222", "writer")

    await sender.send_event_body(dm)
    await settle(stage)

    assert stage.slack.calls_to("chat.postMessage") == []


async def test_a_dm_retried_or_delivered_twice_is_answered_once(stage: Stage) -> None:
    dm = shape("message_im.json")
    writer = stage.user(dm["event"]["user"], "writer")
    again = copy.deepcopy(dm)
    again["event_id"] = "Ev222DUPLICATE"  # the same message (client_msg_id), another event

    await writer.send_event_body(dm)
    await writer.send_event_body(dm, retry_num=1)
    await writer.send_event_body(again)
    await settle(stage)

    assert len(bot_messages(stage, "D111")) == 1


async def test_a_dm_through_the_messages_tab_is_checked(stage: Stage) -> None:
    owner = stage.user()

    await owner.send_dm(stage.sandbox.collection_url("free_plan"))
    await settle(stage)

    result = bot_messages(stage, stage.slack.open_dm(owner.user_id))[0]
    assert CATALOGUE[Diagnosis.PLAN_FREE].title in text_of(result)


# The support channel's members cannot be read


@pytest.fixture
async def support_stage() -> AsyncIterator[Stage]:
    async with migrated_stage(support_channel_id=SUPPORT) as running:
        running.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS])
        yield running


def refuse_members(stage: Stage, refusal: str = "channel_not_found") -> None:
    stage.slack.fail_next(
        "conversations.members", response=WEB_API_ERRORS["conversations.members"][refusal]
    )


@pytest.mark.parametrize("refusal", MEMBERS_REFUSALS)
async def test_the_app_home_still_shows_own_checks_and_names_the_fix(
    support_stage: Stage, refusal: str
) -> None:
    stage = support_stage
    owner = stage.user()
    await owner.slash_command(COMMAND, stage.sandbox.collection_url("connected"), channel_id="C1")
    await settle(stage)
    refuse_members(stage, refusal)

    await owner.send_event(
        {"type": "app_home_opened", "user": owner.user_id, "tab": "home", "channel": "D0OWNER"}
    )
    await settle(stage)

    (published,) = stage.slack.calls_to("views.publish")
    assert published.response["ok"]
    home = json.dumps(published.args["view"])
    assert "Example Shop" in home
    assert f"invite the bot to <#{SUPPORT}>" in home
    assert SOMETHING_WRONG not in everything_sent(stage)


async def test_history_names_the_fix_when_support_members_cannot_be_read(
    support_stage: Stage,
) -> None:
    stage = support_stage
    refuse_members(stage)

    await stage.user(AGENTS[0], "sam").slash_command(COMMAND, "history 1003", channel_id="C1")
    await settle(stage)

    (told,) = stage.slack.calls_to("response_url")
    assert told.args["response_type"] == "ephemeral"
    assert f"invite the bot to <#{SUPPORT}>" in told.args["text"]


async def test_a_private_support_channel_without_the_bot_is_named_in_the_refusal(
    support_stage: Stage,
) -> None:
    stage = support_stage
    _root, triage = await escalate(stage)
    stage.slack.set_channel_members(SUPPORT, AGENTS, private=True)  # the bot was removed
    # Opening the escalation modal read the members; a minute later that is forgotten.
    stage.services.support._fetched_at = float("-inf")

    await click(stage, stage.user(AGENTS[0], "sam"), triage, support_blocks.TAKE_ACTION)

    refusal = stage.slack.calls_to("conversations.members")[-1].response
    assert refusal["error"] == "channel_not_found"
    (told,) = stage.slack.calls_to("response_url")
    assert f"invite the bot to <#{SUPPORT}>" in told.args["text"]
    assert await stage.services.database.open_escalations()  # nothing was taken


# Secrets


async def test_canary_nothing_sent_in_a_dm_reaches_slack_or_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stores = sample_stores(seed="canary-dm")
    keys = ["connected", "revoked", "free_plan", "public_token"]
    with caplog.at_level(logging.DEBUG):
        async with migrated_stage(stores) as stage:
            owner = stage.user()
            for key in keys:
                store = stage.sandbox.store(key)
                await owner.send_dm(f"<{stage.sandbox.collection_url(key)}>")
                await owner.send_dm(f"{store.store_id} {store.token}")
                await owner.send_dm(store.token)  # a token alone: refused, never repeated
                await settle(stage)
            sent = everything_sent(stage)
            urls = [stage.sandbox.collection_url(key) for key in keys]

    assert CATALOGUE[Diagnosis.OK].title in sent
    everything = sent + caplog.text
    for store in stores:
        assert store.token not in everything
        assert store.collection_name not in everything
    for url in urls:
        assert url not in everything
