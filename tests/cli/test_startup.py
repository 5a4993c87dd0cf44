"""The command line imports what a command needs when it runs it (`make bench` times start-up).

Each check runs a fresh interpreter and lists which heavy packages ended up in `sys.modules`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.process

NETWORK_AND_STORAGE = ("httpx", "aiohttp", "httpx_aiohttp", "sqlalchemy", "slack_sdk", "slack_bolt")
HEAVY = (*NETWORK_AND_STORAGE, "pydantic", "pydantic_settings", "asyncio")


def _loaded_after(code: str) -> list[str]:
    probe = (
        "import contextlib, io, json, sys\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    {code}\n"
        f"print(json.dumps([name for name in {list(HEAVY)!r} if name in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_importing_the_command_line_loads_no_network_or_database_package() -> None:
    assert _loaded_after("import bot.cli.main") == []


def test_the_guide_runs_without_settings_or_network_packages() -> None:
    assert _loaded_after("from bot.cli.main import main; assert main(['guide']) == 0") == []


@pytest.mark.parametrize("command", ["check", "serve", "sandbox"])
def test_a_command_s_help_loads_nothing_heavy(command: str) -> None:
    code = (
        "from bot.cli.main import main\n"
        "    try:\n        main([" + repr(command) + ", '--help'])\n"
        "    except SystemExit as end:\n        assert end.code == 0"
    )
    assert _loaded_after(code) == []


def test_a_check_still_loads_the_engine_when_it_runs() -> None:
    # The control: the probe does see imports that a command makes when it really runs.
    code = "from bot.cli.main import main; main(['check', 'not a url'])"
    loaded = _loaded_after(code)
    assert {"httpx", "aiohttp", "pydantic"} <= set(loaded)
