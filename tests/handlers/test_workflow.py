"""The Workflow Builder step "Check Ecwid connection", over signed HTTP: Slack's `function_executed`
(tests/fixtures/slack/function_executed.json) reaches the running bot, the store owner pastes in
the modal, and the Slack stand-in records how the execution ended."""

from __future__ import annotations

import copy
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.journal import Answer, JournalEntry
from bot.db.models import Base, StepExecutionRow
from bot.db.steps import StepOutputs, StepState
from bot.db.vault import new_key
from bot.destination import Destination, EntryPoint
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.stores import sample_stores
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from bot.sandbox.slack.workspace import APP_ID, FunctionExecution
from bot.sandbox.stage import Stage
from bot.slack.app import slack_client
from bot.slack.posting import PROBLEM
from bot.slack.steps import WorkflowSteps
from handlers.blocks.common import mrkdwn_section
from handlers.blocks.workflow import STEP_PASTE_ACTION
from handlers.workflow import CHANNEL_INPUT, PERSON_INPUT, STEP_CALLBACK
from tests.handlers.test_bot import settle, text_of, url_values
from tests.handlers.test_follow_ups import until, upgrade
from tests.paths import FIXTURES
from tests.stage import migrated_stage

INTAKE = "C0INTAKE"


def bot_client(stage: Stage) -> AsyncWebClient:
    """A client with the bot's own token, as a process that took work over has."""
    return slack_client(stage.settings)


async def untouched_for(stage: Stage, execution_id: str, seconds: float) -> None:
    """Make the execution's row look left alone for `seconds` (its process gone)."""
    async with stage.services.database.engine.begin() as connection:
        await connection.execute(
            sa.update(StepExecutionRow)
            .where(StepExecutionRow.execution_id == execution_id)
            .values(updated_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )


def function_executed(slack: FakeSlack, execution: FunctionExecution) -> dict[str, Any]:
    """Slack's recorded `function_executed` body, for the stand-in's `execution`."""
    body: dict[str, Any] = json.loads(
        (FIXTURES / "slack" / "function_executed.json").read_text(encoding="utf-8")
    )
    body = copy.deepcopy(body)
    body.update(team_id=slack.team_id, api_app_id=APP_ID, event_id=f"Ev{secrets.token_hex(5)}")
    body["event"].update(
        inputs=execution.inputs,
        function_execution_id=execution.id,
        bot_access_token=execution.bot_access_token,
    )
    return body


def as_org_wide(body: dict[str, Any], enterprise_id: str) -> dict[str, Any]:
    """`body` as an org-wide install receives it: the authorization names the organisation."""
    authorization = body["authorizations"][0]
    authorization.update(enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True)
    return body | {"enterprise_id": enterprise_id}


async def run_step(
    stage: Stage, owner: SlackUser, inputs: dict[str, Any]
) -> tuple[FunctionExecution, dict[str, Any]]:
    execution = stage.slack.start_function_execution(STEP_CALLBACK, inputs)
    body = function_executed(stage.slack, execution)
    if owner.enterprise_id is not None:
        body = as_org_wide(body, owner.enterprise_id)
    response = await owner.send_event_body(body)
    assert response.status_code == 200
    await settle(stage)
    return execution, body


def inputs_for(owner: SlackUser, channel: str | None = INTAKE) -> dict[str, Any]:
    return {PERSON_INPUT: owner.user_id} | ({CHANNEL_INPUT: channel} if channel else {})


def guide_in(stage: Stage, channel: str) -> dict[str, Any]:
    (guide,) = [m for m in stage.slack.messages(channel) if "thread_ts" not in m]
    return guide


async def paste(stage: Stage, owner: SlackUser, clicked: dict[str, Any], key: str) -> str:
    """Click the step's button on `clicked` (a message or the App Home), paste `key`'s URL."""
    since = len(stage.slack.calls)
    await owner.click_button(clicked, STEP_PASTE_ACTION)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    assert opened.response["ok"], opened.response
    view_id = str(opened.response["view"]["id"])
    await owner.submit_view(view_id, url_values(stage, key))
    await settle(stage)
    return view_id


async def step_checked(
    stage: Stage, owner: SlackUser, key: str, channel: str | None = INTAKE
) -> tuple[FunctionExecution, dict[str, Any]]:
    """The step run for `owner` (guide in `channel`, else their DM), `key`'s URL pasted from the
    guide: the execution, and the outputs it completed with."""
    execution, _ = await run_step(stage, owner, inputs_for(owner, channel))
    await paste(stage, owner, guide_in(stage, channel or stage.slack.open_dm(owner.user_id)), key)
    outputs = stage.slack.execution(execution.id).outputs
    assert outputs is not None
    return execution, outputs


async def test_a_working_store_completes_the_step_connected_with_a_link_to_the_answer(
    stage: Stage, owner: SlackUser
) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    guide = guide_in(stage, INTAKE)
    assert f"<@{owner.user_id}>" in text_of(guide)
    assert stage.slack.execution(execution.id).state == "running"  # waiting on the owner

    await paste(stage, owner, guide, "connected")

    done = stage.slack.execution(execution.id)
    assert done.state == "completed"
    assert done.outputs is not None
    (answer,) = [m for m in stage.slack.messages(INTAKE, guide["ts"]) if m["ts"] != guide["ts"]]
    assert CATALOGUE[Diagnosis.OK].title in text_of(answer)
    (permalink,) = stage.slack.calls_to("chat.getPermalink")
    assert (permalink.args["channel"], permalink.args["message_ts"]) == (INTAKE, answer["ts"])
    assert done.outputs == {
        "connected": True,
        "diagnosis": "ok",
        "store_id": str(stage.sandbox.store("connected").store_id),
        "check_permalink": permalink.response["permalink"],
    }
    assert f"thread_ts={guide['ts']}" in done.outputs["check_permalink"]


async def test_a_free_plan_store_completes_the_step_not_connected(
    stage: Stage, owner: SlackUser
) -> None:
    _, outputs = await step_checked(stage, owner, "free_plan")

    assert (outputs["connected"], outputs["diagnosis"]) == (False, "plan_free")
    assert outputs["store_id"] == str(stage.sandbox.store("free_plan").store_id)


async def test_every_call_for_the_step_uses_the_executions_token(
    stage: Stage, owner: SlackUser
) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    await paste(stage, owner, guide_in(stage, INTAKE), "connected")

    for method in ("chat.postMessage", "views.open", "functions.completeSuccess"):
        tokens = {call.token for call in stage.slack.calls_to(method)}
        assert tokens == {execution.bot_access_token}, method


@pytest.mark.parametrize(
    "inputs", [{}, {PERSON_INPUT: ""}, {CHANNEL_INPUT: INTAKE}], ids=["none", "blank", "channel"]
)
async def test_a_step_without_a_store_owner_ends_with_an_error_saying_what_to_set(
    stage: Stage, owner: SlackUser, inputs: dict[str, Any]
) -> None:
    execution, _ = await run_step(stage, owner, inputs)

    ended = stage.slack.execution(execution.id)
    assert ended.state == "failed"
    assert ended.error is not None
    assert "“Store owner”" in ended.error
    assert stage.slack.calls_to("chat.postMessage") == []


async def test_a_store_owner_not_in_the_workspace_ends_the_step_with_an_error(
    stage: Stage, owner: SlackUser
) -> None:
    stage.slack.remove_user("U0GONE")
    execution, _ = await run_step(stage, owner, {PERSON_INPUT: "U0GONE"})

    ended = stage.slack.execution(execution.id)
    assert ended.state == "failed"
    assert ended.error is not None
    assert "U0GONE" in ended.error
    assert "not a member" in ended.error
    assert stage.slack.calls_to("chat.postMessage") == []


async def test_a_retried_function_executed_posts_the_guide_once(
    stage: Stage, owner: SlackUser
) -> None:
    execution, body = await run_step(stage, owner, inputs_for(owner))
    for retry in (1, 2):
        retried = {**body, "event_id": f"Ev{secrets.token_hex(5)}"}  # a new delivery
        assert (await owner.send_event_body(retried, retry_num=retry)).status_code == 200
    await settle(stage)

    assert len(stage.slack.calls_to("chat.postMessage")) == 1
    assert len(await stage.services.steps.executions.waiting(owner.user_id)) == 1
    assert stage.slack.execution(execution.id).state == "running"


@pytest.mark.parametrize("channel", [INTAKE, None], ids=["channel", "dm"])
async def test_a_guide_slack_applied_before_the_connection_dropped_is_posted_once(
    stage: Stage, owner: SlackUser, channel: str | None
) -> None:
    stage.slack.drop_next("chat.postMessage", applied=True)
    execution, _ = await run_step(stage, owner, inputs_for(owner, channel))

    where = channel or stage.slack.open_dm(owner.user_id)
    guide = guide_in(stage, where)  # exactly one
    assert stage.slack.execution(execution.id).state == "running"
    await paste(stage, owner, guide, "connected")
    assert stage.slack.execution(execution.id).state == "completed"


async def test_without_a_channel_the_guide_goes_to_the_owners_dm(
    stage: Stage, owner: SlackUser
) -> None:
    dm = stage.slack.open_dm(owner.user_id)
    _, outputs = await step_checked(stage, owner, "connected", channel=None)

    assert outputs["connected"] is True
    assert f"/archives/{dm}/" in outputs["check_permalink"]


async def test_a_channel_the_bot_is_not_in_sends_the_guide_to_the_dm_saying_so(
    stage: Stage, owner: SlackUser
) -> None:
    stage.slack.set_channel_members(INTAKE, [owner.user_id])  # the bot is not in it
    dm = stage.slack.open_dm(owner.user_id)
    execution, _ = await run_step(stage, owner, inputs_for(owner))

    guide = guide_in(stage, dm)
    assert f"could not post in <#{INTAKE}>" in text_of(guide)
    assert stage.slack.execution(execution.id).state == "running"


async def test_a_store_owner_not_in_the_channel_gets_the_guide_in_the_dm_saying_so(
    stage: Stage, owner: SlackUser
) -> None:
    stage.slack.set_channel_members(INTAKE, [stage.slack.bot_user_id, "U0SOMEONE"])
    dm = stage.slack.open_dm(owner.user_id)
    execution, _ = await run_step(stage, owner, inputs_for(owner))

    assert stage.slack.messages(INTAKE) == []
    guide = guide_in(stage, dm)
    assert f"You are not in <#{INTAKE}>" in text_of(guide)
    await paste(stage, owner, guide, "connected")
    assert stage.slack.execution(execution.id).state == "completed"


async def test_a_store_owner_nobody_can_reach_ends_the_step_with_an_error(
    stage: Stage, owner: SlackUser
) -> None:
    stage.slack.fail_next("chat.postMessage", error="not_in_channel")  # the channel
    stage.slack.fail_next("chat.postMessage", error="cannot_dm_bot")  # then the DM
    execution, _ = await run_step(stage, owner, inputs_for(owner))

    ended = stage.slack.execution(execution.id)
    assert ended.state == "failed"
    assert ended.error is not None
    assert INTAKE in ended.error


async def test_only_the_store_owner_may_paste_for_the_step(stage: Stage, owner: SlackUser) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    colleague = stage.user("U0COLLEAGUE", "sam")
    since = len(stage.slack.calls)

    await colleague.click_button(guide_in(stage, INTAKE), STEP_PASTE_ACTION)
    await settle(stage)

    calls = stage.slack.calls[since:]
    assert "views.open" not in [call.method for call in calls]
    (told,) = [call for call in calls if call.method == "response_url"]
    assert "only they can paste" in text_of(told.args)
    assert stage.slack.execution(execution.id).state == "running"


async def test_a_second_check_from_the_guide_is_answered_and_leaves_the_outputs(
    stage: Stage, owner: SlackUser
) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    guide = guide_in(stage, INTAKE)
    await paste(stage, owner, guide, "free_plan")
    await paste(stage, owner, guide, "connected")  # fixed, and checked again

    replies = [m for m in stage.slack.messages(INTAKE, guide["ts"]) if m["ts"] != guide["ts"]]
    assert CATALOGUE[Diagnosis.OK].title in text_of(replies[-1])
    assert len(stage.slack.calls_to("functions.completeSuccess")) == 1
    outputs = stage.slack.execution(execution.id).outputs
    assert outputs is not None
    assert outputs["diagnosis"] == "plan_free"


async def test_the_app_home_lists_the_steps_waiting_on_the_person_and_pastes_from_there(
    stage: Stage, owner: SlackUser
) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    dm = stage.slack.open_dm(owner.user_id)
    await owner.send_event(
        {"type": "app_home_opened", "user": owner.user_id, "channel": dm, "tab": "home"}
    )
    await settle(stage)
    (publish,) = stage.slack.calls_to("views.publish")
    home = publish.response["view"]
    assert "Workflows waiting for your store's URL (1)" in text_of(home)

    await paste(stage, owner, home, "connected")

    outputs = stage.slack.execution(execution.id).outputs
    assert outputs is not None
    assert outputs["connected"] is True
    guide = guide_in(stage, INTAKE)
    replies = stage.slack.messages(INTAKE, guide["ts"])
    assert len(replies) == 2  # the answer went to the guide's thread
    # The modal was opened from the Home, outside the execution: its completion still uses the
    # execution's token, which the process kept from `function_executed`.
    (completion,) = stage.slack.calls_to("functions.completeSuccess")
    assert completion.token == execution.bot_access_token
    assert await stage.services.steps.executions.waiting(owner.user_id) == []


async def test_a_step_its_process_left_unfinished_is_completed_by_any_process(
    stage: Stage, owner: SlackUser
) -> None:
    """The check ended and its answer is in Slack, but its process died before completing the
    step: the row in the database is enough for the journal's round to complete it."""
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    steps = stage.services.steps.executions
    guide = guide_in(stage, INTAKE)
    answer = await bot_client(stage).chat_postMessage(
        channel=INTAKE, thread_ts=guide["ts"], text="(an answer)"
    )
    outputs = StepOutputs(connected=True, diagnosis="ok", store_id="1003")
    assert await steps.checked(execution.id, "check-1", outputs)
    assert await steps.delivered(execution.id, INTAKE, str(answer["ts"]))
    await stage.services.journal_round()
    assert stage.slack.execution(execution.id).state == "running"  # its process may be at it

    await untouched_for(stage, execution.id, stage.settings.check_lease_s + 1)
    # This round, or the bot's own if it came first (the claim lets only one of them at it).
    await stage.services.journal_round()

    async def completed() -> bool:
        row = await steps.get(execution.id)
        return row is not None and row.state is StepState.COMPLETED

    await until(completed, "the step's row completed")
    done = stage.slack.execution(execution.id)
    assert done.state == "completed"
    assert done.outputs is not None
    assert done.outputs["store_id"] == "1003"
    assert str(answer["ts"]).replace(".", "") in done.outputs["check_permalink"]
    assert len(stage.slack.calls_to("functions.completeSuccess")) == 1


async def test_an_answer_recovered_after_a_crash_completes_the_step(
    stage: Stage, owner: SlackUser
) -> None:
    """A check journaled with its answer, taken over from a dead process: delivering it
    completes the step, whose ID the journal kept in the check's destination."""
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    guide = guide_in(stage, INTAKE)
    destination = Destination(
        channel=INTAKE,
        thread_ts=guide["ts"],
        requester=owner.user_id,
        entry=EntryPoint.WORKFLOW,
        step=execution.id,
    )
    assert Destination.from_metadata(destination.to_metadata()) == destination
    steps = stage.services.steps.executions
    await steps.checked(
        execution.id, "check-1", StepOutputs(connected=False, diagnosis="plan_free")
    )
    journal = stage.services.journal
    entry_id = await journal.accept(destination, None)
    text = "Not connected yet: the store is on the Free plan."
    answer = Answer(text, [mrkdwn_section(text).to_dict()], reaction=PROBLEM)
    await journal.answered(entry_id, answer)

    entry = JournalEntry(entry_id, destination, None, None, answer, attempts=1)
    await stage.services.answers.resume(entry)

    done = stage.slack.execution(execution.id)
    assert done.state == "completed"
    assert done.outputs is not None
    assert done.outputs["diagnosis"] == "plan_free"


async def test_canary_no_secret_in_the_steps_outputs_calls_logs_or_rows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stores = sample_stores(seed="canary-workflow")
    keys = ["connected", "free_plan", "revoked", "token_echo"]
    with caplog.at_level(logging.DEBUG):
        async with migrated_stage(stores, credentials_key=new_key()) as stage:
            owner = stage.user()
            outputs = []
            execution_tokens = []
            for number, key in enumerate(keys):
                execution, completed = await step_checked(stage, owner, key, f"C0CANARY{number}")
                outputs.append(completed)
                execution_tokens.append(execution.bot_access_token)
            urls = [stage.sandbox.collection_url(key) for key in keys]
            seen_by_slack = "\n".join(json.dumps(call.args) for call in stage.slack.calls)
            stored = ""
            async with stage.services.database.engine.connect() as connection:
                for table in Base.metadata.sorted_tables:
                    stored += repr((await connection.execute(sa.select(table))).all())

    assert "functions.completeSuccess" in {call.method for call in stage.slack.calls}
    everything = json.dumps(outputs) + seen_by_slack + caplog.text + stored
    for store in stores:
        assert store.token not in everything
        assert store.collection_name not in everything
    for url in urls:
        assert url not in everything
    # Slack's token for an execution is the bot's for that run: never written, never logged.
    for token in execution_tokens:
        assert token.startswith("xwfp-")
        assert token not in json.dumps(outputs) + caplog.text + stored


def recorded_click(
    stage: Stage, owner: SlackUser, execution: FunctionExecution, guide: dict[str, Any]
) -> dict[str, Any]:
    """Slack's recorded click inside a step (tests/fixtures/slack/block_actions_function.json)
    on the guide's button, with the stand-in's trigger, response URL and execution."""
    click: dict[str, Any] = json.loads(
        (FIXTURES / "slack" / "block_actions_function.json").read_text(encoding="utf-8")
    )
    (button,) = [
        element
        for block in guide["blocks"]
        for element in block.get("elements") or ()
        if element.get("action_id") == STEP_PASTE_ACTION
    ]
    click["user"] |= {"id": owner.user_id, "team_id": stage.slack.team_id}
    click["container"] |= {"message_ts": guide["ts"], "channel_id": INTAKE}
    click["channel"] = {"id": INTAKE, "name": "intake"}
    click["actions"][0] |= {"action_id": STEP_PASTE_ACTION, "value": button["value"]}
    click["function_data"] |= {"execution_id": execution.id, "inputs": execution.inputs}
    click["bot_access_token"] = execution.bot_access_token
    click["trigger_id"] = stage.slack.issue_trigger_id(owner.user_id)
    click["response_url"] = stage.slack.new_response_url(
        channel=INTAKE, user=owner.user_id, message_ts=guide["ts"]
    )
    return click


async def test_slacks_recorded_click_inside_the_step_opens_the_modal_for_the_execution(
    stage: Stage, owner: SlackUser
) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    since = len(stage.slack.calls)

    response = await owner.send_payload(
        recorded_click(stage, owner, execution, guide_in(stage, INTAKE))
    )

    assert response.status_code == 200
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open", since=since)
    assert opened.token == execution.bot_access_token
    metadata = Destination.from_metadata(opened.response["view"]["private_metadata"])
    assert metadata.step == execution.id
    assert metadata.thread_ts == guide_in(stage, INTAKE)["ts"]


async def test_a_step_button_whose_value_is_not_the_steps_is_answered_out_of_date(
    stage: Stage, owner: SlackUser
) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    click = recorded_click(stage, owner, execution, guide_in(stage, INTAKE))
    click["actions"][0]["value"] = "click_me_123"  # the recording's own value

    await owner.send_payload(click)
    await settle(stage)

    (told,) = stage.slack.calls_to("response_url")
    assert "out of date" in text_of(told.args)
    assert stage.slack.calls_to("views.open") == []


async def test_a_completion_slack_fails_is_made_again_by_a_later_round(
    stage: Stage, owner: SlackUser
) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    stage.slack.fail_next("functions.completeSuccess", status=500, times=3)  # past the retries
    await paste(stage, owner, guide_in(stage, INTAKE), "connected")
    assert stage.slack.execution(execution.id).state == "running"
    row = await stage.services.steps.executions.get(execution.id)
    assert row is not None
    assert row.state is StepState.CHECKED

    await untouched_for(stage, execution.id, stage.settings.check_lease_s + 1)
    await stage.services.journal_round()

    outputs = stage.slack.execution(execution.id).outputs
    assert outputs is not None
    assert outputs["connected"] is True


async def test_a_completion_whose_record_failed_is_recorded_completed_by_a_later_round(
    stage: Stage, owner: SlackUser
) -> None:
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    engine = stage.services.database.engine

    async def rename(old: str, new: str) -> None:
        async with engine.begin() as connection:
            await connection.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))

    # Slack completes the step; the database fails before the bot has recorded that.
    gate = stage.slack.hold("functions.completeSuccess")
    await owner.click_button(guide_in(stage, INTAKE), STEP_PASTE_ACTION)
    opened = await stage.slack.wait_for(lambda call: call.method == "views.open")
    await owner.submit_view(str(opened.response["view"]["id"]), url_values(stage, "connected"))
    await until(lambda: stage.slack.held("functions.completeSuccess") > 0, "the completion")
    await rename("step_executions", "step_executions_away")
    try:
        gate.set()
        await until(lambda: stage.slack.execution(execution.id).state == "completed", "done")
        await settle(stage)
    finally:
        await rename("step_executions_away", "step_executions")
    row = await stage.services.steps.executions.get(execution.id)
    assert row is not None
    assert row.state is StepState.CHECKED

    # The next round completes it again; Slack answers that it is completed already.
    await untouched_for(stage, execution.id, stage.settings.check_lease_s + 1)
    await stage.services.journal_round()

    row = await stage.services.steps.executions.get(execution.id)
    assert row is not None
    assert row.state is StepState.COMPLETED
    assert row.outputs is not None
    assert row.outputs.connected is True
    assert stage.slack.execution(execution.id).state == "completed"


async def test_a_follow_up_that_later_connects_is_posted_and_the_step_keeps_its_outputs() -> None:
    async with migrated_stage(
        credentials_key=new_key(),
        follow_up_every_s=0.3,
        follow_up_for_h=3 / 3600,
        check_lease_s=3,
        token_cooldown_s=0.1,
    ) as stage:
        owner = stage.user()
        execution, outputs = await step_checked(stage, owner, "free_plan")
        assert outputs["diagnosis"] == "plan_free"
        guide = guide_in(stage, INTAKE)

        upgrade(stage, "free_plan")
        await until(lambda: len(stage.slack.messages(INTAKE, guide["ts"])) == 3, "good news")

        assert "Good news: it works now" in text_of(stage.slack.messages(INTAKE, guide["ts"])[-1])
        assert len(stage.slack.calls_to("functions.completeSuccess")) == 1
        assert stage.slack.execution(execution.id).outputs == outputs


async def test_a_process_that_never_saw_the_step_start_completes_it_with_its_token(
    stage: Stage, owner: SlackUser
) -> None:
    """Another replica got `function_executed`: the click and the form carry the execution's
    token, which the completion uses whatever client delivers the answer."""
    execution, _ = await run_step(stage, owner, inputs_for(owner))
    fresh = WorkflowSteps(
        stage.services.steps.executions, quiet_for=timedelta(seconds=stage.settings.check_lease_s)
    )
    stage.services.steps = stage.services.answers.steps = fresh

    await paste(stage, owner, guide_in(stage, INTAKE), "connected")

    (completion,) = stage.slack.calls_to("functions.completeSuccess")
    assert completion.token == execution.bot_access_token
    client = stage.services.steps.client_for(bot_client(stage), execution.id)
    assert client.token == stage.settings.slack_bot_token.get_secret_value()  # done: forgotten
