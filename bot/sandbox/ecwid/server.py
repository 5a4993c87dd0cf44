"""A local stand-in for Amazon S3 serving Personal collections and for Ecwid's REST API v3.

One aiohttp server answers both, for the stores of `bot.sandbox.ecwid.stores`:

- `GET /ecwid-api-playground/{storeId}_{tag}.json.postman_collection`, as S3 serves the file
  path-style, and `GET /{storeId}_{tag}.json.postman_collection` with the bucket in the `Host`
  header (`ecwid-api-playground.s3[.<region>].amazonaws.com`), as S3 serves it virtual-hosted;
- `GET /api/v3/{storeId}/profile|products|categories|orders|customers`, as Ecwid answers.

Like Ecwid since March 2025, the API reads the token only from `Authorization: Bearer …`;
a `token=` query parameter is ignored. The request log never holds a token.

Over 400 lines, yet one thing: the one server that answers for both S3 and Ecwid's API.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.engine.diagnosis import Entity
from bot.sandbox.ecwid.stores import (
    COLLECTION_BUCKET_PATH,
    COLLECTION_SUFFIX,
    INVALID_TOKEN,
    OWN_TOKEN,
    STORE_NOT_FOUND,
    WRONG_PARAMETER,
    Body,
    CollectionKind,
    Endpoint,
    Failure,
    SampleStore,
    sample_stores,
    working_stores,
)
from bot.sandbox.loopback import LoopbackServer

ECWID_API_HOST_URL = "https://app.ecwid.com/api/v3"
MAX_LIMIT = 100
_BACKLOG = 2048
# A sandbox has nothing to finish gracefully: do not hold `stop()` up behind a slow answer.
_SHUTDOWN_TIMEOUT_S = 0.5
_TOKEN_TEXT = re.compile(r"\b(?:secret|secure|public)_[A-Za-z0-9]+")
_REDACTED = "<token>"
# The bucket's virtual-hosted addresses, global and regional (AWS, "Virtual hosting of buckets").
_VIRTUAL_HOST = re.compile(
    COLLECTION_BUCKET_PATH.strip("/").replace(".", r"\.")
    + r"\.s3(?:\.[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})?\.amazonaws\.com(?::[0-9]+)?"
)

_S3_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    "<RequestId>EXAMPLE</RequestId><HostId>EXAMPLE</HostId></Error>\n"
)
_S3_SLOW_DOWN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    "<RequestId>EXAMPLE</RequestId><HostId>EXAMPLE</HostId></Error>\n"
)
_S3_HEADERS = {"Server": "AmazonS3", "x-amz-request-id": "EXAMPLE"}
_S3_LAST_MODIFIED = "Tue, 14 Nov 2023 22:13:20 GMT"
_COLLECTION_TIMESTAMP_MS = 1_700_000_000_000

_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Ecwid API Playground</title></head>
<body>
<h1>Ecwid API Playground</h1>
<p>Log in to your Ecwid admin and click "Connect with Ecwid" to continue.</p>
</body>
</html>
"""
_FIREWALL_PAGE = """<!DOCTYPE html>
<html>
<head><title>403 Forbidden</title></head>
<body>
<h1>Access denied</h1>
<p>This request was blocked by the network's security policy.</p>
</body>
</html>
"""
_GATEWAY_PAGE = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""

# The requests of a Personal collection: name, method, path after the store ID, raw body.
_COLLECTION_REQUESTS = (
    ("Get store profile", "GET", "profile", ""),
    ("Get latest stats", "GET", "latest-stats", ""),
    ("Search products", "GET", "products", ""),
    ("Search products by keyword", "GET", "products?keyword=shoes", ""),
    ("Get product", "GET", "products/SET-PRODUCT-ID", ""),
    ("Update product", "PUT", "products/SET-PRODUCT-ID", "{}"),
    ("Search categories", "GET", "categories", ""),
    ("Search orders", "GET", "orders?paymentStatus=PAID", ""),
    ("Search customers", "GET", "customers?maxOrderCount=5", ""),
    ("Search coupons", "GET", "discount_coupons", ""),
)


@dataclass(frozen=True, slots=True)
class SandboxRequest:
    """One request the sandbox received, without any token.

    `query` is the decoded query string with every token replaced by `<token>`;
    `matched_store` is the key of the store whose token the `Authorization` header carried;
    `status` is None when the client went away before the answer.
    """

    method: str
    path: str
    query: str
    has_authorization: bool
    matched_store: str | None
    status: int | None


class EcwidSandbox(LoopbackServer):
    """S3 and Ecwid's API for `stores` (default: `sample_stores()`), on one local HTTP port."""

    backlog = _BACKLOG

    def __init__(
        self,
        stores: Sequence[SampleStore] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
    ) -> None:
        self._stores = tuple(sample_stores() if stores is None else stores)
        self._by_key = {store.key: store for store in self._stores}
        self._by_id = {store.store_id: store for store in self._stores if store.in_ecwid}
        if len(self._by_key) != len(self._stores):
            raise ValueError("sample store keys must be unique")
        if len(self._by_id) != sum(store.in_ecwid for store in self._stores):
            raise ValueError("store IDs known to Ecwid must be unique")
        self._by_token = {store.token: store for store in self._stores}
        self._by_collection = {store.collection_name: store for store in self._stores}
        super().__init__(host, port)
        self._latency_s = latency_ms / 1000
        self._calls: Counter[tuple[str, Endpoint]] = Counter()
        self.requests: list[SandboxRequest] = []

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._observe])
        app.router.add_get(COLLECTION_BUCKET_PATH + "/{filename}", self._collection)
        app.router.add_get("/api/v3/{store_id}/{endpoint}", self._api)
        app.router.add_route("*", "/{tail:.*}", self._fallback)
        return app

    def runner_options(self) -> dict[str, Any]:
        return {
            "access_log": None,  # aiohttp's access log would print query strings, tokens included
            "handler_cancellation": True,
            "shutdown_timeout": _SHUTDOWN_TIMEOUT_S,
        }

    @property
    def api_url(self) -> str:
        """What `ECWID_API_URL` points at."""
        return f"{self.base_url}/api/v3"

    @property
    def collection_host(self) -> str:
        """The `COLLECTION_HOSTS` entry that allows this sandbox's collection URLs."""
        return self.base_url

    @property
    def stores(self) -> tuple[SampleStore, ...]:
        return self._stores

    def store(self, key: str) -> SampleStore:
        """The sample store named `key`."""
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"no sample store {key!r}; known: {', '.join(self._by_key)}") from None

    def collection_url(self, key: str) -> str:
        """The Personal collection URL of the store named `key`."""
        return self.base_url + self.store(key).collection_path

    def change(self, key: str, **changes: Any) -> SampleStore:
        """Change the store `key` from now on, as its owner would in Ecwid (upgrade the plan,
        settle a suspension, revoke the token): `changes` are `SampleStore` fields. Its ID and
        collection stay; a new `token` makes the old one refused."""
        before = self.store(key)
        after = replace(before, **changes)
        self._stores = tuple(after if store is before else store for store in self._stores)
        self._by_key[key] = after
        if before.in_ecwid:
            self._by_id[before.store_id] = after
        self._by_token.pop(before.token, None)
        self._by_token[after.token] = after
        # A revoked token stays in the collections already handed out; a new one has its own.
        revoked = after.token != before.token
        self._by_collection[before.collection_name] = before if revoked else after
        self._by_collection[after.collection_name] = after
        return after

    def reset(self) -> None:
        """Forget the request log and the per-endpoint call counters (flaky stores fail again)."""
        self.requests.clear()
        self._calls.clear()

    @web.middleware
    async def _observe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Add the latency, then log the request once it is answered (or abandoned)."""
        status: int | None = None
        try:
            if self._latency_s > 0:
                await asyncio.sleep(self._latency_s)
            response = await handler(request)
            status = response.status
            return response
        finally:
            self.requests.append(self._log_entry(request, status))

    def _log_entry(self, request: web.Request, status: int | None) -> SandboxRequest:
        bearer = _bearer(request)
        query = "&".join(
            f"{name}={_REDACTED if name.lower() == 'token' else value}"
            for name, value in request.query.items()
        )
        matched = self._by_token.get(bearer) if bearer else None
        return SandboxRequest(
            method=request.method,
            path=_redact(request.path, bearer),
            query=_redact(query, bearer),
            has_authorization="Authorization" in request.headers,
            matched_store=matched.key if matched else None,
            status=status,
        )

    async def _collection(self, request: web.Request) -> web.Response:
        return self._collection_file(request.match_info["filename"])

    def _collection_file(self, filename: str) -> web.Response:
        if not filename.endswith(COLLECTION_SUFFIX):
            return _s3_error(403, _S3_ACCESS_DENIED)
        store = self._by_collection.get(filename.removesuffix(COLLECTION_SUFFIX))
        if store is None or store.collection is CollectionKind.MISSING:
            return _s3_error(403, _S3_ACCESS_DENIED)
        if store.collection is CollectionKind.STORAGE_DOWN:
            return _s3_error(503, _S3_SLOW_DOWN)
        if store.collection is CollectionKind.HTML:
            body = _HTML_PAGE.encode()
            content_type = "text/html"
        else:
            body = _collection_json(store, store.collection is CollectionKind.POSTMAN)
            content_type = "binary/octet-stream"
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        headers = {**_S3_HEADERS, "ETag": f'"{etag}"', "Last-Modified": _S3_LAST_MODIFIED}
        return web.Response(body=body, content_type=content_type, headers=headers)

    async def _api(self, request: web.Request) -> web.Response:
        try:
            endpoint = Endpoint(request.match_info["endpoint"])
        except ValueError:
            return _resource_not_found()
        store_id = request.match_info["store_id"]
        store = self._by_id.get(int(store_id)) if store_id.isdigit() else None
        if store is None:
            return _ecwid_error(STORE_NOT_FOUND)
        if store.delay_s > 0:
            await asyncio.sleep(store.delay_s)
        if _bearer(request) != store.token:
            return _ecwid_error(INVALID_TOKEN)
        calls_before = self._calls[(store.key, endpoint)]
        self._calls[(store.key, endpoint)] = calls_before + 1
        failure = store.failure_for(endpoint)
        if failure is None and calls_before < store.fail_first_n:
            failure = store.transient
        if failure is not None:
            return _ecwid_error(failure, store.token)
        if endpoint.entity is None:
            extended = request.query.get("showExtendedInfo", "").lower() == "true"
            return _json(200, _profile(store, extended=extended))
        return _search(request, store, endpoint.entity)

    async def _fallback(self, request: web.Request) -> web.Response:
        if request.path.startswith("/api/"):
            return _resource_not_found()
        # Virtual-hosted addressing: the bucket is in the Host header, the key is the whole path.
        key = request.path.removeprefix("/")
        if request.method == "GET" and _VIRTUAL_HOST.fullmatch(request.host) and "/" not in key:
            return self._collection_file(key)
        # S3 answers AccessDenied, not 404, for any key when listing the bucket is not allowed.
        return _s3_error(403, _S3_ACCESS_DENIED)


async def serve_forever(
    port: int,
    latency_ms: float,
    host: str = "127.0.0.1",
    *,
    ready: Callable[[EcwidSandbox], None] | None = None,
    working: int = 0,
) -> None:
    """Serve the sample stores (and `working` copies of `connected`) until cancelled; `ready`
    is called once listening (to print URLs)."""
    stores = (*sample_stores(), *working_stores(working))
    async with EcwidSandbox(stores, host=host, port=port, latency_ms=latency_ms) as sandbox:
        if ready is not None:
            ready(sandbox)
        await asyncio.Event().wait()


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _redact(text: str, bearer: str | None) -> str:
    if bearer:
        text = text.replace(bearer, _REDACTED)
    return _TOKEN_TEXT.sub(_REDACTED, text)


def _json(
    status: int, body: object, headers: dict[str, str] | None = None, reason: str | None = None
) -> web.Response:
    return web.Response(
        status=status,
        reason=reason,
        text=json.dumps(body),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _ecwid_error(failure: Failure, token: str = "") -> web.Response:
    """Ecwid's error answer; `OWN_TOKEN` in its code or message becomes `token`."""
    headers: dict[str, str] = {}
    if failure.retry_after_s is not None:
        headers["Retry-After"] = str(failure.retry_after_s)
    if failure.body is Body.HTML:
        page = _GATEWAY_PAGE if failure.status >= 500 else _FIREWALL_PAGE
        return web.Response(
            status=failure.status,
            reason=failure.reason,
            text=page,
            content_type="text/html",
            headers=headers,
        )
    if failure.body is Body.EMPTY:
        # Ecwid's own answer, with nothing in it: `Content-Length: 0`, JSON content type.
        response = web.Response(status=failure.status, reason=failure.reason, headers=headers)
        response.content_type = "application/json"
        return response
    body: dict[str, object] = {"errorMessage": failure.error_message.replace(OWN_TOKEN, token)}
    if failure.error_code is not None:
        body["errorCode"] = failure.error_code.replace(OWN_TOKEN, token)
    if failure.args:
        body["args"] = dict(failure.args)
    return _json(failure.status, body, headers, reason=failure.reason)


def _resource_not_found() -> web.Response:
    return _json(404, {"errorMessage": "Resource not found"})


def _s3_error(status: int, xml: str) -> web.Response:
    return web.Response(
        status=status, text=xml, content_type="application/xml", headers=_S3_HEADERS
    )


@functools.lru_cache(maxsize=1024)
def _collection_json(store: SampleStore, with_requests: bool) -> bytes:
    """A Postman v1 collection shaped like the one the API Playground writes to S3."""
    collection_id = uuid.uuid5(uuid.NAMESPACE_URL, f"ecwid-sandbox/collection/{store.store_id}")
    requests = []
    for name, method, path, raw in _COLLECTION_REQUESTS if with_requests else ():
        separator = "&" if "?" in path else "?"
        url = f"{ECWID_API_HOST_URL}/{store.store_id}/{path}{separator}token={store.token}"
        requests.append(
            {
                "id": str(uuid.uuid5(collection_id, name)),
                "collectionId": str(collection_id),
                "name": name,
                "method": method,
                "url": url,
                "headers": "Content-Type: application/json;charset=utf-8\n",
                "data": [],
                "dataMode": "raw",
                "rawModeData": raw,
                "description": "",
            }
        )
    collection = {
        "id": str(collection_id),
        "name": f"Ecwid API – store {store.store_id}",
        "description": "",
        "order": [request["id"] for request in requests],
        "folders": [],
        "requests": requests,
        "timestamp": _COLLECTION_TIMESTAMP_MS,
    }
    return json.dumps(collection, indent=2, ensure_ascii=False).encode()


def _profile(store: SampleStore, *, extended: bool = False) -> dict[str, object]:
    """`GET /profile`; a public token sees no `account` block. `accountBilling` comes only with
    `showExtendedInfo=true` and a token granted it (a store with a `pricing_plan_name`)."""
    subdomain = re.sub(r"[^a-z0-9]+", "-", store.store_name.lower()).strip("-")
    store_name, store_url, account_name = (
        store.store_name,
        f"https://{subdomain}.company.site",
        store.account_name,
    )
    if store.echoes_token:
        store_name = f"Shop {store.token}"
        store_url = f"https://{subdomain}.company.site/?token={store.token}&{store.token}"
        account_name = store.token
    profile: dict[str, object] = {
        "generalInfo": {
            "storeId": store.store_id,
            "storeUrl": store_url,
            "starterSite": {"ecwidSubdomain": subdomain},
        },
        "settings": {"closed": store.closed, "storeName": store_name, "storeDescription": ""},
        "formatsAndUnits": {"currency": "USD"},
        "languages": {"enabledLanguages": ["en"], "defaultLanguage": "en"},
    }
    if store.echoes_token:
        profile["accountBilling"] = {"pricingPlanName": f"Plan {store.token}"}
    if store.shows_account:
        profile["account"] = {
            "accountName": account_name,
            "accountNickName": store.account_name.split()[0].lower(),
            "accountEmail": f"owner.{store.store_id}@example.com",
            "availableFeatures": list(store.available_features),
            "paid": store.paid,
            "whiteLabel": False,
            "suspended": False,
            "registrationDate": "2021-03-04 10:11:12 +0000",
        }
    if extended and store.pricing_plan_name is not None:
        profile["accountBilling"] = {"pricingPlanName": store.pricing_plan_name}
    return profile


def _search(request: web.Request, store: SampleStore, entity: Entity) -> web.Response:
    """A search answer: the true `total`, but only `limit` made-up items."""
    limit = _non_negative(request.query.get("limit"), MAX_LIMIT)
    offset = _non_negative(request.query.get("offset"), 0)
    if limit is None or offset is None:
        return _ecwid_error(WRONG_PARAMETER)
    limit = min(limit, MAX_LIMIT)
    # A public token sees enabled categories only, whatever it asks for.
    include_hidden = (
        request.query.get("hidden_categories", "").lower() == "true" and not store.is_public_token
    )
    total = store.total(entity, include_hidden=include_hidden)
    visible = store.total(entity)
    numbers = range(offset + 1, min(offset + limit, total) + 1)
    items = [_item(entity, number, enabled=number <= visible) for number in numbers]
    body = {"total": total, "count": len(items), "offset": offset, "limit": limit, "items": items}
    return _json(200, body)


def _non_negative(value: str | None, default: int) -> int | None:
    if value is None:
        return default
    return int(value) if value.isdigit() else None


def _item(entity: Entity, number: int, *, enabled: bool) -> dict[str, object]:
    if entity is Entity.PRODUCTS:
        return {
            "id": 100_000 + number,
            "sku": f"{number:05d}",
            "name": f"Sample product {number}",
            "enabled": True,
        }
    if entity is Entity.CATEGORIES:
        return {
            "id": 200_000 + number,
            "parentId": 0,
            "name": f"Sample category {number}",
            "enabled": enabled,
        }
    if entity is Entity.ORDERS:
        return {
            "id": f"SB{number:05d}",
            "orderNumber": number,
            "email": f"customer{number}@example.com",
            "total": 10 + number,
            "paymentStatus": "PAID",
        }
    return {
        "id": 300_000 + number,
        "name": f"Sample customer {number}",
        "email": f"customer{number}@example.com",
    }
