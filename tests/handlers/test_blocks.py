"""The connection check's Block Kit builders, as specifications: pure data in, Slack layout out.

No Slack here: every message and view is held to Slack's limits by the sandbox's validators
(`validate_message` / `validate_view`), which say what Slack would answer on `chat.postMessage`
or `views.open`. Reports are built from the catalogue, one per diagnosis, with a store name
that tries to mention the channel.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from bot.destination import Destination, EntryPoint
from bot.engine.catalogue import API_PLAYGROUND_URL, CATALOGUE, GUIDE, WARNING_TEXTS
from bot.engine.diagnosis import Diagnosis, Entity, StepName, StepStatus, WarningCode
from bot.engine.report import CheckReport, Count, Counts, Step
from bot.sandbox.slack.blockkit import validate_message, validate_view
from bot.sandbox.slack.transcript import render_message, render_view
from handlers.blocks import check as check_blocks
from handlers.commands import COMMAND

STORE_NAME = "Jane's <!channel> Shop & Co <@U0EVIL>"
STORE_URL = "https://jane.example.com/shop"
STORE_ID = 1003
MASKED_TOKEN = "secret_…a1b2"
REFERENCE = "ab12cd34ef"
REQUESTER = "U0JANE"
DESTINATION = Destination(
    channel="C111",
    thread_ts="1700000000.000100",
    requester=REQUESTER,
    response_url="https://hooks.slack.test/commands/T1/2/abc",
    team="T0001",
    entry=EntryPoint.COMMAND,
)
# Slack's limits the builders must keep to, whatever the report holds.
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
MODAL_TEXT_MAX = 24
# A token in the clear: a prefix and more than a handful of its characters.
CLEAR_TOKEN = re.compile(r"\b(secret|public)_[A-Za-z0-9]{5,}")

# Where each diagnosis stops the ladder (None: every rung passed).
_INTAKE = {diagnosis for diagnosis in Diagnosis if diagnosis.is_input_problem}
_STOPS_AT: dict[Diagnosis, StepName | None] = {
    Diagnosis.OK: None,
    **dict.fromkeys(_INTAKE, StepName.INTAKE),
    Diagnosis.COLLECTION_NOT_FOUND: StepName.DOWNLOAD,
    Diagnosis.COLLECTION_UNREACHABLE: StepName.DOWNLOAD,
    Diagnosis.COLLECTION_INVALID: StepName.PARSE,
    Diagnosis.CREDENTIALS_MISSING: StepName.PARSE,
    Diagnosis.SCOPE_MISSING: StepName.ORDERS,
    Diagnosis.TOKEN_PUBLIC: StepName.ORDERS,
}
_WORDS = {
    "store_id": str(STORE_ID),
    "entities": "orders, customers",
    "scopes": "read_orders, read_customers",
    "wait": "30 seconds",
    "reference": REFERENCE,
}
_LADDER = list(StepName)


def ladder(stops_at: StepName | None) -> list[Step]:
    """Rungs before `stops_at` passed, it failed, the rest were not reached."""
    steps = []
    for name in _LADDER:
        if stops_at is None or _LADDER.index(name) < _LADDER.index(stops_at):
            steps.append(Step(name=name, status=StepStatus.PASSED, detail="ok"))
        elif name == stops_at:
            steps.append(Step(name=name, status=StepStatus.FAILED, detail="it went wrong here"))
        else:
            steps.append(Step(name=name, status=StepStatus.SKIPPED, detail="not reached"))
    return steps


def report_for(diagnosis: Diagnosis, **overrides: Any) -> CheckReport:
    """A plausible report: the catalogue's words, a ladder, the store's facts once read."""
    entry = CATALOGUE[diagnosis]
    stops_at = _STOPS_AT.get(diagnosis, StepName.PROFILE)
    knows_store = stops_at is None or _LADDER.index(stops_at) > _LADDER.index(StepName.PARSE)
    counted = stops_at is None or stops_at == StepName.ORDERS
    fields: dict[str, Any] = {
        "ok": diagnosis is Diagnosis.OK,
        "diagnosis": diagnosis,
        "title": entry.title,
        "summary": entry.summary.format_map(_WORDS),
        "tips": [tip.format_map(_WORDS) for tip in entry.tips],
        "steps": ladder(stops_at),
        "duration_ms": 1234,
    }
    if knows_store:
        fields |= {
            "store_id": STORE_ID,
            "store_name": STORE_NAME,
            "store_url": STORE_URL,
            "plan": "Free" if diagnosis is Diagnosis.PLAN_FREE else "Business",
            "token": MASKED_TOKEN,
        }
    if counted:
        no_access = Count(reason="no access <read_orders>") if stops_at else Count(total=310)
        fields["counts"] = Counts(
            products=Count(total=1234),
            categories=Count(total=56),
            orders=no_access,
            customers=no_access,
        )
    if diagnosis is Diagnosis.SCOPE_MISSING:
        fields["missing_scopes"] = [Entity.ORDERS, Entity.CUSTOMERS]
    if diagnosis in (Diagnosis.RATE_LIMITED, Diagnosis.THROTTLED):
        fields["retry_after_s"] = 30
    if diagnosis is Diagnosis.INTERNAL_ERROR:
        fields["reference"] = REFERENCE
    if diagnosis is Diagnosis.OK:
        fields["warnings"] = [WarningCode.STORE_CLOSED]
        fields["warning_texts"] = [WARNING_TEXTS[WarningCode.STORE_CLOSED]]
    return CheckReport(**(fields | overrides))


def message(built: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    text, blocks = built
    return {"text": text, "blocks": blocks}


def everything_shown(payload: Any) -> str:
    """All the text Slack gets, mrkdwn entities included, as one string."""
    return json.dumps(payload, ensure_ascii=False)


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        block["text"]["text"] for block in blocks if block["type"] == "section" and "text" in block
    ]


def field_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [field["text"] for block in blocks for field in block.get("fields") or ()]


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        element["action_id"]: element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


EVERY_DIAGNOSIS = pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)


# ---------------------------------------------------------------------------------------------
# The guide and the thread root
# ---------------------------------------------------------------------------------------------


def test_guide_is_a_message_slack_accepts() -> None:
    assert validate_message(message(check_blocks.guide_message())) == []


def test_guide_lists_every_step_in_order() -> None:
    shown = render_message(message(check_blocks.guide_message()))
    positions = [shown.find(f"{number}. ") for number in range(1, len(GUIDE) + 1)]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_guide_offers_the_paste_button_and_the_playground_link() -> None:
    _text, blocks = check_blocks.guide_message()
    offered = buttons(blocks)
    assert offered[check_blocks.OPEN_CHECK_MODAL_ACTION]["style"] == "primary"
    assert offered[check_blocks.PLAYGROUND_LINK_ACTION]["url"] == API_PLAYGROUND_URL


def test_guide_warns_that_the_url_is_a_password() -> None:
    assert "password" in render_message(message(check_blocks.guide_message()))


def test_checking_root_message_names_who_asked_and_is_valid() -> None:
    built = message(check_blocks.checking_root_message(REQUESTER))
    assert validate_message(built) == []
    assert f"<@{REQUESTER}>" in built["text"]


# ---------------------------------------------------------------------------------------------
# The paste modal and its progress
# ---------------------------------------------------------------------------------------------


def test_check_modal_is_a_view_slack_accepts() -> None:
    assert validate_view(check_blocks.check_modal(DESTINATION)) == []


def test_check_modal_texts_fit_in_a_modal_title_bar() -> None:
    view = check_blocks.check_modal(DESTINATION)
    for key in ("title", "submit", "close"):
        assert len(view[key]["text"]) <= MODAL_TEXT_MAX


def test_check_modal_private_metadata_round_trips_the_destination() -> None:
    view = check_blocks.check_modal(DESTINATION)
    assert Destination.from_metadata(view["private_metadata"]) == DESTINATION


def test_check_modal_metadata_holds_only_where_to_answer() -> None:
    metadata = json.loads(check_blocks.check_modal(DESTINATION)["private_metadata"])
    assert set(metadata) == {field.name for field in dataclasses.fields(Destination)}
    assert not CLEAR_TOKEN.search(json.dumps(metadata))
    assert "postman_collection" not in json.dumps(metadata)


def test_check_modal_has_the_inputs_the_submission_reads() -> None:
    view = check_blocks.check_modal(DESTINATION)
    inputs = {
        (block["block_id"], block["element"]["action_id"])
        for block in view["blocks"]
        if block["type"] == "input"
    }
    expected = {
        (check_blocks.URL_BLOCK, check_blocks.URL_INPUT),
        (check_blocks.STORE_ID_BLOCK, check_blocks.STORE_ID_INPUT),
        (check_blocks.TOKEN_BLOCK, check_blocks.TOKEN_INPUT),
    }
    assert inputs == expected
    assert view["callback_id"] == check_blocks.CHECK_MODAL_CALLBACK


def test_check_modals_for_two_threads_do_not_share_their_metadata() -> None:
    other = dataclasses.replace(DESTINATION, channel="C222", thread_ts=None, response_url=None)
    first, second = check_blocks.check_modal(DESTINATION), check_blocks.check_modal(other)
    assert Destination.from_metadata(first["private_metadata"]) == DESTINATION
    assert Destination.from_metadata(second["private_metadata"]) == other


def test_checking_view_shows_every_rung_pending_and_is_valid() -> None:
    pending = [Step(name=name, status=StepStatus.PENDING) for name in StepName]
    view = check_blocks.checking_view(pending)
    assert validate_view(view) == []
    assert render_view(view).count(":hourglass_flowing_sand:") == len(StepName) + 1


def test_checking_view_has_nothing_to_submit() -> None:
    pending = [Step(name=name, status=StepStatus.PENDING) for name in StepName]
    assert "submit" not in check_blocks.checking_view(pending)


# ---------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------


@EVERY_DIAGNOSIS
def test_every_diagnosis_renders_a_message_within_slack_limits(diagnosis: Diagnosis) -> None:
    built = message(
        check_blocks.result_message(report_for(diagnosis), DESTINATION, check_id="chk1")
    )
    assert validate_message(built) == []


@EVERY_DIAGNOSIS
def test_every_diagnosis_renders_a_view_within_slack_limits(diagnosis: Diagnosis) -> None:
    view = check_blocks.result_view(report_for(diagnosis))
    assert validate_view(view) == []
    assert len(view["title"]["text"]) <= MODAL_TEXT_MAX


@EVERY_DIAGNOSIS
def test_every_diagnosis_shows_its_title_and_numbered_tips(diagnosis: Diagnosis) -> None:
    report = report_for(diagnosis)
    shown = render_message(message(check_blocks.result_message(report, DESTINATION)))
    assert report.title in shown
    for number, _tip in enumerate(report.tips, 1):
        assert f"\n{number}. " in shown


@EVERY_DIAGNOSIS
def test_result_never_shows_more_than_the_masked_token(diagnosis: Diagnosis) -> None:
    report = report_for(diagnosis)
    shown = everything_shown(
        [
            message(check_blocks.result_message(report, DESTINATION, check_id="chk1")),
            check_blocks.result_view(report),
        ]
    )
    assert not CLEAR_TOKEN.search(shown)
    if report.token is not None:
        assert f"`{MASKED_TOKEN}`" in shown


@EVERY_DIAGNOSIS
def test_store_name_cannot_mention_the_channel(diagnosis: Diagnosis) -> None:
    report = report_for(diagnosis)
    shown = everything_shown(
        [
            message(check_blocks.result_message(report, DESTINATION)),
            check_blocks.result_view(report),
        ]
    )
    assert "<!channel>" not in shown
    assert "<@U0EVIL>" not in shown
    if report.store_name:
        assert "&lt;!channel&gt; Shop &amp; Co" in shown


def test_store_name_links_to_the_store() -> None:
    _text, blocks = check_blocks.result_message(report_for(Diagnosis.OK), DESTINATION)
    assert any(
        f"<{STORE_URL}|Jane's &lt;!channel&gt; Shop &amp; Co" in field
        for field in field_texts(blocks)
    )


def test_connected_result_says_what_will_be_migrated() -> None:
    shown = render_message(
        message(check_blocks.result_message(report_for(Diagnosis.OK), DESTINATION))
    )
    assert "Connected" in shown.splitlines()[0]
    for line in ("Products: 1,234", "Categories: 56", "Orders: 310", "Customers: 310"):
        assert line in shown


def test_a_count_the_token_cannot_read_is_a_dash_the_summary_explains() -> None:
    report = report_for(Diagnosis.SCOPE_MISSING)
    shown = render_message(message(check_blocks.result_message(report, DESTINATION)))
    assert "Orders: —" in shown
    assert "orders, customers" in report.summary


def test_failed_result_headline_says_not_connected() -> None:
    text, _blocks = check_blocks.result_message(report_for(Diagnosis.TOKEN_INVALID), DESTINATION)
    assert text.startswith(f"⚠️ Not connected yet: {CATALOGUE[Diagnosis.TOKEN_INVALID].title}")


def test_result_footer_names_who_asked_and_support_details_the_diagnosis() -> None:
    report = report_for(Diagnosis.PLAN_FREE)
    shown = render_message(message(check_blocks.result_message(report, DESTINATION)))
    assert f"Checked for <@{REQUESTER}> · <!date^" in shown
    assert "Details for support: `plan_free`" in shown


def test_internal_error_result_quotes_the_reference() -> None:
    report = report_for(Diagnosis.INTERNAL_ERROR)
    shown = render_message(message(check_blocks.result_message(report, DESTINATION)))
    assert f"reference `{REFERENCE}`" in shown


def test_every_result_offers_to_check_again() -> None:
    for diagnosis in (Diagnosis.OK, Diagnosis.TOKEN_INVALID):
        _text, blocks = check_blocks.result_message(report_for(diagnosis), DESTINATION)
        assert check_blocks.CHECK_AGAIN_ACTION in buttons(blocks)


def test_failed_result_offers_escalation_for_its_check() -> None:
    _text, blocks = check_blocks.result_message(
        report_for(Diagnosis.TOKEN_INVALID), DESTINATION, check_id="c1"
    )
    assert buttons(blocks)[check_blocks.ESCALATE_ACTION]["value"] == "c1"


def test_connected_result_offers_no_escalation() -> None:
    _text, blocks = check_blocks.result_message(
        report_for(Diagnosis.OK), DESTINATION, check_id="c1"
    )
    assert check_blocks.ESCALATE_ACTION not in buttons(blocks)


def test_result_without_a_stored_check_offers_no_escalation() -> None:
    _text, blocks = check_blocks.result_message(report_for(Diagnosis.TOKEN_INVALID), DESTINATION)
    assert check_blocks.ESCALATE_ACTION not in buttons(blocks)


def test_warnings_are_shown_with_a_warning_sign() -> None:
    shown = render_message(
        message(check_blocks.result_message(report_for(Diagnosis.OK), DESTINATION))
    )
    assert f":warning: {WARNING_TEXTS[WarningCode.STORE_CLOSED]}" in shown


def test_step_details_cannot_mention_anyone() -> None:
    steps = ladder(StepName.PROFILE)
    steps[3] = Step(name=StepName.PROFILE, status=StepStatus.FAILED, detail="Ecwid said <!here>")
    report = report_for(Diagnosis.ECWID_UNAVAILABLE, steps=steps)
    shown = everything_shown(
        [check_blocks.result_message(report, DESTINATION), check_blocks.result_view(report)]
    )
    assert "<!here>" not in shown


def test_summary_cannot_mention_anyone_even_in_the_notification() -> None:
    report = report_for(Diagnosis.ECWID_UNAVAILABLE, summary="Ecwid answered: <!channel> & co")
    shown = everything_shown(check_blocks.result_message(report, DESTINATION))
    assert "<!channel>" not in shown


# ---------------------------------------------------------------------------------------------
# Whatever the report holds, it fits
# ---------------------------------------------------------------------------------------------

LONG = "A very long sentence that keeps going & going <on> and on. " * 200  # ~12,000 chars


def long_report(**overrides: Any) -> CheckReport:
    return report_for(Diagnosis.SCOPE_MISSING, **overrides)


def assert_fits(report: CheckReport) -> None:
    text, blocks = check_blocks.result_message(report, DESTINATION, check_id="c1")
    assert validate_message({"text": text, "blocks": blocks}) == []
    assert validate_view(check_blocks.result_view(report)) == []
    assert all(len(section) <= SECTION_TEXT_MAX for section in section_texts(blocks))
    assert all(len(field) <= FIELD_TEXT_MAX for field in field_texts(blocks))


VERY_LONG: dict[str, dict[str, Any]] = {
    "summary": {"summary": LONG},
    "tips": {"tips": [LONG[:900]] * 12},
    "title": {"title": LONG[:400]},
    "step details": {
        "steps": [Step(name=name, status=StepStatus.FAILED, detail=LONG[:800]) for name in StepName]
    },
    "warnings": {"warning_texts": [LONG[:1000]] * 5},
    "store name": {"store_name": LONG[:2500]},
}


@pytest.mark.parametrize("overrides", VERY_LONG.values(), ids=VERY_LONG.keys())
def test_a_report_with_very_long_text_still_fits(overrides: dict[str, Any]) -> None:
    assert_fits(long_report(**overrides))


def test_a_clipped_section_says_it_was_cut() -> None:
    _text, blocks = check_blocks.result_message(long_report(summary=LONG), DESTINATION)
    assert max(section_texts(blocks), key=len).endswith("…")


# ---------------------------------------------------------------------------------------------
# When the bot itself fails, and help
# ---------------------------------------------------------------------------------------------


def test_failure_message_is_valid_and_quotes_the_reference() -> None:
    built = message(check_blocks.failure_message(REFERENCE))
    assert validate_message(built) == []
    assert f"`{REFERENCE}`" in render_message(built)


def test_failure_view_is_valid_and_quotes_the_reference() -> None:
    view = check_blocks.failure_view(REFERENCE)
    assert validate_view(view) == []
    assert f"`{REFERENCE}`" in render_view(view)


def test_usage_text_is_a_valid_reply_naming_the_command_and_help() -> None:
    text = check_blocks.usage_text(COMMAND)
    assert validate_message({"text": text}) == []
    assert f"`{COMMAND}`" in text
    assert f"`{COMMAND} help`" in text
