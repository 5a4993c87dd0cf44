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
    messages,
    replies,
    shortcuts,
    support,
    views,
    workflow,
)


def register_all(app: AsyncApp) -> None:
    # `replies` before `messages`: Bolt runs the first `message` listener that matches.
    groups = (commands, actions, shortcuts, views, events, replies, messages, support, feedback)
    for group in (*groups, home, workflow, follow_ups):
        group.register(app)
