"""Download a Personal collection from Ecwid's storage, treating the URL as hostile.

The URL is whatever a user pasted, the answer whatever the server sent. A download reaches only
allow-listed hosts on public addresses (resolved once, then pinned: `PinnedResolver`), within
bounds on redirects, bytes and time. Every failure is a `CollectionError` whose detail never
holds the URL's path or query. Reading the file is `bot.engine.postman`'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import aiohttp
import aiohttp.abc
import httpx

from bot.engine.diagnosis import Diagnosis
from bot.engine.errors import CollectionError
from bot.engine.redaction import CollectionUrl
from bot.engine.transport import get_request, gunzip_capped, read_capped
from bot.settings import CollectionHost

MAX_COLLECTION_BYTES = 2 * 1024 * 1024
DOWNLOAD_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_REDIRECTS = 3

_STORAGE = "Ecwid's storage"
_GZIP_MAGIC = b"\x1f\x8b"
# Only gzip is asked for: it is the one encoding decoded here, with a bound on the output.
_REQUEST_HEADERS = [(b"accept-encoding", b"gzip")]
_TEMPORARY_CLIENT_ERRORS = frozenset({408, 429})

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: str


async def download_collection(
    url: CollectionUrl,
    client: httpx.AsyncClient,
    hosts: Sequence[CollectionHost],
    *,
    timeout: httpx.Timeout = DOWNLOAD_TIMEOUT,  # noqa: ASYNC109 - httpx's per-phase limits
) -> bytes:
    """Download the Personal collection at `url` with the shared `client`; return its bytes.

    Only hosts that `hosts` allows are contacted, each on public addresses only unless its entry
    names an explicit port (the local sandbox). At most `MAX_REDIRECTS` redirects are followed,
    each checked the same way. The body is returned gzip-decoded and at most
    `MAX_COLLECTION_BYTES` long. Raises `CollectionError` for every failure.
    """
    target = _parse_url(url.reveal())
    entry = _allowed_entry(target, hosts) if target is not None else None
    if target is None or entry is None:
        raise CollectionError(
            Diagnosis.URL_NOT_COLLECTION,
            "The URL is not on a host where Ecwid publishes Personal collections.",
        )
    for _ in range(MAX_REDIRECTS + 1):
        if entry.explicit_port:
            answer = await _fetch(client, target, timeout)
        else:
            vetted = await _public_addresses(target, timeout)
            # The connection goes to these very addresses: a name that answers differently the
            # second time (DNS rebinding) cannot lead it to a private one.
            with pinned_addresses(target.host, vetted):
                answer = await _fetch(client, target, timeout)
        if not isinstance(answer, _Redirect):
            return answer
        target, entry = _follow(target, answer.location, hosts)
    raise CollectionError(
        Diagnosis.COLLECTION_INVALID, f"{_STORAGE} redirected more than {MAX_REDIRECTS} times."
    )


def _parse_url(text: str) -> httpx.URL | None:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return None
    # A collection URL never carries credentials; httpx would send them as Basic auth.
    if url.scheme not in ("http", "https") or not url.host or url.userinfo:
        return None
    return url


def _allowed_entry(url: httpx.URL, hosts: Sequence[CollectionHost]) -> CollectionHost | None:
    return next(
        (entry for entry in hosts if entry.allows(url.scheme, url.host, url.port, url.path)), None
    )


def _follow(
    current: httpx.URL, location: str, hosts: Sequence[CollectionHost]
) -> tuple[httpx.URL, CollectionHost]:
    try:
        target = _parse_url(str(current.join(location)))
    except (httpx.InvalidURL, ValueError):  # IDNA errors are `UnicodeError`, a `ValueError`
        target = None
    entry = _allowed_entry(target, hosts) if target is not None else None
    if target is None or entry is None:
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID, "The download was redirected away from Ecwid's storage."
        )
    return target, entry


async def _public_addresses(url: httpx.URL, timeouts: httpx.Timeout) -> tuple[IPAddress, ...]:
    """The addresses `url`'s host resolves to, if every one of them is public."""
    addresses = await _addresses(url, timeouts)
    for address in addresses:
        if _is_internal(address):
            raise CollectionError(
                Diagnosis.COLLECTION_UNREACHABLE,
                f"{url.host} points to a private or local network address; "
                "collections are only downloaded from public addresses.",
            )
    return tuple(dict.fromkeys(addresses))


# --- Pinned name resolution -------------------------------------------------------------------

# Host name (lower case) → the addresses the running download vetted, for this task only.
_PINNED: contextvars.ContextVar[dict[str, tuple[IPAddress, ...]] | None] = contextvars.ContextVar(
    "pinned_addresses", default=None
)


@contextlib.contextmanager
def pinned_addresses(host: str, addresses: tuple[IPAddress, ...]) -> Iterator[None]:
    """While inside, `PinnedResolver` answers `host` with `addresses` alone, in this task."""
    reset = _PINNED.set({**(_PINNED.get() or {}), host.lower(): addresses})
    try:
        yield
    finally:
        _PINNED.reset(reset)


class PinnedResolver(aiohttp.abc.AbstractResolver):
    """The resolver of the shared HTTP client: a pinned name gets the vetted addresses only.

    A collection download resolves its host once, refuses private addresses, then pins what it
    vetted (`pinned_addresses`); connecting then never asks DNS again. Every other name is
    resolved by `fallback` (getaddrinfo in a thread by default). The connector must not cache
    names (`use_dns_cache=False`), or a cached answer would bypass the pin.
    """

    def __init__(self, fallback: aiohttp.abc.AbstractResolver | None = None) -> None:
        self._fallback = fallback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        addresses = (_PINNED.get() or {}).get(host.lower())
        if addresses is None:
            if self._fallback is None:
                self._fallback = aiohttp.ThreadedResolver()
            return await self._fallback.resolve(host, port, family)
        results: list[aiohttp.abc.ResolveResult] = []
        for address in addresses:
            kind = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                results.append(
                    {
                        "hostname": host,
                        "host": str(address),
                        "port": port,
                        "family": kind,
                        "proto": 0,
                        "flags": socket.AI_NUMERICHOST,
                    }
                )
        if not results:
            raise OSError(f"{host} has no vetted address of the family asked for")
        return results

    async def close(self) -> None:
        if self._fallback is not None:
            await self._fallback.close()


async def _addresses(url: httpx.URL, timeouts: httpx.Timeout) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(url.host)]
    except ValueError:
        pass
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        async with asyncio.timeout(timeouts.connect):
            infos = await asyncio.get_running_loop().getaddrinfo(
                url.host, port, type=socket.SOCK_STREAM
            )
        addresses = [
            ipaddress.ip_address(sockaddr[0])
            for family, _, _, _, sockaddr in infos
            if family in (socket.AF_INET, socket.AF_INET6)
        ]
    except TimeoutError:
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE, f"Looking up {url.host} took too long."
        ) from None
    except (OSError, UnicodeError, ValueError):
        addresses = []
    if not addresses:
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE, f"{url.host} could not be looked up."
        )
    return addresses


def _is_internal(address: IPAddress) -> bool:
    # `is_global` already excludes private, loopback, link-local, unspecified and shared
    # (100.64/10) ranges, IPv4-mapped IPv6 included; multicast and IPv6's reserved blocks pass it.
    return not address.is_global or address.is_multicast or address.is_reserved


async def _fetch(
    client: httpx.AsyncClient, url: httpx.URL, timeouts: httpx.Timeout
) -> bytes | _Redirect:
    # Errors are re-raised `from None`: httpx messages and tracebacks carry the URL.
    request = get_request(client, url, _REQUEST_HEADERS, {"timeout": timeouts.as_dict()})
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            return await _read_answer(response)
        finally:
            await response.aclose()
    except httpx.TimeoutException as error:
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE,
            f"{_STORAGE} did not answer in time ({type(error).__name__}).",
        ) from None
    except (httpx.InvalidURL, ValueError):
        # httpx builds the next request of a redirect even when not following it, and raises
        # on a malformed `Location` (`http:x`, a bad IDNA name) before the answer is seen.
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID,
            f"{_STORAGE} redirected the download to a malformed address.",
        ) from None
    except (httpx.HTTPError, aiohttp.ClientError, OSError) as error:
        # aiohttp's own errors (a garbled status line, say) pass the httpx transport unmapped.
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE,
            f"{_STORAGE} could not be reached ({type(error).__name__}).",
        ) from None


async def _read_answer(response: httpx.Response) -> bytes | _Redirect:
    status = response.status_code
    if status == 200:
        body = await _read_capped(response)
        return _decompressed(body, response.headers.get("Content-Encoding", ""))
    if 300 <= status < 400:
        location = response.headers.get("Location")
        if location:
            return _Redirect(location)
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID,
            f"{_STORAGE} answered HTTP {status} without saying where the file went.",
        )
    if status >= 500 or status in _TEMPORARY_CLIENT_ERRORS:
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE,
            f"{_STORAGE} answered HTTP {status}: it failed or is overloaded for now.",
        )
    if status >= 400:
        # S3 answers 403 AccessDenied, not 404, for a missing object when listing is off.
        raise CollectionError(
            Diagnosis.COLLECTION_NOT_FOUND,
            f"{_STORAGE} answered HTTP {status}: there is no file at this address.",
        )
    raise CollectionError(
        Diagnosis.COLLECTION_INVALID, f"{_STORAGE} answered HTTP {status} instead of the file."
    )


async def _read_capped(response: httpx.Response) -> bytes:
    body = await read_capped(response, MAX_COLLECTION_BYTES)
    if body is None:
        raise _too_large()
    return body


def _decompressed(body: bytes, content_encoding: str) -> bytes:
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        body = _gunzip(body)
    elif encoding not in ("", "identity"):
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID, "The file is compressed in an unsupported way."
        )
    # An object uploaded gzipped but without Content-Encoding is served compressed as is.
    if body.startswith(_GZIP_MAGIC):
        body = _gunzip(body)
    return body


def _gunzip(data: bytes) -> bytes:
    try:
        plain = gunzip_capped(data, MAX_COLLECTION_BYTES)
    except ValueError:
        raise _damaged_gzip() from None
    if plain is None:
        raise _too_large()
    return plain


def _damaged_gzip() -> CollectionError:
    return CollectionError(
        Diagnosis.COLLECTION_INVALID, "The file is gzip-compressed but damaged or cut short."
    )


def _too_large() -> CollectionError:
    return CollectionError(
        Diagnosis.COLLECTION_INVALID,
        f"The file is larger than {MAX_COLLECTION_BYTES // (1024 * 1024)} MiB, "
        "so it is not a Personal collection.",
    )
