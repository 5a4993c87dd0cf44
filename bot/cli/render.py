"""Plain-text rendering of a `CheckReport` and the guide, for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.engine.catalogue import GUIDE, PAID_PLAN_NOTE
from bot.engine.diagnosis import Entity, StepStatus

if TYPE_CHECKING:  # the guide needs only the catalogue's words, not pydantic's start-up
    from bot.engine.report import CheckReport, Step

STATUS_MARKS = {
    StepStatus.PENDING: "…",
    StepStatus.PASSED: "✔",
    StepStatus.FAILED: "✘",
    StepStatus.SKIPPED: "–",
    StepStatus.WARNING: "⚠",
}


def step_line(step: Step) -> str:
    return f"  {STATUS_MARKS[step.status]} {step.name.value:<11} {step.detail}".rstrip()


def counts_line(report: CheckReport) -> str:
    parts = []
    for entity in Entity:
        count = report.counts.of(entity)
        shown = f"{count.total:,}" if count.total is not None else "?"
        parts.append(f"{shown} {entity.value}")
    return " · ".join(parts)


def report_text(report: CheckReport, *, with_steps: bool = True) -> str:
    """The whole report as a person reads it: verdict, store, preview, ladder, fix."""
    mark = "✅" if report.ok else "⚠️ "
    lines = [f"{mark} {report.title}", f"   {report.summary}", ""]
    if report.store_id is not None:
        store = f"{report.store_name} ({report.store_id})" if report.store_name else report.store_id
        lines.append(f"   Store      {store}")
        if report.store_url:
            lines.append(f"   Store URL  {report.store_url}")
        lines.append(f"   Plan       {report.plan}")
        lines.append(f"   Token      {report.token}")
        lines.append(f"   Migration  {counts_line(report)}")
        lines.append("")
    if with_steps:
        lines.append("Steps")
        lines.extend(step_line(step) for step in report.steps)
        lines.append("")
    if report.warning_texts:
        lines.append("Good to know")
        lines.extend(f"  ⚠ {text}" for text in report.warning_texts)
        lines.append("")
    lines.append("What to do" if not report.ok else "Next")
    lines.extend(f"  {number}. {tip}" for number, tip in enumerate(report.tips, 1))
    lines.append(f"\n   ({report.diagnosis.value}, {report.duration_ms} ms)")
    return "\n".join(lines)


def guide_text() -> str:
    """The guide to the Personal collection URL, numbered, with links."""
    lines = ["How to get your Personal collection URL", ""]
    for number, step in enumerate(GUIDE, 1):
        lines.append(f"  {number}. {step.text}" + (f"\n     {step.link}" if step.link else ""))
    lines.extend(["", PAID_PLAN_NOTE])
    return "\n".join(lines)
