"""Two audiences, one report: what store owners read holds plain words only, each problem once;
statuses, error codes and diagnosis codes live in the details for support.

Reports come two ways: from the catalogue for every diagnosis (with step details written the
way the engine writes them), and from the real engine against every sample store of the sandbox.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from bot.engine.catalogue import CATALOGUE, CONTACT_MIGRATION, GUIDE, GUIDE_PASTE_IN_SLACK
from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis, StepName, StepStatus, WarningCode
from bot.engine.http_client import new_http_client
from bot.engine.reply import customer_reply
from bot.engine.report import CheckReport, Step
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import sample_stores
from bot.sandbox.slack.blockkit import validate_message, validate_view
from handlers.blocks import check as check_blocks
from handlers.blocks.common import slack_date
from tests.conftest import settings_for
from tests.handlers.test_blocks import DESTINATION, REQUESTER, ladder, message, report_for

# What must never reach an owner: an HTTP status, an Ecwid error code (NOT_AVAILABLE_…), the
# time a check took, a placeholder for a missing name.
HTTP_STATUS = re.compile(r"\bHTTP \d{3}\b")
ECWID_CODE = re.compile(r"\b[A-Z]{2,}(?:_[A-Z]+)+\b")
BOT_TALK = re.compile(r"\b\d+(?:\.\d+)? ?(?:s|ms)\b|_unknown_")
EVERY_DIAGNOSIS = pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)
FAST_STORES = [store for store in sample_stores() if store.key != "slow"]
TECHNICAL = "Ecwid refused the request (HTTP 403 INVALID_API_TOKEN)."


def technical_report(diagnosis: Diagnosis, **overrides: Any) -> CheckReport:
    """A catalogue report whose failing rungs and detail speak like the engine: codes included."""
    steps = [
        step.model_copy(update={"detail": TECHNICAL}) if step.status is StepStatus.FAILED else step
        for step in ladder(StepName.PROFILE)
    ]
    fields: dict[str, Any] = {"steps": steps, "detail": TECHNICAL}
    if diagnosis is Diagnosis.OK:
        fields = {"warnings": [WarningCode.RECOVERED_AFTER_RETRY]}
        fields["warning_texts"] = ["Ecwid failed once (HTTP 500 INTERNAL_ERROR), then answered."]
    return report_for(diagnosis, **(fields | overrides))


def owner_texts(built: tuple[str, list[dict[str, Any]]]) -> list[str]:
    """Every text an owner reads in a message: the notification and each block but the
    details for support."""
    text, blocks = built
    return [text, *_texts([b for b in blocks if b.get("block_id") != "support_details"])]


def support_text(blocks: list[dict[str, Any]]) -> str:
    (details,) = [b for b in blocks if b.get("block_id") == check_blocks.SUPPORT_DETAILS_BLOCK]
    return " ".join(_texts([details]))


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return [value["text"]]
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def assert_plain(texts: list[str], report: CheckReport) -> None:
    shown = "\n".join(texts)
    assert not HTTP_STATUS.search(shown), shown
    assert not ECWID_CODE.search(shown), shown
    assert not BOT_TALK.search(shown), shown
    if "_" in report.diagnosis.value:
        assert report.diagnosis.value not in shown


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def real_reports() -> dict[str, CheckReport]:
    """Each fast sample store checked once for the module: the reports are plain data."""
    async with EcwidSandbox() as sandbox, new_http_client() as http:
        checker = ConnectionChecker(settings_for(sandbox), http)
        return {
            store.key: await checker.check_text(sandbox.collection_url(store.key))
            for store in FAST_STORES
        }


# The owner's answer


@EVERY_DIAGNOSIS
def test_the_owners_answer_names_no_status_code_or_timing(diagnosis: Diagnosis) -> None:
    report = technical_report(diagnosis)
    assert_plain(owner_texts(check_blocks.result_message(report, DESTINATION)), report)
    assert_plain(_texts(check_blocks.result_view(report)["blocks"]), report)


@EVERY_DIAGNOSIS
def test_the_details_for_support_name_the_code_and_each_problem_once(
    diagnosis: Diagnosis,
) -> None:
    report = technical_report(diagnosis)
    _text, blocks = check_blocks.result_message(report, DESTINATION)
    details = support_text(blocks)
    assert f"`{diagnosis}`" in details
    if diagnosis is Diagnosis.OK:
        assert "HTTP 500 INTERNAL_ERROR" in details, "a warning only support needs"
    else:
        assert details.count("HTTP 403 INVALID_API_TOKEN") == 1


async def test_real_answers_are_plain_valid_and_say_each_problem_once(
    real_reports: dict[str, CheckReport],
) -> None:
    for key, report in real_reports.items():
        built = check_blocks.result_message(report, DESTINATION, check_id="c1")

        assert validate_message(message(built)) == [], key
        assert validate_view(check_blocks.result_view(report)) == [], key
        assert_plain(owner_texts(built), report)
        sentences = [
            line
            for text in owner_texts(built)[1:]
            for line in text.splitlines()
            if len(line.split()) > 1  # a count or a field label may well repeat
        ]
        assert len(sentences) == len(set(sentences)), (key, sentences)
        details = support_text(built[1])
        for _names, detail in report.problems():
            assert details.count(detail) == 1, (key, details)


async def test_a_problem_on_four_entities_is_one_line_for_support(
    real_reports: dict[str, CheckReport],
) -> None:
    _text, blocks = check_blocks.result_message(real_reports["free_plan"], DESTINATION)
    details = support_text(blocks)
    assert details.count("HTTP 402") == 1
    assert "Products, Categories, Orders, Customers:" in details


def test_a_store_without_a_name_shows_its_id_and_no_placeholder() -> None:
    report = report_for(Diagnosis.TOKEN_INVALID, store_name=None, plan="unknown")
    shown = "\n".join(owner_texts(check_blocks.result_message(report, DESTINATION)))
    assert "Store ID*\n1003" in shown
    assert "unknown" not in shown


def test_the_masked_token_is_for_support_only() -> None:
    report = report_for(Diagnosis.TOKEN_INVALID)
    built = check_blocks.result_message(report, DESTINATION)
    assert report.token is not None
    assert report.token not in "\n".join(owner_texts(built))
    assert report.token in support_text(built[1])


def test_the_answer_is_dated_for_each_viewer_not_timed() -> None:
    report = report_for(Diagnosis.OK, checked_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    shown = "\n".join(owner_texts(check_blocks.result_message(report, DESTINATION)))
    assert f"Checked for <@{REQUESTER}> · {slack_date(report.checked_at)}" in shown


def test_slack_dates_are_shown_in_the_viewers_time_zone_with_a_utc_fallback() -> None:
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert slack_date(when) == (
        f"<!date^{int(when.timestamp())}^{{date_short_pretty}} at {{time}}|2026-03-01 09:30 UTC>"
    )
    assert slack_date(when.replace(tzinfo=None)) == slack_date(when)  # SQLite's naive UTC


# The modal's progress


def test_progress_shows_each_finished_rung_without_its_detail() -> None:
    steps = [Step(name=StepName.INTAKE, status=StepStatus.PASSED, detail="on 127.0.0.1")] + [
        Step(name=name, status=StepStatus.PENDING) for name in list(StepName)[1:]
    ]
    view = check_blocks.checking_view(steps)
    shown = "\n".join(_texts(view["blocks"]))
    assert validate_view(view) == []
    assert ":white_check_mark: What was pasted" in shown
    assert ":hourglass_flowing_sand: Download the collection" in shown
    assert "127.0.0.1" not in shown


# The guide


def test_the_guides_last_step_says_where_to_paste_and_where_never() -> None:
    _text, blocks = check_blocks.guide_message()
    shown = "\n".join(_texts(blocks))
    assert f"{len(GUIDE) + 1}. {GUIDE_PASTE_IN_SLACK}" in shown
    assert f"{len(GUIDE) + 2}. " not in shown
    assert "form" in GUIDE_PASTE_IN_SLACK
    assert "direct message" in GUIDE_PASTE_IN_SLACK
    assert "never" in GUIDE_PASTE_IN_SLACK.lower()
    assert "channel" in GUIDE_PASTE_IN_SLACK


# The catalogue, read as the owner who follows it


def test_a_refused_token_is_not_told_to_wait_after_getting_a_new_one() -> None:
    tips = " ".join(CATALOGUE[Diagnosis.TOKEN_INVALID].tips).lower()
    assert "new token" in tips
    assert "wait" not in tips


@EVERY_DIAGNOSIS
def test_no_step_explains_the_bots_own_throttling(diagnosis: Diagnosis) -> None:
    entry = CATALOGUE[diagnosis]
    words = " ".join((entry.summary, *entry.tips)).lower()
    assert "blocked" not in words
    assert "blocking" not in words
    assert "we wait" not in words
    assert "not tried again" not in words


@EVERY_DIAGNOSIS
def test_no_step_points_at_a_thread_or_here_that_the_terminal_lacks(diagnosis: Diagnosis) -> None:
    for tip in CATALOGUE[diagnosis].tips:
        assert "this thread" not in tip
        assert not re.search(r"\bhere\b", tip), tip


# The reply to the customer


@EVERY_DIAGNOSIS
def test_the_customer_reply_is_plain_text_with_the_fix_as_numbered_steps(
    diagnosis: Diagnosis,
) -> None:
    report = technical_report(diagnosis)
    reply = customer_reply(report)
    assert_plain([reply], report)
    assert report.ok or report.title in reply
    for number, tip in enumerate(report.tips, 1):
        if tip != CONTACT_MIGRATION:
            assert f"\n{number}. {tip}" in reply
    assert CONTACT_MIGRATION not in reply  # written by the migration team: "reply to us"


async def test_real_customer_replies_are_plain(real_reports: dict[str, CheckReport]) -> None:
    for report in real_reports.values():
        reply = customer_reply(report)
        assert_plain([reply], report)
        assert ("What to do next:\n1. " if report.ok else "How to fix it:\n1. ") in reply
    assert "It will migrate 1,234 products, 56 categories" in customer_reply(
        real_reports["connected"]
    )


def test_the_customer_reply_keeps_an_odd_store_name_on_one_line() -> None:
    report = report_for(Diagnosis.OK, store_name="Jane's\nShop\t  & Co " + "x" * 300)
    first_lines = customer_reply(report).splitlines()[2]
    assert "Jane's Shop & Co" in first_lines
    assert len(first_lines) < 250
