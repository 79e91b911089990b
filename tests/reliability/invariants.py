"""What must hold after a kill, after a resume, and after sixteen migrators ran at once."""

from __future__ import annotations

import sqlite3
import subprocess
from collections import Counter
from contextlib import closing
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.reliability.history import SEED_REVISION, applied_upto, revisions_between
from tests.support.databases import nullpool_engine
from tests.upgrade.histories import ledger_rows, versions_of

#: Marks a backup's temporary file: ``backup.py`` writes ``.<name>.<random>.partial`` (and
#: SQLite's copy has its ``.partial-journal`` beside it while it is written).
PARTIAL = ".partial"


def current_revision(url: str) -> str | None:
    """The version table's one revision (asserts one row at most, and a known revision)."""
    return applied_upto(versions_of(url))


def check_ledger(url: str, *, upto: str | None, since: str | None = SEED_REVISION) -> None:
    """Each revision after ``since`` up to ``upto`` has one success row; nothing else does.

    No duplicate success row per revision, no orphan (a success row for a revision the
    version table does not include), no revision applied without its row (the row and the
    version move in one transaction), and no failure row (a killed run cannot write one).
    """
    rows = ledger_rows(url)
    upgrades = [r["revision"] for r in rows if r["direction"] == "upgrade" and bool(r["success"])]
    duplicates = sorted(rev for rev, n in Counter(upgrades).items() if n > 1)
    assert not duplicates, f"duplicate success rows in the ledger for {duplicates}"
    applied = set(revisions_between(None, upto))
    orphans = sorted(set(upgrades) - applied)
    assert not orphans, f"ledger rows for revisions the version table does not include: {orphans}"
    missing = [rev for rev in revisions_between(since, upto) if rev not in upgrades]
    assert not missing, f"applied (version table at {upto}) but not in the ledger: {missing}"
    failures = [(r["revision"], r["direction"], r["error"]) for r in rows if not bool(r["success"])]
    assert not failures, f"failure rows in the ledger: {failures}"


def invalid_indexes(url: str) -> list[str]:
    """PostgreSQL indexes marked INVALID (a CREATE INDEX CONCURRENTLY that did not finish).

    Such an index exists by name, so a guard or a drift check may take it for done, but the
    planner ignores it and a unique one enforces nothing. Other databases have no such state.
    """
    if make_url(url).get_backend_name() != "postgresql":
        return []
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(
                conn.execute(
                    sa.text(
                        "SELECT c.relname FROM pg_index i"
                        " JOIN pg_class c ON c.oid = i.indexrelid"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE NOT i.indisvalid AND n.nspname = current_schema()"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


def partial_backups(directory: Path) -> list[str]:
    """Temporary files a backup left behind (should be none: only complete backups)."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if PARTIAL in p.name)


def check_complete_backups(directory: Path) -> list[Path]:
    """Every backup in ``directory`` is complete and restorable in form; returns them."""
    found = sorted(p for p in directory.iterdir() if PARTIAL not in p.name)
    for path in found:
        if path.suffix == ".sqlite3":
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), path
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            assert "customers" in tables, f"{path} lacks the seeded tables"
        elif path.suffix == ".dump":
            assert path.read_bytes()[:5] == b"PGDMP", f"{path} is not a pg_dump archive"
            check = subprocess.run(
                ["pg_restore", "--file=/dev/null", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert check.returncode == 0, f"pg_restore cannot read {path}: {check.stderr}"
        elif path.suffix == ".sql":
            tail = path.read_bytes()[-200:].decode("utf-8", errors="replace")
            assert "-- Dump completed" in tail, f"{path} is a truncated dump"
        else:
            raise AssertionError(f"unexpected file in the backup directory: {path.name}")
    return found
