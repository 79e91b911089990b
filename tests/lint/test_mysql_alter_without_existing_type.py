"""SM323 reads the dialect: MySQL/MariaDB only, never a branch they do not enter.

The rule's fixture (``fixtures/mysql-alter-without-existing-type.py``) holds the forms; here,
the same script as other dialects and an unknown one see it, and what Alembic itself does
with each form the fixture marks, so the rule cannot drift from the installed Alembic.
"""

from __future__ import annotations

import ast
import io
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.util import CommandError

from flask_safemigrate.lint.engine import LintConfig, lint
from flask_safemigrate.report import Severity

RULE = "mysql-alter-without-existing-type"
SCRIPT = '''
"""rename

Revision ID: 8d3e5b0c2e43
"""
import sqlalchemy as sa
from alembic import op

revision = "8d3e5b0c2e43"
down_revision = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "mysql":
        op.alter_column("tags", "label", new_column_name="name", existing_type=sa.String(50))
    else:
        op.alter_column("tags", "label", new_column_name="name")
    if bind.dialect.name in ("mysql", "mariadb"):
        op.alter_column("tags", "slug", nullable=False)


def downgrade():
    op.alter_column("tags", "name", new_column_name="label")
'''


def _findings(tmp_path: Path, dialect: str) -> list[tuple[int, Severity]]:
    path = tmp_path / "8d3e5b0c2e43_rename.py"
    path.write_text(textwrap.dedent(SCRIPT).lstrip(), encoding="utf-8")
    report = lint([path], LintConfig(select=(RULE,), dialect=dialect))
    return [(f.line or 0, f.severity) for f in report.findings]


def test_on_mysql_only_the_branch_mysql_enters_and_the_downgrade(tmp_path: Path) -> None:
    assert _findings(tmp_path, "mysql") == [(19, Severity.ERROR), (23, Severity.WARNING)]


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_other_dialects_never_see_it(tmp_path: Path, dialect: str) -> None:
    assert _findings(tmp_path, dialect) == []


def test_an_unknown_dialect_gets_a_warning(tmp_path: Path) -> None:
    # Line 17, the else branch, is reached by every dialect but MySQL: nothing for SM323.
    assert _findings(tmp_path, "auto") == [(19, Severity.WARNING), (23, Severity.WARNING)]


def _alembic_refuses(call: ast.Call, dialect: str) -> bool:
    """Whether the installed Alembic raises for this alter_column on ``dialect`` (offline)."""
    out = io.StringIO()
    context = MigrationContext.configure(
        dialect_name=dialect, opts={"as_sql": True, "output_buffer": out}
    )
    namespace = {"op": Operations(context), "sa": sa, "OPTIONS": {"existing_type": sa.String(50)}}
    source = ast.unparse(call)
    if source.startswith("batch_op."):
        source = f"with op.batch_alter_table('tags') as batch_op:\n    {source}"
    try:
        exec(compile(source, "<fixture>", "exec"), namespace)
    except CommandError as error:
        assert "require the existing type" in str(error)
        return True
    return False


def _plain_calls(body: list[ast.stmt]) -> list[ast.Call]:
    """The alter_column calls of ``upgrade()`` that run as written: top level, or in a batch
    block that alters in place (not a dialect branch, not a ``recreate=`` block: offline
    Alembic cannot copy a table it cannot reflect)."""
    found = []
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            found.append(stmt.value)
        elif isinstance(stmt, ast.With) and not any(
            isinstance(item.context_expr, ast.Call) and item.context_expr.keywords
            for item in stmt.items
        ):
            found.extend(_plain_calls(stmt.body))
    return [c for c in found if ast.unparse(c.func).endswith("alter_column")]


@pytest.mark.parametrize("dialect", ["mysql", "mariadb"])
def test_the_fixture_marks_exactly_what_alembic_refuses(dialect: str) -> None:
    fixture = Path(__file__).parent / "fixtures" / f"{RULE}.py"
    source = fixture.read_text(encoding="utf-8")
    lines = source.splitlines()
    (upgrade,) = [
        f for f in ast.parse(source).body if isinstance(f, ast.FunctionDef) and f.name == "upgrade"
    ]
    calls = _plain_calls(upgrade.body)
    assert len(calls) >= 12
    for call in calls:
        marked = "# expect: SM323" in lines[call.lineno - 1]
        assert _alembic_refuses(call, dialect) == marked, ast.unparse(call)
