"""``flask db safe-upgrade --sql``: stdout holds only SQL (issue #17, item 6), and nothing it
says claims a state of the database, which it never reads.

A deploy pipes it into a file or ``psql``: whatever is not SQL (lint's findings, the refusal of
a bad revision or a broken history, a script that raises while its SQL is written, the summary)
goes to stderr, with the same exit codes; stdout is exactly the SQL, or empty when none was
written. The database is never read with ``--sql``, so these hold on every dialect's SQL.
"""

from __future__ import annotations

from pathlib import Path

import click.testing
import pytest
from flask import Flask

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import REVISIONS, models, seed_legacy_table
from tests.upgrade.test_parity import other_directory


def _sql(app: Flask, other: Path, *args: str) -> click.testing.Result:
    return invoke(app, "db", "-d", str(other), "safe-upgrade", *args, "--sql")


def _refused(result: click.testing.Result, code: int, *words: str) -> None:
    """Exit ``code``, nothing on stdout, the report (``words`` in it) on stderr."""
    assert result.exit_code == code, result.output
    assert result.stdout == "", f"stdout must hold only SQL:\n{result.stdout}"
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    assert "Traceback" not in result.output


def test_stdout_holds_only_sql_whatever_the_outcome(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path, count=2)

    # Success: exactly what `flask db upgrade --sql` prints, lint's notes on stderr.
    plain = invoke(app, "db", "-d", str(other), "upgrade", "--sql")
    assert plain.exit_code == 0, plain.output
    result = _sql(app, other)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip("\n") == plain.stdout.rstrip("\n")

    # Refused by lint (exit 3): its findings, how to go on, and the summary, on stderr.
    write_revision(other, revision_script("f1000000drop", REVISIONS[1], "op.drop_table('widgets')"))
    _refused(
        _sql(app, other, f"{REVISIONS[1]}:head"),
        3,
        "drop-table",
        "pass --skip-lint to write its SQL anyway",
        "safe-upgrade --sql stopped in stage preflight (exit 3)",
    )

    # A revision that does not exist (exit 2), as destination or as START.
    _refused(_sql(app, other, "nosuch"), 2, "Error: cannot upgrade to 'nosuch'")
    _refused(_sql(app, other, "nosuch:head"), 2, "Error: cannot start the SQL at 'nosuch'")

    # A broken history: a second head (exit 3).
    write_revision(other, revision_script("f2000000head", REVISIONS[0]))
    _refused(_sql(app, other, "--skip-lint"), 3, "multiple-heads", "position not read")
    (other / "versions" / "f2000000head_test.py").unlink()

    # A script that raises while its SQL is written (exit 4): no SQL at all, not half of it.
    write_revision(other, revision_script("f3000000boom", "f1000000drop", "not_defined()"))
    _refused(
        _sql(app, other, "--skip-lint"),
        4,
        "NameError",
        "safe-upgrade --sql stopped writing the SQL (stage upgrade, exit 4)",
    )


def test_sql_from_base_claims_nothing_about_the_database(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    """Without START the SQL is for an empty database, which lint says, but the database is
    not read: no "the database has no tables yet", and JSON ``current`` is unknown (null)."""
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path, count=2)
    write_revision(
        other, revision_script("f1000000drop", REVISIONS[1], "op.drop_column('widgets', 'name')")
    )
    seed_legacy_table(database_url)  # the database has a table: it must not matter

    result = _sql(app, other)
    assert result.exit_code == 0, result.output
    assert "ALTER TABLE widgets DROP COLUMN name" in result.stdout
    (drop,) = [line for line in result.stderr.splitlines() if "SM102 [drop-column]" in line]
    assert "harmless here: the SQL starts at base, for an empty database" in drop
    assert "--sql does not read the database" in drop
    assert "no tables" not in result.output

    code, data, _ = invoke_json(
        app, "db", "-d", str(other), "safe-upgrade", "--sql", "--format", "json"
    )
    assert code == 0, data
    assert data["from"] == [] and data["current"] is None, data
    (problem,) = [p for p in data["problems"] if p["check"] == "drop-column"]
    assert problem["severity"] == "info" and "--sql does not read" in problem["message"]

    # From START, lint judges the range as it stands: the drop blocks, worded for --sql.
    code, data, _ = invoke_json(
        app, "db", "-d", str(other), "safe-upgrade", f"{REVISIONS[1]}:head", "--sql",
        "--format", "json",
    )  # fmt: skip
    assert code == 3, data
    assert data["from"] == [REVISIONS[1]] and data["current"] is None, data


def test_the_findings_that_never_block_are_listed_on_stderr(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    """As ``--dry-run`` lists them: pre-flight's lint line and the downgrade()/review findings
    it counts, one line each, on stderr; stdout stays the SQL."""
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path, count=2)
    write_revision(
        other,
        revision_script(
            "f1000000down", REVISIONS[1], "pass", "op.drop_table('widgets')", message="undo"
        ),
    )
    result = _sql(app, other)
    assert result.exit_code == 0, result.output
    assert "preflight" not in result.stdout and "SM" not in result.stdout, result.stdout
    lines = result.stderr.splitlines()
    (counted,) = [line for line in lines if line.startswith("preflight: lint: ")]
    assert "1 finding about downgrade() or for review (never blocking, listed below)" in counted
    listed = lines[lines.index(counted) + 1]
    assert listed.startswith("  ") and "f1000000down" in listed, listed
    assert "[missing-existence-check] in downgrade(): drops table widgets" in listed, listed


def test_a_range_that_raises_keeps_stdout_for_sql_and_the_range_in_its_advice(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    """START:END takes the same path as a plain --sql: exit 4, the report on stderr, and the
    rerun it suggests is the user's own range."""
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path, count=2)
    write_revision(other, revision_script("f3000000boom", REVISIONS[1], "not_defined()"))
    result = _sql(app, other, f"{REVISIONS[0]}:head", "--skip-lint")
    _refused(result, 4, "NameError", "safe-upgrade --sql stopped writing the SQL")
    assert f"safe-upgrade {REVISIONS[0]}:head --sql` again" in result.stderr
    assert ".." not in result.stderr


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_sqlite_batch_block_is_not_the_scripts_fault(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    """What `flask db migrate` writes to alter a SQLite table (batch_alter_table, which copies
    the table) needs the live table: Alembic refuses it offline. The script is right; the
    report says what --sql cannot do and what to run instead (online, or --dry-run)."""
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path, count=2)
    write_revision(
        other,
        revision_script(
            "f4000000bat",
            REVISIONS[1],
            "with op.batch_alter_table('widgets') as batch_op:\n"
            "        batch_op.alter_column('name', existing_type=sa.String(50),"
            " type_=sa.String(80))",
        ),
    )
    result = _sql(app, other, f"{REVISIONS[0]}:head")
    _refused(
        result,
        4,
        "cannot be written as SQL: its batch_alter_table block on SQLite recreates the table",
        "Alembic needs the live table",
        "The script is not wrong",
        "safe-upgrade head`), or see the plan",
        "safe-upgrade head --dry-run`",
        "copy_from=",
    )
    assert "fix the script" not in result.stderr and "skipped.." not in result.stderr
    assert "CommandError" not in result.stderr
    # The suggested commands work: --dry-run and the online run read the live table.
    dry = invoke(app, "db", "-d", str(other), "safe-upgrade", "head", "--dry-run")
    assert dry.exit_code == 0, dry.output
