"""A post goes in once: after a failure that leaves unknown whether Slack applied it, the bot
looks for the message's metadata in the conversation before posting again; where it cannot
read the conversation, it posts anyway and says why. Against the Slack stand-in, over HTTP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.journal import JournalEntry
from bot.db.vault import new_key
from bot.destination import Destination, EntryPoint
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.engine.intake import read_paste
from bot.sandbox.loopback import free_port
from bot.sandbox.slack.webapi import FakeSlack
from bot.settings import load_settings
from bot.slack.app import slack_client
from bot.slack.delivery import ChannelPacer, DeliveryExpired, deliver
from bot.slack.exactly_once import ANSWER_EVENT, MessageMark, find_posted, post_once
from handlers.commands import COMMAND
from tests.handlers.test_bot import CHANNEL as BOT_CHANNEL
from tests.handlers.test_bot import check_via_modal, thread_replies, url_values
from tests.stage import migrated_stage

CHANNEL = "C0ONCE"
CHECK_ID = "c0ffee0123456789"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    # No retry handlers: what is repeated here is what `deliver` repeats.
    return AsyncWebClient(token="xoxb-once", base_url=slack.api_url, retry_handlers=[])


async def _answer(
    client: AsyncWebClient, thread_ts: str | None, *, look_first: bool = False, **kwargs: object
) -> str:
    return await post_once(
        client,
        channel=CHANNEL,
        thread_ts=thread_ts,
        mark=MessageMark.answer(CHECK_ID),
        look_first=look_first,
        pacer=ChannelPacer(),
        text=CATALOGUE[Diagnosis.OK].title,
        **kwargs,
    )


def _thread(slack: FakeSlack) -> str:
    return str(slack.post_user_message(CHANNEL, "U0OWNER", "please check my store")["ts"])


def _methods(slack: FakeSlack) -> list[str]:
    return [call.method for call in slack.calls]


async def test_an_answer_carries_its_check_id_in_its_metadata(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = _thread(slack)

    ts = await _answer(client, root)

    (answer,) = [m for m in slack.messages(CHANNEL, thread_ts=root) if m["ts"] == ts]
    assert answer["metadata"] == {
        "event_type": ANSWER_EVENT,
        "event_payload": {"check_id": CHECK_ID},
    }
    assert _methods(slack) == ["chat.postMessage"]  # nothing looked up when nothing failed


@pytest.mark.parametrize(
    ("applied", "calls"),
    [
        pytest.param(True, ["chat.postMessage", "conversations.replies"], id="found-not-reposted"),
        pytest.param(
            False,
            ["chat.postMessage", "conversations.replies", "chat.postMessage"],
            id="not-found-reposted",
        ),
    ],
)
async def test_a_post_cut_off_is_looked_for_in_the_thread_before_it_goes_again(
    slack: FakeSlack, client: AsyncWebClient, applied: bool, calls: list[str]
) -> None:
    root = _thread(slack)
    slack.drop_next("chat.postMessage", applied=applied)

    ts = await _answer(client, root)

    replies = [m for m in slack.messages(CHANNEL, thread_ts=root) if m["ts"] != root]
    assert [m["ts"] for m in replies] == [ts]
    assert _methods(slack) == calls
    assert slack.calls[1].args["include_all_metadata"] in (True, "true", "1")


async def test_a_top_level_post_is_looked_for_in_the_channel(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.post_user_message(CHANNEL, "U0OWNER", "an earlier message, not ours")
    slack.drop_next("chat.postMessage", applied=True)

    ts = await _answer(client, None)

    ours = [m for m in slack.messages(CHANNEL) if m.get("user") == slack.bot_user_id]
    assert [m["ts"] for m in ours] == [ts]
    assert _methods(slack) == ["chat.postMessage", "conversations.history"]


async def test_another_checks_answer_in_the_thread_is_not_taken_for_this_one(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = _thread(slack)
    await post_once(
        client,
        channel=CHANNEL,
        thread_ts=root,
        mark=MessageMark.answer("another-check"),
        pacer=ChannelPacer(),
        text=CATALOGUE[Diagnosis.OK].title,
    )
    slack.drop_next("chat.postMessage", applied=False)

    await _answer(client, root)

    replies = [m for m in slack.messages(CHANNEL, thread_ts=root) if m["ts"] != root]
    payloads = [m["metadata"]["event_payload"]["check_id"] for m in replies]
    assert payloads == ["another-check", CHECK_ID]


async def test_after_a_5xx_the_thread_is_read_before_posting_again(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = _thread(slack)
    slack.fail_next("chat.postMessage", status=503)

    await _answer(client, root)

    assert _methods(slack) == ["chat.postMessage", "conversations.replies", "chat.postMessage"]


async def test_a_429_needs_no_look(slack: FakeSlack, client: AsyncWebClient) -> None:
    root = _thread(slack)
    slack.fail_next("chat.postMessage", status=429, retry_after=0)

    await _answer(client, root)

    assert _methods(slack) == ["chat.postMessage", "chat.postMessage"]


async def test_a_connection_never_made_needs_no_look() -> None:
    nowhere = AsyncWebClient(
        token="xoxb-once", base_url=f"http://127.0.0.1:{free_port()}/api/", retry_handlers=[]
    )
    looks: list[float] = []

    async def find(patience_left_s: float) -> str | None:
        looks.append(patience_left_s)
        return None

    with pytest.raises(DeliveryExpired):
        await deliver(
            lambda: nowhere.chat_postMessage(channel=CHANNEL, text="x"),
            CHANNEL,
            patience_s=1.0,
            pacer=ChannelPacer(),
            find_applied=find,
        )

    assert looks == []


async def test_a_redelivered_answer_is_looked_for_before_its_first_attempt(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = _thread(slack)
    first = await _answer(client, root)

    again = await _answer(client, root, look_first=True)

    assert again == first
    assert _methods(slack) == ["chat.postMessage", "conversations.replies"]


async def test_without_the_history_scope_the_post_goes_again_and_the_log_says_why(
    slack: FakeSlack, client: AsyncWebClient, caplog: pytest.LogCaptureFixture
) -> None:
    root = _thread(slack)
    slack.revoke_scope("channels:history")
    slack.drop_next("chat.postMessage", applied=True)

    with caplog.at_level(logging.WARNING, logger="bot.slack.exactly_once"):
        await _answer(client, root)

    replies = [m for m in slack.messages(CHANNEL, thread_ts=root) if m["ts"] != root]
    assert len(replies) == 2  # at least once beats never
    assert "missing_scope" in caplog.text
    assert "may appear twice" in caplog.text


async def test_a_refused_read_is_not_asked_again_within_one_delivery(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = _thread(slack)
    slack.revoke_scope("channels:history")
    slack.fail_next("chat.postMessage", status=503, times=2)

    await _answer(client, root)

    assert _methods(slack) == [
        "chat.postMessage",
        "conversations.replies",
        "chat.postMessage",
        "chat.postMessage",
    ]


async def test_reads_rate_limited_past_their_patience_let_the_post_go_again(
    slack: FakeSlack, client: AsyncWebClient, caplog: pytest.LogCaptureFixture
) -> None:
    root = _thread(slack)
    slack.fail_next("conversations.replies", status=429, retry_after=5)

    with caplog.at_level(logging.WARNING, logger="bot.slack.exactly_once"):
        found = await find_posted(
            client, CHANNEL, root, MessageMark.answer(CHECK_ID), patience_s=1.0
        )

    assert found is None
    assert "Slack kept refusing the reads" in caplog.text


async def test_a_channel_the_bot_cannot_read_does_not_stop_the_post(
    slack: FakeSlack, client: AsyncWebClient, caplog: pytest.LogCaptureFixture
) -> None:
    slack.set_channel_members("C0PRIVATE", ["U0OWNER"], private=True)

    with caplog.at_level(logging.WARNING, logger="bot.slack.exactly_once"):
        found = await find_posted(client, "C0PRIVATE", None, MessageMark.answer(CHECK_ID))

    assert found is None
    assert "channel_not_found" in caplog.text


async def test_slack_sdk_does_not_repeat_a_guarded_post_blindly(slack: FakeSlack) -> None:
    settings = load_settings(env_file=None, slack_bot_token="xoxb-sdk", slack_api_url=slack.api_url)
    client = slack_client(settings)
    root = _thread(slack)
    slack.drop_next("chat.postMessage", applied=True)
    slack.drop_next("auth.test", applied=True)

    await _answer(client, root)
    await client.auth_test()  # an unguarded call: the client's own retry takes it

    replies = [m for m in slack.messages(CHANNEL, thread_ts=root) if m["ts"] != root]
    assert len(replies) == 1
    assert _methods(slack) == [
        "chat.postMessage",
        "conversations.replies",
        "auth.test",
        "auth.test",
    ]


async def test_past_its_patience_a_post_in_doubt_gives_up_without_posting_twice(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = _thread(slack)
    slack.fail_next("chat.postMessage", status=503, times=10)

    with pytest.raises(DeliveryExpired):
        await _answer(client, root, patience_s=1.0)

    assert [m["ts"] for m in slack.messages(CHANNEL, thread_ts=root)] == [root]


async def test_a_checks_root_and_answer_cut_off_after_slack_took_them_appear_once() -> None:
    async with migrated_stage() as stage:
        owner = stage.user("U0OWNER", "jane")
        url = stage.sandbox.collection_url("connected")
        stage.slack.drop_next("chat.postMessage", applied=True, times=2)  # the root, the answer

        await owner.slash_command(COMMAND, url, channel_id=CHANNEL)
        await stage.services.tasks.drain(30)

        root, answer = stage.slack.messages(CHANNEL)
        posts = stage.slack.calls_to("chat.postMessage")
        reactions = stage.slack.reactions(CHANNEL, root["ts"])
    assert answer["thread_ts"] == root["ts"]
    assert CATALOGUE[Diagnosis.OK].title in str(answer["blocks"])
    assert [call.dropped for call in posts] == ["dropped_after", "dropped_after"]
    assert root["metadata"]["event_type"] == "ecwid_connect_message"
    assert answer["metadata"]["event_type"] == ANSWER_EVENT
    assert answer["metadata"]["event_payload"]["check_id"]
    assert reactions == {"white_check_mark"}  # delivered, as far as the bot knows


async def test_a_check_run_again_after_its_process_died_finds_the_answer_it_had_posted() -> None:
    # The answer's post and the journal's learning of it go side by side: a process killed
    # between the two leaves an entry without its answer, and the next process runs the check
    # again, under a new check ID. The journal ID, on both answers, finds the first one.
    async with migrated_stage(credentials_key=new_key()) as stage:
        owner = stage.user("U0OWNER", "jane")
        root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "connected"))
        (answer,) = thread_replies(stage, root["ts"])
        journal_id = answer["metadata"]["event_payload"]["journal_id"]
        paste = read_paste(
            stage.sandbox.collection_url("connected"), stage.settings.collection_hosts
        )
        destination = Destination(
            channel=BOT_CHANNEL,
            thread_ts=root["ts"],
            requester=owner.user_id,
            team=str(answer["team"]),
            entry=EntryPoint.MODAL,
        )
        entry = JournalEntry(journal_id, destination, None, paste, None, attempts=1)

        await stage.services.answers.resume(entry)
        await stage.services.tasks.drain(10)

        assert [reply["ts"] for reply in thread_replies(stage, root["ts"])] == [answer["ts"]]
        assert len(stage.slack.calls_to("conversations.replies")) == 1
