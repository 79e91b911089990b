"""The package's import graph: no cycles, and no module importing another's private names.

Read from the source with ``ast`` (nothing is imported), counting every ``import`` statement,
also the ones inside functions: a cycle hidden in a function-level import is still a cycle
(it only moves the failure from import time to the first call).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import flask_safemigrate
from flask_safemigrate.lint import registry

PACKAGE = Path(flask_safemigrate.__file__).resolve().parent
ROOT_NAME = "flask_safemigrate"

# Cycles outside lint/ that predate this test (the multi-database upgrade reuses the upgrade
# module's internals and is imported by it). Do not add to this list.
KNOWN_CYCLES = [["flask_safemigrate.upgrade", "flask_safemigrate.upgrade_binds"]]

# Private names imported across modules outside lint/ before this test existed. Do not add to
# this list: make the name public, or move it to a module both can import.
KNOWN_PRIVATE_IMPORTS = {
    ("flask_safemigrate.upgrade_binds", "flask_safemigrate.upgrade"),
}


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = [ROOT_NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str) -> Iterator[tuple[str, list[str]]]:
    """``(imported module, names imported from it)`` for each import in ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            plain = []
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    yield submodule, []
                else:
                    plain.append(alias.name)
            if plain:
                yield source, plain


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports. An import of one of its own parent packages
    (``from flask_safemigrate import __version__``) is left out: Python initialises a package
    before any of its submodules, so that edge is not a cycle the submodule can trip."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module in MODULES:
        for target, _names in imports_of(module):
            parent = module.startswith(target + ".")
            if target in MODULES and target != module and not parent:
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    found = [c for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert not found, "import cycles (break them with a module both sides can import):\n" + (
        "\n".join(" <-> ".join(component) for component in found)
    )


def test_no_import_cycle_in_lint() -> None:
    graph = import_graph()
    lint = {m: {t for t in graph[m] if t.startswith(f"{ROOT_NAME}.lint")} for m in graph}
    lint = {m: targets for m, targets in lint.items() if m.startswith(f"{ROOT_NAME}.lint")}
    assert cycles(lint) == []


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_private_names_imported_from_another_module() -> None:
    offenders = []
    for module in MODULES:
        for source, names in imports_of(module):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and source in MODULES and (module, source) not in KNOWN_PRIVATE_IMPORTS:
                offenders.append(f"{module} imports {', '.join(private)} from {source}")
    assert not offenders, "\n".join(offenders)


def test_lint_rules_import_neither_the_engine_nor_other_rules() -> None:
    """A rule module reaches shared code through ``lint/model.py``, ``lint/registry.py``,
    ``lint/sql.py`` and ``lint/helpers/``: never the engine, the docs, or another rule."""
    rules = [m for m in MODULES if m.startswith(f"{ROOT_NAME}.lint.rules.")]
    helpers = [m for m in MODULES if m.startswith(f"{ROOT_NAME}.lint.helpers")]
    forbidden = (
        f"{ROOT_NAME}.lint.engine",
        f"{ROOT_NAME}.lint.docs",
        f"{ROOT_NAME}.lint.options",
        f"{ROOT_NAME}.lint.workers",
    )
    offenders = []
    for module in [*rules, *helpers]:
        for target, _names in imports_of(module):
            other_rule = target.startswith(f"{ROOT_NAME}.lint.rules") and target != module
            if target in forbidden or other_rule or target == f"{ROOT_NAME}.lint":
                offenders.append(f"{module} imports {target}")
    assert not offenders, "\n".join(offenders)


def test_every_rule_file_is_registered() -> None:
    """One rule per file, each listed in ``RULE_MODULES`` (a file missing from it never runs)."""
    rule_files = sorted(
        m
        for m, path in MODULES.items()
        if m.startswith(f"{ROOT_NAME}.lint.rules.") and path.name != "__init__.py"
    )
    assert sorted(registry.RULE_MODULES) == rule_files
    by_module: dict[str, list[str]] = {}
    for rule in registry.all_rules():
        by_module.setdefault(rule.__module__, []).append(rule.name)
    assert sorted(by_module) == rule_files, "each rule module registers a rule"
    assert all(len(names) == 1 for names in by_module.values()), by_module
