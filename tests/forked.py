"""The product's command line as separate processes, forked from a server that has already
imported the bot.

Before it does anything, a bot process spends about a second of CPU importing slack_bolt,
SQLAlchemy, aiohttp and the bot itself, and the process tests start about a hundred of them.
Here a `multiprocessing` fork server imports all that once per test worker (`PRELOADED`); each
process is a fork of it that takes its own environment, working directory, stdin and stderr,
then runs `bot.cli.main.main(argv)`, the function behind `python -m bot.cli` and the
`ecwid-connect` script. It is an operating-system process like any other: it has its own pid,
database connections and event loop, SIGTERM drains it and SIGKILL ends it mid-check.

What only a new interpreter shows (the `python -m bot.cli` entry point, start-up time, imports)
stays with the tests that start `sys.executable` (`tests/cli/test_startup.py`, and
`BotProcess(..., interpreter=True)`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

PRELOADED = ["bot.cli.main", "bot.slack.server", "handlers", "handlers.timed"]
"""What the fork server imports once: everything `serve` loads."""

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOADED)


class Process(Protocol):
    """What the tests use of a started process: `subprocess.Popen`'s names."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


class ForkedProcess:
    """`bot.cli.main.main(argv)` in a fork of the fork server, with `env` as its whole
    environment, `cwd` as its directory, stdin and stdout on /dev/null and stderr appended to
    `log_path`. Ended by a signal, its return code is minus the signal, as with `Popen`."""

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path
    ) -> None:
        self.args = list(argv)
        log_path.touch()  # readable from the start, as a file `Popen` writes to would be
        self._process = _CONTEXT.Process(
            target=_run,
            args=(self.args, dict(env), str(cwd), str(log_path)),
            name=f"ecwid-connect {' '.join(argv)}",
            # Whatever a failed test leaves running ends with its worker, without a join.
            daemon=True,
        )
        self._process.start()
        assert self._process.pid is not None
        self.pid: int = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _run(argv: list[str], env: dict[str, str], cwd: str, log_path: str) -> None:
    """In the fork: become the process `python -m bot.cli ARGV` would be, then run it."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["ecwid-connect", *argv]
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    from bot.cli.main import main

    sys.exit(main(argv))
