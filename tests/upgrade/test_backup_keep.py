"""Issue #17 item 9: backups do not pile up (``SAFEMIGRATE_BACKUP_KEEP``), and an empty
database is not backed up."""

from __future__ import annotations

from pathlib import Path

from flask_safemigrate.backup import backup_database, prune_backups
from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import sqlite_url
from tests.upgrade.histories import (
    LEGACY,
    REVISIONS,
    TABLES,
    models,
    prepare,
    seed_legacy_table,
    versions_of,
    write_history,
)


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_prune_removes_only_the_oldest_of_this_database(tmp_path: Path) -> None:
    one, other = tmp_path / "one" / "app.db", tmp_path / "other" / "app.db"
    for path in (one, other):
        path.parent.mkdir()
        seed_legacy_table(sqlite_url(path))
    backups = tmp_path / "backups"
    mine = [backup_database(sqlite_url(one), backups, label=f"before-{i}") for i in range(4)]
    theirs = [backup_database(sqlite_url(other), backups, label="before-x") for _ in range(2)]
    # Same stem, same suffix: only the identity tag tells the two databases apart.
    assert {p.name.split("-")[0] for p in mine + theirs} == {"app"}
    old_style = backups / "app-20250101T000000.000000Z-before-x.sqlite3"
    unrelated = backups / "app-notes.sqlite3"
    for path in (old_style, unrelated):
        path.write_text("not ours to remove")

    assert prune_backups(mine[-1], sqlite_url(one), 0) == []
    removed = prune_backups(mine[-1], sqlite_url(one), 2)

    assert removed == mine[:2]
    assert _files(backups) == sorted(p.name for p in [*mine[2:], *theirs, old_style, unrelated])
    # Keep 1 keeps the newest only, never the one just made even if it sorts first.
    assert prune_backups(mine[2], sqlite_url(one), 1) == [mine[3]]
    assert mine[2].is_file() and all(p.is_file() for p in theirs)


def test_a_successful_run_keeps_the_last_backups_of_its_database(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    config = {"SAFEMIGRATE_BACKUP_DIR": str(backups), "SAFEMIGRATE_BACKUP_KEEP": 2}
    app = make_app(database_url, models=models((*TABLES, LEGACY)), config=config)
    prepare(app)
    seed_legacy_table(database_url)
    written: list[str] = []
    removed: list[str] = []
    for revision in REVISIONS[:4]:
        code, data, _ = invoke_json(
            app, "db", "safe-upgrade", revision, "--backup", "--no-verify", "--format", "json"
        )
        assert code == 0, data
        written.append(data["backup"])
        removed += data["backups_removed"]
    assert removed == written[:2]
    assert _files(backups) == sorted(Path(p).name for p in written[2:])

    # A failed run removes nothing: the backups stay for the restore.
    migrations = Path(app.extensions["migrate"].directory)
    bad = migrations / "versions" / f"{REVISIONS[4]}_test.py"
    bad.write_text(bad.read_text().replace("def upgrade():", "def upgrade():\n    1 / 0\n"))
    result = invoke(app, "db", "safe-upgrade", "--backup", "--no-verify")
    assert result.exit_code == 4, result.output
    assert len(_files(backups)) == 3
    assert versions_of(database_url) == [REVISIONS[3]]


def test_a_run_that_prunes_says_so(make_app: MakeApp, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "app.db")
    config = {"SAFEMIGRATE_BACKUP_KEEP": 1}
    app = make_app(url, models=models((*TABLES, LEGACY)), config=config)
    prepare(app)
    seed_legacy_table(url)
    assert invoke(app, "db", "safe-upgrade", REVISIONS[0]).exit_code == 0
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if "older backup" in line]
    assert line.startswith("backup: removed 1 older backup of ")
    assert "(SAFEMIGRATE_BACKUP_KEEP = 1)" in line


def test_an_empty_database_is_not_backed_up(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP_DIR": str(backups)})
    prepare(app)
    code, data, result = invoke_json(app, "db", "safe-upgrade", "--backup", "--format", "json")
    assert code == 0, data
    assert data["backup"] is None and data["backups_removed"] == []
    assert not backups.exists() or _files(backups) == []
    assert "has no tables, there is nothing to restore" in result.stderr
    assert versions_of(database_url) == [REVISIONS[-1]]


def test_a_run_without_a_backup_says_backups_are_off_and_how_to_turn_them_on(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    """PostgreSQL and MariaDB are not backed up by default: the run says so on a `backup:`
    line, as SQLite says where its copy went, instead of saying nothing."""
    app = make_app(database_url, models=models())
    migrations = prepare(app, count=1)
    result = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("backup:")]
    if db_kind == "sqlite":
        assert line.startswith("backup: skipped: "), line  # on by default; empty database
    else:
        assert line.startswith("backup: off for "), line
        assert "on by default for SQLite only; pass --backup," in line
        assert 'app.config["SAFEMIGRATE_BACKUP"] = True' in line

    write_history(migrations, count=2)
    result = invoke(app, "db", "safe-upgrade", "--no-verify", "--no-backup")
    assert result.exit_code == 0, result.output
    assert "(--no-backup): no copy to restore from" in result.output

    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    write_history(migrations, count=3)
    result = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert result.exit_code == 0, result.output
    assert '(app.config["SAFEMIGRATE_BACKUP"] is False): pass --backup' in result.output
