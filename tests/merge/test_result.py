"""``merge.auto_merge_heads``, the library function of ``flask db auto-merge-heads``, called
without the CLI: the exit code it returns with its report, and what it wrote.

No database is opened (the merge reads and writes scripts only).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from flask_safemigrate import history, merge
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.report import Severity
from tests.support.merge import ROOT, MergeApp, new_scripts, rev, root, snapshot

A, B = "b1b1b1b1b1b1", "c2c2c2c2c2c2"
ADD_AGE = 'op.add_column("users", sa.Column("age", sa.Integer()))'
CREATE_TAGS = 'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))'
DROP_EMAIL = 'op.drop_column("users", "email")'
ALTER_EMAIL = 'op.alter_column("users", "email", type_=sa.String(length=200))'


def heads_of(migrations: Path) -> tuple[str, ...]:
    return history.load_graph([migrations / "versions"]).heads


def branches(merge_app: MergeApp, left: str, right: str) -> tuple[Flask, Path, dict[str, str]]:
    """An app whose history forks after the root into heads ``A`` (``left``) and ``B``
    (``right``), and the scripts' checksums before the merge."""
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, left)
    rev(migrations, B, ROOT, right)
    return app, migrations, snapshot(migrations)


def test_one_head_is_exit_0_and_writes_nothing(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    result = merge.auto_merge_heads(app)
    assert (result.exit_code, result.ok) == (ExitCode.OK, True)
    facts = result.report.to_dict()
    assert (facts["heads"], facts["merge_revision"], facts["path"]) == ([ROOT], None, None)
    assert result.report.findings == []


def test_two_heads_are_merged_with_exit_0(merge_app: MergeApp) -> None:
    app, migrations, before = branches(merge_app, ADD_AGE, CREATE_TAGS)

    result = merge.auto_merge_heads(app, message="join")

    assert result.exit_code is ExitCode.OK
    (written,) = new_scripts(before, migrations)
    facts = result.report.to_dict()
    assert facts["heads"] == [A, B]
    assert heads_of(migrations) == (facts["merge_revision"],)
    assert Path(facts["path"]).name == written


def test_check_with_two_heads_is_exit_1_and_writes_nothing(merge_app: MergeApp) -> None:
    app, migrations, before = branches(merge_app, ADD_AGE, CREATE_TAGS)

    result = merge.auto_merge_heads(app, check=True)

    assert result.exit_code is ExitCode.CHECKS_FAILED
    assert [f.rule for f in result.report.findings] == ["multiple-heads"]
    assert snapshot(migrations) == before


def test_a_conflict_is_exit_1_and_force_is_exit_0(merge_app: MergeApp) -> None:
    app, migrations, before = branches(merge_app, ALTER_EMAIL, DROP_EMAIL)

    refused = merge.auto_merge_heads(app)

    assert refused.exit_code is ExitCode.CHECKS_FAILED
    assert [(f.rule, f.severity) for f in refused.report.findings] == [
        (merge.CONFLICT_CHECK, Severity.ERROR)
    ]
    assert refused.report.to_dict()["merge_revision"] is None
    assert snapshot(migrations) == before

    forced = merge.auto_merge_heads(app, force=True)

    assert forced.exit_code is ExitCode.OK
    assert [(f.rule, f.severity) for f in forced.report.findings] == [
        (merge.CONFLICT_CHECK, Severity.WARNING)
    ]
    assert heads_of(migrations) == (forced.report.to_dict()["merge_revision"],)
