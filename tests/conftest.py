"""Shared fixtures: real servers on loopback (the Ecwid sandbox), settings pointing at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.check import ConnectionChecker, new_http_client
from bot.sandbox.ecwid import EcwidSandbox
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
