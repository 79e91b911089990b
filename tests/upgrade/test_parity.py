"""``flask db safe-upgrade`` takes what ``flask db upgrade`` takes (issue #17, item 1).

The migrations live in ``other/``, not in the app's ``migrations/`` (which does not exist),
so every command must honour ``flask db -d other`` (or its own ``-d``). ``env.py`` records
what each run hands it: ``context.get_x_argument(as_dictionary=True)`` and
``context.get_tag_argument()``; safe-upgrade must hand it what plain upgrade does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json, invoke_ok
from tests.support.databases import DbKind
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import REVISIONS, TABLES, models, revision_source, versions_of

#: Lines added to ``env.py`` after ``config = context.config``: what the run was handed.
RECORDER = """
import json as _json
import pathlib as _pathlib

with _pathlib.Path(__file__).with_name("seen.jsonl").open("a") as _seen:
    _seen.write(_json.dumps({"x": context.get_x_argument(as_dictionary=True),
                             "tag": context.get_tag_argument(),
                             "sql": context.is_offline_mode()}) + "\\n")
"""


def other_directory(app: Flask, tmp_path: Path, count: int = 3) -> Path:
    """``flask db -d other init``, ``env.py`` that records, and ``count`` revisions."""
    other = tmp_path / "other"
    invoke_ok(app, "db", "-d", str(other), "init")
    env = other / "env.py"
    text = env.read_text(encoding="utf-8")
    anchor = "config = context.config\n"
    assert anchor in text
    env.write_text(text.replace(anchor, anchor + RECORDER, 1), encoding="utf-8")
    for index in range(count):
        write_revision(other, revision_source(index))
    assert not (tmp_path / "migrations").exists()
    return other


def seen(other: Path) -> list[dict[str, Any]]:
    path = other / "seen.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return [json.loads(line) for line in lines]


def test_safe_upgrade_takes_what_upgrade_takes(
    make_app: MakeApp, database_url: str, db_kind: DbKind, tmp_path: Path
) -> None:
    app = make_app(database_url, models=models(TABLES[:3]), config={"SAFEMIGRATE_BACKUP": False})
    other = other_directory(app, tmp_path)
    args = ["+1", "-x", "key=value", "-x", "other=2", "--tag", "t"]

    safe = invoke(app, "db", "-d", str(other), "safe-upgrade", *args)
    assert safe.exit_code == 0, safe.output
    assert versions_of(database_url) == [REVISIONS[0]]
    by_safe = seen(other)

    invoke_ok(app, "db", "-d", str(other), "upgrade", *args)
    assert versions_of(database_url) == [REVISIONS[1]]
    by_plain = seen(other)

    handed = {"x": {"key": "value", "other": "2"}, "tag": "t", "sql": False}
    assert by_plain == [handed]
    assert by_safe == by_plain, "env.py ran once, handed the same -x and --tag"
    assert "[1/1] " + REVISIONS[0] in safe.output
    assert "database at " + REVISIONS[0] in safe.output

    # The command's own -d and -x, and the group's -x, reach it too; REV+1 is Alembic's.
    code, data, _ = invoke_json(
        app, "db", "-x", "group=1", "safe-upgrade", "-d", str(other), f"{REVISIONS[1]}+1",
        "-x", "key=value", "--format", "json",
    )  # fmt: skip
    assert code == 0, data
    assert data["to"] == [REVISIONS[2]] and data["current"] == [REVISIONS[2]]
    assert [step["revision"] for step in data["applied"]] == [REVISIONS[2]]
    assert seen(other) == [{"x": {"group": "1", "key": "value"}, "tag": None, "sql": False}]


def test_sql_takes_the_same_arguments(make_app: MakeApp, database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path)
    invoke_ok(app, "db", "-d", str(other), "safe-upgrade", REVISIONS[0])
    seen(other)

    # Offline, +1 counts from base (the database is not read), as plain upgrade's does.
    plain = invoke(app, "db", "-d", str(other), "upgrade", "+1", "--sql", "-x", "k=v")
    assert plain.exit_code == 0, plain.output
    seen(other)
    result = invoke(app, "db", "-d", str(other), "safe-upgrade", "+1", "--sql", "-x", "k=v")
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip("\n") == plain.stdout.rstrip("\n")
    assert f"-- Running upgrade  -> {REVISIONS[0]}" in result.stdout
    assert REVISIONS[1] not in result.stdout
    assert seen(other) == [{"x": {"k": "v"}, "tag": None, "sql": True}]
    assert versions_of(database_url) == [REVISIONS[0]], "--sql changes nothing"


@pytest.mark.parametrize(
    ("revision", "words"),
    [
        ("-1", "-1 is a step back (a downgrade), and safe-upgrade only upgrades"),
        ("+9", "cannot upgrade to '+9'"),
        ("nosuchbranch@head", "cannot upgrade to 'nosuchbranch@head'"),
    ],
)
def test_a_destination_alembic_refuses_is_one_line_and_exit_2(
    make_app: MakeApp, tmp_path: Path, revision: str, words: str
) -> None:
    from tests.support.databases import sqlite_url

    app = make_app(sqlite_url(tmp_path / "t.db"), models=models())
    other = other_directory(app, tmp_path)
    result = invoke(app, "db", "-d", str(other), "safe-upgrade", "--", revision)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert versions_of(sqlite_url(tmp_path / "t.db")) == []


def test_steps_back_without_double_dash_is_the_one_line_refusal(
    make_app: MakeApp, tmp_path: Path
) -> None:
    """``flask db safe-upgrade -1`` as typed: not click's "No such option"."""
    from tests.support.databases import sqlite_url

    app = make_app(sqlite_url(tmp_path / "t.db"), models=models())
    other = other_directory(app, tmp_path)
    invoke_ok(app, "db", "-d", str(other), "safe-upgrade", REVISIONS[1])
    for args in (["-1"], ["-1", "--dry-run"], ["--no-verify", "-2"]):
        result = invoke(app, "db", "-d", str(other), "safe-upgrade", *args)
        assert result.exit_code == 2, (args, result.output)
        (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert f"cannot upgrade to '{args[-1] if args[-1] != '--dry-run' else '-1'}'" in line
        assert "is a step back (a downgrade), and safe-upgrade only upgrades" in line
        assert "RevisionError" not in result.output and "didn't produce" not in result.output
        assert "to go back, run `flask db -d" in result.output
        assert "No such option" not in result.output
    # -x takes "-1" as its value: not moved
    result = invoke(app, "db", "-d", str(other), "safe-upgrade", "--dry-run", "-x", "-1")
    assert result.exit_code == 0, result.output
    assert versions_of(sqlite_url(tmp_path / "t.db")) == [REVISIONS[1]]
    # What the help says to run does go back one revision.
    invoke_ok(app, "db", "-d", str(other), "downgrade", "--", "-1")
    assert versions_of(sqlite_url(tmp_path / "t.db")) == [REVISIONS[0]]


def test_steps_past_head_say_how_many_are_pending(make_app: MakeApp, tmp_path: Path) -> None:
    from tests.support.databases import sqlite_url

    app = make_app(sqlite_url(tmp_path / "t.db"), models=models())
    other = other_directory(app, tmp_path, count=5)
    invoke_ok(app, "db", "-d", str(other), "safe-upgrade", REVISIONS[1])
    result = invoke(app, "db", "-d", str(other), "safe-upgrade", "+9")
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    pending = 5 - 2
    assert f"goes past head, only {pending} revisions are pending" in line, line
    assert "RevisionError" not in result.output and "didn't produce" not in result.output
    assert f"`+{pending}`" in result.output
    assert versions_of(sqlite_url(tmp_path / "t.db")) == [REVISIONS[1]]


@pytest.mark.parametrize(
    ("body", "error"),
    [("not_defined_anywhere()", "NameError"), ("op.no_such_operation()", "AttributeError")],
)
def test_sql_reports_a_script_that_raises_like_a_real_run(
    make_app: MakeApp, database_url: str, tmp_path: Path, body: str, error: str
) -> None:
    """No traceback: exit 4, the script and line, what to do; no partial SQL."""
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path, count=1)
    script = write_revision(other, revision_script("f1000000sql1", REVISIONS[0], body))
    result = invoke(app, "db", "-d", str(other), "safe-upgrade", "--sql")
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    assert "Running upgrade" not in result.output and "CREATE TABLE" not in result.output
    assert error in result.output and "f1000000sql1" in result.output
    assert f"{script.name}:15" in result.output, result.output
    # The copied line runs on the same directory (0251c46: suggestions carry the run's -d).
    assert f"flask db -d {other} safe-upgrade --sql` again" in result.output
    code, data, _ = invoke_json(
        app, "db", "-d", str(other), "safe-upgrade", "--sql", "--format", "json"
    )
    assert code == 4, data
    (problem,) = data["problems"]
    assert problem["check"] == "migration-failed" and problem["revision"] == "f1000000sql1"
    assert problem["line"] is not None and problem["path"].endswith(script.name)
    assert versions_of(database_url) == []


def test_branch_at_head(make_app: MakeApp, tmp_path: Path) -> None:
    from tests.support.databases import sqlite_url

    url = sqlite_url(tmp_path / "t.db")
    app = make_app(url, models=models(TABLES[:1]))
    other = other_directory(app, tmp_path, count=1)
    write_revision(other, revision_script("f1000000fea1", REVISIONS[0], labels=["feature"]))
    write_revision(other, revision_script("f2000000fea2", "f1000000fea1"))

    invoke_ok(app, "db", "-d", str(other), "safe-upgrade", "feature@head")
    assert versions_of(url) == ["f2000000fea2"]


def test_verify_lint_ledger_and_auto_merge_heads_honour_d(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url, models=models(TABLES[:3]))
    other = other_directory(app, tmp_path)
    invoke_ok(app, "db", "-d", str(other), "safe-upgrade")

    for args in (["-d", str(other), "verify"], ["verify", "-d", str(other)]):
        code, data, _ = invoke_json(app, "db", *args, "--format", "json")
        assert code == 0, data
        assert data["current"] == [REVISIONS[2]] and data["heads"] == [REVISIONS[2]]

    for args in (["-d", str(other), "lint"], ["lint", "-d", str(other)]):
        code, data, _ = invoke_json(app, "db", *args, "--format", "json")
        assert code == 0, data
        assert data["summary"]["files"] == 3

    nowhere = str(tmp_path / "nowhere")
    for args in (
        ["-d", str(other), "ledger", "show"],
        ["ledger", "-d", str(other), "show"],
        ["ledger", "show", "-d", str(other)],
        ["-d", nowhere, "ledger", "-d", str(other), "show"],  # the nearest -d wins
        ["ledger", "-d", nowhere, "show", "-d", str(other)],
    ):
        code, data, _ = invoke_json(app, "db", *args, "--format", "json")
        assert code == 0, (args, data)
        (db,) = data["databases"]
        assert [row["revision"] for row in db["entries"]] == list(REVISIONS[:3])
    for args in (["-d", str(other), "ledger"], ["ledger", "-d", str(other)]):
        code, data, _ = invoke_json(app, "db", *args, "accept", REVISIONS[0], "--format", "json")
        assert code == 0 and data["revision"] == REVISIONS[0], data
    result = invoke(app, "db", "ledger", "-d", nowhere, "show")
    assert result.exit_code == 2, result.output
    assert f"Error: no migrations directory at {nowhere}" in result.stderr

    write_revision(other, revision_script("b1000000bra1", REVISIONS[1]))
    code, data, _ = invoke_json(app, "db", "-d", str(other), "auto-merge-heads", "--check",
                                "--format", "json")  # fmt: skip
    assert code == 1 and sorted(data["heads"]) == sorted(["b1000000bra1", REVISIONS[2]])
    code, data, _ = invoke_json(app, "db", "auto-merge-heads", "-d", str(other),
                                "--format", "json")  # fmt: skip
    assert code == 0, data
    assert Path(data["path"]).resolve().parent == (other / "versions").resolve()
    assert not (tmp_path / "migrations").exists()


def test_a_missing_directory_is_named(make_app: MakeApp, tmp_path: Path) -> None:
    from tests.support.databases import sqlite_url

    app = make_app(sqlite_url(tmp_path / "t.db"))
    for command in ("safe-upgrade", "verify", "lint", "auto-merge-heads"):
        result = invoke(app, "db", "-d", str(tmp_path / "nowhere"), command)
        assert result.exit_code == 2, (command, result.output)
        assert f"no migrations directory at {tmp_path / 'nowhere'}" in result.output
        assert "Traceback" not in result.output


def test_help_shows_upgrades_options(make_app: MakeApp, tmp_path: Path) -> None:
    from tests.support.databases import sqlite_url

    app = make_app(sqlite_url(tmp_path / "t.db"))
    text = invoke_ok(app, "db", "safe-upgrade", "--help").output
    for option in ("-d, --directory", "-x, --x-arg", "--tag", "--sql", "[REVISION]", "+1"):
        assert option in text, option
    for command in ("verify", "lint", "auto-merge-heads"):
        assert "-d, --directory" in invoke_ok(app, "db", command, "--help").output


def test_auto_merge_hands_env_py_the_x_arguments(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    """``safe-upgrade --auto-merge -x k=v``: env.py gets ``-x`` when the merge is written (with
    ``revision_environment``, as ``flask db -x k=v merge`` runs it) and in the upgrade."""
    app = make_app(database_url, models=models(TABLES[:3]), config={"SAFEMIGRATE_BACKUP": False})
    other = other_directory(app, tmp_path, count=2)
    ini = other / "alembic.ini"
    ini.write_text(
        ini.read_text(encoding="utf-8").replace(
            "[alembic]\n", "[alembic]\nrevision_environment = true\n", 1
        ),
        encoding="utf-8",
    )
    # A second head beside REVISIONS[1], creating the third table.
    fork = revision_source(2).replace(repr(REVISIONS[1]), repr(REVISIONS[0]))
    write_revision(other, fork)

    result = invoke(app, "db", "-d", str(other), "safe-upgrade", "--auto-merge", "-x", "k=v")
    assert result.exit_code == 0, result.output
    merged = [p for p in (other / "versions").glob("*.py") if "merge" in p.read_text()]
    assert len(merged) == 1, "the merge is written in the run's directory"
    assert not (tmp_path / "migrations").exists()
    handed = seen(other)
    # The merge's env.py run, then the upgrade's: each handed the run's -x.
    assert len(handed) == 2, handed
    assert all(entry["x"] == {"k": "v"} for entry in handed), handed
    (merge_id,) = re.findall(r"^revision = ['\"](\w+)['\"]", merged[0].read_text(), re.M)
    assert versions_of(database_url) == [merge_id]

    # The group's -x reaches the merge auto-merge-heads writes, as `flask db -x merge` does.
    write_revision(other, revision_script("f1000000fork", REVISIONS[2]))
    write_revision(other, revision_script("f2000000fork", REVISIONS[2]))
    invoke_ok(app, "db", "-x", "g=1", "auto-merge-heads", "-d", str(other))
    assert seen(other) == [{"x": {"g": "1"}, "tag": None, "sql": False}]
