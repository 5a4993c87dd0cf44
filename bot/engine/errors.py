"""The engine's exceptions: each one carries the diagnosis it proves and a secret-free detail.

CheckError
├── PasteError        what was pasted cannot be checked (no network call was made)
├── CollectionError   the Personal collection could not be downloaded or read
└── EcwidError        Ecwid's API refused or failed
"""

from __future__ import annotations

from bot.engine.diagnosis import Diagnosis


class CheckError(Exception):
    """A check ended with `diagnosis`; `detail` is a short sentence safe to show anyone."""

    def __init__(self, diagnosis: Diagnosis, detail: str) -> None:
        super().__init__(f"{diagnosis.value}: {detail}")
        self.diagnosis = diagnosis
        self.detail = detail


class PasteError(CheckError):
    pass


class CollectionError(CheckError):
    pass


class EcwidError(CheckError):
    def __init__(
        self,
        diagnosis: Diagnosis,
        detail: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(diagnosis, detail)
        self.status = status
        self.error_code = error_code
        self.retry_after_s = retry_after_s
