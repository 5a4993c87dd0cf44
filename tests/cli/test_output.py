"""What `ecwid-connect check` prints: plain words first, one line for support, the ladder for
whoever asks (`--steps`), or a reply ready for the customer (`--customer-reply`)."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.server import EcwidSandbox

CODES = re.compile(r"\bHTTP \d{3}\b|\b[A-Z]{2,}(?:_[A-Z]+)+\b|\bplan_free\b")

Check = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def cli_env(sandbox: EcwidSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECWID_API_URL", sandbox.api_url)
    monkeypatch.setenv("COLLECTION_HOSTS", sandbox.collection_host)
    monkeypatch.chdir(tmp_path)  # no .env here


@pytest.fixture
def check(
    cli_env: None,
    sandbox: EcwidSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Check:
    """`check(key, *flags)`: `ecwid-connect check - *flags` with the collection URL of sample
    store `key` on stdin; its exit code, stdout and stderr."""

    async def run(key: str, *flags: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(sandbox.collection_url(key)))
        code = await asyncio.to_thread(main, ["check", "-", *flags])
        out, err = capsys.readouterr()
        return code, out, err

    return run


async def test_plain_words_come_first_and_codes_only_in_the_support_line(check: Check) -> None:
    code, out, _err = await check("free_plan")

    assert code == 1
    plain, support = out.split("Details for support: ")
    free_plan = CATALOGUE[Diagnosis.PLAN_FREE]
    assert free_plan.title in plain
    assert "  1. " + free_plan.tips[0].split(" (")[0] in plain
    assert not CODES.search(plain), plain
    assert support.startswith("plan_free · ")
    assert support.count("products, categories, orders, customers: ") == 1  # said once
    assert support.count("HTTP 402") == 1
    assert "Steps" not in out
    assert " ms)" not in out


async def test_steps_adds_the_ladder(check: Check) -> None:
    _code, out, _err = await check("free_plan", "--steps")

    assert "\nSteps\n" in out
    assert "✘ products" in out


async def test_customer_reply_prints_only_the_message_for_the_customer(check: Check) -> None:
    code, out, err = await check("revoked", "--customer-reply")

    assert code == 1
    assert out.startswith("Hello,\n")
    assert f"What is wrong: {CATALOGUE[Diagnosis.TOKEN_INVALID].title}." in out
    assert "\n1. " + CATALOGUE[Diagnosis.TOKEN_INVALID].tips[0].split(",")[0] in out
    assert not CODES.search(out), out
    assert "token_invalid" not in out
    assert err == "", "no live ladder around a message meant to be pasted"
