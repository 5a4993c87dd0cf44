"""Finishing checks another process accepted and could not answer (it was killed, or lost its
machine): what `BotServices` calls for each entry it takes over from the journal.

An answer that was ready is delivered; a check whose paste is in the vault (CREDENTIALS_KEY) is run
again, once; any other is answered in its thread: it was interrupted, with a button to check
again. Either way 👀 leaves the thread root and the modal, if still open, shows the outcome.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import EntryPoint
from bot.history.journal import Answer, JournalEntry
from bot.slack.services import BotServices
from handlers.blocks.check import interrupted_message, interrupted_view
from handlers.conversation import (
    PROBLEM,
    already_journaled,
    check_and_answer,
    deliver_answer,
    start_thread_and_check,
)

logger = logging.getLogger(__name__)

# A check that was already re-run once and interrupted again is not run a third time: it may
# be what brings the process down.
MAX_RERUNS = 1


async def resume(services: BotServices, client: AsyncWebClient, entry: JournalEntry) -> None:
    """Finish `entry`, taken over from a process that is gone."""
    destination = entry.destination
    if entry.answer is not None:
        logger.info("delivering the answer of interrupted check %s", entry.id)
        await deliver_answer(
            services,
            client,
            already_journaled(entry.id),
            destination,
            entry.answer,
            entry.view_id,
        )
        return
    if entry.paste is not None and entry.attempts <= MAX_RERUNS:
        logger.info("running interrupted check %s again", entry.id)
        if destination.thread_ts is None and destination.entry == EntryPoint.COMMAND:
            await start_thread_and_check(
                services,
                client,
                destination,
                entry.paste,
                accepted=already_journaled(entry.id),
                rerun=True,
            )
        else:
            await check_and_answer(
                services,
                client,
                destination,
                entry.paste,
                entry.view_id,
                accepted=already_journaled(entry.id),
                rerun=True,
            )
        return
    logger.info("telling the requester of check %s that it was interrupted", entry.id)
    text, blocks = interrupted_message(destination.requester)
    answer = Answer(
        text,
        blocks,
        view=interrupted_view(destination.requester) if entry.view_id else None,
        reaction=PROBLEM,
    )
    await deliver_answer(
        services,
        client,
        already_journaled(entry.id),
        destination,
        answer,
        entry.view_id,
        journaled=False,
    )
