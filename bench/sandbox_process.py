"""The Ecwid sandbox in its own process, so its CPU time is not charged to what is measured."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.sandbox.loopback import free_port


@dataclass(frozen=True)
class SandboxProcess:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the sandbox process has used so far (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox_process(latency_ms: float, working_stores: int = 0) -> Iterator[SandboxProcess]:
    """Run `ecwid-connect sandbox` with `latency_ms` (and `working_stores` more stores like
    `connected`) in its own process."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "sandbox",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--working-stores",
            str(working_stores),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the sandbox did not start")
        yield SandboxProcess(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        process.wait(10)
