"""Watch until migration, then remind to revoke: the button on a connected answer, the date
modal, changes told once, the reminder after the migration date; the bot over signed HTTP, the
Slack stand-in, the Ecwid sandbox whose store changes mid-watch."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.db.models import TimedWorkRow, WatchRow
from bot.db.vault import new_key
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.stage import Stage
from handlers.blocks.watch import (
    DATE_BLOCK,
    DATE_INPUT,
    PAST_DATE,
    STOP_WATCH_ACTION,
    WATCH_ACTION,
)
from tests.handlers.test_bot import CHANNEL, check_via_modal, thread_replies, url_values
from tests.handlers.test_follow_ups import no_timed_work_left, rows, until
from tests.stage import migrated_stage

EVERY_S = 0.3


@asynccontextmanager
async def watch_stage(**settings: object) -> AsyncIterator[Stage]:
    values: dict[str, object] = {
        "credentials_key": new_key(),
        "watch_every_s": EVERY_S,
        "revoke_reminder_after_h": 1000.0,
        "token_cooldown_s": 0.1,
    }
    async with migrated_stage(**(values | settings)) as running:
        yield running


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with watch_stage() as running:
        yield running


async def set_watch(stage: Stage, owner: SlackUser, day: str) -> tuple[dict[str, Any], Any]:
    """`owner` checks the connected store, clicks Watch and picks `day`: the thread root and
    the submission's answer."""
    root, _answer, _view = await check_via_modal(stage, owner, url_values(stage, "connected"))
    (answer,) = thread_replies(stage, root["ts"])
    since = len(stage.slack.calls)
    await owner.click_button(answer, WATCH_ACTION, channel_id=CHANNEL)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    submitted = await owner.submit_view(
        str(opened.response["view"]["id"]), {DATE_BLOCK: {DATE_INPUT: day}}
    )
    return root, submitted


def texts(stage: Stage, root: dict[str, Any]) -> list[str]:
    return [str(message.get("text")) for message in thread_replies(stage, root["ts"])[1:]]


async def watch_rounds(stage: Stage) -> int:
    """How many rounds the watch has finished."""
    (item,) = [row for row in await rows(stage, TimedWorkRow) if row["kind"] == "watch"]
    return int(item["runs"])


async def more_rounds(stage: Stage, rounds: int = 3, seconds: float = 20) -> None:
    """Wait until the watch has finished `rounds` more rounds than now."""
    start = await watch_rounds(stage)
    for _ in range(int(seconds / 0.05)):
        if await watch_rounds(stage) >= start + rounds:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{rounds} more watch rounds within {seconds} s")


async def test_a_past_migration_date_is_refused_in_the_modal(
    stage: Stage, owner: SlackUser
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    _root, submitted = await set_watch(stage, owner, yesterday)

    assert submitted.json() == {"response_action": "errors", "errors": {DATE_BLOCK: PAST_DATE}}
    assert await rows(stage, WatchRow) == []


async def test_a_watched_store_revoked_mid_watch_is_reported_once_and_its_recovery_too(
    stage: Stage, owner: SlackUser
) -> None:
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    root, _submitted = await set_watch(stage, owner, day)
    await until(lambda: any("set a watch" in t for t in texts(stage, root)), "the watch set")
    token = stage.sandbox.store("connected").token

    stage.sandbox.change("connected", token="secret_" + "R" * 32)  # revoked in Ecwid
    await until(lambda: any("stopped working" in t for t in texts(stage, root)), "the change")
    await more_rounds(stage)  # rounds go on: the same state is not told again
    assert sum("stopped working" in t for t in texts(stage, root)) == 1
    assert "token_invalid" in str(thread_replies(stage, root["ts"])[-1])

    stage.sandbox.change("connected", token=token)
    await until(lambda: any("works again" in t for t in texts(stage, root)), "the recovery")
    await more_rounds(stage)
    assert sum("works again" in t for t in texts(stage, root)) == 1
    (watch,) = await rows(stage, WatchRow)
    assert (watch["state"], watch["changes"]) == ("active", 2)
    assert f"<@{owner.user_id}>" in texts(stage, root)[-1]


async def test_the_reminder_to_revoke_lands_after_the_migration_date_and_ends_the_watch() -> None:
    # The migration is today, the reminder a second after midnight: due at once.
    async with watch_stage(revoke_reminder_after_h=1 / 3600, watch_every_s=3600.0) as stage:
        owner = stage.user("U0OWNER", "jane")
        today = datetime.now(UTC).date().isoformat()
        root, _submitted = await set_watch(stage, owner, today)

        await until(lambda: any("revoke the access" in t for t in texts(stage, root)), "reminder")
        await no_timed_work_left(stage)  # nothing can post again from here
        reminders = [t for t in texts(stage, root) if "revoke the access" in t]
        assert len(reminders) == 1
        assert reminders[0].startswith(f"<@{owner.user_id}>")
        assert "disconnect the API Playground app" in reminders[0]
        (watch,) = await rows(stage, WatchRow)
        assert (watch["state"], watch["sealed_paste"]) == ("reminded", None)
        async with stage.services.database.engine.connect() as connection:
            states = set(
                (await connection.execute(sa.select(TimedWorkRow.kind, TimedWorkRow.state))).all()
            )
        assert states == {("watch", "cancelled"), ("revoke_reminder", "done")}


async def test_the_app_home_lists_a_watch_whose_stop_ends_it(
    stage: Stage, owner: SlackUser
) -> None:
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    root, _submitted = await set_watch(stage, owner, day)
    await until(lambda: any("set a watch" in t for t in texts(stage, root)), "the watch set")
    await owner.send_event(
        {"type": "app_home_opened", "user": owner.user_id, "tab": "home", "channel": "D0OWNER"}
    )
    await until(lambda: bool(stage.slack.calls_to("views.publish")), "the Home published")
    home = stage.slack.calls_to("views.publish")[-1].response["view"]
    assert "Watched until migration" in json.dumps(home)

    await owner.click_button(home, STOP_WATCH_ACTION)
    await until(lambda: any("stopped the watch" in t for t in texts(stage, root)), "stopped")
    (watch,) = await rows(stage, WatchRow)
    assert (watch["state"], watch["sealed_paste"]) == ("stopped", None)


async def test_no_secret_in_a_watchs_messages_rows_or_log(
    stage: Stage, owner: SlackUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = stage.sandbox.store("connected")
    url = stage.sandbox.collection_url("connected")
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    root, _submitted = await set_watch(stage, owner, day)
    stage.sandbox.change("connected", token="secret_" + "R" * 32)
    await until(lambda: any("stopped working" in t for t in texts(stage, root)), "the change")
    # Through to the end: the migration date passed, the reminder to revoke the access.
    async with stage.services.database.engine.begin() as connection:
        await connection.execute(
            sa.update(TimedWorkRow)
            .where(TimedWorkRow.kind == "revoke_reminder")
            .values(due_at=datetime.now(UTC))
        )
    stage.services.timed.wake()
    await until(lambda: any("revoke the access" in t for t in texts(stage, root)), "reminder")
    await no_timed_work_left(stage)

    seen = [
        json.dumps(thread_replies(stage, root["ts"]), default=str),
        json.dumps([call.args for call in stage.slack.calls], default=str),
        caplog.text,
        repr(await rows(stage, WatchRow)),
        repr(await rows(stage, TimedWorkRow)),
    ]
    for text in seen:
        assert store.token not in text
        assert url not in text
        assert store.collection_name not in text
