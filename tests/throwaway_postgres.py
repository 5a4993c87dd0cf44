"""A PostgreSQL server of the test's own, in a temporary directory on a free port, that the test
may stop and start again (never the shared one on 5432). Runs as the `postgres` user when the
tests run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.sandbox.loopback import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class ThrowawayPostgres:
    def __init__(self, data_dir: str, port: int, user: str | None) -> None:
        self.data_dir = data_dir
        self.port = port
        self._user = user

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self._user, "--"] if self._user else []
        subprocess.run(
            [*prefix, *command],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
        )
        pg_ctl = _bin("pg_ctl")
        assert pg_ctl is not None
        self._run(pg_ctl, "-D", self.data_dir, "-o", options, "-l", self.log_file, "-w", "start")

    def stop(self) -> None:
        pg_ctl = _bin("pg_ctl")
        assert pg_ctl is not None
        self._run(pg_ctl, "-D", self.data_dir, "-m", "fast", "-w", "stop")

    @property
    def log_file(self) -> str:
        return os.path.join(os.path.dirname(self.data_dir), "postgres.log")


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    initdb = _bin("initdb")
    if initdb is None or _bin("pg_ctl") is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("initdb and pg_ctl are needed (Debian's postgresql package)")
        pytest.skip("no initdb/pg_ctl: install PostgreSQL to run this test")
    user = "postgres" if os.geteuid() == 0 else None
    root = tempfile.mkdtemp(prefix="ecwid-connect-pg-")
    data_dir = os.path.join(root, "data")
    if user is not None:
        shutil.chown(root, user)
    server = ThrowawayPostgres(data_dir, free_port(), user)
    try:
        server._run(initdb, "-D", data_dir, "-A", "trust", "-U", "postgres", "--no-sync")
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop()  # unless the test left it stopped
    finally:
        shutil.rmtree(root, ignore_errors=True)
