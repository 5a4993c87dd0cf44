"""Dependencies point one way, and the tree says so.

The import graph is read from the source (every `import`, at any depth, `TYPE_CHECKING` ones
included) and checked against the layers the layout table of docs/contributing.md describes:

    bot.response_targets                   urgencies, response targets, support hours: pure
    bot.settings, bot.destination          what everything may know
    bot.metrics                            Prometheus counters: for the serving layer
    bot.engine                             the connection check: no Slack, no database
    bot.db                            the database, and recording checks in it: no Slack
    bot.slack                              Bolt, serving, the check-and-answer path below the
                                           listeners (`bot.slack.answers`): not the listeners
    handlers                               the listeners and the Block Kit builders
    bot.cli, bot.sandbox                   composition roots: may use everything

Two more rules: no import circle between modules, and the product's own code never imports
the sandbox (the local stand-ins), except through the command line's `sandbox` and `demo`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.paths import REPO

PACKAGES = ("bot", "handlers")

# What each layer may import, besides itself and the standard library and third parties.
ALLOWED: dict[str, set[str]] = {
    "bot.response_targets": set(),
    "bot.settings": {"bot.response_targets"},
    "bot.destination": set(),
    "bot.metrics": set(),
    "bot.logs": {"bot.engine"},
    "bot.engine": {"bot.settings"},
    "bot.db": {"bot.response_targets", "bot.settings", "bot.destination", "bot.engine"},
    "bot.slack": {
        "bot.response_targets",
        "bot.settings",
        "bot.destination",
        "bot.engine",
        "bot.db",
        "bot.logs",
        "bot.metrics",
    },
    "handlers": {
        "bot.response_targets",
        "bot.settings",
        "bot.destination",
        "bot.engine",
        "bot.db",
        "bot.slack",
    },
}
COMPOSITION_ROOTS = ("bot.cli", "bot.sandbox")
FORBIDDEN_EVERYWHERE_BUT_ROOTS = {"slack_bolt", "slack_sdk"}  # only bot.slack and handlers


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.parts or path.name == "env.py":
                yield path


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


GRAPH = {module_name(path): imports_of(path) for path in source_files()}
MODULES = set(GRAPH)


def layer_of(module: str) -> str | None:
    for layer in sorted([*ALLOWED, *COMPOSITION_ROOTS], key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def internal(imported: set[str]) -> set[str]:
    """The project's own modules among `imported` (a `from package import module` counts)."""
    return {name for name in imported if name in MODULES}


def test_every_module_belongs_to_a_layer() -> None:
    stray = sorted(
        module for module in MODULES if layer_of(module) is None and module not in ("bot",)
    )
    assert stray == [], "give these modules a layer here and in docs/contributing.md"


def test_imports_point_down_the_layers() -> None:
    """One test over every module, naming each import that points up or sideways."""
    wrong = [
        f"{module} ({layer}) must not import {target}"
        for module in sorted(MODULES)
        if (layer := layer_of(module)) is not None and layer not in COMPOSITION_ROOTS
        for target in sorted(internal(GRAPH[module]))
        if layer_of(target) != layer and layer_of(target) not in ALLOWED[layer] and target != "bot"
    ]
    assert wrong == [], "\n".join(wrong)


def test_slack_is_known_only_to_the_slack_layers() -> None:
    """One test over every module, naming each one outside the Slack layers that imports Slack's
    SDK."""
    slack = [
        f"{module} imports Slack's SDK: {name}"
        for module in sorted(MODULES)
        if layer_of(module) not in ("bot.slack", "handlers", *COMPOSITION_ROOTS)
        for name in sorted(GRAPH[module])
        if name.split(".")[0] in FORBIDDEN_EVERYWHERE_BUT_ROOTS
    ]
    assert slack == [], "\n".join(slack)


def test_the_engine_knows_no_database() -> None:
    for module, imported in GRAPH.items():
        if layer_of(module) == "bot.engine":
            database = sorted(name for name in imported if name.split(".")[0] in ("sqlalchemy",))
            assert database == [], f"{module} imports {database}"


def test_no_import_circle() -> None:
    edges = {module: internal(imported) - {module} for module, imported in GRAPH.items()}
    # A package's __init__ importing its own modules is not a circle of meaning.
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                circles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert circles == []


def test_the_graph_is_not_empty() -> None:
    assert len(MODULES) > 40
    assert "bot.engine.check" in GRAPH["bot.slack.answers"]


LONG_MODULE_LINES = 420
ONE_THING = "Over 400 lines, yet one thing:"


def test_a_long_module_says_what_one_thing_it_is() -> None:
    """A module of `bot/` or `handlers/` over about 400 lines does one job, and its docstring
    says which (after `ONE_THING`); else it is two files waiting to be split."""
    unexplained = [
        f"{path.relative_to(REPO)} ({len(path.read_text().splitlines())} lines)"
        for path in source_files()
        if len(path.read_text().splitlines()) > LONG_MODULE_LINES
        and ONE_THING not in (ast.get_docstring(ast.parse(path.read_text())) or "")
    ]
    assert unexplained == []
