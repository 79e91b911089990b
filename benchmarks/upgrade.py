"""How much slower is ``flask db safe-upgrade`` than ``flask db upgrade`` on 200 revisions?

Run from the repository root::

    .venv/bin/python benchmarks/upgrade.py [--revisions 200] [--runs 5] [--postgres-url URL]

It writes a throw-away app and a history of 200 revisions (each creates a table with an
index, guarded, so the history lints clean) into a temporary directory. Each run upgrades one
fresh database with the real ``flask db upgrade`` and another with ``flask db safe-upgrade
--no-backup`` (each a fresh process; which goes first alternates), then re-runs each on its
upgraded database (a no-op). It prints the medians of wall and CPU time (user + system of
the process) and their ratios; the target is at most 1.15x. On a loaded machine wall time
mostly measures the wait for a core and for the disk, so the CPU ratio is the one to read.

This package's bytecode is compiled first, as installing it would (pip compiles a wheel on
install; Flask, SQLAlchemy and Alembic have theirs): from an editable checkout under
``PYTHONDONTWRITEBYTECODE`` every safe-upgrade process would otherwise compile the hundred
modules of its upgrade path from source, which the plain command (it imports only the
extension) mostly does not. The 200 scripts stay uncompiled for both commands.

safe-upgrade keeps two kinds of things in the user's cache directory between runs: what it read
in unchanged scripts (the history's static read, lint results, the statements the size gate
reads), and the fingerprints of drift checks that found nothing. Both are measured:
"safe-upgrade" runs with a cache kept between its runs (``XDG_CACHE_HOME`` in the temporary
folder, primed by one untimed run first, as a deploy machine that ran it before), "cold" with
a new, empty one for every process (a first deploy in a fresh container).

safe-upgrade does more than the plain path on purpose: it reads the history statically, lints
the pending scripts, takes the migration lock, writes a ledger row per revision and compares
the schema with the models at the end. The ratio is the price of all of that.

SQLite uses temporary files; PostgreSQL scratch databases created on the local server and
dropped afterwards (skipped with a note when the server cannot be reached). Not part of the
test suite; exits 0 unless a command fails.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _support import (
    DEFAULT_POSTGRES_URL,
    Scratch,
    copy_stock_env,
    server_scratch,
    sqlite_scratch,
    timed_flask,
)
from sqlalchemy.engine import make_url

import flask_safemigrate

TARGET = 1.15
PACKAGE = Path(flask_safemigrate.__file__).parent

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
    migrations = folder / "migrations"
    copy_stock_env(migrations)
    for n in range(revisions):
        (migrations / "versions" / f"{revision_id(n)}_create_table.py").write_text(
            revision_source(n), encoding="utf-8"
        )


@contextmanager
def user_cache(path: str) -> Iterator[None]:
    """safe-upgrade's cache (``XDG_CACHE_HOME``) is ``path`` meanwhile."""
    os.environ["XDG_CACHE_HOME"] = path
    try:
        yield
    finally:
        del os.environ["XDG_CACHE_HOME"]


def flask(folder: Path, url: str, *args: str, cold: bool = False) -> tuple[float, float]:
    """Wall and CPU seconds of one ``flask`` command (which must succeed).

    safe-upgrade's cache is ``folder/cache``, kept between runs; ``cold``: a new, empty one.
    """
    if cold:
        with tempfile.TemporaryDirectory(prefix="cache_", dir=folder) as empty:
            return _timed(folder, url, empty, args)
    return _timed(folder, url, str(folder / "cache"), args)


def _timed(folder: Path, url: str, cache: str, args: tuple[str, ...]) -> tuple[float, float]:
    with user_cache(cache):
        wall, cpu, done = timed_flask(folder, url, *args)
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return wall, cpu


PLAIN = ("db", "upgrade")
SAFE = ("db", "safe-upgrade", "--no-backup")


def ratios(safe: list[tuple[float, float]], plain: list[tuple[float, float]]) -> str:
    """``wall W.WWx, CPU C.CCx`` of the medians, then the per-run CPU ratios."""
    wall = statistics.median(s[0] for s in safe) / statistics.median(p[0] for p in plain)
    cpu = statistics.median(s[1] for s in safe) / statistics.median(p[1] for p in plain)
    each = ", ".join(f"{s[1] / p[1]:.2f}" for s, p in zip(safe, plain, strict=True))
    return f"wall {wall:.2f}x, CPU {cpu:.2f}x (CPU per run: {each})"


def measure(label: str, folder: Path, fresh: Scratch, runs: int) -> None:
    """``fresh()`` yields the URL of a new, empty database (and drops it afterwards).

    Each run upgrades one fresh database with each command (which goes first alternates),
    then runs each again on its upgraded database (the no-op re-run). Wall and CPU time of
    every process are kept: under load the CPU time is the steadier of the two.
    """
    plain: list[tuple[float, float]] = []
    safe: list[tuple[float, float]] = []
    cold: list[tuple[float, float]] = []
    noop_plain: list[tuple[float, float]] = []
    noop_safe: list[tuple[float, float]] = []
    noop_cold: list[tuple[float, float]] = []
    with fresh() as url:  # untimed: what an earlier deploy on this machine left
        flask(folder, url, *SAFE)
    for n in range(runs):
        order = [
            (PLAIN, plain, noop_plain, False),
            (SAFE, safe, noop_safe, False),
            (SAFE, cold, noop_cold, True),
        ]
        for args, full, noop, empty in order if n % 2 == 0 else reversed(order):
            with fresh() as url:
                full.append(flask(folder, url, *args, cold=empty))
                noop.append(flask(folder, url, *args, cold=empty))

    def median(times: list[tuple[float, float]]) -> str:
        return (
            f"{statistics.median(t[0] for t in times):.3f}s wall,"
            f" {statistics.median(t[1] for t in times):.3f}s CPU"
        )

    cpu = statistics.median(s[1] for s in safe) / statistics.median(p[1] for p in plain)
    verdict = "ok" if cpu <= TARGET else f"ABOVE the {TARGET}x target"
    print(f"{label}: safe-upgrade {median(safe)} / flask db upgrade {median(plain)}")
    print(f"{label}:   {ratios(safe, plain)}; CPU {verdict} (median of {runs} runs, backup off)")
    print(
        f"{label}: no-op re-run: safe-upgrade {median(noop_safe)} / flask db upgrade"
        f" {median(noop_plain)}"
    )
    print(f"{label}:   {ratios(noop_safe, noop_plain)}")
    print(f"{label}: cold (empty cache): safe-upgrade {median(cold)}")
    print(f"{label}:   {ratios(cold, plain)}")
    print(f"{label}: cold no-op re-run: safe-upgrade {median(noop_cold)}")
    print(f"{label}:   {ratios(noop_cold, noop_plain)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
    )
    args = parser.parse_args()
    print(
        f"{args.revisions} revisions, one table each; target: safe-upgrade / upgrade <= {TARGET}x"
    )
    print(f"load average at start: {' '.join(f'{n:.1f}' for n in os.getloadavg())}")
    compileall.compile_dir(str(PACKAGE), quiet=1)  # as an install would (module docstring)
    with tempfile.TemporaryDirectory(prefix="sm_bench_") as tmp:
        folder = Path(tmp)
        write_project(folder, args.revisions)
        measure("SQLite", folder, sqlite_scratch(folder), args.runs)
        fresh = server_scratch(make_url(args.postgres_url))
        if isinstance(fresh, str):
            print(f"PostgreSQL: skipped, server not reachable ({fresh})")
        else:
            measure("PostgreSQL", folder, fresh, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
