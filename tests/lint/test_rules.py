"""Every rule against its fixture: expected findings are marked inline with ``# expect: SMnnn``.

A fixture is ``fixtures/<rule-name>.py`` (or a directory of scripts for history rules). It holds
the bad forms, each marked on the line the finding points at, and the "use instead" forms,
unmarked, which must produce nothing. A ``# lint-dialect: postgresql`` line sets the dialect,
a ``# lint-schema: app`` line the configured schema, ``# lint-plural-tables: true`` the
``plural-tables`` setting.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flask_safemigrate.lint.engine import LintConfig, lint, rule_docs
from flask_safemigrate.lint.registry import all_rules

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")
DIALECT = re.compile(r"#\s*lint-dialect:\s*(\w+)")
SCHEMA = re.compile(r"#\s*lint-schema:\s*(\w+)")
PLURAL_TABLES = re.compile(r"#\s*lint-plural-tables:\s*(true|false)")
SECTIONS = ("## What it does", "## Why it matters", "## Example", "## Use instead")


def fixture_path(name: str) -> Path:
    directory = FIXTURES / name
    return directory if directory.is_dir() else FIXTURES / f"{name}.py"


def expected(path: Path) -> tuple[set[tuple[str, int, str]], str]:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    marks: set[tuple[str, int, str]] = set()
    dialect = "auto"
    for file in files:
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), start=1):
            if match := EXPECT.search(line):
                marks.update((file.name, number, code.strip()) for code in match[1].split(","))
            if match := DIALECT.search(line):
                dialect = match[1]
    return marks, dialect


def fixture_schema(path: Path) -> str | None:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for file in files:
        if match := SCHEMA.search(file.read_text(errors="replace")):
            return match[1]
    return None


def fixture_plural_tables(path: Path) -> bool | None:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for file in files:
        if match := PLURAL_TABLES.search(file.read_text(errors="replace")):
            return match[1] == "true"
    return None


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.name)
def test_rule_fixture(rule: type) -> None:
    path = fixture_path(rule.name)
    assert path.exists(), f"no fixture for {rule.name}: add {path}"
    marks, dialect = expected(path)
    assert marks, f"{path} marks no expected finding"
    config = LintConfig(
        select=(rule.name,),
        dialect=dialect,
        schema=fixture_schema(path),
        plural_tables=fixture_plural_tables(path),
    )
    report = lint([path], config)
    found = {(Path(f.path or "").name, f.line or 0, f.code or "") for f in report.findings}
    assert found == marks


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.name)
def test_rule_metadata(rule: type) -> None:
    assert re.fullmatch(r"SM[1-5]\d\d", rule.code)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.name)
    family = {"1": "destructive", "2": "locking", "3": "correctness", "4": "conventions"}
    # One rule per file: lint/rules/<family>/<rule_name>.py
    *_, family_package, module = rule.__module__.split(".")
    assert family.get(rule.code[2], "history_graph") == family_package
    assert module == rule.name.replace("-", "_")
    docs = rule_docs(rule)
    assert docs.splitlines()[0].strip(), "the first docstring line summarises the rule"
    positions = [docs.find(section) for section in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), f"{rule.name}: {SECTIONS}"
    assert rule.fix, "a one-line `fix` for the text output's help line"


def test_codes_and_names_are_unique() -> None:
    rules = all_rules()
    assert len({r.code for r in rules}) == len(rules)
    assert len({r.name for r in rules}) == len(rules)


def test_missing_existence_check_help_names_the_guard_for_that_op(tmp_path: Path) -> None:
    """The help names the guard that fits the op (it said ``guards.table_missing`` for all)."""
    script = tmp_path / "a1_ops.py"
    script.write_text(
        '"""ops\n\nRevision ID: a1\n"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        "revision = 'a1'\ndown_revision = None\n\n\ndef upgrade():\n"
        "    op.add_column('orders', sa.Column('ref', sa.String(20)))\n"
        "    op.create_unique_constraint('uq_orders_ref', 'orders', ['ref'])\n\n\n"
        "def downgrade():\n    op.drop_column('orders', 'ref')\n"
    )
    report = lint([script], LintConfig(select=("missing-existence-check",)))
    helps = {f.line: f.help for f in report.findings}
    assert helps == {
        13: "wrap it in `if guards.column_missing('orders', 'ref'):`"
        " (from flask_safemigrate import guards) or, on PostgreSQL and MariaDB only (SQLite and"
        " MySQL reject it), pass if_not_exists=True",
        14: "wrap it in `if guards.unique_missing('orders', 'uq_orders_ref'):`"
        " (from flask_safemigrate import guards)",
        18: "wrap it in `if guards.column_exists('orders', 'ref'):`"
        " (from flask_safemigrate import guards) or, on PostgreSQL and MariaDB only (SQLite and"
        " MySQL reject it), pass if_exists=True",
    }


def test_unnamed_constraint_help_gives_a_name_of_the_right_kind(tmp_path: Path) -> None:
    """A foreign key's help suggested the name of a unique constraint (a newcomer's trial)."""
    script = tmp_path / "a1_fk.py"
    script.write_text(
        'revision = "a1"\ndown_revision = None\n\n\ndef upgrade():\n'
        '    op.create_foreign_key(None, "orders", "users", ["user_id"], ["id"])\n'
        '    op.create_unique_constraint(None, "users", ["email"])\n'
        '    op.add_column("users", sa.Column("nick", sa.String(9), unique=True))\n',
        encoding="utf-8",
    )
    report = lint([tmp_path], LintConfig(select=("unnamed-constraint",)))
    helps = [f.help for f in sorted(report.findings, key=lambda f: f.line or 0)]
    assert len(helps) == 3
    assert '"fk_orders_COLUMN_OTHERTABLE"' in str(helps[0])
    assert '"uq_users_COLUMN"' in str(helps[1]) and '"uq_users_COLUMN"' in str(helps[2])


def _one_script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "a1_change.py"
    script.write_text(
        '"""change\n\nRevision ID: a1\n"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = 'a1'\ndown_revision = None\n\n\ndef upgrade():\n    {body}\n\n\n"
        "def downgrade():\n    pass\n"
    )
    return script


@pytest.mark.parametrize(
    ("dialect", "starts"),
    [
        ("postgresql", "PostgreSQL: add CHECK (col IS NOT NULL) NOT VALID"),
        ("auto", "PostgreSQL: add CHECK (col IS NOT NULL) NOT VALID"),
        ("mysql", "MySQL/MariaDB: backfill the NULLs first; the change rebuilds the table"),
        ("sqlite", "SQLite: backfill the NULLs first; batch_alter_table copies the table"),
    ],
)
def test_set_not_null_help_is_the_known_dialect_s(
    tmp_path: Path, dialect: str, starts: str
) -> None:
    """SM202's help gave PostgreSQL's NOT VALID recipe on MariaDB too."""
    script = _one_script(
        tmp_path, "op.alter_column('users', 'email', existing_type=sa.String(50), nullable=False)"
    )
    report = lint([script], LintConfig(select=("set-not-null",), dialect=dialect))
    (finding,) = report.findings
    help_text = finding.help or ""
    assert help_text.startswith(starts), help_text
    if dialect in ("mysql", "sqlite"):
        assert "NOT VALID" not in help_text and "PostgreSQL" not in help_text


@pytest.mark.parametrize(
    ("old", "new", "fits"),
    [
        ("sa.Numeric(10, 2)", "sa.Numeric(12, 4)", True),  # 8 integer digits, more decimals
        ("sa.Numeric(10, 2)", "sa.Numeric(10, 4)", False),  # 8 -> 6 integer digits
        ("sa.Numeric(10, 4)", "sa.Numeric(12, 2)", False),  # decimals lost
        ("sa.Integer()", "sa.BigInteger()", True),
        ("sa.BigInteger()", "sa.Integer()", False),
        ("sa.Integer()", "sa.Numeric(5, 0)", False),  # another family: not judged
        ("sa.String(50)", "sa.String(20)", False),
    ],
)
def test_alter_column_type_says_values_are_at_risk_only_when_they_may_not_fit(
    tmp_path: Path, old: str, new: str, fits: bool
) -> None:
    """SM105 said "can fail on or alter existing values" for Numeric(10,2) -> Numeric(12,4),
    which holds every old value; it judges as the release check does (type_fit)."""
    script = _one_script(
        tmp_path, f"op.alter_column('prices', 'amount', type_={new}, existing_type={old})"
    )
    report = lint([script], LintConfig(select=("alter-column-type",), dialect="postgresql"))
    (finding,) = report.findings
    assert finding.extra.get("values_at_risk") is (not fits), finding
    if fits:
        assert "rewrites the table under an exclusive lock" in finding.message
        assert "(every existing value fits the new type)" in finding.message
        assert "can fail" not in finding.message
    else:
        assert "can fail on or alter existing values" in finding.message
