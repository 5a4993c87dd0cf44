"""`ecwid-connect check` in two processes on one PostgreSQL, as two replicas of the bot would
be: the same revoked token checked by both at once reaches Ecwid once per cool-down."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from bot.sandbox.ecwid.server import EcwidSandbox
from tests.db_fixtures import fresh_postgres_url

pytestmark = pytest.mark.process


async def _check(url: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "check",
        "--json",
        "-",
        env=os.environ | env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(url.encode())
    assert process.returncode is not None
    assert out, err.decode()
    return process.returncode, json.loads(out)["diagnosis"]


async def test_two_processes_checking_one_revoked_token_send_it_to_ecwid_once() -> None:
    database_url = await fresh_postgres_url()
    # Slow answers keep the first process's check in flight while the second one starts.
    async with EcwidSandbox(latency_ms=500) as sandbox:
        env = {
            "DATABASE_URL": database_url,
            "ECWID_API_URL": sandbox.api_url,
            "COLLECTION_HOSTS": sandbox.collection_host,
            "TOKEN_COOLDOWN_S": "600",
        }
        url = sandbox.collection_url("revoked")

        both = await asyncio.gather(_check(url, env), _check(url, env))
        later = await _check(url, env)

        revoked_requests = [r for r in sandbox.requests if r.matched_store == "revoked"]

    assert {code for code, _ in both} == {1}
    diagnoses = [diagnosis for _, diagnosis in both]
    assert "token_invalid" in diagnoses
    # The other waited for the first's verdict, or came after it and found the cool-down.
    assert set(diagnoses) <= {"token_invalid", "throttled"}
    assert later == (1, "throttled")
    assert len(revoked_requests) == 5  # the profile and four counts, once
