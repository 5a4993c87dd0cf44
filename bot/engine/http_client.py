"""The one HTTP client a process shares for every check: aiohttp's pool under httpx, no cookies,
and a resolver that connects a collection download only to the addresses it vetted."""

from __future__ import annotations

import ssl

import aiohttp
import httpx

from bot.engine.download import PinnedResolver
from bot.engine.transport import CookielessClient, LeanAiohttpTransport

KEEPALIVE_S = 60.0


def new_http_client(*, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The one HTTP client a process shares for every check (connection reuse matters).

    Its resolver is a `PinnedResolver`: a collection download connects to the addresses it
    vetted, never to what a second DNS answer says. `verify` replaces the system's trusted
    certificates (the benchmark's throw-away CA).
    """
    # Idle connections stay a minute (not httpx's 5 s): the ones warmed when the paste modal
    # opens must outlive the time it takes to fetch and paste the URL. aiohttp retries a GET
    # once when a server has closed a kept connection meanwhile.
    limits = httpx.Limits(
        max_connections=1000, max_keepalive_connections=200, keepalive_expiry=KEEPALIVE_S
    )
    ssl_context = (
        verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
    )

    def session() -> aiohttp.ClientSession:  # made on first use, inside the running loop
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=ssl_context,
            resolver=PinnedResolver(),
            use_dns_cache=False,  # a cached answer would bypass the pinned one
        )
        return aiohttp.ClientSession(connector=connector)

    return CookielessClient(
        # httpx's own pool slows down sharply with hundreds of requests in flight
        # (encode/httpx#3215); aiohttp's, already here for Slack, does not.
        transport=LeanAiohttpTransport(limits=limits, client=session),
        follow_redirects=False,
        limits=limits,
        headers={"User-Agent": "ecwid-connect/0.1 (+connection check)"},
    )
