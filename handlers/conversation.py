"""Talking in a thread: posting where the bot may, falling back where it may not, reacting, and
running a check whose answer lands in the thread. Listeners call these after they have acked.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.destination import Destination
from bot.engine.diagnosis import StepName, StepStatus
from bot.engine.intake import Paste
from bot.engine.report import CheckReport, Step
from bot.history.journal import Answer
from bot.slack.delivery import DeliveryExpired, deliver
from bot.slack.exactly_once import MessageMark, post_once
from bot.slack.services import BotServices, services_of
from handlers.blocks.check import (
    check_modal,
    checking_root_message,
    checking_view,
    failure_message,
    failure_view,
    guide_message,
    result_message,
    result_view,
)
from handlers.blocks.common import Blocks
from handlers.blocks.refusal import private_copy
from handlers.blocks.watch import watch_button
from handlers.follow_up_start import offer_follow_up

logger = logging.getLogger(__name__)

# chat.postMessage's documented refusals that an answer can get round. Where the bot is not in
# the conversation (private channel, DM between people), the response_url may still answer in
# public; where the channel or workspace forbids the post itself, only a private answer gets
# through. Without a response_url, the requester alone is told, saying why.
PUBLIC_FALLBACK_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
RESTRICTION_ERRORS = frozenset(
    {
        "restricted_action",  # a workspace preference keeps the bot from posting
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",  # a top-level post in a threads-only channel
        "ekm_access_denied",  # administrators suspended posting (Enterprise Key Management)
    }
)
FALLBACK_ERRORS = PUBLIC_FALLBACK_ERRORS | RESTRICTION_ERRORS
CHECKING, CONNECTED, PROBLEM = "eyes", "white_check_mark", "warning"
VIEW_UPDATE_AFTER_ACK_S = 0.5
# Reactions and modal updates are retried through Slack's bad moments too, for less long.
DECORATION_PATIENCE_S = 60.0
# The longest an answer waits for its journal ID (for its mark) when the journal is slower than
# the check.
JOURNAL_ID_WAIT_S = 0.1


def installing_team(context: AsyncBoltContext) -> str | None:
    """The workspace that installed the bot, as `auth.test` told Bolt. Not the payload's
    `team`: in a Slack Connect channel that is the acting user's organisation."""
    authorized = context.authorize_result
    return authorized.team_id if authorized is not None else None


# Slack allows views.update about once a second per view before it answers rate_limited.
PROGRESS_INTERVAL_S = 1.0


async def open_check_modal(
    client: AsyncWebClient,
    trigger_id: str,
    destination: Destination,
    warm: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Open the paste modal at once: a trigger_id lives three seconds and works once.

    `warm` (the checker's) opens the connections a check needs while the person pastes."""
    opening = client.views_open(trigger_id=trigger_id, view=check_modal(destination))
    await (asyncio.gather(opening, warm()) if warm is not None else opening)


def spawn_check_modal(
    context: AsyncBoltContext,
    client: AsyncWebClient,
    trigger_id: str,
    destination: Destination,
    *,
    name: str,
    on_failure: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """After the ack: the paste modal for `destination`, and the checker's connections warmed;
    a failure is told to the requester (in the conversation, unless `on_failure` says how)."""
    services = services_of(context)
    services.tasks.spawn(
        open_check_modal(client, trigger_id, destination, services.checker.warm),
        name=name,
        on_failure=on_failure or tell_failure_at(client, destination),
    )


async def post(
    client: AsyncWebClient,
    destination: Destination,
    text: str,
    blocks: Blocks | None = None,
    *,
    mark: MessageMark | None = None,
    look_first: bool = False,
) -> str | None:
    """Post in the destination's thread; returns the new message's ts (None via response_url).

    Rate limits, server and connection errors are waited out for minutes, paced per channel
    (`bot.slack.delivery`); past that, `DeliveryExpired`. The message goes in once: it carries
    `mark` (an answer's check ID; else a mark of its own) and, after a failure that leaves
    unknown whether it was posted, is looked for before it is posted again (`look_first`: from
    the start, as for a redelivery; `bot.slack.exactly_once`).
    """
    try:
        ts: str | None = await post_once(
            client,
            channel=destination.channel,
            thread_ts=destination.thread_ts,
            mark=mark or MessageMark.fresh(),
            look_first=look_first,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as error:
        refusal = str(error.response.get("error") or "")
        if refusal not in FALLBACK_ERRORS:
            raise
        if destination.response_url:
            logger.info("%s in %s; answering through response_url", refusal, destination.channel)
            public = destination.public and refusal in PUBLIC_FALLBACK_ERRORS
            await _post_via_response_url(destination, text, blocks, public=public)
        else:
            await _post_privately(client, destination, refusal, text, blocks)
        return None
    return ts


async def _post_via_response_url(
    destination: Destination, text: str, blocks: Blocks | None, *, public: bool
) -> None:
    assert destination.response_url is not None
    # In a thread, Slack publishes a response_url message in that thread when told which.
    body: dict[str, Any] = {
        "text": text,
        "blocks": blocks,
        "response_type": "in_channel" if public else "ephemeral",
        "replace_original": False,
        "thread_ts": destination.thread_ts,
    }
    response = await AsyncWebhookClient(destination.response_url).send_dict(
        {key: value for key, value in body.items() if value is not None}
    )
    if response.status_code != 200:
        raise RuntimeError(f"response_url answered HTTP {response.status_code}")


async def _post_privately(
    client: AsyncWebClient, destination: Destination, refusal: str, text: str, blocks: Blocks | None
) -> None:
    """No response_url to fall back on: the message to the requester alone, saying why –
    ephemeral in the conversation (in its thread), else in the bot's DM with them."""
    logger.info("%s in %s; answering the requester privately", refusal, destination.channel)
    private_text, private_blocks = private_copy(refusal, destination.channel, text, blocks)
    try:
        await client.chat_postEphemeral(
            channel=destination.channel,
            user=destination.requester,
            thread_ts=destination.thread_ts,
            text=private_text,
            blocks=private_blocks,
        )
        return
    except SlackApiError as error:
        refused = error.response.get("error")
        logger.info("no ephemeral in %s either: %s", destination.channel, refused)
    try:
        await post_without_previews(client, destination.requester, private_text, private_blocks)
    except SlackApiError as error:
        # Nowhere left to say it: logged, without a traceback, for the operator.
        logger.warning(
            "could not tell %s privately either: %s",
            destination.requester,
            error.response.get("error"),
        )


async def post_without_previews(
    client: AsyncWebClient, channel: str, text: str, blocks: Blocks | None = None
) -> None:
    """One `chat.postMessage` (a user ID: the bot's DM with them), no link previews, none of
    `post`'s patience or fallbacks: for messages whose refusal the caller handles itself."""
    await client.chat_postMessage(
        channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
    )


async def tell_privately(
    client: AsyncWebClient,
    user: str,
    text: str,
    *,
    channel: str | None = None,
    response_url: str | None = None,
) -> None:
    """A message only `user` sees: through the click's `response_url` (leaving the clicked
    message as it is), else ephemeral in `channel`, else in the bot's DM with them."""
    if response_url:
        await AsyncWebhookClient(response_url).send(
            text=text, response_type="ephemeral", replace_original=False
        )
    elif channel:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    else:  # no conversation at hand (the App Home): the bot's DM with the user
        await client.chat_postMessage(channel=user, text=text)


def tell_failure(
    client: AsyncWebClient,
    user: str,
    *,
    channel: str | None = None,
    response_url: str | None = None,
) -> Callable[[str], Awaitable[None]]:
    """What `TaskSupervisor.spawn` calls when background work fails: tell `user`, privately,
    with the reference that finds the log lines."""

    async def tell(reference: str) -> None:
        text = failure_message(reference)[0]
        await tell_privately(client, user, text, channel=channel, response_url=response_url)

    return tell


def tell_failure_at(
    client: AsyncWebClient, destination: Destination
) -> Callable[[str], Awaitable[None]]:
    """`tell_failure` for the user and conversation of `destination`."""
    return tell_failure(
        client,
        destination.requester,
        channel=destination.channel,
        response_url=destination.response_url,
    )


async def post_guide(client: AsyncWebClient, destination: Destination) -> None:
    """The guide with its button, as the thread root (or inside the destination's thread)."""
    text, blocks = guide_message()
    await post(client, destination, text, blocks)


async def react(client: AsyncWebClient, destination: Destination, add: str, *remove: str) -> None:
    """Show a check's state on the thread root; reactions are decoration and never fail a check."""
    if destination.thread_ts is None:
        return
    calls = [(client.reactions_add, add)] + [(client.reactions_remove, name) for name in remove]
    for call, name in calls:
        try:
            await deliver(
                functools.partial(
                    call, channel=destination.channel, timestamp=destination.thread_ts, name=name
                ),
                # Reactions have their own limits, not the channel's message pace.
                f"{destination.channel} reactions",
                what=f"reaction {name}",
                patience_s=DECORATION_PATIENCE_S,
            )
        except SlackApiError as error:
            logger.debug("reaction %s not changed: %s", name, error.response.get("error"))
        except Exception:
            logger.warning("reaction %s not changed", name, exc_info=True)


async def first_time(services: BotServices, keys: list[str]) -> bool:
    """Whether none of `keys` (an event's ID, its message's) was seen before; each is marked
    seen as it is asked. Slack retries an event it thinks was not delivered."""
    for key in keys:
        if not await services.seen.first_time(key):
            return False
    return True


def journaled(
    services: BotServices, destination: Destination, paste: Paste, *, view_id: str | None = None
) -> asyncio.Future[str]:
    """Journal a check just accepted, beside the check rather than in front of it; its journal
    ID. A journal write never raises for the database (it falls back to memory)."""
    return asyncio.ensure_future(services.journal.accept(destination, paste, view_id=view_id))


def already_journaled(journal_id: str) -> asyncio.Future[str]:
    """The journal ID of a check taken over from the journal (a recovered one)."""
    known: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    known.set_result(journal_id)
    return known


def _then_moved(
    services: BotServices, accepted: Awaitable[str], destination: Destination
) -> asyncio.Future[str]:
    async def move() -> str:
        journal_id = await accepted
        await services.journal.moved(journal_id, destination)
        return journal_id

    return asyncio.ensure_future(move())


async def start_thread_and_check(
    services: BotServices,
    client: AsyncWebClient,
    destination: Destination,
    paste: Paste,
    *,
    accepted: asyncio.Future[str] | None = None,
    rerun: bool = False,
) -> None:
    """`/ecwid-connect <paste>`: a thread root without the paste, then the check's answer in it.

    The check is journaled while the root is posted (`accepted` when it already is; `rerun`:
    by a process that died, see `check_and_answer`)."""
    if accepted is None:
        accepted = journaled(services, destination, paste)
    text, blocks = checking_root_message(destination.requester)
    try:
        root_ts = await post(client, destination, text, blocks)
    except DeliveryExpired:
        journal_id = await accepted
        logger.error("Slack kept failing: the check %s is left for a later attempt", journal_id)
        await services.journal.later(journal_id)
        return
    except Exception:
        await report_failure(client, destination, None, "could not start the thread")
        await services.journal.done(await accepted)
        return
    if root_ts is not None:
        destination = destination.in_thread(root_ts)
        accepted = _then_moved(services, accepted, destination)
    await check_and_answer(services, client, destination, paste, accepted=accepted, rerun=rerun)


def pending_ladder() -> list[Step]:
    return [Step(name=name, status=StepStatus.PENDING) for name in StepName]


async def check_and_answer(
    services: BotServices,
    client: AsyncWebClient,
    destination: Destination,
    paste: Paste,
    view_id: str | None = None,
    *,
    accepted: asyncio.Future[str] | None = None,
    first_time: Awaitable[bool] | None = None,
    rerun: bool = False,
) -> CheckReport | None:
    """Run the check, then answer in the thread (and in the modal, if it is still open).

    Answer first, bookkeeping after: once `first_time` (the de-duplication of a submission)
    agrees, the check starts at once. Journaling it as accepted (`accepted` when a caller
    already did) and then the 👀 on the thread root happen beside the check; the answer is journaled
    while it is posted, and the history records the check once the answer is in the thread.
    A process killed on the way leaves the check for the next one (`handlers.recovery`).
    Slack's rate limits and bad minutes are waited out; only a bug is told in the thread as a
    failure, with a reference to the log. None when there is no answer to build on (a
    failure, or a duplicate submission).
    """
    acked_at = asyncio.get_running_loop().time()
    if first_time is not None and not await first_time:
        return None  # the same submission again: the first one answers
    if accepted is None:
        accepted = journaled(services, destination, paste, view_id=view_id)
    reacting = asyncio.ensure_future(_react_once_journaled(client, destination, accepted))
    progress = LiveLadder(client, view_id, acked_at) if view_id is not None else None
    try:
        try:
            checked = await services.checks.check(
                paste, destination, progress.on_step if progress else None
            )
        finally:
            if progress is not None:
                await progress.close()
        report = checked.report
        escalable = checked.check_id if services.support.configured else None
        note = await offer_follow_up(services, destination, checked)
        watch = watch_button(checked.check_id) if services.follow_ups.available else None
        text, blocks = result_message(
            report, destination, check_id=escalable, note=note, watch=watch
        )
    except Exception:
        journal_id = await accepted
        await reacting
        await report_failure(client, destination, view_id, "checking failed")
        await services.journal.done(journal_id)
        return None
    # A workflow step's check: its outputs are kept before the answer goes, so that whoever
    # delivers the answer (this process, or the one that takes it over) completes the step.
    await services.steps.check_ended(destination, report, checked.check_id)
    answer = Answer(
        text,
        blocks,
        view=result_view(report) if view_id is not None else None,
        reaction=CONNECTED if report.ok else PROBLEM,
        check_id=checked.check_id,
    )
    delivered = await deliver_answer(
        services,
        client,
        accepted,
        destination,
        answer,
        view_id,
        acked_at=acked_at,
        journaled=False,
        reacting=reacting,
        rerun=rerun,
    )
    await services.checks.keep(checked)
    return report if delivered else None


async def _react_once_journaled(
    client: AsyncWebClient, destination: Destination, accepted: Awaitable[str]
) -> None:
    """👀 on the thread root says the bot has the check: it survives a restart from then on."""
    await accepted
    await react(client, destination, CHECKING)


async def deliver_answer(
    services: BotServices,
    client: AsyncWebClient,
    accepted: Awaitable[str],
    destination: Destination,
    answer: Answer,
    view_id: str | None,
    *,
    acked_at: float | None = None,
    journaled: bool = True,
    reacting: Awaitable[None] | None = None,
    rerun: bool = False,
) -> bool:
    """Post an answer in its thread, then mark its journal entry done; True once it is there.

    `accepted` gives the entry's ID once the journal has it: the post does not wait for it.
    `journaled=False`: the journal learns the answer while it is posted (a restart redelivers
    it rather than run the check again). `reacting` is the 👀 still on its way, awaited before
    the reaction changes. When Slack keeps failing past the delivery's patience, the entry is
    left for a later attempt (by this process or another), never replaced by an error message.
    `rerun`: the check was run again after its process died, which may have posted its answer
    before the journal learnt it: looked for first, by the journal ID both answers carry.
    """

    async def journal_answer() -> str:
        journal_id = await accepted
        if not journaled:
            await services.journal.answered(journal_id, answer)
        return journal_id

    # Both run to the end whatever the other does: the entry's row is never changed twice at
    # once, and what follows (`later`, `done`) comes after both. An answer taken from the
    # journal may have been posted by the process that journaled it: looked for first.
    mark = None
    if answer.check_id:
        mark = MessageMark.answer(answer.check_id, await _journal_id_soon(accepted))
    posted, journal_id = await asyncio.gather(
        post(
            client,
            destination,
            answer.text,
            answer.blocks,
            mark=mark,
            look_first=journaled or rerun,
        ),
        journal_answer(),
        return_exceptions=True,
    )
    if isinstance(journal_id, BaseException):  # a bug: the journal never raises for its database
        logger.error("the journal could not take a check's answer", exc_info=journal_id)
        return not isinstance(posted, BaseException)
    if isinstance(posted, DeliveryExpired):
        logger.error("Slack kept failing: the answer of %s will be delivered later", journal_id)
        await services.journal.later(journal_id)
        return False
    if isinstance(posted, BaseException):
        try:
            raise posted
        except Exception:
            if reacting is not None:
                await reacting  # its 👀 on first, so that the ⚠️ replaces it
            await report_failure(client, destination, view_id, "posting a check's answer failed")
        await services.journal.done(journal_id)
        return False
    await services.journal.done(journal_id)
    await services.steps.answer_delivered(client, destination, posted)
    # The answer is in the thread: what follows is decoration, and never a reason to say
    # something went wrong. The 👀 still on its way goes on before the verdict replaces it.
    if reacting is not None:
        await reacting
    if answer.reaction is not None:
        await react(client, destination, answer.reaction, CHECKING)
    if view_id is not None and answer.view is not None:
        if acked_at is not None:
            await _after_ack(acked_at)
        try:
            await _update_view(client, view_id, answer.view)
        except Exception:
            logger.exception("the modal could not show the result (it is in the thread)")
    return True


async def _journal_id_soon(accepted: Awaitable[str]) -> str | None:
    """The journal ID for the answer's mark, if the journal gives it within
    `JOURNAL_ID_WAIT_S` (it was asked as the check began, so it nearly always has): the answer
    does not wait on a slow database for longer. Without it, a re-run may post twice."""
    if not isinstance(accepted, asyncio.Future):
        return None
    await asyncio.wait({accepted}, timeout=JOURNAL_ID_WAIT_S)
    if not accepted.done() or accepted.cancelled() or accepted.exception() is not None:
        return None
    return str(accepted.result())


class LiveLadder:
    """The paste modal's "Checking…" ladder, updated as the rungs finish.

    At most one `views.update` per `PROGRESS_INTERVAL_S`, the first after the ack's own view
    has landed; after `close()` none is in flight and none follows, so the result comes last.
    Progress is decoration: a failed update is logged and the check goes on.
    """

    def __init__(self, client: AsyncWebClient, view_id: str, acked_at: float) -> None:
        self._client = client
        self._view_id = view_id
        self._steps = {step.name: step for step in pending_ladder()}
        self._changed = asyncio.Event()
        self._sending = asyncio.Lock()
        self._closed = False
        self._next_at = acked_at + VIEW_UPDATE_AFTER_ACK_S
        self._task = asyncio.create_task(self._follow(), name="check progress")

    def on_step(self, step: Step) -> None:
        """The engine's `StepListener`: called as each rung finishes."""
        self._steps[step.name] = step
        self._changed.set()

    async def close(self) -> None:
        self._closed = True
        async with self._sending:  # an update on its way is let through, then no other
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._changed.wait()
            wait = self._next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._sending:
                if self._closed:
                    return
                self._changed.clear()
                view = checking_view(list(self._steps.values()))
                try:
                    await _update_view(self._client, self._view_id, view)
                except Exception:
                    logger.info("the modal's progress could not be shown", exc_info=True)
            self._next_at = loop.time() + PROGRESS_INTERVAL_S


async def _after_ack(acked_at: float) -> None:
    """Let Slack apply the ack's "Checking…" view before replacing it.

    Bolt sends the ack up to 10 ms after `ack()`; Slack applies it when it arrives. A fast check's
    `views.update` could overtake it and then be overwritten by "Checking…".
    """
    wait = acked_at + VIEW_UPDATE_AFTER_ACK_S - asyncio.get_running_loop().time()
    if wait > 0:
        await asyncio.sleep(wait)


async def _update_view(client: AsyncWebClient, view_id: str, view: dict[str, Any]) -> None:
    try:
        await deliver(
            functools.partial(client.views_update, view_id=view_id, view=view),
            f"view {view_id}",
            what="views.update",
            patience_s=DECORATION_PATIENCE_S,
        )
    except SlackApiError as error:
        if error.response.get("error") != "not_found":  # the user closed the modal: fine
            raise


async def report_failure(
    client: AsyncWebClient, destination: Destination, view_id: str | None, what: str
) -> None:
    reference = uuid.uuid4().hex[:10]
    logger.exception("%s in %s (reference %s)", what, destination.channel, reference)
    text, blocks = failure_message(reference)
    try:
        await post(client, destination, text, blocks)
        await react(client, destination, PROBLEM, CHECKING)
        if view_id is not None:
            await _update_view(client, view_id, failure_view(reference))
    except Exception:
        logger.exception("could not tell the user about reference %s either", reference)
