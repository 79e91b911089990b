"""The library functions of ``flask db verify`` and ``flask db safe-upgrade``, called without
the CLI, on each real database: the exit code each returns with its report.

The same database is read by both, so the contract's one difference shows: a database at a
revision the scripts do not know fails verify's check (exit 1) and stops safe-upgrade's
pre-flight (exit 3).
"""

from __future__ import annotations

from pathlib import Path

import flask_migrate
import pytest

from flask_safemigrate import upgrade, verify
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.report import Finding, Severity
from tests.support.apps import MakeApp
from tests.support.databases import execute
from tests.support.revisions import multidb_script, write_revision
from tests.support.verify import ITEMS, ITEMS_SCRIPT, USERS, USERS_SCRIPT, VerifyApp, script

BROKEN = "c3c3c3c3c3c3"
UNKNOWN = "ffffffffffff"


def errors(findings: list[Finding]) -> list[str]:
    return sorted(f.rule for f in findings if f.severity is Severity.ERROR)


def test_upgrade_then_verify(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)

    behind = verify.verify(app)
    assert (behind.exit_code, behind.ok) == (ExitCode.CHECKS_FAILED, False)
    assert errors(behind.report.findings) == ["not-at-head"]
    assert behind.report.facts["current"] == []

    dry = upgrade.safe_upgrade(app, upgrade.Options(dry_run=True))
    assert dry.exit_code is ExitCode.OK
    assert dry.report.facts["stage"] == "preflight"
    assert [step["revision"] for step in dry.report.facts["plan"]] == [USERS, ITEMS]
    assert dry.report.facts["applied"] == []

    done = upgrade.safe_upgrade(app)
    assert done.exit_code is ExitCode.OK, done.report.findings
    assert done.report.facts["stage"] == "done"
    assert [step["revision"] for step in done.report.facts["applied"]] == [USERS, ITEMS]
    assert done.report.facts["current"] == [ITEMS]

    at_head = verify.verify(app)
    assert (at_head.exit_code, at_head.report.findings) == (ExitCode.OK, [])
    assert at_head.report.facts["current"] == [ITEMS]


def test_a_failed_revision_is_exit_4_then_a_verify_failure(
    verify_app: VerifyApp, database_url: str
) -> None:
    broken = script(
        BROKEN,
        ITEMS,
        'op.execute("UPDATE no_such_table SET x = 1")',
        'op.execute("UPDATE no_such_table SET x = 0")',
        message="broken",
    )
    app = verify_app(database_url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, broken])

    failed = upgrade.safe_upgrade(app, upgrade.Options(skip_lint=True, backup=False))

    assert failed.exit_code is ExitCode.MIGRATION_FAILED
    assert failed.report.facts["stage"] == "upgrade"
    assert errors(failed.report.findings) == ["migration-failed"]
    (finding,) = failed.report.findings
    assert finding.extra["revision"] == BROKEN
    assert failed.report.facts["current"] == [ITEMS]

    seen = verify.verify(app)
    assert seen.exit_code is ExitCode.CHECKS_FAILED
    # The failing UPDATE left nothing behind: the failure was resolved at once (issue #17),
    # so verify reports only the pending revision, not a failed migration to repair.
    assert errors(seen.report.findings) == ["not-at-head"]


def test_an_unknown_revision_fails_verify_and_stops_safe_upgrade(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    assert upgrade.safe_upgrade(app, upgrade.Options(backup=False)).ok
    execute(database_url, f"UPDATE alembic_version SET version_num = '{UNKNOWN}'")

    checked = verify.verify(app)
    assert checked.exit_code is ExitCode.CHECKS_FAILED
    assert errors(checked.report.findings) == ["unknown-database-revision"]

    stopped = upgrade.safe_upgrade(app)
    assert stopped.exit_code is ExitCode.PREFLIGHT
    assert stopped.report.facts["stage"] == "preflight"
    assert errors(stopped.report.findings) == ["unknown-database-revision"]
    assert stopped.report.facts["current"] == [UNKNOWN]


def test_a_bad_target_revision_raises_with_the_runs_report(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    with pytest.raises(upgrade.RunConfigError) as raised:
        upgrade.safe_upgrade(app, upgrade.Options(revision=UNKNOWN))
    assert raised.value.exit_code is ExitCode.USAGE
    assert raised.value.report.facts["stage"] == "preflight"
    assert errors(raised.value.report.findings) == ["usage-error"]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql+psycopg://postgres@127.0.0.1:1/test", id="postgresql"),
        pytest.param("mysql+pymysql://root@127.0.0.1:1/test", id="mysql"),
    ],
)
def test_an_unreachable_database_is_exit_3(verify_app: VerifyApp, url: str) -> None:
    """Nothing listens on port 1: refused at once, before any read."""
    app = verify_app(url)

    checked = verify.verify(app)
    assert checked.exit_code is ExitCode.PREFLIGHT
    assert errors(checked.report.findings) == ["database-unreachable"]

    stopped = upgrade.safe_upgrade(app)
    assert stopped.exit_code is ExitCode.PREFLIGHT
    assert errors(stopped.report.findings) == ["database-unreachable"]
    assert "127.0.0.1:1" in stopped.report.findings[0].message


def test_the_multidb_template_with_one_database_names_its_bind_on_failure(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    """Flask-Migrate's multi-database ``env.py`` with no bind configured is one target, and
    its failure report keeps the multi-database shape (``bind``, ``binds``)."""
    directory = tmp_path / "migrations"
    app = make_app(database_url, migrations=directory, config={"SAFEMIGRATE_CONNECT_RETRIES": 0})
    with app.app_context():
        flask_migrate.init(str(directory), multidb=True)
    write_revision(
        directory,
        multidb_script(
            BROKEN,
            None,
            'op.execute("UPDATE no_such_table SET x = 1")---pass',
            "pass---pass",
            "broken",
        ),
    )

    failed = upgrade.safe_upgrade(app, upgrade.Options(skip_lint=True, backup=False))

    assert failed.exit_code is ExitCode.MIGRATION_FAILED
    (finding,) = [f for f in failed.report.findings if f.severity is Severity.ERROR]
    assert finding.rule == "migration-failed"
    assert finding.extra["bind"] is None
    assert finding.extra["binds"] == [{"bind": None, "current": []}]
    assert "Where each database stands now: " in finding.message
