"""Block Kit turned into plain text for a transcript: what a person would read in Slack."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from bot.sandbox.slack.blockkit import PICKED_KEYS, SELECTS

_RULE = "─" * 40


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
    if kind in SELECTS:
        chosen = element.get("initial_option")
        label = _plain(chosen.get("text")) if isinstance(chosen, dict) else ""
        return f"[ {label or _plain(element.get('placeholder')) or 'Select'} ▾ ]"
    return f"[ {_plain(element.get('placeholder')) or kind} ]"


def _render_input(block: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    element = block.get("element") or {}
    state = (values.get(str(block.get("block_id"))) or {}).get(element.get("action_id")) or {}
    value = _state_text(state) or initial_text(element) or "________"
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
    picked = [state.get(key) for key in PICKED_KEYS.values()]
    return next((str(value) for value in picked if value is not None), "")


def initial_text(element: Mapping[str, Any]) -> str:
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
