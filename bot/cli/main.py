"""`ecwid-connect`: the command line.

Exit codes: 0 connected, 1 a problem was found, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

# Each command imports what it needs when it runs: `guide` and `--help` start in a blink, without
# pydantic, httpx or aiohttp (a structural test keeps it so; `make bench` times it).
if TYPE_CHECKING:
    from bot.db.database import Database
    from bot.engine.guard import TokenGuard
    from bot.engine.report import CheckReport, Step
    from bot.settings import Settings

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command was called wrongly; the message says how to call it."""


# The settings each command reads (None: all of them); a bad value elsewhere does not stop it.
_LOGGING = ("log_level", "log_format")
_ENGINE = (
    *_LOGGING,
    "ecwid_api_url",
    "collection_hosts",
    "check_timeout_s",
    "token_cooldown_s",
    "failing_token_budget_per_min",
)
_DATABASE = (*_LOGGING, "database_url", "data_dir")
# `forget` also reads the journal's sealed pastes, to find a store's checks in flight.
_ERASURE = (*_DATABASE, "credentials_key", "credentials_ttl_h")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.run is _guide:  # the guide reads no settings: loading them would triple start-up
        return int(args.run(args, None))
    from bot.logs import configure_logging
    from bot.settings import SettingsError, load_settings, load_settings_for

    try:
        needed: tuple[str, ...] | None = args.needs
        if needed == ():
            configure_logging("WARNING")
            return int(args.run(args, None))
        settings = load_settings() if needed is None else load_settings_for(needed)
        # People at a terminal want the ladder, not log lines, unless they asked for them;
        # a server's operator wants its start-up lines.
        chosen = "log_level" in settings.model_fields_set or args.run is _serve
        configure_logging(settings.log_level if chosen else "WARNING", settings.log_format)
        return int(args.run(args, settings))
    except (SettingsError, UsageError) as error:
        for line in str(error).splitlines():
            print(f"ecwid-connect: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecwid-connect",
        description="Check that a store-migration service can read an Ecwid store.",
    )
    parser.add_argument("--version", action=_VersionAction)
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
    shown = check.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print the report as JSON")
    shown.add_argument(
        "--customer-reply",
        action="store_true",
        help="print a plain-text message for the customer (what is wrong, the fix as steps)",
    )
    shown.add_argument(
        "--steps", action="store_true", help="add every step of the check to the report"
    )
    check.set_defaults(run=_check, needs=_ENGINE)

    guide = commands.add_parser("guide", help="how to get the Personal collection URL")
    guide.set_defaults(run=_guide, needs=())

    sandbox = commands.add_parser("sandbox", help="run a local Ecwid sandbox with sample stores")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    sandbox.add_argument(
        "--working-stores",
        type=int,
        default=0,
        metavar="N",
        help="N more stores like 'connected', each with its own token (for load tests)",
    )
    sandbox.set_defaults(run=_sandbox, needs=())

    serve = commands.add_parser("serve", help="run the Slack bot (Socket Mode or HTTP)")
    serve.set_defaults(run=_serve, needs=None)

    migrate = commands.add_parser(
        "migrate", help="create or upgrade the database schema (DATABASE_URL, else SQLite)"
    )
    migrate.set_defaults(run=_migrate, needs=_DATABASE)

    forget = commands.add_parser(
        "forget",
        help="erase everything kept about a store or a person",
        description="Deletes every check, escalation and stored paste about the store (or "
        "asked for by the Slack user), the check journal's entries (in the database and in "
        "DATA_DIR's spill files), workflow steps, timed work and checks in flight that name "
        "them, and the user's name on escalations they took or resolved. It cannot be undone.",
    )
    subject = forget.add_mutually_exclusive_group(required=True)
    subject.add_argument("--store", metavar="ID", help="the numeric Ecwid store ID")
    subject.add_argument("--user", metavar="U…", help="the Slack user ID (U… or W…)")
    forget.set_defaults(run=_forget, needs=_ERASURE)

    new_key = commands.add_parser("new-key", help="print a new CREDENTIALS_KEY")
    new_key.set_defaults(run=_new_key, needs=())

    demo = commands.add_parser("demo", help="the whole product, offline, against the sandbox")
    demo.set_defaults(run=_demo, needs=None)
    return parser


class _VersionAction(argparse.Action):
    """`--version`, looking the version up only when asked: reading the installed package's
    metadata costs some 50 ms, which every other command would pay at start."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        print(f"{parser.prog} {_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ecwid-connect")
    except PackageNotFoundError:
        return "unknown"


def _check(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if args.store_id is not None or args.token is not None:
        if args.url:
            raise UsageError("give either a URL or --store-id with --token, not both")
        if args.store_id is None:
            raise UsageError("--token needs --store-id")
        token = _secret_input(args.token or "", "Access token (input hidden): ")
        return asyncio.run(_run_check(settings, args, store_id=args.store_id, token=token))
    url = _secret_input(args.url or "", "Personal collection URL (input hidden): ")
    return asyncio.run(_run_check(settings, args, text=url))


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
    args: argparse.Namespace,
    *,
    text: str | None = None,
    store_id: str | None = None,
    token: str | None = None,
) -> int:
    from bot.cli.render import report_text, step_line
    from bot.engine.check import ConnectionChecker
    from bot.engine.http_client import new_http_client
    from bot.engine.reply import customer_reply

    def show(step: Step) -> None:
        print(step_line(step), file=sys.stderr, flush=True)

    # The live ladder is for people at the terminal; what is printed for a program (JSON) or
    # for the customer (a reply to paste) comes alone.
    live = not (args.json or args.customer_reply)
    on_step = show if live else None
    if live:
        print("Checking the connection…", file=sys.stderr, flush=True)
    async with new_http_client() as http, _history(settings) as database:
        checker = ConnectionChecker(settings, http, _token_guard(settings, database))
        report: CheckReport
        if store_id is not None:
            report = await checker.check_store(store_id, token or "", on_step)
        else:
            report = await checker.check_text(text or "", on_step)
        if database is not None:
            await _record(database, report)
    if args.json:
        print(report.model_dump_json(indent=2))
    elif args.customer_reply:
        print(customer_reply(report))
    else:
        print("\n" + report_text(report, with_steps=args.steps))
    return EXIT_OK if report.ok else EXIT_PROBLEM


@contextlib.asynccontextmanager
async def _history(settings: Settings) -> AsyncIterator[Database | None]:
    """The bot's database when DATABASE_URL is set and reachable, else None. A database that
    cannot be reached is said, and the check goes on without it."""
    if settings.database_url is None:
        yield None
        return
    from bot.db.database import Database

    database = Database.from_settings(settings)
    try:
        try:
            await database.migrate()
        except Exception as error:
            print(
                f"ecwid-connect: warning: the database is unreachable ({type(error).__name__}):"
                " this check neither shares the bot's cool-downs and budget nor is recorded.",
                file=sys.stderr,
            )
            yield None
            return
        yield database
    finally:
        await database.close()


def _token_guard(settings: Settings, database: Database | None) -> TokenGuard:
    """The bot's shared guard with a database, so that a check from the terminal honours (and
    counts in) the cool-downs, flights and budget of the running bot; else one in memory."""
    from bot.engine.guard import MemoryTokenGuard

    if database is None:
        return MemoryTokenGuard(settings.token_cooldown_s, settings.failing_token_budget_per_min)
    from bot.db.shared import DatabaseTokenGuard

    return DatabaseTokenGuard(
        database, settings.token_cooldown_s, settings.failing_token_budget_per_min
    )


async def _record(database: Database, report: CheckReport) -> None:
    """The command line's checks join the history like Slack's, through the same recorder
    (without credentials: re-runs are for checks asked in Slack)."""
    from bot.db.recorder import CheckRecorder
    from bot.destination import COMMAND_LINE

    recorder = CheckRecorder(database)
    await recorder.record(report, COMMAND_LINE)
    if len(recorder.backlog):  # the write failed: a command line has no later to wait for
        print("ecwid-connect: the check could not be recorded (see the log)", file=sys.stderr)


def _guide(_args: argparse.Namespace, _settings: Settings | None) -> int:
    from bot.cli.render import guide_text

    print(guide_text())
    return EXIT_OK


def _sandbox(args: argparse.Namespace, _settings: Settings | None) -> int:
    from bot.sandbox.cli import run_sandbox

    run_sandbox(args.port, args.latency_ms, args.working_stores)
    return EXIT_OK


def _serve(_args: argparse.Namespace, settings: Settings) -> int:
    from bot.slack.server import serve
    from handlers import ANSWER_LAYOUTS, register_all
    from handlers.timed import KINDS

    return serve(settings, register_all, ANSWER_LAYOUTS, KINDS)


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.db.database import Database

    async def upgrade() -> None:
        database = Database.from_settings(settings)
        try:
            await database.migrate()
        finally:
            await database.close()

    try:
        asyncio.run(upgrade())
    except Exception as error:
        raise _database_unreachable(settings, error) from None
    print("Database schema is up to date.")
    return EXIT_OK


def _database_unreachable(settings: Settings, error: Exception) -> UsageError:
    from bot.slack.services import describe

    where = "DATABASE_URL" if settings.database_url else f"DATA_DIR={settings.data_dir}"
    return UsageError(f"cannot open the database ({where}): {describe(error)}")


def _forget(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from datetime import timedelta
    from pathlib import Path

    from bot.db.database import Database
    from bot.db.erasure import Erased, Subject, forget

    if args.store is not None:
        if not args.store.strip().isdigit():
            raise UsageError("--store takes the numeric Ecwid store ID, such as 1003")
        subject = Subject(store_id=int(args.store))
    else:
        user = args.user.strip()
        if user[:1] not in ("U", "W") or not user.isalnum():
            raise UsageError("--user takes a Slack user ID, such as U0123ABCD")
        subject = Subject(user_id=user)

    async def erase() -> Erased:
        database = Database.from_settings(settings)
        try:
            await database.migrate()
            vault = database.vault(
                settings.credentials_key, timedelta(hours=settings.credentials_ttl_h)
            )
            return await forget(database, subject, vault=vault, data_dir=Path(settings.data_dir))
        finally:
            await database.close()

    try:
        erased = asyncio.run(erase())
    except Exception as error:
        raise _database_unreachable(settings, error) from None
    print(f"Erased {subject}: {erased}.")
    return EXIT_OK


def _new_key(_args: argparse.Namespace, _settings: Settings | None) -> int:
    from bot.db.vault import new_key

    print(new_key())
    return EXIT_OK


def _demo(_args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.sandbox.demo import run_demo

    return asyncio.run(run_demo(settings))


if __name__ == "__main__":
    sys.exit(main())
