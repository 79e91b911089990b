"""The command's output and exit codes, and the pure helpers behind the checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flask_safemigrate import verify
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.ledger import LEDGER_TABLE
from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.schema_diff import (
    comparison_options,
    describe_difference,
    mysql_defaults_equal,
)
from tests.support.apps import REPO_ROOT
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import sqlite_url
from tests.support.verify import ITEMS, USERS, VerifyApp

SQLITE = sa.create_engine("sqlite://").dialect


@pytest.fixture
def app_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "app.db")


def test_text_output_is_titled_blocks_and_a_summary(verify_app: VerifyApp, app_url: str) -> None:
    app = verify_app(app_url)
    invoke_ok(app, "db", "upgrade", USERS)
    result = invoke(app, "db", "verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"History: 2 revisions, head {ITEMS}."
    assert lines[1] == f"Database {app_url}: at {USERS}."
    block = lines.index(
        f"error[not-at-head]: Database {app_url} is at {USERS}: 1 revision not applied yet:"
        f" {ITEMS} (create items)."
    )
    assert lines[block + 1] == (
        "  help: run `flask db safe-upgrade` (or `flask db upgrade`) to apply them"
    )
    assert lines[-1] == "Found 1 problem (1 error)."


def test_json_is_one_object_with_the_contract_keys(verify_app: VerifyApp, app_url: str) -> None:
    app = verify_app(app_url)
    invoke_ok(app, "db", "upgrade", USERS)
    result = invoke(app, "db", "verify", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert list(data) == ["schema_version", "ok", "heads", "current", "problems"]
    assert data["ok"] is False
    (problem,) = data["problems"]
    assert {"check", "severity", "message"} <= set(problem)


def test_options_and_usage_errors(verify_app: VerifyApp, app_url: str) -> None:
    app = verify_app(app_url)
    assert "verify" in invoke(app, "db", "--help").output
    help_text = invoke(app, "db", "verify", "--help").output
    for option in ("--no-db", "--roundtrip", "--scratch-url", "--format"):
        assert option in help_text
    assert invoke(app, "db", "verify", "--format", "xml").exit_code == 2
    bad = invoke(app, "db", "verify", "--roundtrip", "--scratch-url", "not a url")
    assert bad.exit_code == 2
    assert "--scratch-url is not a database URL" in bad.output


def test_roundtrip_on_a_server_that_is_down_is_exit_3(verify_app: VerifyApp) -> None:
    app = verify_app("postgresql+psycopg://postgres:pw-123@127.0.0.1:9/app")
    result = invoke(app, "db", "verify", "--roundtrip", "--format", "json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert [p["check"] for p in data["problems"]] == ["database-unreachable"] * 2
    assert data["problems"][1]["message"].startswith("Roundtrip not run: cannot create a scratch")
    assert data["roundtrip"] == {"ran": False, "revisions": 0}
    assert "pw-123" not in result.output


@pytest.mark.parametrize(
    ("findings", "code"),
    [
        ([], ExitCode.OK),
        ([Finding("missing-downgrade", Severity.WARNING, "w")], ExitCode.OK),
        ([Finding("schema-drift", Severity.ERROR, "e")], ExitCode.CHECKS_FAILED),
        (
            [
                Finding("schema-drift", Severity.ERROR, "e"),
                Finding("database-unreachable", Severity.ERROR, "down"),
            ],
            ExitCode.PREFLIGHT,
        ),
    ],
)
def test_exit_code(findings: list[Finding], code: ExitCode) -> None:
    assert verify.exit_code(Report("verify", findings)) is code


def test_every_check_name_is_in_the_contract() -> None:
    # invalid-revision-id: #13 item 2; invalid-index: #17; seeded-row-lost (--rows): #18;
    # models-snapshot-stale, breaks-previous-release: #19; seeded-rows-unknown-revision,
    # unmapped-required-column: a newcomer's trial
    assert len(set(verify.CHECKS)) == 21
    assert all(name == name.lower() and " " not in name for name in verify.CHECKS)
    # Each is listed in docs/exit-codes.md's check names.
    listed = (REPO_ROOT / "docs" / "exit-codes.md").read_text(encoding="utf-8")
    section = listed.split("### Check names", 1)[1].split("\n## ", 1)[0]
    assert [name for name in verify.CHECKS if f"`{name}`" not in section] == []


# --------------------------------------------------------------------------- schema_diff helpers


@pytest.mark.parametrize(
    ("inspected", "rendered", "equal"),
    [
        ("'0'", "false", True),
        ("'1'", "true", True),
        ("0", "false", True),
        ("current_timestamp()", "now()", True),
        ("current_timestamp()", "CURRENT_TIMESTAMP", True),
        ("'7'", "7", True),
        ("'x'", "'x'", True),
        ("'0'", "true", False),
        ("'abc'", "'abd'", False),
        (None, "false", False),
        (None, None, True),
    ],
)
def test_mysql_defaults_equal(inspected: str | None, rendered: str | None, equal: bool) -> None:
    assert mysql_defaults_equal(inspected, rendered) is equal


def test_comparison_options_hide_the_ledger_and_keep_the_apps_hooks() -> None:
    seen: list[Any] = []

    def include_name(name: str, type_: str, parents: Any) -> bool:
        seen.append(name)
        return name != "secret"

    opts = comparison_options(
        {"include_name": include_name, "compare_type": False, "render_as_batch": True}
    )
    hook = opts["include_name"]
    assert hook(LEDGER_TABLE, "table", {}) is False
    assert hook("secret", "table", {}) is False
    assert hook("users", "table", {}) is True
    assert seen == ["secret", "users"]
    assert opts["compare_type"] is False
    assert "render_as_batch" not in opts
    assert "compare_server_default" not in opts


def test_an_apps_server_default_comparator_decides_first() -> None:
    calls: list[tuple[Any, ...]] = []

    def compare(*args: Any) -> bool | None:
        calls.append(args)
        return True

    opts = comparison_options({"compare_server_default": compare})
    wrapped = opts["compare_server_default"]
    assert wrapped(None, None, None, "'0'", None, "false") is True
    assert len(calls) == 1


def test_describe_modify_lines() -> None:
    group: list[tuple[Any, ...]] = [
        ("modify_nullable", None, "users", "email", {}, True, False),
        ("modify_default", "app", "users", "active", {}, None, sa.DefaultClause(sa.false())),
        ("modify_comment", None, "users", "email", {}, None, "address"),
    ]
    assert describe_difference(group, SQLITE) == [
        "users.email: nullable in database, NOT NULL in models",
        "app.users.active: server default none in database, 0 in models",
        "users.email: comment None in database, 'address' in models",
    ]
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer), comment="hello")
    assert describe_difference(("add_table_comment", table), SQLITE) == [
        "table t: comment 'hello' in models, not in database"
    ]
