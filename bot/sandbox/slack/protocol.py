"""How Slack's Web API speaks, for the stand-in's methods: a refusal as Slack words it
(`SlackError`, `refusal`), an argument read as text, the ids Slack fills into blocks, and the
shape message metadata must have."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.response: dict[str, Any] = {"ok": False, "error": error, **extra}


def refusal(error: str, messages: list[str]) -> SlackError:
    """Slack's answer to Block Kit it will not take: `invalid_blocks` also lists `errors`."""
    metadata = {"messages": [f"[ERROR] {message}" for message in messages]}
    if error == "invalid_blocks":
        return SlackError(error, errors=messages, response_metadata=metadata)
    return SlackError(error, response_metadata=metadata)


def check_metadata(metadata: Any) -> None:
    """Message metadata as chat.postMessage takes it: `event_type` (a name) and `event_payload`
    (an object); anything else is `invalid_metadata_format` (docs.slack.dev, "Message metadata")."""
    if metadata in (None, ""):
        return
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not metadata["event_type"]
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")


def text_arg(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    return str(value) if value not in (None, "") else None


def interactive_elements(block: Mapping[str, Any]) -> list[Any]:
    elements = [block.get("accessory"), block.get("element")]
    if block.get("type") == "actions":
        elements.extend(block.get("elements") or ())
    return elements


def fill_ids(blocks: list[Any], ids: Iterator[int]) -> list[Any]:
    """A copy of `blocks` where, as Slack does, every block and element has an id."""
    filled = copy.deepcopy(blocks)
    for block in filled:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", f"b{next(ids)}")
        for element in interactive_elements(block):
            if isinstance(element, dict) and element.get("type") != "image":
                element.setdefault("action_id", f"a{next(ids)}")
    return filled
