"""The probes of a running bot: `/health` while alive, `/ready` saying which part is not ready,
`/metrics` in Prometheus' format, counting what really happened."""

from __future__ import annotations

import asyncio
import secrets
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from handlers.commands import COMMAND
from tests.slack.processes import STOP_BOUND_S, BotProcess, no_traceback
from tests.stage import migrated_stage
from tests.throwaway_postgres import throwaway_postgres


async def _ready(base: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{base}/ready")
        return response.status_code, response.json()


async def _until_ready(base: str, want: bool, attempts: int = 200) -> dict[str, Any]:
    for _ in range(attempts):
        status, body = await _ready(base)
        if (status == 200) == want:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"/ready never became {'ready' if want else 'not ready'}: {body}")


@pytest.mark.process
async def test_ready_follows_the_database_going_away_and_coming_back(tmp_path: Path) -> None:
    async with throwaway_postgres() as postgres, FakeSlack() as slack:
        env = {
            "SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": "xoxb-probe-test",
            "SLACK_SIGNING_SECRET": secrets.token_hex(16),
            "DATABASE_URL": postgres.url,
        }
        with BotProcess(env, tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Listening for Slack on")
            body = await _until_ready(bot.base_url, True)
            assert body["database"]["ok"] is True
            assert body["database"]["fallback"]["available"] is True
            assert body["database"]["fallback"]["history_rows_waiting"] == 0
            assert body["slack"] == {"ok": True, "team_id": "T0001"}
            assert body["backlog"]["ok"] is True

            await postgres.stop()
            body = await _until_ready(bot.base_url, False)
            assert body["ready"] is False
            assert body["database"]["ok"] is False
            assert body["slack"]["ok"] is True
            async with httpx.AsyncClient() as http:  # alive all the same
                assert (await http.get(f"{bot.base_url}/health")).status_code == 200

            await postgres.start()
            body = await _until_ready(bot.base_url, True)
            assert body["database"]["ok"] is True
            assert await bot.stop(signal.SIGTERM, within=STOP_BOUND_S) == 0
    no_traceback(bot.log())


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_the_checks_and_calls_that_happened() -> None:
    async with migrated_stage() as stage:
        user = stage.user()
        for store in ("connected", "revoked"):
            await user.slash_command(COMMAND, stage.sandbox.collection_url(store))
        for _ in range(400):  # the checks run in the background, after the acks
            if _total(stage.services.metrics.registry, "ecwid_connect_checks_total") >= 2:
                break
            await asyncio.sleep(0.05)
        base = stage.bot_url.removesuffix("/slack/events")
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{base}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        samples = _samples(response.text)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("ecwid_connect_checks_total", diagnosis="ok", entry_point="command") == 1
    assert (
        value("ecwid_connect_checks_total", diagnosis="token_invalid", entry_point="command") == 1
    )
    assert value("ecwid_connect_check_duration_seconds_count", entry_point="command") == 2
    assert value("ecwid_connect_ack_seconds_count") >= 2
    assert value("ecwid_connect_http_requests_total", service="collection", outcome="2xx") >= 2
    assert value("ecwid_connect_http_requests_total", service="ecwid", outcome="2xx") >= 1
    assert value("ecwid_connect_http_requests_total", service="ecwid", outcome="4xx") >= 1
    assert value("ecwid_connect_slack_calls_total", method="auth.test", outcome="ok") >= 1
    assert value("ecwid_connect_background_tasks") >= 0
    assert ("ecwid_connect_database_errors_total", ()) in samples


def _total(registry: CollectorRegistry, name: str) -> float:
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name
    )


async def test_rejected_requests_are_counted() -> None:
    async with migrated_stage() as stage, httpx.AsyncClient() as http:
        await http.post(stage.bot_url, content=b"payload=not-json")
        base = stage.bot_url.removesuffix("/slack/events")
        samples = _samples((await http.get(f"{base}/metrics")).text)
    assert samples[("ecwid_connect_rejected_requests_total", (("reason", "unsigned"),))] == 1


async def test_slack_calls_answered_with_an_error_are_counted_by_code() -> None:
    async with migrated_stage() as stage:
        stage.slack.fail_next("chat.postMessage", error="channel_not_found")
        user: SlackUser = stage.user()
        thread = stage.slack.post_user_message("C0ERR", "U0OWNER", "help")
        await user.send_event(
            {
                "type": "app_mention",
                "user": "U0OWNER",
                "text": "<@UBOT> guide",
                "ts": "1700000500.000100",
                "thread_ts": thread["ts"],
                "channel": "C0ERR",
            },
            event_id="EvMetrics1",
        )
        for _ in range(200):
            if stage.slack.calls_to("chat.postMessage"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        failed = stage.services.metrics.registry.get_sample_value(
            "ecwid_connect_slack_calls_total",
            {"method": "chat.postMessage", "outcome": "channel_not_found"},
        )
    assert failed is not None
    assert failed >= 1
