"""The sample stores of the sandbox, one per diagnosis, as data.

Each `SampleStore` says what the sandbox serves for it (its Personal collection and how Ecwid's
API answers) and what a correct checker must conclude from that (`expected`,
`expected_warnings`). Tokens are derived from a seed, so a test can mint a fresh set of
"canary" tokens and then look for them where they must never appear.

Over 400 lines, yet one thing: data, one sample store per diagnosis and warning.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from enum import StrEnum

from bot.engine.diagnosis import Diagnosis, Entity, WarningCode

COLLECTION_BUCKET_PATH = "/ecwid-api-playground"
COLLECTION_SUFFIX = ".json.postman_collection"
PAID_FEATURES = ("API", "PREMIUM", "COMBINATIONS", "CUSTOMER_GROUPS")

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN_LENGTH = 32


class Endpoint(StrEnum):
    """The Ecwid API resources the sandbox serves, under `/api/v3/{storeId}/`."""

    PROFILE = "profile"
    PRODUCTS = "products"
    CATEGORIES = "categories"
    ORDERS = "orders"
    CUSTOMERS = "customers"

    @property
    def entity(self) -> Entity | None:
        """The entity this search counts; None for the profile."""
        return None if self is Endpoint.PROFILE else Entity(self.value)


class CollectionKind(StrEnum):
    """What the store's Personal collection URL answers."""

    POSTMAN = "postman"  # a Postman v1 collection naming the store and its token
    MISSING = "missing"  # 403 AccessDenied, as S3 answers for a missing object
    HTML = "html"  # 200 with an HTML page
    EMPTY = "empty"  # a valid Postman v1 collection without any request
    STORAGE_DOWN = "storage_down"  # 503 SlowDown


class Body(StrEnum):
    """What an error answer carries."""

    JSON = "json"  # Ecwid's `{"errorMessage", "errorCode"}` (the code may be missing)
    EMPTY = "empty"  # nothing at all, `Content-Length: 0` (a bare 403 for a fake token)
    HTML = "html"  # a gateway's, proxy's or firewall's HTML page: not Ecwid


@dataclass(frozen=True, slots=True)
class Failure:
    """An error answer of Ecwid's API (or of something in front of it).

    `reason` replaces the status line's standard phrase: the older API said why only there
    (`402 Please upgrade your account to access API`).
    """

    status: int
    error_code: str | None
    error_message: str
    retry_after_s: int | None = None
    body: Body = Body.JSON
    reason: str | None = None
    args: tuple[tuple[str, str], ...] = ()  # the error body's `args` map, when there is one


NOT_ON_PLAN = Failure(402, "NOT_AVAILABLE_ON_CURRENT_PLAN", "Feature not available on current plan")
# The older API's 402: no errorCode, the reason in the status line, nothing in the body.
UPGRADE_STATUS_LINE = Failure(
    402, None, "", body=Body.EMPTY, reason="Please upgrade your account to access API"
)
# 403 codes for plan and feature limits (documented besides token and scope problems).
NOT_ALLOWED_ON_PLAN = Failure(
    403, "NOT_ALLOWED_ON_CURRENT_PLAN", "This feature is not allowed on the current plan"
)
BARE_FORBIDDEN = Failure(403, None, "", body=Body.EMPTY)
FIREWALL_PAGE = Failure(403, None, "Forbidden", body=Body.HTML)
SUSPENDED = Failure(402, "STORE_IS_SUSPENDED", "Store with specified ID is currently suspended")
INVALID_TOKEN = Failure(403, "INVALID_API_TOKEN", "Invalid access token in the request")
NO_SCOPE = Failure(
    403, "INSUFFICIENT_APP_SCOPE", "Application doesn't have a required scope for the request"
)
STORE_NOT_FOUND = Failure(404, "STORE_NOT_FOUND", "Store with specified ID was not found")
WRONG_PARAMETER = Failure(400, "WRONG_PARAMETER", "Wrong parameter value")
INTERNAL = Failure(500, "INTERNAL_ERROR", "Internal error")
BAD_GATEWAY = Failure(502, None, "Bad Gateway", body=Body.HTML)


# In a failure's code or message: replaced by the store's own token when the sandbox answers.
OWN_TOKEN = "{token}"
# An error answer that repeats the token it was sent (a canary: it must reach nobody).
TOKEN_ECHOED = Failure(500, OWN_TOKEN, f"Internal error for token {OWN_TOKEN}")


def rate_limited(retry_after_s: int) -> Failure:
    """429 RATE_LIMITED asking to wait `retry_after_s` seconds."""
    return Failure(429, "RATE_LIMITED", "Too many requests", retry_after_s=retry_after_s)


def _everywhere(failure: Failure) -> tuple[tuple[Endpoint, Failure], ...]:
    return tuple((endpoint, failure) for endpoint in Endpoint)


def _searches(failure: Failure) -> tuple[tuple[Endpoint, Failure], ...]:
    return tuple((endpoint, failure) for endpoint in Endpoint if endpoint is not Endpoint.PROFILE)


@dataclass(frozen=True, slots=True)
class SampleStore:
    """One sample: its Personal collection, how Ecwid answers for it, and the right verdict."""

    key: str
    store_id: int
    token: str
    expected: Diagnosis
    expected_warnings: tuple[WarningCode, ...]
    description: str
    # The Personal collection.
    collection: CollectionKind = CollectionKind.POSTMAN
    # Ecwid's side. `in_ecwid=False`: the API answers 404 STORE_NOT_FOUND for this store ID.
    in_ecwid: bool = True
    store_name: str = "Example Shop"
    account_name: str = "Jane Merchant"
    available_features: tuple[str, ...] = PAID_FEATURES
    paid: bool = True  # `account.paid`
    account_section: bool = True  # False: the profile has no `account` (as for public tokens)
    pricing_plan_name: str | None = None  # given only with showExtendedInfo=true and its scope
    closed: bool = False
    products: int = 1234
    categories: int = 56  # all of them, as `hidden_categories=true` counts
    disabled_categories: int = 6  # left out of a plain category search
    orders: int = 789
    customers: int = 321
    failures: tuple[tuple[Endpoint, Failure], ...] = ()  # answered on every call
    transient: Failure | None = None  # answered by the first `fail_first_n` calls per endpoint
    fail_first_n: int = 0
    delay_s: float = 0.0  # added to every API call of this store
    # Every text field of the profile (store name and URL, account name, plan) holds the token.
    echoes_token: bool = False

    @property
    def collection_name(self) -> str:
        """The S3 object name: the store ID and a tag that only the token's holder can compute."""
        tag = hashlib.sha256(f"ecwid-sandbox-collection:{self.token}".encode()).hexdigest()
        return f"{self.store_id}_{tag[:16]}"

    @property
    def collection_path(self) -> str:
        """The collection's path on the sandbox, e.g. `/ecwid-api-playground/1003_….json…`."""
        return f"{COLLECTION_BUCKET_PATH}/{self.collection_name}{COLLECTION_SUFFIX}"

    @property
    def is_public_token(self) -> bool:
        return self.token.startswith("public_")

    @property
    def shows_account(self) -> bool:
        """Whether `GET /profile` has an `account` section: never for a public token."""
        return self.account_section and not self.is_public_token

    @property
    def reaches_api(self) -> bool:
        """True when the collection names the store, so a checker goes on to call the API."""
        return self.collection is CollectionKind.POSTMAN

    def failure_for(self, endpoint: Endpoint) -> Failure | None:
        """The error every call to `endpoint` answers, if any."""
        return next((failure for name, failure in self.failures if name is endpoint), None)

    def total(self, entity: Entity, *, include_hidden: bool = False) -> int:
        """What a search of `entity` answers as `total`."""
        if entity is Entity.CATEGORIES:
            hidden = 0 if include_hidden else self.disabled_categories
            return max(0, self.categories - hidden)
        count: int = getattr(self, entity.value)
        return count


def derive_token(seed: str, key: str, prefix: str = "secret_") -> str:
    """`prefix` + 32 letters and digits, fixed by `seed` and `key` ("" for a legacy token)."""
    digest = hashlib.sha256(f"ecwid-sandbox-token:{seed}:{key}".encode()).digest()
    number = int.from_bytes(digest, "big")
    characters = []
    for _ in range(_TOKEN_LENGTH):
        number, index = divmod(number, len(_ALPHABET))
        characters.append(_ALPHABET[index])
    return prefix + "".join(characters)


def sample_stores(seed: str = "sandbox") -> tuple[SampleStore, ...]:
    """Every sample, in a stable order; another `seed` gives other tokens, same store IDs."""
    recovered = (WarningCode.RECOVERED_AFTER_RETRY,)
    return (
        SampleStore(
            key="connected",
            store_id=1003,
            token=derive_token(seed, "connected"),
            expected=Diagnosis.OK,
            expected_warnings=(),
            description="Paid store, full access: profile and every count answer",
        ),
        SampleStore(
            key="closed",
            store_id=1012,
            token=derive_token(seed, "closed"),
            expected=Diagnosis.OK,
            expected_warnings=(WarningCode.STORE_CLOSED,),
            description="Store in maintenance mode (settings.closed): readable, closed to shoppers",
            store_name="Closed For Stocktaking",
            closed=True,
        ),
        SampleStore(
            key="empty_catalog",
            store_id=1013,
            token=derive_token(seed, "empty_catalog"),
            expected=Diagnosis.OK,
            expected_warnings=(WarningCode.CATALOG_EMPTY,),
            description="Brand-new paid store: every call answers, nothing in it yet",
            store_name="Brand New Shop",
            products=0,
            categories=0,
            disabled_categories=0,
            orders=0,
            customers=0,
        ),
        SampleStore(
            key="flaky",
            store_id=1010,
            token=derive_token(seed, "flaky"),
            expected=Diagnosis.OK,
            expected_warnings=recovered,
            description="The first call to each endpoint answers 500, the next one succeeds",
            transient=INTERNAL,
            fail_first_n=1,
        ),
        SampleStore(
            key="brief_rate_limit",
            store_id=1008,
            token=derive_token(seed, "brief_rate_limit"),
            expected=Diagnosis.OK,
            expected_warnings=recovered,
            description="The first call to each endpoint answers 429 with Retry-After: 1, "
            "the next one succeeds",
            transient=rate_limited(1),
            fail_first_n=1,
        ),
        SampleStore(
            key="free_plan",
            store_id=2001,
            token=derive_token(seed, "free_plan"),
            expected=Diagnosis.PLAN_FREE,
            expected_warnings=(),
            description="Free plan: the profile answers, every search answers 402",
            store_name="Free Plan Shop",
            available_features=(),
            paid=False,
            failures=_searches(NOT_ON_PLAN),
        ),
        SampleStore(
            key="free_plan_strict",
            store_id=2011,
            token=derive_token(seed, "free_plan_strict"),
            expected=Diagnosis.PLAN_FREE,
            expected_warnings=(),
            description="Free plan: every API call, the profile too, answers 402",
            available_features=(),
            paid=False,
            failures=_everywhere(NOT_ON_PLAN),
        ),
        SampleStore(
            key="suspended",
            store_id=2002,
            token=derive_token(seed, "suspended"),
            expected=Diagnosis.STORE_SUSPENDED,
            expected_warnings=(),
            description="Suspended store: every call answers 402 STORE_IS_SUSPENDED",
            failures=_everywhere(SUSPENDED),
        ),
        SampleStore(
            key="revoked",
            store_id=2003,
            token=derive_token(seed, "revoked"),
            expected=Diagnosis.TOKEN_INVALID,
            expected_warnings=(),
            description="Revoked token: the store exists, every call answers 403 INVALID_API_TOKEN",
            failures=_everywhere(INVALID_TOKEN),
        ),
        SampleStore(
            key="no_customer_scope",
            store_id=2004,
            token=derive_token(seed, "no_customer_scope"),
            expected=Diagnosis.SCOPE_MISSING,
            expected_warnings=(),
            description="Token without read_customers: customers answer 403, the rest succeeds",
            failures=((Endpoint.CUSTOMERS, NO_SCOPE),),
        ),
        SampleStore(
            key="public_token",
            store_id=2005,
            token=derive_token(seed, "public_token", "public_"),
            expected=Diagnosis.TOKEN_PUBLIC,
            expected_warnings=(),
            description="Public token: limited profile, catalog readable, "
            "orders and customers answer 403",
            failures=((Endpoint.ORDERS, NO_SCOPE), (Endpoint.CUSTOMERS, NO_SCOPE)),
        ),
        SampleStore(
            key="unknown_store",
            store_id=2006,
            token=derive_token(seed, "unknown_store"),
            expected=Diagnosis.STORE_NOT_FOUND,
            expected_warnings=(),
            description="The collection names a store Ecwid does not know: every call answers 404",
            in_ecwid=False,
        ),
        SampleStore(
            key="rate_limited",
            store_id=2007,
            token=derive_token(seed, "rate_limited"),
            expected=Diagnosis.RATE_LIMITED,
            expected_warnings=(),
            description="Every call answers 429 RATE_LIMITED with Retry-After: 30",
            failures=_everywhere(rate_limited(30)),
        ),
        SampleStore(
            key="ecwid_down",
            store_id=2009,
            token=derive_token(seed, "ecwid_down"),
            expected=Diagnosis.ECWID_UNAVAILABLE,
            expected_warnings=(),
            description="Every call answers 500 INTERNAL_ERROR",
            failures=_everywhere(INTERNAL),
        ),
        SampleStore(
            key="html_gateway",
            store_id=2014,
            token=derive_token(seed, "html_gateway"),
            expected=Diagnosis.ECWID_UNAVAILABLE,
            expected_warnings=(),
            description="Every call answers 502 with a gateway's HTML error page",
            failures=_everywhere(BAD_GATEWAY),
        ),
        SampleStore(
            key="token_echo",
            store_id=2030,
            token=derive_token(seed, "token_echo"),
            expected=Diagnosis.ECWID_UNAVAILABLE,
            expected_warnings=(),
            description="Ecwid's answers repeat the token: in the store name, store URL, plan "
            "and account name, and as the error code of every order search (HTTP 500)",
            echoes_token=True,
            failures=((Endpoint.ORDERS, TOKEN_ECHOED),),
        ),
        SampleStore(
            key="slow",
            store_id=2015,
            token=derive_token(seed, "slow"),
            expected=Diagnosis.CHECK_TIMEOUT,
            expected_warnings=(),
            description="Every API call takes 30 s: the check's deadline comes first",
            delay_s=30.0,
        ),
        SampleStore(
            key="legacy_token",
            store_id=1014,
            token=derive_token(seed, "legacy_token", ""),
            expected=Diagnosis.OK,
            expected_warnings=(),
            description="An older OAuth token without prefix: it works like a secret token",
        ),
        SampleStore(
            key="secure_token",
            store_id=1015,
            token=derive_token(seed, "secure_token", "secure_"),
            expected=Diagnosis.OK,
            expected_warnings=(),
            description="A secure_ token, as older Ecwid documents show: it works like secret_",
        ),
        SampleStore(
            key="extended_profile",
            store_id=1016,
            token=derive_token(seed, "extended_profile"),
            expected=Diagnosis.OK,
            expected_warnings=(),
            description="Token with read_store_profile_extended: showExtendedInfo=true gives "
            "accountBilling.pricingPlanName (Business)",
            pricing_plan_name="Business",
        ),
        SampleStore(
            key="no_account_section",
            store_id=1017,
            token=derive_token(seed, "no_account_section"),
            expected=Diagnosis.OK,
            expected_warnings=(),
            description="The profile has no account section; every count answers",
            account_section=False,
        ),
        SampleStore(
            key="unpaid",
            store_id=2016,
            token=derive_token(seed, "unpaid"),
            expected=Diagnosis.PLAN_FREE,
            expected_warnings=(),
            description="account.paid is false and PREMIUM is missing, though searches answer",
            store_name="Unpaid Shop",
            available_features=("API",),
            paid=False,
        ),
        SampleStore(
            key="old_api_402",
            store_id=2017,
            token=derive_token(seed, "old_api_402"),
            expected=Diagnosis.PLAN_FREE,
            expected_warnings=(),
            description="Every call answers 402 Please upgrade your account to access API, "
            "the reason in the status line only, no errorCode",
            available_features=(),
            paid=False,
            failures=_everywhere(UPGRADE_STATUS_LINE),
        ),
        SampleStore(
            key="bare_403",
            store_id=2018,
            token=derive_token(seed, "bare_403"),
            expected=Diagnosis.TOKEN_INVALID,
            expected_warnings=(),
            description="Every call answers a bare 403 with an empty body, as for a fake token",
            failures=_everywhere(BARE_FORBIDDEN),
        ),
        SampleStore(
            key="firewall_403",
            store_id=2019,
            token=derive_token(seed, "firewall_403"),
            expected=Diagnosis.ECWID_UNAVAILABLE,
            expected_warnings=(),
            description="Every call answers 403 with a firewall's HTML page: not Ecwid",
            failures=_everywhere(FIREWALL_PAGE),
        ),
        SampleStore(
            key="plan_limited",
            store_id=2020,
            token=derive_token(seed, "plan_limited"),
            expected=Diagnosis.PLAN_LIMITED,
            expected_warnings=(),
            description="Customers answer 403 NOT_ALLOWED_ON_CURRENT_PLAN, the rest succeeds",
            failures=((Endpoint.CUSTOMERS, NOT_ALLOWED_ON_PLAN),),
        ),
        SampleStore(
            key="missing_collection",
            store_id=3001,
            token=derive_token(seed, "missing_collection"),
            expected=Diagnosis.COLLECTION_NOT_FOUND,
            expected_warnings=(),
            description="The collection URL answers 403 AccessDenied, as S3 does for no object",
            collection=CollectionKind.MISSING,
            in_ecwid=False,
        ),
        SampleStore(
            key="not_a_collection",
            store_id=3002,
            token=derive_token(seed, "not_a_collection"),
            expected=Diagnosis.COLLECTION_INVALID,
            expected_warnings=(),
            description="The collection URL answers 200 with an HTML page",
            collection=CollectionKind.HTML,
            in_ecwid=False,
        ),
        SampleStore(
            key="empty_collection",
            store_id=3003,
            token=derive_token(seed, "empty_collection"),
            expected=Diagnosis.CREDENTIALS_MISSING,
            expected_warnings=(),
            description="A valid Postman v1 collection without any request: no store ID, no token",
            collection=CollectionKind.EMPTY,
            in_ecwid=False,
        ),
        SampleStore(
            key="storage_down",
            store_id=3004,
            token=derive_token(seed, "storage_down"),
            expected=Diagnosis.COLLECTION_UNREACHABLE,
            expected_warnings=(),
            description="The collection URL answers 503 SlowDown",
            collection=CollectionKind.STORAGE_DOWN,
            in_ecwid=False,
        ),
    )


def working_stores(count: int, seed: str = "sandbox") -> tuple[SampleStore, ...]:
    """`count` more stores like `connected`, each with its own store ID and token (`working-N`),
    for load: many users checking many stores at once."""
    connected = sample_stores(seed)[0]
    return tuple(
        dataclasses.replace(
            connected,
            key=f"working-{number}",
            store_id=100_000 + number,
            token=derive_token(seed, f"working-{number}"),
            description="Like connected: a paid store with full access",
        )
        for number in range(count)
    )
