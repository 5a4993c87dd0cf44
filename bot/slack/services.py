"""What the Slack bot's listeners share in one process: settings, the checker, the database,
background work, the check journal, and the check-and-answer path (`answers`). With
`DATABASE_URL` set, everything several replicas must agree on (Slack retries already answered,
token cool-downs, the failing-token budget) lives in the database; without it, the embedded
SQLite file keeps the history and the journal, and process memory the rest. `database_health`
says whether the database answers (for the health endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import httpx
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.database import Database
from bot.db.follow_ups import FollowUps
from bot.db.health import DatabaseHealth
from bot.db.journal import CheckJournal
from bot.db.recorder import CheckRecorder
from bot.db.shared import DatabaseSeenKeys, DatabaseTokenGuard
from bot.db.steps import StepExecutions
from bot.db.timed import Again, TimedItem, TimedWork
from bot.db.vault import CredentialVault
from bot.db.watches import Watches
from bot.engine.check import ConnectionChecker
from bot.engine.guard import MemoryTokenGuard, TokenGuard
from bot.engine.http_client import new_http_client
from bot.engine.redaction import redact
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.answers import AnswerService
from bot.slack.dedup import FallbackSeenKeys, MemorySeenKeys, SeenKeys
from bot.slack.health import SlackHealth
from bot.slack.layouts import AnswerLayouts
from bot.slack.posting import Poster
from bot.slack.steps import WorkflowSteps
from bot.slack.support_team import SupportTeam
from bot.slack.tasks import TaskSupervisor
from bot.slack.timed import TimedWorkRunner

WARNED_TTL_S = 7 * 24 * 3600.0
HOUSEKEEPING_EVERY_S = 3600.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SlackIdentity:
    """Who `auth.test` says the bot is."""

    user_id: str
    user: str
    team_id: str
    team: str


def describe(error: BaseException) -> str:
    """An error in one line, with no traceback: its type and, when short, its message."""
    text = str(error).splitlines()[0] if str(error) else ""
    name = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
    return f"{name}: {text[:200]}" if text else name


class FallbackTokenGuard:
    """The database's `TokenGuard` that, while the database is unreachable, asks the process's
    own `MemoryTokenGuard` instead (telling `health`): a check never fails for the database.

    Delegates every coroutine method by name, so it follows the guard's interface as it grows;
    during an outage, cool-downs and the budget are per process.
    """

    def __init__(self, primary: object, fallback: object, health: DatabaseHealth) -> None:
        self._primary = primary
        self._fallback = fallback
        self._health = health

    def __getattr__(self, name: str) -> Any:
        primary = getattr(self._primary, name)
        if not inspect.iscoroutinefunction(primary):
            return primary
        fallback = getattr(self._fallback, name)
        health = self._health

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            ticket = health.attempt()
            try:
                result = await primary(*args, **kwargs)
            except Exception as error:
                health.failed("asking the token guard", error, ticket)
                return await fallback(*args, **kwargs)
            health.succeeded(ticket)
            return result

        return guarded


TimedKind = Callable[["BotServices", AsyncWebClient, TimedItem], Awaitable[Again | None]]
"""Runs one item of a kind of timed work: None when it is done, `Again` for its next run.
`handlers.timed.KINDS` names every kind and its handler."""


class BotServices:
    """One per process; `start()` before serving, `aclose()` after.

    Once `answer_with` has named the Slack client and the layouts answers are rendered with,
    `answers` takes checks from the listeners, and the journal's loop (every third of
    CHECK_LEASE_S) renews this process's leases, takes over checks whose process is gone, and
    writes what waited for the database.
    """

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        own_http = http is None
        self.http = http or new_http_client()
        if own_http:
            self.metrics.count_outbound(self.http, settings.ecwid_api_url)
        self.tasks = TaskSupervisor()
        self.metrics.track_backlog(lambda: len(self.tasks))
        self.database = Database.from_settings(settings)
        self.database.on_check_recorded.append(self.metrics.check_recorded)
        self.database.on_error.append(self.metrics.database_errors.inc)
        self.database.on_response.append(self.metrics.escalation_responded)
        self.database.on_resolution.append(self.metrics.escalation_resolved)
        #: What `auth.test` said at start: the bot's identity and workspace (None before).
        self.identity: SlackIdentity | None = None
        #: What Slack's answers since say: reachable, the token still accepted.
        self.slack_health = SlackHealth()
        #: Whether the database answers: read by the health endpoint (see `DatabaseHealth`).
        self.database_health = DatabaseHealth()
        self.shared_state = settings.database_url is not None
        self.seen: SeenKeys
        guard: TokenGuard
        if self.shared_state:
            self.seen = FallbackSeenKeys(DatabaseSeenKeys(self.database), self.database_health)
            guard = cast(
                TokenGuard,
                FallbackTokenGuard(
                    DatabaseTokenGuard(
                        self.database,
                        settings.token_cooldown_s,
                        settings.failing_token_budget_per_min,
                    ),
                    MemoryTokenGuard(
                        settings.token_cooldown_s, settings.failing_token_budget_per_min
                    ),
                    self.database_health,
                ),
            )
        else:
            self.seen = MemorySeenKeys()
            guard = MemoryTokenGuard(
                settings.token_cooldown_s, settings.failing_token_budget_per_min
            )
        #: Messages already warned about (the leak guard): in the database even without
        #: DATABASE_URL, so that an edit days later, or a retry after a restart, is not warned
        #: about again. Only messages holding a secret ever write here.
        self.warned: SeenKeys = FallbackSeenKeys(
            DatabaseSeenKeys(self.database, WARNED_TTL_S), self.database_health, ttl_s=WARNED_TTL_S
        )
        self.checker = ConnectionChecker(settings, self.http, guard)
        self.vault: CredentialVault = self.database.vault(
            settings.credentials_key, timedelta(hours=settings.credentials_ttl_h)
        )
        self.recorder = CheckRecorder(self.database, self.vault, self.database_health)
        self.journal = CheckJournal(
            self.database,
            self.vault,
            self.database_health,
            lease_s=settings.check_lease_s,
            spill_directory=Path(settings.data_dir),
        )
        #: Executions of the Workflow Builder step, and their completion.
        self.steps = WorkflowSteps(
            StepExecutions(self.database), quiet_for=timedelta(seconds=settings.check_lease_s)
        )
        self._answers: AnswerService | None = None
        #: Follow-ups, watches, reminders: work with a due time, kept in the database.
        self.timed_work = TimedWork(self.database, settings.check_lease_s)
        #: Failed checks the bot checks again on its own until they work.
        self.follow_ups = FollowUps(self.database, self.vault, self.timed_work)
        #: Connected stores checked every day until their migration, then a reminder.
        self.watches = Watches(self.database, self.vault, self.timed_work)
        self.timed = TimedWorkRunner(
            self.timed_work,
            self.metrics,
            self.tasks.spawn,
            # A handler may run a whole check and post its answer: well past CHECK_TIMEOUT_S.
            timeout_s=settings.check_timeout_s * 2 + 60,
        )
        self._journal_loop: asyncio.Task[None] | None = None
        self._closing = False
        self.support = SupportTeam(
            settings.support_channel_id,
            settings.support_user_group_id,
            external_agents=settings.support_external_agents,
        )
        self._housekeeping: asyncio.Task[None] | None = None
        self._slack: AsyncWebClient | None = None
        self._slack_session: aiohttp.ClientSession | None = None
        self.started = False

    def keep_slack_connections(self, client: AsyncWebClient) -> None:
        """`client` keeps its connections to Slack open from `start()` to `aclose()`. Without a
        session of its own, slack_sdk opens one for every call: a new TCP and TLS handshake in
        front of every message, reaction and modal update."""
        self._slack = client

    async def start(self) -> None:
        """Bring the database schema up to date (a fresh clone creates its SQLite file here)
        and start the hourly clean-up of expired credentials and, with HISTORY_RETENTION_DAYS,
        of old history."""
        await self.database.migrate()
        if self._slack is not None and self._slack.session is None:
            self._slack_session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._slack.timeout)
            )
            self._slack.session = self._slack_session
        self.started = True
        # Everything loaded so far lives as long as the process: keep the garbage collector
        # from re-scanning it, which otherwise shows up as pauses in the time to ack.
        gc.freeze()
        loop = asyncio.get_running_loop()
        self._housekeeping = loop.create_task(
            self._purge_expired_credentials(), name="housekeeping"
        )
        self._journal_loop = loop.create_task(self._keep_journal(), name="journal")
        self.timed.start()

    def answer_with(self, client: AsyncWebClient, layouts: AnswerLayouts) -> None:
        """Answer checks (and finish interrupted ones) through `client`, in `layouts`; when
        serving has started, look for interrupted checks at once rather than at the journal's
        next round."""
        self._answers = AnswerService(
            checker=self.checker,
            journal=self.journal,
            recorder=self.recorder,
            poster=Poster(client, layouts.private_copy),
            layouts=layouts,
            note=functools.partial(layouts.note, self),
            steps=self.steps,
            escalation=self.support.configured,
            watch=self.follow_ups.available,
        )
        if self.started and not self._closing:
            self.tasks.spawn(self.journal_round(), name="journal round")

    @property
    def answers(self) -> AnswerService:
        """The check-and-answer path the listeners hand their work to (after `answer_with`)."""
        if self._answers is None:
            raise RuntimeError("answer_with() names the Slack client and layouts first")
        return self._answers

    def run_timed_work(self, client: AsyncWebClient, kinds: Mapping[str, TimedKind]) -> None:
        """Run the timed work of `kinds` as it comes due, posting through `client`."""
        self.timed.handle(
            {kind: functools.partial(handler, self, client) for kind, handler in kinds.items()}
        )

    async def _keep_journal(self) -> None:
        every = self.settings.check_lease_s / 3
        while True:
            try:
                await self.journal_round()
            except Exception:
                logger.exception("the journal's round failed")
            await asyncio.sleep(every)

    async def journal_round(self) -> None:
        """Renew leases, write what waited for the database, take over interrupted checks and
        complete the workflow steps their process left."""
        await self.journal.heartbeat()
        if self.recorder.waiting and self.database_health.available:
            for check in await self.recorder.flush():
                if check.journal_id is not None:
                    await self.journal.done(check.journal_id)
        if self._answers is None or self._closing:
            return
        for entry in await self.journal.claim_orphans():
            self.tasks.spawn(self._answers.resume(entry), name="finish interrupted check")
        try:
            await self.steps.complete_stale(self._answers.poster.client)
        except Exception as error:
            logger.warning("could not look for workflow steps to complete: %s", describe(error))

    async def _purge_expired_credentials(self) -> None:
        while True:
            await self.housekeeping()
            await asyncio.sleep(HOUSEKEEPING_EVERY_S)

    async def refresh_gauges(self) -> None:
        """Bring the gauges counted in the database up to date, at scrape: overdue escalations
        and active watches (index range counts), whichever replica changed them; when the
        database does not answer, the last counts stay."""
        try:
            self.metrics.escalations_overdue.set(await self.database.overdue_count())
            self.metrics.watches_active.set(await self.watches.active_count())
        except Exception as error:
            logger.warning("could not count overdue escalations and watches: %s", describe(error))

    async def housekeeping(self) -> None:
        """One round of clean-up: expired credentials, then history past its retention."""
        try:
            purged = await self.vault.purge_expired()
            await self.journal.purge()
            await self.timed_work.purge()
        except Exception as error:
            logger.warning("could not purge expired credentials: %s", describe(error))
        else:
            if purged:
                logger.info("purged %d expired credentials", purged)
        days = self.settings.history_retention_days
        if days is None:
            return
        try:
            purged = await self.database.purge_history(timedelta(days=days))
        except Exception as error:
            logger.warning("could not purge old history: %s", describe(error))
        else:
            if purged:
                logger.info("purged %d checks older than %g days", purged, days)

    async def authenticate(self, client: AsyncWebClient) -> SlackIdentity:
        """Ask Slack who the bot token belongs to (`auth.test`); raises SlackApiError."""
        answer = await client.auth_test()
        self.identity = SlackIdentity(
            user_id=str(answer.get("user_id") or ""),
            user=str(answer.get("user") or ""),
            team_id=str(answer.get("team_id") or ""),
            team=str(answer.get("team") or ""),
        )
        return self.identity

    async def readiness(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """Whether this process can do its work: the database answers, Slack accepted the bot
        token at start and has neither refused it since nor been unreachable for a minute, and
        background work is under READY_MAX_BACKLOG. Each with its own verdict."""
        database: dict[str, Any] = {"ok": True}
        try:
            async with asyncio.timeout(timeout_s):
                await self.database.ping()
        except Exception as error:
            database = {"ok": False, "error": redact(describe(error))}
        # What the checks fell back to while the database was away, and what still waits for it.
        database["fallback"] = self.database_health.snapshot()
        slack = self.slack_health.snapshot()
        slack["ok"] = slack["ok"] and self.identity is not None
        if self.identity is not None:
            slack["team_id"] = self.identity.team_id
        backlog = len(self.tasks)
        limit = self.settings.ready_max_backlog
        ready = database["ok"] and slack["ok"] and backlog < limit
        self.metrics.ready.set(1 if ready else 0)
        return {
            "ready": ready,
            "database": database,
            "slack": slack,
            "backlog": {"ok": backlog < limit, "in_flight": backlog, "limit": limit},
        }

    async def aclose(self, drain_timeout_s: float = 30.0) -> None:
        """Let in-flight checks finish (up to the timeout), then release connections."""
        # No more taking over; the leases of the checks draining are still renewed meanwhile.
        self._closing = True
        await self.timed.stop()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        await self.tasks.drain(drain_timeout_s)
        if self._journal_loop is not None:
            self._journal_loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._journal_loop
        # What is still open (cut short by the drain's timeout) is for whoever starts next;
        # stopped before the schema was up to date, there is no journal to speak of.
        if self.started:
            await self.journal.heartbeat()
            await self.journal.release()
            await self.timed.release()
        self.journal.close()
        if self._slack_session is not None:
            await self._slack_session.close()
        await self.http.aclose()
        await self.database.close()


SERVICES_KEY = "ecwid_connect_services"


def services_of(context: AsyncBoltContext) -> BotServices:
    """The process's services, as `create_app` put them in every request's context."""
    services = context[SERVICES_KEY]
    assert isinstance(services, BotServices)
    return services
