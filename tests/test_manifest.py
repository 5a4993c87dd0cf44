"""The Slack app manifests: valid for Slack, and agreeing with what the code listens to and calls.

`manifest.yml` (Socket Mode) and `manifest.http.yml` (HTTP) are what an admin pastes into
"Create New App → From a manifest". These tests catch what Slack would refuse (against the JSON
schema Slack publishes, copied into `tests/fixtures/slack-manifest-schema/`) and what would only
fail once installed: a slash command or shortcut the code does not answer, an event nobody
subscribed to, a Web API call without its scope, or a scope granted for nothing.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.http_app import EVENTS_PATH
from handlers import leaks, messages, register_all
from handlers.commands import COMMAND
from handlers.shortcuts import CHECK_SHORTCUT
from handlers.workflow import CHANNEL_INPUT, PERSON_INPUT, STEP_CALLBACK
from tests.paths import FIXTURES, REPO

SCHEMA_DIR = FIXTURES / "slack-manifest-schema"
SCHEMA_FILE = SCHEMA_DIR / "manifest.schema.1.0.0.json"
SOCKET_MANIFEST = REPO / "manifest.yml"
HTTP_MANIFEST = REPO / "manifest.http.yml"
# The code that talks to Slack's Web API; the sandbox plays Slack and is not part of the bot.
BOT_SOURCES = (REPO / "handlers", REPO / "bot")
NOT_BOT_SOURCES = (REPO / "bot" / "sandbox",)

# The bot scopes each Web API method needs (from the method's page on api.slack.com).
# A method the code starts calling must be added here: the tests below say so.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    # Socket Mode's connection, asked with the app-level token: its scope (connections:write)
    # is an app-level token's, not a bot scope.
    "apps.connections.open": (),
    # chat:write.public lets the bot answer /ecwid-connect in a public channel it has not joined.
    "chat.postMessage": ("chat:write", "chat:write.public"),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.getPermalink": (),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "views.open": (),
    "views.push": (),
    "views.update": (),
    "views.publish": (),
    # The support channel may be public (channels:read) or private (groups:read).
    "conversations.members": ("channels:read", "groups:read"),
    "conversations.info": ("channels:read", "groups:read"),
    # Reading a thread or a channel back, to find a post whose fate a failure left unknown,
    # in whichever kind of conversation it went to (bot/slack/exactly_once.py).
    "conversations.replies": ("channels:history", "groups:history", "mpim:history", "im:history"),
    "conversations.history": ("channels:history", "groups:history", "mpim:history", "im:history"),
    "usergroups.users.list": ("usergroups:read",),
    "users.info": ("users:read",),
    "conversations.open": ("im:write",),
    # A workflow step's completion, with the execution's token or the bot's: no scope.
    "functions.completeSuccess": (),
    "functions.completeError": (),
}
# Listener helpers Bolt hands to listeners, and the Web API method each one calls.
HELPER_METHODS = {"say": "chat.postMessage"}
# The bot scopes each event subscription needs.
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_mention": ("app_mentions:read",),
    "app_home_opened": (),
    "message.im": ("im:history",),
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "message.mpim": ("mpim:history",),
    # Sent for the app's own workflow steps (`functions`), without a scope.
    "function_executed": (),
}
# A `message` listener gets whichever message events are subscribed: direct messages are
# answered (handlers/messages.py), channels, private channels and group DMs read by the leak
# guard (handlers/leaks.py); each module names the subscriptions it stands for.
MESSAGE_SUBSCRIPTIONS = frozenset({messages.SUBSCRIPTION, *leaks.SUBSCRIPTIONS.values()})
# Slash commands and shortcuts (global and message) both need `commands`.
COMMAND_SCOPE = "commands"
# The keys that make a manifest HTTP rather than Socket Mode; nothing else may differ.
HTTP_ONLY_URLS = (
    ("features", "slash_commands", "*", "url"),
    ("settings", "interactivity", "request_url"),
    ("settings", "event_subscriptions", "request_url"),
)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(manifest, dict), f"{path.name} is not a YAML mapping"
    return manifest


def schema() -> dict[str, Any]:
    if not SCHEMA_FILE.is_file():
        pytest.fail(
            f"Slack's manifest schema is missing: expected {SCHEMA_FILE}, a copy of "
            "slackapi/manifest-schema kept in the repository (see SOURCE.md beside it)."
        )
    loaded = yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))  # JSON is YAML
    assert isinstance(loaded, dict)
    return loaded


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    spec = schema()
    validator_class = jsonschema.validators.validator_for(spec)
    validator_class.check_schema(spec)
    validator = validator_class(spec, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    ]


def bot_scopes(manifest: dict[str, Any]) -> set[str]:
    return set(manifest["oauth_config"]["scopes"]["bot"])


def subscribed_events(manifest: dict[str, Any]) -> set[str]:
    return set(manifest["settings"]["event_subscriptions"]["bot_events"])


def located(manifest: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[Any, str]]:
    """(parent, key) for every place `path` names; `*` walks every item of a list."""
    *parents, key = path
    nodes: list[Any] = [manifest]
    for part in parents:
        if part == "*":
            nodes = [item for node in nodes for item in node]
        else:
            nodes = [node[part] for node in nodes if isinstance(node, dict) and part in node]
    for node in nodes:
        yield node, key


def urls_of(manifest: dict[str, Any]) -> list[str]:
    return [
        parent[key]
        for path in HTTP_ONLY_URLS
        for parent, key in located(manifest, path)
        if key in parent
    ]


def without_mode(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest minus what tells Socket Mode from HTTP."""
    stripped = copy.deepcopy(manifest)
    for path in HTTP_ONLY_URLS:
        for parent, key in located(stripped, path):
            parent.pop(key, None)
    stripped["settings"].pop("socket_mode_enabled", None)
    return stripped


@dataclass
class Registrations:
    """What the listeners asked Bolt for, recorded by a stand-in for `AsyncApp`."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def __getattr__(self, kind: str) -> Any:
        if kind.startswith("_"):
            raise AttributeError(kind)

        def listen(*args: Any, **_kwargs: Any) -> Any:
            self.calls.append((kind, args))
            return lambda listener: listener

        return listen

    def constraints(self, kind: str) -> list[Any]:
        return [args[0] for called, args in self.calls if called == kind and args]

    @property
    def commands(self) -> set[str]:
        return {str(command) for command in self.constraints("command")}

    @property
    def shortcuts(self) -> set[str]:
        found = self.constraints("shortcut") + self.constraints("message_shortcut")
        return {str(s["callback_id"] if isinstance(s, dict) else s) for s in found}

    @property
    def functions(self) -> set[str]:
        return {str(callback_id) for callback_id in self.constraints("function")}

    @property
    def events(self) -> set[str]:
        events = {str(e["type"] if isinstance(e, dict) else e) for e in self.constraints("event")}
        if self.constraints("message") or "message" in events:
            events.discard("message")
            events |= MESSAGE_SUBSCRIPTIONS
        if self.functions:  # a workflow step's listener gets `function_executed`
            events.add("function_executed")
        return events


@pytest.fixture
def registered() -> Registrations:
    """Every listener of the bot."""
    recorder = Registrations()
    register_all(recorder)  # type: ignore[arg-type]
    return recorder


def web_api_methods() -> dict[str, set[str]]:
    """The Slack Web API methods the bot's code calls, each with the files that call it.

    Found by reading the code (ast): `anything.chat_postMessage(...)` for every method of
    slack_sdk's `AsyncWebClient`, and Bolt's `say(...)`.
    """
    client_methods = {
        name
        for name in vars(AsyncWebClient)
        if not name.startswith("_") and "_" in name and callable(getattr(AsyncWebClient, name))
    }
    found: dict[str, set[str]] = {}
    for root in BOT_SOURCES:
        for path in sorted(root.rglob("*.py")):
            if any(path.is_relative_to(excluded) for excluded in NOT_BOT_SOURCES):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                method = None
                if isinstance(node, ast.Attribute) and node.attr in client_methods:
                    method = node.attr.replace("_", ".")
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in HELPER_METHODS
                ):
                    method = HELPER_METHODS[node.func.id]
                if method is not None:
                    found.setdefault(method, set()).add(str(path.relative_to(REPO)))
    found.setdefault("auth.test", set()).add("slack_bolt (once, with a static bot token)")
    return found


def scopes_needed(registrations: Registrations) -> dict[str, str]:
    """Every bot scope the code needs, each with one reason."""
    needed: dict[str, str] = {}
    for method, callers in web_api_methods().items():
        for scope in METHOD_SCOPES.get(method, ()):
            needed.setdefault(scope, f"{method} in {', '.join(sorted(callers))}")
    for event in registrations.events:
        for scope in EVENT_SCOPES.get(event, ()):
            needed.setdefault(scope, f"the {event} event")
    if registrations.commands or registrations.shortcuts:
        needed.setdefault(COMMAND_SCOPE, "slash commands and shortcuts")
    return needed


MANIFESTS = pytest.mark.parametrize(
    "path", [SOCKET_MANIFEST, HTTP_MANIFEST], ids=["socket-mode", "http"]
)


# ---------------------------------------------------------------------------------------------
# What Slack would say
# ---------------------------------------------------------------------------------------------


def test_slacks_schema_is_json_schema_draft_7() -> None:
    assert schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


@MANIFESTS
def test_manifest_passes_slacks_schema(path: Path) -> None:
    assert schema_errors(load(path)) == []


@MANIFESTS
def test_background_color_is_a_hex_colour(path: Path) -> None:
    # The schema spells this rule `regex`, which JSON Schema ignores: checked here instead.
    color = load(path)["display_information"]["background_color"]
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", color)


@MANIFESTS
def test_manifest_is_a_classic_bolt_app_manifest(path: Path) -> None:
    manifest = load(path)
    assert manifest["_metadata"] == {"major_version": 1, "minor_version": 1}
    # Custom workflow steps need an org-ready app (docs.slack.dev, "Custom steps").
    assert manifest["settings"]["org_deploy_enabled"] is True
    assert manifest["settings"]["token_rotation_enabled"] is False
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_slacks_schema_knows_functions_and_org_deploy() -> None:
    # The copy predates neither key: it validates both (an older copy would say nothing).
    properties = schema()["properties"]
    assert "functions" in properties
    settings = schema()["definitions"]["app-manifests.v1.settings.schema"]["properties"]
    assert settings["org_deploy_enabled"] == {"type": "boolean"}


def test_schema_catches_a_malformed_workflow_step() -> None:
    broken = load(SOCKET_MANIFEST)
    del broken["functions"][STEP_CALLBACK]["output_parameters"]
    broken["settings"]["org_deploy_enabled"] = "yes"
    errors = schema_errors(broken)
    assert any(f"functions/{STEP_CALLBACK}" in error for error in errors)
    assert any("settings/org_deploy_enabled" in error for error in errors)


def parameter_errors(manifest: dict[str, Any]) -> list[str]:
    """Each step parameter against Slack's own parameter definition (`slack-functions.parameter`
    in the schema), which the manifest's looser `types` reference leaves unchecked."""
    spec = schema()
    parameter = {**spec["definitions"]["slack-functions.parameter"], "definitions": {}}
    validator = jsonschema.Draft7Validator(parameter)
    return [
        f"{callback_id}/{kind}/{name}: {error.message}"
        for callback_id, function in manifest.get("functions", {}).items()
        for kind in ("input_parameters", "output_parameters")
        for name, declared in function[kind].items()
        for error in validator.iter_errors(declared)
    ]


@MANIFESTS
def test_workflow_step_parameters_are_slack_parameter_types(path: Path) -> None:
    assert parameter_errors(load(path)) == []


def test_a_parameter_type_slack_does_not_know_is_caught() -> None:
    broken = load(SOCKET_MANIFEST)
    broken["functions"][STEP_CALLBACK]["input_parameters"][PERSON_INPUT]["type"] = "user"
    assert parameter_errors(broken) != []


@MANIFESTS
def test_workflow_step_is_the_one_the_code_runs(path: Path) -> None:
    step = load(path)["functions"][STEP_CALLBACK]
    inputs, outputs = step["input_parameters"], step["output_parameters"]
    assert {name: (p["type"], p["is_required"]) for name, p in inputs.items()} == {
        PERSON_INPUT: ("slack#/types/user_id", True),
        CHANNEL_INPUT: ("slack#/types/channel_id", False),
    }
    assert {name: p["type"] for name, p in outputs.items()} == {
        "connected": "boolean",
        "diagnosis": "string",
        "store_id": "string",
        "check_permalink": "string",
    }
    assert all(p["name"] == name for name, p in {**inputs, **outputs}.items())


async def test_every_workflow_step_the_code_runs_is_declared(registered: Registrations) -> None:
    assert registered.functions == set(load(SOCKET_MANIFEST)["functions"])


def test_schema_catches_a_mistake_slack_would_refuse() -> None:
    broken = load(SOCKET_MANIFEST)
    broken["features"]["shortcuts"][0]["type"] = "channel"
    del broken["features"]["slash_commands"][0]["description"]
    errors = schema_errors(broken)
    assert any("shortcuts/0/type" in error for error in errors)
    assert any("slash_commands/0" in error and "description" in error for error in errors)


# ---------------------------------------------------------------------------------------------
# Agreement with the code
# ---------------------------------------------------------------------------------------------


@MANIFESTS
def test_slash_command_is_the_one_the_code_answers(path: Path) -> None:
    commands = [entry["command"] for entry in load(path)["features"]["slash_commands"]]
    assert commands == [COMMAND]


@MANIFESTS
def test_message_shortcut_calls_back_the_code(path: Path) -> None:
    shortcuts = load(path)["features"]["shortcuts"]
    assert ("message", CHECK_SHORTCUT) in [(s["type"], s["callback_id"]) for s in shortcuts]


async def test_every_command_and_shortcut_the_code_answers_is_declared(
    registered: Registrations,
) -> None:
    manifest = load(SOCKET_MANIFEST)
    assert registered.commands == {c["command"] for c in manifest["features"]["slash_commands"]}
    assert registered.shortcuts == {s["callback_id"] for s in manifest["features"]["shortcuts"]}


async def test_every_event_the_code_listens_to_is_subscribed(registered: Registrations) -> None:
    assert registered.events <= subscribed_events(load(SOCKET_MANIFEST))


async def test_every_subscribed_event_has_a_listener(registered: Registrations) -> None:
    # Bolt answers an event no listener matches with 404, which Slack counts as a failure.
    assert subscribed_events(load(SOCKET_MANIFEST)) <= registered.events


async def test_home_tab_is_enabled_only_if_the_code_publishes_it(
    registered: Registrations,
) -> None:
    app_home = load(SOCKET_MANIFEST)["features"]["app_home"]
    publishes = "views.publish" in web_api_methods()
    assert app_home["home_tab_enabled"] is publishes
    assert ("app_home_opened" in registered.events) is publishes


def test_people_can_write_to_the_bot_in_its_messages_tab() -> None:
    # A DM with the bot is where /ecwid-connect works when no channel fits.
    app_home = load(SOCKET_MANIFEST)["features"]["app_home"]
    assert app_home["messages_tab_enabled"] is True
    assert app_home["messages_tab_read_only_enabled"] is False


def test_every_web_api_method_the_code_calls_has_a_known_scope() -> None:
    unknown = sorted(set(web_api_methods()) - set(METHOD_SCOPES))
    assert unknown == [], f"add the bot scopes of {unknown} to METHOD_SCOPES (and the manifest)"


async def test_every_event_the_code_listens_to_has_a_known_scope(
    registered: Registrations,
) -> None:
    assert registered.events <= set(EVENT_SCOPES), "add the event's scopes to EVENT_SCOPES"


async def test_manifest_grants_every_scope_the_code_needs(registered: Registrations) -> None:
    needed = scopes_needed(registered)
    missing = {
        scope: why
        for scope, why in needed.items()
        if scope not in bot_scopes(load(SOCKET_MANIFEST))
    }
    assert missing == {}


async def test_manifest_grants_no_scope_the_code_does_not_use(registered: Registrations) -> None:
    unused = bot_scopes(load(SOCKET_MANIFEST)) - set(scopes_needed(registered))
    assert unused == set()


@MANIFESTS
def test_every_scope_says_why_in_a_comment(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for scope in bot_scopes(load(path)):
        line = next(line for line in lines if re.match(rf"\s*- {re.escape(scope)}\b(?!\.)", line))
        assert re.search(r" # \w", line), f"{path.name}: say why the bot needs {scope}"


# ---------------------------------------------------------------------------------------------
# Socket Mode and HTTP variants
# ---------------------------------------------------------------------------------------------


def test_socket_mode_manifest_has_no_request_urls() -> None:
    manifest = load(SOCKET_MANIFEST)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert urls_of(manifest) == []


def test_http_manifest_sends_everything_to_the_bots_events_path() -> None:
    manifest = load(HTTP_MANIFEST)
    assert manifest["settings"]["socket_mode_enabled"] is False
    urls = urls_of(manifest)
    expected = len(manifest["features"]["slash_commands"]) + 2
    assert len(urls) == expected, "every slash command, interactivity and events need a URL"
    for url in urls:
        assert url.startswith("https://")
        assert url.endswith(EVENTS_PATH)


def test_manifests_differ_only_in_socket_mode_and_request_urls() -> None:
    assert without_mode(load(HTTP_MANIFEST)) == without_mode(load(SOCKET_MANIFEST))
