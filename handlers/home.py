"""The App Home: published when a user opens it, with a button to check a store."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.database import Database
from bot.db.follow_ups import FollowUps
from bot.db.steps import StepExecutions
from bot.db.watches import Watches
from bot.destination import Destination, EntryPoint
from bot.slack.posting import Recipient
from bot.slack.services import BotServices, services_of
from bot.slack.support_team import SupportUnreadable
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.home import HOME_CHECK_ACTION, LIST_LIMIT, TeamView, home_channel, home_view
from handlers.conversation import installing_team, spawn_check_modal
from handlers.payload import event_origin, interaction_origin, tell_origin, text

logger = logging.getLogger(__name__)
TEAM_WINDOW = timedelta(days=7)


async def build_home(
    database: Database,
    user_id: str,
    dm_channel: str,
    *,
    agent: bool,
    support_notice: str | None = None,
    steps: StepExecutions | None = None,
    follow_ups: FollowUps | None = None,
    watches: Watches | None = None,
) -> dict[str, Any]:
    """The workflow steps waiting for the user and their own checks; for support agents, the
    overdue escalations first, the team's numbers (checks, response and resolution medians, the
    share answered "yes"), open escalations and every step waiting on someone; `support_notice`
    instead when who is an agent cannot be read."""
    own = await database.checks_by_requester(user_id, limit=15)
    waiting = await steps.waiting(user_id) if steps is not None else []
    team = None
    if agent:
        everyone_waiting = await steps.waiting() if steps is not None else []
        since = database.clock() - TEAM_WINDOW
        # Only what the Home lists is read; the rest is counted.
        open_count, overdue_count = await database.open_counts()
        team = TeamView(
            await database.team_stats(since),
            await database.open_escalations(limit=2 * LIST_LIMIT),
            everyone_waiting,
            await database.escalation_figures(since),
            open_count=open_count,
            overdue_count=overdue_count,
        )
    running = watching = None
    whose = None if agent else {user_id}
    if follow_ups is not None:
        running = await follow_ups.active(requesters=whose)
    if watches is not None:
        watching = await watches.active(requesters=whose)
    return home_view(
        own,
        team,
        dm_channel,
        now=database.clock(),
        support_notice=support_notice,
        waiting_steps=waiting,
        follow_ups=running,
        watches=watching,
    )


async def home_opened(
    event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The Home tab was opened: publish it, fresh."""
    if event.get("tab") != "home":
        return
    origin = event_origin({}, event)
    if origin.user is None:
        logger.warning("app_home_opened without a user ignored: no Home to publish")
        return
    user_id = origin.user
    services = services_of(context)
    services.tasks.spawn(
        publish_home(services, user_id, origin.channel or "", client),
        name="publish home",
        on_failure=services.answers.failure_notice(Recipient(user_id)),
    )


async def publish_home(
    services: BotServices, user_id: str, dm_channel: str, client: AsyncWebClient
) -> None:
    """Publish `user_id`'s App Home as it is now (`dm_channel`: where its checks answer)."""
    support = services.support
    notice = None
    try:
        agent = support.configured and await support.is_agent(client, user_id)
    except SupportUnreadable as unreadable:
        # Everyone still gets their own checks; the team's part says what to fix.
        logger.warning("App Home without the support part: %s", unreadable.error)
        agent, notice = False, str(unreadable)
    view = await build_home(
        services.database,
        user_id,
        dm_channel,
        agent=agent,
        support_notice=notice,
        steps=services.steps.executions,
        follow_ups=services.follow_ups,
        watches=services.watches,
    )
    await client.views_publish(user_id=user_id, view=view)


async def check_from_home(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Check a store" on the Home tab: the paste modal, answering in the bot's DM."""
    await ack()
    origin = interaction_origin(body)
    if origin.user is None or origin.trigger_id is None:
        tell_origin(context, client, origin, CLICK_AGAIN)
        return
    channel = home_channel(text(body, "view", "private_metadata") or "")
    destination = Destination(
        channel=channel or origin.user,  # a user ID as channel posts in the DM with the bot
        thread_ts=None,
        requester=origin.user,
        team=installing_team(context) or origin.team or "",
        entry=EntryPoint.MODAL,
    )
    spawn_check_modal(
        context,
        client,
        origin.trigger_id,
        destination,
        name="open modal from home",
        on_failure=services_of(context).answers.failure_notice(Recipient(origin.user)),
    )


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(home_opened)
    app.action(HOME_CHECK_ACTION)(check_from_home)
