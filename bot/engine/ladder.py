"""One check's ladder as it is climbed: its steps, shown to a listener as they happen, and the
report it ends in, every text redacted of the check's secrets and capped."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.engine.catalogue import CATALOGUE, WARNING_TEXTS
from bot.engine.diagnosis import Diagnosis, Entity, StepName, StepStatus, WarningCode
from bot.engine.errors import CheckError
from bot.engine.redaction import Secret, StoreCredentials, redact
from bot.engine.report import CheckReport, Step

StepListener = Callable[[Step], None]

# No text of a report is longer: a store name or error code from Ecwid can be anything.
MAX_REPORT_TEXT_CHARS = 1000
# The steps a check climbs on its own before any request to Ecwid.
_OWN_STEPS = frozenset({StepName.INTAKE, StepName.DOWNLOAD, StepName.PARSE})


class Ladder:
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


def _for_people(seconds: int | None) -> str:
    if seconds is None:
        return "a minute"
    if seconds < 90:
        return f"{max(seconds, 1)} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
