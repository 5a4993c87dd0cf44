"""The message a support agent sends the customer about a check: plain text, ready to paste into
a helpdesk. What is wrong and the fix as numbered steps, in the catalogue's words; never a
diagnosis code, an HTTP status or an Ecwid error code (those stay in the report's details).
"""

from __future__ import annotations

import re

from bot.engine.catalogue import CONTACT_MIGRATION
from bot.engine.diagnosis import Entity
from bot.engine.report import CheckReport

# Written by the migration team itself, the reply asks for an answer rather than an escalation.
_REPLY_TO_US = "Still stuck? Reply to this message and we will look into it with you."
_STORE_NAME_MAX = 100
_WHITESPACE = re.compile(r"\s+")


def customer_reply(report: CheckReport) -> str:
    """The customer's message for `report`, as plain text with numbered steps."""
    store = _store(report)
    lines = ["Hello,", ""]
    if report.ok:
        lines.append(
            f"Good news: we checked the connection to {store}, and the migration can read it."
        )
        if migrated := _counts(report):
            lines.append(f"It will migrate {migrated}.")
    else:
        lines.append(f"We checked the connection to {store}, and the migration cannot read it yet.")
        lines += ["", f"What is wrong: {report.title}. {report.summary}"]
    notes = report.warning_notes()
    if notes:
        lines += ["", "Good to know:", *(f"- {text}" for text in notes)]
    lines += ["", "What to do next:" if report.ok else "How to fix it:"]
    lines += [
        f"{number}. {_REPLY_TO_US if tip == CONTACT_MIGRATION else tip}"
        for number, tip in enumerate(report.tips, 1)
    ]
    return "\n".join(lines)


def _store(report: CheckReport) -> str:
    if report.store_id is None:
        return "your Ecwid store"
    if not report.store_name:
        return f"your Ecwid store (store ID {report.store_id})"
    # The name comes from Ecwid, i.e. from anyone: one line, and not a page long.
    name = _WHITESPACE.sub(" ", report.store_name).strip()
    if len(name) > _STORE_NAME_MAX:
        name = name[: _STORE_NAME_MAX - 1] + "…"
    return f"your Ecwid store “{name}” (store ID {report.store_id})"


def _counts(report: CheckReport) -> str:
    parts = [
        f"{total:,} {entity.value}"
        for entity in Entity
        if (total := report.counts.of(entity).total) is not None
    ]
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
