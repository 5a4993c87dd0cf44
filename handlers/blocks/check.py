"""The connection check's messages and views: guide, paste modal, progress, result."""

from __future__ import annotations

import functools
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    LinkButtonElement,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.destination import Destination
from bot.engine.catalogue import (
    API_PLAYGROUND_URL,
    COLLECTION_URL_FORMAT,
    GUIDE,
    GUIDE_OUTCOME,
    GUIDE_PASTE_IN_SLACK,
    PAID_PLAN_NOTE,
)
from bot.engine.diagnosis import Entity, StepName, StepStatus
from bot.engine.report import CheckReport, Step
from handlers.blocks.common import Blocks, as_dicts, clip, escape, mrkdwn_section, slack_date

CHECK_MODAL_CALLBACK = "ecwid_check"
OPEN_CHECK_MODAL_ACTION = "open_check_modal"
CHECK_AGAIN_ACTION = "check_again"
ESCALATE_ACTION = "escalate"
PLAYGROUND_LINK_ACTION = "open_api_playground"
URL_BLOCK, URL_INPUT = "collection_url", "url"
STORE_ID_BLOCK, STORE_ID_INPUT = "store_id", "store_id"
TOKEN_BLOCK, TOKEN_INPUT = "token", "token"
MODAL_TITLE = "Check Ecwid connection"
CHECK_FORM_UNREADABLE = (
    "The form you sent is from an earlier version of ecwid-connect and could not be read, so "
    "nothing was checked. Please open it again: type `/ecwid-connect` and click *Paste the URL*."
)
SUPPORT_DETAILS_BLOCK = "support_details"
"""The result's context line for support: codes, statuses, the failing rungs. The only part of
an owner's answer that may name them."""


STEP_EMOJI = {
    StepStatus.PENDING: ":hourglass_flowing_sand:",
    StepStatus.PASSED: ":white_check_mark:",
    StepStatus.FAILED: ":x:",
    StepStatus.SKIPPED: ":heavy_minus_sign:",
    StepStatus.WARNING: ":warning:",
}
STEP_LABELS = {
    StepName.INTAKE: "What was pasted",
    StepName.DOWNLOAD: "Download the collection",
    StepName.PARSE: "Read store ID and token",
    StepName.PROFILE: "Store profile",
    StepName.PRODUCTS: "Products",
    StepName.CATEGORIES: "Categories",
    StepName.ORDERS: "Orders",
    StepName.CUSTOMERS: "Customers",
}


@functools.cache
def guide_message() -> tuple[str, Blocks]:
    """The thread root: the guide's steps, the paid-plan note, and the button to the modal.

    Built once (it never changes): callers must not modify what it returns.
    """
    steps = "\n".join(
        f"{number}. {step.text}" + (f" <{step.link}|Open>" if step.link else "")
        for number, step in enumerate(GUIDE, 1)
    )
    steps += f"\n{len(GUIDE) + 1}. {GUIDE_PASTE_IN_SLACK}"
    text = "Connect your Ecwid store: get the Personal collection URL and paste it in the form."
    blocks: list[Block] = [
        HeaderBlock(text="Connect your Ecwid store"),
        mrkdwn_section(
            "To migrate your store we need read access to it through Ecwid's API. "
            "It takes two minutes:"
        ),
        mrkdwn_section(steps),
        ContextBlock(
            elements=[
                MarkdownTextObject(text=f":stopwatch: {GUIDE_OUTCOME}"),
                MarkdownTextObject(text=f":moneybag: {PAID_PLAN_NOTE}"),
            ]
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Paste the URL", action_id=OPEN_CHECK_MODAL_ACTION, style="primary"
                ),
                LinkButtonElement(
                    text="Open the API Playground",
                    url=API_PLAYGROUND_URL,
                    action_id=PLAYGROUND_LINK_ACTION,
                ),
            ]
        ),
    ]
    return text, as_dicts(blocks)


def checking_root_message(requester: str) -> tuple[str, Blocks]:
    """The thread root for `/ecwid-connect <paste>`: says a check runs, never shows the paste."""
    text = f"<@{requester}> asked for an Ecwid connection check. The result follows in this thread."
    return text, as_dicts([mrkdwn_section(f":mag: {text}")])


def check_modal(destination: Destination) -> dict[str, Any]:
    """The modal where the user pastes the Personal collection URL (or store ID + token)."""
    return _check_modal_layout() | {"private_metadata": destination.to_metadata()}


@functools.cache
def _check_modal_layout() -> dict[str, Any]:
    """Everything of the modal but where to answer, built (and validated) once."""
    view = View(
        type="modal",
        callback_id=CHECK_MODAL_CALLBACK,
        title=MODAL_TITLE,
        submit="Check",
        close="Cancel",
        blocks=[
            InputBlock(
                block_id=URL_BLOCK,
                label="Personal collection URL",
                optional=True,
                hint="From step 2 of the API Console page. It is a password: it is used for "
                "this check and never shown.",
                element=PlainTextInputElement(
                    action_id=URL_INPUT,
                    placeholder=COLLECTION_URL_FORMAT[:150],
                ),
            ),
            DividerBlock(),
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="*Or, with a custom Ecwid app:* its Store ID and secret token "
                        "(Apps → My apps → your app → Show secret token)."
                    )
                ]
            ),
            InputBlock(
                block_id=STORE_ID_BLOCK,
                label="Store ID",
                optional=True,
                element=PlainTextInputElement(action_id=STORE_ID_INPUT, placeholder="12345678"),
            ),
            InputBlock(
                block_id=TOKEN_BLOCK,
                label="Secret token",
                optional=True,
                element=PlainTextInputElement(
                    action_id=TOKEN_INPUT, placeholder="secret_…", max_length=100
                ),
            ),
        ],
    )
    return view.to_dict()


def ladder_text(steps: list[Step]) -> str:
    """Every rung with its detail: for support (the triage post's details)."""
    return "\n".join(
        f"{STEP_EMOJI[step.status]} {STEP_LABELS[step.name]}"
        + (f" — {escape(step.detail)}" if step.detail else "")
        for step in steps
    )


def progress_text(steps: list[Step]) -> str:
    """The rungs as the person waiting sees them: a mark and a name, no technical detail."""
    return "\n".join(f"{STEP_EMOJI[step.status]} {STEP_LABELS[step.name]}" for step in steps)


def support_details(report: CheckReport) -> str:
    """One line for support: the code, what exactly happened, each distinct failing or odd rung
    once (the rungs that failed alike are named together), the masked token, the reference."""
    parts = [f"`{report.diagnosis}`"]
    problems = report.problems()
    for names, detail in problems:
        labels = ", ".join(STEP_LABELS[name] for name in names)
        parts.append(f"{labels}: {escape(detail)}")
    if report.detail and all(detail != report.detail for _names, detail in problems):
        parts.append(escape(report.detail))
    parts.extend(escape(text) for text in report.warning_notes(for_support=True))
    if report.token:
        parts.append(f"token `{report.token}`")
    if report.reference:
        parts.append(f"reference `{report.reference}`")
    return clip("Details for support: " + " · ".join(parts), 2000)


def _check_modal_state(close: str, blocks: list[Block]) -> dict[str, Any]:
    """The paste modal after its submit: no input any more, only something to read."""
    view = View(
        type="modal",
        callback_id=CHECK_MODAL_CALLBACK,
        title=MODAL_TITLE,
        close=close,
        blocks=blocks,
    )
    return view.to_dict()


def checking_view(steps: list[Step]) -> dict[str, Any]:
    """What the modal shows while the check runs."""
    return _check_modal_state(
        "Close",
        [
            mrkdwn_section(":hourglass_flowing_sand: *Checking the connection…* (a few seconds)"),
            mrkdwn_section(progress_text(steps)),
            ContextBlock(
                elements=[
                    MarkdownTextObject(text="You can close this: the result goes to the thread.")
                ]
            ),
        ],
    )


def _headline(report: CheckReport) -> str:
    if report.ok:
        return f"✅ {report.title}"[:150]
    return f"⚠️ Not connected yet: {report.title}"[:150]


def _count_text(report: CheckReport, entity: Entity) -> str:
    # Why a count is missing is the diagnosis itself (said above) or a detail for support.
    total = report.counts.of(entity).total
    return f"{total:,}" if total is not None else "—"


def _linkable(url: str) -> bool:
    return (
        url.startswith(("https://", "http://"))
        and not any(c in url for c in " <>|")
        and len(url) < 500
    )


def _report_blocks(report: CheckReport) -> list[Block]:
    blocks: list[Block] = [
        HeaderBlock(text=_headline(report)),
        mrkdwn_section(escape(report.summary)),
    ]
    if report.store_id is not None:
        facts = []
        if report.store_name:
            # Store names come from Ecwid, i.e. from anyone: cut before escaping (a field holds
            # 2,000 characters), and link only a plain web address.
            name = escape(clip(report.store_name, 200))
            if report.store_url and _linkable(report.store_url):
                name = f"<{report.store_url}|{name}>"
            facts.append(MarkdownTextObject(text=f"*Store*\n{name}"))
        facts.append(MarkdownTextObject(text=f"*Store ID*\n{report.store_id}"))
        if report.plan != "unknown":
            facts.append(MarkdownTextObject(text=f"*Plan*\n{escape(report.plan)}"))
        blocks.append(SectionBlock(fields=facts))
    if any(report.counts.of(entity).total is not None for entity in Entity):
        blocks.append(mrkdwn_section("*What will be migrated*"))
        blocks.append(
            SectionBlock(
                fields=[
                    MarkdownTextObject(
                        text=f"*{entity.value.title()}*\n{_count_text(report, entity)}"
                    )
                    for entity in Entity
                ]
            )
        )
    notes = report.warning_notes()
    if notes:
        blocks.append(mrkdwn_section("\n".join(f":warning: {escape(text)}" for text in notes)))
    tips = "\n".join(f"{number}. {escape(tip)}" for number, tip in enumerate(report.tips, 1))
    blocks.append(mrkdwn_section(("*Next*\n" if report.ok else "*How to fix*\n") + tips))
    return blocks


def result_message(
    report: CheckReport,
    destination: Destination,
    *,
    check_id: str | None = None,
    note: Blocks | None = None,
    watch: ButtonElement | None = None,
) -> tuple[str, Blocks]:
    """The lasting answer in the thread; with `check_id`, support can be asked from it; `note`
    (what the bot does next on its own: `handlers.blocks.follow_up`) follows the report."""
    text = f"{_headline(report)} — {escape(report.summary)}"
    footer = f"Checked for <@{destination.requester}> · {slack_date(report.checked_at)}"
    buttons = [
        ButtonElement(
            text="Check again",
            action_id=CHECK_AGAIN_ACTION,
            style=None if report.ok else "primary",
        )
    ]
    if check_id is not None and not report.ok:
        buttons.append(
            ButtonElement(text="Escalate to support", action_id=ESCALATE_ACTION, value=check_id)
        )
    if watch is not None and report.ok:
        buttons.append(watch)
    after = [
        ContextBlock(elements=[MarkdownTextObject(text=footer)]),
        ContextBlock(
            block_id=SUPPORT_DETAILS_BLOCK,
            elements=[MarkdownTextObject(text=support_details(report))],
        ),
        ActionsBlock(elements=buttons),
    ]
    return text[:3000], [*as_dicts(_report_blocks(report)), *(note or []), *as_dicts(after)]


def led_result(lead: str, report: CheckReport, destination: Destination) -> tuple[str, Blocks]:
    """A check's result under a first line of its own (`lead`), as a later round tells it
    (follow-ups, watches)."""
    text, blocks = result_message(report, destination)
    return f"{lead} {text}"[:3000], [mrkdwn_section(lead).to_dict(), *blocks]


def result_view(report: CheckReport) -> dict[str, Any]:
    """The modal's final state; the thread holds the same answer for good."""
    return _check_modal_state(
        "Done",
        [
            *_report_blocks(report),
            ContextBlock(elements=[MarkdownTextObject(text="This result is also in the thread.")]),
        ],
    )


def _failure_text(reference: str) -> str:
    return (
        ":boom: Sorry, something went wrong on our side while checking the connection. "
        "Please try again in a minute; if it happens again, tell the migration team and quote "
        f"reference `{reference}`."
    )


def failure_message(reference: str) -> tuple[str, Blocks]:
    """Said in the thread when the bot itself failed; the reference finds the log lines."""
    text = _failure_text(reference)
    return text, as_dicts([mrkdwn_section(text)])


def failure_view(reference: str) -> dict[str, Any]:
    return _check_modal_state("Close", [mrkdwn_section(_failure_text(reference))])


def _interrupted_text(requester: str) -> str:
    return (
        f"<@{requester}>, your connection check was interrupted: the bot restarted while it "
        "ran. Please check again."
    )


def interrupted_message(requester: str) -> tuple[str, Blocks]:
    """Said in the thread of a check whose process was gone before it answered."""
    text = _interrupted_text(requester)
    blocks = [
        mrkdwn_section(f":arrows_counterclockwise: {text}"),
        ActionsBlock(
            elements=[
                ButtonElement(text="Check again", action_id=CHECK_AGAIN_ACTION, style="primary")
            ]
        ),
    ]
    return text, as_dicts(blocks)


def interrupted_view(requester: str) -> dict[str, Any]:
    """The modal of an interrupted check, if it is still open."""
    return _check_modal_state(
        "Close",
        [
            mrkdwn_section(f":arrows_counterclockwise: {_interrupted_text(requester)}"),
            ContextBlock(
                elements=[MarkdownTextObject(text="The thread has a button to check again.")]
            ),
        ],
    )


def usage_text(command: str) -> str:
    return (
        f"*{command}* — connect your Ecwid store for the migration.\n"
        f"• `{command}` shows how to get your Personal collection URL, with a button to paste "
        "it privately.\n"
        f"• `{command} help` shows this note.\n"
        "• Support agents: use the message shortcut *Check Ecwid connection* on a message, or "
        "mention the bot in a thread; "
        f"`{command} history <store ID>` lists a store's checks and escalations.\n"
        "The URL is a password: paste it in the form or in a direct message to me, never in a "
        "channel."
    )
