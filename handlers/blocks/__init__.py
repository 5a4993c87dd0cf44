"""Block Kit builders: pure functions from data to Slack messages and views.

This package is the one place where the bot's Slack layout lives: `check` for the connection
check, `support` for escalations and history, `home` for the App Home. Each builder goes through
`slack_sdk.models`, whose `to_dict()` validates Slack's limits, and returns plain dicts. Nothing
here calls Slack or the check engine; nothing here ever sees a secret.
"""

from handlers.blocks.check import (
    CHECK_AGAIN_ACTION,
    CHECK_MODAL_CALLBACK,
    MODAL_TITLE,
    OPEN_CHECK_MODAL_ACTION,
    PLAYGROUND_LINK_ACTION,
    STEP_EMOJI,
    STEP_LABELS,
    STORE_ID_BLOCK,
    STORE_ID_INPUT,
    TOKEN_BLOCK,
    TOKEN_INPUT,
    URL_BLOCK,
    URL_INPUT,
    check_modal,
    checking_root_message,
    checking_view,
    failure_message,
    failure_view,
    guide_message,
    ladder_text,
    result_message,
    result_view,
    usage_text,
)
from handlers.blocks.common import Blocks, Destination, escape

__all__ = [
    "CHECK_AGAIN_ACTION",
    "CHECK_MODAL_CALLBACK",
    "MODAL_TITLE",
    "OPEN_CHECK_MODAL_ACTION",
    "PLAYGROUND_LINK_ACTION",
    "STEP_EMOJI",
    "STEP_LABELS",
    "STORE_ID_BLOCK",
    "STORE_ID_INPUT",
    "TOKEN_BLOCK",
    "TOKEN_INPUT",
    "URL_BLOCK",
    "URL_INPUT",
    "Blocks",
    "Destination",
    "check_modal",
    "checking_root_message",
    "checking_view",
    "escape",
    "failure_message",
    "failure_view",
    "guide_message",
    "ladder_text",
    "result_message",
    "result_view",
    "usage_text",
]
