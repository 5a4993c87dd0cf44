"""Follow-ups end to end: the bot over signed HTTP, the Slack stand-in, the Ecwid sandbox whose
stores change while the bot keeps checking; intervals of a fraction of a second."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from bot.db.follow_ups import FOLLOW_UP_KIND
from bot.db.models import FollowUpRow, TimedWorkRow
from bot.db.timed import OPEN_STATES
from bot.db.vault import new_key
from bot.metrics import Metrics
from bot.sandbox.ecwid.stores import PAID_FEATURES
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.stage import Stage
from bot.slack.timed import TimedWorkRunner
from handlers.blocks.check import CHECK_AGAIN_ACTION
from handlers.blocks.follow_up import NO_KEY_LINE, NO_KEY_WATCH_LINE, STOP_FOLLOW_UP_ACTION
from handlers.blocks.support import RESOLVE_ACTION
from handlers.blocks.watch import WATCH_ACTION
from handlers.commands import COMMAND
from handlers.follow_ups import run_follow_up
from tests.handlers.test_bot import (
    CHANNEL,
    check_via_modal,
    open_modal_from,
    text_of,
    thread_replies,
    url_values,
)
from tests.handlers.test_support import AGENTS, SUPPORT, agent, escalate, triage_now
from tests.stage import migrated_stage

EVERY_S = 0.3
WINDOW_S = 3.0


def follow_up_stage(window_s: float = WINDOW_S) -> AbstractAsyncContextManager[Stage]:
    """The bot with follow-ups every EVERY_S for `window_s`."""
    return migrated_stage(
        credentials_key=new_key(),
        follow_up_every_s=EVERY_S,
        follow_up_for_h=window_s / 3600,
        check_lease_s=3,
        token_cooldown_s=0.1,  # a Free store's token cools down after each look
    )


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with follow_up_stage() as running:
        yield running


@pytest.fixture
async def patient_stage() -> AsyncIterator[Stage]:
    """`stage` with a window that does not end while a test works through its steps."""
    async with follow_up_stage(window_s=60) as running:
        yield running


async def until(
    condition: Callable[[], object], what: str = "the condition", seconds: float = 20
) -> None:
    """Wait (0.05 s steps) until `condition()` holds; it may return an awaitable (a query)."""
    for _ in range(int(seconds / 0.05)):
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} within {seconds} s")


async def no_timed_work_left(stage: Stage, seconds: float = 20) -> None:
    """Wait until no timed work is open or running: from then on the bot says nothing more of
    its own, so what a test sees is all there will be."""
    for _ in range(int(seconds / 0.05)):
        items = await rows(stage, TimedWorkRow)
        if stage.services.timed.running == 0 and not [
            item for item in items if item["state"] in OPEN_STATES
        ]:
            await stage.services.tasks.drain(10)  # what a last round started (a reaction)
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed work still open after {seconds} s")


async def rows(stage: Stage, model: type[Any]) -> list[sa.RowMapping]:
    async with stage.services.database.engine.connect() as connection:
        return list((await connection.execute(sa.select(model))).mappings())


def upgrade(stage: Stage, key: str) -> None:
    stage.sandbox.change(key, paid=True, available_features=PAID_FEATURES, failures=())


def api_calls(stage: Stage, key: str) -> list[str]:
    """The paths of the Ecwid API calls made with the store `key`'s token, in order."""
    return [
        request.path.rsplit("/", 1)[-1]
        for request in stage.sandbox.requests
        if request.matched_store == key and request.path.startswith("/api/")
    ]


async def test_a_free_plan_store_upgraded_during_its_follow_up_is_answered_connected_once(
    stage: Stage, owner: SlackUser
) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))
    (first,) = thread_replies(stage, root["ts"])
    assert "I will check again on my own every 0.3 seconds" in text_of(first)
    assert STOP_FOLLOW_UP_ACTION in text_of(first)

    # Still Free: each round asks for the profile alone, never the four counts again.
    await until(lambda: api_calls(stage, "free_plan").count("profile") >= 3, "three looks")
    assert api_calls(stage, "free_plan").count("products") == 1
    upgrade(stage, "free_plan")

    await until(lambda: len(thread_replies(stage, root["ts"])) == 2, "the connected answer")
    await no_timed_work_left(stage)  # nothing can come after
    (_, connected) = thread_replies(stage, root["ts"])
    assert connected["text"].startswith(f"<@{owner.user_id}> Good news: it works now")
    assert "Connected" in text_of(connected)
    assert "1,234" in text_of(connected)  # the migration preview: the products
    assert stage.slack.reactions(CHANNEL, root["ts"]) == {"white_check_mark"}
    (follow_up,) = await rows(stage, FollowUpRow)
    assert (follow_up["state"], follow_up["sealed_paste"]) == ("succeeded", None)
    assert 'ecwid_connect_follow_ups_total{event="succeeded"} 1.0' in (
        stage.services.metrics.exposition().decode()
    )


async def test_a_store_that_stays_free_gets_one_closing_message_then_silence(
    stage: Stage, owner: SlackUser
) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))

    await until(lambda: len(thread_replies(stage, root["ts"])) == 2, "the closing message")
    looks = len(api_calls(stage, "free_plan"))
    await no_timed_work_left(stage)
    (_, closing) = thread_replies(stage, root["ts"])
    assert closing["text"].startswith(f"<@{owner.user_id}> I checked again")
    assert "still is not connected: `plan_free`" in closing["text"]
    assert "I will not check again on my own" in closing["text"]
    assert len(api_calls(stage, "free_plan")) == looks  # silence: Ecwid is not asked again
    assert stage.slack.reactions(CHANNEL, root["ts"]) == {"warning"}
    (follow_up,) = await rows(stage, FollowUpRow)
    assert (follow_up["state"], follow_up["sealed_paste"]) == ("expired", None)


async def test_a_revoked_token_gets_no_follow_up(stage: Stage, owner: SlackUser) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "revoked"))

    (answer,) = thread_replies(stage, root["ts"])
    assert "check again on my own" not in text_of(answer)
    assert await rows(stage, FollowUpRow) == []
    assert await rows(stage, TimedWorkRow) == []


async def test_a_stopped_follow_up_posts_nothing_more(stage: Stage, owner: SlackUser) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))
    (answer,) = thread_replies(stage, root["ts"])

    await owner.click_button(answer, STOP_FOLLOW_UP_ACTION, channel_id=CHANNEL)
    await until(lambda: len(thread_replies(stage, root["ts"])) == 2, "the stop confirmed")
    looks = len(api_calls(stage, "free_plan"))
    upgrade(stage, "free_plan")  # even once it would work, nothing more is said
    await no_timed_work_left(stage)

    (_, stopped) = thread_replies(stage, root["ts"])
    assert "stopped the follow-up" in stopped["text"]
    assert len(thread_replies(stage, root["ts"])) == 2
    assert len(api_calls(stage, "free_plan")) == looks
    (follow_up,) = await rows(stage, FollowUpRow)
    assert (follow_up["state"], follow_up["stopped_by"], follow_up["sealed_paste"]) == (
        "stopped",
        owner.user_id,
        None,
    )


async def test_only_the_asker_or_an_agent_may_stop_a_follow_up(
    stage: Stage, owner: SlackUser
) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))
    (answer,) = thread_replies(stage, root["ts"])
    stranger = stage.user("U0STRANGER", "sam")

    await stranger.click_button(answer, STOP_FOLLOW_UP_ACTION, channel_id=CHANNEL)
    await until(lambda: bool(stage.slack.calls_to("response_url")), "the stranger told")
    told = stage.slack.calls_to("response_url")[-1].args
    assert told["response_type"] == "ephemeral"
    assert f"Only <@{owner.user_id}>" in told["text"]
    (follow_up,) = await rows(stage, FollowUpRow)
    assert follow_up["state"] == "active"


async def test_without_credentials_key_the_answer_says_why_in_one_line() -> None:
    async with migrated_stage(follow_up_every_s=EVERY_S) as stage:
        owner = stage.user("U0OWNER", "jane")
        root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))

        (answer,) = thread_replies(stage, root["ts"])
        assert NO_KEY_LINE in json.dumps(answer["blocks"])
        assert STOP_FOLLOW_UP_ACTION not in text_of(answer)
        assert await rows(stage, FollowUpRow) == []
        # Nor is a watch offered on a connected answer, and it says why.
        root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "connected"))
        (connected,) = thread_replies(stage, root["ts"])
        assert NO_KEY_WATCH_LINE in json.dumps(connected["blocks"])
        assert WATCH_ACTION not in text_of(connected)


async def everything_seen(
    stage: Stage, root: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> list[str]:
    """The thread, every Slack call, the log and the follow-ups' rows, as text."""
    return [
        json.dumps(stage.slack.messages(CHANNEL, root["ts"])),
        json.dumps([call.args for call in stage.slack.calls], default=str),
        caplog.text,
        repr(await rows(stage, FollowUpRow)),
        repr(await rows(stage, TimedWorkRow)),
    ]


async def test_no_secret_in_a_follow_ups_messages_rows_or_log(
    stage: Stage, owner: SlackUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = stage.sandbox.store("free_plan")
    url = stage.sandbox.collection_url("free_plan")
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))
    await until(lambda: api_calls(stage, "free_plan").count("profile") >= 2, "a round")
    upgrade(stage, "free_plan")
    await until(lambda: len(thread_replies(stage, root["ts"])) == 2, "the connected answer")

    for text in await everything_seen(stage, root, caplog):
        assert store.token not in text
        assert url not in text
        assert store.collection_name not in text


async def test_no_secret_in_the_follow_up_of_a_store_whose_answers_echo_its_token(
    stage: Stage, owner: SlackUser, caplog: pytest.LogCaptureFixture
) -> None:
    # Ecwid failing while repeating the token in every answer (store name, plan, error codes):
    # followed up, each round's report and the closing message come from those answers.
    caplog.set_level(logging.DEBUG)
    store = stage.sandbox.store("token_echo")
    url = stage.sandbox.collection_url("token_echo")
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "token_echo"))
    await until(
        lambda: len(thread_replies(stage, root["ts"])) == 2, "the closing message", seconds=30
    )

    seen = await everything_seen(stage, root, caplog)
    assert "check again on my own" in seen[0], "it was followed up"
    for text in seen:
        assert store.token not in text
        assert url not in text


async def test_forget_ends_and_erases_a_stores_follow_ups(stage: Stage, owner: SlackUser) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))
    await until(lambda: api_calls(stage, "free_plan").count("profile") >= 2, "a round")

    erased = await stage.services.database.forget_store(stage.sandbox.store("free_plan").store_id)
    looks = len(api_calls(stage, "free_plan"))
    await no_timed_work_left(stage)

    assert erased.follow_ups == 1
    assert await rows(stage, FollowUpRow) == []
    assert await rows(stage, TimedWorkRow) == []
    assert len(api_calls(stage, "free_plan")) <= looks + 2  # a round under way may finish
    assert len(thread_replies(stage, root["ts"])) == 1  # and says nothing


async def test_the_app_home_lists_follow_ups_with_a_stop_button_that_works(
    stage: Stage, owner: SlackUser
) -> None:
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))
    home_opened = {"type": "app_home_opened", "user": owner.user_id, "tab": "home"}
    await owner.send_event(home_opened | {"channel": "D0OWNER"})
    await until(lambda: bool(stage.slack.calls_to("views.publish")), "the Home published")
    home = stage.slack.calls_to("views.publish")[-1].response["view"]
    assert "Checking again on its own" in json.dumps(home)
    assert "store 2001" in json.dumps(home)

    published = len(stage.slack.calls_to("views.publish"))
    await owner.click_button(home, STOP_FOLLOW_UP_ACTION)
    await until(lambda: len(stage.slack.calls_to("views.publish")) > published, "the Home again")

    assert "store 2001" not in json.dumps(stage.slack.calls_to("views.publish")[-1].args["view"])
    assert "stopped the follow-up" in thread_replies(stage, root["ts"])[-1]["text"]
    (follow_up,) = await rows(stage, FollowUpRow)
    assert follow_up["state"] == "stopped"


@asynccontextmanager
async def escalating_stage() -> AsyncIterator[Stage]:
    """The bot with follow-ups and a support channel whose members are the agents."""
    async with migrated_stage(
        support_channel_id=SUPPORT,
        credentials_key=new_key(),
        follow_up_every_s=EVERY_S,
        follow_up_for_h=WINDOW_S / 3600,
        token_cooldown_s=0.1,
    ) as stage:
        stage.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS])
        yield stage


async def test_an_open_escalation_hears_the_store_connected_and_history_shows_it() -> None:
    async with escalating_stage() as stage:
        root, triage = await escalate(stage, "free_plan")
        upgrade(stage, "free_plan")

        def told() -> list[dict[str, Any]]:
            return [
                m for m in stage.slack.messages(SUPPORT, triage["ts"]) if "connected" in m["text"]
            ]

        await until(lambda: bool(told()), "the triage thread told")
        (note,) = told()
        assert RESOLVE_ACTION in text_of(note)
        await agent(stage).click_button(note, RESOLVE_ACTION, channel_id=SUPPORT)
        await until(
            lambda: "Resolved by" in text_of(triage_now(stage, triage)), "resolved in one click"
        )

        await agent(stage).slash_command(COMMAND, "history 2001", channel_id=SUPPORT)
        await until(lambda: bool(stage.slack.calls_to("response_url")), "the history")
        history = json.dumps(stage.slack.calls_to("response_url")[-1].args)
        assert "Follow-ups" in history
        assert "connected" in history
        assert stage.slack.reactions(CHANNEL, root["ts"]) >= {"white_check_mark"}


async def test_the_triage_threads_note_outlasts_slack_refusing_it_for_a_while() -> None:
    async with escalating_stage() as stage:
        _, triage = await escalate(stage, "free_plan")
        # Held on the reaction that comes between the owner's good news and the triage note,
        # Slack then refuses the note: rate-limited longer than a client's own retries last,
        # then a server error.
        gate = stage.slack.hold("reactions.add")
        upgrade(stage, "free_plan")
        await until(lambda: stage.slack.held("reactions.add") > 0, "the good news posted")
        stage.slack.fail_next("chat.postMessage", status=429, retry_after=1, times=3)
        stage.slack.fail_next("chat.postMessage", status=503)
        gate.set()

        await until(
            lambda: any(
                "connected" in m["text"] for m in stage.slack.messages(SUPPORT, triage["ts"])
            ),
            "the triage thread told",
        )
        refused = [c for c in stage.slack.calls_to("chat.postMessage") if not c.response["ok"]]
        assert [c.response["error"] for c in refused] == [
            *["ratelimited"] * 3,
            "service_unavailable",
        ]


async def test_a_closing_message_cut_off_by_a_stop_is_not_posted_again_by_the_next_process(
    patient_stage: Stage,
) -> None:
    # The bot stops while Slack is slow to take the good news: the drain cuts the round short,
    # its item is given back (not counted as a failed try), and Slack applies the message after
    # all. The next process's round must find it rather than post it again.
    stage = patient_stage
    owner = stage.user("U0OWNER", "jane")
    services = stage.services
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))
    await until(lambda: api_calls(stage, "free_plan").count("profile") >= 2, "a round")
    slow = stage.slack.hold("chat.postMessage")
    upgrade(stage, "free_plan")
    await until(lambda: stage.slack.held("chat.postMessage") == 1, "the good news with Slack")

    await services.timed.stop()
    await services.tasks.drain(0)
    await services.timed.release()
    slow.set()
    await until(lambda: len(thread_replies(stage, root["ts"])) == 2, "Slack applied it")

    # The runner a restart starts (the items' owner is the handlers' `timed_work`).
    following = TimedWorkRunner(
        services.timed_work,
        Metrics(),
        services.tasks.spawn,
        timeout_s=30,
        poll_s=0.05,
    )
    following.handle({FOLLOW_UP_KIND: functools.partial(run_follow_up, services, stage.app.client)})
    following.start()
    try:
        for _ in range(400):
            if not await services.follow_ups.active():
                break  # the next round ended it
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the next round ended the follow-up within 20 s")
        await services.tasks.drain(10)
    finally:
        await following.stop()
        await following.release()
    replies = thread_replies(stage, root["ts"])
    assert len(replies) == 2, [text_of(reply) for reply in replies]
    assert "connected" in text_of(replies[-1]).lower()


async def test_stop_on_an_earlier_answer_stops_the_threads_newer_follow_up(
    patient_stage: Stage,
) -> None:
    stage = patient_stage
    owner = stage.user("U0OWNER", "jane")
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "free_plan"))
    (first,) = thread_replies(stage, root["ts"])
    view_id = await open_modal_from(stage, owner, first, CHECK_AGAIN_ACTION)
    # The same thread again (another store: the first one's token may be cooling down).
    await owner.submit_view(view_id, url_values(stage, "suspended"))
    await until(lambda: len(thread_replies(stage, root["ts"])) == 2, "the second answer")

    await owner.click_button(first, STOP_FOLLOW_UP_ACTION, channel_id=CHANNEL)

    await until(lambda: len(thread_replies(stage, root["ts"])) == 3, "the stop confirmed")
    assert "stopped the follow-up" in thread_replies(stage, root["ts"])[-1]["text"]
    states = sorted(row["state"] for row in await rows(stage, FollowUpRow))
    assert states == ["stopped", "superseded"]
