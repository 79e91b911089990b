"""Fault injection: hostile merge messages and branch labels (issue #13, item 3).

``auto-merge-heads`` has Alembic render the project's ``script.py.mako``, which places the
message in the script's docstring. A message (or a branch label, which the default message
names) holding ``\"\"\"`` and a line break used to end the docstring and add module code that
the next ``flask db heads`` ran. Every generated file must parse to exactly what the template
puts there: the docstring, the imports, the four identifiers and two empty functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.reliability.test_hostile_ids import state_of
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke
from tests.support.merge import ROOT, MergeApp, new_scripts, rev, root, run_merge
from tests.support.merge import snapshot as scripts_of

A, B = "b1b1b1b1b1b1", "c2c2c2c2c2c2"

PAYLOAD = "import pathlib\npathlib.Path({marker!r}).touch()\n"

HOSTILE_MESSAGES = [
    'ends the docstring"""\n' + PAYLOAD + '"""',
    "ends a single-quoted one'''\n" + PAYLOAD + "'''",
    'one quote" and a line\r' + PAYLOAD,
    "a trailing backslash \\",
    "escapes Python refuses: \\N \\x \\u",
    "a NUL \x00, an ESC \x1b[2J, a line separator \u2028 and a form feed \x0c",
    "${__import__('os').system('touch MAKO')} % { } <% x = 1 %>",
    "\n::warning file=app.py,line=1::forged\n",
]


def shape(tree: ast.Module) -> list[str]:
    """The module without its docstring and its own revision id: what the template adds."""
    body = tree.body[1:]
    out = []
    for stmt in body:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == "revision"
        ):
            out.append("revision = <id>")
        else:
            out.append(ast.dump(stmt))
    return out


def merged_file(app: object, migrations: Path, *args: str) -> tuple[Path, ast.Module]:
    before = scripts_of(migrations)
    code, data, _ = run_merge(app, *args)  # type: ignore[arg-type]
    assert code == 0, data
    (written,) = new_scripts(before, migrations)
    path = migrations / "versions" / written
    return path, ast.parse(path.read_bytes())


def two_heads(migrations: Path) -> None:
    root(migrations)
    rev(migrations, A, ROOT, message="left")
    rev(migrations, B, ROOT, message="right")


@pytest.mark.parametrize("message", HOSTILE_MESSAGES)
def test_hostile_message_is_only_a_docstring(
    merge_app: MergeApp, tmp_path: Path, message: str
) -> None:
    marker = tmp_path / "PWNED"
    message = message.replace("{marker!r}", repr(str(marker)))

    reference_app, reference = merge_app()
    two_heads(reference)
    _, expected = merged_file(reference_app, reference, "-m", "benign")

    app, migrations = _second_project(merge_app, tmp_path)
    two_heads(migrations)
    path, tree = merged_file(app, migrations, "-m", message)

    assert shape(tree) == shape(expected)
    docstring = ast.get_docstring(tree, clean=False)
    assert docstring is not None
    assert docstring.startswith(message + "\n\nRevision ID: ")  # the exact text, as data
    assert "\x1b" not in path.read_text(encoding="utf-8")  # no raw control byte in the file
    result = invoke(app, "db", "heads")  # Alembic imports the new script
    assert result.exit_code == 0, result.output
    assert not marker.exists()
    assert not Path("MAKO").exists()


def _second_project(merge_app: MergeApp, tmp_path: Path) -> tuple[object, Path]:
    """merge_app builds its project under tmp_path/migrations: move the first one aside."""
    first = tmp_path / "migrations"
    first.rename(tmp_path / "reference-migrations")
    return merge_app()


@pytest.mark.parametrize(
    "label",
    ['x"""\nimport os\nos.system("id")\n"""', "feature\n::error::forged", "a'b"],
)
def test_hostile_branch_label_is_refused(merge_app: MergeApp, label: str) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, message="left", labels=[label])
    rev(migrations, B, ROOT, message="right")
    before = scripts_of(migrations)
    code, data, _ = run_merge(app)
    assert code == 3, data
    assert data["merge_revision"] is None
    assert "invalid-revision-id" in {p["check"] for p in data["problems"]}
    assert scripts_of(migrations) == before
    text = invoke(app, "db", "auto-merge-heads")
    assert text.exit_code == 3
    assert "Traceback" not in text.output
    assert not any(line.startswith("::") for line in text.output.splitlines())


def test_safe_upgrade_auto_merge_refuses_a_hostile_label(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    """During the deploy (--auto-merge), on every database: exit 3, nothing written or run."""
    app = make_app(database_url)
    migrations = tmp_path / "migrations"
    init_migrations(app)
    root(migrations)
    invoke(app, "db", "safe-upgrade")
    rev(
        migrations,
        A,
        ROOT,
        'op.add_column("users", sa.Column("age", sa.Integer()))',
        message="left",
        labels=['x"""\nimport os\n"""'],
    )
    rev(migrations, B, ROOT, message="right")
    before_files = scripts_of(migrations)
    before = state_of(database_url)
    result = invoke(app, "db", "safe-upgrade", "--auto-merge")
    assert result.exit_code == 3, result.output
    assert "invalid-revision-id" in result.output
    assert scripts_of(migrations) == before_files
    assert state_of(database_url) == before
