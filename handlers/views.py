"""The paste modal's submission: judged at once, then checked after the acknowledgement."""

from __future__ import annotations

import functools
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination, EntryPoint
from bot.engine.diagnosis import Diagnosis
from bot.engine.errors import PasteError
from bot.engine.intake import Paste, read_paste, read_store_credentials
from bot.settings import CollectionHost
from bot.slack.ladder import pending_ladder
from bot.slack.posting import Recipient
from bot.slack.services import BotServices, services_of
from handlers.blocks.check import (
    CHECK_FORM_UNREADABLE,
    CHECK_MODAL_CALLBACK,
    STORE_ID_BLOCK,
    STORE_ID_INPUT,
    TOKEN_BLOCK,
    TOKEN_INPUT,
    URL_BLOCK,
    URL_INPUT,
    checking_view,
)
from handlers.payload import Form, Submission
from handlers.support import offer_customer_reply

_BLOCK_FOR = {Diagnosis.STORE_ID_INVALID: STORE_ID_BLOCK, Diagnosis.TOKEN_MALFORMED: TOKEN_BLOCK}
_INPUTS = ((URL_BLOCK, URL_INPUT), (STORE_ID_BLOCK, STORE_ID_INPUT), (TOKEN_BLOCK, TOKEN_INPUT))


class SubmissionError(Exception):
    def __init__(self, block_id: str, message: str) -> None:
        super().__init__(message)
        self.block_id = block_id
        self.message = message


def read_submission(form: Form, hosts: tuple[CollectionHost, ...]) -> Paste:
    """What the modal holds, judged without any network call; `SubmissionError` names the input."""
    url = form.typed(URL_BLOCK, URL_INPUT)
    store_id = form.typed(STORE_ID_BLOCK, STORE_ID_INPUT)
    token = form.typed(TOKEN_BLOCK, TOKEN_INPUT)
    uses_credentials = bool(store_id.strip() or token.strip())
    if url.strip() and uses_credentials:
        raise SubmissionError(
            URL_BLOCK, "Fill in either the URL or the Store ID and token, not both."
        )
    try:
        if uses_credentials:
            return read_store_credentials(store_id, token)
        return read_paste(url, hosts)
    except PasteError as problem:
        raise SubmissionError(
            _BLOCK_FOR.get(problem.diagnosis, URL_BLOCK), problem.detail
        ) from None


@functools.cache
def _checking_view() -> dict[str, Any]:
    """The "Checking…" view, built once: it is on the acknowledgement's path."""
    return checking_view(pending_ladder())


def _destination(form: Form) -> Destination | None:
    """Where the answer goes, as the modal was opened with; None for a form that cannot say."""
    try:
        return Destination.from_metadata(form.metadata or "")
    except (KeyError, ValueError, TypeError):
        return None


async def submitted(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """The paste modal's submit: a wrong paste answered under its input, a good one checked.

    A form the bot cannot read (opened before an upgrade, or sent without its inputs) is
    answered under its input, or privately when it has none: nothing is checked."""
    services = services_of(context)
    submission = Submission(ack, body, client, context, unreadable=CHECK_FORM_UNREADABLE)
    form = submission.form
    destination = _destination(form)
    if (
        destination is None
        or form.view_id is None
        # Slack sends every input of a modal, empty ones too: one missing means another version.
        or not all(form.has(block_id, action_id) for block_id, action_id in _INPUTS)
    ):
        await submission.refuse(URL_BLOCK)
        return
    try:
        paste = read_submission(form, services.settings.collection_hosts)
    except SubmissionError as problem:
        await submission.refuse(problem.block_id, problem.message)
        return
    await ack(response_action="update", view=_checking_view())
    services.tasks.spawn(
        _check_once(services, form.view_id, destination, paste, client),
        name="check from modal",
        on_failure=services.answers.failure_notice(Recipient.of(destination)),
    )


async def _check_once(
    services: BotServices,
    view_id: str,
    destination: Destination,
    paste: Paste,
    client: AsyncWebClient,
) -> None:
    # A double-clicked submit arrives twice with the same view: one answer only. (Asked after
    # the ack, beside the check: with a database it is a write, and Slack waits 3 s at most.)
    report = await services.answers.check_and_answer(
        destination, paste, view_id, unique=services.seen.first_time(f"view:{view_id}")
    )
    if report is not None and destination.entry is EntryPoint.SHORTCUT:
        await offer_customer_reply(services, client, destination, report)


def register(app: AsyncApp) -> None:
    app.view(CHECK_MODAL_CALLBACK)(submitted)
