"""Plain-text rendering of a `CheckReport` and the guide, for the terminal.

The same split as in Slack: plain words first (what is wrong, what to do), then one line of
details for support; the ladder only for whoever asks for it (`--steps`, or on stderr live).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.engine.catalogue import (
    GUIDE,
    GUIDE_OUTCOME,
    GUIDE_PASTE_IN_TERMINAL,
    PAID_PLAN_NOTE,
)
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


def support_line(report: CheckReport) -> str:
    """The details for support on one line: code, each distinct problem once, token, reference."""
    parts = [report.diagnosis.value]
    problems = report.problems()
    parts += [f"{', '.join(name.value for name in names)}: {detail}" for names, detail in problems]
    if report.detail and all(detail != report.detail for _names, detail in problems):
        parts.append(report.detail)
    parts += report.warning_notes(for_support=True)
    if report.token:
        parts.append(f"token {report.token}")
    if report.reference:
        parts.append(f"reference {report.reference}")
    return "Details for support: " + " · ".join(parts)


def report_text(report: CheckReport, *, with_steps: bool = False) -> str:
    """The report as a person reads it: verdict, store, preview, fix; then support's details
    (and, `with_steps`, the whole ladder)."""
    mark = "✅" if report.ok else "⚠️ "
    lines = [f"{mark} {report.title}", f"   {report.summary}", ""]
    if report.store_id is not None:
        store = f"{report.store_name} ({report.store_id})" if report.store_name else report.store_id
        lines.append(f"   Store      {store}")
        if report.store_url:
            lines.append(f"   Store URL  {report.store_url}")
        if report.plan != "unknown":
            lines.append(f"   Plan       {report.plan}")
        if any(report.counts.of(entity).total is not None for entity in Entity):
            lines.append(f"   Migration  {counts_line(report)}")
        lines.append("")
    notes = report.warning_notes()
    if notes:
        lines.append("Good to know")
        lines.extend(f"  ⚠ {text}" for text in notes)
        lines.append("")
    lines.append("What to do" if not report.ok else "Next")
    lines.extend(f"  {number}. {tip}" for number, tip in enumerate(report.tips, 1))
    if with_steps:
        lines.extend(["", "Steps"])
        lines.extend(step_line(step) for step in report.steps)
    lines.extend(["", support_line(report)])
    return "\n".join(lines)


def guide_text() -> str:
    """The guide to the Personal collection URL, numbered, with links."""
    lines = ["How to get your Personal collection URL", ""]
    for number, step in enumerate(GUIDE, 1):
        lines.append(f"  {number}. {step.text}" + (f"\n     {step.link}" if step.link else ""))
    lines.append(f"  {len(GUIDE) + 1}. {GUIDE_PASTE_IN_TERMINAL}")
    lines.extend(["", GUIDE_OUTCOME, PAID_PLAN_NOTE])
    return "\n".join(lines)
