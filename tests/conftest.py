"""Shared fixtures: real servers on loopback (the Ecwid sandbox), settings pointing at them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.engine.check import ConnectionChecker
from bot.engine.http_client import new_http_client
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.settings import Settings, load_settings


def settings_for(sandbox: EcwidSandbox, **overrides: object) -> Settings:
    """Settings that point the engine at `sandbox` and ignore any local `.env`."""
    values: dict[str, object] = {
        "ecwid_api_url": sandbox.api_url,
        "collection_hosts": sandbox.collection_host,
        "check_timeout_s": 5.0,
    }
    values.update(overrides)
    return load_settings(env_file=None, **values)


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
