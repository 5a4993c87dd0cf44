"""The support team's messages: the escalation modal, the triage post, the lines said in the
customer's thread, and a store's history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
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

from bot.db.check_rows import CheckRecord
from bot.db.escalations import Escalation, EscalationState
from bot.db.follow_ups import FollowUp
from bot.db.watches import Watch
from bot.destination import Destination
from bot.engine.diagnosis import Diagnosis, Entity
from bot.engine.reply import customer_reply
from bot.engine.report import CheckReport
from bot.response_targets import Urgency, format_duration
from handlers.blocks.check import ESCALATE_ACTION as ESCALATE_ACTION
from handlers.blocks.check import OPEN_CHECK_MODAL_ACTION, ladder_text, support_details
from handlers.blocks.common import Blocks, as_dicts, clip, escape, mrkdwn_section, slack_date
from handlers.blocks.follow_up import follow_up_line
from handlers.blocks.watch import watch_line

ESCALATE_MODAL_CALLBACK = "ecwid_escalate"
GOAL_BLOCK, GOAL_INPUT = "goal", "goal"
URGENCY_BLOCK, URGENCY_INPUT = "urgency", "urgency"
NOTE_BLOCK, NOTE_INPUT = "note", "note"
TAKE_ACTION = "triage_take"
RERUN_ACTION = "triage_rerun"
RESOLVE_ACTION = "triage_resolve"
CUSTOMER_REPLY_ACTION = "triage_customer_reply"

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


@dataclass(frozen=True, slots=True)
class _Asking:
    goal: str
    goal_placeholder: str
    note: str


_OWNER_ASKS = _Asking(
    goal="What do you want to do?",
    goal_placeholder="e.g. move my products and orders to my new shop this week",
    note="Anything else support should know?",
)
_AGENT_ASKS = _Asking(
    goal="What is the customer trying to do?",
    goal_placeholder="e.g. migrate products and orders to the new shop",
    note="Note for the support team",
)
GOAL_MISSING = "Please say in a few words what the migration is for."
ESCALATION_FORM_UNREADABLE = (
    "The escalation form you sent is from an earlier version of ecwid-connect and could not be "
    "read, so support was not asked yet. Please click *Escalate to support* on the answer again."
)
ESCALATE_WITHOUT_CHECK = (
    "This button does not say which check it belongs to (it is from an earlier version of "
    "ecwid-connect), so nothing was escalated. Please check the store again and escalate from "
    "the new answer."
)
TRIAGE_WITHOUT_ESCALATION = (
    "This button does not say which escalation it belongs to, so nothing was changed. The "
    "open escalations are in the App Home."
)


def escalate_modal(
    check_id: str, destination: Destination, *, for_agent: bool = False
) -> dict[str, Any]:
    """Three questions before support is asked: the goal, the urgency, an optional note; asked
    of the store owner in her own words, or of an agent about the customer (`for_agent`)."""
    asking = _AGENT_ASKS if for_agent else _OWNER_ASKS
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
                label=asking.goal,
                element=PlainTextInputElement(
                    action_id=GOAL_INPUT,
                    placeholder=asking.goal_placeholder,
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
                label=asking.note,
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


def _state_text(escalation: Escalation) -> str:
    state = STATE_LABELS[escalation.state]
    if escalation.state is EscalationState.TAKEN and escalation.taken_by:
        state += f" by <@{escalation.taken_by}>"
    if escalation.state is EscalationState.RESOLVED and escalation.resolved_by:
        state += f" by <@{escalation.resolved_by}>"
    return state


def response_text(escalation: Escalation, now: datetime) -> str | None:
    """Where the escalation's first response stands: when it is due (a `<!date>`, in each
    viewer's own time), overdue, or how long it took; None for one without a clock."""
    if escalation.responded_at is not None and escalation.response_s is not None:
        return f":speech_balloon: answered in {format_duration(escalation.response_s)}"
    if escalation.response_due_at is None or escalation.state is EscalationState.RESOLVED:
        return None
    if escalation.overdue(now):
        return f":alarm_clock: *overdue*, was due {slack_date(escalation.response_due_at)}"
    return f"due {slack_date(escalation.response_due_at)}"


def triage_message(
    escalation: Escalation, report: CheckReport, permalink: str | None, now: datetime
) -> tuple[str, Blocks]:
    """The support channel's post for one escalation, readable at a glance: what, which store,
    how urgent, who has it, when a first response is due. The ladder and the tips follow in a
    reply (`triage_details_message`). Updated in place on every action and reminder."""
    urgency = f"{URGENCY_EMOJI[escalation.urgency]} {URGENCY_LABELS[escalation.urgency]}"
    thread = f"<{permalink}|customer's thread>" if permalink else "customer's thread"
    name = escape(clip(report.store_name, 200)) + " " if report.store_name else ""
    text = f"Escalation from <@{escalation.destination.requester}>: {report.title}"
    blocks: list[Block] = [
        HeaderBlock(text=clip(f"🆘 {report.title}", 150)),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Store*\n{name}({report.store_id or '?'})"),
                MarkdownTextObject(text=f"*Diagnosis*\n`{report.diagnosis}`"),
                MarkdownTextObject(text=f"*Urgency*\n{urgency}"),
                MarkdownTextObject(text=f"*State*\n{_state_text(escalation)}"),
                *(
                    [MarkdownTextObject(text=f"*First response*\n{response}")]
                    if (response := response_text(escalation, now))
                    else []
                ),
            ]
        ),
        mrkdwn_section(
            f"*Asked by* <@{escalation.destination.requester}> in {thread}, "
            f"{slack_date(escalation.created_at)}\n*Goal* {escape(clip(escalation.goal, 500))}"
            + (f"\n*Note* {escape(clip(escalation.note, 2000))}" if escalation.note else "")
        ),
    ]
    if escalation.state is not EscalationState.RESOLVED:
        buttons = [
            ButtonElement(
                text="Reply to the customer", action_id=CUSTOMER_REPLY_ACTION, value=escalation.id
            ),
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
    token = f" · token `{report.token}`" if report.token else ""
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Escalation `{escalation.id[:8]}` · plan {escape(report.plan)}{token}"
                    " · the checks and the tips given are in the thread"
                )
            ]
        )
    )
    return text, as_dicts(blocks)


def triage_details_message(report: CheckReport) -> tuple[str, Blocks]:
    """The reply under a triage post: the whole ladder, the preview and the tips given."""
    text = f"Details of the check: {report.title}"
    blocks: list[Block] = [
        mrkdwn_section("*Checks*\n" + ladder_text(report.steps)),
        mrkdwn_section(f"*Migration preview*\n{_counts_line(report)}"),
        mrkdwn_section(
            "*Tips already given*\n"
            + "\n".join(f"{n}. {escape(tip)}" for n, tip in enumerate(report.tips, 1))
        ),
        ContextBlock(elements=[MarkdownTextObject(text=support_details(report))]),
    ]
    return text, as_dicts(blocks)


def customer_reply_text(report: CheckReport) -> str:
    """Said privately to the agent who asked: the customer's message in a block, to copy."""
    reply = escape(customer_reply(report).replace("```", "'" * 3))
    return (
        ":memo: A reply for the customer, ready to paste into your helpdesk (plain text, no "
        f"internal codes):\n```{reply}```"
    )


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
    who = f"<@{record.destination.requester}>"
    return (
        f"{mark} {slack_date(record.created_at)} · `{record.diagnosis}` · {who} · "
        f"{record.destination.entry}"
    )


def _response_in_history(escalation: Escalation, now: datetime) -> str:
    if escalation.response_s is not None:
        return f"first response in {format_duration(escalation.response_s)}"
    if escalation.overdue(now):
        return "*no response yet, overdue*"
    if escalation.waiting_for_response:
        return "no response yet"
    return "response time not recorded"


def history_message(
    store_id: int,
    checks: list[CheckRecord],
    escalations: list[Escalation],
    follow_ups: Sequence[FollowUp] = (),
    watches: Sequence[Watch] = (),
    *,
    now: datetime,
) -> tuple[str, Blocks]:
    """`/ecwid-connect history <store ID>`: the store's past checks, its escalations with their
    first response times, its follow-ups and watches."""
    text = f"History of store {store_id}: {len(checks)} checks, {len(escalations)} escalations"
    blocks: list[Block] = [HeaderBlock(text=f"Store {store_id}")]
    if follow_ups:
        blocks.append(mrkdwn_section("*Follow-ups*\n" + "\n".join(map(follow_up_line, follow_ups))))
    if watches:
        blocks.append(mrkdwn_section("*Watches*\n" + "\n".join(map(watch_line, watches))))
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
            f"{URGENCY_EMOJI[e.urgency]} {slack_date(e.created_at)} · "
            f"`{e.diagnosis}` · {e.state.value}"
            + (f" by <@{e.taken_by}>" if e.taken_by and e.state is EscalationState.TAKEN else "")
            + f" · {_response_in_history(e, now)}"
            for e in escalations
        ]
        blocks.append(mrkdwn_section("*Escalations*\n" + "\n".join(lines)))
    return text, as_dicts(blocks)
