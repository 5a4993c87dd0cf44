"""What users pasted, kept encrypted for a limited time so a check can be run again.

A paste is a password (a collection URL or a token), so it is stored only as a Fernet token
(AES-128-CBC with an HMAC-SHA256: encrypted and authenticated) under CREDENTIALS_KEY. It expires
twice over: its row is deleted once `expires_at` has passed, and the Fernet token's own timestamp
makes it unreadable after the time-to-live even if the row were still there.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from bot.db.models import HeldPasteRow, StoredCredentialsRow, upsert, utcnow
from bot.engine.intake import CollectionPaste, CredentialsPaste, Paste
from bot.engine.redaction import CollectionUrl, EcwidToken, StoreCredentials
from bot.settings import validate_key

if TYPE_CHECKING:
    from pydantic import SecretStr
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)


def new_key() -> str:
    """A new random CREDENTIALS_KEY."""
    return Fernet.generate_key().decode()


class CredentialVault:
    """Encrypted pastes, one per check, readable until they expire.

    `enabled` is False without a key: then `store()` keeps nothing and `load()` finds nothing.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        key: SecretStr | None,
        ttl: timedelta,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("the time-to-live must be positive")
        self._engine = engine
        self._ttl = ttl
        self._clock = clock
        secret = key.get_secret_value().strip() if key is not None else ""
        if secret:
            validate_key(secret)
        self._fernet = Fernet(secret.encode()) if secret else None
        self.enabled = self._fernet is not None

    async def store(self, check_id: str, paste: Paste) -> None:
        """Keep `paste` for the check `check_id` (a recorded check), replacing any earlier one."""
        if self._fernet is None:
            return
        now = self._clock()
        ciphertext = _encrypt(self._fernet, paste, now)
        values = {
            "check_id": check_id,
            "created_at": now,
            "expires_at": now + self._ttl,
            "ciphertext": ciphertext,
        }
        async with self._engine.begin() as connection:
            statement = upsert(connection.dialect.name, StoredCredentialsRow).values(values)
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[StoredCredentialsRow.check_id],
                    set_={name: statement.excluded[name] for name in values},
                )
            )
            # Storing is frequent enough to keep expired pastes from lingering.
            await connection.execute(self._expired(now))

    async def load(self, check_id: str) -> Paste | None:
        """The paste kept for this check; None when there is none, it expired or cannot be read."""
        if self._fernet is None:
            return None
        now = self._clock()
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    sa.select(
                        StoredCredentialsRow.expires_at, StoredCredentialsRow.ciphertext
                    ).where(StoredCredentialsRow.check_id == check_id)
                )
            ).one_or_none()
            if row is None:
                return None
            if row.expires_at <= now:
                await connection.execute(
                    sa.delete(StoredCredentialsRow).where(StoredCredentialsRow.check_id == check_id)
                )
                return None
        try:
            return _open(self._fernet, row.ciphertext, self._ttl, now)
        except InvalidToken:
            # Not deleted: the right key may come back (a configuration rolled back).
            logger.warning(
                "The stored paste of check %s cannot be decrypted: it was stored under another "
                "CREDENTIALS_KEY, or CREDENTIALS_TTL_H was shortened since.",
                check_id,
            )
            return None
        except (ValueError, KeyError, TypeError):
            logger.warning("The stored paste of check %s is not in a known format.", check_id)
            return None

    def seal(self, paste: Paste) -> bytes | None:
        """`paste` encrypted, to keep elsewhere (the check journal); None when the vault is off."""
        if self._fernet is None:
            return None
        return _encrypt(self._fernet, paste, self._clock())

    def unseal(self, sealed: bytes, ttl: timedelta | None = None) -> Paste | None:
        """What `seal` made, within the time-to-live (CREDENTIALS_TTL_H, or `ttl` for what is
        kept as long as something needs it: a follow-up); None when it cannot be read any more."""
        if self._fernet is None:
            return None
        try:
            return _open(self._fernet, sealed, ttl or self._ttl, self._clock())
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None

    async def hold(self, paste: Paste, *, owner: str, ttl: timedelta) -> str | None:
        """Keep `paste` for `ttl` for `owner` alone (a spotted secret, for its author's private
        check); the opaque ID to take it back with, or None when the vault is off."""
        if self._fernet is None:
            return None
        now = self._clock()
        hold_id = uuid.uuid4().hex
        ciphertext = _encrypt(self._fernet, paste, now)
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.insert(HeldPasteRow).values(
                    id=hold_id,
                    owner=owner,
                    created_at=now,
                    expires_at=now + ttl,
                    ciphertext=ciphertext,
                )
            )
            await connection.execute(self._expired_holds(now))
        return hold_id

    async def take(self, hold_id: str, *, owner: str) -> Paste | None:
        """The paste held under `hold_id`, once, and only for its `owner`: the row goes as it is
        read. None when there is none for them, it expired or cannot be read."""
        if self._fernet is None:
            return None
        now = self._clock()
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    sa.delete(HeldPasteRow)
                    .where(HeldPasteRow.id == hold_id, HeldPasteRow.owner == owner)
                    .returning(
                        HeldPasteRow.created_at, HeldPasteRow.expires_at, HeldPasteRow.ciphertext
                    )
                )
            ).one_or_none()
        if row is None or row.expires_at <= now:
            return None
        try:
            return _open(self._fernet, row.ciphertext, row.expires_at - row.created_at, now)
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None

    async def purge_expired(self) -> int:
        """Delete every expired paste, held ones included; returns how many there were."""
        now = self._clock()
        async with self._engine.begin() as connection:
            result = await connection.execute(self._expired(now))
            held = await connection.execute(self._expired_holds(now))
        return result.rowcount + held.rowcount

    @staticmethod
    def _expired(now: datetime) -> sa.Delete:
        return sa.delete(StoredCredentialsRow).where(StoredCredentialsRow.expires_at <= now)

    @staticmethod
    def _expired_holds(now: datetime) -> sa.Delete:
        return sa.delete(HeldPasteRow).where(HeldPasteRow.expires_at <= now)


def _open(fernet: Fernet, ciphertext: bytes, ttl: timedelta, now: datetime) -> Paste:
    """The paste `ciphertext` seals, if it is younger than `ttl` at `now`; raises InvalidToken
    (wrong key, too old) or ValueError, KeyError, TypeError (not a paste)."""
    plain = fernet.decrypt_at_time(
        ciphertext, ttl=math.ceil(ttl.total_seconds()), current_time=int(now.timestamp())
    )
    return _deserialise(plain)


def _encrypt(fernet: Fernet, paste: Paste, now: datetime) -> bytes:
    """`paste` encrypted as of `now`: the time Fernet's `ttl` counts from."""
    return fernet.encrypt_at_time(_serialise(paste), int(now.timestamp()))


def _serialise(paste: Paste) -> bytes:
    if isinstance(paste, CollectionPaste):
        data: dict[str, object] = {"kind": "url", "url": paste.url.reveal()}
    else:
        credentials = paste.credentials
        data = {
            "kind": "credentials",
            "store_id": credentials.store_id,
            "token": credentials.token.reveal(),
        }
    return json.dumps(data).encode()


def _deserialise(plain: bytes) -> Paste:
    data = json.loads(plain)
    if data["kind"] == "url":
        return CollectionPaste(CollectionUrl(str(data["url"])))
    if data["kind"] == "credentials":
        return CredentialsPaste(
            StoreCredentials(int(data["store_id"]), EcwidToken(str(data["token"])))
        )
    raise ValueError("unknown kind")
