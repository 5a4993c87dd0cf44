"""The Ecwid sandbox and the Slack stand-in in a process of their own, so that what a benchmark
measures in its process is the bot alone. Prints one JSON line with their URLs, then serves."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.webapi import FakeSlack
from bot.settings import Settings, load_settings


@dataclass(frozen=True)
class StandIns:
    api_url: str
    collection_host: str
    slack_api_url: str
    slack_base_url: str
    connected_collection_url: str

    @classmethod
    def of(cls, sandbox: EcwidSandbox, slack: FakeSlack) -> StandIns:
        """The URLs of a running sandbox and Slack stand-in."""
        return cls(
            sandbox.api_url,
            sandbox.collection_host,
            slack.api_url,
            slack.base_url,
            sandbox.collection_url("connected"),
        )

    def bot_settings(self) -> Settings:
        """The bot's settings against these stand-ins, with a signing secret of its own."""
        return load_settings(
            env_file=None,
            ecwid_api_url=self.api_url,
            collection_hosts=self.collection_host,
            slack_api_url=self.slack_api_url,
            slack_bot_token="xoxb-bench",
            slack_signing_secret=secrets.token_hex(16),
        )


async def _serve(latency_ms: float) -> None:
    async with (
        EcwidSandbox(latency_ms=latency_ms) as sandbox,
        FakeSlack(latency_ms=latency_ms) as slack,
    ):
        print(json.dumps(StandIns.of(sandbox, slack).__dict__), flush=True)
        await asyncio.Event().wait()


@contextmanager
def standins_process(latency_ms: float = 0) -> Iterator[StandIns]:
    """The stand-ins in a process of their own; `latency_ms` is added to every request to
    Ecwid, S3 and Slack's Web API, as a round trip."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.standins", str(latency_ms)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield StandIns(**json.loads(process.stdout.readline()))
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    asyncio.run(_serve(float(sys.argv[1]) if len(sys.argv) > 1 else 0))
