"""Posting that outlasts Slack's limits: `deliver` retries a Web API call for minutes.

Slack allows about one message a second per channel and answers more with 429 and `Retry-After`;
it also has bad minutes (500s, dropped connections). The client's own retry handlers
(`bot.slack.app.slack_client`) absorb short bursts; what still fails comes here: a 429 holds the
whole channel back for its `Retry-After` and then paces it to one message a second for a minute,
server and connection errors are retried with growing pauses, until `DELIVERY_PATIENCE_S`. Only
an answer Slack refuses for good (an error in what was sent) is raised at once: that is a bug.

A failure can leave unknown whether Slack applied the call (the connection dropped after the
request was sent, a time-out, a 5xx); repeating a post then could show it twice, and Slack has no
idempotency key for `chat.postMessage`. A call that must not be applied twice comes with
`find_applied` (`bot.slack.exactly_once` looks for the message's metadata): after such a
failure it is asked before every new attempt, and while it is given slack_sdk's own retries of
server and connection errors stay out of the way (`repeats_guarded`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)

DELIVERY_PATIENCE_S = 10 * 60.0
PACED_FOR_S = 60.0
PACE_S = 1.0
MAX_PAUSE_S = 30.0
# Errors Slack answers when it, not the request, is at fault (with any HTTP 5xx). Not
# `fatal_error`: Slack says part of the operation may have been done, so it is not retried.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "service_unavailable", "request_timeout"}
)

T = TypeVar("T")
# Set while a call runs whose repetition `deliver` looks after itself (see `repeats_guarded`).
_GUARDED: ContextVar[bool] = ContextVar("delivery_repeats_guarded", default=False)


class DeliveryExpired(Exception):
    """Slack kept failing for longer than the delivery's patience."""


class ChannelPacer:
    """Per channel: when the next message may go, and whether the channel is being paced."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next: dict[str, float] = {}
        self._paced_until: dict[str, float] = {}

    def slot(self, channel: str) -> float:
        """Seconds to wait before posting in `channel` (0: now), taking the slot."""
        now = self._clock()
        start = max(now, self._next.get(channel, 0.0))
        if self._paced_until.get(channel, 0.0) > now:
            self._next[channel] = start + PACE_S
        elif channel in self._next and start == now:
            self._forget(channel, now)
        return start - now

    def rate_limited(self, channel: str, retry_after_s: float) -> None:
        """Slack said 429 for `channel`: nothing goes there before `retry_after_s`, and then one
        message a second for a while."""
        now = self._clock()
        self._next[channel] = max(self._next.get(channel, 0.0), now + retry_after_s)
        self._paced_until[channel] = now + retry_after_s + PACED_FOR_S

    def _forget(self, channel: str, now: float) -> None:
        if self._paced_until.get(channel, 0.0) <= now:
            self._next.pop(channel, None)
            self._paced_until.pop(channel, None)


PACER = ChannelPacer()
"""The process's pacing, shared by every post (Bolt makes a client per request)."""


def _retry_after(error: SlackApiError) -> float | None:
    response = error.response
    if response.status_code != 429 and response.get("error") != "ratelimited":
        return None
    headers = {key.lower(): value for key, value in (response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else 1.0
    except ValueError:
        return 1.0


def repeats_guarded() -> bool:
    """Whether the Web API call being made now is one that `deliver` repeats only after looking
    whether Slack applied it: the client's retry handlers must not repeat it blindly."""
    return _GUARDED.get()


def maybe_applied(error: BaseException) -> bool:
    """Whether Slack may have applied the call that failed with `error`: anything but an answer
    that says it did not (429, an error Slack words) or a connection that was never made."""
    if isinstance(error, SlackApiError):
        return error.response.status_code >= 500 or error.response.get("error") in (
            "internal_error",
            "service_unavailable",
            "request_timeout",
        )
    return not isinstance(error, aiohttp.ClientConnectorError)


def transient(error: BaseException) -> bool:
    """Whether `error` is Slack (or the network) having a bad moment, not a mistake of ours."""
    if isinstance(error, SlackApiError):
        return error.response.status_code >= 500 or error.response.get("error") in TRANSIENT_ERRORS
    return isinstance(error, aiohttp.ClientError | TimeoutError | ConnectionError)


async def deliver(
    call: Callable[[], Awaitable[T]],
    channel: str,
    *,
    what: str = "chat.postMessage",
    patience_s: float = DELIVERY_PATIENCE_S,
    pacer: ChannelPacer = PACER,
    find_applied: Callable[[float], Awaitable[T | None]] | None = None,
    look_first: bool = False,
) -> T:
    """`call()` until it works, honouring the channel's pace and Slack's `Retry-After`.

    `channel` is the pacing key: a channel for messages, anything else for other limits.
    `find_applied` (given the seconds of patience left) finds what an earlier attempt did when
    its failure left that unknown (`maybe_applied`); asked before each later attempt, what it
    finds is returned instead of calling again; `look_first` asks it before the first attempt
    too (an earlier delivery of the same thing ended without knowing whether it went through).

    Raises what is not transient at once, and `DeliveryExpired` after `patience_s` of failures.
    """
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + patience_s
    pause = 0.5
    attempt = 0
    uncertain = look_first
    while True:
        wait = pacer.slot(channel)
        if wait > 0:
            await asyncio.sleep(wait)
        if uncertain and find_applied is not None:
            found = await find_applied(give_up_at - loop.time())
            if found is not None:
                logger.info("%s (%s) had gone through before its failure", what, channel)
                return found
        attempt += 1
        guarded = _GUARDED.set(find_applied is not None)
        try:
            return await call()
        except Exception as error:
            if not transient(error):
                raise
            failure = error
        finally:
            _GUARDED.reset(guarded)
        uncertain = uncertain or maybe_applied(failure)
        retry_after = _retry_after(failure) if isinstance(failure, SlackApiError) else None
        if retry_after is not None:
            pacer.rate_limited(channel, retry_after)
            delay = 0.0  # the pacer holds the channel back
        else:
            delay = pause * (0.5 + random.random())  # noqa: S311 - jitter, not secrecy
            pause = min(pause * 2, MAX_PAUSE_S)
        if loop.time() + max(delay, retry_after or 0.0) >= give_up_at:
            raise DeliveryExpired(
                f"{what} ({channel}) still failing after {attempt} attempts"
            ) from failure
        logger.warning(
            "%s (%s) failed (%s), attempt %d; retrying",
            what,
            channel,
            _describe(failure),
            attempt,
        )
        if delay:
            await asyncio.sleep(delay)


def _describe(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return f"HTTP {error.response.status_code} {error.response.get('error')}"
    return type(error).__name__
