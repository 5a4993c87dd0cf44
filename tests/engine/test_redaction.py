"""Secret types and log redaction: a token or collection URL never reaches a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import redaction
from bot.engine.catalogue import COLLECTION_URL_FORMAT
from bot.engine.redaction import (
    CLEAN_CACHE_MAX_CHARS,
    CLEAN_CACHE_SIZE,
    MAX_REDACTED_DEPTH,
    CollectionUrl,
    EcwidToken,
    _CleanTexts,
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


# --- The cache of clean texts -------------------------------------------------------------------


@pytest.fixture
def clean_cache() -> Iterator[_CleanTexts]:
    redaction._CLEAN.clear()
    yield redaction._CLEAN
    redaction._CLEAN.clear()


def test_a_text_holding_a_secret_is_never_remembered_as_clean(clean_cache: _CleanTexts) -> None:
    text = f"store name {TOKEN} at {URL}"

    first, second = redact(text, live=False), redact(text, live=False)

    assert first == second
    assert "CANARY" not in second
    assert "abcdef0123" not in second
    assert not clean_cache.known(text)
    assert len(clean_cache) == 0


def test_a_text_remembered_clean_is_still_redacted_once_its_secret_is_known(
    clean_cache: _CleanTexts,
) -> None:
    # No pattern recognises this (short, labelless, letters only): clean as far as patterns go.
    text = "store name CANARYshort"
    assert redact(text, live=False) == text
    assert clean_cache.known(text)

    # Once it is the caller's own secret, or one this process holds, it goes all the same.
    assert "CANARY" not in redact(text, [EcwidToken("CANARYshort")], live=False)
    held = EcwidToken("CANARYshort")
    assert "CANARY" not in redact(text)
    del held


def test_the_clean_cache_is_bounded(clean_cache: _CleanTexts) -> None:
    for number in range(CLEAN_CACHE_SIZE + 100):
        redact(f"step {number} passed", live=False)
    redact("x" * (CLEAN_CACHE_MAX_CHARS + 1), live=False)

    assert len(clean_cache) == CLEAN_CACHE_SIZE
    assert not clean_cache.known("step 0 passed")  # the least recently used left first
    assert clean_cache.known(f"step {CLEAN_CACHE_SIZE + 99} passed")
    assert not clean_cache.known("x" * (CLEAN_CACHE_MAX_CHARS + 1))


_PIECES = st.sampled_from(
    [
        TOKEN,
        URL,
        quote(URL, safe=""),
        "Bearer abcdefghijklmnop1234",
        "token=",
        "/",
        "%2F",
        "=",
        "secret_",
        "public%5Fabcdef12",
        "a1b2c3d4e5f6a1b2c3d4e5f6a1",
        ".json",
        ".postman_collection",
        "s3.amazonaws.com/",
        "https://",
        "?",
        "&",
        " ",
        "\n",
        '"',
        "Example Shop",
        "store 1003",
    ]
)


@given(st.lists(_PIECES | st.text(max_size=8), max_size=12).map("".join))
@settings(max_examples=300, deadline=None)
def test_the_cache_never_changes_what_redaction_returns(text: str) -> None:
    redaction._CLEAN.clear()
    uncached = redaction._redact_patterns(text)

    assert [redact(text, live=False) for _ in range(3)] == [uncached] * 3
    assert redaction._CLEAN.known(text) is (uncached == text and len(text) <= CLEAN_CACHE_MAX_CHARS)
