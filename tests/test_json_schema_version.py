"""Every command's ``--format json`` object starts with ``"schema_version"`` (issue #17, item 11).

On every exit: success, checks failed, a usage error raised before a report exists, and the
report-shaped usage error of safe-upgrade. The README's "JSON output" table lists the shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from flask_safemigrate.console import main as safemigrate_main
from flask_safemigrate.report import SCHEMA_VERSION
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke
from tests.support.databases import empty_sqlite
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import TABLES, models, write_history


def first_key_is_version(stdout: str) -> dict[str, object]:
    data = json.loads(stdout)
    assert isinstance(data, dict)
    assert next(iter(data)) == "schema_version", list(data)
    assert data["schema_version"] == SCHEMA_VERSION == 1
    return data


def test_every_command_and_exit_carries_schema_version(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(empty_sqlite(tmp_path / "t.db"), models=models(TABLES[:2]))
    migrations = init_migrations(app)
    write_history(migrations, count=2)

    cases: list[tuple[tuple[str, ...], int]] = [
        (("safe-upgrade", "--dry-run"), 0),
        (("safe-upgrade",), 0),
        (("safe-upgrade", "nosuchrevision"), 2),  # the report-shaped usage error
        (("verify",), 0),
        (("ledger", "show"), 0),
        (("lint",), 0),
        (("auto-merge-heads", "--check"), 0),
        (("snapshot",), 0),
        (("-d", str(tmp_path / "nowhere"), "snapshot"), 2),
        (("-d", str(tmp_path / "nowhere"), "verify"), 2),  # raised before any report
        (("-d", str(tmp_path / "nowhere"), "safe-upgrade"), 2),
    ]
    for args, code in cases:
        result = invoke(app, "db", *args, "--format", "json")
        assert result.exit_code == code, (args, result.output)
        data = first_key_is_version(result.stdout)
        assert ("ok" in data) or ("findings" in data), (args, data)

    write_revision(migrations, revision_script("b1000000bra1", None))  # a second root: 2 heads
    result = invoke(app, "db", "verify", "--format", "json")
    assert result.exit_code == 1, result.output
    assert first_key_is_version(result.stdout)["ok"] is False


def test_safemigrate_lint_carries_schema_version(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(tmp_path, revision_script("a1000000aaa1", None, "op.drop_table('users')"))
    result = CliRunner().invoke(safemigrate_main, ["lint", str(versions), "--format", "json"])
    assert result.exit_code == 1, result.output
    data = first_key_is_version(result.stdout)
    assert data["findings"], data
