"""What the Workflow Builder step says: the guide it sends the person, the button that carries the
execution, the App Home's steps waiting on someone, and the errors a workflow builder reads when
an execution cannot start."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from slack_sdk.models.blocks import Block, ButtonElement, MarkdownTextObject, SectionBlock

from bot.db.steps import StepExecution
from bot.engine.catalogue import GUIDE_PASTE_FOR_STEP, GUIDE_PASTE_IN_SLACK
from handlers.blocks.check import OPEN_CHECK_MODAL_ACTION, guide_message
from handlers.blocks.common import Blocks, mrkdwn_section, slack_date

STEP_PASTE_ACTION = "workflow_step_paste"
WAITING_LIST_LIMIT = 10

# What a workflow builder reads in the workflow's activity when an execution cannot start: what
# is wrong and what to change in the workflow. No secret is ever involved.
NO_PERSON = (
    "The step “Check Ecwid connection” needs a store owner: edit the workflow and set its "
    "“Store owner” input to the person who will paste the store's URL (for example the "
    "person who used the workflow)."
)
BOT_PERSON = (
    "The “Store owner” of the step “Check Ecwid connection” is an app, not a person: edit "
    "the workflow and choose the person who will paste the store's URL."
)


def no_such_person(user_id: str) -> str:
    return (
        f"The “Store owner” of the step “Check Ecwid connection” ({user_id}) is not a member "
        "of this workspace, or has been deactivated: edit the workflow and choose someone "
        "who is."
    )


def unreachable(user_id: str, channel: str | None, refusal: str) -> str:
    where = f"in the channel {channel} nor " if channel else ""
    return (
        f"ecwid-connect could not send the guide {where}to {user_id} in a direct message "
        f"(Slack said “{refusal}”). Invite the app to the step's channel, or make sure the "
        "person can receive messages from apps, then run the workflow again."
    )


def internal_error(reference: str) -> str:
    return (
        "ecwid-connect could not start the step because of an error on its side (reference "
        f"{reference}, in its logs). Run the workflow again; if it keeps failing, tell the "
        "app's administrators the reference."
    )


@dataclass(frozen=True, slots=True)
class StepButton:
    """What the step's paste button carries: the execution, its person, and (on the App Home,
    where no message is clicked) where the guide is."""

    step: str
    person: str
    channel: str | None = None
    ts: str | None = None

    def to_value(self) -> str:
        data = {"step": self.step, "person": self.person, "channel": self.channel, "ts": self.ts}
        return json.dumps({k: v for k, v in data.items() if v}, separators=(",", ":"))

    @classmethod
    def from_value(cls, value: str | None) -> StepButton | None:
        try:
            data = json.loads(value or "")
            return cls(
                step=str(data["step"]),
                person=str(data["person"]),
                channel=str(data["channel"]) if data.get("channel") else None,
                ts=str(data["ts"]) if data.get("ts") else None,
            )
        except (ValueError, KeyError, TypeError):
            return None


def step_guide_message(
    button: StepButton, *, channel: str | None = None, member: bool = True
) -> tuple[str, Blocks]:
    """The guide, addressed to the step's person, whose button pastes for the step. `channel`:
    the step's channel it came to the DM instead of (the bot could not post there, or, with
    `member` False, the person is not in it)."""
    _, guide = guide_message()
    blocks = copy.deepcopy(guide)
    for block in blocks:
        text = block.get("text") or {}
        if GUIDE_PASTE_IN_SLACK in str(text.get("text")):
            text["text"] = text["text"].replace(GUIDE_PASTE_IN_SLACK, GUIDE_PASTE_FOR_STEP)
        for element in block.get("elements") or ():
            if element.get("action_id") == OPEN_CHECK_MODAL_ACTION:
                element["action_id"] = STEP_PASTE_ACTION
                element["value"] = button.to_value()
    intro = (
        f"<@{button.person}>, a workflow needs your Ecwid store connected before it goes on. "
        "It takes two minutes, and the workflow continues as soon as your store is checked."
    )
    if channel is not None:
        why = f"I could not post in <#{channel}>" if member else f"You are not in <#{channel}>"
        intro += f"\n_{why}, so I am asking you here._"
    text = f"A workflow needs your Ecwid store connected, <@{button.person}>."
    return text, [mrkdwn_section(intro).to_dict(), *blocks]


def not_for_you(person: str) -> str:
    return (
        f"This check is for <@{person}>: only they can paste their store's URL here. "
        "Type `/ecwid-connect` to check a store of your own."
    )


OUT_OF_DATE = "This button is out of date: ask for the workflow to be run again."


def waiting_steps_blocks(executions: list[StepExecution]) -> list[Block]:
    """The App Home's "waiting for you" part: each step with its paste button."""
    if not executions:
        return []
    blocks: list[Block] = [
        mrkdwn_section(f"*Workflows waiting for your store's URL ({len(executions)})*")
    ]
    for execution in executions[:WAITING_LIST_LIMIT]:
        where = f" in <#{execution.guide_channel}>" if execution.guide_channel else ""
        button = StepButton(
            execution.execution_id, execution.user_id, execution.guide_channel, execution.guide_ts
        )
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=f"Asked {slack_date(execution.created_at)}{where}"),
                accessory=ButtonElement(
                    text="Paste the URL",
                    action_id=STEP_PASTE_ACTION,
                    value=button.to_value(),
                    style="primary",
                ),
            )
        )
    return blocks


def team_waiting_text(executions: list[StepExecution]) -> str:
    """For support agents: every step waiting on a store owner, and since when."""
    lines = [
        f"<@{execution.user_id}> · asked {slack_date(execution.created_at)}"
        + (f" · <#{execution.guide_channel}>" if execution.guide_channel else "")
        for execution in executions[:WAITING_LIST_LIMIT]
    ]
    more = len(executions) - WAITING_LIST_LIMIT
    if more > 0:
        lines.append(f"…and {more} more")
    return f"*Workflow steps waiting on a store owner ({len(executions)})*\n" + (
        "\n".join(lines) or "_None._"
    )
