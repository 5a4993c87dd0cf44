"""The canary: with fresh tokens in every sample store, no token and no collection URL may appear
in anything the command line prints or logs, whatever the store's diagnosis."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.cli.main import main
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import SampleStore, sample_stores
from bot.sandbox.loopback import AppServer

CANARY_STORES = [store for store in sample_stores(seed="canary") if store.key != "slow"]
CLI = [sys.executable, "-m", "bot.cli"]


@pytest.fixture
async def canary_sandbox() -> AsyncIterator[EcwidSandbox]:
    async with EcwidSandbox(CANARY_STORES) as running:
        yield running


def secrets_of(sandbox: EcwidSandbox, store: SampleStore) -> list[str]:
    """What must never be shown: the token, the whole URL, and the URL's secret path."""
    url = sandbox.collection_url(store.key)
    return [store.token, url, store.collection_name]


async def run_cli(
    sandbox: EcwidSandbox, *args: str, stdin: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    env = os.environ | {
        "ECWID_API_URL": sandbox.api_url,
        "COLLECTION_HOSTS": sandbox.collection_host,
        "LOG_LEVEL": "DEBUG",  # the most talkative the program can be
        "CHECK_TIMEOUT_S": "5",
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=Path(__file__).parent,  # no .env there
    )
    output, _ = await process.communicate(stdin.encode())
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_no_secret_is_printed_or_logged_for_any_sample_store(
    canary_sandbox: EcwidSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process, so every sample runs in well under a second; `run_cli` covers the real exec."""
    monkeypatch.setenv("ECWID_API_URL", canary_sandbox.api_url)
    monkeypatch.setenv("COLLECTION_HOSTS", canary_sandbox.collection_host)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")  # the most talkative the program can be
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    invocations = [
        (["check", "-", *extra], canary_sandbox.collection_url(store.key))
        for store in CANARY_STORES
        for extra in ([], ["--json"])
    ] + [
        (["check", "--store-id", str(store.store_id), "--token", "-"], store.token)
        for store in CANARY_STORES
        if store.reaches_api
    ]

    outputs = []
    for args, stdin in invocations:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = await asyncio.to_thread(main, args)
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        assert code in (0, 1), outputs[-1]

    assert any("DEBUG" in output for output in outputs), "debug logging was on"
    for store in CANARY_STORES:
        for output in outputs:
            for secret in secrets_of(canary_sandbox, store):
                assert secret not in output, f"{store.key}: a secret leaked into:\n{output}"


@pytest.mark.process
async def test_exit_codes_say_connected_problem_or_usage(canary_sandbox: EcwidSandbox) -> None:
    connected = await run_cli(
        canary_sandbox, "check", "-", stdin=canary_sandbox.collection_url("connected")
    )
    problem = await run_cli(
        canary_sandbox, "check", "-", stdin=canary_sandbox.collection_url("revoked")
    )
    usage = await run_cli(canary_sandbox, "check", "--token", "-", stdin="secret_x")

    assert [connected[0], problem[0], usage[0]] == [0, 1, 2]
    assert "Connected" in connected[1]
    assert "--token needs --store-id" in usage[1]


@pytest.mark.process
async def test_malformed_pastes_get_a_clear_answer_never_a_traceback(
    canary_sandbox: EcwidSandbox,
) -> None:
    pastes = [
        "",
        "   ",
        "https://api-playground.ecwid.com/",
        "\x00\xff garbage",
        "<https://x|y>",
        "a" * 100_000,
    ]

    runs = await asyncio.gather(
        *(run_cli(canary_sandbox, "check", "-", stdin=paste) for paste in pastes)
    )

    for code, output in runs:
        assert code == 1
        assert "Traceback" not in output
        assert "What to do" in output


@pytest.mark.process
async def test_a_megabyte_of_brackets_as_the_token_is_answered_at_once(
    canary_sandbox: EcwidSandbox,
) -> None:
    code, output = await run_cli(
        canary_sandbox, "check", "--store-id", "1003", "--token", "-", stdin="(" * 1_000_000
    )

    assert code == 1
    assert "Traceback" not in output
    assert "far too much text to be a token" in output
    assert canary_sandbox.requests == []


@pytest.mark.process
@pytest.mark.parametrize("location", ["http:x", "http:\\\\127.0.0.1:{port}/x", "http://xn--/"])
async def test_a_malformed_redirect_is_a_diagnosis_without_a_traceback(
    canary_sandbox: EcwidSandbox, location: str
) -> None:
    async def moved(request: web.Request) -> web.Response:
        port = request.url.port or 0
        return web.Response(status=302, headers={"Location": location.format(port=port)})

    app = web.Application()
    app.router.add_get("/{tail:.*}", moved)
    async with AppServer(app) as server:
        storage = server.base_url
        env = {"COLLECTION_HOSTS": storage}
        url = f"{storage}/ecwid-api-playground/1003_abc.json.postman_collection"
        code, output = await run_cli(canary_sandbox, "check", "-", "--json", stdin=url, env=env)

    assert code == 1
    assert "Traceback" not in output
    assert '"diagnosis": "collection_invalid"' in output
