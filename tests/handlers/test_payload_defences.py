"""Every listener reads Slack's payload defensively (`handlers/payload.py`).

Real payloads (tests/fixtures/slack, which name their sources), made into each listener's own –
its action, callback, command, the bot's own modal filled in – then stripped: fields removed,
renamed or set to null, and a modal's input blocks dropped as an earlier version of it would
lack them. Signed and dispatched in-process through the Bolt app, as bolt-python's scenario
tests do; one test goes over real HTTP, through the request gate. Whatever is missing: never a
500, never a traceback (nor "something went wrong") in anything sent to Slack, and an answer
wherever a person is waiting for one.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.destination import Destination, EntryPoint
from bot.sandbox.slack.user import sign, state_values
from bot.sandbox.stage import Stage
from bot.slack.gate import incomplete
from handlers.blocks import check as check_blocks
from handlers.blocks import support as support_blocks
from handlers.blocks import watch as watch_blocks
from handlers.blocks.common import CLICK_AGAIN, FORM_OUT_OF_DATE
from handlers.blocks.follow_up import STOP_FOLLOW_UP_ACTION
from handlers.blocks.home import HOME_CHECK_ACTION
from handlers.blocks.leak import CHECK_HELD_ACTION, PASTE_PRIVATELY_ACTION
from handlers.blocks.reminders import FEEDBACK_STUCK_ACTION, FEEDBACK_YES_ACTION
from handlers.blocks.workflow import STEP_PASTE_ACTION, StepButton
from handlers.commands import COMMAND
from handlers.shortcuts import CHECK_SHORTCUT
from handlers.support import TRIAGE_ACTIONS
from handlers.workflow import STEP_CALLBACK
from tests.handlers.test_workflow import function_executed
from tests.paths import FIXTURES
from tests.stage import migrated_stage

SHAPES = FIXTURES / "slack"
CHANNEL = "C111"  # where the fixtures' clicks, commands and mentions happen
SUPPORT = "C0SUPPORT"
AGENTS = ["U0AGENT"]
FIXTURE_USERS = ("W111", "W222", "U222", "U111")  # the people the fixtures name
FORM = "application/x-www-form-urlencoded"
# What a person can be answered with: a post, a private note, a modal, a Home.
ANSWERS = frozenset(
    {
        "chat.postMessage",
        "chat.postEphemeral",
        "chat.update",
        "response_url",
        "views.open",
        "views.update",
        "views.publish",
        "functions.completeError",  # a workflow step's run is told why it cannot go on
    }
)
LEAKS = re.compile(r"Traceback|File \"|\b[A-Z]\w*(?:Error|Exception)\b|something went wrong")


def shape(name: str) -> dict[str, Any]:
    loaded = json.loads((SHAPES / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with migrated_stage(
        support_channel_id=SUPPORT, credentials_key=Fernet.generate_key().decode()
    ) as running:
        running.slack.set_channel_members(SUPPORT, ["UBOT", *AGENTS])
        for user in FIXTURE_USERS:  # who clicks or writes in a channel is in it
            running.slack.add_user(user, user.lower())
        yield running


async def settle(stage: Stage) -> None:
    """Until the bot's background work, and the work it started, is done."""
    while len(stage.services.tasks):
        await stage.services.tasks.drain(10)


# Each listener's payload, from its fixture.


@dataclass(frozen=True)
class Scenario:
    """One listener, the fixture its payload comes from, and how that is delivered."""

    name: str
    build: Callable[[Stage, str], dict[str, Any]]
    delivery: str  # "payload" (an interaction), "command" (a form) or "event" (JSON)
    routing: tuple[tuple[str | int, ...], ...]
    """What Bolt routes on: without it, no listener of ours is called at all."""
    waiting: Callable[[dict[str, Any]], bool]
    """Whether someone waits for an answer to this (mutated) payload."""


def _fresh() -> str:
    return secrets.token_hex(5).upper()


def _click(stage: Stage, fixture: str, action_id: str, value: str | None) -> dict[str, Any]:
    clicked = shape(fixture)
    user = clicked["user"]["id"]
    clicked["actions"][0]["action_id"] = action_id
    if value is None:
        clicked["actions"][0].pop("value")
    else:
        clicked["actions"][0]["value"] = value
    clicked["trigger_id"] = stage.slack.issue_trigger_id(user)
    clicked["response_url"] = stage.slack.new_response_url(
        channel=clicked["container"]["channel_id"],
        user=user,
        message_ts=clicked["container"]["message_ts"],
        ephemeral=bool(clicked["container"]["is_ephemeral"]),
    )
    return clicked


def _submission(stage: Stage, view: dict[str, Any], typed: dict[str, dict[str, str]]) -> Any:
    submitted = shape("view_submission.json")
    user = submitted["user"]["id"]
    for key in ("callback_id", "title", "submit", "close", "blocks", "private_metadata"):
        submitted["view"][key] = copy.deepcopy(view.get(key))
    submitted["view"]["id"] = f"V{_fresh()}"
    submitted["view"]["state"] = {"values": state_values(view["blocks"], typed)}
    submitted["trigger_id"] = stage.slack.issue_trigger_id(user)
    return submitted


def _asked_from(user: str) -> Destination:
    return Destination(channel=CHANNEL, thread_ts=None, requester=user, entry=EntryPoint.MODAL)


def _check_submission(stage: Stage, _check_id: str) -> dict[str, Any]:
    view = check_blocks.check_modal(_asked_from("W111"))
    url = stage.sandbox.collection_url("connected")
    return _submission(stage, view, {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: url}})


def _escalation_submission(stage: Stage, check_id: str) -> dict[str, Any]:
    view = support_blocks.escalate_modal(check_id, _asked_from("W111"))
    goal = {support_blocks.GOAL_BLOCK: {support_blocks.GOAL_INPUT: "Moving to a new platform"}}
    return _submission(stage, view, goal)


def _watch_submission(stage: Stage, check_id: str) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    view = watch_blocks.watch_modal(check_id, _asked_from("W111"), today, "every day")
    later = (today + timedelta(days=30)).isoformat()
    return _submission(stage, view, {watch_blocks.DATE_BLOCK: {watch_blocks.DATE_INPUT: later}})


def _command(stage: Stage, _check_id: str) -> dict[str, Any]:
    typed = shape("slash_command.json")
    typed.update(
        command=COMMAND,
        text="",
        response_url=stage.slack.new_response_url(channel=CHANNEL, user=typed["user_id"]),
        trigger_id=stage.slack.issue_trigger_id(typed["user_id"]),
    )
    return typed


def _shortcut(stage: Stage, _check_id: str) -> dict[str, Any]:
    used = shape("message_action.json")
    used["callback_id"] = CHECK_SHORTCUT
    used["trigger_id"] = stage.slack.issue_trigger_id(used["user"]["id"])
    used["response_url"] = stage.slack.new_response_url(channel=CHANNEL, user=used["user"]["id"])
    return used


def _event(fixture: str, **changes: str) -> Callable[[Stage, str], dict[str, Any]]:
    def build(_stage: Stage, _check_id: str) -> dict[str, Any]:
        body = shape(fixture)
        ts = f"{1_700_000_000 + secrets.randbelow(10**8)}.000100"
        body["event_id"] = f"Ev{_fresh()}"
        body["event"].update({key: ts for key in ("ts", "event_ts") if key in body["event"]})
        body["event"].update(changes)
        if "client_msg_id" in body["event"]:
            body["event"]["client_msg_id"] = _fresh()
        return body

    return build


def _step_executed(stage: Stage, _check_id: str) -> dict[str, Any]:
    execution = stage.slack.start_function_execution(STEP_CALLBACK, {"user_id": "U111"})
    return function_executed(stage.slack, execution)


def _step_paste(stage: Stage, _check_id: str) -> dict[str, Any]:
    clicked = _click(stage, "block_actions_function.json", STEP_PASTE_ACTION, None)
    person = clicked["user"]["id"]
    execution = stage.slack.start_function_execution(STEP_CALLBACK, {"user_id": person})
    clicked["function_data"].update(execution_id=execution.id, inputs=execution.inputs)
    clicked["bot_access_token"] = execution.bot_access_token
    clicked["actions"][0]["value"] = StepButton(execution.id, person).to_value()
    return clicked


def _secret_in_channel(stage: Stage, _check_id: str) -> dict[str, Any]:
    body = _event("message_channel.json")(stage, _check_id)
    body["event"]["text"] = f"here it is: {stage.sandbox.collection_url('connected')}"
    return body


def _has(payload: object, *path: str) -> bool:
    for key in path:
        if not isinstance(payload, dict):
            return False
        payload = payload.get(key)
    return isinstance(payload, str) and bool(payload)


def _interaction_waits(payload: dict[str, Any]) -> bool:
    return _has(payload, "user", "id") or _has(payload, "response_url")


ACTION_ROUTE = (("type",), ("actions", 0, "action_id"))
VIEW_ROUTE = (("type",), ("view", "callback_id"), ("view", "type"))
EVENT_ROUTE = (("type",), ("event", "type"))

TRIAGE_BUTTON = sorted(TRIAGE_ACTIONS)[0]  # they share one listener
SUBJECT = object()
"""A button whose value is the scenario's subject (the check or follow-up it is about)."""


def _button(
    name: str,
    action_id: str,
    value: str | object | None,
    *,
    fixture: str = "block_actions_slack_connect.json",
) -> Scenario:
    """A click on the bot's button `action_id`, carrying `value` (None: the button has none)."""

    def build(stage: Stage, subject: str) -> dict[str, Any]:
        carried = subject if value is SUBJECT else value
        assert carried is None or isinstance(carried, str)
        return _click(stage, fixture, action_id, carried)

    return Scenario(name, build, "payload", ACTION_ROUTE, _interaction_waits)


SCENARIOS = [
    Scenario("paste modal submitted", _check_submission, "payload", VIEW_ROUTE, _interaction_waits),
    Scenario(
        "escalation modal submitted",
        _escalation_submission,
        "payload",
        VIEW_ROUTE,
        _interaction_waits,
    ),
    _button("Paste the URL clicked", check_blocks.OPEN_CHECK_MODAL_ACTION, None),
    _button(
        "Escalate to support clicked",
        check_blocks.ESCALATE_ACTION,
        SUBJECT,
        fixture="block_actions_ephemeral_in_thread.json",
    ),
    _button("triage button clicked", TRIAGE_BUTTON, "escalation-id"),
    _button("Check a store clicked in the Home", HOME_CHECK_ACTION, None),
    Scenario(
        "message shortcut used",
        _shortcut,
        "payload",
        (("type",), ("callback_id",)),
        _interaction_waits,
    ),
    Scenario("slash command typed", _command, "command", (("command",),), lambda _: True),
    Scenario(
        "bot mentioned",
        _event("app_mention.json"),
        "event",
        EVENT_ROUTE,
        lambda body: _has(body, "event", "channel"),
    ),
    Scenario(
        "direct message written",
        _event("message_im.json"),
        "event",
        EVENT_ROUTE,
        lambda body: (
            all(_has(body, "event", key) for key in ("channel", "user"))
            and body["event"].get("channel_type") == "im"
        ),
    ),
    Scenario(
        "App Home opened",
        _event("app_home_opened_org_install.json", tab="home"),
        "event",
        EVENT_ROUTE,
        lambda body: _has(body, "event", "user") and body["event"].get("tab") == "home",
    ),
]
SCENARIOS += [
    Scenario(
        "workflow step executed",
        _step_executed,
        "event",
        (*EVENT_ROUTE, ("event", "function", "callback_id"), ("event", "function_execution_id")),
        lambda _: True,  # the workflow's run waits for the guide, or for why not
    ),
    Scenario(
        "secret pasted in a channel",
        _secret_in_channel,
        "event",
        (*EVENT_ROUTE, ("event", "channel_type")),
        lambda body: all(_has(body, "event", key) for key in ("user", "channel", "ts", "text")),
    ),
    *(
        _button(f"{action} clicked on a leak warning", action, "hold-id")
        for action in (CHECK_HELD_ACTION, PASTE_PRIVATELY_ACTION)
    ),
    _button("Watch until migration clicked", watch_blocks.WATCH_ACTION, SUBJECT),
    Scenario(
        "watch modal submitted",
        _watch_submission,
        "payload",
        VIEW_ROUTE,
        _interaction_waits,
    ),
    *(
        _button(f"{action} clicked under Did it help?", action, "escalation-id:1")
        for action in (FEEDBACK_YES_ACTION, FEEDBACK_STUCK_ACTION)
    ),
    _button("Stop the follow-up clicked", STOP_FOLLOW_UP_ACTION, SUBJECT),
    Scenario(
        "workflow step's Paste the URL clicked",
        _step_paste,
        "payload",
        ACTION_ROUTE,
        _interaction_waits,
    ),
]
SCENARIO = {scenario.name: scenario for scenario in SCENARIOS}


# Taking fields away.

Path = tuple[str | int, ...]


def _paths(data: object, prefix: Path = ()) -> list[Path]:
    """Every key of every object in `data`, as a path from its root."""
    found: list[Path] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _mutable(payload: dict[str, Any], routing: tuple[Path, ...]) -> list[Path]:
    """The fields to take away: all but what Bolt routes on, and, inside a block's layout (a
    label, a placeholder, rich text), only the block as a whole and its ID."""
    return [
        path
        for path in _paths(payload)
        if not any(route[: len(path)] == path for route in routing)
        and not any(
            path[i] == "blocks" and len(path) > i + 2 and path[i + 2] not in ("block_id", "type")
            for i in range(len(path))
        )
    ]


CHANGES = ["keep"] * 12 + ["remove", "rename", "null"]


def _mutate(payload: dict[str, Any], path: Path, how: str) -> None:
    parent: Any = payload
    for step in path[:-1]:
        if (isinstance(parent, dict) and step in parent) or (
            isinstance(parent, list) and isinstance(step, int) and step < len(parent)
        ):
            parent = parent[step]
        else:
            return  # gone with an earlier change
    key = path[-1]
    if how == "keep" or not isinstance(parent, dict) or key not in parent:
        return
    value = parent.pop(key)
    if how == "rename":
        parent[f"{key}_v0"] = value
    elif how == "null":
        parent[key] = None


def _drop_input_block(payload: dict[str, Any], index: int) -> None:
    """The modal as an earlier version of it would be: without one of its inputs."""
    view = payload.get("view")
    if not isinstance(view, dict) or not isinstance(view.get("blocks"), list):
        return
    inputs = [block for block in view["blocks"] if block.get("type") == "input"]
    if not inputs:
        return
    dropped = inputs[index % len(inputs)]
    view["blocks"].remove(dropped)
    values = (view.get("state") or {}).get("values")
    if isinstance(values, dict):
        values.pop(dropped.get("block_id"), None)


def _encoded(scenario: Scenario, payload: dict[str, Any]) -> tuple[bytes, str]:
    if scenario.delivery == "event":
        return json.dumps(payload).encode(), "application/json"
    if scenario.delivery == "command":
        fields = {key: "" if value is None else str(value) for key, value in payload.items()}
        return urllib.parse.urlencode(fields).encode(), FORM
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode(), FORM


async def dispatch(
    stage: Stage, body: bytes, content_type: str, *, gate: bool = True
) -> BoltResponse:
    """A signed request to the Bolt app, in-process, as the HTTP front hands it over: unless its
    gate acknowledges and ignores it (`incomplete`: not even a user to answer). Socket Mode
    has no such gate (`gate=False`)."""
    if gate and incomplete(body, content_type) is not None:
        return BoltResponse(status=200, body="")
    headers = {"Content-Type": content_type, **sign(body, stage.signing_secret)}
    request = AsyncBoltRequest(body=body.decode(), headers=headers)
    with stage.services.tasks.acknowledging():
        return await stage.app.async_dispatch(request)


async def recorded_check(stage: Stage) -> str:
    """A check in the history, for the escalation to be about."""
    user = stage.user("U0OWNER")
    await user.send_dm(stage.sandbox.collection_url("revoked"))
    await settle(stage)
    (check,) = await stage.services.database.checks_by_requester("U0OWNER", limit=1)
    return check.id


def _buttons(data: object, action_id: str) -> list[dict[str, Any]]:
    """Every element of `data` (blocks) whose action is `action_id`."""
    if isinstance(data, list):
        return [found for item in data for found in _buttons(item, action_id)]
    if not isinstance(data, dict):
        return []
    own = [data] if data.get("action_id") == action_id else []
    return own + [found for value in data.values() for found in _buttons(value, action_id)]


async def running_follow_up(stage: Stage) -> str:
    """A follow-up under way (a Free-plan store's answer offers one), for its Stop button."""
    await stage.user("U0OWNER").send_dm(stage.sandbox.collection_url("free_plan"))
    await settle(stage)
    buttons = [
        button
        for call in stage.slack.calls
        if call.method == "chat.postMessage"
        for button in _buttons(call.args.get("blocks"), STOP_FOLLOW_UP_ACTION)
    ]
    return str(buttons[-1]["value"])


@pytest.fixture
async def subject(stage: Stage, scenario: Scenario) -> str:
    """What the scenario's payload is about: a recorded check to escalate, a follow-up to stop;
    made once for all its examples."""
    if "escalation" in scenario.name or "watch" in scenario.name.lower():
        return await recorded_check(stage)
    if "follow-up" in scenario.name:
        return await running_follow_up(stage)
    return "check-id"


def what_slack_got(stage: Stage, since: int, ack: BoltResponse) -> list[tuple[str, str]]:
    sent = [(call.method, json.dumps(call.args)) for call in stage.slack.calls[since:]]
    return [("ack", ack.body or ""), *sent]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow "explain"
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_a_payload_without_what_its_listener_reads_gets_an_answer_never_a_500(
    stage: Stage, scenario: Scenario, subject: str, data: st.DataObject
) -> None:
    payload = scenario.build(stage, subject)
    # Each field in turn is kept or, now and then, removed, renamed or set to null.
    for path in _mutable(payload, scenario.routing):
        _mutate(payload, path, data.draw(st.sampled_from(CHANGES), label=repr(path)))
    if scenario.delivery == "payload" and data.draw(st.booleans(), label="earlier version"):
        _drop_input_block(payload, data.draw(st.integers(0, 3), label="its missing input"))
    since = len(stage.slack.calls)

    delivered = _encoded(scenario, payload)
    response = await dispatch(stage, *delivered)
    await settle(stage)

    assert response.status == 200, (response.status, response.body)
    sent = what_slack_got(stage, since, response)
    leaks = [(method, text) for method, text in sent if LEAKS.search(text)]
    assert leaks == []
    if incomplete(*delivered) is None and scenario.waiting(payload):
        answered = [method for method, text in sent if method in ANSWERS or text.strip()]
        assert answered, f"nobody answered: {json.dumps(payload)[:600]}"


# The cases seen in the field, one by one.


def _ack_errors(response: BoltResponse) -> dict[str, str]:
    body = json.loads(response.body)
    assert body["response_action"] == "errors"
    errors = body["errors"]
    assert isinstance(errors, dict)
    return errors


async def test_an_escalation_modal_from_before_the_goal_was_asked_gets_an_inline_error(
    stage: Stage,
) -> None:
    payload = _escalation_submission(stage, await recorded_check(stage))
    _drop_input_block(payload, 0)  # the goal: the first input

    response = await dispatch(stage, *_encoded(SCENARIO["escalation modal submitted"], payload))
    await settle(stage)

    assert response.status == 200
    errors = _ack_errors(response)
    blocks = {block["block_id"] for block in payload["view"]["blocks"]}
    assert set(errors) <= blocks
    assert list(errors.values()) == [FORM_OUT_OF_DATE]
    assert stage.slack.messages(SUPPORT) == []


async def test_a_modal_without_any_input_is_closed_and_told_privately_to_open_it_again(
    stage: Stage,
) -> None:
    payload = _escalation_submission(stage, await recorded_check(stage))
    payload["view"]["blocks"] = []
    payload["view"]["state"] = {"values": {}}
    since = len(stage.slack.calls)

    response = await dispatch(stage, *_encoded(SCENARIO["escalation modal submitted"], payload))
    await settle(stage)

    assert response.status == 200
    assert not response.body  # the modal closes
    (told,) = [c for c in stage.slack.calls[since:] if c.method == "chat.postMessage"]
    assert told.args["channel"] == "W111"  # the bot's DM with who submitted
    assert told.args["text"] == support_blocks.ESCALATION_FORM_UNREADABLE


async def test_a_paste_modal_without_state_gets_an_inline_error_and_nothing_is_checked(
    stage: Stage,
) -> None:
    payload = _check_submission(stage, "")
    del payload["view"]["state"]

    response = await dispatch(stage, *_encoded(SCENARIO["paste modal submitted"], payload))
    await settle(stage)

    assert _ack_errors(response) == {check_blocks.URL_BLOCK: FORM_OUT_OF_DATE}
    assert await stage.services.database.checks_by_requester("W111", limit=1) == []


async def test_a_triage_button_without_its_value_is_acknowledged_and_explained(
    stage: Stage,
) -> None:
    payload = _click(stage, "block_actions_slack_connect.json", TRIAGE_BUTTON, "escalation-id")
    del payload["actions"][0]["value"]
    since = len(stage.slack.calls)

    response = await dispatch(stage, *_encoded(SCENARIO["triage button clicked"], payload))
    await settle(stage)

    assert response.status == 200
    (told,) = [c for c in stage.slack.calls[since:] if c.method == "response_url"]
    assert told.args["text"] == support_blocks.TRIAGE_WITHOUT_ESCALATION
    assert told.args["response_type"] == "ephemeral"


async def test_an_escalate_button_without_its_check_is_explained(stage: Stage) -> None:
    payload = _click(
        stage, "block_actions_ephemeral_in_thread.json", check_blocks.ESCALATE_ACTION, None
    )
    since = len(stage.slack.calls)

    await dispatch(stage, *_encoded(SCENARIO["Escalate to support clicked"], payload))
    await settle(stage)

    (told,) = [c for c in stage.slack.calls[since:] if c.method == "response_url"]
    assert told.args["text"] == support_blocks.ESCALATE_WITHOUT_CHECK
    assert not [c for c in stage.slack.calls[since:] if c.method == "views.open"]


async def test_a_mention_without_a_channel_is_logged_and_ignored(
    stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    payload = _event("app_mention.json")(stage, "")
    del payload["event"]["channel"]
    since = len(stage.slack.calls)

    response = await dispatch(stage, *_encoded(SCENARIO["bot mentioned"], payload))
    await settle(stage)

    assert response.status == 200
    assert [c.method for c in stage.slack.calls[since:] if c.method in ANSWERS] == []
    assert "app_mention without a channel ignored" in caplog.text


async def test_in_socket_mode_a_command_without_its_channel_is_answered_in_the_ack(
    stage: Stage,
) -> None:
    payload = _command(stage, "")
    del payload["channel_id"]

    response = await dispatch(
        stage, *_encoded(SCENARIO["slash command typed"], payload), gate=False
    )

    assert response.status == 200
    assert CLICK_AGAIN in (response.body or "")


async def test_over_http_an_escalation_form_from_an_earlier_version_is_no_500(
    stage: Stage,
) -> None:
    """Through the request gate and the HTTP front, as Slack delivers it."""
    payload = _escalation_submission(stage, await recorded_check(stage))
    _drop_input_block(payload, 0)
    user = stage.user("W111")

    response = await user.send_payload(copy.deepcopy(payload))

    assert response.status_code == 200
    assert response.json()["errors"] == {support_blocks.URGENCY_BLOCK: FORM_OUT_OF_DATE}


async def test_canary_a_paste_in_a_form_it_cannot_read_goes_nowhere(
    stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    """A paste modal from an earlier version, its URL in an input this version does not know:
    refused, and the paste appears in nothing sent to Slack, logged or recorded."""
    url = stage.sandbox.collection_url("connected")
    token = stage.sandbox.store("connected").token
    payload = _check_submission(stage, "")
    values = payload["view"]["state"]["values"]
    values["collection_url_v0"] = values.pop(check_blocks.URL_BLOCK)
    since = len(stage.slack.calls)

    response = await dispatch(stage, *_encoded(SCENARIO["paste modal submitted"], payload))
    await settle(stage)

    assert _ack_errors(response) == {check_blocks.URL_BLOCK: FORM_OUT_OF_DATE}
    sent = json.dumps([call.args for call in stage.slack.calls[since:]]) + (response.body or "")
    for secret in (url, token):
        assert secret not in sent
        assert secret not in caplog.text
    assert await stage.services.database.checks_by_requester("W111", limit=1) == []
