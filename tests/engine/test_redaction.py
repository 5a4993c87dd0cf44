"""Secret types and log redaction: a token or collection URL never reaches a log line."""

from __future__ import annotations

import io
import logging
from urllib.parse import quote

import pytest

from bot.engine.catalogue import COLLECTION_URL_FORMAT
from bot.engine.redaction import (
    MAX_REDACTED_DEPTH,
    CollectionUrl,
    EcwidToken,
    mask_token,
    redact,
    redact_data,
)
from bot.logs import configure_logging

TOKEN = "secret_CANARYcanaryCANARYcanary1234"
URL = "https://ecwid-api-playground.s3.amazonaws.com/1003_abcdef0123.json.postman_collection"


def test_a_token_masks_itself_everywhere() -> None:
    token = EcwidToken(TOKEN)

    for shown in (str(token), repr(token), f"{token}", token.masked):
        assert "CANARY" not in shown
    assert token.masked == "secret_…1234"
    assert token.reveal() == TOKEN


def test_a_collection_url_shows_only_its_host() -> None:
    url = CollectionUrl(URL)

    assert str(url) == "https://ecwid-api-playground.s3.amazonaws.com/…"
    assert "abcdef" not in repr(url)


def test_secrets_refuse_to_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(EcwidToken(TOKEN))


@pytest.mark.parametrize(
    "text",
    [
        f"token={TOKEN}",
        f"Authorization: Bearer {TOKEN}",
        f"GET {URL}",
        f"GET https://app.ecwid.com/api/v3/1003/profile?token={TOKEN}&limit=1",
        f"<{URL}|my link>",
        f"repr: '1003\\n{TOKEN}'",
        f"access_token_{TOKEN}",
        TOKEN.upper(),
        TOKEN.replace("_", "%5F"),
        f"https://x.test/y#access_token={TOKEN}",
        URL.replace("/", "%2F").replace(":", "%3A"),
    ],
)
def test_redact_removes_tokens_and_collection_urls(text: str) -> None:
    redacted = redact(text)

    assert "CANARY" not in redacted
    assert "abcdef0123" not in redacted


def test_legacy_tokens_are_redacted_where_they_are_introduced() -> None:
    legacy = "0123456789abcdefCANARY0123456789"

    for text in (f"Authorization: Bearer {legacy}", f"token={legacy}", f'"token": "{legacy}"'):
        assert "CANARY" not in redact(text)


def test_a_live_secret_is_redacted_even_without_a_pattern() -> None:
    url = CollectionUrl("https://ecwid-api-playground.s3.amazonaws.com/1003_CANARYPATH.json")

    assert "CANARYPATH" not in redact(f"GET {url.reveal()} 200")


def test_the_products_own_words_about_the_url_are_not_redacted() -> None:
    assert redact("it ends in “.json.postman_collection”.") == (
        "it ends in “.json.postman_collection”."
    )


def test_mask_keeps_prefix_and_last_four() -> None:
    assert mask_token("public_abcdefghijklmnopqrstuvwxyz123456") == "public_…3456"
    assert mask_token("abcdefghijklmnopqrstuvwxyz") == "…wxyz"
    assert mask_token("short") == "…"


def test_every_logger_is_redacted_including_tracebacks_and_arguments() -> None:
    configure_logging("DEBUG")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        logging.getLogger("some.library").info("fetching %s", URL)
        try:
            raise ValueError(f"bad token {TOKEN}")
        except ValueError:
            logging.getLogger("another").exception("failed with %r", {"token": TOKEN})
    finally:
        logging.getLogger().removeHandler(handler)

    written = stream.getvalue()
    assert "fetching <collection URL redacted>" in written
    assert "ValueError" in written
    assert "CANARY" not in written
    assert "abcdef0123" not in written


@pytest.mark.parametrize(
    "text",
    [
        # A `.json` collection URL, which intake accepts as well.
        "see https://ecwid-api-playground.s3.amazonaws.com/1003_abcdef0123.json please",
        "https://collections.example.com/1003_abcdef0123.json?x=1",
        # Any object on S3: a collection URL cut short still names the secret object.
        "https://ecwid-api-playground.s3.amazonaws.com/1003_abcdef0123",
        "ecwid-api-playground.s3.amazonaws.com/1003_abcdef0123.json.postman",
        # Unlabelled legacy tokens in free text, as a note may hold them.
        "my token is 0123456789abcdefCANARY0123456789 thanks",
        "(0123456789abcdefCANARY0123456789)",
        # The older `secure_` prefix.
        "secure_CANARYcanaryCANARYcanary1234",
        "SECURE%5FCANARYcanaryCANARYcanary1234",
    ],
)
def test_every_token_and_collection_url_form_is_redacted(text: str) -> None:
    redacted = redact(text)

    assert "CANARY" not in redacted
    assert "abcdef0123" not in redacted


def test_a_callers_own_secrets_are_redacted_whatever_they_look_like() -> None:
    token = EcwidToken("CANARY-is-not-a-token-shape")
    url = CollectionUrl("https://host.example/CANARYPATH")
    text = f"name: {token.reveal()}, link: {url.reveal()}, encoded: {quote(url.reveal(), safe='')}"

    redacted = redact(text, [token, url])

    assert "CANARY" not in redacted


@pytest.mark.parametrize(
    "text",
    [
        "Example Shop, store 1003",
        "see src/package.json and /etc/app.json",
        "https://shop.company.site",
        "https://api-playground.ecwid.com/",
        "internationalization",  # long, but letters only
        "1700000000.000100",  # a Slack timestamp
        COLLECTION_URL_FORMAT,
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_data_walks_nested_values_with_a_bound() -> None:
    deep: object = TOKEN
    for _ in range(MAX_REDACTED_DEPTH + 5):
        deep = [deep]
    data = {"store": {"name": TOKEN, TOKEN: [1, None, f"x {URL}"]}, "deep": deep}

    redacted = redact_data(data)

    assert "CANARY" not in repr(redacted)
    assert "abcdef0123" not in repr(redacted)
    assert redacted["store"]["name"] == "secret_…1234"
