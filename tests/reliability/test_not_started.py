"""A revision that never started is never recorded as failed (issue #13, item 11).

Alembic loads every script of the history before it applies the first revision. When one
cannot be loaded (here: a module-level import of a module that does not exist), nothing of
the plan ran: the ledger must not blame the first pending revision, and the next run, once
the script is fixed, must apply the plan without ``--resolved``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.reliability.test_hostile_ids import deployed, hostile_source, state_of
from tests.support.cli import invoke_json
from tests.support.revisions import write_revision

__all__ = ["deployed"]  # the fixture, imported for pytest

#: Fails when Alembic loads the script; pre-flight, which reads import statements without
#: running them (script-import-missing), cannot see a module named at run time.
BROKEN_IMPORT = (
    'import importlib\nimportlib.import_module("no_such_module_for_safemigrate_tests")\n'
)


def test_unloadable_script_records_nothing_and_needs_no_resolved(
    deployed: tuple[Any, Path, str],
) -> None:
    app, migrations, url = deployed
    write_revision(migrations, hostile_source("c3good"), filename="c3good.py")
    later = hostile_source("d4bad").replace(
        "down_revision = 'b2000000gad2'", "down_revision = 'c3good'"
    )
    later = later.replace("'parts'", "'tools'")
    broken = write_revision(migrations, BROKEN_IMPORT + later, filename="d4bad.py")
    before = state_of(url)

    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--skip-lint", "--format", "json")
    assert code == 4, data
    [problem] = data["problems"]
    assert problem["revision"] == "c3good"
    assert "stopped before revision c3good (hostile) began" in problem["message"]
    assert "--resolved" not in problem["help"].replace("no --resolved needed", "")
    assert state_of(url) == before  # no ledger row, nothing applied

    broken.write_text(later, encoding="utf-8")
    code, data, _ = invoke_json(
        app, "db", "safe-upgrade", "--skip-lint", "--no-verify", "--format", "json"
    )
    assert code == 0, data["problems"]
    assert [step["revision"] for step in data["applied"]] == ["c3good", "d4bad"]
    assert all(row["success"] for row in state_of(url)["ledger"])
