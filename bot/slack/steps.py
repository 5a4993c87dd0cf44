"""Completing the Workflow Builder step: its outputs to Slack once the person's check has ended.

A check started from the step carries the execution's ID in its `Destination.step`. When the
check ends, its outputs are written to the execution's row (`check_ended`); once its answer is in
the thread, the answer's permalink joins them and `functions.completeSuccess` ends the step
(`answer_delivered`). Both are bookkeeping after the person's answer: they log, never raise. A
process that dies in between leaves the row `checked`; every process's journal round completes
such rows (`complete_stale`), so completion never depends on the process that ran the check.

Calls for an execution use the token Slack gave for it (`bot_access_token`) when this process
has seen one (Bolt puts it on the listener's client; `remember_token` keeps it for calls made
with the bot's own client), else the bot token: the token is never written anywhere.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.steps import StepExecution, StepExecutions, StepOutputs, StepState
from bot.destination import Destination
from bot.engine.report import CheckReport
from bot.slack.posting import permalink

logger = logging.getLogger(__name__)

# An answer still not posted this long after its check ended (Slack refused it for minutes, or
# its process died before posting and nobody could redeliver it): the step completes with a link
# to the guide's thread instead of waiting for it.
ANSWER_PATIENCE = timedelta(minutes=15)
# Slack's answers that say "not now" rather than "never" (after the client's own retries).
PASSING_ERRORS = frozenset(
    {"ratelimited", "internal_error", "service_unavailable", "request_timeout"}
)
# Slack's answer to a completion of an execution it has ended already: for a row still
# `checked`, an earlier completion that Slack applied and the database did not record.
ALREADY_ENDED = frozenset({"execution_not_in_running_state"})
# Tokens of executions still waiting are remembered up to this many (the oldest make way: a
# step completed without its token uses the bot's).
TOKENS_KEPT = 10_000


class WorkflowSteps:
    """The step's executions and their completion, for one process."""

    def __init__(self, executions: StepExecutions, *, quiet_for: timedelta) -> None:
        self.executions = executions
        self._quiet_for = quiet_for
        self._tokens: dict[str, str] = {}

    def remember_token(self, execution_id: str, token: str | None) -> None:
        """Slack's token for `execution_id` (from `function_executed` or a click inside it)."""
        if not token:
            return
        self._tokens.pop(execution_id, None)
        self._tokens[execution_id] = token
        while len(self._tokens) > TOKENS_KEPT:
            del self._tokens[next(iter(self._tokens))]

    def client_for(self, client: AsyncWebClient, execution_id: str) -> AsyncWebClient:
        """`client`, or a copy of it holding the execution's token when this process knows it
        and `client` holds another (the bot's own)."""
        token = self._tokens.get(execution_id)
        if token is None or client.token == token:
            return client
        return AsyncWebClient(
            token=token,
            base_url=client.base_url,
            timeout=client.timeout,
            session=client.session,
            retry_handlers=list(client.retry_handlers),
            logger=client.logger,
        )

    async def check_ended(
        self, destination: Destination, report: CheckReport, check_id: str
    ) -> None:
        """A check asked for by a step ended: its outputs, kept until the step completes."""
        if destination.step is None:
            return
        try:
            first = await self.executions.checked(
                destination.step, check_id, StepOutputs.of(report)
            )
        except Exception:
            logger.exception("could not keep the outputs of workflow step %s", destination.step)
            return
        if not first:
            logger.info(
                "check %s ended after step %s had its outputs: posted only",
                check_id,
                destination.step,
            )

    async def answer_delivered(
        self, client: AsyncWebClient, destination: Destination, ts: str | None
    ) -> None:
        """The answer of a step's check is in its thread (`ts`; None when it went through the
        response URL): complete the step with the answer's permalink."""
        if destination.step is None:
            return
        try:
            if ts is not None:
                await self.executions.delivered(destination.step, destination.channel, ts)
            execution = await self.executions.get(destination.step)
            if execution is not None:
                await self.complete(client, execution)
        except SlackApiError as error:
            # The row stays `checked`: a journal round completes it.
            logger.warning(
                "Slack could not take the completion of workflow step %s now (%s): retried later",
                destination.step,
                error.response.get("error") or error.response.status_code,
            )
        except Exception:
            logger.exception(
                "could not complete workflow step %s (retried later)", destination.step
            )

    async def complete(self, client: AsyncWebClient, execution: StepExecution) -> None:
        """`functions.completeSuccess` with the kept outputs and the answer's permalink (the
        guide's thread while the answer's place is unknown)."""
        if execution.state is not StepState.CHECKED or execution.outputs is None:
            return  # no check has ended yet (the step waits on the person), or it is over
        client = self.client_for(client, execution.execution_id)
        permalink = await _permalink(client, execution)
        outputs = execution.outputs.with_permalink(permalink)
        try:
            await client.functions_completeSuccess(
                function_execution_id=execution.execution_id, outputs=outputs.to_json()
            )
        except SlackApiError as error:
            refusal = str(error.response.get("error") or "")
            if error.response.status_code >= 500 or refusal in PASSING_ERRORS:
                raise  # Slack's bad moment: the row stays `checked` for a later round
            if refusal not in ALREADY_ENDED:
                logger.warning(
                    "Slack refused to complete workflow step %s: %s",
                    execution.execution_id,
                    refusal,
                )
                await self.executions.failed(
                    execution.execution_id, f"Slack refused the completion: {refusal}"
                )
                return
            logger.info(
                "workflow step %s was completed already (%s): recorded so",
                execution.execution_id,
                refusal,
            )
        await self.executions.completed(execution.execution_id, outputs)
        self._tokens.pop(execution.execution_id, None)
        logger.info("workflow step %s completed: %s", execution.execution_id, outputs.diagnosis)

    async def fail(self, client: AsyncWebClient, execution_id: str, error: str) -> None:
        """End the execution with `error` (`functions.completeError`): the workflow builder
        reads it in the workflow's activity."""
        client = self.client_for(client, execution_id)
        try:
            await client.functions_completeError(function_execution_id=execution_id, error=error)
        except SlackApiError as refusal:
            logger.warning(
                "Slack refused to end workflow step %s with an error: %s",
                execution_id,
                refusal.response.get("error"),
            )
        await self.executions.failed(execution_id, error)
        self._tokens.pop(execution_id, None)

    async def complete_stale(self, client: AsyncWebClient) -> int:
        """Complete the checked executions whose process stopped before completing them; how
        many were. An answer not in Slack yet is given `ANSWER_PATIENCE` to arrive."""
        completed = 0
        for execution in await self.executions.claim_stale(self._quiet_for, ANSWER_PATIENCE):
            try:
                await self.complete(client, execution)
            except Exception:
                logger.exception("could not complete workflow step %s", execution.execution_id)
            else:
                completed += 1
        return completed


async def _permalink(client: AsyncWebClient, execution: StepExecution) -> str | None:
    """A link to the answer in its thread (`chat.getPermalink`), else to the guide's thread;
    None when Slack gives neither (the step completes without the link)."""
    for channel, ts in (
        (execution.answer_channel, execution.answer_ts),
        (execution.guide_channel, execution.guide_ts),
    ):
        if (
            channel is not None
            and ts is not None
            and (link := await permalink(client, channel, ts))
        ):
            return link
    return None
