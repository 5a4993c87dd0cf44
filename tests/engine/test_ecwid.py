"""Ecwid's answers as Ecwid gives them (tests/fixtures/ecwid/, each shape naming its source): the
classifier and the profile reader on those shapes, then each shape replayed through a whole
check against the sandbox, cool-down and failing-token budget included."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis, Entity, Stage, StepName, StepStatus
from bot.engine.ecwid import (
    BodyKind,
    EcwidClient,
    StoreProfile,
    body_kind,
    classify_failure,
)
from bot.engine.guard import MemoryTokenGuard
from bot.engine.http_client import new_http_client
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import Body, Endpoint, Failure, SampleStore, derive_token
from tests.conftest import settings_for
from tests.paths import FIXTURES

ECWID = FIXTURES / "ecwid"
ANSWERS: dict[str, dict[str, Any]] = json.loads((ECWID / "error-answers.json").read_text())[
    "answers"
]

# What each answer means, written from Ecwid's documents rather than from the classifier:
# (diagnosis, worth one retry).
EXPECTED: dict[str, tuple[Diagnosis, bool]] = {
    "docs_400_status_line": (Diagnosis.ECWID_UNAVAILABLE, False),
    "docs_402_status_line": (Diagnosis.PLAN_FREE, False),
    "docs_402_free_plan": (Diagnosis.PLAN_FREE, False),
    "docs_402_suspended": (Diagnosis.STORE_SUSPENDED, False),
    "docs_403_invalid_token": (Diagnosis.TOKEN_INVALID, False),
    "docs_403_scope": (Diagnosis.SCOPE_MISSING, False),
    "docs_403_not_allowed_on_plan": (Diagnosis.PLAN_LIMITED, False),
    "docs_403_feature_not_available": (Diagnosis.PLAN_LIMITED, False),
    "java_client_error_with_args": (Diagnosis.TOKEN_INVALID, False),
    "bare_403_empty": (Diagnosis.TOKEN_INVALID, False),
    "403_json_without_code": (Diagnosis.TOKEN_INVALID, False),
    "403_html_firewall": (Diagnosis.ECWID_UNAVAILABLE, False),
    "401_empty": (Diagnosis.TOKEN_INVALID, False),
    "docs_404_store": (Diagnosis.STORE_NOT_FOUND, False),
    "docs_404_profile": (Diagnosis.STORE_NOT_FOUND, False),
    "docs_408_timeout": (Diagnosis.ECWID_UNAVAILABLE, True),
    "docs_429_rate_limited": (Diagnosis.RATE_LIMITED, False),  # 30 s: reported, not waited
    "docs_500_internal": (Diagnosis.ECWID_UNAVAILABLE, True),
}
# Requests Ecwid counts as made with a non-working token (it blocks after ~20 a minute).
FAILING_TOKEN = {
    Diagnosis.TOKEN_INVALID,
    Diagnosis.PLAN_FREE,
    Diagnosis.STORE_SUSPENDED,
    Diagnosis.STORE_NOT_FOUND,
}
COOLED_DOWN = {
    Diagnosis.TOKEN_INVALID,
    Diagnosis.PLAN_FREE,
    Diagnosis.STORE_NOT_FOUND,
    Diagnosis.STORE_SUSPENDED,
}


def response_of(answer: dict[str, Any], *, message: str | None = None) -> httpx.Response:
    """The answer as httpx hands it over; `message` replaces the body's errorMessage."""
    headers = {"Content-Type": answer["content_type"]}
    if "retry_after" in answer:
        headers["Retry-After"] = answer["retry_after"]
    body: str = answer["body"] or ""
    if message is not None and body.startswith("{"):
        body = json.dumps({**json.loads(body), "errorMessage": message})
    extensions = {"reason_phrase": answer["reason"].encode()} if "reason" in answer else {}
    return httpx.Response(
        answer["status"], headers=headers, content=body.encode(), extensions=extensions
    )


def failure_of(answer: dict[str, Any]) -> Failure:
    """The answer as a sandbox `Failure`, to be served over HTTP."""
    raw: str | None = answer["body"]
    is_json = raw is not None and answer["content_type"].startswith("application/json")
    body: dict[str, Any] = json.loads(raw) if raw is not None and is_json else {}
    return Failure(
        status=answer["status"],
        error_code=body.get("errorCode"),
        error_message=body.get("errorMessage", ""),
        retry_after_s=int(answer["retry_after"]) if "retry_after" in answer else None,
        body=Body.JSON if is_json else Body.HTML if raw else Body.EMPTY,
        reason=answer.get("reason"),
        args=tuple(sorted(body.get("args", {}).items())),
    )


def test_every_answer_has_an_expectation() -> None:
    assert set(EXPECTED) == set(ANSWERS)
    assert all(answer["source"] for answer in ANSWERS.values())


# --- The classifier ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXPECTED)
def test_each_documented_answer_is_classified_as_ecwid_means_it(name: str) -> None:
    diagnosis, _ = EXPECTED[name]

    error = classify_failure(response_of(ANSWERS[name]))

    assert error.diagnosis is diagnosis
    assert error.status == ANSWERS[name]["status"]
    assert error.diagnosis.blames_token is (diagnosis in FAILING_TOKEN)
    assert error.diagnosis.facts.stage is Stage.ECWID


@pytest.mark.parametrize("name", EXPECTED)
def test_the_message_text_never_decides(name: str) -> None:
    diagnosis, _ = EXPECTED[name]
    misleading = "Please upgrade your account: invalid access token, store suspended"

    assert classify_failure(response_of(ANSWERS[name], message=misleading)).diagnosis is diagnosis


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("bare_403_empty", BodyKind.EMPTY),
        ("docs_402_status_line", BodyKind.EMPTY),
        ("docs_403_invalid_token", BodyKind.JSON),
        ("403_json_without_code", BodyKind.JSON),
        ("403_html_firewall", BodyKind.HTML),
    ],
)
def test_the_kind_of_body_is_told_apart(name: str, kind: BodyKind) -> None:
    assert body_kind(response_of(ANSWERS[name]))[0] is kind


@pytest.mark.parametrize(
    ("content_type", "content", "kind"),
    [
        ("application/json", b"  \n", BodyKind.EMPTY),
        ("text/plain", b"<html><body>blocked</body></html>", BodyKind.HTML),
        ("application/xml", b"<Error><Code>AccessDenied</Code></Error>", BodyKind.HTML),
        ("text/plain", b"Forbidden", BodyKind.TEXT),
        ("application/json", b'["not", "an", "object"]', BodyKind.TEXT),
    ],
)
def test_body_kinds_beyond_the_documented_ones(
    content_type: str, content: bytes, kind: BodyKind
) -> None:
    response = httpx.Response(403, headers={"Content-Type": content_type}, content=content)
    assert body_kind(response)[0] is kind


def test_a_plain_text_403_is_read_by_its_status() -> None:
    response = httpx.Response(403, headers={"Content-Type": "text/plain"}, content=b"Forbidden")
    assert classify_failure(response).diagnosis is Diagnosis.TOKEN_INVALID


def test_details_name_the_status_and_code_never_the_message() -> None:
    empty = classify_failure(response_of(ANSWERS["bare_403_empty"]))
    plan = classify_failure(response_of(ANSWERS["docs_403_not_allowed_on_plan"]))
    html = classify_failure(response_of(ANSWERS["403_html_firewall"]))

    assert "HTTP 403, empty answer" in empty.detail
    assert "HTTP 403 NOT_ALLOWED_ON_CURRENT_PLAN" in plan.detail
    assert "not allowed on the current plan" not in plan.detail
    assert "HTML" in html.detail


# --- The profile ------------------------------------------------------------------------------


def profile_fixture(name: str) -> StoreProfile:
    return StoreProfile.from_body(json.loads((ECWID / name).read_text()))


def test_a_paid_profile_is_read_with_paid_and_features() -> None:
    profile = profile_fixture("profile.json")

    assert (profile.store_id, profile.store_name) == (1003, "Example Shop")
    assert profile.paid is True
    assert {"API", "PREMIUM"} <= profile.features
    assert profile.has_account
    assert not profile.is_free
    assert profile.plan_name is None  # no extended info asked or granted


def test_the_api_docs_example_profile_says_nothing_about_the_plan() -> None:
    profile = profile_fixture("api-docs-store-profile.json")

    assert (profile.store_id, profile.store_name) == (4870020, "My Super Store")
    assert profile.paid is None
    assert profile.features == frozenset()
    assert not profile.is_free


def test_a_public_token_profile_has_no_account_and_is_tolerated() -> None:
    profile = profile_fixture("profile-public-token.json")

    assert profile.store_id == 1003
    assert not profile.has_account
    assert (profile.paid, profile.features, profile.suspended) == (None, frozenset(), False)
    assert not profile.is_free


def test_the_plan_name_comes_from_extended_info() -> None:
    assert profile_fixture("profile-extended.json").plan_name == "Business"


@pytest.mark.parametrize(
    ("paid", "features", "free"),
    [(False, [], True), (False, ["API"], True), (False, ["PREMIUM"], False), (True, [], False)],
)
def test_free_means_unpaid_without_premium(paid: bool, features: list[str], free: bool) -> None:
    body = json.loads((ECWID / "profile.json").read_text())
    body["account"].update(paid=paid, availableFeatures=features)

    assert StoreProfile.from_body(body).is_free is free


# --- Each answer replayed through a whole check, over HTTP against the sandbox ----------------


def replay_store(name: str) -> SampleStore:
    diagnosis, _ = EXPECTED[name]
    failure = failure_of(ANSWERS[name])
    return SampleStore(
        key=name,
        store_id=4000 + list(EXPECTED).index(name),
        token=derive_token("replay", name),
        expected=diagnosis,
        expected_warnings=(),
        description=ANSWERS[name]["source"],
        failures=tuple((endpoint, failure) for endpoint in Endpoint),
    )


@pytest.mark.parametrize("name", EXPECTED)
async def test_each_documented_answer_replayed_through_a_check(name: str) -> None:
    diagnosis, retried = EXPECTED[name]
    store = replay_store(name)
    guard = MemoryTokenGuard(60, budget_per_minute=10)
    async with EcwidSandbox([store]) as sandbox, new_http_client() as http:
        ecwid = EcwidClient(http, sandbox.api_url, retry_backoff_s=0)
        checker = ConnectionChecker(settings_for(sandbox), http, guard, ecwid=ecwid)
        report = await checker.check_text(sandbox.collection_url(name))
        first_calls = sum(request.path.startswith("/api/") for request in sandbox.requests)
        failing = len(Endpoint) if diagnosis in FAILING_TOKEN else 0
        # Failing-token answers use up Ecwid's blocking allowance; the others are given back.
        fits = await guard.reserve(10 - failing, lease_s=1)
        assert fits.reservation is not None
        await guard.settle(fits.reservation, failing=0)
        if failing:
            over = await guard.reserve(10 - failing + 1, lease_s=1)
            assert (over.granted, over.failures_wait_s > 0) == (False, True)
        sandbox.reset()
        again = await checker.check_text(sandbox.collection_url(name))
        second_calls = sum(request.path.startswith("/api/") for request in sandbox.requests)

    assert report.diagnosis is diagnosis, report.summary
    assert report.step(StepName.PROFILE).status is StepStatus.FAILED  # type: ignore[union-attr]
    assert first_calls == len(Endpoint) * (2 if retried else 1)
    # After a hard refusal the same token is not sent again for a while.
    if diagnosis in COOLED_DOWN:
        assert (again.diagnosis, second_calls) == (Diagnosis.THROTTLED, 0)
    else:
        assert again.diagnosis is not Diagnosis.THROTTLED
        assert second_calls > 0


async def test_a_plan_refusal_on_one_entity_names_it() -> None:
    answer = ANSWERS["docs_403_not_allowed_on_plan"]
    store = SampleStore(
        key="orders_not_on_plan",
        store_id=4100,
        token=derive_token("replay", "orders_not_on_plan"),
        expected=Diagnosis.PLAN_LIMITED,
        expected_warnings=(),
        description=answer["source"],
        failures=((Endpoint.ORDERS, failure_of(answer)),),
    )
    async with EcwidSandbox([store]) as sandbox, new_http_client() as http:
        report = await ConnectionChecker(settings_for(sandbox), http).check_store(
            str(store.store_id), store.token
        )

    assert report.diagnosis is Diagnosis.PLAN_LIMITED
    assert "orders" in report.summary
    assert report.counts.orders.reason == "not included in the store's plan"
    assert report.counts.of(Entity.PRODUCTS).total == store.products
    assert report.missing_scopes == []
