"""The watch's words: the button on a connected answer, its modal, and what the thread hears."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.db.watches import Watch, WatchState
from bot.destination import Destination
from bot.engine.report import CheckReport
from handlers.blocks.check import led_result
from handlers.blocks.common import (
    Blocks,
    slack_date,
    stoppable_list,
    store_label,
)

WATCH_ACTION = "watch_until_migration"
WATCH_MODAL_CALLBACK = "watch_until_migration"
DATE_BLOCK, DATE_INPUT = "migration_date", "migration_date"
PAST_DATE = "Pick the migration date: today or later."
WATCH_FORM_UNREADABLE = (
    "That watch form is from an earlier version of the bot: click *Watch until migration* "
    "on the answer again."
)


def watch_button(check_id: str) -> ButtonElement:
    return ButtonElement(text="Watch until migration", action_id=WATCH_ACTION, value=check_id)


def watch_modal(check_id: str, destination: Destination, today: date, every: str) -> dict[str, Any]:
    """Asks for the migration date; the check and its thread ride in the metadata."""
    metadata = {
        "check_id": check_id,
        "channel": destination.channel,
        "thread_ts": destination.thread_ts,
        "requester": destination.requester,
        "team": destination.team,
    }
    view = View(
        type="modal",
        callback_id=WATCH_MODAL_CALLBACK,
        title="Watch until migration",
        submit="Watch",
        close="Cancel",
        private_metadata=json.dumps(metadata),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"I will check this store again {every} until the migration and say "
                    "in the thread if it stops working; after the migration I will remind "
                    "the store owner to disconnect the app."
                )
            ),
            InputBlock(
                block_id=DATE_BLOCK,
                label="Migration date",
                element=DatePickerElement(action_id=DATE_INPUT, initial_date=today.isoformat()),
            ),
        ],
    )
    return view.to_dict()


def read_watch_metadata(metadata: str) -> tuple[str, Destination]:
    """The check and its thread from the modal's metadata; raises for anything unreadable."""
    data = json.loads(metadata)
    destination = Destination(
        channel=str(data["channel"]),
        thread_ts=data.get("thread_ts"),
        requester=str(data["requester"]),
        team=str(data.get("team") or ""),
    )
    return str(data["check_id"]), destination


def _people(watch: Watch) -> str:
    asker, watcher = watch.destination.requester, watch.watcher
    return f"<@{asker}>" if asker == watcher else f"<@{asker}> <@{watcher}>"


def watch_set_line(watch: Watch, every: str) -> str:
    return (
        f":eyes: <@{watch.watcher}> set a watch: I will check store {_store(watch)} {every} "
        f"until the migration on {watch.migration_date:%A %d %B %Y} and say here if it stops "
        f"working. On {slack_date(watch.remind_at)} I will remind <@{watch.destination.requester}>"
        " to disconnect the app."
    )


def broken_message(report: CheckReport, watch: Watch) -> tuple[str, Blocks]:
    lead = (
        f"{_people(watch)} The watched store {_store(watch)} stopped working before the "
        "migration. Here is what is wrong and how to fix it."
    )
    return led_result(lead, report, watch.destination)


def recovered_line(watch: Watch) -> str:
    return f"{_people(watch)} The watched store {_store(watch)} works again: ready to migrate."


def reminder_line(watch: Watch) -> str:
    return (
        f"<@{watch.destination.requester}> The migration of store {_store(watch)} was on "
        f"{watch.migration_date:%A %d %B %Y}. Once it is done, revoke the access you gave: in "
        "your Ecwid admin, Apps → My Apps, disconnect the API Playground app (or the custom app "
        "whose token you used). Ecwid's tokens never expire on their own. I have deleted the "
        "credentials I kept for this watch."
    )


STOP_WATCH_ACTION = "stop_watch"
WATCH_ENDS = "this watch; it ends by itself with its reminder after the migration"
STOP_WITHOUT_WATCH = (
    "That Stop button names no watch, so nothing was stopped: open the App Home again."
)
ENDINGS = {WatchState.REMINDED: "reminded to revoke", WatchState.STOPPED: "stopped"}


def watch_line(watch: Watch) -> str:
    """One watch in a list (history, App Home): whose, until when, where it stands."""
    head = (
        f":eyes: <@{watch.destination.requester}> · store {_store(watch)} · migration "
        f"{watch.migration_date:%d %b %Y}"
    )
    if watch.state is WatchState.ACTIVE:
        now = "working" if watch.last_ok else f"not working (`{watch.last_diagnosis}`)"
        return f"{head} · {now} · reminder {slack_date(watch.remind_at)}"
    return f"{head} · {ENDINGS[watch.state]}"


def watches_blocks(watches: list[Watch], *, team: bool) -> list[Block]:
    """The App Home's list of active watches, each with its Stop button."""
    title = "*Watches running for the team*" if team else "*Watched until migration*"
    items = [(watch_line(watch), watch.id) for watch in watches]
    return stoppable_list(title, items, STOP_WATCH_ACTION)


def watch_stopped_line(user: str) -> str:
    return f"<@{user}> stopped the watch: no more checks, no reminder; its credentials are deleted."


def _store(watch: Watch) -> str:
    return store_label(watch.store_id)
