"""FakeSlack and SlackUser, checked with slack_sdk's own Web API client and signature verifier."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.loopback import AppServer
from bot.sandbox.slack.blockkit import validate_blocks, validate_message, validate_view
from bot.sandbox.slack.transcript import render_message, render_view
from bot.sandbox.slack.user import SlackUser, sign
from bot.sandbox.slack.webapi import FakeSlack

SECRET = "test-signing-secret"
CHANNEL = "C111"


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def button(action_id: str, text: str = "Go", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": plain(text), **extra}


def modal(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "check_store",
        "title": plain("Check a store"),
        "submit": plain("Check"),
        "close": plain("Cancel"),
        "private_metadata": CHANNEL,
        "blocks": [
            {
                "type": "input",
                "block_id": "store",
                "label": plain("Store ID"),
                "element": {"type": "plain_text_input", "action_id": "store_id"},
            },
            {
                "type": "input",
                "block_id": "token",
                "optional": True,
                "label": plain("Token"),
                "element": {"type": "plain_text_input", "action_id": "token"},
            },
            {"type": "actions", "block_id": "more", "elements": [button("help", "Help")]},
        ],
    }
    return view | overrides


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class EchoBot:
    """A stand-in for the bot: checks Slack's signature, keeps each request, answers `reply`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.reply: dict[str, Any] | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not SignatureVerifier(SECRET).is_valid_request(raw, dict(request.headers)):
            return web.Response(status=401)
        if request.content_type == "application/json":
            body = json.loads(raw)
        else:
            form = dict(urllib.parse.parse_qsl(raw.decode()))
            body = json.loads(form["payload"]) if "payload" in form else form
        self.received.append((body, dict(request.headers)))
        return web.Response() if self.reply is None else web.json_response(self.reply)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def slack(clock: Clock) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(clock=clock) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.api_url)


@pytest.fixture
async def bot() -> AsyncIterator[EchoBot]:
    echo = EchoBot()
    app = web.Application()
    app.router.add_post("/slack/events", echo.handle)
    async with AppServer(app) as server:
        echo.url = f"{server.base_url}/slack/events"
        yield echo


@pytest.fixture
async def user(slack: FakeSlack, bot: EchoBot) -> AsyncIterator[SlackUser]:
    async with SlackUser(bot.url, SECRET, slack) as jane:
        yield jane


async def open_modal(slack: FakeSlack, client: AsyncWebClient, **overrides: Any) -> str:
    trigger_id = slack.issue_trigger_id("U123")
    response = await client.views_open(trigger_id=trigger_id, view=modal(**overrides))
    return str(response["view"]["id"])


# -- Web API -----------------------------------------------------------------------------------


async def test_messages_updates_and_reactions_are_recorded(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="Checking…")
    ts = posted["ts"]
    reply = await client.chat_postMessage(channel=CHANNEL, text="in thread", thread_ts=ts)
    await client.chat_update(channel=CHANNEL, ts=ts, text="Done", blocks=[section("*Done*")])
    await client.reactions_add(channel=CHANNEL, timestamp=ts, name="white_check_mark")

    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "reactions.add",
    ]
    assert all(call.token == "xoxb-test" for call in slack.calls)
    assert posted["message"]["user"] == "UBOT"
    assert float(reply["ts"]) > float(ts)
    parent = slack.messages(CHANNEL)[0]
    assert parent["text"] == "Done"
    assert parent["blocks"][0]["text"]["text"] == "*Done*"
    assert [m["text"] for m in slack.messages(CHANNEL, thread_ts=ts)] == ["Done", "in thread"]
    assert slack.reactions(CHANNEL, ts) == {"white_check_mark"}

    with pytest.raises(SlackApiError) as refused:
        await client.reactions_add(channel=CHANNEL, timestamp=ts, name="white_check_mark")
    assert refused.value.response["error"] == "already_reacted"
    with pytest.raises(SlackApiError) as refused:
        await client.reactions_remove(channel=CHANNEL, timestamp=ts, name="eyes")
    assert refused.value.response["error"] == "no_reaction"
    assert slack.calls[-1].response["ok"] is False


async def test_form_encoded_calls_and_lookups(slack: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [section("from a form")]
    await client.api_call(
        "chat.postMessage", data={"channel": CHANNEL, "blocks": json.dumps(blocks)}
    )
    assert slack.calls[-1].args["blocks"] == blocks

    slack.set_channel_members(CHANNEL, ["UBOT", "U123"])
    members = await client.conversations_members(channel=CHANNEL)
    info = await client.conversations_info(channel=CHANNEL)
    jane = await client.users_info(user="U123")
    auth = await client.auth_test()
    link = await client.chat_getPermalink(channel=CHANNEL, message_ts="1700000000.000100")

    assert members["members"] == ["UBOT", "U123"]
    assert info["channel"]["is_member"] is True
    assert jane["user"]["name"] == "u123"
    assert (auth["user_id"], auth["team_id"], auth["bot_id"]) == ("UBOT", "T0001", "B0001")
    assert link["permalink"] == "https://fake.slack.test/archives/C111/p1700000000000100"

    slack.set_channel_members("C222", ["U123"])
    with pytest.raises(SlackApiError, match="not_in_channel"):
        await client.chat_postMessage(channel="C222", text="hi")


async def test_tokens_and_unknown_methods(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(base_url=slack.api_url) as http:
        anonymous = (await http.post("chat.postMessage", data={"channel": CHANNEL})).json()
        user_token = (
            await http.post("auth.test", headers={"Authorization": "Bearer xoxp-user"})
        ).json()
        unknown = (
            await http.post("chat.shout", headers={"Authorization": "Bearer xoxb-test"})
        ).json()

    assert anonymous == {"ok": False, "error": "not_authed"}
    assert user_token["error"] == "invalid_auth"
    assert unknown["error"] == "unknown_method"
    assert [c.method for c in slack.calls] == ["chat.postMessage", "auth.test", "chat.shout"]


async def test_a_429_is_retried_by_slack_sdk(
    slack: FakeSlack, client: AsyncWebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.0)  # slack_sdk adds up to 1 s of jitter
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    slack.fail_next("chat.postMessage", status=429, retry_after=0)

    response = await client.chat_postMessage(channel=CHANNEL, text="hello")

    assert response["ok"] is True
    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, first.response["error"]) == (429, "ratelimited")
    assert (second.status, second.response["ok"]) == (200, True)
    assert len(slack.messages(CHANNEL)) == 1


async def test_injected_errors_fail_without_side_effects(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.fail_next("chat.postMessage", error="channel_not_found", times=2)
    slack.fail_next("reactions.add", status=503)

    for _ in range(2):
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await client.chat_postMessage(channel=CHANNEL, text="hello")
    with pytest.raises(SlackApiError) as unavailable:
        await client.reactions_add(channel=CHANNEL, timestamp="1.2", name="eyes")
    await client.chat_postMessage(channel=CHANNEL, text="third time")

    assert unavailable.value.response.status_code == 503
    assert [m["text"] for m in slack.messages(CHANNEL)] == ["third time"]
    assert slack.reactions(CHANNEL, "1.2") == set()
    assert len(slack.calls) == 4


async def test_slack_refuses_what_it_would_refuse(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as too_many:
        await client.chat_postMessage(channel=CHANNEL, text="x", blocks=[section("b")] * 51)
    with pytest.raises(SlackApiError) as no_text, pytest.warns(UserWarning, match="`text`"):
        await client.chat_postMessage(channel=CHANNEL)
    with pytest.raises(SlackApiError) as long_title:
        await open_modal(slack, client, title=plain("A title of twenty-five ch"))

    assert too_many.value.response["error"] == "invalid_blocks"
    assert too_many.value.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert no_text.value.response["error"] == "no_text"
    # Slack answers a bad view with invalid_arguments, not invalid_blocks.
    assert long_title.value.response["error"] == "invalid_arguments"
    assert long_title.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]
    assert [c.response["ok"] for c in slack.calls] == [False, False, False]
    assert slack.messages(CHANNEL) == []
    assert slack.views == {}


# -- message metadata and reading conversations ----------------------------------------------

# From the example of Slack's docs, api.slack.com/events/message_metadata_posted.
TASK_CREATED = {
    "event_type": "task_created",
    "event_payload": {"id": "TK-2132", "summary": "New issue with the display of mobile element"},
}


async def test_metadata_is_kept_and_read_back_only_when_asked(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="Checking…")
    reply = await client.chat_postMessage(
        channel=CHANNEL, text="Connected", thread_ts=parent["ts"], metadata=TASK_CREATED
    )

    with_metadata = await client.conversations_replies(
        channel=CHANNEL, ts=parent["ts"], include_all_metadata=True
    )
    without = await client.conversations_replies(channel=CHANNEL, ts=parent["ts"])
    history = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)

    assert reply["message"]["metadata"] == TASK_CREATED
    assert [m.get("metadata") for m in with_metadata["messages"]] == [None, TASK_CREATED]
    assert all("metadata" not in m for m in without["messages"])
    assert [m["text"] for m in history["messages"]] == ["Checking…"]  # replies stay in threads
    with pytest.raises(SlackApiError, match="invalid_metadata_format"):
        await client.chat_postMessage(channel=CHANNEL, text="x", metadata={"event_type": "t"})


async def test_history_pages_newest_first_by_cursor(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    posted = [await client.chat_postMessage(channel=CHANNEL, text=f"m{n}") for n in range(5)]
    await client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=posted[0]["ts"])

    pages = []
    cursor = None
    while True:
        page = await client.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
        pages.append([m["text"] for m in page["messages"]])
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    oldest = (await client.conversations_history(channel=CHANNEL, limit=1, latest=posted[1]["ts"]))[
        "messages"
    ][0]

    assert pages == [["m4", "m3"], ["m2", "m1"], ["m0"]]
    assert (oldest["text"], oldest["reply_count"], oldest["reply_users"]) == ("m0", 1, ["UBOT"])
    with pytest.raises(SlackApiError, match="invalid_cursor"):
        await client.conversations_history(channel=CHANNEL, cursor="bm90IGEgY3Vyc29y")


async def test_replies_give_the_whole_thread_from_any_of_its_messages(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = slack.post_user_message(CHANNEL, "U123", "my store will not connect")
    replies = [
        await client.chat_postMessage(channel=CHANNEL, text=f"r{n}", thread_ts=root["ts"])
        for n in range(3)
    ]

    first = await client.conversations_replies(channel=CHANNEL, ts=replies[1]["ts"], limit=2)
    rest = await client.conversations_replies(
        channel=CHANNEL, ts=root["ts"], cursor=first["response_metadata"]["next_cursor"]
    )

    assert [m["text"] for m in first["messages"]] == ["my store will not connect", "r0"]
    assert first["messages"][0]["reply_count"] == 3
    assert first["messages"][1]["parent_user_id"] == "U123"
    assert [m["text"] for m in rest["messages"]] == ["r1", "r2"]
    assert rest["has_more"] is False
    with pytest.raises(SlackApiError, match="thread_not_found"):
        await client.conversations_replies(channel=CHANNEL, ts="1600000000.000100")


async def test_reading_needs_the_history_scope_and_membership(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="hello")
    slack.set_channel_members("C0OUTSIDE", ["U123"])
    slack.set_channel_members("G0SECRET", ["U123"], private=True)
    slack.set_group_dm("G0GROUP", ["U123", "U456"])
    slack.revoke_scope("mpim:history")

    refusals = {}
    for channel in ("C0OUTSIDE", "G0SECRET", "G0GROUP"):
        with pytest.raises(SlackApiError) as refused:
            await client.conversations_history(channel=channel)
        refusals[channel] = refused.value.response.data

    assert refusals["C0OUTSIDE"]["error"] == "not_in_channel"
    assert refusals["G0SECRET"]["error"] == "channel_not_found"
    assert refusals["G0GROUP"]["error"] == "missing_scope"
    assert refusals["G0GROUP"]["needed"] == "mpim:history"
    assert (await client.conversations_history(channel=CHANNEL))["messages"]


# -- ephemerals, permalinks, channels, people --------------------------------------------------


async def test_an_ephemeral_in_a_thread_is_shown_to_one_person_only(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.set_channel_members(CHANNEL, ["UBOT", "U123", "U456"])
    root = await client.chat_postMessage(channel=CHANNEL, text="guide")

    shown = await client.chat_postEphemeral(
        channel=CHANNEL, user="U123", text="only you", thread_ts=root["ts"]
    )

    (ephemeral,) = slack.ephemerals(CHANNEL, "U123")
    assert (ephemeral["ts"], ephemeral["thread_ts"]) == (shown["message_ts"], root["ts"])
    assert slack.ephemerals(CHANNEL, "U456") == []
    assert [m["text"] for m in slack.messages(CHANNEL)] == ["guide"]  # not a message of the thread
    with pytest.raises(SlackApiError, match="user_not_in_channel"):
        await client.chat_postEphemeral(channel=CHANNEL, user="U789", text="x")


async def test_a_reply_permalink_names_its_thread(slack: FakeSlack, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="guide")
    reply = await client.chat_postMessage(channel=CHANNEL, text="answer", thread_ts=root["ts"])

    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"])

    digits = reply["ts"].replace(".", "")
    assert link["permalink"] == (
        f"https://fake.slack.test/archives/{CHANNEL}/p{digits}?thread_ts={root['ts']}&cid={CHANNEL}"
    )


async def test_a_slack_connect_channel_says_it_is_shared(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.share_channel("C0CONNECT")
    slack.share_channel("C0ORG", external=False)
    slack.set_channel_members("C0AWAY", ["U123"])

    connect = (await client.conversations_info(channel="C0CONNECT"))["channel"]
    org = (await client.conversations_info(channel="C0ORG"))["channel"]
    plain_channel = (await client.conversations_info(channel=CHANNEL))["channel"]
    away = (await client.conversations_info(channel="C0AWAY"))["channel"]

    assert (connect["is_shared"], connect["is_ext_shared"], connect["is_member"]) == (
        True,
        True,
        True,
    )
    assert (org["is_shared"], org["is_ext_shared"], org["is_org_shared"]) == (True, False, True)
    assert (plain_channel["is_shared"], plain_channel["is_ext_shared"]) == (False, False)
    assert away["is_member"] is False


async def test_a_persons_time_zone_is_what_the_test_set(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.set_time_zone("U123", "Asia/Kolkata")  # no daylight saving: always +05:30

    jane = (await client.users_info(user="U123"))["user"]
    someone = (await client.users_info(user="U456"))["user"]

    assert (jane["tz"], jane["tz_offset"], jane["tz_label"]) == ("Asia/Kolkata", 19800, "IST")
    assert (someone["tz"], someone["tz_offset"]) == ("UTC", 0)
    with pytest.raises(KeyError):
        slack.set_time_zone("U123", "Mars/Olympus_Mons")


# -- workflow steps ----------------------------------------------------------------------------


async def test_a_step_is_completed_with_its_own_token_and_read_back(slack: FakeSlack) -> None:
    done = slack.start_function_execution("check_store", {"store_id": "1003"})
    failing = slack.start_function_execution("check_store", {"store_id": "1004"})
    step = AsyncWebClient(token=done.bot_access_token, base_url=slack.api_url)

    await step.functions_completeSuccess(
        function_execution_id=done.id, outputs={"connected": True, "store_id": "1003"}
    )
    await AsyncWebClient(token=failing.bot_access_token, base_url=slack.api_url).api_call(
        "functions.completeError",
        json={"function_execution_id": failing.id, "error": "The token cannot read orders."},
    )

    assert done.bot_access_token.startswith("xwfp-")
    assert slack.execution(done.id).state == "completed"
    assert slack.execution(done.id).outputs == {"connected": True, "store_id": "1003"}
    assert (slack.execution(failing.id).state, slack.execution(failing.id).error) == (
        "failed",
        "The token cannot read orders.",
    )
    with pytest.raises(SlackApiError, match="execution_not_in_running_state"):
        await step.functions_completeSuccess(function_execution_id=done.id, outputs={})
    with pytest.raises(SlackApiError, match="function_execution_not_found"):
        await step.functions_completeError(function_execution_id="Fx0", error="x")
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await AsyncWebClient(token="xwfp-forged", base_url=slack.api_url).auth_test()
    other = slack.start_function_execution("check_store")
    with pytest.raises(SlackApiError, match="access_denied"):
        await step.functions_completeSuccess(function_execution_id=other.id, outputs={})


# -- Block Kit validation ----------------------------------------------------------------------


def test_valid_blocks_pass() -> None:
    blocks = [
        {"type": "header", "text": plain("Store 123")},
        {
            "type": "section",
            "text": mrkdwn("*All good* :white_check_mark:"),
            "accessory": button("rerun", "Run again"),
        },
        {"type": "section", "fields": [mrkdwn("*Products*\n12"), mrkdwn("*Orders*\n3")]},
        {"type": "context", "elements": [mrkdwn("checked in 0.4 s")]},
        {"type": "divider"},
        {"type": "actions", "elements": [button("a"), button("b", url="https://example.com")]},
    ]
    assert validate_blocks(blocks) == []
    assert validate_message({"text": "fallback", "blocks": blocks}) == []
    assert validate_view(modal()) == []


@pytest.mark.parametrize(
    ("blocks", "complaint"),
    [
        (
            [section("x" * 3001)],
            "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
        ),
        ([{"type": "header", "text": plain("x" * 151)}], "less than 151 characters"),
        ([{"type": "header", "text": mrkdwn("*x*")}], "failed to match all allowed schemas"),
        ([{"type": "actions", "elements": [button("a", "x" * 76)]}], "less than 76 characters"),
        ([{"type": "actions", "elements": [button("a" * 256)]}], "less than 256 characters"),
        (
            [{"type": "actions", "elements": [button(f"a{i}") for i in range(26)]}],
            "no more than 25",
        ),
        ([{"type": "actions", "elements": [button("a"), button("a")]}], "duplicate action_id"),
        ([{"type": "actions", "elements": [button("a", url="u" * 3001)]}], "/elements/0/url]"),
        ([{"type": "section", "fields": [mrkdwn("f")] * 11}], "no more than 10 items"),
        ([{"type": "section", "fields": [mrkdwn("f" * 2001)]}], "/blocks/0/fields/0/text]"),
        ([{"type": "context", "elements": [mrkdwn("c")] * 11}], "no more than 10 items"),
        ([{"type": "section", "text": {"text": "untyped"}}], "missing required field: type"),
        ([{"type": "section", "text": {"type": "mrkdwn"}}], "missing required field: text"),
        ([{"type": "section", "block_id": "b" * 256, "text": mrkdwn("x")}], "/block_id]"),
        (
            [{**section("a"), "block_id": "s"}, {**section("b"), "block_id": "s"}],
            "duplicate block_id",
        ),
        ([{"type": "carousel_of_doom"}], "failed to match all allowed schemas"),
    ],
)
def test_invalid_blocks_are_named(blocks: list[dict[str, Any]], complaint: str) -> None:
    errors = validate_blocks(blocks)
    assert any(complaint in error for error in errors), errors


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"submit": plain("x" * 25)}, "/view/submit/text]"),
        ({"close": plain("x" * 25)}, "/view/close/text]"),
        ({"private_metadata": "x" * 3001}, "/view/private_metadata]"),
        ({"callback_id": "x" * 256}, "/view/callback_id]"),
        (
            {"blocks": [section("b")] * 101},
            "no more than 100 items allowed [json-pointer:/view/blocks]",
        ),
        ({"submit": None}, "a modal with input blocks must have submit"),
        ({"title": None}, "missing required field: title"),
    ],
)
def test_invalid_views_are_named(overrides: dict[str, Any], complaint: str) -> None:
    errors = validate_view(modal(**overrides))
    assert any(complaint in error for error in errors), errors


# -- views and triggers ------------------------------------------------------------------------


async def test_view_lifecycle(slack: FakeSlack, client: AsyncWebClient) -> None:
    view_id = await open_modal(slack, client, external_id="check-1")
    opened = slack.views[view_id]
    assert opened["state"] == {"values": {}}
    assert opened["private_metadata"] == CHANNEL
    assert opened["root_view_id"] == view_id

    first_hash = opened["hash"]
    await client.views_update(view_id=view_id, view=modal(title=plain("Checking…")))
    await client.views_update(external_id="check-1", view=modal(title=plain("Checked")))
    assert slack.views[view_id]["title"]["text"] == "Checked"
    assert slack.views[view_id]["hash"] != first_hash

    home = await client.views_publish(
        user_id="U123", view={"type": "home", "blocks": [section("hi")]}
    )
    assert home["view"]["type"] == "home"

    slack.close_view(view_id)
    with pytest.raises(SlackApiError) as closed:
        await client.views_update(view_id=view_id, view=modal())
    assert closed.value.response["error"] == "not_found"
    assert set(slack.views) == {home["view"]["id"]}


async def test_triggers_expire_and_work_once(
    slack: FakeSlack, client: AsyncWebClient, clock: Clock
) -> None:
    fresh = slack.issue_trigger_id("U123")
    await client.views_open(trigger_id=fresh, view=modal())
    late = slack.issue_trigger_id("U123")
    clock.now += 3.1

    errors = []
    for trigger_id in (fresh, late, "123.456.made-up"):
        with pytest.raises(SlackApiError) as refused:
            await client.views_open(trigger_id=trigger_id, view=modal())
        errors.append(refused.value.response["error"])

    assert errors == ["exchanged_trigger_id", "expired_trigger_id", "invalid_trigger_id"]
    assert len(slack.views) == 1


async def test_views_push_needs_a_trigger_from_the_modal(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = await open_modal(slack, client)
    pushed = await client.views_push(
        trigger_id=slack.issue_trigger_id("U123", view_id=root), view=modal()
    )
    top = pushed["view"]
    assert (top["root_view_id"], top["previous_view_id"]) == (root, root)

    slack.close_view(root)
    assert slack.views == {}


# -- SlackUser ---------------------------------------------------------------------------------


def test_sign_matches_slack_sdk() -> None:
    headers = sign(b"payload=%7B%7D", SECRET, timestamp=1_700_000_000)
    expected = SignatureVerifier(SECRET).generate_signature(
        timestamp="1700000000", body=b"payload=%7B%7D"
    )
    assert headers == {"X-Slack-Request-Timestamp": "1700000000", "X-Slack-Signature": expected}


async def test_slash_command_is_signed_and_its_reply_shown(
    slack: FakeSlack, user: SlackUser, bot: EchoBot
) -> None:
    bot.reply = {"response_type": "in_channel", "text": "On it"}

    response = await user.slash_command("/ecwid-check", "12345", channel_id=CHANNEL)

    assert response.status_code == 200
    [(form, headers)] = bot.received
    assert {k: form[k] for k in ("command", "text", "channel_id", "user_id", "user_name")} == {
        "command": "/ecwid-check",
        "text": "12345",
        "channel_id": CHANNEL,
        "user_id": "U123",
        "user_name": "jane",
    }
    assert form["trigger_id"] == user.last_trigger_id
    assert form["response_url"].startswith(slack.base_url)
    assert headers["X-Slack-Signature"].startswith("v0=")
    assert [m["text"] for m in slack.messages(CHANNEL)] == ["On it"]
    assert slack.calls_to("ack")[0].args == bot.reply


async def test_response_url_posts_land_like_slack(
    slack: FakeSlack, user: SlackUser, bot: EchoBot, clock: Clock
) -> None:
    await user.slash_command("/ecwid-check", "", channel_id=CHANNEL)
    response_url = bot.received[0][0]["response_url"]

    async with httpx.AsyncClient() as http:
        replies = [await http.post(response_url, json={"text": f"step {n}"}) for n in range(6)]
        public = await http.post(
            slack.new_response_url(channel=CHANNEL, user="U123"),
            json={"response_type": "in_channel", "text": "for all"},
        )
        stale_url = slack.new_response_url(channel=CHANNEL)
        clock.now += 31 * 60
        late = await http.post(stale_url, json={"text": "x"})

    assert [r.status_code for r in replies] == [200] * 5 + [404]
    assert replies[-1].json()["error"] == "used_url"
    assert [m["text"] for m in slack.ephemerals(CHANNEL, "U123")] == [f"step {n}" for n in range(5)]
    assert public.status_code == 200
    assert [m["text"] for m in slack.messages(CHANNEL)] == ["for all"]
    assert late.json()["error"] == "expired_url"
    assert len(slack.calls_to("response_url")) == 8


async def test_button_click_in_a_message(
    slack: FakeSlack, client: AsyncWebClient, user: SlackUser, bot: EchoBot
) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="root")
    posted = await client.chat_postMessage(
        channel=CHANNEL,
        text="Result",
        thread_ts=parent["ts"],
        blocks=[
            section("Store 123 is fine"),
            {"type": "actions", "block_id": "next", "elements": [button("rerun", value="123")]},
        ],
    )

    await user.click_button(posted["message"], "rerun")

    [(payload, _)] = bot.received
    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
        "thread_ts": parent["ts"],
    }
    assert payload["actions"][0] | {"action_ts": None} == {
        "type": "button",
        "action_id": "rerun",
        "block_id": "next",
        "text": plain("Go"),
        "value": "123",
        "action_ts": None,
    }
    assert payload["message"]["ts"] == posted["ts"]
    assert payload["trigger_id"] == user.last_trigger_id
    with pytest.raises(ValueError, match="no button 'nope'; buttons: rerun"):
        await user.click_button(posted["message"], "nope")


async def test_view_submission_and_response_actions(
    slack: FakeSlack, client: AsyncWebClient, user: SlackUser, bot: EchoBot
) -> None:
    view_id = await open_modal(slack, client, notify_on_close=True)

    bot.reply = {"response_action": "errors", "errors": {"store": "Digits only"}}
    await user.submit_view(view_id, {"store": {"store_id": "abc"}})
    payload = bot.received[-1][0]
    assert payload["type"] == "view_submission"
    assert payload["view"]["id"] == view_id
    assert payload["view"]["callback_id"] == "check_store"
    assert payload["view"]["private_metadata"] == CHANNEL
    assert payload["view"]["state"]["values"] == {
        "store": {"store_id": {"type": "plain_text_input", "value": "abc"}},
        "token": {"token": {"type": "plain_text_input", "value": None}},
    }
    assert view_id in slack.views

    bot.reply = {"response_action": "update", "view": modal(title=plain("Checking…"))}
    await user.submit_view(view_id, {"store": {"store_id": "123"}})
    assert slack.views[view_id]["title"]["text"] == "Checking…"
    await client.views_update(view_id=view_id, view=modal(title=plain("Done")))

    await user.click_button(slack.views[view_id], "help")
    assert bot.received[-1][0]["container"] == {"type": "view", "view_id": view_id}
    assert bot.received[-1][0]["view"]["title"]["text"] == "Done"

    with pytest.raises(ValueError, match="required"):
        await user.submit_view(view_id, {})
    with pytest.raises(ValueError, match="no input store/typo"):
        await user.submit_view(view_id, {"store": {"store_id": "1", "typo": "2"}})

    bot.reply = None
    await user.submit_view(view_id, {"store": {"store_id": "123"}})
    assert view_id not in slack.views
    assert await user.close_modal(await open_modal(slack, client)) is None


async def test_close_modal_notifies_when_asked(
    slack: FakeSlack, client: AsyncWebClient, user: SlackUser, bot: EchoBot
) -> None:
    view_id = await open_modal(slack, client, notify_on_close=True)

    response = await user.close_modal(view_id)

    assert response is not None
    assert response.status_code == 200
    assert bot.received[-1][0]["type"] == "view_closed"
    with pytest.raises(SlackApiError, match="not_found"):
        await client.views_update(view_id=view_id, view=modal())


async def test_events_mentions_and_shortcuts(
    slack: FakeSlack, user: SlackUser, bot: EchoBot
) -> None:
    await user.mention("check 123", channel_id=CHANNEL, thread_ts="1699999999.000100")
    await user.send_event({"type": "app_home_opened", "user": "U123"}, event_id="Ev1", retry_num=1)
    [message] = slack.messages(CHANNEL)
    await user.message_shortcut("check_message", message, channel_id=CHANNEL)

    (mention, _), (retry, retry_headers), (shortcut, _) = bot.received
    assert mention["type"] == "event_callback"
    assert mention["event"]["type"] == "app_mention"
    assert mention["event"]["text"] == "<@UBOT> check 123"
    assert mention["event"]["thread_ts"] == "1699999999.000100"
    assert mention["authorizations"][0]["user_id"] == "UBOT"
    assert retry["event_id"] == "Ev1"
    assert (retry_headers["X-Slack-Retry-Num"], retry_headers["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )
    assert shortcut["type"] == "message_action"
    assert shortcut["message"]["ts"] == message["ts"]
    assert shortcut["channel"]["id"] == CHANNEL


async def test_posting_policies_refuse_as_slack_documents(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.add_user("U123", "jane")
    slack.set_posting_policy("C0THREADS", "threads_only")
    slack.set_posting_policy("C0NEWS", "read_only")
    root = slack.post_user_message("C0THREADS", "U123", "question")

    with pytest.raises(SlackApiError) as top_level:
        await client.chat_postMessage(channel="C0THREADS", text="top level")
    in_thread = await client.chat_postMessage(
        channel="C0THREADS", thread_ts=root["ts"], text="a reply"
    )
    with pytest.raises(SlackApiError) as read_only:
        await client.chat_postMessage(channel="C0NEWS", thread_ts=root["ts"], text="x")
    ephemeral = await client.chat_postEphemeral(channel="C0NEWS", user="U123", text="only you")
    async with httpx.AsyncClient() as http:
        public = await http.post(
            slack.new_response_url(channel="C0NEWS", user="U123"),
            json={"response_type": "in_channel", "text": "for all"},
        )

    assert top_level.value.response["error"] == "restricted_action_thread_only_channel"
    assert in_thread["ok"]
    assert read_only.value.response["error"] == "restricted_action_read_only_channel"
    assert ephemeral["ok"]
    assert (public.status_code, public.json()["error"]) == (
        400,
        "restricted_action_read_only_channel",
    )
    with pytest.raises(ValueError, match="no posting policy"):
        slack.set_posting_policy(CHANNEL, "sometimes")


async def test_a_private_channel_without_the_bot_does_not_exist_for_it(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.set_channel_members("G0SECRET", ["U123"], private=True)
    slack.set_channel_members("C0PUBLIC", ["U123"])

    for call in (
        client.conversations_members(channel="G0SECRET"),
        client.chat_postMessage(channel="G0SECRET", text="x"),
    ):
        with pytest.raises(SlackApiError) as refused:
            await call
        assert refused.value.response["error"] == "channel_not_found"
    public = await client.conversations_members(channel="C0PUBLIC")
    assert public["members"] == ["U123"]


async def test_recorded_refusals_are_answered_as_they_are(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    recorded = {"ok": False, "error": "fetch_members_failed", "needed": "", "provided": ""}
    slack.fail_next("conversations.members", response=recorded)

    with pytest.raises(SlackApiError) as refused:
        await client.conversations_members(channel=CHANNEL)

    assert refused.value.response.data == recorded
    assert (await client.conversations_members(channel=CHANNEL))["ok"]


async def test_dms_edits_and_raw_payloads(
    slack: FakeSlack, user: SlackUser, bot: EchoBot, client: AsyncWebClient
) -> None:
    await user.send_dm("hello bot")
    dm = slack.open_dm(user.user_id)
    [written] = slack.messages(dm)
    mention = slack.post_user_message(CHANNEL, user.user_id, "<@UBOT> hi")
    await user.edit_mention(mention, "hi again", channel_id=CHANNEL)
    await user.send_payload({"type": "block_actions", "actions": []})
    answer = await client.chat_postMessage(channel=user.user_id, text="hi")

    (im, _), (edited, _), (raw, _) = bot.received
    assert im["event"]["channel_type"] == "im"
    assert im["event"]["channel"] == dm
    assert im["event"]["text"] == "hello bot"
    assert im["event"]["ts"] == written["ts"]
    assert edited["event"]["type"] == "app_mention"
    assert edited["event"]["edited"]["user"] == user.user_id
    assert edited["event"]["text"] == "<@UBOT> hi again"
    assert edited["event_id"] != im["event_id"]
    assert raw == {"type": "block_actions", "actions": []}
    assert answer["channel"] == dm  # posting to a user ID lands in the DM with them
    assert [m["text"] for m in slack.messages(dm)] == ["hello bot", "hi"]


async def test_wait_for_sees_past_and_future_calls(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="early")
    early = await slack.wait_for(lambda c: c.method == "chat.postMessage", timeout=0.5)
    assert early.args["text"] == "early"

    later = asyncio.create_task(slack.wait_for(lambda c: c.method == "reactions.add"))
    await client.reactions_add(channel=CHANNEL, timestamp="1.1", name="eyes")
    assert (await later).args["name"] == "eyes"

    with pytest.raises(TimeoutError, match=r"seen: chat\.postMessage, reactions\.add"):
        await slack.wait_for(lambda c: c.method == "views.open", timeout=0.05)


# -- rendering ---------------------------------------------------------------------------------


def test_render_message_reads_like_the_conversation() -> None:
    message = {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": plain("Store 123")},
            {"type": "section", "text": mrkdwn(":white_check_mark: *API access works*")},
            {
                "type": "section",
                "fields": [mrkdwn("*Products*\n12"), mrkdwn("*Orders*\n3"), mrkdwn("*Plan*\nPro")],
            },
            {"type": "divider"},
            {
                "type": "context",
                "elements": [mrkdwn("Checked in 0.4 s"), mrkdwn("token ends 1a2b")],
            },
            {"type": "actions", "elements": [button("rerun", "Run again"), button("x", "Details")]},
        ],
    }

    assert render_message(message) == "\n".join(
        [
            "== Store 123 ==",
            ":white_check_mark: *API access works*",
            "Products: 12   Orders: 3",
            "Plan: Pro",
            "─" * 40,
            "  · Checked in 0.4 s",
            "  · token ends 1a2b",
            "[ Run again ]  [ Details ]",
        ]
    )
    assert render_message({"text": "plain *text*"}) == "plain *text*"


def test_render_view_shows_inputs_and_buttons() -> None:
    view = modal() | {
        "state": {"values": {"store": {"store_id": {"type": "plain_text_input", "value": "123"}}}}
    }

    assert render_view(view) == "\n".join(
        [
            "=== Check a store ===",
            "<Store ID: 123>",
            "<Token (optional): ________>",
            "[ Help ]",
            "[ Cancel ]  [ Check ]",
        ]
    )


# Faults at random.


async def test_injected_faults_fail_a_fraction_of_calls_in_every_way_and_stop_on_demand() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-faults", base_url=slack.api_url, retry_handlers=[])
        slack.inject_faults(0.5, seed=3)
        outcomes = []
        for n in range(60):
            try:
                await client.chat_postMessage(channel="C0FAULTS", text=f"message {n}")
                outcomes.append("ok")
            except SlackApiError as error:
                outcomes.append(str(error.response.status_code))
            except aiohttp.ClientError:
                outcomes.append("dropped")
        slack.inject_faults(0)
        await client.chat_postMessage(channel="C0FAULTS", text="after")

    calls = slack.calls_to("chat.postMessage")
    kinds = {call.dropped or str(call.status) for call in calls}
    assert kinds == {"200", "429", "500", "dropped_before", "dropped_after"}
    assert {"ok", "429", "500", "dropped"} == set(outcomes)
    assert all(call.status == 429 for call in calls if call.response.get("error") == "ratelimited")
    # Applied means in the channel, whatever the bot heard: dropped-after posts are there.
    applied = {
        call.args["text"] for call in calls if call.status == 200 or call.dropped == "dropped_after"
    }
    assert {m["text"] for m in slack.messages("C0FAULTS")} == applied
    assert slack.dropped_after_applied("chat.postMessage")
    assert calls[-1].status == 200


def test_unknown_fault_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="kinds"):
        FakeSlack().inject_faults(0.1, kinds=("meteor",))


async def test_socket_mode_hands_out_a_socket_that_says_hello_and_takes_acks() -> None:
    async with FakeSlack() as slack, aiohttp.ClientSession() as session:
        slack.socket_mode.envelopes.append({"envelope_id": "e1", "type": "events_api"})
        headers = {"Authorization": "Bearer xapp-1-A0-1-abc"}
        async with session.post(f"{slack.api_url}apps.connections.open", headers=headers) as got:
            opened = await got.json()
        async with session.ws_connect(opened["url"]) as socket:
            assert (await socket.receive_json())["type"] == "hello"
            assert (await socket.receive_json())["envelope_id"] == "e1"
            await socket.send_json({"envelope_id": "e1"})
        bot_token = {"Authorization": "Bearer xoxb-1"}
        async with session.post(f"{slack.api_url}apps.connections.open", headers=bot_token) as got:
            refused = await got.json()
        slack.socket_mode.stall()
        async with session.post(f"{slack.api_url}apps.connections.open", headers=headers) as got:
            stalled = await got.json()
    assert slack.socket_mode.opened == 1
    assert slack.socket_mode.acks == [{"envelope_id": "e1"}]
    assert refused["error"] == "invalid_auth"
    assert stalled["url"].endswith("/socket-mode/stall")
    assert len(slack.calls_to("apps.connections.open")) == 3


async def test_conversations_open_names_the_dm_a_post_to_the_person_lands_in(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    opened = await client.conversations_open(users="U123")
    posted = await client.chat_postMessage(channel="U123", text="hello")

    assert opened["channel"] == {"id": slack.open_dm("U123")}
    assert posted["channel"] == opened["channel"]["id"]
    slack.remove_user("U0GONE")
    for users, error in (("U0GONE", "user_not_found"), ("UBOT", "cannot_dm_bot")):
        with pytest.raises(SlackApiError) as refused:
            await client.conversations_open(users=users)
        assert refused.value.response["error"] == error
