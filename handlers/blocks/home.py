"""The App Home: everyone's own recent checks; for support agents, the team's view."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.db.check_rows import CheckRecord
from bot.db.database import TeamStats
from bot.db.escalation_figures import EscalationFigures
from bot.db.escalations import Escalation
from bot.db.follow_ups import FollowUp
from bot.db.steps import StepExecution
from bot.db.watches import Watch
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.response_targets import format_duration
from handlers.blocks.common import clip, escape, mrkdwn_section, slack_date
from handlers.blocks.follow_up import follow_ups_blocks
from handlers.blocks.support import URGENCY_EMOJI
from handlers.blocks.watch import watches_blocks
from handlers.blocks.workflow import team_waiting_text, waiting_steps_blocks

HOME_CHECK_ACTION = "home_check_store"
HOME_BLOCK_LIMIT = 100
LIST_LIMIT = 15


@dataclass(frozen=True)
class TeamView:
    """What support agents see besides their own checks."""

    stats: TeamStats
    open_escalations: list[Escalation]
    waiting_steps: list[StepExecution] = field(default_factory=list)
    figures: EscalationFigures | None = None
    #: How many are not resolved, and how many overdue, when `open_escalations` is a first part.
    open_count: int | None = None
    overdue_count: int | None = None


def home_metadata(dm_channel: str) -> str:
    """The App Home remembers the user's DM with the bot: that is where its checks answer."""
    return json.dumps({"channel": dm_channel})


def home_channel(metadata: str) -> str | None:
    try:
        channel = json.loads(metadata or "{}").get("channel")
    except ValueError:
        return None
    return str(channel) if channel else None


def _own_check(record: CheckRecord) -> str:
    mark = ":white_check_mark:" if record.diagnosis is Diagnosis.OK else ":warning:"
    store = escape(record.store_name) if record.store_name else "unknown store"
    ident = f" ({record.store_id})" if record.store_id else ""
    title = CATALOGUE[record.diagnosis].title
    return f"{mark} {slack_date(record.created_at)} · {store}{ident} · {title}"


def _open_line(escalation: Escalation, now: datetime) -> str:
    title = CATALOGUE[escalation.diagnosis].title
    due = ""
    if escalation.overdue(now) and escalation.response_due_at is not None:
        due = f":alarm_clock: *overdue* since {slack_date(escalation.response_due_at)} · "
    who = f"taken by <@{escalation.taken_by}>" if escalation.taken_by else "*nobody has taken it*"
    return (
        f"{URGENCY_EMOJI[escalation.urgency]} {due}{escape(title)} · store "
        f"{escalation.store_id or '?'} · asked {slack_date(escalation.created_at)} · {who}"
    )


def _median(seconds: float | None, count: int) -> str:
    if seconds is None:
        return "—"
    return f"{format_duration(seconds)} ({count:,})"


def _figures_fields(figures: EscalationFigures) -> list[MarkdownTextObject]:
    share = (
        f"{figures.yes_share:.0%} of {figures.answered:,}" if figures.yes_share is not None else "—"
    )
    return [
        MarkdownTextObject(
            text="*First response, median*\n"
            + _median(figures.median_response_s, figures.responded)
        ),
        MarkdownTextObject(
            text="*Resolution, median*\n" + _median(figures.median_resolution_s, figures.resolved)
        ),
        MarkdownTextObject(text=f"*Answered “it works”*\n{share}"),
    ]


def home_view(
    own_checks: list[CheckRecord],
    team: TeamView | None,
    dm_channel: str,
    *,
    now: datetime | None = None,
    support_notice: str | None = None,
    waiting_steps: list[StepExecution] | None = None,
    follow_ups: list[FollowUp] | None = None,
    watches: list[Watch] | None = None,
) -> dict[str, Any]:
    """The App Home tab for one user: the workflow steps waiting for them first; then their
    checks; `support_notice` stands in for the support team's part when who belongs to it
    cannot be read."""
    now = now or datetime.now(UTC)
    blocks: list[Block] = [
        HeaderBlock(text="Ecwid connection checks"),
        SectionBlock(
            text=MarkdownTextObject(
                text="Check that a migration can read an Ecwid store: paste its Personal "
                "collection URL, get the verdict and the fix."
            ),
            accessory=ButtonElement(
                text="Check a store", action_id=HOME_CHECK_ACTION, style="primary"
            ),
        ),
        DividerBlock(),
    ]
    if waiting_steps:
        blocks += [*waiting_steps_blocks(waiting_steps), DividerBlock()]
    mine = "\n".join(_own_check(record) for record in own_checks[:LIST_LIMIT])
    blocks.append(mrkdwn_section("*Your recent checks*\n" + (mine or "_None yet._")))
    if follow_ups is not None:
        # An agent sees the team's follow-ups (theirs among them), anyone else their own.
        blocks += [DividerBlock(), *follow_ups_blocks(follow_ups, team=team is not None)]
    if watches is not None:
        blocks += watches_blocks(watches, team=team is not None)
    if team is not None:
        stats = team.stats
        rate = f"{stats.pass_rate:.0%}" if stats.pass_rate is not None else "—"
        overdue = [e for e in team.open_escalations if e.overdue(now)]
        top = "\n".join(
            f"• `{diagnosis}` {CATALOGUE[diagnosis].title}: {count}"
            for diagnosis, count in stats.top_diagnoses[:5]
        )
        blocks += [
            DividerBlock(),
            HeaderBlock(text="Support team"),
        ]
        late = team.overdue_count if team.overdue_count is not None else len(overdue)
        if late:
            blocks.append(
                mrkdwn_section(
                    f"*:alarm_clock: Overdue escalations ({late})*\n"
                    + "\n".join(_open_line(e, now) for e in overdue[:LIST_LIMIT])
                    + (f"\n…and {late - LIST_LIMIT} more" if late > LIST_LIMIT else "")
                )
            )
        blocks += [
            SectionBlock(
                fields=[
                    MarkdownTextObject(text=f"*Checks, 7 days*\n{stats.checks:,}"),
                    MarkdownTextObject(text=f"*Connected*\n{stats.connected:,} ({rate})"),
                    *(_figures_fields(team.figures) if team.figures is not None else []),
                ]
            ),
            mrkdwn_section("*Top diagnoses*\n" + (top or "_No problems seen._")),
        ]
        total = team.open_count if team.open_count is not None else len(team.open_escalations)
        # The overdue ones are listed above; here the others.
        waiting = [e for e in team.open_escalations if not e.overdue(now)][:LIST_LIMIT]
        lines = [_open_line(e, now) for e in waiting]
        more = total - late - len(waiting)
        if more > 0:
            lines.append(f"…and {more} more")
        nothing = "_None: well done._" if not total else "_All of them are overdue._"
        blocks.append(
            mrkdwn_section(f"*Open escalations ({total})*\n" + ("\n".join(lines) or nothing))
        )
        if team.waiting_steps:
            blocks.append(mrkdwn_section(team_waiting_text(team.waiting_steps)))
    if support_notice is not None:
        blocks += [
            DividerBlock(),
            HeaderBlock(text="Support team"),
            mrkdwn_section(f":warning: {support_notice}"),
        ]
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text=clip(f"Updated {slack_date(now)}", 200))])
    )
    view = View(
        type="home", blocks=blocks[:HOME_BLOCK_LIMIT], private_metadata=home_metadata(dm_channel)
    )
    return view.to_dict()
