"""Watch until migration day, then remind to revoke: the button on a connected answer, its
date modal, the daily rounds (kind `watch`) and the reminder (kind `revoke_reminder`).

A round runs the whole check; the thread hears of a change once (it stopped working, it works
again), mentioning whoever asked and whoever set the watch. The reminder lands
REVOKE_REMINDER_AFTER_H after the migration date began in the asker's time zone (`users.info`;
UTC when unknown), and ends the watch with its credentials.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.recorder import UnwrittenCheck, new_check_id
from bot.db.timed import Again, TimedItem
from bot.db.watches import WatchState
from bot.destination import Destination, EntryPoint
from bot.engine.diagnosis import Diagnosis
from bot.engine.intake import Paste
from bot.slack.exactly_once import MessageMark
from bot.slack.services import BotServices, services_of
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.follow_up import every
from handlers.blocks.watch import (
    DATE_BLOCK,
    DATE_INPUT,
    PAST_DATE,
    STOP_WATCH_ACTION,
    STOP_WITHOUT_WATCH,
    WATCH_ACTION,
    WATCH_ENDS,
    WATCH_FORM_UNREADABLE,
    WATCH_MODAL_CALLBACK,
    broken_message,
    read_watch_metadata,
    recovered_line,
    reminder_line,
    watch_modal,
    watch_set_line,
    watch_stopped_line,
)
from handlers.follow_ups import (
    StopClick,
    after_stop,
    may_stop,
    next_round,
    read_stop_click,
    when_allowed,
)
from handlers.payload import Submission, clicked_value, interaction_origin, tell_origin

logger = logging.getLogger(__name__)

WATCH_EVENT = "ecwid_connect_watch"
NO_CREDENTIALS = (
    "The credentials of this check are no longer kept (they expire after CREDENTIALS_TTL_H): "
    "check the store again, then set the watch from the new answer."
)


# How long the submit waits for the person's time zone before judging the date in UTC.
ZONE_LOOKUP_S = 1.0


async def time_zone_of(client: AsyncWebClient, user: str, within_s: float | None = None) -> str:
    """The person's time zone as Slack knows it (`users.info`), UTC when unknown or when Slack
    has not answered `within_s`."""
    try:
        async with asyncio.timeout(within_s):
            answer = await client.users_info(user=user)
        name = str((answer.get("user") or {}).get("tz") or "UTC")
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    except Exception:
        logger.info("no time zone for %s: UTC", user, exc_info=True)
        return "UTC"
    return name


async def open_watch(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Watch until migration" on a connected answer: the date modal."""
    await ack()
    origin = interaction_origin(body)
    check_id = clicked_value(body)
    destination = origin.destination(context)
    if destination is None or check_id is None or origin.trigger_id is None:
        tell_origin(context, client, origin, CLICK_AGAIN)
        return
    today = datetime.now(UTC).date()
    how_often = every(services_of(context).settings.watch_every_s)
    await client.views_open(
        trigger_id=origin.trigger_id, view=watch_modal(check_id, destination, today, how_often)
    )


async def set_watch(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The modal's submit: a past date is refused under the date; else the watch starts."""
    submission = Submission(ack, body, client, context, unreadable=WATCH_FORM_UNREADABLE)
    form = submission.form
    try:
        check_id, destination = read_watch_metadata(form.metadata or "")
        picked = date.fromisoformat(form.picked_date(DATE_BLOCK, DATE_INPUT) or "")
    except (KeyError, ValueError, TypeError):
        await submission.refuse(DATE_BLOCK)
        return
    services = services_of(context)
    watcher = submission.origin.user or destination.requester
    # "Today" is the person's: in their time zone, the date they see in the picker. Asked before
    # the ack, so bounded: Slack waits three seconds for it.
    zone = await time_zone_of(client, watcher, within_s=ZONE_LOOKUP_S)
    if picked < datetime.now(ZoneInfo(zone)).date():
        await submission.refuse(DATE_BLOCK, PAST_DATE)
        return
    paste = await services.recorder.kept_paste(check_id)
    if paste is None:
        await submission.refuse(DATE_BLOCK, NO_CREDENTIALS)
        return
    await ack()
    services.tasks.spawn(
        _start(services, client, destination, check_id, watcher, picked, paste),
        name="set a watch",
    )


async def _start(
    services: BotServices,
    client: AsyncWebClient,
    destination: Destination,
    check_id: str,
    watcher: str,
    migration_date: date,
    paste: Paste,
) -> None:
    settings = services.settings
    record = await services.database.check_by_id(check_id)
    watch = await services.watches.start(
        destination,
        paste,
        watcher=watcher,
        check_id=check_id,
        store_id=record.store_id if record is not None else None,
        migration_date=migration_date,
        time_zone=await time_zone_of(client, destination.requester),
        every_s=settings.watch_every_s,
        remind_after_h=settings.revoke_reminder_after_h,
    )
    services.timed.wake()
    await services.answers.post(destination, watch_set_line(watch, every(settings.watch_every_s)))


async def run_watch(services: BotServices, client: AsyncWebClient, item: TimedItem) -> Again | None:
    """One round of a watch: the whole check; a change is told once."""
    watch = await services.watches.get(str(item.payload["watch"]))
    if watch is None or watch.state is not WatchState.ACTIVE:
        return None
    paste = await services.watches.paste(watch)
    if paste is None:
        return None  # the reminder still comes, and ends the watch
    report = await services.checker.check(paste)
    destination = watch.destination.started_by(EntryPoint.WATCH)
    checked = UnwrittenCheck(new_check_id(), report, destination, paste)
    if report.diagnosis is Diagnosis.THROTTLED:
        return when_allowed(services, report)
    if await services.watches.checked(watch.id, report.diagnosis):
        services.metrics.watch_changes.inc()
        if report.ok:
            text, blocks = recovered_line(watch), None
        else:
            text, blocks = broken_message(report, watch)
        changes = watch.changes + 1
        mark = MessageMark(WATCH_EVENT, "watch", f"{watch.id}:{changes}")
        if await services.timed_work.holds(item):
            await services.answers.poster_for(watch.destination).post(
                watch.destination, text, blocks, mark=mark, look_first=True
            )
            await services.recorder.keep(checked)
    return next_round(services, services.settings.watch_every_s)


async def run_reminder(
    services: BotServices, client: AsyncWebClient, item: TimedItem
) -> Again | None:
    """The reminder to revoke access: once, then the watch ends with its credentials."""
    watch = await services.watches.get(str(item.payload["watch"]))
    if watch is None or watch.state is not WatchState.ACTIVE:
        return None
    mark = MessageMark(WATCH_EVENT, "watch", f"{watch.id}:reminder")
    await services.answers.poster_for(watch.destination).post(
        watch.destination, reminder_line(watch), mark=mark, look_first=item.attempts > 1
    )
    await services.watches.end(watch.id, WatchState.REMINDED, item_id=item.id)
    return None


async def stop_watch(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """A watch's Stop (App Home): for whoever asked, whoever set it, and support agents."""
    await ack()
    click = read_stop_click(body, context, client, STOP_WITHOUT_WATCH)
    if click is not None:
        services = services_of(context)
        services.tasks.spawn(_stop(services, client, click), name="stop watch")


async def _stop(services: BotServices, client: AsyncWebClient, click: StopClick) -> None:
    watch = await services.watches.get(click.item_id)
    if watch is None:
        return
    if click.user != watch.watcher and not await may_stop(
        services, client, click, watch.destination.requester, WATCH_ENDS
    ):
        return
    if not await services.watches.end(watch.id, WatchState.STOPPED):
        return
    await services.answers.post(watch.destination, watch_stopped_line(click.user))
    await after_stop(services, client, click)


def register(app: AsyncApp) -> None:
    app.action(WATCH_ACTION)(open_watch)
    app.view(WATCH_MODAL_CALLBACK)(set_watch)
    app.action(STOP_WATCH_ACTION)(stop_watch)
