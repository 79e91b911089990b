"""How much do the guards cost? A generated 200-table initial migration, with and without.

Run from the repository root::

    .venv/bin/python benchmarks/guards.py [--tables 200] [--runs 5] [--postgres-url URL]
                                          [--mysql-url URL]

It builds an app of 200 models (each with a foreign key, an index and a unique constraint),
generates its initial migration twice with the real ``flask db migrate`` machinery, once
with ``SAFEMIGRATE_IDEMPOTENT = True`` (every create behind a guard) and once with it off
(Alembic's own script), then applies each to a fresh, empty database, alternately, and
prints the medians and the median ratio of each pair of runs (guarded over the plain run
just before it); the target is at most 1.25x on SQLite and PostgreSQL.
MariaDB/MySQL is measured too when reachable (no target: its DDL dominates).

Each apply is ``flask_migrate.upgrade()`` in this interpreter: env.py, the script, every
statement, the commit; creating and dropping the scratch databases is not timed. Not part
of the test suite; exits 0 unless a migration fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import make_url

from flask_safemigrate import SafeMigrate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import (
    DEFAULT_MYSQL_URL,
    DEFAULT_POSTGRES_URL,
    Scratch,
    server_scratch,
    sqlite_scratch,
)

TARGET = 1.25


def models(tables: int) -> SQLAlchemy:
    db = SQLAlchemy()
    for n in range(tables):
        columns: list[sa.Column[object]] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("code", sa.String(40), nullable=False),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("note", sa.Text, nullable=True),
            sa.Column("amount", sa.Numeric(10, 2), nullable=True),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ]
        if n:
            parent = sa.ForeignKey(f"t{n - 1:03d}.id", name=f"fk_t{n:03d}_parent")
            columns.append(sa.Column("parent_id", sa.Integer, parent, nullable=True))
        indexes = [sa.Index(f"ix_t{n:03d}_name", "name")]
        if n:
            indexes.append(sa.Index(f"ix_t{n:03d}_parent_id", "parent_id"))
        sa.Table(
            f"t{n:03d}",
            db.metadata,
            *columns,
            *indexes,
            sa.UniqueConstraint("code", name=f"uq_t{n:03d}_code"),
        )
    return db


def make_app(db: SQLAlchemy, url: str, directory: Path, *, idempotent: bool) -> Flask:
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SAFEMIGRATE_IDEMPOTENT=idempotent)
    db.init_app(app)
    SafeMigrate(app, db, directory=directory)
    return app


def dispose(app: Flask) -> None:
    with app.app_context():
        for engine in app.extensions["sqlalchemy"].engines.values():
            engine.dispose()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """env.py configures Alembic's INFO logging on every run: keep the table readable."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        yield


def generate(db: SQLAlchemy, url: str, directory: Path, *, idempotent: bool) -> Path:
    app = make_app(db, url, directory, idempotent=idempotent)
    with app.app_context(), quiet():
        flask_migrate.init(str(directory))
        flask_migrate.migrate(str(directory), message="create every table")
    dispose(app)
    (script,) = (directory / "versions").glob("*.py")
    return script


def apply(db: SQLAlchemy, url: str, directory: Path, *, idempotent: bool) -> float:
    app = make_app(db, url, directory, idempotent=idempotent)
    try:
        with app.app_context(), quiet():
            start = time.perf_counter()
            flask_migrate.upgrade(str(directory))
            seconds = time.perf_counter() - start
        with app.app_context(), app.extensions["sqlalchemy"].engine.connect() as conn:
            if len(sa.inspect(conn).get_table_names()) < len(db.metadata.tables):
                raise SystemExit(f"the migration in {directory} did not create every table")
    finally:
        dispose(app)
    return seconds


def measure(label: str, scratch: Scratch, db: SQLAlchemy, folder: Path, runs: int) -> None:
    plain_dir, guarded_dir = folder / label / "plain", folder / label / "guarded"
    with scratch() as url:
        plain = generate(db, url, plain_dir, idempotent=False)
    with scratch() as url:
        guarded = generate(db, url, guarded_dir, idempotent=True)
    guarded_source = guarded.read_text(encoding="utf-8")
    assert "guards" not in plain.read_text(encoding="utf-8")
    guards = guarded_source.split("def downgrade")[0].count("if guards.")
    with scratch() as url:  # warm-up: imports, first connections
        apply(db, url, plain_dir, idempotent=False)
    times: dict[str, list[float]] = {"plain": [], "guarded": []}
    for _ in range(runs):
        for kind, directory in (("plain", plain_dir), ("guarded", guarded_dir)):
            with scratch() as url:
                times[kind].append(apply(db, url, directory, idempotent=kind == "guarded"))
    plain_s, guarded_s = statistics.median(times["plain"]), statistics.median(times["guarded"])
    # Each guarded run against the plain run just before it: load on a shared machine drifts.
    ratio = statistics.median(g / p for p, g in zip(times["plain"], times["guarded"], strict=True))
    verdict = "" if label == "MariaDB/MySQL" else ("  ok" if ratio <= TARGET else "  ABOVE TARGET")
    print(
        f"{label:<14} {plain_s:>9.3f}s {guarded_s:>9.3f}s {ratio:>6.2f}x"
        f"  ({guards} guards in upgrade()){verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
    )
    parser.add_argument(
        "--mysql-url",
        default=DEFAULT_MYSQL_URL,
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    db = models(args.tables)
    print(
        f"{args.tables}-table initial migration, applied to an empty database;"
        f" median of {args.runs} runs each (ratio: median of the paired runs);"
        f" target: guarded/plain <= {TARGET}x"
    )
    print(f"{'database':<14} {'plain':>10} {'guarded':>10} {'ratio':>7}")
    with tempfile.TemporaryDirectory(prefix="sm_bench_guards_") as tmp:
        folder = Path(tmp)
        measure("SQLite", sqlite_scratch(folder), db, folder, args.runs)
        for label, url in (("PostgreSQL", args.postgres_url), ("MariaDB/MySQL", args.mysql_url)):
            scratch = server_scratch(make_url(url))
            if isinstance(scratch, str):
                print(f"{label:<14} skipped: server not reachable ({scratch})")
                continue
            measure(label, scratch, db, folder, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
