"""The report: the one contract between the check engine and everything that shows its result.

The command line, the Slack messages and the history all render a `CheckReport`; none of them
decides anything on its own. A report never holds a secret: only the store ID and a masked token.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from bot.engine.catalogue import SUPPORT_ONLY_WARNINGS
from bot.engine.diagnosis import Diagnosis, Entity, StepName, StepStatus, WarningCode


class Step(BaseModel):
    """One rung of the ladder with a short, secret-free detail."""

    model_config = ConfigDict(frozen=True)

    name: StepName
    status: StepStatus
    detail: str = ""


class Count(BaseModel):
    """How many of an entity the token can read; `total` is None with the reason when unknown."""

    model_config = ConfigDict(frozen=True)

    total: int | None = None
    reason: str | None = None


class Counts(BaseModel):
    model_config = ConfigDict(frozen=True)

    products: Count = Count(reason="not checked")
    categories: Count = Count(reason="not checked")
    orders: Count = Count(reason="not checked")
    customers: Count = Count(reason="not checked")

    def of(self, entity: Entity) -> Count:
        count: Count = getattr(self, entity.value)
        return count


class CheckReport(BaseModel):
    """The verdict of one connection check."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    diagnosis: Diagnosis
    title: str
    summary: str = Field(description="What is wrong (or right), in plain words for store owners.")
    detail: str = Field(
        default="",
        description="What exactly happened, in the engine's words, for support: may name HTTP "
        "statuses, hosts and error codes, so it is never a headline or a step for store owners.",
    )
    warnings: list[WarningCode] = []
    warning_texts: list[str] = []
    store_id: int | None = None
    store_name: str | None = None
    store_url: str | None = None
    plan: str = "unknown"
    token: str | None = Field(default=None, description="Masked: prefix and last 4 characters.")
    counts: Counts = Counts()
    missing_scopes: list[Entity] = []
    retry_after_s: int | None = None
    steps: list[Step] = []
    tips: list[str] = []
    duration_ms: int = 0
    checked_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    reference: str | None = Field(
        default=None, description="Set on internal errors so support can find the log lines."
    )

    def step(self, name: StepName) -> Step | None:
        return next((step for step in self.steps if step.name == name), None)

    def warning_notes(self, *, for_support: bool = False) -> list[str]:
        """The warnings' texts for store owners, or (`for_support`) those only support needs."""
        return [
            text
            for code, text in zip(self.warnings, self.warning_texts, strict=False)
            if (code in SUPPORT_ONLY_WARNINGS) is for_support
        ]

    def problems(self) -> list[tuple[list[StepName], str]]:
        """Each distinct detail of a failed or odd rung once, with the rungs that share it, in
        ladder order: four entities refused alike are one problem. For support: the details
        may name HTTP statuses and error codes."""
        alike: dict[str, list[StepName]] = {}
        for step in self.steps:
            if step.status in (StepStatus.FAILED, StepStatus.WARNING) and step.detail:
                alike.setdefault(step.detail, []).append(step.name)
        return [(names, detail) for detail, names in alike.items()]
