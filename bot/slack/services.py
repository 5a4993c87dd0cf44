"""What the Slack bot's listeners share in one process: settings, the checker, the database,
background work. With `DATABASE_URL` set, everything several replicas must agree on (Slack
retries already answered, token cool-downs, the failing-token budget) lives in the database;
without it, the embedded SQLite file keeps the history and process memory the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from datetime import timedelta

import httpx
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.check import ConnectionChecker, new_http_client
from bot.engine.guard import MemoryTokenGuard, TokenGuard
from bot.history.database import Database
from bot.history.shared import DatabaseSeenKeys, DatabaseTokenGuard
from bot.history.vault import CredentialVault
from bot.service import CheckService
from bot.settings import Settings
from bot.slack.dedup import MemorySeenKeys, SeenKeys
from bot.slack.tasks import TaskSupervisor

SUPPORT_MEMBERS_TTL_S = 60.0
HOUSEKEEPING_EVERY_S = 3600.0
logger = logging.getLogger(__name__)


# conversations.members' answers when the bot may not read the support channel (its documented
# errors, and not_in_channel): a private channel it was never invited to is `channel_not_found`.
UNREADABLE_CHANNEL_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "fetch_members_failed",
        "method_not_supported_for_channel_type",
        "access_denied",
    }
)


class SupportUnreadable(Exception):
    """Who is in the support channel cannot be read; the message names the fix."""

    def __init__(self, channel: str, error: str) -> None:
        self.channel = channel
        self.error = error
        super().__init__(
            f"I cannot see who is in the support channel <#{channel}> (Slack says `{error}`): "
            f"invite the bot to <#{channel}> (`/invite @ecwid-connect` in that channel), "
            "or set SUPPORT_CHANNEL_ID to a channel it is in."
        )


class SupportTeam:
    """Who counts as a support agent: members of the support channel or of a user group.

    Membership is asked of Slack and remembered for a minute. When Slack will not say who is
    in the support channel, `is_agent` and `may_act` raise `SupportUnreadable`.
    """

    def __init__(
        self, channel: str | None, user_group: str | None, *, external_agents: bool = False
    ) -> None:
        self.channel = channel
        self.user_group = user_group
        self.external_agents = external_agents
        self._members: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")

    @property
    def configured(self) -> bool:
        return self.channel is not None

    async def is_agent(self, client: AsyncWebClient, user_id: str) -> bool:
        if time.monotonic() - self._fetched_at > SUPPORT_MEMBERS_TTL_S:
            self._members = await self._fetch(client)
            self._fetched_at = time.monotonic()
        return user_id in self._members

    async def may_act(
        self,
        client: AsyncWebClient,
        user_id: str,
        *,
        user_team: str | None,
        home_team: str | None,
    ) -> bool:
        """Whether `user_id` may use the support side (triage buttons): a support agent, and,
        unless SUPPORT_EXTERNAL_AGENTS is on, a member of the workspace that installed the bot
        (in a Slack Connect support channel, another organisation's members are members too)."""
        if not self.configured:
            return False
        external = bool(user_team and home_team and user_team != home_team)
        if external and not self.external_agents:
            return False
        return await self.is_agent(client, user_id)

    async def _fetch(self, client: AsyncWebClient) -> frozenset[str]:
        members: set[str] = set()
        if self.channel:
            cursor = None
            while True:
                try:
                    page = await client.conversations_members(
                        channel=self.channel, cursor=cursor, limit=1000
                    )
                except SlackApiError as error:
                    refusal = str(error.response.get("error") or "")
                    if refusal not in UNREADABLE_CHANNEL_ERRORS:
                        raise
                    raise SupportUnreadable(self.channel, refusal) from None
                members.update(page.get("members") or [])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        if self.user_group:
            try:
                group = await client.usergroups_users_list(usergroup=self.user_group)
                members.update(group.get("users") or [])
            except SlackApiError as error:
                if error.response.get("error") not in ("no_such_subteam", "missing_scope"):
                    raise
        return frozenset(members)


class BotServices:
    """One per process; `start()` before serving, `aclose()` after."""

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http or new_http_client()
        self.tasks = TaskSupervisor()
        self.database = Database.from_settings(settings)
        self.shared_state = settings.database_url is not None
        self.seen: SeenKeys
        guard: TokenGuard
        if self.shared_state:
            self.seen = DatabaseSeenKeys(self.database)
            guard = DatabaseTokenGuard(
                self.database, settings.token_cooldown_s, settings.failing_token_budget_per_min
            )
        else:
            self.seen = MemorySeenKeys()
            guard = MemoryTokenGuard(
                settings.token_cooldown_s, settings.failing_token_budget_per_min
            )
        self.checker = ConnectionChecker(settings, self.http, guard)
        self.vault: CredentialVault = self.database.vault(
            settings.credentials_key, timedelta(hours=settings.credentials_ttl_h)
        )
        self.checks = CheckService(self.checker, self.database, self.vault)
        self.support = SupportTeam(
            settings.support_channel_id,
            settings.support_user_group_id,
            external_agents=settings.support_external_agents,
        )
        self._housekeeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bring the database schema up to date (a fresh clone creates its SQLite file here)
        and start the hourly clean-up of expired credentials."""
        await self.database.migrate()
        # Everything loaded so far lives as long as the process: keep the garbage collector
        # from re-scanning it, which otherwise shows up as pauses in the time to ack.
        gc.freeze()
        self._housekeeping = asyncio.get_running_loop().create_task(
            self._purge_expired_credentials(), name="housekeeping"
        )

    async def _purge_expired_credentials(self) -> None:
        while True:
            try:
                purged = await self.vault.purge_expired()
            except Exception:
                logger.exception("could not purge expired credentials")
            else:
                if purged:
                    logger.info("purged %d expired credentials", purged)
            await asyncio.sleep(HOUSEKEEPING_EVERY_S)

    async def aclose(self, drain_timeout_s: float = 30.0) -> None:
        """Let in-flight checks finish (up to the timeout), then release connections."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        await self.tasks.drain(drain_timeout_s)
        await self.http.aclose()
        await self.database.close()


SERVICES_KEY = "ecwid_connect_services"


def services_of(context: AsyncBoltContext) -> BotServices:
    """The process's services, as `create_app` put them in every request's context."""
    services = context[SERVICES_KEY]
    assert isinstance(services, BotServices)
    return services
