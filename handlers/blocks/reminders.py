"""The words of an escalation's clock: the reminders when nobody has answered, the owner's
private nudge, and "Did it help?" in the customer's thread. No internal code in any of them: a
diagnosis is named by its catalogue title."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot.db.escalations import Escalation
from bot.engine.catalogue import CATALOGUE
from bot.response_targets import Urgency, format_duration
from handlers.blocks.common import Blocks, as_dicts, mrkdwn_section

FEEDBACK_YES_ACTION = "escalation_feedback_yes"
FEEDBACK_STUCK_ACTION = "escalation_feedback_stuck"
FEEDBACK_QUESTION = "Did it help? Does the connection work for you now?"
NOT_YOURS = "Only <@{asker}>, who asked the support team, can answer this question."
ALREADY_ANSWERED = "This question has already been answered. Thanks!"
FEEDBACK_WITHOUT_ESCALATION = (
    "This button does not say which escalation it answers, so nothing was recorded: please "
    "answer with the buttons of the newest question in this thread."
)


def reminder_mention(urgency: Urgency, user_group: str | None) -> str:
    """Who a reminder calls: the support user group when there is one, else the channel, and
    the whole channel (`@here`) only when the customer is blocked."""
    if user_group:
        return f"<!subteam^{user_group}> "
    return "<!here> " if urgency is Urgency.BLOCKING else ""


def _what(escalation: Escalation) -> str:
    store = f"store {escalation.store_id}" if escalation.store_id else "a store"
    return f"“{CATALOGUE[escalation.diagnosis].title}” for {store}"


def _thread(permalink: str | None) -> str:
    return f"<{permalink}|the customer's thread>" if permalink else "the customer's thread"


def reminder_text(
    escalation: Escalation,
    *,
    waited_s: float,
    target_s: float,
    permalink: str | None,
    user_group: str | None,
    last: bool,
) -> str:
    """A reminder in the triage post's thread: what waits, for how long, and where."""
    urgency = escalation.urgency.value
    closing = (
        " This is the last reminder." if last else " Take it, or answer the customer in the thread."
    )
    return (
        f"{reminder_mention(escalation.urgency, user_group)}:alarm_clock: A {urgency} escalation "
        f"has waited {format_duration(waited_s)} for a first response (target "
        f"{format_duration(target_s)}): {_what(escalation)}, asked by "
        f"<@{escalation.destination.requester}> in {_thread(permalink)}.{closing}"
    )


def owner_reminder_text(
    escalation: Escalation, *, open_s: float, target_s: float, permalink: str | None
) -> str:
    """Said privately to the agent who took an escalation that is still not resolved."""
    return (
        f":hourglass: The escalation you took, {_what(escalation)}, has been open for "
        f"{format_duration(open_s)}, four times its {format_duration(target_s)} response "
        f"target, and is not resolved yet. <@{escalation.destination.requester}> is waiting in "
        f"{_thread(permalink)}. Press Resolved on the triage post once it is done."
    )


def feedback_question(escalation: Escalation) -> tuple[str, Blocks]:
    """Asked in the customer's thread after Resolved: one question, two buttons."""
    value = f"{escalation.id}:{escalation.reopenings}"
    blocks: list[Block] = [
        mrkdwn_section(f":raising_hand: <@{escalation.destination.requester}> {FEEDBACK_QUESTION}"),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Yes, it works",
                    action_id=FEEDBACK_YES_ACTION,
                    value=value,
                    style="primary",
                ),
                ButtonElement(text="Still stuck", action_id=FEEDBACK_STUCK_ACTION, value=value),
            ]
        ),
    ]
    return FEEDBACK_QUESTION, as_dicts(blocks)


def feedback_answered(user_id: str, *, works: bool) -> tuple[str, Blocks]:
    """The question, once answered: the buttons give way to what was said."""
    if works:
        text = f":tada: <@{user_id}> says it works now. Thanks for letting us know!"
    else:
        text = (
            f":arrows_counterclockwise: <@{user_id}> is still stuck: the support team has been "
            "told and will answer in this thread."
        )
    return text, as_dicts([mrkdwn_section(text)])


def reopened_text(escalation: Escalation, permalink: str | None) -> str:
    """Told in the support channel when the customer answers "Still stuck"."""
    return (
        f":arrows_counterclockwise: Reopened: <@{escalation.destination.requester}> is still "
        f"stuck after Resolved ({_what(escalation)}). See {_thread(permalink)}; the response "
        "clock has started again."
    )
