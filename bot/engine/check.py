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
import logging
import math
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.engine.catalogue import CATALOGUE, WARNING_TEXTS
from bot.engine.collection import download_collection, parse_collection
from bot.engine.diagnosis import Diagnosis, Entity, StepName, StepStatus, WarningCode
from bot.engine.ecwid import EcwidClient, StoreProfile, is_failing_token_error
from bot.engine.errors import CheckError, EcwidError
from bot.engine.guard import MemoryTokenGuard, TokenGuard
from bot.engine.intake import CollectionPaste, Paste, read_paste, read_store_credentials
from bot.engine.redaction import StoreCredentials, install_log_redaction
from bot.engine.report import CheckReport, Count, Counts, Step
from bot.engine.transport import CookielessClient, LeanAiohttpTransport
from bot.engine.warm import Warmer
from bot.settings import Settings

logger = logging.getLogger(__name__)

StepListener = Callable[[Step], None]

# When several things are wrong, the one to fix first wins.
_PRECEDENCE = (
    Diagnosis.STORE_SUSPENDED,
    Diagnosis.PLAN_FREE,
    Diagnosis.TOKEN_INVALID,
    Diagnosis.STORE_NOT_FOUND,
    Diagnosis.TOKEN_PUBLIC,
    Diagnosis.SCOPE_MISSING,
    Diagnosis.RATE_LIMITED,
    Diagnosis.ECWID_UNAVAILABLE,
)
# After these, sending the same token again only brings Ecwid's block closer.
_COOL_DOWN_AFTER = frozenset(
    {Diagnosis.TOKEN_INVALID, Diagnosis.STORE_NOT_FOUND, Diagnosis.PLAN_FREE}
)
_PUBLIC_TOKEN_CANNOT_READ = (Entity.ORDERS, Entity.CUSTOMERS)
KEEPALIVE_S = 60.0


def new_http_client(*, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The one HTTP client a process shares for every check (connection reuse matters).

    `verify` replaces the system's trusted certificates (the benchmark's throw-away CA)."""
    # Idle connections stay a minute (not httpx's 5 s): the ones warmed when the paste modal
    # opens must outlive the time it takes to fetch and paste the URL. aiohttp retries a GET
    # once when a server has closed a kept connection meanwhile.
    limits = httpx.Limits(
        max_connections=1000, max_keepalive_connections=200, keepalive_expiry=KEEPALIVE_S
    )
    return CookielessClient(
        # httpx's own pool slows down sharply with hundreds of requests in flight
        # (encode/httpx#3215); aiohttp's, already here for Slack, does not.
        transport=LeanAiohttpTransport(limits=limits, verify=verify),
        follow_redirects=False,
        limits=limits,
        headers={"User-Agent": "ecwid-connect/0.1 (+connection check)"},
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
    ) -> None:
        install_log_redaction()  # whoever embeds the engine, its secrets stay out of logs
        self._settings = settings
        self._http = http
        self._guard = guard or MemoryTokenGuard(
            settings.token_cooldown_s, settings.failing_token_budget_per_min
        )
        self._ecwid = ecwid or EcwidClient(http, settings.ecwid_api_url)
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
        run = _Run(on_step)
        try:
            async with asyncio.timeout(self._settings.check_timeout_s):
                report = await self._climb(run, read)
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

    async def _climb(self, run: _Run, read: Callable[[], Paste]) -> CheckReport:
        run.begin(StepName.INTAKE)
        paste = read()
        if isinstance(paste, CollectionPaste):
            ecwid_ready = self._warmer.ecwid()  # Ecwid's connections open during the download
            run.passed(StepName.INTAKE, f"Personal collection URL on {paste.url.host}")
            run.begin(StepName.DOWNLOAD)
            body = await download_collection(paste.url, self._http, self._settings.collection_hosts)
            run.passed(StepName.DOWNLOAD, f"downloaded {len(body) / 1024:.1f} KB")
            run.begin(StepName.PARSE)
            credentials = parse_collection(body)
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
        wait = await self._guard.cooldown_remaining(fingerprint)
        if wait > 0:
            return run.stopped(
                Diagnosis.THROTTLED,
                "This token failed a moment ago; it is not sent to Ecwid again yet.",
                retry_after_s=math.ceil(wait),
            )
        requests = len(entities) + 1
        # Reserved before sending: concurrent checks cannot overdraw Ecwid's IP limit.
        wait = await self._guard.reserve(requests)
        if wait > 0:
            return run.stopped(
                Diagnosis.THROTTLED,
                "Too many failing checks in the last minute; waiting protects everyone's access.",
                retry_after_s=math.ceil(wait),
            )
        for step in (StepName.PROFILE, *(entity.step for entity in entities)):
            run.begin(step)
        profile_outcome, *count_outcomes = await asyncio.gather(
            _attempt(StepName.PROFILE, self._ecwid.profile(credentials)),
            *(_attempt(e.step, self._ecwid.count(credentials, e)) for e in entities),
        )
        failing = sum(
            1
            for outcome in (profile_outcome, *count_outcomes)
            if outcome.error is not None and is_failing_token_error(outcome.error)
        )
        await self._guard.refund(requests - failing)
        report = _Verdict(run, credentials, profile_outcome, count_outcomes).report()
        if report.diagnosis in _COOL_DOWN_AFTER:
            await self._guard.cool_down(fingerprint)
        return report


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

    def __init__(self, on_step: StepListener | None) -> None:
        self.started = time.monotonic()
        self.credentials: StoreCredentials | None = None
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
        step = Step(name=name, status=status, detail=detail)
        self._steps[name] = step
        if name in self._running:
            self._running.remove(name)
        if self._on_step is not None:
            self._on_step(step)

    def failed(self, error: CheckError) -> CheckReport:
        """End at the step that was running, with the error's specific detail as the summary."""
        return self.stopped(error.diagnosis, error.detail)

    def stopped(self, diagnosis: Diagnosis, summary: str, **facts: Any) -> CheckReport:
        """End early: the rungs running fail with `summary`; those not reached are skipped."""
        for name in list(self._running):
            self.mark(name, StepStatus.FAILED, summary)
        for name, step in self._steps.items():
            if step.status is StepStatus.PENDING:
                self.skip(name, "not reached")
        return self.report(diagnosis, summary=summary, **facts)

    def report(
        self,
        diagnosis: Diagnosis,
        *,
        summary: str | None = None,
        warnings: list[WarningCode] | None = None,
        missing_scopes: list[Entity] | None = None,
        retry_after_s: int | None = None,
        reference: str | None = None,
        **facts: Any,
    ) -> CheckReport:
        entry = CATALOGUE[diagnosis]
        entities = [entity.value for entity in missing_scopes or []]
        scopes = list(dict.fromkeys(entity.scope for entity in missing_scopes or []))
        if diagnosis is Diagnosis.SCOPE_MISSING and not entities:  # only the profile refused
            entities, scopes = ["the store profile"], ["read_store_profile"]
        words = _Words(
            store_id=str(self.credentials.store_id) if self.credentials else "?",
            entities=", ".join(entities),
            scopes=", ".join(scopes),
            wait=_for_people(retry_after_s),
            reference=reference or "",
        )
        warnings = warnings or []
        return CheckReport(
            ok=diagnosis is Diagnosis.OK,
            diagnosis=diagnosis,
            title=entry.title,
            summary=summary or entry.summary.format_map(words),
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
                self.run.skip(entity.step, "a public token cannot read it")
                totals[entity] = Count(reason="a public token cannot read it")
        errors = [o.error for o in (self.profile, *self.counts) if o.error is not None]
        found.update(error.diagnosis for error in errors)
        diagnosis = next((d for d in _PRECEDENCE if d in found), Diagnosis.OK)
        if any(outcome.retried for outcome in (self.profile, *self.counts)):
            self.warnings.append(WarningCode.RECOVERED_AFTER_RETRY)
        missing = [
            Entity(o.step.value)
            for o in self.counts
            if o.error is not None and o.error.diagnosis is Diagnosis.SCOPE_MISSING
        ]
        waits = [e.retry_after_s for e in errors if e.retry_after_s is not None]
        return self.run.report(
            diagnosis,
            warnings=self.warnings,
            missing_scopes=missing if diagnosis is Diagnosis.SCOPE_MISSING else [],
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
        elif profile.closed:
            self.warnings.append(WarningCode.STORE_CLOSED)
            status, detail = StepStatus.WARNING, f"{detail}: closed for maintenance"
        self.run.mark(StepName.PROFILE, status, detail + _after_retry(self.profile))
        return found

    def _mark_count(self, outcome: _Outcome) -> Count:
        entity = Entity(outcome.step.value)
        if outcome.error is not None:
            self.run.mark(outcome.step, StepStatus.FAILED, outcome.error.detail)
            return Count(reason=_count_reason(entity, outcome.error))
        total: int = outcome.value
        status = StepStatus.PASSED
        if entity is Entity.PRODUCTS and total == 0:
            self.warnings.append(WarningCode.CATALOG_EMPTY)
            status = StepStatus.WARNING
        self.run.mark(outcome.step, status, f"{total:,} {entity.value}" + _after_retry(outcome))
        return Count(total=total)


def _after_retry(outcome: _Outcome) -> str:
    return " (after a retry)" if outcome.retried else ""


def _count_reason(entity: Entity, error: EcwidError) -> str:
    reasons = {
        Diagnosis.SCOPE_MISSING: f"the token lacks the {entity.scope} scope",
        Diagnosis.PLAN_FREE: "not available on the Free plan",
        Diagnosis.STORE_SUSPENDED: "the store is suspended",
        Diagnosis.TOKEN_INVALID: "the token was refused",
        Diagnosis.STORE_NOT_FOUND: "unknown store",
        Diagnosis.RATE_LIMITED: "rate-limited by Ecwid",
    }
    return reasons.get(error.diagnosis, "Ecwid did not answer properly")


def _plan(diagnosis: Diagnosis, profile: StoreProfile | None, *, readable: bool) -> str:
    if profile is not None and profile.plan_name:
        return profile.plan_name
    if diagnosis is Diagnosis.PLAN_FREE:
        return "Free"
    if (profile is not None and "PREMIUM" in profile.features) or readable:
        return "paid (Venture, Business or Unlimited)"
    return "unknown"


def _for_people(seconds: int | None) -> str:
    if seconds is None:
        return "a minute"
    if seconds < 90:
        return f"{max(seconds, 1)} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
