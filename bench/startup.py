"""Start-up: `ecwid-connect guide` and `ecwid-connect check --help` as whole processes.

Each run starts a fresh interpreter, as a person at a terminal does; the three commands take
turns (bare `python -c pass` is the baseline), so a busy moment of the machine hits all of them.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15
TARGET_MS = 200.0
# The installed script, as people run it (the module form when not installed as a script).
_SCRIPT = Path(sys.executable).with_name("ecwid-connect")
_CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "bot.cli"]
COMMANDS = {
    "bare python -c pass": [sys.executable, "-c", "pass"],
    "ecwid-connect guide": [*_CLI, "guide"],
    "ecwid-connect check --help": [*_CLI, "check", "--help"],
}


def _once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def run() -> list[str]:
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(2):  # warm the file cache
        for argv in COMMANDS.values():
            _once(argv)
    for number in range(RUNS):
        names = list(COMMANDS)
        for name in names[number % len(names) :] + names[: number % len(names)]:
            samples[name].append(_once(COMMANDS[name]))
    medians = {name: statistics.median(times) * 1000 for name, times in samples.items()}
    bare = medians["bare python -c pass"]
    lines = [
        f"Start-up, whole processes, medians of {RUNS} interleaved runs (target < {TARGET_MS:g} ms)"
    ]
    for name, median in medians.items():
        extra = (
            ""
            if median is bare
            else f"  → {median - bare:.0f} ms over bare, ratio {median / bare:.2f}"
        )
        lines.append(f"  {name:<27} {median:6.0f} ms{extra}")
    return lines
