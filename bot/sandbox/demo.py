"""`make demo`: the whole product, offline.

Starts the Ecwid sandbox, a local stand-in for Slack's Web API and the real bot over HTTP (with
signed requests, as Slack sends them), plays the conversations people have with it, and prints
what they see, rendered as text.

Over 400 lines, yet one thing: the demo's scenes, in the order they are played.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.db.vault import new_key
from bot.engine.check import ConnectionChecker
from bot.engine.http_client import new_http_client
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import PAID_FEATURES
from bot.sandbox.slack.transcript import render_message, render_view
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.workspace import SlackCall
from bot.sandbox.stage import Stage, running_stage, stage_settings
from bot.settings import Settings
from handlers.blocks.check import OPEN_CHECK_MODAL_ACTION, URL_BLOCK, URL_INPUT
from handlers.blocks.support import (
    CUSTOMER_REPLY_ACTION,
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
from handlers.blocks.watch import DATE_BLOCK, DATE_INPUT, WATCH_ACTION
from handlers.blocks.workflow import STEP_PASTE_ACTION
from handlers.shortcuts import CHECK_SHORTCUT
from handlers.workflow import CHANNEL_INPUT, PERSON_INPUT, STEP_CALLBACK

CHANNEL = "C0MIGRATE"
SUPPORT = "C0SUPPORT"
RESULT_WAIT_S = 15.0
# Each sandbox request takes this long, as Ecwid's would: the modal's ladder has time to fill in.
ECWID_LATENCY_MS = 1000.0
# The demo's follow-up checks again this often (the product's default is ten minutes).
FOLLOW_UP_EVERY_S = 3.0
# The demo's reminder comes this long after the migration date began (the default is 72 h):
# with the migration today, at once.
DEMO_REMINDER_AFTER_S = 1.0


def _say(who: str, what: str) -> None:
    print(f"\n{who} {what}")


def _show(rendered: str) -> None:
    print(textwrap.indent(rendered.rstrip(), "    │ ", predicate=lambda _line: True))


def _result_in_thread(thread_ts: str) -> Callable[[SlackCall], bool]:
    def matches(call: SlackCall) -> bool:
        return (
            call.method == "chat.postMessage"
            and call.args.get("thread_ts") == thread_ts
            and "Checked for" in str(call.args.get("blocks"))
        )

    return matches


async def _open_modal(stage: Stage, user: SlackUser, message: dict[str, Any]) -> str:
    since = len(stage.slack.calls)
    await user.click_button(message, OPEN_CHECK_MODAL_ACTION, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    return str(opened.response["view"]["id"])


def _modal_updates(stage: Stage, view_id: str, since: int) -> list[SlackCall]:
    return [
        call
        for call in stage.slack.calls[since:]
        if call.method == "views.update" and call.args.get("view_id") == view_id
    ]


async def _submit_and_follow(
    stage: Stage, user: SlackUser, view_id: str, paste: str, thread_ts: str
) -> None:
    since = len(stage.slack.calls)
    await user.submit_view(view_id, {URL_BLOCK: {URL_INPUT: paste}})
    _say("🪟", "The modal switches to:")
    _show(render_view(stage.slack.views[view_id]))
    result = await stage.slack.wait_for(_result_in_thread(thread_ts), timeout=RESULT_WAIT_S)
    await stage.slack.wait_for(
        lambda call: call.method == "views.update" and "also in the thread" in str(call.args),
        since=since,
        timeout=RESULT_WAIT_S,
    )
    *progress, _result_view = _modal_updates(stage, view_id, since)
    for update in progress:
        _say("🪟", "As the steps finish, the modal's ladder fills in (views.update):")
        _show(render_view(update.args["view"]))
    _say("🤖", "ecwid-connect answers in the thread (the modal shows the same, without the")
    print("   details for support):")
    _show(render_message(result.args))
    await asyncio.sleep(0.05)  # the reactions follow the answer
    reactions = stage.slack.reactions(CHANNEL, thread_ts)
    shown = " ".join(f":{name}:" for name in sorted(reactions)) or "none"
    _say("  ", f"Reactions on the thread root now: {shown}")


async def store_owner_connects(
    stage: Stage, key: str, title: str, *, first_paste: str | None = None
) -> None:
    """A store owner runs /ecwid-connect, opens the modal and pastes (maybe wrongly first)."""
    print(f"\n━━━ {title} ━━━")
    owner = stage.user("U0OWNER", "jane")
    since = len(stage.slack.calls)
    _say("👤", "jane, in #store-migration: /ecwid-connect")
    await owner.slash_command("/ecwid-connect", "", channel_id=CHANNEL)
    guide = await stage.slack.wait_for(lambda call: call.method == "chat.postMessage", since=since)
    _say("🤖", "ecwid-connect posts (this message becomes the thread):")
    _show(render_message(guide.args))
    root_ts = str(guide.response["ts"])
    _say("👤", "jane clicks [ Paste the URL ]")
    view_id = await _open_modal(stage, owner, guide.response["message"])
    _say("🪟", "A modal opens:")
    _show(render_view(stage.slack.views[view_id]))
    if first_paste is not None:
        _say("👤", f"jane pastes {first_paste} and clicks Check")
        answer = await owner.submit_view(view_id, {URL_BLOCK: {URL_INPUT: first_paste}})
        errors = answer.json().get("errors", {})
        _say("🪟", "Slack shows, under the input, at once (nothing was sent anywhere):")
        _show("\n".join(f"⚠ {message}" for message in errors.values()))
    _say(
        "👤", "jane pastes her Personal collection URL (not shown: it is a password), clicks Check"
    )
    await _submit_and_follow(stage, owner, view_id, stage.sandbox.collection_url(key), root_ts)


async def agent_checks_from_escalation(stage: Stage, key: str, title: str) -> None:
    """A support agent uses the message shortcut on a customer's message in an escalation."""
    print(f"\n━━━ {title} ━━━")
    agent = stage.user("U0AGENT", "sam")
    customer_message = stage.slack.post_user_message(
        CHANNEL, "U0OWNER", "The migration tool says it can't read my store :("
    )
    since = len(stage.slack.calls)
    _say("👤", "jane, in #store-migration: “The migration tool says it can't read my store :(”")
    _say("👤", "sam (support) uses the shortcut “Check Ecwid connection” on jane's message")
    await agent.message_shortcut(CHECK_SHORTCUT, customer_message, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    view_id = str(opened.response["view"]["id"])
    _say("👤", "sam pastes the URL jane sent him privately and clicks Check")
    await _submit_and_follow(
        stage, agent, view_id, stage.sandbox.collection_url(key), str(customer_message["ts"])
    )
    await stage.services.tasks.drain(RESULT_WAIT_S)
    (reply, *_) = stage.slack.ephemerals(CHANNEL, "U0AGENT")
    _say("🤖", "and, in the thread, to sam alone, a reply to paste into the helpdesk:")
    _show(str(reply["text"]))


async def owner_escalates(stage: Stage, title: str) -> None:
    """The Free-plan owner asks support; an agent takes the escalation, then resolves it."""
    print(f"\n━━━ {title} ━━━")
    owner, agent = stage.user("U0OWNER", "jane"), stage.user("U0AGENT", "sam")
    result = next(
        call.response["message"]
        for call in reversed(stage.slack.calls_to("chat.postMessage"))
        if "Escalate to support" in str(call.args.get("blocks"))
    )
    thread_ts = str(result["thread_ts"])
    since = len(stage.slack.calls)
    _say("👤", "jane clicks [ Escalate to support ] under the Free-plan answer")
    await owner.click_button(result, ESCALATE_ACTION, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    view_id = str(opened.response["view"]["id"])
    _say("🪟", "A short modal opens:")
    _show(render_view(stage.slack.views[view_id]))
    _say("👤", "jane answers and clicks Ask support")
    since = len(stage.slack.calls)
    await owner.submit_view(
        view_id,
        {
            GOAL_BLOCK: {GOAL_INPUT: "Move 1,200 products to the new shop this week"},
            URGENCY_BLOCK: {URGENCY_INPUT: "blocking"},
            NOTE_BLOCK: {NOTE_INPUT: "She is not sure she may upgrade for a month only."},
        },
    )
    triage = await stage.slack.wait_for(
        lambda call: call.method == "chat.postMessage" and call.args.get("channel") == SUPPORT,
        since=since,
    )
    _say("🤖", "ecwid-connect posts in #migration-support:")
    _show(render_message(triage.args))
    details = await stage.slack.wait_for(
        lambda call: (
            call.method == "chat.postMessage"
            and call.args.get("channel") == SUPPORT
            and call.args.get("thread_ts") == triage.response["ts"]
        ),
        since=since,
    )
    _say("🤖", "and, in a reply under it, the details:")
    _show(render_message(details.args))
    since = len(stage.slack.calls)
    _say("👤", "sam clicks [ Reply to the customer ]")
    await agent.click_button(
        stage.slack.messages(SUPPORT)[0], CUSTOMER_REPLY_ACTION, channel_id=SUPPORT
    )
    reply = await stage.slack.wait_for(
        lambda call: call.method == "chat.postEphemeral", since=since
    )
    _say("🤖", "ecwid-connect tells only sam, ready to paste into the helpdesk:")
    _show(str(reply.args.get("text")))
    for action, who in ((TAKE_ACTION, "takes it"), (RESOLVE_ACTION, "resolves it")):
        since = len(stage.slack.calls)
        current = stage.slack.messages(SUPPORT)[0]
        _say("👤", f"sam {who}")
        await agent.click_button(current, action, channel_id=SUPPORT)
        await stage.slack.wait_for(lambda call: call.method == "chat.update", since=since)
        await stage.services.tasks.drain(RESULT_WAIT_S)
    _say("🤖", "The triage post now reads:")
    _show(render_message(stage.slack.messages(SUPPORT)[0]))
    _say("🤖", "and jane's thread was told, step by step:")
    for message in stage.slack.messages(CHANNEL, thread_ts)[-3:]:
        _show(render_message(message))
    shown = " ".join(f":{name}:" for name in sorted(stage.slack.reactions(CHANNEL, thread_ts)))
    _say("  ", f"Reactions on jane's thread now: {shown}")


def _bot_posts(stage: Stage, since: int, channel: str) -> list[dict[str, Any]]:
    return [
        call.args
        for call in stage.slack.calls[since:]
        if call.method == "chat.postMessage" and call.args.get("channel") == channel
    ]


async def owner_writes_in_dm(stage: Stage, key: str, title: str) -> None:
    """A store owner writes to the bot in its Messages tab: words get the guide, a URL a check."""
    print(f"\n━━━ {title} ━━━")
    owner = stage.user("U0LENA", "lena")
    dm = stage.slack.open_dm(owner.user_id)
    since = len(stage.slack.calls)
    _say("👤", "lena, in ecwid-connect's Messages tab: “hi! how do I connect my store?”")
    await owner.send_dm("hi! how do I connect my store?")
    await stage.services.tasks.drain(RESULT_WAIT_S)
    _say("🤖", "ecwid-connect answers in a thread under her message:")
    for posted in _bot_posts(stage, since, dm):
        _show(render_message(posted))
    since = len(stage.slack.calls)
    _say("👤", "lena sends her Personal collection URL there (not shown: it is a password)")
    await owner.send_dm(f"<{stage.sandbox.collection_url(key)}>")
    await stage.services.tasks.drain(RESULT_WAIT_S)
    _say("🤖", "ecwid-connect checks it and answers in a thread under that message:")
    for posted in _bot_posts(stage, since, dm):
        _show(render_message(posted))


async def agent_edits_a_mention(stage: Stage, title: str) -> None:
    """A mention edited afterwards: Slack sends it again, the bot does not answer twice."""
    print(f"\n━━━ {title} ━━━")
    agent = stage.user("U0AGENT", "sam")
    thread = stage.slack.post_user_message(CHANNEL, "U0OWNER", "How do I connect my store?")
    since = len(stage.slack.calls)
    _say("👤", "jane, in #store-migration: “How do I connect my store?”")
    _say("👤", "sam replies in the thread: “@ecwid-connect can you hlep jane?”")
    await agent.mention("can you hlep jane?", channel_id=CHANNEL, thread_ts=thread["ts"])
    await stage.services.tasks.drain(RESULT_WAIT_S)
    guides = _bot_posts(stage, since, CHANNEL)
    _say("🤖", f"ecwid-connect posts the guide in the thread ({len(guides)} message)")
    mention = next(m for m in stage.slack.messages(CHANNEL, thread["ts"]) if m["user"] == "U0AGENT")
    _say("👤", "sam edits his message to fix the typo (Slack sends the mention again, `edited`)")
    await agent.edit_mention(mention, "can you help jane?", channel_id=CHANNEL)
    await stage.services.tasks.drain(RESULT_WAIT_S)
    again = len(_bot_posts(stage, since, CHANNEL)) - len(guides)
    _say("🤖", f"ecwid-connect posts nothing more ({again} new messages)")


async def workflow_asks_the_owner(stage: Stage, key: str, title: str) -> None:
    """A Workflow Builder workflow runs the step: the guide goes to the store owner, whose check
    completes the step, and the workflow goes on with the outputs."""
    print(f"\n━━━ {title} ━━━")
    owner = stage.user("U0NORA", "nora")
    execution = stage.slack.start_function_execution(
        STEP_CALLBACK, {PERSON_INPUT: owner.user_id, CHANNEL_INPUT: CHANNEL}
    )
    since = len(stage.slack.calls)
    _say("⚙️", "The workflow “New migration request” reaches its step “Check Ecwid connection”")
    print("   (store owner: nora; channel: #store-migration). Slack sends function_executed.")
    # The event as Slack sends it (docs.slack.dev/reference/events/function_executed).
    await owner.send_event(
        {
            "type": "function_executed",
            "function": {"id": "Fn0DEMO", "callback_id": STEP_CALLBACK, "type": "app"},
            "inputs": execution.inputs,
            "function_execution_id": execution.id,
            "workflow_execution_id": "Wx0DEMO",
            "event_ts": f"{asyncio.get_running_loop().time():.6f}",
            "bot_access_token": execution.bot_access_token,
        }
    )
    guide = await stage.slack.wait_for(lambda call: call.method == "chat.postMessage", since=since)
    _say("🤖", "ecwid-connect posts the guide for nora (the step now waits on her):")
    _show(render_message(guide.args))
    _say(
        "👤", "nora clicks [ Paste the URL ] and pastes her URL in the modal (not in the workflow)"
    )
    since = len(stage.slack.calls)
    await owner.click_button(guide.response["message"], STEP_PASTE_ACTION, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    values = {URL_BLOCK: {URL_INPUT: stage.sandbox.collection_url(key)}}
    await owner.submit_view(str(opened.response["view"]["id"]), values)
    await stage.slack.wait_for(
        lambda call: call.method == "functions.completeSuccess",
        since=since,
        timeout=RESULT_WAIT_S,
    )
    _say("🤖", "ecwid-connect answers in the guide's thread, as for any check, and completes")
    print("   the step (functions.completeSuccess). The workflow goes on with:")
    outputs = stage.slack.execution(execution.id).outputs or {}
    _show("\n".join(f"{name}: {value}" for name, value in outputs.items()))


async def owner_pastes_in_a_channel(stage: Stage, key: str, title: str) -> None:
    """A store owner pastes the URL in a channel: warned privately, support told, once."""
    print(f"\n━━━ {title} ━━━")
    owner = stage.user("U0OLIVER", "oliver")
    since = len(stage.slack.calls)
    _say("👤", "oliver, in #store-migration: “here is my link” and his Personal collection URL")
    message = stage.slack.post_user_message(
        CHANNEL, owner.user_id, f"here is my link <{stage.sandbox.collection_url(key)}>"
    )
    event = {**message, "channel": CHANNEL, "event_ts": message["ts"], "channel_type": "channel"}
    await owner.send_event(event)
    await owner.send_event(event, retry_num=1)  # Slack's retry: no second warning
    await stage.services.tasks.drain(RESULT_WAIT_S)
    _say("🤖", "ecwid-connect warns him, and only him, at once (an ephemeral message):")
    for warning in stage.slack.ephemerals(CHANNEL, owner.user_id):
        _show(render_message(warning))
    _say("🤖", "and tells the support channel, without the secret:")
    for posted in _bot_posts(stage, since, SUPPORT):
        _show(render_message(posted))


async def every_sample_store() -> bool:
    """The engine alone: each sample store's diagnosis, as `ecwid-connect check` gives it."""
    print("\n━━━ The check engine against every sample store (as `ecwid-connect check`) ━━━")
    async with EcwidSandbox() as sandbox, new_http_client() as http:
        checker = ConnectionChecker(stage_settings(sandbox), http)
        stores = sandbox.stores
        reports = await asyncio.gather(
            *(checker.check_text(sandbox.collection_url(store.key)) for store in stores)
        )
    all_right = True
    for store, report in zip(stores, reports, strict=True):
        right = report.diagnosis is store.expected
        all_right &= right
        print(
            f"  {'✔' if right else '✘'} {store.key:<19} {report.diagnosis.value:<22} {report.title}"
        )
    return all_right


async def free_store_upgraded_during_its_follow_up(title: str) -> None:
    """The Free-plan owner is told the bot keeps checking; they upgrade; the bot tells them."""
    async with running_stage(
        credentials_key=new_key(),
        follow_up_every_s=FOLLOW_UP_EVERY_S,
        follow_up_for_h=1.0,
        token_cooldown_s=1.0,
    ) as stage:
        await store_owner_connects(stage, "free_plan", title)
        root_ts = str(stage.slack.messages(CHANNEL)[-1]["thread_ts"])
        _say("👤", "jane upgrades her Ecwid plan to Venture (and does nothing else)")
        stage.sandbox.change("free_plan", paid=True, available_features=PAID_FEATURES, failures=())
        since = len(stage.slack.calls)
        connected = await stage.slack.wait_for(
            _posted_in_thread(root_ts, "it works now"),
            since=since,
            timeout=RESULT_WAIT_S + FOLLOW_UP_EVERY_S * 2,
        )
        _say(
            "🤖",
            f"At its next round (every {FOLLOW_UP_EVERY_S:g} s here), on its own, ecwid-connect "
            "posts in the thread:",
        )
        _show(render_message(connected.args))
        await asyncio.sleep(0.05)  # the reaction follows the message
        reactions = stage.slack.reactions(CHANNEL, root_ts)
        shown = " ".join(f":{name}:" for name in sorted(reactions)) or "none"
        _say("  ", f"Reactions on the thread root now: {shown}")


def _posted_in_thread(thread_ts: str, words: str) -> Callable[[SlackCall], bool]:
    def matches(call: SlackCall) -> bool:
        return (
            call.method == "chat.postMessage"
            and call.args.get("thread_ts") == thread_ts
            and words in str(call.args.get("text"))
        )

    return matches


async def watch_ends_in_its_reminder(title: str) -> None:
    """A connected store is watched until its migration (today here); a token revoked meanwhile
    is told once; the reminder to revoke access comes after the migration date."""
    async with running_stage(
        credentials_key=new_key(),
        watch_every_s=FOLLOW_UP_EVERY_S,
        revoke_reminder_after_h=DEMO_REMINDER_AFTER_S / 3600,
        token_cooldown_s=1.0,
    ) as stage:
        await store_owner_connects(stage, "connected", title)
        owner = stage.user("U0OWNER", "jane")
        answer = stage.slack.messages(CHANNEL)[-1]
        root_ts = str(answer["thread_ts"])
        _say("👤", "jane clicks [ Watch until migration ] and picks today as the migration date")
        since = len(stage.slack.calls)
        await owner.click_button(answer, WATCH_ACTION, channel_id=CHANNEL)
        opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
        view_id = str(opened.response["view"]["id"])
        _show(render_view(stage.slack.views[view_id]))
        since = len(stage.slack.calls)
        today = datetime.now(UTC).date().isoformat()
        await owner.submit_view(view_id, {DATE_BLOCK: {DATE_INPUT: today}})
        for words in ("set a watch", "revoke the access"):
            posted = await stage.slack.wait_for(
                _posted_in_thread(root_ts, words),
                since=since,
                timeout=RESULT_WAIT_S + DEMO_REMINDER_AFTER_S,
            )
            _say("🤖", "ecwid-connect posts in the thread:")
            _show(render_message(posted.args))


async def run_demo(settings: Settings) -> int:
    """Play the conversations and print the transcript; non-zero if anything went wrong."""
    del settings  # the demo brings its own: everything runs on loopback
    async with running_stage(support_channel_id=SUPPORT, latency_ms=ECWID_LATENCY_MS) as stage:
        stage.slack.set_channel_members(SUPPORT, ["UBOT", "U0AGENT"])
        await store_owner_connects(
            stage,
            "connected",
            "1. A store owner on a paid plan connects (after a first wrong paste)",
            first_paste="https://api-playground.ecwid.com/",
        )
        await store_owner_connects(stage, "free_plan", "2. A store owner on the Free plan")
        await owner_escalates(stage, "3. The Free-plan owner escalates; support takes and resolves")
        await agent_checks_from_escalation(
            stage, "revoked", "4. Support checks a revoked token from an escalation thread"
        )
        await owner_writes_in_dm(stage, "connected", "5. A store owner writes to the bot in a DM")
        await agent_edits_a_mention(stage, "6. A mention edited afterwards gets no second guide")
        await workflow_asks_the_owner(
            stage, "connected", "7. A Workflow Builder step asks the store owner to connect"
        )
        await owner_pastes_in_a_channel(
            stage, "connected", "8. A store owner pastes the URL in a channel: the leak guard"
        )
    await free_store_upgraded_during_its_follow_up(
        "9. With CREDENTIALS_KEY, the bot follows a Free-plan store up until it is upgraded"
    )
    await watch_ends_in_its_reminder(
        "10. A connected store watched until its migration (today), then a reminder to revoke"
    )
    all_right = await every_sample_store()
    print("\nEverything above ran offline: the real bot over HTTP, with signed Slack requests.")
    return 0 if all_right else 1
