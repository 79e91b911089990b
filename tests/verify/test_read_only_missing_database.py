"""Commands that only read never create the database they were pointed at.

Opening a SQLite file creates it: a mistyped path in ``SQLALCHEMY_DATABASE_URI`` used to leave
an empty database behind after ``flask db verify``, which the next command read as "at base".
Each read-only command now stops on one line naming the path, with its documented exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.databases import DbKind, server_url, sqlite_url
from tests.support.verify import VerifyApp

#: Each read-only command, and its exit code for a database that is not there (docs/exit-codes.md:
#: 3, an unreachable database; graph draws the history without it and says "not connected").
READ_ONLY = [
    (("verify",), 3),
    (("ledger", "show"), 3),
    (("lint", "--pending"), 3),
    (("safe-upgrade", "--dry-run"), 3),
    (("fleet-status",), 3),
    (("graph",), 0),
]


@pytest.mark.parametrize(("command", "code"), READ_ONLY, ids=[" ".join(c) for c, _ in READ_ONLY])
def test_a_mistyped_sqlite_path_is_not_created(
    verify_app: VerifyApp, tmp_path: Path, command: tuple[str, ...], code: int
) -> None:
    missing = tmp_path / "typo.db"
    app = verify_app(sqlite_url(missing))

    text = invoke(app, "db", *command)

    assert not missing.exists(), text.output
    assert text.exit_code == code, text.output
    assert "Traceback" not in text.output
    said = [line for line in text.output.splitlines() if "no SQLite database at " in line]
    assert len(said) == 1, text.output
    if command != ("graph",):  # the graph's header line shortens a long note in the middle
        assert f"no SQLite database at {missing} (no such file;" in said[0]


@pytest.mark.parametrize(
    "command", [c for c, _ in READ_ONLY if "graph" not in c], ids=lambda c: " ".join(c)
)
def test_json_names_the_path_and_creates_nothing(
    verify_app: VerifyApp, tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "typo.db"
    app = verify_app(sqlite_url(missing))

    result = invoke(app, "db", *command, "--format", "json")

    assert not missing.exists()
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert f"no SQLite database at {missing}" in json.dumps(document)


def test_safe_upgrade_still_creates_the_database(verify_app: VerifyApp, tmp_path: Path) -> None:
    """The same URL is right for a deploy: a real safe-upgrade creates the file (so the
    tests above pass because the commands read, not because the path cannot be written)."""
    missing = tmp_path / "typo.db"
    app = verify_app(sqlite_url(missing))

    result = invoke(app, "db", "safe-upgrade")

    assert result.exit_code == 0, result.output
    assert missing.exists()
    assert invoke(app, "db", "verify").exit_code == 0


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
@pytest.mark.parametrize("command", [("verify",), ("ledger", "show"), ("lint", "--pending")])
def test_a_mistyped_server_database_is_one_line_without_the_password(
    verify_app: VerifyApp, kind: DbKind, command: tuple[str, ...]
) -> None:
    url = server_url(kind).set(database="nc_no_such_database", password="hunter2-secret")
    app = verify_app(url.render_as_string(hide_password=False))

    text = invoke(app, "db", *command)

    assert text.exit_code == 3, text.output
    assert "hunter2" not in text.output
    assert "Traceback" not in text.output
    failed = [line for line in text.output.splitlines() if line.startswith(("Error:", "error["))]
    assert len(failed) == 1, text.output
    assert "***" in failed[0]
