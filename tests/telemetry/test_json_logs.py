"""``--log-format json`` on every command that writes progress or errors to stderr: each
stderr line is one JSON object with ``timestamp``, ``level`` and ``event`` (issue #21); stdout
keeps the command's result (``--format``).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click.testing
import pytest

from flask_safemigrate import cli_support, console
from flask_safemigrate.render.json_log import LEVELS
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke
from tests.support.merge import rev, root
from tests.upgrade.histories import REVISIONS, TABLES, models, prepare

#: A post-write hook whose process prints on descriptor 1 (``echo``).
PRINTING_HOOK = (
    "\n[post_write_hooks]\nhooks = shout\nshout.type = exec\n"
    "shout.executable = echo\nshout.options = hook-output REVISION_SCRIPT_FILENAME\n"
)
SQLITE_ONLY = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)


def records(stderr: str, *, some: bool = True) -> list[dict[str, Any]]:
    """Every stderr line as a record; fails on a line that is not one (and, with ``some``,
    when there is none)."""
    found = []
    for line in stderr.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert list(record)[:3] == ["timestamp", "level", "event"], line
        stamp = datetime.datetime.fromisoformat(record["timestamp"])
        assert stamp.tzinfo is not None and stamp.utcoffset() == datetime.timedelta(0)
        assert record["level"] in LEVELS, line
        found.append(record)
    assert found or not some, "nothing on stderr"
    return found


def test_safe_upgrade_logs_each_event_and_keeps_its_report_on_stdout(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(TABLES[:3]))
    prepare(app, count=3)

    result = invoke(app, "db", "safe-upgrade", "--format", "json", "--log-format", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [step["revision"] for step in report["applied"]] == list(REVISIONS[:3])
    logged = records(result.stderr)
    kinds = [record["event"] for record in logged]
    assert kinds[0] == "run_started" and kinds[-2:] == ["run_ended", "summary"]
    assert kinds.count("step_ended") == 3
    assert {r["stage"] for r in logged if r["event"] == "stage_started"} >= {"lock", "upgrade"}
    ended = [r for r in logged if r["event"] == "step_ended"]
    assert [(r["revision"], r["outcome"], r["level"]) for r in ended] == [
        (revision, "ok", "info") for revision in REVISIONS[:3]
    ]
    started = [r for r in logged if r["event"] == "step_started"]
    assert [(r["position"], r["total"]) for r in started] == [(1, 3), (2, 3), (3, 3)]
    (planned,) = [r for r in logged if r["event"] == "planned"]
    assert (planned["current"], planned["plan"]) == ([], list(REVISIONS[:3]))
    assert all("***" not in json.dumps(r["databases"]) for r in logged if "databases" in r)


@SQLITE_ONLY
def test_a_failed_step_is_an_error_record_and_text_stdout_is_unchanged(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(TABLES[:3]), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app, count=3, fail_at=1)

    result = invoke(app, "db", "safe-upgrade", "--log-format", "json")

    assert result.exit_code == 4, result.output
    logged = records(result.stderr)
    (failed,) = [r for r in logged if r["event"] == "step_ended" and r["outcome"] == "failed"]
    assert (failed["level"], failed["revision"]) == ("error", REVISIONS[1])
    ended = next(i for i, r in enumerate(logged) if r["event"] == "run_ended")
    assert logged[ended]["level"] == "error"
    # Why it failed is in the log too (a collector reads stderr only): the problem, then the
    # summary, after the run's end.
    (problem,) = [r for r in logged if r["event"] == "problem" and r["level"] == "error"]
    assert problem["check"] == "migration-failed", problem
    assert f"Revision {REVISIONS[1]}" in problem["message"] and problem["help"], problem
    assert logged.index(problem) > ended
    assert logged[-1]["event"] == "summary" and logged[-1]["level"] == "error"
    assert (
        logged[-1]["ok"] is False and "stopped in stage upgrade (exit 4)" in logged[-1]["message"]
    )
    # The text result (the summary and the finding) stays on stdout, no progress lines there.
    assert "[1/3]" not in result.stdout
    assert REVISIONS[1] in result.stdout


@SQLITE_ONLY
@pytest.mark.parametrize(
    "args",
    [
        ("verify", "--rows", "rows.py"),
        ("snapshot", "-d", "no-such-folder"),
        ("ledger", "show", "-d", "no-such-folder"),
        ("lint", "--explain", "no-such-rule"),
        ("auto-merge-heads", "-d", "no-such-folder"),
    ],
)
def test_an_error_is_one_error_record(
    make_app: MakeApp, database_url: str, args: tuple[str, ...]
) -> None:
    app = make_app(database_url, models=models(TABLES[:1]))
    prepare(app, count=1)

    result = invoke(app, "db", *args, "--log-format", "json")

    assert result.exit_code == 2, result.output
    (record,) = records(result.stderr)
    assert (record["event"], record["level"]) == ("error", "error")
    assert record["message"] and "Error:" not in record["message"]
    assert result.stdout == ""


@SQLITE_ONLY
def test_auto_merge_heads_hook_output_is_a_record(make_app: MakeApp, database_url: str) -> None:
    """A merge written: the report on stdout; what a post-write hook's process prints (on
    descriptor 1, diverted to 2 while stdout carries JSON) is a record on stderr."""
    app = make_app(database_url)
    migrations = init_migrations(app)
    ini = migrations / "alembic.ini"
    ini.write_text(ini.read_text() + PRINTING_HOOK, encoding="utf-8")
    root(migrations)
    rev(
        migrations,
        "b1b1b1b1b1b1",
        "a0a0a0a0a0a0",
        'op.add_column("users", sa.Column("a", sa.Integer()))',
    )
    rev(
        migrations,
        "c2c2c2c2c2c2",
        "a0a0a0a0a0a0",
        'op.create_index("ix_email", "users", ["email"])',
    )

    result = invoke(app, "db", "auto-merge-heads", "--format", "json", "--log-format", "json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    messages = [r["message"] for r in records(result.stderr) if r["event"] == "message"]
    assert any(message.startswith("hook-output ") for message in messages), messages


@SQLITE_ONLY
def test_lint_write_baseline_says_what_it_recorded_as_a_record(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url)
    migrations = init_migrations(app)
    rev(migrations, "a0a0a0a0a0a0", None, 'op.drop_column("users", "email")')
    baseline = tmp_path / "baseline.json"

    result = invoke(
        app,
        "db",
        "lint",
        "--write-baseline",
        str(baseline),
        "--format",
        "json",
        "--log-format",
        "json",
    )

    assert result.exit_code == 0, result.output
    (record,) = records(result.stderr)
    assert record["event"] == "message" and record["message"].startswith("Recorded ")
    assert baseline.is_file()


def test_the_standalone_lint_takes_it_too(tmp_path: Path) -> None:
    result = click.testing.CliRunner().invoke(
        console.main, ["lint", "--explain", "no-such-rule", "--log-format", "json"]
    )

    assert result.exit_code == 2, result.output
    (record,) = records(result.stderr)
    assert record["event"] == "error" and "no-such-rule" in record["message"]
    assert "help" in record


def test_other_stderr_writes_and_log_warnings_become_records() -> None:
    """What no command words (a library's line, a log warning) is a record too, whole lines
    only, and a record written as such passes unchanged."""
    target = io.StringIO()
    with contextlib.redirect_stderr(target), cli_support.stderr_as_json() as stream:
        print("Generating migrations/versions/", end="", file=sys.stderr)
        print("abc.py ... done", file=sys.stderr)
        logging.getLogger("some.library").warning("careful: %s", "this")
        stream.record("step_ended", "info", {"revision": "abc", "seconds": 0.5})
        print("Error: something failed", file=sys.stderr)
        os.write(2, b"written on descriptor 2\n")  # a subprocess's or C code's line
    logged = records(target.getvalue())
    assert [(r["event"], r["level"]) for r in logged] == [
        ("message", "info"),
        ("log", "warning"),
        ("step_ended", "info"),
        ("message", "error"),
        ("message", "info"),
    ]
    assert logged[-1]["message"] == "written on descriptor 2"
    assert logged[0]["message"] == "Generating migrations/versions/abc.py ... done"
    assert (logged[1]["logger"], logged[1]["message"]) == ("some.library", "careful: this")
    assert (logged[2]["revision"], logged[2]["seconds"]) == ("abc", 0.5)
    assert cli_support.json_log_active() is None, "restored after the block"


def test_the_json_stream_is_closed_on_the_way_out_not_left_to_garbage_collection() -> None:
    """Python 3.13 reports a finalizer's failed flush (its target closed by then) as an
    unraisable exception: the stream is closed while its target still stands."""
    with cli_support.stderr_as_json() as stream:
        sys.stderr.write("one line\n")
    assert stream.closed
