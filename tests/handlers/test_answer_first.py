"""Answer first, bookkeeping after: nothing but the check and one Slack call stands between a
submission and its answer in the thread. The real bot over signed HTTP; Slack's stand-in holds a
method, or another connection holds SQLite's write lock, to show what the answer does not wait
for."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.db.opening import SQLITE_FILE_NAME
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.workspace import SlackCall
from bot.sandbox.stage import Stage
from handlers.blocks import check as check_blocks
from tests.handlers.test_bot import (
    CHANNEL,
    guide_root,
    open_modal_from,
    settle,
    text_of,
    thread_replies,
    url_values,
)

ANSWER_WAIT_S = 10


async def submit_and_wait_for_answer(stage: Stage, owner: SlackUser, store: str) -> SlackCall:
    """Guide → button → modal → submit; the answer's `chat.postMessage` in the guide's thread."""
    root = await guide_root(stage, owner)
    view_id = await open_modal_from(stage, owner, root, check_blocks.OPEN_CHECK_MODAL_ACTION)
    since = len(stage.slack.calls)
    await owner.submit_view(view_id, url_values(stage, store))
    return await stage.slack.wait_for(
        lambda call: call.method == "chat.postMessage" and call.args.get("thread_ts") == root["ts"],
        timeout=ANSWER_WAIT_S,
        since=since,
    )


@asynccontextmanager
async def write_locked(data_dir: Path) -> AsyncIterator[None]:
    """Another connection holds SQLite's write lock: every write of the bot waits for it.

    Taken in a thread: the bot's own transaction in progress needs the event loop to end."""
    connection = sqlite3.connect(
        data_dir / SQLITE_FILE_NAME, isolation_level=None, timeout=10, check_same_thread=False
    )
    try:
        await asyncio.to_thread(connection.execute, "BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


async def test_the_answer_does_not_wait_for_the_eyes_on_the_thread_root(
    stage: Stage, owner: SlackUser
) -> None:
    slow_reactions = stage.slack.hold("reactions.add")

    answer = await submit_and_wait_for_answer(stage, owner, "connected")

    assert "Connected" in text_of(answer.args)
    assert not stage.slack.calls_to("reactions.add")  # still held: none answered yet
    slow_reactions.set()
    await settle(stage)
    # 👀 went on first and came off after: the root ends with the verdict alone.
    root_ts = answer.args["thread_ts"]
    assert stage.slack.reactions(CHANNEL, root_ts) == {"white_check_mark"}
    added = [call.args["name"] for call in stage.slack.calls_to("reactions.add")]
    assert added == ["eyes", "white_check_mark"]


async def test_the_answer_does_not_wait_for_the_database(stage: Stage, owner: SlackUser) -> None:
    root = await guide_root(stage, owner)
    view_id = await open_modal_from(stage, owner, root, check_blocks.OPEN_CHECK_MODAL_ACTION)
    since = len(stage.slack.calls)

    async with write_locked(Path(stage.settings.data_dir)):
        await owner.submit_view(view_id, url_values(stage, "connected"))
        answer = await stage.slack.wait_for(
            lambda call: (
                call.method == "chat.postMessage" and call.args.get("thread_ts") == root["ts"]
            ),
            timeout=ANSWER_WAIT_S,
            since=since,
        )
        # The journal and the history are still waiting for the lock.
        assert stage.services.journal.open_entries == 1
        assert await stage.services.database.checks_for_store(1003) == []
    await settle(stage)

    assert "Connected" in text_of(answer.args)
    assert len(thread_replies(stage, root["ts"])) == 1
    (recorded,) = await stage.services.database.checks_for_store(1003)
    assert recorded.diagnosis is Diagnosis.OK
    assert stage.services.journal.open_entries == 0  # done once the lock was gone


async def test_the_bot_keeps_one_connection_to_slack(stage: Stage, owner: SlackUser) -> None:
    await guide_root(stage, owner)  # the first call opens the connection
    before = set(stage.slack.api_connections)

    for _ in range(3):
        await submit_and_wait_for_answer(stage, owner, "connected")
        await settle(stage)

    calls = len(stage.slack.calls)
    assert calls > 20
    assert len(stage.slack.api_connections - before) <= 1, "a new connection per call"
