"""``flask db safe-upgrade [START:]END --sql`` is ``flask db upgrade [START:]END --sql`` (issue
#17, item 1): the same SQL on stdout, and the database is never connected to (START is its
position; without START the SQL starts at base, as Alembic's offline mode does), so a URL that
cannot be reached still prints the SQL. A range without ``--sql``
is refused, as Alembic refuses one online.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import DbKind
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import REVISIONS, models, versions_of
from tests.upgrade.test_parity import other_directory


def _unreachable(database_url: str, db_kind: DbKind, tmp_path: Path) -> str:
    """The database's URL made unusable: a wrong password on a port nothing listens on
    (SQLite: a file in a directory that does not exist). Any connection attempt fails."""
    if db_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
    url = sa.make_url(database_url).set(password="wrong-password", port=1)
    return url.render_as_string(hide_password=False)


def test_a_range_prints_what_plain_upgrade_prints(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path)
    for revision in (f"{REVISIONS[0]}:head", f"base:{REVISIONS[1]}", f"{REVISIONS[0][:6]}:+1"):
        plain = invoke(app, "db", "-d", str(other), "upgrade", revision, "--sql")
        assert plain.exit_code == 0, plain.output
        safe = invoke(app, "db", "-d", str(other), "safe-upgrade", revision, "--sql")
        assert safe.exit_code == 0, safe.output
        assert "Running upgrade" in safe.stdout
        assert safe.stdout.rstrip("\n") == plain.stdout.rstrip("\n"), revision
    assert versions_of(database_url) == [], "--sql changes nothing"


def test_a_range_never_connects(
    make_app: MakeApp, database_url: str, db_kind: DbKind, tmp_path: Path
) -> None:
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path)
    expected = invoke(app, "db", "-d", str(other), "upgrade", f"{REVISIONS[0]}:head", "--sql")
    assert expected.exit_code == 0, expected.output

    broken = make_app(_unreachable(database_url, db_kind, tmp_path), models=models())
    result = invoke(broken, "db", "-d", str(other), "safe-upgrade", f"{REVISIONS[0]}:head", "--sql")
    assert result.exit_code == 0, result.output
    assert "database-unreachable" not in result.output
    assert result.stdout.rstrip("\n") == expected.stdout.rstrip("\n")
    assert f"-- Running upgrade {REVISIONS[0]} -> {REVISIONS[1]}" in result.stdout
    assert "wrong-password" not in result.output

    code, data, _ = invoke_json(
        broken, "db", "-d", str(other), "safe-upgrade", f"{REVISIONS[0]}:head", "--sql",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, data
    assert data["from"] == [REVISIONS[0]] and data["stage"] == "done"
    assert [step["revision"] for step in data["plan"]] == list(REVISIONS[1:3])
    assert data["sql"].rstrip("\n") == expected.stdout.rstrip("\n")

    # Without a start, as plain `flask db upgrade --sql`: from base, never connected.
    for args in ((), (REVISIONS[1],)):
        plain = invoke(app, "db", "-d", str(other), "upgrade", *args, "--sql")
        assert plain.exit_code == 0, plain.output
        result = invoke(broken, "db", "-d", str(other), "safe-upgrade", *args, "--sql")
        assert result.exit_code == 0, result.output
        assert result.stdout.rstrip("\n") == plain.stdout.rstrip("\n"), args
        assert "CREATE TABLE alembic_version" in result.stdout
        assert f"-- Running upgrade  -> {REVISIONS[0]}" in result.stdout
    code, data, _ = invoke_json(
        broken, "db", "-d", str(other), "safe-upgrade", "--sql", "--format", "json"
    )
    assert code == 0, data
    assert data["from"] == [] and [step["revision"] for step in data["plan"]] == list(REVISIONS[:3])
    if db_kind == "sqlite":  # not even the file: SQLite would create it on connecting
        assert not (tmp_path / "no").exists()


def test_a_range_without_sql_is_refused(
    make_app: MakeApp, database_url: str, db_kind: DbKind, tmp_path: Path
) -> None:
    broken = make_app(_unreachable(database_url, db_kind, tmp_path), models=models())
    other = other_directory(broken, tmp_path)
    result = invoke(broken, "db", "-d", str(other), "safe-upgrade", f"{REVISIONS[0]}:head")
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert "is only for --sql" in line and f"{REVISIONS[0]}:head" in line
    assert "Traceback" not in result.output and "unreachable" not in result.output


def test_a_range_lints_its_scripts_without_the_database(
    make_app: MakeApp, database_url: str, db_kind: DbKind, tmp_path: Path
) -> None:
    """Lint still judges the range: a DROP TABLE there stops the SQL (exit 3), as it would."""
    app = make_app(_unreachable(database_url, db_kind, tmp_path), models=models())
    other = other_directory(app, tmp_path, count=1)
    write_revision(other, revision_script("f1000000drop", REVISIONS[0], "op.drop_table('x')"))
    result = invoke(app, "db", "-d", str(other), "safe-upgrade", f"{REVISIONS[0]}:head", "--sql")
    assert result.exit_code == 3, result.output
    assert "drop" in result.output.lower() and "Running upgrade" not in result.stdout
    assert "unreachable" not in result.output


def test_a_script_that_raises_stops_in_the_sql_writing_not_preflight(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url, models=models())
    other = other_directory(app, tmp_path, count=1)
    write_revision(other, revision_script("f1000000sql1", REVISIONS[0], "not_defined_anywhere()"))
    for args in (("--sql",), (f"{REVISIONS[0]}:head", "--sql")):
        code, data, _ = invoke_json(
            app, "db", "-d", str(other), "safe-upgrade", *args, "--format", "json"
        )
        assert code == 4, data
        assert data["stage"] == "upgrade"
        assert data["summary"].startswith("safe-upgrade --sql stopped writing the SQL")
        assert "nothing ran on the database" in data["summary"]
        assert "sql" not in data
    assert versions_of(database_url) == []
