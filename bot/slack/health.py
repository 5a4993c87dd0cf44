"""What Slack's answers say about Slack, for `/ready`: still reachable, the token still accepted.

`auth.test` at start proves the token once; this follows every Web API answer since (the client's
`_CallCounter` reports each). Slack is judged unreachable once calls have only failed – no
answer, a dropped connection, a 5xx – for `UNREACHABLE_AFTER_S`: one bad minute is waited out by
the delivery anyway, and a single answer of any kind (a 429 too) shows Slack is there. The token
is judged refused for good when Slack says so (`invalid_auth`, `token_revoked`, …: the app was
uninstalled or its token rotated); an operator has to act, and only a later successful call
clears it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

UNREACHABLE_AFTER_S = 60.0
# Web API errors that say the token itself no longer works, whatever the method.
TOKEN_REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "team_disabled",
        "org_login_required",
    }
)


class SlackHealth:
    """The state of Slack as this process's calls have seen it."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        unreachable_after_s: float = UNREACHABLE_AFTER_S,
    ) -> None:
        self._clock = clock
        self._unreachable_after_s = unreachable_after_s
        self._failing_since: float | None = None
        self._refused: str | None = None

    def answered(self, error: str | None = None) -> None:
        """Slack answered (ok, or with an error in the body, or 429)."""
        self._failing_since = None
        if error is None:
            self._refused = None
        elif error in TOKEN_REFUSED:
            self._refused = error

    def failed(self) -> None:
        """No usable answer: a connection error, a time-out, a 5xx."""
        if self._failing_since is None:
            self._failing_since = self._clock()

    def snapshot(self) -> dict[str, Any]:
        """`ok`, and why not: `token_refused` (Slack's error) or `failing_for_s`."""
        state: dict[str, Any] = {"ok": True}
        if self._refused is not None:
            state |= {"ok": False, "token_refused": self._refused}
        if self._failing_since is not None:
            failing_for = self._clock() - self._failing_since
            state["failing_for_s"] = round(failing_for, 1)
            if failing_for >= self._unreachable_after_s:
                state["ok"] = False
        return state
