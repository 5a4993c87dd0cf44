"""Starting a follow-up as a check is answered: the one hook the answer path calls, kept apart
from the rounds (`handlers.follow_ups`), which post through the conversation."""

from __future__ import annotations

import logging

from bot.db.recorder import UnwrittenCheck
from bot.destination import Destination, EntryPoint
from bot.slack.services import BotServices
from handlers.blocks.common import Blocks
from handlers.blocks.follow_up import NO_KEY_WATCH_LINE, follow_up_note, no_key_note

logger = logging.getLogger(__name__)

# Checks asked from here are followed up; the others answer elsewhere (a terminal) or are an
# agent's re-run. A workflow step's check is followed up in the guide's thread like any other:
# the step has completed with the first result, the good news comes as usual.
FOLLOWED_ENTRIES = frozenset(
    {
        EntryPoint.MODAL,
        EntryPoint.WORKFLOW,
        EntryPoint.COMMAND,
        EntryPoint.SHORTCUT,
        EntryPoint.MENTION,
        EntryPoint.DM,
    }
)


async def offer_follow_up(
    services: BotServices, destination: Destination, checked: UnwrittenCheck
) -> Blocks:
    """After a check was answered, before its answer is posted: start a follow-up when the
    diagnosis calls for one, and say so (or why not, without CREDENTIALS_KEY) on the answer."""
    report = checked.report
    if destination.entry not in FOLLOWED_ENTRIES:
        return []
    if report.ok:
        # Connected: the answer offers a watch until migration, which needs the key too.
        return [] if services.follow_ups.available else no_key_note(NO_KEY_WATCH_LINE)
    if not report.diagnosis.follows_up:
        return []
    if not services.follow_ups.available or checked.paste is None:
        return no_key_note()
    settings = services.settings
    try:
        follow_up = await services.follow_ups.start(
            report,
            destination,
            checked.paste,
            check_id=checked.check_id,
            every_s=settings.follow_up_every_s,
            for_h=settings.follow_up_for_h,
        )
    except Exception:
        # The answer goes out all the same, promising nothing.
        logger.exception("could not start a follow-up for check %s", checked.check_id)
        return []
    services.metrics.follow_ups.labels("started").inc()
    services.timed.wake()
    return follow_up_note(follow_up, settings.follow_up_every_s)
