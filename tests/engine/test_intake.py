"""What a pasted text is read as, before any network call: `bot.engine.intake`."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.diagnosis import Diagnosis
from bot.engine.errors import PasteError
from bot.engine.intake import (
    MAX_PASTE_CHARS,
    CollectionPaste,
    CredentialsPaste,
    normalise_paste,
    read_paste,
    read_store_credentials,
)
from bot.engine.redaction import CollectionUrl, EcwidToken, StoreCredentials
from bot.settings import DEFAULT_COLLECTION_HOST, CollectionHost

HOSTS = (CollectionHost.parse(DEFAULT_COLLECTION_HOST),)
SANDBOX_HOSTS = (CollectionHost.parse("http://127.0.0.1:8765"),)
URL = f"https://{DEFAULT_COLLECTION_HOST}/12345_aB3dE6gH9kL2.json.postman_collection"
SECRET = "secret_" + "a1B2c3D4" * 4
PUBLIC = "public_" + "Z9y8X7w6" * 4
LEGACY = "3f9A" * 8
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def collection(url: str = URL) -> CollectionPaste:
    return CollectionPaste(CollectionUrl(url))


def credentials(store_id: int, token: str) -> CredentialsPaste:
    return CredentialsPaste(StoreCredentials(store_id, EcwidToken(token)))


def refused(text: str, hosts: tuple[CollectionHost, ...] = HOSTS) -> PasteError:
    with pytest.raises(PasteError) as caught:
        read_paste(text, hosts)
    return caught.value


def refused_credentials(store_id: str, token: str) -> PasteError:
    with pytest.raises(PasteError) as caught:
        read_store_credentials(store_id, token)
    return caught.value


def paste_error(read: Callable[[], object]) -> PasteError | None:
    """The `PasteError` that `read` raised, if any; any other exception fails the test."""
    try:
        read()
    except PasteError as problem:
        return problem
    return None


# The Personal collection URL, however it was wrapped.


def test_plain_collection_url_is_a_collection_paste() -> None:
    assert read_paste(URL, HOSTS) == collection()


def test_slack_wrapped_link_is_unwrapped() -> None:
    assert read_paste(f"<{URL}>", HOSTS) == collection()


def test_slack_wrapped_link_with_label_is_unwrapped() -> None:
    assert read_paste(f"<{URL}|my collection &lt;new&gt;>", HOSTS) == collection()


def test_html_escaped_link_is_unescaped() -> None:
    assert read_paste(f"&lt;{URL}&gt;", HOSTS) == collection()
    assert read_paste(f"&amp;quot;{URL}&amp;quot;", HOSTS) == collection()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('"', '"'),
        ("'", "'"),
        ("`", "`"),
        ("```\n", "\n```"),
        ("```", "```"),
        ("“", "”"),
        ("‘", "’"),
        ("« ", " »"),
        ("(", ")"),
    ],
)
def test_surrounding_quotes_backticks_and_code_fences_are_removed(before: str, after: str) -> None:
    assert read_paste(f"{before}{URL}{after}", HOSTS) == collection()


@pytest.mark.parametrize("ending", [".", ",", ";", ":", "!", "?", ")", "].", '".', "!!!"])
def test_trailing_punctuation_and_unbalanced_brackets_are_removed(ending: str) -> None:
    assert read_paste(URL + ending, HOSTS) == collection()


def test_invisible_and_non_breaking_characters_are_removed() -> None:
    assert read_paste(f"\ufeff\u00a0 {URL}\u200b\u200c\u200d\n", HOSTS) == collection()


def test_control_characters_around_the_url_are_ignored() -> None:
    assert read_paste(f"\x00\x07{URL}\x1b\x7f", HOSTS) == collection()


def test_url_broken_over_two_lines_is_rejoined() -> None:
    assert read_paste(URL[:60] + "\n" + URL[60:], HOSTS) == collection()
    assert read_paste(f"here it is:\n{URL[:50]}\r\n{URL[50:]}\nthanks", HOSTS) == collection()


def test_url_inside_a_sentence_is_found() -> None:
    assert read_paste(f"Hi! Here is my url: {URL}, thanks.", HOSTS) == collection()
    assert read_paste(f"see <{URL}|this link> please", HOSTS) == collection()


def test_url_without_scheme_is_read_as_https() -> None:
    assert read_paste(URL.removeprefix("https://"), HOSTS) == collection()


def test_http_is_upgraded_to_https_for_an_https_only_host() -> None:
    assert read_paste("http://" + URL.removeprefix("https://"), HOSTS) == collection()


def test_host_is_lowercased_and_query_and_fragment_are_dropped() -> None:
    pasted = URL.replace("ecwid-api-playground", "Ecwid-API-Playground") + "?x=1#top"
    assert read_paste(pasted, HOSTS) == collection()


def test_sandbox_entry_accepts_its_own_scheme_and_port() -> None:
    url = "http://127.0.0.1:8765/x/1_a.json.postman_collection"
    assert read_paste(url, SANDBOX_HOSTS) == collection(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9999/x/1_a.json.postman_collection",
        "https://127.0.0.1:8765/x/1_a.json.postman_collection",
        "http://127.0.0.1/x/1_a.json.postman_collection",
    ],
)
def test_sandbox_entry_rejects_another_port_or_scheme(url: str) -> None:
    problem = refused(url, SANDBOX_HOSTS)
    assert problem.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "port or scheme" in problem.detail


def test_collection_on_a_host_only_the_default_list_allows_is_refused_by_the_sandbox_list() -> None:
    assert refused(URL, SANDBOX_HOSTS).diagnosis is Diagnosis.URL_NOT_COLLECTION


# Pages and addresses that are not the collection URL.


@pytest.mark.parametrize(
    "text",
    [
        "https://api-playground.ecwid.com/",
        "api-playground.ecwid.com",
        "https://api-playground.ecwid.com/console?step=2",
    ],
)
def test_api_playground_page_is_recognised(text: str) -> None:
    problem = refused(text)
    assert problem.diagnosis is Diagnosis.URL_PLAYGROUND_PAGE
    assert "API Playground page" in problem.detail
    assert "step 2" in problem.detail


@pytest.mark.parametrize(
    ("text", "site"),
    [
        ("https://my.ecwid.com/", "my.ecwid.com"),
        ("my.ecwid.com/#develop-apps", "my.ecwid.com"),
        ("https://my.ecwid.com/cp/CP.html#products", "my.ecwid.com"),
        ("https://app.ecwid.com/cp/CP.html", "app.ecwid.com"),
    ],
)
def test_ecwid_admin_page_is_recognised(text: str, site: str) -> None:
    problem = refused(text)
    assert problem.diagnosis is Diagnosis.URL_ADMIN_PAGE
    assert f"Ecwid admin page ({site})" in problem.detail


@pytest.mark.parametrize(
    "text",
    [
        f"https://{DEFAULT_COLLECTION_HOST}/12345_aB3dE6",
        f"https://{DEFAULT_COLLECTION_HOST}/12345_aB3dE6.json.postman_coll",
        f"https://{DEFAULT_COLLECTION_HOST}/",
        f"https://{DEFAULT_COLLECTION_HOST}",
    ],
)
def test_collection_host_without_the_collection_ending_is_truncated(text: str) -> None:
    problem = refused(text)
    assert problem.diagnosis is Diagnosis.URL_TRUNCATED
    assert "12345" not in problem.detail


def test_json_ending_on_the_collection_host_is_accepted() -> None:
    url = f"https://{DEFAULT_COLLECTION_HOST}/12345_aB3dE6.json"
    assert read_paste(url, HOSTS) == collection(url)


@pytest.mark.parametrize(
    "text",
    [
        "https://my-bucket.s3.amazonaws.com/12345_aB3dE6.json.postman_collection",
        "https://my-bucket.s3.eu-west-1.amazonaws.com/12345_aB3dE6.json.postman_collection",
        "https://s3.amazonaws.com/my-bucket/12345_aB3dE6.json.postman_collection",
        "https://s3.us-east-2.amazonaws.com/my-bucket/12345_aB3dE6.json.postman_collection",
        "https://s3.amazonaws.com/ecwid-api-playground-copy/12345_aB3dE6.json.postman_collection",
        "https://s3.amazonaws.com/ecwid-api-playground/"
        + ".."
        + "/my-bucket/12345_aB3dE6.json.postman_collection",  # a dot segment
        "https://s3.amazonaws.com/ecwid-api-playground/%2E%2E/my-bucket/12345_aB3dE6.json.postman_collection",
    ],
)
def test_s3_bucket_that_is_not_allow_listed_is_not_a_collection(text: str) -> None:
    problem = refused(text)
    assert problem.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "not where Ecwid publishes" in problem.detail
    assert "12345" not in problem.detail


def test_link_to_another_site_names_the_site_but_not_the_path() -> None:
    problem = refused("https://www.example.com/private/aB3dE6gH9?token=x")
    assert problem.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "a link to example.com" in problem.detail
    assert "aB3dE6gH9" not in problem.detail


def test_host_label_as_long_as_a_token_is_not_named() -> None:
    problem = refused(f"https://a.{LEGACY}.com/")
    assert "another site" in problem.detail
    assert LEGACY not in problem.detail


def test_several_links_are_not_guessed_between() -> None:
    other = URL.replace("12345_", "67890_")
    problem = refused(f"{URL} or {other}")
    assert problem.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "several links" in problem.detail


def test_email_address_is_described_as_one() -> None:
    problem = refused("<mailto:someone@example.com|someone@example.com>")
    assert problem.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "an email address" in problem.detail


@pytest.mark.parametrize("text", ["hello there", "collection", "12345", "localhost:8765/x"])
def test_plain_text_is_not_a_web_address(text: str) -> None:
    problem = refused(text)
    assert problem.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "not a web address" in problem.detail


def test_binary_garbage_is_not_a_collection() -> None:
    garbage = bytes(range(256)).decode("latin-1") * 3
    assert refused(garbage).diagnosis is Diagnosis.URL_NOT_COLLECTION


def test_too_long_paste_is_refused_as_too_long() -> None:
    problem = refused(URL + " " + "x" * 10_000_000)
    assert problem.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "too long" in problem.detail


def test_paste_just_under_the_limit_is_still_read() -> None:
    padding = " " * (MAX_PASTE_CHARS - len(URL))
    assert read_paste(URL + padding, HOSTS) == collection()


@pytest.mark.parametrize("text", ["", "   ", "\n\t\n", "\u00a0\u200b\ufeff", '""', "``````", "<>"])
def test_empty_or_whitespace_only_paste_is_empty(text: str) -> None:
    problem = refused(text)
    assert problem.diagnosis is Diagnosis.URL_EMPTY
    assert "Nothing was pasted" in problem.detail


# Tokens and store IDs.


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (SECRET, "a secret token"),
        (PUBLIC, "a public token"),
        (f'"{SECRET}"', "a secret token"),
        (f"Bearer {SECRET}", "a secret token"),
        (f"token={PUBLIC}", "a public token"),
        ("secret_short", "a secret token"),
        (LEGACY, "a token"),
    ],
)
def test_bare_token_is_a_token_on_its_own(text: str, kind: str) -> None:
    problem = refused(text)
    assert problem.diagnosis is Diagnosis.URL_TOKEN_ONLY
    assert f"{kind} on its own" in problem.detail
    assert SECRET.removeprefix("secret_") not in problem.detail


def test_long_word_without_digits_is_not_taken_for_a_legacy_token() -> None:
    assert refused("Supercalifragilisticexpialidocious").diagnosis is Diagnosis.URL_NOT_COLLECTION


@pytest.mark.parametrize(
    "text",
    [
        f"12345678 {SECRET}",
        f"12345678, {SECRET}",
        f"12345678:{SECRET}",
        f"#12345678\n{SECRET}",
        f"{SECRET} 12345678",
        f"{SECRET}; 12345678.",
    ],
)
def test_store_id_and_token_on_one_line_are_credentials(text: str) -> None:
    assert read_paste(text, HOSTS) == credentials(12345678, SECRET)


def test_store_id_with_a_cut_token_on_one_line_is_a_malformed_token() -> None:
    assert refused("12345678 secret_abc").diagnosis is Diagnosis.TOKEN_MALFORMED


def test_api_request_url_gives_its_store_id_and_token() -> None:
    url = f"https://app.ecwid.com/api/v3/1003/products?limit=1&amp;token={SECRET}"
    assert read_paste(url, HOSTS) == credentials(1003, SECRET)


def test_api_request_url_without_a_token_is_not_a_collection() -> None:
    problem = refused("https://app.ecwid.com/api/v3/1003/profile")
    assert problem.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "no token" in problem.detail


@pytest.mark.parametrize(
    ("store_id", "token", "expected"),
    [
        ("12345678", SECRET, credentials(12345678, SECRET)),
        (" #12 345 678 ", f"  {SECRET}\n", credentials(12345678, SECRET)),
        ("12345678", f"{SECRET[:20]}\n{SECRET[20:]}", credentials(12345678, SECRET)),
        ("12345678", f"Bearer {SECRET}", credentials(12345678, SECRET)),
        ("1", PUBLIC, credentials(1, PUBLIC)),
        ("999999999999", f"`{LEGACY}`", credentials(999999999999, LEGACY)),
    ],
)
def test_store_credentials_are_read(store_id: str, token: str, expected: CredentialsPaste) -> None:
    assert read_store_credentials(store_id, token) == expected


@pytest.mark.parametrize(
    ("store_id", "words"),
    [
        ("", "Store ID field is empty"),
        ("  ", "Store ID field is empty"),
        ("abc", "a number"),
        ("12a45", "a number"),
        ("0", "a number"),
        ("1234567890123", "up to 12 digits"),
        ("١٢٣", "a number"),
        (SECRET, "holds a token"),
    ],
)
def test_bad_store_id_is_invalid(store_id: str, words: str) -> None:
    problem = refused_credentials(store_id, SECRET)
    assert problem.diagnosis is Diagnosis.STORE_ID_INVALID
    assert words in problem.detail
    assert SECRET not in problem.detail


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("", "token field is empty"),
        ("secret_abc", "not a complete Ecwid token"),
        ("private_" + "a" * 32, "not a complete Ecwid token"),
        (SECRET + "!x", "not a complete Ecwid token"),
        ("short", "not a complete Ecwid token"),
        (URL, "paste it in the URL field"),
        ("https://example.com/", "a web address"),
    ],
)
def test_bad_token_is_malformed(token: str, words: str) -> None:
    problem = refused_credentials("12345678", token)
    assert problem.diagnosis is Diagnosis.TOKEN_MALFORMED
    assert words in problem.detail
    assert "aB3dE6" not in problem.detail


# Properties.

_WRAPPINGS: tuple[Callable[[str], str], ...] = (
    lambda text: f'"{text}"',
    lambda text: f"'{text}'",
    lambda text: f"`{text}`",
    lambda text: f"```\n{text}\n```",
    lambda text: f"“{text}”",
    lambda text: f"‘{text}’",
    lambda text: f"«{text}»",
    lambda text: f"<{text}>",
    lambda text: f"({text})",
    lambda text: f" \n\t{text}\u00a0\u200b ",
    lambda text: f"\ufeff{text}\r\n",
    lambda text: f"{text}.",
    lambda text: f"{text}!?",
    lambda text: f"{text},",
    lambda text: f"{text}:",
    html.escape,
    lambda text: f"Here is my url: {text} thanks",
)
_COLLECTION_NAMES = st.from_regex(r"[0-9]{1,9}_[A-Za-z0-9_-]{1,40}", fullmatch=True)
_SLACK_LABELS = st.text(st.characters(exclude_characters="<>"))


@st.composite
def decorated_collection_urls(draw: st.DrawFn) -> tuple[str, str]:
    """A collection URL as a user may paste it, and the URL it must be read as."""
    name = draw(_COLLECTION_NAMES)
    scheme = draw(st.sampled_from(["https://", "http://", ""]))
    expected = f"https://{DEFAULT_COLLECTION_HOST}/{name}.json.postman_collection"
    pasted = scheme + expected.removeprefix("https://")
    if scheme and draw(st.booleans()):  # Slack always writes the scheme in a link it wraps
        pasted = f"<{pasted}|{draw(_SLACK_LABELS)}>"
    for wrap in draw(st.lists(st.sampled_from(_WRAPPINGS), max_size=5)):
        pasted = wrap(pasted)
    return pasted, expected


@PROPERTY_SETTINGS
@given(decorated_collection_urls())
def test_every_decoration_of_a_collection_url_reads_as_that_url(case: tuple[str, str]) -> None:
    pasted, expected = case
    assert read_paste(pasted, HOSTS) == collection(expected)


_AWKWARD_CHARACTERS = st.sampled_from(
    (
        *"<>|&;:/.,!?\"'`“”‘’«»()[]{}#@_ \n\t\u00a0\u200b\ufeff\x00",
        *("https://", "secret_", "&amp;", "&lt;", "```", ".json", ".postman_collection"),
        *(DEFAULT_COLLECTION_HOST, "my.ecwid.com", "api-playground.ecwid.com", "12345"),
    )
)
_TEXTS = st.text() | st.lists(_AWKWARD_CHARACTERS | st.text(max_size=3)).map("".join)


@PROPERTY_SETTINGS
@given(_TEXTS)
def test_normalise_paste_never_raises_and_is_idempotent(text: str) -> None:
    once = normalise_paste(text)
    assert normalise_paste(once) == once


@PROPERTY_SETTINGS
@given(_TEXTS, st.sampled_from([HOSTS, SANDBOX_HOSTS, ()]))
def test_read_paste_raises_nothing_but_paste_error(
    text: str, hosts: tuple[CollectionHost, ...]
) -> None:
    problem = paste_error(lambda: read_paste(text, hosts))
    assert problem is None or 0 < len(problem.detail) <= 250


@PROPERTY_SETTINGS
@given(_TEXTS, _TEXTS)
def test_read_store_credentials_raises_nothing_but_paste_error(store_id: str, token: str) -> None:
    problem = paste_error(lambda: read_store_credentials(store_id, token))
    if problem is not None:
        assert problem.diagnosis in (Diagnosis.STORE_ID_INVALID, Diagnosis.TOKEN_MALFORMED)
        assert 0 < len(problem.detail) <= 250


_SECRET_SEGMENTS = st.from_regex(r"[a-z]{6}[0-9]{6}[A-Za-z0-9]{0,20}", fullmatch=True)
_TOKENS = st.from_regex(r"(secret_|public_)?[A-Za-z]{6}[0-9]{6}[A-Za-z0-9]{12,40}", fullmatch=True)
_LEAKY_PASTES = (
    "https://ecwid-api-playground.s3.amazonaws.com/{segment}",
    "https://ecwid-api-playground.s3.amazonaws.com/{segment}.postman",
    "https://other-bucket.s3.amazonaws.com/{segment}.json.postman_collection",
    "https://www.example.com/{segment}?token={token}",
    "https://{segment}.example.com/x",
    "https://my.ecwid.com/{segment}",
    "https://{segment}.ecwid.com/cp/{token}",
    "https://api-playground.ecwid.com/{segment}?token={token}",
    "https://app.ecwid.com/api/v3/1003/{segment}?token={token}x!",
    "https://app.ecwid.com/api/v3/{segment}?token={token}",
    "http://127.0.0.1:9999/{segment}.json.postman_collection",
    "{token}",
    "{segment} {token}",
    "12345 {token}_{segment}",
    "{token} and {segment}",
    "mailto:{segment}@example.com",
)


@PROPERTY_SETTINGS
@given(
    st.sampled_from(_LEAKY_PASTES),
    _SECRET_SEGMENTS,
    _TOKENS,
    st.lists(st.sampled_from(_WRAPPINGS), max_size=3),
)
def test_no_detail_repeats_a_token_or_a_secret_path_segment(
    template: str, segment: str, token: str, wrappings: list[Callable[[str], str]]
) -> None:
    pasted = template.format(segment=segment, token=token)
    for wrap in wrappings:
        pasted = wrap(pasted)
    problems = (
        paste_error(lambda: read_paste(pasted, HOSTS)),
        paste_error(lambda: read_store_credentials(segment, token + "!")),
        paste_error(lambda: read_store_credentials("12345", pasted)),
        paste_error(lambda: read_store_credentials(pasted, token)),
    )
    for detail in (problem.detail for problem in problems if problem is not None):
        assert segment not in detail
        assert token not in detail
        assert token.removeprefix("secret_").removeprefix("public_") not in detail
