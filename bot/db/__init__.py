"""Persistence: check history, escalations, encrypted pastes and the state bot processes share.

`Database.from_settings(settings)` opens the configured database (SQLite under DATA_DIR by
default, PostgreSQL when DATABASE_URL says so); `await database.migrate()` brings its schema up
to date.
"""

from bot.db.models import utcnow
from bot.db.shared import DatabaseSeenKeys, DatabaseTokenGuard
from bot.db.store import (
    CheckRecord,
    Database,
    EntryPoint,
    Escalation,
    EscalationState,
    Place,
    TeamStats,
    Urgency,
    normalise_url,
)
from bot.db.vault import CredentialVault, new_key, validate_key

__all__ = [
    "CheckRecord",
    "CredentialVault",
    "Database",
    "DatabaseSeenKeys",
    "DatabaseTokenGuard",
    "EntryPoint",
    "Escalation",
    "EscalationState",
    "Place",
    "TeamStats",
    "Urgency",
    "new_key",
    "normalise_url",
    "utcnow",
    "validate_key",
]
