"""Signature first: in HTTP mode nothing parses a request's body before its signature and
timestamp hold. Unsigned or malformed requests get 401/400, never a 500 or a traceback; signed
but incomplete ones are acknowledged and ignored. A hypothesis fuzz of bodies, signed and
unsigned, form and JSON, against the running bot over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox.slack.user import sign
from bot.sandbox.stage import Stage
from tests.stage import migrated_stage

FORM = "application/x-www-form-urlencoded"
ACK_TIMEOUT_S = 3.0  # what Slack waits


class ThreadStage:
    """The whole stage (sandbox, Slack stand-in, the bot over HTTP) on an event loop of its own,
    so that a synchronous hypothesis test can drive it with plain HTTP requests."""

    def __init__(self) -> None:
        self._ready: Future[Stage] = Future()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with migrated_stage() as stage:
                self._ready.set_result(stage)
                await self._stop.wait()
        except BaseException as error:  # pragma: no cover - start-up failure
            if not self._ready.done():
                self._ready.set_exception(error)
            raise

    def __enter__(self) -> Stage:
        self._thread.start()
        return self._ready.result(timeout=60)

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    with ThreadStage() as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=ACK_TIMEOUT_S) as client:
        yield client


@pytest.fixture
def tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    caplog.set_level(logging.INFO)
    found: list[logging.LogRecord] = []
    yield found
    found.extend(r for r in caplog.records if r.exc_info or r.exc_text)
    assert not found, [r.getMessage() + (r.exc_text or "") for r in found]


def _post(
    http: httpx.Client,
    stage: Stage,
    body: bytes,
    content_type: str = FORM,
    *,
    signed: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Content-Type": content_type}
    if signed:
        sent |= _sign(body, stage.signing_secret)
    sent |= headers or {}
    return http.post(stage.bot_url, content=body, headers=sent)


def _sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature over the bytes (`sign` needs UTF-8; fuzzed bodies may not be)."""
    try:
        return sign(body, secret, timestamp)
    except UnicodeDecodeError:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        base = b"v0:" + stamp.encode() + b":" + body
        digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


UNSIGNED_GARBAGE = [
    b"payload=not-json",
    b"payload=%5B1%5D",
    b'{"type":',
    b"\xff\xfe\x00garbage",
    b"",
]


@pytest.mark.parametrize("body", UNSIGNED_GARBAGE)
def test_unsigned_garbage_is_refused_with_401(
    stage: Stage, http: httpx.Client, tracebacks: list[logging.LogRecord], body: bytes
) -> None:
    assert _post(http, stage, body, signed=False).status_code == 401


@pytest.mark.parametrize(
    "timestamp", ["abc", "", "1e9", "-5", "１２３", "99999999999999999999", "12 3", "\xff"]
)
def test_a_malformed_timestamp_is_refused_with_400(
    stage: Stage, http: httpx.Client, tracebacks: list[logging.LogRecord], timestamp: str
) -> None:
    body = b"payload=not-json"
    headers: dict[str, str | bytes] = {"Content-Type": FORM, **sign(body, stage.signing_secret)}
    headers["X-Slack-Request-Timestamp"] = timestamp.encode("utf-8", "surrogateescape")
    response = http.post(stage.bot_url, content=body, headers=headers)
    assert response.status_code == (400 if timestamp else 401)


def test_a_stale_or_forged_signature_is_refused(
    stage: Stage, http: httpx.Client, tracebacks: list[logging.LogRecord]
) -> None:
    body = b"command=%2Fecwid-connect&user_id=U1&team_id=T1&channel_id=C1&text=help"
    stale = sign(body, stage.signing_secret, timestamp=int(time.time()) - 3600)
    forged = sign(body, "not-the-secret")

    assert _post(http, stage, body, signed=False, headers=stale).status_code == 401
    assert _post(http, stage, body, signed=False, headers=forged).status_code == 401
    assert (
        _post(http, stage, body + b"x", signed=False, headers=sign(body, stage.signing_secret))
    ).status_code == 401


def test_refusals_are_logged_at_most_once_per_reason_in_a_burst(
    stage: Stage,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    tracebacks: list[logging.LogRecord],
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(20):
        _post(http, stage, b"payload=x", signed=False, headers={"X-Slack-Signature": "v0=1"})
    lines = [r for r in caplog.records if "refused a Slack request" in r.getMessage()]
    assert len(lines) <= 1


SIGNED_INCOMPLETE = [
    (b"payload=not-json", FORM),
    (b"payload=%5B1%5D", FORM),
    (b'{"type":', "application/json"),
    (b"\xff\xfe\x00garbage", FORM),
    (b"", FORM),
    (b'payload={"type":"block_actions"}', FORM),
    (b'payload={"type":"block_actions","user":"U1"}', FORM),
    (b'payload={"type":"view_submission","user":{"id":"U1"},"view":[]}', FORM),
    (b'payload={"type":"view_submission","user":{"id":"U1"},"view":{"callback_id":"x"}}', FORM),
    (b'payload={"type":"view_submission","user":{"id":"U1"},"response_urls":null}', FORM),
    (b'{"type":"event_callback"}', "application/json"),
    (b'{"type":"event_callback","event":"x"}', "application/json"),
    (b'{"type":"url_verification"}', "application/json"),
    (b"[1,2]", "application/json"),
    (b"command=%2Fecwid-connect&text=help", FORM),
]


@pytest.mark.parametrize(("body", "content_type"), SIGNED_INCOMPLETE)
def test_signed_but_incomplete_requests_are_acknowledged_and_ignored(
    stage: Stage,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    tracebacks: list[logging.LogRecord],
    body: bytes,
    content_type: str,
) -> None:
    caplog.set_level(logging.INFO)
    before = len(stage.slack.calls)

    response = _post(http, stage, body, content_type)

    assert response.status_code == 200
    ignored = stage.services.metrics.registry.get_sample_value(
        "ecwid_connect_ignored_requests_total"
    )
    assert ignored is not None
    assert ignored >= 1
    assert len(stage.slack.calls) == before  # nothing was done about it


def test_a_complete_signed_request_still_reaches_the_bot(
    stage: Stage, http: httpx.Client, tracebacks: list[logging.LogRecord]
) -> None:
    form = {
        "command": "/ecwid-connect",
        "text": "help",
        "user_id": "U0OWNER",
        "user_name": "jane",
        "team_id": "T0001",
        "channel_id": "C111",
        "response_url": stage.slack.new_response_url(channel="C111", user="U0OWNER"),
        "trigger_id": stage.slack.issue_trigger_id("U0OWNER"),
    }
    response = _post(http, stage, urllib.parse.urlencode(form).encode())
    assert response.status_code == 200
    assert response.content  # the help answer


# -- fuzz ----------------------------------------------------------------------------------

_TYPES = [
    "block_actions",
    "view_submission",
    "view_closed",
    "shortcut",
    "message_action",
    "block_suggestion",
    "event_callback",
    "url_verification",
    "app_rate_limited",
    "nonsense",
]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_user = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.fixed_dictionaries({"id": st.one_of(st.just("U0FUZZ"), st.integers(), st.none())}),
)


@st.composite
def _payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": draw(st.sampled_from(_TYPES) | st.integers())}
    for key, values in {
        "user": _user,
        "team": st.one_of(st.none(), st.just({"id": "T0001"}), st.text(max_size=5)),
        "actions": st.lists(
            st.fixed_dictionaries(
                {"action_id": st.sampled_from(["take", "rerun", "resolve", "x"]) | st.text()},
                optional={"value": st.text(max_size=20), "block_id": st.text(max_size=5)},
            ),
            max_size=2,
        )
        | _json_values,
        "view": st.fixed_dictionaries(
            {},
            optional={
                "callback_id": st.text(max_size=10),
                "id": st.text(max_size=6),
                "state": _json_values,
                "private_metadata": st.text(max_size=30),
            },
        )
        | _json_values,
        "event": st.fixed_dictionaries(
            {"type": st.sampled_from(["app_mention", "message", "app_home_opened", "x"])},
            optional={
                "user": st.text(max_size=6),
                "text": st.text(max_size=30),
                "channel": st.text(max_size=6),
                "ts": st.text(max_size=12),
            },
        )
        | _json_values,
        "callback_id": st.text(max_size=12),
        "trigger_id": st.text(max_size=12),
        "response_url": st.text(max_size=30),
        "challenge": st.text(max_size=10) | st.integers(),
    }.items():
        if draw(st.booleans()):
            payload[key] = draw(values)
    return payload


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["bytes", "form", "payload", "json", "command"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200)), draw(st.sampled_from([FORM, "application/json"]))
    if kind == "json":
        return json.dumps(draw(_payloads() | _json_values)).encode(), "application/json"
    if kind == "payload":
        payload = json.dumps(draw(_payloads() | _json_values))
        return urllib.parse.urlencode({"payload": payload}).encode(), FORM
    if kind == "command":
        form = {"command": draw(st.sampled_from(["/ecwid-connect", "/other"]) | st.text())}
        for key in ("user_id", "team_id", "channel_id", "text", "response_url", "trigger_id"):
            if draw(st.booleans()):
                form[key] = draw(st.text(max_size=20))
        return urllib.parse.urlencode(form).encode(), FORM
    pairs = draw(st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=4))
    return urllib.parse.urlencode(pairs).encode(), FORM


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_bodies(), signed=st.booleans())
def test_fuzzed_bodies_never_cause_a_500_a_time_out_or_a_traceback(
    stage: Stage,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    body: tuple[bytes, str],
    signed: bool,
) -> None:
    content, content_type = body
    caplog.clear()

    response = _post(http, stage, content, content_type, signed=signed)  # 3 s, as Slack

    assert response.status_code < 500, (response.status_code, response.text)
    if not signed:
        assert response.status_code == 401
    broken = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert not broken, [(r.getMessage(), r.exc_text) for r in broken]


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "block_actions", "view": null}',
        b'{"type": "app_rate_limited", "event": null}',
        b'{"type": "app_rate_limited", "team_id": "T0001", "minute_rate_limited": 1518467820}',
    ],
)
def test_signed_json_that_is_not_an_event_callback_is_acknowledged_and_ignored(
    stage: Stage, http: httpx.Client, body: bytes
) -> None:
    response = _post(http, stage, body, "application/json", signed=True)
    assert response.status_code == 200
