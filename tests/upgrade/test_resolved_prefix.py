"""``--resolved`` takes a revision prefix, as ``flask db ledger accept`` does.

A newcomer copied ``--resolved 4bf86d`` and was told the ledger had no failure of that
revision although it recorded one of ``4bf86df383b6``: a unique prefix now means that id,
an ambiguous one is refused (exit 2) naming its candidates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_safemigrate import ledger
from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import nullpool_engine
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import REVISIONS, ledger_rows, models, prepare, versions_of

FAILED = "fa11ed000001"
NEXT = "fa11ee000002"  # shares "fa11e" with FAILED


def _run(app: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(
        app, "db", "safe-upgrade", "--no-verify", "--skip-lint", "--format", "json", *args
    )
    return code, data


def test_resolved_takes_a_unique_prefix_and_refuses_an_ambiguous_one(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade", "--no-verify").exit_code == 0
    write_revision(migrations, revision_script(FAILED, REVISIONS[0], message="failed once"))
    write_revision(migrations, revision_script(NEXT, FAILED, message="next"))
    engine = nullpool_engine(database_url)
    try:
        with engine.begin() as conn:
            ledger.record(
                conn,
                revision=FAILED,
                direction="upgrade",
                checksum=None,
                started_at=datetime.now(UTC),
                success=False,
                error=ledger.failure_text("boom", "unknown"),
            )
    finally:
        engine.dispose()

    code, data = _run(app)
    assert code == 3, data
    assert [p["check"] for p in data["problems"]] == ["failed-migration"], data

    code, data = _run(app, "--resolved", "fa11e")
    assert code == 2, data
    text = str(data)
    assert "ambiguous" in text and FAILED in text and NEXT in text, data
    assert versions_of(database_url) == [REVISIONS[0]]

    code, data = _run(app, "--resolved", FAILED[:6])
    assert code == 0, data["problems"]
    assert versions_of(database_url) == [NEXT]
    resolve = [r for r in ledger_rows(database_url) if r["direction"] == "resolve"]
    assert [r["revision"] for r in resolve] == [FAILED], resolve


def test_an_ambiguous_resolved_prefix_is_one_line_in_text(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    migrations = prepare(app, count=1)
    write_revision(migrations, revision_script(FAILED, REVISIONS[0]))
    write_revision(migrations, revision_script(NEXT, FAILED))
    result = invoke(app, "db", "safe-upgrade", "--resolved", "fa11e")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert f"it matches {FAILED}, {NEXT}" in line, result.output
    assert versions_of(database_url) == []


def test_a_mistyped_resolved_id_says_no_revision_matches_it(
    make_app: MakeApp, database_url: str
) -> None:
    """``--resolved 9333a85ceb2x`` (a typo): not "the ledger has no failure of that
    revision", which sends the reader to the ledger, but that no revision has that id."""
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app, count=2)
    result = invoke(app, "db", "safe-upgrade", "--resolved", "9333a85ceb2x")
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert line == (
        "Error: --resolved 9333a85ceb2x: no revision matches that id (no migration script has"
        " it or starts with it, and the ledger has no failure of it); nothing was changed"
    )
    assert "`flask db ledger show` lists the failures" in result.output
    assert "Traceback" not in result.output
    assert versions_of(database_url) == []
    # A real revision that never failed keeps its own message.
    result = invoke(app, "db", "safe-upgrade", "--resolved", REVISIONS[1])
    assert result.exit_code == 2, result.output
    assert "the ledger has no failure of that revision" in result.output
