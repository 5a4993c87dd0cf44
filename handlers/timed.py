"""Every kind of timed work the bot runs, and its handler: the one place a kind is wired.

A kind's items are scheduled with `services.timed_work.schedule(kind, at, payload, ...)` and
run, once each, by whichever bot process claims them when due (`bot.slack.timed`). A handler
is `async def handler(services, client, item) -> Again | None`: None ends the item, `Again`
asks for its next run. Its payload holds IDs, never a secret.
"""

from __future__ import annotations

from bot.db.follow_ups import FOLLOW_UP_KIND
from bot.db.watches import REMINDER_KIND, WATCH_KIND
from bot.slack.services import TimedKind
from handlers.escalation_timers import ESCALATION_OWNER_REMINDER_KIND, ESCALATION_REMINDER_KIND
from handlers.follow_ups import run_follow_up
from handlers.reminders import remind_owner, remind_team
from handlers.watches import run_reminder, run_watch

KINDS: dict[str, TimedKind] = {
    FOLLOW_UP_KIND: run_follow_up,
    WATCH_KIND: run_watch,
    REMINDER_KIND: run_reminder,
    ESCALATION_REMINDER_KIND: remind_team,
    ESCALATION_OWNER_REMINDER_KIND: remind_owner,
}
