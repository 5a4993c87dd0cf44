"""`ecwid-connect serve` as a process: it refuses bad settings by name, checks the database and
the bot token before serving, and stops within a few seconds on SIGINT or SIGTERM whatever it is
doing, without a traceback."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.loopback import free_port
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from handlers.commands import COMMAND
from tests.paths import REPO
from tests.slack.processes import STOP_BOUND_S, BotProcess, bot_env, no_traceback

pytestmark = pytest.mark.process

SIGNALS = [signal.SIGTERM, signal.SIGINT]
APP_TOKEN = "xapp-1-A0MINI-1-abc123"
CONNECTIONS_OPEN = "apps.connections.open"


def _http_env(slack_api_url: str) -> dict[str, str]:
    return {
        "SLACK_API_URL": slack_api_url,
        "SLACK_BOT_TOKEN": "xoxb-serve-test",
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
    }


def _socket_env(slack_api_url: str) -> dict[str, str]:
    return {
        "SLACK_API_URL": slack_api_url,
        "SLACK_BOT_TOKEN": "xoxb-serve-test",
        "SLACK_APP_TOKEN": APP_TOKEN,
    }


async def _ready(base: str) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{base}/ready")
        return response.status_code, response.json()


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(url)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_http_mode_serving_stops_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    # A new interpreter running `python -m bot.cli serve`, as a container would start it.
    async with FakeSlack() as slack:
        with BotProcess(_http_env(slack.api_url), tmp_path / "serve.log", interpreter=True) as bot:
            await bot.wait_for_log("Listening for Slack on")
            assert (await _get(f"{bot.base_url}/health")).status_code == 200
            assert await bot.stop(sig, within=STOP_BOUND_S) == 0
    log = bot.log()
    no_traceback(log)
    assert "Starting in HTTP mode (SLACK_SIGNING_SECRET is set" in log
    assert "signed in as @" in log
    assert "(UBOT)" in log
    assert "(T0001)" in log
    assert "As you gave `client` as well" not in log


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_socket_mode_connected_stops_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    async with FakeSlack() as slack:
        with BotProcess(_socket_env(slack.api_url), tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Slack bot connected in Socket Mode")
            assert slack.socket_mode.opened == 1
            # Socket Mode serves the probes on PORT too.
            assert (await _get(f"{bot.base_url}/health")).status_code == 200
            assert (await _get(bot.events)).status_code == 404
            assert await bot.stop(sig, within=STOP_BOUND_S) == 0
    no_traceback(bot.log())
    assert "Starting in Socket Mode (SLACK_APP_TOKEN is set)" in bot.log()


async def test_socket_mode_answers_a_slash_command_over_the_socket(tmp_path: Path) -> None:
    async with FakeSlack(team_id="T0MINI") as slack:
        slack.socket_mode.envelopes.append(
            {
                "envelope_id": "env-help-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "command": "/ecwid-connect",
                    "text": "help",
                    "user_id": "U0SOCKET",
                    "team_id": "T0MINI",
                    "channel_id": "C0SOCKET",
                    "api_app_id": "A0MINI",
                    "response_url": f"{slack.base_url}/hooks/unused",
                    "trigger_id": "1.2.3",
                },
            }
        )
        with BotProcess(_socket_env(slack.api_url), tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Slack bot connected in Socket Mode")
            for _ in range(200):
                if slack.socket_mode.acks:
                    break
                await asyncio.sleep(0.05)
            status, ready = await _ready(bot.base_url)
            assert await bot.stop(signal.SIGTERM, within=STOP_BOUND_S) == 0
    no_traceback(bot.log())
    [ack] = slack.socket_mode.acks
    assert ack["envelope_id"] == "env-help-1"
    assert "/ecwid-connect" in json.dumps(ack["payload"])  # the usage text
    assert status == 200
    assert ready["ready"] is True
    assert ready["slack"] == {"ok": True, "team_id": "T0MINI"}


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_socket_mode_stuck_connecting_stops_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    async with FakeSlack() as slack:
        slack.socket_mode.stall()
        with BotProcess(_socket_env(slack.api_url), tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Probes (/health, /ready, /metrics) on")
            await slack.wait_for(lambda call: call.method == CONNECTIONS_OPEN, timeout=30)
            assert await bot.stop(sig, within=STOP_BOUND_S) == 0
    no_traceback(bot.log())


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_socket_mode_reconnecting_backs_off_one_line_an_attempt_and_stops(
    tmp_path: Path, sig: signal.Signals
) -> None:
    async with FakeSlack() as slack:
        slack.fail_next(CONNECTIONS_OPEN, error="internal_error", times=1000)  # every attempt
        with BotProcess(_socket_env(slack.api_url), tmp_path / "serve.log") as bot:
            await bot.wait_for_log("could not connect (attempt 2:")
            assert await bot.stop(sig, within=STOP_BOUND_S) == 0
    log = bot.log()
    no_traceback(log)
    attempts = [line for line in log.splitlines() if "could not connect" in line]
    # One line per failed attempt (the last may still have been in flight at the signal).
    tried = len(slack.calls_to(CONNECTIONS_OPEN))
    assert tried - 1 <= len(attempts) <= tried
    assert all("Slack said internal_error" in line for line in attempts)
    assert "next try in 1 s" in attempts[0]
    assert "next try in 2 s" in attempts[1]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_waiting_for_slack_at_start_stops_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    async with FakeSlack() as slack:
        slack.hold("auth.test")  # never let go: Slack does not answer
        with BotProcess(_http_env(slack.api_url), tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Starting in HTTP mode")
            assert await bot.stop(sig, within=STOP_BOUND_S) == 0
    no_traceback(bot.log())


async def test_a_bot_token_slack_refuses_stops_the_start_naming_it(tmp_path: Path) -> None:
    async with FakeSlack() as slack:
        slack.fail_next("auth.test", error="invalid_auth")
        with BotProcess(_http_env(slack.api_url), tmp_path / "serve.log") as bot:
            assert await bot.exit_code() == 2
    log = bot.log()
    no_traceback(log)
    assert "Slack refused SLACK_BOT_TOKEN (auth.test: invalid_auth)" in log


async def test_an_app_token_slack_refuses_stops_the_start_naming_it(tmp_path: Path) -> None:
    async with FakeSlack() as slack:
        slack.fail_next(CONNECTIONS_OPEN, error="invalid_auth")
        with BotProcess(_socket_env(slack.api_url), tmp_path / "serve.log") as bot:
            assert await bot.exit_code() == 2
    no_traceback(bot.log())
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in bot.log()
    assert len(slack.calls_to(CONNECTIONS_OPEN)) == 1


async def test_the_placeholders_of_env_example_are_refused_by_name(tmp_path: Path) -> None:
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    with BotProcess({}, tmp_path / "serve.log") as bot:
        assert await bot.exit_code() == 2
    log = bot.log()
    no_traceback(log)
    assert "SLACK_BOT_TOKEN is still the placeholder from .env.example" in log
    assert "SLACK_APP_TOKEN is still the placeholder from .env.example" in log
    assert "SLACK_SIGNING_SECRET" not in log


async def test_socket_mode_without_an_app_token_is_not_told_about_the_signing_secret(
    tmp_path: Path,
) -> None:
    with BotProcess(
        {"SLACK_MODE": "socket", "SLACK_BOT_TOKEN": "xoxb-1-2-abc"}, tmp_path / "serve.log"
    ) as bot:
        assert await bot.exit_code() == 2
    log = bot.log()
    assert "Socket Mode (SLACK_MODE is set)" in log
    assert "SLACK_APP_TOKEN is missing" in log
    assert "SLACK_SIGNING_SECRET" not in log


async def test_an_unreachable_database_at_start_is_one_line(tmp_path: Path) -> None:
    closed = free_port()
    async with FakeSlack() as slack:
        env = _http_env(slack.api_url) | {
            "DATABASE_URL": f"postgresql://bot:secret-pw@127.0.0.1:{closed}/bot"
        }
        with BotProcess(env, tmp_path / "serve.log") as bot:
            assert await bot.exit_code() == 1
    log = bot.log()
    no_traceback(log)
    [line] = [line for line in log.splitlines() if "cannot open the database" in line]
    assert "(DATABASE_URL)" in line
    assert "secret-pw" not in log


async def test_a_collection_host_list_without_ecwid_is_warned_about(tmp_path: Path) -> None:
    async with FakeSlack() as slack:
        env = _http_env(slack.api_url) | {
            "COLLECTION_HOSTS": "ecwid-api-playgroud.s3.amazonaws.com"
        }
        with BotProcess(env, tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Listening for Slack on")
            assert await bot.stop(signal.SIGTERM, within=STOP_BOUND_S) == 0
    assert "COLLECTION_HOSTS does not include ecwid-api-playground.s3.amazonaws.com" in bot.log()


async def test_a_check_in_flight_finishes_before_the_bot_stops(tmp_path: Path) -> None:
    secret = secrets.token_hex(16)
    async with EcwidSandbox(latency_ms=400) as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-serve-test")
        with BotProcess(env, tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Listening for Slack on")
            async with SlackUser(bot.events, secret, slack) as user:
                await user.slash_command(COMMAND, sandbox.collection_url("connected"))
            while not any(r.path.startswith("/api/") for r in sandbox.requests):
                await asyncio.sleep(0.02)  # the check is talking to Ecwid
            bot.process.send_signal(signal.SIGTERM)
            assert await bot.exit_code(timeout=60) == 0
    no_traceback(bot.log())
    assert "Connected" in str(slack.calls_to("chat.update")) + str(
        slack.calls_to("chat.postMessage")
    )


async def test_a_second_signal_stops_without_waiting_for_checks(tmp_path: Path) -> None:
    secret = secrets.token_hex(16)
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-serve-test") | {
            "CHECK_TIMEOUT_S": "120",
        }
        with BotProcess(env, tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Listening for Slack on")
            async with SlackUser(bot.events, secret, slack) as user:
                await user.slash_command(COMMAND, sandbox.collection_url("slow"))
            # The check has started (👀); it waits on the slow store, whose answers take 30 s.
            await slack.wait_for(lambda call: call.method == "reactions.add", timeout=30)
            bot.process.send_signal(signal.SIGTERM)
            await bot.wait_for_log("waiting up to")
            assert await bot.stop(signal.SIGINT, within=STOP_BOUND_S) == 0
    no_traceback(bot.log())
    assert "stopped without waiting for the checks in flight" in bot.log()


async def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    async with FakeSlack() as slack:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with BotProcess(
                _http_env(slack.api_url), tmp_path / "serve.log", port=taken.getsockname()[1]
            ) as bot:
                assert await bot.exit_code() == 1
    no_traceback(bot.log())
    assert "cannot listen on 127.0.0.1:" in bot.log()
