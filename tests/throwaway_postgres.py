"""A PostgreSQL server of the test's own, to stop and start in the middle of a test.

Made with `initdb` in a new temporary directory and run on a free port (never the shared test
server on 5432), by the `postgres` user when the tests run as root (PostgreSQL refuses to run as
root). Needs PostgreSQL's programs (Debian: /usr/lib/postgresql/<version>/bin) and root, or to be
the postgres user: where that is missing, `throwaway_postgres()` skips the test (fails it with
REQUIRE_POSTGRES=1) and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.loopback import free_port

USER = "postgres"


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable() -> str | None:
    """None when a server can be made here, else why not."""
    if _bin_dir() is None:
        return "PostgreSQL's programs (initdb, pg_ctl) are not installed"
    if os.geteuid() != 0 and getpass.getuser() != USER:
        return "running PostgreSQL needs root (to become the postgres user) or the postgres user"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is missing"
    return None


class ThrowawayPostgres:
    """`start()`, `stop()` (immediate: connections are cut as in a crash), `start()` again;
    `remove()` stops it and deletes its files. `url` reaches its `postgres` database."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        assert bin_dir is not None
        self._bin = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="ecwid-connect-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.directory, USER, USER)
        try:
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", USER, "--no-sync")
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def _start(self) -> None:
        # fsync off: a stop kills the server, not the machine, so what reached the files is kept.
        # synchronous_commit stays on: off, a commit may still sit in the server's memory for a
        # moment, and an immediate stop right after the bot's migrations would lose its tables,
        # which no crash of a real server (synchronous_commit on) does.
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off"
        )
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def _stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop)

    async def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            await self.stop()
        await asyncio.to_thread(shutil.rmtree, self.directory, True)


@contextlib.asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[ThrowawayPostgres]:
    """A started server, removed on the way out (stopped first, unless the test left it so)."""
    why = unavailable()
    if why is not None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(why)
        pytest.skip(why)
    server = ThrowawayPostgres()
    try:
        await server.start()
        yield server
    finally:
        await server.remove()
