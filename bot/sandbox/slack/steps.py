"""What ends a workflow step's execution: `functions.completeSuccess` and
`functions.completeError`, called with the execution's own token or the bot's (docs.slack.dev
method pages; bolt-python tests/scenario_tests_async/test_function.py)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bot.sandbox.slack.protocol import SlackError, refusal, text_arg
from bot.sandbox.slack.workspace import FunctionExecution, SlackWorkspace


class StepMethods(SlackWorkspace):
    """Completing custom workflow steps that `start_function_execution` began."""

    def _running_execution(self, args: Mapping[str, Any]) -> FunctionExecution:
        execution = self._executions.get(text_arg(args, "function_execution_id") or "")
        if execution is None:
            raise SlackError("function_execution_not_found")
        token = self._caller_token or ""
        if token.startswith("xwfp-") and token != execution.bot_access_token:
            raise SlackError("access_denied")  # another execution's token
        if execution.state != "running":
            raise SlackError("execution_not_in_running_state")
        return execution

    def _functions_complete_success(self, args: dict[str, Any]) -> dict[str, Any]:
        execution = self._running_execution(args)
        outputs = args.get("outputs")
        if not isinstance(outputs, dict):
            raise SlackError("parameter_validation_failed")
        execution.state, execution.outputs = "completed", copy.deepcopy(outputs)
        return {}

    def _functions_complete_error(self, args: dict[str, Any]) -> dict[str, Any]:
        execution = self._running_execution(args)
        error = text_arg(args, "error")
        if error is None:
            raise refusal("invalid_arguments", ["missing required field: error"])
        execution.state, execution.error = "failed", error
        return {}
