"""The support team's side end to end: escalate → triage post → take → re-run → resolve, the
history command and the App Home, over real HTTP with the Slack stand-in and a real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.db.models import Base
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.stores import sample_stores
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.stage import Stage
from handlers.blocks import support as support_blocks
from handlers.blocks.check import OPEN_CHECK_MODAL_ACTION
from handlers.blocks.home import HOME_CHECK_ACTION
from handlers.commands import COMMAND
from handlers.shortcuts import CHECK_SHORTCUT
from tests.handlers.test_bot import (
    CHANNEL,
    check_via_modal,
    settle,
    text_of,
    thread_replies,
    url_values,
)
from tests.stage import migrated_stage

SUPPORT = "C0SUPPORT"
AGENTS = ["U0AGENT", "U0AGENT2"]


async def _stage(**settings: object) -> AsyncIterator[Stage]:
    async with migrated_stage(support_channel_id=SUPPORT, **settings) as running:
        running.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS])
        yield running


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async for running in _stage(credentials_key=Fernet.generate_key().decode()):
        yield running


@pytest.fixture
async def keyless_stage() -> AsyncIterator[Stage]:
    async for running in _stage():
        yield running


def agent(stage: Stage, number: int = 0) -> SlackUser:
    return stage.user(AGENTS[number], f"agent{number}")


async def open_escalation_modal(
    stage: Stage, owner: SlackUser, key: str = "revoked"
) -> tuple[dict[str, Any], str]:
    """`owner` checks `key` and clicks "Escalate": the thread root and the modal's view ID."""
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, key))
    (result,) = thread_replies(stage, root["ts"])
    since = len(stage.slack.calls)
    await owner.click_button(result, support_blocks.ESCALATE_ACTION, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda c: c.method == "views.open", since=since)
    return root, str(opened.response["view"]["id"])


async def escalate(stage: Stage, key: str = "revoked") -> tuple[dict[str, Any], dict[str, Any]]:
    """A customer checks `key`, then escalates. Returns the thread root and the triage post."""
    owner = stage.user("U0OWNER", "jane")
    root, view_id = await open_escalation_modal(stage, owner, key)
    await owner.submit_view(
        view_id,
        {
            support_blocks.GOAL_BLOCK: {
                support_blocks.GOAL_INPUT: "Move products and orders to the new shop"
            },
            support_blocks.URGENCY_BLOCK: {support_blocks.URGENCY_INPUT: "blocking"},
            support_blocks.NOTE_BLOCK: {support_blocks.NOTE_INPUT: "Tried twice already"},
        },
    )
    await settle(stage)
    posts = [m for m in stage.slack.messages(SUPPORT) if m.get("thread_ts") in (None, m["ts"])]
    return root, posts[-1]


async def click(stage: Stage, user: SlackUser, message: dict[str, Any], action: str) -> None:
    current = next(m for m in stage.slack.messages(SUPPORT) if m["ts"] == message["ts"])
    await user.click_button(current, action, channel_id=SUPPORT)
    await settle(stage)


def triage_now(stage: Stage, triage: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in stage.slack.messages(SUPPORT) if m["ts"] == triage["ts"])


async def test_escalating_posts_a_triage_message_and_tells_the_customer(stage: Stage) -> None:
    root, triage = await escalate(stage)

    shown = text_of(triage)
    for expected in (
        CATALOGUE[Diagnosis.TOKEN_INVALID].title,
        "Blocking the migration",
        "Move products",
        "Tried twice already",
        "2003",
        "secret_…",
        "Nobody has taken it yet".lower(),
    ):
        assert expected.lower() in shown.lower(), expected
    assert "fake.slack.test/archives" in shown  # the permalink to the customer's thread
    assert {
        support_blocks.TAKE_ACTION,
        support_blocks.RERUN_ACTION,
        support_blocks.RESOLVE_ACTION,
    } <= set(_actions(triage))
    assert "support team has been asked" in text_of(thread_replies(stage, root["ts"])[-1])


async def test_an_escalation_needs_a_goal(stage: Stage) -> None:
    owner = stage.user("U0OWNER", "jane")
    _root, view_id = await open_escalation_modal(stage, owner)

    answer = await owner.submit_view(
        view_id,
        {support_blocks.GOAL_BLOCK: {support_blocks.GOAL_INPUT: " "}},
    )

    assert support_blocks.GOAL_BLOCK in answer.json()["errors"]


async def test_a_connected_store_offers_no_escalation(stage: Stage) -> None:
    owner = stage.user("U0OWNER", "jane")
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "connected"))

    assert support_blocks.ESCALATE_ACTION not in _actions(thread_replies(stage, root["ts"])[0])


async def test_taking_marks_the_owner_everywhere(stage: Stage) -> None:
    root, triage = await escalate(stage)

    await click(stage, agent(stage), triage, support_blocks.TAKE_ACTION)

    assert f"Taken by <@{AGENTS[0]}>" in text_of(triage_now(stage, triage))
    assert support_blocks.TAKE_ACTION not in _actions(triage_now(stage, triage))
    assert "eyes" in stage.slack.reactions(CHANNEL, root["ts"])
    assert f"<@{AGENTS[0]}> from the support team is on it" in text_of(
        thread_replies(stage, root["ts"])[-1]
    )


async def test_two_agents_taking_at_once_end_with_one_owner(stage: Stage) -> None:
    root, triage = await escalate(stage)
    first, second = agent(stage, 0), agent(stage, 1)

    await asyncio.gather(
        first.click_button(triage, support_blocks.TAKE_ACTION, channel_id=SUPPORT),
        second.click_button(triage, support_blocks.TAKE_ACTION, channel_id=SUPPORT),
    )
    await settle(stage)

    shown = text_of(triage_now(stage, triage))
    owners = [a for a in AGENTS if f"Taken by <@{a}>" in shown]
    assert len(owners) == 1
    on_it = [m for m in thread_replies(stage, root["ts"]) if "is on it" in text_of(m)]
    assert len(on_it) == 1
    loser = next(a for a in AGENTS if a not in owners)
    told = stage.slack.ephemerals(SUPPORT, loser)
    assert any("already took" in text_of(message) for message in told)


async def test_rerun_uses_the_encrypted_credentials(stage: Stage) -> None:
    root, triage = await escalate(stage, "revoked")
    stage.sandbox.reset()

    await click(stage, agent(stage), triage, support_blocks.RERUN_ACTION)

    replies = thread_replies(stage, root["ts"])
    assert "re-ran the check" in text_of(replies[-2])
    assert "refused" in text_of(replies[-1]) or "wait" in text_of(replies[-1]).lower()
    notes = stage.slack.messages(SUPPORT, triage["ts"])
    assert any("re-ran the check" in text_of(m) for m in notes)


async def test_rerun_without_a_key_asks_the_customer_to_paste_again(keyless_stage: Stage) -> None:
    stage = keyless_stage
    root, triage = await escalate(stage, "revoked")

    await click(stage, agent(stage), triage, support_blocks.RERUN_ACTION)

    last = thread_replies(stage, root["ts"])[-1]
    assert "paste the Personal collection URL once more" in text_of(last)
    assert OPEN_CHECK_MODAL_ACTION in _actions(last)
    assert any("No credentials are kept" in text_of(m) for m in stage.slack.ephemerals(SUPPORT))


async def test_resolving_closes_the_loop(stage: Stage) -> None:
    root, triage = await escalate(stage)
    await click(stage, agent(stage), triage, support_blocks.TAKE_ACTION)

    await click(stage, agent(stage), triage, support_blocks.RESOLVE_ACTION)

    assert f"Resolved by <@{AGENTS[0]}>" in text_of(triage_now(stage, triage))
    assert _actions(triage_now(stage, triage)) == []
    assert stage.slack.reactions(CHANNEL, root["ts"]) >= {"white_check_mark"}
    *_, resolved, question = thread_replies(stage, root["ts"])
    assert "marked this as resolved" in text_of(resolved)
    assert "Did it help?" in text_of(question)


async def test_history_is_for_agents_only(stage: Stage) -> None:
    await escalate(stage, "revoked")
    owner = stage.user("U0OWNER", "jane")

    await agent(stage).slash_command(COMMAND, "history 2003", channel_id=SUPPORT)
    await settle(stage)
    await owner.slash_command(COMMAND, "history 2003", channel_id=CHANNEL)
    await settle(stage)

    agent_answer, owner_answer = (
        json.dumps(c.args) for c in stage.slack.calls_to("response_url")[-2:]
    )
    assert "Store 2003" in agent_answer
    assert "token_invalid" in agent_answer
    assert "blocking" in agent_answer.lower() or ":red_circle:" in agent_answer
    assert "for the support team" in owner_answer


async def test_app_home_shows_own_checks_and_the_team_view_to_agents(stage: Stage) -> None:
    await escalate(stage, "revoked")
    owner, helper = stage.user("U0OWNER", "jane"), agent(stage)

    for user in (owner, helper):
        await user.send_event(
            {
                "type": "app_home_opened",
                "user": user.user_id,
                "tab": "home",
                "channel": "D0" + user.user_id,
            }
        )
    await settle(stage)

    published = {
        c.args["user_id"]: json.dumps(c.args["view"]) for c in stage.slack.calls_to("views.publish")
    }
    assert "Example Shop" in published["U0OWNER"] or "2003" in published["U0OWNER"]
    assert "Support team" not in published["U0OWNER"]
    assert "Support team" in published[AGENTS[0]]
    assert "Open escalations (1)" in published[AGENTS[0]]
    assert HOME_CHECK_ACTION in published["U0OWNER"]


async def test_canary_no_database_row_holds_a_secret() -> None:
    stores = sample_stores(seed="canary-db")
    async with migrated_stage(
        stores, support_channel_id=SUPPORT, credentials_key=Fernet.generate_key().decode()
    ) as stage:
        stage.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS])
        for key in ("revoked", "no_customer_scope"):
            await escalate(stage, key)
        await check_via_modal(stage, stage.user(), url_values(stage, "connected"))
        urls = [stage.sandbox.collection_url(store.key) for store in stores]
        rows = []
        async with stage.services.database.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                result = await connection.execute(text(f"SELECT * FROM {table.name}"))
                rows += [" ".join(str(value) for value in row) for row in result]

    dump = "\n".join(rows)
    assert "2003" in dump  # the rows are there
    for store in stores:
        assert store.token not in dump
        assert store.collection_name not in dump
    for url in urls:
        assert url not in dump


def _actions(message: dict[str, Any]) -> list[str]:
    return [
        element.get("action_id", "")
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


async def test_members_of_the_support_user_group_are_agents_too() -> None:
    async for stage in _stage(support_user_group_id="S0HELPERS"):
        stage.slack.set_user_group("S0HELPERS", ["U0GROUPIE"])
        await stage.user("U0GROUPIE", "groupie").slash_command(
            COMMAND, "history 2003", channel_id=CHANNEL
        )
        await settle(stage)
        (answer,) = stage.slack.calls_to("response_url")

        assert "Store 2003" in json.dumps(answer.args)


async def test_history_without_a_store_id_says_how_to_ask(stage: Stage) -> None:
    response = await agent(stage).slash_command(COMMAND, "history abc", channel_id=SUPPORT)

    assert "history <store ID>" in response.text


async def test_an_escalation_whose_post_fails_is_not_left_open(stage: Stage) -> None:
    owner = stage.user("U0OWNER", "jane")
    root, view_id = await open_escalation_modal(stage, owner)
    stage.slack.fail_next("chat.postMessage", error="channel_not_found")  # the support channel
    await owner.submit_view(
        view_id,
        {support_blocks.GOAL_BLOCK: {support_blocks.GOAL_INPUT: "migrate"}},
    )
    await settle(stage)

    assert await stage.services.database.open_escalations() == []
    assert "something went wrong" in text_of(thread_replies(stage, root["ts"])[-1])


async def test_check_a_store_from_the_app_home_answers_in_the_dm(stage: Stage) -> None:
    owner = stage.user("U0OWNER", "jane")
    await owner.send_event(
        {"type": "app_home_opened", "user": "U0OWNER", "tab": "home", "channel": "D0OWNER"}
    )
    await settle(stage)
    home = stage.slack.calls_to("views.publish")[-1].response["view"]

    since = len(stage.slack.calls)
    await owner.click_button(home, HOME_CHECK_ACTION)
    opened = await stage.slack.wait_for(lambda c: c.method == "views.open", since=since)
    await owner.submit_view(str(opened.response["view"]["id"]), url_values(stage, "connected"))
    await settle(stage)

    (answer,) = [
        c for c in stage.slack.calls_to("chat.postMessage") if c.args["channel"] == "D0OWNER"
    ]
    assert CATALOGUE[Diagnosis.OK].title in json.dumps(answer.args)


# Triage buttons are for support agents only.

OUTSIDER = "U0READER"  # can read the support channel, is not an agent


@pytest.fixture
async def connect_stage() -> AsyncIterator[Stage]:
    """A support channel shared over Slack Connect: one member is from another organisation."""
    async for running in _stage(credentials_key=Fernet.generate_key().decode()):
        running.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS, "U0GUEST"])
        yield running


def guest(stage: Stage) -> SlackUser:
    """A Slack Connect member of the support channel: their organisation, their team ID."""
    return SlackUser(
        stage.bot_url,
        stage.signing_secret,
        stage.slack,
        user_id="U0GUEST",
        user_name="guest",
        team_id="T0OTHERORG",
        client=stage.http,
    )


@pytest.mark.parametrize(
    "action",
    [
        support_blocks.TAKE_ACTION,
        support_blocks.RERUN_ACTION,
        support_blocks.RESOLVE_ACTION,
        support_blocks.CUSTOMER_REPLY_ACTION,
    ],
)
async def test_a_non_agent_cannot_act_on_a_triage_post(stage: Stage, action: str) -> None:
    root, triage = await escalate(stage)
    customer_thread_before = thread_replies(stage, root["ts"])
    ecwid_before = len(stage.sandbox.requests)
    updates_before = len(stage.slack.calls_to("chat.update"))

    await click(stage, stage.user(OUTSIDER, "reader"), triage, action)

    (refusal,) = stage.slack.ephemerals(SUPPORT, OUTSIDER)
    assert "only the support team" in text_of(refusal).lower()
    assert thread_replies(stage, root["ts"]) == customer_thread_before, (
        "the customer is told nothing"
    )
    assert len(stage.slack.calls_to("chat.update")) == updates_before, "the post is unchanged"
    assert len(stage.sandbox.requests) == ecwid_before, "nothing was decrypted and sent to Ecwid"
    assert "Nobody has taken it yet".lower() in text_of(triage_now(stage, triage)).lower()


async def test_a_slack_connect_guest_is_not_an_agent_by_default(connect_stage: Stage) -> None:
    root, triage = await escalate(connect_stage)
    before = thread_replies(connect_stage, root["ts"])

    await click(connect_stage, guest(connect_stage), triage, support_blocks.TAKE_ACTION)

    (refusal,) = connect_stage.slack.ephemerals(SUPPORT, "U0GUEST")
    assert "only the support team" in text_of(refusal).lower()
    assert thread_replies(connect_stage, root["ts"]) == before


async def test_slack_connect_guests_count_as_agents_when_the_setting_says_so() -> None:
    async for running in _stage(support_external_agents=True):
        running.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS, "U0GUEST"])
        root, triage = await escalate(running)

        await click(running, guest(running), triage, support_blocks.TAKE_ACTION)

        assert running.slack.ephemerals(SUPPORT, "U0GUEST") == []
        assert "<@U0GUEST>" in text_of(thread_replies(running, root["ts"])[-1])


# Readable at a glance, and words for the customer


async def test_the_triage_post_is_short_and_its_details_follow_in_a_reply(stage: Stage) -> None:
    _root, triage = await escalate(stage)

    top = text_of(triage)
    assert "What was pasted" not in top, "the ladder is not in the post"
    assert "Tips already given" not in top
    for field in ("*Store*", "*Diagnosis*", "*Urgency*", "*State*", "<!date^"):
        assert field in top, field
    (details,) = [m for m in stage.slack.messages(SUPPORT) if m.get("thread_ts") == triage["ts"]]
    shown = text_of(details)
    assert "What was pasted" in shown
    assert "Tips already given" in shown
    assert "HTTP 403 INVALID_API_TOKEN" in shown


async def test_reply_to_the_customer_gives_the_agent_plain_numbered_steps(stage: Stage) -> None:
    root, triage = await escalate(stage)
    customer_thread_before = thread_replies(stage, root["ts"])

    await click(stage, agent(stage), triage, support_blocks.CUSTOMER_REPLY_ACTION)

    (reply,) = stage.slack.ephemerals(SUPPORT, AGENTS[0])
    text = str(reply["text"])
    assert CATALOGUE[Diagnosis.TOKEN_INVALID].title in text
    assert "\n1. " + CATALOGUE[Diagnosis.TOKEN_INVALID].tips[0].split(",")[0] in text
    assert "INVALID_API_TOKEN" not in text
    assert "403" not in text
    assert "token_invalid" not in text
    assert thread_replies(stage, root["ts"]) == customer_thread_before, "said to the agent only"


async def test_the_escalation_modal_asks_the_owner_in_her_own_words(stage: Stage) -> None:
    owner = stage.user("U0OWNER", "jane")
    _root, view_id = await open_escalation_modal(stage, owner)

    shown = text_of(stage.slack.views[view_id])
    assert "What do you want to do?" in shown
    assert "customer" not in shown.lower()


async def test_the_escalation_modal_asks_an_agent_about_the_customer(stage: Stage) -> None:
    _root, view_id = await open_escalation_modal(stage, agent(stage))

    assert "What is the customer trying to do?" in text_of(stage.slack.views[view_id])


async def _check_by_shortcut(stage: Stage, user: SlackUser, key: str) -> dict[str, Any]:
    customer_message = stage.slack.post_user_message(CHANNEL, "U0OWNER", "My store can't be read")
    since = len(stage.slack.calls)
    await user.message_shortcut(CHECK_SHORTCUT, customer_message, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    await user.submit_view(str(opened.response["view"]["id"]), url_values(stage, key))
    await settle(stage)
    return customer_message


async def test_an_agents_shortcut_check_comes_with_the_customer_reply(stage: Stage) -> None:
    customer_message = await _check_by_shortcut(stage, agent(stage), "free_plan")

    (reply,) = stage.slack.ephemerals(CHANNEL, AGENTS[0])
    assert reply.get("thread_ts") == customer_message["ts"]
    free_plan = CATALOGUE[Diagnosis.PLAN_FREE]
    assert free_plan.title in reply["text"]
    assert "\n1. " + free_plan.tips[0].split(" (")[0] in reply["text"]
    assert "402" not in reply["text"]


async def test_anyone_elses_shortcut_check_gets_only_the_answer(stage: Stage) -> None:
    await _check_by_shortcut(stage, stage.user(OUTSIDER, "reader"), "free_plan")

    assert stage.slack.ephemerals(CHANNEL, OUTSIDER) == []
