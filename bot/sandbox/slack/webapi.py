"""A local stand-in for Slack, so that the real bot runs over real HTTP on loopback.

- `FakeSlack` plays Slack's Web API (`POST /api/<method>`) and the `response_url`s it hands out:
  it records every call, keeps the messages, reactions and views the bot produced, refuses
  Block Kit that Slack would refuse, and fails calls on demand (errors, 429, 5xx).
- `SlackUser` plays a person in Slack: it sends the bot signed slash commands, button clicks,
  view submissions, shortcuts and events, exactly as Slack would, and applies the bot's
  acknowledgements (`response_action`, slash-command replies) to the `FakeSlack`.
- `validate_message`, `validate_blocks` and `validate_view` hold Block Kit to Slack's limits;
  `render_message` and `render_view` turn it into plain text for a transcript.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import secrets
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

import httpx
from aiohttp import web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.loopback import LoopbackServer

BOT_ID = "B0001"
APP_ID = "A0001"
BOT_NAME = "ecwid-connect"
PERMALINK_BASE = "https://fake.slack.test"
TRIGGER_LIFETIME_S = 3.0
RESPONSE_URL_LIFETIME_S = 30 * 60.0
RESPONSE_URL_USES = 5
VIEW_STACK_LIMIT = 3
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100

_TEAM_DOMAIN = "fake-team"
_VERIFICATION_TOKEN = "fake-verification-token"
_FIRST_TS_US = 1_700_000_000_000_100
_TS_STEP_US = 100
_SHUTDOWN_TIMEOUT_S = 0.5
_RETRY_REASON = "http_timeout"
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
_DEFAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}
# Errors that Slack answers on a dead `response_url` with 404; the others with 400.
_DEAD_HOOK_ERRORS = frozenset({"invalid_url", "used_url", "expired_url"})
_JSON_ARGS = ("blocks", "attachments", "view", "metadata")
_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
_SELECTS = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
_TEXT_INPUTS = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input"})
# How Slack reports a typed or picked value in `view.state.values`, per element type.
_PICKED_KEYS = {
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
}
_RULE = "─" * 40


# ---------------------------------------------------------------------------------------------
# Block Kit validation
# ---------------------------------------------------------------------------------------------


class _Checker:
    """Collects Slack-style complaints: `<what is wrong> [json-pointer:<where>]`."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def obj(self, value: object, pointer: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.fail("must provide an object", pointer)
        return None

    def string(self, value: object, pointer: str, max_len: int, *, min_len: int = 0) -> None:
        if not isinstance(value, str):
            self.fail("must be a string", pointer)
        elif len(value) < min_len:
            self.fail(f"must be more than {min_len - 1} characters", pointer)
        elif len(value) > max_len:
            self.fail(f"must be less than {max_len + 1} characters", pointer)

    def items(
        self, value: object, pointer: str, max_items: int, *, min_items: int = 1
    ) -> list[Any]:
        if not isinstance(value, list):
            self.fail("must provide an array", pointer)
            return []
        if len(value) < min_items:
            self.fail(f"must provide at least {min_items} items", pointer)
        elif len(value) > max_items:
            self.fail(f"no more than {max_items} items allowed", pointer)
        return value

    def required(self, parent: Mapping[str, Any], key: str, pointer: str) -> Any:
        if parent.get(key) is None:
            self.fail(f"missing required field: {key}", pointer)
        return parent.get(key)

    def text(self, value: object, pointer: str, max_len: int, *, plain: bool = False) -> None:
        text = self.obj(value, pointer)
        if text is None:
            return
        kind = text.get("type")
        if kind is None:
            self.fail("missing required field: type", pointer)
        elif kind not in ("plain_text", "mrkdwn") or (plain and kind != "plain_text"):
            self.fail("failed to match all allowed schemas", pointer)
        if "text" not in text:
            self.fail("missing required field: text", pointer)
        else:
            self.string(text["text"], f"{pointer}/text", max_len, min_len=1)

    def optional_text(
        self, parent: Mapping[str, Any], key: str, pointer: str, max_len: int, *, plain: bool
    ) -> None:
        if parent.get(key) is not None:
            self.text(parent[key], f"{pointer}/{key}", max_len, plain=plain)

    def blocks(self, value: object, pointer: str, max_blocks: int, *, min_blocks: int) -> None:
        block_ids: set[str] = set()
        for index, block in enumerate(self.items(value, pointer, max_blocks, min_items=min_blocks)):
            self.block(block, f"{pointer}/{index}", block_ids)

    def block(self, value: object, pointer: str, block_ids: set[str]) -> None:
        block = self.obj(value, pointer)
        if block is None:
            return
        before = len(self.errors)
        block_id = block.get("block_id")
        if block_id is not None:
            self.string(block_id, f"{pointer}/block_id", 255, min_len=1)
            if isinstance(block_id, str):
                if block_id in block_ids:
                    self.fail("duplicate block_id", f"{pointer}/block_id")
                block_ids.add(block_id)
        kind = block.get("type")
        if kind is None:
            self.fail("missing required field: type", pointer)
        elif kind not in _BLOCK_TYPES:
            self.fail("failed to match all allowed schemas", f"{pointer}/type")
        else:
            self.block_fields(block, kind, pointer)
        if len(self.errors) == before:
            self.sdk_block(block, pointer)

    def block_fields(self, block: dict[str, Any], kind: str, pointer: str) -> None:
        action_ids: set[str] = set()
        if kind == "section":
            if block.get("text") is None and block.get("fields") is None:
                self.fail("must provide text or fields", pointer)
            self.optional_text(block, "text", pointer, 3000, plain=False)
            if block.get("fields") is not None:
                fields = self.items(block["fields"], f"{pointer}/fields", 10)
                for index, field in enumerate(fields):
                    self.text(field, f"{pointer}/fields/{index}", 2000)
            if block.get("accessory") is not None:
                self.element(block["accessory"], f"{pointer}/accessory", action_ids)
        elif kind == "header":
            self.text(self.required(block, "text", pointer), f"{pointer}/text", 150, plain=True)
        elif kind == "context":
            elements = self.items(
                self.required(block, "elements", pointer), f"{pointer}/elements", 10
            )
            for index, element in enumerate(elements):
                self.context_element(element, f"{pointer}/elements/{index}")
        elif kind == "actions":
            elements = self.items(
                self.required(block, "elements", pointer), f"{pointer}/elements", 25
            )
            for index, element in enumerate(elements):
                self.element(element, f"{pointer}/elements/{index}", action_ids)
        elif kind == "input":
            self.text(self.required(block, "label", pointer), f"{pointer}/label", 2000, plain=True)
            self.optional_text(block, "hint", pointer, 2000, plain=True)
            element = self.required(block, "element", pointer)
            if element is not None:
                self.element(element, f"{pointer}/element", action_ids)
        elif kind == "image":
            self.image(block, pointer)
            self.optional_text(block, "title", pointer, 2000, plain=True)
        elif kind == "markdown":
            self.string(self.required(block, "text", pointer), f"{pointer}/text", 12000, min_len=1)

    def context_element(self, value: object, pointer: str) -> None:
        element = self.obj(value, pointer)
        if element is None:
            return
        if element.get("type") == "image":
            self.image(element, pointer)
        else:
            self.text(element, pointer, 3000)

    def image(self, image: Mapping[str, Any], pointer: str) -> None:
        if image.get("slack_file") is None:
            url = self.required(image, "image_url", pointer)
            if url is not None:
                self.string(url, f"{pointer}/image_url", 3000, min_len=1)
        alt_text = self.required(image, "alt_text", pointer)
        if alt_text is not None:
            self.string(alt_text, f"{pointer}/alt_text", 2000)

    def element(self, value: object, pointer: str, action_ids: set[str]) -> None:
        element = self.obj(value, pointer)
        if element is None:
            return
        action_id = element.get("action_id")
        if action_id is not None:
            self.string(action_id, f"{pointer}/action_id", 255, min_len=1)
            if isinstance(action_id, str):
                if action_id in action_ids:
                    self.fail("duplicate action_id", f"{pointer}/action_id")
                action_ids.add(action_id)
        kind = element.get("type")
        if kind == "button":
            self.text(self.required(element, "text", pointer), f"{pointer}/text", 75, plain=True)
            if element.get("value") is not None:
                self.string(element["value"], f"{pointer}/value", 2000)
            if element.get("url") is not None:
                self.string(element["url"], f"{pointer}/url", 3000, min_len=1)
            if element.get("style") not in (None, "primary", "danger"):
                self.fail('must be "primary" or "danger"', f"{pointer}/style")
        elif kind == "image":
            self.image(element, pointer)
        else:
            self.optional_text(element, "placeholder", pointer, 150, plain=True)
            if element.get("options") is not None:
                most = 5 if kind == "overflow" else 100
                options = self.items(element["options"], f"{pointer}/options", most)
                for index, option in enumerate(options):
                    self.option(option, f"{pointer}/options/{index}")

    def option(self, value: object, pointer: str) -> None:
        option = self.obj(value, pointer)
        if option is None:
            return
        self.text(self.required(option, "text", pointer), f"{pointer}/text", 75)
        self.string(self.required(option, "value", pointer), f"{pointer}/value", 150, min_len=1)

    def sdk_block(self, block: dict[str, Any], pointer: str) -> None:
        """Let slack_sdk's models judge what the explicit checks above do not cover."""
        try:
            parsed = Block.parse(copy.deepcopy(block))
            if parsed is None:
                self.fail("failed to match all allowed schemas", pointer)
            else:
                parsed.to_dict()  # runs the validators of the block and of everything in it
        except (SlackObjectFormationError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.fail(str(exc) or type(exc).__name__, pointer)


def validate_blocks(
    blocks: object, *, max_blocks: int = MESSAGE_BLOCKS_MAX, pointer: str = "/blocks"
) -> list[str]:
    """What Slack would say about `blocks`, as `message [json-pointer:/blocks/…]` lines.

    Empty when Slack would accept them. `max_blocks` is 50 in a message, 100 in a view.
    """
    checker = _Checker()
    checker.blocks(blocks, pointer, max_blocks, min_blocks=0)
    return checker.errors


def validate_message(message: object) -> list[str]:
    """What Slack would say about a message (`text`, `blocks`) posted by the bot; empty if fine."""
    checker = _Checker()
    body = checker.obj(message, "/")
    if body is None:
        return checker.errors
    if not body.get("text") and not body.get("blocks") and not body.get("attachments"):
        checker.fail("must provide text or blocks", "/")
    if body.get("blocks") is not None:
        checker.errors.extend(validate_blocks(body["blocks"]))
    return checker.errors


def validate_view(view: object, *, pointer: str = "/view") -> list[str]:
    """What Slack would say about a modal or Home tab view, as `message [json-pointer:/view/…]`.

    Empty when Slack would accept it.
    """
    checker = _Checker()
    spec = checker.obj(view, pointer)
    if spec is None:
        return checker.errors
    kind = spec.get("type")
    if kind not in ("modal", "home"):
        checker.fail('must be "modal" or "home"', f"{pointer}/type")
    if kind == "modal":
        title = checker.required(spec, "title", pointer)
        if title is not None:
            checker.text(title, f"{pointer}/title", 24, plain=True)
    else:
        checker.optional_text(spec, "title", pointer, 24, plain=True)
    for key in ("submit", "close"):
        if kind == "home" and spec.get(key) is not None:
            checker.fail("a home view cannot have submit or close", f"{pointer}/{key}")
        checker.optional_text(spec, key, pointer, 24, plain=True)
    blocks = checker.required(spec, "blocks", pointer)
    if blocks is not None:
        checker.blocks(blocks, f"{pointer}/blocks", VIEW_BLOCKS_MAX, min_blocks=1)
    has_inputs = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks or ())
    if kind == "modal" and has_inputs and spec.get("submit") is None:
        checker.fail("a modal with input blocks must have submit", f"{pointer}/submit")
    for key, most in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        if spec.get(key) is not None:
            checker.string(spec[key], f"{pointer}/{key}", most)
    if not checker.errors:
        try:
            View(**copy.deepcopy(spec)).validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
            checker.fail(str(exc) or type(exc).__name__, pointer)
    return checker.errors


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def render_message(message: Mapping[str, Any]) -> str:
    """A message as plain text: its blocks when it has any (Slack shows those), else its text."""
    blocks = message.get("blocks")
    lines = _render_blocks(blocks, {}) if blocks else str(message.get("text") or "").splitlines()
    for attachment in message.get("attachments") or ():
        inner = render_message(attachment) if isinstance(attachment, dict) else ""
        lines.extend(f"│ {line}" for line in inner.splitlines())
    return "\n".join(lines)


def render_view(view: Mapping[str, Any]) -> str:
    """A modal or Home tab as plain text, showing what is typed into its inputs (`state`)."""
    title = _plain(view.get("title")) or ("Home" if view.get("type") == "home" else "")
    values = (view.get("state") or {}).get("values") or {}
    lines = [f"=== {title} ===", *_render_blocks(view.get("blocks") or [], values)]
    if view.get("type") == "modal":
        buttons = [_plain(view.get("close")) or "Cancel"]
        if view.get("submit"):
            buttons.append(_plain(view.get("submit")))
        lines.append("  ".join(f"[ {text} ]" for text in buttons))
    return "\n".join(lines)


def _plain(text: object) -> str:
    if isinstance(text, dict):
        return str(text.get("text", ""))
    return text if isinstance(text, str) else ""


def _render_blocks(blocks: list[Any], values: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, dict):
            lines.extend(_render_block(block, values))
    return lines


def _render_block(block: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [f"== {_plain(block.get('text'))} =="]
    if kind == "divider":
        return [_RULE]
    if kind == "section":
        return _render_section(block)
    if kind == "context":
        return [f"  · {_render_context_element(e)}" for e in block.get("elements") or ()]
    if kind == "actions":
        return ["  ".join(_render_element(e) for e in block.get("elements") or ())]
    if kind == "input":
        return _render_input(block, values)
    if kind == "image":
        return [f"[image: {block.get('alt_text', '')}]"]
    if kind == "markdown":
        return str(block.get("text", "")).splitlines()
    if kind == "rich_text":
        return _render_rich_text(block)
    return [f"[{kind}]"]


def _render_section(block: Mapping[str, Any]) -> list[str]:
    lines = _plain(block.get("text")).splitlines()
    fields = [_field_line(_plain(field)) for field in block.get("fields") or ()]
    width = max((len(field) for field in fields[::2]), default=0)
    for left, right in itertools.zip_longest(fields[::2], fields[1::2]):
        lines.append(left if right is None else f"{left.ljust(width)}   {right}")
    accessory = block.get("accessory")
    if isinstance(accessory, dict) and accessory.get("type") != "image":
        button = _render_element(accessory)
        lines = [*lines[:-1], f"{lines[-1]}  {button}"] if lines else [button]
    return lines


def _field_line(text: str) -> str:
    """`*Label*\\nvalue`, as Slack stacks a field, on one line: `Label: value`."""
    label, _, value = text.partition("\n")
    if not value:
        return text
    return f"{label.strip().strip('*_').rstrip(':')}: {' '.join(value.split())}"


def _render_context_element(element: object) -> str:
    if not isinstance(element, dict):
        return ""
    if element.get("type") == "image":
        return f"[{element.get('alt_text', 'image')}]"
    return " ".join(_plain(element).splitlines())


def _render_element(element: object) -> str:
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "button":
        return f"[ {_plain(element.get('text'))} ]"
    if kind == "overflow":
        return "[ … ]"
    if kind in _SELECTS:
        chosen = element.get("initial_option")
        label = _plain(chosen.get("text")) if isinstance(chosen, dict) else ""
        return f"[ {label or _plain(element.get('placeholder')) or 'Select'} ▾ ]"
    return f"[ {_plain(element.get('placeholder')) or kind} ]"


def _render_input(block: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    element = block.get("element") or {}
    state = (values.get(str(block.get("block_id"))) or {}).get(element.get("action_id")) or {}
    value = _state_text(state) or _initial_text(element) or "________"
    optional = " (optional)" if block.get("optional") else ""
    lines = [f"<{_plain(block.get('label'))}{optional}: {value}>"]
    if block.get("hint"):
        lines.append(f"  ({_plain(block.get('hint'))})")
    return lines


def _state_text(state: Mapping[str, Any]) -> str:
    if state.get("value") is not None:
        return str(state["value"])
    option = state.get("selected_option")
    if isinstance(option, dict):
        return _plain(option.get("text"))
    picked = [state.get(key) for key in _PICKED_KEYS.values()]
    return next((str(value) for value in picked if value is not None), "")


def _initial_text(element: Mapping[str, Any]) -> str:
    if element.get("initial_value") is not None:
        return str(element["initial_value"])
    option = element.get("initial_option")
    return _plain(option.get("text")) if isinstance(option, dict) else ""


def _render_rich_text(block: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for part in block.get("elements") or ():
        kind = part.get("type")
        if kind == "rich_text_list":
            lines.extend(
                f"• {_inline(item.get('elements'))}" for item in part.get("elements") or ()
            )
        elif kind == "rich_text_preformatted":
            lines.extend(["```", *_inline(part.get("elements")).splitlines(), "```"])
        elif kind == "rich_text_quote":
            lines.extend(f"> {line}" for line in _inline(part.get("elements")).splitlines())
        else:
            lines.extend(_inline(part.get("elements")).splitlines())
    return lines


def _inline(elements: object) -> str:
    if not isinstance(elements, list):
        return ""
    pieces: list[str] = []
    for element in elements:
        kind = element.get("type")
        if kind == "text":
            pieces.append(str(element.get("text", "")))
        elif kind == "link":
            pieces.append(str(element.get("text") or element.get("url", "")))
        elif kind == "emoji":
            pieces.append(f":{element.get('name', '')}:")
        elif kind == "user":
            pieces.append(f"<@{element.get('user_id', '')}>")
        elif kind == "channel":
            pieces.append(f"<#{element.get('channel_id', '')}>")
    return "".join(pieces)


# ---------------------------------------------------------------------------------------------
# FakeSlack
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SlackCall:
    """One request the bot made to the fake: a Web API method, `response_url` or an ack.

    `method` is the Web API method (`chat.postMessage`), `response_url` for a POST to a
    response URL, or `ack` for the body the bot answered a slash command or view submission
    with (applied like Slack applies it). `args` holds the parsed arguments, with `blocks` and
    `view` decoded when sent as form fields; `token` comes from the `Authorization` header.
    """

    method: str
    args: dict[str, Any]
    token: str | None
    response: dict[str, Any]
    status: int = 200


@dataclass(slots=True)
class _Failure:
    error: str
    status: int
    retry_after: int | None


@dataclass(slots=True)
class _Trigger:
    user: str
    view_id: str | None
    issued: float
    used: bool = False


@dataclass(slots=True)
class _Hook:
    channel: str | None
    user: str | None
    message_ts: str | None
    ephemeral: bool
    issued: float
    uses: int = 0


class _SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.response: dict[str, Any] = {"ok": False, "error": error, **extra}


def _refusal(error: str, messages: list[str]) -> _SlackError:
    """Slack's answer to Block Kit it will not take: `invalid_blocks` also lists `errors`."""
    metadata = {"messages": [f"[ERROR] {message}" for message in messages]}
    if error == "invalid_blocks":
        return _SlackError(error, errors=messages, response_metadata=metadata)
    return _SlackError(error, response_metadata=metadata)


def _text_arg(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    return str(value) if value not in (None, "") else None


def _interactive_elements(block: Mapping[str, Any]) -> list[Any]:
    elements = [block.get("accessory"), block.get("element")]
    if block.get("type") == "actions":
        elements.extend(block.get("elements") or ())
    return elements


def _fill_ids(blocks: list[Any], ids: Iterator[int]) -> list[Any]:
    """A copy of `blocks` where, as Slack does, every block and element has an id."""
    filled = copy.deepcopy(blocks)
    for block in filled:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", f"b{next(ids)}")
        for element in _interactive_elements(block):
            if isinstance(element, dict) and element.get("type") != "image":
                element.setdefault("action_id", f"a{next(ids)}")
    return filled


_Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeSlack(LoopbackServer):
    """Slack's Web API and response URLs, on a local aiohttp server, for one workspace.

    Point the bot's `AsyncWebClient(base_url=…)` (`SLACK_API_URL`) at `api_url`. Any token
    `xoxb-…` is accepted. `clock` (seconds, monotonic) times trigger ids and response URLs.
    `chat.update`/`chat.delete` need a message the bot posted here; reactions and permalinks
    take any `ts`, so that events made up by a test work too.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_user_id: str = "UBOT",
        team_id: str = "T0001",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        super().__init__(host, port)
        self.calls: list[SlackCall] = []
        self._clock = clock
        self._ts = itertools.count()
        self._ids = itertools.count(1)
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._reactions: dict[tuple[str, str], set[str]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._hooks: dict[str, _Hook] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._members: dict[str, list[str]] = {}
        self._users: dict[str, str] = {}
        self._groups: dict[str, list[str]] = {}
        self._waiters: list[tuple[Callable[[SlackCall], bool], asyncio.Future[SlackCall]]] = []
        self._methods: dict[str, _Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/hooks/{hook}", self._response_url)
        app.router.add_post("/control/trigger", self._control_trigger)
        app.router.add_post("/control/response-url", self._control_response_url)
        return app

    def runner_options(self) -> dict[str, Any]:
        return {"access_log": None, "shutdown_timeout": _SHUTDOWN_TIMEOUT_S}

    @property
    def api_url(self) -> str:
        """`http://127.0.0.1:PORT/api/`: the Web API base URL for `AsyncWebClient(base_url=…)`."""
        return f"{self.base_url}/api/"

    # -- set-up and injection ------------------------------------------------------------------

    def set_channel_members(self, channel: str, users: list[str]) -> None:
        """Who is in `channel`; without the bot user, posting there fails with `not_in_channel`.

        Channels never set hold the bot and every known user.
        """
        self._members[channel] = list(users)

    def set_user_group(self, group: str, users: list[str]) -> None:
        """Who is in user group `group` (`S…`), as `usergroups.users.list` answers."""
        self._groups[group] = list(users)

    def add_user(self, user_id: str, name: str) -> None:
        """Make `users.info` answer `name` for `user_id` (`SlackUser` registers itself)."""
        self._users[user_id] = name

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Fail the next `times` calls of `method` (or `response_url`) without doing them.

        `error` alone answers `{"ok": false, "error": error}` with HTTP 200; `status=429`
        answers `ratelimited` with `Retry-After: retry_after` (default 1); 500 and 503 answer a
        server error.
        """
        if error is None and status == 200:
            raise ValueError("give an error, a non-200 status or both")
        if status == 429 and retry_after is None:
            retry_after = 1
        failure = _Failure(error or _DEFAULT_ERRORS.get(status, "fatal_error"), status, retry_after)
        self._failures.setdefault(method, deque()).extend([failure] * times)

    def issue_trigger_id(self, user_id: str, *, view_id: str | None = None) -> str:
        """A fresh trigger id for an interaction of `user_id` (from within `view_id`, if any).

        It opens or pushes one view, within 3 s.
        """
        trigger_id = f"{next(self._ids)}.{self.team_id[1:] or '1'}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(user_id, view_id, self._clock())
        return trigger_id

    def new_response_url(
        self,
        *,
        channel: str | None = None,
        user: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """A response URL on this server: 5 uses within 30 minutes, like Slack's.

        Posts to it are recorded as `SlackCall(method="response_url")` and land in `channel`:
        `in_channel` as messages, others as ephemerals to `user`; `replace_original` and
        `delete_original` act on the message `message_ts` (an ephemeral one if `ephemeral`).
        """
        hook_id = f"{next(self._ids)}-{secrets.token_hex(12)}"
        self._hooks[hook_id] = _Hook(channel, user, message_ts, ephemeral, self._clock())
        return f"{self.base_url}/hooks/{hook_id}"

    def post_user_message(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Put a message of a person into `channel` (as if typed in Slack) and return it."""
        message: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": self._next_ts(),
            "team": self.team_id,
            "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        self._messages.setdefault(channel, []).append(message)
        return copy.deepcopy(message)

    def close_view(self, view_id: str) -> None:
        """The user closed the modal at `view_id` (and the views pushed on top of it).

        Later `views.update` calls for them answer `not_found`.
        """
        view = self._views.get(view_id)
        if view is None:
            raise KeyError(f"no open view {view_id!r}")
        root = str(view["root_view_id"])
        stack = self._stacks.get(root, [view_id])
        index = stack.index(view_id)
        closing, self._stacks[root] = stack[index:], stack[:index]
        if not self._stacks[root]:
            del self._stacks[root]
        for closed in closing:
            del self._views[closed]

    # -- inspection ----------------------------------------------------------------------------

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Open views (modals and Home tabs) by id, as Slack holds them now; read only."""
        return self._views

    def calls_to(self, method: str) -> list[SlackCall]:
        """The recorded calls of `method`, failed ones included, oldest first."""
        return [call for call in self.calls if call.method == method]

    def messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Messages in `channel` as they are now (updates applied, deleted ones gone).

        With `thread_ts`: the thread's parent and replies only. Oldest first.
        """
        return [
            copy.deepcopy(message)
            for message in self._messages.get(channel, ())
            if thread_ts is None or thread_ts in (message["ts"], message.get("thread_ts"))
        ]

    def ephemerals(self, channel: str, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages shown in `channel` (to `user`, if given), each with `recipient`."""
        return [
            copy.deepcopy(message)
            for message in self._ephemerals
            if message["channel"] == channel and user in (None, message["recipient"])
        ]

    def reactions(self, channel: str, ts: str) -> set[str]:
        """The bot's reactions on the message `ts` in `channel`."""
        return set(self._reactions.get((channel, ts), ()))

    def channel_name(self, channel: str) -> str:
        """The name Slack shows for `channel` in payloads."""
        return "directmessage" if channel.startswith("D") else channel.lower()

    async def wait_for(
        self,
        predicate: Callable[[SlackCall], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a test waits for one call, not a whole block
        *,
        since: int = 0,
    ) -> SlackCall:
        """The first call from `calls[since:]` on, past or future, that matches `predicate`.

        Raises TimeoutError, listing the calls seen, when none arrives within `timeout` s.
        """
        for call in self.calls[since:]:
            if predicate(call):
                return call
        waiter = (predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        except TimeoutError:
            seen = ", ".join(call.method for call in self.calls[since:]) or "none"
            raise TimeoutError(f"no matching Slack call within {timeout} s; seen: {seen}") from None
        finally:
            self._waiters.remove(waiter)

    # -- HTTP ----------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token: str | None = None
        args: dict[str, Any] = {}
        headers: dict[str, str] = {}
        status = 200
        try:
            args = await _read_args(request)
            token = _bearer(request) or _text_arg(args, "token")
            args.pop("token", None)
            handler = self._methods.get(method)
            if handler is None:
                raise _SlackError("unknown_method", req_method=method)
            if token is None:
                raise _SlackError("not_authed")
            if not token.startswith("xoxb-"):
                raise _SlackError("invalid_auth")
            failure = self._take_failure(method)
            if failure is not None:
                status, headers = failure.status, _failure_headers(failure)
                raise _SlackError(failure.error)
            response = {"ok": True, **handler(args)}
        except _SlackError as refusal:
            response = refusal.response
        self._record(SlackCall(method, args, token, response, status))
        return web.json_response(response, status=status, headers=headers)

    async def _control_trigger(self, request: web.Request) -> web.Response:
        """For a driver in another process: a fresh trigger id, as a click would bring."""
        return web.json_response({"trigger_id": self.issue_trigger_id(request.query["user"])})

    async def _control_response_url(self, request: web.Request) -> web.Response:
        """For a driver in another process: a fresh response_url for `channel`."""
        url = self.new_response_url(channel=request.query.get("channel"))
        return web.json_response({"response_url": url})

    async def _response_url(self, request: web.Request) -> web.Response:
        status, headers = 200, {}
        try:
            body = await request.json()
        except ValueError:
            body = None
        args: dict[str, Any] = body if isinstance(body, dict) else {}
        try:
            failure = self._take_failure("response_url")
            if failure is not None:
                status, headers = failure.status, _failure_headers(failure)
                raise _SlackError(failure.error)
            hook = self._live_hook(request.match_info["hook"])
            if body is None:
                raise _SlackError("invalid_payload")
            hook.uses += 1
            self._deliver(hook, args)
            response: dict[str, Any] = {"ok": True}
        except _SlackError as refusal:
            response = refusal.response
            if status == 200:
                status = 404 if refusal.error in _DEAD_HOOK_ERRORS else 400
        self._record(SlackCall("response_url", args, None, response, status))
        return web.json_response(response, status=status, headers=headers)

    def _live_hook(self, hook_id: str) -> _Hook:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise _SlackError("invalid_url")
        if self._clock() - hook.issued > RESPONSE_URL_LIFETIME_S:
            raise _SlackError("expired_url")
        if hook.uses >= RESPONSE_URL_USES:
            raise _SlackError("used_url")
        return hook

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        return queue.popleft() if queue else None

    def _record(self, call: SlackCall) -> None:
        self.calls.append(call)
        for predicate, future in self._waiters:
            if future.done():
                continue
            try:
                if predicate(call):
                    future.set_result(call)
            except Exception as exc:  # a broken predicate fails its wait_for, not the server
                future.set_exception(exc)

    # -- acknowledgements, applied by SlackUser ------------------------------------------------

    def _acknowledge_message(self, response_url: str, body: dict[str, Any]) -> None:
        """A slash command's ack body: Slack shows it like a post to its response URL."""
        try:
            self._deliver(self._hooks[response_url.rsplit("/", 1)[-1]], body)
            response: dict[str, Any] = {"ok": True}
        except _SlackError as refusal:
            response = refusal.response
        self._record(SlackCall("ack", body, None, response))

    def _acknowledge_submission(self, view_id: str, body: dict[str, Any]) -> None:
        """A view submission's ack body: close, update, push, clear, or show errors."""
        try:
            self._apply_response_action(view_id, body)
            response: dict[str, Any] = {"ok": True}
        except _SlackError as refusal:
            response = refusal.response
        self._record(SlackCall("ack", body, None, response))

    def _apply_response_action(self, view_id: str, body: dict[str, Any]) -> None:
        action = body.get("response_action")
        view = self._views.get(view_id)
        if view is None:
            raise _SlackError("not_found")
        if action is None:
            self.close_view(view_id)
        elif action == "clear":
            self.close_view(str(view["root_view_id"]))
        elif action == "errors":
            errors = body.get("errors")
            if not isinstance(errors, dict) or not errors:
                raise _refusal("invalid_arguments", ["must provide errors [json-pointer:/errors]"])
            inputs = {b.get("block_id") for b in view["blocks"] if b.get("type") == "input"}
            unknown = sorted(set(errors) - inputs)
            if unknown:
                messages = [f"no input block {key} [json-pointer:/errors/{key}]" for key in unknown]
                raise _refusal("invalid_arguments", messages)
        elif action == "update":
            self._replace_view(view, self._checked_view(body, ("modal",), replacing=view_id))
        elif action == "push":
            self._push_view(view, self._checked_view(body, ("modal",)))
        else:
            raise _refusal("invalid_arguments", ["unknown response_action"])

    # -- messages ------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        micros = _FIRST_TS_US + next(self._ts) * _TS_STEP_US
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _bot_message(
        self, args: Mapping[str, Any], *, thread_ts: str | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": str(args.get("text") or ""),
            "ts": self._next_ts(),
            "team": self.team_id,
        }
        if args.get("blocks"):
            message["blocks"] = _fill_ids(args["blocks"], self._ids)
        if args.get("attachments"):
            message["attachments"] = copy.deepcopy(args["attachments"])
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        return message

    def _check_message(self, args: Mapping[str, Any]) -> None:
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise _SlackError("no_text")
        if args.get("blocks") is not None:
            errors = validate_blocks(args["blocks"])
            if errors:
                raise _refusal("invalid_blocks", errors)

    def _channel(self, args: Mapping[str, Any]) -> str:
        channel = _text_arg(args, "channel")
        if channel is None:
            raise _SlackError("channel_not_found")
        return channel

    def _members_of(self, channel: str) -> list[str]:
        return self._members.get(channel, [self.bot_user_id, *self._users])

    def _find_message(self, channel: str, ts: str | None) -> dict[str, Any]:
        for message in self._messages.get(channel, ()):
            if message["ts"] == ts:
                return message
        raise _SlackError("message_not_found")

    def _find_ephemeral(self, channel: str | None, ts: str | None) -> dict[str, Any]:
        for message in self._ephemerals:
            if message["ts"] == ts and message["channel"] == channel:
                return message
        raise _SlackError("message_not_found")

    def _locate(self, ts: str) -> tuple[str, dict[str, Any], bool] | None:
        """Where the message `ts` is: (channel, message as it is now, whether ephemeral)."""
        for channel, messages in self._messages.items():
            for message in messages:
                if message["ts"] == ts:
                    return channel, copy.deepcopy(message), False
        for message in self._ephemerals:
            if message["ts"] == ts:
                return str(message["channel"]), copy.deepcopy(message), True
        return None

    def _post_ephemeral(self, channel: str, user: str, args: Mapping[str, Any]) -> str:
        message = self._bot_message(args, thread_ts=_text_arg(args, "thread_ts"))
        message.update(channel=channel, recipient=user)
        self._ephemerals.append(message)
        return str(message["ts"])

    def _deliver(self, hook: _Hook, body: Mapping[str, Any]) -> None:
        """What Slack does with a message posted to a response URL (or a slash command's ack)."""
        if body.get("delete_original"):
            if hook.ephemeral:
                self._ephemerals.remove(self._find_ephemeral(hook.channel, hook.message_ts))
            else:
                channel = hook.channel or ""
                self._messages[channel].remove(self._find_message(channel, hook.message_ts))
            return
        self._check_message(body)
        if hook.channel is None:
            raise _SlackError("channel_not_found")
        if body.get("replace_original") and hook.message_ts is not None:
            if hook.ephemeral:
                target = self._find_ephemeral(hook.channel, hook.message_ts)
            else:
                target = self._find_message(hook.channel, hook.message_ts)
            target["text"] = str(body.get("text") or "")
            for key in ("blocks", "attachments"):
                target.pop(key, None)
            if body.get("blocks"):
                target["blocks"] = _fill_ids(body["blocks"], self._ids)
            if body.get("attachments"):
                target["attachments"] = copy.deepcopy(body["attachments"])
        elif body.get("response_type") == "in_channel":
            message = self._bot_message(body, thread_ts=_text_arg(body, "thread_ts"))
            self._messages.setdefault(hook.channel, []).append(message)
        else:
            self._post_ephemeral(hook.channel, hook.user or "", body)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{PERMALINK_BASE}/",
            "team": "Fake Team",
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if self.bot_user_id not in self._members_of(channel):
            raise _SlackError("not_in_channel")
        self._check_message(args)
        message = self._bot_message(args, thread_ts=_text_arg(args, "thread_ts"))
        self._messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find_message(channel, _text_arg(args, "ts"))
        if message.get("user") != self.bot_user_id:
            raise _SlackError("cant_update_message")
        if "text" not in args and "blocks" not in args:
            raise _SlackError("no_text")
        if args.get("blocks") is not None:
            errors = validate_blocks(args["blocks"])
            if errors:
                raise _refusal("invalid_blocks", errors)
        if "text" in args:
            message["text"] = str(args["text"] or "")
        if "blocks" in args:
            message.pop("blocks", None)
            if args["blocks"]:
                message["blocks"] = _fill_ids(args["blocks"], self._ids)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find_message(channel, _text_arg(args, "ts"))
        if message.get("user") != self.bot_user_id:
            raise _SlackError("cant_delete_message")
        self._messages[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user = _text_arg(args, "user")
        if user is None:
            raise _SlackError("user_not_found")
        members = self._members_of(channel)
        if self.bot_user_id not in members:
            raise _SlackError("not_in_channel")
        if user not in members:
            raise _SlackError("user_not_in_channel")
        self._check_message(args)
        return {"message_ts": self._post_ephemeral(channel, user, args)}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = _text_arg(args, "message_ts")
        if ts is None:
            raise _SlackError("message_not_found")
        permalink = f"{PERMALINK_BASE}/archives/{channel}/p{ts.replace('.', '')}"
        located = self._locate(ts)
        thread_ts = located[1].get("thread_ts") if located else None
        if thread_ts not in (None, ts):
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": permalink}

    def _reaction(self, args: Mapping[str, Any]) -> tuple[set[str], str]:
        channel, ts, name = (_text_arg(args, key) for key in ("channel", "timestamp", "name"))
        if channel is None or ts is None:
            raise _SlackError("no_item_specified")
        if name is None:
            raise _SlackError("invalid_name")
        return self._reactions.setdefault((channel, ts), set()), name

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        names, name = self._reaction(args)
        if name in names:
            raise _SlackError("already_reacted")
        names.add(name)
        return {}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        names, name = self._reaction(args)
        if name not in names:
            raise _SlackError("no_reaction")
        names.remove(name)
        return {}

    # -- views ---------------------------------------------------------------------------------

    def _checked_view(
        self, args: Mapping[str, Any], kinds: tuple[str, ...], *, replacing: str | None = None
    ) -> dict[str, Any]:
        spec = args.get("view")
        if spec is None:
            raise _refusal("invalid_arguments", ["missing required field: view"])
        errors = validate_view(spec)
        if not errors and spec.get("type") not in kinds:
            errors = [f"must be {' or '.join(kinds)} here [json-pointer:/view/type]"]
        if errors:
            raise _refusal("invalid_arguments", errors)
        external_id = spec.get("external_id")
        if external_id and any(
            v["external_id"] == external_id and v["id"] != replacing for v in self._views.values()
        ):
            raise _SlackError("duplicate_external_id")
        return dict(spec)

    def _exchange(self, args: Mapping[str, Any]) -> _Trigger:
        trigger_id = _text_arg(args, "trigger_id") or _text_arg(args, "interactivity_pointer")
        trigger = self._triggers.get(trigger_id or "")
        if trigger is None:
            raise _SlackError("invalid_trigger_id")
        if trigger.used:
            raise _SlackError("exchanged_trigger_id")
        if self._clock() - trigger.issued > TRIGGER_LIFETIME_S:
            raise _SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _view_record(
        self, spec: Mapping[str, Any], view_id: str, *, root: str, previous: str | None
    ) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec["type"],
            "title": copy.deepcopy(spec.get("title")),
            "submit": copy.deepcopy(spec.get("submit")),
            "close": copy.deepcopy(spec.get("close")),
            "blocks": _fill_ids(spec["blocks"], self._ids),
            "private_metadata": str(spec.get("private_metadata") or ""),
            "callback_id": str(spec.get("callback_id") or ""),
            "external_id": str(spec.get("external_id") or ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(spec.get("clear_on_close")),
            "notify_on_close": bool(spec.get("notify_on_close")),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": APP_ID,
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        self._views[view_id] = view
        return view

    def _new_view_id(self) -> str:
        return f"V{next(self._ids):08d}"

    def _open_view(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        view_id = self._new_view_id()
        self._stacks[view_id] = [view_id]
        return self._view_record(spec, view_id, root=view_id, previous=None)

    def _push_view(self, below: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
        stack = self._stacks[str(below["root_view_id"])]
        if len(stack) >= VIEW_STACK_LIMIT:
            raise _SlackError("push_limit_reached")
        view_id = self._new_view_id()
        view = self._view_record(spec, view_id, root=stack[0], previous=stack[-1])
        stack.append(view_id)
        return view

    def _replace_view(self, current: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
        state = current["state"]
        view = self._view_record(
            spec,
            str(current["id"]),
            root=str(current["root_view_id"]),
            previous=current["previous_view_id"],
        )
        view["state"] = state
        view["external_id"] = view["external_id"] or current["external_id"]
        return view

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._checked_view(args, ("modal",))
        self._exchange(args)
        return {"view": copy.deepcopy(self._open_view(spec))}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._checked_view(args, ("modal",))
        trigger = self._exchange(args)
        below = self._views.get(trigger.view_id or "")
        if below is None or below["type"] != "modal":
            raise _SlackError("not_found")
        return {"view": copy.deepcopy(self._push_view(below, spec))}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = _text_arg(args, "view_id"), _text_arg(args, "external_id")
        if view_id is None and external_id is None:
            raise _refusal("invalid_arguments", ["must provide view_id or external_id"])
        current = next(
            (
                view
                for view in self._views.values()
                if view["id"] == view_id or (external_id and view["external_id"] == external_id)
            ),
            None,
        )
        if current is None:
            raise _SlackError("not_found")
        spec = self._checked_view(args, ("modal", "home"), replacing=str(current["id"]))
        return {"view": copy.deepcopy(self._replace_view(current, spec))}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _text_arg(args, "user_id")
        if user is None:
            raise _refusal("invalid_arguments", ["missing required field: user_id"])
        view_id = self._homes.get(user) or self._new_view_id()
        spec = self._checked_view(args, ("home",), replacing=view_id)
        self._homes[user] = view_id
        view = self._view_record(spec, view_id, root=view_id, previous=None)
        return {"view": copy.deepcopy(view)}

    # -- conversations and users ---------------------------------------------------------------

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        return {
            "channel": {
                "id": channel,
                "name": self.channel_name(channel),
                "is_channel": channel.startswith("C"),
                "is_group": False,
                "is_im": channel.startswith("D"),
                "is_private": channel.startswith("G"),
                "is_archived": False,
                "is_member": self.bot_user_id in self._members_of(channel),
            }
        }

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self._members_of(self._channel(args))
        return {"members": list(members), "response_metadata": {"next_cursor": ""}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _text_arg(args, "user")
        if user is None or not user.startswith(("U", "W")):
            raise _SlackError("user_not_found")
        bot = user == self.bot_user_id
        name = BOT_NAME if bot else self._users.get(user, user.lower())
        return {
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": name,
                "real_name": name,
                "is_bot": bot,
                "deleted": False,
                "tz": "UTC",
                "profile": {"display_name": name, "real_name": name},
            }
        }

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = _text_arg(args, "usergroup")
        if group is None or group not in self._groups:
            raise _SlackError("no_such_subteam")
        return {"users": list(self._groups[group])}


async def _read_args(request: web.Request) -> dict[str, Any]:
    """The call's arguments: query string, then a JSON or form body; JSON-in-form decoded."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise _SlackError("invalid_json")
            args.update(body)
        else:
            form = await request.post()
            args.update({key: value for key, value in form.items() if isinstance(value, str)})
    for key in _JSON_ARGS:
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                raise _SlackError(f"invalid_{key}") from None
    return args


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _failure_headers(failure: _Failure) -> dict[str, str]:
    return {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}


# ---------------------------------------------------------------------------------------------
# SlackUser
# ---------------------------------------------------------------------------------------------


def sign(body: bytes, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers for `body` (timestamp: now)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=stamp, body=body)
    if signature is None:
        raise RuntimeError("slack_sdk made no signature")
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


class SlackUser:
    """A person in the workspace: sends the bot at `bot_url` what Slack sends on their behalf.

    Every request is signed with `signing_secret`. Like Slack, it waits `ack_timeout` s for
    the bot's answer (httpx raises `TimeoutException` past it), then applies the answer to
    `slack`: a slash command's reply is shown, a view submission's `response_action` done.
    Trigger ids and response URLs come from `slack`; `last_trigger_id` is the latest one
    (empty before the first interaction).
    """

    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        slack: FakeSlack,
        *,
        user_id: str = "U123",
        user_name: str = "jane",
        team_id: str = "T0001",
        client: httpx.AsyncClient | None = None,
        ack_timeout: float = 3.0,
    ) -> None:
        self.bot_url = bot_url
        self.user_id = user_id
        self.user_name = user_name
        self.team_id = team_id
        self.last_trigger_id = ""
        self._secret = signing_secret
        self._slack = slack
        self._client = client or httpx.AsyncClient()
        self._owns_client = client is None
        self._ack_timeout = ack_timeout
        slack.add_user(user_id, user_name)

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was passed in."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def slash_command(
        self, command: str, text: str, *, channel_id: str = "C111"
    ) -> httpx.Response:
        """Run `/command text` in `channel_id` (slash commands cannot run in threads)."""
        response_url = self._slack.new_response_url(channel=channel_id, user=self.user_id)
        form = {
            "token": _VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": _TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": self._slack.channel_name(channel_id),
            "user_id": self.user_id,
            "user_name": self.user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._trigger(),
        }
        response = await self._post(urllib.parse.urlencode(form).encode(), _FORM)
        body = _ack_body(response)
        if response.status_code == 200 and body:
            self._slack._acknowledge_message(response_url, body)
        return response

    async def click_button(
        self,
        message_or_view: Mapping[str, Any],
        action_id: str,
        *,
        channel_id: str | None = None,
        value: str | None = None,
    ) -> httpx.Response:
        """Click the button `action_id` in a message or a view, as it is now in `slack`.

        `value` overrides the button's own value; `channel_id` is needed only for a message
        `slack` never saw.
        """
        payload: dict[str, Any] = {"type": "block_actions", **self._envelope()}
        if message_or_view.get("type") in ("modal", "home"):
            view = self._open_view(str(message_or_view.get("id")))
            blocks = view["blocks"]
            payload.update(
                container={"type": "view", "view_id": view["id"]},
                view=view,
                trigger_id=self._trigger(view_id=str(view["id"])),
            )
        else:
            ts = str(message_or_view["ts"])
            located = self._slack._locate(ts)
            if located is not None:
                seen_in, message, ephemeral = located
                channel = channel_id or seen_in
            elif channel_id is not None:
                channel, message, ephemeral = channel_id, dict(message_or_view), False
            else:
                raise ValueError("give channel_id for a message FakeSlack has not seen")
            blocks = message.get("blocks") or []
            container: dict[str, Any] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            }
            if message.get("thread_ts"):
                container["thread_ts"] = message["thread_ts"]
            payload.update(
                container=container,
                channel={"id": channel, "name": self._slack.channel_name(channel)},
                trigger_id=self._trigger(),
                response_url=self._slack.new_response_url(
                    channel=channel, user=self.user_id, message_ts=ts, ephemeral=ephemeral
                ),
                state={"values": {}},
            )
            if not ephemeral:
                message.pop("recipient", None)
                payload["message"] = message
        block_id, button = _find_button(blocks, action_id)
        action: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": button.get("text"),
            "action_ts": f"{time.time():.6f}",
        }
        if value is not None or button.get("value") is not None:
            action["value"] = value if value is not None else button["value"]
        if button.get("style"):
            action["style"] = button["style"]
        payload["actions"] = [action]
        return await self._post_payload(payload)

    async def submit_view(self, view_id: str, values: dict[str, dict[str, str]]) -> httpx.Response:
        """Type `values` (`{block_id: {action_id: text}}`) into the modal and press submit.

        Select menus take the option's value. Raises ValueError for an input the view lacks or
        a required input left empty (the Slack client would not submit). The bot's ack is then
        applied: no `response_action` closes the view, `update`/`push`/`clear`/`errors` act.
        """
        view = self._open_view(view_id)
        view["state"] = {"values": _state_values(view["blocks"], values)}
        self._slack.views[view_id]["state"] = copy.deepcopy(view["state"])
        payload = {
            "type": "view_submission",
            **self._envelope(),
            "trigger_id": self._trigger(view_id=view_id),
            "view": view,
            "response_urls": [],
        }
        response = await self._post_payload(payload)
        if response.status_code == 200:
            self._slack._acknowledge_submission(view_id, _ack_body(response))
        return response

    async def close_modal(self, view_id: str) -> httpx.Response | None:
        """Close the modal; tell the bot (`view_closed`) only if it asked (`notify_on_close`).

        With `clear_on_close` the whole stack of views closes, else this view and those above.
        """
        view = self._open_view(view_id)
        cleared = bool(view.get("clear_on_close"))
        self._slack.close_view(str(view["root_view_id"]) if cleared else view_id)
        if not view.get("notify_on_close"):
            return None
        payload = {"type": "view_closed", **self._envelope(), "view": view, "is_cleared": cleared}
        return await self._post_payload(payload)

    async def message_shortcut(
        self, callback_id: str, message: Mapping[str, Any], *, channel_id: str
    ) -> httpx.Response:
        """Run the message shortcut `callback_id` on `message` in `channel_id`."""
        payload = {
            "type": "message_action",
            **self._envelope(),
            "callback_id": callback_id,
            "trigger_id": self._trigger(),
            "action_ts": f"{time.time():.6f}",
            "channel": {"id": channel_id, "name": self._slack.channel_name(channel_id)},
            "message_ts": message["ts"],
            "message": dict(message),
            "response_url": self._slack.new_response_url(channel=channel_id, user=self.user_id),
        }
        return await self._post_payload(payload)

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> httpx.Response:
        """Deliver `event` in an `event_callback` envelope; `retry_num` marks a redelivery."""
        envelope = {
            "token": _VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self._slack.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        headers = {"Content-Type": "application/json"}
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": _RETRY_REASON}
        return await self._post(json.dumps(envelope).encode(), headers)

    async def mention(
        self, text: str, *, channel_id: str, thread_ts: str | None = None
    ) -> httpx.Response:
        """Write `@bot text` in `channel_id` (in the thread `thread_ts`): an `app_mention`."""
        message = self._slack.post_user_message(
            channel_id, self.user_id, f"<@{self._slack.bot_user_id}> {text}", thread_ts=thread_ts
        )
        event = {**message, "type": "app_mention", "channel": channel_id, "event_ts": message["ts"]}
        return await self.send_event(event)

    def _trigger(self, *, view_id: str | None = None) -> str:
        self.last_trigger_id = self._slack.issue_trigger_id(self.user_id, view_id=view_id)
        return self.last_trigger_id

    def _open_view(self, view_id: str) -> dict[str, Any]:
        view = self._slack.views.get(view_id)
        if view is None:
            raise ValueError(f"view {view_id!r} is not open")
        return copy.deepcopy(view)

    def _envelope(self) -> dict[str, Any]:
        return {
            "user": {
                "id": self.user_id,
                "username": self.user_name,
                "name": self.user_name,
                "team_id": self.team_id,
            },
            "team": {"id": self.team_id, "domain": _TEAM_DOMAIN},
            "api_app_id": APP_ID,
            "token": _VERIFICATION_TOKEN,
            "is_enterprise_install": False,
            "enterprise": None,
        }

    async def _post_payload(self, payload: Mapping[str, Any]) -> httpx.Response:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return await self._post(body, _FORM)

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        signed = {**headers, **sign(body, self._secret), "User-Agent": _SLACK_USER_AGENT}
        return await self._client.post(
            self.bot_url, content=body, headers=signed, timeout=self._ack_timeout
        )


def _ack_body(response: httpx.Response) -> dict[str, Any]:
    """The bot's ack as Slack reads it: JSON, or plain text shown as a message."""
    if not response.content.strip():
        return {}
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        return body if isinstance(body, dict) else {}
    return {"text": response.text}


def _find_button(blocks: list[Any], action_id: str) -> tuple[str, dict[str, Any]]:
    seen: list[str] = []
    for block in blocks:
        for element in _interactive_elements(block):
            if isinstance(element, dict) and element.get("type") == "button":
                if element.get("action_id") == action_id:
                    return str(block.get("block_id")), element
                seen.append(str(element.get("action_id")))
    raise ValueError(f"no button {action_id!r}; buttons: {', '.join(seen) or 'none'}")


def _state_values(blocks: list[Any], typed: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """`view.state.values` as Slack sends it, with `typed` entered into the input blocks."""
    values: dict[str, Any] = {}
    remaining = {(block_id, action_id) for block_id, row in typed.items() for action_id in row}
    for block in blocks:
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        block_id, action_id = str(block["block_id"]), str(element["action_id"])
        text = typed.get(block_id, {}).get(action_id)
        remaining.discard((block_id, action_id))
        if text is None and not block.get("optional") and _initial_text(element) == "":
            raise ValueError(f"input {block_id}/{action_id} is required but left empty")
        values[block_id] = {action_id: _element_state(element, text)}
    if remaining:
        missing = ", ".join(f"{block_id}/{action_id}" for block_id, action_id in sorted(remaining))
        raise ValueError(f"the view has no input {missing}")
    return values


def _element_state(element: Mapping[str, Any], text: str | None) -> dict[str, Any]:
    kind = str(element.get("type"))
    if kind in _TEXT_INPUTS:
        return {"type": kind, "value": text if text is not None else element.get("initial_value")}
    if kind in ("static_select", "radio_buttons"):
        if text is None:
            return {"type": kind, "selected_option": element.get("initial_option")}
        options = [o for o in element.get("options") or () if o.get("value") == text]
        if not options:
            raise ValueError(f"no option {text!r} in {element.get('action_id')}")
        return {"type": kind, "selected_option": options[0]}
    if kind in _PICKED_KEYS:
        return {"type": kind, _PICKED_KEYS[kind]: text}
    raise ValueError(f"SlackUser cannot fill a {kind} input")
