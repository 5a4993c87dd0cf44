"""The App Home of a support agent at a real team's scale: 1,000,000 checks and 50,000
escalations over 90 days, on SQLite and on PostgreSQL.

The rows are made by the database itself (one INSERT … SELECT over a series: PostgreSQL's
generate_series, SQLite's recursive CTE), spread over 90 days, each check carrying a real
report's JSON from the sandbox. One escalation in twenty checks; those of the last three days
partly still open (some overdue), the rest answered and resolved, half with an answer to
"Did it help?". The App Home's figures (counts by diagnosis, medians, the share of "yes", the
overdue list) are computed by the database over the indexes the escalation clock's migration
adds.

PostgreSQL runs when BENCH_DATABASE_URL or TEST_DATABASE_URL names a server: a database of
its own is made there and dropped afterwards; else it is said to be skipped.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bench.scratch import SKIPPED, postgres_server, scratch_database
from bot.db.database import Database
from bot.db.recorder import CheckRecorder
from bot.engine.check import ConnectionChecker
from bot.engine.guard import MemoryTokenGuard
from bot.engine.http_client import new_http_client
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.settings import load_settings
from handlers.home import TEAM_WINDOW, build_home

CHECKS = 1_000_000
ESCALATION_EVERY = 20  # 50,000 escalations
DAYS = 90
RENDERS = 15
TARGET_MS = 100
# Sandbox stores for the reports, most frequent first: most checks connect.
STORES = ("connected", "connected", "connected", "free_plan", "revoked", "no_customer_scope")


async def _reports() -> list[dict[str, Any]]:
    """Real reports, as the history records them, one per entry of STORES."""
    async with EcwidSandbox() as sandbox, new_http_client() as http:
        settings = load_settings(
            env_file=None, ecwid_api_url=sandbox.api_url, collection_hosts=sandbox.collection_host
        )
        checker = ConnectionChecker(settings, http, MemoryTokenGuard(0, 10**9))
        return [
            (await checker.check_text(sandbox.collection_url(key))).model_dump(mode="json")
            for key in STORES
        ]


def _series(dialect: str, count: int) -> str:
    if dialect == "postgresql":
        return f"generate_series(CAST(1 AS bigint), {count}) AS s(n)"
    return "s"


def _with_series(dialect: str, count: int) -> str:
    if dialect == "postgresql":
        return ""
    return f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) "


def _at(dialect: str, seconds_ago: str) -> str:
    """A timestamp `seconds_ago` (an SQL expression) before :now, as each backend stores it."""
    if dialect == "postgresql":
        return f"(CAST(:now AS timestamptz) - ({seconds_ago}) * interval '1 second')"
    # SQLAlchemy keeps naive UTC on SQLite as 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return f"(strftime('%Y-%m-%d %H:%M:%S', :epoch - ({seconds_ago}), 'unixepoch') || '.000000')"


def _pick(values: list[str], index: str, dialect: str) -> str:
    cases = " ".join(f"WHEN {i} THEN :{v}" for i, v in enumerate(values))
    cast = "CAST({} AS json)" if dialect == "postgresql" else "{}"
    return cast.format(f"CASE ({index}) {cases} END")


def _check_id(dialect: str, n: str) -> str:
    return f"lpad(to_hex({n}), 32, '0')" if dialect == "postgresql" else f"printf('%032x', {n})"


async def _fill(database: Database, reports: list[dict[str, Any]]) -> None:
    dialect = database.dialect
    now = datetime.now(UTC)
    spread = DAYS * 86400
    ago = f"(n * 7919) % {spread}"
    params: dict[str, Any] = {"now": now, "epoch": int(now.timestamp())}
    names = []
    for i, report in enumerate(reports):
        names += [f"report{i}", f"diagnosis{i}", f"counts{i}", f"warnings{i}"]
        params[f"report{i}"] = json.dumps(report)
        params[f"diagnosis{i}"] = report["diagnosis"]
        params[f"counts{i}"] = json.dumps({"products": 120, "categories": 8, "orders": None})
        params[f"warnings{i}"] = json.dumps(report.get("warnings", []))
    kinds = len(reports)
    kind = f"n % {kinds}"
    checks = (
        _with_series(dialect, CHECKS) + "INSERT INTO checks (id, created_at, team_id, channel_id, "
        "thread_ts, requester_id, entry_point, store_id, store_name, diagnosis, warnings, plan, "
        "token_masked, counts, duration_ms, report) "
        f"SELECT {_check_id(dialect, 'n')}, {_at(dialect, ago)}, 'T0001', 'C0CUSTOMERS', "
        "'1700000000.000100', 'U' || (n % 200), 'modal', 10000000 + n % 20000, 'Bench store', "
        f"{_pick([f'diagnosis{i}' for i in range(kinds)], kind, '')}, "
        f"{_pick([f'warnings{i}' for i in range(kinds)], kind, dialect)}, 'Business', "
        f"'secret_…a1b2', {_pick([f'counts{i}' for i in range(kinds)], kind, dialect)}, "
        f"800 + n % 900, {_pick([f'report{i}' for i in range(kinds)], kind, dialect)} "
        f"FROM {_series(dialect, CHECKS)}"
    )
    escalations = CHECKS // ESCALATION_EVERY
    m = f"(n * {ESCALATION_EVERY})"  # the escalated check's number
    created = f"(({m} * 7919) % {spread} - 60)"
    urgency = "CASE n % 3 WHEN 0 THEN 'blocking' WHEN 1 THEN 'normal' ELSE 'low' END"
    target = "CASE n % 3 WHEN 0 THEN 1800 WHEN 1 THEN 14400 ELSE 86400 END"
    recent = f"{created} < 3 * 86400 AND n % 10 = 0"  # still open: the last days' few
    response = "(60 + (n * 37) % 7200)"
    resolution = f"({response} + (n * 53) % 86400)"
    state = f"CASE WHEN {recent} THEN 'open' ELSE 'resolved' END"
    answered = f"NOT ({recent})"
    feedback = f"NOT ({recent}) AND n % 2 = 0"
    escalation_rows = (
        _with_series(dialect, escalations) + "INSERT INTO escalations (id, check_id, created_at, "
        "team_id, channel_id, thread_ts, requester_id, store_id, diagnosis, goal, urgency, note, "
        "state, taken_by, taken_at, resolved_by, resolved_at, version, opened_at, "
        "response_due_at, responded_at, responded_by, response_s, reminders_sent, "
        "resolution_s, feedback, feedback_by, feedback_at, reopenings) "
        f"SELECT {_check_id(dialect, f'n + {CHECKS}')}, {_check_id(dialect, m)}, "
        f"{_at(dialect, created)}, 'T0001', 'C0CUSTOMERS', '1700000000.000100', "
        f"'U' || ({m} % 200), 10000000 + {m} % 20000, "
        f"{_pick([f'diagnosis{i}' for i in range(kinds)], f'{m} % {kinds}', '')}, "
        f"'migrate products and orders', {urgency}, '', {state}, "
        f"CASE WHEN {answered} THEN 'U0AGENT' END, "
        f"CASE WHEN {answered} THEN {_at(dialect, f'{created} - {response}')} END, "
        f"CASE WHEN {answered} THEN 'U0AGENT' END, "
        f"CASE WHEN {answered} THEN {_at(dialect, f'{created} - {resolution}')} END, 1, "
        f"{_at(dialect, created)}, {_at(dialect, f'{created} - {target}')}, "
        f"CASE WHEN {answered} THEN {_at(dialect, f'{created} - {response}')} END, "
        f"CASE WHEN {answered} THEN 'U0AGENT' END, "
        f"CASE WHEN {answered} THEN {response} END, 0, "
        f"CASE WHEN {answered} THEN {resolution} END, "
        f"CASE WHEN {feedback} THEN (CASE WHEN n % 6 = 0 THEN 'stuck' ELSE 'yes' END) END, "
        f"CASE WHEN {feedback} THEN 'U0OWNER' END, "
        f"CASE WHEN {feedback} THEN {_at(dialect, f'{created} - {resolution} - 600')} END, 0 "
        f"FROM {_series(dialect, escalations)}"
    )
    async with database.engine.begin() as connection:
        await connection.execute(sa.text(checks), params)
        await connection.execute(sa.text(escalation_rows), params)
    if dialect == "postgresql":
        # What an operator's PostgreSQL has after autovacuum: statistics and a visibility map
        # for index-only scans. (SQLite is left as the bot leaves it: no ANALYZE.)
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(sa.text("VACUUM ANALYZE checks"))
            await autocommit.execute(sa.text("VACUUM ANALYZE escalations"))


async def _home(database: Database) -> float:
    recorder = CheckRecorder(database)
    await build_home(recorder, "U1", "D0001", agent=True)  # warm up
    renders = []
    for _ in range(RENDERS):
        started = time.perf_counter()
        await build_home(recorder, "U1", "D0001", agent=True)
        renders.append(time.perf_counter() - started)
    return statistics.median(renders)


async def _measure(database: Database, reports: list[dict[str, Any]], name: str) -> list[str]:
    await database.migrate()
    started = time.perf_counter()
    await _fill(database, reports)
    filled = time.perf_counter() - started
    home = await _home(database)
    figures = await database.escalation_figures(database.clock() - TEAM_WINDOW)
    overdue = await database.overdue_count()
    yes = f"{figures.yes_share:.0%}" if figures.yes_share is not None else "—"
    return [
        f"  {name}: App Home of a support agent {home * 1000:.1f} ms (target < {TARGET_MS}),"
        f" median of {RENDERS}; filled in {filled:.0f} s",
        f"    its figures: median first response {figures.median_response_s or 0:.0f} s over"
        f" {figures.responded:,}, resolution {figures.median_resolution_s or 0:.0f} s over"
        f" {figures.resolved:,}, {yes} \u201cyes\u201d of {figures.answered:,}; {overdue} overdue",
    ]


async def _sqlite(reports: list[dict[str, Any]]) -> list[str]:
    with tempfile.TemporaryDirectory() as data_dir:
        database = Database.from_url(f"sqlite+aiosqlite:///{data_dir}/scale.sqlite3")
        try:
            return await _measure(database, reports, "SQLite")
        finally:
            await database.close()


async def _postgres(reports: list[dict[str, Any]]) -> list[str]:
    server = postgres_server()
    if server is None:
        return [SKIPPED]
    async with scratch_database(server, "ecwid_connect_bench") as url:
        database = Database.from_url(url)
        try:
            return await _measure(database, reports, "PostgreSQL")
        finally:
            await database.close()


async def measure() -> list[str]:
    """The App Home over 1,000,000 checks and 50,000 escalations, on both databases."""
    reports = await _reports()
    lines = [
        f"App Home at scale: {CHECKS:,} checks and {CHECKS // ESCALATION_EVERY:,} escalations"
        f" over {DAYS} days"
    ]
    lines += await _sqlite(reports)
    lines += await _postgres(reports)
    return lines
