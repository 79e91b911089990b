"""How much slower is ``flask db safe-upgrade`` than ``flask db upgrade`` on 200 revisions?

Run from the repository root::

    .venv/bin/python benchmarks/upgrade.py [--revisions 200] [--runs 5] [--postgres-url URL]

It writes a throw-away app and a history of 200 revisions (each creates a table with an
index, guarded, so the history lints clean) into a temporary directory. Each run upgrades one
fresh database with the real ``flask db upgrade`` and another with ``flask db safe-upgrade
--no-backup`` (each a fresh process, alternately), and prints the medians and their ratio;
the target is at most 1.15x. Then it times a no-op re-run of each on the upgraded database.

safe-upgrade does more than the plain path on purpose: it reads the history statically, lints
the pending scripts, takes the migration lock, writes a ledger row per revision and compares
the schema with the models at the end. The ratio is the price of all of that.

SQLite uses temporary files; PostgreSQL scratch databases created on the local server and
dropped afterwards (skipped with a note when the server cannot be reached). Not part of the
test suite; exits 0 unless a command fails.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

REPO_ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
TARGET = 1.15

APP_SOURCE = '''\
"""The benchmark's app: {revisions} tables, one per revision."""
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate

db = SQLAlchemy()
safe = SafeMigrate()

for n in range({revisions}):
    sa.Table(
        f"t{{n:04d}}s",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Index(f"ix_t{{n:04d}}s_name", "name"),
    )


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    db.init_app(app)
    safe.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    return app
'''


def revision_id(n: int) -> str:
    return f"bench{n:07d}"


def revision_source(n: int) -> str:
    down = repr(revision_id(n - 1)) if n else "None"
    table = f"t{n:04d}s"
    return (
        f'"""create table {table}\n\nRevision ID: {revision_id(n)}\n"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "{revision_id(n)}"\ndown_revision = {down}\nbranch_labels = None\n'
        "depends_on = None\n\n\n"
        "def upgrade():\n"
        f'    op.create_table(\n        "{table}",\n'
        '        sa.Column("id", sa.Integer(), nullable=False),\n'
        '        sa.Column("name", sa.String(length=100), nullable=False),\n'
        '        sa.Column("note", sa.Text(), nullable=True),\n'
        '        sa.PrimaryKeyConstraint("id"),\n'
        "        if_not_exists=True,\n    )\n"
        f'    op.create_index("ix_{table}_name", "{table}", ["name"], if_not_exists=True)\n\n\n'
        "def downgrade():\n"
        f'    op.drop_index("ix_{table}_name", table_name="{table}", if_exists=True)\n'
        f'    op.drop_table("{table}", if_exists=True)\n'
    )


def write_project(folder: Path, revisions: int) -> None:
    (folder / "bench_app.py").write_text(APP_SOURCE.format(revisions=revisions), encoding="utf-8")
    template = REPO_ROOT / "example_app" / "migrations"
    migrations = folder / "migrations"
    (migrations / "versions").mkdir(parents=True)
    for name in ("env.py", "alembic.ini", "script.py.mako"):
        (migrations / name).write_bytes((template / name).read_bytes())
    for n in range(revisions):
        (migrations / "versions" / f"{revision_id(n)}_create_table.py").write_text(
            revision_source(n), encoding="utf-8"
        )


def flask(folder: Path, url: str, *args: str) -> float:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), str(folder)])),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [str(FLASK), "--app", "bench_app", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return seconds


def measure(label: str, folder: Path, fresh: Callable[[], Iterator[str]], runs: int) -> None:
    """``fresh()`` is a context manager factory yielding the URL of a new, empty database."""
    plain: list[float] = []
    safe: list[float] = []
    for _ in range(runs):
        with contextmanager(fresh)() as url:
            plain.append(flask(folder, url, "db", "upgrade"))
        with contextmanager(fresh)() as url:
            safe.append(flask(folder, url, "db", "safe-upgrade", "--no-backup"))
            noop_safe = [flask(folder, url, "db", "safe-upgrade", "--no-backup")]
            noop_plain = [flask(folder, url, "db", "upgrade")]
    plain_s, safe_s = statistics.median(plain), statistics.median(safe)
    ratio = safe_s / plain_s
    verdict = "ok" if ratio <= TARGET else f"ABOVE the {TARGET}x target"
    print(
        f"{label}: safe-upgrade {safe_s:.3f}s / flask db upgrade {plain_s:.3f}s"
        f" = {ratio:.2f}x ({verdict}; median of {runs} runs each, backup off)"
    )
    print(
        f"{label}: no-op re-run: safe-upgrade {noop_safe[0]:.3f}s,"
        f" flask db upgrade {noop_plain[0]:.3f}s"
    )


def sqlite_databases(folder: Path) -> Callable[[], Iterator[str]]:
    def fresh() -> Iterator[str]:
        path = folder / f"bench_{secrets.token_hex(4)}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            path.unlink(missing_ok=True)

    return fresh


def postgres_databases(server: URL) -> Callable[[], Iterator[str]] | None:
    admin = sa.create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        print(
            f"PostgreSQL: skipped, server not reachable ({str(exc.orig).strip().splitlines()[0]})"
        )
        return None

    def fresh() -> Iterator[str]:
        name = f"sm_bench_{secrets.token_hex(6)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    print(
        f"{args.revisions} revisions, one table each; target: safe-upgrade / upgrade <= {TARGET}x"
    )
    with tempfile.TemporaryDirectory(prefix="sm_bench_") as tmp:
        folder = Path(tmp)
        write_project(folder, args.revisions)
        measure("SQLite", folder, sqlite_databases(folder), args.runs)
        fresh = postgres_databases(make_url(args.postgres_url))
        if fresh is not None:
            measure("PostgreSQL", folder, fresh, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
