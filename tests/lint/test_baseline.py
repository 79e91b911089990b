"""``lint --write-baseline`` / ``--baseline``: adopting lint on an existing history in one commit.

A generated 300-revision history, every revision with findings, stands for the team adopting
lint: the baseline written once silences all of them, the next bad revision is still reported,
and an old script edited above its findings stays silenced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from flask_safemigrate.console import main
from flask_safemigrate.lint import baseline as baseline_module
from flask_safemigrate.lint import config_from, lint
from flask_safemigrate.lint.fingerprint import fingerprints
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke
from tests.support.databases import sqlite_url
from tests.support.revisions import write_revision

SAFEMIGRATE = Path(sys.executable).parent / "safemigrate"

TEMPLATE = '''"""step {n}

Revision ID: {rev}
Revises: {down}
"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = {down_literal}


def upgrade():
{body}


def downgrade():
    pass
'''


def revision_id(n: int) -> str:
    return f"{n:04d}aaaaaaaa"


def script(n: int, body: str) -> str:
    down = revision_id(n - 1) if n else None
    return TEMPLATE.format(
        n=n, rev=revision_id(n), down=down or "", down_literal=repr(down), body=body
    )


def old_body(n: int) -> str:
    """Findings of several rules; every tenth revision drops the same column twice (#0, #1)."""
    lines = [
        f'    op.drop_column("table_{n}", "legacy")',
        f'    op.create_index("ix_{n}", "table_{n}", ["owner_id"])',
    ]
    if n % 10 == 0:
        lines.append(f'    op.drop_column("table_{n}", "legacy")')
    return "\n".join(lines)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a 300-revision history that lint finds plenty in, as the working
    directory; the dialect set in pyproject.toml as a team would."""
    migrations = tmp_path / "migrations"
    versions = migrations / "versions"
    versions.mkdir(parents=True)
    (migrations / "env.py").write_text("")
    for n in range(300):
        (versions / f"{revision_id(n)}_step.py").write_text(script(n, old_body(n)))
    (tmp_path / "pyproject.toml").write_text('[tool.safemigrate.lint]\ndialect = "postgresql"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["lint", *args])


def findings_of(result: Result) -> list[dict[str, object]]:
    data = json.loads(result.stdout)
    findings: list[dict[str, object]] = data["findings"]
    return findings


def test_a_300_revision_history_adopts_lint_in_one_commit(project: Path) -> None:
    before = run("--format", "json")
    assert before.exit_code == 1
    everything = findings_of(before)
    assert len(everything) >= 900  # three or more findings per revision

    written = run("--write-baseline", "lint-baseline.json")
    assert written.exit_code == 0, written.output
    assert written.stdout.startswith(f"Recorded {len(everything)} findings (300 files) in ")
    entries = json.loads((project / "lint-baseline.json").read_text())["findings"]
    assert len(entries) == len(everything)

    quiet = run("--baseline", "lint-baseline.json")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout.splitlines() == [
        "All checks passed.",
        f"Baseline lint-baseline.json: {len(everything)} recorded findings not shown.",
    ]
    assert findings_of(run("--baseline", "lint-baseline.json", "--format", "json")) == []

    # The next revision is new: only its findings are reported, and they fail the run.
    bad = project / "migrations" / "versions" / f"{revision_id(300)}_new.py"
    bad.write_text(script(300, '    op.drop_table("accounts")'))
    new = run("--baseline", "lint-baseline.json", "--format", "json")
    assert new.exit_code == 1
    reported = findings_of(new)
    assert reported and {f["path"] for f in reported} == {str(bad.relative_to(project))}
    assert "drop-table" in {f["rule"] for f in reported}
    assert json.loads(new.stdout)["summary"]["baseline"] == {
        "file": "lint-baseline.json",
        "suppressed": len(everything),
        "stale": 0,
    }
    bad.unlink()

    # An old script edited above its findings (a docstring grown, an import added): every
    # line number below moves, and nothing is reported.
    old = project / "migrations" / "versions" / f"{revision_id(10)}_step.py"
    text = old.read_text()
    old.write_text(
        text.replace("import sqlalchemy as sa", "import sqlalchemy as sa\nimport os\n\n")
    )
    moved = run("--baseline", "lint-baseline.json", "--format", "json")
    assert moved.exit_code == 0, moved.stdout
    assert findings_of(moved) == []
    shifted = [
        f
        for f in findings_of(run("--format", "json"))
        if f["path"] == str(old.relative_to(project))
    ]
    assert shifted and all(
        f["line"] != g["line"]
        for f, g in zip(
            shifted,
            [e for e in everything if e["path"] == str(old.relative_to(project))],
            strict=True,
        )
    )


def test_only_the_new_finding_of_an_edited_script_is_reported(project: Path) -> None:
    assert run("--write-baseline", "lint-baseline.json").exit_code == 0
    old = project / "migrations" / "versions" / f"{revision_id(20)}_step.py"
    # A third identical drop: #0 and #1 stay recorded, #2 is the new one.
    old.write_text(
        old.read_text().replace(
            "\n\n\ndef downgrade",
            '\n    op.drop_column("table_20", "legacy")\n\n\ndef downgrade',
        )
    )
    result = run("--baseline", "lint-baseline.json", "--select", "drop-column", "--format", "json")
    assert [(f["rule"], f["path"]) for f in findings_of(result)] == [
        ("drop-column", str(old.relative_to(project)))
    ]


def test_fixed_findings_are_counted_as_stale_only_where_lint_looked(project: Path) -> None:
    assert run("--write-baseline", "lint-baseline.json").exit_code == 0
    fixed = project / "migrations" / "versions" / f"{revision_id(7)}_step.py"
    fixed.write_text(fixed.read_text().replace('    op.drop_column("table_7", "legacy")\n', ""))
    result = run("--baseline", "lint-baseline.json")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1].endswith(
        "; 2 entries match nothing any more (fixed or removed):"
        " `safemigrate lint --write-baseline lint-baseline.json` prunes them."
    )  # drop-column and the existence check on the same line
    # pre-commit lints the changed files only: the other 299 files' entries are not stale,
    # and the advice does not name that file (a baseline of it alone would drop the others).
    one = run("--baseline", "lint-baseline.json", str(fixed.relative_to(project)))
    assert one.stdout.splitlines()[-1] == (
        "Baseline lint-baseline.json: 3 recorded findings not shown; 2 entries match nothing"
        " any more (fixed or removed): `safemigrate lint --write-baseline lint-baseline.json`"
        " prunes them."
    )
    other = run("--baseline", "lint-baseline.json", "--select", "create-index-not-concurrently")
    assert "match nothing" not in other.stdout  # --select leaves the other rules' entries
    # Rewriting the baseline prunes them.
    assert run("--write-baseline", "lint-baseline.json").exit_code == 0
    assert "match nothing" not in run("--baseline", "lint-baseline.json").stdout


def test_the_file_is_sorted_deterministic_and_relative_to_itself(project: Path) -> None:
    (project / "ci").mkdir()
    assert run("--write-baseline", "ci/baseline.json").exit_code == 0
    first = (project / "ci" / "baseline.json").read_bytes()
    assert run("--write-baseline", "ci/baseline.json").exit_code == 0
    assert (project / "ci" / "baseline.json").read_bytes() == first
    data = json.loads(first)
    assert data["version"] == 1
    entries = data["findings"]
    keys = [(e["file"], e["rule"], e["fingerprint"]) for e in entries]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert entries[0]["file"].startswith("../migrations/versions/")
    assert all(set(e) == {"file", "rule", "fingerprint", "code", "message"} for e in entries)
    assert "line" not in first.decode()
    text = first.decode()
    assert text.count("\n") == len(entries) + 6  # one entry per line: a diff shows each
    assert not list((project / "ci").glob(".baseline.json.*"))  # no temporary file left
    # The same entries match from another working directory.
    os.chdir(project / "migrations")
    result = CliRunner().invoke(main, ["lint", ".", "--baseline", "../ci/baseline.json"])
    assert result.exit_code == 0, result.output
    assert "All checks passed." in result.stdout


def test_a_failed_write_leaves_the_old_baseline_whole(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("--write-baseline", "lint-baseline.json").exit_code == 0
    before = (project / "lint-baseline.json").read_bytes()

    def refuse(self: Path, target: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", refuse)
    result = run("--write-baseline", "lint-baseline.json", "--ignore", "drop-column")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Error: cannot write baseline lint-baseline.json: No space left on device"
    )
    assert (project / "lint-baseline.json").read_bytes() == before
    assert sorted(p.name for p in project.iterdir() if "baseline" in p.name) == [
        "lint-baseline.json"
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "Error: baseline {path} does not exist"),
        ('{"version": 1, "findings": [', "Error: baseline {path}: is not valid JSON (line 1: "),
        ('{"version": 2, "findings": []}', "Error: baseline {path}: has version 2; this"),
        ("[]", "Error: baseline {path}: is not a safemigrate lint baseline (no findings list)"),
        (
            '{"version": 1, "findings": [{"file": "a.py", "rule": "drop-column"}]}',
            "Error: baseline {path}: finding 1 needs file, rule and fingerprint",
        ),
    ],
)
def test_an_unusable_baseline_is_one_line_and_exit_2(
    project: Path, content: str | None, problem: str
) -> None:
    path = project / "base.json"
    if content is not None:
        path.write_text(content)
    for output_format in ("text", "json"):
        result = run("--baseline", "base.json", "--format", output_format)
        assert result.exit_code == 2
        assert result.exception is None or isinstance(result.exception, SystemExit)
        if output_format == "text":
            assert result.stderr.splitlines()[0].startswith(problem.format(path="base.json"))
            assert "Traceback" not in result.output
        else:
            assert json.loads(result.stdout)["exit_code"] == 2


def test_baseline_and_write_baseline_together_is_a_usage_error(project: Path) -> None:
    result = run("--baseline", "a.json", "--write-baseline", "b.json")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Error: --baseline and --write-baseline cannot be used together"
    )
    missing_dir = run("--write-baseline", "nowhere/b.json")
    assert missing_dir.exit_code == 2
    assert "no directory" in missing_dir.stderr.splitlines()[0]


def test_pyproject_names_the_baseline_relative_to_itself(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.safemigrate.lint]\ndialect = "postgresql"\nbaseline = "lint-baseline.json"\n'
    )
    missing = run()
    assert missing.exit_code == 2
    assert "lint-baseline.json does not exist" in missing.stderr
    # --write-baseline does not read the configured baseline: it is how one starts.
    assert run("--write-baseline", "lint-baseline.json").exit_code == 0
    os.chdir(project / "migrations")
    result = CliRunner().invoke(main, ["lint", "."])
    assert result.exit_code == 0, result.output
    assert "recorded findings not shown" in result.stdout
    (project / "pyproject.toml").write_text("[tool.safemigrate.lint]\nbaseline = 3\n")
    bad = CliRunner().invoke(main, ["lint", "."])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("Error: lint option baseline must be a file name, not 3")


def test_exit_code_counts_only_new_findings_at_the_threshold(project: Path) -> None:
    assert run("--write-baseline", "b.json", "--select", "drop-column").exit_code == 0
    # Warnings not in the baseline (SM302) fail at --fail-on warning, errors recorded do not.
    assert run("--baseline", "b.json", "--select", "drop-column").exit_code == 0
    warned = run("--baseline", "b.json", "--select", "drop-column,SM302", "--fail-on", "warning")
    assert warned.exit_code == 1
    assert {
        f["code"]
        for f in findings_of(
            run("--baseline", "b.json", "--select", "drop-column,SM302", "--format", "json")
        )
    } == {"SM302"}


def test_github_and_sarif_show_only_new_findings(project: Path) -> None:
    assert run("--write-baseline", "b.json").exit_code == 0
    assert run("--baseline", "b.json", "--format", "github").stdout == ""
    sarif = json.loads(run("--baseline", "b.json", "--format", "sarif").stdout)
    assert sarif["runs"][0]["results"] == []


def test_fingerprints_ignore_message_wording(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text(script(0, old_body(0)))
    report = lint([versions], config_from({"dialect": "postgresql"}), jobs=1)
    reworded = [type(f)(**{**f.__dict__, "message": f.message.upper()}) for f in report.findings]
    before = sorted(fp for fp, _ in fingerprints(report.findings, tmp_path))
    assert len(before) >= 5
    assert before == sorted(fp for fp, _ in fingerprints(reworded, tmp_path))
    assert baseline_module.VERSION == 1


# --------------------------------------------------------------------------- flask db lint


def test_flask_db_lint_writes_and_reads_a_baseline(make_app: MakeApp, tmp_path: Path) -> None:
    app: Flask = make_app(sqlite_url(tmp_path / "app.db"))
    directory = init_migrations(app)
    write_revision(directory, script(0, old_body(0)))
    path = tmp_path / "baseline.json"
    written = invoke(app, "db", "lint", "--write-baseline", str(path))
    assert written.exit_code == 0, written.output
    assert written.output.startswith("Recorded ")
    entries = json.loads(path.read_text())["findings"]
    assert entries and all(e["file"].startswith("migrations/versions/") for e in entries)
    assert invoke(app, "db", "lint", "--baseline", str(path)).exit_code == 0
    write_revision(directory, script(1, '    op.drop_table("accounts")'))
    new = invoke(app, "db", "lint", "--baseline", str(path), "--format", "json")
    assert new.exit_code == 1
    assert {f["path"].rsplit("/", 1)[-1][:4] for f in json.loads(new.stdout)["findings"]} == {
        "0001"
    }


def test_the_installed_command_end_to_end(project: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}

    def safemigrate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SAFEMIGRATE), "lint", *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=project,
            env=env,
        )

    assert safemigrate("--write-baseline", "b.json").returncode == 0
    clean = safemigrate("--baseline", "b.json")
    assert clean.returncode == 0, clean.stderr
    assert clean.stderr == ""
    corrupt = project / "b.json"
    corrupt.write_text(corrupt.read_text()[:50])
    broken = safemigrate("--baseline", "b.json")
    assert broken.returncode == 2
    assert broken.stderr.splitlines()[0].startswith("Error: baseline b.json: is not valid JSON")
    assert "Traceback" not in broken.stderr


def test_write_baseline_keeps_stdout_for_the_machine_formats(project: Path) -> None:
    result = run("--write-baseline", "b.json", "--format", "json")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("Recorded ") and '"b.json" in [tool.safemigrate.lint]' in (
        result.stderr
    )


def test_safemigrate_lint_advises_safemigrate_lint(project: Path) -> None:
    """The standalone command (pre-commit, no Flask app) names itself, with the folder it
    linted, wherever its advice is to lint again or write a baseline: `flask db lint` would
    need an app it may not have (issue #17)."""
    (project / "migrations").rename(project / "db migrations")
    folder = "'db migrations'"  # quoted for a shell, as the user can copy it
    written = run("--write-baseline", "b.json", "db migrations")
    assert written.exit_code == 0, written.output
    assert f"`safemigrate lint --baseline b.json {folder}`" in written.stdout
    missing = run("--baseline", "nope.json", "db migrations")
    assert missing.exit_code == 2
    assert missing.stderr.splitlines() == [
        "Error: baseline nope.json does not exist",
        f"  help: create it: `safemigrate lint --write-baseline nope.json {folder}`",
    ]
    (project / "bad.json").write_text("{")
    bad = run("--baseline", "bad.json", "db migrations", "--format", "json")
    assert bad.exit_code == 2
    assert json.loads(bad.stdout)["hint"] == (
        f"write it again: `safemigrate lint --write-baseline bad.json {folder}`"
    )
    unknown = run("--select", "no-such-rule", "db migrations")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[1].endswith(
        "`safemigrate lint --explain RULE` describes one"
    )
    fixed = project / "db migrations" / "versions" / f"{revision_id(7)}_step.py"
    fixed.write_text(fixed.read_text().replace('    op.drop_column("table_7", "legacy")\n', ""))
    stale = run("--baseline", "b.json", "db migrations")
    assert stale.stdout.splitlines()[-1].endswith(
        f"`safemigrate lint --write-baseline b.json {folder}` prunes them."
    )
    assert "flask db" not in written.output + missing.output + bad.output + unknown.output
    assert "flask db" not in stale.output


def test_flask_db_lint_advises_its_own_command(make_app: MakeApp, tmp_path: Path) -> None:
    app: Flask = make_app(sqlite_url(tmp_path / "app.db"))
    other = tmp_path / "other"
    invoke(app, "db", "-d", str(other), "init")
    write_revision(other, script(0, old_body(0)))
    missing = invoke(app, "db", "-d", str(other), "lint", "--baseline", "nope.json")
    assert missing.exit_code == 2
    assert missing.stderr.splitlines()[1] == (
        f"  help: create it: `flask db -d {other} lint --write-baseline nope.json`"
    )
    unknown = invoke(app, "db", "-d", str(other), "lint", "--select", "no-such-rule")
    assert f"`flask db -d {other} lint --explain RULE` describes one" in unknown.stderr
