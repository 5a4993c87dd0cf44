"""Follow-ups in Slack: offered on an answer the owner can fix without a new URL, run as timed
work every FOLLOW_UP_EVERY_S, told in the thread when they end, stopped with a button.

A round looks cheaply first where it can (one profile request, `profile_only`) and runs the whole
check only once the store looks fixed. A round the token guard holds back (cool-down, spent
budget) waits for its turn and says nothing. Each ending is posted once: its message carries a
mark, looked for before it is posted (a round may be the second try of one that posted it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.escalations import EscalationState
from bot.db.follow_ups import FollowUp, FollowUpState, spread_s
from bot.db.recorder import UnwrittenCheck, new_check_id
from bot.db.timed import Again, TimedItem
from bot.destination import EntryPoint
from bot.engine.diagnosis import Diagnosis
from bot.engine.report import CheckReport
from bot.slack.exactly_once import MessageMark
from bot.slack.posting import CONNECTED, PROBLEM, tell_privately
from bot.slack.services import BotServices, services_of
from bot.slack.support_team import SupportUnreadable
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.follow_up import (
    FOLLOW_UP_ENDS,
    STOP_FOLLOW_UP_ACTION,
    STOP_WITHOUT_FOLLOW_UP,
    changed_message,
    connected_message,
    escalation_connected_message,
    expired_message,
    not_yours_line,
    stopped_line,
)
from handlers.blocks.home import home_channel
from handlers.blocks.support import RESOLVE_ACTION
from handlers.home import publish_home
from handlers.payload import Origin, clicked_value, interaction_origin, tell_origin, text
from handlers.triage import triage_thread

logger = logging.getLogger(__name__)

FOLLOW_UP_EVENT = "ecwid_connect_follow_up"
# Where the profile alone tells whether the store looks fixed: the plan, a suspension, Ecwid's
# own trouble. The others need the whole check (a collection download, a plan's entities).
PROFILE_TELLS = frozenset(
    {
        Diagnosis.PLAN_FREE,
        Diagnosis.STORE_SUSPENDED,
        Diagnosis.RATE_LIMITED,
        Diagnosis.ECWID_UNAVAILABLE,
    }
)


async def run_follow_up(
    services: BotServices, client: AsyncWebClient, item: TimedItem
) -> Again | None:
    """One round of a follow-up (timed work of kind `follow_up`)."""
    follow_up = await services.follow_ups.get(str(item.payload["follow_up"]))
    if follow_up is None or follow_up.state is not FollowUpState.ACTIVE:
        return None
    now = services.database.clock()
    if now >= follow_up.ends_at:
        await _end_and_tell(services, client, item, follow_up, FollowUpState.EXPIRED)
        return None
    paste = await services.follow_ups.paste(follow_up)
    if paste is None:
        await _end_and_tell(
            services, client, item, follow_up, FollowUpState.EXPIRED, unreadable=True
        )
        return None
    if follow_up.last_diagnosis in PROFILE_TELLS:
        look = await services.checker.check(paste, profile_only=True)
        if look.diagnosis is Diagnosis.THROTTLED:
            return when_allowed(services, look)
        if not look.ok and look.diagnosis.follows_up:
            await services.follow_ups.rechecked(follow_up.id, look.diagnosis)
            return next_round(services, services.settings.follow_up_every_s)
    destination = follow_up.destination.started_by(EntryPoint.FOLLOW_UP)
    report = await services.checker.check(paste)
    checked = UnwrittenCheck(new_check_id(), report, destination, paste)
    if report.diagnosis is Diagnosis.THROTTLED:
        return when_allowed(services, report)
    if report.ok:
        await _end_and_tell(services, client, item, follow_up, FollowUpState.SUCCEEDED, checked)
        return None
    if report.diagnosis.follows_up:
        await services.follow_ups.rechecked(follow_up.id, report.diagnosis)
        return next_round(services, services.settings.follow_up_every_s)
    await _end_and_tell(services, client, item, follow_up, FollowUpState.CHANGED, checked)
    return None


def next_round(services: BotServices, every_s: float) -> Again:
    """The next round of timed work repeated every `every_s` (follow-ups, watches), spread."""
    return Again(services.database.clock() + timedelta(seconds=every_s), spread_s=spread_s(every_s))


def when_allowed(services: BotServices, report: CheckReport) -> Again:
    """Held back by the token guard: the round waits its turn, and nothing is said."""
    wait = report.retry_after_s or services.settings.token_cooldown_s or 1.0
    return Again(services.database.clock() + timedelta(seconds=wait), spread_s=1.0)


async def _end_and_tell(
    services: BotServices,
    client: AsyncWebClient,
    item: TimedItem,
    follow_up: FollowUp,
    state: FollowUpState,
    checked: UnwrittenCheck | None = None,
    *,
    unreadable: bool = False,
) -> None:
    """Post the follow-up's last word in its thread (once, even if this round was taken over
    from a process killed mid-way), then end it. Nothing when it was ended meanwhile."""
    if not await services.timed_work.holds(item):
        return  # stopped (or forgotten) while this round ran
    destination = follow_up.destination
    report = checked.report if checked is not None else None
    if state is FollowUpState.SUCCEEDED and report is not None:
        text, blocks = connected_message(report, follow_up)
    elif state is FollowUpState.CHANGED and report is not None:
        text, blocks = changed_message(report, follow_up)
    else:
        refreshed = await services.follow_ups.get(follow_up.id) or follow_up
        text, blocks = expired_message(refreshed, unreadable=unreadable)
    # One last word per follow-up, whichever it is: a round taken over after the window ended
    # must not add "expired" to the good news an earlier round posted. Always looked for first
    # (one read per follow-up): a round given back by a clean stop is claimed afresh, its
    # attempts not counting the one whose post Slack may have applied after all.
    mark = MessageMark(FOLLOW_UP_EVENT, "follow_up", follow_up.id)
    await services.answers.poster_for(destination).post(
        destination, text, blocks, mark=mark, look_first=True
    )
    if await services.follow_ups.end(follow_up.id, state, item_id=item.id) is None:
        return
    services.metrics.follow_ups.labels(state.value).inc()
    if checked is not None:
        await services.recorder.keep(checked)
    if state is FollowUpState.SUCCEEDED:
        await services.answers.react(destination, CONNECTED, PROBLEM)
        await _tell_escalations(services, client, follow_up)


async def _tell_escalations(
    services: BotServices, client: AsyncWebClient, follow_up: FollowUp
) -> None:
    """An open escalation of the followed check hears, in its triage thread, that the store
    connected, with a button that resolves it."""
    for escalation in await services.database.open_escalations():
        if escalation.check_id != follow_up.check_id:
            continue
        triage = triage_thread(escalation)
        if escalation.state is EscalationState.RESOLVED or triage is None:
            continue
        text, blocks = escalation_connected_message(follow_up, escalation.id, RESOLVE_ACTION)
        mark = MessageMark(FOLLOW_UP_EVENT, "follow_up", f"{follow_up.id}:{escalation.id}")
        await services.answers.poster_for(triage).post(triage, text, blocks, mark=mark)


async def stop_follow_up(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The answer's "Stop checking": for whoever asked, and for support agents."""
    await ack()
    click = read_stop_click(body, context, client, STOP_WITHOUT_FOLLOW_UP)
    if click is not None:
        services = services_of(context)
        services.tasks.spawn(_stop(services, client, click), name="stop follow-up")


async def _stop(services: BotServices, client: AsyncWebClient, click: StopClick) -> None:
    follow_up = await services.follow_ups.get(click.item_id)
    if follow_up is not None and follow_up.state is FollowUpState.SUPERSEDED:
        # A newer check in the thread took the following over: "Stop checking" on the older
        # answer means that one, or the bot would go on after being asked to stop.
        thread = follow_up.destination
        follow_up = await services.follow_ups.active_in_thread(thread.channel, thread.thread_ts)
    if follow_up is None or not await may_stop(
        services, client, click, follow_up.destination.requester
    ):
        return
    if await services.follow_ups.end(follow_up.id, FollowUpState.STOPPED, by=click.user) is None:
        return  # it had ended already, and said so
    services.metrics.follow_ups.labels("stopped").inc()
    await services.answers.post(follow_up.destination, stopped_line(click.user))
    await after_stop(services, client, click)


@dataclass(frozen=True, slots=True)
class StopClick:
    """A Stop button clicked (on an answer, or in the App Home): by whom, on what."""

    origin: Origin
    user: str
    item_id: str
    home: bool
    dm_channel: str | None


def read_stop_click(
    body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient, missing: str
) -> StopClick | None:
    """The click, or None when Slack sent too little (the person is told: `missing` when the
    button named nothing to stop)."""
    origin = interaction_origin(body)
    item_id = clicked_value(body)
    if origin.user is None or item_id is None:
        tell_origin(context, client, origin, CLICK_AGAIN if item_id else missing)
        return None
    home = text(body, "view", "type") == "home"
    dm_channel = home_channel(text(body, "view", "private_metadata") or "") if home else None
    return StopClick(origin, origin.user, item_id, home, dm_channel)


async def may_stop(
    services: BotServices,
    client: AsyncWebClient,
    click: StopClick,
    asker: str,
    what: str = FOLLOW_UP_ENDS,
) -> bool:
    """Whoever asked and support agents may stop what the bot does on its own; anyone else is
    told, privately, whose it is."""
    if click.user == asker or await _is_agent(services, client, click.user):
        return True
    await tell_privately(
        client,
        click.origin.recipient(click.user),
        not_yours_line(asker, what),
    )
    return False


async def after_stop(services: BotServices, client: AsyncWebClient, click: StopClick) -> None:
    """Stopped from the App Home: its list loses the line."""
    if click.home:
        await publish_home(services, click.user, click.dm_channel or click.user, client)


async def _is_agent(services: BotServices, client: AsyncWebClient, user: str) -> bool:
    if not services.support.configured:
        return False
    try:
        return await services.support.is_agent(client, user)
    except SupportUnreadable:
        return False


def register(app: AsyncApp) -> None:
    app.action(STOP_FOLLOW_UP_ACTION)(stop_follow_up)
