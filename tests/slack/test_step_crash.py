"""kill -9 while a workflow step's check is in flight, then a restart on the same database: the step
is not lost. With CREDENTIALS_KEY (PostgreSQL here) the check runs again in the new process and
completes the step; without it (SQLite) the check was interrupted, the step keeps waiting on the
store owner, and their next paste from the guide completes it."""

from __future__ import annotations

import json

import pytest

from bot.sandbox.slack.user import SlackUser
from handlers.blocks import check as check_blocks
from handlers.blocks.workflow import STEP_PASTE_ACTION
from handlers.workflow import CHANNEL_INPUT, PERSON_INPUT, STEP_CALLBACK
from tests.handlers.test_workflow import function_executed
from tests.slack.processes import eyes_added, until
from tests.slack.test_crash import CHANNEL, Rig, rig_fixture  # noqa: F401

pytestmark = pytest.mark.process


async def _paste_from_guide(rig: Rig, user: SlackUser, guide: dict[str, object], url: str) -> None:
    since = len(rig.slack.calls)
    await user.click_button(guide, STEP_PASTE_ACTION, channel_id=CHANNEL)
    opened = await rig.slack.wait_for(lambda call: call.method == "views.open", since=since)
    assert opened.response["ok"], opened.response
    values = {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: url}}
    answer = await user.submit_view(str(opened.response["view"]["id"]), values)
    assert answer.status_code == 200


async def test_a_step_whose_check_was_killed_is_completed_after_the_restart(rig: Rig) -> None:
    first = await rig.start("first")
    async with rig.user(first) as user:
        execution = rig.slack.start_function_execution(
            STEP_CALLBACK, {PERSON_INPUT: user.user_id, CHANNEL_INPUT: CHANNEL}
        )
        since = len(rig.slack.calls)
        assert (await user.send_event_body(function_executed(rig.slack, execution))).status_code
        posted = await rig.slack.wait_for(
            lambda call: call.method == "chat.postMessage" and call.response.get("ok") is True,
            since=since,
        )
        guide = next(m for m in rig.slack.messages(CHANNEL) if m["ts"] == posted.response["ts"])
        await _paste_from_guide(rig, user, guide, rig.sandbox.collection_url("slow"))
        await until(lambda: eyes_added(rig.slack) == 1, 20, "the check started", rig.tmp_path)

    await first.kill()
    second = await rig.start("second")

    def answered() -> bool:
        return len(rig.slack.messages(CHANNEL, str(guide["ts"]))) > 1

    await until(answered, 40, "the check answered after the restart", rig.tmp_path)
    if not rig.vault:
        # Interrupted: nothing was checked, so the step still waits on the store owner.
        assert "was interrupted" in json.dumps(rig.slack.messages(CHANNEL, str(guide["ts"])))
        assert rig.slack.execution(execution.id).state == "running"
        async with rig.user(second) as user:
            await _paste_from_guide(rig, user, guide, rig.sandbox.collection_url("connected"))

    def completed() -> bool:
        return rig.slack.execution(execution.id).state == "completed"

    await until(completed, 40, "the step completed", rig.tmp_path)
    assert await second.stop() == 0
    outputs = rig.slack.execution(execution.id).outputs
    assert outputs is not None
    expected = ("check_timeout", False) if rig.vault else ("ok", True)
    assert (outputs["diagnosis"], outputs["connected"]) == expected
    assert f"thread_ts={guide['ts']}" in outputs["check_permalink"]
    assert len(rig.slack.calls_to("functions.completeSuccess")) == 1
