"""The connection check, end to end over real HTTP against the Ecwid sandbox: every diagnosis."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bot.engine.catalogue import CATALOGUE, PAID_PLAN_NAMES
from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis, Entity, StepName, StepStatus
from bot.engine.ecwid import EcwidClient
from bot.engine.guard import MemoryTokenGuard
from bot.engine.http_client import new_http_client
from bot.engine.reply import customer_reply
from bot.engine.report import CheckReport
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import NO_SCOPE, Endpoint, SampleStore, sample_stores
from tests.conftest import settings_for

FAST_STORES = [store for store in sample_stores() if store.key != "slow"]
API_STORES = [store for store in FAST_STORES if store.reaches_api]


def api_calls(sandbox: EcwidSandbox) -> Counter[str]:
    """How often each API endpoint was asked, e.g. {"profile": 1, "products": 1, …}."""
    return Counter(
        request.path.rsplit("/", 1)[-1]
        for request in sandbox.requests
        if request.path.startswith("/api/")
    )


@asynccontextmanager
async def guarded_checker(
    sandbox: EcwidSandbox, guard: MemoryTokenGuard
) -> AsyncIterator[ConnectionChecker]:
    """A checker against `sandbox` whose token guard (clock, budget) is the test's own."""
    async with new_http_client() as http:
        yield ConnectionChecker(settings_for(sandbox), http, guard)


@pytest.mark.parametrize("store", FAST_STORES, ids=lambda store: store.key)
async def test_each_sample_store_gets_its_diagnosis_from_its_collection_url(
    sandbox: EcwidSandbox, checker: ConnectionChecker, store: SampleStore
) -> None:
    report = await checker.check_text(sandbox.collection_url(store.key))

    assert report.diagnosis is store.expected, report.summary
    assert report.warnings == list(store.expected_warnings)
    assert report.ok is (store.expected is Diagnosis.OK)
    assert report.tips, "every diagnosis comes with a fix"
    assert all(step.status is not StepStatus.PENDING for step in report.steps)


@pytest.mark.parametrize("store", API_STORES, ids=lambda store: store.key)
async def test_each_sample_store_gets_its_diagnosis_from_store_id_and_token(
    checker: ConnectionChecker, store: SampleStore
) -> None:
    report = await checker.check_store(str(store.store_id), store.token)

    assert report.diagnosis is store.expected
    assert report.step(StepName.DOWNLOAD).status is StepStatus.SKIPPED  # type: ignore[union-attr]


async def test_connected_store_reports_name_plan_masked_token_and_counts(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    store = sandbox.store("connected")

    report = await checker.check_text(sandbox.collection_url("connected"))

    assert report.ok
    assert (report.store_id, report.store_name) == (1003, "Example Shop")
    assert report.plan.startswith("paid")
    assert report.token == f"secret_…{store.token[-4:]}"
    totals = {entity: report.counts.of(entity).total for entity in Entity}
    assert totals == {
        Entity.PRODUCTS: 1234,
        Entity.CATEGORIES: 56,  # hidden categories included
        Entity.ORDERS: 789,
        Entity.CUSTOMERS: 321,
    }
    assert [step.status for step in report.steps] == [StepStatus.PASSED] * len(StepName)


async def test_token_travels_in_the_authorization_header_never_in_the_query(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    await checker.check_text(sandbox.collection_url("connected"))

    api = [request for request in sandbox.requests if request.path.startswith("/api/")]
    assert len(api) == 5
    assert all(request.has_authorization for request in api)
    assert all("token" not in request.query for request in api)


@pytest.mark.parametrize(
    "key", ["free_plan", "old_api_402", "suspended", "revoked", "unknown_store"]
)
async def test_refusals_are_never_retried(
    sandbox: EcwidSandbox, checker: ConnectionChecker, key: str
) -> None:
    await checker.check_text(sandbox.collection_url(key))

    assert set(api_calls(sandbox).values()) == {1}


# `old_api_402`: the older API's status line 402 is the free plan too.
@pytest.mark.parametrize("key", ["free_plan", "old_api_402"])
async def test_free_plan_store_gets_upgrade_tip(
    sandbox: EcwidSandbox, checker: ConnectionChecker, key: str
) -> None:
    report = await checker.check_text(sandbox.collection_url(key))

    assert report.diagnosis is Diagnosis.PLAN_FREE
    assert report.plan == "Free"
    assert report.title == CATALOGUE[Diagnosis.PLAN_FREE].title
    assert any(PAID_PLAN_NAMES in tip for tip in report.tips)


async def test_a_suspended_store_is_told_both_causes_and_who_fixes_each(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    # Ecwid's "Pausing your Ecwid store for maintenance": an owner pauses a store on the
    # Suspension plan, and back, by writing to billing@ecwid.com; "Managing subscription": only
    # the account owner, not a staff account, settles the subscription in Billing and Plans.
    report = await checker.check_text(sandbox.collection_url("suspended"))

    assert report.diagnosis is Diagnosis.STORE_SUSPENDED
    assert "Suspension plan" in report.summary
    assert "unpaid" in report.summary
    paused, unpaid, again = report.tips
    assert "Suspension plan" in paused
    assert "billing@ecwid.com" in paused
    assert "reactivate" in paused
    assert "Billing and Plans" in unpaid
    assert "only the account owner" in unpaid
    assert "same URL" in again
    reply = customer_reply(report)
    assert f"1. {paused}" in reply
    assert f"2. {unpaid}" in reply


async def test_missing_customer_scope_names_the_entity_and_the_scope(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    report = await checker.check_text(sandbox.collection_url("no_customer_scope"))

    assert report.missing_scopes == [Entity.CUSTOMERS]
    assert "customers" in report.summary
    assert any("read_customers" in tip for tip in report.tips)
    assert report.counts.customers.total is None
    assert report.counts.customers.reason == "the token lacks the read_customers scope"
    assert report.counts.products.total == 1234


async def test_public_token_does_not_ask_for_orders_or_customers(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    report = await checker.check_text(sandbox.collection_url("public_token"))

    assert report.diagnosis is Diagnosis.TOKEN_PUBLIC
    assert report.token is not None
    assert report.token.startswith("public_…")
    assert set(api_calls(sandbox)) == {"profile", "products", "categories"}
    assert report.step(StepName.ORDERS).status is StepStatus.SKIPPED  # type: ignore[union-attr]


async def test_long_rate_limit_is_reported_with_the_wait_not_waited_out(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    report = await checker.check_text(sandbox.collection_url("rate_limited"))

    assert report.retry_after_s == 30
    assert any("30 seconds" in tip for tip in report.tips)
    assert set(api_calls(sandbox).values()) == {1}
    assert report.duration_ms < 3000


async def test_short_rate_limit_is_waited_out_once(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    report = await checker.check_text(sandbox.collection_url("brief_rate_limit"))

    assert report.ok
    assert set(api_calls(sandbox).values()) == {2}
    assert report.duration_ms >= 1000  # Retry-After: 1 was honoured


async def test_server_errors_are_retried_once_then_reported(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    report = await checker.check_text(sandbox.collection_url("ecwid_down"))

    assert report.diagnosis is Diagnosis.ECWID_UNAVAILABLE
    assert set(api_calls(sandbox).values()) == {2}


async def test_a_check_that_outlives_its_deadline_says_so(sandbox: EcwidSandbox) -> None:
    settings = settings_for(sandbox, check_timeout_s=0.5)
    async with new_http_client() as http:
        report = await ConnectionChecker(settings, http).check_text(sandbox.collection_url("slow"))

    assert report.diagnosis is Diagnosis.CHECK_TIMEOUT
    assert report.step(StepName.PARSE).status is StepStatus.PASSED  # type: ignore[union-attr]
    assert report.step(StepName.PROFILE).status is StepStatus.FAILED  # type: ignore[union-attr]
    assert report.duration_ms < 2000


async def test_a_refused_token_is_cooled_down_without_asking_ecwid_again(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    first = await checker.check_text(sandbox.collection_url("revoked"))
    sandbox.reset()

    second = await checker.check_text(sandbox.collection_url("revoked"))

    assert first.diagnosis is Diagnosis.TOKEN_INVALID
    assert second.diagnosis is Diagnosis.THROTTLED
    assert second.retry_after_s is not None
    assert 55 <= second.retry_after_s <= 60
    assert api_calls(sandbox) == Counter()


async def test_the_cool_down_ends(sandbox: EcwidSandbox) -> None:
    now = [0.0]
    guard = MemoryTokenGuard(60, 300, clock=lambda: now[0])
    store = sandbox.store("revoked")
    async with guarded_checker(sandbox, guard) as checker:
        await checker.check_store(str(store.store_id), store.token)
        now[0] = 61.0
        again = await checker.check_store(str(store.store_id), store.token)

    assert again.diagnosis is Diagnosis.TOKEN_INVALID


async def test_failing_token_budget_protects_the_bots_address(sandbox: EcwidSandbox) -> None:
    guard = MemoryTokenGuard(60, budget_per_minute=10)
    store = sandbox.store("revoked")
    async with guarded_checker(sandbox, guard) as checker:
        reports = [
            await checker.check_store(str(store.store_id), f"secret_{attempt:032d}")
            for attempt in range(3)
        ]

    assert [report.diagnosis for report in reports] == [
        Diagnosis.TOKEN_INVALID,
        Diagnosis.TOKEN_INVALID,
        Diagnosis.THROTTLED,
    ]
    assert reports[2].retry_after_s is not None
    assert reports[2].retry_after_s > 0


async def test_a_paste_problem_is_answered_without_any_request(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    report = await checker.check_text("https://api-playground.ecwid.com/")

    assert report.diagnosis is Diagnosis.URL_PLAYGROUND_PAGE
    assert report.step(StepName.INTAKE).status is StepStatus.FAILED  # type: ignore[union-attr]
    assert sandbox.requests == []


async def test_a_bug_becomes_an_internal_error_report_with_a_reference(
    sandbox: EcwidSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenEcwid(EcwidClient):
        async def profile(self, credentials):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

    store = sandbox.store("connected")
    async with new_http_client() as http:
        checker = ConnectionChecker(
            settings_for(sandbox), http, ecwid=BrokenEcwid(http, sandbox.api_url)
        )
        with caplog.at_level(logging.ERROR):
            report = await checker.check_store(str(store.store_id), store.token)

    assert report.diagnosis is Diagnosis.INTERNAL_ERROR
    assert report.reference
    assert report.reference in caplog.text
    assert any(report.reference in tip for tip in report.tips)


async def test_a_garbled_answer_is_unreachable_storage_not_a_bug(
    checker: ConnectionChecker, sandbox: EcwidSandbox
) -> None:
    async def garble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garble, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, new_http_client() as http:
        settings = settings_for(sandbox, collection_hosts=f"http://127.0.0.1:{port}")
        report = await ConnectionChecker(settings, http).check_text(
            f"http://127.0.0.1:{port}/ecwid-api-playground/1003_x.json.postman_collection"
        )

    assert report.diagnosis is Diagnosis.COLLECTION_UNREACHABLE


async def test_concurrent_failing_checks_cannot_overdraw_the_budget(sandbox: EcwidSandbox) -> None:
    guard = MemoryTokenGuard(0, budget_per_minute=30)
    store = sandbox.store("revoked")
    async with guarded_checker(sandbox, guard) as checker:
        reports = await asyncio.gather(
            *(checker.check_store(str(store.store_id), f"secret_{n:032d}") for n in range(40))
        )

    assert sum(r.path.startswith("/api/") for r in sandbox.requests) <= 30
    assert sum(report.diagnosis is Diagnosis.THROTTLED for report in reports) >= 34


async def test_a_profile_refused_for_scope_still_names_what_is_missing() -> None:
    connected = sample_stores()[0]
    no_profile = dataclasses.replace(
        connected, failures=((Endpoint.PROFILE, NO_SCOPE),), key="no_profile_scope"
    )
    async with EcwidSandbox([no_profile]) as sandbox, new_http_client() as http:
        checker = ConnectionChecker(settings_for(sandbox), http)
        report = await checker.check_store(str(no_profile.store_id), no_profile.token)

    assert report.diagnosis is Diagnosis.SCOPE_MISSING
    assert "the store profile" in report.summary
    assert any("read_store_profile" in tip for tip in report.tips)


@pytest.mark.parametrize(
    ("paste", "diagnosis"),
    [
        ("   ", Diagnosis.URL_EMPTY),
        ("secret_" + "A1b2" * 8, Diagnosis.URL_TOKEN_ONLY),
        ("https://api-playground.ecwid.com/", Diagnosis.URL_PLAYGROUND_PAGE),
        ("https://my.ecwid.com/cp/#products", Diagnosis.URL_ADMIN_PAGE),
        ("{sandbox}/ecwid-api-playground/1003_abc", Diagnosis.URL_TRUNCATED),
        ("https://example.com/collection.json", Diagnosis.URL_NOT_COLLECTION),
    ],
    ids=str,
)
async def test_each_paste_problem_stops_at_intake_with_its_diagnosis(
    sandbox: EcwidSandbox, checker: ConnectionChecker, paste: str, diagnosis: Diagnosis
) -> None:
    report = await checker.check_text(paste.format(sandbox=sandbox.base_url))

    assert report.diagnosis is diagnosis
    assert report.step(StepName.INTAKE).status is StepStatus.FAILED  # type: ignore[union-attr]
    assert report.tips
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("store_id", "token", "diagnosis"),
    [
        ("my shop", "secret_" + "A1b2" * 8, Diagnosis.STORE_ID_INVALID),
        ("1003", "not a token", Diagnosis.TOKEN_MALFORMED),
    ],
    ids=str,
)
async def test_bad_store_id_or_token_stops_at_intake(
    sandbox: EcwidSandbox,
    checker: ConnectionChecker,
    store_id: str,
    token: str,
    diagnosis: Diagnosis,
) -> None:
    report = await checker.check_store(store_id, token)

    assert report.diagnosis is diagnosis
    assert sandbox.requests == []


def api_queries(sandbox: EcwidSandbox, endpoint: str) -> list[str]:
    return [request.query for request in sandbox.requests if request.path.endswith(f"/{endpoint}")]


async def check_asking(
    sandbox: EcwidSandbox, checker: ConnectionChecker, key: str, endpoint: str
) -> tuple[CheckReport, list[str]]:
    """Check sample store `key`; its report and the queries it sent to `endpoint`. The
    sandbox's request log is cleared after, for the next check."""
    report = await checker.check_text(sandbox.collection_url(key))
    queries = api_queries(sandbox, endpoint)
    sandbox.reset()
    return report, queries


async def test_hidden_categories_are_asked_for_with_secret_tokens_only(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    secret, secret_queries = await check_asking(sandbox, checker, "connected", "categories")
    public, public_queries = await check_asking(sandbox, checker, "public_token", "categories")

    assert secret_queries == ["limit=1&hidden_categories=true"]
    assert public_queries == ["limit=1"]
    store = sandbox.store("public_token")
    assert secret.counts.categories.total == sandbox.store("connected").categories
    assert public.counts.categories.total == store.categories - store.disabled_categories


async def test_the_plan_name_is_asked_for_and_given_when_ecwid_grants_it(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    extended, queries = await check_asking(sandbox, checker, "extended_profile", "profile")
    plain, _ = await check_asking(sandbox, checker, "connected", "profile")

    assert queries == ["showExtendedInfo=true"]
    assert extended.plan == "Business"
    assert plain.plan == f"paid ({PAID_PLAN_NAMES})"  # the fallback


async def test_an_unpaid_store_is_free_even_when_its_searches_answer(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    report = await checker.check_text(sandbox.collection_url("unpaid"))

    assert report.diagnosis is Diagnosis.PLAN_FREE
    assert not report.ok
    assert report.plan == "Free"
    assert report.step(StepName.PROFILE).status is StepStatus.FAILED  # type: ignore[union-attr]
    assert report.counts.products.total == sandbox.store("unpaid").products


@pytest.mark.parametrize("key", ["no_account_section", "public_token"])
async def test_a_profile_without_account_is_tolerated(
    sandbox: EcwidSandbox, checker: ConnectionChecker, key: str
) -> None:
    report = await checker.check_text(sandbox.collection_url(key))

    assert report.diagnosis is sandbox.store(key).expected
    assert report.store_name == sandbox.store(key).store_name
    assert report.step(StepName.PROFILE).status is StepStatus.PASSED  # type: ignore[union-attr]
    assert report.plan == f"paid ({PAID_PLAN_NAMES})"  # its searches answered


async def test_a_plan_limit_names_what_the_plan_lacks(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    report = await checker.check_text(sandbox.collection_url("plan_limited"))

    assert report.diagnosis is Diagnosis.PLAN_LIMITED
    assert "customers" in report.summary
    assert report.counts.customers.total is None
    assert report.missing_scopes == []
    assert any("upgrade" in tip for tip in report.tips)


@pytest.mark.parametrize(("key", "cooled"), [("bare_403", True), ("firewall_403", False)])
async def test_a_bare_403_cools_the_token_down_a_firewall_page_does_not(
    sandbox: EcwidSandbox, checker: ConnectionChecker, key: str, cooled: bool
) -> None:
    first = await checker.check_text(sandbox.collection_url(key))
    sandbox.reset()
    second = await checker.check_text(sandbox.collection_url(key))

    assert first.diagnosis is sandbox.store(key).expected
    assert (second.diagnosis is Diagnosis.THROTTLED) is cooled
    assert (api_calls(sandbox) == Counter()) is cooled


def test_no_field_of_a_report_is_a_mapping_so_its_keys_are_never_data() -> None:
    """A report is redacted text by text, its keys left as they are: they must be the models'
    own field names, never anything a check read."""
    from bot.engine.report import CheckReport, Count, Counts, Step

    for model in (CheckReport, Step, Count, Counts):
        for name, field in model.model_fields.items():
            shown = str(field.annotation).lower()
            assert "dict" not in shown, f"{model.__name__}.{name}"
            assert "mapping" not in shown, f"{model.__name__}.{name}"
