"""Issue #17 item 8: whitespace edits are not edits, and ``flask db ledger accept|show``."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from flask_safemigrate import ledger
from tests.support.cli import invoke, invoke_json, invoke_ok
from tests.support.databases import engine_for
from tests.support.verify import ITEMS, USERS, VerifyApp, checks, run_verify, script_path


def _rows(url: str) -> list[ledger.Entry]:
    with engine_for(url) as engine, engine.connect() as conn:
        return ledger.read_entries(conn)


def _whitespace_only(data: bytes) -> bytes:
    """CRLF endings, trailing spaces and tabs on every line, blank lines at the end."""
    lines = data.decode().split("\n")
    return ("  \t\r\n".join(lines) + "\r\n\r\n   \r\n").encode()


def test_whitespace_edits_are_not_edits(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "safe-upgrade")
    items = script_path(app, ITEMS)
    original = items.read_bytes()
    (row,) = [r for r in _rows(database_url) if r.revision == ITEMS]
    assert row.checksum == ledger.checksum(items)

    items.write_bytes(_whitespace_only(original))
    assert ledger.checksum(items) == row.checksum
    code, data, _ = run_verify(app)
    assert (code, checks(data)) == (0, [])

    # A comment is a real change of the text: still an edit until someone accepts it.
    items.write_bytes(_whitespace_only(original) + b"# tweaked\n")
    assert checks(run_verify(app)[1]) == ["edited-after-apply"]


def test_checksums_recorded_by_the_previous_version_stay_valid(
    verify_app: VerifyApp, database_url: str
) -> None:
    """A row written by the code before this change: sha256 of the bytes with LF endings."""
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    items = script_path(app, ITEMS)
    data = items.read_bytes() + b"x = 1   \n\n"  # trailing whitespace the old digest includes
    items.write_bytes(data)
    old_digest = hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()
    assert old_digest != ledger.checksum(items)
    with engine_for(database_url) as engine, engine.begin() as conn:
        for revision in (USERS, ITEMS):
            path = script_path(app, revision)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            ledger.record(
                conn,
                revision=revision,
                direction="upgrade",
                checksum=old_digest if revision == ITEMS else digest,
                started_at=datetime.now(UTC),
                success=True,
            )
    assert (run_verify(app)[0], checks(run_verify(app)[1])) == (0, [])
    items.write_bytes(data.replace(b"\n", b"\r\n"))  # and from a CRLF checkout
    assert (run_verify(app)[0], checks(run_verify(app)[1])) == (0, [])
    items.write_bytes(data + b"# edited\n")
    assert checks(run_verify(app)[1]) == ["edited-after-apply"]


def test_ledger_accept_and_show(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "safe-upgrade")
    items = script_path(app, ITEMS)
    before = ledger.checksum(items)
    items.write_text(items.read_text() + "\n# explains the index, no statement changed\n")
    code, data, _ = run_verify(app)
    assert (code, checks(data)) == (1, ["edited-after-apply"])
    assert f"flask db ledger accept {ITEMS} --reason" in data["problems"][0]["help"]

    code, data, _ = invoke_json(
        app, "db", "ledger", "accept", ITEMS[:6], "--reason", "comment only", "--format", "json"
    )
    assert code == 0, data
    assert data["ok"] is True and data["revision"] == ITEMS
    assert data["checksum"] == ledger.checksum(items) and data["reason"] == "comment only"
    (db,) = data["databases"]
    assert db["applied"] and db["recorded"] and db["previous_checksum"] == before
    assert (run_verify(app)[0], checks(run_verify(app)[1])) == (0, [])
    last = _rows(database_url)[-1]
    assert (last.revision, last.direction, last.error) == (ITEMS, "accept", "comment only")

    # Accepting again changes nothing: the ledger matches the file.
    result = invoke_ok(app, "db", "ledger", "accept", ITEMS)
    assert "already matches" in result.stdout and "nothing recorded" in result.stdout
    assert len(_rows(database_url)) == 3
    # A reason given then is not shown as if it were kept (a newcomer's trial).
    result = invoke_ok(app, "db", "ledger", "accept", ITEMS, "--reason", "late note")
    assert "reason not recorded: no row was written to hold it (late note)" in result.stdout
    assert "\nreason: late note" not in result.stdout
    assert len(_rows(database_url)) == 3

    code, data, _ = invoke_json(app, "db", "ledger", "show", "--format", "json")
    assert code == 0
    (db,) = data["databases"]
    assert [(e["revision"], e["direction"]) for e in db["entries"]] == [
        (USERS, "upgrade"),
        (ITEMS, "upgrade"),
        (ITEMS, "accept"),
    ]
    accept = db["entries"][-1]
    assert accept["error"] == "comment only" and accept["success"] is True
    assert accept["checksum"] == ledger.checksum(items)
    assert accept["started_at"].endswith("+00:00")
    assert set(accept) == {
        "id",
        "revision",
        "direction",
        "checksum",
        "started_at",
        "finished_at",
        "duration_ms",
        "success",
        "applied_by",
        "error",
    }
    text = invoke_ok(app, "db", "ledger", "show").stdout
    assert "(3 rows)" in text and "reason: comment only" in text
    assert f"upgrade    {USERS}" in text


def test_restoring_the_applied_script_after_an_accept_is_no_edit(
    verify_app: VerifyApp, database_url: str
) -> None:
    """Both the checksum that ran and the accepted one are fine; a third text is an edit."""
    app = verify_app(database_url)
    invoke_ok(app, "db", "safe-upgrade")
    items = script_path(app, ITEMS)
    applied = items.read_bytes()
    items.write_bytes(applied + b"# a comment\n")
    invoke_ok(app, "db", "ledger", "accept", ITEMS, "--reason", "comment only")
    assert (run_verify(app)[0], checks(run_verify(app)[1])) == (0, [])

    items.write_bytes(applied)
    assert (run_verify(app)[0], checks(run_verify(app)[1])) == (0, [])

    items.write_bytes(applied + b"# another comment\n")
    code, data, _ = run_verify(app)
    assert (code, checks(data)) == (1, ["edited-after-apply"])
    assert "from Python" not in data["problems"][0]["help"]
    assert data["problems"][0]["help"].endswith(f"`flask db ledger accept {ITEMS} --reason TEXT`")


def test_ledger_show_before_anything_was_applied(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    assert "no rows" in invoke_ok(app, "db", "ledger", "show").stdout
    code, data, _ = invoke_json(app, "db", "ledger", "show", "--format", "json")
    assert (code, data["databases"][0]["entries"]) == (0, [])


def test_ledger_accept_refusals(verify_app: VerifyApp, database_url: str, tmp_path: Path) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade", USERS)

    unknown = invoke(app, "db", "ledger", "accept", "feedface")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[0] == (
        "Error: unknown revision 'feedface': No revision, revision prefix or branch label"
        " matches 'feedface'"
    )
    assert "Traceback" not in unknown.output

    not_applied = invoke(app, "db", "ledger", "accept", ITEMS)
    assert not_applied.exit_code == 1
    assert f"revision {ITEMS}" in not_applied.stderr and "applied to none" in not_applied.stderr

    broken = script_path(app, "c3c3c3c3c3c3")
    broken.write_text("revision = 'c3c3c3c3c3c3'\ndown_revision = 'b2b2b2b2b2b2'\ndef upgrade(:\n")
    refused = invoke(app, "db", "ledger", "accept", "c3c3c3c3c3c3", "--format", "json")
    assert refused.exit_code == 1
    assert "refusing to accept revision c3c3c3c3c3c3" in refused.stdout
    text = invoke(app, "db", "ledger", "accept", "c3c3c3c3c3c3")
    (line, where, help_line) = text.stderr.splitlines()
    assert line.startswith("Error: refusing to accept revision c3c3c3c3c3c3: Migration script")
    assert "c3c3c3c3c3c3_test.py" in where and "fix the script" in help_line
    assert all(r.direction != "accept" for r in _rows(database_url))


def test_ledger_commands_refuse_a_ledger_turned_off(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url, config={"SAFEMIGRATE_LEDGER": False})
    for args in (("accept", USERS), ("show",)):
        result = invoke(app, "db", "ledger", *args)
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: the ledger is turned off")


def test_ledger_show_labels_only_a_failed_rows_text_an_error(
    verify_app: VerifyApp, database_url: str
) -> None:
    """The ledger's ``error`` column also holds how a failure was resolved: a successful
    resolve row read "ok ... error: resolved by safe-upgrade", an error that is none."""
    app = verify_app(database_url)
    invoke_ok(app, "db", "safe-upgrade")
    failure = ledger.failure_text("IntegrityError: boom", "nothing")
    with engine_for(database_url) as engine, engine.begin() as conn:
        for direction, success, text in (
            ("upgrade", False, failure),
            ("resolve", True, ledger.AUTO_RESOLVED),
        ):
            ledger.record(
                conn,
                revision=ITEMS,
                direction=direction,
                checksum=None,
                started_at=datetime.now(UTC),
                success=success,
                error=text,
            )
    lines = invoke_ok(app, "db", "ledger", "show").stdout.splitlines()
    (failed,) = [line for line in lines if "FAILED" in line]
    assert f"error: {failure}" in failed
    (resolved,) = [line for line in lines if f"resolve    {ITEMS}" in line]
    assert " ok " in resolved and f"note: {ledger.AUTO_RESOLVED}" in resolved
    assert "error:" not in resolved


def test_ledger_accept_of_an_edit_that_changes_the_operations_needs_a_reason(
    verify_app: VerifyApp, database_url: str
) -> None:
    """``accept`` is for edits the database does not see. The applied script is found in git
    by its checksum; when the edit changes the calls upgrade()/downgrade() make (a column of
    create_index, a type), the databases at that revision will never run it: refused without
    --reason, and with one the output warns that a new revision is the way."""
    app = verify_app(database_url)
    invoke_ok(app, "db", "safe-upgrade")
    items = script_path(app, ITEMS)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    repo = items.parent
    subprocess.run([*git, "init", "-q", "."], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "applied"], cwd=repo, check=True)
    applied = items.read_text()

    # A comment and reformatting: the same calls, accepted without a reason or a warning.
    items.write_text(applied.replace("def upgrade():", "def upgrade():  # reviewed\n") + "\n#\n")
    result = invoke_ok(app, "db", "ledger", "accept", ITEMS)
    assert "accepted" in result.stdout and "warning" not in result.stdout, result.stdout

    changed = applied.replace("length=50", "length=80", 1)
    assert changed != applied
    items.write_text(changed)
    before = len(_rows(database_url))
    result = invoke(app, "db", "ledger", "accept", ITEMS)
    assert result.exit_code == 1, result.output
    assert f"refusing to accept revision {ITEMS} without --reason" in result.output
    assert f"databases already at {ITEMS} will never run it" in result.output
    assert "put the change in a new revision" in result.output
    assert len(_rows(database_url)) == before, "nothing recorded"

    result = invoke_ok(app, "db", "ledger", "accept", ITEMS, "--reason", "type noted only")
    assert (
        "warning: the edit changes the calls of upgrade() or downgrade(): the databases"
        f" already at {ITEMS} will not get that change"
    ) in result.stdout

    # Not in git at all: not compared, and said so.
    shutil.rmtree(repo / ".git")
    items.write_text(changed + "\n# one more comment\n")
    result = invoke_ok(app, "db", "ledger", "accept", ITEMS)
    assert "note: the applied version of the script is not in git" in result.stdout


def test_ledger_show_lines_up_revisions_of_different_lengths() -> None:
    """Hand-written ids (``--rev-id q1``) beside Alembic's 12 hex digits: the columns after
    the revision (ok/FAILED, seconds, who) start at the same place on every row."""
    from flask_safemigrate.render.ledger import render_ledger_text
    from flask_safemigrate.report import Report

    def entry(number: int, revision: str, success: bool) -> dict[str, object]:
        return {
            "id": number,
            "revision": revision,
            "direction": "upgrade",
            "checksum": "ab" * 32,
            "started_at": "2026-12-08T03:29:48+00:00",
            "finished_at": "2026-12-08T03:29:48+00:00",
            "duration_ms": 60,
            "success": success,
            "applied_by": "ann@deploy-1",
            "error": None,
        }

    rows = [entry(1, "7518bf6beabe", True), entry(2, "q1", True), entry(3, "aaaa1111", False)]
    facts = {
        "ok": True,
        "databases": [{"database": "sqlite:///app.db", "bind": None, "entries": rows}],
    }
    lines = render_ledger_text(Report("ledger show", facts=facts)).splitlines()[1:]
    assert len({line.index("ok    " if " ok " in line else "FAILED") for line in lines}) == 1, lines
    assert len({line.index("ann@deploy-1") for line in lines}) == 1, lines
