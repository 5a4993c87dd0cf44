"""The closed vocabulary of a connection check: what can be wrong, what can be odd, which steps run.

Adding a failure mode means: one `Diagnosis` member here, one entry in
`bot.engine.catalogue.CATALOGUE`,
one sample store in the sandbox and one test.
"""

from __future__ import annotations

from enum import StrEnum


class Diagnosis(StrEnum):
    """The single verdict of a check. `OK` means a migration service can read the store."""

    OK = "ok"
    # What was pasted (decided without any network call).
    URL_EMPTY = "url_empty"
    URL_TOKEN_ONLY = "url_token_only"
    URL_PLAYGROUND_PAGE = "url_playground_page"
    URL_ADMIN_PAGE = "url_admin_page"
    URL_TRUNCATED = "url_truncated"
    URL_NOT_COLLECTION = "url_not_collection"
    STORE_ID_INVALID = "store_id_invalid"
    TOKEN_MALFORMED = "token_malformed"
    # The Personal collection file.
    COLLECTION_NOT_FOUND = "collection_not_found"
    COLLECTION_UNREACHABLE = "collection_unreachable"
    COLLECTION_INVALID = "collection_invalid"
    CREDENTIALS_MISSING = "credentials_missing"
    # What Ecwid answered.
    PLAN_FREE = "plan_free"
    PLAN_LIMITED = "plan_limited"
    STORE_SUSPENDED = "store_suspended"
    TOKEN_INVALID = "token_invalid"
    STORE_NOT_FOUND = "store_not_found"
    SCOPE_MISSING = "scope_missing"
    TOKEN_PUBLIC = "token_public"
    RATE_LIMITED = "rate_limited"
    ECWID_UNAVAILABLE = "ecwid_unavailable"
    # Decided by the bot itself.
    THROTTLED = "throttled"
    CHECK_TIMEOUT = "check_timeout"
    INTERNAL_ERROR = "internal_error"

    @property
    def is_input_problem(self) -> bool:
        """True when the paste itself is wrong, so nothing was sent anywhere."""
        return self in _INPUT_PROBLEMS


_INPUT_PROBLEMS = frozenset(
    {
        Diagnosis.URL_EMPTY,
        Diagnosis.URL_TOKEN_ONLY,
        Diagnosis.URL_PLAYGROUND_PAGE,
        Diagnosis.URL_ADMIN_PAGE,
        Diagnosis.URL_TRUNCATED,
        Diagnosis.URL_NOT_COLLECTION,
        Diagnosis.STORE_ID_INVALID,
        Diagnosis.TOKEN_MALFORMED,
    }
)


class WarningCode(StrEnum):
    """Something worth telling that does not block the migration."""

    STORE_CLOSED = "store_closed"
    CATALOG_EMPTY = "catalog_empty"
    STORE_ID_MISMATCH = "store_id_mismatch"
    RECOVERED_AFTER_RETRY = "recovered_after_retry"


class StepName(StrEnum):
    """The rungs of the ladder, in the order they are shown."""

    INTAKE = "intake"
    DOWNLOAD = "download"
    PARSE = "parse"
    PROFILE = "profile"
    PRODUCTS = "products"
    CATEGORIES = "categories"
    ORDERS = "orders"
    CUSTOMERS = "customers"


class StepStatus(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    WARNING = "warning"


class Entity(StrEnum):
    """What a migration reads, each counted with one `limit=1` search."""

    PRODUCTS = "products"
    CATEGORIES = "categories"
    ORDERS = "orders"
    CUSTOMERS = "customers"

    @property
    def step(self) -> StepName:
        return StepName(self.value)

    @property
    def scope(self) -> str:
        """The Ecwid app scope that grants read access to this entity."""
        return _SCOPES[self]


_SCOPES = {
    Entity.PRODUCTS: "read_catalog",
    Entity.CATEGORIES: "read_catalog",
    Entity.ORDERS: "read_orders",
    Entity.CUSTOMERS: "read_customers",
}
