"""Block Kit held to Slack's limits, as Slack's own validation would refuse it: `validate_message`,
`validate_blocks` and `validate_view` return the problems, each with its JSON pointer."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
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
SELECTS = frozenset(
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
TEXT_INPUTS = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input"})
# How Slack reports a typed or picked value in `view.state.values`, per element type.
PICKED_KEYS = {
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
}


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
        self.unique_id(block, "block_id", pointer, block_ids)
        kind = block.get("type")
        if kind is None:
            self.fail("missing required field: type", pointer)
        elif kind not in _BLOCK_TYPES:
            self.fail("failed to match all allowed schemas", f"{pointer}/type")
        else:
            self.block_fields(block, kind, pointer)
        if len(self.errors) == before:
            self.sdk_block(block, pointer)

    def unique_id(self, parent: Mapping[str, Any], key: str, pointer: str, seen: set[str]) -> None:
        """`parent[key]`, when given: 1 to 255 characters and none of those in `seen` (a
        `block_id` within a message or view, an `action_id` within a block)."""
        value = parent.get(key)
        if value is None:
            return
        self.string(value, f"{pointer}/{key}", 255, min_len=1)
        if isinstance(value, str):
            if value in seen:
                self.fail(f"duplicate {key}", f"{pointer}/{key}")
            seen.add(value)

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
        self.unique_id(element, "action_id", pointer, action_ids)
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
