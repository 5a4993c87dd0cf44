"""The connection check: from what was pasted to a `CheckReport`, in two round-trip levels.

    intake ─► download ─► parse ─► ┬ profile     ┐
    (no network)  (S3)             ├ products    │ one parallel fan-out to Ecwid
                                   ├ categories  │
                                   ├ orders      │
                                   └ customers   ┘

A check never raises: every outcome, including a bug, ends in a report with one diagnosis.
This module climbs the ladder against the check's deadline; asking Ecwid is `bot.engine.flight`,
reading its answers `bot.engine.verdict`, the ladder's steps and report `bot.engine.ladder`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bot.engine.diagnosis import Diagnosis, Entity, StepName
from bot.engine.download import download_collection
from bot.engine.ecwid import EcwidClient
from bot.engine.errors import CheckError
from bot.engine.flight import TokenFlights
from bot.engine.guard import MemoryTokenGuard, TokenGuard
from bot.engine.intake import CollectionPaste, Paste, read_paste, read_store_credentials
from bot.engine.ladder import Ladder, StepListener
from bot.engine.postman import parse_collection, parses_quickly
from bot.engine.redaction import install_log_redaction
from bot.engine.report import CheckReport
from bot.engine.trace import begin_check
from bot.engine.warm import Warmer
from bot.settings import Settings

logger = logging.getLogger(__name__)

Offload = Callable[[Callable[[], Any]], Awaitable[Any]]
"""Runs a blocking function off the event loop, as `asyncio.to_thread` does."""


class ConnectionChecker:
    """Runs connection checks; one instance serves a whole process."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        guard: TokenGuard | None = None,
        *,
        ecwid: EcwidClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        offload: Offload = asyncio.to_thread,
    ) -> None:
        """`clock` (seconds) and `sleep` are what the guard's waits use; tests move them.
        `offload` runs parsing the downloaded file off the event loop (a worker thread); a test
        on a fake clock runs it inline, so that time waits for it."""
        install_log_redaction()  # whoever embeds the engine, its secrets stay out of logs
        self._settings = settings
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._offload = offload
        self._flights = TokenFlights(
            guard
            or MemoryTokenGuard(
                settings.token_cooldown_s, settings.failing_token_budget_per_min, clock=clock
            ),
            ecwid or EcwidClient(http, settings.ecwid_api_url),
            clock=clock,
            sleep=sleep,
        )
        self._warmer = Warmer(
            http,
            settings.ecwid_api_url,
            [str(host) for host in settings.collection_hosts],
            ecwid_connections=len(Entity) + 1,  # the fan-out: the profile and every count
        )

    async def warm(self) -> None:
        """Open the connections a check is about to need (a person is about to paste)."""
        await self._warmer.all()

    async def check_text(self, text: str, on_step: StepListener | None = None) -> CheckReport:
        """Check whatever was pasted: a collection URL, or a store ID and token on one line."""
        return await self._run(lambda: read_paste(text, self._settings.collection_hosts), on_step)

    async def check_store(
        self, store_id: str, token: str, on_step: StepListener | None = None
    ) -> CheckReport:
        """Check a store ID and access token typed separately (the custom-app method)."""
        return await self._run(lambda: read_store_credentials(store_id, token), on_step)

    async def check(
        self, paste: Paste, on_step: StepListener | None = None, *, profile_only: bool = False
    ) -> CheckReport:
        """Check a paste already read by `bot.engine.intake`. `profile_only`: ask Ecwid for the
        store profile alone (one request instead of five): whether a store that failed looks
        fixed yet, before a whole check is worth it. Its report counts nothing."""
        return await self._run(lambda: paste, on_step, profile_only=profile_only)

    async def _run(
        self,
        read: Callable[[], Paste],
        on_step: StepListener | None,
        *,
        profile_only: bool = False,
    ) -> CheckReport:
        begin_check()
        ladder = Ladder(on_step, deadline=self._clock() + self._settings.check_timeout_s)
        try:
            if self._sleep is asyncio.sleep:  # the loop's own timer: no task to keep time
                async with asyncio.timeout(self._settings.check_timeout_s):
                    report = await self._climb(ladder, read, profile_only)
            else:  # the deadline runs on the checker's clock (`sleep`), which tests move
                async with asyncio.timeout(None) as deadline:
                    watchdog = asyncio.ensure_future(self._expire(deadline))
                    try:
                        report = await self._climb(ladder, read, profile_only)
                    finally:
                        watchdog.cancel()
        except CheckError as error:
            report = ladder.failed(error)
        except TimeoutError:
            seconds = f"{self._settings.check_timeout_s:g}"
            report = ladder.stopped(Diagnosis.CHECK_TIMEOUT, f"No answer within {seconds} seconds.")
        except Exception:
            reference = uuid.uuid4().hex[:10]
            logger.exception("connection check failed unexpectedly (reference %s)", reference)
            report = ladder.stopped(
                Diagnosis.INTERNAL_ERROR, "Unexpected error.", reference=reference
            )
        logger.info(
            "check finished: diagnosis=%s store=%s token=%s duration_ms=%d",
            report.diagnosis,
            report.store_id,
            report.token,
            report.duration_ms,
        )
        return report

    async def _expire(self, deadline: asyncio.Timeout) -> None:
        await self._sleep(self._settings.check_timeout_s)
        deadline.reschedule(asyncio.get_running_loop().time())

    async def _climb(
        self, ladder: Ladder, read: Callable[[], Paste], profile_only: bool = False
    ) -> CheckReport:
        ladder.begin(StepName.INTAKE)
        # Reading what was pasted runs here: intake refuses more than MAX_PASTE_CHARS before it
        # reads anything, and reading is linear (tests/engine/test_linear_time.py), so the worst
        # paste holds the loop for about 2 ms, less than handing it to a thread costs in CPU.
        paste = read()
        if isinstance(paste, CollectionPaste):
            ladder.secrets.append(paste.url)
            ecwid_ready = self._warmer.ecwid()  # Ecwid's connections open during the download
            ladder.passed(StepName.INTAKE, f"Personal collection URL on {paste.url.host}")
            ladder.begin(StepName.DOWNLOAD)
            body = await download_collection(paste.url, self._http, self._settings.collection_hosts)
            ladder.passed(StepName.DOWNLOAD, f"downloaded {len(body) / 1024:.1f} KB")
            ladder.begin(StepName.PARSE)
            # What was downloaded can be 2 MiB and take a moment: in a worker thread the event
            # loop keeps serving everyone else. A file that cannot take long is parsed here,
            # where a thread would cost more CPU than the parsing. The parser's own deadline is
            # on the real clock.
            left = ladder.deadline - self._clock()
            parse = functools.partial(parse_collection, body, deadline=time.monotonic() + left)
            credentials = parse() if parses_quickly(body) else await self._offload(parse)
            ladder.credentials = credentials
            ladder.passed(
                StepName.PARSE,
                f"store {credentials.store_id}, token {credentials.token.masked}",
            )
            await self._warmer.ready(ecwid_ready)
        else:
            credentials = paste.credentials
            ladder.credentials = credentials
            ladder.passed(StepName.INTAKE, "Store ID and token given directly")
            ladder.skip(StepName.DOWNLOAD, "no collection to download")
            ladder.skip(StepName.PARSE, "no collection to read")
        return await self._flights.ask(ladder, credentials, profile_only=profile_only)
