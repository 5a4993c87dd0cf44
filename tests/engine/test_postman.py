"""Reading every Postman shape a collection comes in, which value wins, and the bounds that keep
reading any file linear."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import postman as postman_module
from bot.engine.diagnosis import Diagnosis
from bot.engine.errors import CollectionError
from bot.engine.postman import MAX_EXPANDED_CHARS, MAX_FOLDER_DEPTH, MAX_REQUESTS, parse_collection
from tests.paths import FIXTURES

COLLECTIONS = FIXTURES / "collections"
SAMPLE = (COLLECTIONS / "v1.json").read_bytes()
SAMPLE_TOKEN = "secret_EXAMPLEexampleEXAMPLEexample0000"
S3_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message><RequestId>EXAMPLE</RequestId><HostId>EXAMPLE</HostId></Error>"
)
V21_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
API = "https://app.ecwid.com/api/v3"
TOKEN = "secret_FAKEinlineTOKEN00000000000000000"
OTHER_TOKEN = "secret_FAKEotherTOKEN000000000000000000"


# --- Parsing: every shape a collection comes in -------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "store_id", "token"),
    [
        pytest.param("v1.json", 1003, SAMPLE_TOKEN, id="v1"),
        pytest.param(
            "v1-bom.json", 5551212, "secret_FAKEv1bom00000000000000000000000", id="v1-bom"
        ),
        pytest.param(
            "v1-authorization-header.json",
            4242,
            "secret_FAKEv1authorizationHeader0000000",
            id="v1-authorization-header",
        ),
        pytest.param(
            "v1-legacy-helper.json",
            6060,
            "secret_FAKEv1legacyHelper00000000000000",
            id="v1-legacy-helper",
        ),
        pytest.param(
            "v2.0-bearer-object.json",
            20021,
            "secret_FAKEv20bearerObject0000000000000",
            id="v2.0-bearer-object",
        ),
        pytest.param(
            "v2.1-bearer-nested.json",
            21021,
            "secret_FAKEv21bearerNested0000000000000",
            id="v2.1-bearer-nested-folders",
        ),
        pytest.param(
            "v2.1-variables.json",
            31415926,
            "secret_FAKEv21variables0000000000000000",
            id="v2.1-variables",
        ),
        pytest.param(
            "v2.1-apikey.json", 21042, "secret_FAKEv21apikey0000000000000000000", id="v2.1-apikey"
        ),
        pytest.param(
            "v2.1-collection-auth.json",
            21063,
            "secret_FAKEv21collectionAuth00000000000",
            id="v2.1-collection-auth",
        ),
        pytest.param(
            "postman-api-wrapper.json",
            7777,
            "secret_FAKEpostmanApiWrapper00000000000",
            id="postman-api-wrapper",
        ),
    ],
)
def test_reads_store_id_and_token(fixture: str, store_id: int, token: str) -> None:
    credentials = parse_collection((COLLECTIONS / fixture).read_bytes())

    assert credentials.store_id == store_id
    assert credentials.token.reveal() == token


@pytest.mark.parametrize(
    ("fixture", "missing"),
    [
        pytest.param("no-token.json", "names no access token", id="no-token"),
        pytest.param("no-store-id.json", "names no store ID", id="no-store-id"),
    ],
)
def test_reports_what_is_missing(fixture: str, missing: str) -> None:
    error = _parse_error((COLLECTIONS / fixture).read_bytes())

    assert error.diagnosis is Diagnosis.CREDENTIALS_MISSING
    assert missing in error.detail
    _assert_no_token(error, "secret_FAKEnoStoreId")


def test_utf16_with_bom() -> None:
    body = SAMPLE.decode().encode("utf-16")

    assert parse_collection(body).token.reveal() == SAMPLE_TOKEN


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param((COLLECTIONS / "not-postman.json").read_bytes(), "neither", id="openapi"),
        pytest.param(b"", "not JSON", id="empty"),
        pytest.param(b"<!DOCTYPE html><html></html>", "HTML or XML", id="html"),
        pytest.param(S3_ACCESS_DENIED.encode(), "HTML or XML", id="xml"),
        pytest.param(b"[]", "not an object", id="list"),
        pytest.param(b"null", "not an object", id="null"),
        pytest.param(b'{"requests": 5, "item": "x"}', "neither", id="wrong-types"),
        pytest.param(b"\x80\x81 not utf-8", "not UTF-8", id="binary"),
        pytest.param(b"[" * 10_000, "nests deeper", id="deep-json"),
        pytest.param(b"1" * 5000, "not JSON", id="huge-number"),
    ],
)
def test_rejects_what_is_no_postman_collection(body: bytes, reason: str) -> None:
    error = _parse_error(body)

    assert error.diagnosis is Diagnosis.COLLECTION_INVALID
    assert error.detail.startswith("Not a Postman collection")
    assert reason in error.detail


def test_an_empty_collection_names_nothing() -> None:
    error = _parse_error(_v1([]))

    assert error.diagnosis is Diagnosis.CREDENTIALS_MISSING
    assert error.detail == (
        "The collection names no store ID and no access token (it holds no requests)."
    )


def test_folders_nested_too_deep() -> None:
    def nested(depth: int) -> list[object]:
        items: list[object] = [_v21_request(f"{API}/1003/profile?token={TOKEN}")]
        for _ in range(depth):
            items = [{"name": "folder", "item": items}]
        return items

    assert parse_collection(_v21(nested(MAX_FOLDER_DEPTH))).store_id == 1003
    error = _parse_error(_v21(nested(MAX_FOLDER_DEPTH + 1)))
    assert error.diagnosis is Diagnosis.COLLECTION_INVALID
    assert "nest more than" in error.detail


# --- Parsing: which value wins -----------------------------------------------------------------


def test_query_token_wins_over_header_and_auth() -> None:
    request = _v21_request(
        f"{API}/1003/profile?token={TOKEN}",
        header=[{"key": "Authorization", "value": f"Bearer {OTHER_TOKEN}"}],
        auth=_bearer(OTHER_TOKEN),
    )

    assert parse_collection(_v21([request])).token.reveal() == TOKEN


def test_request_auth_wins_over_collection_auth() -> None:
    body = _v21(
        [_v21_request(f"{API}/1003/profile", auth=_bearer(TOKEN))], auth=_bearer(OTHER_TOKEN)
    )

    assert parse_collection(body).token.reveal() == TOKEN


def test_the_value_most_requests_use_wins() -> None:
    body = _v1(
        [
            f"{API}/1/profile?token={OTHER_TOKEN}",
            f"{API}/2/products?token={TOKEN}",
            f"{API}/2/orders?token={TOKEN}",
        ]
    )

    credentials = parse_collection(body)

    assert (credentials.store_id, credentials.token.reveal()) == (2, TOKEN)


def test_variables_are_the_last_resort() -> None:
    variables = {"ECWID_STORE_ID": "98765", "ECWID_TOKEN_SECRET": TOKEN, "unrelated": "1"}
    body = _v1([], variables=variables)

    credentials = parse_collection(body)

    assert (credentials.store_id, credentials.token.reveal()) == (98765, TOKEN)


def test_path_variables_and_v2_0_api_key_object() -> None:
    request = _v21_request(
        {
            "raw": f"{API}/:storeId/profile",
            "path": ["api", "v3", ":storeId", "profile"],
            "variable": [{"key": "storeId", "value": "4321"}],
        },
        auth={"type": "apikey", "apikey": {"key": "token", "value": TOKEN, "in": "query"}},
    )

    credentials = parse_collection(_v21([request]))

    assert (credentials.store_id, credentials.token.reveal()) == (4321, TOKEN)


def test_disabled_headers_and_noauth_are_ignored() -> None:
    request = _v21_request(
        f"{API}/1003/profile",
        header=[{"key": "Authorization", "value": f"Bearer {OTHER_TOKEN}", "disabled": True}],
        auth={"type": "noauth"},
    )
    error = _parse_error(_v21([request], auth=None))

    assert error.detail == "The collection names no access token."
    _assert_no_token(error, OTHER_TOKEN)


def test_unresolved_placeholders_are_no_credentials() -> None:
    body = _v1([f"{API}/{{{{storeId}}}}/profile?token={{{{token}}}}"], variables={"other": "x"})

    error = _parse_error(body)

    assert error.detail == "The collection names no store ID and no access token."


def test_self_referencing_variables_end() -> None:
    variables = {"token": "{{token}}", "a": "{{b}}{{b}}", "b": "{{a}}{{a}}", "storeId": "{{a}}"}
    started = time.monotonic()

    error = _parse_error(_v1([f"{API}/{{{{a}}}}/x?token={{{{token}}}}"] * 50, variables=variables))

    assert error.diagnosis is Diagnosis.CREDENTIALS_MISSING
    assert time.monotonic() - started < 1


JSON_KEYS = st.sampled_from(
    [
        "collection", "info", "schema", "item", "request", "requests", "url", "raw", "path",
        "query", "variable", "variables", "header", "headers", "headerData", "auth", "type",
        "bearer", "apikey", "oauth2", "token", "key", "value", "id", "disabled", "currentHelper",
        "helperAttributes", "pathVariables", "storeId",
    ]
)  # fmt: skip
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["bearer", "apikey", "bearerAuth", "inherit", f"{API}/7/x?token={TOKEN}"])
    | st.sampled_from([f"Bearer {TOKEN}", "{{token}}", "{{storeId}}", V21_SCHEMA, "7"])
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(JSON_KEYS | st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(document=JSON_VALUES)
def test_any_json_fails_only_with_collection_error(document: object) -> None:
    assert _verdict(json.dumps(document).encode()) in (
        Diagnosis.OK,
        Diagnosis.COLLECTION_INVALID,
        Diagnosis.CREDENTIALS_MISSING,
    )


def _assert_no_token(error: CollectionError, *tokens: str) -> None:
    for text in (error.detail, str(error)):
        for token in (SAMPLE_TOKEN, TOKEN, OTHER_TOKEN, *tokens):
            assert token not in text


# --- Builders ------------------------------------------------------------------------------------


def _verdict(body: bytes) -> Diagnosis:
    try:
        parse_collection(body)
    except CollectionError as error:
        return error.diagnosis
    return Diagnosis.OK


def _parse_error(body: bytes) -> CollectionError:
    with pytest.raises(CollectionError) as caught:
        parse_collection(body)
    _assert_no_token(caught.value)
    return caught.value


def _bearer(token: str) -> dict[str, object]:
    return {"type": "bearer", "bearer": [{"key": "token", "value": token}]}


def _v21_request(url: object, **request: object) -> dict[str, object]:
    return {"name": "request", "request": {"method": "GET", "url": url, **request}}


def _v21(items: list[object], **top: object) -> bytes:
    document = {"info": {"name": "test", "schema": V21_SCHEMA}, "item": items, **top}
    return json.dumps(document).encode()


def _v1(urls: list[str], variables: dict[str, str] | None = None) -> bytes:
    requests = [{"id": str(index), "method": "GET", "url": url} for index, url in enumerate(urls)]
    document: dict[str, object] = {"id": "c", "name": "test", "requests": requests}
    if variables is not None:
        document["variables"] = variables
    return json.dumps(document).encode()


# --- Hardening: bounded work -------------------------------------------------------------------


class _CountingPattern:
    """Stands in for the placeholder pattern and adds up the characters it reads and writes."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.characters = 0

    def sub(self, replacement: Callable[[re.Match[str]], str], text: str, count: int = 0) -> str:
        resolved = self.pattern.sub(replacement, text, count=count)
        self.characters += len(text) + len(resolved)
        return resolved


def test_variable_expansion_is_bounded_for_the_whole_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thousands of `{{a}}` requests, each expanding to 32 KB."""
    counting = _CountingPattern(postman_module._PLACEHOLDER)
    monkeypatch.setattr(postman_module, "_PLACEHOLDER", counting)
    variables = {"a": "{{b}}" * 16, "b": "y" * 2048, "storeId": "1003", "token": TOKEN}
    document = {"requests": [{"url": "{{a}}"}] * 3_000, "variables": variables}
    body = json.dumps(document, separators=(",", ":")).encode()

    credentials = parse_collection(body)

    assert (credentials.store_id, credentials.token.reveal()) == (1003, TOKEN)
    # Unbounded, the thousand requests read would be 32 MB of text (3,000: 100 MB); bounded, at
    # most one pass beyond the cap.
    assert counting.characters <= MAX_EXPANDED_CHARS + 64 * 1024
    assert counting.characters >= MAX_EXPANDED_CHARS


def test_a_file_with_far_more_values_than_a_collection_is_refused_before_decoding() -> None:
    """A valid 2 MiB collection of 67k `{{a}}` requests: decoding alone would hold the loop."""
    variables = {"a": "{{b}}" * 16, "b": "y" * 2048, "storeId": "1003", "token": TOKEN}
    document = {"requests": [{"url": "{{a}}"}] * 67_000, "variables": variables}
    body = json.dumps(document, separators=(",", ":")).encode()
    assert len(body) <= 2 * 1024 * 1024

    error = _parse_error(body)

    assert error.diagnosis is Diagnosis.COLLECTION_INVALID
    assert "far more than a Personal collection" in error.detail


def test_placeholders_with_spaces_are_still_resolved() -> None:
    body = _v1([f"{API}/{{{{ storeId }}}}/profile?token={{{{\ttoken  }}}}"], {"storeId": "42"})

    error = _parse_error(body)  # `token` has no value: only the store ID resolves
    assert error.detail == "The collection names no access token."
    ok = parse_collection(
        _v1([f"{API}/{{{{ storeId }}}}/x?token={{{{ t }}}}"], {"storeId": "42", "t": TOKEN})
    )
    assert (ok.store_id, ok.token.reveal()) == (42, TOKEN)


def test_a_collection_read_past_its_deadline_stops() -> None:
    body = _v1([f"{API}/1003/profile?token={TOKEN}"] * 10)

    with pytest.raises(CollectionError) as caught:
        parse_collection(body, deadline=time.monotonic() - 1)

    assert caught.value.diagnosis is Diagnosis.CHECK_TIMEOUT


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"item":' + b'{"a":' * 100_000, id="objects"),
        pytest.param(b'{"item": [' + b'{"item": [' * 5_000 + b"]}" * 5_000 + b"]}", id="folders"),
    ],
)
def test_deep_nesting_is_an_invalid_collection_not_a_crash(body: bytes) -> None:
    assert _parse_error(body).diagnosis is Diagnosis.COLLECTION_INVALID


def test_only_the_first_thousand_requests_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postman_module, "MAX_JSON_VALUES", 100_000)
    unread = f"{API}/1003/profile?token={TOKEN}"
    body = _v1([f"{API}/1003/profile"] * MAX_REQUESTS + [unread])

    assert _parse_error(body).detail == "The collection names no access token."
    assert parse_collection(_v1([f"{API}/1003/profile"] * (MAX_REQUESTS - 1) + [unread]))
