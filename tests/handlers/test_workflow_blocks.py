"""The workflow step's builders, without Slack: within Slack's limits
(`bot.sandbox.slack.blockkit`), carrying the execution, and saying what a workflow builder must
change."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.db.database import TeamStats
from bot.db.steps import StepExecution, StepState
from bot.engine.catalogue import GUIDE_PASTE_FOR_STEP, GUIDE_PASTE_IN_SLACK
from bot.sandbox.slack.blockkit import validate_message, validate_view
from handlers.blocks import workflow as workflow_blocks
from handlers.blocks.check import OPEN_CHECK_MODAL_ACTION
from handlers.blocks.home import TeamView, home_view
from handlers.blocks.workflow import STEP_PASTE_ACTION, StepButton
from tests.handlers.test_blocks import message

BUTTON = StepButton("Fx0001", "U0OWNER")
NOW = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)


def waiting(number: int) -> StepExecution:
    return StepExecution(
        execution_id=f"Fx{number:04d}",
        workflow_execution_id=None,
        team="T1",
        user_id="U0OWNER",
        channel_id="C0INTAKE",
        state=StepState.WAITING,
        guide_channel="C0INTAKE",
        guide_ts=f"1700000000.{number:06d}",
        check_id=None,
        outputs=None,
        answer_channel=None,
        answer_ts=None,
        error=None,
        created_at=NOW,
        updated_at=NOW,
    )


def buttons(blocks: list[dict[str, object]]) -> list[dict[str, object]]:
    found = []
    for block in blocks:
        elements = block.get("elements")
        for element in [*(elements if isinstance(elements, list) else []), block.get("accessory")]:
            if isinstance(element, dict) and element.get("type") == "button":
                found.append(element)
    return found


def test_the_steps_guide_is_the_guide_whose_button_pastes_for_the_step() -> None:
    text, blocks = workflow_blocks.step_guide_message(BUTTON)

    assert validate_message(message((text, blocks))) == []
    assert "<@U0OWNER>" in text
    (paste,) = [b for b in buttons(blocks) if b.get("action_id") == STEP_PASTE_ACTION]
    assert StepButton.from_value(str(paste["value"])) == BUTTON
    assert OPEN_CHECK_MODAL_ACTION not in json.dumps(blocks)
    # Only the form completes the step: the guide does not offer a direct message.
    shown = "\n".join(str((block.get("text") or {}).get("text")) for block in blocks)
    assert GUIDE_PASTE_FOR_STEP in shown
    assert GUIDE_PASTE_IN_SLACK not in shown


def test_the_guide_sent_to_the_dm_says_why_not_in_the_channel() -> None:
    _, refused = workflow_blocks.step_guide_message(BUTTON, channel="C0INTAKE")
    _, elsewhere = workflow_blocks.step_guide_message(BUTTON, channel="C0INTAKE", member=False)
    assert "I could not post in <#C0INTAKE>" in json.dumps(refused)
    assert "You are not in <#C0INTAKE>" in json.dumps(elsewhere)


def test_a_button_value_that_is_not_the_steps_reads_as_none() -> None:
    for value in (None, "", "click_me_123", "{}", '{"step": "Fx1"}', "[]"):
        assert StepButton.from_value(value) is None


def test_the_home_lists_waiting_steps_with_their_buttons_within_slacks_limits() -> None:
    many = [waiting(number) for number in range(25)]
    view = home_view([], None, "D0OWNER", now=NOW, waiting_steps=many)

    assert validate_view(view) == []
    pastes = [b for b in buttons(view["blocks"]) if b.get("action_id") == STEP_PASTE_ACTION]
    assert len(pastes) == workflow_blocks.WAITING_LIST_LIMIT
    first = StepButton.from_value(str(pastes[0]["value"]))
    assert first == StepButton("Fx0000", "U0OWNER", "C0INTAKE", "1700000000.000000")


def test_agents_see_every_step_waiting_on_a_store_owner() -> None:
    team = TeamView(TeamStats(0, 0, [], NOW), [], [waiting(1), waiting(2)])
    view = home_view([], team, "D0AGENT", now=NOW)

    assert validate_view(view) == []
    assert "waiting on a store owner (2)" in json.dumps(view)


def test_the_errors_tell_a_workflow_builder_what_to_change() -> None:
    assert "“Store owner”" in workflow_blocks.NO_PERSON
    assert "edit the workflow" in workflow_blocks.no_such_person("U0GONE")
    assert "Invite the app" in workflow_blocks.unreachable("U1", "C1", "not_in_channel")
    assert "reference abc123" in workflow_blocks.internal_error("abc123")
