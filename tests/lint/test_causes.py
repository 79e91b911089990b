"""False-positive causes seen on real histories, each with a minimal fixture of its own.

A fixture is ``fixtures/causes/<cause>.py``: the forms that used to be misjudged, unmarked
(they must produce nothing), and the forms that are still real problems, marked inline with
``# expect: SMnnn``. ``# lint-select:`` names the rules the fixture is about (a comma list of
names, codes or code prefixes), ``# lint-dialect:`` the dialect (default: unknown).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from flask_safemigrate.console import main
from flask_safemigrate.lint.engine import LintConfig, lint
from flask_safemigrate.lint.options import resolve
from flask_safemigrate.settings import Settings
from tests.lint.test_rules import expected

CAUSES = Path(__file__).parent / "fixtures" / "causes"
SELECT = re.compile(r"#\s*lint-select:\s*(.+)")
#: Causes judged against a given SQLAlchemy (the project's pin), not the installed one.
SQLALCHEMY = {"sqlalchemy-1x-project": "1.4"}


def selected(path: Path) -> tuple[str, ...]:
    match = SELECT.search(path.read_text())
    assert match, f"{path} has no `# lint-select:` line"
    return tuple(s.strip() for s in match[1].split(",") if s.strip())


def lint_cause(path: Path, dialect: str | None = None) -> list[tuple[int, str, str, str]]:
    _, fixture_dialect = expected(path)
    config = LintConfig(
        select=selected(path),
        dialect=dialect or fixture_dialect,
        sqlalchemy=SQLALCHEMY.get(path.stem),
    )
    report = lint([path], config)
    return [(f.line or 0, f.code or "", str(f.severity), f.message) for f in report.findings]


@pytest.mark.parametrize("path", sorted(CAUSES.glob("*.py")), ids=lambda p: p.stem)
def test_cause_fixture(path: Path) -> None:
    marks, _ = expected(path)
    assert marks, f"{path} marks no expected finding: show the real problem next to the safe forms"
    found = {(path.name, line, code) for line, code, _, _ in lint_cause(path)}
    assert found == marks


def test_downgrade_findings_say_so() -> None:
    findings = lint_cause(CAUSES / "downgrade.py")
    downgrade_start = next(
        n
        for n, line in enumerate((CAUSES / "downgrade.py").read_text().splitlines(), 1)
        if line.startswith("def downgrade")
    )
    for line, code, severity, message in findings:
        in_downgrade = line > downgrade_start
        assert message.startswith("in downgrade(): ") == in_downgrade, message
        # upgrade() findings keep their rule's severity (drop-foreign-key is information)
        upgrade_severity = "info" if code == "SM111" else "error"
        assert severity == ("warning" if in_downgrade else upgrade_severity), message


def test_dialect_branches_for_one_configured_dialect() -> None:
    path = CAUSES / "dialect-branch.py"
    by_dialect = {
        d: {(line, code) for line, code, _, _ in lint_cause(path, d)}
        for d in ("postgresql", "mysql", "sqlite")
    }
    assert by_dialect["sqlite"] == {(57, "SM308")}
    assert by_dialect["mysql"] == set()
    assert by_dialect["postgresql"] == {(59, "SM203"), (65, "SM203")}


def test_unknown_dialect_caps_dialect_findings_at_warning() -> None:
    findings = lint_cause(CAUSES / "dialect-branch.py")
    assert findings and {severity for _, _, severity, _ in findings} == {"warning"}
    sqlite = lint_cause(CAUSES / "dialect-branch.py", "sqlite")
    assert {severity for _, _, severity, _ in sqlite} == {"error"}


SCRIPT = '''"""widen users.email"""
from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None


def upgrade():
    op.alter_column("users", "email", type_=sa.String(200))
    op.create_index("ix_users_email", "users", ["email"])
    if op.get_bind().dialect.name == "sqlite":
        op.drop_column("users", "nickname")


def downgrade():
    pass
'''


def run_console(tmp_path: Path, ini: str, *args: str) -> tuple[int, str]:
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "alembic.ini").write_text(ini)
    (migrations / "versions" / "a1_widen.py").write_text(SCRIPT)
    result = CliRunner().invoke(
        main,
        ["lint", str(migrations), "--select", "SM102,SM203,SM308", *args],
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def test_dialect_comes_from_alembic_ini(tmp_path: Path) -> None:
    ini = "[alembic]\nscript_location = %(here)s\nsqlalchemy.url = postgresql+psycopg://app:s3cret@db/app\n"
    code, output = run_console(tmp_path, ini, "--format", "json")
    data = json.loads(output)
    assert code == 1
    assert [(f["code"], f["severity"]) for f in data["findings"]] == [("SM203", "error")]
    assert "hint" not in data["summary"]
    assert "s3cret" not in output


def test_dialect_comes_from_pyproject(tmp_path: Path) -> None:
    """`[tool.safemigrate.lint] dialect` in the project's pyproject.toml is the dialect judged
    (issue #14, "infer the dialect where the project says it"): the PostgreSQL finding is an
    error, the SQLite branch's are not reported, and no hint asks for a dialect."""
    (tmp_path / "pyproject.toml").write_text('[tool.safemigrate.lint]\ndialect = "postgresql"\n')
    code, output = run_console(tmp_path, "[alembic]\n", "--format", "json")
    data = json.loads(output)
    assert code == 1
    assert [(f["code"], f["severity"]) for f in data["findings"]] == [("SM203", "error")]
    assert "hint" not in data["summary"]


def test_unknown_dialect_says_how_to_set_it(tmp_path: Path) -> None:
    code, output = run_console(
        tmp_path, "[alembic]\nsqlalchemy.url = driver://user:pass@localhost/dbname\n"
    )
    assert code == 0, output  # nothing dialect-specific is an error while the dialect is unknown
    assert "SM308" in output and "SM203" in output and "SM102" in output
    summary = output.strip().splitlines()[-1]
    assert "dialect is unknown" in summary and "--dialect" in summary
    assert "[tool.safemigrate.lint]" in summary
    code, output = run_console(tmp_path / "b", "[alembic]\n", "--dialect", "postgresql")
    assert code == 1 and "SM308" not in output and "SM102" not in output
    assert "dialect is unknown" not in output


def test_sqlite_batch_check_constraint_is_not_flagged_on_sqlite() -> None:
    """Batch mode rebuilds a SQLite table for any constraint: there is no lock-free form."""
    path = Path(__file__).parent / "fixtures" / "add-check-constraint-validating.py"
    config = LintConfig(select=("SM208",), dialect="sqlite")
    on_sqlite = {f.line for f in lint([path], config).findings}
    everywhere = {f.line for f in lint([path], LintConfig(select=("SM208",))).findings}
    assert 21 in everywhere and 21 not in on_sqlite  # batch_op.create_check_constraint
    assert everywhere - {21} <= on_sqlite  # the other forms still are


def test_mysql_indexes_foreign_keys_itself() -> None:
    """InnoDB creates an index for a foreign key that has none: nothing to report on MySQL."""
    path = Path(__file__).parent / "fixtures" / "foreign-key-without-index.py"
    for dialect, count in (("mysql", 0), ("postgresql", 5), ("sqlite", 5)):
        config = LintConfig(select=("SM404",), dialect=dialect)
        assert len(lint([path], config).findings) == count, dialect


def test_loops_and_helpers_name_each_object() -> None:
    messages = [message for _, code, _, message in lint_cause(CAUSES / "helpers-and-loops.py")]
    assert any("accounts.fax" in m for m in messages)
    assert any("accounts.pager" in m for m in messages)
    assert not any("accounts.column" in m for m in messages)


def test_messages_name_the_real_object() -> None:
    messages = [m for _, _, _, m in lint_cause(CAUSES / "object-names.py")]
    assert "drops table `table`," in messages[0]
    assert "creates index ix_users_k on users" in messages[1]
    assert "drops column `tenant_tables()[0]`.datasource_name" in messages[2]
    assert not any("?" in m for m in messages)


def test_sqlalchemy_1x_project_gets_warnings_not_errors() -> None:
    path = CAUSES / "sqlalchemy-1x-project.py"
    marks, dialect = expected(path)
    by_version = {}
    for version in ("1.4", "1.3", "2.0"):
        config = LintConfig(select=selected(path), dialect=dialect, sqlalchemy=version)
        by_version[version] = lint([path], config).findings
    for version in ("1.4", "1.3"):
        found = by_version[version]
        assert {(path.name, f.line, f.code) for f in found} == marks
        assert {str(f.severity) for f in found} == {"warning"}
        for f in found:
            assert f"runs on SQLAlchemy {version}" in f.message
            assert "breaks when you move to SQLAlchemy 2" in f.message
    assert {(path.name, f.line, f.code) for f in by_version["2.0"]} == marks
    assert {str(f.severity) for f in by_version["2.0"]} == {"error"}
    assert not any("runs on SQLAlchemy" in f.message for f in by_version["2.0"])


def test_sqlalchemy_setting_from_pyproject(tmp_path: Path) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "a1.py").write_text(
        (CAUSES / "sqlalchemy-1x-project.py").read_text().replace("9bffffffffff", "")
    )
    args = ["lint", str(tmp_path / "migrations"), "--select", "SM320", "--dialect", "postgresql"]
    (tmp_path / "pyproject.toml").write_text('[tool.safemigrate.lint]\nsqlalchemy = "1.4"\n')
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output  # warnings only
    assert "SM320" in result.output and "SQLAlchemy 1.4" in result.output
    (tmp_path / "pyproject.toml").write_text('[tool.safemigrate.lint]\nsqlalchemy = "2.0"\n')
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    (tmp_path / "pyproject.toml").write_text('[tool.safemigrate.lint]\nsqlalchemy = "soon"\n')
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert "sqlalchemy" in result.output and "Traceback" not in result.output


def test_sqlalchemy_setting_from_flask_config() -> None:
    settings = Settings.from_mapping({"SAFEMIGRATE_LINT_SQLALCHEMY": " 1.4.52 "})
    config = resolve({}, settings=settings, search_from=CAUSES)
    assert config.sqlalchemy == "1.4"
    assert config.sqlalchemy_version == (1, 4)


def test_sqlalchemy_default_is_the_installed_one() -> None:
    import sqlalchemy

    major, minor = (int(part) for part in sqlalchemy.__version__.split(".")[:2])
    assert LintConfig().sqlalchemy_version == (major, minor)
    assert LintConfig(sqlalchemy="1.4").sqlalchemy_version == (1, 4)


def test_swallowed_drop_of_every_error_is_a_warning_and_a_create_an_error() -> None:
    findings = lint_cause(CAUSES / "deliberate-if-exists.py", "postgresql")
    severities = {line: severity for line, _, severity, _ in findings}
    text = (CAUSES / "deliberate-if-exists.py").read_text().splitlines()
    database = next(n for n, line in enumerate(text, 1) if "OperationalError" in line)
    assert severities.pop(database) == "warning"
    assert set(severities.values()) == {"error"}
    message = next(m for line, _, _, m in findings if line == database)
    assert "object still there" in message


def test_alter_column_default_mirror_is_a_warning_and_a_typo_an_error() -> None:
    findings = lint_cause(CAUSES / "noop-kwarg-harmless.py")
    by_keyword = {
        message.split("keyword ")[1].split("=")[0]: sev for _, _, sev, message in findings
    }
    assert by_keyword == {"default": "warning", "type": "error"}


ENV_AUTOCOMMIT = """from alembic import context
from sqlalchemy import create_engine

url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url, isolation_level="AUTOCOMMIT")
with engine.connect() as connection:
    context.configure(connection=connection)
    context.run_migrations()
"""
ENV_EXECUTION_OPTIONS = """from alembic import context

connectable = context.config.attributes["connection"]
with connectable.execution_options(**{"isolation_level": "AUTOCOMMIT"}) as connection:
    context.configure(connection=connection)
    context.run_migrations()
"""
ENV_TRANSACTION = ENV_AUTOCOMMIT.replace(', isolation_level="AUTOCOMMIT"', "").replace(
    "context.run_migrations()",
    "with context.begin_transaction():\\n        context.run_migrations()",
)


@pytest.mark.parametrize(
    ("env", "reported"),
    [(ENV_AUTOCOMMIT, False), (ENV_EXECUTION_OPTIONS, False), (ENV_TRANSACTION, True)],
    ids=["isolation-level", "execution-options", "transaction"],
)
def test_env_py_autocommit_makes_concurrently_fine(
    tmp_path: Path, env: str, reported: bool
) -> None:
    fixture = CAUSES / "env-autocommit.py"
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "migrations" / "env.py").write_text(env)
    script = versions / fixture.name
    script.write_text(fixture.read_text())
    marks, dialect = expected(fixture)
    config = LintConfig(select=selected(fixture), dialect=dialect)
    found = {
        (Path(f.path or "").name, f.line, f.code)
        for f in lint([tmp_path / "migrations"], config).findings
    }
    assert found == (marks if reported else set())


ENV_DELEGATING = """from alembic import context

from myproject.storage import run_migrations_offline, run_migrations_online

if context.is_offline_mode():
    run_migrations_offline(context, context.config)
else:
    run_migrations_online(context, context.config)
"""


def test_env_py_that_hands_the_run_to_the_project_makes_concurrently_a_warning(
    tmp_path: Path,
) -> None:
    """An ``env.py`` that never calls ``context.run_migrations()`` runs the migrations in
    code lint does not read (a real history opens an AUTOCOMMIT connection there): whether
    a transaction refuses CONCURRENTLY is unknown, so the finding is a warning saying so."""
    fixture = CAUSES / "env-autocommit.py"
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "migrations" / "env.py").write_text(ENV_DELEGATING)
    (versions / fixture.name).write_text(fixture.read_text())
    marks, dialect = expected(fixture)
    config = LintConfig(select=selected(fixture), dialect=dialect)
    findings = lint([tmp_path / "migrations"], config).findings
    assert {(Path(f.path or "").name, f.line, f.code) for f in findings} == marks
    assert {f.severity.value for f in findings} == {"warning"}
    assert all(
        "env.py does not call context.run_migrations() itself" in f.message for f in findings
    )


def test_create_if_not_exists_severity() -> None:
    """A create catching only the database's error classes is a warning (its "already
    exists" shares them with a lock timeout); every error swallowed, Alembic's errors around
    a create, and an alter stay errors."""
    path = CAUSES / "create-if-not-exists.py"
    lines = path.read_text().splitlines()
    found = [
        (lines[line - 1].strip(), severity, message)
        for line, _, severity, message in lint_cause(path)
    ]
    assert [(text, severity) for text, severity, _ in found] == [
        ("except OperationalError:  # expect: SM318", "warning"),
        ("except (OperationalError, ProgrammingError):  # expect: SM318", "warning"),
        ("except Exception:  # expect: SM318", "error"),
        ("except ValueError:  # expect: SM318", "error"),
        ("except OperationalError:  # expect: SM318", "error"),
    ]
    assert "being there already (a lock timeout)" in found[0][2]
    assert "recorded as applied with the operation missing" in found[-1][2]


def test_one_statement_is_one_drop_table_finding() -> None:
    """A loop over literal names (or a helper called with several) reaches one
    ``op.drop_table`` once per name: one finding per statement, naming every table, so the
    reader meets one line once (it was one finding per table, eleven on one line of a real
    history)."""
    findings = [
        (line, m) for line, code, _, m in lint_cause(CAUSES / "one-statement-many-tables.py")
    ]
    by_line: dict[int, list[str]] = {}
    for line, message in findings:
        by_line.setdefault(line, []).append(message)
    assert sorted(len(messages) for messages in by_line.values()) == [1, 1, 1], by_line
    messages = {m for ms in by_line.values() for m in ms}
    assert any(
        "drops 3 tables (this statement runs once for each: report_runs, report_cells,"
        " report_owners), losing their rows for good and breaking servers that still run code"
        " using them" in m
        for m in messages
    ), messages
    assert any("drops 2 tables" in m and "chart_cache, chart_thumbnails" in m for m in messages)
    # Only the table the upgrade did not create: the single-table message.
    assert any(m.startswith("drops table report_exports, losing its rows") for m in messages)
    assert not any("report_tmp" in m for m in messages)
