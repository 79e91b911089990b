"""Generated scripts lint clean: guards are recognised, nothing the rendering adds is flagged.

The initial migration has no finding at all. The change migration is flagged only for what
the change itself does to a live database (dropping a column, building an index or a
constraint under a lock: rules 1xx and 2xx), never for how it is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.autogen.scenario import Scenario, generate
from tests.conftest import AppTracker, invoke
from tests.databases import DbKind


@pytest.fixture
def scenario(database_url: str, tmp_path: Path, track_app: AppTracker) -> Scenario:
    return generate(database_url, tmp_path, track_app)


def lint(scenario: Scenario, db_kind: DbKind, script: Path) -> tuple[int, dict[str, object]]:
    result = invoke(
        scenario.v2, "db", "lint", "--format", "json", "--fail-on", "info",
        "--dialect", db_kind, str(script),
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def test_the_initial_migration_has_no_finding(scenario: Scenario, db_kind: DbKind) -> None:
    code, report = lint(scenario, db_kind, scenario.first)
    assert (code, report["findings"]) == (0, [])


def test_the_change_is_flagged_only_for_what_it_does(scenario: Scenario, db_kind: DbKind) -> None:
    _, report = lint(scenario, db_kind, scenario.second)
    findings = report["findings"]
    assert isinstance(findings, list)
    codes = {finding["code"] for finding in findings}
    assert "SM102" in codes  # users.name is dropped: a real concern, correctly reported
    about_the_script = sorted(c for c in codes if not c.startswith(("SM1", "SM2")))
    assert about_the_script == [], findings
