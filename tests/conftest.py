"""Shared fixtures: real servers on loopback (the Ecwid sandbox), settings pointing at them."""

from __future__ import annotations

import functools
import logging
import multiprocessing.process
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.engine.check import ConnectionChecker
from bot.engine.http_client import new_http_client
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.stage import stage_settings
from bot.settings import Settings
from bot.slack import ladder

settings_for = stage_settings
"""Settings that point the engine at a sandbox and ignore any local `.env`:
`settings_for(sandbox, **overrides)`, the stage's own builder."""


@pytest.fixture(scope="session", autouse=True)
def _one_trust_store() -> Iterator[None]:
    """Each trust store loaded once for the whole run, not once per HTTP client.

    Every httpx client (the checker's, each stage's, each test's) builds an `SSLContext` from a
    bundle of certificates: certifi's, or the one `SSL_CERT_FILE` / `SSL_CERT_DIR` name when the
    environment sets them (httpx reads both). That is about 20-40 ms each, a tenth of a listener
    test. Contexts made from the same bundle are alike, and nothing here connects over TLS to
    anything but a local server with its own context, so they share one per bundle."""
    made = ssl.create_default_context

    @functools.cache
    def context_for(cafile: str | None, capath: str | None) -> ssl.SSLContext:
        return made(cafile=cafile, capath=capath)

    def create_default_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        if not args and kwargs and set(kwargs) <= {"cafile", "capath"}:
            return context_for(kwargs.get("cafile"), kwargs.get("capath"))
        return made(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ssl, "create_default_context", create_default_context)
        yield


@pytest.fixture(autouse=True)
def _processes_only_where_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that starts a process (the bot, PostgreSQL, the command line) carries the
    `process` marker, which `make quick` leaves out: one without it that tries fails, naming it."""
    if request.node.get_closest_marker("process") is not None:
        return

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(
            f"{request.node.nodeid} starts a process: mark it @pytest.mark.process"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Entry points configure logging for the whole process; give each test a clean slate."""
    root = logging.getLogger()
    named = ("httpx", "slack_sdk", "aiosqlite")
    saved = (root.level, list(root.handlers), [logging.getLogger(n).level for n in named])
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in zip(named, saved[2], strict=True):
        logging.getLogger(name).setLevel(level)


BRISK_VIEW_UPDATE_AFTER_ACK_S = 0.1
BRISK_PROGRESS_INTERVAL_S = 0.2
#: The product's own pacing, for the test that holds it (the modal's live ladder).
PRODUCT_PACING = {
    "VIEW_UPDATE_AFTER_ACK_S": ladder.VIEW_UPDATE_AFTER_ACK_S,
    "PROGRESS_INTERVAL_S": ladder.PROGRESS_INTERVAL_S,
}


@pytest.fixture(autouse=True)
def _brisk_modal_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The modal's pacing in this test process, a fifth of Slack's: the first `views.update` 0.1 s
    after the ack (not 0.5 s), then one per 0.2 s (not 1 s). On loopback an ack lands within
    milliseconds, so the order the pacing protects (the ack's view first, the result last) is
    the same; every modal check waits 0.4 s less. Bots started as processes keep the real
    pacing, and the modal's ladder test holds the real numbers."""
    monkeypatch.setattr(ladder, "VIEW_UPDATE_AFTER_ACK_S", BRISK_VIEW_UPDATE_AFTER_ACK_S)
    monkeypatch.setattr(ladder, "PROGRESS_INTERVAL_S", BRISK_PROGRESS_INTERVAL_S)


@pytest.fixture
async def sandbox() -> AsyncIterator[EcwidSandbox]:
    async with EcwidSandbox() as running:
        yield running


@pytest.fixture
def settings(sandbox: EcwidSandbox) -> Settings:
    return settings_for(sandbox)


@pytest.fixture
async def checker(settings: Settings) -> AsyncIterator[ConnectionChecker]:
    async with new_http_client() as http:
        yield ConnectionChecker(settings, http)
