"""Downloading a Personal collection (real HTTP over loopback) and reading every Postman shape."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiohttp.abc
import httpx
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from httpx_aiohttp import AiohttpTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import collection as collection_module
from bot.engine.check import new_http_client
from bot.engine.collection import (
    DOWNLOAD_TIMEOUT,
    MAX_EXPANDED_CHARS,
    MAX_FOLDER_DEPTH,
    MAX_REDIRECTS,
    MAX_REQUESTS,
    PinnedResolver,
    download_collection,
    parse_collection,
    pinned_addresses,
)
from bot.engine.diagnosis import Diagnosis
from bot.engine.errors import CollectionError
from bot.engine.redaction import CollectionUrl
from bot.sandbox.loopback import AppServer
from bot.settings import CollectionHost
from tests.paths import FIXTURES

COLLECTIONS = FIXTURES / "collections"
SAMPLE = (COLLECTIONS / "v1.json").read_bytes()
SAMPLE_TOKEN = "secret_EXAMPLEexampleEXAMPLEexample0000"
# The secret part of a collection URL: no error may ever show it.
SECRET_NAME = "1003_5f1a9c0e7b2d4e6f8a0b.json.postman_collection"
S3_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message><RequestId>EXAMPLE</RequestId><HostId>EXAMPLE</HostId></Error>"
)
V21_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
API = "https://app.ecwid.com/api/v3"
TOKEN = "secret_FAKEinlineTOKEN00000000000000000"
OTHER_TOKEN = "secret_FAKEotherTOKEN000000000000000000"


# --- A stand-in for S3 on loopback ---------------------------------------------------------------


@dataclass
class Server:
    """A local HTTP server and the paths of every request it received."""

    port: int = 0
    seen: list[str] = field(default_factory=list)

    @property
    def hosts(self) -> tuple[CollectionHost, ...]:
        """An allow-list naming this server with its port, as the sandbox is named."""
        return (CollectionHost("http", "127.0.0.1", self.port, explicit_port=True),)

    def url(self, route: str, host: str = "127.0.0.1") -> CollectionUrl:
        return CollectionUrl(f"http://{host}:{self.port}/{route}/{SECRET_NAME}")


def _storage_routes(elsewhere: Server) -> web.RouteTableDef:
    routes = web.RouteTableDef()
    gzipped = gzip.compress(SAMPLE)

    @routes.get("/good/{name}")
    async def good(request: web.Request) -> web.Response:
        return web.Response(body=SAMPLE, content_type="binary/octet-stream")

    @routes.get("/gzip-encoded/{name}")
    async def gzip_encoded(request: web.Request) -> web.Response:
        return web.Response(
            body=gzipped, content_type="application/json", headers={"Content-Encoding": "gzip"}
        )

    @routes.get("/gzip-raw/{name}")
    async def gzip_raw(request: web.Request) -> web.Response:
        return web.Response(body=gzipped, content_type="binary/octet-stream")

    @routes.get("/gzip-bomb/{name}")
    async def gzip_bomb(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(bytes(3 * 1024 * 1024)))

    @routes.get("/gzip-damaged/{name}")
    async def gzip_damaged(request: web.Request) -> web.Response:
        return web.Response(body=gzipped[: len(gzipped) // 2])

    @routes.get("/brotli/{name}")
    async def brotli(request: web.Request) -> web.Response:
        return web.Response(body=b"\x0b\x02\x80", headers={"Content-Encoding": "br"})

    @routes.get("/denied/{name}")
    async def denied(request: web.Request) -> web.Response:
        return web.Response(status=403, text=S3_ACCESS_DENIED, content_type="application/xml")

    @routes.get("/slow-down/{name}")
    async def slow_down(request: web.Request) -> web.Response:
        return web.Response(status=503, text="<Error><Code>SlowDown</Code></Error>")

    @routes.get("/error/{name}")
    async def error(request: web.Request) -> web.Response:
        return web.Response(status=500)

    @routes.get("/huge/{name}")
    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b" " * (64 * 1024)
        try:
            for _ in range(3 * 16):  # 3 MiB
                await response.write(chunk)
        except ConnectionError:  # the client stopped reading, as it should
            pass
        return response

    @routes.get("/slow/{name}")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=SAMPLE)

    @routes.get("/hop/{hops:\\d+}/{name}")
    async def hop(request: web.Request) -> web.Response:
        hops = int(request.match_info["hops"])
        if hops == 0:
            return web.Response(body=SAMPLE)
        raise web.HTTPFound(f"/hop/{hops - 1}/{request.match_info['name']}")

    @routes.get("/loop/{name}")
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.path)

    @routes.get("/away/{name}")
    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(elsewhere.url("good")))

    @routes.get("/no-location/{name}")
    async def no_location(request: web.Request) -> web.Response:
        return web.Response(status=302)

    return routes


@asynccontextmanager
async def _serve(server: Server, routes: web.RouteTableDef) -> AsyncIterator[Server]:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        server.seen.append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.add_routes(routes)
    # Cancelling handlers when the client hangs up keeps the slow route from delaying teardown.
    async with AppServer(app, handler_cancellation=True) as running:
        server.port = running.port
        yield server


@pytest.fixture
async def elsewhere() -> AsyncIterator[Server]:
    """A server that no allow-list names: redirects may point at it, but never reach it."""
    routes = web.RouteTableDef()

    @routes.get("/good/{name}")
    async def good(request: web.Request) -> web.Response:
        return web.Response(body=SAMPLE)

    async with _serve(Server(), routes) as server:
        yield server


@pytest.fixture
async def storage(elsewhere: Server) -> AsyncIterator[Server]:
    async with _serve(Server(), _storage_routes(elsewhere)) as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # Follows redirects by default, to show that download_collection does not let it.
    async with httpx.AsyncClient(follow_redirects=True) as shared:
        yield shared


async def _download_error(
    url: CollectionUrl,
    client: httpx.AsyncClient,
    hosts: tuple[CollectionHost, ...],
    timeout: httpx.Timeout = DOWNLOAD_TIMEOUT,
) -> CollectionError:
    with pytest.raises(CollectionError) as caught:
        await download_collection(url, client, hosts, timeout=timeout)
    _assert_discreet(caught.value)
    return caught.value


def _assert_discreet(error: CollectionError, *secrets: str) -> None:
    for text in (error.detail, str(error)):
        for secret in (SECRET_NAME, ".postman_collection", SAMPLE_TOKEN, *secrets):
            assert secret not in text


# --- Download ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["good", "gzip-encoded", "gzip-raw"])
async def test_downloads_the_collection(
    storage: Server, client: httpx.AsyncClient, route: str
) -> None:
    body = await download_collection(storage.url(route), client, storage.hosts)

    assert body == SAMPLE
    assert parse_collection(body).store_id == 1003


@pytest.mark.parametrize(
    ("route", "diagnosis", "explained"),
    [
        pytest.param("denied", Diagnosis.COLLECTION_NOT_FOUND, "HTTP 403", id="403-access-denied"),
        # No route serves "missing": aiohttp answers 404.
        pytest.param("missing", Diagnosis.COLLECTION_NOT_FOUND, "HTTP 404", id="404"),
        pytest.param("error", Diagnosis.COLLECTION_UNREACHABLE, "HTTP 500", id="500"),
        pytest.param("slow-down", Diagnosis.COLLECTION_UNREACHABLE, "HTTP 503", id="503"),
        pytest.param("huge", Diagnosis.COLLECTION_INVALID, "larger than 2 MiB", id="too-large"),
        pytest.param("gzip-bomb", Diagnosis.COLLECTION_INVALID, "larger than 2 MiB", id="bomb"),
        pytest.param("gzip-damaged", Diagnosis.COLLECTION_INVALID, "damaged", id="bad-gzip"),
        pytest.param("brotli", Diagnosis.COLLECTION_INVALID, "unsupported", id="brotli"),
        pytest.param("no-location", Diagnosis.COLLECTION_INVALID, "HTTP 302", id="no-location"),
    ],
)
async def test_download_failures(
    storage: Server, client: httpx.AsyncClient, route: str, diagnosis: Diagnosis, explained: str
) -> None:
    error = await _download_error(storage.url(route), client, storage.hosts)

    assert error.diagnosis is diagnosis
    assert explained in error.detail


async def test_slow_storage_times_out(storage: Server, client: httpx.AsyncClient) -> None:
    started = time.monotonic()

    error = await _download_error(
        storage.url("slow"), client, storage.hosts, timeout=httpx.Timeout(0.2)
    )

    assert error.diagnosis is Diagnosis.COLLECTION_UNREACHABLE
    assert "in time" in error.detail
    assert time.monotonic() - started < 2


async def test_follows_redirects_on_allowed_hosts(
    storage: Server, client: httpx.AsyncClient
) -> None:
    body = await download_collection(storage.url(f"hop/{MAX_REDIRECTS}"), client, storage.hosts)

    assert body == SAMPLE
    assert len(storage.seen) == MAX_REDIRECTS + 1


@pytest.mark.parametrize("route", [f"hop/{MAX_REDIRECTS + 1}", "loop"])
async def test_stops_after_too_many_redirects(
    storage: Server, client: httpx.AsyncClient, route: str
) -> None:
    error = await _download_error(storage.url(route), client, storage.hosts)

    assert error.diagnosis is Diagnosis.COLLECTION_INVALID
    assert "redirected more than" in error.detail
    assert len(storage.seen) == MAX_REDIRECTS + 1


async def test_refuses_a_redirect_off_the_allow_list(
    storage: Server, elsewhere: Server, client: httpx.AsyncClient
) -> None:
    error = await _download_error(storage.url("away"), client, storage.hosts)

    assert error.diagnosis is Diagnosis.COLLECTION_INVALID
    assert "redirected away from Ecwid's storage" in error.detail
    assert elsewhere.seen == []


@pytest.mark.parametrize(
    ("entry", "url_host"),
    [("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"), ("::1", "[::1]")],
)
async def test_refuses_local_addresses_unless_the_entry_names_a_port(
    storage: Server, client: httpx.AsyncClient, entry: str, url_host: str
) -> None:
    hosts = (CollectionHost("http", entry, storage.port, explicit_port=False),)

    error = await _download_error(storage.url("good", url_host), client, hosts)

    assert error.diagnosis is Diagnosis.COLLECTION_UNREACHABLE
    assert "private or local network address" in error.detail
    assert storage.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "https://ecwid-api-playground.s3.amazonaws.com.evil.example/x.json.postman_collection",
        "ftp://127.0.0.1/x.json.postman_collection",
        "not a URL at all",
        "",
    ],
)
async def test_refuses_hosts_off_the_allow_list(
    storage: Server, client: httpx.AsyncClient, url: str
) -> None:
    error = await _download_error(CollectionUrl(url), client, storage.hosts)

    assert error.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert storage.seen == []


async def test_refuses_credentials_in_the_url(storage: Server, client: httpx.AsyncClient) -> None:
    url = CollectionUrl(f"http://user:pass@127.0.0.1:{storage.port}/good/{SECRET_NAME}")

    error = await _download_error(url, client, storage.hosts)

    assert error.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert storage.seen == []


async def test_closed_port_is_unreachable(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = Server(port=probe.getsockname()[1])

    error = await _download_error(closed.url("good"), client, closed.hosts)

    assert error.diagnosis is Diagnosis.COLLECTION_UNREACHABLE
    assert "could not be reached" in error.detail


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
    _assert_discreet(error, "secret_FAKEnoStoreId")


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
    _assert_discreet(error, OTHER_TOKEN)


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
    _assert_discreet(caught.value, TOKEN, OTHER_TOKEN)
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


# --- Hardening: bounded work, malformed answers, DNS rebinding ----------------------------------


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
    counting = _CountingPattern(collection_module._PLACEHOLDER)
    monkeypatch.setattr(collection_module, "_PLACEHOLDER", counting)
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


MALFORMED_LOCATIONS = [
    "http:x",
    "http:\\\\127.0.0.1:{port}/x",
    "https:",
    "http://xn--/",
    "http://[::1",
    "http://127.0.0.1:99999/",
    "http://a b/",
    "//\u00e9\u0301.example/x",
    "http://ex%00ample/",
    "http://127.0.0.1:{port}:{port}/",
]


def _redirecting_to(location: str) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/moved/{name}")
    async def moved(request: web.Request) -> web.Response:
        port = request.url.port or 0
        return web.Response(status=302, headers={"Location": location.format(port=port)})

    @routes.get("/{tail:.*}")
    async def anything(request: web.Request) -> web.Response:
        return web.Response(body=SAMPLE)

    return routes


async def _download_via_redirect(location: str, *, pinning: bool) -> Diagnosis | None:
    async with _serve(Server(), _redirecting_to(location)) as server:
        client = new_http_client() if pinning else httpx.AsyncClient()
        async with client:
            try:
                await download_collection(server.url("moved"), client, server.hosts)
            except CollectionError as error:
                _assert_discreet(error)
                return error.diagnosis
    return None


@pytest.mark.parametrize("pinning", [True, False], ids=["aiohttp", "httpcore"])
@pytest.mark.parametrize("location", MALFORMED_LOCATIONS)
async def test_a_malformed_redirect_is_a_specific_diagnosis(location: str, pinning: bool) -> None:
    """httpx raises InvalidURL (not an HTTPError) or an IDNA error for some of these."""
    diagnosis = await _download_via_redirect(location, pinning=pinning)

    assert diagnosis in (None, Diagnosis.COLLECTION_INVALID, Diagnosis.COLLECTION_UNREACHABLE)


# What a server may write in a header: no CR, LF or NUL.
_LOCATIONS = st.text(
    st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]), max_size=40
) | st.builds(
    "".join,
    st.lists(
        st.sampled_from(["http:", "https:", "//", "\\", "/", ":", "[", "]", "%", "@", "127.0.0.1",
                         "{port}", "xn--", ".", "?", "#", "\u00e9", "a", "0", " "]),
        max_size=10,
    ),
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(location=_LOCATIONS, pinning=st.booleans())
def test_any_redirect_ends_in_a_collection_diagnosis(location: str, pinning: bool) -> None:
    diagnosis = asyncio.run(_download_via_redirect(location, pinning=pinning))

    assert diagnosis in (
        None,
        Diagnosis.COLLECTION_INVALID,
        Diagnosis.COLLECTION_UNREACHABLE,
        Diagnosis.COLLECTION_NOT_FOUND,
    )


# A public address (example.com's): what the name answers when the download checks it.
PUBLIC_ADDRESS = "93.184.215.14"


def _rebinding_getaddrinfo(calls: list[str]) -> Callable[..., Awaitable[list[Any]]]:
    """A name that answers a public address first, then loopback: DNS rebinding."""

    async def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        calls.append(host)
        address = PUBLIC_ADDRESS if len(calls) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    return getaddrinfo


@pytest.fixture
async def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name rebinds (`_rebinding_getaddrinfo`) on this test's loop; the names asked."""
    calls: list[str] = []
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", _rebinding_getaddrinfo(calls))
    return calls


def _rebinding_hosts(storage: Server) -> tuple[CollectionHost, ...]:
    """The allow-list of the rebinding tests: `collections.test`, on the storage's port."""
    return (CollectionHost("http", "collections.test", storage.port, explicit_port=False),)


async def test_the_download_connects_to_the_address_it_checked(
    storage: Server, rebinding: list[str]
) -> None:
    calls = rebinding
    hosts = _rebinding_hosts(storage)
    url = storage.url("good", "collections.test")

    async with new_http_client() as client:
        error = await _download_error(url, client, hosts, timeout=httpx.Timeout(2.0, connect=0.5))

    # The public address was vetted and pinned; nobody asked the name again, so loopback,
    # where the storage listens, was never reached.
    assert calls == ["collections.test"]
    assert storage.seen == []
    assert error.diagnosis is Diagnosis.COLLECTION_UNREACHABLE


async def test_the_rebinding_stand_in_does_lead_an_unpinned_client_to_loopback(
    storage: Server, rebinding: list[str]
) -> None:
    """Without the pin, the same name and client setup reach the private address."""
    calls = rebinding
    hosts = _rebinding_hosts(storage)
    unpinned = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver(), use_dns_cache=False)
    )

    async with httpx.AsyncClient(transport=AiohttpTransport(client=unpinned)) as client:
        body = await download_collection(storage.url("good", "collections.test"), client, hosts)

    assert body == SAMPLE
    assert len(calls) == 2
    assert storage.seen == [f"/good/{SECRET_NAME}"]


async def test_the_pinned_resolver_answers_only_the_vetted_addresses() -> None:
    class Refusing(aiohttp.abc.AbstractResolver):
        asked: list[str] = []  # noqa: RUF012 - one instance, one test

        async def resolve(self, host: str, port: int = 0, family: Any = 0) -> Any:
            self.asked.append(host)
            raise OSError("DNS must not be asked for a pinned name")

        async def close(self) -> None:
            pass

    fallback = Refusing()
    resolver = PinnedResolver(fallback)
    vetted = (ipaddress.ip_address(PUBLIC_ADDRESS), ipaddress.ip_address("2606:2800:21f::1"))

    with pinned_addresses("Collections.TEST", vetted):
        both = await resolver.resolve("collections.test", 443, socket.AF_UNSPEC)
        only_v6 = await resolver.resolve("collections.test", 443, socket.AF_INET6)
    with pytest.raises(OSError, match="must not be asked"):
        await resolver.resolve("collections.test", 443, socket.AF_UNSPEC)

    assert [answer["host"] for answer in both] == [PUBLIC_ADDRESS, "2606:2800:21f::1"]
    assert [answer["host"] for answer in only_v6] == ["2606:2800:21f::1"]
    assert fallback.asked == ["collections.test"]


def test_only_the_first_thousand_requests_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collection_module, "MAX_JSON_VALUES", 100_000)
    unread = f"{API}/1003/profile?token={TOKEN}"
    body = _v1([f"{API}/1003/profile"] * MAX_REQUESTS + [unread])

    assert _parse_error(body).detail == "The collection names no access token."
    assert parse_collection(_v1([f"{API}/1003/profile"] * (MAX_REQUESTS - 1) + [unread]))
