"""``lint_command``, the library function both lint commands render: its result without the CLI.

The exit code follows ``fail_on``, a written baseline exits 0 and says what it recorded, and a
baseline in the config takes its findings out of the report and the exit code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flask_safemigrate.errors import ConfigError, ExitCode
from flask_safemigrate.lint import LintConfig
from flask_safemigrate.lint.command import WRITTEN, lint_command, since_revisions
from flask_safemigrate.report import Severity
from tests.support.revisions import write_users_then_drop_email

FIRST, SECOND = "a1a1a1a1a1a1", "b2b2b2b2b2b2"


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    """Two revisions: ``FIRST`` creates a table (an unguarded op: a warning), ``SECOND``
    drops a column (SM102, an error)."""
    return write_users_then_drop_email(tmp_path / "migrations", FIRST, SECOND)


def rules(findings: object) -> list[str]:
    return sorted(f.rule for f in findings)  # type: ignore[attr-defined]


def test_an_error_finding_is_exit_1(versions: Path) -> None:
    result = lint_command([versions], LintConfig(dialect="postgresql"))
    assert result.exit_code is ExitCode.CHECKS_FAILED
    assert not result.ok
    assert "drop-column" in rules(result.report.findings)
    dropped = [f for f in result.report.findings if f.rule == "drop-column"]
    assert [(f.code, f.severity) for f in dropped] == [("SM102", Severity.ERROR)]
    assert result.report.to_dict()["summary"]["files"] == 2


def test_warnings_only_is_exit_0(versions: Path) -> None:
    result = lint_command([versions], LintConfig(dialect="postgresql"), only_revisions={FIRST})
    assert result.exit_code is ExitCode.OK
    assert result.ok
    assert {(f.rule, f.severity) for f in result.report.findings} == {
        ("missing-existence-check", Severity.WARNING)
    }


def test_the_threshold_decides_the_exit_code(versions: Path) -> None:
    config = LintConfig(dialect="postgresql", select=("drop-column",))
    assert lint_command([versions], config).exit_code is ExitCode.CHECKS_FAILED
    demoted = LintConfig(
        dialect="postgresql", select=("drop-column",), severity={"drop-column": Severity.WARNING}
    )
    result = lint_command([versions], demoted)
    assert result.exit_code is ExitCode.OK
    assert [f.severity for f in result.report.findings] == [Severity.WARNING]
    strict = LintConfig(
        dialect="postgresql",
        select=("drop-column",),
        severity={"drop-column": Severity.WARNING},
        fail_on=Severity.WARNING,
    )
    assert lint_command([versions], strict).exit_code is ExitCode.CHECKS_FAILED


def test_a_written_baseline_exits_0_and_then_silences_its_findings(
    versions: Path, tmp_path: Path
) -> None:
    config = LintConfig(dialect="postgresql")
    baseline = tmp_path / "lint-baseline.json"
    found = lint_command([versions], config).report.findings
    written = lint_command([versions], config, write_baseline=baseline)
    assert written.exit_code is ExitCode.OK
    assert written.report.facts[WRITTEN] == {"file": baseline, "findings": len(found), "files": 2}
    assert baseline.is_file()

    adopted = lint_command([versions], LintConfig(dialect="postgresql", baseline=baseline))
    assert (adopted.exit_code, adopted.report.findings) == (ExitCode.OK, [])
    assert adopted.report.facts["baseline"]["suppressed"] == len(found)


def test_a_missing_baseline_raises_its_usage_error(versions: Path, tmp_path: Path) -> None:
    config = LintConfig(dialect="postgresql", baseline=tmp_path / "nowhere.json")
    with pytest.raises(ConfigError) as error:
        lint_command([versions], config)
    assert error.value.exit_code is ExitCode.USAGE


def test_since_names_the_descendants(versions: Path) -> None:
    assert since_revisions([versions], FIRST) == {SECOND}
    with pytest.raises(ConfigError, match="--since ffffffffffff"):
        since_revisions([versions], "ffffffffffff")


def test_since_a_git_ref_names_the_scripts_it_lacks(versions: Path, tmp_path: Path) -> None:
    """``--since origin/main``: a branch's new migrations are the scripts the base lacks."""

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
        )

    second = next(path for path in versions.iterdir() if SECOND in path.read_text())
    git("init", "-q")
    git("add", "--", *(str(p) for p in versions.iterdir() if p != second))
    git("commit", "-qm", "base")
    git("tag", "v1")
    assert since_revisions([versions], "v1") == {SECOND}
    assert since_revisions([versions], FIRST) == {SECOND}  # a revision is still a revision
    with pytest.raises(ConfigError, match="--since nosuch") as raised:
        since_revisions([versions], "nosuch")
    assert "or a git ref (origin/main)" in str(raised.value.hint)
    with pytest.raises(ConfigError):
        since_revisions([versions], "--output=/tmp/x")  # never an option to git
