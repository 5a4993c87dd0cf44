"""The `checks` rows of the history: building one from a finished check's report (only the masked
token kept; every string redacted once more), and reading one back as the `CheckRecord` that the
history, the App Home and the recorder's checks not yet written all show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.db.destination_columns import destination_columns, destination_of
from bot.destination import Destination
from bot.engine.diagnosis import Diagnosis, Entity, WarningCode
from bot.engine.redaction import redact
from bot.engine.report import CheckReport


@dataclass(frozen=True)
class CheckRecord:
    """A recorded check, as read back.

    `counts` maps each entity to its total (None: unknown); `report` is the whole report, as
    recorded (with anything that looks like a secret redacted), to show the check again.
    """

    id: str
    created_at: datetime
    destination: Destination
    store_id: int | None
    store_name: str | None
    diagnosis: Diagnosis
    warnings: list[WarningCode]
    plan: str
    token_masked: str | None
    counts: dict[str, int | None]
    duration_ms: int
    report: CheckReport


def check_row(check_id: str, report: CheckReport, destination: Destination) -> dict[str, Any]:
    """The `checks` row of a check: only the masked token; free text redacted once more."""
    return {
        "id": check_id,
        "created_at": report.checked_at,
        **destination_columns(destination),
        "entry_point": destination.entry.value,
        "store_id": report.store_id,
        "store_name": _redacted(report.store_name),
        "diagnosis": report.diagnosis.value,
        "warnings": [warning.value for warning in report.warnings],
        "plan": report.plan[:64],
        "token_masked": _redacted(report.token),
        "counts": {entity.value: report.counts.of(entity).total for entity in Entity},
        "duration_ms": report.duration_ms,
        "report": redacted_report(report),
    }


def check_record(check_id: str, report: CheckReport, destination: Destination) -> CheckRecord:
    """A check not yet written, as the history will read it back."""
    row = check_row(check_id, report, destination)
    row["report"] = report.model_dump(mode="json")
    return check_record_of(row)


def check_record_of(row: Mapping[Any, Any]) -> CheckRecord:
    """A `checks` row (or one built by `check_row`), as read back."""
    return CheckRecord(
        id=row["id"],
        created_at=row["created_at"],
        destination=destination_of(row, row["entry_point"]),
        store_id=row["store_id"],
        store_name=row["store_name"],
        diagnosis=Diagnosis(row["diagnosis"]),
        warnings=[WarningCode(warning) for warning in row["warnings"]],
        plan=row["plan"],
        token_masked=row["token_masked"],
        counts=dict(row["counts"]),
        duration_ms=row["duration_ms"],
        report=CheckReport.model_validate(row["report"]),
    )


def redacted_report(report: CheckReport) -> dict[str, Any]:
    """`report` as JSON to store, with every string redacted once more."""
    data: dict[str, Any] = _redacted_json(report.model_dump(mode="json"))
    return data


def _redacted_json(value: Any) -> Any:
    """`value` (decoded JSON) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted_json(item) for key, item in value.items()}
    return value


def _redacted(text: str | None) -> str | None:
    return None if text is None else redact(text)
