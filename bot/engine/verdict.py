"""Ecwid's answers to one check, read together: the last rungs of its ladder and its one
diagnosis (the lowest `Diagnosis.rank` of what was found), plan and counts."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from bot.engine.catalogue import PAID_PLAN_NAMES
from bot.engine.diagnosis import Diagnosis, Entity, StepName, StepStatus, WarningCode
from bot.engine.ecwid import PAID_FEATURE, StoreProfile
from bot.engine.errors import EcwidError
from bot.engine.ladder import Ladder
from bot.engine.redaction import StoreCredentials
from bot.engine.report import CheckReport, Count, Counts

# What a public token cannot read, so a check with one does not ask.
PUBLIC_TOKEN_CANNOT_READ = (Entity.ORDERS, Entity.CUSTOMERS)


@dataclass(slots=True)
class Outcome:
    """One request of the fan-out: what Ecwid answered (and whether after a retry), or its error."""

    step: StepName
    value: Any = None
    retried: bool = False
    error: EcwidError | None = None


async def attempt(step: StepName, call: Awaitable[tuple[Any, bool]]) -> Outcome:
    """`call`'s answer for `step`, Ecwid's refusal kept as the outcome rather than raised."""
    try:
        value, retried = await call
    except EcwidError as error:
        return Outcome(step, error=error)
    return Outcome(step, value=value, retried=retried)


@dataclass
class Verdict:
    """Turns the fan-out's outcomes into the ladder's last rungs and the final diagnosis."""

    ladder: Ladder
    credentials: StoreCredentials
    profile: Outcome
    counts: list[Outcome]
    warnings: list[WarningCode] = field(default_factory=list)

    def report(self) -> CheckReport:
        profile: StoreProfile | None = self.profile.value
        found = self._mark_profile(profile)
        totals = {Entity(outcome.step.value): self._mark_count(outcome) for outcome in self.counts}
        if self.credentials.token.is_public:
            found.add(Diagnosis.TOKEN_PUBLIC)
            for entity in PUBLIC_TOKEN_CANNOT_READ:
                shows = Diagnosis.TOKEN_PUBLIC.count_shows(entity)
                self.ladder.skip(entity.step, shows)
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
        return self.ladder.report(
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
            self.ladder.mark(StepName.PROFILE, StepStatus.FAILED, self.profile.error.detail)
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
        self.ladder.mark(StepName.PROFILE, status, detail + _after_retry(self.profile))
        return found

    def _mark_count(self, outcome: Outcome) -> Count:
        entity = Entity(outcome.step.value)
        if outcome.error is not None:
            self.ladder.mark(outcome.step, StepStatus.FAILED, outcome.error.detail)
            return Count(reason=outcome.error.diagnosis.count_shows(entity))
        total: int = outcome.value
        status = StepStatus.PASSED
        if entity is Entity.PRODUCTS and total == 0:
            self.warnings.append(WarningCode.CATALOG_EMPTY)
            status = StepStatus.WARNING
        self.ladder.mark(outcome.step, status, f"{total:,} {entity.value}" + _after_retry(outcome))
        return Count(total=total)


def _after_retry(outcome: Outcome) -> str:
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
        return f"paid ({PAID_PLAN_NAMES})"
    return "unknown"
