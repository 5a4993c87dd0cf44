"""The closed vocabulary of a connection check: what can be wrong, what can be odd, which steps run.

Everything the code knows about one diagnosis sits in its row of `FACTS` below (its rank, where
it is decided, whether it blames the token, whether the bot follows it up, what a count refused
with it shows; `DiagnosisFacts` says what each means); its words sit in
`bot.engine.catalogue.CATALOGUE`. Nothing else in the product lists codes (only
`handlers.follow_ups.PROFILE_TELLS` picks a few out, to spare a follow-up round requests);
`tests/engine/test_diagnosis.py` writes the facts down a second time, on purpose, from what
each fix needs.

Adding a diagnosis code touches this file, its tests, the catalogue, the place that decides it,
a sample store and two tables of `docs/diagnoses.md`: the recipe, file by file, is "Adding a
diagnosis code" in `docs/contributing.md`.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    def facts(self) -> DiagnosisFacts:
        """This code's row of `FACTS` (a `KeyError` for a code given none: never a default)."""
        return FACTS[self]

    @property
    def rank(self) -> int:
        """When a check finds several things wrong, the lowest rank is the one told."""
        return self.facts.rank

    @property
    def is_input_problem(self) -> bool:
        """True when the paste itself is wrong, so nothing was sent anywhere."""
        return self.facts.stage is Stage.PASTE

    @property
    def blames_token(self) -> bool:
        """The token or its store does not work: Ecwid counts such a request towards blocking
        the token and the bot's address, so it counts against the failing-token budget, and
        after such a verdict the token cools down (`TOKEN_COOLDOWN_S`)."""
        return self.facts.blames_token

    @property
    def follows_up(self) -> bool:
        """The store owner can fix it without a new URL (a plan, a suspension, a wait on
        Ecwid's or S3's side), so the bot should keep checking the same paste on its own
        until it connects. False when the fix is a new URL or token, and for `OK`."""
        return self.facts.follows_up

    def count_shows(self, entity: Entity) -> str:
        """What `entity`'s count shows when Ecwid refused it with this diagnosis (or when
        this diagnosis kept it from being asked)."""
        shows = self.facts.count_shows
        if shows is None:
            raise ValueError(f"{self.value} is never Ecwid's answer to a count")
        return shows.format(scope=entity.scope)


class Stage(StrEnum):
    """Where a diagnosis is decided."""

    PASTE = "paste"  # reading what was pasted: nothing was sent anywhere
    COLLECTION = "collection"  # downloading and reading the Personal collection
    ECWID = "ecwid"  # Ecwid's answers, read together: a check can find several of these
    BOT = "bot"  # the bot itself: its guard, its deadline, a bug


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagnosisFacts:
    """What the code knows about one diagnosis besides its words. No field has a default:
    a row that forgets one does not load."""

    # Lowest is told first when a check finds several things wrong: unique and consecutive,
    # `OK` the highest, so a new row moves the ones ranked after it down by one.
    rank: int
    # Where it is decided; `PASTE` codes are input problems (nothing was sent anywhere).
    stage: Stage
    # The token or store does not work: the request counts against the failing-token budget,
    # and the token cools down (`TOKEN_COOLDOWN_S`).
    blames_token: bool
    # The store owner fixes it without a new URL: the bot keeps checking the paste on its own.
    follows_up: bool
    # `{scope}` is the entity's Ecwid scope. None: not a stage-ECWID code (and `OK`).
    count_shows: str | None


def _paste_problem(rank: int) -> DiagnosisFacts:
    """A paste problem: decided before anything is sent, fixed only by pasting again."""
    return DiagnosisFacts(
        rank=rank, stage=Stage.PASTE, blames_token=False, follows_up=False, count_shows=None
    )


FACTS: dict[Diagnosis, DiagnosisFacts] = {
    # Ranks: paste and collection problems end a check before Ecwid is asked, so they never
    # compete; their ranks keep the order total. Among Ecwid's, what to fix first wins.
    Diagnosis.URL_EMPTY: _paste_problem(1),
    Diagnosis.URL_TOKEN_ONLY: _paste_problem(2),
    Diagnosis.URL_PLAYGROUND_PAGE: _paste_problem(3),
    Diagnosis.URL_ADMIN_PAGE: _paste_problem(4),
    Diagnosis.URL_TRUNCATED: _paste_problem(5),
    Diagnosis.URL_NOT_COLLECTION: _paste_problem(6),
    Diagnosis.STORE_ID_INVALID: _paste_problem(7),
    Diagnosis.TOKEN_MALFORMED: _paste_problem(8),
    Diagnosis.COLLECTION_NOT_FOUND: DiagnosisFacts(
        rank=9, stage=Stage.COLLECTION, blames_token=False, follows_up=False, count_shows=None
    ),
    Diagnosis.COLLECTION_UNREACHABLE: DiagnosisFacts(
        rank=10, stage=Stage.COLLECTION, blames_token=False, follows_up=True, count_shows=None
    ),
    Diagnosis.COLLECTION_INVALID: DiagnosisFacts(
        rank=11, stage=Stage.COLLECTION, blames_token=False, follows_up=False, count_shows=None
    ),
    Diagnosis.CREDENTIALS_MISSING: DiagnosisFacts(
        rank=12, stage=Stage.COLLECTION, blames_token=False, follows_up=False, count_shows=None
    ),
    Diagnosis.STORE_SUSPENDED: DiagnosisFacts(
        rank=13,
        stage=Stage.ECWID,
        blames_token=True,
        follows_up=True,
        count_shows="the store is suspended",
    ),
    Diagnosis.PLAN_FREE: DiagnosisFacts(
        rank=14,
        stage=Stage.ECWID,
        blames_token=True,
        follows_up=True,
        count_shows="not available on the Free plan",
    ),
    Diagnosis.TOKEN_INVALID: DiagnosisFacts(
        rank=15,
        stage=Stage.ECWID,
        blames_token=True,
        follows_up=False,
        count_shows="the token was refused",
    ),
    Diagnosis.STORE_NOT_FOUND: DiagnosisFacts(
        rank=16,
        stage=Stage.ECWID,
        blames_token=True,
        follows_up=False,
        count_shows="unknown store",
    ),
    Diagnosis.PLAN_LIMITED: DiagnosisFacts(
        rank=17,
        stage=Stage.ECWID,
        blames_token=False,
        follows_up=True,
        count_shows="not included in the store's plan",
    ),
    Diagnosis.TOKEN_PUBLIC: DiagnosisFacts(
        rank=18,
        stage=Stage.ECWID,
        blames_token=False,
        follows_up=False,
        count_shows="a public token cannot read it",
    ),
    Diagnosis.SCOPE_MISSING: DiagnosisFacts(
        rank=19,
        stage=Stage.ECWID,
        blames_token=False,
        follows_up=False,
        count_shows="the token lacks the {scope} scope",
    ),
    Diagnosis.RATE_LIMITED: DiagnosisFacts(
        rank=20,
        stage=Stage.ECWID,
        blames_token=False,
        follows_up=True,
        count_shows="rate-limited by Ecwid",
    ),
    Diagnosis.ECWID_UNAVAILABLE: DiagnosisFacts(
        rank=21,
        stage=Stage.ECWID,
        blames_token=False,
        follows_up=True,
        count_shows="Ecwid did not answer properly",
    ),
    Diagnosis.THROTTLED: DiagnosisFacts(
        rank=22, stage=Stage.BOT, blames_token=False, follows_up=False, count_shows=None
    ),
    Diagnosis.CHECK_TIMEOUT: DiagnosisFacts(
        rank=23, stage=Stage.BOT, blames_token=False, follows_up=True, count_shows=None
    ),
    Diagnosis.INTERNAL_ERROR: DiagnosisFacts(
        rank=24, stage=Stage.BOT, blames_token=False, follows_up=False, count_shows=None
    ),
    # Last: whatever a check found wrong is told before "connected".
    Diagnosis.OK: DiagnosisFacts(
        rank=25, stage=Stage.ECWID, blames_token=False, follows_up=False, count_shows=None
    ),
}


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
