"""The connection check: from what was pasted to a `CheckReport`, in two round-trip levels.

    intake ─► download ─► parse ─► ┬ profile     ┐
    (no network)  (S3)             ├ products    │ one parallel fan-out to Ecwid
                                   ├ categories  │
                                   ├ orders      │
                                   └ customers   ┘

A check never raises: every outcome, including a bug, ends in a report with one diagnosis.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx

from bot.engine.catalogue import CATALOGUE, WARNING_TEXTS
from bot.engine.collection import PinnedResolver, download_collection, parse_collection
from bot.engine.diagnosis import Diagnosis, Entity, StepName, StepStatus, WarningCode
from bot.engine.ecwid import PAID_FEATURE, EcwidClient, StoreProfile
from bot.engine.errors import CheckError, EcwidError
from bot.engine.guard import MemoryTokenGuard, TokenGuard
from bot.engine.intake import CollectionPaste, Paste, read_paste, read_store_credentials
from bot.engine.redaction import (
    Secret,
    StoreCredentials,
    install_log_redaction,
    redact,
)
from bot.engine.report import CheckReport, Count, Counts, Step
from bot.engine.trace import begin_check
from bot.engine.transport import CookielessClient, LeanAiohttpTransport
from bot.engine.warm import Warmer
from bot.settings import Settings

logger = logging.getLogger(__name__)

StepListener = Callable[[Step], None]
Offload = Callable[[Callable[[], Any]], Awaitable[Any]]
"""Runs a blocking function off the event loop, as `asyncio.to_thread` does."""

# A check waiting for the budget goes ahead only with this much of its deadline left for Ecwid.
_ANSWER_MARGIN_S = 2.0
# Flights and reservations are leased for the rest of the check's deadline plus this.
_LEASE_MARGIN_S = 5.0
# How often a check waiting on another process's check of the same token looks for its verdict.
_VERDICT_POLL_S = 0.1
_PUBLIC_TOKEN_CANNOT_READ = (Entity.ORDERS, Entity.CUSTOMERS)
# No text of a report is longer: a store name or error code from Ecwid can be anything.
MAX_REPORT_TEXT_CHARS = 1000
# The steps a check climbs on its own before any request to Ecwid.
_OWN_STEPS = frozenset({StepName.INTAKE, StepName.DOWNLOAD, StepName.PARSE})
KEEPALIVE_S = 60.0
# A downloaded file this small without `{{` is parsed on the event loop (see `parses_quickly`).
INLINE_PARSE_BYTES = 16 * 1024


def new_http_client(*, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The one HTTP client a process shares for every check (connection reuse matters).

    Its resolver is a `PinnedResolver`: a collection download connects to the addresses it
    vetted, never to what a second DNS answer says. `verify` replaces the system's trusted
    certificates (the benchmark's throw-away CA).
    """
    # Idle connections stay a minute (not httpx's 5 s): the ones warmed when the paste modal
    # opens must outlive the time it takes to fetch and paste the URL. aiohttp retries a GET
    # once when a server has closed a kept connection meanwhile.
    limits = httpx.Limits(
        max_connections=1000, max_keepalive_connections=200, keepalive_expiry=KEEPALIVE_S
    )
    ssl_context = (
        verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
    )

    def session() -> aiohttp.ClientSession:  # made on first use, inside the running loop
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=ssl_context,
            resolver=PinnedResolver(),
            use_dns_cache=False,  # a cached answer would bypass the pinned one
        )
        return aiohttp.ClientSession(connector=connector)

    return CookielessClient(
        # httpx's own pool slows down sharply with hundreds of requests in flight
        # (encode/httpx#3215); aiohttp's, already here for Slack, does not.
        transport=LeanAiohttpTransport(limits=limits, client=session),
        follow_redirects=False,
        limits=limits,
        headers={"User-Agent": "ecwid-connect/0.1 (+connection check)"},
    )


def parses_quickly(body: bytes) -> bool:
    """Whether parsing `body` is bounded well below the event loop's lag budget (50 ms).

    Parsing is linear in the file (tests/engine/test_linear_time.py) except for `{{variable}}`
    expansion, whose budget is the same for any file. So: at most `INLINE_PARSE_BYTES` (about
    5 ms of parsing for the worst such file measured, 3 times a Personal collection's 5 KB),
    and no `{{` after decoding: none written, no JSON `\\u` escape (which could write one),
    and no NUL byte (UTF-16 and UTF-32, where `{{` is not two bytes in a row).
    """
    return (
        len(body) <= INLINE_PARSE_BYTES
        and b"{{" not in body
        and b"\\u" not in body
        and b"\0" not in body
    )


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
        self._guard = guard or MemoryTokenGuard(
            settings.token_cooldown_s, settings.failing_token_budget_per_min, clock=clock
        )
        self._ecwid = ecwid or EcwidClient(http, settings.ecwid_api_url)
        # The check of each token in flight in this process, by fingerprint.
        self._flights: dict[str, asyncio.Future[_Shared]] = {}
        # Checks waiting for the failing-token budget, served in arrival order (a fair lock).
        self._budget_queue = asyncio.Lock()
        # Set each time a reservation is settled: a check waiting on reservations looks again.
        self._settled = asyncio.Event()
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

    async def check(self, paste: Paste, on_step: StepListener | None = None) -> CheckReport:
        """Check a paste already read by `bot.engine.intake`."""
        return await self._run(lambda: paste, on_step)

    async def _run(self, read: Callable[[], Paste], on_step: StepListener | None) -> CheckReport:
        begin_check()
        run = _Run(on_step, deadline=self._clock() + self._settings.check_timeout_s)
        try:
            if self._sleep is asyncio.sleep:  # the loop's own timer: no task to keep time
                async with asyncio.timeout(self._settings.check_timeout_s):
                    report = await self._climb(run, read)
            else:  # the deadline runs on the checker's clock (`sleep`), which tests move
                async with asyncio.timeout(None) as deadline:
                    watchdog = asyncio.ensure_future(self._expire(deadline))
                    try:
                        report = await self._climb(run, read)
                    finally:
                        watchdog.cancel()
        except CheckError as error:
            report = run.failed(error)
        except TimeoutError:
            seconds = f"{self._settings.check_timeout_s:g}"
            report = run.stopped(Diagnosis.CHECK_TIMEOUT, f"No answer within {seconds} seconds.")
        except Exception:
            reference = uuid.uuid4().hex[:10]
            logger.exception("connection check failed unexpectedly (reference %s)", reference)
            report = run.stopped(Diagnosis.INTERNAL_ERROR, "Unexpected error.", reference=reference)
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

    async def _climb(self, run: _Run, read: Callable[[], Paste]) -> CheckReport:
        run.begin(StepName.INTAKE)
        # Reading what was pasted runs here: intake refuses more than MAX_PASTE_CHARS before it
        # reads anything, and reading is linear (tests/engine/test_linear_time.py), so the worst
        # paste holds the loop for about 2 ms, less than handing it to a thread costs in CPU.
        paste = read()
        if isinstance(paste, CollectionPaste):
            run.secrets.append(paste.url)
            ecwid_ready = self._warmer.ecwid()  # Ecwid's connections open during the download
            run.passed(StepName.INTAKE, f"Personal collection URL on {paste.url.host}")
            run.begin(StepName.DOWNLOAD)
            body = await download_collection(paste.url, self._http, self._settings.collection_hosts)
            run.passed(StepName.DOWNLOAD, f"downloaded {len(body) / 1024:.1f} KB")
            run.begin(StepName.PARSE)
            # What was downloaded can be 2 MiB and take a moment: in a worker thread the event
            # loop keeps serving everyone else. A file that cannot take long is parsed here,
            # where a thread would cost more CPU than the parsing. The parser's own deadline is
            # on the real clock.
            left = run.deadline - self._clock()
            parse = functools.partial(parse_collection, body, deadline=time.monotonic() + left)
            credentials = parse() if parses_quickly(body) else await self._offload(parse)
            run.credentials = credentials
            run.passed(
                StepName.PARSE,
                f"store {credentials.store_id}, token {credentials.token.masked}",
            )
            await self._warmer.ready(ecwid_ready)
        else:
            credentials = paste.credentials
            run.credentials = credentials
            run.passed(StepName.INTAKE, "Store ID and token given directly")
            run.skip(StepName.DOWNLOAD, "no collection to download")
            run.skip(StepName.PARSE, "no collection to read")
        return await self._ask_ecwid(run, credentials)

    async def _ask_ecwid(self, run: _Run, credentials: StoreCredentials) -> CheckReport:
        entities = [
            entity
            for entity in Entity
            if not (credentials.token.is_public and entity in _PUBLIC_TOKEN_CANNOT_READ)
        ]
        fingerprint = credentials.token.fingerprint
        # Single flight in this process: a check of a token already in flight shares its answers.
        while (flight := self._flights.get(fingerprint)) is not None:
            run.tell(StepName.PROFILE, "waiting for the check of the same token in progress")
            shared = await asyncio.shield(flight)
            if shared.answer is not None and shared.store_id == credentials.store_id:
                return shared.answer.report_for(run, credentials)
        flight = asyncio.get_running_loop().create_future()
        self._flights[fingerprint] = flight
        answer: _Answer | None = None
        try:
            answer, report = await self._fly(run, credentials, entities)
        finally:
            flight.set_result(_Shared(credentials.store_id, answer))
            del self._flights[fingerprint]
        return report

    async def _fly(
        self, run: _Run, credentials: StoreCredentials, entities: list[Entity]
    ) -> tuple[_Answer, CheckReport]:
        """Own this token's flight across processes (or wait for its owner's verdict), ask
        Ecwid, and end the flight with the verdict and, after a hard failure, a cool-down."""
        fingerprint = credentials.token.fingerprint
        while True:
            claim = await self._guard.claim_flight(fingerprint, self._lease_s(run))
            if claim.cooling_s > 0:
                answer: _Answer = _Stopped(
                    Diagnosis.THROTTLED,
                    "This token failed a moment ago; it is not sent to Ecwid again yet.",
                    retry_after_s=math.ceil(claim.cooling_s),
                )
                return answer, answer.report_for(run, credentials)
            if claim.flight is not None:
                break
            assert claim.running is not None
            remote = await self._await_verdict(run, fingerprint, claim.running)
            if remote is not None and remote.store_id == credentials.store_id:
                answer = _Remote(remote)
                return answer, answer.report_for(run, credentials)
        report: CheckReport | None = None
        try:
            answer = await self._send(run, credentials, entities)
            report = answer.report_for(run, credentials)
        finally:
            await self._guard.finish_flight(
                fingerprint,
                claim.flight,
                verdict=report.model_dump_json() if report is not None else None,
                cool_down=report is not None and report.diagnosis.blames_token,
            )
        return answer, report

    async def _await_verdict(self, run: _Run, fingerprint: str, flight: str) -> CheckReport | None:
        """Another process is checking this token: its verdict, or None if it left none."""
        run.tell(StepName.PROFILE, "waiting for the check of the same token in progress")
        while True:
            state = await self._guard.flight_state(fingerprint, flight)
            if not state.running:
                if state.verdict is None:
                    return None
                return CheckReport.model_validate_json(state.verdict)
            await self._sleep(_VERDICT_POLL_S)

    async def _send(
        self, run: _Run, credentials: StoreCredentials, entities: list[Entity]
    ) -> _Answer:
        requests = len(entities) + 1
        reservation = await self._reserve(run, requests)
        if isinstance(reservation, _Stopped):
            return reservation
        for step in (StepName.PROFILE, *(entity.step for entity in entities)):
            run.begin(step)
        failing = requests  # until the answers are in, every request may have failed
        try:
            profile_outcome, *count_outcomes = await asyncio.gather(
                _attempt(StepName.PROFILE, self._ecwid.profile(credentials)),
                *(_attempt(e.step, self._ecwid.count(credentials, e)) for e in entities),
            )
            failing = sum(
                1
                for outcome in (profile_outcome, *count_outcomes)
                if outcome.error is not None and outcome.error.diagnosis.blames_token
            )
        finally:
            await self._guard.settle(reservation, failing)
            self._settled.set()
            self._settled = asyncio.Event()
        return _FanOut(profile_outcome, count_outcomes)

    async def _reserve(self, run: _Run, requests: int) -> str | _Stopped:
        """A reservation of `requests` failing-token requests, waiting in arrival order while
        the budget is in use; `throttled` only when failures keep it spent past the deadline."""
        told = False
        async with self._budget_queue:
            while True:
                admission = await self._guard.reserve(requests, self._lease_s(run))
                if admission.reservation is not None:
                    return admission.reservation
                remaining = run.deadline - self._clock() - _ANSWER_MARGIN_S
                if admission.failures_wait_s > remaining:
                    return _Stopped(
                        Diagnosis.THROTTLED,
                        "Too many failing checks in the last minute; "
                        "waiting protects everyone's access.",
                        retry_after_s=math.ceil(admission.failures_wait_s),
                    )
                if admission.failures_wait_s > 0 and not told:
                    run.tell(
                        StepName.PROFILE,
                        f"waiting about {math.ceil(admission.failures_wait_s)} s: other checks'"
                        " failing tokens used this minute's budget for Ecwid",
                    )
                    told = True
                await self._nap(
                    max(min(admission.wait_s, remaining), 0.001),
                    wake_on_settle=admission.failures_wait_s == 0,
                )

    async def _nap(self, seconds: float, *, wake_on_settle: bool) -> None:
        if not wake_on_settle:
            await self._sleep(seconds)
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        settled = asyncio.ensure_future(self._settled.wait())
        try:
            await asyncio.wait((sleeper, settled), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            settled.cancel()

    def _lease_s(self, run: _Run) -> float:
        return max(run.deadline - self._clock(), 0.0) + _LEASE_MARGIN_S


@dataclass(frozen=True, slots=True)
class _Stopped:
    """The check ends before Ecwid is asked (the guard's `throttled`)."""

    diagnosis: Diagnosis
    summary: str
    retry_after_s: int | None = None

    def report_for(self, run: _Run, credentials: StoreCredentials) -> CheckReport:
        return run.stopped(self.diagnosis, self.summary, retry_after_s=self.retry_after_s)


@dataclass(frozen=True, slots=True)
class _FanOut:
    """Ecwid's answers to one check's requests, which every check of the flight reads."""

    profile: _Outcome
    counts: list[_Outcome]

    def report_for(self, run: _Run, credentials: StoreCredentials) -> CheckReport:
        return _Verdict(run, credentials, self.profile, self.counts).report()


@dataclass(frozen=True, slots=True)
class _Remote:
    """The verdict of the same token's check in another process."""

    report: CheckReport

    def report_for(self, run: _Run, credentials: StoreCredentials) -> CheckReport:
        return run.adopt(self.report)


_Answer = _Stopped | _FanOut | _Remote


@dataclass(frozen=True, slots=True)
class _Shared:
    """What a flight's owner leaves for the checks of this process that waited on it."""

    store_id: int
    answer: _Answer | None  # None: the owner ended without an answer (time-out, bug)


@dataclass(slots=True)
class _Outcome:
    step: StepName
    value: Any = None
    retried: bool = False
    error: EcwidError | None = None


async def _attempt(step: StepName, call: Awaitable[tuple[Any, bool]]) -> _Outcome:
    try:
        value, retried = await call
    except EcwidError as error:
        return _Outcome(step, error=error)
    return _Outcome(step, value=value, retried=retried)


class _Run:
    """The ladder of one check as it is climbed, and the report it ends in."""

    def __init__(self, on_step: StepListener | None, *, deadline: float = math.inf) -> None:
        self.started = time.monotonic()
        self.deadline = deadline  # on the checker's clock
        self.credentials: StoreCredentials | None = None
        # The check's own secrets, redacted from its report whatever field holds them.
        self.secrets: list[Secret] = []
        self._on_step = on_step
        self._steps = {name: Step(name=name, status=StepStatus.PENDING) for name in StepName}
        self._running: list[StepName] = []

    def begin(self, name: StepName) -> None:
        self._running.append(name)

    def passed(self, name: StepName, detail: str) -> None:
        self.mark(name, StepStatus.PASSED, detail)

    def skip(self, name: StepName, detail: str) -> None:
        self.mark(name, StepStatus.SKIPPED, detail)

    def mark(self, name: StepName, status: StepStatus, detail: str) -> None:
        # Listeners show steps as they happen: each detail is redacted before anyone sees it.
        detail = _capped(redact(detail, self._secrets(), live=False))
        step = Step(name=name, status=status, detail=detail)
        self._steps[name] = step
        if name in self._running:
            self._running.remove(name)
        if self._on_step is not None:
            self._on_step(step)

    def tell(self, name: StepName, detail: str) -> None:
        """Progress on a step still pending (a wait), for the listener only."""
        if self._on_step is not None:
            self._on_step(Step(name=name, status=StepStatus.PENDING, detail=detail))

    def adopt(self, report: CheckReport) -> CheckReport:
        """Another process's verdict on the same token: its Ecwid steps after this check's own
        intake, download and parse."""
        for step in report.steps:
            if step.name not in _OWN_STEPS:
                self.mark(step.name, step.status, step.detail)
        return report.model_copy(
            update={
                "steps": list(self._steps.values()),
                "duration_ms": round((time.monotonic() - self.started) * 1000),
                "checked_at": datetime.now(UTC),
            }
        )

    def failed(self, error: CheckError) -> CheckReport:
        """End at the step that was running, with the error's specific detail for support."""
        return self.stopped(error.diagnosis, error.detail)

    def stopped(self, diagnosis: Diagnosis, detail: str, **facts: Any) -> CheckReport:
        """End early: the rungs running fail with `detail`; those not reached are skipped."""
        for name in list(self._running):
            self.mark(name, StepStatus.FAILED, detail)
        for name, step in self._steps.items():
            if step.status is StepStatus.PENDING:
                self.skip(name, "not reached")
        return self.report(diagnosis, detail=detail, **facts)

    def report(
        self,
        diagnosis: Diagnosis,
        *,
        detail: str = "",
        warnings: list[WarningCode] | None = None,
        missing_scopes: list[Entity] | None = None,
        limited: list[Entity] | None = None,
        retry_after_s: int | None = None,
        reference: str | None = None,
        **facts: Any,
    ) -> CheckReport:
        entry = CATALOGUE[diagnosis]
        entities = [entity.value for entity in missing_scopes or []]
        scopes = list(dict.fromkeys(entity.scope for entity in missing_scopes or []))
        if diagnosis is Diagnosis.SCOPE_MISSING and not entities:  # only the profile refused
            entities, scopes = ["the store profile"], ["read_store_profile"]
        if diagnosis is Diagnosis.PLAN_LIMITED:
            entities = [entity.value for entity in limited or []] or ["the store profile"]
        words = _Words(
            store_id=str(self.credentials.store_id) if self.credentials else "?",
            entities=", ".join(entities),
            scopes=", ".join(scopes),
            wait=_for_people(retry_after_s),
            reference=reference or "",
        )
        warnings = warnings or []
        report = CheckReport(
            ok=diagnosis is Diagnosis.OK,
            diagnosis=diagnosis,
            title=entry.title,
            summary=entry.summary.format_map(words),
            detail=detail,
            warnings=warnings,
            warning_texts=[WARNING_TEXTS[code] for code in warnings],
            store_id=self.credentials.store_id if self.credentials else None,
            token=self.credentials.token.masked if self.credentials else None,
            missing_scopes=missing_scopes or [],
            retry_after_s=retry_after_s,
            steps=list(self._steps.values()),
            tips=[tip.format_map(words) for tip in entry.tips],
            duration_ms=round((time.monotonic() - self.started) * 1000),
            reference=reference,
            **facts,
        )
        return self._redacted(report)

    def _redacted(self, report: CheckReport) -> CheckReport:
        """`report` with every text redacted and capped: what Ecwid answers is data, not text.

        A store name, store URL, plan name or error code holding the token (or anything that
        looks like a token or a collection URL) must not reach a thread, a modal, `--json` or
        a database row; a megabyte-long one must not either.
        """
        # The check's own secrets are the ones its report could hold: no sweep over all of them.
        return CheckReport.model_validate(_clean(report.model_dump(), self._secrets()))

    def _secrets(self) -> list[Secret]:
        token = [self.credentials.token] if self.credentials is not None else []
        return [*self.secrets, *token]


def _clean(value: Any, secrets: list[Secret]) -> Any:
    """A report's `model_dump()` with every text redacted and capped.

    Texts are the `str` values; the keys are the models' field names (no field of a report is
    a mapping) and the enum members are the engine's own codes, so neither is data.
    """
    if type(value) is str:
        return _capped(redact(value, secrets, live=False))
    if isinstance(value, list):
        return [_clean(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _clean(item, secrets) for key, item in value.items()}
    return value


def _capped(text: str) -> str:
    if len(text) > MAX_REPORT_TEXT_CHARS:
        return text[: MAX_REPORT_TEXT_CHARS - 1] + "…"
    return text


class _Words(dict[str, str]):
    """Placeholders for tips; an unknown one stays visible rather than crashing a report."""

    def __init__(self, **words: str) -> None:
        super().__init__(words)

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass
class _Verdict:
    """Turns the fan-out's outcomes into the ladder's last rungs and the final diagnosis."""

    run: _Run
    credentials: StoreCredentials
    profile: _Outcome
    counts: list[_Outcome]
    warnings: list[WarningCode] = field(default_factory=list)

    def report(self) -> CheckReport:
        profile: StoreProfile | None = self.profile.value
        found = self._mark_profile(profile)
        totals = {Entity(outcome.step.value): self._mark_count(outcome) for outcome in self.counts}
        if self.credentials.token.is_public:
            found.add(Diagnosis.TOKEN_PUBLIC)
            for entity in _PUBLIC_TOKEN_CANNOT_READ:
                shows = Diagnosis.TOKEN_PUBLIC.count_shows(entity)
                self.run.skip(entity.step, shows)
                totals[entity] = Count(reason=shows)
        errors = [o.error for o in (self.profile, *self.counts) if o.error is not None]
        found.update(error.diagnosis for error in errors)
        # When several things are wrong, the one to fix first is told.
        diagnosis = min(found, key=lambda found: found.rank, default=Diagnosis.OK)
        if any(outcome.retried for outcome in (self.profile, *self.counts)):
            self.warnings.append(WarningCode.RECOVERED_AFTER_RETRY)
        missing, limited = (
            [
                Entity(o.step.value)
                for o in self.counts
                if o.error is not None and o.error.diagnosis is refusal
            ]
            for refusal in (Diagnosis.SCOPE_MISSING, Diagnosis.PLAN_LIMITED)
        )
        waits = [e.retry_after_s for e in errors if e.retry_after_s is not None]
        return self.run.report(
            diagnosis,
            warnings=self.warnings,
            missing_scopes=missing if diagnosis is Diagnosis.SCOPE_MISSING else [],
            limited=limited,
            retry_after_s=max(waits) if diagnosis is Diagnosis.RATE_LIMITED and waits else None,
            store_name=profile.store_name if profile else None,
            store_url=profile.store_url if profile else None,
            plan=_plan(diagnosis, profile, readable=any(o.error is None for o in self.counts)),
            counts=Counts(**{entity.value: count for entity, count in totals.items()}),
        )

    def _mark_profile(self, profile: StoreProfile | None) -> set[Diagnosis]:
        found: set[Diagnosis] = set()
        if profile is None:
            assert self.profile.error is not None
            self.run.mark(StepName.PROFILE, StepStatus.FAILED, self.profile.error.detail)
            return found
        name = profile.store_name or "(no name)"
        detail = f"{name}, store {profile.store_id or self.credentials.store_id}"
        status = StepStatus.PASSED
        if profile.store_id is not None and profile.store_id != self.credentials.store_id:
            self.warnings.append(WarningCode.STORE_ID_MISMATCH)
            status = StepStatus.WARNING
        if profile.suspended:
            found.add(Diagnosis.STORE_SUSPENDED)
            status, detail = StepStatus.FAILED, f"{detail}: suspended"
        elif profile.is_free:
            # Some calls may still answer, but Ecwid allows no API access on the Free plan.
            found.add(Diagnosis.PLAN_FREE)
            status, detail = StepStatus.FAILED, f"{detail}: on the Free plan (not paid)"
        elif profile.closed:
            self.warnings.append(WarningCode.STORE_CLOSED)
            status, detail = StepStatus.WARNING, f"{detail}: closed for maintenance"
        self.run.mark(StepName.PROFILE, status, detail + _after_retry(self.profile))
        return found

    def _mark_count(self, outcome: _Outcome) -> Count:
        entity = Entity(outcome.step.value)
        if outcome.error is not None:
            self.run.mark(outcome.step, StepStatus.FAILED, outcome.error.detail)
            return Count(reason=outcome.error.diagnosis.count_shows(entity))
        total: int = outcome.value
        status = StepStatus.PASSED
        if entity is Entity.PRODUCTS and total == 0:
            self.warnings.append(WarningCode.CATALOG_EMPTY)
            status = StepStatus.WARNING
        self.run.mark(outcome.step, status, f"{total:,} {entity.value}" + _after_retry(outcome))
        return Count(total=total)


def _after_retry(outcome: _Outcome) -> str:
    return " (after a retry)" if outcome.retried else ""


def _plan(diagnosis: Diagnosis, profile: StoreProfile | None, *, readable: bool) -> str:
    """The plan's name when Ecwid gave it (extended info), else what the answers imply."""
    if profile is not None and profile.plan_name:
        return profile.plan_name
    if diagnosis is Diagnosis.PLAN_FREE or (profile is not None and profile.is_free):
        return "Free"
    if profile is not None and profile.paid is False:
        return "unknown"  # unpaid, yet with paid features: Ecwid's answers disagree
    says_paid = profile is not None and (profile.paid is True or PAID_FEATURE in profile.features)
    if says_paid or readable:
        return "paid (Venture, Business or Unlimited)"
    return "unknown"


def _for_people(seconds: int | None) -> str:
    if seconds is None:
        return "a minute"
    if seconds < 90:
        return f"{max(seconds, 1)} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
