"""The support team's messages: the escalation modal, the triage post, the lines said in the
customer's thread, and a store's history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.destination import Destination
from bot.engine.diagnosis import Diagnosis, Entity
from bot.engine.report import CheckReport
from bot.history.database import CheckRecord, Escalation, EscalationState, Urgency
from handlers.blocks.check import ESCALATE_ACTION as ESCALATE_ACTION
from handlers.blocks.check import OPEN_CHECK_MODAL_ACTION, ladder_text
from handlers.blocks.common import Blocks, age_text, as_dicts, clip, escape, mrkdwn_section

ESCALATE_MODAL_CALLBACK = "ecwid_escalate"
GOAL_BLOCK, GOAL_INPUT = "goal", "goal"
URGENCY_BLOCK, URGENCY_INPUT = "urgency", "urgency"
NOTE_BLOCK, NOTE_INPUT = "note", "note"
TAKE_ACTION = "triage_take"
RERUN_ACTION = "triage_rerun"
RESOLVE_ACTION = "triage_resolve"

URGENCY_LABELS = {
    Urgency.LOW: "Low",
    Urgency.NORMAL: "Normal",
    Urgency.BLOCKING: "Blocking the migration",
}
URGENCY_EMOJI = {
    Urgency.LOW: ":white_circle:",
    Urgency.NORMAL: ":large_blue_circle:",
    Urgency.BLOCKING: ":red_circle:",
}
STATE_LABELS = {
    EscalationState.OPEN: ":inbox_tray: Open: nobody has taken it yet",
    EscalationState.TAKEN: ":eyes: Taken",
    EscalationState.RESOLVED: ":white_check_mark: Resolved",
}


def escalation_metadata(check_id: str, destination: Destination) -> str:
    return json.dumps({"check_id": check_id, "to": json.loads(destination.to_metadata())})


def read_escalation_metadata(metadata: str) -> tuple[str, Destination]:
    data = json.loads(metadata)
    return str(data["check_id"]), Destination.from_metadata(json.dumps(data["to"]))


def escalate_modal(check_id: str, destination: Destination) -> dict[str, Any]:
    """Three questions before support is asked: the goal, the urgency, an optional note."""
    options = [
        Option(value=urgency.value, label=label) for urgency, label in URGENCY_LABELS.items()
    ]
    view = View(
        type="modal",
        callback_id=ESCALATE_MODAL_CALLBACK,
        title="Escalate to support",
        submit="Ask support",
        close="Cancel",
        private_metadata=escalation_metadata(check_id, destination),
        blocks=[
            InputBlock(
                block_id=GOAL_BLOCK,
                label="What is the customer trying to do?",
                element=PlainTextInputElement(
                    action_id=GOAL_INPUT,
                    placeholder="e.g. migrate products and orders to the new shop",
                    max_length=500,
                ),
            ),
            InputBlock(
                block_id=URGENCY_BLOCK,
                label="Urgency",
                element=StaticSelectElement(
                    action_id=URGENCY_INPUT, options=options, initial_option=options[1]
                ),
            ),
            InputBlock(
                block_id=NOTE_BLOCK,
                label="Note for the support team",
                optional=True,
                element=PlainTextInputElement(
                    action_id=NOTE_INPUT,
                    multiline=True,
                    max_length=2000,
                    placeholder="Never paste the collection URL or a token here.",
                ),
            ),
        ],
    )
    return view.to_dict()


def _counts_line(report: CheckReport) -> str:
    parts = []
    for entity in Entity:
        total = report.counts.of(entity).total
        parts.append(f"{entity.value} {total:,}" if total is not None else f"{entity.value} ?")
    return " · ".join(parts)


def triage_message(
    escalation: Escalation,
    report: CheckReport,
    permalink: str | None,
    *,
    now: datetime | None = None,
) -> tuple[str, Blocks]:
    """The support channel's post for one escalation; updated in place on every action."""
    now = now or datetime.now(UTC)
    urgency = f"{URGENCY_EMOJI[escalation.urgency]} {URGENCY_LABELS[escalation.urgency]}"
    state = STATE_LABELS[escalation.state]
    if escalation.state is EscalationState.TAKEN and escalation.taken_by:
        state += f" by <@{escalation.taken_by}>"
    if escalation.state is EscalationState.RESOLVED and escalation.resolved_by:
        state += f" by <@{escalation.resolved_by}>"
    thread = f"<{permalink}|customer's thread>" if permalink else "customer's thread"
    store = escape(clip(report.store_name, 200)) if report.store_name else "unknown name"
    text = f"Escalation from <@{escalation.destination.requester}>: {report.title}"
    blocks: list[Block] = [
        HeaderBlock(text=clip(f"🆘 {report.title}", 150)),
        mrkdwn_section(
            f"*Asked by* <@{escalation.destination.requester}> in {thread}"
            f" · {age_text(escalation.created_at, now)} ago\n*Urgency* {urgency}\n*State* {state}"
        ),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Store*\n{store} ({report.store_id or '?'})"),
                MarkdownTextObject(text=f"*Diagnosis*\n`{report.diagnosis}`"),
                MarkdownTextObject(text=f"*Plan*\n{escape(report.plan)}"),
                MarkdownTextObject(text=f"*Token*\n`{report.token or '—'}`"),
            ]
        ),
        mrkdwn_section(f"*Goal*\n{escape(escalation.goal)}"),
    ]
    if escalation.note:
        blocks.append(mrkdwn_section(f"*Note*\n{escape(escalation.note)}"))
    blocks += [
        mrkdwn_section(f"*Migration preview*\n{_counts_line(report)}"),
        mrkdwn_section("*Checks*\n" + ladder_text(report.steps)),
        mrkdwn_section(
            "*Tips already given*\n"
            + "\n".join(f"{n}. {escape(tip)}" for n, tip in enumerate(report.tips, 1))
        ),
    ]
    if escalation.state is not EscalationState.RESOLVED:
        buttons = [
            ButtonElement(text="Re-run check", action_id=RERUN_ACTION, value=escalation.id),
            ButtonElement(
                text="Resolved", action_id=RESOLVE_ACTION, value=escalation.id, style="primary"
            ),
        ]
        if escalation.state is EscalationState.OPEN:
            buttons.insert(
                0,
                ButtonElement(
                    text="Take it", action_id=TAKE_ACTION, value=escalation.id, style="primary"
                ),
            )
            buttons[-1].style = None
        blocks.append(ActionsBlock(elements=buttons))
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text=f"Escalation `{escalation.id[:8]}`")])
    )
    return text, as_dicts(blocks)


def support_asked_line(urgency: Urgency) -> str:
    return (
        f":sos: The support team has been asked to help ({URGENCY_LABELS[urgency].lower()}); "
        "they will answer in this thread."
    )


def taken_line(agent_id: str) -> str:
    return f":eyes: <@{agent_id}> from the support team is on it."


def resolved_line(agent_id: str) -> str:
    return f":white_check_mark: <@{agent_id}> marked this as resolved. Thanks for your patience!"


def paste_again_message() -> tuple[str, Blocks]:
    """When support wants to re-run a check but no credentials are kept: ask for them again."""
    text = (
        "The support team would like to check the connection again. Please paste the "
        "Personal collection URL once more (privately, in the form)."
    )
    blocks: list[Block] = [
        mrkdwn_section(f":arrows_counterclockwise: {text}"),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Paste the URL again", action_id=OPEN_CHECK_MODAL_ACTION, style="primary"
                )
            ]
        ),
    ]
    return text, as_dicts(blocks)


def rerun_note(agent_id: str) -> str:
    return f":arrows_counterclockwise: <@{agent_id}> from support re-ran the check:"


def _check_line(record: CheckRecord) -> str:
    mark = ":white_check_mark:" if record.diagnosis is Diagnosis.OK else ":warning:"
    when = record.created_at.strftime("%Y-%m-%d %H:%M")
    who = f"<@{record.destination.requester}>"
    return f"{mark} {when} UTC · `{record.diagnosis}` · {who} · {record.destination.entry}"


def history_message(
    store_id: int, checks: list[CheckRecord], escalations: list[Escalation]
) -> tuple[str, Blocks]:
    """`/ecwid-connect history <store ID>`: the store's past checks and escalations."""
    text = f"History of store {store_id}: {len(checks)} checks, {len(escalations)} escalations"
    blocks: list[Block] = [HeaderBlock(text=f"Store {store_id}")]
    if not checks and not escalations:
        blocks.append(mrkdwn_section("No check or escalation recorded for this store yet."))
        return text, as_dicts(blocks)
    name = next((c.store_name for c in checks if c.store_name), None)
    if name:
        blocks.append(mrkdwn_section(f"*{escape(name)}*"))
    blocks.append(
        mrkdwn_section("*Checks* (newest first)\n" + "\n".join(_check_line(c) for c in checks))
    )
    if escalations:
        blocks.append(DividerBlock())
        lines = [
            f"{URGENCY_EMOJI[e.urgency]} {e.created_at.strftime('%Y-%m-%d %H:%M')} UTC · "
            f"`{e.diagnosis}` · {e.state.value}"
            + (f" by <@{e.taken_by}>" if e.taken_by and e.state is EscalationState.TAKEN else "")
            for e in escalations
        ]
        blocks.append(mrkdwn_section("*Escalations*\n" + "\n".join(lines)))
    return text, as_dicts(blocks)
