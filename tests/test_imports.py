"""The package's import graph: no cycles, no module importing another's private names, and
nothing below the CLI importing click, printing or exiting (issues #14 and #15).

Read from the source with ``ast`` (nothing is imported), counting every ``import`` statement
that can run, also the ones inside functions: a cycle hidden in a function-level import is
still a cycle (it only moves the failure from import time to the first call). Edges are what
Python executes: importing ``a.b.c`` runs the packages ``a`` and ``a.b`` first, and a name
taken from a package is read from its ``__init__`` (see :func:`dependencies`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import flask_safemigrate
from flask_safemigrate.lint import registry

PACKAGE = Path(flask_safemigrate.__file__).resolve().parent
ROOT_NAME = "flask_safemigrate"

# Cycles that predate this test. Do not add to this list.
KNOWN_CYCLES: list[list[str]] = []

# Private names imported across modules outside lint/ before this test existed. Do not add to
# this list: make the name public, or move it to a module both can import.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()


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


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: module level and inside functions (a deferred
    import still runs, on first call), but not under ``if TYPE_CHECKING:`` (only its ``else``)."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


def _packages_on_the_way(dotted: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages Python imports (runs) before ``a.b.c``."""
    parts = dotted.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def dependencies(module: str) -> set[str]:
    """The package modules whose code ``module`` needs to have run, as Python executes imports.

    - ``import a.b.c`` and ``from a.b.c import x`` run ``a``, ``a.b`` and ``a.b.c``;
      ``from a.b import c`` runs ``a`` and ``a.b``, and ``a.b.c`` when ``c`` is a submodule.
    - A package that encloses ``module`` has always started running before ``module`` does
      (Python initialises ``a`` and ``a.b`` before ``a.b.m``), so passing through it runs
      nothing. It is a dependency only when a name is taken from its ``__init__``
      (``from flask_safemigrate import __version__`` inside the package): that name must be
      bound by the time, which is the half-initialised-package cycle.
    """
    enclosing = set(_packages_on_the_way(module))
    found: set[str] = set()

    def runs(target: str) -> None:
        if target in MODULES and target != module and target not in enclosing:
            found.add(target)

    for node in runtime_imports(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                for target in [*_packages_on_the_way(alias.name), alias.name]:
                    runs(target)
            continue
        source = _absolute(module, node)
        for target in _packages_on_the_way(source):
            runs(target)
        runs(source)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in MODULES:
                runs(submodule)
            elif source in enclosing:
                found.add(source)  # a name read from an enclosing package's __init__
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it depends on (:func:`dependencies`)."""
    return {module: dependencies(module) for module in MODULES}


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
    components = cycles(import_graph())
    found = [c for c in components if c not in KNOWN_CYCLES]
    assert not found, (
        "import cycles (break them with a module both sides can import); every strongly"
        " connected component:\n" + "\n".join(" <-> ".join(c) for c in components)
    )


def test_edges_are_what_python_runs(tmp_path: Path) -> None:
    """The edge rules on a package written here: parents run, names come from ``__init__``,
    a deferred import is an edge, a ``TYPE_CHECKING`` import is not."""
    files = {
        "pkg/__init__.py": "def __getattr__(name):\n    from pkg.ext import Ext\n    return Ext\n",
        "pkg/version.py": "",
        "pkg/ext.py": "from pkg.sub.deep import thing\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/deep.py": "from pkg import VERSION\nfrom pkg.sub import sibling\n",
        "pkg/sub/sibling.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.ext\n"
            "def later():\n    import pkg.version\n"
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    modules = {
        ".".join(Path(name).with_suffix("").parts).removesuffix(".__init__"): tmp_path / name
        for name in files
    }
    saved = dict(MODULES)
    MODULES.clear()
    MODULES.update(modules)
    try:
        graph = import_graph()
    finally:
        MODULES.clear()
        MODULES.update(saved)
    assert graph == {
        "pkg": {"pkg.ext"},  # the deferred import in __getattr__
        "pkg.version": set(),
        "pkg.ext": {"pkg.sub", "pkg.sub.deep"},  # pkg.sub's __init__ runs on the way
        # `from pkg import VERSION` reads pkg's __init__; `from pkg.sub import sibling` only
        # passes through pkg.sub, which encloses deep and so has already started
        "pkg.sub": set(),
        "pkg.sub.deep": {"pkg", "pkg.sub.sibling"},
        "pkg.sub.sibling": {"pkg.version"},  # the deferred one; not the TYPE_CHECKING one
    }
    assert cycles(graph) == [["pkg", "pkg.ext", "pkg.sub.deep"]]


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


#: Process entry points besides the CLI: they own the process they run in. The fork server's
#: process (``python -m flask_safemigrate.forking.server``) gives each forked child new
#: ``sys.stdout``/``sys.stderr`` on its descriptors and ends it with ``os._exit``, as an
#: interpreter does; it prints nothing of its own.
ENTRY_POINTS = {f"{ROOT_NAME}.forking.server"}


def cli_module(module: str) -> bool:
    """The CLI edge: the click commands and their helpers, and the standalone entry points
    (``cli.py`` and its ``cli_*.py`` siblings, ``console.py``, a ``cli/`` package if it
    grows one, and :data:`ENTRY_POINTS`)."""
    return (
        module in ENTRY_POINTS
        or module == f"{ROOT_NAME}.console"
        or (
            module == f"{ROOT_NAME}.cli"
            or module.startswith((f"{ROOT_NAME}.cli.", f"{ROOT_NAME}.cli_"))
        )
    )


_EXITS = {("sys", "exit"), ("os", "_exit")}
_STREAMS = {"stdout", "stderr", "__stdout__", "__stderr__"}


def output_and_exits(module: str) -> set[str]:
    """What ``module`` does that only the CLI may: import click, print, exit the process, or
    touch the process's standard streams."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = set()
    for node in runtime_imports(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        if any(name and name.split(".")[0] == "click" for name in names):
            found.add("imports click")
        if isinstance(node, ast.ImportFrom) and node.module == "sys" and not node.level:
            imported = {alias.name for alias in node.names}
            if "exit" in imported:
                found.add("exits the process")
            if imported & _STREAMS:
                found.add("uses sys.stdout/sys.stderr")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "print":
                found.add("calls print()")
            elif node.func.id in {"exit", "quit"}:
                found.add("exits the process")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in _EXITS:
                found.add("exits the process")
            elif node.value.id == "sys" and node.attr in _STREAMS:
                found.add("uses sys.stdout/sys.stderr")
        elif isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(raised, ast.Name) and raised.id == "SystemExit":
                found.add("exits the process")
    return found


def test_nothing_below_the_cli_prints_exits_or_imports_click() -> None:
    """Below the CLI, code returns data or raises an error carrying its exit code (see the
    layers in docs/architecture.md): the commands decide what is printed and how it ends."""
    offenders = sorted(
        f"{module} {what}"
        for module in MODULES
        if not cli_module(module)
        for what in output_and_exits(module)
    )
    assert not offenders, "move this to the CLI (cli.py, cli_*.py, console.py):\n" + (
        "\n".join(offenders)
    )


def test_the_output_check_sees_each_kind(tmp_path: Path) -> None:
    source = (
        "import sys\nfrom click import echo\n"
        "def f():\n    print('x')\n    sys.stderr.write('y')\n    raise SystemExit(2)\n"
    )
    (tmp_path / "probe.py").write_text(source, encoding="utf-8")
    MODULES["probe"] = tmp_path / "probe.py"
    try:
        found = output_and_exits("probe")
    finally:
        del MODULES["probe"]
    assert found == {
        "imports click",
        "calls print()",
        "uses sys.stdout/sys.stderr",
        "exits the process",
    }
    assert output_and_exits(f"{ROOT_NAME}.report") == set()
