"""A small client for the parts of Ecwid's REST API v3 that a connection check reads.

It decides from the HTTP status, Ecwid's `errorCode` and the kind of body, never from the message
text. Ecwid answers errors with a JSON body `{"errorMessage", "errorCode", "args"}` whose code may
be missing, with an empty body (a bare 403 for a fake token), or, in the older API, with the
reason in the status line only (`402 Please upgrade your account to access API`): so the status
decides first and the code refines it. An HTML page is never Ecwid's: it is a proxy or firewall.
It retries only what may succeed on a second try (5xx, time-outs, a short 429), and never a 402,
403 or 404: Ecwid blocks a token after about 20 failing requests a minute, and an IP after 600.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx

from bot.engine.diagnosis import Diagnosis, Entity
from bot.engine.errors import EcwidError
from bot.engine.redaction import StoreCredentials
from bot.engine.transport import get_request, gunzip_capped, join_url, read_capped

API_TIMEOUT = httpx.Timeout(8.0, connect=5.0)
MAX_RETRY_AFTER_S = 5
# Ecwid's answers to a check's requests are a few KB (a profile, a search with limit=1); one
# over a MiB is not Ecwid's, and is not read any further (nor decompressed past it).
MAX_ANSWER_BYTES = 1024 * 1024
_EXTENSIONS = {"timeout": API_TIMEOUT.as_dict()}

# 403 codes Ecwid documents for plan and feature limits (besides token and scope problems).
_PLAN_LIMIT_CODES = frozenset({"NOT_ALLOWED_ON_CURRENT_PLAN", "NOT_AVAILABLE_ON_CURRENT_PLAN"})
_FEATURE_LIMIT_SUFFIX = "_FEATURE_NOT_AVAILABLE"
# Ecwid's WordPress plugin calls a store paid when this is among its available features.
PAID_FEATURE = "PREMIUM"


@dataclass(frozen=True, slots=True)
class EcwidAnswer:
    """A successful JSON answer, and whether it took a second try."""

    body: dict[str, Any]
    retried: bool = False


@dataclass(frozen=True, slots=True)
class StoreProfile:
    """What `GET /profile` tells about a store, reduced to what a check shows."""

    store_id: int | None
    store_name: str | None
    store_url: str | None
    plan_name: str | None
    features: frozenset[str]
    closed: bool
    suspended: bool
    # `account.paid`; None when Ecwid did not say (no `account` section for a public token).
    paid: bool | None = None
    has_account: bool = True

    @property
    def is_free(self) -> bool:
        """Ecwid says the store is unpaid and lists no paid features: the Free plan."""
        return self.paid is False and PAID_FEATURE not in self.features

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> StoreProfile:
        general = _object(body.get("generalInfo"))
        account = _object(body.get("account"))
        settings = _object(body.get("settings"))
        billing = _object(body.get("accountBilling"))
        store_id = general.get("storeId")
        features = account.get("availableFeatures")
        paid = account.get("paid")
        return cls(
            store_id=store_id if isinstance(store_id, int) else None,
            store_name=_text(settings.get("storeName")),
            store_url=_text(general.get("storeUrl")),
            plan_name=_text(billing.get("pricingPlanName")),
            features=frozenset(f for f in features if isinstance(f, str))
            if isinstance(features, list)
            else frozenset(),
            closed=settings.get("closed") is True,
            suspended=account.get("suspended") is True,
            paid=paid if isinstance(paid, bool) else None,
            has_account=isinstance(body.get("account"), dict),
        )


class EcwidClient:
    """Reads one store's profile and entity counts, through one shared `httpx.AsyncClient`."""

    def __init__(
        self, http: httpx.AsyncClient, api_url: str, *, retry_backoff_s: float = 0.3
    ) -> None:
        self._http = http
        self._api_url = httpx.URL(api_url)
        self._retry_backoff_s = retry_backoff_s

    async def profile(self, credentials: StoreCredentials) -> tuple[StoreProfile, bool]:
        """The store's profile, and whether it needed a retry."""
        # The plan's name comes only with extended info (and scope read_store_profile_extended);
        # without that scope Ecwid leaves `accountBilling` out, and the plan is inferred.
        answer = await self._get(credentials, "profile", {"showExtendedInfo": "true"})
        return StoreProfile.from_body(answer.body), answer.retried

    async def count(self, credentials: StoreCredentials, entity: Entity) -> tuple[int, bool]:
        """How many of `entity` the token can read (`total` of a `limit=1` search)."""
        params = {"limit": "1"}
        if entity is Entity.CATEGORIES and credentials.token.is_secret:
            # Only a secret token sees disabled categories; a public one sees enabled ones only.
            params["hidden_categories"] = "true"
        answer = await self._get(credentials, entity.value, params)
        total = answer.body.get("total")
        if not isinstance(total, int) or total < 0:
            raise EcwidError(
                Diagnosis.ECWID_UNAVAILABLE,
                f"Ecwid's {entity.value} search answered without a total.",
                status=200,
            )
        return total, answer.retried

    async def _get(
        self, credentials: StoreCredentials, path: str, params: dict[str, str]
    ) -> EcwidAnswer:
        try:
            return EcwidAnswer(await self._send(self._request(credentials, path, params)))
        except _Retryable as first:
            await asyncio.sleep(first.wait_s if first.wait_s is not None else self._retry_backoff_s)
        try:
            return EcwidAnswer(await self._send(self._request(credentials, path, params)), True)
        except _Retryable as second:
            raise second.error from None

    def _request(
        self, credentials: StoreCredentials, path: str, params: dict[str, str]
    ) -> httpx.Request:
        """What `http.build_request("GET", …)` would build (the client's headers, no cookies:
        the engine's client keeps none), made from parts already parsed and encoded."""
        query = _query(tuple(params.items())) if params else None
        url = join_url(self._api_url, f"/{credentials.store_id}/{path}", query)
        headers = [
            (b"accept-encoding", b"gzip"),  # the one encoding decoded here, with a bound
            # Since March 2025 Ecwid ignores ?token=: the header is the only way in.
            (b"authorization", f"Bearer {credentials.token.reveal()}".encode()),
        ]
        return get_request(self._http, url, headers, _EXTENSIONS)

    async def _send(self, request: httpx.Request) -> Any:
        try:
            response = await self._http.send(request, stream=True)
            try:
                raw = await read_capped(response, MAX_ANSWER_BYTES)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise _Retryable(_unavailable("did not answer in time")) from None
        except (httpx.TransportError, aiohttp.ClientError, OSError) as error:
            # aiohttp's own errors (a garbled status line, say) pass the transport unmapped.
            raise _Retryable(
                _unavailable(f"could not be reached ({type(error).__name__})")
            ) from None
        content = _decoded(raw, response.headers.get("Content-Encoding"))
        if content is None:
            raise _too_large(response.status_code)
        if response.status_code == 200:
            body = _json_object(content)
            if body is None:
                raise _Retryable(_unavailable("answered with something that is not JSON"))
            return body
        raise _classify_failure(response.status_code, response.headers, content)


@functools.lru_cache(maxsize=16)
def _query(params: tuple[tuple[str, str], ...]) -> str:
    """The query of a check's request: a handful of constant ones, encoded once."""
    return urlencode(params)


def _decoded(raw: bytes | None, content_encoding: str | None) -> bytes | None:
    """The body as sent, gzip-decoded; None past `MAX_ANSWER_BYTES`, before or after."""
    if raw is None or not content_encoding:
        return raw
    encoding = content_encoding.strip().lower()
    if encoding not in ("gzip", "x-gzip"):
        return raw  # an encoding not asked for: unreadable, which the status decides about
    try:
        return gunzip_capped(raw, MAX_ANSWER_BYTES)
    except ValueError:
        return raw  # damaged: read as the bytes they are (neither JSON nor empty)


def _too_large(status: int) -> EcwidError:
    return EcwidError(
        Diagnosis.ECWID_UNAVAILABLE,
        f"Ecwid's API answered HTTP {status} with over "
        f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB, not an answer of Ecwid's to this request.",
        status=status,
    )


class _Retryable(Exception):
    """A failure worth one more try; `error` is what to report if the retry fails too."""

    def __init__(self, error: EcwidError, wait_s: float | None = None) -> None:
        super().__init__(error.detail)
        self.error = error
        self.wait_s = wait_s


class BodyKind(Enum):
    """What an error answer carried, as far as telling Ecwid from something in front of it."""

    EMPTY = "empty"  # nothing, as Ecwid answers a fake token (`403`, `Content-Length: 0`)
    JSON = "JSON"  # Ecwid's error body, with or without `errorCode`
    HTML = "HTML"  # a web page (or other markup): a proxy, firewall or gateway, not Ecwid
    TEXT = "text"  # anything else: read by the status alone


def body_kind(response: httpx.Response) -> tuple[BodyKind, dict[str, Any]]:
    """The kind of `response`'s body, and the JSON object when it is one."""
    return _body_kind(response.content, response.headers)


def _body_kind(content: bytes, headers: httpx.Headers) -> tuple[BodyKind, dict[str, Any]]:
    if not content.strip():
        return BodyKind.EMPTY, {}
    body = _json_object(content)
    if body is not None:
        return BodyKind.JSON, body
    content_type = headers.get("Content-Type", "").lower()
    if "html" in content_type or "xml" in content_type or content.lstrip()[:1] == b"<":
        return BodyKind.HTML, {}
    return BodyKind.TEXT, {}


def classify_failure(response: httpx.Response) -> EcwidError:
    """The diagnosis of a non-200 answer of Ecwid's API (whether it is worth a retry aside)."""
    failure = _classify_failure(response.status_code, response.headers, response.content)
    return failure.error if isinstance(failure, _Retryable) else failure


def _is_plan_limit(code: str | None) -> bool:
    return code is not None and (code in _PLAN_LIMIT_CODES or code.endswith(_FEATURE_LIMIT_SUFFIX))


def _classify_failure(
    status: int, headers: httpx.Headers, content: bytes
) -> EcwidError | _Retryable:
    kind, body = _body_kind(content, headers)
    code = _text(body.get("errorCode"))
    label = f"HTTP {status}" + (f" {code}" if code else "")
    if kind is not BodyKind.JSON:
        label += f", {kind.value} answer" if kind is BodyKind.EMPTY else f", {kind.value}"

    def error(diagnosis: Diagnosis, detail: str, **extra: Any) -> EcwidError:
        return EcwidError(diagnosis, detail, status=status, error_code=code, **extra)

    if status == 429:
        retry_after = _retry_after_s(headers)
        limited = error(
            Diagnosis.RATE_LIMITED,
            f"Ecwid rate-limited the token ({label}, wait {retry_after} s).",
            retry_after_s=retry_after,
        )
        if retry_after <= MAX_RETRY_AFTER_S:
            return _Retryable(limited, wait_s=retry_after)
        return limited
    if status == 408 or status >= 500:
        return _Retryable(error(Diagnosis.ECWID_UNAVAILABLE, f"Ecwid's API failed ({label})."))
    if kind is BodyKind.HTML:
        # Ecwid answers JSON or nothing: a page is a proxy's or firewall's, and says nothing
        # about the token, the plan or the store.
        return error(
            Diagnosis.ECWID_UNAVAILABLE,
            f"Something in front of Ecwid's API refused the request ({label}, not Ecwid's).",
        )
    if status == 402:
        if code == "STORE_IS_SUSPENDED":
            return error(Diagnosis.STORE_SUSPENDED, f"Ecwid says the store is suspended ({label}).")
        # With or without a code: the older API said it in the status line only.
        return error(Diagnosis.PLAN_FREE, f"Not available on the store's plan ({label}).")
    if status == 403 and code == "INSUFFICIENT_APP_SCOPE":
        return error(Diagnosis.SCOPE_MISSING, f"The token lacks the scope for this ({label}).")
    if status == 403 and _is_plan_limit(code):
        return error(Diagnosis.PLAN_LIMITED, f"The store's plan does not include this ({label}).")
    if status in (401, 403):
        # Ecwid documents 403 for token problems; an empty or code-less one is a fake token.
        return error(Diagnosis.TOKEN_INVALID, f"Ecwid refused the token ({label}).")
    if status == 404:
        return error(Diagnosis.STORE_NOT_FOUND, f"Ecwid does not know this store ({label}).")
    return error(Diagnosis.ECWID_UNAVAILABLE, f"Ecwid answered unexpectedly ({label}).")


def _unavailable(what: str) -> EcwidError:
    return EcwidError(Diagnosis.ECWID_UNAVAILABLE, f"Ecwid's API {what}.")


def _retry_after_s(headers: httpx.Headers) -> int:
    value = headers.get("Retry-After", "")
    try:
        return max(0, min(int(float(value)), 3600))
    except (ValueError, OverflowError):
        return 60


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python goes
        return None
    return body if isinstance(body, dict) else None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
