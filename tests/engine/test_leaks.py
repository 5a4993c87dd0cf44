"""Spotting secrets in chat messages: exactly what intake would take, and nothing else."""

from __future__ import annotations

import pytest

from bot.engine.intake import CollectionPaste, CredentialsPaste, read_paste
from bot.engine.leaks import MAX_MESSAGE_CHARS, SecretKind, might_hold_secret, spot_secrets
from bot.settings import CollectionHost

HOSTS = (CollectionHost.parse("ecwid-api-playground.s3.amazonaws.com"),)
URL = "https://ecwid-api-playground.s3.amazonaws.com/1003_a1b2c3d4.json.postman_collection"
TOKEN = "secret_" + "a1B2" * 8
LEGACY = "0123456789abcdefLEGACYtoken0123"


@pytest.mark.parametrize(
    "text",
    [
        f"here it is: <{URL}>",
        f"here it is: <{URL}|my collection>",
        f"&lt;{URL}&gt; see above",
        f"`{URL}`",
        f"*<{URL}>*",
        f"*{URL}*",
    ],
)
def test_a_collection_url_in_slack_markup_is_spotted(text: str) -> None:
    spotted = spot_secrets(text, HOSTS)

    assert spotted is not None
    assert spotted.kinds == (SecretKind.COLLECTION_URL,)
    assert spotted.paste == read_paste(URL, HOSTS)


@pytest.mark.parametrize("prefix", ["secret_", "public_", "secure_"])
def test_a_prefixed_token_alone_is_spotted_but_cannot_be_checked(prefix: str) -> None:
    spotted = spot_secrets(f"my token: {prefix}{'a1B2' * 8}, thanks", HOSTS)

    assert spotted is not None
    assert spotted.kinds == (SecretKind.TOKEN,)
    assert spotted.paste is None


@pytest.mark.parametrize(
    "text",
    [
        f"1003 {TOKEN}",
        f"{TOKEN} 1003",
        f"Store ID: 1003\nToken: {TOKEN}",
        f"store_id=1003, access token is {TOKEN}",
        f"Store ID: 1003, token: {LEGACY}",
        f"{LEGACY} for store #1003",
        f"https://app.ecwid.com/api/v3/1003/profile?token={TOKEN}",
    ],
)
def test_a_token_beside_its_store_id_is_spotted_with_what_to_check(text: str) -> None:
    spotted = spot_secrets(text, HOSTS)

    assert spotted is not None
    assert spotted.kinds == (SecretKind.STORE_AND_TOKEN,)
    assert isinstance(spotted.paste, CredentialsPaste)
    assert spotted.paste.credentials.store_id == 1003


def test_a_collection_url_is_checked_first_when_both_are_there() -> None:
    spotted = spot_secrets(f"{URL} and 1003 {TOKEN}", HOSTS)

    assert spotted is not None
    assert spotted.kinds == (SecretKind.COLLECTION_URL, SecretKind.STORE_AND_TOKEN)
    assert isinstance(spotted.paste, CollectionPaste)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hi! How is the migration going?",
        "see https://example.com/docs/package.json",
        "https://ecwid-api-playground.s3.amazonaws.com/",
        "https://other-bucket.s3.amazonaws.com/1003_a1b2.json.postman_collection",
        "https://my.ecwid.com/cp/#products",
        "https://api-playground.ecwid.com/",
        f"commit {LEGACY}",  # a long code without a store ID next to it
        "the secret_sauce of it",
        "secret_" + "a" * 10,  # too short for a token
        "order 1003, tracking 1Z999AA10123456784",
        "https://app.ecwid.com/api/v3/1003/profile",  # an API address without a token
    ],
)
def test_ordinary_text_and_other_urls_are_not_spotted(text: str) -> None:
    assert spot_secrets(text, HOSTS) is None


def test_what_counts_as_a_collection_url_follows_intakes_allow_list() -> None:
    sandbox = (CollectionHost.parse("http://127.0.0.1:8765"),)
    local = "http://127.0.0.1:8765/1003_ab.json.postman_collection"

    assert spot_secrets(local, HOSTS) is None
    assert spot_secrets(local, sandbox) is not None
    assert spot_secrets(URL, sandbox) is None


def test_the_cheap_first_look_turns_ordinary_text_away() -> None:
    assert not might_hold_secret("thanks, all good " * 2000)
    assert might_hold_secret(f"thanks {TOKEN}")
    assert might_hold_secret("name.postman_collection")


def test_only_the_first_40000_characters_are_read() -> None:
    padding = "x " * (MAX_MESSAGE_CHARS // 2)

    assert spot_secrets(f"{TOKEN} {padding}", HOSTS) is not None
    assert spot_secrets(f"{padding} {TOKEN}", HOSTS) is None


def test_a_store_id_cut_by_the_window_is_not_taken_for_one() -> None:
    digits = "9" * 60

    assert spot_secrets(f"{digits} {LEGACY}", HOSTS) is None
