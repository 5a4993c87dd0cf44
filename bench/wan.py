"""A realistic network on loopback: the sandbox's S3 and Ecwid over TLS, behind delaying relays.

`python -m bench.wan CERT_DIR RTT_MS...` serves the Ecwid sandbox over TLS (the certificate
from `bench.tls`) and, for each round trip time, two relays in front of it: one stands for S3,
one for Ecwid's API, so each is a host of its own with connections of its own. A relay forwards
the bytes untouched (TLS stays end to end) and delays every chunk by half the round trip each
way. Its kernel accepts at once, so the relay also holds what the client sends until one round
trip after the connection was accepted: the TCP handshake the client would have waited for.
A new HTTPS connection thus pays TCP (1 round trip), TLS 1.3 (1) and the request (1), as over a
real network. Everything runs in this process, so none of its CPU is charged to what is measured.
Prints one JSON line with the ports, then serves until terminated.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bench.tls import Certificates
from bot.sandbox.ecwid.server import EcwidSandbox

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Route:
    s3_port: int
    ecwid_port: int

    @property
    def collection_host(self) -> str:
        return f"https://127.0.0.1:{self.s3_port}"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.ecwid_port}/api/v3"


@dataclass(frozen=True)
class Network:
    direct: Route  # TLS without any delay (both hosts the same port)
    routes: dict[float, Route]  # by round trip in ms


async def _pipe(
    source: asyncio.StreamReader,
    target: asyncio.StreamWriter,
    delay_s: float,
    not_before: float,
) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                if target.can_write_eof():
                    target.write_eof()
                return
            target.write(chunk)
            await target.drain()

    delivering = asyncio.create_task(deliver())
    try:
        while True:
            chunk = await source.read(_CHUNK)
            queue.put_nowait((max(loop.time(), not_before) + delay_s, chunk))
            if not chunk:
                break
        await delivering
    except (ConnectionError, OSError):
        delivering.cancel()
    finally:
        target.close()


async def _relay(upstream_port: int, rtt_s: float) -> asyncio.Server:
    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = asyncio.get_running_loop().time()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            writer.close()
            return
        half = rtt_s / 2
        await asyncio.gather(
            _pipe(reader, up_writer, half, not_before=accepted + rtt_s),
            _pipe(up_reader, writer, half, not_before=0),
            return_exceptions=True,
        )

    return await asyncio.start_server(connected, "127.0.0.1", 0, backlog=1024)


def _port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def _serve(certificates: Certificates, rtts_ms: list[float]) -> None:
    sandbox = EcwidSandbox()
    runner = web.AppRunner(sandbox.application(), **sandbox.runner_options())
    await runner.setup()
    site = web.TCPSite(
        runner, "127.0.0.1", 0, ssl_context=certificates.server_context(), backlog=1024
    )
    await site.start()
    upstream = int(runner.addresses[0][1])
    routes: dict[str, dict[str, int]] = {}
    servers = []
    for rtt in rtts_ms:
        s3, ecwid = await _relay(upstream, rtt / 1000), await _relay(upstream, rtt / 1000)
        servers += [s3, ecwid]
        routes[str(rtt)] = {"s3_port": _port(s3), "ecwid_port": _port(ecwid)}
    direct = {"s3_port": upstream, "ecwid_port": upstream}
    print(json.dumps({"direct": direct, "routes": routes}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for server in servers:
            server.close()
        await runner.cleanup()


@contextmanager
def wan_process(certificates: Certificates, rtts_ms: list[float]) -> Iterator[Network]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.wan",
            str(certificates.ca.parent),
            *(str(rtt) for rtt in rtts_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ports = json.loads(process.stdout.readline())
        yield Network(
            direct=Route(**ports["direct"]),
            routes={float(rtt): Route(**route) for rtt, route in ports["routes"].items()},
        )
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    certificates = Certificates.in_directory(Path(sys.argv[1]))
    asyncio.run(_serve(certificates, [float(rtt) for rtt in sys.argv[2:]]))
