"""How much slower is ``flask db verify`` than ``flask db check`` on a 300-table schema?

Run from the repository root::

    .venv/bin/python benchmarks/verify.py [--tables 300] [--runs 5] [--postgres-url URL]

It writes a throw-away app (300 models, each with a foreign key, an index and a unique
constraint) and one initial migration into a temporary directory, upgrades a database to it,
then times the real ``flask db verify`` and ``flask db check`` commands alternately (each a
fresh process, as in CI) and prints the medians and their ratio; the target is at most 1.2x.
It does the same in-process (one call each, the interpreter start-up left out).

SQLite uses a temporary file; PostgreSQL a scratch database created on the local server and
dropped afterwards (skipped with a note when the server cannot be reached). Not part of the
test suite; exits 0 unless a command fails.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

REPO_ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
REVISION = "bench0000001"
TARGET = 1.2

APP_SOURCE = '''\
"""The benchmark's app: {tables} tables."""
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate

db = SQLAlchemy()
safe = SafeMigrate()

for n in range({tables}):
    columns = [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("amount", sa.Numeric(10, 2), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    ]
    if n:
        columns.append(
            sa.Column("parent_id", sa.Integer, sa.ForeignKey(f"t{{n - 1:03d}}.id"), nullable=True)
        )
    sa.Table(
        f"t{{n:03d}}",
        db.metadata,
        *columns,
        sa.UniqueConstraint("code", name=f"uq_t{{n:03d}}_code"),
        sa.Index(f"ix_t{{n:03d}}_name", "name"),
    )


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    db.init_app(app)
    safe.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    return app
'''


def migration_source(tables: int) -> str:
    ops = []
    for n in range(tables):
        parent = (
            f'        sa.Column("parent_id", sa.Integer(), nullable=True),\n'
            f'        sa.ForeignKeyConstraint(["parent_id"], ["t{n - 1:03d}.id"]),\n'
            if n
            else ""
        )
        ops.append(
            f'    op.create_table(\n        "t{n:03d}",\n'
            '        sa.Column("id", sa.Integer(), nullable=False),\n'
            '        sa.Column("code", sa.String(length=40), nullable=False),\n'
            '        sa.Column("name", sa.String(length=100), nullable=False),\n'
            '        sa.Column("note", sa.Text(), nullable=True),\n'
            '        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=True),\n'
            '        sa.Column("created_at", sa.DateTime(), nullable=False),\n'
            f"{parent}"
            '        sa.PrimaryKeyConstraint("id"),\n'
            f'        sa.UniqueConstraint("code", name="uq_t{n:03d}_code"),\n'
            "    )\n"
            f'    op.create_index("ix_t{n:03d}_name", "t{n:03d}", ["name"])\n'
        )
    drops = "".join(f'    op.drop_table("t{n:03d}")\n' for n in reversed(range(tables)))
    return (
        f'"""initial schema\n\nRevision ID: {REVISION}\nRevises:\n"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "{REVISION}"\ndown_revision = None\nbranch_labels = None\n'
        "depends_on = None\n\n\n"
        f"def upgrade():\n{''.join(ops)}\n\ndef downgrade():\n{drops}"
    )


def write_project(folder: Path, tables: int) -> None:
    (folder / "bench_app.py").write_text(APP_SOURCE.format(tables=tables), encoding="utf-8")
    template = REPO_ROOT / "example_app" / "migrations"
    migrations = folder / "migrations"
    (migrations / "versions").mkdir(parents=True)
    for name in ("env.py", "alembic.ini", "script.py.mako"):
        (migrations / name).write_bytes((template / name).read_bytes())
    (migrations / "versions" / f"{REVISION}_initial_schema.py").write_text(
        migration_source(tables), encoding="utf-8"
    )


def flask(folder: Path, url: str, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
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
    return time.perf_counter() - start, done


def in_process(folder: Path, url: str) -> tuple[float, float]:
    """One ``verify()`` call and one Alembic ``check`` in this interpreter (after a warm-up)."""
    import importlib

    from alembic import command
    from alembic.util import AutogenerateDiffsDetected

    from flask_safemigrate.verify import verify

    os.environ["DATABASE_URL"] = url
    sys.path.insert(0, str(folder))
    try:
        sys.modules.pop("bench_app", None)  # a fresh import for each database
        app = importlib.import_module("bench_app").create_app()
        timings: dict[str, list[float]] = {"verify": [], "check": []}
        logging.disable(logging.INFO)  # env.py turns Alembic's INFO lines on
        with app.app_context():
            config = app.extensions["migrate"].migrate.get_config()
            config.stdout = io.StringIO()  # "No new upgrade operations detected."
            for _ in range(3):
                start = time.perf_counter()
                report = verify(app)
                timings["verify"].append(time.perf_counter() - start)
                assert report.ok, report.findings
                start = time.perf_counter()
                try:
                    command.check(config)
                except AutogenerateDiffsDetected as exc:  # pragma: no cover - a bad benchmark
                    raise SystemExit(f"flask db check found differences: {exc}") from None
                timings["check"].append(time.perf_counter() - start)
            for engine in app.extensions["sqlalchemy"].engines.values():
                engine.dispose()
        return min(timings["verify"]), min(timings["check"])
    finally:
        logging.disable(logging.NOTSET)
        sys.path.remove(str(folder))
        sys.modules.pop("bench_app", None)


def measure(label: str, folder: Path, url: str, runs: int) -> None:
    seconds, upgrade = flask(folder, url, "db", "upgrade")
    if upgrade.returncode != 0:
        raise SystemExit(f"{label}: flask db upgrade failed:\n{upgrade.stderr}")
    print(f"{label}: schema created in {seconds:.1f}s")
    verify_times: list[float] = []
    check_times: list[float] = []
    for _ in range(runs):
        seconds, done = flask(folder, url, "db", "verify")
        if done.returncode != 0:
            raise SystemExit(f"{label}: flask db verify failed:\n{done.stdout}{done.stderr}")
        verify_times.append(seconds)
        seconds, done = flask(folder, url, "db", "check")
        if done.returncode != 0:
            raise SystemExit(f"{label}: flask db check failed:\n{done.stdout}{done.stderr}")
        check_times.append(seconds)
    verify_s, check_s = statistics.median(verify_times), statistics.median(check_times)
    ratio = verify_s / check_s
    verdict = "ok" if ratio <= TARGET else f"ABOVE the {TARGET}x target"
    print(
        f"{label}: flask db verify {verify_s:.3f}s / flask db check {check_s:.3f}s"
        f" = {ratio:.2f}x ({verdict}; median of {runs} runs each)"
    )
    verify_in, check_in = in_process(folder, url)
    print(
        f"{label}: in-process verify() {verify_in:.3f}s / alembic check {check_in:.3f}s"
        f" = {verify_in / check_in:.2f}x (best of 3, start-up excluded)"
    )


@contextmanager
def postgres_scratch(server: URL) -> Iterator[str | None]:
    name = f"sm_bench_{secrets.token_hex(6)}"
    admin = sa.create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        print(
            f"PostgreSQL: skipped, server not reachable ({str(exc.orig).strip().splitlines()[0]})"
        )
        admin.dispose()
        yield None
        return
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    print(f"{args.tables} tables, one initial migration; target: verify/check <= {TARGET}x")
    with tempfile.TemporaryDirectory(prefix="sm_bench_") as tmp:
        folder = Path(tmp)
        write_project(folder, args.tables)
        measure("SQLite", folder, f"sqlite:///{folder / 'bench.db'}", args.runs)
        with postgres_scratch(make_url(args.postgres_url)) as url:
            if url is not None:
                measure("PostgreSQL", folder, url, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
