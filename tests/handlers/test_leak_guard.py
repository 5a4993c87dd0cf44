"""The leak guard end to end: Slack's own message payloads (tests/fixtures/slack, with their
sources) carrying pasted secrets, replayed through the running bot over signed HTTP."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.db.models import Base
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import SlackCall
from bot.sandbox.stage import Stage
from handlers.blocks.leak import CHECK_HELD_ACTION, PASTE_PRIVATELY_ACTION
from tests.handlers.test_bot import settle
from tests.handlers.test_slack_shapes import shape
from tests.stage import migrated_stage

CHANNEL, PRIVATE, GROUP_DM, SUPPORT = "C0CUSTOMER", "G0PRIVATE", "G0GROUPDM", "C0SUPPORT"
CHANNELS = {"channel": CHANNEL, "group": PRIVATE, "mpim": GROUP_DM}
AGENT = "U0AGENT"
STORE_ID = 1003  # the sandbox's stores' ID
LEGACY = "0123456789abcdefLEGACYcanary0123"


def secret_forms(stage: Stage) -> dict[str, tuple[str, str]]:
    """Each form of secret as a message would hold it: (the message, the secret in it)."""
    url = stage.sandbox.collection_url("connected")
    token = stage.sandbox.store("connected").token
    body = token.removeprefix("secret_")
    return {
        "collection URL": (f"here is my link <{url}>", url),
        "secret_ token": (f"my token is {token} thanks", token),
        "public_ token": (f"try public_{body}", f"public_{body}"),
        "secure_ token": (f"old one: secure_{body}", f"secure_{body}"),
        "legacy token next to a store ID": (f"Store ID: {STORE_ID}, token: {LEGACY}", LEGACY),
        "store ID + token line": (f"{STORE_ID} {token}", token),
    }


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with migrated_stage(
        support_channel_id=SUPPORT, credentials_key=Fernet.generate_key().decode()
    ) as running:
        running.slack.set_channel_members(SUPPORT, ["UBOT", AGENT])
        yield running


@pytest.fixture
async def keyless_stage() -> AsyncIterator[Stage]:
    async with migrated_stage(support_channel_id=SUPPORT) as running:
        running.slack.set_channel_members(SUPPORT, ["UBOT", AGENT])
        yield running


async def paste(
    stage: Stage,
    user: SlackUser,
    text: str,
    *,
    channel: str = CHANNEL,
    channel_type: str = "channel",
    fixture: str = "message_channel.json",
    thread_ts: str | None = None,
    retry_num: int | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`user` writes `text` in `channel`: Slack's recorded message body, with the stand-in's
    user, channel and ts. Returns the body sent (to send again as a retry)."""
    if body is None:
        message = stage.slack.post_user_message(channel, user.user_id, text, thread_ts=thread_ts)
        body = copy.deepcopy(shape(fixture))
        event = body["event"]
        event.update(
            user=user.user_id,
            text=text,
            ts=message["ts"],
            event_ts=message["ts"],
            channel=channel,
            channel_type=channel_type,
        )
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
    response = await user.send_event_body(body, retry_num=retry_num)
    assert response.status_code == 200
    return body


def warnings_to(stage: Stage, user: str, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [
        message
        for message in stage.slack.ephemerals(channel, user)
        if "password to your Ecwid store" in message["text"]
    ]


def everything_sent(stage: Stage) -> str:
    return "\n".join(json.dumps(call.args, ensure_ascii=False) for call in stage.slack.calls)


async def all_rows(stage: Stage) -> str:
    rows: list[str] = []
    async with stage.services.database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            result = await connection.execute(sa.select(table))
            rows += [" ".join(str(value) for value in row) for row in result]
    return "\n".join(rows)


@pytest.mark.parametrize("channel_type", list(CHANNELS))
@pytest.mark.parametrize(
    "form",
    [
        "collection URL",
        "secret_ token",
        "public_ token",
        "secure_ token",
        "legacy token next to a store ID",
        "store ID + token line",
    ],
)
async def test_each_secret_in_each_channel_type_warns_its_author_once_privately(
    stage: Stage, owner: SlackUser, form: str, channel_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    text, secret = secret_forms(stage)[form]
    channel = CHANNELS[channel_type]
    with caplog.at_level(logging.DEBUG):
        body = await paste(stage, owner, text, channel=channel, channel_type=channel_type)
        await paste(stage, owner, text, body=body, retry_num=1)  # Slack's retry
        await settle(stage)

    (warning,) = warnings_to(stage, owner.user_id, channel)
    assert warning["recipient"] == owner.user_id
    assert "Delete it" in warning["text"]
    assert [m for m in stage.slack.messages(channel) if m.get("bot_id")] == [], "nothing public"
    everything = "\n".join([everything_sent(stage), caplog.text, await all_rows(stage)])
    assert secret not in everything
    assert owner.user_id in caplog.text, "the log names who"
    assert channel in caplog.text, "and where"


async def test_a_secret_in_a_thread_is_warned_about_in_that_thread(
    stage: Stage, owner: SlackUser
) -> None:
    text, _secret = secret_forms(stage)["collection URL"]
    root = stage.slack.post_user_message(CHANNEL, "U0SOMEONE", "a question")
    await paste(stage, owner, text, thread_ts=root["ts"], fixture="message_channel_in_thread.json")
    await settle(stage)

    (warning,) = warnings_to(stage, owner.user_id)
    assert warning["thread_ts"] == root["ts"]


async def test_a_reply_also_sent_to_the_channel_is_read_too(stage: Stage, owner: SlackUser) -> None:
    text, _secret = secret_forms(stage)["secret_ token"]
    root = stage.slack.post_user_message(CHANNEL, owner.user_id, "thread")
    await paste(stage, owner, text, thread_ts=root["ts"], fixture="message_thread_broadcast.json")
    await settle(stage)

    assert len(warnings_to(stage, owner.user_id)) == 1


def edited(stage: Stage, user: SlackUser, ts: str, before: str, after: str) -> dict[str, Any]:
    """Slack's `message_changed` for `user`'s message `ts`, from `before` to `after`."""
    body = copy.deepcopy(shape("message_changed_channel.json"))
    event = body["event"]
    event["channel"] = CHANNEL
    event["message"].update(user=user.user_id, text=after, ts=ts)
    event["previous_message"].update(user=user.user_id, text=before, ts=ts)
    return body


async def test_an_edit_that_adds_a_secret_warns_and_later_edits_do_not(
    stage: Stage, owner: SlackUser
) -> None:
    text, _secret = secret_forms(stage)["secret_ token"]
    message = stage.slack.post_user_message(CHANNEL, owner.user_id, "my token is coming")
    await owner.send_event_body(edited(stage, owner, message["ts"], "my token is coming", text))
    await settle(stage)
    assert len(warnings_to(stage, owner.user_id)) == 1

    # Slack unfurls, or the author fixes a typo: the same message changes again.
    await owner.send_event_body(edited(stage, owner, message["ts"], text, text + " !"))
    # Removed, then put back: still the same message.
    await owner.send_event_body(edited(stage, owner, message["ts"], text, "gone"))
    await owner.send_event_body(edited(stage, owner, message["ts"], "gone", text))
    await settle(stage)
    assert len(warnings_to(stage, owner.user_id)) == 1


async def test_the_edit_of_a_warned_message_is_not_warned_again(
    stage: Stage, owner: SlackUser
) -> None:
    text, _secret = secret_forms(stage)["collection URL"]
    body = await paste(stage, owner, text)
    ts = body["event"]["ts"]
    await owner.send_event_body(edited(stage, owner, ts, "nothing yet", text + " (edited)"))
    await settle(stage)

    assert len(warnings_to(stage, owner.user_id)) == 1


async def introduced(stage: Stage, user: SlackUser) -> None:
    """One first message, after which Bolt knows who the bot is (its one `auth.test`)."""
    await paste(stage, user, "hello")
    await stage.slack.wait_for(lambda call: call.method == "auth.test")


# Written on their own schedule, whatever arrives: the journal's heartbeat, timed work's runner.
ON_THEIR_OWN_SCHEDULE = ("pending_checks", "timed_work")
ORDINARY = [
    "Hi! How is the migration going?",
    "see https://example.com/docs/package.json for the settings",
    "my order number is 123456789 and the tracking code 1Z999AA10123456784",
    "commit 3f2a9c0e4b1d8f7a6c5e2b9d0a1f3e4c5b6a7d8e fixed it",
    "<https://ecwid-api-playground.s3.amazonaws.com/|the playground bucket>",
    "the secret_sauce of it all",
    "https://my.ecwid.com/cp/#products",
]


async def test_ordinary_messages_cost_no_slack_call_and_no_database_write(
    stage: Stage, owner: SlackUser
) -> None:
    writes: list[str] = []

    def count_writes(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # What handling a message would write: rows (de-duplication, a held secret). Deleting
        # expired rows is the hourly housekeeping's, which also runs at start-up.
        written = statement.lstrip().upper().startswith(("INSERT", "UPDATE"))
        if written and not any(table in statement for table in ON_THEIR_OWN_SCHEDULE):
            writes.append(statement)

    await introduced(stage, owner)
    engine = stage.services.database.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count_writes)
    since = len(stage.slack.calls)
    try:
        for _ in range(10):
            for text in ORDINARY:
                await paste(stage, owner, text)
        await settle(stage)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_writes)

    assert stage.slack.calls[since:] == []
    assert writes == []


async def test_bots_messages_and_the_bots_own_are_not_read(stage: Stage, owner: SlackUser) -> None:
    text, _secret = secret_forms(stage)["secret_ token"]
    await introduced(stage, owner)
    since = len(stage.slack.calls)
    bot_body = copy.deepcopy(shape("message_channel_bot.json"))
    bot_body["event"].update(text=text, channel=CHANNEL)
    await owner.send_event_body(bot_body)
    own = copy.deepcopy(shape("message_channel.json"))
    own["event"].update(text=text, channel=CHANNEL, user=stage.slack.bot_user_id)
    await owner.send_event_body(own)
    await settle(stage)

    assert stage.slack.calls[since:] == []


async def test_a_paste_in_a_dm_with_the_bot_is_a_check_not_a_leak(
    stage: Stage, owner: SlackUser
) -> None:
    text, _secret = secret_forms(stage)["collection URL"]
    await owner.send_dm(text)
    await settle(stage)

    assert stage.slack.calls_to("chat.postEphemeral") == []
    dm = stage.slack.open_dm(owner.user_id)
    assert [m for m in stage.slack.messages(dm) if m.get("bot_id")], "checked in the DM"


async def test_a_mention_holding_a_secret_gets_the_guide_and_one_warning(
    stage: Stage, owner: SlackUser
) -> None:
    text, _secret = secret_forms(stage)["collection URL"]
    await owner.mention(text, channel_id=CHANNEL)
    mention = stage.slack.messages(CHANNEL)[-1]
    body = copy.deepcopy(shape("message_channel.json"))
    body["event"].update(
        user=owner.user_id, text=mention["text"], ts=mention["ts"], channel=CHANNEL
    )
    await owner.send_event_body(body)
    await settle(stage)

    assert len(warnings_to(stage, owner.user_id)) == 1
    guides = [m for m in stage.slack.messages(CHANNEL) if "Connect your Ecwid store" in m["text"]]
    assert len(guides) == 1


async def test_the_private_check_answers_the_author_alone(
    stage: Stage, owner: SlackUser, caplog: pytest.LogCaptureFixture
) -> None:
    text, secret = secret_forms(stage)["collection URL"]
    with caplog.at_level(logging.DEBUG):
        await paste(stage, owner, text)
        await settle(stage)
        (warning,) = warnings_to(stage, owner.user_id)
        button = json.dumps(warning["blocks"])
        assert secret not in button

        channel_before = stage.slack.messages(CHANNEL)
        await owner.click_button(warning, CHECK_HELD_ACTION)
        await settle(stage)

    dm = stage.slack.open_dm(owner.user_id)
    answers = [m for m in stage.slack.messages(dm) if m.get("bot_id")]
    assert answers, "the answer is in the author's DM"
    assert stage.slack.messages(CHANNEL) == channel_before, "nothing posted in the channel"
    records = await stage.services.database.checks_by_requester(owner.user_id, limit=5)
    assert [record.destination.entry for record in records] == ["leak_warning"]
    everything = "\n".join([everything_sent(stage), caplog.text, await all_rows(stage)])
    assert secret not in everything
    assert stage.sandbox.store("connected").token not in everything


async def test_the_held_secret_is_used_once_and_only_by_its_author(
    stage: Stage, owner: SlackUser
) -> None:
    text, _secret = secret_forms(stage)["store ID + token line"]
    await paste(stage, owner, text)
    await settle(stage)
    (warning,) = warnings_to(stage, owner.user_id)

    someone = stage.user("U0SOMEONE", "mallory")
    since = len(stage.slack.calls)
    await someone.click_button(warning, CHECK_HELD_ACTION, channel_id=CHANNEL)
    await settle(stage)
    assert [c.method for c in stage.slack.calls[since:]] == ["views.open"], "a form, no check"

    await owner.click_button(warning, CHECK_HELD_ACTION)
    await settle(stage)
    since = len(stage.slack.calls)
    await owner.click_button(warning, CHECK_HELD_ACTION)
    await settle(stage)
    assert [c.method for c in stage.slack.calls[since:]] == ["views.open"], "used once"


async def test_without_a_key_the_button_opens_the_private_form(
    keyless_stage: Stage,
) -> None:
    stage = keyless_stage
    owner = stage.user("U0OWNER", "jane")
    text, _secret = secret_forms(stage)["collection URL"]
    await paste(stage, owner, text)
    await settle(stage)
    (warning,) = warnings_to(stage, owner.user_id)
    assert "private form" in json.dumps(warning["blocks"])
    rows = await all_rows(stage)

    since = len(stage.slack.calls)
    await owner.click_button(warning, PASTE_PRIVATELY_ACTION)
    opened: SlackCall = await stage.slack.wait_for(
        lambda call: call.method == "views.open", since=since
    )
    metadata = json.loads(opened.args["view"]["private_metadata"])
    assert metadata["channel"] == owner.user_id, "the form's answer goes to the DM"
    assert "held_pastes" not in rows


async def test_slack_connect_pastes_get_one_note_in_the_support_channel(
    stage: Stage,
) -> None:
    agent = stage.user(AGENT, "agent")
    text, secret = secret_forms(stage)["collection URL"]
    message = stage.slack.post_user_message(CHANNEL, AGENT, "before")
    body = copy.deepcopy(shape("message_changed_slack_connect.json"))
    event = body["event"]
    event["channel"] = CHANNEL
    event["message"].update(user=AGENT, text=text, ts=message["ts"])
    event["previous_message"].update(user=AGENT, text="before", ts=message["ts"])
    await agent.send_event_body(body)
    await agent.send_event_body(body, retry_num=1)
    await settle(stage)

    (note,) = [m for m in stage.slack.messages(SUPPORT) if m.get("bot_id")]
    assert f"<@{AGENT}>" in note["text"]
    assert "<!date^" in note["text"]
    assert f"/archives/{CHANNEL}/" in note["text"], "a link to the message"
    assert "Slack Connect" in note["text"]
    assert secret not in json.dumps(note)
    (warning,) = warnings_to(stage, AGENT)
    assert "other company" in json.dumps(warning["blocks"])


async def test_support_hears_of_a_customers_paste_but_not_of_an_agents(
    stage: Stage, owner: SlackUser
) -> None:
    agent = stage.user(AGENT, "agent")
    text, _secret = secret_forms(stage)["secret_ token"]
    await paste(stage, agent, text)
    await settle(stage)
    assert [m for m in stage.slack.messages(SUPPORT) if m.get("bot_id")] == []

    await paste(stage, owner, text)
    await settle(stage)
    (note,) = [m for m in stage.slack.messages(SUPPORT) if m.get("bot_id")]
    assert f"<@{owner.user_id}>" in note["text"]
    assert "not in the support team" in note["text"]


async def test_metrics_count_secrets_by_kind_and_channel_type(
    stage: Stage, owner: SlackUser
) -> None:
    forms = secret_forms(stage)
    await paste(stage, owner, forms["collection URL"][0])
    await paste(stage, owner, forms["secret_ token"][0], channel=PRIVATE, channel_type="group")
    await settle(stage)

    exposition = stage.services.metrics.exposition().decode()
    assert (
        'ecwid_connect_secrets_spotted_total{channel_type="channel",kind="collection_url"} 1.0'
        in exposition
    )
    assert (
        'ecwid_connect_secrets_spotted_total{channel_type="group",kind="token"} 1.0' in exposition
    )
    assert 'ecwid_connect_leak_warnings_total{outcome="ephemeral"} 2.0' in exposition


async def test_a_shared_channel_is_recognised_by_asking_slack_when_the_event_does_not_say(
    stage: Stage, owner: SlackUser
) -> None:
    stage.slack.share_channel(CHANNEL)
    text, _secret = secret_forms(stage)["secret_ token"]
    await paste(stage, owner, text)  # a recorded body without `is_ext_shared_channel`
    await settle(stage)

    assert stage.slack.calls_to("conversations.info")
    (note,) = [m for m in stage.slack.messages(SUPPORT) if m.get("bot_id")]
    assert "Slack Connect" in note["text"]


async def test_where_slack_refuses_the_ephemeral_warning_it_goes_to_the_authors_dm(
    stage: Stage, owner: SlackUser
) -> None:
    stage.slack.fail_next("chat.postEphemeral", error="user_not_in_channel")
    text, secret = secret_forms(stage)["collection URL"]
    await paste(stage, owner, text)
    await settle(stage)

    dm = stage.slack.open_dm(owner.user_id)
    (warning,) = [
        m for m in stage.slack.messages(dm) if "password to your Ecwid store" in m["text"]
    ]
    assert secret not in json.dumps(warning)
    exposition = stage.services.metrics.exposition().decode()
    assert 'ecwid_connect_leak_warnings_total{outcome="dm"} 1.0' in exposition


async def test_a_secret_pasted_while_the_database_fails_is_warned_about_all_the_same(
    stage: Stage, owner: SlackUser, caplog: pytest.LogCaptureFixture
) -> None:
    # The warning is what matters: holding the paste for the private check is a convenience,
    # and without it the button opens the private form.
    async with stage.services.database.engine.begin() as connection:
        await connection.execute(sa.text("ALTER TABLE held_pastes RENAME TO held_pastes_away"))
    text, secret = secret_forms(stage)["store ID + token line"]  # checkable: held
    with caplog.at_level(logging.DEBUG):
        await paste(stage, owner, text)
        await settle(stage)

    (warning,) = warnings_to(stage, owner.user_id)
    assert PASTE_PRIVATELY_ACTION in json.dumps(warning["blocks"])
    assert secret not in "\n".join([everything_sent(stage), caplog.text])
