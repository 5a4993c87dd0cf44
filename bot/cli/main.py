"""`ecwid-connect`: the command line.

Exit codes: 0 connected, 1 a problem was found, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

# Each command imports what it needs when it runs: `guide` and `--help` start in a blink, without
# pydantic, httpx or aiohttp (a structural test keeps it so; `make bench` times it).
if TYPE_CHECKING:
    from bot.engine.check import ConnectionChecker
    from bot.engine.report import CheckReport, Step
    from bot.settings import Settings

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command was called wrongly; the message says how to call it."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.run is _guide:  # the guide reads no settings: loading them would triple start-up
        return int(args.run(args, None))
    from bot.logs import configure_logging
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
        # People at a terminal want the ladder, not log lines, unless they asked for them.
        configure_logging(
            settings.log_level if "log_level" in settings.model_fields_set else "WARNING"
        )
        return int(args.run(args, settings))
    except (SettingsError, UsageError) as error:
        print(f"ecwid-connect: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecwid-connect",
        description="Check that a store-migration service can read an Ecwid store.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="check a Personal collection URL (or a store ID and token)",
        description="Without URL, the URL is asked for without showing it (keeps it out of "
        "shell history). Use - to read it from standard input.",
    )
    check.add_argument("url", nargs="?", help="the Personal collection URL, or - for stdin")
    check.add_argument("--store-id", help="custom-app method: the numeric Store ID")
    check.add_argument(
        "--token",
        nargs="?",
        const="",
        help="custom-app method: the access token; - reads it from stdin, none asks for it",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(run=_check)

    guide = commands.add_parser("guide", help="how to get the Personal collection URL")
    guide.set_defaults(run=_guide)

    sandbox = commands.add_parser("sandbox", help="run a local Ecwid sandbox with sample stores")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    sandbox.set_defaults(run=_sandbox)

    serve = commands.add_parser("serve", help="run the Slack bot (Socket Mode or HTTP)")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser(
        "migrate", help="create or upgrade the database schema (DATABASE_URL, else SQLite)"
    )
    migrate.set_defaults(run=_migrate)

    new_key = commands.add_parser("new-key", help="print a new CREDENTIALS_KEY")
    new_key.set_defaults(run=_new_key)

    demo = commands.add_parser("demo", help="the whole product, offline, against the sandbox")
    demo.set_defaults(run=_demo)
    return parser


def _check(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if args.store_id is not None or args.token is not None:
        if args.url:
            raise UsageError("give either a URL or --store-id with --token, not both")
        if args.store_id is None:
            raise UsageError("--token needs --store-id")
        token = _secret_input(args.token or "", "Access token (input hidden): ")
        return asyncio.run(_run_check(settings, args.json, store_id=args.store_id, token=token))
    url = _secret_input(args.url or "", "Personal collection URL (input hidden): ")
    return asyncio.run(_run_check(settings, args.json, text=url))


def _secret_input(value: str, prompt: str) -> str:
    """A secret from the argument, from stdin with `-`, or from a prompt that does not echo."""
    if value == "-":
        return sys.stdin.read()
    if value:
        print(
            "ecwid-connect: note: what is typed on the command line stays in the shell's "
            "history; leave it out to be asked for it, or pass - to read it from stdin.",
            file=sys.stderr,
        )
        return value
    if not sys.stdin.isatty():
        return sys.stdin.read()
    return getpass.getpass(prompt)


async def _run_check(
    settings: Settings,
    as_json: bool,
    *,
    text: str | None = None,
    store_id: str | None = None,
    token: str | None = None,
) -> int:
    from bot.cli.render import report_text, step_line
    from bot.engine.check import ConnectionChecker, new_http_client

    def show(step: Step) -> None:
        print(step_line(step), file=sys.stderr, flush=True)

    on_step = None if as_json else show
    if not as_json:
        print("Checking the connection…", file=sys.stderr, flush=True)
    async with new_http_client() as http:
        checker = ConnectionChecker(settings, http)
        report: CheckReport
        if store_id is not None:
            report = await checker.check_store(store_id, token or "", on_step)
        else:
            report = await checker.check_text(text or "", on_step)
        if settings.database_url is not None:
            await _record(settings, checker, report)
    print(
        report.model_dump_json(indent=2)
        if as_json
        else "\n" + report_text(report, with_steps=False)
    )
    return EXIT_OK if report.ok else EXIT_PROBLEM


async def _record(settings: Settings, checker: ConnectionChecker, report: CheckReport) -> None:
    """With a database configured, the command line's checks join the history like Slack's,
    through the same service (without credentials: re-runs are for checks asked in Slack)."""
    from bot.destination import COMMAND_LINE
    from bot.history.database import Database
    from bot.service import CheckService

    database = Database.from_settings(settings)
    try:
        await database.migrate()
        if await CheckService(checker, database).record(report, COMMAND_LINE) is None:
            print("ecwid-connect: the check could not be recorded (see the log)", file=sys.stderr)
    except Exception as error:
        print(
            f"ecwid-connect: the database is not reachable: {type(error).__name__}", file=sys.stderr
        )
    finally:
        await database.close()


def _guide(_args: argparse.Namespace, _settings: Settings | None) -> int:
    from bot.cli.render import guide_text

    print(guide_text())
    return EXIT_OK


def _sandbox(args: argparse.Namespace, _settings: Settings) -> int:
    from bot.sandbox.cli import run_sandbox

    run_sandbox(args.port, args.latency_ms)
    return EXIT_OK


def _serve(_args: argparse.Namespace, settings: Settings) -> int:
    from bot.slack.server import serve
    from handlers import register_all

    return serve(settings, register_all)


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.history.database import Database

    async def upgrade() -> None:
        database = Database.from_settings(settings)
        try:
            await database.migrate()
        finally:
            await database.close()

    asyncio.run(upgrade())
    print("Database schema is up to date.")
    return EXIT_OK


def _new_key(_args: argparse.Namespace, _settings: Settings) -> int:
    from bot.history.vault import new_key

    print(new_key())
    return EXIT_OK


def _demo(_args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.sandbox.demo import run_demo

    return asyncio.run(run_demo(settings))


if __name__ == "__main__":
    sys.exit(main())
