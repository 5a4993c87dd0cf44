"""Slack listeners, grouped by Slack feature: each module's listeners are named functions, wired
by its one `register(app)`; they find the process's services with `services_of(context)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import (
    actions,
    commands,
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
        support,
        feedback,
        home,
        workflow,
        follow_ups,
        watches,
    ):
        group.register(app)
