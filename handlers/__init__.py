"""Slack listeners, grouped by Slack feature: each module's listeners are named functions, wired
by its one `register(app)`; they find the process's services with `services_of(context)` and hand
checks to `services.answers` (`bot.slack.answers`), which renders in `ANSWER_LAYOUTS`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.layouts import AnswerLayouts
from handlers import (
    actions,
    commands,
    escalate,
    events,
    feedback,
    follow_ups,
    home,
    leaks,
    messages,
    private_check,
    shortcuts,
    support,
    views,
    watches,
    workflow,
)
from handlers.blocks.check import (
    checking_root_message,
    checking_view,
    failure_message,
    failure_view,
    interrupted_message,
    interrupted_view,
    result_message,
    result_view,
)
from handlers.blocks.refusal import private_copy
from handlers.blocks.watch import watch_button
from handlers.follow_up_start import offer_follow_up

ANSWER_LAYOUTS = AnswerLayouts(
    thread_root=checking_root_message,
    result=lambda report, destination, check_id, note, watched: result_message(
        report,
        destination,
        check_id=check_id,
        note=note,
        watch=watch_button(watched) if watched else None,
    ),
    note=offer_follow_up,
    result_view=result_view,
    progress_view=checking_view,
    failure=failure_message,
    failure_view=failure_view,
    interrupted=interrupted_message,
    interrupted_view=interrupted_view,
    private_copy=private_copy,
)
"""The Block Kit builders the answer path renders with (see `bot.slack.layouts`)."""


def register_all(app: AsyncApp) -> None:
    # Bolt runs the first listener that matches: the leak guard takes channel messages (and
    # hands a thread's replies to `replies`) before `messages` takes every other message event.
    for group in (
        commands,
        actions,
        shortcuts,
        views,
        events,
        leaks,
        messages,
        private_check,
        escalate,
        support,
        feedback,
        home,
        workflow,
        follow_ups,
        watches,
    ):
        group.register(app)
