"""The local S3 + Ecwid sandbox, over real HTTP on loopback: it answers like the real services."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.sandbox.ecwid.server import EcwidSandbox, serve_forever
from bot.sandbox.ecwid.stores import OWN_TOKEN, CollectionKind, SampleStore, sample_stores
from tests.paths import FIXTURES

SHORT_DELAY_S = 0.2
ENDPOINTS = ("profile", "products", "categories", "orders", "customers")
SEARCHES = ENDPOINTS[1:]
OK = (200, None)
NOT_ON_PLAN = (402, "NOT_AVAILABLE_ON_CURRENT_PLAN")
NO_SCOPE = (403, "INSUFFICIENT_APP_SCOPE")

# Written out from Ecwid's documented behaviour, not from the store table, so that the table is
# checked rather than repeated. Flaky stores: what the first call to each endpoint answers.
EXPECTED_ANSWERS: dict[str, dict[str, tuple[int, str | None]]] = {
    "connected": dict.fromkeys(ENDPOINTS, OK),
    "closed": dict.fromkeys(ENDPOINTS, OK),
    "empty_catalog": dict.fromkeys(ENDPOINTS, OK),
    "flaky": dict.fromkeys(ENDPOINTS, (500, "INTERNAL_ERROR")),
    "brief_rate_limit": dict.fromkeys(ENDPOINTS, (429, "RATE_LIMITED")),
    "free_plan": {"profile": OK, **dict.fromkeys(SEARCHES, NOT_ON_PLAN)},
    "free_plan_strict": dict.fromkeys(ENDPOINTS, NOT_ON_PLAN),
    "suspended": dict.fromkeys(ENDPOINTS, (402, "STORE_IS_SUSPENDED")),
    "revoked": dict.fromkeys(ENDPOINTS, (403, "INVALID_API_TOKEN")),
    "no_customer_scope": {**dict.fromkeys(ENDPOINTS, OK), "customers": NO_SCOPE},
    "public_token": {**dict.fromkeys(ENDPOINTS, OK), "orders": NO_SCOPE, "customers": NO_SCOPE},
    "unknown_store": dict.fromkeys(ENDPOINTS, (404, "STORE_NOT_FOUND")),
    "rate_limited": dict.fromkeys(ENDPOINTS, (429, "RATE_LIMITED")),
    "ecwid_down": dict.fromkeys(ENDPOINTS, (500, "INTERNAL_ERROR")),
    "html_gateway": dict.fromkeys(ENDPOINTS, (502, None)),
    "token_echo": {**dict.fromkeys(ENDPOINTS, OK), "orders": (500, OWN_TOKEN)},
    "slow": dict.fromkeys(ENDPOINTS, OK),
    "legacy_token": dict.fromkeys(ENDPOINTS, OK),
    "secure_token": dict.fromkeys(ENDPOINTS, OK),
    "extended_profile": dict.fromkeys(ENDPOINTS, OK),
    "no_account_section": dict.fromkeys(ENDPOINTS, OK),
    "unpaid": dict.fromkeys(ENDPOINTS, OK),
    "old_api_402": dict.fromkeys(ENDPOINTS, (402, None)),
    "bare_403": dict.fromkeys(ENDPOINTS, (403, None)),
    "firewall_403": dict.fromkeys(ENDPOINTS, (403, None)),
    "plan_limited": {
        **dict.fromkeys(ENDPOINTS, OK),
        "customers": (403, "NOT_ALLOWED_ON_CURRENT_PLAN"),
    },
}
# Answers without Ecwid's JSON body: what they carry instead.
HTML_ANSWERS = {"html_gateway", "firewall_403"}
EMPTY_ANSWERS = {"old_api_402", "bare_403"}
TOKEN_PREFIXES = {"public_token": "public_", "secure_token": "secure_", "legacy_token": ""}
EXPECTED_RETRY_AFTER = {"brief_rate_limit": "1", "rate_limited": "30"}

# Ecwid's shape of a Personal collection (tests/fixtures/ecwid/SOURCE.md says where it is from).
ECWID_SAMPLES = FIXTURES / "ecwid"
SAMPLE_COLLECTION = json.loads((ECWID_SAMPLES / "personal-collection-v1.json").read_text())
COLLECTION_KEYS = set(SAMPLE_COLLECTION)
REQUEST_KEYS = set(SAMPLE_COLLECTION["requests"][0])


def quick_stores(seed: str = "test-sandbox") -> list[SampleStore]:
    """The sample stores, the slow one slow enough to measure but not to wait for."""
    return [
        dataclasses.replace(store, delay_s=SHORT_DELAY_S) if store.delay_s else store
        for store in sample_stores(seed)
    ]


@pytest.fixture
async def sandbox() -> AsyncIterator[EcwidSandbox]:
    async with EcwidSandbox(quick_stores()) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield http


async def call(
    client: httpx.AsyncClient,
    sandbox: EcwidSandbox,
    key: str,
    endpoint: str,
    *,
    bearer: str | None = None,
    **params: str | int,
) -> httpx.Response:
    """GET an API endpoint of a sample store: `Authorization: Bearer` with its own token, unless
    told another `bearer` ("" for no header); `params` go into the query string."""
    store = sandbox.store(key)
    token = store.token if bearer is None else bearer
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{sandbox.api_url}/{store.store_id}/{endpoint}"
    return await client.get(url, params=params, headers=headers)


# The sample stores themselves.


def test_keys_and_store_ids_are_unique() -> None:
    stores = sample_stores()
    assert len({store.key for store in stores}) == len(stores)
    assert len({store.store_id for store in stores}) == len(stores)


def test_tokens_look_like_ecwid_tokens_and_follow_the_seed() -> None:
    first, again, other = sample_stores("a"), sample_stores("a"), sample_stores("b")
    for store in first:
        prefix = TOKEN_PREFIXES.get(store.key, "secret_")
        assert re.fullmatch(prefix + "[A-Za-z0-9]{32}", store.token)
    assert [store.token for store in first] == [store.token for store in again]
    assert not {store.token for store in first} & {store.token for store in other}
    assert [store.store_id for store in first] == [store.store_id for store in other]


def test_every_api_store_has_a_documented_answer() -> None:
    assert set(EXPECTED_ANSWERS) == {store.key for store in sample_stores() if store.reaches_api}


# The Personal collection, as S3 serves it.


async def test_collection_is_a_postman_v1_file_naming_the_store_and_token(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    store = sandbox.store("connected")
    url = sandbox.collection_url("connected")
    assert url.startswith(sandbox.collection_host + "/ecwid-api-playground/1003_")
    assert url.endswith(".json.postman_collection")
    assert store.token not in url

    response = await client.get(url)

    assert response.status_code == 200
    assert response.headers["content-type"] == "binary/octet-stream"
    collection = response.json()
    assert set(collection) == COLLECTION_KEYS
    assert collection["name"] == "Ecwid API – store 1003"
    assert collection["order"] == [request["id"] for request in collection["requests"]]
    assert len(collection["requests"]) == 10
    for request in collection["requests"]:
        assert set(request) == REQUEST_KEYS
        assert request["collectionId"] == collection["id"]
        assert request["url"].startswith("https://app.ecwid.com/api/v3/1003/")
        assert request["url"].endswith(f"token={store.token}")
    urls = {request["url"].split("?")[0] for request in collection["requests"]}
    assert "https://app.ecwid.com/api/v3/1003/profile" in urls


async def test_public_token_collection_carries_the_public_token(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    response = await client.get(sandbox.collection_url("public_token"))
    assert "token=public_" in response.json()["requests"][0]["url"]


@pytest.mark.parametrize(
    ("key", "status", "content_type", "marker"),
    [
        ("missing_collection", 403, "application/xml", "<Code>AccessDenied</Code>"),
        ("not_a_collection", 200, "text/html", "<html"),
        ("empty_collection", 200, "binary/octet-stream", '"requests": []'),
        ("storage_down", 503, "application/xml", "<Code>SlowDown</Code>"),
    ],
)
async def test_collection_only_samples(
    sandbox: EcwidSandbox,
    client: httpx.AsyncClient,
    key: str,
    status: int,
    content_type: str,
    marker: str,
) -> None:
    assert sandbox.store(key).collection is not CollectionKind.POSTMAN
    response = await client.get(sandbox.collection_url(key))
    assert response.status_code == status
    assert response.headers["content-type"].split(";")[0] == content_type
    assert marker in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/ecwid-api-playground/1003_0000000000000000.json.postman_collection",
        "/ecwid-api-playground/1003.json",
        "/somewhere-else.json.postman_collection",
    ],
)
async def test_unknown_object_is_access_denied_like_s3(
    sandbox: EcwidSandbox, client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(sandbox.base_url + path)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


# Ecwid's API.


@pytest.mark.parametrize("key", EXPECTED_ANSWERS)
async def test_api_store_answers_as_documented(
    sandbox: EcwidSandbox, client: httpx.AsyncClient, key: str
) -> None:
    responses = await asyncio.gather(
        *(call(client, sandbox, key, endpoint, limit=1) for endpoint in ENDPOINTS)
    )
    for endpoint, response in zip(ENDPOINTS, responses, strict=True):
        status, error_code = EXPECTED_ANSWERS[key][endpoint]
        assert response.status_code == status, endpoint
        if key in HTML_ANSWERS:
            assert response.headers["content-type"].startswith("text/html")
            assert response.text.lstrip().startswith("<")
            continue
        assert response.headers["content-type"].startswith("application/json")
        if key in EMPTY_ANSWERS:
            assert response.content == b""
            assert response.headers["content-length"] == "0"
            continue
        body = response.json()
        if error_code is None:
            assert "errorCode" not in body
        else:
            token = sandbox.store(key).token
            assert body["errorCode"] == error_code.replace(OWN_TOKEN, token)
            assert body["errorMessage"]
        assert response.headers.get("Retry-After") == (
            EXPECTED_RETRY_AFTER.get(key) if status == 429 else None
        )


async def test_bearer_header_works_and_query_token_alone_is_refused(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    token = sandbox.store("connected").token

    with_header = await call(client, sandbox, "connected", "profile")
    in_query = await call(client, sandbox, "connected", "profile", bearer="", token=token)
    query_only = await client.get(f"{sandbox.api_url}/1003/profile", params={"token": token})

    assert with_header.status_code == 200
    assert in_query.status_code == 403
    assert query_only.status_code == 403
    assert query_only.json() == {
        "errorMessage": "Invalid access token in the request",
        "errorCode": "INVALID_API_TOKEN",
    }


@pytest.mark.parametrize(
    "authorization",
    ["Bearer secret_" + "x" * 32, "Token {token}", "Bearer", "Bearer {other}"],
)
async def test_wrong_token_is_invalid_api_token(
    sandbox: EcwidSandbox, client: httpx.AsyncClient, authorization: str
) -> None:
    header = authorization.format(
        token=sandbox.store("connected").token, other=sandbox.store("closed").token
    )
    response = await client.get(
        f"{sandbox.api_url}/1003/products", headers={"Authorization": header}
    )
    assert response.status_code == 403
    assert response.json()["errorCode"] == "INVALID_API_TOKEN"


@pytest.mark.parametrize("store_id", ["999999", "not-a-number", "3001"])
async def test_unknown_store_id_is_store_not_found(
    sandbox: EcwidSandbox, client: httpx.AsyncClient, store_id: str
) -> None:
    token = sandbox.store("connected").token
    response = await client.get(
        f"{sandbox.api_url}/{store_id}/profile", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    assert response.json() == {
        "errorMessage": "Store with specified ID was not found",
        "errorCode": "STORE_NOT_FOUND",
    }


@pytest.mark.parametrize("path", ["/api/v3/1003/latest-stats", "/api/v3/1003", "/api/v2/x"])
async def test_unknown_api_path_is_json_404(
    sandbox: EcwidSandbox, client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(sandbox.base_url + path)
    assert response.status_code == 404
    assert "errorMessage" in response.json()


async def test_profile_carries_the_store_values(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    connected = (await call(client, sandbox, "connected", "profile")).json()
    extended = await call(client, sandbox, "connected", "profile", showExtendedInfo="true")
    closed = (await call(client, sandbox, "closed", "profile")).json()
    free = (await call(client, sandbox, "free_plan", "profile")).json()
    public = (await call(client, sandbox, "public_token", "profile")).json()

    assert connected["generalInfo"]["storeId"] == 1003
    assert connected["generalInfo"]["storeUrl"].startswith("https://")
    assert connected["settings"] == {
        "closed": False,
        "storeName": "Example Shop",
        "storeDescription": "",
    }
    assert connected["account"]["accountName"]
    assert connected["account"]["suspended"] is False
    assert {"API", "PREMIUM"} <= set(connected["account"]["availableFeatures"])
    assert extended.json() == connected
    assert closed["settings"]["closed"] is True
    assert not {"API", "PREMIUM"} & set(free["account"]["availableFeatures"])
    assert "account" not in public
    assert public["generalInfo"]["storeId"] == 2005


async def test_search_answers_the_total_but_only_limit_items(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    one = (await call(client, sandbox, "connected", "products", limit=1)).json()
    default = (await call(client, sandbox, "connected", "products")).json()
    capped = (await call(client, sandbox, "connected", "orders", limit=500)).json()
    empty = (await call(client, sandbox, "empty_catalog", "products", limit=1)).json()

    assert one["total"] == 1234
    assert (one["count"], one["offset"], one["limit"], len(one["items"])) == (1, 0, 1, 1)
    assert (default["limit"], default["count"], len(default["items"])) == (100, 100, 100)
    assert (capped["total"], capped["limit"], len(capped["items"])) == (789, 100, 100)
    assert (empty["total"], empty["count"], empty["items"]) == (0, 0, [])


async def test_counts_of_every_entity(sandbox: EcwidSandbox, client: httpx.AsyncClient) -> None:
    totals = {
        entity: (await call(client, sandbox, "connected", entity, limit=1)).json()["total"]
        for entity in SEARCHES
    }
    assert totals == {"products": 1234, "categories": 50, "orders": 789, "customers": 321}


async def test_hidden_categories_are_counted_only_when_asked(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    plain = await call(client, sandbox, "connected", "categories", limit=1)
    hidden = await call(client, sandbox, "connected", "categories", hidden_categories="true")
    assert plain.json()["total"] == 50
    assert hidden.json()["total"] == 56
    assert [item["enabled"] for item in hidden.json()["items"]] == [True] * 50 + [False] * 6


async def test_bad_limit_is_wrong_parameter(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    response = await call(client, sandbox, "connected", "products", limit="many")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "WRONG_PARAMETER"


@pytest.mark.parametrize(("key", "status"), [("flaky", 500), ("brief_rate_limit", 429)])
async def test_transient_failure_recovers_on_the_second_request(
    sandbox: EcwidSandbox, client: httpx.AsyncClient, key: str, status: int
) -> None:
    for endpoint in ENDPOINTS:
        first = await call(client, sandbox, key, endpoint)
        second = await call(client, sandbox, key, endpoint)
        assert (first.status_code, second.status_code) == (status, 200), endpoint

    sandbox.reset()

    assert sandbox.requests == []
    assert (await call(client, sandbox, key, "profile")).status_code == status


async def test_a_request_without_the_token_does_not_use_up_a_transient_failure(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    assert (await call(client, sandbox, "flaky", "profile", bearer="")).status_code == 403
    assert (await call(client, sandbox, "flaky", "profile")).status_code == 500


# Timing.


async def test_latency_is_added_to_every_answer(client: httpx.AsyncClient) -> None:
    async with EcwidSandbox(quick_stores(), latency_ms=100) as sandbox:
        for url in (sandbox.collection_url("connected"), f"{sandbox.api_url}/1003/profile"):
            started = time.monotonic()
            await client.get(url)
            assert time.monotonic() - started >= 0.09


async def test_slow_store_does_not_hold_up_the_others(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    slow = asyncio.create_task(call(client, sandbox, "slow", "profile"))
    await asyncio.sleep(0.02)

    fast = await call(client, sandbox, "connected", "profile")

    assert fast.status_code == 200
    assert not slow.done()
    assert (await slow).status_code == 200
    assert time.monotonic() - started >= SHORT_DELAY_S * 0.9


async def test_abandoned_slow_request_neither_blocks_stop_nor_loses_its_log_entry() -> None:
    slow = next(store for store in sample_stores() if store.key == "slow")
    assert slow.delay_s >= 30
    sandbox = EcwidSandbox([slow])
    await sandbox.start()
    try:
        async with httpx.AsyncClient(timeout=0.1) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(
                    f"{sandbox.api_url}/2015/profile",
                    headers={"Authorization": f"Bearer {slow.token}"},
                )
    finally:
        started = time.monotonic()
        await sandbox.stop()
    assert time.monotonic() - started < 2
    assert [entry.status for entry in sandbox.requests] == [None]


async def test_500_concurrent_connections_are_served_side_by_side() -> None:
    """Raw sockets: httpx's pool, not the server, is the bottleneck at this many connections."""
    async with EcwidSandbox(quick_stores(), latency_ms=200) as sandbox:
        token = sandbox.store("connected").token
        request = (
            "GET /api/v3/1003/profile HTTP/1.1\r\nHost: sandbox\r\n"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ).encode()

        async def status_line() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", sandbox.port)
            writer.write(request)
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
            return answer.split(b"\r\n", 1)[0]

        started = time.monotonic()
        lines = await asyncio.gather(*(status_line() for _ in range(500)))

    assert set(lines) == {b"HTTP/1.1 200 OK"}
    assert time.monotonic() - started < 3


# The request log.


async def test_request_log_never_holds_a_token(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    connected = sandbox.store("connected")
    stranger = "secret_" + "Q" * 32
    legacy = "0123456789abcdefLEGACY"
    await client.get(sandbox.collection_url("connected"))
    await call(client, sandbox, "connected", "profile")
    await call(client, sandbox, "public_token", "orders")
    await call(client, sandbox, "connected", "products", bearer="", token=connected.token)
    await client.get(f"{sandbox.api_url}/1003/profile", params={"token": connected.token})
    await call(client, sandbox, "connected", "profile", bearer=stranger, q=stranger)
    await call(client, sandbox, "connected", "profile", bearer=legacy, keyword=legacy)
    await client.get(f"{sandbox.api_url}/1003/{connected.token}")

    log = repr(sandbox.requests)

    for secret in [*(store.token for store in sandbox.stores), stranger, legacy]:
        assert secret not in log
    assert not re.search("(secret|public)_[A-Za-z0-9]{16}", log)
    profile = sandbox.requests[1]
    assert (profile.method, profile.path, profile.status) == ("GET", "/api/v3/1003/profile", 200)
    assert profile.has_authorization
    assert profile.matched_store == "connected"
    assert sandbox.requests[2].matched_store == "public_token"
    assert sandbox.requests[4].query == "token=<token>"
    assert not sandbox.requests[4].has_authorization
    assert sandbox.requests[4].matched_store is None


# Running it.


async def test_urls_name_the_bound_port(sandbox: EcwidSandbox) -> None:
    assert sandbox.port > 0
    assert sandbox.base_url == f"http://127.0.0.1:{sandbox.port}"
    assert sandbox.api_url == sandbox.base_url + "/api/v3"
    assert sandbox.collection_host == sandbox.base_url
    with pytest.raises(KeyError, match="no_such_store"):
        sandbox.store("no_such_store")


async def test_urls_need_a_running_sandbox() -> None:
    with pytest.raises(RuntimeError):
        _ = EcwidSandbox().base_url


def test_duplicate_keys_are_refused() -> None:
    store = sample_stores()[0]
    with pytest.raises(ValueError, match="unique"):
        EcwidSandbox([store, dataclasses.replace(store, store_id=9)])


async def test_serve_forever_serves_until_cancelled(client: httpx.AsyncClient) -> None:
    ready: asyncio.Queue[str] = asyncio.Queue()
    server = asyncio.create_task(
        serve_forever(
            0, 0, ready=lambda running: ready.put_nowait(running.collection_url("closed"))
        )
    )
    try:
        url = await asyncio.wait_for(ready.get(), timeout=5)
        response = await client.get(url)
        assert json.loads(response.content)["name"] == "Ecwid API – store 1012"
    finally:
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server


# The sandbox against the shapes in tests/fixtures/ecwid/ (SOURCE.md names where each is from).


def shape(value: object) -> object:
    """`value` with every leaf replaced by its JSON type: what a client's parser relies on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def fixture(name: str) -> object:
    return json.loads((ECWID_SAMPLES / name).read_text())


@pytest.mark.parametrize(
    ("key", "sample", "params"),
    [
        ("connected", "profile.json", {}),
        ("public_token", "profile-public-token.json", {}),
        ("extended_profile", "profile-extended.json", {"showExtendedInfo": "true"}),
    ],
)
async def test_profile_has_the_shape_of_ecwids(
    sandbox: EcwidSandbox,
    client: httpx.AsyncClient,
    key: str,
    sample: str,
    params: dict[str, str],
) -> None:
    answer = (await call(client, sandbox, key, "profile", **params)).json()
    expected = shape(fixture(sample))
    assert isinstance(expected, dict)

    served = shape(answer)
    assert isinstance(served, dict)
    # Every section and field of Ecwid's sample is there with its type; nothing but them
    # in the sections the check reads.
    for section, fields in expected.items():
        assert section in served, section
        if isinstance(fields, dict):
            assert {name: served[section][name] for name in fields} == fields, section
    assert ("account" in served) is ("account" in expected)
    assert ("accountBilling" in served) is ("accountBilling" in expected)


async def test_a_search_has_the_shape_of_ecwids(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    sample = fixture("search-products-limit1.json")
    assert isinstance(sample, dict)

    answer = (await call(client, sandbox, "connected", "products", limit=1)).json()

    assert shape(answer) == shape(sample)
    assert answer["items"][0].keys() == sample["items"][0].keys()
    assert (answer["count"], answer["offset"], answer["limit"]) == (1, 0, 1)


# Which sample store answers each body of error-bodies.json, and on which endpoint.
ERROR_BODY_STORES = {
    "402_free_plan": ("free_plan", "products"),
    "402_suspended": ("suspended", "profile"),
    "403_invalid_token": ("revoked", "profile"),
    "403_scope": ("no_customer_scope", "customers"),
    "404_store": ("unknown_store", "profile"),
    "429_rate_limited": ("rate_limited", "profile"),
    "500_internal": ("ecwid_down", "profile"),
}


@pytest.mark.parametrize("name", ERROR_BODY_STORES)
async def test_error_bodies_are_ecwids(
    sandbox: EcwidSandbox, client: httpx.AsyncClient, name: str
) -> None:
    bodies = fixture("error-bodies.json")
    assert isinstance(bodies, dict)
    expected = dict(bodies[name])
    header = expected.pop("_header", None)
    key, endpoint = ERROR_BODY_STORES[name]

    response = await call(client, sandbox, key, endpoint, limit=1)

    assert response.status_code == int(name.split("_", 1)[0])
    assert response.json() == expected
    if header is not None:
        field, _, value = header.partition(": ")
        assert response.headers[field] == value


def test_every_error_body_is_served_by_some_store() -> None:
    bodies = fixture("error-bodies.json")
    assert isinstance(bodies, dict)
    assert set(ERROR_BODY_STORES) == set(bodies)


async def test_the_older_apis_402_says_it_in_the_status_line_only(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    response = await call(client, sandbox, "old_api_402", "profile")

    assert response.status_code == 402
    assert response.reason_phrase == "Please upgrade your account to access API"
    assert response.content == b""


async def test_a_public_token_never_sees_hidden_categories(
    sandbox: EcwidSandbox, client: httpx.AsyncClient
) -> None:
    store = sandbox.store("public_token")
    asked = await call(client, sandbox, "public_token", "categories", hidden_categories="true")

    assert asked.json()["total"] == store.categories - store.disabled_categories


@pytest.mark.parametrize(
    "host",
    ["ecwid-api-playground.s3.amazonaws.com", "ecwid-api-playground.s3.eu-west-1.amazonaws.com"],
)
async def test_collection_is_served_virtual_hosted_too(
    sandbox: EcwidSandbox, client: httpx.AsyncClient, host: str
) -> None:
    store = sandbox.store("connected")
    name = store.collection_path.rsplit("/", 1)[-1]

    virtual = await client.get(f"{sandbox.base_url}/{name}", headers={"Host": host})
    other_bucket = await client.get(
        f"{sandbox.base_url}/{name}", headers={"Host": "other.s3.amazonaws.com"}
    )
    path_style = await client.get(sandbox.collection_url("connected"))

    assert virtual.status_code == 200
    assert virtual.content == path_style.content
    assert other_bucket.status_code == 403
    assert "<Code>AccessDenied</Code>" in other_bucket.text
