"""The leak guard's words: what the warning and the support note say, built without Slack."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.engine.leaks import SecretKind
from bot.sandbox.slack.blockkit import validate_message
from handlers.blocks.leak import (
    CHECK_HELD_ACTION,
    PASTE_PRIVATELY_ACTION,
    leak_warning,
    support_leak_note,
)

EVERY_KIND = pytest.mark.parametrize("kind", list(SecretKind), ids=str)


def buttons(blocks: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]  # type: ignore[attr-defined]
    ]


@EVERY_KIND
def test_the_warning_says_what_it_is_who_sees_it_and_how_to_undo_it(kind: SecretKind) -> None:
    text, blocks = leak_warning([kind], shared_externally=False, hold_id="h1", checkable=True)
    words = json.dumps(blocks, ensure_ascii=False)

    assert validate_message({"text": text, "blocks": blocks}) == []
    assert "password to your Ecwid store" in text
    assert "Everyone in this channel" in words
    assert "Delete message" in words
    assert "Apps → My Apps" in words
    assert "disconnect" in words
    assert "Connect with Ecwid" in words


def test_in_a_slack_connect_channel_it_names_the_other_company() -> None:
    _text, blocks = leak_warning(
        [SecretKind.TOKEN], shared_externally=True, hold_id=None, checkable=False
    )

    assert "other company" in json.dumps(blocks, ensure_ascii=False)


def test_a_collection_url_is_said_to_have_been_previewed_by_slack() -> None:
    _text, blocks = leak_warning(
        [SecretKind.COLLECTION_URL], shared_externally=False, hold_id="h1", checkable=True
    )

    assert "Slack has also opened the link" in json.dumps(blocks, ensure_ascii=False)
    assert "new URL" in json.dumps(blocks, ensure_ascii=False)


def test_with_the_secret_held_the_button_carries_only_its_id() -> None:
    _text, blocks = leak_warning(
        [SecretKind.STORE_AND_TOKEN], shared_externally=False, hold_id="abc123", checkable=True
    )

    (button,) = buttons(blocks)
    assert button["action_id"] == CHECK_HELD_ACTION
    assert button["value"] == "abc123"
    assert "direct messages" in json.dumps(blocks, ensure_ascii=False)


def test_with_nothing_held_the_button_opens_the_private_form_and_says_why() -> None:
    _text, blocks = leak_warning(
        [SecretKind.TOKEN], shared_externally=False, hold_id=None, checkable=False
    )

    (button,) = buttons(blocks)
    assert button["action_id"] == PASTE_PRIVATELY_ACTION
    assert "value" not in button
    assert "I keep nothing of what you pasted" in json.dumps(blocks, ensure_ascii=False)
    assert "with your store ID" in json.dumps(blocks, ensure_ascii=False)


def test_the_support_note_says_who_where_and_when() -> None:
    when = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    text, blocks = support_leak_note(
        "U0OWNER",
        "C0CUSTOMER",
        "https://example.slack.com/archives/C0CUSTOMER/p1",
        when,
        [SecretKind.COLLECTION_URL],
        shared_externally=True,
    )

    assert validate_message({"text": text, "blocks": blocks}) == []
    assert "<@U0OWNER>" in text
    assert "<#C0CUSTOMER>" in text
    assert "|the message>" in text
    assert f"<!date^{int(when.timestamp())}^" in text
    assert "Slack Connect" in text
