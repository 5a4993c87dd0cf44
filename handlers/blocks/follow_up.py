"""The follow-up's words: the note on an answer, and what the thread is told when it ends."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.db.follow_ups import FollowUp, FollowUpState
from bot.engine.report import CheckReport
from handlers.blocks.check import CHECK_AGAIN_ACTION, led_result
from handlers.blocks.common import (
    Blocks,
    as_dicts,
    slack_date,
    stoppable_list,
    store_label,
)

STOP_FOLLOW_UP_ACTION = "stop_follow_up"
FOLLOW_UP_BLOCK = "follow_up"
NO_KEY_LINE = (
    "I cannot keep checking this on my own: this bot keeps no credentials (no "
    "CREDENTIALS_KEY is set). Click *Check again* once it is fixed."
)


def duration(seconds: float) -> str:
    """`seconds` in words, the largest unit that fits: "10 minutes", "1.5 hours", "2 days"."""
    units = (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0))
    name, size = next(((n, s) for n, s in units if seconds >= s), units[-1])
    number = f"{round(seconds / size, 1):g}"
    return f"{number} {name}" if number == "1" else f"{number} {name}s"


def every(seconds: float) -> str:
    """How often, in words: "every 10 minutes", "every day", "every 1.5 hours"."""
    words = duration(seconds)
    return f"every {words.removeprefix('1 ')}"


def follow_up_note(follow_up: FollowUp, every_s: float) -> Blocks:
    """On an answer the bot follows up: what it will do, until when, and how to stop it."""
    text = (
        f":repeat: I will check again on my own {every(every_s)} until "
        f"{slack_date(follow_up.ends_at)}, and tell you here as soon as it works: "
        "nothing to paste again."
    )
    return as_dicts(
        [
            SectionBlock(
                block_id=FOLLOW_UP_BLOCK,
                text=MarkdownTextObject(text=text),
                accessory=ButtonElement(
                    text="Stop checking", action_id=STOP_FOLLOW_UP_ACTION, value=follow_up.id
                ),
            )
        ]
    )


NO_KEY_WATCH_LINE = (
    "I cannot watch this store until migration day: this bot keeps no credentials (no "
    "CREDENTIALS_KEY is set)."
)


def no_key_note(line: str = NO_KEY_LINE) -> Blocks:
    """On an answer the bot would follow up (or offer to watch), were credentials kept: why
    it does not, in one line."""
    return as_dicts(
        [ContextBlock(block_id=FOLLOW_UP_BLOCK, elements=[MarkdownTextObject(text=line)])]
    )


def connected_message(report: CheckReport, follow_up: FollowUp) -> tuple[str, Blocks]:
    """The follow-up found the store connected: a new answer, mentioning whoever asked."""
    asker = follow_up.destination.requester
    lead = (
        f"<@{asker}> Good news: it works now. I checked again on my own and the store "
        f"{_store(follow_up)} is connected."
    )
    return led_result(lead, report, follow_up.destination)


def changed_message(report: CheckReport, follow_up: FollowUp) -> tuple[str, Blocks]:
    """A re-check found something only a new URL fixes: the new answer, and the end of it."""
    asker = follow_up.destination.requester
    lead = (
        f"<@{asker}> When I checked again on my own, something else was wrong: it needs a new "
        "URL, so I stopped checking. Here is what to do."
    )
    return led_result(lead, report, follow_up.destination)


def expired_message(follow_up: FollowUp, *, unreadable: bool = False) -> tuple[str, Blocks]:
    """The window ended without success (or the kept paste can no longer be read)."""
    asker = follow_up.destination.requester
    if unreadable:
        why = "I can no longer read the credentials I kept for it, so I stopped checking."
    else:
        window = duration((follow_up.ends_at - follow_up.created_at).total_seconds())
        why = (
            f"I checked again {_times(follow_up.rechecks)} over the last {window} and the store "
            f"{_store(follow_up)} still is not connected: `{follow_up.last_diagnosis}`."
        )
    lead = (
        f"<@{asker}> {why} I will not check again on my own. Once it is fixed, click "
        "*Check again* (or paste the URL again), and ask support if it still fails."
    )
    return lead, _with_button(
        lead, ButtonElement(text="Check again", action_id=CHECK_AGAIN_ACTION, style="primary")
    )


ENDINGS = {
    FollowUpState.SUCCEEDED: "connected",
    FollowUpState.EXPIRED: "gave up",
    FollowUpState.CHANGED: "needs a new URL",
    FollowUpState.STOPPED: "stopped",
    FollowUpState.SUPERSEDED: "replaced by a newer one",
    FollowUpState.FORGOTTEN: "erased",
}


def follow_up_line(follow_up: FollowUp) -> str:
    """One follow-up in a list (history, App Home): for whom, since when, where it stands."""
    head = f":repeat: <@{follow_up.destination.requester}> · store {_store(follow_up)}"
    if follow_up.state is FollowUpState.ACTIVE:
        return (
            f"{head} · `{follow_up.last_diagnosis}` · checked again {_times(follow_up.rechecks)}, "
            f"until {slack_date(follow_up.ends_at)}"
        )
    ended = slack_date(follow_up.finished_at) if follow_up.finished_at else ""
    return f"{head} · `{follow_up.diagnosis}` · {ENDINGS[follow_up.state]} {ended}".rstrip()


def follow_ups_blocks(follow_ups: list[FollowUp], *, team: bool) -> list[Block]:
    """The App Home's list of active follow-ups, each with its Stop button."""
    title = "*Follow-ups running for the team*" if team else "*Checking again on its own*"
    items = [(follow_up_line(follow_up), follow_up.id) for follow_up in follow_ups]
    return stoppable_list(title, items, STOP_FOLLOW_UP_ACTION)


def stopped_line(user: str) -> str:
    return f"<@{user}> stopped the follow-up: I will not check this store again on my own."


STOP_WITHOUT_FOLLOW_UP = (
    "This button does not say which follow-up it belongs to, so nothing was stopped. The "
    "follow-ups still running are in the App Home."
)


FOLLOW_UP_ENDS = "this follow-up; it ends by itself once the store connects or its time is up"


def not_yours_line(asker: str, what: str = FOLLOW_UP_ENDS) -> str:
    return f"Only <@{asker}>, who asked, or a support agent can stop {what}."


def escalation_connected_message(
    follow_up: FollowUp, escalation_id: str, resolve_action: str
) -> tuple[str, Blocks]:
    """For an open escalation's triage thread: the store connected on its own follow-up."""
    where = follow_up.destination
    text = (
        f":white_check_mark: The store {_store(follow_up)} connected: the bot's follow-up "
        f"found it working, and <@{where.requester}> was told in the customer's thread. "
        "If nothing else is open, resolve this escalation."
    )
    resolve = ButtonElement(
        text="Resolved", action_id=resolve_action, value=escalation_id, style="primary"
    )
    return text, _with_button(text, resolve)


def _with_button(text: str, button: ButtonElement) -> Blocks:
    """A message of `text` and one button under it."""
    return as_dicts(
        [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[button])]
    )


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count:,} times"


def _store(follow_up: FollowUp) -> str:
    return store_label(follow_up.store_id)
