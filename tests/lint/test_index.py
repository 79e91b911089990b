"""The shared per-script index and the shortcuts built on it must not change a single finding.

The index (``lint/index.py``) replaces the walks each rule used to make, and
``Rule.requires`` lets the engine skip a rule on a script that lacks what the rule needs.
These tests hold both to the slow, obvious answer: over every fixture and over scripts
recombined from the fixtures' statements, under every dialect.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_safemigrate import history
from flask_safemigrate.lint import calls as calls_module
from flask_safemigrate.lint.calls import is_missing, literal, nodes_below
from flask_safemigrate.lint.engine import LintConfig, Migration, Rule, collect_files, parse
from flask_safemigrate.lint.findings import Display
from flask_safemigrate.lint.helpers.functions import migration_functions
from flask_safemigrate.lint.index import build_index, collect_calls
from flask_safemigrate.lint.registry import all_rules
from flask_safemigrate.lint.rules.correctness.missing_existence_check import (
    _chain_guards,
    _chains_suffice,
    guard_helpers,
    guard_test,
    scan,
)
from flask_safemigrate.text import display_path as _display

FIXTURES = Path(__file__).parent / "fixtures"
CONFIGS = [
    LintConfig(select=("ALL",)),
    LintConfig(select=("ALL",), dialect="postgresql"),
    LintConfig(select=("ALL",), dialect="mysql", schema="app"),
    LintConfig(select=("ALL",), dialect="sqlite", plural_tables=False),
]
SCRIPT_RULES = [rule for rule in all_rules() if rule.check is not Rule.check]


def fixture_scripts() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.py") if p.name != "unparseable-script.py")


def recombined(count: int, seed: int = 20240101) -> Iterator[str]:
    """Scripts made of the fixtures' statements in new company: a create in one fixture meets
    a guard, a batch block or an execute of another."""
    rng = random.Random(seed)
    module: list[ast.stmt] = []
    body: list[ast.stmt] = []
    helpers: list[ast.stmt] = []
    for path in fixture_scripts():
        for node in ast.parse(path.read_bytes()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name.startswith(("upgrade", "downgrade")):
                    body.extend(s for s in ast.walk(node) if isinstance(s, ast.stmt))
                    body.remove(node)
                else:
                    helpers.append(node)
            elif isinstance(node, ast.Import | ast.ImportFrom | ast.Assign):
                module.append(node)
    for number in range(count):
        parts = [f'"""recombined {number}"""']
        parts += [ast.unparse(s) for s in rng.sample(module, 6)]
        parts += [ast.unparse(s) for s in rng.sample(helpers, rng.randint(0, 2))]
        parts += [f"revision = 'r{number:04d}'", "down_revision = None"]
        for name in ("upgrade", "downgrade"):
            lines = [ast.unparse(s) for s in rng.sample(body, rng.randint(1, 10))]
            indented = "\n".join("    " + ln for text in lines for ln in text.splitlines())
            parts.append(f"def {name}():\n{indented}")
        yield "\n\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("recombined")
    paths = fixture_scripts()
    for number, text in enumerate(recombined(120)):
        path = directory / f"r{number:04d}.py"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def migrations(paths: list[Path], config: LintConfig) -> Iterator[Migration]:
    for path in paths:
        parsed = parse(path, config)
        if isinstance(parsed, Migration):
            yield parsed


def test_requires_is_only_a_shortcut(scripts: list[Path]) -> None:
    """A rule whose required facts are missing finds nothing when run anyway."""
    skipped = 0
    for config in CONFIGS:
        for migration in migrations(scripts, config):
            facts = migration.index.facts
            for rule in SCRIPT_RULES:
                if all(not required.isdisjoint(facts) for required in rule.requires):
                    continue
                skipped += 1
                found = list(rule().check(migration))
                assert not found, (rule.name, migration.path, found[0].message)
    assert skipped > 1000  # the shortcut is taken, and each time it was right


def test_hand_made_migration_finds_the_same(scripts: list[Path]) -> None:
    """Rules read the index only for the calls it found itself: a Migration given its own
    calls list takes the slow paths and must agree with the fast ones."""
    for config in CONFIGS[:2]:
        for migration in migrations(scripts, config):
            by_hand = Migration(
                path=migration.path,
                source=migration.source,
                tree=migration.tree,
                calls=list(migration.calls),
                info=migration.info,
                config=config,
            )
            assert not by_hand.own_index
            for rule in SCRIPT_RULES:
                fast = [(v.message, v.node, v.line) for v in rule().check(migration)]
                slow = [(v.message, v.node, v.line) for v in rule().check(by_hand)]
                assert fast == slow, (rule.name, migration.path)


def test_index_holds_every_call_of_each_function(scripts: list[Path]) -> None:
    for path in scripts:
        tree = ast.parse(path.read_bytes())
        index = build_index(tree)
        assert [f.node for f in index.functions] == [f for _, f in migration_functions(tree)]
        for function in index.functions:
            expected = [n for n in ast.walk(function.node) if isinstance(n, ast.Call)]
            assert sorted(map(id, function.call_nodes)) == sorted(map(id, expected))
            position = {id(node): i for i, node in enumerate(function.call_nodes)}
            for node in function.call_nodes:  # parents before children, as ast.walk
                for child in ast.walk(node):
                    if child is not node and isinstance(child, ast.Call):
                        assert position[id(child)] > position[id(node)]
        assert collect_calls(tree) == index.calls


def test_facts_name_what_the_functions_use(scripts: list[Path]) -> None:
    for path in scripts:
        tree = ast.parse(path.read_bytes())
        facts = build_index(tree).facts
        for _, function in migration_functions(tree):
            for node in ast.walk(function):
                if isinstance(node, ast.Name):
                    assert node.id in facts
                elif isinstance(node, ast.Attribute):
                    assert node.attr in facts
                elif isinstance(node, ast.keyword) and node.arg:
                    assert node.arg in facts
                    value = literal(node.value)
                    if value is True or value is False or value is None:
                        assert f"{node.arg}={value}" in facts
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    assert set(alias.name.split(".")) <= facts


def test_facts_name_each_operation() -> None:
    tree = ast.parse(
        "def upgrade():\n"
        "    with op.batch_alter_table('users') as batch_op:\n"
        "        batch_op.add_column(sa.Column('x', sa.Integer(), nullable=False))\n"
        "    conn = op.get_bind()\n"
        "    conn.execute(sa.text('select 1'))\n"
        "def downgrade():\n"
        "    op.drop_table('users')\n"
    )
    facts = build_index(tree).facts
    assert {
        "batch_op.add_column",
        "upgrade:batch_op.add_column",
        "connection.execute",
        "upgrade:connection.execute",
        "op.drop_table",
        "nullable=False",
    } <= facts
    assert "upgrade:op.drop_table" not in facts


def test_existence_checks_from_the_index_match_the_scan(scripts: list[Path]) -> None:
    """missing-existence-check reads the ``if`` statements the index recorded around each
    call instead of scanning the functions; both must see the same checks."""
    compared = 0
    for migration in migrations(scripts, LintConfig()):
        if not _chains_suffice(migration):
            continue
        from_index = _chain_guards(migration)
        aliases = calls_module.guard_aliases(migration.tree)
        helpers = guard_helpers(migration.tree, aliases)
        scanned = {}
        for _, function in migration_functions(migration.tree):
            test = guard_test(migration.tree, function, helpers, aliases)
            scanned.update({id(node): guards for node, guards in scan(function.body, test)})
        for call in migration.calls:
            if id(call.node) not in scanned:
                continue  # read through a helper of the script, which the scan does not follow
            assert from_index(call) == scanned[id(call.node)], (migration.path, call.line)
            compared += 1
    assert compared > 500


def test_nodes_below_is_ast_walk_without_contexts(scripts: list[Path]) -> None:
    leaves = (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)
    for path in scripts:
        tree = ast.parse(path.read_bytes())
        expected = [node for node in ast.walk(tree) if not isinstance(node, leaves)]
        assert list(map(id, nodes_below(tree))) == list(map(id, expected))


def reference_literal(node: ast.AST) -> object:
    """What ``literal`` answered before its shortcuts: ``literal_eval`` after the wrappers."""
    wrappers = {"op.f", "batch_op.f", "f", "sa.text", "text", "sqlalchemy.text"}
    if (
        isinstance(node, ast.Call)
        and calls_module.dotted(node.func) in wrappers
        and len(node.args) == 1
    ):
        return reference_literal(node.args[0])
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return calls_module._MISSING


def test_literal_agrees_with_literal_eval(scripts: list[Path]) -> None:
    extra = ast.parse("f(set(), set(1), op.f('x'), [1, 'a'], (None,), -1, {1}, {'a': b}, x.y)")
    nodes = [n for n in ast.walk(extra) if isinstance(n, ast.expr)]
    for path in scripts:
        nodes.extend(n for n in ast.walk(ast.parse(path.read_bytes())) if isinstance(n, ast.expr))
    for node in nodes:
        expected, got = reference_literal(node), literal(node)
        assert is_missing(expected) == is_missing(got), ast.unparse(node)
        if not is_missing(got):
            assert (type(got), got) == (type(expected), expected), ast.unparse(node)


def test_resolved_is_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.py").write_text("")
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text("")
    (real / "link.py").symlink_to(elsewhere)
    (tmp_path / "dirlink").symlink_to(real)
    monkeypatch.chdir(tmp_path)
    paths = [
        Path("real/a.py"),
        Path("real/link.py"),
        Path("dirlink/a.py"),
        Path("dirlink/link.py"),
        Path("real/../real/a.py"),
        Path("real/missing.py"),
        Path("real/.."),
        Path("nowhere/a.py"),
        real / "a.py",
    ]
    directories: dict[Path, tuple[Path, frozenset[str] | None]] = {}
    for path in paths:
        assert history.resolved(path, directories) == path.resolve(), path


def test_collect_files_leaves_out_pycache_folders_only(tmp_path: Path) -> None:
    """A folder named ``__pycache__`` is left out; a name that merely contains the word is
    not (the listing tests the path's text before its parts)."""
    versions = tmp_path / "versions"
    for folder in ("__pycache__", "x__pycache__", "__pycache__x", "sub/__pycache__", "sub"):
        (versions / folder).mkdir(parents=True, exist_ok=True)
        (versions / folder / "a1_script.py").write_text("")
    (versions / "b2_script.py").write_text("")
    files, _ = collect_files([versions])
    found = sorted(str(path.relative_to(versions.resolve())) for path in files)
    assert found == [
        "__pycache__x/a1_script.py",
        "b2_script.py",
        "sub/a1_script.py",
        "x__pycache__/a1_script.py",
    ]
    # Below a folder named __pycache__, everything is left out, however deep.
    assert collect_files([versions / "__pycache__"])[0] == []


def test_display_names_paths_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Findings name their file relative to the working directory, however it was reached."""
    inside = tmp_path / "project" / "migrations" / "versions"
    inside.mkdir(parents=True)
    (inside / "a.py").write_text("")
    outside = tmp_path / "elsewhere.py"
    outside.write_text("")
    (inside / "link.py").symlink_to(outside)
    monkeypatch.chdir(tmp_path / "project")
    display = Display()
    paths = [
        inside / "a.py",
        Path("migrations/versions/a.py"),
        Path("migrations/versions/link.py"),
        outside,
        tmp_path / "project",
    ]
    for path in paths:
        expected = _display(path)
        real = path.resolve()
        display.resolved.add(real)
        assert display(real) == _display(real)
        assert display(path) == expected, path


def test_history_rules_alone_build_no_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history rules read the revision identifiers only: a run of them alone, and the
    scripts ``only_revisions`` leaves out, never build a script's index (the walk that script
    rules share), and find the same as a run that does."""
    from flask_safemigrate.lint import engine, reading

    versions = tmp_path / "versions"
    versions.mkdir()
    for rev, down in (("a1", None), ("b2", "a1"), ("c3", "a1")):  # two heads
        (versions / f"{rev}.py").write_text(
            f'"""{rev}"""\nrevision = {rev!r}\ndown_revision = {down!r}\n\n\n'
            "def upgrade():\n    op.drop_column('t', 'c')  # safemigrate: ignore[SM999]\n\n\n"
            "def downgrade():\n    pass\n",
            encoding="utf-8",
        )
    history_only = LintConfig(select=("SM5",), report_unused_ignores=True)
    expected = engine.lint([versions], history_only, jobs=1).findings
    assert {f.code for f in expected} == {"SM501", "SM900"}  # two heads; unused ignores

    def no_index(tree: ast.Module) -> None:
        raise AssertionError("built an index")

    monkeypatch.setattr(reading, "build_index", no_index)  # where the engine reads scripts
    assert engine.lint([versions], history_only, jobs=1).findings == expected
    left_out = engine.lint([versions], LintConfig(), only_revisions=set(), jobs=1)
    assert left_out.findings == [] and left_out.facts["files"] == 0
    with pytest.raises(AssertionError, match="built an index"):
        engine.lint([versions], LintConfig(select=("SM102",)), jobs=1)


def test_call_made_is_the_dataclass_with_every_field() -> None:
    """``Call.made`` (the index's fast constructor) takes every field of ``Call``, in order,
    and makes what ``Call(...)`` makes: a field added to one and not the other fails here."""
    import dataclasses
    import inspect

    from flask_safemigrate.lint.calls import ALL_DIALECTS, Call

    names = [f.name for f in dataclasses.fields(Call)]
    assert list(inspect.signature(Call.made).parameters) == names
    node = ast.parse("op.drop_column('t', 'c')").body[0].value  # type: ignore[attr-defined]
    values = ("drop_column", "op", node, "upgrade", 1, "t", True, False, frozenset({"t"}))
    rest = ((), ALL_DIALECTS, {"x": 1}, "src")
    made, plain = Call.made(*values, *rest), Call(*values, *rest)
    assert made == plain and hash(made) == hash(plain)
    assert [getattr(made, n) for n in names] == [getattr(plain, n) for n in names]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]
