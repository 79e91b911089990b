"""Fault injection: control characters from scripts and databases in text output (item 13).

A string in a migration script, or the database's echo of a failing statement, used to reach
the terminal verbatim: a newline followed by ``::warning file=...::`` is a command GitHub
Actions acts on, and ``ESC [`` drives the terminal. Every field that comes from a script or the
database is now shown with its control characters escaped; GitHub output escapes ``%``, CR and
LF as the Actions runner decodes them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from flask_safemigrate.render import render_github
from flask_safemigrate.report import Finding, Report, Severity
from tests.reliability.test_hostile_ids import deployed, state_of
from tests.support.cli import invoke
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import REVISIONS

__all__ = ["deployed"]  # the fixture, imported for pytest

B2 = REVISIONS[1]
FORGED = "\n::warning file=app.py,line=1::forged by a script\n"
ESCAPES = "\x1b[2J\x1b]0;pwned\x07"
#: A workflow command is a line that starts with `::` once leading space is trimmed.
COMMAND = re.compile(r"^\s*::", re.MULTILINE)


def assert_inert(output: str) -> None:
    assert not COMMAND.search(output), output
    assert "\x1b" not in output and "\x07" not in output, output
    assert "\r" not in output


def script(body: str, message: str) -> str:
    """The revision on top of b2 whose upgrade is ``body`` (one line) and message ``message``."""
    return revision_script("c3ctrl", B2, body, message=message)


def test_failing_statement_and_script_message_cannot_forge_lines(
    deployed: tuple[Any, Path, str],
) -> None:
    """The database echoes the failing SQL (with its newlines); the script message has ESC."""
    app, migrations, url = deployed
    # a quoted name the database does not know: its error message echoes the name, newline too
    sql = f'INSERT INTO "no_such_table{FORGED}" (id) VALUES (1)'
    write_revision(
        migrations,
        script(f"op.execute(sa.text({sql!r}))", f"add things {ESCAPES}"),
        filename="c3ctrl.py",
    )
    outputs = {}
    for command in (("safe-upgrade", "--skip-lint"), ("verify",)):
        result = invoke(app, "db", *command)
        assert result.exit_code == (4 if command[0] == "safe-upgrade" else 1), result.output
        assert "Traceback" not in result.output
        assert_inert(result.output)
        outputs[command[0]] = result.output
    # what the script and the database said is still shown, escaped, so it can be read
    assert "no_such_table" in outputs["safe-upgrade"]
    assert "add things \\x1b[2J" in outputs["safe-upgrade"]
    assert state_of(url)["tables"]["alembic_version"] == [(B2,)]


@pytest.mark.parametrize(
    "db_kind", [pytest.param("sqlite", marks=pytest.mark.sqlite)], indirect=True
)
def test_lint_names_from_a_script_cannot_forge_lines(deployed: tuple[Any, Path, str]) -> None:
    app, migrations, _ = deployed
    table = f"old{FORGED}{ESCAPES}"
    write_revision(migrations, script(f"op.drop_table({table!r})", "drop"), filename="c3ctrl.py")
    text = invoke(app, "db", "lint", str(migrations))
    assert text.exit_code == 1, text.output
    assert "SM" in text.output and "\\n::warning file=app.py" in text.output
    assert_inert(text.output)
    github = invoke(app, "db", "lint", "--format", "github", str(migrations))
    lines = github.output.strip().splitlines()
    assert lines and all(re.match(r"::(error|warning|notice) ", line) for line in lines)
    assert not any("::forged" in line.split("::", 2)[1] for line in lines)
    assert "\x1b" not in github.output


def test_github_escapes_percent_cr_lf_in_message_and_properties() -> None:
    finding = Finding(
        rule="drop-table",
        severity=Severity.ERROR,
        message="100% gone\r\n::warning::x",
        code="SM101",
        path="a,b:c%.py",
        line=3,
        details=("detail\x1b[1m",),
    )
    [line] = render_github(Report("lint", [finding])).splitlines()
    assert line.startswith("::error file=a%2Cb%3Ac%25.py,line=3,title=SM101 drop-table::")
    assert "100%25 gone%0D%0A::warning::x%0Adetail\\x1b[1m" in line
